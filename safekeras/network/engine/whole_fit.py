"""The whole fit as one compiled call, when nothing needs Python between epochs.

:mod:`.loop` runs the epochs from Python: one call into the compiled epoch,
then the validation loss, the early-stopping bookkeeping and a snapshot of
the best weights, about 2.5 ms of dispatch per epoch on a small network whose
arithmetic takes microseconds. Without user callbacks and without
``verbose``, no Python has to run between epochs, so a runner's
``train_all`` runs the same epochs in one compiled loop (a ``tf.while_loop``
on TensorFlow, see :mod:`.tf_fit`; a ``lax.while_loop`` on JAX, see
:mod:`.jax_fit`) whose state holds the epoch counter, the losses of every
epoch, the best validation loss and its epoch, the epochs waited and a copy
of the best weights, and which leaves the network holding the weights
:mod:`.loop` would leave it. The shuffles, the arithmetic and the stopping
rule are those of :mod:`.loop`, so both give the same history, best epoch
and weights (tested).

This module is the Python side: the recorded losses become ``history``, and a
NaN or infinite loss raises the :class:`TrainingError` that :mod:`.loop`
raises at that epoch (the compiled loop stops at the first one).
"""

from __future__ import annotations

from dataclasses import dataclass

from .result import TrainingResult, check_finite_logs

__all__ = ["WholeFit", "as_floats", "run_whole_fit"]


@dataclass(frozen=True)
class WholeFit:
    """What a runner's ``train_all`` returns.

    Attributes
    ----------
    losses : list of float
        Training loss of every epoch run.
    val_losses : list of float or None
        Validation loss of every epoch run (None without a validation split).
    best_epoch : int
        1-based epoch whose weights the network holds when early stopping
        restored them; 0 when it did not.
    """

    losses: list
    val_losses: list | None
    best_epoch: int


def run_whole_fit(
    runner,
    *,
    epochs: int,
    patience: int,
    epochs_per_wait: int = 0,
    stops: bool,
    folds_left: int = 0,
) -> TrainingResult:
    """Train with ``runner.train_all`` and return what :func:`.loop.run_epochs` would.

    Parameters
    ----------
    runner : TensorFlowEpochs or JaxEpochs
        A runner with ``train_all(epochs=, patience=, epochs_per_wait=, stops=, folds_left=)``,
        which trains in one compiled call, restores the best weights when
        ``stops``, and returns a :class:`WholeFit`.
    epochs, patience : int
        Epoch budget, and epochs without improvement before stopping.
    epochs_per_wait : int, default=0
        The wait grows by one epoch for every ``epochs_per_wait`` epochs up to
        the best one (:func:`~safekeras.network.budget.required_wait`).
    stops : bool
        Whether the validation loss stops training and picks the weights kept.
    folds_left : int, default=0
        For a fold stack (:mod:`~safekeras.network.stacked`), which stops each
        fold on its own: training ends once at most this many folds are still
        training, and those keep their best weights so far (0: once every
        fold has stopped). A single network stops when it stops.

    Raises
    ------
    TrainingError
        If a recorded loss is NaN or infinite, naming the first such epoch.
    """
    fit = runner.train_all(
        epochs=epochs,
        patience=patience,
        epochs_per_wait=epochs_per_wait,
        stops=stops,
        folds_left=folds_left,
    )
    history = {"loss": fit.losses}
    if fit.val_losses is not None:
        history["val_loss"] = fit.val_losses
    for epoch in range(len(fit.losses)):
        check_finite_logs({key: values[epoch] for key, values in history.items()}, epoch)
    runner.to_network()
    epochs_run = len(fit.losses)
    return TrainingResult(
        history=history,
        best_epoch=fit.best_epoch if stops else epochs_run,
        epochs_run=epochs_run,
        engine="compiled",
    )


def as_floats(values) -> list:
    """Python floats from a 1-d array of losses (what ``history`` holds)."""
    return [float(value) for value in values]
