"""Whole epochs as one ``tf.function`` (TensorFlow backend).

One call shuffles the row indices with a stateless, seeded shuffle, then
loops over the batches in the graph: gather the batch, run the network with
``training=True`` under a ``GradientTape``, compute the loss exactly as
``model.fit`` does (``model.compute_loss``: the compiled loss with sample
weights plus the layers' regularisation losses, scaled by the optimizer for
mixed precision) and apply the optimizer. The last batch is the remainder,
as under ``model.fit``. Only public Keras 3 APIs are used: the network's
``__call__``, ``compute_loss`` and ``optimizer.apply``.
"""

from __future__ import annotations

from .shared import VALIDATION_CHUNK, build_training_state, chunks

__all__ = ["TensorFlowEpochs"]


class TensorFlowEpochs:
    """Epoch runner for the TensorFlow backend.

    Parameters
    ----------
    network : keras.Model
        Compiled, built network; trained in place.
    x, y : ndarray
        Training inputs and encoded targets.
    sample_weight : ndarray or None
        Training weights (None: all equal).
    validation : tuple (x, y, sample_weight or None) or None
        Split whose loss is measured after every epoch.
    batch_size : int
        Rows per optimizer step.
    shuffle_seed : int
        Seed of the per-epoch shuffles (epoch ``e`` uses ``(shuffle_seed, e)``).
    """

    def __init__(self, network, *, x, y, sample_weight, validation, batch_size, shuffle_seed):
        import tensorflow as tf

        build_training_state(network, x, y, sample_weight)
        self._network = network
        self._seed = int(shuffle_seed)
        self._batch_size = int(min(batch_size, len(x)))
        self.steps_per_epoch = -(-len(x) // self._batch_size)
        self._train = _as_tensors(x, y, sample_weight)
        self._validation = (
            []
            if validation is None
            else [_as_tensors(*part) for part in chunks(*validation, size=VALIDATION_CHUNK)]
        )
        self._n_validation = 0 if validation is None else len(validation[0])
        self._epoch_function = tf.function(self._epoch)
        self._loss_function = tf.function(self._loss, reduce_retracing=True)

    # -- the compiled functions --------------------------------------------------

    def _epoch(self, x, y, sample_weight, seed):
        import tensorflow as tf

        network = self._network
        optimizer = network.optimizer
        n_rows = tf.shape(x, out_type=tf.int64)[0]
        order = tf.random.experimental.stateless_shuffle(tf.range(n_rows), seed=seed)
        batch_size = tf.constant(self._batch_size, tf.int64)
        total = tf.constant(0.0, tf.float64)
        for step in tf.range(self.steps_per_epoch, dtype=tf.int64):
            rows = order[step * batch_size : tf.minimum((step + 1) * batch_size, n_rows)]
            x_batch, y_batch = tf.gather(x, rows), tf.gather(y, rows)
            w_batch = None if sample_weight is None else tf.gather(sample_weight, rows)
            with tf.GradientTape() as tape:
                y_pred = network(x_batch, training=True)
                loss = network.compute_loss(x_batch, y_batch, y_pred, w_batch, training=True)
                scaled = optimizer.scale_loss(loss)
            variables = network.trainable_variables
            optimizer.apply(tape.gradient(scaled, variables), variables)
            size = tf.cast(tf.shape(rows)[0], tf.float64)
            total += tf.cast(loss, tf.float64) * size
        return total / tf.cast(n_rows, tf.float64)

    def _loss(self, x, y, sample_weight):
        network = self._network
        y_pred = network(x, training=False)
        return network.compute_loss(x, y, y_pred, sample_weight, training=False)

    # -- the runner protocol (see loop.run_epochs) -------------------------------

    def train_epoch(self, epoch: int) -> float:
        """Run one epoch; its mean training loss, as ``model.fit`` logs it."""
        import tensorflow as tf

        seed = tf.constant([self._seed, epoch], tf.int64)
        return float(self._epoch_function(*self._train, seed))

    def validation_loss(self) -> float:
        """Loss on the validation split (weighted mean over its rows)."""
        total = sum(
            float(self._loss_function(*part)) * int(part[0].shape[0]) for part in self._validation
        )
        return total / self._n_validation

    def snapshot(self) -> list:
        return self._network.get_weights()

    def restore(self, state: list) -> None:
        self._network.set_weights(state)

    def to_network(self) -> None:
        """Nothing to do: TensorFlow trains the network's own variables."""

    def from_network(self) -> None:
        """Nothing to do: TensorFlow trains the network's own variables."""


def _as_tensors(x, y, sample_weight):
    """The arrays as tensors on the default device, copied there once per fit, not per epoch."""
    import tensorflow as tf

    def on_device(array):
        return None if array is None else tf.identity(tf.convert_to_tensor(array))

    return on_device(x), on_device(y), on_device(sample_weight)
