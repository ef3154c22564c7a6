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
* **raw Keras**: the same network built by hand (``overhead.build_raw_model``),
  compiled with Adam and ``binary_crossentropy`` and trained with
  ``model.fit(x, y, batch_size=256, epochs=E)`` on the user's own
  preprocessing: ``StandardScaler`` for numeric data,
  ``ColumnTransformer(StandardScaler on the numbers, OneHotEncoder on the
  category)`` for the DataFrame.
* **MLPClassifier**: ``make_pipeline(<the same preprocessing>,
  MLPClassifier(hidden_layer_sizes=(64, 32), max_iter=E, random_state=0))``.

Data: ``make_classification(--rows, 20)`` (``overhead.make_data``); the
DataFrame has the first 19 of those columns (``x0`` to ``x18``) and a string
column ``region`` with four categories (``north``, ``south``, ``east``,
``west``), drawn at random with a bias towards the row's class, so that it
carries signal.

1. **1-row predict latency**: median seconds per call over ``--calls-one``
   calls on the first training row, as a numpy array and as a one-row
   DataFrame. Contenders: safekeras ``predict_proba`` and ``predict`` (input
   validation, drift check and the fitted preprocessing included); raw
   ``model.predict(prep.transform(x), verbose=0)`` (the first reference) and
   raw ``model.predict_on_batch(prep.transform(x))`` (the second): the user's
   own transform is inside both timings; the MLP pipeline's ``predict_proba``
   (the third reference) and ``predict``. Each function is called 5 times
   before timing (the first call traces or compiles the predict function),
   then all are called round-robin (``overhead.time_calls``) so that
   background load hits every contender alike. Targets: safekeras
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
     compilation memory that refitting one architecture (c) never pays.

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
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

try:
    from benchmarks.overhead import (
        BATCH_SIZE,
        SEED,
        build_raw_model,
        describe_environment,
        finish_report,
        fit_raw,
        format_seconds,
        make_data,
        prepare_keras,
        quiet_tensorflow_logger,
        time_calls,
    )
except ImportError:  # run as a script: benchmarks/ itself is on sys.path
    from overhead import (
        BATCH_SIZE,
        SEED,
        build_raw_model,
        describe_environment,
        finish_report,
        fit_raw,
        format_seconds,
        make_data,
        prepare_keras,
        quiet_tensorflow_logger,
        time_calls,
    )

BACKENDS = ("tensorflow", "jax")
TITLES = {"tensorflow": "TensorFlow", "jax": "JAX"}
FEATURES = 20
HIDDEN_LAYER_SIZES = (64, 32)
REGIONS = ("north", "south", "east", "west")
WARMUP_CALLS = 5  # predict calls per contender before timing
ROUND_TRIP_ROWS = 100

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

# Contender names (table rows).
SK_PROBA = "safekeras `predict_proba`"
SK_PREDICT = "safekeras `predict`"
RAW_PREDICT = "raw `model.predict` (+ transform)"
RAW_ON_BATCH = "raw `model.predict_on_batch` (+ transform)"
MLP_PROBA = "`MLPClassifier` pipeline `predict_proba`"
MLP_PREDICT = "`MLPClassifier` pipeline `predict`"
PREDICT_REFERENCES = {
    "vs raw `model.predict`": RAW_PREDICT,
    "vs raw `predict_on_batch`": RAW_ON_BATCH,
    "vs MLPClassifier": MLP_PROBA,
}
INPUTS = {"numpy": "numpy, 20 numbers", "frame": "DataFrame, 19 numbers + 1 category"}

# Targets.
ONE_ROW_TARGETS = {"numpy": 1e-3, "frame": 3e-3}  # seconds, safekeras predict_proba
MANY_ROWS_TARGET = 2.0  # safekeras predict_proba / MLP pipeline predict_proba
MEMORY_TARGET = 0.5  # MB per fit, safekeras refit and grid search
IMPORT_TARGET = 0.5  # seconds, `import safekeras`

