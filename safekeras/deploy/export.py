"""A fitted estimator as one Keras model, preprocessing included, for serving without scikit-learn.

:func:`to_keras` (also ``estimator.to_keras()``) builds a :class:`keras.Model`
that takes the *raw* features and returns what ``predict_proba`` returns (a
regressor: ``predict``) to about 1e-7: the preprocessing computes exactly what
the estimator computes, in float64, and the network runs in its own dtype. It
is built from:

1. the fitted ``"auto"`` preprocessing as layers: median imputation and
   standardisation of numeric columns (:class:`NumericPreprocess`, in float64,
   so that raw values such as 1.7e9 keep their precision), the one-hot encoding
   of categorical columns (:class:`keras.layers.StringLookup`, then
   :class:`OneHotColumns` for the infrequent and unknown categories), and the
   regressor's spline embeddings (:class:`~safekeras.deploy.spline_basis.SplineBasis`,
   to rounding of the fitted ``SplineTransformer``), joined by
   :class:`keras.layers.Concatenate`;
2. a *copy* of the trained network (``keras.models.clone_model`` with the same
   weights): training or editing the exported model never changes the
   estimator;
3. the output mapping: the output activation of a network trained on logits,
   then :class:`ClassProbabilities` (binary: the two columns ``[1 - p, p]``) or
   :class:`TargetUnscale` (the regressor's target standardisation undone).

Inputs
------
* Fitted on numeric data only (an array, or a DataFrame whose columns are all
  numeric): one float64 input named ``"features"`` of shape
  ``(n_samples, n_features_in_)``, the columns in training order; a missing
  value is NaN. Keras's ``model.predict``/``fit``/``evaluate`` cast float64
  arrays to ``floatx`` (float32) first, which rounds large raw values (1.7e9
  to a multiple of 128); ``model.predict_on_batch``, ``model(x)``, a
  ``tf.data.Dataset`` and the SavedModel's ``serve`` keep float64. On JAX,
  float64 needs ``jax_enable_x64`` (``JAX_ENABLE_X64=1``): without it JAX
  computes the float64 layers in float32, which rounds large raw values too.
* Fitted on images or series (``input_kind_ == "tensor"``): one float32 input
  ``"features"`` of the training sample shape, then :class:`ChannelScale`
  (the fitted per-channel scaling) when ``preprocessor="auto"``; on token ids
  (``"tokens"``): one int64 input of shape ``(n_samples, sequence_length)``,
  never scaled.
* Fitted with categorical columns: a dict of inputs, one per raw column, each
  of shape ``(n_samples, 1)``: float64 for numeric columns (NaN when missing),
  string for categorical ones (TensorFlow backend only). A categorical value is
  passed as ``str(value)``, as the estimator reads it (``3`` is ``"3"``,
  ``True`` is ``"True"``), and a missing one as the empty string ``""``, which
  takes the training fill value as NaN does in ``predict_proba`` (unless ``""``
  was a training category of that column: then it stays that category). Inputs are
  named after the columns (``feature_names_in_``; ``x0``, ``x1``, ... for an
  array), with characters other than letters, digits, ``_``, ``.`` and ``-``
  replaced by ``_`` (SavedModel signatures allow no others).

:func:`keras_inputs` turns a DataFrame or array into exactly these inputs.

The custom layers (:mod:`safekeras.deploy.export_layers`) are registered with
Keras under the package ``"safekeras"``:
``import safekeras.export`` before ``keras.saving.load_model`` (safe mode
stays on). A SavedModel written by ``model.export(path)`` needs TensorFlow
only.

What cannot be exported (:class:`~safekeras.exceptions.ExportError`): a
``preprocessor`` other than ``"auto"``, ``"passthrough"`` or None (an
arbitrary scikit-learn transformer has no Keras equivalent), string inputs on
a backend other than TensorFlow, and a network that ``keras.models.clone_model``
cannot copy exactly (e.g. a subclassed model without ``get_config``). The
exported model does not run the estimator's input checks or drift checks, and
returns probabilities, not labels: ``predict`` is the probability of
``pos_label_`` compared with ``threshold_`` (binary), each label's
probability compared with ``threshold_`` (multilabel), or the argmax of the
probabilities times ``class_multipliers_`` (multiclass; not the plain argmax
when ``threshold="auto"`` corrected for the class priors).
"""

from __future__ import annotations

import re

import keras
import numpy as np

