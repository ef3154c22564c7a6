"""Validation split, seeding, early stopping, weights and callbacks (network/training.py)."""

import random

import keras
import numpy as np
import pytest
import tensorflow as tf

from safekeras import (
    InputError,
    SafeKerasClassifier,
    SafeKerasRegressor,
    TargetError,
    TrainingError,
    ValidationSplitWarning,
)
from safekeras.network.training import ValidationSplit, normalise_weights

pytestmark = pytest.mark.core

FAST = dict(hidden_layer_sizes=(16,), epochs=8, batch_size=32, random_state=0)
# One network per fit: "auto" would tune the threshold out of fold on data this small.
CLASSIFIER = {**FAST, "threshold_cv": None}


def test_validation_split_is_stratified():
    labels = np.array([0] * 90 + [1] * 10)
    train, val = ValidationSplit(0.2).split(100, labels, np.random.RandomState(0))
    assert len(val) == 20 and np.bincount(labels[val]).tolist() == [18, 2]
    assert len(np.intersect1d(train, val)) == 0 and len(train) + len(val) == 100


def test_validation_split_falls_back_with_a_warning_for_tiny_classes():
    labels = np.array([0] * 19 + [1])
    with pytest.warns(ValidationSplitWarning, match="cannot be stratified"):
        train, val = ValidationSplit(0.2).split(20, labels, np.random.RandomState(0))
    assert len(train) + len(val) == 20


def test_validation_split_needs_two_samples():
    with pytest.raises(InputError, match="n_samples=1"):
        ValidationSplit(0.2).split(1, None, np.random.RandomState(0))


def test_normalised_weights_have_mean_one_and_keep_ratios():
    weights = normalise_weights(np.array([1.0, 3.0, 4.0]))
    np.testing.assert_allclose(weights, [0.375, 1.125, 1.5])
    assert weights.dtype == np.float32
    assert normalise_weights(np.full(5, 2.5)) is None  # equal weights: no weighting at all


def test_constant_sample_weight_fits_exactly_like_none(data):
    X, y = data
    weighted = SafeKerasClassifier(**CLASSIFIER).fit(X, y, sample_weight=np.full(200, 3.0))
    plain = SafeKerasClassifier(**CLASSIFIER).fit(X, y)
    np.testing.assert_array_equal(weighted.predict_proba(X), plain.predict_proba(X))


def test_same_seed_same_probabilities_different_seed_different(data):
    X, y = data
    first = SafeKerasClassifier(**CLASSIFIER).fit(X, y).predict_proba(X)
    again = SafeKerasClassifier(**CLASSIFIER).fit(X, y).predict_proba(X)
    other = SafeKerasClassifier(**{**CLASSIFIER, "random_state": 1}).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)


def _op_determinism_enabled():
    # TensorFlow has a public setter but no public getter for this flag.
    from tensorflow.python.framework import config as tf_config

    return tf_config.is_op_determinism_enabled()


def _global_state():
    return {
        "python_random": random.getstate(),
        "numpy_random": np.random.get_state()[1].copy(),  # noqa: NPY002 (the global one)
        "floatx": keras.config.floatx(),
        "dtype_policy": keras.config.dtype_policy().name,
        "determinism": _op_determinism_enabled(),
        "tf_seed": tf.random.uniform((), seed=1, dtype=tf.float32).numpy(),
    }


def test_fit_and_predict_leave_global_state_untouched(data):
    X, y = data
    # A fixed TF global seed makes the op-seeded draw in _global_state comparable.
    tf.random.set_seed(1234)
    before = _global_state()
    tf.random.set_seed(1234)
    clf = SafeKerasClassifier(**CLASSIFIER).fit(X, y)
    clf.predict_proba(X)
    SafeKerasRegressor(**FAST).fit(X, X[:, 0]).predict(X)
    tf.random.set_seed(1234)
    after = _global_state()
    assert before["python_random"] == after["python_random"]
    np.testing.assert_array_equal(before["numpy_random"], after["numpy_random"])
    for key in ("floatx", "dtype_policy", "determinism", "tf_seed"):
        assert before[key] == after[key], key
    tf.random.set_seed(None)


def test_early_stopping_records_history_and_restores_best_epoch(data):
    X, y = data
    clf = SafeKerasClassifier(
        threshold_cv=None,
        hidden_layer_sizes=(64,),
        epochs=60,
        patience=3,
        learning_rate=0.05,
        batch_size=16,
        random_state=0,
    ).fit(X, y)
    losses = clf.history_["val_loss"]
    assert set(clf.history_) >= {"loss", "val_loss"}
    assert clf.n_epochs_ == len(losses) < 60
    assert clf.best_epoch_ == int(np.argmin(losses)) + 1
    assert clf.n_epochs_ - clf.best_epoch_ == 3  # stopped after `patience` epochs


def test_without_early_stopping_and_split_all_epochs_run_on_all_data(data):
    X, y = data
    clf = SafeKerasClassifier(early_stopping=False, threshold=None, **CLASSIFIER).fit(X, y)
    assert clf.n_epochs_ == clf.best_epoch_ == 8 and "val_loss" not in clf.history_


@pytest.mark.parametrize("engine", ["compiled", "keras"])
def test_without_early_stopping_the_threshold_split_loss_is_recorded_not_acted_on(data, engine):
    X, y = data
    # A high learning rate on small data: the validation loss rises well before the last epoch.
    params = {**CLASSIFIER, "epochs": 30, "learning_rate": 0.05, "hidden_layer_sizes": (64,)}
    clf = SafeKerasClassifier(early_stopping=False, engine=engine, **params).fit(X, y)
    losses = clf.history_["val_loss"]
    assert clf.n_epochs_ == clf.best_epoch_ == len(losses) == len(clf.history_["loss"]) == 30
    assert int(np.argmin(losses)) + 1 < 30  # the best epoch was not kept: nothing was restored


