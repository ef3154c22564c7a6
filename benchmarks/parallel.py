"""Parallel grid search: ``GridSearchCV(SafeKerasClassifier(...), n_jobs=2)`` against ``n_jobs=1``.

What is measured
----------------
The wall-clock time of one ``GridSearchCV(...).fit(X, y)`` on an imbalanced
``make_classification`` data set (``--rows`` x ``--features``, 10 % positive),
over 8 candidates (``hidden_layer_sizes`` (32,) or (64, 32), ``learning_rate``
1e-3 or 1e-2, ``dropout`` 0 or 0.1) and ``--folds`` stratified folds, scored by
``average_precision``, with the default ``refit=True``. Each fit is
``SafeKerasClassifier(epochs=E, batch_size=32, early_stopping=False,
threshold=0.5, random_state=0)``: exactly ``E`` epochs on all of its rows, so
every fit costs the same whatever the scheduler.

Runs (``--variants``, all by default):

* **serial**: ``n_jobs=1``, in this process, after an untimed one-epoch search
  (so that TensorFlow's start-up and the tracing of each architecture, which
  later fits reuse, are not counted: the state of the warm workers); the
  reference.
* **limited**: ``n_jobs=2`` (``--n-jobs``) with joblib's default loky backend,
  as a user gets it: in each worker safekeras sizes TensorFlow's thread pools to
  the worker's ``OMP_NUM_THREADS`` share (``cpu_count() // n_jobs``).
* **default**: the same, in a subprocess started with
  ``TF_NUM_INTRAOP_THREADS=0 TF_NUM_INTEROP_THREADS=0``, which the workers
  inherit: safekeras steps aside and TensorFlow sizes its pools from the whole
  machine in every worker (the behaviour before ``safekeras.network.parallel``).

Each parallel variant is timed **cold** (its worker processes are shut down
first, so the call pays for starting them and importing TensorFlow in each)
and **warm** (the next, identical search, which reuses loky's workers), ``--repeats``
times in turn; the table gives the medians. After the searches a probe task in
each worker reads its ``OMP_NUM_THREADS`` share, the pool sizes TensorFlow
was configured with (0 = its default) and the number of
threads of the process (``/proc/self/task``, Linux only), to show what the
variant really ran with.

The table also says whether every search found the serial search's
``best_params_``, and gives the largest difference of ``mean_test_score`` from it.

Timings are wall clock and sensitive to other load on the machine: run on an
idle machine and compare the ratios.

Run from the repository root::

    python -m benchmarks.parallel            # 2000 x 20, 8 candidates x 3 folds, ~2 min on 2 cores
    python -m benchmarks.parallel --quick    # smoke run with tiny sizes
    python benchmarks/parallel.py --variants serial,limited --output parallel.md
    python -m benchmarks.parallel --write    # also the docs' speed:parallel table
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as `python benchmarks/parallel.py`, Python puts benchmarks/ itself on sys.path, not the
# repository root that the `benchmarks.` imports below need; `python -m benchmarks.parallel`
# (a package set) needs nothing.
if not __package__:
    _ROOT = str(Path(__file__).resolve().parents[1])
    if _ROOT not in sys.path:
        sys.path.insert(0, _ROOT)

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, field

import joblib
import numpy as np
from joblib.externals.loky import get_reusable_executor
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from benchmarks.datasets import make_search_data
from benchmarks.report import (
    describe_environment,
    fill_defaults,
    finish_report,
    format_ratio,
    prepare_keras,
    quiet_tensorflow_logger,
)
from benchmarks.speed_docs import add_write_option, write_block

SEED = 0
BATCH_SIZE = 32
VARIANTS = ("serial", "limited", "default")
POOL_VARIABLES = ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")

FULL = {"rows": 2000, "features": 20, "epochs": 60, "folds": 3, "repeats": 3, "grid": "full"}
QUICK = {"rows": 300, "features": 8, "epochs": 3, "folds": 2, "repeats": 1, "grid": "quick"}
GRIDS = {
    "full": {
        "hidden_layer_sizes": [(32,), (64, 32)],
        "learning_rate": [1e-3, 1e-2],
        "dropout": [0.0, 0.1],
    },
    "quick": {"hidden_layer_sizes": [(8,)], "learning_rate": [1e-3, 1e-2]},
}

POOLS = {
    "serial": "TensorFlow's defaults (this process)",
    "limited": "limited to the worker's share",
    "default": "TensorFlow's defaults (`TF_NUM_*_THREADS=0`)",
}

if __name__ != "__main__":
    # Loaded under another name (e.g. by the tests): send the probe function to the loky workers
    # by value (loky pickles with cloudpickle), since they could not import it by that name.
    try:
        import cloudpickle
    except ImportError:  # loky then uses pickle, which needs an importable module anyway
        pass
    else:
        cloudpickle.register_pickle_by_value(sys.modules[__name__])


# -- setup ---------------------------------------------------------------------


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Time GridSearchCV over SafeKerasClassifier with n_jobs=1 and n_jobs=2, "
        "with TensorFlow's thread pools limited in the workers and at their defaults.",
    )
    parser.add_argument("--rows", type=int, help="rows (2000)")
    parser.add_argument("--features", type=int, help="features (20)")
    parser.add_argument("--epochs", type=int, help="epochs of every fit (60)")
    parser.add_argument("--folds", type=int, help="cross-validation folds (3)")
    parser.add_argument("--repeats", type=int, help="timed searches per run; median (3)")
    parser.add_argument("--n-jobs", type=int, default=2, help="n_jobs of the parallel runs (2)")
    parser.add_argument(
        "--variants",
        default=",".join(VARIANTS),
        help="comma-separated runs: serial, limited, default (all); default runs in a subprocess",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 300 x 8, 2 candidates x 2 folds, 3 epochs, 1 repeat",
    )
    parser.add_argument(
        "--output", "--markdown", dest="markdown", metavar="PATH", help="also write the report"
    )
    add_write_option(parser, ("parallel",))
    # Internal: the subprocess of the "default" variant writes its runs here.
    parser.add_argument("--fragment", metavar="PATH", help=argparse.SUPPRESS)
    parser.add_argument("--grid", choices=list(GRIDS), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    fill_defaults(args, QUICK, FULL)  # explicit flags win
    for key in ("rows", "features", "epochs", "folds", "repeats"):
        if getattr(args, key) < 1:
            parser.error(f"--{key} must be a positive integer")
    if args.folds < 2 or args.n_jobs < 2:
        parser.error("--folds and --n-jobs must be at least 2")
    args.variant_list = [name.strip() for name in args.variants.split(",") if name.strip()]
    if not args.variant_list or set(args.variant_list) - set(VARIANTS):
        parser.error(f"--variants: choose from {', '.join(VARIANTS)}")
    return args


def make_search(args, n_jobs: int) -> GridSearchCV:
    from safekeras import SafeKerasClassifier

    estimator = SafeKerasClassifier(
        epochs=args.epochs,
        batch_size=BATCH_SIZE,  # small batches: enough arithmetic per fit to be worth spreading
        early_stopping=False,
        threshold=0.5,  # fixed: every fit trains exactly `epochs` epochs on all its rows
        random_state=SEED,
    )
    return GridSearchCV(
        estimator,
        GRIDS[args.grid],
        cv=StratifiedKFold(args.folds, shuffle=True, random_state=SEED),
        scoring="average_precision",
        n_jobs=n_jobs,
        error_score="raise",
    )


# -- measuring -----------------------------------------------------------------


@dataclass
class Run:
    """The timed searches of one variant, cold or warm."""

    variant: str
    start: str  # "this process", "cold" or "warm"
    n_jobs: int
    seconds: list[float] = field(default_factory=list)
    best_params: list[dict] = field(default_factory=list)
    mean_scores: list[list[float]] = field(default_factory=list)
    workers: list[dict] = field(default_factory=list)

    def add(self, seconds: float, search: GridSearchCV) -> None:
        self.seconds.append(seconds)
        # JSON-friendly: tuples become lists, as they would after the subprocess's round trip.
        self.best_params.append(json.loads(json.dumps(search.best_params_)))
        self.mean_scores.append(search.cv_results_["mean_test_score"].tolist())

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def timed_search(args, X, y, n_jobs: int) -> tuple[float, GridSearchCV]:
    search = make_search(args, n_jobs)
    started = time.perf_counter()
    search.fit(X, y)
    return time.perf_counter() - started, search


def shut_down_workers() -> None:
    """Stop loky's worker processes, so that the next parallel call starts new ones."""
    get_reusable_executor(reuse=True).shutdown(wait=True, kill_workers=True)


