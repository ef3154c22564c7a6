"""Which drifts the input schema detects, for the drift benchmark.

Part of :mod:`benchmarks.drift`: the drift scenarios (scaled, shifted and unseen inputs,
each in variants), one detection run over batches of each size, and its table, verdict and
examples.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer, load_wine

from benchmarks.datasets import BREAST_CANCER, DIGITS, MIXED, DriftDataset


@dataclass(frozen=True)
class Variant:
    """One way of corrupting a batch; ``column`` is what a finding must name (None: any)."""

    column: object
    alter: Callable[[object], object]


@dataclass(frozen=True)
class Scenario:
    name: str
    dataset: str
    variants: tuple[Variant, ...]


def scale_column(j, factor):
    def alter(batch):
        batch = batch.copy()
        batch[:, j] = batch[:, j] * factor
        return batch

    return Variant(j, alter)


def frame_column(name, value):
    def alter(batch):
        batch = batch.copy()
        batch[name] = value(batch[name])
        return batch

    return Variant(name, alter)


def unseen_in_one_row(batch):
    batch = batch.copy()
    batch.iloc[0, batch.columns.get_loc("region")] = UNSEEN_REGION
    return batch


def make_scenarios(datasets: dict[str, DriftDataset]) -> list[Scenario]:
    return [
        *digits_scenarios(),
        *breast_cancer_scenarios(datasets[BREAST_CANCER].X),
        *wine_and_mixed_scenarios(),
    ]


def digits_scenarios() -> list[Scenario]:
    """Pixels fed on another scale than the one trained on."""
    return [
        Scenario(
            "digits: trained on pixels/16 (0-1), fed raw pixels (0-16)",
            DIGITS,
            (Variant(None, lambda b: b * 16.0),),
        ),
        Scenario(
            "digits: trained on 0-1 pixels, fed 0-255 pixels",
            DIGITS,
            (Variant(None, lambda b: b * 255.0),),
        ),
    ]


def breast_cancer_scenarios(cancer: np.ndarray) -> list[Scenario]:
    """One column or every column rescaled or sign-flipped."""
    names = list(load_breast_cancer().feature_names)
    radius, area, concavity = (
        names.index(n) for n in ("mean radius", "mean area", "mean concavity")
    )
    positive = [j for j in range(cancer.shape[1]) if cancer[:, j].min() > 0]
    return [
        Scenario("breast cancer: 'mean radius' x1000", BREAST_CANCER, (scale_column(radius, 1e3),)),
        Scenario(
            "breast cancer: every column x1000, one at a time (mean of 30)",
            BREAST_CANCER,
            tuple(scale_column(j, 1e3) for j in range(cancer.shape[1])),
        ),
        Scenario(
            "breast cancer: 'mean radius' /1000", BREAST_CANCER, (scale_column(radius, 1e-3),)
        ),
        Scenario(
            "breast cancer: 'mean concavity' /1000 (training range starts at 0)",
            BREAST_CANCER,
            (scale_column(concavity, 1e-3),),
        ),
        Scenario(
            "breast cancer: every column /1000, one at a time (mean of 30)",
            BREAST_CANCER,
            tuple(scale_column(j, 1e-3) for j in range(cancer.shape[1])),
        ),
        Scenario(
            "breast cancer: 'mean area' sign-flipped", BREAST_CANCER, (scale_column(area, -1),)
        ),
        Scenario(
            f"breast cancer: every strictly positive column sign-flipped (mean of {len(positive)})",
            BREAST_CANCER,
            tuple(scale_column(j, -1) for j in positive),
        ),
    ]


def wine_and_mixed_scenarios() -> list[Scenario]:
    """A sign flip, a unit change, a column all missing and an unseen category."""
    alcohol = list(load_wine().feature_names).index("alcohol")
    return [
        Scenario("wine: 'alcohol' sign-flipped", "wine", (scale_column(alcohol, -1),)),
        Scenario(
            "mixed frame: 'income' in thousands (/1000)",
            MIXED,
            (frame_column("income", lambda c: c / 1000.0),),
        ),
        Scenario(
            "mixed frame: 'income' all missing (NaN)",
            MIXED,
            (frame_column("income", lambda c: np.nan),),
        ),
        Scenario(
            f"mixed frame: one row's 'region' unseen ({UNSEEN_REGION!r})",
            MIXED,
            (Variant("region", unseen_in_one_row),),
        ),
    ]


@dataclass
class DetectionResult:
    scenario: Scenario
    detected: dict[int, int] = field(default_factory=lambda: dict.fromkeys(DETECT_SIZES, 0))
    checked: dict[int, int] = field(default_factory=lambda: dict.fromkeys(DETECT_SIZES, 0))
    kinds: Counter = field(default_factory=Counter)
    example: str | None = None

    def rate(self, size: int) -> float:
        return self.detected[size] / self.checked[size]


def detect(
    scenario: Scenario, dataset: DriftDataset, args, rng: np.random.Generator
) -> DetectionResult:
    from safekeras.schema import InputSchema

    result = DetectionResult(scenario)
    for _ in range(args.detect_splits):
        train, test = split(dataset.n_rows, rng)
        schema = InputSchema.from_training(take(dataset.X, train))
        for variant in scenario.variants:
            for size in DETECT_SIZES:
                for rows in batches(test, size, args.batches, rng):
                    report = schema.check(variant.alter(take(dataset.X, rows)))
                    naming = [
                        f
                        for f in report.findings
                        if variant.column is None or variant.column in f.columns
                    ]
                    result.checked[size] += 1
                    result.detected[size] += bool(naming)
                    result.kinds.update({f.kind for f in naming})
                    if naming and result.example is None:
                        result.example = naming[0].message
    return result


def format_detection_table(results: list[DetectionResult]) -> str:
    lines = [
        "| scenario | batches per size | "
        + " | ".join(rows_label(size) for size in DETECT_SIZES)
        + " | finding kinds (batches) |",
        "|---|---:|" + "---:|" * len(DETECT_SIZES) + "---|",
    ]
    for r in results:
        cells = " | ".join(f"{r.rate(size):.3f}" for size in DETECT_SIZES)
        lines.append(
            f"| {r.scenario.name} | {r.checked[DETECT_SIZES[0]]} | {cells} "
            f"| {kinds_text(r.kinds)} |"
        )
    return "\n".join(lines)


def detection_verdict(results: list[DetectionResult]) -> str:
    parts = []
    for size in DETECT_SIZES:
        full = sum(r.rate(size) == 1.0 for r in results)
        parts.append(f"{full}/{len(results)} at {rows_label(size)}")
    missed = [r.scenario.name for r in results if r.rate(DETECT_SIZES[0]) < 1.0]
    return (
        f"**Verdict**: scenarios detected in every batch: {', '.join(parts)}. Not always caught "
        f"in a single row: {'; '.join(missed) if missed else 'none'}."
    )


def detection_examples(results: list[DetectionResult]) -> str:
    lines = ["Example message per scenario (first detected batch):", ""]
    for r in results:
        if r.example is not None:
            lines.append(f"- {r.scenario.name}: {r.example}")
    return "\n".join(lines)


TEST_SHARE = 0.3


DETECT_SIZES = (1, 10, 100)


UNSEEN_REGION = "atlantis"


def take(X, rows):
    return X.iloc[rows] if isinstance(X, pd.DataFrame) else X[rows]


def split(n_rows: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A random 70/30 split of ``range(n_rows)``: (train, test)."""
    order = rng.permutation(n_rows)
    n_test = round(TEST_SHARE * n_rows)
    return order[n_test:], order[:n_test]


def batches(test: np.ndarray, size: int, count: int, rng: np.random.Generator):
    """``count`` random batches of ``size`` held-out rows (capped at the held-out size)."""
    size = min(size, len(test))
    for _ in range(count):
        yield rng.choice(test, size=size, replace=False)


def kinds_text(kinds: Counter) -> str:
    if not kinds:
        return "none"
    return ", ".join(f"{kind} {count}" for kind, count in kinds.most_common())


def rows_label(size: int) -> str:
    """A batch size as a table heading: "1 row", "30 rows"."""
    return f"{size} row{'s' if size > 1 else ''}"
