"""What a training run leaves behind, and the check that stops a diverging one.

Shared by both engines (:mod:`.loop` and :mod:`.keras_fit`) and by
:mod:`safekeras.network.training`; it imports nothing of the engines, so
they can import it without loading the package that selects between them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ...exceptions import TrainingError

__all__ = ["DIVERGENCE_FIXES", "TrainingResult", "check_finite_logs"]

# What to change when training diverges or saturates (shared by every such error).
DIVERGENCE_FIXES = (
    "Lower learning_rate, check the inputs for extreme values (use preprocessor='auto' "
    "to scale them), or add l2 regularisation."
)


@dataclass(frozen=True)
class TrainingResult:
    """What a training run leaves behind.

    Attributes
    ----------
    history : dict of str to list of float
        ``"loss"`` (and ``"val_loss"`` with a validation split) per epoch,
        as ``model.fit``'s ``History`` records them.
    best_epoch : int
        1-based epoch whose weights the network holds (the last epoch
        without validation).
    epochs_run : int
        Epochs trained before stopping.
    engine : {"compiled", "keras"}
        The engine that trained the network.
    """

    history: dict
    best_epoch: int
    epochs_run: int
    engine: str


def check_finite_logs(logs: dict, epoch: int) -> None:
    """Raise :class:`TrainingError` when a loss in ``logs`` is NaN or infinite.

    Parameters
    ----------
    logs : dict of str to float
        ``"loss"`` and optionally ``"val_loss"`` of one epoch.
    epoch : int
        0-based epoch the logs belong to.
    """
    for key in ("loss", "val_loss"):
        value = logs.get(key)
        if value is not None and not math.isfinite(value):
            raise TrainingError(
                f"Training diverged: {key} became {value} at epoch {epoch + 1}. " + DIVERGENCE_FIXES
            )
