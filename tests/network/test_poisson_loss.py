"""The Poisson deviance the regressor's ``loss="poisson"`` trains with (any Keras backend)."""

import numpy as np
import pytest

from safekeras.network.losses import (
    POISSON,
    keras_loss,
    poisson_deviance_class,
    poisson_deviance_per_row,
)
from safekeras.network.training import loss_in_dtype

pytestmark = pytest.mark.core

Y = np.array([[0.0, 1.0], [3.0, 0.5], [10.0, 0.0]])
PREDICTED = np.array([[0.2, 1.5], [2.0, 0.5], [12.0, 0.1]])


def _by_hand(y, p):
    """Half the Poisson deviance, element by element: y log(y/p) - y + p, 0 log 0 = 0."""
    terms = [
        [(yi * np.log(yi / pi) if yi > 0 else 0.0) - yi + pi for yi, pi in zip(ry, rp, strict=True)]
        for ry, rp in zip(y, p, strict=True)
    ]
    return np.mean(terms, axis=1)


def test_numpy_deviance_is_half_the_poisson_deviance_per_row():
    np.testing.assert_allclose(poisson_deviance_per_row(Y, PREDICTED), _by_hand(Y, PREDICTED))
    assert np.all(poisson_deviance_per_row(Y, Y + (Y == 0)) >= 0)
    np.testing.assert_array_equal(poisson_deviance_per_row(Y[1:2, :1], Y[1:2, :1]), [0.0])


def test_keras_loss_is_the_weighted_mean_of_the_numpy_deviance():
    loss = keras_loss(POISSON, "float64")  # float32 on JAX without x64: hence rel=1e-6
    assert type(loss) is poisson_deviance_class()
    weights = np.array([1.0, 2.0, 0.0])
    got = float(loss(Y, PREDICTED, sample_weight=weights))
    per_row = poisson_deviance_per_row(Y, PREDICTED)
    # Keras's "sum_over_batch_size": the weighted sum over the rows, divided by the rows.
    assert got == pytest.approx(np.sum(per_row * weights) / len(Y), rel=1e-6)
    assert float(loss(Y[1:2], Y[1:2])) == pytest.approx(0.0, abs=1e-6)


def test_a_prediction_that_underflowed_to_zero_costs_a_finite_loss():
    got = float(keras_loss(POISSON, "float32")(np.array([[2.0]]), np.array([[0.0]])))
    assert np.isfinite(got) and got > 10.0


def test_the_name_poisson_compiles_as_the_deviance_in_the_network_dtype():
    import keras

    for dtype in ("float32", "float64"):
        loss = loss_in_dtype(POISSON, dtype)
        assert type(loss) is poisson_deviance_class()
        assert loss.dtype == dtype
    assert keras_loss("mean_squared_error") == "mean_squared_error"
    assert isinstance(loss_in_dtype("mean_squared_error", "float64"), keras.losses.Loss)


def test_the_loss_serialises_under_its_registered_name():
    import keras

    loss = keras_loss(POISSON, "float64")
    config = keras.saving.serialize_keras_object(loss)
    assert config["registered_name"] == "safekeras>PoissonDeviance"
    restored = keras.saving.deserialize_keras_object(config)
    assert float(restored(Y, PREDICTED)) == pytest.approx(float(loss(Y, PREDICTED)), rel=1e-12)


def test_the_outcome_check_judges_a_poisson_head_by_squared_error_not_as_probabilities():
    from safekeras.exceptions import TrainingError
    from safekeras.network.training import check_training_outcome

    rng = np.random.default_rng(0)
    means = rng.uniform(1.5, 4.0, (400, 1))  # a good fit: every expected count above 1
    counts = rng.poisson(means).astype(np.float64)  # some zeros among them
    scaled = counts / counts.mean()

    def fitted(x):
        return means[x] / counts.mean()

    rows = np.arange(400)
    # Read as sigmoid outputs these would be "stuck at 1" and wrong on every zero count.
    check_training_outcome(
        fitted, rows, scaled, None, activation="exponential", logits=False, dtype="float32"
    )

    def diverged(x):
        return 1e3 * means[x]

    with pytest.raises(TrainingError, match=r"mean squared error on the training rows"):
        check_training_outcome(
            diverged, rows, scaled, None, activation="exponential", logits=False, dtype="float32"
        )