from ..network.architecture import embedding_input_dim
from ..network.fitted import input_dtype
from .export_layers import (
    Cast,
    ChannelScale,
    ClassProbabilities,
    LinearShortcut,
    LogisticAverage,
    NumericPreprocess,
    OneHotColumns,
    TargetUnscale,
)
from .spline_basis import SplineBasis, spline_pieces

__all__ = [
    "Cast",
    "ChannelScale",
    "ClassProbabilities",
    "LinearShortcut",
    "LogisticAverage",
    "NumericPreprocess",
    "OneHotColumns",
    "SplineBasis",
    "TargetUnscale",
    "keras_inputs",
    "to_keras",
]

#: Name of the single input of a model fitted on numeric data only.
FEATURES = "features"
#: What a missing categorical value is passed as.
MISSING_CATEGORY = ""
# Names a SavedModel signature and a Keras layer both accept.
_VALID_NAME = re.compile(r"[A-Za-z0-9.][A-Za-z0-9_.\-]*\Z")
_INVALID_CHARACTERS = re.compile(r"[^A-Za-z0-9_.\-]")
# Rows of the probe that checks the network's copy against the original.
_PROBE_ROWS = 4


# -- export -----------------------------------------------------------------------


def to_keras(estimator):
    """One Keras model computing ``predict_proba`` (``predict``) of ``estimator`` from raw input.

    See the module docstring for the inputs and outputs. String inputs
    (categorical columns) need the TensorFlow backend.

    Parameters
    ----------
    estimator : SafeKerasClassifier or SafeKerasRegressor
        A fitted estimator with ``preprocessor="auto"``, ``"passthrough"`` or
        None.

    Returns
    -------
    keras.Model
        Outputs of shape ``(n_samples, n_classes)`` (probabilities in
        ``classes_`` order, two columns for a binary target) or
        ``(n_samples, n_targets)`` (a regressor, also ``(n_samples, 1)`` for
        one target where ``predict`` returns ``(n_samples,)``), float64.

    Raises
    ------
    NotFittedError
        The estimator is not fitted.
    ExportError
        A part of the fitted pipeline has no Keras equivalent.

    Notes
    -----
    The model has been called once (on a row of missing values), as Keras's
    ``model.export(path, format="onnx")`` requires; the call changes nothing
    in it. With numeric inputs only, that export runs in ONNX Runtime. With
    categorical columns it keeps TensorFlow lookup tables that ONNX Runtime
    refuses: export a SavedModel (``model.export(path)``) and convert it with
    ``python -m tf2onnx.convert --saved-model path --output model.onnx``.
    """
    from ..exceptions import ExportError, NotFittedError

    if not (hasattr(estimator, "__sklearn_is_fitted__") and estimator.__sklearn_is_fitted__()):
        raise NotFittedError(
            f"This {type(estimator).__name__} instance is not fitted yet. Call 'fit' before "
            "to_keras()."
        )
    plan = estimator._preprocessing_plan()
    kind = getattr(estimator, "input_kind_", "table")
    if kind != "table" and _is_channel_scaler(estimator.preprocessor_):
        plan = None  # exported as its own layer
    elif estimator.preprocessor_ is not None and plan is None:
        raise ExportError(
            f"The fitted preprocessor ({type(estimator.preprocessor_).__name__}) cannot be "
            "exported: only the 'auto' preprocessor (imputation, scaling, one-hot encoding) has "
            "a Keras equivalent. Use preprocessor='auto' or None, or export the network alone "
            "with est.model_ and run the preprocessor with scikit-learn."
        )
    network = estimator.model_
    names = _Names()
    if kind != "table":
        inputs, features = _array_inputs(estimator, kind, names)
    elif plan is None or not plan.categorical:
        inputs, features = _numeric_inputs(estimator, plan, names)
    else:
        if keras.backend.backend() != "tensorflow":
            raise ExportError(
                "The estimator has categorical columns, whose export takes string inputs; "
                f"Keras string tensors need the TensorFlow backend (this is "
                f"{keras.backend.backend()!r}). Set KERAS_BACKEND=tensorflow before importing "
                "keras, or encode the categories as numbers before fitting."
            )
        inputs, features = _mixed_inputs(estimator, plan, names)
    network_name = names.take(network.name)
    copy = _copy_network(network, network_name, ExportError)
    x = Cast(input_dtype(network), name=names.take("cast_features"))(features)
    outputs = Cast("float64", name=names.take("cast_outputs"))(copy(x))
    fitted_network = estimator.pipeline_.named_steps["network"]
    activation = fitted_network.logits_activation
    if activation is not None:
        outputs = keras.layers.Activation(
            activation, dtype="float64", name=names.take(f"{activation}_of_logits")
        )(outputs)
    baseline = fitted_network.linear_baseline
    if baseline is not None:  # it reads the inputs as the network read them
        outputs = _baseline_layer(baseline, names.take("linear_baseline"))([x, outputs])
    outputs = _output_mapping(estimator, outputs, names)
    model = keras.Model(inputs, outputs, name=f"exported_{type(estimator).__name__}")
    _copy_weights(network, copy, tuple(features.shape[1:]), ExportError)
    _call_once(model)
    return model


