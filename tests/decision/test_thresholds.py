"""Decision thresholds: the search itself, and ``threshold="auto"`` in the classifier."""

import dataclasses
import functools
import pickle
import warnings

import keras
import numpy as np
import pytest
from imblearn.metrics import geometric_mean_score
from imblearn.over_sampling import RandomOverSampler
from sklearn.base import clone
from sklearn.datasets import make_classification, make_multilabel_classification
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    cohen_kappa_score,
    f1_score,
    fbeta_score,
    jaccard_score,
    make_scorer,
    matthews_corrcoef,
    precision_score,
    recall_score,
    roc_auc_score,
)
from sklearn.model_selection import (
    FixedThresholdClassifier,
    StratifiedKFold,
    TunedThresholdClassifierCV,
)
from sklearn.utils.estimator_checks import check_class_weight_classifiers

from safekeras import SafeKerasClassifier
from safekeras.decision import threshold_bootstrap
from safekeras.decision.metrics import imbalance_scoring
from safekeras.decision.threshold_bootstrap import bin_of, binned_resamples, resampled_bins
from safekeras.decision.threshold_counts import SortedRows, counting_metric
from safekeras.decision.thresholds import (
    BOOTSTRAP_ROUNDS,
    DEFAULT_THRESHOLD,
    MAX_CANDIDATES,
    MIN_TUNING_COUNT,
    PLAUSIBLE_LOSS,
    ThresholdSearch,
    _ThresholdedProba,
    auto_cv_folds,
    costs_stated,
    make_threshold_scorer,
    tune_threshold,
    warn_if_unreliable,
)
from safekeras.exceptions import InputError, ParameterError, ThresholdWarning

pytestmark = pytest.mark.core

# threshold_cv=None tunes on the validation split; tests of "auto" ask for it.
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
def imbalanced():
    return make_classification(
        n_samples=600, n_features=8, n_informative=4, weights=[0.85, 0.15], random_state=0
    )


def best_by_brute_force(y_positive, proba, metric):
    """The best score over every distinct split of the rows by a threshold."""
    return max(metric(y_positive, proba >= t) for t in np.append(np.unique(proba), 2.0))


# -- the search --------------------------------------------------------------------


@pytest.mark.parametrize(
    "scoring, metric", [("balanced_accuracy", balanced_accuracy_score), ("f1", f1_score)]
)
def test_search_finds_the_best_threshold(scoring, metric):
    rng = np.random.RandomState(0)
    y = rng.rand(300) < 0.2
    proba = np.clip(rng.normal(0.15 + 0.3 * y, 0.15), 0, 1)
    search = tune_threshold(y, proba, make_threshold_scorer(scoring))
    chosen = metric(y, proba >= search.threshold)
    assert search.tuned
    assert search.score == pytest.approx(chosen)
    assert chosen == pytest.approx(best_by_brute_force(y, proba, metric))
    assert search.default_score == pytest.approx(metric(y, proba >= 0.5))
    assert search.score > search.default_score  # 0.5 is far from right at 20 % positives
    assert (search.n_positive, search.n_negative) == (y.sum(), (~y).sum())
    assert search.n_changed == np.sum((proba >= search.threshold) != (proba >= 0.5))


def test_separable_probabilities_get_a_threshold_between_the_classes():
    y = np.array([0, 0, 0, 0, 1, 1], dtype=bool)
    proba = np.array([0.01, 0.02, 0.05, 0.08, 0.1, 0.2])
    search = tune_threshold(y, proba, make_threshold_scorer("balanced_accuracy"))
    assert 0.08 < search.threshold <= 0.1
    assert search.score == 1.0


def test_ties_go_to_the_candidate_closest_to_one_half():
    y = np.array([0, 0, 1, 1], dtype=bool)
    proba = np.array([0.1, 0.2, 0.8, 0.9])
    # Every threshold in (0.2, 0.8] is perfect; 0.5 itself is one of them.
    search = tune_threshold(y, proba, make_threshold_scorer("balanced_accuracy"))
    assert search.threshold == DEFAULT_THRESHOLD
    assert search.n_changed == 0


def test_sample_weight_moves_the_threshold():
    y = np.array([0, 0, 0, 1, 1, 1], dtype=bool)
    proba = np.array([0.1, 0.3, 0.6, 0.4, 0.7, 0.9])
    scorer = make_threshold_scorer("accuracy")
    # The positive at 0.4 and the negative at 0.6 cannot both be right: weight decides.
    heavy_negative = tune_threshold(y, proba, scorer, sample_weight=np.array([1, 1, 10, 1, 1, 1]))
    heavy_positive = tune_threshold(y, proba, scorer, sample_weight=np.array([1, 1, 1, 10, 1, 1]))
    assert 0.6 < heavy_negative.threshold <= 0.7
    assert 0.3 < heavy_positive.threshold <= 0.4


