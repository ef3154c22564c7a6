"""Command line: ``python -m safekeras demo``.

The demo runs each "predict wrong" pitfall twice, as raw Keras and with
safekeras, on data that ships with scikit-learn (see :mod:`safekeras.demo`),
prints a table of what happened and writes plots into a folder it names.

Exit status: 0 when safekeras prevented or caught every pitfall, 1 when it did
not, 2 for a usage error.

The command line starts quiet: TensorFlow's C++ start-up lines (absl's banner,
oneDNN and CUDA-stub notices, ``cuInit`` errors on a machine without a GPU) are
left out of its output; see :func:`_import_backend_quietly`. ``import
safekeras`` in your own code changes nothing of the kind.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import re
import sys
import tempfile
import textwrap
import time
from pathlib import Path

EXIT_OK, EXIT_NOT_PREVENTED, EXIT_USAGE = 0, 1, 2

# Lines TensorFlow's C++ side writes to fd 2 while it is imported, before Python (or
# TF_CPP_MIN_LOG_LEVEL) has a say: absl's banner, then INFO and WARNING records
# ("I0000 00:00:1796454316.149046 5075 port.cc:153] oneDNN custom operations are on"),
# cpu_feature_guard's second line, and the ERROR records that a machine without a GPU
# or a CUDA build prints on every start.
_STARTUP_NOISE = re.compile(
    r"WARNING: All log messages before absl::InitializeLog\(\) is called"
    r"|[IW]\d{4} \S+ +\d+ \S+:\d+\] "
    r"|E\d{4} \S+ +\d+ \S+:\d+\] "
    r"(?:failed call to cuInit|Unable to register cu\w+ factory)"
    r"|To enable the following instructions: .*rebuild TensorFlow with the appropriate"
)


def _without_startup_noise(text: str) -> str:
    """``text`` less the lines of :data:`_STARTUP_NOISE`; anything else is kept."""
    kept = [line for line in text.splitlines(True) if not _STARTUP_NOISE.match(line)]
    return "".join(kept)


def _import_backend_quietly():
    """Import Keras and its backend with TensorFlow's start-up lines dropped; return keras.

    ``TF_CPP_MIN_LOG_LEVEL=3`` (unless already set) silences TensorFlow's C++
    logging from here on, but not what it writes while being imported, before
    the variable is read: for the import only, file descriptor 2 goes to a
    temporary file, which is replayed to stderr afterwards less the known
    start-up lines. So a Python warning or a real error during the import is
    still shown, and everything is shown when the import fails.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "keras" in sys.modules:  # already imported: nothing left to hide
        return sys.modules["keras"]
    sys.stderr.flush()
    saved = os.dup(2)
    failed = True
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import keras

            failed = False
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            text = captured.read().decode("utf-8", errors="replace")
            sys.stderr.write(text if failed else _without_startup_noise(text))
            sys.stderr.flush()
    return keras


def _version_line() -> str:
    """safekeras's version, with Keras's and its backend's when Keras can be imported."""
    from . import __version__

    line = f"safekeras {__version__}"
    try:
        keras = _import_backend_quietly()
        backend = keras.config.backend()
    except Exception as exc:  # a version query should say what is broken, not crash
        return f"{line} (Keras cannot be imported: {type(exc).__name__}: {exc})"
    try:
        backend += f" {importlib.metadata.version(backend)}"
    except importlib.metadata.PackageNotFoundError:
        pass  # a backend not installed as a distribution of that name: its name is enough
    python = ".".join(map(str, sys.version_info[:3]))
    return f"{line} (Keras {keras.__version__}, backend {backend}, Python {python})"


class _VersionAction(argparse.Action):
    """``--version``: computed when asked for, since it imports Keras."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, **kwargs):
        super().__init__(option_strings, dest=dest, nargs=0, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        print(_version_line())
        parser.exit()


def _int_at_least(minimum: int):
    """An argparse ``type`` for integers >= ``minimum``, whose error names the bound."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


