"""predict and fit never answer silently wrong: numbers the network's dtype cannot hold,
networks whose output is NaN or infinite, and frames of other libraries (polars, pyarrow)."""

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.preprocessing import FunctionTransformer

from safekeras import InputError, SafeKerasClassifier, SafeKerasRegressor, TrainingError

pytestmark = pytest.mark.core

RNG = np.random.default_rng(0)
X = RNG.normal(size=(120, 3))
Y = (X[:, 0] + X[:, 1] > 0).astype(int)
FRAME = pd.DataFrame(X, columns=["a", "b", "c"])
BEYOND_FLOAT32 = 1e39

# Tiny and fast: what is tested is the predict path, not the fit.
FAST = {"hidden_layer_sizes": (8,), "epochs": 3, "random_state": 0}


def _classifier(**params):
    return SafeKerasClassifier(**{**FAST, **params})


@pytest.fixture(scope="module")
def fitted():
    return {
        "array": _classifier().fit(X, Y),
        "frame": _classifier().fit(FRAME, Y),
        "passthrough": _classifier(preprocessor="passthrough").fit(X, Y),
    }


def _keras_path(estimator):
    """The same estimator predicting through scikit-learn's transform and Keras, not numpy."""
    network = estimator.pipeline_.named_steps["network"]
    network._forward_cache = (estimator.model_, estimator.model_.predict_on_batch)
    estimator._plan_cache = (estimator.preprocessor_, None)
    return estimator


def _times_1e38(values):
    return np.asarray(values, dtype=np.float64) * 1e38


# -- numbers beyond the network's dtype ------------------------------------------------


@pytest.mark.parametrize("kind", ["array", "frame", "passthrough"])
@pytest.mark.parametrize("method", ["predict", "predict_proba", "decision_function"])
def test_a_number_beyond_float32_at_predict_names_its_column(fitted, kind, method):
    estimator = fitted[kind]
    batch = FRAME.iloc[:4].copy() if kind == "frame" else X[:4].copy()
    if kind == "frame":
        batch.loc[batch.index[2], "b"] = BEYOND_FLOAT32
    else:
        batch[2, 1] = BEYOND_FLOAT32
    name = "'b'" if kind == "frame" else "column 1"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the error comes first: no DriftWarning, no overflow
        with pytest.raises(InputError, match=rf"beyond the range of float32.*in {name}:"):
            getattr(estimator, method)(batch)
    # Negative control: the same batch within range predicts.
    assert len(getattr(estimator, method)(FRAME.iloc[:4] if kind == "frame" else X[:4])) == 4


@pytest.mark.parametrize("value", [BEYOND_FLOAT32, -BEYOND_FLOAT32])
@pytest.mark.parametrize("preprocessor", ["auto", "passthrough"])
def test_a_number_beyond_float32_at_fit_names_its_column(preprocessor, value):
    frame = FRAME.copy()
    frame.loc[5, "c"] = value
    estimator = _classifier(preprocessor=preprocessor)
    with pytest.raises(InputError, match=r"beyond the range of float32.*in 'c':"):
        estimator.fit(frame, Y)
    assert not hasattr(estimator, "pipeline_")


@pytest.mark.parametrize("path", ["numpy", "keras"])
def test_a_value_the_scaler_maps_beyond_float32_is_refused(path):
    # Training values of spread 1e-30: a raw 10.0, well inside float32, scales to about 1e31
    # and 1e10 to about 1e40, which float32 cannot hold.
    tiny = X * 1e-30
    estimator = _classifier(on_drift="ignore").fit(tiny, Y)
    if path == "keras":
        _keras_path(estimator)
    assert np.isfinite(estimator.predict_proba(tiny[:3] * 1e30)).all()
    batch = tiny[:3].copy()
    batch[1, 2] = 1e10
    with pytest.raises(InputError, match=r"preprocessed features .*float32.*in 'x2':"):
        estimator.predict(batch)


def test_a_custom_preprocessor_is_checked_on_its_output_only():
    # A log maps 1e39 into range: the raw number is no problem for this network.
    positive = np.abs(X) + 1.0
    with_huge = positive.copy()
    with_huge[7, 0] = BEYOND_FLOAT32
    log = FunctionTransformer(np.log)
    estimator = _classifier(preprocessor=log, on_drift="ignore").fit(with_huge, Y)
    assert np.isfinite(estimator.predict_proba(with_huge[5:9])).all()
    # Multiplying by 1e38 does not: what enters the network is refused, by position.
    scaled = FunctionTransformer(_times_1e38)
    with pytest.raises(InputError, match=r"preprocessed features .*float32.* in column 0"):
        _classifier(preprocessor=scaled).fit(positive * [4.0, 1.0, 1.0], Y)


def test_the_limit_is_the_networks_dtype():
    import keras

    def model(meta):
        inputs = keras.Input((meta["n_features_in_"],), dtype="float64")
        outputs = keras.layers.Dense(1, activation="sigmoid", dtype="float64")(inputs)
        return keras.Model(inputs, outputs)

    estimator = _classifier(model=model, preprocessor="passthrough", on_drift="ignore")
    estimator.fit(X, Y)
    batch = X[:3].copy()
    batch[0, 0] = BEYOND_FLOAT32  # a float64 network holds it
    proba = estimator.predict_proba(batch)
    assert np.isfinite(proba).all() and proba[0].max() == 1.0


# -- NaN or infinite network outputs ---------------------------------------------------


def _set_kernels(estimator, value):
    for layer in estimator.model_.layers:
        if getattr(layer, "kernel", None) is not None:
            layer.kernel.assign(np.full(layer.kernel.shape, value, dtype="float32"))


