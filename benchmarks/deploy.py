"""Deployment costs: predict latency, memory per refit, pickling and import time.

What happens after ``fit``: serving one row at a time, scoring a large batch,
refitting in a loop or a grid search, saving and loading the model, and
starting a process that imports the library. Each is measured for
``SafeKerasClassifier`` against what a user would otherwise write, in one run,
and reported as ratios on the machine at hand.

What is measured
----------------
The models (one set per input kind, fitted once per Keras backend):

* **safekeras**: ``SafeKerasClassifier(epochs=E, early_stopping=False,
  threshold=0.5, random_state=0).fit(X, y)`` with the default ``"auto"``
  preprocessor and network (``Dense(64, relu) -> Dropout(0.1) -> Dense(32,
  relu) -> Dropout(0.1) -> Dense(1, sigmoid)``, L2 ``1e-4``).
* **raw Keras**: the same network built by hand (``contenders.build_raw_model``),
  compiled with Adam and ``binary_crossentropy`` and trained with
  ``model.fit(x, y, batch_size=256, epochs=E)`` on the user's own
  preprocessing: ``StandardScaler`` for numeric data,
  ``ColumnTransformer(StandardScaler on the numbers, OneHotEncoder on the
  category)`` for the DataFrame.
* **MLPClassifier**: ``make_pipeline(<the same preprocessing>,
  MLPClassifier(hidden_layer_sizes=(64, 32), max_iter=E, random_state=0))``.

Data: ``make_classification(--rows, 20)`` (``datasets.make_data``); the
DataFrame has the first 19 of those columns (``x0`` to ``x18``) and a string
column ``region`` with four categories (``north``, ``south``, ``east``,
``west``), drawn at random with a bias towards the row's class, so that it
carries signal.

1. **1-row predict latency**: median seconds per call over ``--calls-one``
   calls on the first training row, as a numpy array and as a one-row
   DataFrame. Contenders: safekeras ``predict_proba`` and ``predict`` (input
   validation, drift check and the fitted preprocessing included); the MLP
   pipeline's ``predict_proba`` (the first reference) and ``predict``; raw
   ``model.predict_on_batch(prep.transform(x))`` (the second) and raw
   ``model(prep.transform(x), training=False)`` converted to numpy (the
   third): the user's own transform is inside both timings; and raw
   ``model.predict(prep.transform(x), verbose=0)``, the call the tutorials
   show, as a labelled row but no reference (it builds a data adapter and
   callbacks on every call, for large data sets). Each function is called 5
   times before timing (the first call traces or compiles the predict
   function), then all are called round-robin (``report.time_calls``) so
   that background load hits every contender alike. Targets: safekeras
   ``predict_proba`` at most 1 ms on the numpy row and at most 3 ms on the
   DataFrame row.
2. **Large predict**: the same contenders and references on ``--predict-rows``
   rows (10000; the training rows tiled), median of ``--calls-many`` calls.
   ``model.predict`` runs in Keras' default batches of 32 rows, as a user who
   calls it without ``batch_size`` gets. Target: safekeras ``predict_proba``
   at most 2x the MLP pipeline's ``predict_proba``.
3. **Memory per fit**: resident set size (RSS, ``/proc/self/statm``) read
   after ``gc.collect()``. Each measurement runs in its own fresh Python
   process (so that one does not inherit another's caches or garbage; as many
   at once as there are usable CPUs, which changes their speed but not their
   memory, and nothing there is timed), on ``make_classification(--memory-rows,
   20)`` with ``--memory-epochs`` epochs:

   * (a) **safekeras refit**: one ``SafeKerasClassifier(epochs=..,
     early_stopping=False, threshold=0.5, random_state=0)`` fitted
     ``--refits`` (20) times;
   * (b) **safekeras grid search**: ``GridSearchCV(<that estimator>,
     param_grid, cv=2, n_jobs=1, refit=False, error_score="raise")`` over
     ``--refits / 2`` candidates (``hidden_layer_sizes`` in (16,), (32,),
     (64,), (32, 16), (64, 32), each with ``learning_rate`` 1e-3 and 1e-2),
     that is ``--refits`` fits; its scorer reads the RSS after each fit;
   * (c) **raw Keras** (the reference): ``StandardScaler``, build, compile
     and ``model.fit`` of a new network, ``--refits`` times, the previous
     model dropped each time (what a user's loop does);
   * (d) **raw Keras + ``clear_session``**: the same with
     ``keras.backend.clear_session()`` after each fit;
   * (e) **raw Keras over the grid**: the same candidates and folds as (b),
     each a new raw Keras network of that architecture and learning rate:
     the like-for-like reference of (b), since every new architecture costs
     compilation memory that refitting one architecture (c) never pays;
   * (f) **safekeras refit, a network-building function**: (a) with
     ``model=`` a function that builds the raw Keras network of (c) anew on
     every call, so Keras names its layers and seed states afresh
     ("dense_57"), as users' functions do.

   Each process first does ``--memory-warmups`` (3) fits of the same kind
   (for the grid search: a one-candidate ``GridSearchCV`` of another
   architecture, ``(8,)``, over as many folds), so that libraries, kernels
   and one-time caches are loaded before the baseline reading. The table gives
   the baseline, the growth after all fits, the growth per fit (growth /
   fits), the growth per fit over the second half of the fits only (a cache
   that fills once shows up in the first, a leak in both) and the ratio of
   MB/fit to raw Keras (c). Target: safekeras at most 0.5 MB per fit, for
   (a) and for (b). RSS counts memory the allocator keeps after Python frees
   it, so it is an upper bound of what is retained.
4. **Pickle**: the fitted numpy-data models of section 1. Size of the
   serialised form, median seconds of writing (``dumps``) and of reading it
   back (``loads``) over ``--pickle-repeats`` round-robin calls, and the
   largest change of ``predict_proba`` on 100 rows after the round trip
   (0 = the same model). Contenders (``PERSISTERS``, one entry each):
   safekeras ``est.save(path)`` / ``safekeras.load(path)`` (the checked
   single-file format), safekeras with ``pickle.dumps``/``loads``,
   ``joblib.dump``/``load``
   (through a file in a temporary folder) and ``cloudpickle``; raw Keras
   ``model.save("x.keras")`` / ``keras.saving.load_model`` (the reference);
   the MLP pipeline with ``pickle``.
5. **Import time**: each statement in a fresh ``python -c`` process, timed
   inside the process around the statement alone (interpreter start-up
   excluded), median of ``--import-repeats`` (5) processes in rotating order;
   also the number of modules it loaded and whether scikit-learn or
   TensorFlow got imported. Target: ``import safekeras`` at most 0.5 s.

Backends
--------
The Keras backend is fixed per process. Sections 1 to 4 run in this process
on TensorFlow (``--backend``); when ``jax`` is in ``--backends`` (the
default) and importable, the script re-runs itself with
``KERAS_BACKEND=jax`` for the JAX sections, and the memory processes of each
backend run with that backend. Import times are measured once (with ``import
keras`` under each backend reported).

Ratios are ``median of the row / median of the reference``: ``1.00x`` on the
reference itself, ``0.25x`` = four times faster. The report ends with one
**Verdict** line per target and backend. Timings are wall clock: on a busy
machine they are noisy, so compare ratios and rerun with more calls.

Run from the repository root::

    python benchmarks/deploy.py                          # both backends, ~6 min on 2 cores
    python -m benchmarks.deploy --quick                  # smoke run, small sizes
    python benchmarks/deploy.py --backends tensorflow --output deploy.md
    python benchmarks/deploy.py --write                  # also the docs' speed:* tables
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as `python benchmarks/deploy.py`, Python puts benchmarks/ itself on sys.path, not the
# repository root that the `benchmarks.` imports below need; `python -m benchmarks.deploy`
# (a package set) needs nothing.
if not __package__:
    _ROOT = str(Path(__file__).resolve().parents[1])
    if _ROOT not in sys.path:
        sys.path.insert(0, _ROOT)

import argparse
import statistics
import time

import numpy as np

from benchmarks import deploy_docs
from benchmarks.backends import (
    TITLES,
    add_backend_arguments,
    backend_versions,
    parse_backend_list,
    rerun_with_jax,
    write_fragment,
)
from benchmarks.datasets import SEED, make_data
from benchmarks.deploy_imports import (
    IMPORT_SAFEKERAS,
    format_import_table,
    import_statements,
    time_imports,
)
from benchmarks.deploy_memory import (
    GRID_FOLDS,
    GRID_REFERENCE,
    MEMORY_CASES,
    MemoryResult,
    format_memory_table,
    measure_all_memory,
    memory_worker,
)
from benchmarks.deploy_models import (
    FEATURES,
    MLP_PROBA,
    RAW_CALL,
    RAW_ON_BATCH,
    RAW_PREDICT,
    SK_PROBA,
    fit_models,
    take_rows,
    time_predicts,
)
from benchmarks.deploy_pickle import ROUND_TRIP_ROWS, format_pickle_table, time_pickling
from benchmarks.report import (
    describe_environment,
    fill_defaults,
    finish_report,
    format_ratio,
    format_seconds,
    prepare_keras,
    progress,
    quiet_tensorflow_logger,
)
from benchmarks.speed_docs import add_write_option

REGIONS = ("north", "south", "east", "west")
SKIPPABLE = ("memory", "pickle", "imports")
WARMUP_CALLS = 5  # predict calls per contender before timing

FULL = {
    "rows": 5_000,
    "epochs": 5,
    "calls_one": 200,
    "predict_rows": 10_000,
    "calls_many": 20,
    "refits": 20,
    "memory_rows": 500,
    "memory_epochs": 3,
    "memory_warmups": 3,
    "pickle_repeats": 10,
    "import_repeats": 5,
}
QUICK = {
    "rows": 1_000,
    "epochs": 1,
    "calls_one": 20,
    "predict_rows": 2_000,
    "calls_many": 3,
    "refits": 4,
    "memory_rows": 300,
    "memory_epochs": 1,
    "memory_warmups": 1,
    "pickle_repeats": 3,
    "import_repeats": 1,
}
OPTION_HELP = {
    "rows": "training rows of the predict and pickle models (5000)",
    "epochs": "epochs of the predict and pickle models (5)",
    "calls_one": "timed 1-row predict calls per contender; median (200)",
    "predict_rows": "rows of the large predict (10000)",
    "calls_many": "timed large predict calls per contender; median (20)",
    "refits": "fits per memory measurement; the grid search has half as many candidates (20)",
    "memory_rows": "training rows of the memory measurements (500)",
    "memory_epochs": "epochs of the memory measurements (3)",
    "memory_warmups": "fits before the baseline memory reading (3)",
    "pickle_repeats": "timed dumps and loads per contender; median (10)",
    "import_repeats": "fresh processes per import statement; median (5)",
}

# The comparisons: the MLP pipeline and raw Keras's fast calls. `model.predict` stays a row
# (the call tutorials show) but is no reference: it is built for large data sets.
PREDICT_REFERENCES = {
    "vs MLPClassifier": MLP_PROBA,
    "vs raw `predict_on_batch`": RAW_ON_BATCH,
    "vs raw `model(x)`": RAW_CALL,
}
INPUTS = {"numpy": "numpy, 20 numbers", "frame": "DataFrame, 19 numbers + 1 category"}

# Targets.
ONE_ROW_TARGETS = {"numpy": 1e-3, "frame": 3e-3}  # seconds, safekeras predict_proba
MANY_ROWS_TARGET = 2.0  # safekeras predict_proba / MLP pipeline predict_proba
MEMORY_TARGET = 0.5  # MB per fit, safekeras refit and grid search
IMPORT_TARGET = 0.5  # seconds, `import safekeras`


# -- setup ---------------------------------------------------------------------


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Measure SafeKerasClassifier's deployment costs (predict latency, memory "
        "per refit, pickling, import time) against raw Keras and MLPClassifier.",
    )
    for key, text in OPTION_HELP.items():
        parser.add_argument(f"--{key.replace('_', '-')}", type=int, help=text)
    add_backend_arguments(
        parser,
        "Keras backend of this process (tensorflow); the script sets it for its subprocesses",
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: small sizes, few calls")
    parser.add_argument(
        "--output", "--markdown", dest="markdown", metavar="PATH", help="also write the report"
    )
    add_write_option(parser, ("latency", "latency-summary", "memory", "imports"))
    parser.add_argument(
        "--skip",
        type=lambda text: {part.strip() for part in text.split(",") if part.strip()},
        default=set(),
        metavar="PARTS",
        help="comma-separated parts not to measure: memory, pickle, imports (their tables and "
        "docs blocks are left out)",
    )
    # Internal: one memory measurement, written as JSON to --worker-output.
    parser.add_argument("--memory-worker", choices=tuple(MEMORY_CASES), help=argparse.SUPPRESS)
    parser.add_argument("--worker-output", metavar="PATH", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    fill_defaults(args, QUICK, FULL)  # explicit flags win
    for key in OPTION_HELP:
        if getattr(args, key) < (0 if key == "memory_warmups" else 1):
            parser.error(f"--{key.replace('_', '-')} must be a positive integer")
    if args.refits < 2 * GRID_FOLDS:
        parser.error(f"--refits must be at least {2 * GRID_FOLDS}")
    if args.skip - set(SKIPPABLE):
        parser.error(f"--skip: choose from {', '.join(SKIPPABLE)}")
    if args.rows < 50 or args.memory_rows < 50:
        parser.error("--rows and --memory-rows: at least 50")
    parse_backend_list(parser, args)
    return args


def make_frame(X: np.ndarray, y: np.ndarray):
    """The first 19 columns of ``X`` and a four-category string column biased by the class."""
    import pandas as pd

    rng = np.random.default_rng(SEED)
    # Class 0 draws mostly north/south, class 1 mostly east/west.
    shifted = np.where(rng.random(len(y)) < 0.7, y * 2, (1 - y) * 2) + rng.integers(0, 2, len(y))
    frame = pd.DataFrame(X[:, : FEATURES - 1], columns=[f"x{i}" for i in range(FEATURES - 1)])
    frame["region"] = np.asarray(REGIONS, dtype=object)[shifted]
    return frame


# -- report --------------------------------------------------------------------


def format_predict_table(medians: dict[str, dict[str, float]]) -> str:
    lines = [
        "| input | contender | median | " + " | ".join(PREDICT_REFERENCES) + " |",
        "|---|---|---:|" + "---:|" * len(PREDICT_REFERENCES),
    ]
    for kind, seconds in medians.items():
        for name, value in seconds.items():
            ratios = " | ".join(
                format_ratio(value / seconds[reference])
                for reference in PREDICT_REFERENCES.values()
            )
            lines.append(f"| {INPUTS[kind]} | {name} | {format_seconds(value)} | {ratios} |")
    return "\n".join(lines)


def state(met: bool) -> str:
    return "met" if met else "**NOT met**"


def verdicts(
    title: str,
    one: dict[str, dict[str, float]],
    many: dict[str, dict[str, float]],
    memory: dict[str, MemoryResult],
    args,
) -> list[str]:
    lines = []
    for kind, limit in ONE_ROW_TARGETS.items():
        seconds = one[kind][SK_PROBA]
        lines.append(
            f"**Verdict** ({title}): safekeras `predict_proba` on 1 row ({INPUTS[kind]}) takes "
            f"{format_seconds(seconds)} (target <= {format_seconds(limit)}: "
            f"{state(seconds <= limit)}); the MLPClassifier pipeline's `predict_proba` takes "
            f"{format_seconds(one[kind][MLP_PROBA])}, raw `predict_on_batch` "
            f"{format_seconds(one[kind][RAW_ON_BATCH])}, raw `model(x)` "
            f"{format_seconds(one[kind][RAW_CALL])} (`model.predict`: "
            f"{format_seconds(one[kind][RAW_PREDICT])})."
        )
    for kind, seconds in many.items():
        ratio = seconds[SK_PROBA] / seconds[MLP_PROBA]
        lines.append(
            f"**Verdict** ({title}): safekeras `predict_proba` on {args.predict_rows} rows "
            f"({INPUTS[kind]}) takes {format_seconds(seconds[SK_PROBA])}, {ratio:.2f}x the "
            f"MLPClassifier pipeline (target <= {MANY_ROWS_TARGET:.2f}x: "
            f"{state(ratio <= MANY_ROWS_TARGET)})."
        )
    for kind in ("refit", "grid") if memory else ():
        result = memory[kind]
        if result.error:
            lines.append(f"**Verdict** ({title}): {result.label}: the measurement failed.")
            continue
        lines.append(
            f"**Verdict** ({title}): {result.label} grows the RSS by {result.per_fit:.3f} MB "
            f"per fit over {result.fits} fits (target <= {MEMORY_TARGET} MB: "
            f"{state(result.per_fit <= MEMORY_TARGET)}; second half "
            f"{result.per_fit_second_half:.3f} MB/fit)."
            + (
                f" Raw Keras over the same candidates and folds: "
                f"{memory[GRID_REFERENCE].per_fit:.3f} MB per fit."
                if kind == "grid" and not memory[GRID_REFERENCE].error
                else ""
            )
        )
    return lines


def fit_and_time_predicts(args, backend: str):
    """The numpy and DataFrame models, and their 1-row and large predict medians."""
    X, y = make_data(args.rows, FEATURES)
    data = {"numpy": X, "frame": make_frame(X, y)}
    with quiet_tensorflow_logger():
        progress(f"{backend}: fitting the models")
        fitted = {kind: fit_models(kind, X_kind, y, args.epochs) for kind, X_kind in data.items()}
        progress(f"{backend}: timing 1-row predicts")
        one = {
            kind: time_predicts(f, take_rows(f.X, 1), args.calls_one, WARMUP_CALLS)
            for kind, f in fitted.items()
        }
        progress(f"{backend}: timing {args.predict_rows}-row predicts")
        many = {
            kind: time_predicts(f, take_rows(f.X, args.predict_rows), args.calls_many, 0)
            for kind, f in fitted.items()
        }
    return fitted, one, many


def one_row_section(title: str, one: dict[str, dict[str, float]], args) -> str:
    versions = backend_versions()
    return "\n".join(
        [
            f"## {title}: 1-row predict latency\n",
            f"{versions}. Models fitted on {args.rows} rows, {args.epochs} epoch(s). Median "
            f"of {args.calls_one} calls per contender after {WARMUP_CALLS + 1} warm-up "
            "calls, round-robin. Raw rows include the user's own transform "
            "(`StandardScaler`, or `ColumnTransformer` with a `OneHotEncoder` for the "
            "DataFrame). Targets: safekeras `predict_proba` <= 1 ms (numpy), <= 3 ms "
            "(DataFrame with a categorical).\n",
            format_predict_table(one),
        ]
    )


def many_rows_section(title: str, many: dict[str, dict[str, float]], args) -> str:
    return "\n".join(
        [
            f"## {title}: {args.predict_rows}-row predict\n",
            f"Median of {args.calls_many} calls per contender after one warm-up call. "
            "`model.predict` uses Keras' default batches of 32 rows. Target: safekeras "
            f"`predict_proba` <= {MANY_ROWS_TARGET:.0f}x the MLPClassifier pipeline.\n",
            format_predict_table(many),
        ]
    )


def memory_section(title: str, memory: dict[str, MemoryResult], args) -> str:
    return "\n".join(
        [
            f"## {title}: memory per fit\n",
            "RSS from `/proc/self/statm` after `gc.collect()`, each row in its own fresh "
            f"process (side by side, up to one per CPU): {args.memory_warmups} warm-up "
            f"fit(s) before the baseline, then "
            f"{args.refits} fits on make_classification {args.memory_rows} x {FEATURES}, "
            f"{args.memory_epochs} epoch(s). The grid search has "
            f"{args.refits // GRID_FOLDS} candidates x {GRID_FOLDS} folds. MB/fit = growth "
            f"/ fits. Target: safekeras <= {MEMORY_TARGET} MB/fit.\n",
            format_memory_table(memory),
        ]
    )


def pickle_section(title: str, pickled, args) -> str:
    return "\n".join(
        [
            f"## {title}: pickle\n",
            f"The numpy-data models above. Median of {args.pickle_repeats} dumps and "
            "loads per contender after one warm-up call each, round-robin; joblib and "
            "`model.save` go through a file in a temporary folder. Round trip: largest "
            f"change of the positive-class probability on {ROUND_TRIP_ROWS} rows.\n",
            format_pickle_table(pickled),
        ]
    )


def backend_sections(args) -> tuple[list[str], list[str], dict]:
    """This process's backend: its sections (printed as they are ready), verdict lines and
    measurements (``one``, ``many``, ``memory``) for the docs."""
    import keras

    backend = keras.backend.backend()
    title = TITLES[backend]
    sections = []

    def emit(text: str) -> None:
        print(text + "\n", flush=True)
        sections.append(text)

    fitted, one, many = fit_and_time_predicts(args, backend)
    emit(one_row_section(title, one, args))
    emit(many_rows_section(title, many, args))

    memory = {}
    if "memory" not in args.skip:
        progress(f"{backend}: memory, one fresh process per measurement")
        memory = measure_all_memory(__file__, args)
        emit(memory_section(title, memory, args))

    if "pickle" not in args.skip:
        progress(f"{backend}: pickling")
        with quiet_tensorflow_logger():
            pickled = time_pickling(fitted["numpy"], args.pickle_repeats)
        emit(pickle_section(title, pickled, args))
    found = {"one": one, "many": many, "memory": memory}
    return sections, verdicts(title, one, many, memory, args), found


def jax_sections(args) -> tuple[list[str], list[str], dict | None]:
    """Run this script again with ``KERAS_BACKEND=jax``; its sections, verdicts and
    measurements (None without them)."""
    options = [f"--{key.replace('_', '-')}={getattr(args, key)}" for key in OPTION_HELP]
    options += [f"--skip={','.join(sorted(args.skip))}"] if args.skip else []
    fragment, status = rerun_with_jax(__file__, options + (["--quick"] if args.quick else []))
    if fragment is not None:
        return fragment["sections"], fragment["verdicts"], deploy_docs.from_json(fragment["found"])
    if status is None:
        text = "## JAX\n\nJAX not installed: no JAX tables."
        print(text + "\n", flush=True)
        return [text], [], None
    text = f"## JAX\n\nThe JAX run failed (exit status {status}); see stderr."
    print(text + "\n", flush=True)
    return [text], ["**Verdict** (JAX): no numbers, the JAX run failed."], None


def import_section(args) -> tuple[str, list[str], tuple[dict, str]]:
    progress("import times, one fresh process per statement and repeat")
    results = time_imports(import_statements(args.backend_list), args.import_repeats)
    table = format_import_table(results)
    text = "\n".join(
        [
            "## Import time\n",
            f"Each statement in a fresh `python -c` process, timed around the statement only "
            f"(interpreter start-up excluded); median of {args.import_repeats} process(es) in "
            f"rotating order. Target: `import safekeras` <= {IMPORT_TARGET} s.\n",
            table,
        ]
    )
    seconds = statistics.median(results[IMPORT_SAFEKERAS].seconds)
    verdict = (
        f"**Verdict**: `import safekeras` takes {format_seconds(seconds)} (target <= "
        f"{IMPORT_TARGET} s: {state(seconds <= IMPORT_TARGET)})."
    )
    return text, [verdict], (results, table)


def run(args: argparse.Namespace) -> str:
    """Run the benchmark, print the report and return it (markdown)."""
    import keras

    started = time.perf_counter()
    if args.fragment:  # the JAX subprocess: this backend's sections only
        sections, verdict_lines, found = backend_sections(args)
        fragment = {"sections": sections, "verdicts": verdict_lines}
        write_fragment(args.fragment, {**fragment, "found": deploy_docs.as_json(found)})
        return "\n\n".join(sections)

    header = "\n".join(
        [
            "# safekeras deployment: predict latency, memory per refit, pickle, import time\n",
            describe_environment(),
            f"- predict and pickle models: make_classification {args.rows} x {FEATURES}, "
            f"{args.epochs} epoch(s); memory: {args.refits} fits of {args.memory_rows} x "
            f"{FEATURES}, {args.memory_epochs} epoch(s); backends: {', '.join(args.backend_list)}",
        ]
    )
    print(header + "\n", flush=True)
    sections, verdict_lines, measured = [header], [], {}
    if keras.backend.backend() in args.backend_list:
        more, lines, measured[TITLES[keras.backend.backend()]] = backend_sections(args)
        sections += more
        verdict_lines += lines
    if "jax" in args.backend_list and keras.backend.backend() != "jax":
        more, lines, found = jax_sections(args)
        sections += more
        verdict_lines += lines
        if found is not None:
            measured[TITLES["jax"]] = found
    imports = None
    if "imports" not in args.skip:
        text, lines, imports = import_section(args)
        print(text + "\n", flush=True)
        sections.append(text)
        verdict_lines += lines
    if args.write:
        deploy_docs.write_all(args.write, measured, imports, args)
    if args.quick:
        verdict_lines.append(
            "(Quick run: a smoke test only; too few calls and fits for the verdicts to mean much.)"
        )
    verdict_text = "## Verdict\n\n" + "\n\n".join(verdict_lines)
    print(verdict_text + "\n", flush=True)
    sections.append(verdict_text)
    quick_note = "Quick run: a smoke test only."
    return finish_report(sections, started, quick_note, args)


def main(argv=None) -> None:
    args = parse_args(argv)
    prepare_keras(args.backend)
    if args.memory_worker:
        if not args.worker_output:
            raise SystemExit("--memory-worker needs --worker-output")
        memory_worker(args)
        return
    run(args)


if __name__ == "__main__":
    sys.exit(main())