def test_sample_weight_is_honoured_and_never_modified(data):
    X, y = data
    weights = np.where(y == 1, 5.0, 1.0)
    original = weights.copy()
    heavy = SafeKerasClassifier(**CLASSIFIER).fit(X, y, sample_weight=weights)
    plain = SafeKerasClassifier(**CLASSIFIER).fit(X, y)
    np.testing.assert_array_equal(weights, original)
    assert heavy.predict_proba(X)[:, 1].mean() > plain.predict_proba(X)[:, 1].mean()


@pytest.mark.parametrize("early_stopping", [False, True])
def test_zero_weight_rows_are_ignored(data, early_stopping):
    X, y = data
    # Extra rows with flipped labels and zero weight: the fit must be the same
    # as without them, down to the bit (same rows, same order, same seeds).
    X_more = np.vstack([X, X[:50] + 3.0])
    y_more = np.concatenate([y, 1 - y[:50]])
    weights = np.concatenate([np.ones(200), np.zeros(50)])
    config = {**CLASSIFIER, "early_stopping": early_stopping}
    with_zeros = SafeKerasClassifier(**config).fit(X_more, y_more, sample_weight=weights)
    without = SafeKerasClassifier(**config).fit(X, y)
    np.testing.assert_array_equal(with_zeros.predict_proba(X), without.predict_proba(X))


def test_only_zero_weights_and_one_remaining_class_are_errors(data):
    X, y = data
    with pytest.raises(InputError, match="All sample weights are zero"):
        SafeKerasClassifier(**CLASSIFIER).fit(X, y, sample_weight=np.zeros(200))
    with pytest.raises(ValueError, match="class"):
        SafeKerasClassifier(**CLASSIFIER).fit(X, y, sample_weight=y.astype(float))


def test_user_callbacks_are_copied_per_fit(data):
    X, y = data

    class CountEpochs(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.epochs = 0

        def on_epoch_end(self, epoch, logs=None):
            self.epochs += 1

    counter = CountEpochs()
    clf = SafeKerasClassifier(callbacks=[counter], early_stopping=False, **CLASSIFIER).fit(X, y)
    assert counter.epochs == 0  # the parameter itself never runs
    assert clf.callbacks[0] is counter and clf.n_epochs_ == 8


def test_user_callback_can_stop_training(data):
    X, y = data

    class StopAtThree(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 2:
                self.model.stop_training = True

    clf = SafeKerasClassifier(callbacks=[StopAtThree()], early_stopping=False, **CLASSIFIER).fit(
        X, y
    )
    assert clf.n_epochs_ == 3


def test_diverging_loss_raises_and_leaves_no_half_fitted_state(data):
    X, y = data
    huge = X * 1e30  # overflows float32 without scaling
    clf = SafeKerasRegressor(preprocessor=None, early_stopping=False, **FAST)
    with pytest.raises(TrainingError, match="loss became"):
        clf.fit(huge, y * 1e30)
    assert not hasattr(clf, "pipeline_") and not hasattr(clf, "n_features_in_")


def test_failed_refit_keeps_the_previous_fit(data):
    X, y = data
    clf = SafeKerasClassifier(**CLASSIFIER).fit(X, y)
    before = clf.predict_proba(X)
    with pytest.raises(TargetError, match=r"y has only one class \(0\.0\)"):
        clf.fit(X[:, :3], np.zeros(200))  # one class
    assert clf.n_features_in_ == 5
    np.testing.assert_array_equal(clf.predict_proba(X), before)


def test_refits_create_variables_under_the_same_names(data):
    # TensorFlow keeps ~35 KB per distinct variable name for the life of the process, so
    # memory stays flat across refits only if a refit reuses the names of the last fit.
    X, y = data
    clf = SafeKerasClassifier(**{**CLASSIFIER, "hidden_layer_sizes": (8, 4), "dropout": 0.0})

    def variable_paths():
        clf.fit(X, y)
        return sorted(v.path for v in [*clf.model_.variables, *clf.model_.optimizer.variables])

    first = variable_paths()
    assert any(path.startswith("adam/") for path in first)
    assert variable_paths() == first


@pytest.mark.parametrize(
    "activation, n_columns, eps",
    [("softmax", 2, 1e-7), ("softmax", 5, 1e-7), ("sigmoid", 1, 1e-7), ("sigmoid", 3, 1e-3)],
)
def test_prior_loss_is_the_weighted_mean_loss_of_predicting_the_weighted_frequencies(
    activation, n_columns, eps
):
    # prior_loss reads the loss of the mean target; it must equal the row-by-row mean loss.
    from safekeras.network.training import _target_matrix, prior_loss

    rng = np.random.default_rng(3)
    if activation == "softmax":
        labels = rng.choice(n_columns, size=500, p=np.linspace(1, 3, n_columns) / (2 * n_columns))
    else:
        labels = (rng.random((500, n_columns)) < 0.02).astype(np.int64)
    targets = _target_matrix(labels, n_columns, activation)
    weights = rng.uniform(0.2, 3.0, size=500)
    p = np.clip(np.average(targets, axis=0, weights=weights), eps, 1 - eps)
    if activation == "softmax":
        per_row = -(targets * np.log(p)).sum(axis=1)
    else:
        per_row = -(targets * np.log(p) + (1 - targets) * np.log1p(-p)).mean(axis=1)
    assert prior_loss(targets, weights, activation, eps) == pytest.approx(
        np.average(per_row, weights=weights), rel=1e-12
    )
