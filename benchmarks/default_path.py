"""The default fit, as users run it: ``SafeKerasClassifier()`` against scikit-learn's MLP pipelines.

What is measured
----------------
The protocol of the default-path issue. Data: ``make_classification(n, d,
weights=[0.93], flip_y=0.01, random_state=seed)``, a stratified 75 % to fit
on and 25 % to score on, at 600 x 30, 3000 x 10, 20000 x 20 and 100000 x 20
(``--sizes``). Contenders, each at its defaults as a new user would write it:

* **safekeras**: ``SafeKerasClassifier(random_state=seed)``: early stopping on
  its validation split, the threshold balanced accuracy asks for (the positive
  class's training share), the ``"auto"`` preprocessing;
* **MLP pipeline**: ``make_pipeline(StandardScaler(), MLPClassifier(
  early_stopping=True, random_state=seed))``;
* **tuned MLP pipeline**: the same inside ``TunedThresholdClassifierCV(...,
  scoring="balanced_accuracy")``, scikit-learn's way to tune a threshold.

In one process, per size: one warm-up fit per contender, then ``--repeats``
(3) timed fits; the median is reported, with the balanced accuracy of the last
fit on the held-out 25 %. The first safekeras fit of the process (a cold trace
of its training function) is reported on its own line. TensorFlow's import is
not timed. The targets are the issue's: safekeras at most 1.0x the MLP pipeline
at 3000 x 10 and larger, and at most 1.0x the tuned MLP pipeline (and 5x the
plain one) at 600 x 30.

Run from the repository root::

    python benchmarks/default_path.py                  # about 6 minutes on 2 cores
    KERAS_BACKEND=jax python benchmarks/default_path.py
    python benchmarks/default_path.py --quick          # smoke run
    python benchmarks/default_path.py --write          # also the docs' speed:default-path tables
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as `python benchmarks/default_path.py`, Python puts benchmarks/ itself on sys.path, not the
# repository root that the `benchmarks.` imports below need; `python -m benchmarks.default_path`
# (a package set) needs nothing.
if not __package__:
    _ROOT = str(Path(__file__).resolve().parents[1])
    if _ROOT not in sys.path:
        sys.path.insert(0, _ROOT)

import argparse
import statistics
import time
import warnings
from dataclasses import dataclass, field

from sklearn.metrics import balanced_accuracy_score

from benchmarks.contenders import make_default_path_contender
from benchmarks.datasets import make_default_path_split
from benchmarks.report import fill_defaults, prepare_keras, quiet_tensorflow_logger
from benchmarks.speed_docs import add_write_option, write_block

SIZES = [(600, 30), (3000, 10), (20000, 20), (100000, 20)]
QUICK_SIZES = [(300, 10)]
CONTENDERS = ("safekeras", "MLP pipeline", "tuned MLP pipeline")


@dataclass
class Result:
    """One contender at one size: fit times, held-out balanced accuracy, what the fit did."""

    seconds: list = field(default_factory=list)
    balanced_accuracy: float = float("nan")
    detail: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def _detail(fitted) -> str:
    """What a safekeras fit did: epochs and the networks it trained."""
    search = getattr(fitted, "threshold_search_", None)
    networks = 1 + (search.n_folds if search is not None and search.n_folds else 0)
    return f"{fitted.n_epochs_} epochs, {networks} network{'s' if networks > 1 else ''}"


def measure(size, args) -> dict[str, Result]:
    """Warm up each contender once at this size, then time ``args.repeats`` fits."""
    X_train, X_test, y_train, y_test = make_default_path_split(*size, args.seed)
    results = {}
    for name in CONTENDERS:
        # Warnings are recorded, not printed: the table says which ones the last fit gave.
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            make_default_path_contender(name, args.seed).fit(X_train, y_train)  # warm-up: not timed
            result = Result()
            for _ in range(args.repeats):
                del record[:]
                estimator = make_default_path_contender(name, args.seed)
                started = time.perf_counter()
                estimator.fit(X_train, y_train)
                result.seconds.append(time.perf_counter() - started)
        result.balanced_accuracy = balanced_accuracy_score(y_test, estimator.predict(X_test))
        if name == "safekeras":
            warned = sorted({item.category.__name__ for item in record})
            result.detail = _detail(estimator) + "".join(f", {w}" for w in warned)
        results[name] = result
    return results


def cold_first_fit(args) -> float:
    """Seconds of the first safekeras fit in this process (it traces the training function)."""
    X_train, _, y_train, _ = make_default_path_split(*args.sizes[0], args.seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the timed fits of this size record them
        started = time.perf_counter()
        make_default_path_contender("safekeras", args.seed).fit(X_train, y_train)
        return time.perf_counter() - started


def target(size, ratio_plain: float, ratio_tuned: float) -> str:
    """The issue's target for this size, and whether it is met."""
    if size == (600, 30):
        met = ratio_tuned <= 1.0 and ratio_plain <= 5.0
        return f"<= 1.0x tuned and <= 5x plain: {'met' if met else 'not met'}"
    if size[0] >= 3000:
        return f"<= 1.0x plain: {'met' if ratio_plain <= 1.0 else 'not met'}"
    return "(no target)"


