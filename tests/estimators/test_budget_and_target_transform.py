"""``batch_size``/``patience="auto"`` and the regressor's ``target_transform``, end to end."""

import pickle

import numpy as np
import pytest
from sklearn.base import clone

from safekeras import SafeKerasClassifier, SafeKerasRegressor, load
from safekeras.data.target_transforms import TargetTransformer
from safekeras.exceptions import ParameterError

pytestmark = pytest.mark.core

TINY = dict(hidden_layer_sizes=(8,), epochs=2, on_drift="ignore", random_state=0)


def _regression(rows, *, lognormal, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, 3))
    signal = X[:, 0] - 0.5 * X[:, 1]
    y = np.exp(1.0 + signal + 0.3 * rng.normal(size=rows)) if lognormal else 10.0 + signal
    return X, y


@pytest.fixture(scope="module")
def heavy_tailed():
    X, y = _regression(300, lognormal=True)
    return X, y, SafeKerasRegressor(**{**TINY, "epochs": 30}).fit(X, y)


@pytest.mark.parametrize(
    ("rows", "early_stopping", "batch", "patience"),
    [
        (200, True, 32, 10),  # 170 training rows: 6 steps an epoch, 10 epochs hold 56+
        (200, False, 32, 8),  # no validation split: 200 rows, 7 steps an epoch
        (1000, True, 128, 8),  # 850 rows: 7 steps an epoch
        (3000, True, 256, 7),  # 2550 rows: 10 steps an epoch, the least wait
    ],
)
def test_auto_budget_resolves_from_the_training_rows(rows, early_stopping, batch, patience):
    X, y = _regression(rows, lognormal=False)
    est = SafeKerasRegressor(**{**TINY, "epochs": 1}, early_stopping=early_stopping).fit(X, y)
    assert (est.batch_size_, est.patience_) == (batch, patience)
    assert est.get_params()["batch_size"] == est.get_params()["patience"] == "auto"


def test_integers_keep_their_meaning():
    X, y = _regression(200, lognormal=False)
    est = SafeKerasRegressor(**TINY, batch_size=256, patience=3).fit(X, y)
    assert (est.batch_size_, est.patience_) == (256, 3)


def test_classifier_resolves_the_budget_too():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = (X[:, 0] > 0).astype(int)
    est = SafeKerasClassifier(**TINY, threshold=None).fit(X, y)
    assert (est.batch_size_, est.patience_) == (32, 10)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        (
            {"batch_size": "big"},
            r"The 'batch_size' parameter of SafeKerasRegressor must be a str among \{'auto'\} "
            r"or an int in the range \[1, inf\)\. Got 'big' instead\.",
        ),
        (
            {"batch_size": 0},
            r"The 'batch_size' parameter of SafeKerasRegressor must be a str among \{'auto'\} "
            r"or an int in the range \[1, inf\)\. Got 0 instead\.",
        ),
        (
            {"patience": -1},
            r"The 'patience' parameter of SafeKerasRegressor must be a str among \{'auto'\} "
            r"or an int in the range \[0, inf\)\. Got -1 instead\.",
        ),
        (
            {"target_transform": "box-cox"},
            r"The 'target_transform' parameter of SafeKerasRegressor must be a str among "
            r"\{('auto'|'standard'|'log1p'|'scale'|, )+\}\. Got 'box-cox' instead\.",
        ),
    ],
)
def test_invalid_budget_and_transform_are_parameter_errors(params, match):
    X, y = _regression(40, lognormal=False)
    with pytest.raises(ParameterError, match=match):
        SafeKerasRegressor(**TINY, **params).fit(X, y)


def test_classifier_has_no_target_transform():
    assert "target_transform" not in SafeKerasClassifier().get_params()


@pytest.mark.parametrize(("lognormal", "chosen"), [(True, "log1p"), (False, "standard")])
def test_auto_target_transform_is_chosen_from_the_training_target(lognormal, chosen):
    X, y = _regression(200, lognormal=lognormal)
    est = SafeKerasRegressor(**TINY).fit(X, y)
    assert est.target_transform_ == chosen
    assert isinstance(est.target_scaler_, TargetTransformer)
    assert est.target_scaler_.method == chosen


