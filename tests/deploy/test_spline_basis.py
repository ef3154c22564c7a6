"""The spline embeddings as a Keras layer (safekeras/deploy/spline_basis.py)."""

import keras
import numpy as np
import pytest
from sklearn.preprocessing import SplineTransformer

from safekeras.deploy.spline_basis import SplineBasis, spline_pieces

pytestmark = pytest.mark.core


def _atol(got):
    # JAX without jax_enable_x64 computes the float64 layer in float32.
    return 1e-12 if got.dtype == np.float64 else 1e-5


def _training(seed=0, n=500):
    """Columns whose quantiles tie at the bottom, at the top, on a grid, and none."""
    rng = np.random.default_rng(seed)
    return np.c_[
        np.where(rng.random(n) < 0.8, 0.0, rng.exponential(size=n)),
        rng.normal(size=n),
        np.repeat(np.arange(10.0), n // 10),
        np.where(rng.random(n) < 0.6, 100.0, rng.uniform(0, 100, n)),
    ]


def _batch(splines, X, seed=1):
    """Values inside, beyond both ends, exactly at both ends and at every knot, and NaN."""
    rng = np.random.default_rng(seed)
    batch = [rng.normal(size=(400, 4)) * [5, 3, 8, 80] + [1, 0, 5, 50], X[:100]]
    for j, spline in enumerate(splines.bsplines_):
        at_knots = np.tile(np.median(X, axis=0), (len(spline.t), 1))
        at_knots[:, j] = spline.t
        batch.append(at_knots)
    batch = np.concatenate(batch)
    batch[::13, 1] = np.nan
    return batch


@pytest.mark.parametrize("degree", [1, 2, 3])
def test_layer_equals_the_fitted_transformer(degree):
    X = _training()
    splines = SplineTransformer(
        n_knots=6, degree=degree, knots="quantile", extrapolation="constant"
    ).fit(X)
    fill = np.median(X, axis=0)
    layer = SplineBasis(**spline_pieces(splines, fill))
    batch = _batch(splines, X)
    expected = splines.transform(np.where(np.isnan(batch), fill, batch))
    got = keras.ops.convert_to_numpy(layer(batch))
    assert got.shape == expected.shape == (len(batch), 4 * (6 + degree - 1))
    np.testing.assert_allclose(got, expected, rtol=0, atol=_atol(got))


def test_layer_reads_its_positions_and_round_trips_its_config():
    X = _training(seed=2)
    splines = SplineTransformer(n_knots=6, knots="quantile", extrapolation="constant").fit(
        X[:, [3, 1]]
    )
    fill = [50.0, 0.0]
    layer = SplineBasis(**spline_pieces(splines, fill), positions=[3, 1])
    batch = _batch(splines, X, seed=3)
    expected = splines.transform(np.where(np.isnan(batch[:, [3, 1]]), fill, batch[:, [3, 1]]))
    got = keras.ops.convert_to_numpy(layer(batch))
    np.testing.assert_allclose(got, expected, rtol=0, atol=_atol(got))
    copy = SplineBasis.from_config(layer.get_config())
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(copy(batch)), got)
    assert layer.compute_output_shape((None, 4)) == (None, 16)


def test_coefficients_of_the_wrong_shape_are_refused():
    with pytest.raises(ValueError, match="coefficients must have shape"):
        SplineBasis([0.0], [0.0], [1.0], [[0.0]], [[1.0]], [[1.0, 0.0]], [[0]], [[0]], [[0]])


def test_an_exported_regressor_with_embeddings_round_trips_in_safe_mode(tmp_path):
    from safekeras import SafeKerasRegressor
    from safekeras.export import SplineBasis as exported  # the public path registers it

    assert exported is SplineBasis
    rng = np.random.default_rng(4)
    X = rng.normal(size=(150, 3))
    y = np.sin(2 * X[:, 0]) + X[:, 1]
    reg = SafeKerasRegressor(hidden_layer_sizes=(8,), epochs=3, random_state=0).fit(X, y)
    model = reg.to_keras()
    assert any(isinstance(layer, SplineBasis) for layer in model.layers)
    path = tmp_path / "exported.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    test = rng.normal(size=(20, 3)) * 3  # beyond the training range too
    test[::4, 2] = np.nan
    got = keras.ops.convert_to_numpy(loaded(test)).ravel()
    np.testing.assert_array_equal(got, keras.ops.convert_to_numpy(model(test)).ravel())
    np.testing.assert_allclose(got, reg.predict(test), rtol=0, atol=1e-4 * np.std(y))


@pytest.mark.tensorflow_only(reason="string inputs (a categorical column) need TensorFlow")
def test_an_exported_mixed_frame_regressor_reads_its_embedded_columns_by_name():
    import pandas as pd

    from safekeras import SafeKerasRegressor
    from safekeras.export import keras_inputs

    rng = np.random.default_rng(5)
    frame = pd.DataFrame(
        {
            "city": rng.choice(["oslo", "lima"], 160),
            "age": rng.uniform(18, 90, 160),
            "flag": rng.integers(0, 2, 160).astype(float),  # 2 values: not embedded
            "income": rng.lognormal(10, 1, 160),
        }
    )
    frame.loc[::6, "income"] = np.nan
    y = np.sin(frame["age"] / 10) + (frame["city"] == "oslo")
    reg = SafeKerasRegressor(hidden_layer_sizes=(8,), epochs=3, random_state=0).fit(frame, y)
    assert reg._preprocessing_plan().splines.positions == (1, 3)
    model = reg.to_keras()
    test = frame.iloc[:40].copy()
    test.loc[test.index[:5], "age"] = 200.0  # beyond the training range
    got = np.asarray(model.predict_on_batch(keras_inputs(model, test))).ravel()
    np.testing.assert_allclose(got, reg.predict(test), rtol=0, atol=1e-4 * np.std(y))
