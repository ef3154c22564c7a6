"""The multiclass decision rule: with balanced accuracy, predict divides by the class priors.

``class_multipliers_`` is what ``predict`` multiplies the probabilities by before the argmax:
one over the training class shares for balanced accuracy, ones (the most probable class)
otherwise. Checked here: the rule itself, when it is kept off, and that every place a decision
is made (``predict``, ``decision_function``, pickle, save/load, the export, the reports) agrees.
"""

import pickle

import numpy as np
import pytest
from imblearn.over_sampling import RandomOverSampler
from sklearn.datasets import make_classification
from sklearn.metrics import balanced_accuracy_score

from safekeras import SafeKerasClassifier
from safekeras.decision import rule
from safekeras.deploy.persistence import load, save
from safekeras.exceptions import InputError, ParameterError, PersistenceError
from safekeras.metrics import imbalance_report

pytestmark = pytest.mark.core

FAST = dict(
    hidden_layer_sizes=(16,),
    epochs=20,
    batch_size=32,
    learning_rate=0.01,
    threshold_cv=None,
    random_state=0,
)


def fast_classifier(**params):
    return SafeKerasClassifier(**{**FAST, **params})


@pytest.fixture(scope="module")
def imbalanced3():
    """Three overlapping classes of 80 %, 15 % and 5 %: argmax rarely predicts the last."""
    X, y = make_classification(
        n_samples=1500,
        n_features=6,
        n_informative=4,
        n_redundant=0,
        n_classes=3,
        weights=[0.8, 0.15, 0.05],
        class_sep=0.7,
        random_state=0,
    )
    return X[:900], y[:900], X[900:], y[900:]


@pytest.fixture(scope="module")
def corrected(imbalanced3):
    X, y, _, _ = imbalanced3
    return fast_classifier().fit(X, y)


@pytest.fixture(scope="module")
def plain(imbalanced3):
    X, y, _, _ = imbalanced3
    return fast_classifier(threshold=None).fit(X, y)


# -- the rule ---------------------------------------------------------------------------------


def test_prior_multipliers_are_one_over_the_weighted_class_shares():
    y = np.array([0, 0, 0, 1, 2, 2])
    np.testing.assert_allclose(rule.prior_multipliers(y, None, 3), [2.0, 6.0, 3.0])
    weights = np.array([1.0, 1.0, 2.0, 4.0, 1.0, 1.0])  # shares 4/10, 4/10, 2/10
    np.testing.assert_allclose(rule.prior_multipliers(y, weights, 3), [2.5, 2.5, 5.0])


def test_auto_multipliers_are_one_over_the_training_priors(imbalanced3, corrected):
    _, y, _, _ = imbalanced3
    assert corrected.threshold_ is None and corrected.threshold_search_ is None
    np.testing.assert_allclose(corrected.class_multipliers_, len(y) / np.bincount(y), rtol=1e-12)


def test_sample_weight_sets_the_priors(imbalanced3):
    X, y, _, _ = imbalanced3
    weights = np.where(y == 2, 3.0, 1.0)
    clf = fast_classifier(epochs=2).fit(X, y, sample_weight=weights)
    totals = np.bincount(y, weights=weights)
    np.testing.assert_allclose(clf.class_multipliers_, totals.sum() / totals, rtol=1e-12)


def test_prior_correction_beats_argmax_on_balanced_accuracy(imbalanced3, corrected, plain):
    _, _, X_test, y_test = imbalanced3
    proba = corrected.predict_proba(X_test)
    # The same network either way: only the rule differs.
    np.testing.assert_array_equal(proba, plain.predict_proba(X_test))
    np.testing.assert_array_equal(plain.predict(X_test), np.argmax(proba, axis=1))
    predicted = corrected.predict(X_test)
    np.testing.assert_array_equal(
        predicted, np.argmax(proba * corrected.class_multipliers_, axis=1)
    )
    gain = balanced_accuracy_score(y_test, predicted) - balanced_accuracy_score(
        y_test, plain.predict(X_test)
    )
    assert gain > 0.02  # 0.039 here (0.655 -> 0.694); 0.03 to 0.12 on other draws of this data
    rarest = y_test == 2
    assert np.mean(predicted[rarest] == 2) > np.mean(plain.predict(X_test)[rarest] == 2)


def test_decision_function_agrees_with_predict(imbalanced3, corrected):
    _, _, X_test, _ = imbalanced3
    scores = corrected.decision_function(X_test)
    np.testing.assert_array_equal(
        corrected.classes_[np.argmax(scores, axis=1)], corrected.predict(X_test)
    )
    np.testing.assert_allclose(
        scores,
        np.log(corrected.predict_proba(X_test) * corrected.class_multipliers_),
        rtol=1e-12,
    )


@pytest.mark.parametrize(
    "params",
    [
        {"threshold": None},
        {"threshold_scoring": "accuracy"},
        {"threshold_scoring": "neg_log_loss"},
        {"class_weight": "balanced"},
        {"sampler": RandomOverSampler(random_state=0)},
    ],
    ids=["threshold-None", "accuracy", "log-loss", "class-weight", "sampler"],
)
def test_argmax_is_kept_where_it_is_the_asked_rule(imbalanced3, params):
    X, y, X_test, _ = imbalanced3
    clf = fast_classifier(epochs=2, **params).fit(X, y)
    np.testing.assert_array_equal(clf.class_multipliers_, np.ones(3))
    np.testing.assert_array_equal(clf.predict(X_test), np.argmax(clf.predict_proba(X_test), axis=1))


