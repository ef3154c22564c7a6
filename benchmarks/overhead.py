"""Overhead of ``SafeKerasClassifier`` over the same network trained in plain Keras.

What is measured
----------------
All timings come from one process, on the same data and the same architecture,
so each ratio compares like with like on the machine at hand.

Fit
    * **raw Keras** (the reference): the user's own ``StandardScaler``
      ``fit_transform``, then building the default safekeras MLP by hand
      (``Dense(64, relu) -> Dropout(0.1) -> Dense(32, relu) -> Dropout(0.1)
      -> Dense(1, sigmoid)``, Glorot-uniform initialisation, L2 ``1e-4`` on the
      hidden kernels), ``compile(Adam, binary_crossentropy)`` and
      ``model.fit(X, y, epochs=E, batch_size=256, verbose=0)``. A fair raw
      Keras user scales the inputs too, so the scaling is inside the timing.
    * **safekeras**: ``SafeKerasClassifier(epochs=E, early_stopping=False,
      threshold=0.5, random_state=0).fit(X, y)``, which also validates ``X`` and ``y``, fits
      the ``"auto"`` preprocessor (imputation and scaling), builds, checks and
      compiles the network and trains it on a seeded ``tf.data`` pipeline.

    Early stopping is off and the threshold fixed, so both sides train exactly ``E``
    epochs on all rows.

Predict, on 1 row and on ``--predict-rows`` rows
    * raw ``model.predict(x, verbose=0)``;
    * raw ``model.predict_on_batch(x)`` (the reference: it is the call
      safekeras makes internally, so the ratio isolates the wrapper);
    * raw ``model(x, training=False)``, converted to numpy;
    * raw ``scaler.transform`` + ``predict_on_batch``, i.e. what a raw Keras
      user pays per call once the scaling they trained with is included;
    * ``SafeKerasClassifier.predict_proba(X)``, which includes input
      validation and the fitted preprocessing.

    The raw network rows receive inputs that are already scaled and float32.

How to read the ratios
----------------------
A ratio is ``median time of the row / median time of its reference row``.
``1.00`` means no overhead; ``1.10`` means 10 % slower than raw Keras. The
project's target is a fit ratio of at most 1.1. Timings are medians over
``--repeats`` fits and over many predict calls; each side is warmed up by a
tiny fit first (so TensorFlow's one-time start-up cost does not land on
whichever side runs first), the order of the two fits alternates between
repeats, and predict calls are interleaved round-robin so that background load
hits every row alike. On a busy or small machine the numbers are noisy: use
several repeats and compare ratios rather than absolute times.

Run from the repository root::

    python benchmarks/overhead.py            # 20000 x 20, 10 epochs, 3 repeats
    python -m benchmarks.overhead --quick    # smoke run with tiny sizes
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as `python benchmarks/overhead.py`, Python puts benchmarks/ itself on sys.path, not the
# repository root that the `benchmarks.` imports below need; `python -m benchmarks.overhead`
# (a package set) needs nothing.
if not __package__:
    _ROOT = str(Path(__file__).resolve().parents[1])
    if _ROOT not in sys.path:
        sys.path.insert(0, _ROOT)

import argparse
import gc
import statistics
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from benchmarks.contenders import BATCH_SIZE, DROPOUT, HIDDEN_LAYER_SIZES, L2, WARMUP_ROWS, fit_raw
from benchmarks.datasets import SEED, make_data
from benchmarks.report import (
    describe_environment,
    fill_defaults,
    format_seconds,
    prepare_keras,
    time_calls,
    timed,
)

FULL = {
    "rows": 20_000,
    "features": 20,
    "epochs": 10,
    "repeats": 3,
    "predict_rows": 10_000,
    "calls_one": 50,
    "calls_many": 5,
}
QUICK = {
    "rows": 2_000,
    "features": 20,
    "epochs": 2,
    "repeats": 1,
    "predict_rows": 10_000,
    "calls_one": 10,
    "calls_many": 2,
}


@dataclass(frozen=True)
class Row:
    """One line of the results table."""

    section: str
    name: str
    seconds: float
    reference: float | None  # seconds of the section's reference row
    is_reference: bool = False

    @property
    def ratio(self) -> float | None:
        return None if self.reference is None else self.seconds / self.reference


# -- setup ---------------------------------------------------------------------


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Time SafeKerasClassifier against the same network in plain Keras.",
    )
    parser.add_argument("--rows", type=int, help="training rows (default 20000)")
    parser.add_argument("--features", type=int, help="features (default 20)")
    parser.add_argument("--epochs", type=int, help="training epochs (default 10)")
    parser.add_argument("--repeats", type=int, help="timed fits per side; median (default 3)")
    parser.add_argument("--predict-rows", type=int, help="rows of the large predict (10000)")
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 2000 rows, 2 epochs, 1 repeat"
    )
    args = parser.parse_args(argv)
    fill_defaults(args, QUICK, FULL)  # explicit flags win
    for key in ("rows", "features", "epochs", "repeats", "predict_rows"):
        if getattr(args, key) < 1:
            parser.error(f"--{key.replace('_', '-')} must be a positive integer")
    return args


# -- the two sides -------------------------------------------------------------


def fit_safekeras(X: np.ndarray, y: np.ndarray, epochs: int):
    from safekeras import SafeKerasClassifier

    return SafeKerasClassifier(
        hidden_layer_sizes=HIDDEN_LAYER_SIZES,
        dropout=DROPOUT,
        l2=L2,
        batch_size=BATCH_SIZE,
        epochs=epochs,
        early_stopping=False,
        threshold=0.5,  # no validation split for threshold tuning: train on all rows
        random_state=SEED,
    ).fit(X, y)


# -- timing --------------------------------------------------------------------


def time_fits(X, y, epochs: int, repeats: int):
    """Median fit seconds per side, plus the models of the last repeat."""
    sides = {
        "raw": lambda: fit_raw(X, y, epochs),
        "safekeras": lambda: fit_safekeras(X, y, epochs),
    }
    seconds = {name: [] for name in sides}
    fitted = {}
    names = list(sides)
    for repeat in range(repeats):
        # Alternate the order so that neither side always runs on a warmer
        # (or more heavily loaded) process.
        for name in names if repeat % 2 == 0 else names[::-1]:
            # Drop the previous fit's models now, so that neither side pays for
            # a garbage collection of the other side's objects during its timing.
            fitted.pop(name, None)
            gc.collect()
            elapsed, fitted[name] = timed(sides[name])
            seconds[name].append(elapsed)
    return seconds, fitted


def predict_calls(scaler, model, estimator, X_rows: np.ndarray) -> dict[str, Callable[[], object]]:
    import keras

    x_scaled = scaler.transform(X_rows).astype(np.float32)
    return {
        "raw `model.predict`": lambda: model.predict(x_scaled, verbose=0),
        "raw `model.predict_on_batch`": lambda: model.predict_on_batch(x_scaled),
        "raw `model(x, training=False)`": lambda: keras.ops.convert_to_numpy(
            model(x_scaled, training=False)
        ),
        "raw `scaler.transform` + `predict_on_batch`": lambda: model.predict_on_batch(
            scaler.transform(X_rows)
        ),
        "safekeras `predict_proba`": lambda: estimator.predict_proba(X_rows),
    }


PREDICT_REFERENCE = "raw `model.predict_on_batch`"


def time_predict_rows(X: np.ndarray, fitted: dict, args) -> list[Row]:
    """Median predict seconds of both sides, on 1 row and on ``--predict-rows`` rows."""
    scaler, model = fitted["raw"]
    estimator = fitted["safekeras"]
    many = np.resize(X, (args.predict_rows, X.shape[1]))  # tiles X when rows < predict_rows
    rows = []
    for label, X_rows, n_calls in (
        ("predict 1 row", X[:1], args.calls_one),
        (f"predict {args.predict_rows} rows", many, args.calls_many),
    ):
        medians = time_calls(predict_calls(scaler, model, estimator, X_rows), n_calls)
        reference = medians[PREDICT_REFERENCE]
        rows += [
            Row(label, name, seconds, reference, is_reference=name == PREDICT_REFERENCE)
            for name, seconds in medians.items()
        ]
    return rows


# -- report --------------------------------------------------------------------


def format_table(rows: list[Row]) -> str:
    lines = [
        "| section | measurement | median | ratio vs reference |",
        "|---|---|---:|---:|",
    ]
    for row in rows:
        ratio = "-" if row.ratio is None else f"{row.ratio:.2f}x"
        if row.is_reference:
            ratio += " (ref)"
        lines.append(f"| {row.section} | {row.name} | {format_seconds(row.seconds)} | {ratio} |")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> None:
    X, y = make_data(args.rows, args.features)
    X_warm, y_warm = X[:WARMUP_ROWS], y[:WARMUP_ROWS]
    print("# safekeras fit/predict overhead vs raw Keras\n")
    print(describe_environment())
    print(
        f"- data: make_classification {args.rows} x {args.features}; {args.epochs} epochs, "
        f"batch {BATCH_SIZE}, early stopping off; {args.repeats} repeat(s), median\n"
    )

    # Pay TensorFlow's one-time costs (runtime start, kernel registration,
    # first tracing) before any timed fit, once per side.
    fit_raw(X_warm, y_warm, epochs=1)
    fit_safekeras(X_warm, y_warm, epochs=1)

    fit_seconds, fitted = time_fits(X, y, args.epochs, args.repeats)
    raw_fit = statistics.median(fit_seconds["raw"])
    safe_fit = statistics.median(fit_seconds["safekeras"])
    rows = [
        Row(
            "fit",
            "raw Keras (StandardScaler + build + compile + fit)",
            raw_fit,
            raw_fit,
            is_reference=True,
        ),
        Row(
            "fit", "safekeras `fit` (validation + preprocessing + build + train)", safe_fit, raw_fit
        ),
    ]

    rows += time_predict_rows(X, fitted, args)

    print(format_table(rows))
    paired = [s / r for s, r in zip(fit_seconds["safekeras"], fit_seconds["raw"], strict=True)]
    verdict = "met" if safe_fit / raw_fit <= 1.1 else "NOT met"
    print(
        f"\nFit ratio {safe_fit / raw_fit:.2f}x (target <= 1.10x: {verdict}); per-repeat "
        f"ratios: {', '.join(f'{r:.2f}' for r in paired)}."
    )
    print(
        "Raw fit includes the user's own StandardScaler; raw predict rows get pre-scaled "
        "float32 input except the `scaler.transform` row. safekeras predict_proba includes "
        f"input validation and preprocessing. Predict medians over {args.calls_one} (1 row) "
        f"and {args.calls_many} ({args.predict_rows} rows) calls after one warm-up call."
    )
    if args.quick:
        print(
            "Quick run: a smoke test only. At these sizes graph tracing dominates the fit, "
            "so the ratios say nothing about the overhead target."
        )


def main(argv=None) -> None:
    args = parse_args(argv)
    prepare_keras()
    run(args)


if __name__ == "__main__":
    sys.exit(main())
