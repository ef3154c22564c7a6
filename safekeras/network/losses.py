"""Losses safekeras trains with that Keras does not offer as such.

:func:`poisson_deviance_class`'s loss is what the regressor's ``loss="poisson"`` trains:
the Poisson deviance of a positive (exponential, log-link) output. Keras's own
``Poisson`` loss, ``mean(y_pred - y_true * log(y_pred))``, has the same
minimiser and the same gradients, but it is the negative log-likelihood less
``log(y!)``: negative wherever the counts are large, and never 0. Half the
deviance, ``y * log(y / y_pred) - (y - y_pred)``, is 0 for a perfect
prediction and positive otherwise, like a squared error, so the training loss,
its baseline (a constant prediction of the mean) and the loss ``diagnose()``
measures on given rows can be compared as ratios. It is the loss scikit-learn's
``HistGradientBoostingRegressor(loss="poisson")`` and ``mean_poisson_deviance``
use (the latter without the half).
"""

from __future__ import annotations

import functools

import numpy as np

__all__ = ["POISSON", "keras_loss", "poisson_deviance_class", "poisson_deviance_per_row"]

#: The regressor's name for the Poisson deviance (``loss="poisson"``, ``loss_``).
POISSON = "poisson"


@functools.cache
def poisson_deviance_class():
    """The Keras loss class ``PoissonDeviance`` (built once: importing safekeras loads no Keras).

    Half the Poisson deviance of positive predictions, averaged over the
    outputs: per row, ``mean_j(y_j * log(y_j / p_j) - y_j + p_j)`` with
    ``0 * log 0 = 0``. The predictions ``p`` must be positive (an exponential
    last layer), the targets non-negative. Its parameters are every Keras
    loss's: ``reduction`` (the weighted mean over the rows), ``name`` and
    ``dtype``.

    Returns
    -------
    type
        A ``keras.losses.Loss`` subclass, registered as ``safekeras>PoissonDeviance``.
    """
    import keras
    from keras import ops

    @keras.saving.register_keras_serializable(package="safekeras")
    class PoissonDeviance(keras.losses.Loss):
        def __init__(self, reduction="sum_over_batch_size", name="poisson_deviance", dtype=None):
            super().__init__(name=name, reduction=reduction, dtype=dtype)

        def call(self, y_true, y_pred):
            y_pred = ops.convert_to_tensor(y_pred, dtype=self.dtype)
            y_true = ops.cast(y_true, y_pred.dtype)
            tiny = keras.config.epsilon()
            # y * log(y): the floor makes it 0 at y = 0 (its limit) instead of 0 * -inf = NaN.
            y_log_y = y_true * ops.log(ops.maximum(y_true, tiny))
            # The floor on the prediction keeps an exp() that underflowed to 0 from giving
            # log(0); the deviance is then large and finite, and its gradient still points up.
            log_pred = ops.log(ops.maximum(y_pred, tiny))
            return ops.mean(y_log_y - y_true * log_pred - y_true + y_pred, axis=-1)

        def get_config(self):
            # Keras's own config leaves the dtype out: a float64 loss would come back float32.
            return {**super().get_config(), "dtype": self.dtype}

    return PoissonDeviance


def keras_loss(loss, dtype: str | None = None):
    """``loss`` as Keras compiles it: the name :data:`POISSON` becomes ``PoissonDeviance``.

    Parameters
    ----------
    loss : str, keras loss or callable
        The loss ``fit`` resolved (``loss_``).
    dtype : str or None, default=None
        The dtype the Poisson deviance computes in.

    Returns
    -------
    The loss to compile with: ``loss`` itself unless it names the Poisson deviance
    (:func:`poisson_deviance_class`).
    """
    if isinstance(loss, str) and loss == POISSON:
        return poisson_deviance_class()(dtype=dtype)
    return loss


def poisson_deviance_per_row(y, predicted) -> np.ndarray:
    """:class:`PoissonDeviance` of each row, in numpy (float64, no floor on the predictions).

    Parameters
    ----------
    y : ndarray of shape (n_rows, n_outputs)
        Non-negative targets, in the units the network was trained on.
    predicted : ndarray of shape (n_rows, n_outputs)
        Positive predictions in the same units.

    Returns
    -------
    ndarray of shape (n_rows,)
        Half the Poisson deviance, averaged over the outputs; ``inf`` where a
        prediction is 0 and its target is not.
    """
    y = np.asarray(y, dtype=np.float64)
    predicted = np.asarray(predicted, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_ratio = np.where(y > 0, y * np.log(y / predicted), 0.0)
    return np.mean(log_ratio - y + predicted, axis=1)
