"""One entry point for the published benchmark page: ``python -m benchmarks``.

What it does
------------
1. Runs the predictive-quality benchmark (:mod:`benchmarks.quality`): every
   contender, cross-validated on every dataset.
2. Draws two plots of it with matplotlib: balanced accuracy and PR-AUC per
   dataset and contender (``quality.png``), and fit time per fold on a log
   scale (``fit_time.png``).
3. Quotes the speed and memory results recorded in ``benchmarks/README.md``
   (training engines, deployment, parallel search), each with the date of its
   run. They are not re-measured here: the deployment benchmark alone takes
   about 6 minutes, and timings are only comparable from an otherwise idle
   machine, which a quality run does not need. Re-run ``benchmarks/deploy.py``
   (and the others) and paste their output into ``benchmarks/README.md`` to
   update them; the next ``python -m benchmarks`` quotes the new numbers.
4. Writes ``<out>/benchmarks.md`` and the plots to ``<out>/img/benchmarks/``
   (``--out``, default ``docs``), and replaces the headline table in
   ``README.md`` between the ``<!-- benchmarks:headline -->`` and
   ``<!-- /benchmarks:headline -->`` markers (``--readme``).

A ``--quick`` run (2 folds, 2 small datasets, a few epochs) is a smoke test: it
prints the report and writes files only when ``--out`` (and ``--readme``) are
given, so that it never overwrites the published page with smoke numbers.

Run from the repository root::

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
import re
import time

from benchmarks import contenders, quality, quality_tables
from benchmarks.report import README_END, README_START, prepare_keras, update_readme

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS_README = ROOT / "benchmarks" / "README.md"
IMAGE_FOLDER = Path("img") / "benchmarks"  # relative to --out, as the page links it

# Sections of benchmarks/README.md quoted on the page: (title on the page, heading to find,
# script). Each quote is the section's "What the numbers say" list or, failing that, its
# verdict lines, with the date of its "### Measured (...)" heading.
RECORDED = (
    ("Training speed", "## Training engines", "benchmarks/training.py"),
    ("Deployment: latency, memory, pickle, import", "## Deployment", "benchmarks/deploy.py"),
    ("Parallel search", "## Parallel search", "benchmarks/parallel.py"),
)


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
    args = parser.parse_args(argv)
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


# -- recorded speed and memory -------------------------------------------------


def section_of(text: str, heading: str) -> str | None:
    """The body of the ``## `` section whose heading starts with ``heading``."""
    lines = text.splitlines()
    for start, line in enumerate(lines):
        if line.startswith(heading):
            end = next(
                (i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")),
                len(lines),
            )
            return "\n".join(lines[start + 1 : end])
    return None


def numbers_list(section: str) -> list[str]:
    """The bullet list under "What the numbers say:", up to the blank line that ends it."""
    lines = section.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.startswith("What the numbers say"))
    except StopIteration:
        return []
    found: list[str] = []
    for line in lines[start + 1 :]:
        if not line.strip():
            if found:
                break
            continue
        if not (line.startswith("- ") or line.startswith("  ")):
            break
        found.append(line)
    return found


def recorded_results(readme: Path = BENCHMARKS_README) -> str:
    """Markdown quoting the speed and memory results recorded in ``readme``, with their dates."""
    link = "[benchmarks/README.md](../benchmarks/README.md)"
    intro = (
        "## Speed and memory\n\n"
        "Not re-measured by `python -m benchmarks`: timings need an otherwise idle machine "
        "and the deployment benchmark alone takes about 6 minutes. Quoted below from the runs "
        f"recorded in {link}, with the date of each run; the full tables and how "
        "each number was taken are there."
    )
    try:
        text = readme.read_text(encoding="utf-8")
    except OSError as error:
        return f"{intro}\n\n({readme} could not be read: {error}.)"
    blocks = [intro]
    for title, heading, script in RECORDED:
        section = section_of(text, heading)
        if section is None:
            blocks.append(f"### {title}\n\nNo section {heading!r} in {link}.")
            continue
        measured = re.search(r"^### Measured \((.*)\)", section, flags=re.MULTILINE)
        when = measured.group(1) if measured else "date not recorded"
        quote = numbers_list(section) or [
            line for line in section.splitlines() if line.startswith("**Verdict**")
        ]
        if not quote:
            blocks.append(f"### {title}\n\nNo recorded run of `{script}` in {link}.")
            continue
        # From docs/, "../docs/x.md" is "x.md": the site holds docs/ only (mkdocs --strict).
        quote = [line.replace("](../docs/", "](") for line in quote]
        # A list quotes as one block; separate verdict lines stay separate paragraphs.
        joiner = "\n" if quote[0].startswith("- ") else "\n>\n"
        quoted = joiner.join(f"> {line}" for line in quote)
        blocks.append(f"### {title}\n\n`{script}`, measured {when}:\n\n{quoted}")
    return "\n\n".join(blocks)


# -- the page ------------------------------------------------------------------


def page(
    run: quality_tables.Run, sections: list[str], images: dict[str, Path], recorded: str
) -> str:
    """``docs/benchmarks.md``: intro, the quality report with its plots, the recorded speed."""
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
            "against what people write instead: the Keras tutorial's network, Keras's and "
            "SciKeras's scikit-learn wrappers, scikit-learn's `MLPClassifier` (with and "
            "without a tuned threshold) and `HistGradientBoostingClassifier` with a tuned "
            "threshold, on data bundled with scikit-learn and on generated imbalanced and "
            "mixed-type data. Then what it costs to train and serve, quoted from the speed "
            "benchmarks. Reproduce with `python -m benchmarks` (this run: "
            f"{run.seconds / 60:.1f} minutes on {os.cpu_count()} CPUs); the scripts and what each "
            "measures are described in [benchmarks/README.md](../benchmarks/README.md).",
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
    blocks.append(recorded)
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
            f"Mean over {run.args.folds}-fold stratified cross-validation, best in bold "
            f"({datetime.date.today().isoformat()}, {os.cpu_count()} CPUs);",
            f"all contenders, metrics and plots in [{page_link}]({page_link}).",
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
    text = page(result, sections, images, recorded_results())
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


def main(argv=None) -> None:
    args = parse_args(argv)
    prepare_keras()
    run(args)


if __name__ == "__main__":
    sys.exit(main())
