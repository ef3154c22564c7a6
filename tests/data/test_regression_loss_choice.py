"""The regressor's loss for counts: the "auto" rule, the "scale" transform and the Poisson head."""

import numpy as np
import pytest

from safekeras.data.target_transforms import (
    COUNT_SKEW,
    TargetTransformer,
    choose_regression_loss,
    weighted_skewness,
)
from safekeras.data.targets import Head, regression_target, resolve_output
from safekeras.exceptions import ModelSpecError

pytestmark = pytest.mark.core

RNG = np.random.default_rng(0)


def _as_float(values):
    return np.asarray(values, dtype=np.float64)


@pytest.mark.parametrize(
    ("y", "expected"),
    [
        (_as_float(RNG.poisson(0.7, 500)), "poisson"),  # rare events: zeros and a tail
        (_as_float(RNG.poisson(RNG.lognormal(1, 1, 500))), "poisson"),  # over-dispersed
        (_as_float(RNG.negative_binomial(1, 0.1, 500)), "poisson"),
        (_as_float(RNG.poisson(20, 500)), "mean_squared_error"),  # frequent counts: no tail
        (RNG.normal(10, 2, 500), "mean_squared_error"),  # Gaussian
        (RNG.lognormal(1, 1, 500), "mean_squared_error"),  # amounts: not integers
        (RNG.lognormal(1, 1, 500).round(3), "mean_squared_error"),  # prices in cents
        (_as_float(RNG.poisson(0.7, 500)) - 1.0, "mean_squared_error"),  # negative values
        (np.zeros(500), "mean_squared_error"),  # nothing to count
        (np.array([0.0, 9.0]), "mean_squared_error"),  # too few rows to read a tail from
    ],
)
def test_auto_loss_is_poisson_for_skewed_non_negative_integers_only(y, expected):
    assert choose_regression_loss(y) == expected


def test_the_rule_reads_every_column_and_the_weights():
    counts = _as_float(RNG.poisson(0.7, 400))
    gaussian = RNG.normal(10, 2, 400)
    assert choose_regression_loss(np.column_stack([counts, counts * 2])) == "poisson"
    assert choose_regression_loss(np.column_stack([counts, gaussian])) == "mean_squared_error"
    # Zero-weight rows are not the target: a negative value there does not count.
    y = np.append(counts, -5.0)
    weights = np.append(np.ones(400), 0.0)
    assert choose_regression_loss(y) == "mean_squared_error"
    assert choose_regression_loss(y, weights) == "poisson"
    # The skewness is weighted: rows weighted up to cancel the tail make it a symmetric target.
    tail = counts >= 3
    assert weighted_skewness(counts[:, None])[0] >= COUNT_SKEW
    heavy_middle = np.where(tail, 1.0, 0.02)
    assert choose_regression_loss(counts, heavy_middle) == "mean_squared_error"


def test_scale_divides_by_the_mean_size_without_centring_and_inverts_exactly():
    y = _as_float(RNG.poisson(2.0, (300, 2)))
    weights = RNG.uniform(0.5, 2.0, 300)
    transformer = TargetTransformer("scale").fit(y, sample_weight=weights)
    z = transformer.transform(y)
    np.testing.assert_allclose(z, y / np.average(y, axis=0, weights=weights), rtol=1e-12)
    assert z.min() == 0.0  # a zero count stays zero: the Poisson deviance's target
    np.testing.assert_allclose(np.average(z, axis=0, weights=weights), [1.0, 1.0])
    np.testing.assert_allclose(transformer.inverse_transform(z), y, rtol=1e-12)
    # Negative values (squared error with target_transform="scale") keep their sign; a
    # column of zeros is left as it is rather than divided by 0.
    signed = TargetTransformer("scale").fit(np.array([[-2.0, 0.0], [4.0, 0.0]]))
    np.testing.assert_array_equal(signed.scaler_.scale_, [3.0, 1.0])


CONTINUOUS, _ = regression_target(np.arange(3.0))


def test_poisson_needs_an_exponential_head_and_gets_a_scaled_target():
    output = resolve_output(CONTINUOUS, Head(1, "exponential"), "poisson")
    assert (output.loss, output.activation, output.y_encoding) == (
        "poisson",
        "exponential",
        "scaled",
    )
    with pytest.raises(ModelSpecError, match=r"loss='poisson' needs positive outputs.*exponential"):
        resolve_output(CONTINUOUS, Head(1, "linear"), "poisson")
    with pytest.raises(ModelSpecError, match=r"uses exponential.*loss='mean_squared_error'"):
        resolve_output(CONTINUOUS, Head(1, "exponential"), "auto")