def test_one_class_or_threshold_free_metric_leaves_the_default():
    proba = np.linspace(0.1, 0.9, 9)
    one_class = tune_threshold(np.zeros(9, bool), proba, make_threshold_scorer("f1"))
    assert not one_class.tuned and one_class.threshold == DEFAULT_THRESHOLD
    y = proba > 0.45
    ranking = tune_threshold(y, proba, make_threshold_scorer("roc_auc"))
    assert not ranking.tuned and ranking.threshold == DEFAULT_THRESHOLD
    assert len(ranking.scores) == len(ranking.thresholds) > 1


def test_callable_scorer_sees_the_callers_labels():
    rng = np.random.RandomState(1)
    y = rng.rand(200) < 0.3
    proba = np.clip(rng.normal(0.3 + 0.3 * y, 0.2), 0, 1)
    scorer = make_scorer(fbeta_score, beta=2, pos_label="yes")
    search = tune_threshold(y, proba, scorer, labels=("no", "yes"))
    by_name = tune_threshold(y, proba, make_threshold_scorer("recall"))
    assert search.tuned
    f2 = fbeta_score(y, proba >= search.threshold, beta=2)
    assert search.score == pytest.approx(f2)
    assert by_name.threshold < search.threshold  # recall alone is best when all are positive


def test_candidates_are_thinned_for_large_validation_sets():
    rng = np.random.RandomState(0)
    proba = rng.rand(20_000)
    search = tune_threshold(proba > 0.7, proba, make_threshold_scorer("balanced_accuracy"))
    assert len(search.thresholds) <= MAX_CANDIDATES + 1
    assert DEFAULT_THRESHOLD in search.thresholds
    assert abs(search.threshold - 0.7) < 0.01


def test_unknown_scorer_name_is_a_value_error():
    with pytest.raises(ValueError, match="balanced_accuray"):
        make_threshold_scorer("balanced_accuray")


# -- warnings ----------------------------------------------------------------------


def search(**fields):
    base = dict(
        threshold=0.3,
        thresholds=np.array([0.3, 0.5]),
        scores=np.array([0.8, 0.7]),
        score=0.8,
        default_score=0.7,
        n_positive=50,
        n_negative=150,
        n_changed=10,
        tuned=True,
    )
    return ThresholdSearch(**{**base, **fields})


def test_a_well_supported_threshold_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_if_unreliable({None: search()}, "balanced_accuracy")


@pytest.mark.parametrize(
    "fields, message",
    [
        (dict(n_positive=4), r"tuned on only 4 positive and 150 negative rows"),
        (
            dict(n_changed=80, gain_se=0.1),
            r"changes 80 of 200 predictions of the validation split \(200 rows\) versus 0\.5 "
            r"for a gain in balanced_accuracy of 0\.100 \(from 0\.700 to 0\.800\) \+- 0\.100: "
            r"within the noise",
        ),
        (
            dict(tuned=False, n_positive=0),
            r"the validation split \(150 rows\) holds 0 positive and 150 negative rows",
        ),
        (
            dict(n_positive=4, n_folds=5),
            r"4 positive and 150 negative rows of out-of-fold predictions of 5 internal fits",
        ),
        (dict(tuned=False), r"scores every threshold the same"),
    ],
)
def test_doubtful_thresholds_warn_with_the_counts(fields, message):
    with pytest.warns(ThresholdWarning, match=message):
        warn_if_unreliable({None: search(**fields)}, "balanced_accuracy")


def test_a_clear_gain_that_moves_many_predictions_does_not_warn():
    # What tuning for balanced accuracy does at 5 % positives: it flips most held-out
    # predictions, for a gain far outside the noise. It used to warn (over 25 % flipped).
    clear = search(n_changed=150, score=0.85, default_score=0.6, gain_se=0.03)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_if_unreliable({None: clear}, "balanced_accuracy")


def test_the_advice_is_more_rows_not_a_fixed_threshold():
    with pytest.warns(ThresholdWarning) as record:
        warn_if_unreliable({None: search(n_positive=4)}, "balanced_accuracy")
    text = str(record[0].message)
    assert "a larger validation_fraction, or threshold_cv=5" in text
    assert "threshold=<float>" not in text
    with pytest.warns(ThresholdWarning, match=r"only more rows, above all of the rarer class"):
        warn_if_unreliable({None: search(n_positive=4, n_folds=5)}, "balanced_accuracy")