def _baseline_layer(baseline, name: str):
    """The layer that applies ``baseline.combine`` (after the activation, as ``predict``)."""
    from ..network.logistic_baseline import PROBABILITY_FLOOR, LogisticBaseline

    columns = range(baseline.n_features_in_) if baseline.columns is None else baseline.columns
    if isinstance(baseline, LogisticBaseline):
        return LogisticAverage(
            columns, baseline.coef_, baseline.intercept_, PROBABILITY_FLOOR, name=name
        )
    return LinearShortcut(columns, baseline.coef_, baseline.intercept_, baseline.scale_, name=name)


def keras_inputs(model, X):
    """``X`` as the inputs of an exported model: an array or a dict of columns.

    Numeric columns become float64 arrays with NaN where missing (``None``,
    ``pandas.NA``); categorical ones become string tensors of ``str(value)``,
    ``""`` where missing (``tf.string`` tensors, because Keras's ``predict``
    and ``fit`` refuse numpy string arrays); each of shape ``(n_samples, 1)``.

    Parameters
    ----------
    model : keras.Model
        A model returned by :func:`to_keras` (or loaded from one).
    X : DataFrame or array of shape (n_samples, n_features) or (n_samples, ...)
        Raw features, as given to the estimator's ``predict_proba`` (images,
        series and token ids as arrays of the training sample shape).

    Returns
    -------
    ndarray or dict of ndarray
    """
    if not isinstance(model.input, dict):
        dtype = str(model.inputs[0].dtype)  # float32 images and series, int64 token ids
        return _as_float64(X) if dtype == "float64" else np.asarray(X, dtype=dtype)
    columns = _columns_by_name(X)
    inputs = {}
    for tensor in model.inputs:
        if tensor.name not in columns:
            from ..exceptions import InputError

            raise InputError(
                f"X has no column for the model input {tensor.name!r}; the model takes "
                f"{[t.name for t in model.inputs]}."
            )
        column = columns[tensor.name]
        if tensor.dtype == "string":
            import tensorflow as tf  # string inputs exist on the TensorFlow backend only

            inputs[tensor.name] = tf.constant(_as_strings(column))
        else:
            inputs[tensor.name] = _as_float64(column)
    return inputs


# -- helpers ----------------------------------------------------------------------


class _Names:
    """Unique layer names: a name already taken gets a numbered suffix."""

    def __init__(self):
        self.taken = set()

    def take(self, name: str) -> str:
        candidate, k = name, 1
        while candidate in self.taken:
            k += 1
            candidate = f"{name}_{k}"
        self.taken.add(candidate)
        return candidate


def _input_name(column) -> str:
    """A column's name as a Keras input and SavedModel signature accept it."""
    name = str(column)
    if _VALID_NAME.match(name):
        return name
    name = _INVALID_CHARACTERS.sub("_", name)
    return name if _VALID_NAME.match(name) else f"x{name}"


def _raw_column_names(n_columns, feature_names) -> list:
    if feature_names is None:
        return [f"x{j}" for j in range(n_columns)]
    return [str(name) for name in feature_names]


def _numeric_inputs(estimator, plan, names):
    """The one float64 input of numeric data, and the preprocessed features (float64)."""
    inputs = keras.Input((estimator.n_features_in_,), dtype="float64", name=names.take(FEATURES))
    if plan is None:
        return inputs, inputs
    identity = list(plan.numeric_positions) == list(range(estimator.n_features_in_))
    features = NumericPreprocess(
        plan.fill,
        plan.mean,
        plan.scale,
        positions=None if identity else plan.numeric_positions,
        name=names.take("numeric_preprocess"),
    )(inputs)
    if plan.splines is None:
        return inputs, features
    embedded = _spline_layer(plan.splines, names, plan.splines.positions)(inputs)
    return inputs, keras.layers.Concatenate(dtype="float64", name=names.take("features"))(
        [features, embedded]
    )


