"""What ``fit`` saw of N-dimensional inputs (images, sequences) and of token ids.

The table schema (:class:`~safekeras.data.schema.InputSchema`) profiles
columns; an image has no columns worth profiling one by one (a pixel is not a
feature with a unit). :class:`TensorSchema` profiles what stays the same from
one image to the next: the trailing shape, the dtype and, per channel (the
last axis, Keras's "channels_last"), the range, mean and spread of the
training values and the distribution of each training *row*'s (image's)
spread and largest absolute value. That last part is what lets a single image
be judged on its own: an image fed on another scale (0-255 pixels to a model
trained on 0-1, raw 0-16 digits to one trained on scaled ones) has a spread
and magnitude no training image had, by the factor of the scaling mistake.

:class:`TokenSchema` profiles integer token sequences fed to an ``Embedding``
network: their length, dtype and vocabulary. Token ids are categorical codes,
so the only drift they show is ids the training data never had.

Both offer the methods the estimators call on ``InputSchema``: :meth:`check`,
:meth:`decode`, :meth:`check_decoded`, :meth:`check_representable` and
``columns``. Shape and dtype problems raise
:class:`~safekeras.exceptions.InputError` (their wording is in
:mod:`safekeras.data.tensor_shapes`); drift is a
:class:`~safekeras.data.drift.DriftReport` worded like the table checks.

How a batch's drift is judged (per channel)
-------------------------------------------
* **Far outside the range**: a row holds a value beyond the channel's training
  range by more than :data:`~safekeras.data.drift.FAR_EXCESS` widths of that
  range, the tables' single-value rule, in a channel whose range rests on at
  least :data:`~safekeras.data.drift.MIN_SUPPORT` non-constant training rows.
* **Mostly outside the range**: a batch of at least
  :data:`~safekeras.data.drift.MIN_ROWS_FOR_SHARE` rows with
  :data:`~safekeras.data.drift.OUTSIDE_SHARE` or more of its values outside
  the range (a shift too small for the first rule, e.g. 100-200 for 0-100).
* **Another scale**: a row whose spread (standard deviation) *and* largest
  absolute value both lie beyond the training rows' extremes by a factor of
  :data:`SCALE_FACTOR` (larger than the largest, or smaller than the
  smallest). This catches "smaller" mistakes the range rules cannot see
  (pixels divided by 255 twice, or fed 0-1 to a model trained on 0-255).
"""

from __future__ import annotations

import math

import numpy as np

from ..exceptions import InputError
from .drift import (
    FAR_EXCESS,
    MIN_ROWS_FOR_SHARE,
    MIN_SUPPORT,
    OUTSIDE_SHARE,
    DriftFinding,
    DriftReport,
    _likely_cause,
    _range_example,
)
from .tensor_shapes import (
    InputPart,
    TensorBatch,
    check_finite_channels,
    check_tensor_shape,
    check_token_ids,
    check_token_shape,
    check_training_shape,
    numeric_array,
    raise_unrepresentable,
    row_statistics,
)
from .value_checks import _fmt, _shown

__all__ = [
    "IMAGE_QUANTILES",
    "SCALE_FACTOR",
    "TensorBatch",
    "TensorSchema",
    "TokenSchema",
]

#: Levels of the per-row (per-image) spread and magnitude kept per channel; 0 and 1 are the
#: training extremes the "another scale" rule compares with, the rest describe the schema.
IMAGE_QUANTILES = (0.0, 0.01, 0.5, 0.99, 1.0)
#: How far beyond the training rows' extremes a row's spread and magnitude must both lie to
#: be read as another scale. The usual mistakes scale by 16 (raw digits), 100, 255 or 1000,
#: while a fresh row of the training distribution lies within its extremes or, being an
#: extreme itself, just beyond them; 3 leaves a wide margin on both sides (measured in
#: benchmarks/image_drift.py: no alarm in 100 000 clean rows, every scaled row caught).
SCALE_FACTOR = 3.0