def test_counts_keep_the_standard_transform():
    # log1p cost R² on the count tables measured (docs/defaults.md): zeros keep it standard
    # under squared error ("auto" fits such counts with the Poisson loss instead).
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 3))
    y = rng.poisson(np.exp(X[:, 0] - 1.0)).astype(float)
    squared = SafeKerasRegressor(**TINY, loss="mean_squared_error")
    assert squared.fit(X, y).target_transform_ == "standard"
    # Positive, skew far above 2, not whole numbers (whole ones are counts for "auto").
    shifted = SafeKerasRegressor(**TINY).fit(X, (y + 1.5) ** 3)
    assert shifted.target_transform_ == "log1p"


def test_explicit_transform_overrides_auto():
    X, y = _regression(200, lognormal=True)
    est = SafeKerasRegressor(**TINY, target_transform="standard").fit(X, y)
    assert est.target_transform_ == "standard"


def test_predict_is_in_the_units_of_y(heavy_tailed):
    X, y, est = heavy_tailed
    unscaled = est.target_scaler_.scaler_.inverse_transform(est.pipeline_.predict(X)).ravel()
    expected = np.sign(unscaled) * np.expm1(np.abs(unscaled))  # log1p's inverse, sign kept
    np.testing.assert_allclose(est.predict(X), expected, rtol=1e-12)
    # In y's units: the network learnt the log-scale signal, not the log of it (correlation
    # 0.87 on TensorFlow, 0.71 on JAX after 30 epochs of this tiny network).
    assert np.corrcoef(est.predict(X), y)[0, 1] > 0.5
    assert 0.5 < np.median(est.predict(X)) / np.median(y) < 2.0


def test_pickle_and_save_load_round_trips_keep_predictions(heavy_tailed, tmp_path):
    X, _, est = heavy_tailed
    expected = est.predict(X)
    unpickled = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(unpickled.predict(X), expected)
    est.save(tmp_path / "reg.safekeras")
    loaded = load(tmp_path / "reg.safekeras")
    assert loaded.target_transform_ == "log1p"
    np.testing.assert_array_equal(loaded.predict(X), expected)
    assert (loaded.batch_size_, loaded.patience_) == (est.batch_size_, est.patience_)


def test_to_keras_undoes_log1p_like_predict(heavy_tailed):
    X, _, est = heavy_tailed
    got = np.asarray(est.to_keras().predict(X, verbose=0), dtype=np.float64).ravel()
    expected = est.predict(X)
    # Equal on the scale the network predicts on (float32 outputs, float64 transform).
    np.testing.assert_allclose(
        est.target_scaler_.transform(got[:, None]),
        est.target_scaler_.transform(expected[:, None]),
        rtol=0,
        atol=1e-5,
    )


def test_clone_and_get_params_round_trip():
    est = SafeKerasRegressor(target_transform="log1p", batch_size=64, patience="auto")
    params = clone(est).get_params()
    assert params["target_transform"] == "log1p"
    assert (params["batch_size"], params["patience"]) == (64, "auto")
    assert SafeKerasRegressor(**est.get_params()).get_params() == est.get_params()


def test_warm_start_refuses_a_changed_target_transform():
    X, y = _regression(200, lognormal=True)
    est = SafeKerasRegressor(**TINY, warm_start=True).fit(X, y)
    with pytest.raises(ParameterError, match=r"target_transform changed since it was fitted"):
        est.set_params(target_transform="standard").fit(X, y)


def test_diagnose_reads_a_log1p_fit_and_the_resolved_patience():
    X, y = _regression(200, lognormal=True)
    # Two epochs, both improving: the underfitting check reads the patience the fit ran with.
    est = SafeKerasRegressor(**TINY).fit(X, y)
    assert est.best_epoch_ == est.n_epochs_ == 2
    summary = est.diagnose(X, y).summary
    assert summary["n_epochs"] == 2
    assert np.isfinite(summary["mse_standardised"])
    # The loss diagnose reports is the training loss: on the log1p-transformed target.
    transformed = est.target_scaler_.transform
    predicted = est.predict(X)
    loss = np.mean((transformed(y[:, None]) - transformed(predicted[:, None])) ** 2)
    assert summary["mse_standardised"] == pytest.approx(loss, rel=1e-9)
