"""Fit overhead of ``SafeKerasClassifier`` on images over the same CNN in plain Keras.

What is measured
----------------
All timings come from one process, on the same images and the same network, so
each ratio compares like with like on the machine at hand.

Data
    ``load_digits`` as ``(n, 8, 8, 1)`` images (pixels 0 to 16), repeated to
    ``--rows`` rows; 10 classes.

Network (both sides)
    ``Conv2D(16, 3, same, relu) -> MaxPooling2D(2) -> Conv2D(32, 3, same, relu)
    -> Flatten -> Dense(10, softmax)`` (``benchmarks.contenders.build_image_network``),
    Adam, sparse categorical cross-entropy, ``--epochs`` epochs, batch 256.

Fit
    * **raw Keras** (the reference): the user's own per-channel scaling
      (``(X - mean) / std`` over every axis but the last, from the training
      rows), then build, ``compile`` and ``model.fit(x, y, epochs=E,
      batch_size=256, verbose=0)``. A fair raw Keras user scales the pixels
      too, so the scaling is inside the timing.
    * **safekeras**, once per engine (``"auto"`` and ``"keras"``):
      ``SafeKerasClassifier(model=<the same network>, epochs=E, batch_size=256,
      early_stopping=False, random_state=0, engine=...).fit(X, y)``,
      which also validates ``X`` and ``y``, decides the input kind, fits the input
      schema and the ``"auto"`` preprocessor (``ChannelScaler``), clones, seeds,
      checks and compiles the network, and trains it. Early stopping is off and a
      10-class target has no threshold to tune, so no validation split is held
      out: every side trains exactly ``E`` epochs on all rows.

Predict, on ``--predict-rows`` rows
    raw ``model.predict_on_batch`` on pre-scaled float32 images (the
    reference) and safekeras ``predict_proba`` on the raw images, which adds
    the input checks and the scaling; the numpy fast path has no plan for
    convolutions, so safekeras predicts through Keras.

Timings are medians over ``--repeats`` fits after one warm-up fit per side (so
TensorFlow's one-time start-up cost lands on neither), the order of the sides
rotates between repeats, and garbage is collected before each timed fit. On a
busy or small machine the numbers are noisy: use several repeats and compare
ratios rather than absolute times. Target: safekeras ``fit`` <= 1.1x raw Keras
(either engine).

Measured (2-core CPU shared with other work, default settings, one run): raw Keras fit
2.80 s; safekeras 1.27 s with ``engine="auto"`` (compiled, 0.45x; per repeat 0.46, 0.36,
0.46) and 3.02 s with ``engine="keras"`` (1.08x; per repeat 1.06, 1.03, 1.19); predict of
1000 images 3.6 ms raw ``predict_on_batch`` on pre-scaled input, 8.0 ms safekeras
``predict_proba`` on raw input (checks, scaling and Keras).

Run from the repository root::

    python benchmarks/tensor_overhead.py            # 10000 images, 10 epochs, 3 repeats
    python -m benchmarks.tensor_overhead --quick    # smoke run with tiny sizes
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as `python benchmarks/tensor_overhead.py`, Python puts benchmarks/ itself on sys.path,
# not the repository root that the `benchmarks.` imports below need.
if not __package__:
    _ROOT = str(Path(__file__).resolve().parents[1])
    if _ROOT not in sys.path:
        sys.path.insert(0, _ROOT)

import argparse
import gc
import statistics
from functools import partial

import numpy as np

from benchmarks.contenders import BATCH_SIZE, build_image_network, network_for
from benchmarks.datasets import SEED, make_digit_image_dataset
from benchmarks.report import (
    describe_environment,
    fill_defaults,
    format_seconds,
    prepare_keras,
    quiet_tensorflow_logger,
    time_calls,
    timed,
)

FULL = {"rows": 10_000, "epochs": 10, "repeats": 3, "predict_rows": 1_000, "calls": 20}
QUICK = {"rows": 600, "epochs": 2, "repeats": 1, "predict_rows": 200, "calls": 3}

TARGET = 1.1  # safekeras fit / raw Keras fit, from the issue

RAW = "raw Keras (per-channel scaling + build + compile + fit)"
SIDES = {
    RAW: None,
    'safekeras `fit`, engine="auto"': "auto",
    'safekeras `fit`, engine="keras"': "keras",
}


# -- setup ---------------------------------------------------------------------


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Time SafeKerasClassifier(model=cnn) against the same CNN in plain Keras.",
    )
    parser.add_argument("--rows", type=int, help="training images (default 10000)")
    parser.add_argument("--epochs", type=int, help="training epochs (default 10)")
    parser.add_argument("--repeats", type=int, help="timed fits per side; median (default 3)")
    parser.add_argument("--predict-rows", type=int, help="images per predict call (1000)")
    parser.add_argument("--calls", type=int, help="timed predict calls per side (20)")
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 600 images, 2 epochs, 1 repeat"
    )
    args = parser.parse_args(argv)
    fill_defaults(args, QUICK, FULL)  # explicit flags win
    for key in FULL:
        if getattr(args, key) < 1:
            parser.error(f"--{key.replace('_', '-')} must be a positive integer")
    return args


def load_images(rows: int) -> tuple[np.ndarray, np.ndarray]:
    """The digit images, repeated (or cut) to ``rows`` rows, and their labels."""
    dataset = make_digit_image_dataset(SEED)
    index = np.resize(np.arange(len(dataset.y)), rows)
    return dataset.tensor[index].astype(np.float32), dataset.y[index]


# -- the sides -----------------------------------------------------------------


def fit_raw(X: np.ndarray, y: np.ndarray, epochs: int):
    """Per-channel scaling by hand, then the tutorial's build, compile and fit."""
    axes = tuple(range(X.ndim - 1))
    mean, std = X.mean(axis=axes), X.std(axis=axes)
    std = np.where(std > 0, std, 1.0)
    model = build_image_network(X.shape[1:], int(y.max()) + 1, "softmax")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit((X - mean) / std, y, epochs=epochs, batch_size=BATCH_SIZE, verbose=0)
    return (mean, std), model


