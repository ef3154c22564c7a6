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
  compiled epochs; a line beside it leaves out the classifier's logistic
  average (``linear_baseline="auto"`` fits a logistic regression on the
  training rows), the quality the default buys with that time;
* **per epoch**: the slope of the training call's time over the epoch count,
  from fits of ``--short`` and ``--long`` epochs with early stopping off
  (same data, same network), so the fixed part of the call drops out; on
  TensorFlow, beside it, the slope of the same epochs written as plain
  TensorFlow ops (the arithmetic an epoch cannot avoid, measured in turns with
  the fits), and the difference: the per-epoch overhead.

``--grid`` adds the issue's search: ``GridSearchCV(SafeKerasClassifier(), 4
candidates, cv=5)`` at 3000 x 10 against the same search over
``make_pipeline(StandardScaler(), MLPClassifier(early_stopping=True))``, n_jobs=1:
each search once to warm up, then ``--grid-repeats`` times in turns with the other,
medians compared.

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
import itertools
import statistics
import time
import warnings
from collections import defaultdict
from unittest import mock

import numpy as np

from benchmarks import fit_overhead_docs
from benchmarks.datasets import make_default_path_split
from benchmarks.default_path import parse_sizes
from benchmarks.report import fill_defaults, prepare_keras, progress, quiet_tensorflow_logger
from benchmarks.speed_docs import add_write_option, write_block

SIZES = [(600, 30), (3000, 10)]
FULL = {"sizes": SIZES, "repeats": 5, "long": 60}
QUICK = {"sizes": [(300, 10)], "repeats": 2, "long": 20}
_FOLDS = "threshold_cv folds (plan)"
EPOCHS = "epochs (one compiled call)"
LOGISTIC = "logistic average (its regression fitted)"
OTHER = "other (parameter validation, transaction, ...)"
TRAIN = "train (compile + engine + epochs)"
AROUND_EPOCHS = "training call around the epochs (compile, engine state)"
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
    (LOGISTIC, "est", "_residualised", 0),
    (TRAIN, "est", "_train", 0),
    ("optimizer (or its recipe)", "optimizers", "fit_optimizer_for", 1),
    ("compile", "keras.Model", "compile", 1),
    ("engine setup (state, trace lookup, copy)", "runner", "__init__", 1),
    ("training state (loss, optimizer slots)", "engine", "build_training_state", 2),
    # A deferred fit's call also loads the twin's initial state and reads its state back.
    (EPOCHS, "runner", "train_all", 1),
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


def stage_breakdown(X, y, params: dict, repeats: int) -> tuple[list[str], dict]:
    """Table rows of the median stage times of warm fits, and those medians in seconds.

    Returns
    -------
    rows : list of str
        The printed table's rows.
    summary : dict
        ``"stages"`` (every top-level stage's median in fit order, 0 for a stage the fit
        skipped, the training call less its epochs, "other" last), ``"whole"``,
        ``"epochs_call"``, ``"fixed"``, ``"logistic"``, ``"fixed_less_logistic"`` (seconds)
        and ``"epochs"`` (the last fit's epoch count).
    """
    fit_once(X, y, params)  # warm-up: the architecture is traced from here on
    fits = [fit_once(X, y, params) for _ in range(repeats)]
    fixed = [total - times.get(EPOCHS, 0.0) for total, times, _ in fits]
    medians = {
        label: statistics.median(times.get(label, 0.0) for _, times, _ in fits)
        for label, _, _, _ in _STAGES
    }
    rows = [
        f"| {'&nbsp;&nbsp;' * depth}{label} | {medians[label] * 1e3:.1f} |"
        for label, _, _, depth in _STAGES
        if medians[label] >= 5e-5
    ]
    summary = _summary(fits, fixed, medians)
    rows.append(f"| {OTHER} | {summary['stages'][OTHER] * 1e3:.1f} |")
    epochs = summary["epochs"]
    rows.append(f"| **whole fit** ({epochs} epochs) | **{summary['whole'] * 1e3:.1f}** |")
    rows.append(f"| **fixed cost** (fit minus epochs) | **{summary['fixed'] * 1e3:.1f}** |")
    # Issue 22's trade, shown apart when the fit runs it (a row of its own above).
    if summary["logistic"] >= 5e-5:
        less = summary["fixed_less_logistic"]
        rows.append(f"| fixed cost less the logistic regression | {less * 1e3:.1f} |")
    return rows, summary


