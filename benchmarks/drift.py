"""Drift checks at predict time: how often they cry wolf, what they catch, what they cost.

``fit`` captures an :class:`safekeras.schema.InputSchema` of the raw training
features and every ``predict`` checks its batch against it (``on_drift="warn"``
emits a :class:`safekeras.exceptions.DriftWarning`). This script measures the
three things a user needs to trust that check.

What is measured
----------------
1. **False alarms**: a fresh sample of the training distribution must stay
   quiet. For each dataset, over ``--splits`` random 70/30 splits,
   ``InputSchema.from_training(X_train)`` is built directly (no network) and
   ``--batches`` random batches of 1, 10, 100 and 1000 held-out rows (capped at
   the held-out size) are checked; the table gives the share of batches with
   any finding, per batch size, and the kinds that fired. Datasets:

   * ``digits/16``: ``load_digits`` pixels scaled to 0-1 (1797 x 64);
   * ``breast cancer``: ``load_breast_cancer`` (569 x 30);
   * ``wine``: ``load_wine`` (178 x 13);
   * ``diabetes``: ``load_diabetes`` features (442 x 10, centred and scaled);
   * ``make_classification``: 4000 x 20;
   * ``mixed frame``: a generated pandas DataFrame of 3000 rows drawn from
     fixed distributions: ``age`` (normal, clipped to 18-90), ``income``
     (lognormal, sigma 1.5: heavy-tailed), ``visits`` (Poisson(3) integer
     counts), ``ratio`` (uniform 0-1), ``balance`` (normal around 0, sd 1000)
     and ``region``, a categorical column with 8 categories of unequal
     frequency (3 % to 30 %).

   A second table runs the same check end to end: per dataset one
   ``SafeKerasClassifier`` (``SafeKerasRegressor`` for diabetes) fitted for
   ``--epochs`` epochs on one split, ``--e2e-calls`` ``predict`` calls per batch
   size on held-out rows, counting the calls that emitted a ``DriftWarning``,
   and how many calls agree with the direct check of a schema built from the
   same training rows.

2. **Detection**: scenarios applied to held-out batches of 1, 10 and 100 rows
   (``--detect-splits`` splits x ``--batches`` batches per size). A batch counts
   as detected when a finding names the altered column (any finding, for the
   whole-image digits scenarios). "every column" rows alter one column at a
   time and average over the columns. The kinds column lists the finding kinds
   that named the column, most frequent first.

3. **Cost at predict time**: the end-to-end classifiers of breast cancer and
   of the mixed frame; ``predict_proba`` on 1, 100 and 10 000 held-out rows
   (tiled) with ``on_drift="warn"`` against a shallow copy set to
   ``on_drift="ignore"`` (which still runs the checks that raise, e.g.
   infinities), and ``input_schema_.check`` alone. Calls are interleaved
   round-robin after one warm-up call each; the median over ``--repeats``
   calls for 1 row (a quarter of that for 100 rows, a twentieth for 10 000,
   at least 3) is reported.

Run from the repository root::

    python benchmarks/drift.py                      # about 1-2 minutes on 2 cores
    python -m benchmarks.drift --quick              # smoke run, under 30 s
    python benchmarks/drift.py --splits 200 --markdown drift.md
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as `python benchmarks/drift.py`, Python puts benchmarks/ itself on sys.path, not the
# repository root that the `benchmarks.` imports below need; `python -m benchmarks.drift`
# (a package set) needs nothing.
if not __package__:
    _ROOT = str(Path(__file__).resolve().parents[1])
    if _ROOT not in sys.path:
        sys.path.insert(0, _ROOT)

import argparse
import copy
import math
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from benchmarks.datasets import BREAST_CANCER, MIXED, DriftDataset, load_drift_datasets
from benchmarks.drift_detection import (
    batches,
    detect,
    detection_examples,
    detection_verdict,
    format_detection_table,
    kinds_text,
    make_scenarios,
    rows_label,
    split,
    take,
)
from benchmarks.report import (
    describe_environment,
    fill_defaults,
    finish_report,
    prepare_keras,
    quiet_tensorflow_logger,
    time_calls,
)

FULL = {
    "splits": 50,
    "batches": 40,
    "detect_splits": 10,
    "epochs": 5,
    "e2e_calls": 20,
    "repeats": 200,
}
QUICK = {
    "splits": 4,
    "batches": 8,
    "detect_splits": 2,
    "epochs": 2,
    "e2e_calls": 4,
    "repeats": 20,
}

ALARM_SIZES = (1, 10, 100, 1000)
COST_SIZES = (1, 100, 10_000)


# -- setup ---------------------------------------------------------------------


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Measure safekeras's predict-time drift checks: false alarms on fresh "
        "samples, detection of scaling mistakes, and their cost.",
    )
    parser.add_argument("--splits", type=int, help="random 70/30 splits for false alarms (50)")
    parser.add_argument(
        "--batches", type=int, help="batches per split and batch size, both parts (40)"
    )
    parser.add_argument("--detect-splits", type=int, help="random splits for detection (10)")
    parser.add_argument("--epochs", type=int, help="epochs of the end-to-end networks (5)")
    parser.add_argument(
        "--e2e-calls", type=int, help="predict calls per batch size, end to end (20)"
    )
    parser.add_argument("--repeats", type=int, help="timed calls on 1 row; median (200)")
    parser.add_argument("--seed", type=int, default=0, help="seed of data, splits, batches (0)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 4 splits, 8 batches, 2 epochs, 20 timed calls",
    )
    parser.add_argument("--markdown", metavar="PATH", help="also write the report to PATH")
    args = parser.parse_args(argv)
    defaults = fill_defaults(args, QUICK, FULL)  # explicit flags win
    for key in defaults:
        if getattr(args, key) < 1:
            parser.error(f"--{key.replace('_', '-')} must be a positive integer")
    return args


# -- part 1: false alarms ------------------------------------------------------


@dataclass
class AlarmResult:
    dataset: DriftDataset
    n_test: int
    fired: dict[int, int] = field(default_factory=lambda: dict.fromkeys(ALARM_SIZES, 0))
    checked: dict[int, int] = field(default_factory=lambda: dict.fromkeys(ALARM_SIZES, 0))
    kinds: Counter = field(default_factory=Counter)
    examples: dict[str, tuple[int, str]] = field(default_factory=dict)  # kind -> (size, message)

    def rate(self, size: int) -> float:
        return self.fired[size] / self.checked[size]


def false_alarms(dataset: DriftDataset, args, rng: np.random.Generator) -> AlarmResult:
    from safekeras.schema import InputSchema

    result = None
    for _ in range(args.splits):
        train, test = split(dataset.n_rows, rng)
        result = result or AlarmResult(dataset, len(test))
        schema = InputSchema.from_training(take(dataset.X, train))
        for size in ALARM_SIZES:
            for rows in batches(test, size, args.batches, rng):
                report = schema.check(take(dataset.X, rows))
                result.checked[size] += 1
                if report:
                    result.fired[size] += 1
                    for finding in report.findings:
                        result.kinds[finding.kind] += 1
                        result.examples.setdefault(finding.kind, (len(rows), finding.message))
    return result


def format_alarm_table(results: list[AlarmResult], args) -> str:
    lines = [
        "| dataset | rows x features | batches per size | "
        + " | ".join(rows_label(size) for size in ALARM_SIZES)
        + " | kinds fired (batches) |",
        "|---|---|---:|" + "---:|" * len(ALARM_SIZES) + "---|",
    ]
    for r in results:
        cells = []
        for size in ALARM_SIZES:
            cell = f"{r.rate(size):.4f}"
            if size > r.n_test:
                cell += f" ({r.n_test})"
            cells.append(cell)
        lines.append(
            f"| {r.dataset.name} | {r.dataset.n_rows} x {r.dataset.X.shape[1]} "
            f"| {args.splits * args.batches} | {' | '.join(cells)} | {kinds_text(r.kinds)} |"
        )
    return "\n".join(lines)


def alarm_notes(results: list[AlarmResult]) -> str:
    examples = [
        f"- {r.dataset.name}, {size} row(s), {kind}: {message}"
        for r in results
        for kind, (size, message) in r.examples.items()
    ]
    if not examples:
        return "No false alarm in any batch."
    return "First false alarm of each kind, per dataset:\n\n" + "\n".join(examples)


def alarm_verdict(results: list[AlarmResult]) -> str:
    worst = max(
        (
            (r.rate(size), r.dataset.name, min(size, r.n_test))
            for r in results
            for size in ALARM_SIZES
        ),
        key=lambda t: t[0],
    )
    total = sum(sum(r.checked.values()) for r in results)
    fired = sum(sum(r.fired.values()) for r in results)
    if fired == 0:
        return (
            f"**Verdict**: no false alarm in {total} batches of fresh held-out rows "
            f"(95 % upper bound per cell: {3 / min(r.checked[1] for r in results):.4f})."
        )
    return (
        f"**Verdict**: {fired} false alarm(s) in {total} batches of fresh held-out rows; "
        f"highest rate {worst[0]:.4f} ({worst[1]}, {worst[2]} rows)."
    )


# -- part 1b: false alarms through the estimator -------------------------------


@dataclass
class EndToEnd:
    dataset: DriftDataset
    estimator: object
    test: np.ndarray
    warned: dict[int, int] = field(default_factory=dict)
    calls: dict[int, int] = field(default_factory=dict)
    agree: int = 0
    other_warnings: Counter = field(default_factory=Counter)


def fit_estimator(dataset: DriftDataset, X_train, y_train, args):
    from safekeras import SafeKerasClassifier, SafeKerasRegressor

    common = {
        "epochs": args.epochs,
        "early_stopping": False,
        "random_state": args.seed,
    }
    if dataset.regression:
        return SafeKerasRegressor(**common).fit(X_train, y_train)
    # Binary: a fixed threshold, so no internal fits for threshold tuning (multiclass has none).
    threshold = 0.5 if len(np.unique(y_train)) == 2 else "auto"
    return SafeKerasClassifier(threshold=threshold, **common).fit(X_train, y_train)


def end_to_end(dataset: DriftDataset, args, rng: np.random.Generator) -> EndToEnd:
    from safekeras.exceptions import DriftWarning
    from safekeras.schema import InputSchema

    train, test = split(dataset.n_rows, rng)
    X_train = take(dataset.X, train)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fit's own warnings are not what is measured here
        estimator = fit_estimator(dataset, X_train, dataset.y[train], args)
    schema = InputSchema.from_training(X_train)
    result = EndToEnd(dataset, estimator, test)
    for size in ALARM_SIZES:
        result.warned[size] = result.calls[size] = 0
        for rows in batches(test, size, args.e2e_calls, rng):
            batch = take(dataset.X, rows)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                estimator.predict(batch)
            drift = [w for w in caught if issubclass(w.category, DriftWarning)]
            for w in caught:
                if not issubclass(w.category, DriftWarning):
                    result.other_warnings[w.category.__name__] += 1
            result.calls[size] += 1
            result.warned[size] += bool(drift)
            result.agree += bool(drift) == bool(schema.check(batch))
    return result


def format_e2e_table(results: list[EndToEnd]) -> str:
    lines = [
        "| dataset | estimator | "
        + " | ".join(rows_label(size) for size in ALARM_SIZES)
        + " | calls agreeing with the direct check |",
        "|---|---|" + "---:|" * len(ALARM_SIZES) + "---:|",
    ]
    for r in results:
        cells = []
        for size in ALARM_SIZES:
            cell = f"{r.warned[size]}/{r.calls[size]}"
            if size > len(r.test):
                cell += f" ({len(r.test)})"
            cells.append(cell)
        total = sum(r.calls.values())
        lines.append(
            f"| {r.dataset.name} | {type(r.estimator).__name__} | {' | '.join(cells)} "
            f"| {r.agree}/{total} |"
        )
    return "\n".join(lines)


def e2e_verdict(results: list[EndToEnd], args) -> str:
    warned = sum(sum(r.warned.values()) for r in results)
    calls = sum(sum(r.calls.values()) for r in results)
    agree = sum(r.agree for r in results)
    others = Counter()
    for r in results:
        others.update(r.other_warnings)
    other = kinds_text(others) if others else "none"
    return (
        f"**Verdict**: {warned} DriftWarning(s) in {calls} predict calls on held-out rows; the "
        f"estimator agreed with the direct schema check in {agree}/{calls} calls. Networks: "
        f"{args.epochs} epochs, early stopping off, binary threshold 0.5. Other warnings at "
        f"predict: {other}."
    )


# -- part 2 (detection) is in drift_detection.py --------------------------------


# -- part 3: cost --------------------------------------------------------------


def tile(X, rows: int):
    if isinstance(X, pd.DataFrame):
        copies = math.ceil(rows / len(X))
        return pd.concat([X] * copies, ignore_index=True).iloc[:rows]
    return np.resize(X, (rows, X.shape[1]))


@dataclass(frozen=True)
class CostRow:
    dataset: str
    rows: int
    warn: float
    ignore: float
    check: float
    calls: int


def cost(result: EndToEnd, args) -> tuple[list[CostRow], int]:
    from safekeras.exceptions import DriftWarning

    warn = result.estimator
    ignore = copy.copy(warn).set_params(on_drift="ignore")  # no refit: a parameter only
    held_out = take(result.dataset.X, result.test)
    rows_out = []
    drift_warnings = 0
    for size in COST_SIZES:
        X = tile(held_out, size)
        n_calls = max(3, args.repeats // {1: 1, 100: 4}.get(size, 20))
        calls = {
            "warn": lambda X=X: warn.predict_proba(X),
            "ignore": lambda X=X: ignore.predict_proba(X),
            "check": lambda X=X: warn.input_schema_.check(X),
        }
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            medians = time_calls(calls, n_calls)
        drift_warnings += sum(issubclass(w.category, DriftWarning) for w in caught)
        rows_out.append(
            CostRow(
                result.dataset.name,
                size,
                medians["warn"],
                medians["ignore"],
                medians["check"],
                n_calls,
            )
        )
    return rows_out, drift_warnings


def format_cost_table(rows: list[CostRow]) -> str:
    lines = [
        '| model | rows | calls | predict_proba, on_drift="warn" (ms) | on_drift="ignore" (ms) '
        "| warn - ignore (ms) | `input_schema_.check` alone (ms) | check / warn predict |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.dataset} | {r.rows} | {r.calls} | {r.warn * 1e3:.3f} | {r.ignore * 1e3:.3f} "
            f"| {(r.warn - r.ignore) * 1e3:.3f} | {r.check * 1e3:.3f} | {r.check / r.warn:.1%} |"
        )
    return "\n".join(lines)


def cost_verdict(rows: list[CostRow], drift_warnings: int) -> str:
    parts = [
        f"{r.dataset}, {r.rows} row{'s' if r.rows > 1 else ''}: {r.check * 1e3:.2f} ms "
        f"({r.check / r.warn:.0%})"
        for r in rows
        if r.rows in (COST_SIZES[0], COST_SIZES[-1])
    ]
    return (
        f"**Verdict**: the full check alone costs {'; '.join(parts)} of a warn-mode "
        f"predict_proba. DriftWarnings during timing: {drift_warnings} (the rows are held-out "
        "training-distribution rows)."
    )


# -- report --------------------------------------------------------------------


def header_section(args) -> str:
    return "\n".join(
        [
            "# safekeras drift checks: false alarms, detection, cost\n",
            describe_environment(("pandas", pd.__version__)),
            f"- {args.splits} splits x {args.batches} batches per size (false alarms), "
            f"{args.detect_splits} splits x {args.batches} batches (detection), "
            f"{args.epochs} epochs end to end, {args.repeats} timed 1-row calls; "
            f"seed {args.seed}",
        ]
    )


def alarm_section(alarms, args) -> str:
    return "\n".join(
        [
            "## 1. False alarms on fresh samples of the training distribution\n",
            "Share of held-out batches with any finding, schema built directly with "
            f"`InputSchema.from_training` on the 70 % side of {args.splits} random "
            "splits; (n): batch capped at the n held-out rows.\n",
            format_alarm_table(alarms, args),
            "",
            alarm_verdict(alarms),
            "",
            alarm_notes(alarms),
        ]
    )


def e2e_section(e2e, args) -> str:
    return "\n".join(
        [
            "### Through the estimator\n",
            "Predict calls (of held-out batches) that emitted a DriftWarning, one "
            "fitted network per dataset.\n",
            format_e2e_table(e2e),
            "",
            e2e_verdict(e2e, args),
        ]
    )


def detection_section(detections, args) -> str:
    return "\n".join(
        [
            "## 2. Detection of scaling and schema mistakes\n",
            "Share of altered held-out batches with a finding naming the altered "
            f"column, over {args.detect_splits} random splits.\n",
            format_detection_table(detections),
            "",
            detection_verdict(detections),
            "",
            detection_examples(detections),
        ]
    )


def cost_section(e2e, args) -> str:
    """Time the estimator's predict calls on breast cancer and the mixed frame."""
    cost_rows = []
    drift_warnings = 0
    for result in e2e:
        if result.dataset.name in (BREAST_CANCER, MIXED):
            rows, n = cost(result, args)
            cost_rows += rows
            drift_warnings += n
    return "\n".join(
        [
            "## 3. Cost at predict time\n",
            "Median ms per call, interleaved round-robin; the held-out rows tiled to 10 000.\n",
            format_cost_table(cost_rows),
            "",
            cost_verdict(cost_rows, drift_warnings),
        ]
    )


def run(args: argparse.Namespace) -> str:
    """Run the benchmark, print the report and return it (markdown)."""
    started = time.perf_counter()
    sections = []

    def emit(text: str) -> None:
        print(text + "\n", flush=True)
        sections.append(text)

    emit(header_section(args))
    rng = np.random.default_rng(args.seed)
    datasets = load_drift_datasets(args.seed)
    by_name = {d.name: d for d in datasets}

    with quiet_tensorflow_logger():
        alarms = [false_alarms(d, args, rng) for d in datasets]
        emit(alarm_section(alarms, args))
        e2e = [end_to_end(d, args, rng) for d in datasets]
        emit(e2e_section(e2e, args))
        detections = [detect(s, by_name[s.dataset], args, rng) for s in make_scenarios(by_name)]
        emit(detection_section(detections, args))
        emit(cost_section(e2e, args))
    quick_note = "Quick run: a smoke test only; too few batches to bound the rates."
    return finish_report(sections, started, quick_note, args)


def main(argv=None) -> None:
    args = parse_args(argv)
    prepare_keras()
    run(args)


if __name__ == "__main__":
    sys.exit(main())
