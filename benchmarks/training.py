"""Training speed: SafeKerasClassifier.fit against raw Keras model.fit and MLPClassifier.

safekeras trains with an engine (``SafeKerasClassifier(engine=...)``):
``"compiled"`` runs each epoch as one compiled function (a ``tf.function``
looping over the batches on TensorFlow, a jitted ``lax.scan`` on JAX), so
Python runs once per epoch instead of once per batch; ``"keras"`` uses Keras'
own ``model.fit``. This script measures what that buys, in one process per
Keras backend, on the same data, network and epochs.

What is measured
----------------
Data: ``make_classification(n_samples, n_features, n_informative=min(10,
n_features), random_state=0)`` (``datasets.make_data``, which also keeps
scikit-learn's 2 redundant features only when there is room for them) at
20000 x 20 (the main size), 20000 x 200 (wider) and 200000 x 20 (more rows).
A stratified 20 % is held out
(``train_test_split(..., stratify=y, random_state=0)``): every contender is
fitted on the other 80 % and scored on it, so the table shows that they reach
the same accuracy and not only how fast they get there.

Network everywhere: ``Dense(64, relu) -> Dense(32, relu) -> Dense(1, sigmoid)``
(logistic output for ``MLPClassifier``), Adam with learning rate ``1e-3``,
batch 256, ``--epochs`` epochs (10), no dropout, no L2, no early stopping.
Contenders, each timed from raw ``X`` to a fitted model:

* **safekeras compiled**: ``SafeKerasClassifier(hidden_layer_sizes=(64, 32),
  dropout=0.0, l2=0.0, learning_rate=1e-3, batch_size=256, epochs=E,
  early_stopping=False, threshold=0.5, engine="compiled", random_state=0)
  .fit(X, y)``: input validation, the drift schema, the ``"auto"``
  preprocessor (imputation and scaling), building and compiling the network,
  and training. A fixed threshold and no early stopping: no validation split,
  all training rows are trained on. The compiled engine traces (TensorFlow) or
  traces and XLA-compiles (JAX) its epoch function once per fit, on the first
  epoch; every timed fit includes that cost.
* **safekeras keras**: the same with ``engine="keras"`` (``model.fit`` on a
  seeded ``tf.data`` pipeline).
* **raw Keras fit** (the first reference): the user's own
  ``StandardScaler().fit_transform``, ``keras.Sequential`` of the network
  above (Glorot-uniform initialisers with fixed seeds), ``compile(optimizer=
  Adam(1e-3), loss="binary_crossentropy")`` (Keras' defaults otherwise, so
  its train step is compiled too: ``jit_compile="auto"``) and
  ``model.fit(X, y, batch_size=256, epochs=E, verbose=0)``. Scaling, building
  and compiling are inside the timing: a careful Keras user does them too.
* **raw Keras fit with ``steps_per_execution``**: the same, compiled with
  ``steps_per_execution`` = the batches of an epoch, as Keras advises for
  small models (one call runs a whole epoch, as the compiled engine does).
* **MLPClassifier** (the second reference): ``make_pipeline(StandardScaler(),
  MLPClassifier(hidden_layer_sizes=(64, 32), solver="adam",
  learning_rate_init=1e-3, batch_size=256, max_iter=E, tol=0,
  n_iter_no_change=E + 1, early_stopping=False, random_state=0))``: exactly
  ``E`` epochs (its ``ConvergenceWarning`` is silenced for the fit only).

Each contender is warmed up once per process with a tiny fit (512 rows, one
epoch), so that start-up costs (TensorFlow's runtime, kernel registration,
first imports) land on no timed fit. Then ``--repeats`` (3) fresh fits per
contender, in rotating order (repeat ``r`` starts with contender ``r``) so
that background load and warmth spread evenly; each fit is followed by a
``gc.collect()`` outside the timing. The table gives the **median** seconds,
the **first** timed fit separately, the median held-out accuracy, and the
ratios ``median / median of raw Keras fit`` and ``median / median of
MLPClassifier`` (``0.25x`` = four times faster).

The first fit matters because the two compiled engines pay their compilation
differently. On TensorFlow every fit traces a new ``tf.function`` (the network
and its variables are new), so every timed fit, the median included, pays the
tracing. On JAX the epoch function is XLA-compiled for the architecture, batch
size and number of training rows (static shapes), and safekeras's JAX engine
keeps compiled epochs in a small cache (``safekeras.network.engine.jax_epochs``), so
later fits of the same network on as many rows in the same process reuse the
program: the first fit at a size pays the compilation and the median does
not. A user who fits once per process pays the first fit; cross-validation
with equal folds pays it once per fold size. The verdict gives both.

"Where the time goes" refits each Keras contender once more on the main size
with a callback that times its epochs (epoch hooks only, so the compiled
engine still runs; on JAX a callback makes it copy the weights back to the
network after every epoch, a small extra): the time outside the epochs
(validation, preprocessing, building, compiling, setting up the data), the
first epoch, and the median of the later epochs. First minus later is what
that fit paid to trace and compile its training step or epoch (about 0 on
JAX's compiled engine, which reuses the program cached by the earlier fits).

Backends
--------
The Keras backend is fixed per process. The script runs the TensorFlow
tables itself; when ``jax`` is importable it re-runs itself in a subprocess
with ``KERAS_BACKEND=jax`` (``--backend jax``, same code path), where the
compiled engine is ``safekeras.network.engine.jax_epochs.JaxEpochs``, and appends
that table. ``--backends tensorflow`` skips it.

Targets (on the main size): on TensorFlow, safekeras compiled at most 0.25x
raw Keras fit and at most 1.0x MLPClassifier; on JAX, at most 0.5x
MLPClassifier. The report marks each as met or not met from the medians.
Timings are wall clock and sensitive to other load on the machine: compare
ratios, and rerun with more ``--repeats`` on a busy machine.

Run from the repository root::

    python benchmarks/training.py                   # 3 sizes, both backends: ~3 min on 2 cores
    python -m benchmarks.training --quick           # smoke run: 2000 x 20, 2 epochs
    python benchmarks/training.py --backends tensorflow --sizes 50000x40 --output training.md
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as `python benchmarks/training.py`, Python puts benchmarks/ itself on sys.path, not the
# repository root that the `benchmarks.` imports below need; `python -m benchmarks.training`
# (a package set) needs nothing.
if not __package__:
    _ROOT = str(Path(__file__).resolve().parents[1])
    if _ROOT not in sys.path:
        sys.path.insert(0, _ROOT)

import argparse
import gc
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from benchmarks.backends import (
    TITLES,
    add_backend_arguments,
    backend_versions,
    parse_backend_list,
    rerun_with_jax,
    write_fragment,
)
from benchmarks.contenders import BATCH_SIZE, WARMUP_ROWS, build_raw_model, fit_raw
from benchmarks.datasets import SEED, make_data
from benchmarks.report import (
    describe_environment,
    fill_defaults,
    finish_report,
    format_ratio,
    format_seconds,
    prepare_keras,
    progress,
    quiet_tensorflow_logger,
    timed,
)
from benchmarks.speed_docs import add_write_option, faster_than_ours, peer_table, write_block
from benchmarks.training_breakdown import Breakdown, breakdown_section, time_breakdown

HIDDEN_LAYER_SIZES = (64, 32)
LEARNING_RATE = 1e-3
# The raw Keras network of this benchmark: safekeras's settings here, no dropout, no L2.
RAW_NETWORK = {
    "hidden_layer_sizes": HIDDEN_LAYER_SIZES,
    "dropout": 0.0,
    "l2": 0.0,
    "learning_rate": LEARNING_RATE,
}
TEST_SHARE = 0.2

FULL = {"sizes": "20000x20,20000x200,200000x20", "epochs": 10, "repeats": 3}
QUICK = {"sizes": "2000x20", "epochs": 2, "repeats": 1}

COMPILED = 'safekeras `engine="compiled"`'
KERAS_ENGINE = 'safekeras `engine="keras"`'
RAW = "raw Keras `model.fit`"
RAW_STEPS = "raw Keras `model.fit`, `steps_per_execution`"
MLP = "`MLPClassifier`"
CONTENDERS = (COMPILED, KERAS_ENGINE, RAW, RAW_STEPS, MLP)
PEERS = (RAW, RAW_STEPS, MLP)  # safekeras compiled is compared with the fastest of them

# Targets for safekeras compiled on the main size: (backend, reference, highest ratio).
TARGETS = (("tensorflow", RAW, 0.25), ("tensorflow", MLP, 1.0), ("jax", MLP, 0.5))


# -- setup ---------------------------------------------------------------------


def parse_sizes(text: str) -> list[tuple[int, int]]:
    sizes = []
    for part in text.split(","):
        rows, _, features = part.strip().lower().partition("x")
        sizes.append((int(rows), int(features)))
    return sizes


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Time SafeKerasClassifier's training engines against raw Keras "
        "model.fit and scikit-learn's MLPClassifier, on TensorFlow and JAX.",
    )
    parser.add_argument(
        "--sizes",
        help="comma-separated ROWSxFEATURES before the 20 %% hold-out; the first is the main "
        "size, on which the targets are judged (20000x20,20000x200,200000x20)",
    )
    parser.add_argument("--epochs", type=int, help="training epochs (10)")
    parser.add_argument("--repeats", type=int, help="timed fits per contender; median (3)")
    add_backend_arguments(
        parser,
        "Keras backend of this process (tensorflow); the script sets it for its subprocess",
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 2000 x 20, 2 epochs, 1 repeat"
    )
    parser.add_argument(
        "--output", "--markdown", dest="markdown", metavar="PATH", help="also write the report"
    )
    add_write_option(parser, ("training",))
    args = parser.parse_args(argv)
    fill_defaults(args, QUICK, FULL)  # explicit flags win
    for key in ("epochs", "repeats"):
        if getattr(args, key) < 1:
            parser.error(f"--{key} must be a positive integer")
    try:
        args.size_list = parse_sizes(args.sizes)
    except ValueError:
        parser.error(f"--sizes {args.sizes!r}: expected e.g. 20000x20,200000x20")
    if any(rows < 50 or features < 1 for rows, features in args.size_list):
        parser.error("--sizes: at least 50 rows and 1 feature each")
    parse_backend_list(parser, args)
    return args


def size_label(size: tuple[int, int]) -> str:
    return f"{size[0]} x {size[1]}"


@dataclass(frozen=True)
class Split:
    size: tuple[int, int]
    X_train: np.ndarray
    X_test: np.ndarray
    y_train: np.ndarray
    y_test: np.ndarray


def make_split(size: tuple[int, int]) -> Split:
    X, y = make_data(*size)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=TEST_SHARE, stratify=y, random_state=SEED
    )
    return Split(size, X_train, X_test, y_train, y_test)


# -- the contenders ------------------------------------------------------------


def fit_safekeras(X, y, epochs: int, engine: str, callbacks=None):
    from safekeras import SafeKerasClassifier

    estimator = SafeKerasClassifier(
        hidden_layer_sizes=HIDDEN_LAYER_SIZES,
        dropout=0.0,
        l2=0.0,
        learning_rate=LEARNING_RATE,
        batch_size=BATCH_SIZE,
        epochs=epochs,
        early_stopping=False,
        threshold=0.5,  # fixed: no validation split for threshold tuning
        callbacks=callbacks,
        engine=engine,
        random_state=SEED,
    ).fit(X, y)
    if estimator.engine_ != engine:
        raise RuntimeError(f"engine={engine!r} trained with {estimator.engine_!r}")
    return estimator


def fit_raw_network(X, y, epochs: int, callbacks=None):
    """Scale, build, compile and fit ``RAW_NETWORK``; returns ``(scaler, model)``."""
    return fit_raw(X, y, epochs, callbacks, seed=SEED, **RAW_NETWORK)


def fit_raw_steps(X, y, epochs: int):
    """``fit_raw_network`` with ``steps_per_execution`` = the batches of an epoch (Keras's
    advice for small models: Python and dispatch once per call of many steps)."""
    import keras

    scaler = StandardScaler()
    x = scaler.fit_transform(X)
    model = build_raw_model(x.shape[1], seed=SEED, **RAW_NETWORK)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=LEARNING_RATE),
        loss="binary_crossentropy",
        steps_per_execution=steps_per_epoch(len(x)),
    )
    model.fit(x, y, epochs=epochs, batch_size=BATCH_SIZE, verbose=0)
    return scaler, model


def steps_per_epoch(rows: int) -> int:
    return -(-rows // BATCH_SIZE)


def fit_mlp(X, y, epochs: int):
    pipeline = make_pipeline(
        StandardScaler(),
        MLPClassifier(
            hidden_layer_sizes=HIDDEN_LAYER_SIZES,
            solver="adam",
            learning_rate_init=LEARNING_RATE,
            batch_size=BATCH_SIZE,
            max_iter=epochs,
            tol=0,
            n_iter_no_change=epochs + 1,  # never stops early: exactly `epochs` epochs
            early_stopping=False,
            random_state=SEED,
        ),
    )
    with warnings.catch_warnings():
        # max_iter is reached on purpose; the warning says nothing here.
        warnings.simplefilter("ignore", ConvergenceWarning)
        return pipeline.fit(X, y)


def raw_accuracy(fitted, X, y) -> float:
    scaler, model = fitted
    proba = np.asarray(model.predict(scaler.transform(X), batch_size=8192, verbose=0))
    return float(np.mean((proba.ravel() > 0.5).astype(int) == y))


@dataclass(frozen=True)
class Contender:
    name: str
    fit: Callable  # (X, y, epochs) -> fitted
    accuracy: Callable  # (fitted, X, y) -> float


def make_contenders() -> dict[str, Contender]:
    def score(fitted, X, y):
        return float(fitted.score(X, y))

    return {
        COMPILED: Contender(COMPILED, lambda X, y, e: fit_safekeras(X, y, e, "compiled"), score),
        KERAS_ENGINE: Contender(
            KERAS_ENGINE, lambda X, y, e: fit_safekeras(X, y, e, "keras"), score
        ),
        RAW: Contender(RAW, fit_raw_network, raw_accuracy),
        RAW_STEPS: Contender(RAW_STEPS, fit_raw_steps, raw_accuracy),
        MLP: Contender(MLP, fit_mlp, score),
    }


# -- timing --------------------------------------------------------------------


@dataclass
class Timings:
    seconds: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def first(self) -> float:
        return self.seconds[0]


def time_fits(contenders: dict[str, Contender], split: Split, args) -> dict[str, Timings]:
    """``--repeats`` fresh fits per contender, in rotating order; seconds and accuracy."""
    results = {name: Timings() for name in contenders}
    names = list(contenders)
    for repeat in range(args.repeats):
        shift = repeat % len(names)
        for name in names[shift:] + names[:shift]:
            contender = contenders[name]
            gc.collect()  # the previous fit's garbage is collected outside any timing
            elapsed, fitted = timed(
                lambda contender=contender: contender.fit(split.X_train, split.y_train, args.epochs)
            )
            results[name].seconds.append(elapsed)
            results[name].accuracy.append(contender.accuracy(fitted, split.X_test, split.y_test))
            del fitted
            progress(f"  {size_label(split.size)}, repeat {repeat + 1}: {name} {elapsed:.2f} s")
    return results


def warm_up(contenders: dict[str, Contender], split: Split) -> None:
    X, y = split.X_train[:WARMUP_ROWS], split.y_train[:WARMUP_ROWS]
    for contender in contenders.values():
        contender.fit(X, y, 1)


def time_epochs(split: Split, epochs: int) -> list[Breakdown]:
    """One instrumented fit per Keras contender: time outside and inside the epochs."""
    X, y = split.X_train, split.y_train
    return time_breakdown(
        {
            COMPILED: lambda cb: fit_safekeras(X, y, epochs, "compiled", callbacks=[cb]),
            KERAS_ENGINE: lambda cb: fit_safekeras(X, y, epochs, "keras", callbacks=[cb]),
            RAW: lambda cb: fit_raw_network(X, y, epochs, callbacks=[cb]),
        }
    )


# -- report --------------------------------------------------------------------


def format_table(results: dict[tuple[int, int], dict[str, Timings]]) -> str:
    lines = [
        "| data (rows x features) | contender | median fit | first fit | held-out accuracy "
        "| vs raw Keras fit | vs MLPClassifier |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for size, timings in results.items():
        raw, mlp = timings[RAW].median, timings[MLP].median
        for name, t in timings.items():
            lines.append(
                f"| {size_label(size)} | {name} | {format_seconds(t.median)} "
                f"| {format_seconds(t.first)} | {statistics.median(t.accuracy):.4f} "
                f"| {format_ratio(t.median / raw)} | {format_ratio(t.median / mlp)} |"
            )
    return "\n".join(lines)


def verdict(backend: str, main: tuple[int, int], timings: dict[str, Timings], args) -> str:
    compiled = timings[COMPILED].median
    parts = []
    for target_backend, reference, limit in TARGETS:
        if target_backend != backend:
            continue
        ratio = compiled / timings[reference].median
        state = "met" if ratio <= limit else "**NOT met**"
        reference_name = "raw Keras fit" if reference == RAW else "MLPClassifier"
        parts.append(f"{ratio:.2f}x {reference_name} (target <= {limit:.2f}x: {state})")
    accuracy = ", ".join(
        f"{name} {statistics.median(t.accuracy):.4f}" for name, t in timings.items()
    )
    first = timings[COMPILED].first
    text = (
        f"**Verdict** ({backend}, {size_label(main)}): the median safekeras compiled fit takes "
        f"{'; '.join(parts)}; {timings[KERAS_ENGINE].median / compiled:.1f}x faster than "
        f'safekeras `engine="keras"`. Its first timed fit at this size took '
        f"{format_seconds(first)}: {first / timings[RAW].median:.2f}x raw Keras fit, "
        f"{first / timings[MLP].median:.2f}x MLPClassifier. Held-out accuracy: {accuracy}."
    )
    if args.quick:
        text += " (Quick run: too small and too few epochs for the targets to mean anything.)"
    return text


def measure_backend(args):
    """Every size's timings, and the breakdown of the main size, on this process's backend."""
    import keras

    backend = keras.backend.backend()
    contenders = make_contenders()
    splits = [make_split(size) for size in args.size_list]
    results = {}
    with quiet_tensorflow_logger():
        progress(f"{backend}: warming up")
        warm_up(contenders, splits[0])
        for split in splits:
            results[split.size] = time_fits(contenders, split, args)
            if split is splits[0]:
                breakdown = time_epochs(split, args.epochs)
    return splits, results, breakdown


def docs_rows(results: dict[tuple[int, int], dict[str, Timings]]) -> dict:
    """Row label -> {contender: median seconds, and "accuracy": the median accuracies}."""
    import keras

    title = TITLES[keras.backend.backend()]
    rows = {}
    for size, timings in results.items():
        row = {name: t.median for name, t in timings.items()}
        row["accuracy"] = [statistics.median(t.accuracy) for t in timings.values()]
        rows[f"{title}, {size_label(size)}"] = row
    return rows


def backend_sections(args) -> tuple[list[str], dict]:
    """The tables of this process's backend (printed as they are ready) and its docs rows."""
    import keras

    backend = keras.backend.backend()
    splits, results, breakdown = measure_backend(args)
    main = splits[0].size
    title = TITLES[backend]
    train_rows = ", ".join(f"{size_label(s.size)}: {len(s.y_train)}" for s in splits)
    table = "\n".join(
        [
            f"## {title} backend\n",
            f"{backend_versions()}. Median of {args.repeats} fit(s) per contender after a "
            f"warm-up fit, {args.epochs} epochs, batch {BATCH_SIZE}; rows are before the 20 % "
            f"hold-out (training rows {train_rows}). Ratios: median / median of the "
            "reference on the same data. `steps_per_execution`: the batches of an epoch "
            f"({', '.join(str(steps_per_epoch(len(s.y_train))) for s in splits)}).\n",
            format_table(results),
            "",
            verdict(backend, main, results[main], args),
        ]
    )
    where = breakdown_section(f"{title}, {size_label(main)}", breakdown)
    for text in (table, where):
        print(text + "\n", flush=True)
    return [table, where], docs_rows(results)