# Memory grid: candidates in this order, as many as --refits / 2 (2 folds each).
GRID_ARCHITECTURES = ((16,), (32,), (64,), (32, 16), (64, 32))
GRID_LEARNING_RATES = (1e-3, 1e-2)
GRID_FOLDS = 2
WARMUP_ARCHITECTURE = (8,)


# -- setup ---------------------------------------------------------------------


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Measure SafeKerasClassifier's deployment costs (predict latency, memory "
        "per refit, pickling, import time) against raw Keras and MLPClassifier.",
    )
    for key, text in OPTION_HELP.items():
        parser.add_argument(f"--{key.replace('_', '-')}", type=int, help=text)
    parser.add_argument(
        "--backends",
        default=",".join(BACKENDS),
        help="Keras backends to report, comma-separated (tensorflow,jax); jax runs in a "
        "subprocess and is skipped when not installed",
    )
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default="tensorflow",
        help="Keras backend of this process (tensorflow); the script sets it for its subprocesses",
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: small sizes, few calls")
    parser.add_argument(
        "--output", "--markdown", dest="markdown", metavar="PATH", help="also write the report"
    )
    # Internal: the JAX subprocess writes its sections here instead of a whole report.
    parser.add_argument("--fragment", metavar="PATH", help=argparse.SUPPRESS)
    # Internal: one memory measurement, written as JSON to --worker-output.
    parser.add_argument("--memory-worker", choices=tuple(MEMORY_CASES), help=argparse.SUPPRESS)
    parser.add_argument("--worker-output", metavar="PATH", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    # Explicit flags win over the --quick / full defaults.
    defaults = QUICK if args.quick else FULL
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    for key in OPTION_HELP:
        if getattr(args, key) < (0 if key == "memory_warmups" else 1):
            parser.error(f"--{key.replace('_', '-')} must be a positive integer")
    if args.refits < 2 * GRID_FOLDS:
        parser.error(f"--refits must be at least {2 * GRID_FOLDS}")
    if args.rows < 50 or args.memory_rows < 50:
        parser.error("--rows and --memory-rows: at least 50")
    args.backend_list = [name.strip() for name in args.backends.split(",") if name.strip()]
    unknown = set(args.backend_list) - set(BACKENDS)
    if unknown or not args.backend_list:
        parser.error(f"--backends: choose from {', '.join(BACKENDS)}")
    return args


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def make_frame(X: np.ndarray, y: np.ndarray):
    """The first 19 columns of ``X`` and a four-category string column biased by the class."""
    import pandas as pd

    rng = np.random.default_rng(SEED)
    # Class 0 draws mostly north/south, class 1 mostly east/west.
    shifted = np.where(rng.random(len(y)) < 0.7, y * 2, (1 - y) * 2) + rng.integers(0, 2, len(y))
    frame = pd.DataFrame(X[:, : FEATURES - 1], columns=[f"x{i}" for i in range(FEATURES - 1)])
    frame["region"] = np.asarray(REGIONS, dtype=object)[shifted]
    return frame


def user_preprocessing(kind: str):
    """What a careful user scales (and encodes) their inputs with."""
    if kind == "numpy":
        return StandardScaler()
    return ColumnTransformer(
        [
            ("numbers", StandardScaler(), [f"x{i}" for i in range(FEATURES - 1)]),
            ("region", OneHotEncoder(handle_unknown="ignore", sparse_output=False), ["region"]),
        ]
    )


def safekeras_estimator(epochs: int, **params):
    from safekeras import SafeKerasClassifier

    return SafeKerasClassifier(
        epochs=epochs,
        early_stopping=False,
        threshold=0.5,  # fixed: no validation split for threshold tuning
        random_state=SEED,
        **params,
    )


# -- the fitted models ---------------------------------------------------------


@dataclass
class Fitted:
    """One input kind's fitted contenders and the data they were fitted on."""

    kind: str
    X: object  # numpy array or DataFrame
    safekeras: object
    preprocessing: object
    model: object
    mlp: object


def fit_models(kind: str, X, y, epochs: int) -> Fitted:
    safekeras = safekeras_estimator(epochs).fit(X, y)
    preprocessing = user_preprocessing(kind)
    x = preprocessing.fit_transform(X)
    model = build_raw_model(x.shape[1])
    model.fit(x, y, batch_size=BATCH_SIZE, epochs=epochs, verbose=0)
    mlp = make_pipeline(
        user_preprocessing(kind),
        MLPClassifier(hidden_layer_sizes=HIDDEN_LAYER_SIZES, max_iter=epochs, random_state=SEED),
    )
    with warnings.catch_warnings():
        # max_iter is small on purpose; the warning says nothing here.
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp.fit(X, y)
    return Fitted(kind, X, safekeras, preprocessing, model, mlp)


def predict_calls(fitted: Fitted, X_rows) -> dict[str, Callable[[], object]]:
    est, prep, model, mlp = fitted.safekeras, fitted.preprocessing, fitted.model, fitted.mlp
    return {
        SK_PROBA: lambda: est.predict_proba(X_rows),
        SK_PREDICT: lambda: est.predict(X_rows),
        RAW_PREDICT: lambda: model.predict(prep.transform(X_rows), verbose=0),
        RAW_ON_BATCH: lambda: model.predict_on_batch(prep.transform(X_rows)),
        MLP_PROBA: lambda: mlp.predict_proba(X_rows),
        MLP_PREDICT: lambda: mlp.predict(X_rows),
    }


def take_rows(X, rows: int):
    """The first ``rows`` rows of ``X``, tiled when ``X`` has fewer."""
    index = np.resize(np.arange(len(X)), rows)
    return X.iloc[index].reset_index(drop=True) if hasattr(X, "iloc") else X[index]


def time_predicts(fitted: Fitted, X_rows, n_calls: int, warmups: int) -> dict[str, float]:
    calls = predict_calls(fitted, X_rows)
    for _ in range(warmups):
        for function in calls.values():
            function()
    return time_calls(calls, n_calls)


# -- pickling ------------------------------------------------------------------


@dataclass(frozen=True)
class Persister:
    """One way of saving a fitted model and loading it back.

    ``dump(obj, folder)`` returns the serialised form: ``bytes``, or the path
    of the file it wrote inside ``folder``; ``load`` takes that back.
    """

    subject: str  # which fitted model: "safekeras", "raw" or "mlp"
    dump: Callable[[object, str], bytes | str]
    load: Callable[[bytes | str], object]


def _joblib_dump(obj, folder: str) -> str:
    import joblib

    path = os.path.join(folder, "model.joblib")
    joblib.dump(obj, path)
    return path


def _joblib_load(path: str):
    import joblib

    return joblib.load(path)


def _keras_save(model, folder: str) -> str:
    path = os.path.join(folder, "x.keras")
    model.save(path)
    return path


def _keras_load(path: str):
    import keras

    return keras.saving.load_model(path)


def _safekeras_save(estimator, folder: str) -> str:
    path = os.path.join(folder, "x.safekeras")
    estimator.save(path)
    return path


def _safekeras_load(path: str):
    import safekeras

    return safekeras.load(path)


def _cloudpickle_dumps(obj, folder: str) -> bytes:
    import cloudpickle

    return cloudpickle.dumps(obj)


def _cloudpickle_loads(data: bytes):
    import cloudpickle

    return cloudpickle.loads(data)


def _pickle_dumps(obj, folder: str) -> bytes:
    return pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)