def _summary(fits, fixed: list[float], medians: dict) -> dict:
    """The medians :func:`stage_breakdown` returns (see there), from its timed fits.

    ``medians`` maps each label of ``_STAGES`` to its median over the fits.
    """
    top = [label for label, _, _, depth in _STAGES if depth == 0]
    stages = {}
    for label in top:
        if label == TRAIN:  # the docs show the epochs apart: the call's own cost is a stage
            stages[AROUND_EPOCHS] = medians[TRAIN] - medians[EPOCHS]
        else:
            stages[label] = medians[label]
    stages[OTHER] = statistics.median(
        total - sum(times.get(k, 0.0) for k in top) for total, times, _ in fits
    )
    less = [
        cost - times.get(LOGISTIC, 0.0) for cost, (_, times, _) in zip(fixed, fits, strict=True)
    ]
    return {
        "stages": stages,
        "whole": statistics.median(total for total, _, _ in fits),
        "epochs_call": medians[EPOCHS],
        "fixed": statistics.median(fixed),
        "logistic": medians[LOGISTIC],
        "fixed_less_logistic": statistics.median(less),
        "epochs": fits[-1][2].n_epochs_,
    }


def per_epoch(X, y, short: int, long: int, repeats: int) -> tuple[float, float | None, int]:
    """Seconds per epoch of the training call, and of the same epochs' arithmetic alone.

    Each is the slope of a call's time between ``short`` and ``long`` epochs,
    so the fixed part of the call drops out. The two are measured in turns
    (safekeras's short and long fits, then the plain TensorFlow program's),
    so that a change in the machine's speed reaches both alike.

    Returns
    -------
    slope : float
        safekeras's seconds per epoch.
    arithmetic : float or None
        :func:`arithmetic_program`'s (None on JAX).
    batch_size : int
        The batch size the fits resolved.
    """
    import keras

    def safekeras_seconds(epochs):
        params = dict(threshold_cv=None, early_stopping=False, epochs=epochs, random_state=0)
        return fit_once(X, y, params)[1][EPOCHS]

    batch_size = fit_once(X, y, dict(threshold_cv=None, random_state=0))[2].batch_size_
    runs = {"safekeras": safekeras_seconds}
    if keras.backend.backend() == "tensorflow":
        runs["arithmetic"] = arithmetic_program(X, y, batch_size)
    times = {name: {short: [], long: []} for name in runs}
    for repeat in range(repeats + 1):  # the first round warms up
        for name, run in runs.items():
            for epochs in (short, long):
                seconds = run(epochs)
                if repeat:
                    times[name][epochs].append(seconds)
    slopes = {
        name: (statistics.median(t[long]) - statistics.median(t[short])) / (long - short)
        for name, t in times.items()
    }
    return slopes["safekeras"], slopes.get("arithmetic"), batch_size


