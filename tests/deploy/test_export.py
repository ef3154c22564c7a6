"""``to_keras()``: one Keras model, preprocessing included, equal to predict_proba / predict."""

import keras
import numpy as np
import pandas as pd
import pytest
from sklearn.preprocessing import MinMaxScaler

from safekeras import SafeKerasClassifier, SafeKerasRegressor
from safekeras.data.preprocessing import MAX_CATEGORIES
from safekeras.data.preprocessing_plan import CategoricalEncoding
from safekeras.deploy.export import (
    NumericPreprocess,
    OneHotColumns,
    _input_name,
    _lookup_table,
    keras_inputs,
    to_keras,
)
from safekeras.exceptions import ExportError, NotFittedError

pytestmark = pytest.mark.core

FAST = dict(hidden_layer_sizes=(8,), epochs=3, batch_size=32, on_drift="ignore", random_state=0)
ATOL = 1e-5
BACKEND = keras.backend.backend()
TENSORFLOW = BACKEND == "tensorflow"
needs_tensorflow = pytest.mark.tensorflow_only(
    reason="string inputs (categorical columns) need TensorFlow: Keras has no string tensors on "
    "other backends"
)


def _jax_without_x64():
    if BACKEND != "jax":
        return False
    import jax

    return not jax.config.jax_enable_x64


# The export computes the preprocessing in float64: raw values around 1.7e9 (_numeric) keep
# their digits only there.
needs_float64 = pytest.mark.skipif(
    _jax_without_x64(),
    reason="JAX without jax_enable_x64 computes the export's float64 layers in float32, "
    "which rounds the raw 1.7e9 column (JAX_ENABLE_X64=1 runs it)",
)


def _numeric(n=80, seed=0):
    """Numeric features of very different scales (one around 1.7e9), with NaN."""
    rng = np.random.RandomState(seed)
    X = rng.randn(n, 4) * [1.0, 10.0, 1e6, 1.0] + [0.0, 0.0, 1.7e9, 5.0]
    X[::5, 1] = np.nan
    X[::7, 3] = np.nan
    return X


def _outputs(model, inputs):
    return np.asarray(model.predict_on_batch(inputs))


def _assert_close_in_target_units(est, got, expected):
    """Within ATOL on the standardised scale the network predicts on (float32 rounding)."""
    scale = est.target_scaler_.scaler_.scale_
    assert got.shape == expected.shape
    np.testing.assert_allclose(got / scale, expected / scale, rtol=0, atol=ATOL)


@pytest.fixture(scope="module")
def numeric_X():
    return _numeric()


@pytest.fixture(scope="module")
def binary(numeric_X):
    y = np.where(np.nan_to_num(numeric_X[:, 0]) > 0, "yes", "no")
    est = SafeKerasClassifier(threshold=0.5, **FAST).fit(numeric_X, y)
    return est, est.to_keras()


@pytest.fixture(scope="module")
def mixed_frame():
    rng = np.random.RandomState(1)
    n = 300
    frame = pd.DataFrame(
        {
            "income": rng.lognormal(10, 1, n),
            "my age": rng.randint(18, 90, n),  # a name that is no valid input name
            "flag": rng.rand(n) > 0.5,
            "count": pd.array(rng.randint(0, 5, n), dtype="Int64"),
            "city": rng.choice(["paris", "oslo", "lima"], n).astype(object),
            "plan": pd.Categorical(rng.choice(["basic", "pro", "max"], n)),
            "code": rng.randint(0, 3, n).astype(object),
            # More than MAX_CATEGORIES values: the rarest share the "infrequent" column.
            "shop": [f"s{int(v)}" for v in rng.zipf(1.3, n) % (MAX_CATEGORIES * 2)],
        }
    )
    frame["code"] = frame["code"].map(lambda v: ["a", 1, 2.5][v])  # read as "a", "1", "2.5"
    frame.loc[::7, "income"] = np.nan
    frame.loc[::9, "city"] = None
    frame.loc[::11, "count"] = pd.NA
    frame.loc[::13, "plan"] = np.nan
    return frame


