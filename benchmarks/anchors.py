"""Anchors: safekeras's defaults against the strongest baselines, on real tables.

What is measured
----------------
Every task of :func:`benchmarks.real_tables.load_real_tasks` (the CSVs of
``../shared/data`` and scikit-learn's breast cancer, wine and diabetes sets:
binary, multiclass and regression targets, 178 to 20 190 rows, string
categories and gaps as they come), cross-validated on the same folds for every
contender: ``StratifiedKFold`` for classes, ``KFold`` for regression, shuffled
with ``--seed`` (``--repeats`` more runs of the CV use ``seed + 1``, ...); a
panel table (randhie: each person's rows share their features) gets
``GroupKFold`` folds over its distinct feature rows, so no contender is scored
on rows whose twins it trained on.
Contenders (:mod:`benchmarks.anchor_contenders`): safekeras at its defaults
(``random_state`` only), a tuned linear model, tuned HistGradientBoosting,
scikit-learn's MLP at its defaults and with early stopping, a careful
hand-written Keras pipeline, SciKeras, and RealMLP-TD and TabM-D from pytabkit
when it imports (their rows say why when it does not).

Metrics per fold: classes: balanced accuracy, PR-AUC (average precision;
multiclass: macro one-vs-rest), Brier (multiclass: the summed squared error of
the probability vector, 0 to 2, as ``brier_score_loss``), log-loss; regression:
R², MAE; both: fit seconds (wall clock). Every difference of safekeras against
a contender is judged by :func:`benchmarks.paired.compare_paired` over the
paired folds (the one rule of every benchmark here).

Targets (issue 22): the classifier's balanced accuracy and PR-AUC >= the best
other contender's - 0.005 on every task, and ahead on average; the regressor's
R² >= the best other's - 0.01; safekeras's fit time <= 0.25x RealMLP-TD's and
TabM-D's. They are pass/fail columns of the first table.

scikit-learn's OpenMP and BLAS pools run at ``--threads`` (1) threads. Tasks
run from the smallest table up, and the report is rewritten after every task
(``--json`` keeps the per-fold scores too), so that a long run leaves its
numbers; ``--from-json`` writes the report of saved scores without running.

Run from the repository root::

    python benchmarks/anchors.py --json /tmp/anchors.json  # every task -> docs/anchors.md
    python benchmarks/anchors.py --quick         # smoke run: 2 small tasks, 2 folds, printed
    python benchmarks/anchors.py --tasks wine,diabetes --contenders "safekeras default,tuned HGB"
    python benchmarks/anchors.py --from-json /tmp/anchors.json --markdown docs/anchors.md
"""

from __future__ import annotations

import sys
from pathlib import Path

if not __package__:  # run as a script: put the repository root on the path
    _ROOT = str(Path(__file__).resolve().parents[1])
    if _ROOT not in sys.path:
        sys.path.insert(0, _ROOT)

import argparse
import contextlib
import datetime
import io
import subprocess
import time
import warnings

import numpy as np
import pandas as pd
from sklearn.metrics import (
    average_precision_score,
    balanced_accuracy_score,
    brier_score_loss,
    log_loss,
    mean_absolute_error,
    r2_score,
)
from sklearn.model_selection import GroupKFold, KFold, StratifiedKFold, train_test_split
from sklearn.preprocessing import label_binarize
from threadpoolctl import threadpool_limits

from benchmarks import real_tables
from benchmarks.anchor_contenders import (
    ANCHORS,
    QUICK_ANCHORS,
    SAFEKERAS,
    Unavailable,
)
from benchmarks.anchor_report import Row, build_report
from benchmarks.anchor_runs import SavedTask, load_json, names_of, save_json  # noqa: F401
from benchmarks.quality_contract import disable_op_determinism, op_determinism_enabled
from benchmarks.report import (
    fill_defaults,
    finish_report,
    prepare_keras,
    progress,
    quiet_tensorflow_logger,
)

ROOT = Path(__file__).resolve().parents[1]
DOCS_PAGE = ROOT / "docs" / "anchors.md"
QUICK_TASKS = ("breast_cancer", "diabetes")
FULL = {"folds": 5, "epochs": None, "keras_epochs": 30, "mlp_max_iter": None}
FULL |= {"hgb_max_iter": None, "max_rows": None}
QUICK = {"folds": 2, "epochs": 5, "keras_epochs": 3, "mlp_max_iter": 30}
QUICK |= {"hgb_max_iter": 20, "max_rows": 300}