def arithmetic_program(X, y, batch_size: int):
    """``run(epochs)``: seconds of the same training as plain TensorFlow ops, the arithmetic alone.

    The default MLP's epoch written directly (TensorFlow only): the same
    layers (64 and 32 ReLU units, dropout 0.1, L2 1e-4 on the hidden kernels,
    one sigmoid output), a seeded shuffle, the same batch size, binary
    cross-entropy, Adam's update written out, and the validation split's loss
    after every epoch, all epochs in one ``tf.function`` call (traced once).
    Its time per epoch is the work an epoch cannot avoid; safekeras's minus
    this one is its per-epoch overhead.
    """
    import tensorflow as tf
    from sklearn.preprocessing import StandardScaler

    x = StandardScaler().fit_transform(X).astype(np.float32)
    target = np.asarray(y, np.float32).reshape(-1, 1)
    n_train = int(len(x) * 0.85)  # the default validation_fraction's split
    rng = np.random.default_rng(0)
    widths = [x.shape[1], 64, 32, 1]
    kernels = [
        tf.Variable(rng.uniform(-0.1, 0.1, (a, b)).astype(np.float32))
        for a, b in itertools.pairwise(widths)
    ]
    biases = [tf.Variable(np.zeros(b, np.float32)) for b in widths[1:]]
    variables = [*kernels, *biases]
    moments = [tf.Variable(tf.zeros_like(v)) for v in variables for _ in range(2)]
    step_count = tf.Variable(0.0)

    def forward(inputs, seed):
        hidden = inputs
        for layer, (kernel, bias) in enumerate(zip(kernels, biases, strict=True)):
            hidden = hidden @ kernel + bias
            if layer < len(kernels) - 1:
                hidden = tf.nn.relu(hidden)
                if seed is not None:
                    keep = tf.random.stateless_uniform(tf.shape(hidden), seed + layer) >= 0.1
                    hidden = tf.where(keep, hidden / 0.9, 0.0)
        return hidden

    def adam(gradients, rate=3e-3, beta1=0.9, beta2=0.999, epsilon=1e-7):
        step_count.assign_add(1.0)
        scale = rate * tf.sqrt(1 - beta2**step_count) / (1 - beta1**step_count)
        for index, (variable, gradient) in enumerate(zip(variables, gradients, strict=True)):
            first, second = moments[2 * index], moments[2 * index + 1]
            first.assign(beta1 * first + (1 - beta1) * gradient)
            second.assign(beta2 * second + (1 - beta2) * tf.square(gradient))
            variable.assign_sub(scale * first / (tf.sqrt(second) + epsilon))

    @tf.function
    def fit(x_train, y_train, x_val, y_val, epochs):
        n_rows = tf.shape(x_train, out_type=tf.int64)[0]
        val_loss = tf.constant(0.0)
        for epoch in tf.range(epochs):
            seed = tf.stack([tf.constant(0, tf.int64), tf.cast(epoch, tf.int64)])
            order = tf.random.experimental.stateless_shuffle(tf.range(n_rows), seed=seed)
            for step in tf.range((n_rows + batch_size - 1) // batch_size):
                rows = order[step * batch_size : tf.minimum((step + 1) * batch_size, n_rows)]
                with tf.GradientTape() as tape:
                    logits = forward(tf.gather(x_train, rows), seed + step)
                    loss = tf.reduce_mean(
                        tf.nn.sigmoid_cross_entropy_with_logits(tf.gather(y_train, rows), logits)
                    ) + 1e-4 * tf.add_n([tf.reduce_sum(k**2) for k in kernels[:-1]])
                adam(tape.gradient(loss, variables))
            val_loss = tf.reduce_mean(
                tf.nn.sigmoid_cross_entropy_with_logits(y_val, forward(x_val, None))
            )
        return val_loss

    arrays = [x[:n_train], target[:n_train], x[n_train:], target[n_train:]]

    def run(epochs):
        started = time.perf_counter()
        float(fit(*arrays, tf.constant(epochs)))
        return time.perf_counter() - started

    return run


def cold_first_fit(X, y) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from safekeras import SafeKerasClassifier

        started = time.perf_counter()
        SafeKerasClassifier(threshold_cv=None, random_state=0).fit(X, y)
        return time.perf_counter() - started


def grid_search_rows(seed: int, repeats: int = 3) -> list[str]:
    """The issue's GridSearchCV target at 3000 x 10: safekeras against the MLP pipeline.

    Each search runs once to warm up, then ``repeats`` times, the two searches in turns (so a
    change in the machine's load falls on both); the medians are compared.
    """
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
    times = {name: [] for name in searches}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for search in searches.values():
            search.fit(X, y)  # warm-up: traces every candidate's architecture
        for _ in range(repeats):
            for name, search in searches.items():
                started = time.perf_counter()
                search.fit(X, y)
                times[name].append(time.perf_counter() - started)
    seconds = {name: float(np.median(values)) for name, values in times.items()}
    rows = [
        f"| {name} | {seconds[name]:.2f} | {search.best_score_:.3f} |"
        for name, search in searches.items()
    ]
    ours, mlp = seconds.values()
    verdict = "met" if ours <= mlp else "not met"
    rows.append(
        f"| ratio safekeras / MLP pipeline | {ours / mlp:.2f}x (target <= 1.0x: {verdict}) | |"
    )
    return rows


def run(args) -> str:
    import keras

    if args.write and keras.backend.backend() != "tensorflow":
        raise SystemExit(
            "--write: the docs show TensorFlow's fit overhead (its per-epoch floor is written "
            "in TensorFlow ops); run without --write under another backend."
        )
    lines = [f"## Fit overhead, {keras.backend.backend()} backend", ""]
    measured: dict = {}
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
            rows, summary = stage_breakdown(X, y, params, args.repeats)
            measured.setdefault(size, {})[label] = summary
            lines += [
                f"### {size[0]}x{size[1]}, {label} (warm; median of {args.repeats}, ms)",
                "",
                "| stage | ms |",
                "|---|---:|",
                *rows,
                "",
            ]
        slope, floor, batch_size = per_epoch(X, y, args.short, args.long, args.repeats)
        measured[size]["per_epoch"] = (slope, floor)
        lines += [
            f"Per epoch ({size[0]}x{size[1]}, about {int(size[0] * 0.75 * 0.85)} training rows, "
            f"slope between {args.short} and {args.long} epochs): {slope * 1e3:.2f} ms.",
            "",
        ]
        if floor is not None:
            lines += [
                f"The same epochs as plain TensorFlow ops (the arithmetic, batch {batch_size}): "
                f"{floor * 1e3:.2f} ms; overhead beyond it: {(slope - floor) * 1e3:.2f} ms "
                f"per epoch (target <= {fit_overhead_docs.PER_EPOCH_TARGET * 1e3:.1f} ms).",
                "",
            ]
        progress("\n".join(lines[start:]))
    if args.grid:
        lines += [
            f"### GridSearchCV(4 candidates, cv=5) at 3000x10, n_jobs=1 (warm; median of "
            f"{args.grid_repeats})",
            "",
            "| search | seconds | best balanced accuracy |",
            "|---|---:|---:|",
            *grid_search_rows(args.seed, args.grid_repeats),
            "",
        ]
    if args.write:
        body = fit_overhead_docs.docs_body(measured, args)
        write_block(args.write, "fit-overhead", body, "fit_overhead", args.quick)
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
    parser.add_argument(
        "--grid-repeats", type=int, default=3, help="timed searches of each contender (3)"
    )
    parser.add_argument("--quick", action="store_true", help="one small size, 2 repeats")
    add_write_option(parser, ("fit-overhead",))
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
