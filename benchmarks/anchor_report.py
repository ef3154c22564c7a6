"""The anchors benchmark's report: headline, targets, paired wins and per-task tables.

Part of :mod:`benchmarks.anchors`: the metrics each kind of task is scored on, the issue's
targets, the record of one contender on one task (:class:`Row`) and every markdown table of
the report (:func:`build_report`). Every win, tie and loss is
:func:`benchmarks.paired.compare_paired`'s verdict on the paired folds.
"""

from __future__ import annotations

import datetime
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from benchmarks.anchor_contenders import REALMLP, SAFEKERAS, TABM
from benchmarks.paired import compare_paired
from benchmarks.real_tables import RealTask
from benchmarks.report import describe_environment, installed_versions

# (key, label, higher is better) per kind of target.
CLASS_METRICS = (
    ("balanced_accuracy", "balanced acc.", True),
    ("pr_auc", "PR-AUC", True),
    ("brier", "Brier", False),
    ("log_loss", "log-loss", False),
)
METRICS = {
    "binary": CLASS_METRICS,
    "multiclass": CLASS_METRICS,
    "regression": (("r2", "R²", True), ("mae", "MAE", False)),
}
# The metrics the issue sets targets on, and the margin each may trail the best baseline by.
TARGETS = {"binary": {"balanced_accuracy": 0.005, "pr_auc": 0.005}, "regression": {"r2": 0.01}}
TARGETS["multiclass"] = TARGETS["binary"]
FIT_TIME_RATIO = 0.25  # safekeras's fit time <= this x RealMLP-TD's and TabM-D's
# The metrics each task table and the wins-and-losses table compare by the paired rule.
PAIRED = {"binary": ("balanced_accuracy", "pr_auc", "brier"), "regression": ("r2", "mae")}
PAIRED["multiclass"] = PAIRED["binary"]


@dataclass
class Row:
    """One contender on one task: per-fold scores, or why there are none."""

    contender: str
    task: str
    scores: dict = field(default_factory=dict)
    skipped: str | None = None
    warnings: Counter = field(default_factory=Counter)

    def values(self, metric: str) -> np.ndarray:
        return np.asarray(self.scores.get(metric, []), dtype=float)

    def mean(self, metric: str) -> float:
        values = self.values(metric)
        return float(np.mean(values)) if self.skipped is None and values.size else float("nan")


def paired(safe: Row, other: Row, metric: str, higher: bool, args):
    """safekeras minus ``other`` on the paired folds (:func:`compare_paired`); None if unscored."""
    if safe.skipped or other.skipped or not other.values(metric).size:
        return None
    return compare_paired(
        safe.values(metric),
        other.values(metric),
        test_fraction=1.0 / args.folds,
        higher_is_better=higher,
    )


def best_other(rows: list[Row], metric: str, higher: bool) -> Row | None:
    """The contender other than safekeras with the best mean of ``metric``."""
    scored = [r for r in rows if r.contender != SAFEKERAS and not np.isnan(r.mean(metric))]
    if not scored:
        return None
    return (max if higher else min)(scored, key=lambda r: r.mean(metric))


def _cell(row: Row, metric: str) -> str:
    if row.skipped:
        return "n/a"
    values = row.values(metric)
    return f"{np.mean(values):.3f} ± {np.std(values):.3f}" if values.size else "n/a"


def _verdict(comparison) -> str:
    if comparison is None:
        return "n/a"
    return f"{comparison.mean:+.3f} ± {comparison.half_width:.3f} {comparison.verdict}"