def jax_sections(args) -> tuple[list[str], dict]:
    """Run this script again with ``KERAS_BACKEND=jax``; its sections and docs rows."""
    options = ["--sizes", args.sizes, "--epochs", str(args.epochs), "--repeats", str(args.repeats)]
    fragment, status = rerun_with_jax(__file__, options + (["--quick"] if args.quick else []))
    if fragment is not None:
        return fragment["sections"], fragment["rows"]
    if status is None:
        text = "## JAX backend\n\nJAX not installed: no JAX table."
    else:
        text = f"## JAX backend\n\nThe JAX run failed (exit status {status}); see stderr."
    print(text + "\n", flush=True)
    return [text], {}


def docs_body(rows: dict, args) -> str:
    """The engines table of docs/training.md, for ``speed_docs.write_block``."""
    accuracies = [a for row in rows.values() for a in row["accuracy"]]
    return "\n".join(
        [
            peer_table("backend, rows x features", rows, CONTENDERS, COMPILED, PEERS),
            "",
            f"The engines' own speed: a fit of {args.epochs} epochs with early stopping off, "
            f"Dense 64-32-1, Adam, batch {BATCH_SIZE}, preprocessing included, of an "
            "architecture already traced in the process (median of "
            f"{args.repeats} fit(s) after a warm-up fit; 20 % of the rows held out). This is "
            "not the default fit: that is the table above. Raw Keras runs once as a tutorial "
            "writes it and once with `steps_per_execution` set to the batches of an epoch, as "
            "Keras advises for small models. Held-out accuracy of every contender: "
            f"{min(accuracies):.3f} to {max(accuracies):.3f}. "
            + faster_than_ours(rows, COMPILED, MLP),
        ]
    )


