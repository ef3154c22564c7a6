"""The regressor on counts: ``loss="poisson"`` (chosen by ``"auto"``), end to end."""

import pickle

import keras
import numpy as np
import pytest
from sklearn.base import clone

from safekeras import SafeKerasRegressor, load
from safekeras.exceptions import ModelSpecError, ParameterError, TargetError

pytestmark = pytest.mark.core

TINY = dict(hidden_layer_sizes=(8,), epochs=2, on_drift="ignore", random_state=0)


def _counts(rows, seed=0):
    """Poisson counts whose log-mean is linear in the first two features (31 % zeros or so)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, 3))
    mean = np.exp(0.3 + 0.8 * X[:, 0] - 0.5 * X[:, 1])
    return X, rng.poisson(mean).astype(np.float64), mean


@pytest.fixture(scope="module")
def counts_fit():
    X, y, mean = _counts(500)
    est = SafeKerasRegressor(**{**TINY, "hidden_layer_sizes": (16,), "epochs": 40}).fit(X, y)
    return X, y, mean, est


@pytest.mark.parametrize(
    ("target", "loss", "transform", "head"),
    [
        ("poisson", "poisson", "scale", "exponential"),
        ("gaussian", "mean_squared_error", "standard", "linear"),
        ("lognormal", "mean_squared_error", "log1p", "linear"),
    ],
)
def test_auto_chooses_the_loss_transform_and_head_from_the_target(target, loss, transform, head):
    X, counts, _ = _counts(300)
    rng = np.random.default_rng(1)
    y = {
        "poisson": counts,
        "gaussian": 10.0 + X[:, 0] + rng.normal(size=300),
        "lognormal": np.exp(1.0 + X[:, 0] + 0.3 * rng.normal(size=300)),
    }[target]
    est = SafeKerasRegressor(**TINY).fit(X, y)
    assert (est.loss_, est.target_transform_) == (loss, transform)
    assert est.target_scaler_.method == transform
    assert est.model_.layers[-1].activation.__name__ == head


def test_poisson_predicts_the_conditional_mean_in_the_units_of_y(counts_fit):
    X, y, mean, est = counts_fit
    predicted = est.predict(X)
    assert predicted.shape == y.shape and np.all(predicted > 0)
    # The exponential output times the scale of y: the mean count, not a scaled or logged one.
    unscaled = est.pipeline_.predict(X).ravel() * est.target_scaler_.scaler_.scale_[0]
    np.testing.assert_allclose(predicted, unscaled, rtol=1e-12)
    assert 0.8 < np.median(predicted / mean) < 1.25
    # No retransformation bias: the mean prediction is the mean count (the log link's
    # intercept makes the two equal at the deviance's optimum).
    assert np.mean(predicted) == pytest.approx(np.mean(y), rel=0.1)
    assert np.corrcoef(predicted, mean)[0, 1] > 0.9


def test_explicit_poisson_on_a_target_auto_would_leave_to_squared_error():
    X, _, mean = _counts(200)
    y = 10.0 * mean  # positive amounts, not counts: "auto" keeps squared error
    assert SafeKerasRegressor(**TINY).fit(X, y).loss_ == "mean_squared_error"
    est = SafeKerasRegressor(**TINY, loss="poisson").fit(X, y)
    assert (est.loss_, est.target_transform_) == ("poisson", "scale")
    est = SafeKerasRegressor(**TINY, loss=keras.losses.Poisson()).fit(X, y)
    assert est.target_transform_ == "scale"  # Keras's own Poisson object: the same head
    assert est.model_.layers[-1].activation.__name__ == "exponential"


def test_an_explicit_transform_other_than_scale_keeps_squared_error_under_auto():
    X, y, _ = _counts(200)
    est = SafeKerasRegressor(**TINY, target_transform="standard").fit(X, y)
    assert (est.loss_, est.target_transform_) == ("mean_squared_error", "standard")
    est = SafeKerasRegressor(**TINY, target_transform="scale").fit(X, y)
    assert (est.loss_, est.target_transform_) == ("poisson", "scale")


@pytest.mark.parametrize(
    ("params", "change_y", "error", "match"),
    [
        (
            {"loss": "poisson"},
            lambda y: y - 1.0,
            TargetError,
            r"loss='poisson' needs a non-negative y.*negative value\(s\), down to -1.*loss='auto'",
        ),
        (
            {"loss": "poisson"},
            lambda y: 0.0 * y,
            TargetError,
            r"every target is 0",
        ),
        (
            {"loss": "poisson", "target_transform": "standard"},
            lambda y: y,
            ParameterError,
            r"target_transform='standard' moves y off it.*target_transform='auto'",
        ),
        (
            {"loss": "poisson", "target_transform": "log1p"},
            lambda y: y,
            ParameterError,
            r"target_transform='log1p'",
        ),
    ],
)
def test_invalid_poisson_fits_say_what_to_do(params, change_y, error, match):
    X, y, _ = _counts(100)
    est = SafeKerasRegressor(**TINY, **params)
    with pytest.raises(error, match=match):
        est.fit(X, change_y(y))
    assert not hasattr(est, "loss_")


def test_a_user_network_with_a_linear_head_is_refused_under_poisson():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    X, y, _ = _counts(100)
    with pytest.raises(ModelSpecError, match=r"activation='exponential' on the last layer"):
        SafeKerasRegressor(model, **TINY, loss="poisson").fit(X, y)


def test_continued_fits_refuse_negative_counts_and_keep_the_first_fit():
    X, y, _ = _counts(200)
    est = SafeKerasRegressor(**TINY, warm_start=True).fit(X, y)
    expected = est.predict(X)
    continued = r"warm_start=True of a network fitted with loss='poisson'"
    with pytest.raises(TargetError, match=continued):
        est.fit(X, y - 2.0)
    np.testing.assert_array_equal(est.predict(X), expected)
    est.fit(X, y)  # a warm start on counts keeps the Poisson loss and its scale
    assert (est.loss_, est.target_transform_) == ("poisson", "scale")
    chunked = SafeKerasRegressor(**TINY).partial_fit(X[:100], y[:100])
    assert chunked.loss_ == "poisson"
    with pytest.raises(TargetError, match=r"partial_fit of a network fitted with loss='poisson'"):
        chunked.partial_fit(X[100:], -y[100:])


def test_pickle_save_load_and_to_keras_predict_alike(counts_fit, tmp_path):
    X, _, _, est = counts_fit
    expected = est.predict(X)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(est)).predict(X), expected)
    est.save(tmp_path / "counts.safekeras")
    loaded = load(tmp_path / "counts.safekeras")
    assert (loaded.loss_, loaded.target_transform_) == ("poisson", "scale")
    np.testing.assert_array_equal(loaded.predict(X), expected)
    exported = np.asarray(est.to_keras().predict(X, verbose=0), dtype=np.float64).ravel()
    # The exponential is the network's own last layer; the export multiplies by y's scale.
    np.testing.assert_allclose(exported, expected, rtol=1e-6)


def test_clone_and_get_params_round_trip():
    est = SafeKerasRegressor(loss="poisson", target_transform="scale")
    params = clone(est).get_params()
    assert (params["loss"], params["target_transform"]) == ("poisson", "scale")
    assert SafeKerasRegressor(**est.get_params()).get_params() == est.get_params()


def test_diagnose_measures_the_poisson_deviance_it_trained_with(counts_fit):
    X, y, _, est = counts_fit
    summary = est.diagnose(X, y).summary
    scale = est.target_scaler_.scaler_.scale_[0]
    z, p = y / scale, est.predict(X) / scale
    deviance = np.mean(np.where(z > 0, z * np.log(np.where(z > 0, z, 1.0) / p), 0.0) - z + p)
    assert summary["poisson_deviance_scaled"] == pytest.approx(deviance, rel=1e-9)
    assert "mse_standardised" not in summary
    # The baseline is the deviance of predicting the mean count: a learnt fit is below it.
    assert 0 < summary["train_loss_best"] < summary["baseline_loss"]
    with pytest.raises(TargetError, match=r"fitted with loss='poisson'"):
        est.diagnose(X, y - 5.0)