def test_a_threshold_found_in_noise_warns():
    # Probabilities unrelated to the labels: the best threshold is wherever noise put it.
    rng = np.random.default_rng(0)
    y_positive = np.r_[np.ones(12, bool), np.zeros(40, bool)]
    found = tune_threshold(
        y_positive, rng.uniform(0.3, 0.7, 52), make_threshold_scorer("balanced_accuracy")
    )
    assert found.n_changed > 0 and found.gain_se > 0
    assert found.worst_plausible_gain < -PLAUSIBLE_LOSS
    with pytest.warns(ThresholdWarning, match=r"within the noise of these rows"):
        warn_if_unreliable({None: found}, "balanced_accuracy")


def test_held_out_quality_is_kept():
    y_positive = np.array([True, True, False, False])
    found = tune_threshold(
        y_positive, np.array([0.9, 0.6, 0.4, 0.2]), make_threshold_scorer("balanced_accuracy")
    )
    assert found.roc_auc == 1.0
    (neg_mean, _), (pos_mean, _) = found.loss_by_class
    assert neg_mean == pytest.approx(-(np.log(0.6) + np.log(0.8)) / 2)
    assert pos_mean == pytest.approx(-(np.log(0.9) + np.log(0.6)) / 2)


def test_one_warning_names_every_doubtful_label():
    searches = {0: search(), 1: search(n_negative=3), 2: search(n_positive=2)}
    with pytest.warns(ThresholdWarning) as record:
        warn_if_unreliable(searches, "f1")
    assert len(record) == 1
    text = str(record[0].message)
    assert "label 1:" in text and "label 2:" in text and "label 0:" not in text


# -- threshold="auto" in the classifier -------------------------------------------


def test_auto_threshold_is_tuned_on_the_validation_split(imbalanced):
    X, y = imbalanced
    clf = fast_classifier(threshold_cv=None).fit(X, y)
    search = clf.threshold_search_
    assert clf.threshold == "auto"
    assert search.tuned and clf.threshold_ == search.threshold
    assert search.n_samples == int(np.ceil(0.15 * len(X)))
    assert search.n_positive == pytest.approx(0.15 * search.n_samples, abs=2)  # stratified
    proba = clf.predict_proba(X)[:, 1]
    np.testing.assert_array_equal(clf.predict(X), (proba >= clf.threshold_).astype(int))
    np.testing.assert_array_equal(clf.decision_function(X) >= 0, clf.predict(X) == 1)
    assert search.score >= search.default_score
    # On held-out rows of the same distribution the tuned threshold beats 0.5 on balanced
    # accuracy. (make_classification with another n_samples draws another distribution.)
    X_all, y_all = make_classification(
        n_samples=2000, n_features=8, n_informative=4, weights=[0.85, 0.15], random_state=0
    )
    clf = fast_classifier(threshold_cv=None).fit(X_all[:600], y_all[:600])
    X_new, y_new = X_all[600:], y_all[600:]
    tuned = balanced_accuracy_score(y_new, clf.predict(X_new))
    at_half = balanced_accuracy_score(y_new, clf.predict_proba(X_new)[:, 1] >= 0.5)
    assert tuned > at_half + 0.02


def test_fixed_and_none_thresholds_are_not_tuned(imbalanced):
    X, y = imbalanced
    fixed = fast_classifier(threshold=0.3).fit(X, y)
    assert fixed.threshold_ == 0.3 and fixed.threshold_search_ is None
    default = fast_classifier(threshold=None).fit(X, y)
    assert default.threshold_ == 0.5
    np.testing.assert_array_equal(
        default.predict(X), (default.predict_proba(X)[:, 1] >= 0.5).astype(int)
    )


def test_pos_label_chooses_the_class_the_threshold_applies_to(imbalanced):
    X, y = imbalanced
    labels = np.where(y == 1, "rare", "common")  # sorted: "common" < "rare"
    clf = fast_classifier(pos_label="rare", threshold_scoring="f1").fit(X, labels)
    assert clf.pos_label_ == "rare" and clf.classes_[1] == "rare"
    flipped = fast_classifier(pos_label="common", threshold_scoring="f1").fit(X, labels)
    assert flipped.pos_label_ == "common"
    # Same seed, same validation split: the positives of one search are the negatives
    # of the other.
    assert flipped.threshold_search_.n_positive == clf.threshold_search_.n_negative
    assert flipped.threshold_search_.n_negative == clf.threshold_search_.n_positive
    p_common = flipped.predict_proba(X)[:, 0]
    expected = np.where(p_common >= flipped.threshold_, "common", "rare")
    np.testing.assert_array_equal(flipped.predict(X), expected)
    # "f1" by name scores pos_label: the F1 of the common class is high, of the rare one not.
    assert flipped.threshold_search_.score > clf.threshold_search_.score


