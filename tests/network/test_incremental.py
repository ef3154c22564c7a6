"""Continued training: ``warm_start=True`` and ``partial_fit`` (safekeras/network/incremental.py).

A continued fit starts from the fitted weights and keeps what the first fit
learnt (preprocessing, schema, classes, target scaling); it refuses data or
parameters that would make it a different model, and a failed continuation
leaves the estimator as it was.
"""

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.datasets import make_classification, make_regression
from sklearn.metrics import balanced_accuracy_score, r2_score
from sklearn.preprocessing import StandardScaler

from safekeras import (
    InputError,
    ParameterError,
    SafeKerasClassifier,
    SafeKerasRegressor,
    TargetError,
    TrainingError,
    load,
)
from safekeras.network.incremental import structure_of

pytestmark = pytest.mark.core

FAST = dict(
    hidden_layer_sizes=(16,),
    epochs=10,
    batch_size=32,
    learning_rate=0.01,
    threshold_cv=None,
    random_state=0,
)


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(
        n_samples=1200, n_features=8, n_informative=5, weights=[0.7], random_state=0
    )
    return X[:900], y[:900], X[900:], y[900:]


def weights_of(estimator):
    return [w.copy() for w in estimator.model_.get_weights()]


def fitted_state(estimator):
    """Everything a failed continuation must leave untouched."""
    return {k: v for k, v in vars(estimator).items() if k.endswith("_")}


# -- warm_start ------------------------------------------------------------------------


def test_warm_start_continues_from_the_fitted_weights(data):
    X, y, X_test, _ = data
    first = SafeKerasClassifier(**FAST, warm_start=True).fit(X, y)
    proba = first.predict_proba(X_test)
    # A learning rate too small to move any weight: continuing must predict as before,
    # while a cold fit with the same settings starts from new weights.
    first.set_params(learning_rate=1e-12, epochs=2, early_stopping=False)
    first.fit(X, y)
    np.testing.assert_allclose(first.predict_proba(X_test), proba, atol=1e-6)
    cold = clone(first).set_params(warm_start=False).fit(X, y)
    assert np.abs(cold.predict_proba(X_test) - proba).max() > 1e-3


def test_warm_start_keeps_preprocessing_schema_and_classes(data):
    X, y, _, _ = data
    est = SafeKerasClassifier(**FAST, warm_start=True).fit(X, y)
    preprocessor, schema = est.preprocessor_, est.input_schema_
    mean = preprocessor.named_transformers_["numeric"][-1].mean_.copy()
    est.fit(X[:300] * 10 + 5, y[:300])  # scaled differently: the scaling must not follow
    assert est.preprocessor_ is preprocessor
    np.testing.assert_array_equal(preprocessor.named_transformers_["numeric"][-1].mean_, mean)
    assert est.input_schema_ is schema
    np.testing.assert_array_equal(est.classes_, [0, 1])
    assert est.n_epochs_ == len(est.history_["loss"]) <= FAST["epochs"]


def test_warm_start_trains_further_and_retunes_the_threshold(data):
    X, y, X_test, y_test = data
    est = SafeKerasClassifier(**{**FAST, "epochs": 1}, warm_start=True).fit(X, y)
    one_epoch = balanced_accuracy_score(y_test, est.predict(X_test))
    threshold = est.threshold_
    est.set_params(epochs=30).fit(X, y)
    assert balanced_accuracy_score(y_test, est.predict(X_test)) > one_epoch
    assert est.threshold_search_ is not None and est.threshold_ != threshold


def test_warm_start_without_a_fit_is_a_plain_fit(data):
    X, y, X_test, _ = data
    warm = SafeKerasClassifier(**FAST, warm_start=True).fit(X, y)
    cold = SafeKerasClassifier(**FAST).fit(X, y)
    np.testing.assert_array_equal(warm.predict_proba(X_test), cold.predict_proba(X_test))


def test_warm_start_regressor_keeps_the_target_scaling():
    X, y = make_regression(n_samples=300, n_features=5, noise=1.0, random_state=0)
    est = SafeKerasRegressor(**{k: v for k, v in FAST.items() if k != "threshold_cv"})
    est.set_params(warm_start=True).fit(X, y)
    scaler = est.target_scaler_
    est.fit(X, y * 100)
    assert est.target_scaler_ is scaler


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        (lambda X, y: (X[:, :5], y), InputError, "has 5 features"),
        (lambda X, y: (X, np.where(y == 1, 7, y)), TargetError, r"label\(s\) \[7\]"),
        (lambda X, y: (X, np.column_stack([y, y])), TargetError, "one label per row"),
    ],
    ids=["fewer-columns", "new-class", "2d-target"],
)
def test_warm_start_refuses_different_data_and_changes_nothing(data, change, error, match):
    X, y, X_test, _ = data
    est = SafeKerasClassifier(**FAST, warm_start=True).fit(X, y)
    proba, state, weights = est.predict_proba(X_test), fitted_state(est), weights_of(est)
    with pytest.raises(error, match=match):
        est.fit(*change(X, y))
    assert fitted_state(est).keys() == state.keys()
    assert all(fitted_state(est)[k] is v for k, v in state.items())
    for before, after in zip(weights, weights_of(est), strict=True):
        np.testing.assert_array_equal(before, after)
    np.testing.assert_array_equal(est.predict_proba(X_test), proba)


