"""Numpy forward passes for standard networks (safekeras/network/inference.py)."""

import threading
from collections import OrderedDict

import keras
import numpy as np
import pytest
from sklearn.datasets import make_classification

from safekeras import SafeKerasClassifier
from safekeras.network import inference
from safekeras.network.inference import plan_forward

pytestmark = pytest.mark.core

RNG = np.random.default_rng(0)


def _sequential(*layers, width=5):
    model = keras.Sequential([keras.Input((width,)), *layers])
    # Non-trivial weights everywhere (biases, moving statistics, gamma/beta are 0/1 at init).
    model.set_weights([RNG.normal(scale=0.7, size=w.shape).astype(w.dtype) for w in model.weights])
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.moving_variance.assign(RNG.uniform(0.5, 2.0, layer.moving_variance.shape))
    return model


def _assert_plan_matches_keras(model, rows=64):
    plan = plan_forward(model)
    assert plan is not None
    x = RNG.normal(scale=2.0, size=(rows, model.inputs[0].shape[-1])).astype("float32")
    np.testing.assert_allclose(
        plan(x), keras.ops.convert_to_numpy(model(x, training=False)), rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize("activation", sorted(inference._ACTIVATIONS))
def test_dense_activations_match_keras(activation):
    _assert_plan_matches_keras(_sequential(keras.layers.Dense(7, activation=activation)))


@pytest.mark.parametrize(
    "layer",
    [
        keras.layers.Dropout(0.5),
        keras.layers.GaussianNoise(1.0),
        keras.layers.GaussianDropout(0.3),
        keras.layers.AlphaDropout(0.3),
        keras.layers.ActivityRegularization(l1=0.1),
        keras.layers.BatchNormalization(),
        keras.layers.BatchNormalization(center=False, scale=False, epsilon=0.1),
        keras.layers.LayerNormalization(),
        keras.layers.Activation("tanh"),
        keras.layers.ReLU(),
        keras.layers.LeakyReLU(negative_slope=0.05),
        keras.layers.Softmax(),
    ],
    ids=lambda layer: type(layer).__name__,
)
def test_inference_time_layers_match_keras(layer):
    model = _sequential(keras.layers.Dense(6, use_bias=False), layer, keras.layers.Dense(2))
    _assert_plan_matches_keras(model)


def test_float64_networks_are_planned_in_float64():
    model = keras.Sequential(
        [keras.Input((3,), dtype="float64"), keras.layers.Dense(4, dtype="float64")]
    )
    plan = plan_forward(model)
    x = RNG.normal(size=(5, 3))
    assert plan(x).dtype == np.float64
    dense = model.layers[-1]
    kernel, bias = (keras.ops.convert_to_numpy(w) for w in (dense.kernel, dense.bias))
    np.testing.assert_allclose(plan(x), x @ kernel + bias, rtol=1e-12)
    # Keras itself, to float32 rounding: JAX without x64 computes "float64" layers in float32,
    # and Keras's torch matmul gives float64 operands a float32 result type.
    np.testing.assert_allclose(plan(x), keras.ops.convert_to_numpy(model(x)), rtol=1e-6, atol=1e-6)


class _Doubling(keras.layers.Dense):
    def call(self, inputs):
        return 2 * super().call(inputs)


def _custom_activation(x):
    return keras.ops.relu(x) * 2


@pytest.mark.parametrize(
    "build",
    [
        lambda: keras.Sequential(
            [keras.Input((6, 1)), keras.layers.Conv1D(2, 3), keras.layers.Flatten()]
        ),
        lambda: keras.Sequential([keras.Input((5,)), _Doubling(3)]),
        lambda: keras.Sequential([keras.Input((5,)), keras.layers.Dense(3, _custom_activation)]),
        lambda: keras.Sequential([keras.Input((5,)), keras.layers.Dense(3, dtype="mixed_float16")]),
        lambda: keras.Model(*_functional_branches()),
    ],
    ids=["conv", "subclassed-layer", "custom-activation", "mixed-precision", "functional"],
)
def test_other_networks_are_left_to_keras(build):
    assert plan_forward(build()) is None


def _functional_branches():
    inputs = keras.Input((5,))
    return inputs, keras.layers.Dense(2)(inputs) + keras.layers.Dense(2)(inputs)


def test_plan_reads_the_current_weights():
    model = _sequential(keras.layers.Dense(3))
    plan = plan_forward(model)
    x = RNG.normal(size=(4, 5)).astype("float32")
    before = plan(x)
    model.layers[-1].bias.assign(model.layers[-1].bias + 1.0)  # e.g. fine-tuned after fit
    # float32: (w x + b) + 1 and w x + (b + 1) round apart by up to an ulp of 1.0 (1.2e-7).
    np.testing.assert_allclose(plan(x), before + 1.0, rtol=1e-6, atol=1e-6)


def test_a_weight_read_is_its_value_then_and_stays_so():
    """``as_numpy`` of a variable: its values, unchanged by a later ``assign``, of its dtype."""
    variable = keras.Variable(RNG.normal(size=(3, 2)).astype("float32"))
    read = inference.as_numpy(variable.value)
    expected = keras.ops.convert_to_numpy(variable)
    assert isinstance(read, np.ndarray) and read.dtype == np.float32
    np.testing.assert_array_equal(read, expected)
    variable.assign(expected + 1.0)
    np.testing.assert_array_equal(read, expected)  # a snapshot, not a view of the variable
    np.testing.assert_array_equal(inference.as_numpy(variable.value), expected + 1.0)


def test_a_plan_that_disagrees_with_keras_is_dropped(monkeypatch):
    model = _sequential(keras.layers.Dense(3, activation="relu"))
    assert plan_forward(model) is not None
    monkeypatch.setattr(inference, "_agreed", OrderedDict())  # as in a new process
    monkeypatch.setitem(inference._ACTIVATIONS, "relu", lambda x: x)  # wrong on purpose
    assert plan_forward(model) is None


def test_an_architecture_is_checked_against_keras_once(monkeypatch):
    monkeypatch.setattr(inference, "_agreed", OrderedDict())
    checks = []
    original = inference._agrees_with_keras
    monkeypatch.setattr(
        inference, "_agrees_with_keras", lambda *args: checks.append(1) or original(*args)
    )
    for _ in range(3):  # same layers, other weights and names
        model = _sequential(keras.layers.Dense(3, activation="relu"))
        x = RNG.normal(size=(4, 5)).astype("float32")
        expected = inference.as_numpy(model(x))
        np.testing.assert_allclose(plan_forward(model)(x), expected, rtol=1e-5, atol=1e-6)
    assert len(checks) == 1
    assert plan_forward(_sequential(keras.layers.Dense(3, activation="tanh"))) is not None
    assert len(checks) == 2  # another activation: another architecture


@pytest.fixture(scope="module")
def fitted():
    X, y = make_classification(n_samples=300, n_features=8, random_state=0)
    clf = SafeKerasClassifier(
        hidden_layer_sizes=(16, 8), epochs=3, threshold=0.5, random_state=0
    ).fit(X, y)
    return clf, X


def test_estimator_predicts_without_tracing_a_keras_function(fitted):
    clf, X = fitted
    clf.predict_proba(X)
    # Keras builds (and keeps) a tf.function per model on its first predict call.
    assert clf.model_.predict_function is None
    x = clf.preprocessor_.transform(X).astype("float32")
    expected = keras.ops.convert_to_numpy(clf.model_(x)).astype("float64")
    if clf.linear_baseline_ is not None:  # the classifier's logistic average, kept
        expected = clf.linear_baseline_.combine(x, expected)
    np.testing.assert_allclose(clf.predict_proba(X)[:, 1], expected[:, 0], rtol=1e-5, atol=1e-6)


def test_concurrent_predictions_equal_serial_ones(fitted):
    clf, X = fitted
    batches = [X[i::8] for i in range(8)] + [X[:1]] * 8
    expected = [clf.predict_proba(batch) for batch in batches]
    results = [None] * len(batches)

    def work(i):
        for _ in range(5):
            results[i] = clf.predict_proba(batches[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(batches))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for got, want in zip(results, expected, strict=True):
        np.testing.assert_array_equal(got, want)