def test_callable_scoring_with_string_labels(imbalanced):
    X, y = imbalanced
    labels = np.where(y == 1, "yes", "no")
    scorer = make_scorer(fbeta_score, beta=2, pos_label="yes")
    clf = fast_classifier(threshold_scoring=scorer).fit(X, labels)
    assert clf.threshold_search_.tuned
    assert set(clf.predict(X)) <= {"yes", "no"}


def test_bad_scoring_fails_before_training(imbalanced):
    X, y = imbalanced
    built = []
    with pytest.raises(ParameterError, match="threshold_scoring='balanced_accuray'"):
        fast_classifier(threshold_scoring="balanced_accuray", model=built.append).fit(X, y)
    assert built == []


def test_multilabel_gets_one_threshold_per_label():
    X, Y = make_multilabel_classification(n_samples=300, n_classes=3, random_state=0)
    clf = fast_classifier().fit(X, Y)
    assert clf.threshold_.shape == (3,)
    assert [s.threshold for s in clf.threshold_search_] == list(clf.threshold_)
    np.testing.assert_array_equal(
        clf.predict(X), (clf.predict_proba(X) >= clf.threshold_).astype(int)
    )
    fixed = fast_classifier(threshold=0.4).fit(X, Y)
    np.testing.assert_array_equal(fixed.threshold_, [0.4, 0.4, 0.4])


def test_multiclass_predicts_the_most_probable_class():
    X, y = make_classification(n_samples=300, n_classes=3, n_informative=4, random_state=0)
    clf = fast_classifier(threshold_cv=3).fit(X, y)  # nothing to tune: no internal fits
    assert clf.threshold_ is None and clf.threshold_search_ is None
    # The most probable class after the balanced-accuracy rule's division by the class shares.
    weighted = clf.predict_proba(X) * clf.class_multipliers_
    np.testing.assert_array_equal(clf.predict(X), np.argmax(weighted, axis=1))
    with pytest.raises(InputError, match=r"threshold=0\.3 applies to binary and multilabel"):
        fast_classifier(threshold=0.3).fit(X, y)


def test_without_early_stopping_the_threshold_still_gets_held_out_data(imbalanced):
    X, y = imbalanced
    clf = fast_classifier(early_stopping=False, threshold_cv=None).fit(X, y)
    # Its loss is recorded every epoch, and nothing stops or restores: the last epoch is kept.
    assert len(clf.history_["val_loss"]) == clf.n_epochs_ == clf.best_epoch_ == FAST["epochs"]
    assert clf.threshold_search_.n_samples == int(np.ceil(0.15 * len(X)))


@pytest.mark.parametrize(
    "counts, folds",
    [
        ([500, 60], 5),  # 9 positives expected in validation: fold instead
        ([2000, 200], None),  # 30 in validation: enough
        ([100, 3], 3),  # fewer folds than 5 when a class is that small
        ([100, 1], None),  # nothing to fold
        ([300, 200, 40, 260], 5),  # multilabel: the rarest label side decides
    ],
)
def test_auto_cv_folds(counts, folds):
    assert auto_cv_folds(counts, 0.15) == folds


class CountingBuilder:
    """A model builder that counts the networks it builds (picklable, clone-safe)."""

    built = 0

    def __call__(self, meta):
        type(self).built += 1
        return keras.Sequential(
            [
                keras.Input(shape=(meta["n_features_in_"],)),
                keras.layers.Dense(8, activation="relu"),
                keras.layers.Dense(1, activation="sigmoid"),
            ]
        )


@pytest.mark.slow
def test_threshold_cv_tunes_on_out_of_fold_probabilities(imbalanced):
    X, y = imbalanced
    CountingBuilder.built = 0
    clf = fast_classifier(model=CountingBuilder(), threshold_cv=3, early_stopping=False)
    clf.fit(X, y)
    assert CountingBuilder.built == 4  # 3 internal fits and the final one
    search = clf.threshold_search_
    assert search.n_folds == 3
    assert search.n_samples == len(X)  # every row predicted once, out of fold
    assert (search.n_positive, search.n_negative) == (y.sum(), len(y) - y.sum())
    assert clf.threshold_ == search.threshold
    again = fast_classifier(model=CountingBuilder(), threshold_cv=3, early_stopping=False)
    assert again.fit(X, y).threshold_ == clf.threshold_  # seeded folds and fits
    splitter = StratifiedKFold(2)
    assert fast_classifier(threshold_cv=splitter).fit(X, y).threshold_search_.n_samples == len(X)


