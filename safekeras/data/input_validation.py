"""Validating the raw ``X`` and ``sample_weight`` an estimator's ``fit`` or ``predict`` gets.

``X`` is checked the way the configured preprocessor can consume it: numeric
only for ``preprocessor=None``/``"passthrough"``, any column types otherwise.
Column names and counts are checked (and recorded at fit) by scikit-learn's
``validate_data``; its errors become :class:`~safekeras.InputError` with the
fix added.
"""

from __future__ import annotations

import numpy as np
from sklearn.utils.validation import _check_sample_weight, check_array, validate_data

from ..exceptions import InputError, InputTypeError, SafeKerasError
from .preprocessing import as_pandas_frame, is_dataframe

__all__ = [
    "checked_array",
    "input_mode",
    "unequal_or_none",
    "validate_features",
    "validated_weights",
]


def input_mode(preprocessor) -> str:
    """ "numeric" if ``preprocessor`` feeds ``X`` as it is (None, "passthrough"), else "mixed"."""
    if preprocessor is None or (isinstance(preprocessor, str) and preprocessor == "passthrough"):
        return "numeric"
    return "mixed"


def validate_features(estimator, X, *, y=None, reset: bool):
    """Validate X the way ``estimator``'s configured preprocessor can consume it.

    With ``reset=True`` (``fit``) the column names and count are recorded on
    ``estimator``; with ``reset=False`` (predict) they are checked against it.
    """
    X = as_pandas_frame(X)  # polars, pyarrow...: their column names are checked too
    if hasattr(X, "toarray") or type(X).__module__.startswith("scipy.sparse"):
        raise InputTypeError(
            f"{type(estimator).__name__} does not accept sparse input: a dense copy is needed "
            "for the network. Convert with X.toarray(), or reduce the dimension first "
            "(e.g. sklearn.decomposition.TruncatedSVD)."
        )
    mode = input_mode(estimator.preprocessor)
    frame = is_dataframe(X)
    if not frame:
        # Arrays are checked first so that 1-d input gets sklearn's "Reshape" advice.
        X = checked_array(X, mode)
    # Frames go in as they are, so their column names are recorded and compared.
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
        raise InputError(message) from exc
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
