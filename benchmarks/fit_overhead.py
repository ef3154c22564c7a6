"""Where a warm default fit spends its time: the fixed cost by stage, and the cost per epoch.

What is measured
----------------
``SafeKerasClassifier(random_state=seed)`` on the default-path data
(``make_classification(n, d, weights=[0.93], flip_y=0.01)``, 75 % fitted) at
600 x 30 and 3000 x 10 (``--sizes``), with ``threshold_cv=None`` (one network)
and at the defaults. Each fit runs with its stages timed: the estimator's own
fit steps and, inside them, the library calls they make (wrapped for this
process only, so the times add up to what the fit does). One warm-up fit of
the same architecture comes first, so the numbers are those of "a fit of an
architecture already traced in the process"; the first fit in the process (the
cold trace) is reported on its own line. Medians of ``--repeats`` fits.

* **fixed cost**: everything but the training call, i.e. the fit minus the
  compiled epochs;
* **per epoch**: the slope of the training call's time over the epoch count,
  from fits of ``--short`` and ``--long`` epochs with early stopping off
  (same data, same network), so the fixed part of the call drops out.

``--grid`` adds the issue's search: ``GridSearchCV(SafeKerasClassifier(), 4
candidates, cv=5)`` at 3000 x 10 against the same search over
``make_pipeline(StandardScaler(), MLPClassifier(early_stopping=True))``, n_jobs=1,
each search run once after a warm-up search.

The machine these numbers come from may be shared: compare the rows of one run
(times are load-dependent), not runs with each other.

Run from the repository root::

    python benchmarks/fit_overhead.py                  # a few minutes on 2 cores
    python benchmarks/fit_overhead.py --grid           # adds the GridSearchCV target
    KERAS_BACKEND=jax python benchmarks/fit_overhead.py
"""

from __future__ import annotations

import sys
from pathlib import Path

if not __package__:
    _ROOT = str(Path(__file__).resolve().parents[1])
    if _ROOT not in sys.path:
        sys.path.insert(0, _ROOT)

import argparse
import contextlib
import functools
import statistics
import time
import warnings
from collections import defaultdict
from unittest import mock

from benchmarks.datasets import make_default_path_split
from benchmarks.default_path import parse_sizes
from benchmarks.report import fill_defaults, prepare_keras, progress, quiet_tensorflow_logger

SIZES = [(600, 30), (3000, 10)]
FULL = {"sizes": SIZES, "repeats": 5, "long": 60}
QUICK = {"sizes": [(300, 10)], "repeats": 2, "long": 20}
_FOLDS = "threshold_cv folds (plan)"
# Estimator steps (methods of the fit, in the order they run) and, indented under
# them, the library calls inside them: (label, object, attribute, depth).
_STAGES = [
    (
        "read + validate X, y (and the target)",
        "est",
        "_read_data",
        0,
    ),
    ("validate_data", "input_validation", "validate_features", 1),
    ("schema + drift baseline", "base", "schema_for", 1),
    (_FOLDS, "est", "_plan_decision", 0),
    ("validation split", "est", "_split", 0),
    ("preprocessing fit + transform", "est", "_training_rows", 0),
    ("rebalance", "est", "_rebalanced", 0),
    # A warm default fit draws the network's recipe only (safekeras.network.deferred).
    ("model build (or its recipe)", "est", "_new_network", 0),
    ("dtype + input checks", "est", "_in_network_dtype", 0),
    ("head check", "est", "_checked_output", 0),
    ("encode targets", "est", "_encoded_targets", 0),
    ("train (compile + engine + epochs)", "est", "_train", 0),
    ("optimizer (or its recipe)", "optimizers", "fit_optimizer_for", 1),
    ("compile", "keras.Model", "compile", 1),
    ("engine setup (state, trace lookup, copy)", "runner", "__init__", 1),
    ("training state (loss, optimizer slots)", "engine", "build_training_state", 2),
    # A deferred fit's call also loads the twin's initial state and reads its state back.
    ("epochs (one compiled call)", "runner", "train_all", 1),
    ("weights back to network", "runner", "to_network", 1),
    ("outcome check", "est", "_checked_network", 0),
    ("threshold search", "est", "_decided", 0),
    ("recording", "base", "record_network", 0),
    ("recording (target, profile)", "base", "record_target", 0),
]