@pytest.fixture(scope="module")
def mixed_estimator(mixed_frame):
    y = np.random.RandomState(2).randint(0, 3, len(mixed_frame))
    return SafeKerasClassifier(**FAST).fit(mixed_frame, y)


@pytest.fixture(scope="module")
def mixed(mixed_estimator):
    return mixed_estimator, mixed_estimator.to_keras()


@pytest.fixture(scope="module")
def mixed_test(mixed_frame):
    """Rows with unknown and infrequent categories and missing values everywhere."""
    test = mixed_frame.iloc[:40].copy()
    test.loc[0, "city"] = "tokyo"  # unknown, no infrequent column: all zeros
    test.loc[1, "shop"] = "never seen"  # unknown, infrequent column: that column
    test.loc[2, "plan"] = np.nan
    test.loc[3, ["income", "my age", "count", "city", "code", "shop"]] = [
        np.nan,
        np.nan,
        pd.NA,
        None,
        None,
        None,
    ]
    return test


# -- equality with predict_proba / predict ------------------------------------------


@needs_float64
def test_binary_numeric_equals_predict_proba(binary, numeric_X):
    est, model = binary
    assert [t.name for t in model.inputs] == ["features"]
    X = np.vstack([_numeric(30, seed=5), np.full((1, 4), np.nan)])
    got = _outputs(model, X)
    assert got.shape == (31, 2)
    np.testing.assert_allclose(got, est.predict_proba(X), rtol=0, atol=ATOL)
    np.testing.assert_allclose(_outputs(model, numeric_X), est.predict_proba(numeric_X), atol=ATOL)


@pytest.mark.skipif(
    BACKEND == "jax",
    reason="bit-for-bit equality is not XLA's: it rounds the float64 standardisation 1 ulp off "
    "numpy's (and computes it in float32 without jax_enable_x64)",
)
def test_preprocessing_layers_equal_the_fitted_plan_exactly(binary, numeric_X):
    est, model = binary
    layer = next(lyr for lyr in model.layers if isinstance(lyr, NumericPreprocess))
    features = keras.Model(model.inputs, layer.output).predict_on_batch(numeric_X)
    plan = est._preprocessing_plan()
    expected = plan.transform(est.input_schema_.decode(numeric_X))
    assert np.asarray(features).dtype == np.float64
    np.testing.assert_array_equal(features, expected)


@needs_float64
def test_multiclass_equals_predict_proba(numeric_X):
    y = np.digitize(np.nan_to_num(numeric_X[:, 0]), [-0.5, 0.5])
    est = SafeKerasClassifier(**FAST).fit(numeric_X, y)
    got = _outputs(to_keras(est), numeric_X)
    assert got.shape == (len(numeric_X), 3)
    np.testing.assert_allclose(got, est.predict_proba(numeric_X), rtol=0, atol=ATOL)


@needs_float64
def test_multilabel_equals_predict_proba(numeric_X):
    rng = np.random.RandomState(3)
    y = (rng.rand(len(numeric_X), 3) > 0.5).astype(int)
    est = SafeKerasClassifier(threshold=0.5, **FAST).fit(numeric_X, y)
    got = _outputs(est.to_keras(), numeric_X)
    assert got.shape == (len(numeric_X), 3)
    np.testing.assert_allclose(got, est.predict_proba(numeric_X), rtol=0, atol=ATOL)


