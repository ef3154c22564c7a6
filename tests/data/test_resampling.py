"""Class weights by label and imbalanced-learn samplers, on the training split only."""

import warnings

import numpy as np
import pandas as pd
import pytest
from imblearn.over_sampling import SMOTE, SMOTEN, SMOTENC, RandomOverSampler
from imblearn.under_sampling import RandomUnderSampler
from sklearn.base import BaseEstimator, clone
from sklearn.datasets import make_classification, make_multilabel_classification
from sklearn.model_selection import GridSearchCV
from sklearn.utils.class_weight import compute_class_weight

from safekeras import SafeKerasClassifier, SafeKerasRegressor
from safekeras.data.preprocessing import make_auto_preprocessor, one_hot_blocks
from safekeras.data.resampling import OneHotLayout, class_weights, resample
from safekeras.exceptions import InputError, SafeKerasWarning, TargetError

pytestmark = pytest.mark.core

# threshold_cv=None: one network per fit (the small data here would make "auto" fold 5 times;
# tests/decision/test_thresholds.py covers it).
FAST = dict(
    hidden_layer_sizes=(16,),
    epochs=15,
    batch_size=32,
    learning_rate=0.01,
    threshold_cv=None,
    random_state=0,
)


def fast_classifier(**params):
    return SafeKerasClassifier(**{**FAST, **params})


@pytest.fixture(scope="module")
def imbalanced():
    X, y = make_classification(
        n_samples=400, n_features=6, n_informative=3, weights=[0.85, 0.15], random_state=0
    )
    return X, np.where(y == 1, "rare", "common")


def mixed_frame(n=300, seed=0):
    rng = np.random.RandomState(seed)
    colour = rng.choice(["red", "green", "blue"], size=n)
    size = rng.normal(size=n)
    y = ((colour == "red") & (size > 0.5)).astype(int)
    frame = pd.DataFrame({"size": size, "colour": colour, "weight": rng.normal(size=n)})
    return frame, y


# -- class weights -------------------------------------------------------------------


def test_balanced_weights_match_sklearn():
    y = np.array([0, 0, 0, 0, 1, 2, 2])
    expected = compute_class_weight("balanced", classes=np.arange(3), y=y)
    np.testing.assert_allclose(class_weights("balanced", np.array(["a", "b", "c"]), y), expected)


def test_dict_weights_are_keyed_by_label():
    classes = np.array(["cat", "dog", "eel"])
    weights = class_weights({"dog": 3.0, "eel": 0.5}, classes, np.array([0, 1, 2]))
    np.testing.assert_array_equal(weights, [1.0, 3.0, 0.5])  # left-out classes weigh 1
    bools = class_weights({True: 4}, np.array([False, True]), np.array([0, 1]))
    np.testing.assert_array_equal(bools, [1.0, 4.0])
    assert class_weights(None, classes, np.array([0])) is None


@pytest.mark.parametrize(
    "class_weight, classes, message",
    [
        (
            {"2": 5.0},
            np.array([1, 2]),
            r"key '2' \(str\), which is not one of the classes \[1, 2\]",
        ),
        ({2: 5.0}, np.array(["1", "2"]), r"key 2 \(int\)"),
        ({1: 5.0}, np.array([0, 2]), "not one of the classes"),  # an encoded index, not a label
        ({"a": 0}, np.array(["a", "b"]), "must be positive numbers"),
        ({"a": -1.0}, np.array(["a", "b"]), "must be positive numbers"),
        ({"a": "heavy"}, np.array(["a", "b"]), "must be positive numbers"),
    ],
)
def test_bad_class_weights_name_the_problem(class_weight, classes, message):
    with pytest.raises(TargetError, match=message):
        class_weights(class_weight, classes, np.array([0, 1]))


@pytest.mark.slow
def test_class_weight_dict_is_sample_weight_by_class_in_the_loss(imbalanced):
    X, y = imbalanced
    # preprocessor=None: class weights weigh the loss, sample weights the preprocessing too
    # (next test); the networks then train on the same rows with the same weights.
    weighted = fast_classifier(class_weight={"rare": 4.0}, preprocessor=None).fit(X, y)
    sample_weight = np.where(y == "rare", 4.0, 1.0)
    by_rows = fast_classifier(preprocessor=None).fit(X, y, sample_weight=sample_weight)
    np.testing.assert_allclose(weighted.predict_proba(X), by_rows.predict_proba(X), rtol=1e-6)
    plain = fast_classifier(threshold=0.5).fit(X, y)
    rare_p = weighted.predict_proba(X)[:, 1].mean()
    assert rare_p > plain.predict_proba(X)[:, 1].mean() + 0.05


def test_class_weight_leaves_the_preprocessing_statistics_to_sample_weight(imbalanced):
    X, y = imbalanced
    by_class = np.where(y == "rare", 4.0, 1.0)

    def scaler_mean(**fit_params):
        clf = fast_classifier(**fit_params.pop("params", {})).fit(X, y, **fit_params)
        return clf.preprocessor_.named_transformers_["numeric"][-1].mean_

    unweighted = scaler_mean()
    np.testing.assert_array_equal(scaler_mean(params={"class_weight": {"rare": 4.0}}), unweighted)
    weighted = scaler_mean(sample_weight=by_class)
    # The training split (85 % of the rows) weighted as given: near the weighted mean of all rows.
    np.testing.assert_allclose(weighted, np.average(X, axis=0, weights=by_class), atol=0.2)
    assert not np.allclose(weighted, unweighted)