def row(size, results: dict[str, Result]) -> str:
    ours, plain, tuned = (results[name] for name in CONTENDERS)
    ratio_plain, ratio_tuned = ours.median / plain.median, ours.median / tuned.median
    accuracies = " / ".join(f"{results[name].balanced_accuracy:.3f}" for name in CONTENDERS)
    return (
        f"| {size[0]}x{size[1]} | {ours.median:.3f} s ({ours.detail}) | {plain.median:.3f} s "
        f"| {tuned.median:.3f} s | {ratio_plain:.2f}x / {ratio_tuned:.2f}x | {accuracies} "
        f"| {target(size, ratio_plain, ratio_tuned)} |"
    )


def run(args) -> str:
    import keras

    cold = cold_first_fit(args)
    lines = [
        f"## Default fit, {keras.backend.backend()} backend",
        "",
        f"Median of {args.repeats} fits after one warm-up fit per contender; 75 % of the rows "
        "fitted, balanced accuracy on the other 25 %.",
        "",
        "| data | `SafeKerasClassifier()` | MLP pipeline | tuned MLP pipeline "
        "| ratio to MLP / to tuned MLP | balanced accuracy (safekeras / MLP / tuned MLP) "
        "| target |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    measured = {}
    for size in args.sizes:
        measured[size] = measure(size, args)
        lines.append(row(size, measured[size]))
        print(lines[-1], flush=True)
    lines += ["", f"First safekeras fit in the process (cold trace): {cold:.2f} s."]
    if args.write:
        block = docs_block(keras.backend.backend())
        write_block(args.write, block, docs_body(measured, cold, args), "default_path", args.quick)
    return "\n".join(lines)


# -- the generated docs block (README.md, docs/training.md, docs/benchmarks.md) ---------------

# The speed_docs block each backend's table goes to: the README's headline is TensorFlow's.
DOCS_BLOCKS = {"tensorflow": "default-path", "jax": "default-path-jax"}


def docs_block(backend: str) -> str:
    """The name of the block the table of ``backend`` is written to.

    Raises
    ------
    SystemExit
        No docs block shows that backend's table.
    """
    if backend not in DOCS_BLOCKS:
        raise SystemExit(
            f"--write: the docs show the default fit on {' and '.join(DOCS_BLOCKS)}, not on "
            f"{backend!r}; run without --write, or with KERAS_BACKEND set to one of those."
        )
    return DOCS_BLOCKS[backend]


def docs_row(size, results: dict[str, Result]) -> str:
    """One size: each contender's median fit and accuracy, safekeras's ratio to each peer."""
    ours, plain, tuned = (results[name] for name in CONTENDERS)
    cells = [f"{size[0]} x {size[1]}", f"{ours.median:.2f} s ({ours.detail})"]
    cells += [f"{peer.median:.2f} s" for peer in (plain, tuned)]
    cells += [f"{ours.median / peer.median:.2f}x" for peer in (plain, tuned)]
    cells.append(" / ".join(f"{results[name].balanced_accuracy:.3f}" for name in CONTENDERS))
    return "| " + " | ".join(cells) + " |"


def slower_than(measured: dict) -> str:
    """The sizes where a peer fits faster than safekeras, said plainly."""
    slower = [
        f"{size[0]} x {size[1]} ({results['safekeras'].median / results[peer].median:.2f}x "
        f"the {peer})"
        for size, results in measured.items()
        for peer in CONTENDERS[1:]
        if results["safekeras"].median > results[peer].median
    ]
    if not slower:
        return "safekeras's default fit is the fastest of the three at every size."
    return "A peer fits faster than safekeras's default at: " + "; ".join(slower) + "."


def docs_body(measured: dict, cold: float, args) -> str:
    """The default-path table and what it says, for ``speed_docs.write_block``."""
    import keras

    first = args.sizes[0]
    warm = measured[first]["safekeras"].median
    return "\n".join(
        [
            "| data (rows x features) | `SafeKerasClassifier()` | MLP pipeline "
            "| MLP pipeline + tuned threshold | safekeras / MLP | safekeras / tuned MLP "
            "| balanced accuracy (safekeras / MLP / tuned MLP) |",
            "|---|---:|---:|---:|---:|---:|---|",
            *(docs_row(size, results) for size, results in measured.items()),
            "",
            f"Every contender at its defaults, as a new user runs it, on "
            f"`make_classification(n, d, weights=[0.93], flip_y=0.01)`: fitted on 75 % of the "
            f"rows, balanced accuracy on the other 25 %; {keras.backend.backend()} backend, "
            f"median of {args.repeats} fit(s) after one warm-up fit each, so the network's "
            "training function is already traced. The MLP pipeline is "
            "`StandardScaler` + `MLPClassifier(early_stopping=True)`; the tuned one wraps it "
            'in `TunedThresholdClassifierCV(scoring="balanced_accuracy")`. '
            + slower_than(measured),
            "",
            f"The first fit in a fresh process also traces the training function: {cold:.2f} s "
            f"at {first[0]} x {first[1]}, against {warm:.2f} s once traced.",
        ]
    )


def parse_sizes(text: str) -> list[tuple[int, int]]:
    return [tuple(int(part) for part in size.split("x")) for size in text.split(",")]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=parse_sizes, default=None, help="e.g. 600x30,3000x10")
    parser.add_argument("--repeats", type=int, default=None, help="3; --quick: 1")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="one small size, one repeat")
    add_write_option(
        parser, ("default-path", "default-path-jax"), "; the jax block under KERAS_BACKEND=jax"
    )
    args = parser.parse_args(argv)
    fill_defaults(
        args, quick={"sizes": QUICK_SIZES, "repeats": 1}, full={"sizes": SIZES, "repeats": 3}
    )
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    prepare_keras()
    with quiet_tensorflow_logger():
        report = run(args)
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