@pytest.mark.slow
def test_auto_threshold_cv_folds_only_when_validation_is_too_small(imbalanced):
    X, y = imbalanced  # 90 positives: about 13 in a 15 % validation split
    CountingBuilder.built = 0
    # f1 has no prior rule, so threshold_cv="auto" tunes it on held-out rows.
    small = fast_classifier(model=CountingBuilder(), threshold_cv="auto", threshold_scoring="f1")
    small.fit(X, y)
    assert CountingBuilder.built == 6 and small.threshold_search_.n_samples == len(X)
    assert small.threshold_search_.n_folds == 5
    CountingBuilder.built = 0
    large = fast_classifier(
        model=CountingBuilder(),
        threshold_cv="auto",
        threshold_scoring="f1",
        validation_fraction=0.3,
    )
    large.fit(X, y)
    assert CountingBuilder.built == 1  # 27 positives in validation: tuned there
    assert large.threshold_search_.n_folds == 0
    assert large.threshold_search_.n_samples == int(np.ceil(0.3 * len(X)))


def test_a_threshold_tuned_on_under_ten_positives_warns():
    X, y = make_classification(
        n_samples=300, n_features=5, weights=[0.97], flip_y=0, random_state=0
    )
    assert y.sum() < MIN_TUNING_COUNT
    message = (
        rf"tuned on only {y.sum()} positive and {len(y) - y.sum()} negative rows of out-of-fold"
    )
    with pytest.warns(ThresholdWarning, match=message):
        fast_classifier(threshold_cv="auto", threshold_scoring="f1").fit(X, y)


@pytest.mark.parametrize(
    "params, stated",
    [
        (dict(class_weight="balanced"), True),
        (dict(class_weight={0: 2.0}), True),
        (dict(sampler=RandomOverSampler(random_state=0)), True),
        (dict(class_weight="balanced", threshold_scoring="f1"), False),  # a metric, asked for
        ({}, False),
    ],
)
def test_explicit_costs_keep_one_half(imbalanced, params, stated):
    X, y = imbalanced
    clf = fast_classifier(**params)
    assert costs_stated(clf.class_weight, clf.sampler, clf.threshold_scoring) is stated
    clf.fit(X, y)
    assert (clf.threshold_search_ is None) is stated
    if stated:
        assert clf.threshold_ == DEFAULT_THRESHOLD


def test_class_weight_decides_with_the_default_threshold():
    # sklearn's own check, on the default estimator: class_weight={0: 1000, 1: 1e-4} must make
    # predict choose class 0; a threshold tuned for balanced accuracy used to undo it.
    check_class_weight_classifiers("SafeKerasClassifier", SafeKerasClassifier(random_state=0))


def test_tuned_threshold_survives_pickle_and_clone_forgets_it(imbalanced):
    X, y = imbalanced
    clf = fast_classifier(threshold_cv=5).fit(X, y)  # tuned out of fold
    restored = pickle.loads(pickle.dumps(clf))
    assert restored.threshold_ == clf.threshold_
    assert restored.threshold_search_.threshold == clf.threshold_
    np.testing.assert_array_equal(restored.predict(X), clf.predict(X))
    fresh = clone(clf).set_params(threshold_cv=None)
    assert not hasattr(fresh, "threshold_") and fresh.threshold == "auto"
    refit = fresh.fit(X[:400], y[:400])  # a refit re-tunes on its own validation split
    assert refit.threshold_search_.n_samples == int(np.ceil(0.15 * 400))


@pytest.mark.slow
def test_composes_with_sklearn_threshold_meta_estimators(imbalanced):
    X, y = imbalanced
    fixed = FixedThresholdClassifier(fast_classifier(), threshold=0.9).fit(X, y)
    inner = fixed.estimator_
    np.testing.assert_array_equal(
        fixed.predict(X), (inner.predict_proba(X)[:, 1] >= 0.9).astype(int)
    )
    tuned = TunedThresholdClassifierCV(fast_classifier(threshold=0.5), cv=2).fit(X, y)
    assert 0 < tuned.best_threshold_ < 1
    np.testing.assert_array_equal(
        tuned.predict(X),
        (tuned.estimator_.predict_proba(X)[:, 1] >= tuned.best_threshold_).astype(int),
    )


def test_score_stays_accuracy_of_the_thresholded_predictions(imbalanced):
    X, y = imbalanced
    clf = fast_classifier().fit(X, y)
    assert clf.score(X, y) == pytest.approx(np.mean(clf.predict(X) == y))


# -- the search from counts (one sorted pass) -------------------------------------------