def test_class_weight_multiplies_sample_weight_and_leaves_inputs_alone(imbalanced):
    X, y = imbalanced
    sample_weight = np.linspace(0.5, 1.5, len(y))
    X_before, y_before, sw_before = X.copy(), y.copy(), sample_weight.copy()
    combined = fast_classifier(class_weight={"rare": 3.0}, preprocessor=None).fit(
        X, y, sample_weight=sample_weight
    )
    product = sample_weight * np.where(y == "rare", 3.0, 1.0)
    by_rows = fast_classifier(preprocessor=None).fit(X, y, sample_weight=product)
    np.testing.assert_allclose(combined.predict_proba(X), by_rows.predict_proba(X), rtol=1e-6)
    np.testing.assert_array_equal(X, X_before)
    np.testing.assert_array_equal(y, y_before)
    np.testing.assert_array_equal(sample_weight, sw_before)


def test_balanced_class_weight_raises_minority_recall(imbalanced):
    X, y = imbalanced
    plain = fast_classifier(threshold=0.5).fit(X, y)
    balanced = fast_classifier(class_weight="balanced", threshold=0.5).fit(X, y)
    recall = [np.mean(est.predict(X)[y == "rare"] == "rare") for est in (plain, balanced)]
    assert recall[1] > recall[0]


def test_unknown_class_weight_key_fails_before_training(imbalanced):
    X, y = imbalanced
    built = []
    with pytest.raises(TargetError, match="'fraud'"):
        fast_classifier(class_weight={"fraud": 2.0}, model=built.append).fit(X, y)
    assert built == []


# -- samplers ------------------------------------------------------------------------


class SpySampler(BaseEstimator):
    """Records what it is given; oversamples like RandomOverSampler."""

    calls: list = []

    def __init__(self, random_state=None):
        self.random_state = random_state

    def fit_resample(self, X, y):
        type(self).calls.append({"n_rows": len(X), "y": np.array(y), "seed": self.random_state})
        inner = RandomOverSampler(random_state=self.random_state)
        X_out, y_out = inner.fit_resample(X, y)
        self.sample_indices_ = inner.sample_indices_
        return X_out, y_out


def test_sampler_sees_the_training_split_only_with_original_labels(imbalanced):
    X, y = imbalanced
    SpySampler.calls = []
    sampler = SpySampler()
    # A sampler states the costs, so threshold="auto" keeps 0.5 for the default scoring; a
    # scoring of the user's own is still tuned, on the untouched validation split.
    kept = fast_classifier(sampler=SpySampler(), threshold_cv=None).fit(X, y)
    assert kept.threshold_ == 0.5
    SpySampler.calls = []
    clf = fast_classifier(sampler=sampler, threshold_cv=None, threshold_scoring="f1").fit(X, y)
    (call,) = SpySampler.calls
    n_validation = int(np.ceil(0.15 * len(X)))
    assert call["n_rows"] == len(X) - n_validation
    assert set(call["y"]) == {"common", "rare"}  # labels as the caller wrote them
    assert isinstance(call["seed"], int)  # seeded from the estimator, as it had none
    assert sampler.random_state is None and not hasattr(sampler, "sample_indices_")
    # The threshold search saw the validation split at its true class balance.
    search = clf.threshold_search_
    assert search.n_samples == n_validation
    assert search.n_positive == pytest.approx(n_validation * np.mean(y == "rare"), abs=1)


def test_a_sampler_seed_of_its_own_is_kept(imbalanced):
    X, y = imbalanced
    SpySampler.calls = []
    fast_classifier(sampler=SpySampler(random_state=7), threshold=0.5).fit(X, y)
    assert SpySampler.calls[0]["seed"] == 7


def test_sampled_fits_are_reproducible_and_change_the_model(imbalanced):
    X, y = imbalanced
    first = fast_classifier(sampler=SMOTE(), threshold=0.5).fit(X, y)
    second = fast_classifier(sampler=SMOTE(), threshold=0.5).fit(X, y)
    np.testing.assert_array_equal(first.predict_proba(X), second.predict_proba(X))
    plain = fast_classifier(threshold=0.5).fit(X, y)
    assert first.predict_proba(X)[:, 1].mean() > plain.predict_proba(X)[:, 1].mean() + 0.05


def test_sample_weight_follows_the_rows_a_sampler_keeps():
    x = np.arange(12, dtype=float).reshape(-1, 1)
    y = np.array([0] * 9 + [1] * 3)
    weights = np.arange(1, 13, dtype=float)
    x_out, y_out, w_out = resample(RandomOverSampler(), x, y, weights, seed=0)
    assert len(y_out) == 18
    np.testing.assert_array_equal(w_out, x_out[:, 0] + 1)  # each row keeps its own weight