def _demo(args: argparse.Namespace) -> int:
    _import_backend_quietly()  # before the first scenario imports it, noisily
    from .demo import run_demo

    out = None
    if not args.no_plots:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            print("matplotlib is not installed: no plots (pip install 'safekeras[plot]').")
        else:
            out = Path(args.out)
    start = time.perf_counter()
    results = run_demo(
        epochs=args.epochs,
        seed=args.seed,
        out=out,
        fast=args.fast,
        progress=lambda line: print(line, flush=True),
    )
    print()
    _print_table(results)
    plots = [path for result in results for path in result.plots]
    if plots:
        print(f"\nplots written to {out.resolve()}:")
        for path in plots:
            print(f"  {path.name}")
    prevented = sum(result.prevented for result in results)
    print(
        f"\nsafekeras prevented or caught {prevented} of {len(results)} pitfalls "
        f"({time.perf_counter() - start:.0f} s)."
    )
    return EXIT_OK if prevented == len(results) else EXIT_NOT_PREVENTED


def _print_table(results) -> None:
    """Pitfall, raw Keras, safekeras: one block per pitfall, wrapped for a terminal."""
    name_width = max(len(result.pitfall) for result in results)
    text_width = 76
    header = f"{'pitfall':<{name_width}}  {'raw Keras / safekeras'}"
    print(header)
    print("-" * (name_width + 2 + text_width))
    indent = " " * (name_width + 2)
    for result in results:
        mark = "ok" if result.prevented else "NOT PREVENTED"
        lines = textwrap.wrap(f"raw Keras: {result.naive}", text_width)
        lines += textwrap.wrap(f"safekeras [{mark}]: {result.safe}", text_width)
        print(f"{result.pitfall:<{name_width}}  {lines[0]}")
        for line in lines[1:]:
            print(f"{indent}{line}")
        print()


def main(argv: list[str] | None = None) -> int:
    """Run the command line.

    Parameters
    ----------
    argv : list of str, default=None
        The arguments, without the program name; None reads ``sys.argv``.

    Returns
    -------
    int
        The exit status: 0 when safekeras prevented or caught every pitfall, 1
        when it did not. A usage error exits with status 2 (``SystemExit``), as
        ``--help`` and ``--version`` exit with 0.
    """
    parser = argparse.ArgumentParser(
        prog="python -m safekeras",
        description="safekeras: Keras networks as safe scikit-learn estimators.",
    )
    parser.add_argument(
        "--version",
        action=_VersionAction,
        help="print the versions of safekeras, Keras and its backend, and exit",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo",
        help="each 'predict wrong' pitfall in raw Keras and in safekeras, side by side",
        description=(
            "Runs five pitfalls (preprocessing mismatch, wrong activation/loss, labels read "
            "the other way, threshold and accuracy on imbalanced data, over/underfitting) as "
            "raw Keras and as safekeras on scikit-learn's bundled data, prints what happened "
            "and writes plots. Exit status 0: every pitfall prevented; 1: one was not; "
            "2: usage error."
        ),
    )
    # Checked by the types, so that an error is reported with the demo's usage line.
    demo.add_argument(
        "--epochs",
        type=_int_at_least(1),
        default=200,
        help="safekeras's epoch budget, at least 1 (default 200)",
    )
    demo.add_argument(
        "--seed", type=_int_at_least(0), default=0, help="random seed, 0 or more (default 0)"
    )
    demo.add_argument(
        "--out",
        default="safekeras-demo",
        help="folder for the PNG plots (default ./safekeras-demo)",
    )
    demo.add_argument("--no-plots", action="store_true", help="draw nothing")
    demo.add_argument(
        "--fast", action="store_true", help="smaller data and fewer epochs (a smoke run)"
    )
    args = parser.parse_args(argv)
    return _demo(args)


if __name__ == "__main__":
    sys.exit(main())
