"""Reading N-dimensional batches: the shape, dtype and value checks that raise, and row statistics.

:mod:`safekeras.data.tensor_schema` compares a batch with what ``fit`` saw;
this module holds what it needs to read one: the array itself
(:func:`numeric_array`), the shape checks whose messages name the expected
and the given shape and the likely mistake (a channels-first batch, a wrong
channel count, a wrong image size, a flattened batch), NaN and infinity named
by channel, and each row's per-channel statistics (:func:`row_statistics`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ..exceptions import InputError
from .value_checks import _fmt, _shown

__all__ = [
    "InputPart",
    "RowStatistics",
    "TensorBatch",
    "check_finite_channels",
    "check_tensor_shape",
    "check_token_ids",
    "check_token_shape",
    "check_training_shape",
    "numeric_array",
    "raise_unrepresentable",
    "row_statistics",
]

#: Values per channel read at once by :func:`row_statistics`: bounds the float64 copy it makes.
_CHUNK_VALUES = 1 << 20


@dataclass(frozen=True)
class InputPart:
    """One channel (tensors) or position (tokens), as messages name it.

    Attributes
    ----------
    name : str
        E.g. ``"channel 0"`` or ``"position 3"``.
    kind : str
        ``"numeric"`` for channels, ``"categorical"`` for token positions.
    """

    name: str
    kind: str = "numeric"

    @property
    def label(self) -> str:
        """How messages name it (its name)."""
        return self.name


class TensorBatch:
    """A batch as :meth:`TensorSchema.decode` read it: the validated array and its rows.

    Attributes
    ----------
    values : ndarray of shape (n_rows, ...)
        The batch, as given (not copied, not cast).
    n_rows : int
    """

    def __init__(self, values: np.ndarray):
        self.values = values
        self.n_rows = int(values.shape[0])

    @property
    def shape(self) -> tuple:
        return self.values.shape

    def __len__(self) -> int:
        return self.n_rows

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self.values, dtype=dtype)


class RowStatistics(NamedTuple):
    """Each row's statistics per channel, arrays of shape (n_rows, n_channels), float64."""

    low: np.ndarray
    high: np.ndarray
    mean: np.ndarray
    spread: np.ndarray  # standard deviation

    @property
    def magnitude(self) -> np.ndarray:
        """Each row's largest absolute value per channel."""
        return np.fmax(np.abs(self.low), np.abs(self.high))


def numeric_array(X) -> np.ndarray:
    """``X`` as an array of numbers (bool, int or float), or :class:`InputError`."""
    try:
        values = np.asarray(X)
    except (TypeError, ValueError) as exc:  # ragged nested lists
        raise InputError(
            f"X cannot be read as one array ({exc}). Pass a numpy array of shape (n, ...) "
            "whose rows all have the same shape."
        ) from exc
    if values.dtype.kind not in "biuf":
        raise InputError(
            f"X has dtype {values.dtype}, but the network takes numbers. Convert it to numbers "
            "as in training (e.g. X.astype('float32')); strings and objects are not read."
        )
    return values


def check_training_shape(shape: tuple) -> None:
    """:class:`InputError` unless ``shape`` is (n, ...): rows and 2+ non-empty trailing axes."""
    if len(shape) < 3:
        raise InputError(
            f"A tensor schema needs inputs of 3 or more dimensions (n, ..., channels), got "
            f"shape {shape}. 2-D inputs are tables and use the table schema."
        )
    if shape[0] == 0 or 0 in shape[1:]:
        raise InputError(f"X has shape {shape}: no values to learn from. Pass a non-empty X.")


def check_tensor_shape(got: tuple, expected: tuple) -> None:
    """:class:`InputError` naming both shapes unless ``got[1:] == expected``.

    Parameters
    ----------
    got : tuple of int
        The batch's shape, rows first.
    expected : tuple of int
        The training rows' shape (``X.shape[1:]`` in ``fit``).
    """
    got, expected = tuple(got), tuple(expected)
    if got[1:] == expected:
        return
    raise InputError(
        f"X has shape {got}, but this estimator was fitted on rows of shape {expected}, i.e. "
        f"X of shape (n, {_dims(expected)}). {_likely_shape_mistake(got, expected)}"
    )


def _dims(shape: tuple) -> str:
    return ", ".join(str(size) for size in shape)


