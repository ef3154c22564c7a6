"""What ``fit`` keeps for ``diagnose()``: :class:`TrainingProfile` and the baseline loss."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..network.losses import POISSON, poisson_deviance_per_row
from ..network.training import _target_matrix, prior_loss

__all__ = ["TrainingProfile", "baseline_loss", "training_profile"]

# Losses whose value for a constant prediction of the training priors is known.
_CROSS_ENTROPIES = {
    "binary_crossentropy",
    "sparse_categorical_crossentropy",
    "categorical_crossentropy",
}
_SQUARED_ERRORS = {"mean_squared_error", "mse"}
# Probabilities are clipped this far from 0 and 1: a label never (or always) on in the
# training split costs next to nothing, rather than log(0).
_PRIOR_EPS = 1e-12


@dataclass(frozen=True)
class TrainingProfile:
    """What ``fit`` saw, kept so that ``diagnose()`` can explain the fit later.

    Attributes
    ----------
    target_type : str
        As ``target_type_``.
    class_counts : tuple of int or None
        Rows per class in the data given to ``fit`` (zero-weight rows left
        out, before any resampling), in ``classes_`` order; for a multilabel
        target, rows where each label is on. None for regression.
    n_rows : int
        Rows given to ``fit`` with a positive weight.
    n_train, n_validation : int
        Rows of the training split (after resampling) and of the validation
        split (0 when none was held out).
    baseline_loss : float or None
        The training loss of a network that learnt nothing but the (weighted)
        class priors of the training split, or the target's variance for a
        regressor: 1.0 on the standardised target. ``history_["loss"]`` near it
        means the network underfits. None for losses where it is not known.
    """

    target_type: str
    class_counts: tuple | None
    n_rows: int
    n_train: int
    n_validation: int
    baseline_loss: float | None


def training_profile(spec, y_kept, y_train, w_train, n_validation, loss) -> TrainingProfile:
    """Summarise a fit for :class:`TrainingProfile`.

    Parameters
    ----------
    spec : safekeras.data.targets.TargetSpec
    y_kept : ndarray
        Encoded targets of the rows with a positive weight.
    y_train, w_train : ndarray
        Encoded targets and weights of the training split as trained on
        (after resampling and class weights).
    n_validation : int
    loss : str or keras loss
        The loss the network was trained with.
    """
    counts = None
    if spec.target_type in ("binary", "multiclass"):
        counts = tuple(np.bincount(y_kept, minlength=spec.n_classes).tolist())
    elif spec.target_type == "multilabel-indicator":
        counts = tuple(np.asarray(y_kept).sum(axis=0).astype(int).tolist())
    return TrainingProfile(
        target_type=spec.target_type,
        class_counts=counts,
        n_rows=len(y_kept),
        n_train=len(y_train),
        n_validation=int(n_validation),
        baseline_loss=baseline_loss(spec.target_type, y_train, w_train, loss),
    )


def baseline_loss(target_type, y_encoded, sample_weight, loss) -> float | None:
    """Loss of predicting the weighted training priors (classification) or the mean (regression).

    The units are those of Keras's training loss with weights rescaled to
    mean 1: the weighted mean of the per-row loss. Computed by
    :func:`safekeras.network.training.prior_loss`, as the training outcome check
    computes it; None for losses where it is not known.
    """
    if not isinstance(loss, str):
        return None
    if target_type.startswith("continuous") and loss == POISSON:
        # The deviance of predicting the (weighted) mean count for every row.
        y = np.asarray(y_encoded, dtype=np.float64)
        mean = np.broadcast_to(np.average(y, axis=0, weights=sample_weight), y.shape)
        return float(np.average(poisson_deviance_per_row(y, mean), weights=sample_weight))
    if target_type.startswith("continuous"):
        # The target is standardised (weighted) in fit: its weighted variance is 1 per output.
        return 1.0 if loss in _SQUARED_ERRORS else None
    if loss not in _CROSS_ENTROPIES:
        return None
    y_encoded = np.asarray(y_encoded)
    # Computed as the training outcome check computes it: one sigmoid output per label, or
    # a softmax over the classes (the binary cross-entropy of two classes is the same loss).
    activation = "sigmoid" if target_type == "multilabel-indicator" else "softmax"
    n_columns = y_encoded.shape[1] if y_encoded.ndim == 2 else int(np.max(y_encoded)) + 1
    targets = _target_matrix(y_encoded, n_columns, activation)
    weights = np.asarray(sample_weight, dtype=np.float64)
    return prior_loss(targets, weights, activation, _PRIOR_EPS)