def worker_pools(pause: float) -> dict:
    """What this worker runs with: run in each loky worker after the searches."""
    import tensorflow as tf

    from safekeras.network.parallel import worker_thread_share

    time.sleep(pause)  # keep this worker busy, so that the next probe goes to another one
    tasks = "/proc/self/task"
    return {
        "pid": os.getpid(),
        "share": worker_thread_share(),
        "TF_NUM_INTRAOP_THREADS": os.environ.get("TF_NUM_INTRAOP_THREADS"),
        "intra": tf.config.threading.get_intra_op_parallelism_threads(),
        "inter": tf.config.threading.get_inter_op_parallelism_threads(),
        "threads": len(os.listdir(tasks)) if os.path.isdir(tasks) else None,
    }


def probe_workers(n_jobs: int) -> list[dict]:
    found = joblib.Parallel(n_jobs=n_jobs)(joblib.delayed(worker_pools)(0.5) for _ in range(n_jobs))
    return sorted({worker["pid"]: worker for worker in found}.values(), key=lambda w: w["pid"])


def serial_runs(args, X, y) -> list[Run]:
    # An untimed one-epoch search first: TensorFlow's runtime start and the tracing of each
    # architecture's epoch, kept for later fits in the process, then belong to no timed search,
    # as in the warm workers.
    timed_search(argparse.Namespace(**{**vars(args), "epochs": 1}), X, y, 1)
    run = Run("serial", "this process", 1)
    for _ in range(args.repeats):
        run.add(*timed_search(args, X, y, 1))
    return [run]