# -- options -------------------------------------------------------------------


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--quick", action="store_true", help="smoke run: 2 small tasks, 2 folds, few contenders")
    add(
        "--tasks", help="comma-separated task names (default: all; --quick: breast_cancer,diabetes)"
    )
    add("--contenders", help="comma-separated contender names (default: all; --quick: 4)")
    add("--folds", type=int, help="cross-validation folds (5; --quick 2)")
    add("--repeats", type=int, default=1, help="runs of the CV, with seeds seed, seed+1, ... (1)")
    add("--seed", type=int, default=0, help="seed of folds and models (0)")
    add("--epochs", type=int, help="max epochs of safekeras and careful Keras (their own)")
    add("--keras-epochs", type=int, help="epochs of SciKeras (30; --quick 3)")
    add("--mlp-max-iter", type=int, help="max_iter of the MLPs (scikit-learn's; --quick 30)")
    add("--hgb-max-iter", type=int, help="max_iter of HistGradientBoosting (its own; --quick 20)")
    add("--max-rows", type=int, help="subsample larger tasks to this many rows (all; --quick 300)")
    add(
        "--row-limit",
        metavar="NAME=ROWS",
        help="comma-separated: a contender skips tables of more rows, with a row saying so",
    )
    add("--threads", type=int, default=1, help="OpenMP/BLAS threads (threadpoolctl); 0: defaults")
    add("--markdown", metavar="PATH", help="where to write the report (full run: docs/anchors.md)")
    add(
        "--json",
        metavar="PATH",
        help="also write the per-fold scores to PATH (after each contender)",
    )
    add(
        "--from-json",
        metavar="PATH",
        help="report the --json file(s), comma-separated, merged; run nothing",
    )
    args = parser.parse_args(argv)
    fill_defaults(args, QUICK, FULL)
    if args.markdown is None and not args.quick:
        args.markdown = str(DOCS_PAGE)
    names = [anchor.name for anchor in ANCHORS]
    args.contenders = names_of(args.contenders) or (QUICK_ANCHORS if args.quick else tuple(names))
    unknown = sorted(set(args.contenders) - set(names))
    if unknown:
        parser.error(f"--contenders: unknown {unknown}; choose from {', '.join(names)}")
    args.tasks = names_of(args.tasks) or (QUICK_TASKS if args.quick else None)
    args.row_limits = _row_limits(parser, args.row_limit, names)
    if args.folds < 2 or args.repeats < 1:
        parser.error("--folds must be at least 2 and --repeats at least 1")
    return args


def _row_limits(parser, text: str | None, names: list[str]) -> dict[str, int]:
    """``--row-limit``'s ``NAME=ROWS`` pairs; an unknown name or a bad count is an error."""
    limits = {}
    for pair in names_of(text):
        name, _, rows = pair.rpartition("=")
        if name not in names or not rows.isdigit():
            parser.error(f"--row-limit: {pair!r} is not NAME=ROWS with NAME among {names}")
        limits[name] = int(rows)
    return limits


def load_tasks(args) -> tuple[list[real_tables.RealTask], list[str]]:
    """The tasks of ``--tasks`` (subsampled to ``--max-rows``) and the lines of absent CSVs.

    Raises
    ------
    SystemExit
        A requested task that neither loads nor belongs to an absent CSV.
    """
    tasks, skipped = real_tables.load_real_tasks(names=args.tasks)
    skipped = list(dict.fromkeys(skipped))  # one line per table, not per task on it
    if args.tasks is not None:
        absent = [line.split(":")[0] for line in skipped]
        skipped = [
            line
            for line in skipped
            if any(n.startswith(f"{line.split(':')[0]}-") for n in args.tasks)
        ]
        found = {task.name for task in tasks}
        unknown = [n for n in args.tasks if n not in found and n.split("-")[0] not in absent]
        if unknown:
            raise SystemExit(f"--tasks: unknown {unknown}; run without --tasks for every task")
    tasks = sorted(tasks, key=lambda task: len(task.y))  # small first: a long run reports early
    return [subsample(task, args.max_rows, args.seed) for task in tasks], skipped


