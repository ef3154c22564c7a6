"""The deployment benchmark's figures as the docs show them, for ``deploy.py --write``.

Part of :mod:`benchmarks.deploy`: the latency table of docs/inference.md (the strongest fair
peer of every row named, and where the MLP pipeline is faster said plainly), the README's
one-line summary, and the memory and import tables, each written between its
``speed:NAME`` markers by :func:`benchmarks.speed_docs.write_block`.
"""

from __future__ import annotations

from benchmarks.deploy_memory import MEMORY_REFERENCE, MemoryResult
from benchmarks.deploy_models import MLP_PROBA, RAW_CALL, RAW_ON_BATCH, RAW_PREDICT, SK_PROBA
from benchmarks.report import format_seconds
from benchmarks.speed_docs import faster_than_ours, peer_table, write_block

LATENCY_COLUMNS = (SK_PROBA, MLP_PROBA, RAW_ON_BATCH, RAW_CALL, RAW_PREDICT)
LATENCY_PEERS = (MLP_PROBA, RAW_ON_BATCH, RAW_CALL)
INPUT_NAMES = {"numpy": "numpy", "frame": "DataFrame"}


def latency_rows(measured: dict, args) -> dict[str, dict[str, float]]:
    """Row label -> medians, for every backend, batch size and input kind."""
    rows = {}
    for title, found in measured.items():
        for key, count in (("one", 1), ("many", args.predict_rows)):
            for kind, seconds in found[key].items():
                rows[f"{title}, {count} row{'s' * (count > 1)}, {INPUT_NAMES[kind]}"] = seconds
    return rows


def latency_body(measured: dict, args) -> str:
    rows = latency_rows(measured, args)
    return "\n".join(
        [
            peer_table("backend, rows, input", rows, LATENCY_COLUMNS, SK_PROBA, LATENCY_PEERS),
            "",
            f"Median of {args.calls_one} (1 row) and {args.calls_many} ({args.predict_rows} "
            "rows) calls per contender, round-robin, after warm-up calls. numpy: 20 numbers; "
            "DataFrame: 19 numbers and a string category. Every raw Keras row includes the "
            "user's own fitted transform (`StandardScaler`, or a `ColumnTransformer` with a "
            "`OneHotEncoder`), as safekeras includes its checks and preprocessing. The fair "
            "peers are the MLP pipeline, `predict_on_batch` and `model(x)`; `model.predict` "
            "is shown because tutorials use it, but it is built for large data sets (a data "
            "adapter and callbacks on every call) and is no comparison. "
            + faster_than_ours(rows, SK_PROBA, MLP_PROBA),
        ]
    )


def summary_body(measured: dict) -> str:
    """The README's sentence: 1-row latency against the fast peers, memory per refit."""
    title, found = next(iter(measured.items()))
    one = found["one"]["numpy"]
    memory = found["memory"]
    text = (
        f"On one numpy row, `predict_proba` with every check takes "
        f"{format_seconds(one[SK_PROBA])} on {title}; the MLP pipeline takes "
        f"{format_seconds(one[MLP_PROBA])}, raw Keras `predict_on_batch` "
        f"{format_seconds(one[RAW_ON_BATCH])} and `model(x)` {format_seconds(one[RAW_CALL])} "
        "(each with its scaler)."
    )
    if one[MLP_PROBA] < one[SK_PROBA]:
        text += " The MLP pipeline is faster than safekeras on one row."
    refit, raw = memory.get("refit"), memory.get(MEMORY_REFERENCE)
    if refit and raw and not (refit.error or raw.error):
        # The RSS can shrink between readings (the allocator returns pages): say so in words.
        grows = f"{refit.per_fit:.2f} MB" if refit.per_fit >= 0.005 else "nothing measurable"
        text += (
            f" Refitting one estimator grows memory by {grows} per fit (raw Keras: "
            f"{raw.per_fit:.2f} MB)."
        )
    return text


def memory_body(measured: dict, args) -> str:
    lines = [
        "| backend | measurement | fits | MB per fit | MB per fit, second half |",
        "|---|---|---:|---:|---:|",
    ]
    for title, found in measured.items():
        for result in found["memory"].values():
            if result.error:
                lines.append(f"| {title} | {result.label} | failed | - | - |")
                continue
            lines.append(
                f"| {title} | {result.label} | {result.fits} | {result.per_fit:.2f} "
                f"| {result.per_fit_second_half:.2f} |"
            )
    return "\n".join(
        [
            *lines,
            "",
            "Growth of the resident set size after `gc.collect()`, each row in a fresh process "
            f"after {args.memory_warmups} warm-up fit(s), {args.memory_rows} rows, "
            f"{args.memory_epochs} epoch(s) per fit. The grid search (b) and raw Keras over "
            "the same candidates (e) build a new architecture for most fits; the refits (a, "
            "c, d) reuse one. A cache that fills "
            "once shows in the first half only, a leak in both.",
        ]
    )


def imports_body(results: dict, table: str, args) -> str:
    loads = [label for label, r in results.items() if r.tensorflow]
    return "\n".join(
        [
            table,
            "",
            "Each statement in a fresh `python -c` process, timed around the statement only "
            f"(interpreter start-up excluded); median of {args.import_repeats} process(es). "
            f"Statements that load TensorFlow: {', '.join(loads) or 'none'}.",
        ]
    )


def as_json(found: dict) -> dict:
    """One backend's measurements, as the JAX process hands them back (JSON)."""
    memory = {kind: vars(result) for kind, result in found["memory"].items()}
    return {"one": found["one"], "many": found["many"], "memory": memory}


def from_json(found: dict) -> dict:
    memory = {kind: MemoryResult(**result) for kind, result in found["memory"].items()}
    return {"one": found["one"], "many": found["many"], "memory": memory}


def write_all(root: str, measured: dict, imports: tuple[dict, str] | None, args) -> None:
    """Every deployment block of the docs, from ``measured`` (backend title -> measurements);
    the memory and import blocks only when those were measured (not ``--skip``-ped)."""
    blocks = {
        "latency": latency_body(measured, args),
        "latency-summary": summary_body(measured),
    }
    if all(found["memory"] for found in measured.values()):
        blocks["memory"] = memory_body(measured, args)
    if imports is not None:
        blocks["imports"] = imports_body(*imports, args)
    for name, body in blocks.items():
        write_block(root, name, body, "deploy", args.quick)
