"""Command line: ``python -m safekeras demo``.

The demo runs each "predict wrong" pitfall twice, as raw Keras and with
safekeras, on data that ships with scikit-learn (see :mod:`safekeras.demo`),
prints a table of what happened and writes plots into a folder it names.

Exit status: 0 when safekeras prevented or caught every pitfall, 1 when it did
not, 2 for a usage error.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
import time
from pathlib import Path

EXIT_OK, EXIT_NOT_PREVENTED, EXIT_USAGE = 0, 1, 2


def _demo(args: argparse.Namespace) -> int:
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow's first import
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
    parser = argparse.ArgumentParser(
        prog="python -m safekeras",
        description="safekeras: Keras networks as safe scikit-learn estimators.",
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
    demo.add_argument(
        "--epochs", type=int, default=200, help="safekeras's epoch budget (default 200)"
    )
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
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
    if args.epochs < 1:
        parser.error("--epochs must be at least 1")
    return _demo(args)


if __name__ == "__main__":
    sys.exit(main())