RAW_SAVE = "raw Keras `model.save` / `keras.saving.load_model`"
MLP_PICKLE = "`MLPClassifier` pipeline, `pickle`"
# Adding a contender is one entry here.
PERSISTERS: dict[str, Persister] = {
    "safekeras `est.save` / `safekeras.load` (file)": Persister(
        "safekeras", _safekeras_save, _safekeras_load
    ),
    "safekeras, `pickle`": Persister("safekeras", _pickle_dumps, pickle.loads),
    "safekeras, `joblib` (file)": Persister("safekeras", _joblib_dump, _joblib_load),
    "safekeras, `cloudpickle`": Persister("safekeras", _cloudpickle_dumps, _cloudpickle_loads),
    RAW_SAVE: Persister("raw", _keras_save, _keras_load),
    MLP_PICKLE: Persister("mlp", _pickle_dumps, pickle.loads),
}


def artifact_size(artifact: bytes | str) -> int:
    return len(artifact) if isinstance(artifact, bytes) else os.path.getsize(artifact)


@dataclass(frozen=True)
class PickleResult:
    name: str
    size: int
    dumps: float
    loads: float
    change: float  # largest |predict_proba difference| after the round trip


def time_pickling(fitted: Fitted, repeats: int) -> list[PickleResult]:
    X_check = fitted.X[:ROUND_TRIP_ROWS]
    x_check = fitted.preprocessing.transform(X_check)
    subjects = {"safekeras": fitted.safekeras, "raw": fitted.model, "mlp": fitted.mlp}
    positive = {
        "safekeras": lambda m: m.predict_proba(X_check)[:, 1],
        "raw": lambda m: np.asarray(m.predict_on_batch(x_check)).ravel(),
        "mlp": lambda m: m.predict_proba(X_check)[:, 1],
    }
    with tempfile.TemporaryDirectory(prefix="safekeras-deploy-") as root:
        folders, artifacts = {}, {}
        for index, (name, persister) in enumerate(PERSISTERS.items()):
            folders[name] = os.path.join(root, str(index))
            os.mkdir(folders[name])
            artifacts[name] = persister.dump(subjects[persister.subject], folders[name])
        dumps = {
            name: (lambda p=p, name=name: p.dump(subjects[p.subject], folders[name]))
            for name, p in PERSISTERS.items()
        }
        loads = {
            name: (lambda p=p, name=name: p.load(artifacts[name])) for name, p in PERSISTERS.items()
        }
        dump_seconds = time_calls(dumps, repeats)
        load_seconds = time_calls(loads, repeats)
        results = []
        for name, persister in PERSISTERS.items():
            original = positive[persister.subject](subjects[persister.subject])
            restored = positive[persister.subject](persister.load(artifacts[name]))
            results.append(
                PickleResult(
                    name,
                    artifact_size(artifacts[name]),
                    dump_seconds[name],
                    load_seconds[name],
                    float(np.max(np.abs(original - restored))),
                )
            )
    return results


