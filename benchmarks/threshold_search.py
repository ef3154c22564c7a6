"""The threshold search: counts from one sorted pass against one scorer call per candidate.

What is measured
----------------
``safekeras.decision.thresholds.tune_threshold`` on ``--rows`` held-out rows (10 000)
with about 5 % positives, whose probabilities come from two overlapping normal
distributions rounded to 3 decimals (ties, as float32 network outputs have
them). For each stock threshold metric a ``SafeKerasClassifier`` user passes as
``threshold_scoring``, the same scorer is timed twice:

* **counts**: the scorer as given, which ``score_thresholds`` recognises and
  scores at every candidate from weighted counts after one sort;
* **scorer loop**: a plain function wrapping the same scorer, which is not
  recognised and so is called once per candidate (about 201 calls) and twice
  per bootstrap round (100 calls), as every search was scored before.

Each column is the median of ``--repeats`` calls after one warm-up call; the
calls of both paths alternate. The whole search is timed (candidates, scores,
held-out ROC-AUC and cross-entropy, the bootstrap of the gain). ``same`` says
whether both paths chose the same threshold and their scores, the
bootstrap standard error of the gain and the ROC-AUC agree to 1e-12.

Run from the repository root::

    python benchmarks/threshold_search.py                # about 1 minute on 2 cores
    python benchmarks/threshold_search.py --quick        # smoke run, a few seconds
    python benchmarks/threshold_search.py --markdown threshold_search.md
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
from sklearn.metrics import make_scorer, matthews_corrcoef

from safekeras.decision.thresholds import make_threshold_scorer, tune_threshold
from safekeras.metrics import imbalance_scoring

#: Scorer names as users pass them to ``threshold_scoring``.
NAMED = ("balanced_accuracy", "f1", "precision", "recall", "accuracy", "jaccard", "f1_macro")


def scorers() -> dict:
    """Every stock threshold scorer the fast path covers, by the name it is shown under."""
    found = {name: make_threshold_scorer(name) for name in NAMED}
    found["make_scorer(matthews_corrcoef)"] = make_scorer(matthews_corrcoef)
    found["imbalance_scoring()['geometric_mean']"] = imbalance_scoring()["geometric_mean"]
    return found


def generic(scorer):
    """The same scorer behind a plain function: not recognised, so called per candidate."""

    def wrapped(estimator, X, y, **kwargs):
        return scorer(estimator, X, y, **kwargs)

    return wrapped


def held_out(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``rows`` labels at about 5 % positives and their (rounded) probabilities."""
    rng = np.random.default_rng(seed)
    y_positive = rng.random(rows) < 0.05
    proba = np.clip(rng.normal(np.where(y_positive, 0.45, 0.2), 0.15), 0.0, 1.0)
    return y_positive, np.round(proba, 3)


def median_ms(calls: dict, repeats: int) -> dict:
    """Median wall time of each call in ms, the calls interleaved (warm them up first)."""
    times = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    return {name: 1e3 * float(np.median(values)) for name, values in times.items()}


def row(name, scorer, y_positive, proba, repeats) -> str:
    # The searches compared here are also each path's warm-up call.
    fast = tune_threshold(y_positive, proba, scorer)
    slow = tune_threshold(y_positive, proba, generic(scorer))
    same = fast.threshold == slow.threshold and np.allclose(
        [*fast.scores, fast.gain_se, fast.roc_auc],
        [*slow.scores, slow.gain_se, slow.roc_auc],
        rtol=0,
        atol=1e-12,
    )
    timed = median_ms(
        {
            "counts": lambda: tune_threshold(y_positive, proba, scorer),
            "loop": lambda: tune_threshold(y_positive, proba, generic(scorer)),
        },
        repeats,
    )
    ratio = timed["loop"] / timed["counts"]
    return (
        f"| {name} | {timed['counts']:.2f} | {timed['loop']:.1f} | {ratio:.0f}x "
        f"| {fast.threshold:.4f} | {'yes' if same else 'NO'} |"
    )


def run(args: argparse.Namespace) -> str:
    y_positive, proba = held_out(args.rows, args.seed)
    lines = [
        "# Threshold search: counts vs scorer loop",
        "",
        f"CPUs: {os.cpu_count()}; {platform.processor() or platform.machine()}; "
        f"{args.rows} rows, {int(y_positive.sum())} positives; "
        f"median of {args.repeats} searches after a warm-up.",
        "",
        "| scorer | counts (ms) | scorer loop (ms) | ratio | threshold | same |",
        "|---|---|---|---|---|---|",
    ]
    for name, scorer in scorers().items():
        lines.append(row(name, scorer, y_positive, proba, args.repeats))
    return "\n".join(lines) + "\n"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000, help="held-out rows (10000)")
    parser.add_argument("--repeats", type=int, default=7, help="timed searches per path (7)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the data (0)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1000 rows, 1 repeat")
    parser.add_argument("--markdown", metavar="PATH", help="also write the report to PATH")
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.repeats = 1000, 1
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    report = run(args)
    print(report, end="")
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as handle:
            handle.write(report)


if __name__ == "__main__":
    main()