def _targets():
    """The objects whose attributes ``_STAGES`` name."""
    import keras

    from safekeras import SafeKerasClassifier
    from safekeras.data import input_validation
    from safekeras.estimators import base
    from safekeras.network import optimizers

    if keras.backend.backend() == "jax":
        from safekeras.network.engine import jax_epochs as engine
        from safekeras.network.engine.jax_epochs import JaxEpochs as runner
    else:
        from safekeras.network.engine import tf_epochs as engine
        from safekeras.network.engine.tf_epochs import TensorFlowEpochs as runner

    return {
        "keras.Model": keras.Model,
        "engine": engine,
        "est": SafeKerasClassifier,
        "input_validation": input_validation,
        "base": base,
        "optimizers": optimizers,
        "runner": runner,
    }


@contextlib.contextmanager
def timed_stages(times: dict):
    """Within the block, each stage's calls add their seconds to ``times[label]``."""

    # The internal threshold folds are fits too: their time counts as the folds' stage
    # only, not again in the stages of the fit around them.
    nested = {"folds": 0}

    def wrap(label, original):
        @functools.wraps(original)
        def timed(*args, **kwargs):
            outermost = nested["folds"] == 0
            folds = label == _FOLDS
            nested["folds"] += folds
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                nested["folds"] -= folds
                if outermost:
                    times[label] += time.perf_counter() - started

        return timed

    owners = _targets()
    with contextlib.ExitStack() as stack:
        for label, owner, attribute, _ in _STAGES:
            target = owners[owner]
            original = getattr(target, attribute)
            stack.enter_context(mock.patch.object(target, attribute, wrap(label, original)))
        yield


def fit_once(X, y, params: dict) -> tuple[float, dict, object]:
    """Seconds of one fit, its stage times and the fitted estimator."""
    from safekeras import SafeKerasClassifier

    times: dict = defaultdict(float)
    with timed_stages(times), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        estimator = SafeKerasClassifier(**params)
        started = time.perf_counter()
        estimator.fit(X, y)
        total = time.perf_counter() - started
    return total, dict(times), estimator


def stage_breakdown(X, y, params: dict, repeats: int) -> tuple[list[str], float]:
    """Table rows of the median stage times of warm fits, and the median fixed cost."""
    fit_once(X, y, params)  # warm-up: the architecture is traced from here on
    fits = [fit_once(X, y, params) for _ in range(repeats)]
    totals = [total for total, _, _ in fits]
    epochs_label = "epochs (one compiled call)"
    fixed = [total - times.get(epochs_label, 0.0) for total, times, _ in fits]
    rows = []
    for label, _, _, depth in _STAGES:
        values = [times.get(label, 0.0) for _, times, _ in fits]
        median = statistics.median(values)
        if median >= 5e-5:
            indent = "&nbsp;&nbsp;" * depth
            rows.append(f"| {indent}{label} | {median * 1e3:.1f} |")
    top = [label for label, _, _, depth in _STAGES if depth == 0]
    other = statistics.median(
        total - sum(times.get(label, 0.0) for label in top) for total, times, _ in fits
    )
    rows.append(f"| other (parameter validation, transaction, ...) | {other * 1e3:.1f} |")
    epochs = fits[-1][2].n_epochs_
    rows.append(f"| **whole fit** ({epochs} epochs) | **{statistics.median(totals) * 1e3:.1f}** |")
    rows.append(f"| **fixed cost** (fit minus epochs) | **{statistics.median(fixed) * 1e3:.1f}** |")
    return rows, statistics.median(fixed)


def per_epoch(X, y, short: int, long: int, repeats: int) -> float:
    """Seconds per epoch of the training call: its slope between ``short`` and ``long`` epochs."""
    label = "epochs (one compiled call)"

    def call_seconds(epochs):
        params = dict(threshold_cv=None, early_stopping=False, epochs=epochs, random_state=0)
        fit_once(X, y, params)  # warm-up
        return statistics.median(fit_once(X, y, params)[1][label] for _ in range(repeats))

    return (call_seconds(long) - call_seconds(short)) / (long - short)