def fit_safekeras(X: np.ndarray, y: np.ndarray, epochs: int, engine: str):
    from safekeras import SafeKerasClassifier

    return SafeKerasClassifier(
        model=partial(network_for, X.shape[1:]),
        batch_size=BATCH_SIZE,
        epochs=epochs,
        # No early stopping and (10 classes) no threshold to tune: no validation split, so
        # safekeras trains on all rows, as the raw side does.
        early_stopping=False,
        random_state=SEED,
        engine=engine,
    ).fit(X, y)


def fit_side(name: str, X, y, epochs: int):
    engine = SIDES[name]
    return fit_raw(X, y, epochs) if engine is None else fit_safekeras(X, y, epochs, engine)


# -- timing --------------------------------------------------------------------


def time_fits(X, y, epochs: int, repeats: int) -> tuple[dict[str, list[float]], dict]:
    """Seconds of every fit per side, plus each side's last fitted model."""
    names = list(SIDES)
    seconds = {name: [] for name in names}
    fitted = {}
    for repeat in range(repeats):
        # Rotate the order so that no side always runs first (or on a warmer process).
        shift = repeat % len(names)
        for name in names[shift:] + names[:shift]:
            fitted.pop(name, None)  # drop the old model now, not during the next timing
            gc.collect()
            elapsed, fitted[name] = timed(partial(fit_side, name, X, y, epochs))
            seconds[name].append(elapsed)
    return seconds, fitted


def time_predict(X: np.ndarray, fitted: dict, args) -> dict[str, float]:
    """Median seconds of a ``--predict-rows`` predict: raw on scaled images, safekeras on raw."""
    (mean, std), model = fitted[RAW]
    images = X[np.resize(np.arange(len(X)), args.predict_rows)]
    scaled = ((images - mean) / std).astype(np.float32)
    calls = {"raw `model.predict_on_batch` (pre-scaled)": lambda: model.predict_on_batch(scaled)}
    for name, engine in SIDES.items():
        if engine is not None:
            estimator = fitted[name]
            calls[f"safekeras `predict_proba` ({engine} fit)"] = partial(
                estimator.predict_proba, images
            )
    return time_calls(calls, args.calls)


# -- report --------------------------------------------------------------------


def format_table(rows: list[tuple[str, str, float, float]]) -> str:
    """``rows`` of (section, measurement, seconds, reference seconds)."""
    lines = ["| section | measurement | median | ratio vs reference |", "|---|---|---:|---:|"]
    for section, name, seconds, reference in rows:
        ratio = f"{seconds / reference:.2f}x" + (" (ref)" if seconds == reference else "")
        lines.append(f"| {section} | {name} | {format_seconds(seconds)} | {ratio} |")
    return "\n".join(lines)


def verdict(fit_seconds: dict[str, list[float]]) -> str:
    raw = statistics.median(fit_seconds[RAW])
    parts = []
    for name, engine in SIDES.items():
        if engine is None:
            continue
        ratio = statistics.median(fit_seconds[name]) / raw
        paired = [s / r for s, r in zip(fit_seconds[name], fit_seconds[RAW], strict=True)]
        parts.append(
            f'engine="{engine}" {ratio:.2f}x (per repeat {", ".join(f"{r:.2f}" for r in paired)}; '
            f"target <= {TARGET:.2f}x: {'met' if ratio <= TARGET else 'NOT met'})"
        )
    return "**Verdict**: safekeras fit / raw Keras fit: " + "; ".join(parts) + "."


def run(args: argparse.Namespace) -> str:
    """Run the benchmark and print its report; return the report (markdown)."""
    X, y = load_images(args.rows)
    lines = [
        "# safekeras fit overhead on images vs raw Keras\n",
        describe_environment(),
        f"- data: load_digits as {X.shape[0]} x 8 x 8 x 1 images (repeated); a small CNN; "
        f"{args.epochs} epochs, batch {BATCH_SIZE}, early stopping off; {args.repeats} "
        "repeat(s), median\n",
    ]
    print("\n".join(lines), flush=True)
    with quiet_tensorflow_logger():
        for name in SIDES:  # TensorFlow's one-time costs, once per side, before any timing
            fit_side(name, X[:256], y[:256], 1)
        fit_seconds, fitted = time_fits(X, y, args.epochs, args.repeats)
        predict = time_predict(X, fitted, args)
    raw = statistics.median(fit_seconds[RAW])
    rows = [("fit", name, statistics.median(fit_seconds[name]), raw) for name in SIDES]
    reference = next(iter(predict.values()))
    rows += [
        (f"predict {args.predict_rows} images", name, seconds, reference)
        for name, seconds in predict.items()
    ]
    report = [format_table(rows), "", verdict(fit_seconds)]
    if args.quick:
        report.append(
            "\nQuick run: a smoke test only. At these sizes graph tracing dominates the fit, "
            "so the ratios say nothing about the overhead target."
        )
    print("\n".join(report), flush=True)
    return "\n".join([*lines, *report])


def main(argv=None) -> int:
    args = parse_args(argv)
    prepare_keras()
    run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
