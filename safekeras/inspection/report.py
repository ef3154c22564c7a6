"""What :func:`~safekeras.diagnostics.diagnose` returns: :class:`Diagnosis` of :class:`Finding`.

:meth:`Diagnosis.plot` imports :mod:`safekeras.inspection.plotting` when called; the
plotting module never imports this one, so the two form no import circle.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field

from ..exceptions import DiagnosisError
from .text import _fmt, _plain

__all__ = ["PITFALLS", "Diagnosis", "Finding"]

#: The pitfalls a :class:`Finding` can name, in the order a report lists them.
PITFALLS = ("overfitting", "underfitting", "imbalance", "threshold", "label_inversion", "drift")

# Width of the report's field names.
_KEY_WIDTH = 30


@dataclass(frozen=True)
class Finding:
    """One problem :func:`~safekeras.diagnostics.diagnose` found: what, the evidence, the fix.

    Attributes
    ----------
    pitfall : str
        One of :data:`PITFALLS`.
    title : str
        One line naming the problem with its key numbers.
    evidence : dict
        The numbers (and labels) behind it, as plain Python values.
    fix : str
        What to change, in terms of the estimator's parameters.
    """

    pitfall: str
    title: str
    evidence: dict = field(default_factory=dict)
    fix: str = ""

    def __str__(self) -> str:
        lines = textwrap.wrap(f"[{self.pitfall}] {self.title}", width=100, subsequent_indent="  ")
        lines += [f"    {key:<{_KEY_WIDTH}} {_fmt(value)}" for key, value in self.evidence.items()]
        lines += textwrap.wrap(
            f"fix: {self.fix}", width=100, initial_indent="  ", subsequent_indent="       "
        )
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """The finding as plain Python values; JSON-serialisable."""
        return {
            "pitfall": self.pitfall,
            "title": self.title,
            "evidence": _plain(self.evidence),
            "fix": self.fix,
        }


class Diagnosis:
    """What :func:`~safekeras.diagnostics.diagnose` found about a fitted estimator (built by it).

    Attributes
    ----------
    findings : tuple of Finding
        One per problem found, in :data:`PITFALLS` order: at most one per
        pitfall (several signs of one pitfall, e.g. opposite predictions and a
        majority positive class, are joined in one finding); empty for a
        healthy fit.
    summary : dict
        The numbers that are always available (epochs, losses, class counts,
        threshold) and, with ``X, y``, the metrics on them, whether or not
        they point at a problem.
    estimator_name : str
        Class name of the diagnosed estimator.

    Notes
    -----
    ``str(diagnosis)`` is a readable report, :meth:`to_dict` a JSON-serialisable
    dict, and :meth:`plot` draws the learning curves, the precision-recall curve
    and the threshold scores (needs matplotlib: ``pip install "safekeras[plot]"``).
    """

    def __init__(self, findings, summary, *, estimator_name="estimator", curves=None):
        self.findings = tuple(findings)
        self.summary = dict(summary)
        self.estimator_name = estimator_name
        self._curves = dict(curves or {})

    @property
    def pitfalls(self) -> tuple:
        """The pitfalls found, each once, in report order."""
        return tuple(dict.fromkeys(finding.pitfall for finding in self.findings))

    def by_pitfall(self, pitfall: str) -> tuple:
        """The findings about one of :data:`PITFALLS` (empty when it was not found)."""
        if pitfall not in PITFALLS:
            raise DiagnosisError(f"Unknown pitfall {pitfall!r}; the pitfalls are {PITFALLS}.")
        return tuple(finding for finding in self.findings if finding.pitfall == pitfall)

    def __repr__(self) -> str:
        return f"Diagnosis({self.estimator_name}, pitfalls={self.pitfalls!r})"

    def __str__(self) -> str:
        count = len(self.pitfalls)
        if count:
            header = f"Diagnosis of {self.estimator_name}: {count} problem(s) found"
        else:
            header = f"Diagnosis of {self.estimator_name}: No problems found."
        lines = [header, ""]
        for number, finding in enumerate(self.findings, 1):
            lines += [f"{number}. {finding}", ""]
        lines.append("Summary")
        lines += [f"  {key:<{_KEY_WIDTH}} {_fmt(value)}" for key, value in self.summary.items()]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """Findings and summary as plain Python values (NaN as None); JSON-serialisable."""
        return {
            "estimator": self.estimator_name,
            "pitfalls": list(self.pitfalls),
            "findings": [finding.to_dict() for finding in self.findings],
            "summary": _plain(self.summary),
        }

    def plot(self, axes=None):
        """Draw the learning curves and, for binary targets, the threshold panels.

        Parameters
        ----------
        axes : sequence of matplotlib Axes, default=None
            One per panel of :attr:`safekeras.plotting.DiagnosisDisplay.panels`; None
            makes a new figure.

        Returns
        -------
        safekeras.plotting.DiagnosisDisplay
        """
        from .plotting import DiagnosisDisplay

        return DiagnosisDisplay(**self._curves).plot(axes=axes)
