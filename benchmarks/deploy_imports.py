"""How long each import statement takes in a fresh process, for the deployment benchmark.

Part of :mod:`benchmarks.deploy`: the statements timed, the probe each fresh
``python -c`` process runs, and the import-time table.
"""

from __future__ import annotations

import importlib.util
import os
import statistics
import subprocess
import sys
from dataclasses import dataclass

from benchmarks.report import format_ratio, format_seconds

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