@needs_float64
@pytest.mark.parametrize("n_classes", [2, 3])
def test_network_trained_on_logits(numeric_X, n_classes):
    y = np.digitize(np.nan_to_num(numeric_X[:, 0]), [0.0] if n_classes == 2 else [-0.5, 0.5])
    units = 1 if n_classes == 2 else n_classes
    network = keras.Sequential([keras.Input((4,)), keras.layers.Dense(units)])
    loss = (
        keras.losses.BinaryCrossentropy(from_logits=True)
        if n_classes == 2
        else keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    extra = {"threshold": 0.5} if n_classes == 2 else {}
    est = SafeKerasClassifier(network, loss=loss, **extra, **FAST).fit(numeric_X, y)
    assert est.pipeline_.named_steps["network"].logits_activation is not None
    got = _outputs(est.to_keras(), numeric_X)
    np.testing.assert_allclose(got, est.predict_proba(numeric_X), rtol=0, atol=ATOL)


@needs_float64
def test_regressor_one_target_equals_predict(numeric_X):
    y = 1000.0 + 50.0 * np.nan_to_num(numeric_X[:, 0])
    est = SafeKerasRegressor(**FAST).fit(numeric_X, y)
    got = _outputs(est.to_keras(), numeric_X)
    assert got.shape == (len(numeric_X), 1)  # predict returns (n,)
    _assert_close_in_target_units(est, got.ravel(), est.predict(numeric_X))


@needs_float64
def test_regressor_multi_output_on_numeric_frame(numeric_X):
    frame = pd.DataFrame(numeric_X, columns=["a", "b", "c", "d"])
    y = np.column_stack([np.nan_to_num(numeric_X[:, 0]), -3.0 * np.nan_to_num(numeric_X[:, 3])])
    est = SafeKerasRegressor(**FAST).fit(frame, y)
    model = est.to_keras()
    assert [t.name for t in model.inputs] == ["features"]  # all numeric: one input
    inputs = keras_inputs(model, frame)
    np.testing.assert_array_equal(inputs, numeric_X)
    got = _outputs(model, inputs)
    assert got.shape == (len(frame), 2)
    _assert_close_in_target_units(est, got, est.predict(frame))


@needs_tensorflow
def test_mixed_frame_equals_predict_proba(mixed, mixed_test):
    est, model = mixed
    plan = est._preprocessing_plan()
    assert any(encoding.infrequent for encoding in plan.categorical)  # the test means it
    assert sorted(t.name for t in model.inputs) == sorted(
        ["income", "my_age", "flag", "count", "city", "plan", "code", "shop"]
    )
    inputs = keras_inputs(model, mixed_test)
    city = keras.ops.convert_to_numpy(inputs["city"])
    assert city[0, 0] == b"tokyo" and city[3, 0] == b""
    assert set(keras.ops.convert_to_numpy(inputs["code"]).ravel()) == {b"a", b"1", b"2.5", b""}
    assert np.isnan(inputs["count"][3, 0]) and inputs["count"].dtype == np.float64
    got = model.predict(inputs, batch_size=16, verbose=0)  # fit and predict take tf.string
    expected = est.predict_proba(mixed_test)
    assert got.shape == expected.shape == (len(mixed_test), 3)
    np.testing.assert_allclose(got, expected, rtol=0, atol=ATOL)


@needs_tensorflow
def test_mixed_preprocessing_equals_the_fitted_plan_exactly(mixed, mixed_test):
    est, model = mixed
    features = keras.Model(model.inputs, model.get_layer("features").output)
    got = features.predict_on_batch(keras_inputs(model, mixed_test))
    expected = est._preprocessing_plan().transform(est.input_schema_.decode(mixed_test))
    np.testing.assert_array_equal(got, expected)
    assert sum(isinstance(layer, OneHotColumns) for layer in model.layers) == 4
    assert sum(isinstance(layer, keras.layers.StringLookup) for layer in model.layers) == 4


@needs_tensorflow
def test_mixed_object_array_takes_inputs_named_by_position():
    rng = np.random.RandomState(4)
    X = np.empty((60, 2), dtype=object)
    X[:, 0] = rng.randn(60)
    X[:, 1] = rng.choice(["red", "blue"], 60)
    X[::6, 0] = np.nan
    X[::5, 1] = None
    y = (X[:, 1] == "red").astype(int)
    est = SafeKerasClassifier(threshold=0.5, **FAST).fit(X, y)
    model = est.to_keras()
    assert sorted(t.name for t in model.inputs) == ["x0", "x1"]
    test = X[:12].copy()
    test[1, 1] = "green"
    got = _outputs(model, keras_inputs(model, test))
    np.testing.assert_allclose(got, est.predict_proba(test), rtol=0, atol=ATOL)


def test_passthrough_exports_the_network_and_output_mapping(numeric_X):
    X = np.nan_to_num(numeric_X[:, [0, 1, 3]])
    y = (X[:, 0] > 0).astype(int)
    est = SafeKerasClassifier(preprocessor=None, threshold=0.5, **FAST).fit(X, y)
    model = est.to_keras()
    assert not any(isinstance(layer, NumericPreprocess) for layer in model.layers)
    np.testing.assert_allclose(_outputs(model, X), est.predict_proba(X), rtol=0, atol=ATOL)


# -- independence, saving, serving -------------------------------------------------------


def test_export_does_not_share_weights(binary, numeric_X):
    est, _ = binary
    model = est.to_keras()
    before_proba = est.predict_proba(numeric_X)
    before_weights = [w.copy() for w in est.model_.get_weights()]
    copy = model.get_layer(est.model_.name)
    assert copy is not est.model_
    copy.set_weights([np.zeros_like(w) for w in copy.get_weights()])
    # The network now answers 0.5 everywhere, which the logistic baseline (if kept) averages with.
    halves = np.full((len(numeric_X), 1), 0.5)
    baseline = est.linear_baseline_
    expected = (
        halves
        if baseline is None
        else baseline.combine(est.preprocessor_.transform(numeric_X), halves)
    )
    # The export changed (to float32 rounding: of its inputs; of all on JAX without x64)...
    np.testing.assert_allclose(_outputs(model, numeric_X)[:, 1], expected[:, 0], atol=ATOL)
    np.testing.assert_array_equal(est.predict_proba(numeric_X), before_proba)  # ...not est
    for got, expected in zip(est.model_.get_weights(), before_weights, strict=True):
        np.testing.assert_array_equal(got, expected)


def test_keras_file_round_trip_in_safe_mode(binary, numeric_X, tmp_path):
    _, model = binary
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(_outputs(loaded, numeric_X), _outputs(model, numeric_X))


@needs_tensorflow
def test_mixed_keras_file_and_saved_model_serve_the_same(mixed, mixed_test, tmp_path):
    import tensorflow as tf

    est, model = mixed
    inputs = keras_inputs(model, mixed_test)
    expected = _outputs(model, inputs)
    model.save(tmp_path / "mixed.keras")
    loaded = keras.saving.load_model(tmp_path / "mixed.keras", safe_mode=True)
    np.testing.assert_array_equal(_outputs(loaded, inputs), expected)

    model.export(str(tmp_path / "saved"), verbose=False)
    served = tf.saved_model.load(str(tmp_path / "saved"))
    got = served.serve({name: tf.constant(value) for name, value in inputs.items()}).numpy()
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(got, est.predict_proba(mixed_test), rtol=0, atol=ATOL)


# -- what cannot be exported ----------------------------------------------------------


def test_custom_preprocessor_is_an_export_error(numeric_X):
    X = np.nan_to_num(numeric_X)
    y = (X[:, 0] > 0).astype(int)
    est = SafeKerasClassifier(preprocessor=MinMaxScaler(), threshold=0.5, **FAST).fit(X, y)
    with pytest.raises(ExportError, match=r"MinMaxScaler.*est\.model_"):
        est.to_keras()
    assert isinstance(ExportError("x"), ValueError)


@pytest.mark.parametrize("estimator", [SafeKerasClassifier(), SafeKerasRegressor()])
def test_unfitted_is_not_fitted_error(estimator):
    with pytest.raises(NotFittedError, match="not fitted"):
        estimator.to_keras()
    with pytest.raises(NotFittedError):
        to_keras(estimator)


def test_network_that_cannot_be_cloned_is_an_export_error(binary, monkeypatch):
    est, _ = binary

    def refuse(model, *args, **kwargs):
        raise TypeError("no get_config")

    monkeypatch.setattr(keras.models, "clone_model", refuse)
    with pytest.raises(ExportError, match=r"cannot be copied.*est\.model_"):
        est.to_keras()


def test_string_inputs_need_tensorflow(mixed_estimator, binary, monkeypatch):
    if TENSORFLOW:
        monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    with pytest.raises(ExportError, match="TensorFlow backend"):
        mixed_estimator.to_keras()
    binary[0].to_keras()  # numeric inputs need no strings


# -- building blocks ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "values", "expected"),
    [
        # Infrequent group: rare and unknown values in the last column, "" takes the fill.
        (
            CategoricalEncoding(0, "b", ("a", "b"), ("r1", "r2")),
            ["a", "b", "r1", "r2", "zz", ""],
            [0, 1, 2, 2, 2, 1],
        ),
        # No infrequent group: unknown values give all zeros (None).
        (CategoricalEncoding(0, "a", ("a", "b"), ()), ["b", "zz", ""], [1, None, 0]),
        # "" was a training category: it keeps its own column.
        (CategoricalEncoding(0, "a", ("", "a"), ()), ["", "a", "zz"], [0, 1, None]),
    ],
)
def test_lookup_table_maps_like_the_one_hot_encoder(encoding, values, expected):
    vocabulary, table = _lookup_table(encoding)
    index = {token: k + 1 for k, token in enumerate(vocabulary)}  # StringLookup: 0 is unknown
    columns = [table[index.get(value, 0)] for value in values]
    assert columns == [encoding.width if e is None else e for e in expected]
    layer = OneHotColumns(table, encoding.width)
    one_hot = keras.ops.convert_to_numpy(layer(np.array([[index.get(v, 0)] for v in values])))
    assert one_hot.shape == (len(values), encoding.width)
    for row, column in zip(one_hot, expected, strict=True):
        assert row.sum() == (column is not None) and (column is None or row[column] == 1)


