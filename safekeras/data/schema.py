"""What the estimator was trained on, and the checks ``predict`` runs against it.

:class:`InputSchema` is captured by ``fit`` from the *raw* training features,
before any preprocessing: column names and order, dtypes, the categories of
categorical columns and, per numeric column (a :class:`ColumnProfile`), the
range, a robust centre and spread, and a few quantiles. At predict time
:meth:`InputSchema.check` turns every batch into a
:class:`~safekeras.data.drift.DriftReport`:

* problems no prediction can survive (a numeric column arriving as strings,
  infinite values, named columns given to a model fitted on an array-less
  frame) raise :class:`~safekeras.exceptions.InputError` naming the columns
  (the value checks are in :mod:`safekeras.data.value_checks`);
* signs that the data no longer looks like the training data become
  :class:`~safekeras.data.drift.DriftFinding` objects: values far outside a
  column's training range (the "trained on 0-1 pixels, fed 0-255" pitfall, a
  unit change, a sign flip), a column's spread changed by an order of
  magnitude, categories never seen in training, a column suddenly missing.
  How they are found and calibrated is in :mod:`safekeras.data.drift`.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from ..exceptions import InputError
from .drift import DriftChecks, DriftFinding, DriftReport
from .preprocessing import as_categories, is_dataframe, split_columns, strings_or_nan
from .value_checks import _NAMES_SHOWN, _shown, check_finite, check_representable

__all__ = [
    "ColumnProfile",
    "DecodedBatch",
    "DriftFinding",
    "DriftReport",
    "InputSchema",
    "check_finite",
    "check_representable",
]

#: Categorical columns with more distinct training values are not tracked (ids, free text).
MAX_TRACKED_CATEGORIES = 1000
#: Quantile levels kept per numeric column.
QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
#: Frames with at most this many rows are read through one ``to_numpy()`` (see ``decode``).
_SMALL_FRAME_ROWS = 64


@dataclass(frozen=True)
class ColumnProfile:
    """One raw training column, as :class:`InputSchema` remembers it.

    Attributes
    ----------
    name : str or int
        The column's name (DataFrame) or position (array).
    kind : {"numeric", "categorical"}
        How the data was read: numbers (including booleans), or categories.
    dtype : str
        The column's dtype in training.
    missing_share : float
        Share of training values that were missing.
    minimum, maximum, centre, spread : float
        Numeric columns: range, median and interquartile range of the
        non-missing training values (NaN for categorical columns).
    quantiles : tuple of float
        Numeric columns: the training values at :data:`QUANTILES`.
    support : int
        Numeric columns: training values that differ from the median, i.e.
        how many rows the range rests on.
    median_share : float
        Numeric columns: share of the non-missing training values equal to
        the median (large for a column that is mostly one value).
    categories : frozenset of str or None
        Categorical columns: the values seen in training, as strings; None
        when the column has too many distinct values to track.
    """

    name: object
    kind: str
    dtype: str
    missing_share: float
    minimum: float = math.nan
    maximum: float = math.nan
    centre: float = math.nan
    spread: float = math.nan
    quantiles: tuple = ()
    support: int = 0
    median_share: float = 0.0
    categories: frozenset | None = None

    @property
    def label(self) -> str:
        """How messages name the column."""
        return repr(self.name) if isinstance(self.name, str) else f"column {self.name}"

    @property
    def width(self) -> float:
        """The unit in which distances beyond the range are measured (never zero)."""
        width = self.maximum - self.minimum
        if width > 0:
            return float(width)
        return float(max(abs(self.maximum), 1.0))


class DecodedBatch:
    """A batch's columns as :meth:`InputSchema.decode` read them.

    Attributes
    ----------
    numeric : ndarray of shape (n_rows, n_numeric), float64
        The numeric columns in training order; NaN where missing.
    categorical : ndarray of shape (n_rows, n_categorical), object
        The categorical columns in training order, as strings (NaN where
        missing), exactly as the ``"auto"`` preprocessor encodes them. Read on
        first use: a preprocessor that does its own reading never pays for it.
    n_rows : int
    """

    def __init__(self, numeric: np.ndarray, n_rows: int, read_categorical):
        self.numeric = numeric
        self.n_rows = n_rows
        self._read_categorical = read_categorical

    @functools.cached_property
    def categorical(self) -> np.ndarray:
        return self._read_categorical()


class InputSchema(DriftChecks):
    """The raw training features' columns, captured in ``fit``.

    Build it with :meth:`from_training`; check a batch with :meth:`check`.

    Attributes
    ----------
    columns : tuple of ColumnProfile
        One profile per input column, in training order.
    feature_names : tuple of str or None
        Column names when ``fit`` saw a DataFrame with string column names.
    requires_dataframe : bool
        Whether batches must be DataFrames: the preprocessor selects columns
        by name.
    allows_missing : bool
        Whether missing values (NaN) are allowed: the preprocessor imputes them.
    n_rows : int
        Training rows the statistics were computed on.
    """

    def __init__(self, columns, *, feature_names, requires_dataframe, allows_missing, n_rows):
        self.columns = tuple(columns)
        self.feature_names = None if feature_names is None else tuple(feature_names)
        self.requires_dataframe = bool(requires_dataframe)
        self.allows_missing = bool(allows_missing)
        self.n_rows = int(n_rows)
        self._index_columns()

    def _index_columns(self):
        self._numeric = [p for p in self.columns if p.kind == "numeric"]
        self._categorical = [p for p in self.columns if p.kind == "categorical"]
        self._positions = {p.name: j for j, p in enumerate(self.columns)}
        self._numeric_positions = [self._positions[p.name] for p in self._numeric]
        self._numeric_names = [p.name for p in self._numeric]
        self._minimum = np.array([p.minimum for p in self._numeric], dtype=np.float64)
        self._maximum = np.array([p.maximum for p in self._numeric], dtype=np.float64)
        self._index_drift()

    def __getstate__(self):
        # The lookup arrays are rebuilt on load: only the profiles are state.
        return {
            "columns": self.columns,
            "feature_names": self.feature_names,
            "requires_dataframe": self.requires_dataframe,
            "allows_missing": self.allows_missing,
            "n_rows": self.n_rows,
        }

    def __setstate__(self, state):
        state = dict(state)
        self.__init__(state.pop("columns"), **state)

    def __repr__(self) -> str:
        kinds = [p.kind for p in self.columns]
        return (
            f"InputSchema({len(self.columns)} columns: {kinds.count('numeric')} numeric, "
            f"{kinds.count('categorical')} categorical; {self.n_rows} training rows)"
        )

    @classmethod
    def from_training(cls, X, *, numeric_only=False, feature_names=None) -> InputSchema:
        """Profile the raw training features ``X``.

        Parameters
        ----------
        X : ndarray or DataFrame of shape (n_samples, n_features)
            The features as ``fit`` validated them. A DataFrame means that
            batches must be DataFrames too.
        numeric_only : bool, default=False
            Every column is numeric and none may be missing
            (``preprocessor=None``/"passthrough").
        feature_names : array-like of str, default=None
            Column names to use in messages when ``X`` is an array made from a
            DataFrame (``feature_names_in_``).

        Raises
        ------
        InputError
            A numeric column holds an infinite value (or NaN, with ``numeric_only``).
        """
        if is_dataframe(X) and all(isinstance(c, str) for c in X.columns):
            feature_names = list(X.columns)
        if feature_names is not None:
            feature_names = [str(name) for name in feature_names]

        def name(j):
            return j if feature_names is None else feature_names[j]

        if numeric_only:
            numeric, categorical = list(range(X.shape[1])), []
        else:
            numeric, categorical = _split_positions(X)
        profiles = {}
        if numeric:
            values = _numeric_block(X, numeric)
            check_finite(values, [name(j) for j in numeric], allow_nan=not numeric_only)
            names, dtypes = [name(j) for j in numeric], _dtypes(X, numeric)
            profiles.update(zip(numeric, _numeric_profiles(names, dtypes, values), strict=True))
        for j in categorical:
            column = as_categories(_column(X, j))[:, 0]
            profiles[j] = _categorical_profile(name(j), _dtype(X, j), column)
        return cls(
            [profiles[j] for j in range(X.shape[1])],
            feature_names=feature_names,
            requires_dataframe=is_dataframe(X),
            allows_missing=not numeric_only,
            n_rows=X.shape[0],
        )

    # -- checks ------------------------------------------------------------------

    def check(self, X, *, drift: bool = True) -> DriftReport:
        """Check a batch against the training columns.

        Parameters
        ----------
        X : ndarray or DataFrame of shape (n_samples, n_features)
            Features already validated for shape and column names.
        drift : bool, default=True
            Also look for drift; False runs only the checks that raise.

        Returns
        -------
        DriftReport

        Raises
        ------
        InputError
            A numeric column holds strings, or a value is infinite, or a
            model fitted on a DataFrame gets an array.
        """
        return self.check_decoded(self.decode(X), drift=drift)

    def decode(self, X) -> DecodedBatch:
        """Read a batch's columns once: numeric ones as floats, categorical ones as strings.

        Runs the checks that raise (see :meth:`check`); the result feeds
        :meth:`check_decoded` and the preprocessing fast path, so a batch is
        converted once per ``predict``.
        """
        if self.requires_dataframe and not is_dataframe(X):
            names = self.feature_names or [p.name for p in self.columns]
            raise InputError(
                f"This estimator was fitted on a DataFrame with columns {_shown(names)} and "
                f"selects them by name, but got a {type(X).__name__}. Pass a DataFrame with the "
                "same columns."
            )
        frame_values = self._small_frame_values(X)
        values = self._numeric_values(X, self._numeric_positions, frame_values)
        check_finite(values, self._numeric_names, allow_nan=self.allows_missing)
        positions = [self._positions[p.name] for p in self._categorical]
        return DecodedBatch(values, _n_rows(X), lambda: _categories_of(X, positions, frame_values))

    def check_decoded(self, batch: DecodedBatch, *, drift: bool = True) -> DriftReport:
        """:meth:`check` on a batch already read by :meth:`decode`."""
        if not drift:
            return DriftReport(n_rows=batch.n_rows)
        findings = []
        if len(self._numeric):
            findings += self._numeric_drift(batch.numeric)
        findings += self._category_drift(batch)
        return DriftReport(n_rows=batch.n_rows, findings=tuple(findings))

    def check_representable(self, dtype, batch: DecodedBatch | None = None) -> None:
        """Raise :class:`InputError` naming the numeric columns the network's dtype cannot hold.

        Parameters
        ----------
        dtype : str or numpy dtype
            The dtype the network computes in (float32 unless built otherwise).
        batch : DecodedBatch, default=None
            A batch read by :meth:`decode`; None checks the training values
            (their range, as profiled).
        """
        if batch is None:
            values = np.array([self._minimum, self._maximum]).reshape(2, len(self._numeric))
        else:
            values = batch.numeric
        check_representable(values, self._numeric_names, dtype)

    def _small_frame_values(self, X):
        """A small frame's values as one object array, when that reads them exactly.

        Selecting and converting columns through pandas costs about 0.1 ms per
        call whatever the size; for a handful of rows one ``to_numpy()`` is
        five times faster. Numeric columns must have numeric dtypes, so that no
        string is silently parsed as a number.
        """
        if not is_dataframe(X) or len(X) > _SMALL_FRAME_ROWS:
            return None
        dtypes = X.dtypes
        if not all(_is_numeric_dtype(dtypes.iloc[j]) for j in self._numeric_positions):
            return None
        return X.to_numpy()

    def _numeric_values(self, X, positions, frame_values=None) -> np.ndarray:
        if not positions:
            return np.empty((_n_rows(X), 0))
        if frame_values is not None:
            try:
                return frame_values[:, positions].astype(np.float64)
            except (TypeError, ValueError):  # pandas.NA in a nullable column: pandas reads it
                pass
        if not is_dataframe(X) and X.dtype.kind in "biuf":
            values = X[:, positions] if len(positions) < X.shape[1] else X
            return values.astype(np.float64, copy=False)
        if is_dataframe(X) and all(_is_numeric_dtype(X.dtypes.iloc[j]) for j in positions):
            return _numeric_block(X, positions)
        bad = []
        columns = []
        for profile, j in zip(self._numeric, positions, strict=True):
            column = _column(X, j)[:, 0] if not is_dataframe(X) else X.iloc[:, j]
            try:
                columns.append(_to_float(column))
            except (TypeError, ValueError):
                bad.append((profile, column))
        if bad:
            examples = [f"{p.label} ({_first_non_number(c)!r})" for p, c in bad[:_NAMES_SHOWN]]
            raise InputError(
                f"{len(bad)} column(s) that were numeric in training hold values that are not "
                f"numbers: {', '.join(examples)}. Convert them to numbers before predicting "
                "(e.g. pandas.to_numeric), as they were in fit."
            )
        return np.column_stack(columns)


def _split_positions(X) -> tuple[list[int], list[int]]:
    numeric, categorical = split_columns(X)
    if is_dataframe(X):
        position = {name: j for j, name in enumerate(X.columns)}
        return [position[c] for c in numeric], [position[c] for c in categorical]
    return numeric, categorical


def _is_numeric_dtype(dtype) -> bool:
    return getattr(dtype, "kind", "O") in "biuf" and str(dtype) != "category"


def _numeric_block(X, positions) -> np.ndarray:
    if is_dataframe(X):
        block = X.iloc[:, positions]
        return block.astype("float64").to_numpy(dtype=np.float64, na_value=np.nan)
    return np.asarray(X[:, positions], dtype=np.float64)


def _numeric_profiles(names, dtypes, values) -> list:
    """One :class:`ColumnProfile` per column of ``values`` (float64, NaN where missing).

    A block without missing values is profiled in one pass per statistic over
    all its columns (the quantiles are order statistics, so they are the
    same values the column-by-column pass picks).
    """
    if not len(values) or np.isnan(values).any():
        return [
            _numeric_profile(name, dtype, column)
            for name, dtype, column in zip(names, dtypes, values.T, strict=True)
        ]
    ordered = np.sort(values, axis=0)
    levels = ordered[_inverted_cdf_positions(len(ordered))].T.tolist()
    minima, maxima = ordered[0].tolist(), ordered[-1].tolist()
    medians = np.asarray([column_levels[QUANTILES.index(0.5)] for column_levels in levels])
    supports = np.count_nonzero(values != medians, axis=0).tolist()
    return [
        _profile_of_present(name, dtype, 0.0, len(values), *stats)
        for name, dtype, *stats in zip(names, dtypes, levels, minima, maxima, supports, strict=True)
    ]


def _numeric_profile(name, dtype, column) -> ColumnProfile:
    present = column[~np.isnan(column)]
    missing_share = 1.0 - len(present) / max(len(column), 1)
    if not len(present):
        return ColumnProfile(name, "numeric", dtype, missing_share)
    ordered = np.sort(present)
    levels = ordered[_inverted_cdf_positions(len(ordered))].tolist()
    support = int(np.count_nonzero(present != levels[QUANTILES.index(0.5)]))
    return _profile_of_present(
        name,
        dtype,
        missing_share,
        len(present),
        levels,
        float(ordered[0]),
        float(ordered[-1]),
        support,
    )


def _inverted_cdf_positions(n_values: int) -> np.ndarray:
    """Where :data:`QUANTILES` fall in ``n_values`` sorted values, as ``np.quantile`` places them.

    ``np.quantile(..., method="inverted_cdf")`` picks, for each level ``q``, the
    sorted value at ``ceil(n q) - 1``; its own index arithmetic is repeated here
    (tested equal) because one sort and a lookup cost a quarter of its
    partitions of every column for every level.
    """
    virtual = n_values * np.asarray(QUANTILES) - 1
    below = np.floor(virtual)
    positions = np.where(virtual - below > 0, below + 1, below)
    return np.clip(positions, 0, n_values - 1).astype(np.intp)


def _profile_of_present(
    name, dtype, missing_share, n_present, levels, minimum, maximum, support
) -> ColumnProfile:
    """The profile of a numeric column from the statistics of its present values."""
    quantiles = dict(zip(QUANTILES, levels, strict=True))
    return ColumnProfile(
        name,
        "numeric",
        dtype,
        missing_share,
        minimum=minimum,
        maximum=maximum,
        centre=quantiles[0.5],
        spread=quantiles[0.75] - quantiles[0.25],
        quantiles=tuple(quantiles.values()),
        support=support,
        median_share=1.0 - support / n_present,
    )


def _categorical_profile(name, dtype, column) -> ColumnProfile:
    present = [v for v in column if isinstance(v, str)]
    missing_share = 1.0 - len(present) / max(len(column), 1)
    distinct = frozenset(present)
    # Identifiers and free text are almost all unseen by construction; tracking them would cry wolf.
    mostly_unique = len(distinct) > max(len(present) / 2, 1)
    trackable = len(distinct) <= MAX_TRACKED_CATEGORIES and not mostly_unique
    return ColumnProfile(
        name, "categorical", dtype, missing_share, categories=distinct if trackable else None
    )


def _categories_of(X, positions, frame_values=None) -> np.ndarray:
    """Columns ``positions`` of ``X``, read as :func:`.preprocessing.as_categories` reads them."""
    if not positions:
        return np.empty((_n_rows(X), 0), dtype=object)
    if frame_values is not None:
        import pandas as pd  # X is a DataFrame: pandas is there

        values = frame_values[:, positions]
        return strings_or_nan(values, pd.isna(values))
    block = X.iloc[:, positions] if is_dataframe(X) else X[:, positions]
    return as_categories(block)


def _dtype(X, j) -> str:
    return str(X.dtypes.iloc[j]) if is_dataframe(X) else str(X.dtype)


def _dtypes(X, positions) -> list[str]:
    """``_dtype`` of each column at ``positions`` (an array's one dtype named once)."""
    if is_dataframe(X):
        return [_dtype(X, j) for j in positions]
    return [str(X.dtype)] * len(positions)


def _column(X, j) -> np.ndarray:
    """Column ``j`` as a 2-d object-or-numeric array (frames keep their values)."""
    if is_dataframe(X):
        return X.iloc[:, [j]]
    return X[:, [j]]


def _n_rows(X) -> int:
    return int(X.shape[0])


def _to_float(column) -> np.ndarray:
    if hasattr(column, "to_numpy"):
        if column.dtype.kind in "OSUT" or str(column.dtype) in ("string", "category"):
            if any(isinstance(v, str) for v in column):
                raise ValueError("strings in a numeric column")
        return column.astype("float64").to_numpy(dtype=np.float64, na_value=np.nan)
    values = np.asarray(column)
    if values.dtype.kind in "OSU" and any(isinstance(v, str) for v in values):
        # An object array's numeric column may hold numbers written as strings ("3.5"),
        # exactly as in training; only values that are not numbers are an error.
        return np.array([float(v) for v in values], dtype=np.float64)
    return values.astype(np.float64)


def _first_non_number(column):
    """The value to quote: the first string that is not a number, else the first string."""
    strings = [value for value in column if isinstance(value, str)]
    for value in strings:
        try:
            float(value)
        except ValueError:
            return value
    return strings[0] if strings else None