def parallel_runs(args, X, y, variant: str) -> list[Run]:
    cold = Run(variant, "cold", args.n_jobs)
    warm = Run(variant, "warm", args.n_jobs)
    for _ in range(args.repeats):
        shut_down_workers()
        cold.add(*timed_search(args, X, y, args.n_jobs))
        warm.add(*timed_search(args, X, y, args.n_jobs))
    cold.workers = warm.workers = probe_workers(args.n_jobs)
    shut_down_workers()  # leave no idle workers, with this variant's environment, behind
    return [cold, warm]


def default_pool_runs(args) -> list[Run]:
    """The "default" variant, in a subprocess whose workers inherit ``TF_NUM_*_THREADS=0``."""
    with tempfile.TemporaryDirectory() as folder:
        fragment = os.path.join(folder, "default.json")
        command = [sys.executable, os.path.abspath(__file__), "--variants", "default"]
        for key in ("rows", "features", "epochs", "folds", "repeats", "n_jobs", "grid"):
            command += [f"--{key.replace('_', '-')}", str(getattr(args, key))]
        command += ["--fragment", fragment]
        # 0 is TensorFlow's own "size it from the machine"; any value makes safekeras step aside.
        env = {**os.environ, **dict.fromkeys(POOL_VARIABLES, "0")}
        sys.stdout.flush()
        completed = subprocess.run(command, env=env, check=False)
        if completed.returncode != 0 or not os.path.exists(fragment):
            raise RuntimeError(f"the default-pools run failed (exit {completed.returncode})")
        with open(fragment, encoding="utf-8") as handle:
            return [Run(**run) for run in json.load(handle)]


def measure(args, X, y) -> list[Run]:
    runs = []
    if "serial" in args.variant_list:
        runs += serial_runs(args, X, y)
    if "limited" in args.variant_list:
        if [os.environ.pop(name) for name in POOL_VARIABLES if name in os.environ]:
            # The workers would inherit them, and safekeras would step aside.
            print(f"(removed {' and '.join(POOL_VARIABLES)} from the environment of the workers)")
        runs += parallel_runs(args, X, y, "limited")
    if "default" in args.variant_list:
        if args.fragment:  # this is the subprocess
            runs += parallel_runs(args, X, y, "default")
        else:
            runs += default_pool_runs(args)
    return runs


# -- report --------------------------------------------------------------------


def describe_workers(workers: list[dict]) -> str:
    if not workers:
        return "-"
    parts = []
    for worker in workers:
        pools = f"{worker['intra']}/{worker['inter']}"
        threads = "?" if worker["threads"] is None else worker["threads"]
        parts.append(f"share {worker['share']}, TF {pools}, {threads} threads")
    return "; ".join(parts)


def pools_as_expected(run: Run) -> bool:
    """Whether the workers ran the way the variant says: limited to their share, or not."""
    if run.variant == "serial":
        return True
    if not run.workers:
        return False
    if run.variant == "limited":
        return all(w["intra"] == w["inter"] == w["share"] for w in run.workers)
    return all(w["intra"] == w["inter"] == 0 for w in run.workers)


def format_table(runs: list[Run]) -> str:
    reference = next((run for run in runs if run.variant == "serial"), runs[0])
    best, scores = reference.best_params[0], np.array(reference.mean_scores[0])
    lines = [
        "| run | n_jobs | TF pools in the workers | median (s) | each (s) | vs first row | "
        "speed-up | same best_params_ | max abs diff of mean_test_score | workers: share, "
        "TF intra/inter, threads |",
        "|---|---:|---|---:|---:|---:|---:|---|---:|---|",
    ]
    for run in runs:
        label = run.variant if run.variant == "serial" else f"{run.variant}, {run.start}"
        pools = POOLS[run.variant] + ("" if pools_as_expected(run) else " (NOT as expected)")
        same = all(params == best for params in run.best_params)
        diff = max(float(np.max(np.abs(np.array(s) - scores))) for s in run.mean_scores)
        each = ", ".join(f"{seconds:.2f}" for seconds in run.seconds)
        lines.append(
            f"| {label} | {run.n_jobs} | {pools} | {run.median:.2f} | {each} | "
            f"{format_ratio(run.median / reference.median)} | "
            f"{format_ratio(reference.median / run.median)} | "
            f"{'yes' if same else 'NO'} | {diff:.1e} | {describe_workers(run.workers)} |"
        )
    return "\n".join(lines)


