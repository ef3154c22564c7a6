"""The epoch loop of the compiled engine: history, early stopping, callbacks.

The per-epoch work is delegated to a backend's epoch runner
(:class:`~safekeras.network.engine.tf_epochs.TensorFlowEpochs` or
:class:`~safekeras.network.engine.jax_epochs.JaxEpochs`); everything that happens
*between* epochs lives here, once for both backends, and follows
``model.fit`` with ``keras.callbacks.EarlyStopping(monitor="val_loss",
restore_best_weights=True)``:

- an epoch improves when its validation loss is strictly below the best so
  far; training stops after ``patience`` epochs in a row without improvement
  (or more, grown with the best epoch: :func:`~safekeras.network.budget.required_wait`),
  and the network is left holding the best epoch's weights;
- a NaN or infinite loss stops training with a :class:`TrainingError`;
- the user's callbacks get ``on_train_begin/end`` and ``on_epoch_begin/end``
  with the same ``logs`` as under ``model.fit``, see the network's current
  weights there, and may stop training (``model.stop_training = True``) or
  change the optimizer's learning rate.

Without callbacks and without ``verbose`` nothing needs Python between
epochs, and the runner trains every epoch in one compiled call instead
(:mod:`.whole_fit`), with the same history, stopping and weights.
"""

from __future__ import annotations

import sys

from .result import TrainingResult, check_finite_logs
from .whole_fit import run_whole_fit

__all__ = ["run_epochs"]


def run_epochs(
    runner,
    network,
    *,
    epochs: int,
    patience: int,
    epochs_per_wait: int = 0,
    validate: bool,
    early_stopping: bool = True,
    callbacks: list,
    verbose,
) -> TrainingResult:
    """Train ``network`` for up to ``epochs`` epochs with ``runner``.

    Parameters
    ----------
    runner : TensorFlowEpochs or JaxEpochs
        Runs one epoch (``train_epoch``), measures the validation loss
        (``validation_loss``), snapshots and restores the training state
        (``snapshot``, ``restore``), moves it between what it trains and the
        network's variables (``to_network``, ``from_network``) and releases
        what it borrowed (``close``).
    network : keras.Model
        The compiled network (what callbacks see as ``self.model``).
    epochs, patience : int
        Epoch budget, and epochs without improvement before stopping.
    epochs_per_wait : int, default=0
        The wait grows by one epoch for every ``epochs_per_wait`` epochs up to
        the best one (:func:`~safekeras.network.budget.required_wait`).
    validate : bool
        Whether ``runner`` has a validation split: its loss is recorded each
        epoch (``history["val_loss"]``).
    early_stopping : bool, default=True
        Whether that loss stops training and picks the weights kept; False
        records it only (for ``diagnose``), training every epoch and keeping
        the last weights.
    callbacks : list of keras.callbacks.Callback
        The user's callbacks, already copied for this fit.
    verbose : int or bool
        Print one line per epoch when truthy.
    """
    try:
        stops = validate and early_stopping
        if not callbacks and not verbose and hasattr(runner, "train_all"):
            # Nothing to call between epochs: every epoch in one compiled call.
            network.stop_training = False
            return run_whole_fit(
                runner,
                epochs=epochs,
                patience=patience,
                epochs_per_wait=epochs_per_wait,
                stops=stops,
            )
        wait = (patience, epochs_per_wait)
        return _run(runner, network, epochs, wait, validate, stops, callbacks, verbose)
    finally:
        runner.close()


def _run(runner, network, epochs, wait, validate, stops, callbacks, verbose) -> TrainingResult:
    import keras

    from ..budget import required_wait

    callback_list = keras.callbacks.CallbackList(
        callbacks, model=network, epochs=epochs, steps=runner.steps_per_epoch, verbose=verbose
    )
    history = {"loss": [], "val_loss": []} if validate else {"loss": []}
    best_loss, best_epoch, best_state, waited = float("inf"), 0, None, 0
    network.stop_training = False
    callback_list.on_train_begin()
    logs: dict = {}
    epochs_run = 0
    for epoch in range(epochs):
        callback_list.on_epoch_begin(epoch)
        if callbacks:
            runner.from_network()  # a callback may have set the learning rate or weights
        logs = {"loss": runner.train_epoch(epoch)}
        if validate:
            logs["val_loss"] = runner.validation_loss()
        check_finite_logs(logs, epoch)
        epochs_run = epoch + 1
        for key, value in logs.items():
            history[key].append(value)
        stop = False
        if stops:
            if logs["val_loss"] < best_loss:
                best_loss, best_epoch, best_state, waited = (
                    logs["val_loss"],
                    epochs_run,
                    runner.snapshot(),
                    0,
                )
            else:
                waited += 1
                stop = waited >= required_wait(*wait, best_epoch)
        if callbacks:
            runner.to_network()
        callback_list.on_epoch_end(epoch, logs)
        if verbose:
            _print_epoch(epochs_run, epochs, logs)
        if stop or network.stop_training:
            break
    if best_state is not None:
        runner.restore(best_state)
    runner.to_network()
    callback_list.on_train_end(logs)
    return TrainingResult(
        history=history,
        best_epoch=best_epoch if stops else epochs_run,
        epochs_run=epochs_run,
        engine="compiled",
    )


def _print_epoch(epoch: int, epochs: int, logs: dict) -> None:
    values = " - ".join(f"{key}: {value:.4f}" for key, value in logs.items())
    print(f"Epoch {epoch}/{epochs} - {values}", file=sys.stdout, flush=True)
