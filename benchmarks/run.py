"""One entry point for the published benchmark page: ``python -m benchmarks``.

What it does
------------
1. Runs the predictive-quality benchmark (:mod:`benchmarks.quality`): every
   contender, cross-validated on every dataset.
2. Draws two plots of it with matplotlib: balanced accuracy and PR-AUC per
   dataset and contender (``quality.png``), and fit time per fold on a log
   scale (``fit_time.png``).
3. Carries over, unchanged, the speed and memory tables that ``python -m benchmarks
   --speed`` wrote between the ``speed:*`` markers of the page (the page being replaced,
   else the published one): a quality run times nothing, since timings are only
   comparable from a machine running nothing else, which the quality numbers do not need.
4. Writes ``<out>/benchmarks.md`` and the plots to ``<out>/img/benchmarks/``
   (``--out``, default ``docs``), and replaces the headline table in
   ``README.md`` between the ``<!-- benchmarks:headline -->`` and
   ``<!-- /benchmarks:headline -->`` markers (``--readme``).

A ``--quick`` run (2 folds, 2 small datasets, a few epochs) is a smoke test: it
prints the report and writes files only when ``--out`` (and ``--readme``) are
given, so that it never overwrites the published page with smoke numbers.

``python -m benchmarks --speed`` instead runs the speed benchmarks (``default_path.py``,
``training.py``, ``deploy.py``, ``parallel.py``), each in a fresh process with ``--write``,
and so rewrites every speed, latency and memory figure of the README and docs/ between
its markers (:mod:`benchmarks.speed_docs`); ``--speed --quick --root DIR`` is its smoke
test on a copy.

Run from the repository root::

    python -m benchmarks --speed                   # every speed figure of README.md and docs/
    python -m benchmarks                           # full run: docs/benchmarks.md, plots, README
    python -m benchmarks --quick --out /tmp/bench  # smoke run into a scratch folder
    python benchmarks/run.py --datasets wine,digits --out /tmp/bench --no-readme
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as `python benchmarks/run.py`, Python puts benchmarks/ itself on sys.path, not the
# repository root that the `benchmarks.` imports below need; `python -m benchmarks.run`
# (a package set) needs nothing.
if not __package__:
    _ROOT = str(Path(__file__).resolve().parents[1])
    if _ROOT not in sys.path:
        sys.path.insert(0, _ROOT)

import argparse
import datetime
import os
import time

from benchmarks import contenders, quality, quality_tables, speed_docs
from benchmarks.report import README_END, README_START, prepare_keras, update_readme

ROOT = Path(__file__).resolve().parent.parent
IMAGE_FOLDER = Path("img") / "benchmarks"  # relative to --out, as the page links it

# -- setup ---------------------------------------------------------------------


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Run the predictive-quality benchmark and write docs/benchmarks.md, its "
        "plots and the README headline table.",
    )
    quality.add_arguments(parser)
    parser.add_argument(
        "--out",
        metavar="DIR",
        help="folder of benchmarks.md and img/benchmarks/ (default docs; --quick: none, "
        "only print)",
    )
    parser.add_argument(
        "--readme",
        metavar="PATH",
        help="README whose headline table to replace between the benchmarks:headline markers "
        "(default README.md when writing to docs/; --quick: none)",
    )
    parser.add_argument(
        "--no-readme", action="store_true", help="leave the README alone, whatever --out is"
    )
    parser.add_argument(
        "--speed",
        action="store_true",
        help="instead of the quality run: run the speed benchmarks and write their tables "
        "between the speed:* markers of README.md and docs/ (speed_docs.BLOCKS)",
    )
    parser.add_argument(
        "--root",
        metavar="DIR",
        help="with --speed: the folder holding README.md and docs/ to write into (default "
        "this repository; required with --quick, whose smoke numbers must not land there)",
    )
    args = parser.parse_args(argv)
    if args.speed:
        if args.quick and args.root is None:
            parser.error(
                "--speed --quick writes smoke numbers: give --root DIR, a copy of "
                "README.md and docs/"
            )
        args.root = Path(args.root) if args.root else ROOT
        return args
    quality.finish_arguments(parser, args)
    args.markdown = None  # the page is written here, not by quality.finish_report
    if args.out is None and not args.quick:
        args.out = str(ROOT / "docs")
    if args.readme is None and not args.quick and Path(args.out) == ROOT / "docs":
        args.readme = str(ROOT / "README.md")
    if args.no_readme:
        args.readme = None
    return args


# -- plots ---------------------------------------------------------------------


def pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only: the benchmark may run without a display
    import matplotlib.pyplot as plt

    return plt


def grouped_bars(ax, run: quality_tables.Run, metric: str, *, log: bool = False) -> None:
    """One group of bars per dataset, one bar per contender with a score; std as error bars."""
    names = [contender.name for contender in contenders.CONTENDERS]
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        xs, means, stds = [], [], []
        for j, entry in enumerate(run.datasets):
            result = entry.by_name()[name]
            if result.available(metric):
                xs.append(j - 0.4 + (i + 0.5) * width)
                means.append(result.mean(metric))
                stds.append(result.std(metric))
        highlight = name == contenders.SAFEKERAS
        ax.bar(
            xs,
            means,
            width,
            yerr=None if log else stds,
            label=name,
            color=f"C{i}",
            edgecolor="black" if highlight else "none",
            linewidth=1.2 if highlight else 0,
            error_kw={"elinewidth": 0.8, "capsize": 1.5},
        )
    ax.set_xticks(range(len(run.datasets)), [entry.dataset.name for entry in run.datasets])
    if log:
        ax.set_yscale("log")
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)


def plot_quality(run: quality_tables.Run, folder: Path) -> Path:
    plt = pyplot()
    figure, axes = plt.subplots(2, 1, figsize=(11, 7.5), sharex=True)
    for ax, metric in zip(axes, ("balanced_accuracy", "pr_auc"), strict=True):
        grouped_bars(ax, run, metric)
        ax.set_ylabel(quality_tables.METRIC_LABELS[metric])
        ax.set_ylim(0, 1.05)
    axes[0].set_title(
        f"{run.args.folds}-fold stratified CV, mean ± std over folds "
        "(bars missing: n/a, e.g. no predict_proba, or binary-only)"
    )
    axes[0].legend(ncols=4, fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.08))
    figure.tight_layout()
    path = folder / "quality.png"
    figure.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(figure)
    return path


def plot_fit_time(run: quality_tables.Run, folder: Path) -> Path:
    plt = pyplot()
    figure, ax = plt.subplots(figsize=(11, 4))
    grouped_bars(ax, run, "fit_seconds", log=True)
    ax.set_ylabel("fit seconds per fold (log)")
    ax.set_title("Wall-clock fit time per fold, threshold tuning's internal fits included")
    ax.legend(ncols=4, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.1))
    figure.tight_layout()
    path = folder / "fit_time.png"
    figure.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(figure)
    return path


# -- speed and memory ----------------------------------------------------------


SPEED_TITLES = {
    "default-path": "The default fit, as users run it",
    "default-path-jax": "The default fit on JAX",
    "fit-overhead": "Where a warm default fit's time goes",
    "training": "Training engines",
    "latency": "Predict latency",
    "memory": "Memory per refit",
    "imports": "Import time",
    "parallel": "Parallel search",
}


def speed_section(previous: str) -> str:
    """The page's speed and memory section: each generated block carried over from
    ``previous`` (the page this run replaces), since the quality run does not time anything."""
    blocks = [
        "## Speed and memory",
        "Written by `python -m benchmarks --speed`, which runs the speed benchmarks one after "
        "the other (timings want a machine to themselves, which a quality run does not), "
        "not by this quality run: each table below is kept as that command last wrote it.",
    ]
    for name, title in SPEED_TITLES.items():
        start, end = speed_docs.markers(name)
        block = speed_docs.read_block(previous, name)
        blocks += [f"### {title}", block or f"{start}\n{speed_docs.PLACEHOLDER}\n{end}"]
    return "\n\n".join(blocks)


# -- the page ------------------------------------------------------------------


def page(run: quality_tables.Run, sections: list[str], images: dict[str, Path], speed: str) -> str:
    """``docs/benchmarks.md``: intro, the quality report with its plots, the speed section."""
    header, headline, *rest = sections
    figure = images.get("quality")
    timing = images.get("fit_time")
    intro = "\n".join(
        [
            "# Benchmarks",
            "",
            "<!-- Generated by `python -m benchmarks` (benchmarks/run.py); edit the script, "
            "not this page. -->",
            "",
            "How well a `SafeKerasClassifier` with every default predicts, cross-validated "
            "against what people write instead: a careful hand-written Keras pipeline, a Keras "
            "network with the pitfalls safekeras prevents, Keras's and SciKeras's scikit-learn "
            "wrappers, scikit-learn's `MLPClassifier` (at its defaults, with early stopping, and "
            "with a tuned threshold) and `HistGradientBoostingClassifier` with a tuned "
            "threshold, every win and loss decided by one paired rule, on data bundled with "
            "scikit-learn and on generated imbalanced and "
            "mixed-type data. Then what it costs to train and serve, as the speed benchmarks "
            "last measured it. Reproduce with `python -m benchmarks` (this run: "
            f"{run.seconds / 60:.1f} minutes on {os.cpu_count()} CPUs); the scripts and what each "
            "measures are described in [benchmarks/README.md](../benchmarks/README.md); the "
            "speed tables with `python -m benchmarks --speed`.",
        ]
    )
    blocks = [intro, header, headline]
    if figure is not None:
        blocks.append(
            f"![Balanced accuracy and PR-AUC per dataset and contender]({figure.as_posix()})"
        )
    blocks += rest
    if timing is not None:
        blocks.append(
            "### Fit time\n\nWall clock per fold from the same run (`fit s/fold` above), on a "
            "log scale; threshold tuning's internal fits are included.\n\n"
            f"![Fit seconds per fold]({timing.as_posix()})"
        )
    blocks.append(speed)
    blocks.append(
        f"Quality run: {run.seconds:.0f} s, {len(run.datasets)} datasets x "
        f"{len(contenders.CONTENDERS)} contenders x {run.args.folds} folds."
    )
    return "\n\n".join(blocks) + "\n"


def readme_block(run: quality_tables.Run, page_link: str) -> str:
    return "\n".join(
        [
            README_START,
            quality_tables.headline_table(run),
            "",
            f"Mean over {run.args.folds}-fold stratified cross-validation "
            f"({datetime.date.today().isoformat()}, {os.cpu_count()} CPUs). Under each peer: its "
            "mean and safekeras's verdict against it (win / tie / loss: the mean per-fold "
            "difference must clear its 95 % corrected resampled-t interval, else a tie; the "
            "same rule for every pair); the last row counts them.",
            f"Per-fold differences, every metric and plots in [{page_link}]({page_link}).",
            README_END,
        ]
    )


def run(args: argparse.Namespace) -> str:
    """Run the benchmark, print the page, write it (and the plots) when ``args.out`` is set."""
    started = time.perf_counter()
    print("# safekeras benchmarks\n", flush=True)
    result = quality.cross_validate_all(args, progress=lambda line: print(line, flush=True))
    sections = quality_tables.report(result)
    images: dict[str, Path] = {}
    if args.out:
        out = Path(args.out)
        folder = out / IMAGE_FOLDER
        folder.mkdir(parents=True, exist_ok=True)
        for name, draw in (("quality", plot_quality), ("fit_time", plot_fit_time)):
            images[name] = draw(result, folder).relative_to(out)
    published = ROOT / "docs" / "benchmarks.md"
    previous = Path(args.out) / "benchmarks.md" if args.out else published
    if not previous.exists():
        previous = published
    text = page(result, sections, images, speed_section(read_text(previous)))
    print("\n" + text, flush=True)
    if args.out:
        target = Path(args.out) / "benchmarks.md"
        target.write_text(text, encoding="utf-8")
        print(f"Wrote {target} and {len(images)} plot(s) in {Path(args.out) / IMAGE_FOLDER}.")
    if args.readme:
        readme = Path(args.readme)
        if update_readme(readme, readme_block(result, "docs/benchmarks.md")):
            print(f"Updated the headline table in {readme}.")
        else:
            print(f"{readme} has no {README_START} ... {README_END} block: left alone.")
    print(f"Total runtime: {time.perf_counter() - started:.0f} s.")
    return text


def read_text(path: Path) -> str:
    return path.read_text(encoding="utf-8") if path.exists() else ""


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.speed:
        speed_docs.regenerate(args.root, quick=args.quick)
        return
    prepare_keras()
    run(args)


if __name__ == "__main__":
    sys.exit(main())