def test_warm_start_refuses_a_changed_column_kind():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
    y = (frame["a"] > 0).astype(int)
    est = SafeKerasClassifier(**FAST, warm_start=True).fit(frame, y)
    renamed = frame.rename(columns={"b": "c"})
    with pytest.raises(InputError, match="feature names"):
        est.fit(renamed, y)
    as_text = frame.assign(b=frame["b"].map(lambda v: f"level {v:.0f}"))
    with pytest.raises(InputError, match="'b'"):
        est.fit(as_text, y)


@pytest.mark.parametrize(
    ("param", "value"),
    [("hidden_layer_sizes", (8,)), ("activation", "tanh"), ("preprocessor", "passthrough")],
)
def test_warm_start_refuses_a_changed_network(data, param, value):
    X, y, _, _ = data
    est = SafeKerasClassifier(**FAST, warm_start=True).fit(X, y)
    est.set_params(**{param: value})
    with pytest.raises(ParameterError, match=f"{param} changed since it was fitted"):
        est.fit(X, y)


def test_structure_records_values_estimators_and_types():
    est = SafeKerasClassifier(preprocessor=StandardScaler(with_mean=False), model=lambda m: m)
    structure = structure_of(est)
    assert structure["hidden_layer_sizes"] == (64, 32)
    assert structure["preprocessor"] == "StandardScaler(with_mean=False)"
    assert structure["model"] == "<builtins.function>"
    # Recorded by value and repr, so an unpickled copy has the same structure.
    assert structure_of(pickle.loads(pickle.dumps(clone(est).set_params(model=None)))) == {
        **structure,
        "model": None,
    }


def test_a_diverging_continuation_leaves_the_network_as_it_was(data):
    X, y, X_test, _ = data
    est = SafeKerasClassifier(**FAST, warm_start=True, optimizer="sgd").fit(X, y)
    proba, weights = est.predict_proba(X_test), weights_of(est)
    optimizer = est.model_.optimizer
    est.set_params(learning_rate=1e30, early_stopping=False)
    with pytest.raises(TrainingError, match="diverged"):
        est.fit(X * 1e6, y)
    assert est.model_.optimizer is optimizer
    for before, after in zip(weights, weights_of(est), strict=True):
        np.testing.assert_array_equal(before, after)
    np.testing.assert_array_equal(est.predict_proba(X_test), proba)


# -- partial_fit -----------------------------------------------------------------------


def chunks(n_rows, n_chunks):
    return np.array_split(np.arange(n_rows), n_chunks)


def test_partial_fit_over_chunks_comes_close_to_one_fit(data):
    X, y, X_test, y_test = data
    full = SafeKerasClassifier(**{**FAST, "epochs": 40}, threshold=None).fit(X, y)
    incremental = SafeKerasClassifier(**FAST, threshold=None)
    for _ in range(10):
        for rows in chunks(len(X), 5):
            incremental.partial_fit(X[rows], y[rows], classes=[0, 1])
    full_score = balanced_accuracy_score(y_test, full.predict(X_test))
    incremental_score = balanced_accuracy_score(y_test, incremental.predict(X_test))
    assert incremental_score > 0.8
    assert incremental_score >= full_score - 0.05
    assert incremental.n_epochs_ == len(incremental.history_["loss"]) == 50
    assert incremental.threshold_ == 0.5


def test_partial_fit_regressor_comes_close_to_one_fit():
    X, y = make_regression(n_samples=900, n_features=6, noise=5.0, random_state=0)
    params = {k: v for k, v in FAST.items() if k != "threshold_cv"}
    full = SafeKerasRegressor(**{**params, "epochs": 40}).fit(X[:700], y[:700])
    incremental = SafeKerasRegressor(**params)
    for _ in range(10):
        for rows in chunks(700, 5):
            incremental.partial_fit(X[rows], y[rows])
    full_r2 = r2_score(y[700:], full.predict(X[700:]))
    assert r2_score(y[700:], incremental.predict(X[700:])) >= full_r2 - 0.05