def _mixed_inputs(estimator, plan, names):
    """The dict of per-column inputs and the preprocessed features (float64)."""
    schema = estimator.input_schema_
    raw = _raw_column_names(len(schema.columns), getattr(estimator, "feature_names_in_", None))
    input_names = [names.take(_input_name(name)) for name in raw]
    kinds = [profile.kind for profile in schema.columns]
    inputs = {
        name: keras.Input((1,), dtype="float64" if kind == "numeric" else "string", name=name)
        for name, kind in zip(input_names, kinds, strict=True)
    }
    blocks = []
    if plan.numeric_positions:
        numeric = _joined([inputs[input_names[p]] for p in plan.numeric_positions], names)
        blocks.append(
            NumericPreprocess(
                plan.fill, plan.mean, plan.scale, name=names.take("numeric_preprocess")
            )(numeric)
        )
    for encoding in plan.categorical:
        name = input_names[encoding.position]
        vocabulary, table = _lookup_table(encoding)
        lookup = keras.layers.StringLookup(
            vocabulary=vocabulary,
            num_oov_indices=1,
            oov_token=_unused_token(vocabulary),
            mask_token=None,
            output_mode="int",
            name=names.take(f"{name}_lookup"),
        )
        blocks.append(
            OneHotColumns(table, encoding.width, name=names.take(f"{name}_one_hot"))(
                lookup(inputs[name])
            )
        )
    if plan.splines is not None:
        embedded = _joined([inputs[input_names[p]] for p in plan.splines.positions], names)
        blocks.append(_spline_layer(plan.splines, names)(embedded))
    if len(blocks) == 1:
        return inputs, blocks[0]
    return inputs, keras.layers.Concatenate(dtype="float64", name=names.take("features"))(blocks)


def _joined(columns: list, names):
    """One-column inputs side by side (float64), or the input itself when there is one."""
    if len(columns) == 1:
        return columns[0]
    return keras.layers.Concatenate(dtype="float64", name=names.take("numeric_columns"))(columns)


def _spline_layer(embedding, names, positions=None) -> SplineBasis:
    """The :class:`SplineBasis` of the plan's spline embeddings, reading ``positions``."""
    return SplineBasis(
        **spline_pieces(embedding.splines, embedding.fill),
        positions=positions,
        name=names.take("spline_embeddings"),
    )


def _lookup_table(encoding):
    """StringLookup vocabulary of a categorical column, and each index's output column.

    Index 0 is an unknown value: the infrequent column, or none (``width``).
    The empty string stands for a missing value and takes the fill's column,
    unless it was a training category itself.
    """
    none = encoding.width
    default = none if encoding.default_column is None else encoding.default_column
    column = {category: j for j, category in enumerate(encoding.categories)}
    column.update(dict.fromkeys(encoding.infrequent, default))
    vocabulary = list(column)
    table = [default, *column.values()]
    if MISSING_CATEGORY not in column:
        vocabulary.append(MISSING_CATEGORY)
        table.append(column.get(encoding.fill, default))
    return vocabulary, table


def _unused_token(vocabulary) -> str:
    token = "[UNK]"
    while token in vocabulary:
        token = f"[{token}]"
    return token


def _copy_network(network, name, error):
    """A copy of the network's architecture (weights set once it is built)."""
    try:
        copy = keras.models.clone_model(network)
    except Exception as exc:
        raise error(
            f"The network ({type(network).__name__} {network.name!r}) cannot be copied with "
            f"keras.models.clone_model: {exc}. Give a subclassed model get_config/from_config, "
            "or export the network alone with est.model_ and run the preprocessing yourself."
        ) from exc
    copy.name = name
    return copy


def _array_inputs(estimator, kind: str, names):
    """The input of a model fitted on a tensor or token ids, and what the network gets from it.

    A tensor enters as float32 of the training sample shape (the estimator
    casts to float32 before its :class:`ChannelScale`, as the scaler does);
    token ids enter as int64 and reach the network unscaled.
    """
    shape = tuple(estimator._fitted_input_shape())
    dtype = "int64" if kind == "tokens" else "float32"
    inputs = keras.Input(shape, dtype=dtype, name=names.take(FEATURES))
    scaler = estimator.preprocessor_
    if scaler is None:
        return inputs, inputs
    features = ChannelScale(scaler.mean_, scaler.scale_, name=names.take("channel_scale"))(inputs)
    return inputs, features


def _is_channel_scaler(preprocessor) -> bool:
    # By name: deploy never imports the data stage's classes it may be handed (type_names.py).
    return type(preprocessor).__name__ == "ChannelScaler" and hasattr(preprocessor, "mean_")


