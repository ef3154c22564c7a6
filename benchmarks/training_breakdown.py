"""Where a training benchmark's fit spends its time: outside the epochs, the first, the rest.

Part of :mod:`benchmarks.training`: a Keras callback that times each epoch (epoch hooks only,
so safekeras's compiled engine still runs), the instrumented fits and their table.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from benchmarks.report import format_seconds, timed


def epoch_timer():
    """A Keras callback that records the wall clock of each epoch (epoch hooks only)."""
    import keras

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.epochs: list[float] = []
            self._started = 0.0

        def __deepcopy__(self, memo):
            return self  # safekeras copies callbacks per fit; keep the one that records

        def on_epoch_begin(self, epoch, logs=None):
            self._started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.epochs.append(time.perf_counter() - self._started)

    return EpochTimer()


@dataclass(frozen=True)
class Breakdown:
    name: str
    total: float
    epochs: list[float]

    @property
    def outside(self) -> float:
        return self.total - sum(self.epochs)

    @property
    def later(self) -> float | None:
        return statistics.median(self.epochs[1:]) if len(self.epochs) > 1 else None


def time_breakdown(fits: dict[str, Callable]) -> list[Breakdown]:
    """Run each ``fits[name](callback)`` once with an epoch timer; what each fit spent where."""
    rows = []
    for name, fit in fits.items():
        timer = epoch_timer()
        gc.collect()
        total, _ = timed(lambda fit=fit, timer=timer: fit(timer))
        rows.append(Breakdown(name, total, list(timer.epochs)))
    return rows


def format_breakdown(rows: list[Breakdown]) -> str:
    lines = [
        "| contender | fit | outside the epochs | first epoch | later epochs (median) "
        "| first minus later |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        later = "-" if r.later is None else format_seconds(r.later)
        extra = "-" if r.later is None else format_seconds(r.epochs[0] - r.later)
        lines.append(
            f"| {r.name} | {format_seconds(r.total)} | {format_seconds(r.outside)} "
            f"| {format_seconds(r.epochs[0])} | {later} | {extra} |"
        )
    return "\n".join(lines)


def breakdown_section(where: str, rows: list[Breakdown]) -> str:
    """The report's "Where the time goes" section; ``where`` names the backend and size."""
    return "\n".join(
        [
            f"### Where the time goes ({where})\n",
            "One more fit per Keras contender with a callback timing its epochs. Outside "
            "the epochs: validation, preprocessing, building, compiling, data set-up. "
            "First minus later: the tracing and compiling this fit paid (about 0 when it "
            "reused the program compiled by an earlier fit of the same size).\n",
            format_breakdown(rows),
        ]
    )
