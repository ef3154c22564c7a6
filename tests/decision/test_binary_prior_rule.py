"""The binary decision rule for balanced accuracy: the threshold is the positive class's share.

With ``threshold="auto"``, ``threshold_cv="auto"`` and balanced accuracy (or macro recall),
``predict`` says the positive class when its probability is at least its share of the rows
``fit`` was given: the Bayes rule for that scoring, with no held-out tuning and no internal
fits. Checked here: the threshold itself, when the rule is kept off, and that the decision
survives pickle and save/load and is reported.
"""

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.metrics import balanced_accuracy_score
from test_thresholds import CountingBuilder  # counts the networks a fit builds

from safekeras import SafeKerasClassifier
from safekeras.deploy.persistence import load, save

pytestmark = pytest.mark.core

FAST = dict(hidden_layer_sizes=(16,), epochs=20, batch_size=32, learning_rate=0.01, random_state=0)


def fast_classifier(**params):
    return SafeKerasClassifier(**{**FAST, **params})


@pytest.fixture(scope="module")
def rare_positives():
    """1 200 rows, about 8 % positive, overlapping: a 0.5 threshold misses most positives."""
    X, y = make_classification(
        n_samples=1200,
        n_features=6,
        n_informative=3,
        n_redundant=0,
        weights=[0.92],
        class_sep=0.6,
        flip_y=0.02,
        random_state=1,
    )
    return X[:800], y[:800], X[800:], y[800:]


@pytest.fixture(scope="module")
def prior_fitted(rare_positives):
    X, y, _, _ = rare_positives
    return fast_classifier().fit(X, y)


def test_the_threshold_is_the_positive_share_of_the_rows_given(prior_fitted, rare_positives):
    X, y, _, _ = rare_positives
    assert prior_fitted.threshold_ == pytest.approx(np.mean(y == 1), abs=1e-12)
    assert prior_fitted.threshold_search_ is None  # nothing was searched
    proba = prior_fitted.predict_proba(X)[:, 1].astype(np.float64)
    np.testing.assert_array_equal(prior_fitted.predict(X), (proba >= np.mean(y == 1)).astype(int))


def test_sample_weight_sets_the_share(rare_positives):
    X, y, _, _ = rare_positives
    weights = np.where(y == 1, 3.0, 1.0)
    weights[:10] = 0.0  # rows without weight are not given to the fit
    clf = fast_classifier().fit(X, y, sample_weight=weights)
    share = weights[y == 1].sum() / weights.sum()
    assert clf.threshold_ == pytest.approx(share, abs=1e-12)


def test_pos_label_takes_its_own_share(rare_positives):
    X, y, _, _ = rare_positives
    clf = fast_classifier(pos_label=0).fit(X, y)
    assert clf.threshold_ == pytest.approx(np.mean(y == 0), abs=1e-12)
    proba = clf.predict_proba(X)[:, 0].astype(np.float64)
    np.testing.assert_array_equal(clf.predict(X), np.where(proba >= clf.threshold_, 0, 1))


def test_no_internal_fit_is_trained():
    X, y = make_classification(n_samples=300, n_features=6, weights=[0.9], random_state=0)
    CountingBuilder.built = 0  # 30 positives: about 4 in the validation split
    clf = fast_classifier(model=CountingBuilder()).fit(X, y)
    assert CountingBuilder.built == 1 and clf.threshold_search_ is None
    CountingBuilder.built = 0
    tuned = fast_classifier(model=CountingBuilder(), threshold_cv=3).fit(X, y)
    assert CountingBuilder.built == 4 and tuned.threshold_search_.n_folds == 3


def test_the_rule_beats_one_half_on_balanced_accuracy(prior_fitted, rare_positives):
    X, y, X_test, y_test = rare_positives
    at_half = fast_classifier(threshold=0.5).fit(X, y)
    ours = balanced_accuracy_score(y_test, prior_fitted.predict(X_test))
    assert ours > balanced_accuracy_score(y_test, at_half.predict(X_test)) + 0.05


def test_recall_macro_asks_for_the_prior_too(prior_fitted, rare_positives):
    X, y, _, _ = rare_positives
    clf = fast_classifier(threshold_scoring="recall_macro").fit(X, y)
    assert clf.threshold_ == prior_fitted.threshold_ and clf.threshold_search_ is None


@pytest.mark.parametrize(
    "params, n_folds",
    [
        # No prior rule for f1: tuned out of fold (about 10 positives in the validation split).
        (dict(threshold_scoring="f1"), 5),
        (dict(threshold_cv=None), 0),  # an explicit threshold_cv always tunes: the split here
        (dict(threshold_cv=3), 3),
    ],
)
def test_other_scorings_and_explicit_threshold_cv_tune(rare_positives, params, n_folds):
    X, y, _, _ = rare_positives
    search = fast_classifier(**params).fit(X, y).threshold_search_
    assert search is not None and search.tuned and search.n_folds == n_folds


@pytest.mark.parametrize("params", [dict(class_weight="balanced"), dict(threshold=None)])
def test_stated_costs_and_no_threshold_keep_one_half(rare_positives, params):
    X, y, _, _ = rare_positives
    clf = fast_classifier(**params).fit(X, y)
    assert clf.threshold_ == 0.5 and clf.threshold_search_ is None


def test_the_rule_survives_pickle_and_save_load(prior_fitted, rare_positives, tmp_path):
    _, _, X_test, _ = rare_positives
    expected = prior_fitted.predict(X_test)
    restored = pickle.loads(pickle.dumps(prior_fitted))
    assert restored.threshold_ == prior_fitted.threshold_
    np.testing.assert_array_equal(restored.predict(X_test), expected)
    path = tmp_path / "prior.safekeras"
    save(prior_fitted, path)
    loaded = load(path)
    assert loaded.threshold_ == prior_fitted.threshold_
    np.testing.assert_array_equal(loaded.predict(X_test), expected)
    assert not hasattr(clone(prior_fitted), "threshold_")


def test_diagnose_says_where_the_threshold_came_from(prior_fitted, rare_positives):
    X, y, _, _ = rare_positives
    summary = prior_fitted.diagnose(X, y).summary
    source = "the positive class's training share (balanced_accuracy's rule)"
    assert summary["threshold_source"] == source
    assert summary["threshold"] == prior_fitted.threshold_


def test_diagnose_says_partial_fit_keeps_one_half_for_a_tuned_scoring(rare_positives):
    X, y, _, _ = rare_positives
    clf = fast_classifier(threshold_scoring="f1").partial_fit(X, y, classes=[0, 1])
    assert clf.threshold_ == 0.5 and clf.threshold_search_ is None
    assert clf.diagnose(X, y).summary["threshold_source"] == "0.5: partial_fit does not tune it"