@pytest.mark.parametrize("path", ["numpy", "keras"])
@pytest.mark.parametrize(
    "method", ["predict", "predict_proba", "decision_function", "score", "regressor"]
)
def test_nan_weights_are_an_error_never_a_label(path, method):
    estimator = (SafeKerasRegressor(**FAST) if method == "regressor" else _classifier()).fit(
        X, X[:, 0] if method == "regressor" else Y
    )
    if path == "keras":
        _keras_path(estimator)
    _set_kernels(estimator, np.nan)
    call = {
        "score": lambda: estimator.score(X[:6], Y[:6]),
        "regressor": lambda: estimator.predict(X[:6]),
    }.get(method, lambda: getattr(estimator, method)(X[:6]))
    with pytest.raises(TrainingError, match=r"NaN or infinite for 6 of 6 row\(s\).*weights"):
        call()


def test_overflow_inside_the_network_names_the_rows():
    estimator = SafeKerasRegressor(preprocessor="passthrough", **FAST).fit(X, X[:, 0])
    _set_kernels(estimator, 1e20)  # finite weights; 1e20 * 1e20 overflows float32
    for layer in estimator.model_.layers:
        if getattr(layer, "bias", None) is not None:
            layer.bias.assign(np.zeros(layer.bias.shape, dtype="float32"))
    batch = np.abs(X[:8]) + 0.5  # positive: every ReLU passes 1e20 * 1e20 on
    batch[[2, 5]] = 0.0  # the network's output is exactly 0 for these rows: finite
    with pytest.raises(InputError, match=r"for 6 of 8 row\(s\) \(at positions 0, 1, 3, 4, 6 and 1"):
        estimator.predict(batch)
    assert np.isfinite(estimator.predict(batch[[2, 5]])).all()


# -- frames of other libraries ---------------------------------------------------------


def _columns():
    rng = np.random.default_rng(1)
    n = 150
    income = rng.lognormal(10, 1, n)
    return {
        "income": [None if i % 17 == 0 else float(v) for i, v in enumerate(income)],
        "age": [None if i % 23 == 0 else int(v) for i, v in enumerate(rng.integers(18, 90, n))],
        "city": [
            None if i % 13 == 0 else str(v)
            for i, v in enumerate(rng.choice(["oslo", "paris", "rome"], n))
        ],
        "plan": rng.choice(["free", "pro"], n).tolist(),
        "member": [None if i % 11 == 0 else bool(v) for i, v in enumerate(rng.random(n) > 0.5)],
    }, (income > np.median(income)).astype(int)


def _polars_frame(columns):
    pl = pytest.importorskip("polars")
    return pl.DataFrame(columns).with_columns(pl.col("plan").cast(pl.Categorical))


def _pandas_frame(columns):
    frame = pd.DataFrame(columns)
    frame["plan"] = frame["plan"].astype("category")
    return frame


@pytest.fixture(scope="module")
def polars_fit():
    columns, y = _columns()
    frame = _polars_frame(columns)
    return frame, y, _classifier(epochs=5).fit(frame, y)


def test_polars_keeps_its_column_names_and_dtypes(polars_fit):
    frame, _, estimator = polars_fit
    assert estimator.feature_names_in_.tolist() == frame.columns
    schema = estimator.input_schema_
    assert [p.name for p in schema.columns] == frame.columns
    assert [p.kind for p in schema.columns] == [
        "numeric",
        "numeric",
        "categorical",
        "categorical",
        "categorical",
    ]
    assert schema.columns[2].categories == {"oslo", "paris", "rome"}
    assert schema.columns[3].dtype == "category"
    assert schema.columns[0].missing_share > 0 and schema.columns[1].missing_share > 0


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda f: f.select(["age", "income", "city", "plan", "member"]), "same order"),
        (lambda f: f.rename({"age": "years"}), "Feature names unseen at fit time"),
        (lambda f: f.drop("member"), "Feature names seen at fit time, yet now missing"),
    ],
    ids=["reordered", "renamed", "missing"],
)
def test_polars_columns_that_differ_are_an_input_error_as_in_pandas(polars_fit, change, message):
    frame, _, estimator = polars_fit
    with pytest.raises(InputError, match=message):
        estimator.predict_proba(change(frame))
    with pytest.raises(InputError, match=message):  # as pandas does
        estimator.predict_proba(change(frame).to_pandas())
    with pytest.raises(InputError, match="fitted on a DataFrame"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # sklearn's "no feature names"
            estimator.predict(frame.to_numpy())


def test_polars_fit_and_predict_equal_pandas_fit_and_predict(polars_fit):
    frame, y, from_polars = polars_fit
    columns, _ = _columns()
    pandas_frame = _pandas_frame(columns)
    from_pandas = _classifier(epochs=5).fit(pandas_frame, y)
    np.testing.assert_array_equal(
        from_polars.predict_proba(frame), from_pandas.predict_proba(pandas_frame)
    )
    np.testing.assert_array_equal(
        from_polars.predict(frame[:1]), from_pandas.predict(pandas_frame[:1])
    )
    # Either library predicts with a model fitted on the other.
    np.testing.assert_array_equal(
        from_polars.predict_proba(pandas_frame), from_pandas.predict_proba(frame)
    )


def test_a_pyarrow_table_is_read_by_name_too(polars_fit):
    pa = pytest.importorskip("pyarrow")
    frame, y, from_polars = polars_fit
    table = frame.to_arrow()
    estimator = _classifier(epochs=5).fit(table, y)
    assert estimator.feature_names_in_.tolist() == table.column_names
    np.testing.assert_array_equal(estimator.predict_proba(table), from_polars.predict_proba(frame))
    reordered = table.select(["age", "income", "city", "plan", "member"])
    with pytest.raises(InputError, match="same order"):
        estimator.predict(reordered)
    assert isinstance(table, pa.Table)
