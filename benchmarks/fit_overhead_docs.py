"""The ``speed:fit-overhead`` block of ``docs/training.md``: where a warm default fit's time goes.

Part of :mod:`benchmarks.fit_overhead`, which measures the stages and writes the block with
``--write``. One column per size: the whole fit, its epochs (one compiled call), the fixed cost
and its stages, the fixed cost less the classifier's logistic regression, and the time per
epoch beside the same epochs written as plain TensorFlow ops. The sentences under the table
read each target of issue 19 off the numbers, size by size.
"""

from __future__ import annotations

__all__ = ["FIXED_TARGET", "PER_EPOCH_TARGET", "docs_body"]

# Issue 19's targets for a fit of an architecture already traced in the process, in seconds.
FIXED_TARGET = 0.010
PER_EPOCH_TARGET = 0.0002


def docs_body(measured: dict, args) -> str:
    """The table and its reading, for ``speed_docs.write_block``.

    Parameters
    ----------
    measured : dict
        Each size ``(rows, features)`` -> ``{"defaults": summary, "per_epoch": (slope,
        arithmetic)}``: the summary of :func:`benchmarks.fit_overhead.stage_breakdown`, and
        the seconds per epoch of safekeras and of the plain TensorFlow ops (None on JAX).
    args : argparse.Namespace
        The run's ``repeats``, ``short`` and ``long``.

    Returns
    -------
    str
        Markdown, without the block's markers.
    """
    sizes = list(measured)
    summaries = [measured[size]["defaults"] for size in sizes]
    slopes = [measured[size]["per_epoch"] for size in sizes]
    # The stages under 0.05 ms at every size are counted in the last one, "other".
    *named, other = summaries[0]["stages"]
    shown = [label for label in named if any(s["stages"][label] >= 5e-5 for s in summaries)]
    rest = [
        s["stages"][other] + sum(s["stages"][label] for label in named if label not in shown)
        for s in summaries
    ]
    lines = [
        "| ms (median of warm default fits) | "
        + " | ".join(f"{rows} x {features}" for rows, features in sizes)
        + " |",
        "|---|" + "---:|" * len(sizes),
        _row("**whole fit**", [f"**{_ms(s['whole'])}** ({s['epochs']} epochs)" for s in summaries]),
        _row("the epochs (one compiled call)", [_ms(s["epochs_call"]) for s in summaries]),
        _row(
            "**fixed cost** (the fit minus its epochs)",
            [f"**{_ms(s['fixed'])}**" for s in summaries],
        ),
        *(
            _row(f"&nbsp;&nbsp;{label}", [_ms(s["stages"][label]) for s in summaries])
            for label in shown
        ),
        _row(f"&nbsp;&nbsp;{other}", [_ms(seconds) for seconds in rest]),
        _row(
            "fixed cost less the logistic regression",
            [_ms(s["fixed_less_logistic"]) for s in summaries],
        ),
        _row("per epoch", [f"{slope * 1e3:.2f}" for slope, _ in slopes]),
    ]
    if all(floor is not None for _, floor in slopes):
        lines.append(
            _row(
                "per epoch beyond the same epochs in plain TensorFlow ops",
                [f"{(slope - floor) * 1e3:.2f}" for slope, floor in slopes],
            )
        )
    return "\n".join([*lines, "", _reading(sizes, summaries, slopes, args)])


def _row(label: str, cells: list[str]) -> str:
    return "| " + " | ".join([label, *cells]) + " |"


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f}"


def _where(sizes, flags) -> str:
    """A target's verdict by size: met at every size, at none, or at some and not others."""
    named = [
        (f"{rows} x {features}", ok) for (rows, features), ok in zip(sizes, flags, strict=True)
    ]
    met = [name for name, ok in named if ok]
    missed = [name for name, ok in named if not ok]
    if not missed:
        return "met at every size"
    if not met:
        return "not met"
    return f"met at {', '.join(met)}, not at {', '.join(missed)}"


def _reading(sizes, summaries, slopes, args) -> str:
    """The sentences under the table: the protocol, and each target met or not, by size."""
    fixed = _where(sizes, [s["fixed"] <= FIXED_TARGET for s in summaries])
    less = _where(sizes, [s["fixed_less_logistic"] <= FIXED_TARGET for s in summaries])
    epoch = _where(
        sizes, [floor is None or slope - floor <= PER_EPOCH_TARGET for slope, floor in slopes]
    )
    return (
        "`SafeKerasClassifier(random_state=0)` on the default-path data above, each fit's "
        f"stages timed, median of {args.repeats} fits after a warm-up fit of the same "
        "architecture (its training function already traced). The epochs are one compiled "
        "call; everything else is the fit's fixed cost, by stage. The logistic average "
        '(`linear_baseline="auto"`, '
        "[defaults](defaults.md#adopted-for-the-classifier-a-logistic-average)) fits a "
        "scikit-learn `LogisticRegression` beside the network, for the ranking and calibration "
        "it adds on nearly linear tables; `linear_baseline=None` leaves it out. Per epoch: the "
        "slope of "
        f"the training call's time between {args.short} and {args.long} epochs, early "
        "stopping off, beside the same epochs written as plain TensorFlow ops (the arithmetic "
        f"an epoch cannot avoid). Targets of a warm fit: a fixed cost of at most "
        f"{FIXED_TARGET * 1e3:.0f} ms, {fixed} ({less} without the logistic regression); at "
        f"most {PER_EPOCH_TARGET * 1e3:.1f} ms per epoch beyond the arithmetic, {epoch}."
    )