def test_recall_macro_asks_for_the_prior_correction_too(imbalanced3):
    X, y, _, _ = imbalanced3
    clf = fast_classifier(epochs=2, threshold_scoring="recall_macro").fit(X, y)
    np.testing.assert_allclose(clf.class_multipliers_, len(y) / np.bincount(y), rtol=1e-12)


def test_binary_and_partial_fit_multipliers(imbalanced3):
    X, y, _, _ = imbalanced3
    assert fast_classifier(epochs=2).fit(X, y > 0).class_multipliers_ is None
    # A chunk's class shares are not the data's: partial_fit keeps the most probable class.
    chunked = fast_classifier().partial_fit(X[:300], y[:300], classes=[0, 1, 2])
    np.testing.assert_array_equal(chunked.class_multipliers_, np.ones(3))


def test_multiclass_threshold_scoring_is_validated(imbalanced3):
    X, y, _, _ = imbalanced3
    with pytest.raises(ParameterError, match="threshold_scoring='balanced_acc' is not a"):
        fast_classifier(threshold_scoring="balanced_acc").fit(X, y)
    with pytest.raises(InputError, match=r"threshold=0\.3 .* which takes no threshold"):
        fast_classifier(threshold=0.3).fit(X, y)


# -- the same decision everywhere -------------------------------------------------------------


def test_pickle_keeps_the_rule(imbalanced3, corrected):
    _, _, X_test, _ = imbalanced3
    copy = pickle.loads(pickle.dumps(corrected))
    np.testing.assert_array_equal(copy.class_multipliers_, corrected.class_multipliers_)
    np.testing.assert_array_equal(copy.predict(X_test), corrected.predict(X_test))


def test_save_load_keeps_the_rule(imbalanced3, corrected, tmp_path):
    _, _, X_test, _ = imbalanced3
    save(corrected, tmp_path / "clf.safekeras")
    loaded = load(tmp_path / "clf.safekeras")
    np.testing.assert_array_equal(loaded.class_multipliers_, corrected.class_multipliers_)
    np.testing.assert_array_equal(loaded.predict(X_test), corrected.predict(X_test))
    np.testing.assert_array_equal(
        loaded.decision_function(X_test), corrected.decision_function(X_test)
    )


@pytest.mark.parametrize(
    "multipliers, problem",
    [
        (np.array([1.0, 2.0, 3.0]), "neither all ones"),
        (np.array([2.0, 2.0]), "expected an array of 3 floats"),
        (np.array([2.0, -4.0, 4.0]), "positive and finite"),
        ([1.0, 1.0, 1.0], "expected an array of 3 floats"),
    ],
    ids=["not-priors", "wrong-length", "negative", "a-list"],
)
def test_load_refuses_inconsistent_multipliers(corrected, tmp_path, multipliers, problem):
    copy = pickle.loads(pickle.dumps(corrected))
    copy.class_multipliers_ = multipliers  # as a tampered file would hold them
    save(copy, tmp_path / "tampered.safekeras")
    with pytest.raises(PersistenceError, match=rf"class_multipliers_.*3 classes.*{problem}"):
        load(tmp_path / "tampered.safekeras")


def test_a_file_without_multipliers_predicts_the_most_probable_class(
    imbalanced3, corrected, tmp_path
):
    _, _, X_test, _ = imbalanced3
    older = pickle.loads(pickle.dumps(corrected))
    del older.class_multipliers_  # as saved before the attribute existed
    save(older, tmp_path / "older.safekeras")
    loaded = load(tmp_path / "older.safekeras")
    np.testing.assert_array_equal(
        loaded.predict(X_test), np.argmax(loaded.predict_proba(X_test), axis=1)
    )


def test_exported_probabilities_give_predict_with_the_multipliers(imbalanced3, corrected):
    _, _, X_test, _ = imbalanced3
    exported = np.asarray(corrected.to_keras().predict_on_batch(X_test))
    labels = corrected.classes_[np.argmax(exported * corrected.class_multipliers_, axis=1)]
    # Equal but for rows whose two best scores are within the export's ~1e-7 of each other.
    assert np.mean(labels == corrected.predict(X_test)) > 0.99


def test_reports_name_the_rule(imbalanced3, corrected, plain):
    _, _, X_test, y_test = imbalanced3
    report = imbalance_report(corrected, X_test, y_test)
    assert report.threshold_source == "SafeKerasClassifier.class_multipliers_"
    assert report.threshold == pytest.approx(tuple(corrected.class_multipliers_))
    assert "times its multiplier" in str(report)
    assert "most probable class" in str(imbalance_report(plain, X_test, y_test))
    # The prior-corrected rule adapts to the imbalance; the plain argmax does not.
    assert "imbalance" not in corrected.diagnose(X_test, y_test).pitfalls
    assert "imbalance" in plain.diagnose(X_test, y_test).pitfalls
    summary = corrected.diagnose().summary
    assert summary["class_multipliers"] == corrected.class_multipliers_.tolist()
