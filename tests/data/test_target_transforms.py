"""The regressor's target transform: the "auto" choice, the transform and its inverse."""

import numpy as np
import pytest

from safekeras.data.target_transforms import (
    TargetTransformer,
    choose_target_transform,
    weighted_skewness,
)
from safekeras.exceptions import ParameterError

RNG = np.random.default_rng(0)


@pytest.mark.parametrize(
    ("y", "expected"),
    [
        (RNG.lognormal(3, 1, 400), "log1p"),  # prices, salaries
        (RNG.lognormal(0, 0.5, 400), "standard"),  # skew 1.7: log1p only tied on R² there
        (RNG.poisson(0.7, 400).astype(float), "standard"),  # counts hold zeros: kept standard
        (RNG.negative_binomial(1, 0.1, 400).astype(float), "standard"),  # skew 2, zeros
        (1.0 + RNG.lognormal(2, 1, 400).round(), "log1p"),  # whole amounts, none zero
        (RNG.normal(50, 10, 400), "standard"),
        (RNG.poisson(20, 400).astype(float), "standard"),  # frequent counts: skew 0.2
        (RNG.uniform(0, 1, 400), "standard"),
        (RNG.lognormal(0, 1, 400) - 1.0, "standard"),  # skewed but negative values: no log
        (np.append(RNG.lognormal(0, 1, 399), 0.0), "standard"),  # a single zero: a count
        (-RNG.lognormal(0, 1, 400), "standard"),  # a heavy left tail
        (np.full(400, 3.0), "standard"),
        (np.array([0.0, 100.0]), "standard"),  # too few rows to read a tail from
    ],
)
def test_auto_chooses_log1p_for_heavy_positive_tails_only(y, expected):
    assert choose_target_transform(y) == expected


def test_auto_needs_every_target_column_heavy_tailed():
    heavy, normal = RNG.lognormal(0, 1, 300), RNG.normal(0, 1, 300) + 10
    assert choose_target_transform(np.column_stack([heavy, heavy * 2])) == "log1p"
    assert choose_target_transform(np.column_stack([heavy, normal])) == "standard"


def test_auto_reads_the_weights():
    y = np.concatenate([RNG.normal(10, 1, 300), np.full(5, 60.0)])
    assert choose_target_transform(y) == "log1p"  # 5 rows far out on the right
    # Weighted as much as the other 300 rows, they are no tail but a second mode.
    weights = np.concatenate([np.ones(300), np.full(5, 60.0)])
    assert choose_target_transform(y, weights) == "standard"
    # Weights count as repeated rows.
    integer_weights = RNG.integers(1, 4, len(y))
    np.testing.assert_allclose(
        weighted_skewness(y[:, None], integer_weights),
        weighted_skewness(np.repeat(y, integer_weights)[:, None]),
        rtol=1e-10,
    )


def test_weighted_skewness_equals_scipy_with_equal_weights():
    from scipy.stats import skew

    y = RNG.lognormal(0, 0.5, (200, 2))
    np.testing.assert_allclose(weighted_skewness(y), skew(y, axis=0), rtol=1e-12)
    np.testing.assert_array_equal(weighted_skewness(np.full((5, 1), 1e9)), [0.0])


@pytest.mark.parametrize("method", ["standard", "log1p"])
def test_transform_has_unit_spread_and_inverts_exactly(method):
    y = RNG.lognormal(2, 1, (300, 1))
    transformer = TargetTransformer(method).fit(y)
    z = transformer.transform(y)
    np.testing.assert_allclose([z.mean(), z.std()], [0.0, 1.0], atol=1e-12)
    np.testing.assert_allclose(transformer.inverse_transform(z), y, rtol=1e-12)


def test_log1p_is_log1p_of_non_negative_values_and_stays_invertible_below_zero():
    y = np.array([[0.0], [1.0], [9.0], [99.0]])
    transformer = TargetTransformer("log1p").fit(y)
    scaler = transformer.scaler_
    np.testing.assert_allclose(scaler.mean_, [np.log1p(y).mean()])
    # A negative value (a validation row, diagnose's y) is mirrored, never NaN.
    negative = np.array([[-5.0], [-0.5]])
    z = transformer.transform(negative)
    assert np.isfinite(z).all()
    np.testing.assert_allclose(transformer.inverse_transform(z), negative, rtol=1e-12)


def test_inverse_of_a_huge_output_overflows_to_inf_for_the_caller_to_report():
    transformer = TargetTransformer("log1p").fit(RNG.lognormal(0, 1, (50, 1)))
    assert np.isposinf(transformer.inverse_transform(np.array([[1e6]]))).all()


def test_unknown_method_is_a_parameter_error():
    with pytest.raises(
        ParameterError,
        match=r"target_transform='box-cox' is not one of \['auto', 'standard', 'log1p', 'scale'\]",
    ):
        TargetTransformer("box-cox").fit(np.ones((3, 1)))