class TensorSchema:
    """The raw training tensors' shape, dtype and per-channel statistics.

    Build it with :meth:`from_training`; check a batch with :meth:`check`.
    The channel axis is the last one. Per-channel arrays have shape
    ``(n_channels,)``; per-row quantiles ``(len(IMAGE_QUANTILES), n_channels)``.

    Attributes
    ----------
    shape : tuple of int
        The trailing shape of a row, ``X.shape[1:]``.
    dtype : str
        The training dtype.
    n_rows : int
        Training rows the statistics were computed on.
    minimum, maximum, mean, std : ndarray of shape (n_channels,)
        Range, mean and standard deviation of each channel's training values.
    support : ndarray of shape (n_channels,)
        Training rows in which the channel is not constant: how many rows the
        range rests on.
    row_spread, row_magnitude : ndarray of shape (len(IMAGE_QUANTILES), n_channels)
        Quantiles, over the training rows, of each row's standard deviation and
        largest absolute value in the channel.
    """

    def __init__(
        self,
        *,
        shape,
        dtype,
        n_rows,
        minimum,
        maximum,
        mean,
        std,
        support,
        row_spread,
        row_magnitude,
    ):
        self.shape = tuple(int(size) for size in shape)
        self.dtype = str(dtype)
        self.n_rows = int(n_rows)
        self.minimum = np.asarray(minimum, dtype=np.float64)
        self.maximum = np.asarray(maximum, dtype=np.float64)
        self.mean = np.asarray(mean, dtype=np.float64)
        self.std = np.asarray(std, dtype=np.float64)
        self.support = np.asarray(support, dtype=np.int64)
        self.row_spread = np.asarray(row_spread, dtype=np.float64)
        self.row_magnitude = np.asarray(row_magnitude, dtype=np.float64)

    @classmethod
    def from_training(cls, X) -> TensorSchema:
        """Profile the raw training tensors ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            At least 3 dimensions; the last one is the channel axis.

        Returns
        -------
        TensorSchema

        Raises
        ------
        InputError
            ``X`` has fewer than 3 dimensions or no rows, is not numeric, or
            holds NaN or infinity (named by channel).
        """
        values = numeric_array(X)
        check_training_shape(values.shape)
        check_finite_channels(values)
        stats = row_statistics(values)
        mean = stats.mean.mean(axis=0)
        # Every row has as many values per channel: the pooled variance is the mean of the
        # rows' variances plus the variance of their means.
        variance = (stats.spread**2).mean(axis=0) + stats.mean.var(axis=0)
        return cls(
            shape=values.shape[1:],
            dtype=values.dtype,
            n_rows=values.shape[0],
            minimum=stats.low.min(axis=0),
            maximum=stats.high.max(axis=0),
            mean=mean,
            std=np.sqrt(variance),
            support=(stats.spread > 0).sum(axis=0),
            row_spread=np.quantile(stats.spread, IMAGE_QUANTILES, axis=0),
            row_magnitude=np.quantile(stats.magnitude, IMAGE_QUANTILES, axis=0),
        )

    # -- what messages and the estimators read -------------------------------------

    @property
    def n_channels(self) -> int:
        """Channels: the size of the last axis."""
        return self.shape[-1]

    @property
    def columns(self) -> tuple:
        """One :class:`~safekeras.data.tensor_shapes.InputPart` per channel ("channel k")."""
        return tuple(InputPart(f"channel {k}") for k in range(self.n_channels))

    def __repr__(self) -> str:
        return (
            f"TensorSchema(rows of shape {self.shape}, {self.dtype}, {self.n_channels} "
            f"channel(s); {self.n_rows} training rows)"
        )

    def __eq__(self, other) -> bool:
        return _same_state(self, other)

    __hash__ = None  # mutable attributes: equal by value, so not hashable

    # -- checks ------------------------------------------------------------------

    def check(self, X, *, drift: bool = True) -> DriftReport:
        """Check a batch against the training tensors.

        Parameters
        ----------
        X : array-like of shape (n_samples, *shape)
        drift : bool, default=True
            Also look for drift; False runs only the checks that raise.

        Returns
        -------
        DriftReport

        Raises
        ------
        InputError
            Wrong number of dimensions, wrong trailing shape (a
            channels-first/last swap, a wrong channel count, a wrong image
            size), values that are not numbers, NaN or infinity.
        """
        return self.check_decoded(self.decode(X), drift=drift)

    def decode(self, X) -> TensorBatch:
        """The batch as a validated array (see :meth:`check` for what raises)."""
        values = numeric_array(X)
        check_tensor_shape(values.shape, self.shape)
        check_finite_channels(values)
        return TensorBatch(values)

    def check_decoded(self, batch: TensorBatch, *, drift: bool = True) -> DriftReport:
        """:meth:`check` on a batch already read by :meth:`decode`."""
        if not drift or batch.n_rows == 0:
            return DriftReport(n_rows=batch.n_rows)
        stats = row_statistics(batch.values)
        far, outside_share = self._outside_range(batch.values, stats)
        range_flag = far.any(axis=0) | (outside_share >= OUTSIDE_SHARE)
        scale = self._other_scale(stats)
        scale_flag = scale.any(axis=0) & ~range_flag
        findings = []
        if range_flag.any():
            rows = ((stats.low < self.minimum) | (stats.high > self.maximum)).sum(axis=0)
            findings.append(self._finding("range", stats, range_flag, rows, outside_share))
        if scale_flag.any():
            rows = scale.sum(axis=0)
            findings.append(self._finding("spread", stats, scale_flag, rows, outside_share))
        return DriftReport(n_rows=batch.n_rows, findings=tuple(findings))

    def check_representable(self, dtype, batch: TensorBatch | None = None) -> None:
        """Raise :class:`InputError` naming the channels whose values ``dtype`` cannot hold.

        Parameters
        ----------
        dtype : str or numpy dtype
            The dtype the network computes in.
        batch : TensorBatch, default=None
            A batch read by :meth:`decode`; None checks the training range.
        """
        try:
            dtype = np.dtype(dtype)
        except TypeError:  # a dtype numpy does not know (bfloat16): the output check remains
            return
        if dtype.kind != "f":
            return
        limit = float(np.finfo(dtype).max)
        if batch is None:
            largest = np.fmax(np.abs(self.minimum), np.abs(self.maximum))
        else:
            stats = row_statistics(batch.values)
            largest = stats.magnitude.max(axis=0, initial=0.0)
        if np.all(largest <= limit):
            return
        flagged = np.flatnonzero(largest > limit)
        raise_unrepresentable(
            [f"channel {k}" for k in flagged], float(largest[flagged[0]]), dtype, limit
        )

    # -- drift rules -------------------------------------------------------------

    def _width(self) -> np.ndarray:
        """The unit of distances beyond a channel's range (never 0), as the tables measure it."""
        width = self.maximum - self.minimum
        return np.where(width > 0, width, np.fmax(np.abs(self.maximum), 1.0))

    def _outside_range(self, values, stats) -> tuple[np.ndarray, np.ndarray]:
        """Rows (n_rows, n_channels) far outside the range, and each channel's outside share."""
        width = self._width()
        beyond = np.fmax((self.minimum - stats.low) / width, (stats.high - self.maximum) / width)
        far = (beyond > FAR_EXCESS) & (self.support >= MIN_SUPPORT)
        share = np.zeros(self.n_channels)
        candidates = np.flatnonzero((beyond > 0).any(axis=0))
        if candidates.size and len(values) >= MIN_ROWS_FOR_SHARE:  # the rare case
            block = values.reshape(-1, self.n_channels)[:, candidates]
            outside = (block < self.minimum[candidates]) | (block > self.maximum[candidates])
            share[candidates] = outside.mean(axis=0)
        return far, share

    def _other_scale(self, stats) -> np.ndarray:
        """Rows (n_rows, n_channels) whose spread and magnitude both left the training scale."""
        low_spread, high_spread = self.row_spread[0], self.row_spread[-1]
        low_size, high_size = self.row_magnitude[0], self.row_magnitude[-1]
        larger = (stats.spread > SCALE_FACTOR * high_spread) & (
            stats.magnitude > SCALE_FACTOR * high_size
        )
        # A constant row (spread 0) is no evidence of a scale: blank images exist.
        smaller = (
            (stats.spread > 0)
            & (SCALE_FACTOR * stats.spread < low_spread)
            & (SCALE_FACTOR * stats.magnitude < low_size)
        )
        return larger | smaller

    def _magnitude_factor(self, magnitudes: np.ndarray, k: int) -> float:
        """How many times larger the batch's rows are than a typical training row, in channel k.

        Rows compared with rows: the batch's median largest |value| over the
        training rows' median. A scaling mistake multiplies every row by its
        factor, so this reads that factor off whatever the images show (a dim
        image times 255 is not 255 times the brightest training pixel).
        """
        typical = self.row_magnitude[IMAGE_QUANTILES.index(0.5), k]
        batch = float(np.median(magnitudes))
        if typical == 0:
            return math.inf if batch > 0 else 1.0
        return batch / typical

    def _finding(self, kind, stats, flagged, rows, outside_share) -> DriftFinding:
        """The finding of the channels ``flagged``, worded like the table findings."""
        channels = np.flatnonzero(flagged)
        evidence = {}
        for k in channels:
            batch_min, batch_max = float(stats.low[:, k].min()), float(stats.high[:, k].max())
            evidence[f"channel {k}"] = {
                "training_min": float(self.minimum[k]),
                "training_max": float(self.maximum[k]),
                "batch_min": batch_min,
                "batch_max": batch_max,
                "rows_flagged": int(rows[k]),
                "share_outside": float(outside_share[k]),
                "magnitude_factor": self._magnitude_factor(stats.magnitude[:, k], k),
                "batch_spread": float(np.median(stats.spread[:, k])),
                "training_row_spread": (
                    float(self.row_spread[0, k]),
                    float(self.row_spread[-1, k]),
                ),
            }
        names = tuple(evidence)
        first = evidence[names[0]]
        cause = _likely_cause([info["magnitude_factor"] for info in evidence.values()], [False])
        where = f"{_shown(names)} in {int(rows[channels].max())} of {len(stats.low)} row(s)"
        if kind == "range":
            message = (
                f"{len(channels)} of {self.n_channels} channel(s) fall outside their training "
                f"range ({where}; e.g. {_range_example(names[0], first)}). {cause}"
            )
        else:
            low, high = first["training_row_spread"]
            message = (
                f"{len(channels)} of {self.n_channels} channel(s) have rows on another scale "
                f"than every training row ({where}; e.g. {names[0]}: spread "
                f"{_fmt(first['batch_spread'])} per row vs {_fmt(low)} to {_fmt(high)} in "
                f"training). {cause}"
            )
        return DriftFinding(kind, names, message, evidence)