COUNTED_SCORERS = {
    **{name: name for name in ("balanced_accuracy", "f1", "precision", "recall", "accuracy")},
    **{name: name for name in ("jaccard", "matthews_corrcoef", "f1_macro", "f1_micro")},
    **{name: name for name in ("precision_weighted", "jaccard_macro", "recall_micro")},
    "mcc": make_scorer(matthews_corrcoef),
    "f2": make_scorer(fbeta_score, beta=2),
    "f0": make_scorer(fbeta_score, beta=0),
    "adjusted_balanced": make_scorer(balanced_accuracy_score, adjusted=True),
    "correct_count": make_scorer(accuracy_score, normalize=False),
    "precision_zero_division_1": make_scorer(precision_score, zero_division=1.0),
    "precision_zero_division_nan": make_scorer(precision_score, zero_division=np.nan),
    "f1_macro_nan": make_scorer(f1_score, average="macro", zero_division=np.nan),
    "f1_of_negatives": make_scorer(f1_score, pos_label=0),
    "gmean": make_scorer(geometric_mean_score),
    "gmean_corrected": make_scorer(geometric_mean_score, correction=0.01),
    "loss_sign": make_scorer(recall_score, greater_is_better=False),
    **{f"imbalance_{name}": name for name in ("f1", "specificity", "geometric_mean")},
}


def counted_scorer(name):
    scoring = COUNTED_SCORERS[name]
    if name.startswith("imbalance_"):
        return imbalance_scoring()[scoring]
    return make_threshold_scorer(scoring)


def scorer_loop(scorer):
    """The same scorer behind a plain function: not recognised, so called per threshold."""
    return lambda estimator, X, y, **kwargs: scorer(estimator, X, y, **kwargs)


def held_out_case(case):
    """(y_positive, proba, sample_weight) of a named edge case."""
    rng = np.random.default_rng(len(case))
    n = {"tiny": 7, "ties": 200, "integer_weights": 150, "float_weights": 150}.get(case, 120)
    y = rng.random(n) < 0.3
    y[:2] = [True, False]
    proba = np.clip(rng.normal(np.where(y, 0.6, 0.4), 0.2), 0, 1)
    weights = None
    if case == "ties":
        proba = np.round(proba, 1)  # about 10 distinct values, each shared by many rows
    elif case == "integer_weights":
        weights = rng.integers(1, 4, n).astype(float)
    elif case == "float_weights":
        weights = rng.random(n) + 0.05
    elif case == "one_class_region":  # only positives above 0.7, only negatives below 0.3
        proba = np.where(y, rng.uniform(0.3, 1.0, n), rng.uniform(0.0, 0.7, n))
    return y, proba, weights


def assert_same_search(fast, slow):
    assert fast.threshold == slow.threshold  # same winner, ties included
    for field in dataclasses.fields(ThresholdSearch):
        a, b = getattr(fast, field.name), getattr(slow, field.name)
        if isinstance(a, (tuple, str)):
            assert a == b, field.name
        else:
            scale = max(1.0, float(np.nanmax(np.abs(np.append(np.ravel(b), 0.0)))))
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-12 * scale, err_msg=field.name)


CASES = ("tiny", "ties", "integer_weights", "float_weights", "one_class_region")


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("name", ["balanced_accuracy", "f1", "mcc", "imbalance_geometric_mean"])
def test_counted_search_equals_the_scorer_loop(name, case):
    y, proba, weights = held_out_case(case)
    scorer = counted_scorer(name)
    fast = tune_threshold(y, proba, scorer, sample_weight=weights)
    slow = tune_threshold(y, proba, scorer_loop(scorer), sample_weight=weights)
    assert fast.tuned and fast.n_changed and np.isfinite(fast.gain_se)
    assert_same_search(fast, slow)


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("name", sorted(COUNTED_SCORERS))
def test_every_counted_metric_equals_the_scorer_loop(name, case):
    y, proba, weights = held_out_case(case)
    scorer = counted_scorer(name)
    fast = tune_threshold(y, proba, scorer, sample_weight=weights)
    assert_same_search(fast, tune_threshold(y, proba, scorer_loop(scorer), sample_weight=weights))


def test_counted_search_on_many_rows_equals_the_scorer_loop():
    rng = np.random.default_rng(0)
    y = rng.random(3000) < 0.05
    proba = np.round(np.clip(rng.normal(np.where(y, 0.45, 0.2), 0.15), 0, 1), 3)
    scorer = make_threshold_scorer("balanced_accuracy")
    fast = tune_threshold(y, proba, scorer)
    assert len(fast.thresholds) == MAX_CANDIDATES + 1
    assert_same_search(fast, tune_threshold(y, proba, scorer_loop(scorer)))


def test_a_stock_scorer_is_never_called_per_threshold(monkeypatch):
    def refuse(self, X):
        raise AssertionError("the stand-in classifier was asked to predict")

    monkeypatch.setattr(_ThresholdedProba, "predict", refuse)
    y, proba, weights = held_out_case("float_weights")
    search = tune_threshold(y, proba, make_threshold_scorer("f1"), sample_weight=weights)
    assert search.tuned and np.isfinite(search.gain_se)