def task_table(task: RealTask, rows: list[Row], args) -> str:
    """One task: every contender's mean ± sd, and safekeras minus it by the paired rule."""
    metrics = METRICS[task.kind]
    keyed = [m for m in metrics if m[0] in PAIRED[task.kind]]
    header = ["contender", *(label for _, label, _ in metrics), "fit s/fold"]
    header += [f"safekeras vs it: {label}" for _, label, _ in keyed]
    lines = [
        f"### {task.name} ({task.kind}; {task.summary})",
        "",
        "| " + " | ".join(header) + " |",
        "|---|" + "---:|" * (len(header) - 1),
    ]
    safe = next((r for r in rows if r.contender == SAFEKERAS), None)
    for row in rows:
        cells = [_cell(row, key) for key, _, _ in metrics]
        cells.append(_cell(row, "fit_seconds"))
        for key, _, higher in keyed:
            other = None if safe is None or row is safe else paired(safe, row, key, higher, args)
            cells.append("-" if row is safe else _verdict(other))
        lines.append(f"| {row.contender} | " + " | ".join(cells) + " |")
    notes = [f"- {r.contender}: {r.skipped}" for r in rows if r.skipped]
    notes += [
        f"- {r.contender}: " + ", ".join(f"{name} x{n}" for name, n in sorted(r.warnings.items()))
        for r in rows
        if r.warnings and not r.skipped
    ]
    return "\n".join(lines + (["", *notes] if notes else []))


def target_rows(task, rows: list[Row], args) -> list[str]:
    """The issue's per-task targets: safekeras against the best other contender (by mean)."""
    safe = _row(rows, SAFEKERAS)
    if safe is None or safe.skipped:
        return []
    lines = []
    for key, label, higher in METRICS[task.kind]:
        best = best_other(rows, key, higher) if key in TARGETS[task.kind] else None
        if best is None:
            continue
        gap = safe.mean(key) - best.mean(key)
        margin = TARGETS[task.kind][key]
        verdict = "pass" if gap >= -margin else "**FAIL**"
        comparison = _verdict(paired(safe, best, key, higher, args))
        lines.append(
            f"| {task.name} | {label} | {safe.mean(key):.3f} | {best.contender} "
            f"{best.mean(key):.3f} | {gap:+.3f} | {comparison} | >= -{margin} | {verdict} |"
        )
    for anchor in (REALMLP, TABM):
        other = _row(rows, anchor)
        if other is not None and not other.skipped:
            lines.append(fit_time_row(task, safe, other))
    return lines


def _row(rows: list[Row], name: str) -> Row | None:
    return next((row for row in rows if row.contender == name), None)


def fit_time_row(task, safe: Row, other: Row) -> str:
    ratio = safe.mean("fit_seconds") / other.mean("fit_seconds")
    verdict = "pass" if ratio <= FIT_TIME_RATIO else "**FAIL**"
    return (
        f"| {task.name} | fit s/fold vs {other.contender} | {safe.mean('fit_seconds'):.2f} | "
        f"{other.contender} {other.mean('fit_seconds'):.2f} | {ratio:.2f}x | - | "
        f"<= {FIT_TIME_RATIO}x | {verdict} |"
    )


def fit_time_notes(results) -> list[str]:
    """Why the fit-time target could not be judged: per anchor, each reason and its tables."""
    notes = []
    for anchor in (REALMLP, TABM):
        if not any(_row(rows, anchor) for _, rows in results):
            notes.append(f"- fit time vs {anchor}: not judged: not among --contenders")
            continue
        reasons: dict[str, list[str]] = {}  # in task order, so the page is the same every time
        for task, rows in results:
            row = _row(rows, anchor)
            if row is not None and row.skipped:
                reasons.setdefault(row.skipped, []).append(task.name)
        notes += [
            f"- fit time vs {anchor}: not judged on {', '.join(names)}: {why}"
            for why, names in reasons.items()
        ]
    return notes


