"""The regressor's linear baseline: a ridge whose residual the network learns."""

import copy

import keras
import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.datasets import make_regression
from sklearn.linear_model import Ridge, RidgeCV
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split

from safekeras import SafeKerasRegressor, load
from safekeras.data.preprocessing import make_auto_preprocessor
from safekeras.deploy.load_checks import check_linear_baseline_fits
from safekeras.exceptions import ParameterError, PersistenceError
from safekeras.network.linear_baseline import ALPHAS, MIN_SCALE, LinearBaseline, linear_columns

pytestmark = pytest.mark.core

FAST = {"epochs": 15, "random_state": 0}


def _linear_rows(n=200, noise=0.3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4))
    z = x @ np.array([[1.0], [-2.0], [0.5], [0.0]]) + 0.25 + rng.normal(scale=noise, size=(n, 1))
    return x, z


# -- the module -------------------------------------------------------------------------


def test_residual_and_combine_are_inverse():
    x, z = _linear_rows()
    baseline = LinearBaseline().fit(x, z)
    residual = baseline.residual(x, z)
    np.testing.assert_allclose(baseline.combine(x, residual), z, atol=1e-12)
    # The residual has unit root-mean-square: the spread the network's defaults expect.
    np.testing.assert_allclose(np.sqrt(np.mean(residual**2, axis=0)), 1.0)


def test_the_ridge_is_scikit_learns_ridgecv():
    x, z = _linear_rows()
    weights = np.random.default_rng(1).uniform(0.5, 2.0, size=len(x))
    baseline = LinearBaseline(columns=[0, 2]).fit(x, z, sample_weight=weights)
    ridge = RidgeCV(alphas=ALPHAS).fit(x[:, [0, 2]], z, sample_weight=weights)
    assert baseline.alpha_ == ridge.alpha_
    np.testing.assert_allclose(baseline.coef_, np.reshape(ridge.coef_, (1, -1)).T)
    np.testing.assert_allclose(baseline.intercept_, ridge.intercept_)
    assert baseline.coef_.shape == (2, 1) and baseline.n_features_in_ == 4


def test_an_exactly_linear_target_is_not_blown_up_to_unit_spread():
    x, _ = _linear_rows()
    z = x @ np.ones((4, 2))  # two outputs, no noise
    baseline = LinearBaseline().fit(x, z)
    assert baseline.scale_.shape == (2,)
    assert np.all(baseline.scale_ >= MIN_SCALE)
    assert np.all(np.abs(baseline.residual(x, z)) < 1e3)


def test_its_baseline_loss_is_the_means_loss_in_the_residuals_units():
    x, z = _linear_rows(noise=1.0)
    baseline = LinearBaseline().fit(x, z)
    mean_loss = np.mean((z - z.mean()) ** 2)
    assert baseline.baseline_loss() == pytest.approx(mean_loss / baseline.scale_[0] ** 2)


def test_the_ridge_reads_the_numeric_and_one_hot_columns_not_the_splines():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=60), "b": rng.choice(["x", "y"], 60)})
    preprocessor = make_auto_preprocessor(frame, numeric_splines=True).fit(frame)
    width = preprocessor.transform(frame).shape[1]
    columns = linear_columns(preprocessor, width)
    splines = preprocessor.output_indices_["splines"]
    assert list(columns) == [c for c in range(width) if not splines.start <= c < splines.stop]
    assert len(columns) == 3  # a, and b's two categories
    assert list(linear_columns(None, 5)) == [0, 1, 2, 3, 4]


# -- in the regressor -------------------------------------------------------------------


@pytest.fixture(scope="module")
def linear_table():
    X, y = make_regression(n_samples=300, n_features=6, noise=20.0, random_state=0)
    return train_test_split(X, y, random_state=0)


def test_the_default_regressor_is_as_good_as_ridge_on_a_linear_table(linear_table):
    X_train, X_test, y_train, y_test = linear_table
    ridge = r2_score(y_test, RidgeCV(alphas=ALPHAS).fit(X_train, y_train).predict(X_test))
    reg = SafeKerasRegressor(random_state=0).fit(X_train, y_train)
    assert isinstance(reg.linear_baseline_, LinearBaseline)
    assert r2_score(y_test, reg.predict(X_test)) >= ridge - 0.01


def test_predict_adds_the_ridge_to_the_networks_scaled_output(linear_table):
    X_train, X_test, y_train, _ = linear_table
    reg = SafeKerasRegressor(**FAST).fit(X_train, y_train)
    baseline = reg.linear_baseline_
    x = reg.preprocessor_.transform(X_test).astype("float32")
    network = reg.model_.predict(x, verbose=0).astype(np.float64)
    z = x.astype(np.float64)[:, baseline.columns] @ baseline.coef_ + baseline.intercept_
    expected = reg.target_scaler_.inverse_transform(z + baseline.scale_ * network).ravel()
    np.testing.assert_allclose(reg.predict(X_test), expected, rtol=1e-5)
    # pipeline_ is the preprocessing and the network step, the baseline included.
    from_pipeline = reg.target_scaler_.inverse_transform(reg.pipeline_.predict(X_test)).ravel()
    np.testing.assert_array_equal(reg.predict(X_test), from_pipeline)