def run(args: argparse.Namespace) -> str:
    """Run the benchmark, print the report and return it (markdown)."""
    import keras

    started = time.perf_counter()
    if args.fragment:  # the JAX subprocess: this backend's sections only
        sections, rows = backend_sections(args)
        write_fragment(args.fragment, {"sections": sections, "rows": rows})
        return "\n\n".join(sections)

    header = "\n".join(
        [
            "# safekeras training engines vs raw Keras model.fit and MLPClassifier\n",
            describe_environment(),
            f"- make_classification, n_informative=min(10, features); sizes "
            f"{', '.join(size_label(s) for s in args.size_list)} (main: the first); "
            f"{args.epochs} epochs, batch {BATCH_SIZE}, Adam 1e-3, no dropout, no L2, "
            f"early stopping off; {args.repeats} repeat(s), median",
        ]
    )
    print(header + "\n", flush=True)
    sections, rows = [header], {}
    if keras.backend.backend() in args.backend_list:
        more, rows = backend_sections(args)
        sections += more
    if "jax" in args.backend_list and keras.backend.backend() != "jax":
        more, jax_rows = jax_sections(args)
        sections += more
        rows.update(jax_rows)
    if args.write:
        write_block(args.write, "training", docs_body(rows, args), "training", args.quick)
    quick_note = "Quick run: a smoke test only; the sizes are too small for the targets."
    return finish_report(sections, started, quick_note, args)


def main(argv=None) -> None:
    args = parse_args(argv)
    prepare_keras(args.backend)
    run(args)


if __name__ == "__main__":
    sys.exit(main())