def _likely_shape_mistake(got: tuple, expected: tuple) -> str:
    """What probably went wrong, and the fix, for a batch of shape ``got``."""
    rows = got[1:]
    if len(rows) != len(expected):
        if len(got) == 2 and got[1] == math.prod(expected):
            return f"It looks flattened: reshape it with X.reshape(len(X), {_dims(expected)})."
        if got == expected:
            return "It looks like a single row without the batch axis: pass X[np.newaxis]."
        return f"Pass X with {len(expected) + 1} dimensions: (n, {_dims(expected)})."
    channels, spatial = expected[-1], expected[:-1]
    # Channels are the short axis of an image or a series: a swap that moves the shortest
    # axis is a channels-first/last mix-up; other orders are a transposition.
    if rows == (channels, *spatial) and channels < min(spatial):
        return (
            f"It looks channels-first ({channels} channel(s) on axis 1), while the network was "
            "trained channels-last (Keras's default: channels on the last axis). Move the "
            "channel axis: np.moveaxis(X, 1, -1)."
        )
    if rows == (*expected[1:], expected[0]) and expected[0] < min(expected[1:]):
        return (
            "It looks channels-last while the training rows had their first axis last: move "
            "the axis back with np.moveaxis(X, -1, 1)."
        )
    if sorted(rows) == sorted(expected):
        return "It has the training sizes in another order: are its axes transposed?"
    if rows[:-1] == spatial:
        return (
            f"It has {rows[-1]} channel(s) on the last axis, the training rows had {channels}. "
            "Convert the inputs to the training channels (e.g. RGB to grayscale, or drop an "
            "alpha channel) as in training."
        )
    if rows[-1] == channels:
        return (
            f"Its rows are {'x'.join(map(str, rows[:-1]))} per channel, the training rows "
            f"{'x'.join(map(str, spatial))}: resize (or crop, pad) the inputs to "
            f"{'x'.join(map(str, spatial))} as in training."
        )
    return f"Pass X of shape (n, {_dims(expected)}), as in training."


def check_finite_channels(values: np.ndarray) -> None:
    """:class:`InputError` naming the channels (last axis) of ``values`` with NaN or infinity."""
    if values.dtype.kind != "f" or values.size == 0 or np.isfinite(values.sum()):
        return  # the common case, in one pass
    flat = values.reshape(-1, values.shape[-1])
    bad = ~np.isfinite(flat)
    channels = [f"channel {k}" for k in np.flatnonzero(bad.any(axis=0))]
    rows = np.flatnonzero(~np.isfinite(values.reshape(len(values), -1)).all(axis=1))
    what = "NaN" if np.isnan(flat[bad]).all() else "NaN or infinity"
    raise InputError(
        f"X contains {what} in {_shown(channels)} ({bad.sum()} value(s) in {len(rows)} row(s), "
        f"e.g. row {rows[0]}). A network cannot take them and nothing imputes them for "
        "N-dimensional inputs: replace them (e.g. with the channel's training mean) or drop "
        "those rows."
    )


def row_statistics(values: np.ndarray) -> RowStatistics:
    """Each row's range, mean and standard deviation per channel (the last axis), in float64.

    Rows are read in chunks so that the float64 copy stays bounded whatever
    the batch's size.
    """
    n_rows, n_channels = values.shape[0], values.shape[-1]
    flat = values.reshape(n_rows, -1, n_channels)
    out = [np.empty((n_rows, n_channels)) for _ in range(4)]
    step = max(1, _CHUNK_VALUES // max(flat.shape[1] * n_channels, 1))
    for start in range(0, n_rows, step):
        # Channels in front of the values they reduce over: reductions along the contiguous
        # last axis are several times faster than along a strided middle one.
        block = np.ascontiguousarray(flat[start : start + step].transpose(0, 2, 1), np.float64)
        chunk = slice(start, start + step)
        out[0][chunk] = block.min(axis=2)
        out[1][chunk] = block.max(axis=2)
        out[2][chunk] = block.mean(axis=2)
        out[3][chunk] = block.std(axis=2)
    return RowStatistics(*out)


def raise_unrepresentable(names: list, example: float, dtype: np.dtype, limit: float) -> None:
    """:class:`InputError`: values in ``names`` overflow ``dtype`` (largest ``limit``)."""
    raise InputError(
        f"X holds numbers beyond the range of {dtype.name}, the network's dtype (largest "
        f"{_fmt(limit)}; e.g. {_fmt(example)}), in {_shown(names)}: they would become "
        "infinite and the prediction NaN. Check the inputs for a unit error or a sentinel "
        "value, rescale them as in training, or build the network in a wider float dtype."
    )


def check_token_shape(values: np.ndarray, length: int) -> None:
    """:class:`InputError` unless ``values`` is (n, ``length``) of integer token ids."""
    if values.ndim != 2 or values.shape[1] != length:
        hint = (
            f"Pad or truncate the sequences to {length} ids, as in training."
            if values.ndim == 2
            else f"Pass a 2-D array of shape (n, {length})."
        )
        raise InputError(
            f"X has shape {values.shape}, but this estimator was fitted on token sequences of "
            f"length {length}, i.e. X of shape (n, {length}). {hint}"
        )
    if values.dtype.kind not in "iu":
        raise InputError(
            f"X has dtype {values.dtype}, but this estimator was fitted on integer token ids. "
            "Token ids are categorical codes: encode the tokens with the training vocabulary "
            "(or cast whole numbers with X.astype('int64'))."
        )


def check_token_ids(values: np.ndarray) -> None:
    """:class:`InputError` for negative token ids (no ``Embedding`` row has a negative index)."""
    if values.size == 0 or values.dtype.kind == "u" or values.min() >= 0:
        return
    rows = np.flatnonzero((values < 0).any(axis=1))
    raise InputError(
        f"X holds negative token ids (e.g. {values[values < 0][0]} in row {rows[0]}; "
        f"{len(rows)} row(s)): an Embedding layer has no vector for them. Use a "
        "non-negative id for padding and unknown tokens, as in training (often 0)."
    )