def _user_network(meta):
    inputs = keras.Input((meta["n_features_in_"],))
    hidden = keras.layers.Dense(8, activation="relu")(inputs)
    return keras.Model(inputs, keras.layers.Dense(1)(hidden))


@pytest.mark.parametrize(
    "params, expected",
    [
        ({}, True),
        ({"linear_baseline": None}, False),
        ({"model": _user_network}, False),
        ({"model": _user_network, "linear_baseline": "ridge"}, True),
        ({"loss": "poisson"}, False),
    ],
    ids=["default", "None", "user network", "user network, ridge", "poisson"],
)
def test_who_gets_a_baseline(params, expected):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 3))
    y = np.exp(X[:, 0]) + rng.poisson(1.0, size=120)  # non-negative: Poisson is allowed
    reg = SafeKerasRegressor(**FAST, **params).fit(X, y)
    assert (reg.linear_baseline_ is not None) is expected


def test_a_first_partial_fit_learns_the_target_itself():
    X, y = make_regression(n_samples=80, n_features=3, random_state=0)
    reg = SafeKerasRegressor(random_state=0).partial_fit(X, y)
    assert reg.linear_baseline_ is None


def test_ridge_with_an_exponential_output_is_refused_and_nothing_is_fitted():
    X, y = make_regression(n_samples=80, n_features=3, random_state=0)
    reg = SafeKerasRegressor(**FAST, loss="poisson", linear_baseline="ridge")
    with pytest.raises(ParameterError, match=r"linear_baseline=.ridge.*.exponential."):
        reg.fit(X, np.abs(np.round(y)))
    assert not hasattr(reg, "pipeline_") and not hasattr(reg, "linear_baseline_")


def test_a_warm_start_keeps_the_baseline(linear_table):
    X_train, _, y_train, _ = linear_table
    reg = SafeKerasRegressor(**FAST, warm_start=True).fit(X_train, y_train)
    before = copy.deepcopy(reg.linear_baseline_)
    reg.fit(X_train[:100], y_train[:100] + 1000.0)
    np.testing.assert_array_equal(reg.linear_baseline_.coef_, before.coef_)
    np.testing.assert_array_equal(reg.linear_baseline_.scale_, before.scale_)


def test_clone_and_old_files_without_the_parameter():
    reg = SafeKerasRegressor(linear_baseline=None)
    assert clone(reg).get_params()["linear_baseline"] is None
    state = SafeKerasRegressor().__getstate__()
    state.pop("linear_baseline")
    old = SafeKerasRegressor.__new__(SafeKerasRegressor)
    old.__setstate__(state)
    assert old.linear_baseline is None  # a file from before: its network learnt the target


def test_export_adds_the_baseline(linear_table):
    X_train, X_test, y_train, _ = linear_table
    reg = SafeKerasRegressor(**FAST).fit(X_train, y_train)
    model = reg.to_keras()
    assert any(layer.name.startswith("linear_baseline") for layer in model.layers)
    exported = np.asarray(model.predict(X_test, verbose=0)).ravel()
    np.testing.assert_allclose(exported, reg.predict(X_test), rtol=1e-5, atol=1e-4)


def test_an_exported_baseline_saves_and_loads_in_safe_mode(linear_table, tmp_path):
    import safekeras.export  # noqa: F401 - registers the export layers

    X_train, X_test, y_train, _ = linear_table
    model = SafeKerasRegressor(**FAST).fit(X_train, y_train).to_keras()
    model.save(tmp_path / "exported.keras")
    loaded = keras.saving.load_model(tmp_path / "exported.keras", safe_mode=True)
    np.testing.assert_array_equal(
        loaded.predict(X_test, verbose=0), model.predict(X_test, verbose=0)
    )


# -- loading ----------------------------------------------------------------------------


TAMPERED = {
    "NaN coefficient": lambda b: b.coef_.__setitem__((0, 0), np.nan),
    "infinite intercept": lambda b: b.intercept_.__setitem__(0, np.inf),
    "zero scale": lambda b: b.scale_.__setitem__(0, 0.0),
    "coefficients of another shape": lambda b: setattr(b, "coef_", b.coef_[:-1]),
    "integer coefficients": lambda b: setattr(b, "coef_", b.coef_.astype(np.int64)),
    "a column beyond the inputs": lambda b: b.columns.__setitem__(0, 10**6),
    "a negative column": lambda b: b.columns.__setitem__(0, -1),
    "a repeated column": lambda b: b.columns.__setitem__(1, b.columns[0]),
    "float columns": lambda b: setattr(b, "columns", b.columns.astype(float)),
    "another input width": lambda b: setattr(b, "n_features_in_", b.n_features_in_ + 1),
    "another type": None,
}


