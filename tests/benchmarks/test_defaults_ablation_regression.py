"""``benchmarks/defaults_ablation.py``'s regression candidates: smearing and the loss column."""

import numpy as np
import pytest

from benchmarks import defaults_ablation as ablation


def test_smearing_multiplies_the_log1p_prediction_by_the_mean_exp_residual():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 2))
    y = np.exp(1.0 + X[:, 0] + 0.5 * rng.normal(size=120))
    smeared = ablation.SmearedLog1pRegressor().fit(X, y)
    inner = smeared.regressor_.predict(X)
    factor = np.mean(np.exp(np.log1p(y) - np.log1p(inner)))
    assert smeared.smearing_ == pytest.approx(factor, rel=1e-12)
    assert smeared.smearing_ > 1.0  # exp of a zero-mean residual averages above 1 (Jensen)
    np.testing.assert_allclose(smeared.predict(X), (1.0 + inner) * factor - 1.0, rtol=1e-12)
    assert smeared.target_transform_ == "log1p"


def test_the_as_run_column_names_a_loss_other_than_squared_error():
    result = {"target_transform_": ["scale"] * 2, "loss_": ["poisson"] * 2}
    assert ablation._settings(result) == "y scale, loss poisson"
    squared = {"target_transform_": ["standard"], "loss_": ["mean_squared_error"]}
    assert ablation._settings(squared) == "y standard"
