"""The Keras layers of an exported model, registered under the package ``"safekeras"``.

:func:`~safekeras.deploy.export.to_keras` builds an exported model from these
layers and Keras's own. They are registered with
``keras.saving.register_keras_serializable`` when this module is imported, which
importing :mod:`safekeras.export` does, so ``keras.saving.load_model`` (safe
mode on) reads an exported ``.keras`` file. They use only ``keras.ops`` and
implement ``get_config``.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from ..exceptions import ExportError

__all__ = [
    "Cast",
    "ChannelScale",
    "ClassProbabilities",
    "LinearShortcut",
    "NumericPreprocess",
    "OneHotColumns",
    "TargetUnscale",
]


@keras.saving.register_keras_serializable(package="safekeras")
class NumericPreprocess(keras.layers.Layer):
    """Median imputation then standardisation, in float64: ``(fill(x) - mean) / scale``.

    The numbers are held as non-trainable weights: TensorFlow's graph optimiser
    turns a division by a constant into a multiplication by its reciprocal,
    one rounding off from what scikit-learn computes; by a weight it does not.

    Parameters
    ----------
    fill, mean, scale : sequence of float
        Per column: the value a NaN takes, and the standardisation.
    positions : sequence of int or None, default=None
        Input columns to read, in output order; None reads them all in order.
    """

    def __init__(self, fill, mean, scale, positions=None, **kwargs):
        kwargs.setdefault("dtype", "float64")
        super().__init__(**kwargs)
        self.fill = [float(v) for v in fill]
        self.mean = [float(v) for v in mean]
        self.scale = [float(v) for v in scale]
        self.positions = None if positions is None else [int(p) for p in positions]
        if not len(self.fill) == len(self.mean) == len(self.scale):
            raise ValueError("fill, mean and scale must have one value per column.")

    def build(self, input_shape):
        self.fill_weight = _constant_weight(self, "fill", self.fill)
        self.mean_weight = _constant_weight(self, "mean", self.mean)
        self.scale_weight = _constant_weight(self, "scale", self.scale)

    def call(self, inputs):
        x = ops.cast(inputs, self.compute_dtype)
        if self.positions is not None:
            x = ops.take(x, np.asarray(self.positions, dtype=np.int32), axis=1)
        # Same operations in the same order as SimpleImputer then StandardScaler. The fill is
        # read as a tensor: JAX's where takes no Keras variable while the layer is traced.
        x = ops.where(ops.isnan(x), ops.convert_to_tensor(self.fill_weight), x)
        return (x - self.mean_weight) / self.scale_weight

    def get_config(self):
        config = super().get_config()
        config.update(fill=self.fill, mean=self.mean, scale=self.scale, positions=self.positions)
        return config


@keras.saving.register_keras_serializable(package="safekeras")
class OneHotColumns(keras.layers.Layer):
    """One-hot block of a categorical column from its ``StringLookup`` indices.

    Parameters
    ----------
    table : sequence of int
        Output column of each lookup index (index 0: unknown values); ``width``
        means no column (the row of the block stays all zeros).
    width : int
        Columns of the block.
    """

    def __init__(self, table, width, **kwargs):
        kwargs.setdefault("dtype", "float64")
        super().__init__(**kwargs)
        self.table = [int(v) for v in table]
        self.width = int(width)
        if any(not 0 <= v <= self.width for v in self.table):
            raise ValueError(f"table entries must lie in [0, {self.width}].")

    def call(self, indices):
        table = ops.convert_to_tensor(np.asarray(self.table, dtype=np.int32))
        columns = ops.take(table, ops.reshape(ops.cast(indices, "int32"), (-1,)))
        # One spare column for "no column", dropped: all zeros on every backend.
        one_hot = ops.one_hot(columns, self.width + 1, dtype=self.compute_dtype)
        return one_hot[:, : self.width]

    def get_config(self):
        config = super().get_config()
        config.update(table=self.table, width=self.width)
        return config


@keras.saving.register_keras_serializable(package="safekeras")
class Cast(keras.layers.Layer):
    """Casts its input to ``target_dtype`` (no autocasting on the way in)."""

    def __init__(self, target_dtype, **kwargs):
        super().__init__(**kwargs)
        self.target_dtype = str(target_dtype)
        self.autocast = False

    def call(self, inputs):
        return ops.cast(inputs, self.target_dtype)

    def compute_output_spec(self, inputs):
        return keras.KerasTensor(inputs.shape, dtype=self.target_dtype)

    def get_config(self):
        config = super().get_config()
        config.update(target_dtype=self.target_dtype)
        return config


@keras.saving.register_keras_serializable(package="safekeras")
class ClassProbabilities(keras.layers.Layer):
    """Network outputs as ``predict_proba`` columns.

    Parameters
    ----------
    mode : {"binary", "normalize"}
        ``"binary"``: a single probability ``p`` becomes ``[1 - p, p]``;
        ``"normalize"``: each row divided by its sum (multiclass).
    """

    def __init__(self, mode, **kwargs):
        kwargs.setdefault("dtype", "float64")
        super().__init__(**kwargs)
        if mode not in ("binary", "normalize"):
            raise ValueError(f"mode must be 'binary' or 'normalize'; got {mode!r}.")
        self.mode = mode

    def call(self, inputs):
        p = ops.cast(inputs, self.compute_dtype)
        if self.mode == "binary":
            return ops.concatenate([1.0 - p, p], axis=-1)
        return p / ops.sum(p, axis=-1, keepdims=True)

    def get_config(self):
        config = super().get_config()
        config.update(mode=self.mode)
        return config


@keras.saving.register_keras_serializable(package="safekeras")
class TargetUnscale(keras.layers.Layer):
    """The regressor's target transform undone, in float64: ``y * scale + mean``.

    ``mean`` and ``scale`` are held as non-trainable weights, as in
    :class:`NumericPreprocess`. ``inverse="expm1"`` then applies
    ``sign(u) * expm1(|u|)``: the inverse of ``target_transform="log1p"``.
    """

    def __init__(self, mean, scale, inverse="identity", **kwargs):
        kwargs.setdefault("dtype", "float64")
        super().__init__(**kwargs)
        if inverse not in ("identity", "expm1"):
            raise ExportError(f"TargetUnscale: unknown inverse {inverse!r}.")
        self.mean = [float(v) for v in mean]
        self.scale = [float(v) for v in scale]
        self.inverse = inverse

    def build(self, input_shape):
        self.mean_weight = _constant_weight(self, "mean", self.mean)
        self.scale_weight = _constant_weight(self, "scale", self.scale)

    def call(self, inputs):
        y = ops.cast(inputs, self.compute_dtype)
        # StandardScaler.inverse_transform: X *= scale_, then X += mean_.
        unscaled = y * self.scale_weight + self.mean_weight
        if self.inverse == "identity":
            return unscaled
        # TargetTransformer's log1p inverse: sign(u) * expm1(|u|).
        return ops.sign(unscaled) * ops.expm1(ops.abs(unscaled))

    def get_config(self):
        config = super().get_config()
        config.update(mean=self.mean, scale=self.scale, inverse=self.inverse)
        return config


class _LinearOfInputs(keras.layers.Layer):
    """A linear model of some input columns, in float64: ``x[:, columns] @ coef + intercept``.

    The shared part of :class:`LinearShortcut` and :class:`LogisticAverage`, which are
    called on ``[x, network outputs]``; the coefficients are non-trainable weights.
    """

    def __init__(self, columns, coef, intercept, **kwargs):
        kwargs.setdefault("dtype", "float64")
        super().__init__(**kwargs)
        self.columns = [int(c) for c in columns]
        self.coef = [[float(v) for v in row] for row in coef]
        self.intercept = [float(v) for v in intercept]
        if len(self.coef) != len(self.columns) or any(
            len(row) != len(self.intercept) for row in self.coef
        ):
            raise ExportError(
                f"{type(self).__name__}: coef must have one row per column, one per output."
            )

    def build(self, input_shape):
        self.coef_weight = _constant_weight(self, "coef", self.coef)
        self.intercept_weight = _constant_weight(self, "intercept", self.intercept)

    def _linear_and_outputs(self, inputs):
        """The linear model of the features, and the network's outputs, both in float64."""
        features, outputs = (ops.cast(part, self.compute_dtype) for part in inputs)
        selected = ops.take(features, self.columns, axis=1)
        return ops.matmul(selected, self.coef_weight) + self.intercept_weight, outputs

    def get_config(self):
        config = super().get_config()
        config.update(columns=self.columns, coef=self.coef, intercept=self.intercept)
        return config