@pytest.fixture(scope="module")
def fitted(linear_table):
    X_train, _, y_train, _ = linear_table
    return SafeKerasRegressor(epochs=2, random_state=0).fit(X_train, y_train)


@pytest.mark.parametrize("tamper", TAMPERED.values(), ids=TAMPERED.keys())
def test_a_tampered_baseline_is_refused(fitted, tamper):
    est = copy.deepcopy(fitted)
    network = est.pipeline_.named_steps["network"]
    if tamper is None:
        network.linear_baseline = est.target_scaler_
    else:
        tamper(network.linear_baseline)
    with pytest.raises(PersistenceError, match=r"f\.safekeras is inconsistent: its linear base"):
        check_linear_baseline_fits(est, "f.safekeras")


def test_load_refuses_a_tampered_baseline_and_loads_the_fitted_one(fitted, linear_table, tmp_path):
    X_test = linear_table[1]
    fitted.save(tmp_path / "good.safekeras")
    np.testing.assert_array_equal(
        load(tmp_path / "good.safekeras").predict(X_test), fitted.predict(X_test)
    )
    est = copy.deepcopy(fitted)
    est.pipeline_.named_steps["network"].linear_baseline.coef_[0, 0] = np.nan
    est.save(tmp_path / "bad.safekeras")
    with pytest.raises(PersistenceError, match="linear baseline"):
        load(tmp_path / "bad.safekeras")


def test_a_large_split_searches_the_penalty_on_some_rows_and_fits_on_all(monkeypatch):
    from safekeras.network import linear_baseline

    x, z = _linear_rows(n=400, noise=1.0)
    monkeypatch.setattr(linear_baseline, "SEARCH_ROWS", 100)
    baseline = LinearBaseline().fit(x, z)
    rows = np.linspace(0, len(x) - 1, 100).astype(np.intp)
    searched = RidgeCV(alphas=ALPHAS).fit(x[rows], z[rows])
    assert baseline.alpha_ == searched.alpha_
    full = Ridge(alpha=searched.alpha_).fit(x, z)
    np.testing.assert_allclose(baseline.coef_, np.reshape(full.coef_, (1, -1)).T)
    np.testing.assert_allclose(baseline.combine(x, baseline.residual(x, z)), z, atol=1e-12)


@pytest.mark.parametrize("changed", [{"linear_baseline": None}, {"numeric_embeddings": None}])
def test_changing_the_baseline_or_embeddings_between_warm_fits_is_an_error(linear_table, changed):
    X_train, _, y_train, _ = linear_table
    reg = SafeKerasRegressor(**FAST, warm_start=True).fit(X_train, y_train)
    with pytest.raises(ParameterError, match=f"{next(iter(changed))} changed since it was fitted"):
        reg.set_params(**changed).fit(X_train, y_train)


def test_two_targets_and_sample_weights(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(150, 3))
    y = np.column_stack([X @ [1.0, -1.0, 0.5], np.sin(2 * X[:, 0])]) + rng.normal(0, 0.1, (150, 2))
    weights = rng.uniform(0.5, 2.0, size=150)
    reg = SafeKerasRegressor(**FAST).fit(X, y, sample_weight=weights)
    baseline = reg.linear_baseline_
    assert baseline.coef_.shape == (3, 2) and baseline.scale_.shape == (2,)
    assert baseline.scale_[0] < baseline.scale_[1]  # the linear target leaves the smaller residual
    assert reg.predict(X).shape == (150, 2)
    reg.save(tmp_path / "two.safekeras")
    np.testing.assert_array_equal(load(tmp_path / "two.safekeras").predict(X), reg.predict(X))
    exported = np.asarray(reg.to_keras().predict(X, verbose=0))
    np.testing.assert_allclose(exported, reg.predict(X), rtol=1e-5, atol=1e-5)


def test_a_mean_absolute_error_fit_has_a_baseline_and_no_known_baseline_loss(linear_table):
    X_train, X_test, y_train, y_test = linear_table
    reg = SafeKerasRegressor(**FAST, loss="mean_absolute_error").fit(X_train, y_train)
    assert reg.linear_baseline_ is not None
    # The mean's loss is known for a squared error only, in any units.
    assert reg._training_profile_.baseline_loss is None
    assert reg.diagnose(X_test, y_test).summary.get("baseline_loss") is None