def summary(runs: list[Run]) -> str:
    reference = next((run for run in runs if run.variant == "serial"), runs[0])
    every = [params for run in runs for params in run.best_params]
    lines = [
        f"best_params_ ({reference.variant}): {reference.best_params[0]}; "
        f"the same in every search ({len(every)}): "
        f"{'yes' if all(p == every[0] for p in every) else 'NO'}.",
    ]
    by_key = {(run.variant, run.start): run for run in runs}
    limited, default = by_key.get(("limited", "warm")), by_key.get(("default", "warm"))
    if limited and default:
        lines.append(
            f"Warm searches, pools limited vs TensorFlow's defaults: "
            f"{format_ratio(limited.median / default.median)} the time."
        )
    return "\n\n".join(lines)


DOCS_LABELS = {
    ("serial", "this process"): "`n_jobs=1`",
    ("limited", "cold"): "`n_jobs={n}`, first search (starts the workers)",
    ("limited", "warm"): "`n_jobs={n}`, next search (reuses them)",
    ("default", "cold"): "`n_jobs={n}`, first search, TensorFlow's pools at their defaults",
    ("default", "warm"): "`n_jobs={n}`, next search, TensorFlow's pools at their defaults",
}


def docs_body(runs: list[Run], args, candidates: int) -> str:
    """The table of docs/scaling.md and what it says, for ``speed_docs.write_block``."""
    reference = next((run for run in runs if run.variant == "serial"), runs[0])
    lines = ["| search | time | speed-up over the first row |", "|---|---:|---:|"]
    for run in runs:
        label = DOCS_LABELS[(run.variant, run.start)].format(n=args.n_jobs)
        speed_up = format_ratio(reference.median / run.median)
        lines.append(f"| {label} | {run.median:.2f} s | {speed_up} |")
    every = [params for run in runs for params in run.best_params]
    same = all(params == every[0] for params in every)
    by_key = {(run.variant, run.start): run for run in runs}
    cold, warm = by_key.get(("limited", "cold")), by_key.get(("limited", "warm"))
    start_up = (
        f" Starting the workers (importing TensorFlow and tracing in each) added "
        f"{cold.median - warm.median:.1f} s to the first parallel search."
        if cold and warm
        else ""
    )
    return "\n".join(
        [
            *lines,
            "",
            f"`GridSearchCV` over {candidates} candidates x {args.folds} folds of "
            f"`SafeKerasClassifier(epochs={args.epochs}, batch_size={BATCH_SIZE}, "
            f"early_stopping=False)` on {args.rows} x {args.features} imbalanced rows, plus "
            f"the refit; median of {args.repeats} search(es) per row.{start_up} "
            f"All {len(every)} searches found the same `best_params_`: "
            f"{'yes' if same else 'NO'}.",
        ]
    )


def run(args: argparse.Namespace) -> str:
    """Run the benchmark, print the report and return it (markdown)."""
    started = time.perf_counter()
    X, y = make_search_data(args.rows, args.features)
    grid = GRIDS[args.grid]
    candidates = int(np.prod([len(values) for values in grid.values()]))
    with quiet_tensorflow_logger():
        if args.fragment:  # the "default" subprocess: its runs only
            runs = measure(args, X, y)
            with open(args.fragment, "w", encoding="utf-8") as handle:
                json.dump([asdict(run) for run in runs], handle)
            return ""
        header = "\n".join(
            [
                f"# GridSearchCV over SafeKerasClassifier: n_jobs=1 vs n_jobs={args.n_jobs}\n",
                describe_environment(("joblib", joblib.__version__)),
                f"- make_classification {args.rows} x {args.features}, "
                f"{int(y.sum())} positive ({y.mean():.0%}); {candidates} candidates x "
                f"{args.folds} folds = {candidates * args.folds} fits + refit; "
                f"{args.epochs} epochs, batch {BATCH_SIZE}, early stopping off; "
                f"{args.repeats} search(es) per row, median",
            ]
        )
        print(header + "\n", flush=True)
        runs = measure(args, X, y)
    table = format_table(runs)
    text = summary(runs)
    if args.write:
        write_block(
            args.write, "parallel", docs_body(runs, args, candidates), "parallel", args.quick
        )
    print(table + "\n\n" + text + "\n", flush=True)
    quick_note = "Quick run: a smoke test only; start-up costs dominate at these sizes."
    return finish_report([header, table, text], started, quick_note, args)


def main(argv=None) -> None:
    args = parse_args(argv)
    prepare_keras()
    run(args)


if __name__ == "__main__":
    sys.exit(main())
