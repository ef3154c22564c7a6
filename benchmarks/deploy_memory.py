"""What each refit and grid search adds to the process's memory, for the deployment benchmark.

Part of :mod:`benchmarks.deploy`: the memory cases (safekeras refits and grid search, raw
Keras with and without ``clear_session``, raw Keras over the grid's candidates), each run in
a fresh process of ``deploy.py --memory-worker`` (:func:`measure_memory`, :func:`memory_worker`),
the readings' record and the memory table.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from benchmarks.contenders import BATCH_SIZE, build_raw_model, fit_raw, safekeras_estimator
from benchmarks.datasets import make_data
from benchmarks.deploy_models import FEATURES
from benchmarks.report import format_ratio, progress, quiet_tensorflow_logger

# Memory grid: candidates in this order, as many as --refits / 2 (2 folds each).
GRID_ARCHITECTURES = ((16,), (32,), (64,), (32, 16), (64, 32))


GRID_LEARNING_RATES = (1e-3, 1e-2)


GRID_FOLDS = 2


WARMUP_ARCHITECTURE = (8,)


def rss_mb() -> float:
    """Resident set size of this process after a full garbage collection, in MB."""
    gc.collect()
    with open("/proc/self/statm", encoding="ascii") as handle:
        resident_pages = int(handle.read().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def memory_refit(X, y, args, reading: Callable[[], None], **params) -> None:
    """Refits of one estimator (``params``: its settings beyond the benchmark's)."""
    estimator = safekeras_estimator(args.memory_epochs, **params)
    for _ in range(args.memory_warmups):
        estimator.fit(X, y)
    reading()
    for _ in range(args.refits):
        estimator.fit(X, y)
        reading()


def fresh_raw_network(meta):
    """A new network on every call, its layers named by Keras ("dense_57"), as users write it."""
    return build_raw_model(meta["n_features_in_"])


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
    "refit_callable": MemoryCase(
        "(f) safekeras: refit with `model=` a function building a new, Keras-named network",
        lambda X, y, args, reading: memory_refit(X, y, args, reading, model=fresh_raw_network),
    ),
}


MEMORY_REFERENCE = "raw"


GRID_REFERENCE = "raw_grid"


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


def memory_worker(args) -> None:
    """One memory measurement in this (fresh) process; readings in MB to ``--worker-output``."""
    X, y = make_data(args.memory_rows, FEATURES)
    readings: list[float] = []
    started = time.perf_counter()
    with quiet_tensorflow_logger():
        MEMORY_CASES[args.memory_worker].measure(X, y, args, lambda: readings.append(rss_mb()))
    with open(args.worker_output, "w", encoding="utf-8") as handle:
        json.dump({"readings": readings, "seconds": time.perf_counter() - started}, handle)


def measure_memory(script: str, kind: str, backend: str, args) -> MemoryResult:
    """Run one memory measurement in a fresh process of ``script`` with the given Keras backend."""
    options = ["--refits", "--memory-rows", "--memory-epochs", "--memory-warmups"]
    label = MEMORY_CASES[kind].label
    with tempfile.TemporaryDirectory(prefix="safekeras-deploy-") as folder:
        output = os.path.join(folder, "memory.json")
        command = [sys.executable, os.path.abspath(script), "--backend", backend]
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


def measure_all_memory(script: str, args) -> dict[str, MemoryResult]:
    """Every memory case, each in its own process, as many at once as there are usable CPUs.

    Running them side by side changes their speed, not their memory: each
    process reads only its own RSS, and nothing here is timed.
    """
    import keras

    backend = keras.backend.backend()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    with ThreadPoolExecutor(max_workers=max(1, min(usable, len(MEMORY_CASES)))) as pool:
        futures = {
            kind: pool.submit(measure_memory, script, kind, backend, args) for kind in MEMORY_CASES
        }
        return {kind: future.result() for kind, future in futures.items()}
