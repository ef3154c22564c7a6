"""Loaded SciPy B-splines must be safe for SciPy to evaluate (safekeras/deploy/spline_checks.py)."""

import numpy as np
import pytest

from safekeras import SafeKerasRegressor, load
from safekeras.deploy.spline_checks import MAX_SPLINE_DEGREE, check_spline_bases
from safekeras.exceptions import PersistenceError

pytestmark = pytest.mark.core


@pytest.fixture(scope="module")
def regressor():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(120, 2))
    y = X[:, 0] ** 2 + rng.normal(scale=0.1, size=120)
    return SafeKerasRegressor(hidden_layer_sizes=(8,), epochs=2, random_state=0).fit(X, y), X


def _first_spline(estimator):
    splines = estimator.preprocessor_.named_transformers_["splines"].named_steps["spline"]
    return splines.bsplines_[0]


TAMPERED = {
    "a huge degree": lambda s: setattr(s, "k", 10**9),
    "a degree beyond the cap": lambda s: setattr(s, "k", MAX_SPLINE_DEGREE + 1),
    "a boolean degree": lambda s: setattr(s, "k", True),
    "too few coefficients": lambda s: setattr(s, "_c", s._c[:2]),
    "NaN coefficients": lambda s: s._c.__setitem__((0, 0), np.nan),
    "decreasing knots": lambda s: setattr(s, "_t", s._t[::-1].copy()),
    "infinite knots": lambda s: s._t.__setitem__(0, -np.inf),
    "too few knots": lambda s: setattr(s, "_t", s._t[:4]),
    "integer knots": lambda s: setattr(s, "_t", s._t.astype(np.int64)),
    "another axis": lambda s: setattr(s, "axis", 1),
}


def test_a_fitted_regressors_splines_pass(regressor):
    est, _ = regressor
    check_spline_bases(est, "file.safekeras")


@pytest.mark.parametrize("tamper", TAMPERED.values(), ids=TAMPERED.keys())
def test_a_tampered_spline_is_refused_wherever_it_sits(regressor, tamper, tmp_path):
    import copy

    est = copy.deepcopy(regressor[0])
    tamper(_first_spline(est))
    with pytest.raises(PersistenceError, match=r"file\.safekeras is inconsistent: a B-spline"):
        check_spline_bases(est, "file.safekeras")


def test_load_refuses_a_tampered_spline_before_anything_evaluates_one(
    regressor, tmp_path, monkeypatch
):
    import copy

    from scipy.interpolate import BSpline

    est, X = regressor
    path = tmp_path / "good.safekeras"
    est.save(path)
    np.testing.assert_array_equal(load(path).predict(X), est.predict(X))

    def evaluated(*args, **kwargs):
        raise AssertionError("a B-spline was evaluated before load checked it")

    # From here nothing may evaluate one: not the copy and the save (both restore the estimator
    # through __setstate__, which builds the preprocessing plan), and not load before its check.
    monkeypatch.setattr(BSpline, "__call__", evaluated)
    tampered = copy.deepcopy(est)
    _first_spline(tampered).k = 10**9  # evaluating it would allocate gigabytes, or crash
    tampered.save(tmp_path / "bad.safekeras")
    with pytest.raises(PersistenceError, match=r"bad\.safekeras is inconsistent: a B-spline"):
        load(tmp_path / "bad.safekeras")