def test_input_names_are_valid_signature_names():
    assert _input_name("age") == "age"
    assert _input_name("my age") == "my_age"
    assert _input_name("a/b") == "a_b"
    assert _input_name("_private") == "x_private"
    assert _input_name("") == "x"


# -- ONNX ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def onnxruntime():
    for module in ("tf2onnx", "onnx"):
        pytest.importorskip(module, reason=f"ONNX export needs {module} (pip install {module})")
    return pytest.importorskip(
        "onnxruntime", reason="running ONNX models needs onnxruntime (pip install onnxruntime)"
    )


def _onnx_outputs(onnxruntime, path, inputs):
    """The ONNX model's output; string columns passed as Python str, as ONNX Runtime takes them."""
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    if not isinstance(inputs, dict):
        return session.run(None, {session.get_inputs()[0].name: inputs})[0]
    feeds = {}
    for name, value in inputs.items():
        array = keras.ops.convert_to_numpy(value)
        if array.dtype == object:  # tf.string gives bytes
            array = np.vectorize(bytes.decode, otypes=[object])(array)
        feeds[name] = array
    return session.run(None, feeds)[0]


@needs_tensorflow
@pytest.mark.slow
def test_numeric_export_converts_to_onnx_directly(onnxruntime, binary, tmp_path):
    """to_keras() returns a model Keras counts as called: model.export(format="onnx") works."""
    est, model = binary
    path = tmp_path / "model.onnx"
    model.export(str(path), format="onnx", verbose=False)
    X = np.vstack([_numeric(30, seed=6), np.full((1, 4), np.nan)])
    got = _onnx_outputs(onnxruntime, path, X)
    assert got.dtype == np.float64 and got.shape == (31, 2)
    np.testing.assert_allclose(got, est.predict_proba(X), rtol=0, atol=1e-6)


@needs_tensorflow
@pytest.mark.slow
def test_mixed_export_converts_to_onnx_through_the_saved_model(
    onnxruntime, mixed, mixed_test, tmp_path
):
    """Categorical columns: SavedModel, then tf2onnx's converter (docs/integrations.md)."""
    import subprocess
    import sys

    est, model = mixed
    model.export(str(tmp_path / "saved"), verbose=False)
    command = [sys.executable, "-m", "tf2onnx.convert", "--saved-model", str(tmp_path / "saved")]
    command += ["--output", str(tmp_path / "model.onnx")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    got = _onnx_outputs(onnxruntime, tmp_path / "model.onnx", keras_inputs(model, mixed_test))
    np.testing.assert_allclose(got, est.predict_proba(mixed_test), rtol=0, atol=1e-6)