def average_rows(results: list[tuple[RealTask, list[Row]]]) -> list[str]:
    """'Ahead on average': safekeras's mean over the tasks against each contender's on them."""
    lines = []
    for kinds, label_kind in (
        (("binary", "multiclass"), "classification"),
        (("regression",), "regression"),
    ):
        chosen = [(task, rows) for task, rows in results if task.kind in kinds]
        if not chosen:
            continue
        for key, label, higher in METRICS[kinds[0]]:
            if key not in TARGETS[kinds[0]]:
                continue
            means = _means_over_tasks(chosen, key)
            if SAFEKERAS not in means or len(means) < 2:
                continue
            others = {name: value for name, value in means.items() if name != SAFEKERAS}
            best = (max if higher else min)(others, key=others.get)
            gap = means[SAFEKERAS] - others[best]
            # The issue asks the classifier to be ahead on average; for the regressor the
            # average is shown, its target is per task.
            target, verdict = ("> 0", "pass" if gap > 0 else "**FAIL**")
            if label_kind == "regression":
                target, verdict = "(per task only)", "-"
            lines.append(
                f"| average of {len(chosen)} {label_kind} tasks | {label} | "
                f"{means[SAFEKERAS]:.3f} | {best} {others[best]:.3f} | {gap:+.3f} | - | "
                f"{target} | {verdict} |"
            )
    return lines


def _means_over_tasks(chosen, key: str) -> dict[str, float]:
    """Each contender's mean over the tasks, for contenders scored on every one of them."""
    per_contender: dict[str, list[float]] = {}
    for _, rows in chosen:
        for row in rows:
            per_contender.setdefault(row.contender, []).append(row.mean(key))
    return {
        name: float(np.mean(values))
        for name, values in per_contender.items()
        if len(values) == len(chosen) and not np.isnan(values).any()
    }


