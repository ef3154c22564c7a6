"""Validating the raw ``X`` and ``sample_weight`` an estimator's ``fit`` or ``predict`` gets.

``X`` comes in one of three kinds (:data:`INPUT_KINDS`), decided once in
``fit`` and recorded as ``input_kind_``:

* ``"table"``: 2-d rows and columns, checked the way the configured
  preprocessor can consume them: numeric only for
  ``preprocessor=None``/``"passthrough"``, any column types otherwise;
* ``"tensor"``: an array of shape ``(n_samples, ...)`` with at least 3
  dimensions (images, series), numeric and finite, channels last;
* ``"tokens"``: a 2-d integer array of non-negative ids for a network that
  starts with an ``Embedding``; never converted to floats.

Column names and counts are checked (and recorded at fit) by scikit-learn's
``validate_data``; its errors become :class:`~safekeras.InputError` with the
fix added. ``n_features_in_`` is ``X.shape[1]`` for every kind.
"""

from __future__ import annotations

import numpy as np
from sklearn.utils.validation import _check_sample_weight, check_array, validate_data

from ..exceptions import InputError, InputTypeError, SafeKerasError
from .preprocessing import as_pandas_frame, is_dataframe
from .tensor_shapes import check_tensor_shape

__all__ = [
    "INPUT_KINDS",
    "checked_array",
    "input_mode",
    "peek_kind",
    "unequal_or_none",
    "validate_features",
    "validated_weights",
]


#: The kinds of ``X`` an estimator is fitted on (``input_kind_``).
INPUT_KINDS = ("table", "tensor", "tokens")


def peek_kind(X) -> str:
    """What ``X`` looks like before validation: "table", "tensor" or "integer_table".

    "integer_table" is a 2-d integer array: token ids when the network starts
    with an ``Embedding`` (the estimator decides), else a table; "float_table"
    a 2-d array of floats. Frames are always tables.
    """
    X = as_pandas_frame(X)
    if is_dataframe(X) or _is_sparse(X):
        return "table"
    try:
        array = X if isinstance(X, np.ndarray) else np.asarray(X)
    except (TypeError, ValueError):  # ragged: the table checks word the error
        return "table"
    if array.ndim >= 3:
        return "tensor"
    if array.ndim == 2 and array.dtype.kind in "iu":
        return "integer_table"
    return "float_table" if array.ndim == 2 and array.dtype.kind == "f" else "table"


def input_mode(preprocessor) -> str:
    """ "numeric" if ``preprocessor`` feeds ``X`` as it is (None, "passthrough"), else "mixed"."""
    if preprocessor is None or (isinstance(preprocessor, str) and preprocessor == "passthrough"):
        return "numeric"
    return "mixed"


def validate_features(estimator, X, *, y=None, reset: bool, kind: str = "table"):
    """Validate X the way ``estimator``'s configured preprocessor can consume it.

    With ``reset=True`` (``fit``) the column names and count are recorded on
    ``estimator``; with ``reset=False`` (predict) they are checked against it.
    ``kind`` is one of :data:`INPUT_KINDS` (see the module docstring).
    """
    if kind != "table":
        return _validate_array_kind(estimator, X, y=y, reset=reset, kind=kind)
    X = as_pandas_frame(X)  # polars, pyarrow...: their column names are checked too
    if _is_sparse(X):
        raise InputTypeError(
            f"{type(estimator).__name__} does not accept sparse input: a dense copy is needed "
            "for the network. Convert with X.toarray(), or reduce the dimension first "
            "(e.g. sklearn.decomposition.TruncatedSVD)."
        )
    mode = input_mode(estimator.preprocessor)
    frame = is_dataframe(X)
    # By its shape attribute: np.ndim would convert a list, or call into an array-like.
    if not frame and not reset and len(getattr(X, "shape", ())) >= 3:
        raise InputError(
            f"{type(estimator).__name__} was fitted on a 2-d table of "
            f"{estimator.n_features_in_} columns, but got an array of shape {X.shape}. "
            "Pass rows shaped as in fit (e.g. X.reshape(len(X), -1) if fit saw flattened rows)."
        )
    if not frame:
        # Arrays are checked first so that 1-d input gets sklearn's "Reshape" advice.
        X = checked_array(X, mode)
    # Frames go in as they are, so their column names are recorded and compared.
    _record_or_check_features(estimator, X, y, reset)
    if frame:
        if mode == "numeric":
            return checked_array(X, mode)
        if len(X) == 0:
            raise InputError("Found array with 0 sample(s); at least 1 is required.")
        if X.shape[1] == 0:
            raise InputError("Found array with 0 feature(s); at least 1 is required.")
    return X


def checked_array(X, mode: str) -> np.ndarray:
    """X as a 2-d array: numeric for "numeric" mode, else any dtype.

    Non-finite values are left for the input schema to report by column name.
    """
    try:
        if mode == "numeric":
            return check_array(X, dtype=[np.float64, np.float32], ensure_all_finite=False)
        X = check_array(X, dtype=None, ensure_all_finite=False)
    except ValueError as exc:
        if isinstance(exc, SafeKerasError):
            raise
        message = str(exc)
        if mode == "numeric" and "convert" in message:
            message += (
                ". With preprocessor=None/'passthrough' every column must be numeric; use "
                "preprocessor='auto' to encode string columns."
            )
        raise InputError(message) from exc
    return X.astype(object) if X.dtype.kind in "USV" else X