def subsample(task: real_tables.RealTask, max_rows: int | None, seed: int):
    """The task on ``max_rows`` of its rows (stratified for classes), or the task itself."""
    if max_rows is None or len(task.y) <= max_rows:
        return task
    stratify = None if task.kind == "regression" else task.y
    keep, _ = train_test_split(
        np.arange(len(task.y)), train_size=max_rows, stratify=stratify, random_state=seed
    )
    keep = np.sort(keep)
    return real_tables.RealTask(
        task.name,
        task.kind,
        task.X.iloc[keep].reset_index(drop=True),
        task.y[keep],
        task.source,
        None if task.groups is None else task.groups[keep],
    )


def splits(task: real_tables.RealTask, args) -> list[tuple[np.ndarray, np.ndarray]]:
    """The same folds for every contender: ``--repeats`` shuffled K-folds, seeds seed, seed+1...

    A panel's folds are grouped (``GroupKFold``; see ``RealTask.groups``).
    """
    kind = KFold if task.kind == "regression" else StratifiedKFold
    if task.groups is not None:
        kind = GroupKFold
    return [
        fold
        for repeat in range(args.repeats)
        for fold in kind(args.folds, shuffle=True, random_state=args.seed + repeat).split(
            task.X, task.y, task.groups
        )
    ]


# -- one contender on one task -------------------------------------------------


def score(estimator, task: real_tables.RealTask, X, y) -> dict[str, float]:
    """Every metric of one fitted fold on its test rows."""
    if task.kind == "regression":
        predicted = np.asarray(estimator.predict(X), dtype=float).ravel()
        return {"r2": r2_score(y, predicted), "mae": mean_absolute_error(y, predicted)}
    classes = list(estimator.classes_)
    proba = np.asarray(estimator.predict_proba(X), dtype=float)
    proba = proba / proba.sum(axis=1, keepdims=True)  # float32 softmax rows, renormalised
    scores = {
        "balanced_accuracy": balanced_accuracy_score(y, estimator.predict(X)),
        "brier": brier_score_loss(y, proba if len(classes) > 2 else proba[:, 1], labels=classes),
        "log_loss": log_loss(y, proba, labels=classes),
    }
    if len(classes) == 2:
        scores["pr_auc"] = average_precision_score(y, proba[:, classes.index(1)])
    else:
        scores["pr_auc"] = average_precision_score(
            label_binarize(y, classes=classes), proba, average="macro"
        )
    return {key: float(value) for key, value in scores.items()}


def _op_determinism() -> bool | None:
    """TensorFlow's op-determinism flag; None before anything imported TensorFlow."""
    return op_determinism_enabled() if "tensorflow" in sys.modules else None


def run_anchor(anchor, task: real_tables.RealTask, folds, args) -> Row:
    """Fit and score a fresh estimator on every fold; a failure is a row, not a crash."""
    row = Row(anchor.name, task.name)
    limit = getattr(args, "row_limits", {}).get(anchor.name)
    if limit is not None and len(task.y) > limit:
        row.skipped = f"not run: {len(task.y)} rows, over its --row-limit of {limit}"
        return row
    determinism_before = _op_determinism()
    with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("always")
        try:
            for train, test in folds:
                estimator = anchor.make(task, args)
                started = time.perf_counter()
                estimator.fit(task.X.iloc[train], task.y[train])
                seconds = time.perf_counter() - started
                scores = score(estimator, task, task.X.iloc[test], task.y[test])
                for key, value in {**scores, "fit_seconds": seconds}.items():
                    row.scores.setdefault(key, []).append(value)
        except Unavailable as reason:
            row.skipped = str(reason)
        except Exception as error:  # a peer that cannot run here is a result
            row.skipped = f"failed: {type(error).__name__}: {str(error).splitlines()[0][:160]}"
    for warning in caught:
        row.warnings[warning.category.__name__] += 1
    if determinism_before is not True and _op_determinism():
        # SciKeras's random_state leaves TensorFlow's op determinism on: later contenders
        # must run as they would on their own.
        row.warnings["TensorFlow op determinism left on"] += 1
        disable_op_determinism()
    return row


def warm_up(anchors, kinds, args) -> None:
    """One untimed fit of each contender on a small generated table of each kind in the run.

    A process's first fit pays its start-up (TensorFlow's runtime and first traced program,
    torch's), a cost of the process, not of whichever table runs first: wine's first fold
    carried about 5 s of it for safekeras, 0.2 s for RealMLP-TD. Issue 19's protocol excludes
    it the same way. Every table still pays its own first fit (a new input width is traced
    again), as in a user's cross-validation.
    """
    for kind in kinds:
        task = warm_up_task(kind)
        fold = (np.arange(0, len(task.y), 2), np.arange(1, len(task.y), 2))
        for anchor in anchors:
            run_anchor(anchor, task, [fold], args)