class TokenSchema:
    """The raw training token sequences' length, dtype and vocabulary.

    Token ids are categorical codes for an ``Embedding`` layer: never scaled,
    never compared by size except with the vocabulary the network was trained
    on. Build it with :meth:`from_training`; check a batch with :meth:`check`.

    Attributes
    ----------
    length : int
        Ids per sequence, ``X.shape[1]``.
    vocabulary_size : int
        The largest training id plus one: ids at or above it were never seen.
    dtype : str
        The training dtype.
    n_rows : int
        Training rows.
    """

    def __init__(self, *, length, vocabulary_size, dtype, n_rows):
        self.length = int(length)
        self.vocabulary_size = int(vocabulary_size)
        self.dtype = str(dtype)
        self.n_rows = int(n_rows)

    @classmethod
    def from_training(cls, X) -> TokenSchema:
        """Profile the raw training token sequences ``X``.

        Parameters
        ----------
        X : array-like of int, shape (n_samples, length)

        Returns
        -------
        TokenSchema

        Raises
        ------
        InputError
            ``X`` is not a non-empty 2-D array of non-negative integer ids.
        """
        values = numeric_array(X)
        if values.ndim != 2 or values.shape[0] == 0 or values.shape[1] == 0:
            raise InputError(
                f"A token schema needs a non-empty 2-D array of token ids (n, length), got "
                f"shape {values.shape}."
            )
        check_token_shape(values, values.shape[1])
        check_token_ids(values)
        return cls(
            length=values.shape[1],
            vocabulary_size=int(values.max()) + 1,
            dtype=values.dtype,
            n_rows=values.shape[0],
        )

    @property
    def columns(self) -> tuple:
        """One :class:`~safekeras.data.tensor_shapes.InputPart` per position ("position k")."""
        return tuple(InputPart(f"position {k}", "categorical") for k in range(self.length))

    def __repr__(self) -> str:
        return (
            f"TokenSchema(sequences of {self.length} {self.dtype} ids, vocabulary of "
            f"{self.vocabulary_size}; {self.n_rows} training rows)"
        )

    def __eq__(self, other) -> bool:
        return _same_state(self, other)

    __hash__ = None  # equal by value, so not hashable

    def check(self, X, *, drift: bool = True) -> DriftReport:
        """Check a batch of token sequences against the training ones.

        Parameters
        ----------
        X : array-like of int, shape (n_samples, length)
        drift : bool, default=True
            Also look for ids above the training vocabulary; False runs only
            the checks that raise.

        Returns
        -------
        DriftReport

        Raises
        ------
        InputError
            Wrong shape or sequence length, ids that are not integers, or
            negative ids.
        """
        return self.check_decoded(self.decode(X), drift=drift)

    def decode(self, X) -> TensorBatch:
        """The batch as a validated array (see :meth:`check` for what raises)."""
        values = numeric_array(X)
        check_token_shape(values, self.length)
        check_token_ids(values)
        return TensorBatch(values)

    def check_decoded(self, batch: TensorBatch, *, drift: bool = True) -> DriftReport:
        """:meth:`check` on a batch already read by :meth:`decode`."""
        values = batch.values
        if not drift or not values.size or values.max() < self.vocabulary_size:
            return DriftReport(n_rows=batch.n_rows)
        unseen = values >= self.vocabulary_size
        positions = tuple(f"position {k}" for k in np.flatnonzero(unseen.any(axis=0)))
        n_unseen = int(unseen.sum())
        evidence = {
            "batch_max": int(values.max()),
            "vocabulary_size": self.vocabulary_size,
            "n_unseen": n_unseen,
            "share_unseen": n_unseen / values.size,
            "rows": int(unseen.any(axis=1).sum()),
        }
        message = (
            f"Token ids up to {evidence['batch_max']}, the training vocabulary ends at "
            f"{self.vocabulary_size - 1}: {n_unseen} of {values.size} id(s) "
            f"({evidence['share_unseen']:.1%}, in {evidence['rows']} of {batch.n_rows} "
            "row(s)) were never seen in training. Their embedding vectors were never trained "
            "(and ids at or beyond the Embedding layer's input_dim have none): a tokenizer or "
            "vocabulary other than the training one? Encode with the training vocabulary, "
            "mapping unknown tokens to an id seen in training."
        )
        finding = DriftFinding("unseen_category", positions, message, {"token ids": evidence})
        return DriftReport(n_rows=batch.n_rows, findings=(finding,))

    def check_representable(self, dtype, batch: TensorBatch | None = None) -> None:
        """Raise :class:`InputError` if ``dtype`` cannot hold every token id exactly.

        A float network input holds whole numbers exactly only up to
        ``2 ** (mantissa bits + 1)`` (2048 for float16): a larger id would
        reach the ``Embedding`` layer as another id.

        Parameters
        ----------
        dtype : str or numpy dtype
            The dtype of the network's input.
        batch : TensorBatch, default=None
            A batch read by :meth:`decode`; None checks the training vocabulary.
        """
        try:
            dtype = np.dtype(dtype)
        except TypeError:  # a dtype numpy does not know (bfloat16): nothing to compare with
            return
        if batch is None:
            largest = self.vocabulary_size - 1
        elif batch.values.size:
            largest = int(batch.values.max())
        else:
            return
        if dtype.kind == "f":
            exact = 2 ** (np.finfo(dtype).nmant + 1)
        elif dtype.kind in "iu":
            exact = int(np.iinfo(dtype).max)
        else:
            return
        if largest <= exact:
            return
        raise InputError(
            f"Token ids up to {largest} do not fit the network's input dtype {dtype.name}, "
            f"which holds whole numbers exactly only up to {exact}: the Embedding layer would "
            "read other ids. Declare the input as integers, e.g. "
            f"keras.Input(shape=({self.length},), dtype='int32')."
        )


def _same_state(schema, other) -> bool:
    """Whether two schemas are of one type with equal attributes (arrays compared by value)."""
    if type(other) is not type(schema):
        return NotImplemented
    mine, theirs = vars(schema), vars(other)
    if mine.keys() != theirs.keys():
        return False
    return all(np.array_equal(mine[key], theirs[key]) for key in mine)
