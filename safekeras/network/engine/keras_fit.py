"""The ``"keras"`` engine: Keras' own ``model.fit``.

Used for the torch backend, networks that override ``train_step``, callbacks
with per-batch hooks, and whenever ``engine="keras"``. Shuffling is a
``tf.data`` shuffle with an explicit operation seed, so this path, too,
leaves global random state alone.
"""

from __future__ import annotations

import numpy as np

from .result import TrainingResult, check_finite_logs

__all__ = ["fit_with_keras"]


def fit_with_keras(
    network,
    *,
    x,
    y,
    sample_weight,
    validation,
    early_stopping: bool = True,
    epochs: int,
    batch_size: int,
    patience: int,
    epochs_per_wait: int = 0,
    callbacks: list,
    shuffle_seed: int,
    verbose,
) -> TrainingResult:
    """Train ``network`` with ``model.fit`` (same parameters as ``training.train``)."""
    import keras
    import tensorflow as tf

    train_data = _shuffled_batches(x, y, sample_weight, batch_size, shuffle_seed)
    callbacks = [*callbacks, keras.callbacks.TerminateOnNaN()]
    validation_data = None
    if validation is not None:
        if validation[2] is None:
            validation = validation[:2]
        validation_data = tf.data.Dataset.from_tensor_slices(validation).batch(
            max(batch_size, 1024)
        )
        if early_stopping:
            callbacks.append(_early_stopping(patience, epochs_per_wait))
    keras_history = network.fit(
        train_data,
        validation_data=validation_data,
        epochs=epochs,
        shuffle=False,  # shuffled above, with an explicit seed
        callbacks=callbacks,
        verbose=verbose,
    )
    history = {key: [float(v) for v in values] for key, values in keras_history.history.items()}
    for epoch, loss in enumerate(history.get("loss", [])):
        check_finite_logs({"loss": loss, "val_loss": _at(history.get("val_loss"), epoch)}, epoch)
    epochs_run = len(history.get("loss", []))
    if early_stopping and validation is not None and history.get("val_loss"):
        best_epoch = int(np.argmin(history["val_loss"])) + 1
    else:
        best_epoch = epochs_run
    return TrainingResult(
        history=history, best_epoch=best_epoch, epochs_run=epochs_run, engine="keras"
    )


def _early_stopping(patience: int, epochs_per_wait: int):
    """Keras's ``EarlyStopping`` on the validation loss, its wait grown as the engines grow it.

    See :func:`~safekeras.network.budget.required_wait`: before each epoch's
    check the patience is set from the best epoch so far, which is what the
    compiled engines compare the epochs waited with.
    """
    import keras

    from ..budget import required_wait

    class _GrowingWait(keras.callbacks.EarlyStopping):
        def on_epoch_end(self, epoch, logs=None):
            self.patience = required_wait(patience, epochs_per_wait, self.best_epoch + 1)
            super().on_epoch_end(epoch, logs)

    return _GrowingWait(monitor="val_loss", patience=patience, restore_best_weights=True)


def _at(values, index):
    return values[index] if values is not None and index < len(values) else None


def _shuffled_batches(x, y, sample_weight, batch_size: int, seed: int):
    """A dataset of minibatches, reshuffled every epoch with an explicit seed.

    Indices are shuffled and batched, then whole batches are gathered: much
    cheaper than shuffling rows one at a time, and no second copy of the data
    sits in a shuffle buffer.
    """
    import tensorflow as tf

    arrays = (x, y) if sample_weight is None else (x, y, sample_weight)
    tensors = tuple(tf.constant(array) for array in arrays)

    def gather(indices):
        return tuple(tf.gather(tensor, indices) for tensor in tensors)

    return (
        tf.data.Dataset.range(len(x))
        .shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
        .batch(batch_size)
        .map(gather)
        .prefetch(tf.data.AUTOTUNE)
    )
