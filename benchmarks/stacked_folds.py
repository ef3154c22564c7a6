"""``threshold_cv``'s internal folds: one stacked fit against one fit per fold (clones).

What is measured
----------------
Both ways of training the folds, in one process, on the same data and seeds
(``safekeras.decision.threshold_fitting.STACK_FOLDS`` switches between them):

* **default path**: the protocol of ``benchmarks/default_path.py`` at 600 x 30
  (``make_classification(weights=[0.93], flip_y=0.01)``, 75 % to fit), with
  the folds asked for: per seed, ``SafeKerasClassifier(threshold_cv=5,
  random_state=seed)`` fitted with stacked folds, with clones, and with
  ``threshold_cv=None`` (one fit, the unit of "fits"); the wall and CPU time of each, its balanced
  accuracy on the held-out 25 %, its threshold. After one warm-up fit of each.
* **real tables**: the small binary tasks of ``benchmarks/real_tables.py``, 5-fold
  stratified CV, ``SafeKerasClassifier(threshold_cv=5, random_state=fold)`` with
  stacked folds and with clones: balanced accuracy per fold, compared with
  ``benchmarks.paired.compare_paired`` (the one win/tie/loss rule).

Run from the repository root::

    python benchmarks/stacked_folds.py             # about 10 minutes on 2 busy cores
    KERAS_BACKEND=jax python benchmarks/stacked_folds.py
    python benchmarks/stacked_folds.py --quick     # 2 seeds, one task
"""

from __future__ import annotations

import sys
from pathlib import Path

if not __package__:
    _ROOT = str(Path(__file__).resolve().parents[1])
    if _ROOT not in sys.path:
        sys.path.insert(0, _ROOT)

import argparse
import statistics
import time
import warnings

import numpy as np
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import StratifiedKFold

from benchmarks.datasets import make_default_path_split
from benchmarks.paired import compare_paired
from benchmarks.real_tables import load_real_tasks
from benchmarks.report import prepare_keras, quiet_tensorflow_logger

SMALL_BINARY = ("college-Private", "carseats-Sales", "breast_cancer", "anes96-vote")
WAYS = ("stacked", "clones", "one fit")


def fit_timed(way: str, X, y, **params):
    """Fit one way; the estimator, its wall and CPU seconds."""
    from safekeras import SafeKerasClassifier
    from safekeras.decision import threshold_fitting

    threshold_fitting.STACK_FOLDS = way == "stacked"
    # Balanced accuracy's threshold needs no folds; the benchmark asks for them.
    params = {"threshold_cv": None if way == "one fit" else 5, **params}
    wall, cpu = time.perf_counter(), time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = SafeKerasClassifier(**params).fit(X, y)
    return clf, time.perf_counter() - wall, time.process_time() - cpu


def default_path(seeds) -> list[str]:
    rows = {way: [] for way in WAYS}
    for seed in seeds:
        X_train, X_test, y_train, y_test = make_default_path_split(600, 30, seed)
        if seed == seeds[0]:
            for way in WAYS:
                fit_timed(way, X_train, y_train, random_state=seed)  # warm-up: traces
        order = WAYS if seed % 2 == 0 else WAYS[::-1]  # the load drifts: alternate
        for way in order:
            clf, wall, cpu = fit_timed(way, X_train, y_train, random_state=seed)
            score = balanced_accuracy_score(y_test, clf.predict(X_test))
            rows[way].append((wall, cpu, score, clf.threshold_, clf.threshold_search_))
    unit_wall = statistics.median(row[0] for row in rows["one fit"])
    unit_cpu = statistics.median(row[1] for row in rows["one fit"])
    lines = [
        "| way | median wall s | median CPU s | fits (wall / CPU) | balanced accuracy "
        "per seed | mean | thresholds |",
        "|---|---:|---:|---:|---|---:|---|",
    ]
    for way in WAYS:
        wall = statistics.median(row[0] for row in rows[way])
        cpu = statistics.median(row[1] for row in rows[way])
        scores = [row[2] for row in rows[way]]
        lines.append(
            f"| {way} | {wall:.2f} | {cpu:.2f} | {wall / unit_wall:.1f} / {cpu / unit_cpu:.1f} "
            f"| {' '.join(f'{s:.3f}' for s in scores)} | {np.mean(scores):.3f} "
            f"| {' '.join(f'{row[3]:.3f}' for row in rows[way])} |"
        )
    paired = compare_paired(
        [row[2] for row in rows["stacked"]], [row[2] for row in rows["clones"]], test_fraction=0.25
    )
    lines.append(f"\nstacked vs clones, balanced accuracy: {paired}")
    return lines


def real_tables(names) -> list[str]:
    tasks, skipped = load_real_tasks(("binary",), names)
    lines = [
        "| task | rows | stacked | clones | stacked - clones (paired) |",
        "|---|---|---:|---:|---|",
    ]
    for task in tasks:
        scores = {"stacked": [], "clones": []}
        folds = StratifiedKFold(5, shuffle=True, random_state=0).split(task.X, task.y)
        for fold, (train, test) in enumerate(folds):
            for way in ("stacked", "clones"):
                X_train, X_test = task.X.iloc[train], task.X.iloc[test]
                clf, _, _ = fit_timed(
                    way, X_train, task.y[train], threshold_cv=5, random_state=fold
                )
                scores[way].append(balanced_accuracy_score(task.y[test], clf.predict(X_test)))
        paired = compare_paired(scores["stacked"], scores["clones"])
        lines.append(
            f"| {task.name} | {task.summary} | {np.mean(scores['stacked']):.3f} "
            f"| {np.mean(scores['clones']):.3f} | {paired} |"
        )
    return lines + [f"skipped: {line}" for line in skipped]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 seeds, one task")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--skip-tables", action="store_true")
    args = parser.parse_args(argv)
    prepare_keras()
    quiet_tensorflow_logger()
    import keras

    seeds = list(range(2 if args.quick else args.seeds))
    print(f"backend: {keras.backend.backend()}; the machine is shared: compare rows, not runs")
    print("\n## default path, 600 x 30, threshold_cv=5\n")
    print("\n".join(default_path(seeds)), flush=True)
    if not args.skip_tables:
        print("\n## real tables, small binary tasks, 5-fold CV, threshold_cv=5\n")
        print("\n".join(real_tables(SMALL_BINARY[:1] if args.quick else SMALL_BINARY)))


if __name__ == "__main__":
    main()