def _probe(network, sample_shape: tuple) -> np.ndarray:
    """A few random samples the network takes: ids below the Embedding's input_dim, or normals."""
    rng = np.random.default_rng(0)
    input_dim = embedding_input_dim(network) if len(sample_shape) == 1 else None
    if input_dim is not None:
        return rng.integers(0, input_dim, (_PROBE_ROWS, *sample_shape)).astype(input_dtype(network))
    return rng.standard_normal((_PROBE_ROWS, *sample_shape)).astype(input_dtype(network))


def _copy_weights(network, copy, sample_shape, error):
    """Give the built copy the network's weights and check that it computes the same."""
    try:
        copy.set_weights(network.get_weights())
    except Exception as exc:
        raise error(
            f"The copy of the network ({network.name!r}) does not hold the same weights as the "
            f"original: {exc}. Export the network alone with est.model_."
        ) from exc
    probe = _probe(network, sample_shape)
    expected = keras.ops.convert_to_numpy(network(probe, training=False))
    got = keras.ops.convert_to_numpy(copy(probe, training=False))
    if not np.allclose(got, expected, rtol=1e-5, atol=1e-6, equal_nan=True):
        raise error(
            f"The copy of the network ({network.name!r}) made by keras.models.clone_model "
            "computes other outputs than the original (a layer whose get_config misses part "
            "of its state?). Export the network alone with est.model_."
        )


def _call_once(model) -> None:
    """Call ``model`` on one row of missing values, so that Keras counts it as called.

    ``model.export(format="onnx")`` refuses a model that was never called
    ("The model provided has never called"), although a functional model is
    built. Calling it computes nothing it keeps: the outputs and weights stay
    as they are. Every value is passed as a NumPy array (Keras refuses a dict
    mixing tensors and arrays).
    """
    if isinstance(model.input, dict):
        probe = {
            tensor.name: np.array([[MISSING_CATEGORY]])
            if tensor.dtype == "string"
            else np.full((1, 1), np.nan)
            for tensor in model.inputs
        }
    else:
        tensor = model.inputs[0]
        # NaN where the input is float; id 0 (always a valid one) for token ids.
        fill = 0 if "int" in str(tensor.dtype) else np.nan
        probe = np.full((1, *tensor.shape[1:]), fill, dtype=str(tensor.dtype))
    model(probe, training=False)


def _output_mapping(estimator, outputs, names):
    target_type = estimator.target_type_
    if target_type in ("continuous", "continuous-multioutput"):
        transform = estimator.target_scaler_
        # A TargetTransformer; a StandardScaler itself in fits from before target_transform.
        scaler = getattr(transform, "scaler_", transform)
        inverse = "expm1" if getattr(transform, "method", "standard") == "log1p" else "identity"
        width = outputs.shape[-1]
        mean = scaler.mean_ if scaler.with_mean else np.zeros(width)
        scale = scaler.scale_ if scaler.with_std and scaler.scale_ is not None else np.ones(width)
        unscale = TargetUnscale(mean, scale, inverse, name=names.take("target_unscale"))
        return unscale(outputs)
    if target_type == "multilabel-indicator":
        return outputs
    mode = "binary" if target_type == "binary" and outputs.shape[-1] == 1 else "normalize"
    return ClassProbabilities(mode, name=names.take("probabilities"))(outputs)


def _columns_by_name(X) -> dict:
    """Each column of ``X`` under the name its model input has."""
    from ..data.preprocessing import is_dataframe

    if is_dataframe(X):
        raw = list(X.columns) if all(isinstance(c, str) for c in X.columns) else None
        keys = _raw_column_names(X.shape[1], raw)
        names = _Names()
        return {names.take(_input_name(k)): X.iloc[:, [j]] for j, k in enumerate(keys)}
    X = np.asarray(X)
    return {f"x{j}": X[:, [j]] for j in range(X.shape[1])}


def _as_float64(X) -> np.ndarray:
    """Numeric columns as the estimator reads them (missing values as NaN)."""
    from ..data.preprocessing import _as_float

    return _as_float(X)


def _as_strings(X) -> np.ndarray:
    """Categorical columns as the estimator reads them, MISSING_CATEGORY where missing."""
    from ..data.preprocessing import as_categories

    values = as_categories(X)  # strings, NaN where missing
    missing = np.array([not isinstance(v, str) for v in values.ravel()], dtype=bool)
    values[missing.reshape(values.shape)] = MISSING_CATEGORY
    return values.astype(str)
