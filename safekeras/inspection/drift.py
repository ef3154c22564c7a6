"""The drift check: :meth:`~safekeras.schema.InputSchema.check` finds the rows given unlike
the training rows."""

from __future__ import annotations

from .report import Finding
from .text import _shown


def _check_drift(context) -> list:
    report = context.drift
    if not report:
        return []
    findings = report.findings
    columns = report.columns
    title = (
        f"the {report.n_rows} rows given do not look like the training data: "
        f"{len(findings)} kind(s) of drift in {len(columns)} column(s) ({_shown(columns)})"
    )
    evidence = {
        "n_rows": report.n_rows,
        "kinds": [finding.kind for finding in findings],
        "columns": list(columns),
        "messages": [finding.message for finding in findings],
    }
    fix = (
        "Each message names the likely cause: prepare these rows exactly as the training "
        "rows were (same units, scaling and encoding), or refit on data like them."
    )
    if context.labelled:
        fix += (
            " Until then the metrics on these rows say little about the fit: the checks that "
            "compare predictions with y (overfitting, underfitting, threshold, label "
            "inversion) were skipped."
        )
    return [Finding("drift", title, evidence, fix)]
