"""Drift: signs that a predict batch no longer looks like the training data.

:class:`DriftChecks` holds the checks :class:`~safekeras.data.schema.InputSchema`
runs on a decoded batch; each sign found becomes a :class:`DriftFinding`
(values far outside a column's training range, a column's spread changed by
an order of magnitude, categories never seen in training, a column suddenly
missing), worded with its likely cause, and the batch's findings a
:class:`DriftReport`.

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

import math
import warnings
from dataclasses import dataclass, field

import numpy as np

from .value_checks import _NAMES_SHOWN, _fmt, _shown

__all__ = [
    "FAR_EXCESS",
    "MIN_ROWS_FOR_SHARE",
    "MIN_ROWS_FOR_SPREAD",
    "DriftChecks",
    "DriftFinding",
    "DriftReport",
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
#: Rows (evenly spaced) a batch's quartiles are computed from.
_SPREAD_ROWS = 1000


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


class DriftChecks:
    """The drift checks of :class:`~safekeras.data.schema.InputSchema` (a mixin).

    The class it is mixed into holds the column profiles (``columns``,
    ``_numeric``, ``_categorical``, ``_positions``) and the numeric columns'
    training range (``_minimum``, ``_maximum``), and calls
    :meth:`_index_drift` once they are set. Profiles are
    :class:`~safekeras.data.schema.ColumnProfile` objects and batches
    :class:`~safekeras.data.schema.DecodedBatch` ones; they are not annotated
    as such because that module imports this one.
    """

    def _index_drift(self):
        """Build the per-column lookup arrays the drift checks compare a batch with."""
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
        example = _range_example(self._numeric[flagged[0]].label, evidence[names[0]])
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

    def _category_drift(self, batch) -> list[DriftFinding]:
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


def _magnitude_factor(column: np.ndarray, profile) -> float:
    """How many times larger the batch's values are than the training ones (by largest |value|)."""
    trained = max(abs(profile.minimum), abs(profile.maximum))
    if trained == 0 or not len(column):
        return math.inf if len(column) and np.abs(column).max() > 0 else 1.0
    return float(np.abs(column).max() / trained)


def _range_example(label: str, evidence: dict) -> str:
    """An example of a range finding: a batch's range against the training one, in words."""
    given = _fmt(evidence["batch_min"])
    if evidence["batch_max"] != evidence["batch_min"]:
        given += f" to {_fmt(evidence['batch_max'])}"
    return (
        f"{label}: {given} vs {_fmt(evidence['training_min'])} to "
        f"{_fmt(evidence['training_max'])} in training"
    )


def _looks_sign_flipped(column: np.ndarray, profile) -> bool:
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