def cold_first_fit(X, y) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from safekeras import SafeKerasClassifier

        started = time.perf_counter()
        SafeKerasClassifier(threshold_cv=None, random_state=0).fit(X, y)
        return time.perf_counter() - started


def grid_search_rows(seed: int) -> list[str]:
    """The issue's GridSearchCV target at 3000 x 10: safekeras against the MLP pipeline."""
    from sklearn.model_selection import GridSearchCV
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from safekeras import SafeKerasClassifier

    X, _, y, _ = make_default_path_split(3000, 10, seed)
    searches = {
        "safekeras (l2 in 1e-5, 1e-4; hidden (64, 32), (32,))": GridSearchCV(
            SafeKerasClassifier(random_state=seed),
            {"l2": [1e-5, 1e-4], "hidden_layer_sizes": [(64, 32), (32,)]},
            cv=5,
            scoring="balanced_accuracy",
        ),
        "MLP pipeline (alpha in 1e-5, 1e-4; hidden (64, 32), (32,))": GridSearchCV(
            make_pipeline(StandardScaler(), MLPClassifier(early_stopping=True, random_state=seed)),
            {
                "mlpclassifier__alpha": [1e-5, 1e-4],
                "mlpclassifier__hidden_layer_sizes": [(64, 32), (32,)],
            },
            cv=5,
            scoring="balanced_accuracy",
        ),
    }
    rows, seconds = [], {}
    for name, search in searches.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            search.fit(X, y)  # warm-up: traces every candidate's architecture
            started = time.perf_counter()
            search.fit(X, y)
            seconds[name] = time.perf_counter() - started
        rows.append(f"| {name} | {seconds[name]:.2f} | {search.best_score_:.3f} |")
    ours, mlp = seconds.values()
    verdict = "met" if ours <= mlp else "not met"
    rows.append(
        f"| ratio safekeras / MLP pipeline | {ours / mlp:.2f}x (target <= 1.0x: {verdict}) | |"
    )
    return rows


def run(args) -> str:
    import keras

    lines = [f"## Fit overhead, {keras.backend.backend()} backend", ""]
    first = True
    for size in args.sizes:
        start = len(lines)
        X, _, y, _ = make_default_path_split(*size, args.seed)
        if first:
            lines.append(
                f"First fit in the process (cold trace, {size[0]}x{size[1]}, "
                f"threshold_cv=None): {cold_first_fit(X, y):.2f} s."
            )
            lines.append("")
            first = False
        for label, params in (
            ("threshold_cv=None", dict(threshold_cv=None, random_state=args.seed)),
            ("defaults", dict(random_state=args.seed)),
        ):
            rows, _ = stage_breakdown(X, y, params, args.repeats)
            lines += [
                f"### {size[0]}x{size[1]}, {label} (warm; median of {args.repeats}, ms)",
                "",
                "| stage | ms |",
                "|---|---:|",
                *rows,
                "",
            ]
        slope = per_epoch(X, y, args.short, args.long, args.repeats)
        lines += [
            f"Per epoch ({size[0]}x{size[1]}, about {int(size[0] * 0.75 * 0.85)} training rows, "
            f"slope between {args.short} and {args.long} epochs): {slope * 1e3:.2f} ms.",
            "",
        ]
        progress("\n".join(lines[start:]))
    if args.grid:
        lines += [
            "### GridSearchCV(4 candidates, cv=5) at 3000x10, n_jobs=1 (warm)",
            "",
            "| search | seconds | best balanced accuracy |",
            "|---|---:|---:|",
            *grid_search_rows(args.seed),
            "",
        ]
    return "\n".join(lines)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=parse_sizes, default=None, help="e.g. 600x30,3000x10")
    parser.add_argument("--repeats", type=int, default=None, help="5; --quick: 2")
    parser.add_argument("--short", type=int, default=10, help="epochs of the short fit")
    parser.add_argument(
        "--long", type=int, default=None, help="epochs of the long fit: 60; --quick: 20"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--grid", action="store_true", help="add the GridSearchCV target")
    parser.add_argument("--quick", action="store_true", help="one small size, 2 repeats")
    args = parser.parse_args(argv)
    fill_defaults(args, QUICK, FULL)  # explicit flags win
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    prepare_keras()
    with quiet_tensorflow_logger():
        report = run(args)
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