@pytest.mark.parametrize(
    "scorer",
    [
        make_scorer(f1_score, labels=[1]),  # a keyword the counts do not model
        make_scorer(precision_score, pos_label=1.0),  # equal to label 1, but a float
        make_scorer(cohen_kappa_score),  # not a metric the counts cover
    ],
)
def test_other_scorers_take_the_scorer_loop(scorer, monkeypatch):
    predictions = []
    predict = _ThresholdedProba.predict

    @functools.wraps(predict)  # scikit-learn finds the response method by its name
    def spy(self, X):
        predictions.append(self.threshold)
        return predict(self, X)

    monkeypatch.setattr(_ThresholdedProba, "predict", spy)
    y, proba, _ = held_out_case("ties")
    search = tune_threshold(y, proba, scorer)
    assert search.n_changed
    assert predictions[: len(search.thresholds)] == list(search.thresholds)
    assert len(predictions) == len(search.thresholds) + 2 * BOOTSTRAP_ROUNDS


def test_a_custom_scorer_is_called_once_per_threshold_and_bootstrap_score():
    calls = []
    scorer = make_threshold_scorer("balanced_accuracy")

    def custom(estimator, X, y, sample_weight=None):
        calls.append(1)
        return scorer(estimator, X, y, sample_weight=sample_weight)

    y, proba, weights = held_out_case("integer_weights")
    search = tune_threshold(y, proba, custom, sample_weight=weights)
    assert search.n_changed and len(calls) == len(search.thresholds) + 2 * BOOTSTRAP_ROUNDS
    assert_same_search(search, tune_threshold(y, proba, scorer, sample_weight=weights))


def test_scorers_the_counts_cannot_reproduce_keep_their_errors():
    y, proba, _ = held_out_case("ties")
    with pytest.raises(ValueError, match="zero_division"):  # jaccard_score rejects NaN
        tune_threshold(y, proba, make_scorer(jaccard_score, zero_division=np.nan))
    with pytest.raises(ValueError, match="pos_label=2 is not a valid label"):
        tune_threshold(y, proba, make_scorer(f1_score, pos_label=2))
    assert counting_metric(make_scorer(f1_score, pos_label=2), (0, 1)) is None
    assert counting_metric(make_threshold_scorer("roc_auc"), (0, 1)) is None


def test_imbalance_scorers_score_the_stand_in_classifier():
    # check_is_fitted asks for a fit method: the stand-in used to fail every imbalance scorer.
    y, proba, _ = held_out_case("ties")
    scorer = imbalance_scoring()["recall"]
    slow = tune_threshold(y, proba, scorer_loop(scorer))
    assert slow.tuned
    assert_same_search(tune_threshold(y, proba, scorer), slow)


# -- the held-out ROC-AUC and the bootstrap of the gain, from counts --------------------


@pytest.mark.parametrize("weights", ["none", "integer", "float"])
@pytest.mark.parametrize("decimals", [1, 2, 6])
def test_roc_auc_from_the_sorted_rows_equals_roc_auc_score(weights, decimals):
    rng = np.random.default_rng(decimals)
    for n in (2, 9, 400, 5000):
        y = rng.random(n) < rng.uniform(0.05, 0.6)
        y[:2] = [True, False]
        proba = np.round(rng.random(n), decimals)  # few decimals: many ties, across classes
        sample_weight = {
            "none": None,
            "integer": rng.integers(1, 5, n).astype(float),
            "float": rng.random(n) + 0.01,
        }[weights]
        found = SortedRows(y, proba, sample_weight).roc_auc()
        expected = roc_auc_score(y, proba, sample_weight=sample_weight)
        assert found == pytest.approx(expected, rel=0, abs=1e-12)


def test_the_search_reports_the_roc_auc_of_scikit_learn():
    y, proba, weights = held_out_case("float_weights")
    found = tune_threshold(y, proba, make_threshold_scorer("f1"), sample_weight=weights)
    assert found.roc_auc == pytest.approx(roc_auc_score(y, proba, sample_weight=weights), abs=1e-12)
    ties = held_out_case("ties")
    assert tune_threshold(*ties[:2], make_threshold_scorer("f1")).roc_auc == pytest.approx(
        roc_auc_score(*ties[:2]), abs=1e-12
    )


def reference_gain_se(y, proba, threshold, metric, sample_weight=None, rounds=4000):
    """The bootstrap standard error of the gain over 0.5, row by row, many rounds."""
    rng = np.random.default_rng(123)
    weights = np.ones(len(y)) if sample_weight is None else sample_weight
    rows = np.concatenate(
        [rng.choice(np.flatnonzero(y == c), (rounds, int(np.sum(y == c)))) for c in (False, True)],
        axis=1,
    )
    truth, w = y[rows], weights[rows]

    def scores(cut):
        predicted = proba[rows] >= cut
        tp, fp = (w * (truth & predicted)).sum(1), (w * (~truth & predicted)).sum(1)
        fn, tn = (w * (truth & ~predicted)).sum(1), (w * (~truth & ~predicted)).sum(1)
        return metric(tp, fp, fn, tn)

    return np.std(scores(threshold) - scores(DEFAULT_THRESHOLD), ddof=1)


