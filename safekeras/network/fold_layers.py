"""The Keras classes of :mod:`.stacked`: ``n_folds`` default MLPs as one network.

Imported only when folds are stacked (it imports Keras, which ``import
safekeras`` does not).
"""

from __future__ import annotations

import keras
from keras import ops

__all__ = ["FoldDense", "FoldStack"]


class FoldDense(keras.layers.Layer):
    """The ``Dense`` layer of ``n_folds`` networks: kernels (n_folds, d, h), biases (n_folds, h).

    Every variable has the fold axis first, which is how the engine's whole
    fit keeps each fold's best weights (see :mod:`.engine.tf_fit`).
    """

    def __init__(self, n_folds, units, activation, **kwargs):
        super().__init__(**kwargs)
        self.n_folds, self.units = int(n_folds), int(units)
        self.activation = keras.activations.get(activation)

    def build(self, input_shape):
        shape = (self.n_folds, int(input_shape[-1]), self.units)
        self.kernel = self.add_weight(shape=shape, initializer="zeros", name="kernel")
        self.bias = self.add_weight(
            shape=(self.n_folds, self.units), initializer="zeros", name="bias"
        )

    def fold_outputs(self, parts):
        """The layer's output for each fold's rows (a list of (rows, d) tensors)."""
        # As tensors: JAX's unstack takes no Keras variable.
        kernels = ops.unstack(ops.convert_to_tensor(self.kernel), axis=0)
        biases = ops.unstack(ops.convert_to_tensor(self.bias), axis=0)
        return [
            self.activation(ops.matmul(part, kernel) + bias)
            for part, kernel, bias in zip(parts, kernels, biases, strict=True)
        ]


class FoldStack(keras.Model):
    """``n_folds`` default MLPs as one network over inputs of shape (rows, n_folds, width).

    Parameters
    ----------
    n_folds, width : int
        Folds, and the width of the stacked input rows.
    hidden_units : list of int
    activation : str or callable
        Of the hidden layers.
    dropout, l2 : float
        As the default MLP's (``l2`` on the hidden kernels).
    n_outputs : int
    output_activation : str
    dropouts : list of dict
        ``{"seed": int}`` per hidden layer when ``dropout > 0`` (the folds share one
        dropout layer per depth, each fold drawing its own mask).
    loss : str or dict, default="binary_crossentropy"
        Each fold's loss: a Keras loss name, or a serialised ``keras.losses.Loss``
        (the ensembles of :mod:`.ensemble` train the estimator's own loss).
    """

    def __init__(
        self,
        n_folds,
        width,
        hidden_units,
        activation,
        dropout,
        l2,
        n_outputs,
        output_activation,
        dropouts=(),
        loss="binary_crossentropy",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.n_folds = int(n_folds)
        self._settings = dict(
            n_folds=self.n_folds,
            width=int(width),
            hidden_units=[int(units) for units in hidden_units],
            activation=activation,
            dropout=float(dropout),
            l2=float(l2),
            n_outputs=int(n_outputs),
            output_activation=output_activation,
            # {"seed": ...} entries: the engine's trace key leaves seeds out.
            dropouts=[{"seed": int(entry["seed"])} for entry in dropouts],
            loss=loss,
        )
        self.per_row_loss = _per_row_loss(loss)
        self.hidden = [
            FoldDense(self.n_folds, units, activation, name=f"hidden_{number}")
            for number, units in enumerate(hidden_units, start=1)
        ]
        self.drops = [
            keras.layers.Dropout(dropout, seed=entry["seed"], name=f"dropout_{number}")
            for number, entry in enumerate(dropouts, start=1)
        ]
        # Applied to the stacked logits, so that Keras's cross-entropy on TensorFlow still
        # reads the logits the sigmoid came from, as it does for the folds' own networks.
        self.head = FoldDense(self.n_folds, n_outputs, None, name="output")
        self.output_activation = keras.activations.get(output_activation)
        self.build((None, self.n_folds, int(width)))

    def build(self, input_shape):
        shape = (input_shape[0], input_shape[-1])  # one fold's rows
        for number, layer in enumerate(self.hidden):
            layer.build(shape)
            shape = (shape[0], layer.units)
            if self.drops:
                self.drops[number].build(shape)
        self.head.build(shape)
        self.built = True

    def call(self, x, training=False):
        # One 2-d matmul per fold and layer: TensorFlow's batched 3-d matmul and its
        # gradient cost 4 to 8 times as much on a CPU at these sizes (measured).
        parts = ops.unstack(x, axis=1)
        for number, layer in enumerate(self.hidden):
            parts = layer.fold_outputs(parts)
            if self.drops:
                parts = [self._dropped(self.drops[number], part, training) for part in parts]
        return self.output_activation(ops.stack(self.head.fold_outputs(parts), axis=1))

    @staticmethod
    def _dropped(layer, part, training):
        # The compiled TensorFlow engine trains the folds' own networks with the cheaper
        # masks of .dropout (one seed draw per call, as here): a fold's stack draws alike.
        if training and keras.backend.backend() == "tensorflow":
            from .dropout import training_dropout

            return training_dropout(layer, part)
        return layer(part, training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The folds' losses: their sum in training, one per fold otherwise.

        Fold ``k``'s loss is the one its own network reports: the weighted mean
        of its loss (binary cross-entropy unless told otherwise) over its rows
        of the batch (rows of weight 0 are not its rows), plus the L2 penalty
        of its hidden kernels.
        """
        per_row = self.per_row_loss(y, y_pred)  # (rows, n_folds)
        weights = ops.cast(sample_weight, per_row.dtype)
        rows = ops.sum(ops.cast(weights > 0, per_row.dtype), axis=0)
        per_fold = ops.divide_no_nan(ops.sum(per_row * weights, axis=0), rows)
        l2 = self._settings["l2"]
        if l2 > 0:  # keras.regularizers.L2, per fold
            for layer in self.hidden:
                per_fold = per_fold + l2 * ops.sum(ops.square(layer.kernel), axis=(1, 2))
        return ops.sum(per_fold) if training else per_fold

    def get_config(self):
        return {**self._settings, "name": self.name}


def _per_row_loss(loss):
    """``loss(y, y_pred)`` per row and fold, reduced over the outputs (the last axis) only."""
    from .losses import keras_loss

    if isinstance(loss, dict):
        loss = keras.losses.deserialize(loss)
    loss = keras.losses.get(keras_loss(loss))
    # A Loss object's call() leaves the rows unreduced; its __call__ would average them.
    return loss.call if isinstance(loss, keras.losses.Loss) else loss
