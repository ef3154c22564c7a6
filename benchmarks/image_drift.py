"""The drift guard of images: how often it cries wolf, what it catches, what it costs.

``fit`` on N-dimensional inputs captures a :class:`safekeras.data.tensor_schema.TensorSchema`
of the raw training images, and every ``predict`` checks its batch against it. This script
measures the schema directly (no network), on two image distributions, so that its
calibration is not fitted to one:

* ``digits 8x8x1``: ``load_digits`` as (n, 8, 8, 1) images, pixels scaled to 0-1 (1797 rows);
* ``smooth 16x16x3``: generated smooth colour images, pixels 0-1 as 8-bit images divided by
  255 (``--smooth-rows`` rows; three Gaussian blobs of random place, width and colour on a
  dim background, pixel noise, clipped; see ``benchmarks.datasets.make_smooth_images``).

What is measured
----------------
1. **False alarms**: over ``--splits`` random 70/30 splits, a schema of the 70 % side and
   ``--batches`` random batches per split of 1, 10 and 100 held-out images: the count of
   batches with any finding (the target is 0 in 1000 batches of 1 and of 100 images).
2. **Detection**: the scaling mistakes, applied to the same kind of held-out batches: raw
   0-16 digits and 0-255 pixels given to a schema trained on 0-1, pixels divided by 255 once
   too often, and the reverse of the seed's pitfall (trained on raw pixels, fed 0-1). A batch
   counts as caught when it has a finding; the kinds and one message are shown.
3. **Shape mistakes**: channels-first, a wrong channel count, a wrong image size, a
   flattened batch: whether ``check`` raises ``InputError``, and the start of its advice.
4. **Cost**: the median time of ``schema.check`` on 1, 100 and 1000 held-out images
   (``--repeats`` calls, round-robin after a warm-up).

Run from the repository root::

    python benchmarks/image_drift.py                  # about 20 s on 2 cores
    python -m benchmarks.image_drift --quick          # smoke run, a few seconds
    python benchmarks/image_drift.py --markdown image_drift.md
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as `python benchmarks/image_drift.py`, Python puts benchmarks/ itself on sys.path, not
# the repository root that the `benchmarks.` imports below need.
if not __package__:
    _ROOT = str(Path(__file__).resolve().parents[1])
    if _ROOT not in sys.path:
        sys.path.insert(0, _ROOT)

import argparse
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from benchmarks.datasets import make_scaled_digit_images, make_smooth_images
from benchmarks.drift_detection import batches, kinds_text, rows_label, split
from benchmarks.report import describe_environment, finish_report, prepare_keras, time_calls

FULL = {"splits": 10, "batches": 100, "smooth_rows": 3000, "repeats": 200}
QUICK = {"splits": 2, "batches": 10, "smooth_rows": 600, "repeats": 10}

SIZES = (1, 10, 100)
COST_SIZES = (1, 100, 1000)
DIGITS = "digits 8x8x1"
SMOOTH = "smooth 16x16x3"


@dataclass(frozen=True)
class ImageSet:
    name: str
    X: np.ndarray  # (n, height, width, channels), pixels 0-1

    def describe(self) -> str:
        return f"{self.X.shape[0]} x {'x'.join(str(s) for s in self.X.shape[1:])}"


@dataclass(frozen=True)
class Scenario:
    """A scaling mistake: training images as ``train(X)``, predict batches as ``feed(X)``."""

    name: str
    dataset: str
    train: Callable[[np.ndarray], np.ndarray]
    feed: Callable[[np.ndarray], np.ndarray]


def _same(X):
    return X


SCENARIOS = (
    Scenario("fed raw 0-16 pixels, trained on 0-1", DIGITS, _same, lambda X: X * 16),
    Scenario("fed 0-255 pixels, trained on 0-1", DIGITS, _same, lambda X: X * 255),
    Scenario("divided by 255 once too often", DIGITS, _same, lambda X: X / 255),
    Scenario("trained on raw 0-16, fed 0-1", DIGITS, lambda X: X * 16, _same),
    Scenario("fed 0-255 pixels, trained on 0-1", SMOOTH, _same, lambda X: np.round(X * 255)),
    Scenario("divided by 255 once too often", SMOOTH, _same, lambda X: X / 255),
    Scenario("trained on raw 0-255, fed 0-1", SMOOTH, lambda X: np.round(X * 255), _same),
)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Measure the image drift guard: false alarms on held-out images, "
        "detection of scaling and shape mistakes, and its cost.",
    )
    parser.add_argument("--splits", type=int, help="random 70/30 splits (10)")
    parser.add_argument("--batches", type=int, help="batches per split and batch size (100)")
    parser.add_argument("--smooth-rows", type=int, help="generated smooth images (3000)")
    parser.add_argument("--repeats", type=int, help="timed check calls; median (200)")
    parser.add_argument("--seed", type=int, default=0, help="seed of data, splits, batches (0)")
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 2 splits x 10 batches, 600 images"
    )
    parser.add_argument("--markdown", metavar="PATH", help="also write the report to PATH")
    args = parser.parse_args(argv)
    defaults = QUICK if args.quick else FULL
    for key, value in defaults.items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
        if getattr(args, key) < 1:
            parser.error(f"--{key.replace('_', '-')} must be a positive integer")
    return args


def load_image_sets(args) -> list[ImageSet]:
    return [
        ImageSet(DIGITS, make_scaled_digit_images(args.seed)[0]),
        ImageSet(SMOOTH, make_smooth_images(args.smooth_rows, args.seed)[0]),
    ]


# -- part 1: false alarms ------------------------------------------------------------------


@dataclass
class Tally:
    """Batches checked and batches with a finding, per batch size."""

    fired: dict[int, int] = field(default_factory=lambda: dict.fromkeys(SIZES, 0))
    checked: dict[int, int] = field(default_factory=lambda: dict.fromkeys(SIZES, 0))
    kinds: Counter = field(default_factory=Counter)
    example: str = ""

    def add(self, size: int, report) -> None:
        self.checked[size] += 1
        if report:
            self.fired[size] += 1
            self.kinds.update(finding.kind for finding in report.findings)
            self.example = self.example or report.findings[0].message

    def cell(self, size: int) -> str:
        return f"{self.fired[size]}/{self.checked[size]}"


def run_batches(images: ImageSet, args, rng, train_as=_same, feed_as=_same) -> Tally:
    """Schemas of ``train_as`` training splits, checking ``feed_as`` held-out batches."""
    from safekeras.data.tensor_schema import TensorSchema

    tally = Tally()
    for _ in range(args.splits):
        train, test = split(len(images.X), rng)
        schema = TensorSchema.from_training(train_as(images.X[train]))
        for size in SIZES:
            for rows in batches(test, size, args.batches, rng):
                tally.add(size, schema.check(feed_as(images.X[rows])))
    return tally


def alarm_section(image_sets, args, rng) -> tuple[str, int]:
    lines = [
        "## 1. False alarms on held-out images of the training distribution\n",
        f"Batches with any finding, of {args.splits} splits x {args.batches} batches per size.\n",
        "| dataset | images | " + " | ".join(rows_label(s) for s in SIZES) + " | kinds fired |",
        "|---|---|" + "---:|" * len(SIZES) + "---|",
    ]
    fired = checked = 0
    examples = []
    for images in image_sets:
        tally = run_batches(images, args, rng)
        cells = " | ".join(tally.cell(size) for size in SIZES)
        lines.append(
            f"| {images.name} | {images.describe()} | {cells} | {kinds_text(tally.kinds)} |"
        )
        fired += sum(tally.fired.values())
        checked += sum(tally.checked.values())
        if tally.example:
            examples.append(f"- {images.name}: {tally.example}")
    lines += ["", f"**Verdict**: {fired} false alarm(s) in {checked} clean batches."]
    if examples:
        lines += ["", "First false alarm per dataset:", "", *examples]
    return "\n".join(lines), fired


# -- part 2: detection ---------------------------------------------------------------------


def detection_section(image_sets, args, rng) -> str:
    by_name = {images.name: images for images in image_sets}
    lines = [
        "## 2. Detection of scaling mistakes\n",
        f"Batches with a finding, of {args.splits} splits x {args.batches} batches per size.\n",
        "| dataset | scenario | " + " | ".join(rows_label(s) for s in SIZES) + " | kinds |",
        "|---|---|" + "---:|" * len(SIZES) + "---|",
    ]
    missed = []
    examples = []
    for scenario in SCENARIOS:
        tally = run_batches(by_name[scenario.dataset], args, rng, scenario.train, scenario.feed)
        cells = " | ".join(tally.cell(size) for size in SIZES)
        lines.append(
            f"| {scenario.dataset} | {scenario.name} | {cells} | {kinds_text(tally.kinds)} |"
        )
        missed += [scenario.name for s in SIZES if tally.fired[s] < tally.checked[s]]
        examples.append(f"- {scenario.dataset}, {scenario.name}: {tally.example}")
    caught = f"{len(SCENARIOS) - len(set(missed))}/{len(SCENARIOS)}"
    lines += [
        "",
        f"**Verdict**: scenarios caught in every batch at 1, 10 and 100 images: {caught}. "
        f"Missed at least once: {', '.join(sorted(set(missed))) or 'none'}.",
        "",
        "Example message per scenario:",
        "",
        *examples,
    ]
    return "\n".join(lines)


# -- part 3: shape mistakes ----------------------------------------------------------------


SHAPE_MISTAKES = (
    ("channels-first", lambda X: np.moveaxis(X, -1, 1)),
    ("3 channels instead of 1", lambda X: np.repeat(X, 3, axis=-1)),
    ("16x16 instead of 8x8", lambda X: X.repeat(2, axis=1).repeat(2, axis=2)),
    ("flattened", lambda X: X.reshape(len(X), -1)),
)


def shape_section(image_sets) -> str:
    from safekeras.data.tensor_schema import TensorSchema
    from safekeras.exceptions import InputError

    digits = next(images for images in image_sets if images.name == DIGITS)
    schema = TensorSchema.from_training(digits.X)
    lines = [
        "## 3. Shape mistakes on digits (5 images)\n",
        "| mistake | batch shape | InputError | advice |",
        "|---|---|---|---|",
    ]
    raised = 0
    for name, alter in SHAPE_MISTAKES:
        batch = alter(digits.X[:5])
        try:
            schema.check(batch)
            verdict, advice = "no", "-"
        except InputError as error:
            raised += 1
            verdict, advice = "yes", str(error).split("). ", 1)[-1]
        shape = "(" + ", ".join(str(s) for s in batch.shape) + ")"
        lines.append(f"| {name} | {shape} | {verdict} | {advice.replace('|', '/')} |")
    lines += ["", f"**Verdict**: {raised}/{len(SHAPE_MISTAKES)} shape mistakes refused."]
    return "\n".join(lines)


# -- part 4: cost --------------------------------------------------------------------------


def _checker(schema, X) -> Callable[[], object]:
    def check():
        return schema.check(X)

    return check


def cost_section(image_sets, args) -> str:
    from safekeras.data.tensor_schema import TensorSchema

    lines = [
        "## 4. Cost of the check\n",
        f"Median ms per `schema.check` call over {args.repeats} calls, held-out images tiled.\n",
        "| dataset | " + " | ".join(f"{rows_label(s)} (ms)" for s in COST_SIZES) + " |",
        "|---|" + "---:|" * len(COST_SIZES),
    ]
    slowest = 0.0
    for images in image_sets:
        schema = TensorSchema.from_training(images.X[: len(images.X) // 2])
        held_out = images.X[len(images.X) // 2 :]
        tiled = {size: np.resize(held_out, (size, *held_out.shape[1:])) for size in COST_SIZES}
        calls = {size: _checker(schema, tiled[size]) for size in COST_SIZES}
        medians = time_calls(calls, args.repeats)
        slowest = max(slowest, medians[COST_SIZES[-1]])
        cells = " | ".join(f"{medians[size] * 1e3:.3f}" for size in COST_SIZES)
        lines.append(f"| {images.name} | {cells} |")
    lines += [
        "",
        f"**Verdict**: at most {slowest * 1e3:.1f} ms for {COST_SIZES[-1]} images.",
    ]
    return "\n".join(lines)


# -- report --------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> str:
    """Run the benchmark, print the report and return it (markdown)."""
    started = time.perf_counter()
    sections = []

    def emit(text: str) -> None:
        print(text + "\n", flush=True)
        sections.append(text)

    emit(
        "# safekeras image drift guard: false alarms, detection, cost\n\n"
        + describe_environment()
        + f"\n- {args.splits} splits x {args.batches} batches per size; seed {args.seed}"
    )
    rng = np.random.default_rng(args.seed)
    image_sets = load_image_sets(args)
    emit(alarm_section(image_sets, args, rng)[0])
    emit(detection_section(image_sets, args, rng))
    emit(shape_section(image_sets))
    emit(cost_section(image_sets, args))
    quick_note = "Quick run: a smoke test only; too few batches to bound the rates."
    return finish_report(sections, started, quick_note, args)


def main(argv=None) -> None:
    args = parse_args(argv)
    prepare_keras()
    run(args)


if __name__ == "__main__":
    sys.exit(main())