# -- memory --------------------------------------------------------------------


def rss_mb() -> float:
    """Resident set size of this process after a full garbage collection, in MB."""
    gc.collect()
    with open("/proc/self/statm", encoding="ascii") as handle:
        resident_pages = int(handle.read().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def memory_refit(X, y, args, reading: Callable[[], None]) -> None:
    estimator = safekeras_estimator(args.memory_epochs)
    for _ in range(args.memory_warmups):
        estimator.fit(X, y)
    reading()
    for _ in range(args.refits):
        estimator.fit(X, y)
        reading()


def grid_candidates(n: int) -> list[dict]:
    pairs = [(h, lr) for h in GRID_ARCHITECTURES for lr in GRID_LEARNING_RATES]
    pairs = (pairs * (n // len(pairs) + 1))[:n]
    return [{"hidden_layer_sizes": [h], "learning_rate": [lr]} for h, lr in pairs]


def memory_grid(X, y, args, reading: Callable[[], None]) -> None:
    from sklearn.model_selection import GridSearchCV

    def scoring(estimator, X_test, y_test):
        reading()  # after each fit, with the fitted candidate still alive
        return estimator.score(X_test, y_test)

    if args.memory_warmups:
        GridSearchCV(
            safekeras_estimator(args.memory_epochs, hidden_layer_sizes=WARMUP_ARCHITECTURE),
            {"learning_rate": [1e-3]},
            cv=max(2, args.memory_warmups),
            refit=False,
            error_score="raise",
        ).fit(X, y)
    reading()
    search = GridSearchCV(
        safekeras_estimator(args.memory_epochs),
        grid_candidates(args.refits // GRID_FOLDS),
        cv=GRID_FOLDS,
        scoring=scoring,
        n_jobs=1,
        refit=False,
        error_score="raise",
    )
    search.fit(X, y)


def memory_raw(X, y, args, reading: Callable[[], None], clear: bool = False) -> None:
    import keras

    def fit_one():
        fitted = fit_raw(X, y, args.memory_epochs)  # StandardScaler, build, compile, fit
        if clear:
            keras.backend.clear_session()
        return fitted

    for _ in range(args.memory_warmups):
        fit_one()
    reading()
    for _ in range(args.refits):
        fitted = fit_one()  # the previous model is dropped, as in a user's loop
        reading()
        del fitted


def memory_raw_grid(X, y, args, reading: Callable[[], None]) -> None:
    """Raw Keras over the grid's candidates and folds: what (b) is to be compared with."""
    from sklearn.model_selection import StratifiedKFold
    from sklearn.preprocessing import StandardScaler

    for _ in range(args.memory_warmups):
        fit_raw(X, y, args.memory_epochs)
    reading()
    folds = list(StratifiedKFold(GRID_FOLDS).split(X, y))
    for candidate in grid_candidates(args.refits // GRID_FOLDS):
        for train, _ in folds:
            x = StandardScaler().fit_transform(X[train])
            model = build_raw_model(
                x.shape[1],
                hidden_layer_sizes=candidate["hidden_layer_sizes"][0],
                learning_rate=candidate["learning_rate"][0],
            )
            model.fit(x, y[train], epochs=args.memory_epochs, batch_size=BATCH_SIZE, verbose=0)
            reading()
            del model


@dataclass(frozen=True)
class MemoryCase:
    label: str
    measure: Callable  # (X, y, args, reading) -> None


MEMORY_CASES = {
    "refit": MemoryCase("(a) safekeras: refit one `SafeKerasClassifier`", memory_refit),
    "grid": MemoryCase("(b) safekeras: `GridSearchCV`, cv=2, refit=False", memory_grid),
    "raw": MemoryCase("(c) raw Keras: build, compile, fit a new model", memory_raw),
    "raw_clear": MemoryCase(
        "(d) raw Keras + `clear_session()` after each fit",
        lambda X, y, args, reading: memory_raw(X, y, args, reading, clear=True),
    ),
    "raw_grid": MemoryCase(
        "(e) raw Keras over the grid's candidates and folds (the reference of (b))",
        memory_raw_grid,
    ),
}
MEMORY_REFERENCE = "raw"
GRID_REFERENCE = "raw_grid"


def memory_worker(args) -> None:
    """One memory measurement in this (fresh) process; readings in MB to ``--worker-output``."""
    X, y = make_data(args.memory_rows, FEATURES)
    readings: list[float] = []
    started = time.perf_counter()
    with quiet_tensorflow_logger():
        MEMORY_CASES[args.memory_worker].measure(X, y, args, lambda: readings.append(rss_mb()))
    with open(args.worker_output, "w", encoding="utf-8") as handle:
        json.dump({"readings": readings, "seconds": time.perf_counter() - started}, handle)


@dataclass(frozen=True)
class MemoryResult:
    label: str
    readings: list[float]  # MB: the baseline, then one per fit
    error: str | None = None

    @property
    def fits(self) -> int:
        return len(self.readings) - 1

    @property
    def growth(self) -> float:
        return self.readings[-1] - self.readings[0]

    @property
    def per_fit(self) -> float:
        return self.growth / self.fits

    @property
    def per_fit_second_half(self) -> float:
        half = self.fits // 2
        return (self.readings[-1] - self.readings[half]) / (self.fits - half)


def measure_memory(kind: str, backend: str, args) -> MemoryResult:
    """Run one memory measurement in a fresh process with the given Keras backend."""
    options = ["--refits", "--memory-rows", "--memory-epochs", "--memory-warmups"]
    label = MEMORY_CASES[kind].label
    with tempfile.TemporaryDirectory(prefix="safekeras-deploy-") as folder:
        output = os.path.join(folder, "memory.json")
        command = [sys.executable, os.path.abspath(__file__), "--backend", backend]
        for option in options:
            command += [option, str(getattr(args, option[2:].replace("-", "_")))]
        command += ["--memory-worker", kind, "--worker-output", output]
        env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
        completed = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if completed.returncode != 0 or not os.path.exists(output):
            tail = " / ".join(completed.stderr.strip().splitlines()[-5:])
            return MemoryResult(label, [], f"exit status {completed.returncode}: {tail}")
        with open(output, encoding="utf-8") as handle:
            result = json.load(handle)
    progress(f"  memory {kind}: {result['seconds']:.1f} s of fits")
    return MemoryResult(label, result["readings"])


def measure_all_memory(args) -> dict[str, MemoryResult]:
    """Every memory case, each in its own process, as many at once as there are usable CPUs.

    Running them side by side changes their speed, not their memory: each
    process reads only its own RSS, and nothing here is timed.
    """
    import keras

    backend = keras.backend.backend()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    with ThreadPoolExecutor(max_workers=max(1, min(usable, len(MEMORY_CASES)))) as pool:
        futures = {kind: pool.submit(measure_memory, kind, backend, args) for kind in MEMORY_CASES}
        return {kind: future.result() for kind, future in futures.items()}


# -- import time ---------------------------------------------------------------

IMPORT_PROBE = """\
import sys, time
before = set(sys.modules)
start = time.perf_counter()
{statement}
seconds = time.perf_counter() - start
print(seconds, len(set(sys.modules) - before), int("sklearn" in sys.modules),
      int("tensorflow" in sys.modules))
"""
IMPORT_SAFEKERAS = "`import safekeras`"
IMPORT_SKLEARN = "`import sklearn.neural_network`"


def import_statements(backends: list[str]) -> dict[str, tuple[str, str]]:
    """Row label -> (statement, KERAS_BACKEND of its process)."""
    statements = {
        IMPORT_SAFEKERAS: ("import safekeras", "tensorflow"),
        "`from safekeras import SafeKerasClassifier`": (
            "from safekeras import SafeKerasClassifier",
            "tensorflow",
        ),
        IMPORT_SKLEARN: ("import sklearn.neural_network", "tensorflow"),
        "`import keras` (TensorFlow backend)": ("import keras", "tensorflow"),
        "`import tensorflow`": ("import tensorflow", "tensorflow"),
    }
    if "jax" in backends and importlib.util.find_spec("jax") is not None:
        statements["`import keras` (JAX backend)"] = ("import keras", "jax")
    return statements


@dataclass
class ImportResult:
    seconds: list[float]
    modules: int = 0
    sklearn: bool = False
    tensorflow: bool = False


def time_imports(statements: dict[str, tuple[str, str]], repeats: int) -> dict[str, ImportResult]:
    results = {label: ImportResult([]) for label in statements}
    labels = list(statements)
    for repeat in range(repeats):
        shift = repeat % len(labels)
        for label in labels[shift:] + labels[:shift]:
            statement, backend = statements[label]
            env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
            completed = subprocess.run(
                [sys.executable, "-c", IMPORT_PROBE.format(statement=statement)],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            seconds, modules, sklearn_loaded, tf_loaded = completed.stdout.split()
            result = results[label]
            result.seconds.append(float(seconds))
            result.modules = int(modules)
            result.sklearn, result.tensorflow = sklearn_loaded == "1", tf_loaded == "1"
    return results


# -- report --------------------------------------------------------------------


def format_ratio(value: float) -> str:
    return f"{value:.2f}x"


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


def format_memory_table(results: dict[str, MemoryResult]) -> str:
    lines = [
        "| measurement | fits | RSS after warm-up (MB) | growth (MB) | MB/fit "
        "| MB/fit, second half | MB/fit vs raw Keras (c) | MB/fit vs raw Keras grid (e) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]

    def ratio(result: MemoryResult, reference: MemoryResult) -> str:
        if reference.error or reference.per_fit <= 0:
            return "-"  # no growth to compare with
        return format_ratio(result.per_fit / reference.per_fit)

    for result in results.values():
        if result.error:
            lines.append(f"| {result.label} | failed: {result.error} | - | - | - | - | - | - |")
            continue
        lines.append(
            f"| {result.label} | {result.fits} | {result.readings[0]:.1f} | {result.growth:.2f} "
            f"| {result.per_fit:.3f} | {result.per_fit_second_half:.3f} "
            f"| {ratio(result, results[MEMORY_REFERENCE])} "
            f"| {ratio(result, results[GRID_REFERENCE])} |"
        )
    return "\n".join(lines)


def format_pickle_table(results: list[PickleResult]) -> str:
    by_name = {r.name: r for r in results}
    raw, mlp = by_name[RAW_SAVE], by_name[MLP_PICKLE]
    lines = [
        "| contender | size (KB) | dumps | loads | dumps vs raw Keras | loads vs raw Keras "
        "| dumps vs MLP pickle | loads vs MLP pickle | max proba change after round trip |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.name} | {r.size / 1024:.1f} | {format_seconds(r.dumps)} "
            f"| {format_seconds(r.loads)} | {format_ratio(r.dumps / raw.dumps)} "
            f"| {format_ratio(r.loads / raw.loads)} | {format_ratio(r.dumps / mlp.dumps)} "
            f"| {format_ratio(r.loads / mlp.loads)} | {r.change:.1e} |"
        )
    return "\n".join(lines)


def format_import_table(results: dict[str, ImportResult]) -> str:
    reference = statistics.median(results[IMPORT_SKLEARN].seconds)
    lines = [
        "| statement | median | fastest | modules loaded | loads scikit-learn | loads TensorFlow "
        "| vs `import sklearn.neural_network` |",
        "|---|---:|---:|---:|---|---|---:|",
    ]
    for label, r in results.items():
        median = statistics.median(r.seconds)
        lines.append(
            f"| {label} | {format_seconds(median)} | {format_seconds(min(r.seconds))} "
            f"| {r.modules} | {'yes' if r.sklearn else 'no'} | {'yes' if r.tensorflow else 'no'} "
            f"| {format_ratio(median / reference)} |"
        )
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
            f"{state(seconds <= limit)}); raw `model.predict` takes "
            f"{format_seconds(one[kind][RAW_PREDICT])}."
        )
    for kind, seconds in many.items():
        ratio = seconds[SK_PROBA] / seconds[MLP_PROBA]
        lines.append(
            f"**Verdict** ({title}): safekeras `predict_proba` on {args.predict_rows} rows "
            f"({INPUTS[kind]}) takes {format_seconds(seconds[SK_PROBA])}, {ratio:.2f}x the "
            f"MLPClassifier pipeline (target <= {MANY_ROWS_TARGET:.2f}x: "
            f"{state(ratio <= MANY_ROWS_TARGET)})."
        )
    for kind in ("refit", "grid"):
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


def backend_sections(args) -> tuple[list[str], list[str]]:
    """This process's backend: its sections (printed as they are ready) and verdict lines."""
    import keras

    backend = keras.backend.backend()
    title = TITLES[backend]
    sections = []

    def emit(text: str) -> None:
        print(text + "\n", flush=True)
        sections.append(text)

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
    versions = f"keras {keras.__version__}, backend {backend}"
    if backend == "jax":
        import jax

        versions += f", jax {jax.__version__}"
    emit(
        "\n".join(
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
    )
    emit(
        "\n".join(
            [
                f"## {title}: {args.predict_rows}-row predict\n",
                f"Median of {args.calls_many} calls per contender after one warm-up call. "
                "`model.predict` uses Keras' default batches of 32 rows. Target: safekeras "
                f"`predict_proba` <= {MANY_ROWS_TARGET:.0f}x the MLPClassifier pipeline.\n",
                format_predict_table(many),
            ]
        )
    )

    progress(f"{backend}: memory, one fresh process per measurement")
    memory = measure_all_memory(args)
    emit(
        "\n".join(
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
    )

    progress(f"{backend}: pickling")
    with quiet_tensorflow_logger():
        pickled = time_pickling(fitted["numpy"], args.pickle_repeats)
    emit(
        "\n".join(
            [
                f"## {title}: pickle\n",
                f"The numpy-data models above. Median of {args.pickle_repeats} dumps and "
                "loads per contender after one warm-up call each, round-robin; joblib and "
                "`model.save` go through a file in a temporary folder. Round trip: largest "
                f"change of the positive-class probability on {ROUND_TRIP_ROWS} rows.\n",
                format_pickle_table(pickled),
            ]
        )
    )
    return sections, verdicts(title, one, many, memory, args)


def jax_sections(args) -> tuple[list[str], list[str]]:
    """Run this script again with ``KERAS_BACKEND=jax``; its sections and verdicts."""
    if importlib.util.find_spec("jax") is None:
        text = "## JAX\n\nJAX not installed: no JAX tables."
        print(text + "\n", flush=True)
        return [text], []
    with tempfile.TemporaryDirectory(prefix="safekeras-deploy-") as folder:
        fragment = os.path.join(folder, "jax.json")
        command = [sys.executable, os.path.abspath(__file__), "--backend", "jax"]
        command += ["--backends", "jax", "--fragment", fragment]
        for key in OPTION_HELP:
            command += [f"--{key.replace('_', '-')}", str(getattr(args, key))]
        if args.quick:
            command.append("--quick")
        env = {**os.environ, "KERAS_BACKEND": "jax"}
        sys.stdout.flush()
        # The subprocess prints its own sections to the same stdout as they are ready.
        completed = subprocess.run(command, env=env, check=False)
        if completed.returncode == 0 and os.path.exists(fragment):
            with open(fragment, encoding="utf-8") as handle:
                result = json.load(handle)
            return result["sections"], result["verdicts"]
    text = f"## JAX\n\nThe JAX run failed (exit status {completed.returncode}); see stderr."
    print(text + "\n", flush=True)
    return [text], ["**Verdict** (JAX): no numbers, the JAX run failed."]


def import_section(args) -> tuple[str, list[str]]:
    progress("import times, one fresh process per statement and repeat")
    results = time_imports(import_statements(args.backend_list), args.import_repeats)
    text = "\n".join(
        [
            "## Import time\n",
            f"Each statement in a fresh `python -c` process, timed around the statement only "
            f"(interpreter start-up excluded); median of {args.import_repeats} process(es) in "
            f"rotating order. Target: `import safekeras` <= {IMPORT_TARGET} s.\n",
            format_import_table(results),
        ]
    )
    seconds = statistics.median(results[IMPORT_SAFEKERAS].seconds)
    verdict = (
        f"**Verdict**: `import safekeras` takes {format_seconds(seconds)} (target <= "
        f"{IMPORT_TARGET} s: {state(seconds <= IMPORT_TARGET)})."
    )
    return text, [verdict]


def run(args: argparse.Namespace) -> str:
    """Run the benchmark, print the report and return it (markdown)."""
    import keras

    started = time.perf_counter()
    if args.fragment:  # the JAX subprocess: this backend's sections only
        sections, verdict_lines = backend_sections(args)
        with open(args.fragment, "w", encoding="utf-8") as handle:
            json.dump({"sections": sections, "verdicts": verdict_lines}, handle)
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
    sections = [header]
    verdict_lines = []
    if keras.backend.backend() in args.backend_list:
        more, lines = backend_sections(args)
        sections += more
        verdict_lines += lines
    if "jax" in args.backend_list and keras.backend.backend() != "jax":
        more, lines = jax_sections(args)
        sections += more
        verdict_lines += lines
    text, lines = import_section(args)
    print(text + "\n", flush=True)
    sections.append(text)
    verdict_lines += lines
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
