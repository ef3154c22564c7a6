"""What the estimator was trained on, and the checks ``predict`` runs against it.

:class:`InputSchema` is captured by ``fit`` from the *raw* training features,
before any preprocessing: column names and order, dtypes, the categories of
categorical columns and, per numeric column, the range, a robust centre and
spread, and a few quantiles. At predict time :meth:`InputSchema.check` turns
every batch into a :class:`DriftReport`:

* problems no prediction can survive (a numeric column arriving as strings,
  infinite values, named columns given to a model fitted on an array-less
  frame) raise :class:`~safekeras.exceptions.InputError` naming the columns;
* signs that the data no longer looks like the training data become
  :class:`DriftFinding` objects: values far outside a column's training range
  (the "trained on 0-1 pixels, fed 0-255" pitfall, a unit change, a sign flip),
  a column's spread changed by an order of magnitude, categories never seen in
  training, a column suddenly missing.

Scale checks are calibrated so that a fresh sample of the training
distribution stays quiet, at any batch size: a single value must lie beyond
the training range by more than :data:`FAR_EXCESS` widths of that range (a
fresh value beyond the training maximum almost always lies just beyond it),
in a column whose range rests on at least :data:`MIN_SUPPORT` values, or
when it has the opposite sign to a column kept well away from zero (see
:data:`SIGN_MARGIN`); a batch of at
least :data:`MIN_ROWS_FOR_SHARE` values is flagged when most of them lie
outside the range; a batch of at least :data:`MIN_ROWS_FOR_SPREAD` values when
its interquartile spread is :data:`SPREAD_FACTOR` times larger or smaller than
in training.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..exceptions import InputError
from .preprocessing import as_categories, is_dataframe, split_columns, strings_or_nan

__all__ = [
    "FAR_EXCESS",
    "MIN_ROWS_FOR_SHARE",
    "MIN_ROWS_FOR_SPREAD",
    "ColumnProfile",
    "DecodedBatch",
    "DriftFinding",
    "DriftReport",
    "InputSchema",
    "check_finite",
    "check_representable",
]

#: A value is "far" outside when it passes the training range by more than this many range widths.
#: Heavy tails put fresh values up to about 1.5 widths beyond (breast cancer's "area error").
FAR_EXCESS = 3.0
#: Training values off a column's median needed before one far value is trusted as drift: a
#: column that is almost constant has a range set by a handful of rows (rare digits pixels).
MIN_SUPPORT = 10
#: A column whose training values all lie this many range widths or more on one side of zero
#: flags any value of the other sign at least as large as its smallest training magnitude (a
#: sign flip), even when that value is within FAR_EXCESS widths of the range.
SIGN_MARGIN = 0.25
#: Values a column needs in a batch before "most of them lie outside the range" is judged.
MIN_ROWS_FOR_SHARE = 10
#: Share of a batch's values outside the training range that flags the column.
OUTSIDE_SHARE = 0.5
#: Values a column needs in a batch before its spread is compared with training.
MIN_ROWS_FOR_SPREAD = 30
#: How many times larger (or smaller) a batch's interquartile spread must be to flag the column.
SPREAD_FACTOR = 10.0
#: Columns whose median value holds this share of training rows or more skip the spread check.
MASS_POINT_SHARE = 0.25
#: Rise in a column's missing share (from training to a batch of MIN_ROWS_FOR_SHARE+) that flags it.
MISSING_RISE = 0.5
#: Categorical columns with more distinct training values are not tracked (ids, free text).
MAX_TRACKED_CATEGORIES = 1000
#: Quantile levels kept per numeric column.
QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
#: Rows (evenly spaced) a batch's quartiles are computed from.
_SPREAD_ROWS = 1000
#: Frames with at most this many rows are read through one ``to_numpy()`` (see ``decode``).
_SMALL_FRAME_ROWS = 64
#: Columns named in a message before "and N more".
_NAMES_SHOWN = 5


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


@dataclass(frozen=True)
class DriftFinding:
    """One sign that a batch does not look like the training data.

    Attributes
    ----------
    kind : {"range", "spread", "unseen_category", "missing"}
        ``"range"``: values outside the training range; ``"spread"``: the
        spread of a column changed by an order of magnitude;
        ``"unseen_category"``: categories not seen in training (encoded as
        unknown); ``"missing"``: a column far more often missing than in
        training.
    columns : tuple
        Names (DataFrame) or positions (array) of the columns concerned.
    message : str
        What was found, with the numbers, the likely cause and the fix.
    evidence : dict
        The numbers behind the message, per column.
    """

    kind: str
    columns: tuple
    message: str
    evidence: dict = field(default_factory=dict)

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class DriftReport:
    """The drift findings for one batch; falsy when there are none.

    Attributes
    ----------
    n_rows : int
        Rows in the batch.
    findings : tuple of DriftFinding
    """

    n_rows: int
    findings: tuple = ()

    def __bool__(self) -> bool:
        return bool(self.findings)

    @property
    def columns(self) -> tuple:
        """Every column named by a finding, once, in schema order of first mention."""
        seen: dict = {}
        for finding in self.findings:
            seen.update(dict.fromkeys(finding.columns))
        return tuple(seen)

    def __str__(self) -> str:
        if not self.findings:
            return f"No drift found in {self.n_rows} row(s)."
        lines = [f"The {self.n_rows} row(s) given do not look like the training data:"]
        lines += [f"- {finding.message}" for finding in self.findings]
        return "\n".join(lines)


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


class InputSchema:
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
        self._width = np.array([p.width for p in self._numeric], dtype=np.float64)
        self._spread = np.array([p.spread for p in self._numeric], dtype=np.float64)
        self._centre = np.array([p.centre for p in self._numeric], dtype=np.float64)
        self._missing = np.array([p.missing_share for p in self._numeric], dtype=np.float64)
        self._supported = np.array([p.support >= MIN_SUPPORT for p in self._numeric], dtype=bool)
        # A quartile on a repeated value (a pixel that is 0 in 60% of images) moves by whole
        # steps between samples: the spread of such a column is no measure of its scale.
        self._spread_comparable = np.array(
            [p.spread > 0 and p.median_share < MASS_POINT_SHARE for p in self._numeric], dtype=bool
        )
        margin = SIGN_MARGIN * self._width
        self._positive = self._supported & (self._minimum >= margin) & (self._minimum > 0)
        self._negative = self._supported & (-self._maximum >= margin) & (self._maximum < 0)

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
            for j, column in zip(numeric, values.T, strict=True):
                profiles[j] = _numeric_profile(name(j), _dtype(X, j), column)
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

    def _numeric_drift(self, values: np.ndarray) -> list[DriftFinding]:
        # Per-column extremes first: a clean batch costs three passes over the values.
        missing = np.isnan(values)
        any_missing = bool(missing.any())
        with warnings.catch_warnings(), np.errstate(invalid="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
            low = np.nanmin(values, axis=0) if any_missing else values.min(axis=0)
            high = np.nanmax(values, axis=0) if any_missing else values.max(axis=0)
        counts = (
            values.shape[0] - missing.sum(axis=0)
            if any_missing
            else np.full(values.shape[1], values.shape[0])
        )
        present = counts > 0
        worst = np.where(
            present,
            np.fmax((self._minimum - low) / self._width, (high - self._maximum) / self._width),
            -np.inf,
        )
        opposite = present & (
            (self._positive & (low <= -self._minimum)) | (self._negative & (high >= -self._maximum))
        )
        outside_share = np.zeros(values.shape[1])
        candidates = np.flatnonzero((worst > 0) & (counts >= MIN_ROWS_FOR_SHARE))
        if candidates.size:
            block = values[:, candidates]
            outside = (block < self._minimum[candidates]) | (block > self._maximum[candidates])
            outside_share[candidates] = outside.sum(axis=0) / counts[candidates]
            for k in np.flatnonzero(outside_share >= OUTSIDE_SHARE):  # the rare case
                outside_share[k] = self._distinct_outside_share(values[:, k], k)
        range_flag = (
            ((worst > FAR_EXCESS) & self._supported) | opposite | (outside_share >= OUTSIDE_SHARE)
        )
        findings = []
        flagged = np.flatnonzero(range_flag)
        if flagged.size:
            findings.append(self._range_finding(values, flagged, worst, outside_share))
        spread_ratio = self._spread_ratio(values, counts, any_missing)
        spread_flag = ~range_flag & (
            (spread_ratio >= SPREAD_FACTOR) | (spread_ratio <= 1 / SPREAD_FACTOR)
        )
        if spread_flag.any():
            findings.append(self._spread_finding(np.flatnonzero(spread_flag), spread_ratio))
        if any_missing and values.shape[0] >= MIN_ROWS_FOR_SHARE:
            share = missing.mean(axis=0)
            risen = np.flatnonzero(share - self._missing >= MISSING_RISE)
            if risen.size:
                findings.append(self._missing_finding(risen, share))
        return findings

    def _distinct_outside_share(self, column: np.ndarray, k: int) -> float:
        """Share of the distinct values of ``column`` outside column ``k``'s training range.

        Copies of one value are one observation: an explainer's batch repeats
        the explained row's value in most rows (SHAP's masked rows, partial
        dependence), and one value just beyond the range is judged by the
        single-value rule (:data:`FAR_EXCESS`), not by how often it is copied.
        So the share is of distinct values, and needs :data:`MIN_ROWS_FOR_SHARE`
        of them (0 otherwise).
        """
        distinct = np.unique(column[~np.isnan(column)])
        if len(distinct) < MIN_ROWS_FOR_SHARE:
            return 0.0
        outside = (distinct < self._minimum[k]) | (distinct > self._maximum[k])
        return float(outside.mean())

    def _spread_ratio(self, values, counts, any_missing) -> np.ndarray:
        """Batch over training interquartile spread per column; 1 where it is no evidence."""
        ratio = np.ones(values.shape[1])
        enough = np.flatnonzero((counts >= MIN_ROWS_FOR_SPREAD) & self._spread_comparable)
        if not enough.size:
            return ratio
        # Quartiles of 1000 evenly spaced rows are as good as of all, at a fraction of the cost.
        step = max(1, values.shape[0] // _SPREAD_ROWS)
        block = values[::step, enough]
        # Quartiles that are actual values: interpolating between a repeated value and the next
        # one invents spreads no row has.
        quartiles = np.nanpercentile if any_missing else np.percentile
        q25, q50, q75 = quartiles(block, [25, 50, 75], axis=0, method="inverted_cdf")
        spread = q75 - q25
        # A batch whose spread collapsed to 0 is usually a few repeated rows, not drift.
        ratio[enough] = np.where(spread > 0, spread / self._spread[enough], 1.0)
        changed = np.flatnonzero(
            (ratio[enough] >= SPREAD_FACTOR) | (ratio[enough] <= 1 / SPREAD_FACTOR)
        )
        if changed.size:  # the rare case: is the change evidence of a new scale?
            columns = enough[changed]
            evidence = _spread_is_scale(
                block[:, changed],
                ratio[columns],
                batch_centre=q50[changed],
                batch_spread=spread[changed],
                training_centre=self._centre[columns],
            )
            ratio[columns[~evidence]] = 1.0
        return ratio

    def _range_finding(self, values, flagged, worst, outside_share) -> DriftFinding:
        evidence = {}
        factors = []
        flips = []
        for k in flagged:
            profile = self._numeric[k]
            column = values[:, k][~np.isnan(values[:, k])]
            factor = _magnitude_factor(column, profile)
            flipped = _looks_sign_flipped(column, profile)
            factors.append(factor)
            flips.append(flipped)
            evidence[profile.name] = {
                "training_min": profile.minimum,
                "training_max": profile.maximum,
                "batch_min": float(column.min()),
                "batch_max": float(column.max()),
                "share_outside": float(outside_share[k]),
                "widths_beyond": float(worst[k]),
                "magnitude_factor": factor,
                "sign_flipped": flipped,
            }
        names = tuple(self._numeric[k].name for k in flagged)
        first = evidence[names[0]]
        given = _fmt(first["batch_min"])
        if first["batch_max"] != first["batch_min"]:
            given += f" to {_fmt(first['batch_max'])}"
        example = (
            f"{self._numeric[flagged[0]].label}: {given} vs {_fmt(first['training_min'])} to "
            f"{_fmt(first['training_max'])} in training"
        )
        message = (
            f"{len(flagged)} of {len(self.columns)} column(s) fall outside their training range "
            f"({_shown([self._numeric[k].label for k in flagged])}; e.g. {example}). "
            f"{_likely_cause(factors, flips)}"
        )
        return DriftFinding("range", names, message, evidence)

    def _spread_finding(self, flagged, ratio) -> DriftFinding:
        evidence = {self._numeric[k].name: {"spread_ratio": float(ratio[k])} for k in flagged}
        labels = [f"{self._numeric[k].label}: {_fmt(ratio[k])} times" for k in flagged]
        message = (
            f"The spread of {len(flagged)} column(s) changed by an order of magnitude since "
            f"training ({_shown(labels)}): a unit change (e.g. metres vs kilometres) or a "
            "scaling step applied in fit but not now (or the reverse). Transform the data "
            "exactly as the training data was transformed."
        )
        return DriftFinding("spread", tuple(evidence), message, evidence)

    def _missing_finding(self, risen, share) -> DriftFinding:
        evidence = {
            self._numeric[k].name: {
                "batch_missing_share": float(share[k]),
                "training_missing_share": float(self._missing[k]),
            }
            for k in risen
        }
        labels = [f"{self._numeric[k].label} {share[k]:.0%}" for k in risen]
        message = (
            f"{len(risen)} column(s) are missing far more often than in training "
            f"({_shown(labels)} missing): an upstream column renamed or emptied? Missing "
            "values are imputed with training medians, so predictions ignore these columns."
        )
        return DriftFinding("missing", tuple(evidence), message, evidence)

    def _category_drift(self, batch: DecodedBatch) -> list[DriftFinding]:
        evidence = {}
        for k, profile in enumerate(self._categorical):
            if profile.categories is None:
                continue
            column = batch.categorical[:, k]
            present = np.array([isinstance(v, str) for v in column], dtype=bool)
            values = column[present]
            unseen = [v for v in values if v not in profile.categories]
            if unseen:
                distinct = sorted(set(unseen))
                evidence[profile.name] = {
                    "n_unseen": len(unseen),
                    "share_unseen": len(unseen) / max(len(values), 1),
                    "examples": distinct[:_NAMES_SHOWN],
                }
        if not evidence:
            return []
        labels = [
            f"{self._column_label(name)}: {info['n_unseen']} row(s), e.g. "
            f"{', '.join(repr(v) for v in info['examples'][:3])}"
            for name, info in evidence.items()
        ]
        message = (
            f"Categories never seen in training in {len(evidence)} column(s) "
            f"({'; '.join(labels[:_NAMES_SHOWN])}). They are encoded as unknown (all-zero "
            "one-hot, or the 'infrequent' group), so the network predicts from the other "
            "columns; retrain with data that has them if they are here to stay."
        )
        return [DriftFinding("unseen_category", tuple(evidence), message, evidence)]

    def _column_label(self, name) -> str:
        return self.columns[self._positions[name]].label


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


def _numeric_profile(name, dtype, column) -> ColumnProfile:
    present = column[~np.isnan(column)]
    missing_share = 1.0 - len(present) / max(len(column), 1)
    if not len(present):
        return ColumnProfile(name, "numeric", dtype, missing_share)
    levels = np.quantile(present, QUANTILES, method="inverted_cdf").tolist()
    quantiles = dict(zip(QUANTILES, levels, strict=True))
    support = int(np.count_nonzero(present != quantiles[0.5]))
    return ColumnProfile(
        name,
        "numeric",
        dtype,
        missing_share,
        minimum=float(present.min()),
        maximum=float(present.max()),
        centre=quantiles[0.5],
        spread=quantiles[0.75] - quantiles[0.25],
        quantiles=tuple(quantiles.values()),
        support=support,
        median_share=1.0 - support / len(present),
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


def _spread_is_scale(block, ratio, *, batch_centre, batch_spread, training_centre) -> np.ndarray:
    """Which columns of ``block`` have a spread change that says "another scale".

    Two kinds of batch change their interquartile spread without any change
    of units, and are what explainers and inspection tools send (SHAP's
    masked rows, partial dependence grids, permutation importance): a column
    dominated by one repeated value (the explained row's value, a grid
    point), whose quartiles then sit on that value and its neighbours, as on
    a training column with a mass point (:data:`MASS_POINT_SHARE`); and a
    batch of similar rows, narrower than the training data but where the
    training data is. A unit change rescales the whole column, its centre
    with its spread: values divided by 255 move towards zero by the same
    factor. So a spread counts as evidence when no value holds
    :data:`MASS_POINT_SHARE` of the batch and, for a shrunk spread, the
    batch's median is within one batch spread of the training median
    rescaled by the same ratio. A grown spread needs no such test: a batch
    drawn from the training data cannot be wider than it (the "fed 0-255,
    trained on 0-1" pitfall).

    Parameters
    ----------
    block : ndarray of shape (n_rows, n_columns)
        The batch's values in the columns whose spread changed (NaN: missing).
    ratio : ndarray of shape (n_columns,)
        Batch over training interquartile spread.
    batch_centre, batch_spread, training_centre : ndarray of shape (n_columns,)
        Medians and interquartile spreads of the batch and the training data.

    Returns
    -------
    ndarray of bool, shape (n_columns,)
    """
    dominated = np.array([_has_mass_point(column) for column in block.T], dtype=bool)
    rescaled = np.abs(batch_centre - ratio * training_centre) <= batch_spread
    return ~dominated & ((ratio > 1) | rescaled)


def _has_mass_point(column: np.ndarray) -> bool:
    """Whether one value holds :data:`MASS_POINT_SHARE` or more of the present values."""
    present = np.sort(column[~np.isnan(column)])
    needed = max(2, math.ceil(MASS_POINT_SHARE * len(present)))
    if len(present) < needed:
        return False
    # In sorted values, a value repeated `needed` times spans `needed` consecutive positions.
    return bool(np.any(present[needed - 1 :] == present[: len(present) - needed + 1]))


def _magnitude_factor(column: np.ndarray, profile: ColumnProfile) -> float:
    """How many times larger the batch's values are than the training ones (by largest |value|)."""
    trained = max(abs(profile.minimum), abs(profile.maximum))
    if trained == 0 or not len(column):
        return math.inf if len(column) and np.abs(column).max() > 0 else 1.0
    return float(np.abs(column).max() / trained)


def _looks_sign_flipped(column: np.ndarray, profile: ColumnProfile) -> bool:
    """Negated, the batch would fit the training range while as given it does not."""
    if not len(column):
        return False
    tolerance = 0.1 * profile.width
    inside = (column >= profile.minimum - tolerance) & (column <= profile.maximum + tolerance)
    flipped = (-column >= profile.minimum - tolerance) & (-column <= profile.maximum + tolerance)
    return bool(flipped.mean() >= 0.9 and inside.mean() < 0.5)


def _likely_cause(factors: list[float], flips: list[bool]) -> str:
    fix = "Transform the data exactly as the training data was transformed before fit."
    if sum(flips) > len(flips) / 2:
        return f"The values look sign-flipped (negated, they fit the training range). {fix}"
    finite = [f for f in factors if math.isfinite(f) and f > 0]
    if finite:
        factor = float(np.median(finite))
        if factor >= 3:
            return (
                f"Values are about {_fmt(factor)} times larger than in training: a scaling step "
                "applied before fit but not now (e.g. pixels divided by 255), or a unit change "
                f"(e.g. kilograms vs grams). {fix}"
            )
        if factor <= 1 / 3:
            return (
                f"Values are about {_fmt(1 / factor)} times smaller than in training: a scaling "
                "step applied now but not before fit, or a unit change. " + fix
            )
    return f"The values are shifted from the training range. {fix}"


def _shown(labels) -> str:
    labels = [str(label) for label in labels]
    if len(labels) <= _NAMES_SHOWN:
        return ", ".join(labels)
    return f"{', '.join(labels[:_NAMES_SHOWN])} and {len(labels) - _NAMES_SHOWN} more"


def _fmt(value: float) -> str:
    return f"{value:.3g}"