def warm_up_task(kind: str) -> real_tables.RealTask:
    """A small generated table of ``kind``: three numeric columns and a categorical one."""
    rng = np.random.default_rng(0)
    n = 120
    X = pd.DataFrame(rng.normal(size=(n, 3)), columns=["a", "b", "c"])
    X["d"] = rng.choice(["x", "y", "z"], n)
    signal = X["a"].to_numpy() + 0.5 * rng.normal(size=n)
    if kind == "regression":
        y = signal
    elif kind == "multiclass":
        y = np.digitize(signal, np.quantile(signal, [1 / 3, 2 / 3]))
    else:
        y = (signal > np.quantile(signal, 0.7)).astype(int)
    return real_tables.RealTask(f"warm-up {kind}", kind, X, y, source="generated")


# -- run -------------------------------------------------------------------------


def run(args) -> str:
    """Run every contender on every task, saving after each; print and return the report."""
    started = time.perf_counter()
    # A run without safekeras (pytabkit's, apart) measured no safekeras code.
    args.code = code_version() if SAFEKERAS in args.contenders else None
    tasks, skipped = load_tasks(args)
    for line in skipped:
        progress(f"skipped {line}")
    anchors = [anchor for anchor in ANCHORS if anchor.name in args.contenders]
    results = []
    limits = threadpool_limits(args.threads) if args.threads else contextlib.nullcontext()
    with quiet_tensorflow_logger(), limits:
        if not args.quick:  # a smoke run's fit times say nothing anyway
            warm_up(anchors, dict.fromkeys(task.kind for task in tasks), args)
            args.warmed_up = True
        for task in tasks:
            folds = splits(task, args)
            results.append((task, []))
            for anchor in anchors:
                anchor_started = time.perf_counter()
                row = run_anchor(anchor, task, folds, args)
                results[-1][1].append(row)
                progress(
                    f"{task.name}: {anchor.name}: {time.perf_counter() - anchor_started:.1f} s"
                    + (f" ({row.skipped})" if row.skipped else "")
                )
                save_partial(results, args, skipped, len(tasks))
    sections = build_report(results, args, skipped, len(tasks))
    print("\n\n".join(sections), flush=True)
    quick_note = "Quick run: a smoke test only; the numbers say nothing about the contenders."
    return finish_report(sections, started, quick_note, args)


def code_version() -> str | None:
    """The commit of the measured code, and whether the working tree differed from it."""
    try:
        git = ["git", "-C", str(ROOT)]
        commit = subprocess.run(
            [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        )
        changed = subprocess.run(
            [*git, "status", "--porcelain", "--", "safekeras"],
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return None  # not a git checkout: the report says nothing about the code
    dirty = " + uncommitted changes under safekeras/" if changed.stdout.strip() else ""
    now = datetime.datetime.now(datetime.timezone.utc)
    return f"commit {commit.stdout.strip()}{dirty}, {now:%Y-%m-%d %H:%M} UTC"


def save_partial(results, args, skipped: list[str], total: int) -> None:
    """After each contender: the scores to ``--json``, the report so far to ``--markdown``."""
    if args.json:
        save_json(args.json, results, args, skipped, total)
    if args.markdown:
        sections = build_report(results, args, skipped, total)
        Path(args.markdown).write_text("\n\n".join(sections) + "\n", encoding="utf-8")


def _shown_path(path: str) -> str:
    """``path`` relative to the repository if it lies inside (the stored run), else its name."""
    root = Path(__file__).resolve().parents[1]
    resolved = Path(path).resolve()
    return resolved.relative_to(root).as_posix() if resolved.is_relative_to(root) else resolved.name


def main(argv=None) -> str:
    args = parse_args(argv)
    if args.from_json:
        results, skipped, total = load_json(args.from_json, args)
        sections = build_report(results, args, skipped, total)
        files = ", ".join(f"`{_shown_path(path)}`" for path in names_of(args.from_json))
        sections.append(f"Rendered by `--from-json` from the per-fold scores saved in {files}.")
        text = "\n\n".join(sections) + "\n"
        print(text, end="", flush=True)
        if args.markdown:
            Path(args.markdown).write_text(text, encoding="utf-8")
        return text
    prepare_keras()
    return run(args)


if __name__ == "__main__":
    main()
