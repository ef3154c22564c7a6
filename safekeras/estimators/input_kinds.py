"""How ``fit`` reads ``X``: a table, a tensor (images, series) or token ids.

The kind is decided once, in the first ``fit``, from ``X`` and the network
(:func:`decide_kind`), and recorded as ``input_kind_``; a continued fit and
every predict read ``X`` the same way. Each kind has its schema (the drift
guard): :class:`~safekeras.data.schema.InputSchema` for tables,
:class:`~safekeras.data.tensor_schema.TensorSchema` and
:class:`~safekeras.data.tensor_schema.TokenSchema` for the others.
"""

from __future__ import annotations

from ..data import input_validation
from ..data.schema import InputSchema
from ..data.tensor_schema import TensorSchema, TokenSchema
from ..exceptions import InputError, ModelSpecError
from ..network import architecture

__all__ = [
    "check_default_network",
    "check_network_takes",
    "decide_kind",
    "fitted_kind",
    "schema_for",
]


def decide_kind(estimator, X, y) -> str:
    """``"table"``, ``"tensor"`` or ``"tokens"`` for a first fit on ``X``.

    A 2-d integer array is read as token ids when the network's first
    weight-carrying layer is an ``Embedding``. To know that of a callable
    ``model(meta)``, it is called once more, with the ``meta`` the real build
    gets, and the network it returns is discarded.
    """
    peeked = input_validation.peek_kind(X)
    if peeked == "float_table":
        _check_no_float_ids(estimator)
    if peeked != "integer_table" or estimator.model is None:
        return "tensor" if peeked == "tensor" else "table"
    return "tokens" if _embedding_dim_of_user_model(estimator, X, y) is not None else "table"


def _check_no_float_ids(estimator) -> None:
    """InputError when an Embedding network would get token ids as floats, scaled as numbers."""
    import keras

    model, preprocessor = estimator.model, estimator.preprocessor
    auto = isinstance(preprocessor, str) and preprocessor == "auto"
    if auto and isinstance(model, keras.Model) and architecture.embedding_input_dim(model):
        raise InputError(
            "The network starts with an Embedding, which reads token ids, but X holds floats: "
            "preprocessor='auto' would scale them as numbers. Pass the ids as integers "
            "(X.astype('int64')), which safekeras never scales."
        )


def fitted_kind(estimator) -> str:
    """The kind a fitted estimator reads (``"table"`` for one fitted before kinds existed)."""
    return getattr(estimator, "input_kind_", "table")


def _embedding_dim_of_user_model(estimator, X, y) -> int | None:
    import keras

    model = estimator.model
    if isinstance(model, keras.Model):
        return architecture.embedding_input_dim(model)
    spec, _ = estimator._target_spec(y)
    width = len(X[0]) if len(X) else 0
    built = model(architecture.make_meta(spec, width, (width,)))
    return architecture.embedding_input_dim(built) if isinstance(built, keras.Model) else None


def schema_for(kind: str, X, *, numeric_only: bool, feature_names):
    """The input schema ``fit`` profiles from the validated training ``X``."""
    if kind == "tensor":
        return TensorSchema.from_training(X)
    if kind == "tokens":
        return TokenSchema.from_training(X)
    return InputSchema.from_training(X, numeric_only=numeric_only, feature_names=feature_names)


def check_default_network(kind: str, model, X_shape: tuple) -> None:
    """ModelSpecError when the default (tabular) MLP would get images or sequences."""
    if kind == "tensor" and model is None:
        raise ModelSpecError(
            f"X has shape {X_shape}: samples of shape {X_shape[1:]}, but the default network "
            "(model=None) is a multi-layer perceptron for tables of shape (n_samples, "
            "n_features). Flatten X (X.reshape(len(X), -1)) to use it, or pass a network "
            "whose input takes shape X.shape[1:] (e.g. keras.Input(shape=X.shape[1:]) and "
            "Conv2D layers) as model=."
        )


def check_network_takes(kind: str, network, x_train) -> None:
    """ModelSpecError when a user network's declared input does not take ``x_train``'s samples."""
    if kind != "table":
        architecture.check_input_shape(network, tuple(x_train.shape[1:]), kind)
        return
    declared = architecture.declared_input_shape(network)
    if declared is not None and len(declared) > 1:
        # Keras would add a missing trailing axis itself and train on the table as a
        # sequence, with the table's per-column scaling: refuse instead of guessing.
        raise ModelSpecError(
            f"The network's input takes samples of shape {declared}, but X is a 2-d table: "
            f"rows of {x_train.shape[1]} column(s) after preprocessing. Pass X shaped as the "
            "network reads it (e.g. X.reshape(len(X), *shape), channels last), or declare "
            f"keras.Input(shape=({x_train.shape[1]},)) for a table."
        )