def test_synthetic_rows_cannot_carry_unequal_weights(imbalanced):
    X, y = imbalanced
    with pytest.raises(InputError, match="SMOTE creates synthetic rows"):
        fast_classifier(sampler=SMOTE()).fit(X, y, sample_weight=np.linspace(1, 2, len(y)))
    # Equal weights are no weights.
    fast_classifier(sampler=SMOTE(), epochs=2).fit(X, y, sample_weight=np.full(len(y), 3.0))


def test_a_failing_sampler_reports_the_class_counts(imbalanced):
    X, y = imbalanced
    with pytest.raises(InputError, match=r"sampler SMOTE failed on the training split.*'rare'"):
        fast_classifier(sampler=SMOTE(k_neighbors=100)).fit(X, y)


@pytest.mark.slow
def test_samplers_as_a_grid_search_dimension(imbalanced):
    X, y = imbalanced
    grid = GridSearchCV(
        fast_classifier(epochs=5),
        {"sampler": [None, SMOTE(), RandomUnderSampler()]},
        cv=2,
        scoring="balanced_accuracy",
    ).fit(X, y)
    assert len(grid.cv_results_["params"]) == 3
    assert np.isfinite(grid.cv_results_["mean_test_score"]).all()
    assert grid.best_estimator_.sampler is not grid.param_grid["sampler"][1]


def test_multilabel_targets_refuse_samplers_and_class_weights():
    X, Y = make_multilabel_classification(n_samples=60, n_classes=3, random_state=0)
    with pytest.raises(TargetError, match="samplers take one label per row"):
        fast_classifier(sampler=RandomOverSampler()).fit(X, Y)
    with pytest.raises(TargetError, match="compute_sample_weight"):
        fast_classifier(class_weight="balanced").fit(X, Y)


def test_the_regressor_has_no_classifier_only_parameters():
    params = SafeKerasRegressor().get_params()
    assert not {"sampler", "class_weight", "threshold", "pos_label"} & set(params)


# -- categorical columns (SMOTENC / SMOTEN) ------------------------------------------------


def fitted_layout(frame):
    preprocessor = make_auto_preprocessor(frame).fit(frame)
    x = preprocessor.transform(frame)
    blocks, names = one_hot_blocks(preprocessor)
    return x, OneHotLayout(x.shape[1], blocks, names)


def test_one_hot_layout_round_trips():
    frame, _ = mixed_frame()
    x, layout = fitted_layout(frame)
    assert layout.names == ["colour"] and layout.blocks == [(2, 5)]
    collapsed = layout.collapse(x)
    assert collapsed.shape == (len(x), 3) and layout.categorical_positions == [2]
    np.testing.assert_array_equal(layout.expand(collapsed, x.dtype), x)


def test_smotenc_resamples_categories_as_categories():
    frame, y = mixed_frame()
    x, layout = fitted_layout(frame)
    user_sampler = SMOTENC(categorical_features=[0])  # positions of the raw frame: replaced
    x_out, y_out, _ = resample(user_sampler, x, y, None, seed=0, layout=layout)
    assert (y_out == 1).sum() == (y_out == 0).sum() > (y == 1).sum()
    block = x_out[:, 2:5]
    assert set(np.unique(block)) == {0.0, 1.0}
    np.testing.assert_array_equal(block.sum(axis=1), 1.0)  # one category per row, never half
    np.testing.assert_array_equal(x_out[: len(x)], x)  # original rows first, unchanged
    assert user_sampler.categorical_features == [0]


def test_smote_on_one_hot_columns_warns_and_smoten_needs_categories_only():
    frame, y = mixed_frame()
    x, layout = fitted_layout(frame)
    with pytest.warns(SafeKerasWarning, match=r"SMOTE interpolates.*\['colour'\].*SMOTENC"):
        resample(SMOTE(), x, y, None, seed=0, layout=layout)
    with pytest.raises(InputError, match="SMOTEN resamples categorical features only"):
        resample(SMOTEN(), x, y, None, seed=0, layout=layout)
    categorical_only = frame[["colour"]].assign(shape=np.where(frame["size"] > 0, "a", "b"))
    x_cat, layout_cat = fitted_layout(categorical_only)
    x_out, _y_out, _ = resample(SMOTEN(), x_cat, y, None, seed=0, layout=layout_cat)
    np.testing.assert_array_equal(x_out.sum(axis=1), 2.0)


def test_smotenc_with_the_auto_preprocessor_on_a_dataframe():
    frame, y = mixed_frame()
    with warnings.catch_warnings():
        warnings.simplefilter("error", SafeKerasWarning)  # no SMOTE warning for SMOTENC
        warnings.filterwarnings("ignore", message="Decision threshold")
        clf = fast_classifier(sampler=SMOTENC(categorical_features="auto")).fit(frame, y)
    proba = clf.predict_proba(frame)
    assert proba.shape == (len(frame), 2) and np.isfinite(proba).all()
    assert clf.sampler.categorical_features == "auto"
    assert clone(clf).sampler.get_params() == clf.sampler.get_params()