BY_COUNTS = {
    "balanced_accuracy": lambda tp, fp, fn, tn: (tp / (tp + fn) + tn / (tn + fp)) / 2,
    "f1": lambda tp, fp, fn, tn: 2 * tp / (2 * tp + fp + fn),
}


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("scoring", sorted(BY_COUNTS))
def test_gain_se_is_the_bootstrap_standard_error(scoring, weighted):
    # 50 rounds read through the bin counts match a 4000-round bootstrap to a few percent; the
    # plain standard deviation of 50 gains is off by 10 % (one standard deviation) or more.
    rng = np.random.default_rng(7)
    y = rng.random(400) < 0.2
    proba = np.round(np.clip(rng.normal(np.where(y, 0.5, 0.35), 0.15), 0, 1), 3)
    weights = np.where(y, 4.0, 1.0) if weighted else None  # class weights: equal within a class
    found = tune_threshold(y, proba, make_threshold_scorer(scoring), sample_weight=weights)
    assert found.n_changed >= MIN_TUNING_COUNT
    expected = reference_gain_se(y, proba, found.threshold, BY_COUNTS[scoring], weights)
    assert found.gain_se == pytest.approx(expected, rel=0.04)


@pytest.mark.parametrize("name", ["balanced_accuracy", "f1", "mcc"])
def test_class_weighted_search_equals_the_scorer_loop(name):
    # Weights equal within each class take the bin-count bootstrap in both paths.
    y, proba, _ = held_out_case("ties")
    weights = np.where(y, 3.0, 0.5)
    scorer = counted_scorer(name)
    fast = tune_threshold(y, proba, scorer, sample_weight=weights)
    assert fast.n_changed and np.isfinite(fast.gain_se)
    assert_same_search(fast, tune_threshold(y, proba, scorer_loop(scorer), sample_weight=weights))


class _CountingRng:
    """A random generator that records how many values each call draws."""

    def __init__(self, rng, sizes):
        self._rng, self._sizes = rng, sizes

    def __getattr__(self, name):
        method = getattr(self._rng, name)

        def draw(*args, **kwargs):
            values = method(*args, **kwargs)
            self._sizes.append((name, np.size(values)))
            return values

        return draw


@pytest.mark.parametrize("weights, row_draws", [(None, False), ("class", False), ("row", True)])
def test_the_bootstrap_draws_bin_counts_unless_weights_differ_within_a_class(
    weights, row_draws, monkeypatch
):
    rng = np.random.default_rng(3)
    y = rng.random(2000) < 0.1
    proba = np.clip(rng.normal(np.where(y, 0.5, 0.3), 0.15), 0, 1)
    sample_weight = {
        None: None,
        "class": np.where(y, 5.0, 1.0),
        "row": rng.integers(1, 3, 2000).astype(float),
    }[weights]
    sizes = []
    make_rng = np.random.default_rng
    monkeypatch.setattr(
        threshold_bootstrap.np.random,
        "default_rng",
        lambda seed=None: _CountingRng(make_rng(seed), sizes),
    )
    found = tune_threshold(y, proba, make_threshold_scorer("f1"), sample_weight=sample_weight)
    assert found.n_changed and np.isfinite(found.gain_se)
    drawn = sum(size for _, size in sizes)
    if row_draws:
        assert drawn == BOOTSTRAP_ROUNDS * len(y)
    else:  # one multinomial (3 bin counts) per class and round
        assert sizes == [("multinomial", 3 * BOOTSTRAP_ROUNDS)] * 2


def test_binned_resamples_fill_each_bin_with_its_own_rows():
    rng = np.random.default_rng(0)
    proba = np.round(rng.random(300), 2)
    y = rng.random(300) < 0.3
    classes = [np.flatnonzero(~y), np.flatnonzero(y)]
    cuts = (0.3, 0.5)
    shares = [np.bincount(bin_of(proba[m], cuts), minlength=3) / len(m) for m in classes]
    bins = resampled_bins(classes, shares, 20, np.random.default_rng(1))
    for i, rows in enumerate(binned_resamples(proba, cuts, classes, bins, rng)):
        for k, members in enumerate(classes):
            mine = rows[np.isin(rows, members)]
            assert np.array_equal(np.bincount(bin_of(proba[mine], cuts), minlength=3), bins[k][i])
    assert i == 19
