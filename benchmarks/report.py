"""What every benchmark shares to measure and to report.

Timing (``timed``, ``time_calls``: the median of round-robin calls after a warm-up call),
the environment bullets a report starts with, number formats, the runtime footer that
writes ``--markdown``, the Keras set-up done before Keras loads, and the replacement of the
text between two markers (the README's headline table, the generated speed figures).
"""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import sklearn


def timed(function: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def time_calls(calls: dict[str, Callable[[], object]], n_calls: int) -> dict[str, float]:
    """Median seconds per call, calling the functions round-robin.

    Interleaving the calls spreads background load evenly over all of them
    instead of letting it fall on whichever happens to run during a spike.
    """
    for function in calls.values():  # first call traces the predict function
        function()
    seconds = {name: [] for name in calls}
    names = list(calls)
    for i in range(n_calls):
        shift = i % len(names)
        for name in names[shift:] + names[:shift]:
            elapsed, _ = timed(calls[name])
            seconds[name].append(elapsed)
    return {name: statistics.median(values) for name, values in seconds.items()}


def describe_environment(*extra: tuple[str, str]) -> str:
    """Versions and CPU count, as markdown bullets; ``extra`` adds (package, version) pairs.

    An environment without TensorFlow (pytabkit's contenders run in one of their own: torch
    and TensorFlow do not share a process) says so instead of its Keras and safekeras versions.
    """
    # sched_getaffinity is what this process may actually use (cgroups, taskset).
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"
    packages = [f"- scikit-learn {sklearn.__version__}"]
    packages += [f"{name} {version}" for name, version in extra]
    packages.append(f"numpy {np.__version__}")
    try:
        import keras
        import tensorflow as tf
    except ImportError:
        keras_line = "- tensorflow and keras: not installed in this environment"
    else:
        import safekeras

        keras_line = (
            f"- tensorflow {tf.__version__}, keras {keras.__version__} "
            f"(backend {keras.backend.backend()})"
        )
        packages.append(f"safekeras {safekeras.__version__}")
    return "\n".join(
        [
            f"- python {platform.python_version()} ({platform.machine()})",
            keras_line,
            ", ".join(packages),
            f"- CPUs: {os.cpu_count()} (usable by this process: {usable})",
        ]
    )


def installed_versions(*names: str) -> list[tuple[str, str]]:
    """(name, version) of those of ``names`` installed, read from their metadata, not imported."""
    from importlib.metadata import PackageNotFoundError, version

    found = []
    for name in names:
        with contextlib.suppress(PackageNotFoundError):
            found.append((name, version(name)))
    return found


def format_seconds(seconds: float) -> str:
    if seconds >= 1.0:
        return f"{seconds:.2f} s"
    return f"{seconds * 1e3:.2f} ms"


@contextlib.contextmanager
def quiet_tensorflow_logger():
    """Silence TensorFlow's Python logger for the block, restoring its level afterwards.

    Every fit of a fresh Keras model makes it report "retracing": expected in a
    benchmark that fits many, and noise in its output.
    """
    logger = logging.getLogger("tensorflow")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def finish_report(sections: list[str], started: float, quick_note: str, args) -> str:
    """Print the runtime footer and return the markdown report, also written to ``--markdown``.

    Parameters
    ----------
    sections : list of str
        The report so far, one markdown block each.
    started : float
        ``time.perf_counter()`` when the run began.
    quick_note : str
        Appended to the footer of a ``--quick`` run.
    args : argparse.Namespace
        With ``quick`` and ``markdown``.
    """
    footer = f"Total runtime: {time.perf_counter() - started:.0f} s."
    if args.quick:
        footer += f" {quick_note}"
    print(footer)
    report = "\n\n".join([*sections, footer]) + "\n"
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as handle:
            handle.write(report)
    return report


def prepare_keras(backend: str | None = None) -> None:
    """Quieten TensorFlow's start-up logging and select the Keras backend, before Keras loads.

    Parameters
    ----------
    backend : str, default=None
        The backend the script measures; None leaves Keras's own choice.

    Raises
    ------
    SystemExit
        Keras was already imported with another backend.
    """
    # Both only take effect before TensorFlow / Keras are imported.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if backend is None:
        return
    if "keras" not in sys.modules:
        os.environ["KERAS_BACKEND"] = backend
    import keras

    if keras.backend.backend() != backend:
        raise SystemExit(
            f"Keras was imported with backend {keras.backend.backend()!r} before this script "
            f"could select {backend!r}; run it in a fresh process."
        )


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def format_ratio(value: float) -> str:
    """``value`` as a ratio: two decimals, or two significant digits below 0.1 (never "0.00x")."""
    return f"{value:.2f}x" if abs(value) >= 0.1 or value == 0 else f"{value:.2g}x"


README_START = "<!-- benchmarks:headline -->"


README_END = "<!-- /benchmarks:headline -->"


def update_readme(path: Path, block: str) -> bool:
    """Replace the marked headline block of ``path``; False when the markers are missing."""
    return replace_marked(path, README_START, README_END, block)


def replace_marked(path: Path, start: str, end: str, block: str) -> bool:
    """Replace every ``start`` ... ``end`` span of ``path`` (markers included) with ``block``.

    Returns False, leaving the file alone, when ``path`` holds no such span; ``block`` is
    expected to begin with ``start`` and end with ``end``, so that the next run finds them.
    """
    text = path.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), flags=re.S)
    if not pattern.search(text):
        return False
    path.write_text(pattern.sub(lambda _: block, text), encoding="utf-8")
    return True


def fill_defaults(args, quick: dict, full: dict) -> dict:
    """Give every option left unset its ``--quick`` or full default; explicit flags win.

    Returns the defaults used, for the benchmark's own checks of those options.
    """
    defaults = quick if args.quick else full
    for key, value in defaults.items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    return defaults