def test_partial_fit_freezes_the_preprocessing_of_the_first_chunk(data):
    X, y, _, _ = data
    est = SafeKerasClassifier(**FAST)
    est.partial_fit(X[:100], y[:100], classes=[0, 1])
    # Shifted, not scaled x1000: that chunk now saturates the network and is refused.
    est.partial_fit(X[100:] + 2.0, y[100:])
    scaler = est.preprocessor_.named_transformers_["numeric"][-1]
    np.testing.assert_allclose(scaler.mean_, X[:100].mean(axis=0))


def test_partial_fit_keeps_the_optimizer_state_between_calls(data):
    X, y, _, _ = data
    est = SafeKerasClassifier(**FAST)
    est.partial_fit(X[:64], y[:64], classes=[0, 1])
    est.partial_fit(X[64:160], y[64:160])
    # Two steps of 32 rows, then three: the optimizer counts every step.
    assert int(est.model_.optimizer.iterations.numpy()) == 5


def test_partial_fit_needs_the_classes_first_and_the_same_classes_after(data):
    X, y, _, _ = data
    est = SafeKerasClassifier(**FAST)
    with pytest.raises(TargetError, match="classes must be passed on the first call"):
        est.partial_fit(X, y)
    assert not hasattr(est, "classes_")
    est.partial_fit(X[:50], y[:50], classes=np.array([1, 0, 1]))
    np.testing.assert_array_equal(est.classes_, [0, 1])
    with pytest.raises(TargetError, match="differs from the classes"):
        est.partial_fit(X[:50], y[:50], classes=[0, 1, 2])
    with pytest.raises(TargetError, match="not among the classes"):
        est.partial_fit(X[:50], np.full(50, 2))


def test_partial_fit_learns_from_chunks_of_one_class(data):
    X, y, _, _ = data
    est = SafeKerasClassifier(**FAST).partial_fit(X[y == 0][:40], np.zeros(40), classes=[0, 1])
    est.partial_fit(X[y == 1][:40], np.ones(40))
    np.testing.assert_array_equal(est.classes_, [0, 1])
    assert est.predict_proba(X[:5]).shape == (5, 2)


def test_partial_fit_multiclass_and_multilabel():
    X, y = make_classification(
        n_samples=300, n_features=6, n_informative=4, n_classes=3, random_state=0
    )
    est = SafeKerasClassifier(**FAST).partial_fit(X[:150], y[:150], classes=[0, 1, 2])
    est.partial_fit(X[150:], y[150:])
    assert est.predict_proba(X).shape == (300, 3)
    Y = np.column_stack([y == 0, y == 1]).astype(int)
    multilabel = SafeKerasClassifier(**FAST).partial_fit(X[:150], Y[:150])
    multilabel.partial_fit(X[150:], Y[150:])
    np.testing.assert_array_equal(multilabel.threshold_, [0.5, 0.5])


def test_partial_fit_refuses_balanced_class_weight_and_takes_a_dict(data):
    X, y, _, _ = data
    est = SafeKerasClassifier(**FAST, class_weight="balanced")
    with pytest.raises(ParameterError, match="compute_class_weight"):
        est.partial_fit(X, y, classes=[0, 1])
    est.set_params(class_weight={0: 1.0, 1: 3.0}).partial_fit(X, y, classes=[0, 1])
    assert est.n_epochs_ == 1


def test_partial_fit_is_reproducible(data):
    X, y, X_test, _ = data

    def run(random_state):
        est = SafeKerasClassifier(**{**FAST, "random_state": random_state}, dropout=0.2)
        for rows in chunks(len(X), 3):
            est.partial_fit(X[rows], y[rows], classes=[0, 1])
        return est.predict_proba(X_test)

    np.testing.assert_array_equal(run(0), run(0))
    # Negative control: the seed reaches the initial weights and dropout, so another seed differs.
    assert not np.array_equal(run(0), run(1))


def test_partial_fit_after_fit_keeps_the_tuned_threshold(data):
    X, y, _, _ = data
    est = SafeKerasClassifier(**FAST).fit(X, y)
    threshold, search = est.threshold_, est.threshold_search_
    est.partial_fit(X[:100], y[:100])
    assert est.threshold_ == threshold and est.threshold_search_ is search
    assert est.n_epochs_ == len(est.history_["loss"])
    assert "val_loss" not in est.history_


@pytest.mark.parametrize("round_trip", ["pickle", "save"])
def test_partial_fit_continues_after_a_round_trip(data, tmp_path, round_trip):
    X, y, X_test, _ = data
    est = SafeKerasClassifier(**FAST).partial_fit(X[:300], y[:300], classes=[0, 1])
    if round_trip == "pickle":
        restored = pickle.loads(pickle.dumps(est))
    else:
        est.save(tmp_path / "model.safekeras")
        restored = load(tmp_path / "model.safekeras")
    proba = restored.predict_proba(X_test)
    restored.partial_fit(X[300:], y[300:])
    assert restored.n_epochs_ == 2
    assert np.abs(restored.predict_proba(X_test) - proba).max() > 0