@keras.saving.register_keras_serializable(package="safekeras")
class LinearShortcut(_LinearOfInputs):
    """The regressor's linear baseline added back, in float64: ``x[:, columns] @ coef + b + s * o``.

    What :meth:`~safekeras.network.linear_baseline.LinearBaseline.combine`
    computes from the network's inputs ``x`` and outputs ``o``. Called on
    ``[x, o]``; the coefficients are non-trainable weights.

    Parameters
    ----------
    columns : sequence of int
        The input columns the ridge reads.
    coef : nested sequence of float, shape (len(columns), n_outputs)
    intercept, scale : sequence of float
        One value per output.
    """

    def __init__(self, columns, coef, intercept, scale, **kwargs):
        super().__init__(columns, coef, intercept, **kwargs)
        self.scale = [float(v) for v in scale]

    def build(self, input_shape):
        super().build(input_shape)
        self.scale_weight = _constant_weight(self, "scale", self.scale)

    def call(self, inputs):
        linear, outputs = self._linear_and_outputs(inputs)
        return linear + self.scale_weight * outputs

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


@keras.saving.register_keras_serializable(package="safekeras")
class LogisticAverage(_LinearOfInputs):
    """The classifier's logistic baseline averaged in, in float64.

    What :meth:`~safekeras.network.logistic_baseline.LogisticBaseline.combine`
    computes from the network's inputs ``x`` and probabilities ``p``: the
    sigmoid (one column) or softmax of ``(logit(p) + x[:, columns] @ coef + b) / 2``,
    ``p`` clipped to ``[floor, 1 - floor]``. Called on ``[x, p]``; the
    coefficients are non-trainable weights.

    Parameters
    ----------
    columns : sequence of int
        The input columns the logistic regression reads.
    coef : nested sequence of float, shape (len(columns), n_outputs)
    intercept : sequence of float
        One value per output.
    floor : float
        The clip of the probabilities before their logit.
    """

    def __init__(self, columns, coef, intercept, floor, **kwargs):
        super().__init__(columns, coef, intercept, **kwargs)
        self.floor = float(floor)

    def call(self, inputs):
        linear, probabilities = self._linear_and_outputs(inputs)
        p = ops.clip(probabilities, self.floor, 1.0 - self.floor)
        if len(self.intercept) == 1:
            return ops.sigmoid((ops.log(p) - ops.log1p(-p) + linear) / 2.0)
        return ops.softmax((ops.log(p) + linear) / 2.0, axis=-1)

    def get_config(self):
        return {**super().get_config(), "floor": self.floor}