def _validate_array_kind(estimator, X, *, y, reset: bool, kind: str) -> np.ndarray:
    """A tensor or token array, checked as ``fit`` needs it (and, at predict, as it saw it)."""
    X = as_pandas_frame(X)
    if is_dataframe(X) or _is_sparse(X):
        raise InputTypeError(
            f"{type(estimator).__name__} was fitted on {_kind_words(kind)} and takes a dense "
            f"numpy array, not a {type(X).__name__}. Pass np.asarray(X) shaped as in fit."
        )
    X = np.asarray(X)
    if not reset:
        # Before scikit-learn's feature count, whose message would name one axis only: this
        # names both shapes and the likely mistake (channels first, flattened, wrong size).
        check_tensor_shape(X.shape, estimator._fitted_input_shape())
    elif (kind == "tokens" and X.ndim != 2) or X.ndim < 2:
        raise InputError(
            f"{type(estimator).__name__} takes {_kind_words(kind)} of shape (n_samples, ...), "
            f"but got an array of shape {X.shape}. Pass an array shaped as in fit (reshape or "
            "add the channel axis, channels last)."
        )
    X = _checked_kind_array(X, kind)
    # Records (fit) or checks (predict) n_features_in_ = X.shape[1]; names never apply.
    _record_or_check_features(estimator, X, y, reset, advice=" Pass samples shaped as in fit.")
    return X


def _record_or_check_features(estimator, X, y, reset: bool, advice: str = "") -> None:
    """scikit-learn's ``validate_data`` (counts and names; the array is checked already).

    Its errors become :class:`~safekeras.InputError`, with the fix added.
    """
    try:
        validate_data(
            estimator, X, y if reset else "no_validation", skip_check_array=True, reset=reset
        )
    except ValueError as exc:
        if isinstance(exc, SafeKerasError):
            raise
        message = str(exc).strip()
        if "same order" in message:
            message += " Select them in training order: X[estimator.feature_names_in_]."
        raise InputError(message + advice) from exc


def _is_sparse(X) -> bool:
    """A scipy sparse matrix or array (anything with ``toarray``): never fed densified silently."""
    return hasattr(X, "toarray") or type(X).__module__.startswith("scipy.sparse")


def _checked_kind_array(X: np.ndarray, kind: str) -> np.ndarray:
    """A numeric, finite tensor, or non-negative integer ids; InputError otherwise."""
    if kind == "tokens":
        if X.dtype.kind not in "iu":
            raise InputError(
                f"Token ids must be integers, but X has dtype {X.dtype}. Pass the ids as an "
                "integer array, e.g. X.astype('int64') once they are whole numbers."
            )
        if X.size and X.min() < 0:
            raise InputError(
                f"Token ids must be non-negative, but X holds {X.min()}. Map unknown tokens "
                "to a reserved id (e.g. 0 or 1) instead of a negative one."
            )
    elif X.dtype.kind not in "biuf":
        raise InputError(
            f"A tensor X must be numeric, but it has dtype {X.dtype}. Convert it, e.g. "
            "X.astype('float32')."
        )
    elif X.dtype.kind in "biu":
        X = X.astype(np.float32)  # networks compute in floats; float32 holds uint8 pixels
    if len(X) == 0:
        raise InputError(f"Found array with 0 sample(s) (shape={X.shape}); at least 1 is required.")
    if X.dtype.kind == "f" and not np.isfinite(X.sum(dtype=np.float64)):
        what = "NaN" if np.isnan(X).any() else "infinity"
        channels = np.flatnonzero(~np.isfinite(X.reshape(-1, X.shape[-1])).all(axis=0))
        raise InputError(
            f"Input X contains {what} (in channel(s) {channels.tolist()} of the last axis). "
            "Tensors are never imputed: replace or drop those samples first."
        )
    return X


def _kind_words(kind: str) -> str:
    return "integer token ids" if kind == "tokens" else "N-dimensional arrays"


def validated_weights(sample_weight, X) -> np.ndarray:
    """Sample weights as a new float64 array (the caller's is never written to)."""
    if sample_weight is not None and np.all(np.asarray(sample_weight) == 0):
        raise InputError(
            "All sample weights are zero; nothing is left to learn from. Give the rows to "
            "learn from a positive weight."
        )
    try:
        weights = _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
    except ValueError as exc:
        raise InputError(f"Invalid sample_weight: {exc}") from exc
    return weights.copy() if weights is sample_weight else weights


def unequal_or_none(sample_weight: np.ndarray) -> np.ndarray | None:
    """The weights, or None when they are all equal (which is the same as no weights)."""
    if np.all(sample_weight == sample_weight[0]):
        return None
    return sample_weight
