"""Checks that raise on values no network can take, and how their messages name columns.

:func:`check_finite` refuses infinite values (and NaN where nothing imputes
it); :func:`check_representable` refuses numbers beyond the range of the
network's dtype, which would turn infinite when cast. Both name the columns
concerned; :func:`_shown` and :func:`_fmt` word those names and numbers for
every input message (also :mod:`safekeras.data.drift`'s findings).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

from ..exceptions import InputError

__all__ = ["check_finite", "check_representable"]

#: Columns named in a message before "and N more".
_NAMES_SHOWN = 5


def check_finite(values: np.ndarray, names: Sequence, *, allow_nan: bool) -> None:
    """Raise :class:`InputError` naming the columns of ``values`` that hold inf (or NaN).

    Parameters
    ----------
    values : ndarray of shape (n_samples, n_columns), float
    names : sequence
        The columns' names or positions, for the message.
    allow_nan : bool
        Whether NaN (a missing value the preprocessor imputes) is allowed.
    """
    if values.size == 0 or np.isfinite(values.sum()):
        return  # the common case, in one pass
    infinite = np.isinf(values).any(axis=0)
    if infinite.any():
        raise InputError(
            f"Input X contains infinity in {_shown(_labels(names, infinite))}. Replace infinite "
            "values (e.g. with NaN, which preprocessor='auto' imputes) or clip them."
        )
    missing = np.isnan(values).any(axis=0)
    if not allow_nan and missing.any():
        raise InputError(
            f"Input X contains NaN in {_shown(_labels(names, missing))}. With "
            "preprocessor=None/'passthrough' the network needs every value; use "
            "preprocessor='auto' (which imputes missing values) or impute them first."
        )


def check_representable(values: np.ndarray, names, dtype, *, preprocessed=False) -> None:
    """Raise :class:`InputError` naming the columns of ``values`` that overflow ``dtype``.

    A number beyond the largest finite value of the network's dtype (about
    3.4e38 for float32) becomes infinite when cast, and NaN a layer later:
    the prediction would be NaN, or a label read from NaN. Missing values
    (NaN) are left to the other checks.

    Parameters
    ----------
    values : ndarray of shape (n_samples, n_columns), float
    names : sequence or callable
        The columns' names or positions, for the message, or a function
        returning them (called only when a column is flagged).
    dtype : str or numpy dtype
        The dtype the values are about to be cast to.
    preprocessed : bool, default=False
        Whether ``values`` are the preprocessing's output (what enters the
        network) rather than the raw features; only the message differs.
    """
    try:
        dtype = np.dtype(dtype)
    except TypeError:  # a dtype numpy does not know (bfloat16): the output check remains
        return
    if values.dtype.kind != "f" or dtype.kind != "f" or values.size == 0:
        return
    if dtype.itemsize >= values.dtype.itemsize:
        return  # nothing the cast can overflow (float64 into float64)
    limit = _largest(dtype)
    # fmax/fmin skip NaN: one vectorised pass each, about a microsecond for a row.
    flat = values.ravel()
    if np.fmax.reduce(flat) <= limit and np.fmin.reduce(flat) >= -limit:
        return
    beyond = np.abs(values) > limit  # NaN compares False
    flagged = beyond.any(axis=0)
    if not flagged.any():
        return  # every value missing
    example = values[beyond][0]
    columns = _shown(_labels(names() if callable(names) else names, flagged))
    if preprocessed:
        what = "The preprocessed features that enter the network hold"
        cause = (
            "The fitted preprocessing maps values far outside the training range this far: "
            "check those rows for a unit error or a sentinel value"
        )
    else:
        what = "Input X holds"
        cause = "Check those rows for a unit error or a sentinel value (e.g. 1e39 for unknown)"
    raise InputError(
        f"{what} numbers beyond the range of {dtype.name}, the network's dtype (largest "
        f"{_fmt(limit)}; e.g. {_fmt(example)}), in {columns}: they would become infinite and "
        f"the prediction NaN. {cause}; replace them with NaN (which preprocessor='auto' "
        "imputes), rescale the column (e.g. a log or another unit), or build the network in "
        "float64."
    )


@functools.cache
def _largest(dtype: np.dtype) -> float:
    return float(np.finfo(dtype).max)


def _labels(names, mask) -> list[str]:
    chosen = [name for name, flagged in zip(names, mask, strict=True) if flagged]
    return [repr(n) if isinstance(n, str) else f"column {n}" for n in chosen]


def _shown(labels) -> str:
    labels = [str(label) for label in labels]
    if len(labels) <= _NAMES_SHOWN:
        return ", ".join(labels)
    return f"{', '.join(labels[:_NAMES_SHOWN])} and {len(labels) - _NAMES_SHOWN} more"


def _fmt(value: float) -> str:
    return f"{value:.3g}"