def headline_section(results, args) -> str:
    """Every contender's mean on every task, for the metrics the targets judge; best in bold."""
    names = [name for name in args.contenders]
    lines = [
        "## Headline",
        "",
        "Mean over the folds; the best of each row in bold. R² for regression, balanced "
        "accuracy and PR-AUC for classes.",
        "",
        "| task | metric | " + " | ".join(names) + " |",
        "|---|---|" + "---:|" * len(names),
    ]
    for task, rows in results:
        for key, label, higher in METRICS[task.kind]:
            if key not in TARGETS[task.kind]:
                continue
            means = {
                name: _row(rows, name).mean(key) if _row(rows, name) else np.nan for name in names
            }
            scored = [value for value in means.values() if not np.isnan(value)]
            best = (max if higher else min)(scored) if scored else np.nan
            # Bold every mean that rounds to the best one: the table shows three decimals.
            cells = [
                "n/a"
                if np.isnan(v)
                else f"**{v:.3f}**"
                if f"{v:.3f}" == f"{best:.3f}"
                else f"{v:.3f}"
                for v in means.values()
            ]
            lines.append(f"| {task.name} | {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def targets_section(results, args) -> str:
    lines = [
        "## Targets",
        "",
        "safekeras's mean over the folds against the best other contender's (by mean) on each "
        "task; fit time against the optional pytabkit anchors.",
        "",
        "| task | metric | safekeras | best other | gap | paired (safekeras - best) | target "
        "| verdict |",
        "|---|---|---:|---:|---:|---:|---|---|",
    ]
    for task, rows in results:
        lines += target_rows(task, rows, args)
    lines += average_rows(results)
    notes = fit_time_notes(results)
    return "\n".join(lines + (["", *notes] if notes else []))


def _tally(results, name: str, args) -> dict[str, Counter]:
    """safekeras's verdicts against ``name`` over the tasks, by metric label."""
    counts: dict[str, Counter] = {}
    for task, rows in results:
        safe, other = _row(rows, SAFEKERAS), _row(rows, name)
        if safe is None or other is None:
            continue
        for key, label, higher in METRICS[task.kind]:
            if key in PAIRED[task.kind]:
                comparison = paired(safe, other, key, higher, args)
                counts.setdefault(label, Counter())[
                    comparison.verdict if comparison else "n/a"
                ] += 1
    return counts


def summary_section(results, args) -> str:
    """Wins, ties and losses of safekeras against each contender, over the tasks, by metric."""
    present = {"binary" if task.kind == "multiclass" else task.kind for task, _ in results}
    labels = [
        label
        for kind in ("binary", "regression")
        if kind in present
        for key, label, _ in METRICS[kind]
        if key in PAIRED[kind]
    ]
    lines = [
        "## safekeras against each contender (paired rule, all tasks)",
        "",
        "safekeras's wins / ties / losses over the tasks (and tasks where the contender did not "
        "run).",
        "",
        "| contender | " + " | ".join(labels) + " |",
        "|---|" + "---:|" * len(labels),
    ]
    for name in args.contenders:
        if name == SAFEKERAS:
            continue
        counts = _tally(results, name, args)
        cells = []
        for label in labels:
            count = counts.get(label, Counter())
            cell = f"{count['win']} / {count['tie']} / {count['loss']}"
            cells.append(cell + (f" ({count['n/a']} not run)" if count["n/a"] else ""))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _warm_up_line(cold: tuple[str, ...]) -> str:
    """How the fit times treat a process's start-up; ``cold`` lists the contenders not warmed."""
    line = (
        "- before the first table, each contender is fitted once, untimed, on a small generated "
        "table of each kind, so that its process's start-up (TensorFlow's, torch's) is not "
        "charged to the first table's first fold"
    )
    if cold:
        line += (
            f"; not {', '.join(cold)}, whose runs were saved before this warm-up: in each of "
            "their runs the first table's first fold includes it"
        )
    return line


def settings_section(args, skipped: list[str]) -> str:
    import pandas

    from benchmarks.anchor_contenders import ANCHORS as anchors

    versions = [("pandas", pandas.__version__), *installed_versions("torch", "pytabkit")]
    lines = [
        describe_environment(*versions),
        f"- date: {datetime.date.today().isoformat()}",
        f"- safekeras measured: {getattr(args, 'code', None) or 'unknown'}",
        f"- {args.folds}-fold CV x {args.repeats} repeat(s), seed {args.seed}; the same folds "
        "for every contender (grouped by distinct feature row on a panel table, randhie: "
        "each person's yearly rows share their features); paired rule: "
        "`benchmarks.paired.compare_paired` "
        f"(corrected resampled t, 95 %, test fraction 1/{args.folds})",
        "- a paired cell is safekeras minus the contender, mean over the paired folds ± the "
        "corrected 95 % half-width, and the verdict for safekeras (win / tie / loss); for "
        "Brier and MAE the sign is flipped, so a positive mean always favours safekeras",
        f"- OpenMP/BLAS threads: {args.threads or 'library defaults'}; the machine may be "
        "shared: compare fit times within one run only",
        "- a quick run: no warm-up"
        if getattr(args, "quick", False)
        else _warm_up_line(getattr(args, "cold_start", ())),
        "",
        "Contenders:",
        "",
        *(f"- **{a.name}**: {a.description}" for a in anchors if a.name in args.contenders),
    ]
    for names, packages in getattr(args, "runs_apart", ()):
        listed = ", ".join(f"{name} {version}" for name, version in packages.items())
        lines.append(f"- {', '.join(names)}: run apart, in an environment with {listed}")
    if skipped:
        lines += ["", "Skipped tables:", "", *(f"- {line}" for line in skipped)]
    return "\n".join(lines)


def build_report(results, args, skipped: list[str], total: int) -> list[str]:
    sections = [
        "# Anchors: safekeras's defaults against the strongest baselines",
        settings_section(args, skipped),
    ]
    done = sum(len(rows) == len(args.contenders) for _, rows in results)
    if done < total:
        sections.append(f"**Partial report: {done} of {total} tasks done.**")
    sections += [
        headline_section(results, args),
        targets_section(results, args),
        summary_section(results, args),
        "## Per task",
    ]
    sections += [task_table(task, rows, args) for task, rows in results]
    return sections