@keras.saving.register_keras_serializable(package="safekeras")
class ChannelScale(keras.layers.Layer):
    """Per-channel standardisation of a tensor, in float32: ``(x - mean) / scale``.

    What :class:`~safekeras.data.channel_scaling.ChannelScaler` computes, with
    the same float32 operations in the same order; the channel is the last
    axis. ``mean`` and ``scale`` are held as non-trainable weights, as in
    :class:`NumericPreprocess`.

    Parameters
    ----------
    mean, scale : sequence of float
        One value per channel.
    """

    def __init__(self, mean, scale, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.mean = [float(v) for v in mean]
        self.scale = [float(v) for v in scale]
        if len(self.mean) != len(self.scale):
            raise ValueError("mean and scale must have one value per channel.")

    def build(self, input_shape):
        self.mean_weight = _constant_weight(self, "mean", self.mean)
        self.scale_weight = _constant_weight(self, "scale", self.scale)

    def call(self, inputs):
        x = ops.cast(inputs, self.compute_dtype)
        return (x - self.mean_weight) / self.scale_weight

    def get_config(self):
        config = super().get_config()
        config.update(mean=self.mean, scale=self.scale)
        return config


def _constant_weight(layer, name, values):
    """A non-trainable weight of ``layer`` holding ``values`` (a vector or a matrix)."""
    values = np.asarray(values, dtype=layer.variable_dtype)
    weight = layer.add_weight(
        shape=values.shape,
        dtype=layer.variable_dtype,
        initializer="zeros",
        trainable=False,
        name=name,
    )
    weight.assign(values)
    return weight
