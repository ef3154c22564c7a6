"""Saved runs of the anchors benchmark: ``--json`` writes one, ``--from-json`` merges several.

A file holds one run of the CV (its options, contenders and per-fold scores) and what ran
it: the measured safekeras commit, the environment's package versions, and whether each
contender was warmed up before the first table. Files merge into one report when they split
a run by task or by contender (pytabkit's contenders run in an environment of their own),
or continue one another's repeats; :func:`load_json` says how.
"""

from __future__ import annotations

import json
import platform
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.anchor_contenders import ANCHORS, SAFEKERAS
from benchmarks.anchor_report import Row
from benchmarks.report import installed_versions

__all__ = ["RECORDED_PACKAGES", "SavedTask", "load_json", "names_of", "save_json"]

#: Versions each ``--json`` file records of the environment that ran it.
RECORDED_PACKAGES = ("scikit-learn", "tensorflow", "keras", "torch", "pytabkit")


@dataclass(frozen=True)
class SavedTask:
    """What the report needs of a task whose rows were read back from ``--json``."""

    name: str
    kind: str
    summary: str


def names_of(text: str | None) -> tuple[str, ...]:
    """The comma-separated names of an option (empty for None)."""
    return tuple(name.strip() for name in (text or "").split(",") if name.strip())


def save_json(path: str, results, args, skipped: list[str], total: int) -> None:
    """Write ``results`` (``(task, rows)`` pairs) and what ran them to ``path``.

    Parameters
    ----------
    path : str
    results : list of (task, list of Row)
    args : argparse.Namespace
        The run's options; ``code`` (the measured safekeras commit, None in a run without
        safekeras) and ``warmed_up`` (whether the run warmed its contenders up) are read too.
    skipped : list of str
        Tables skipped, with the reason.
    total : int
        The tables of the run, done or not.
    """
    tasks = [
        {
            "name": task.name,
            "kind": task.kind,
            "summary": task.summary,
            "rows": [
                {
                    "contender": r.contender,
                    "scores": r.scores,
                    "skipped": r.skipped,
                    "warnings": dict(r.warnings),
                }
                for r in rows
            ],
        }
        for task, rows in results
    ]
    options = {key: getattr(args, key) for key in ("folds", "repeats", "seed", "threads")}
    record = {
        "options": options,
        "contenders": list(args.contenders),
        "skipped": skipped,
        "total": total,
        "code": getattr(args, "code", None),
        "warmed_up": bool(getattr(args, "warmed_up", False)),
        # What ran the contenders: a run apart (pytabkit's) is another environment's.
        "packages": {
            "python": platform.python_version(),
            **dict(installed_versions(*RECORDED_PACKAGES)),
        },
        "tasks": tasks,
    }
    Path(path).write_text(json.dumps(record, indent=1), encoding="utf-8")


def load_json(paths: str, args):
    """The results saved by ``--json`` (comma-separated files merged), their options on ``args``.

    Runs split by task (say, the two largest tables in a second process) or by contender
    (pytabkit's, in an environment of their own) merge into one report: a contender already
    read for a task keeps its first rows, unless it did not run there (a row that says why)
    and a later file ran it. So a file listed first replaces a contender's rows of a later
    one (say, safekeras measured again at a later commit).

    Runs of further repeats merge too: files whose seeds continue one another (a stored run
    of seed 0, then ``--seed 1 --repeats 2``) are one run of the CV repeated, seed 0 and
    3 repeats, each row's folds in seed order. A contender that did not run on every repeat
    of a task keeps a row that says so: its folds would not pair with the others'.

    Besides the run's options, ``args`` gets ``code`` (the commits of the files whose
    safekeras rows were kept), ``runs_apart`` (the environments of files run without
    safekeras) and ``cold_start`` (contenders with rows from a run that did not warm up).

    Returns
    -------
    results : list of (SavedTask, list of Row)
    skipped : list of str
    total : int

    Raises
    ------
    SystemExit
        The files were run with different folds or threads, or with seeds that overlap or
        leave a gap: their pairs differ.
    """
    blocks: dict[tuple[int, int], list[tuple[str, dict]]] = {}
    for path in names_of(paths):
        record = json.loads(Path(path).read_text(encoding="utf-8"))
        options = record["options"]
        blocks.setdefault((options["seed"], options["repeats"]), []).append((path, record))
    loaded = [_Block.read(blocks[key]) for key in sorted(blocks)]
    repeats = _check_consecutive(loaded)
    merged = _stacked_repeats([block.tasks for block in loaded])
    skipped, names, total = [], set(), 0
    for block in loaded:
        skipped += [line for line in block.skipped if line not in skipped]
        names.update(block.names)
        total = max(total, block.total)
    for key, value in {**loaded[0].options, "repeats": repeats}.items():
        setattr(args, key, value)
    args.contenders = tuple(anchor.name for anchor in ANCHORS if anchor.name in names)
    # Split runs may have measured other code; a file whose safekeras rows were replaced, none.
    args.code = "; ".join(dict.fromkeys(code for block in loaded for code in block.codes))
    args.runs_apart = _runs_apart(file for key in sorted(blocks) for file in blocks[key])
    cold = {name for block in loaded for name in block.cold}
    args.cold_start = tuple(name for name in args.contenders if name in cold)
    return list(merged.values()), skipped, max(total, len(merged))


def _check_consecutive(loaded: list[_Block]) -> int:
    """The repeats of the blocks together; SystemExit unless their options and seeds agree."""
    first = loaded[0].options
    seed = first["seed"]
    for block in loaded:
        options = block.options
        same = {k: v for k, v in options.items() if k not in ("seed", "repeats")}
        if same != {k: v for k, v in first.items() if k not in ("seed", "repeats")}:
            raise SystemExit(f"{block.paths[0]} was run with {options}, not {first}")
        if options["seed"] != seed:
            raise SystemExit(
                f"{block.paths[0]} starts at seed {options['seed']}, not {seed}: the repeats "
                "of the files merged must follow one another, without overlap or gap"
            )
        seed += options["repeats"]
    return seed - first["seed"]


def _runs_apart(files) -> list[tuple[tuple[str, ...], dict]]:
    """The contenders of files run without safekeras, with each distinct environment's versions.

    ``files`` are ``(path, record)`` pairs; a file saved before environments were recorded
    adds nothing.
    """
    apart: dict[str, tuple[list[str], dict]] = {}
    for _, record in files:
        packages = record.get("packages")
        if SAFEKERAS in record["contenders"] or not packages:
            continue
        names, _ = apart.setdefault(json.dumps(packages, sort_keys=True), ([], packages))
        names += [name for name in record["contenders"] if name not in names]
    order = [anchor.name for anchor in ANCHORS]
    return [(tuple(sorted(names, key=order.index)), packages) for names, packages in apart.values()]


@dataclass
class _Block:
    """One run of the CV (one seed range) read from its files.

    ``codes`` are the commits of the files that gave a kept safekeras row; ``cold`` the
    contenders with a kept row from a file that did not warm up.
    """

    paths: list[str]
    options: dict
    tasks: dict = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    total: int = 0
    names: set = field(default_factory=set)
    codes: list[str] = field(default_factory=list)
    cold: set = field(default_factory=set)

    @classmethod
    def read(cls, files: list[tuple[str, dict]]) -> _Block:
        """Merge the ``(path, record)`` files of one seed range, the first run of each row kept."""
        block = cls([path for path, _ in files], files[0][1]["options"])
        source = {}  # (task, contender) -> (the record of the kept row, whether it ran)
        for path, record in files:
            if record["options"] != block.options:
                raise SystemExit(f"{path} was run with {record['options']}, not {block.options}")
            block.names.update(record["contenders"])
            block.skipped += [line for line in record["skipped"] if line not in block.skipped]
            block.total = max(block.total, record["total"])
            for task in record["tasks"]:
                saved = SavedTask(task["name"], task["kind"], task["summary"])
                _, rows = block.tasks.setdefault(task["name"], (saved, []))
                for r in task["rows"]:
                    warnings = Counter(r["warnings"])
                    row = Row(r["contender"], task["name"], r["scores"], r["skipped"], warnings)
                    if _keep_first_run(rows, row):
                        source[task["name"], row.contender] = (record, row.skipped is None)
        for (_, contender), (record, ran) in source.items():
            if contender == SAFEKERAS:
                block.codes.append(record.get("code") or "unknown")
            if ran and not record.get("warmed_up"):
                block.cold.add(contender)
        block.codes = list(dict.fromkeys(block.codes))
        return block


def _stacked_repeats(blocks: list[dict]) -> dict:
    """The tasks of several runs of the CV (in seed order) as one: each row's folds joined.

    A task or contender missing from a run, or not run there, is a row that did not run.
    """
    if len(blocks) == 1:
        return blocks[0]
    stacked = {}
    for name in dict.fromkeys(name for block in blocks for name in block):
        task = next(block[name][0] for block in blocks if name in block)
        contenders = [row.contender for block in blocks for row in block.get(name, ((), []))[1]]
        rows = []
        for contender in dict.fromkeys(contenders):
            same = [_row_of(block, name, contender) for block in blocks]
            row = next(other for other in same if other is not None)
            if any(other is None or other.skipped is not None for other in same):
                reasons = {other.skipped for other in same if other is not None and other.skipped}
                why = "; ".join(sorted(reasons)) or f"not run on every one of {len(blocks)} runs"
                rows.append(Row(contender, name, {}, why, Counter()))
                continue
            scores = {
                metric: [v for other in same for v in other.scores[metric]]
                for metric in row.scores
                if all(metric in other.scores for other in same)
            }
            warnings = sum((other.warnings for other in same), Counter())
            rows.append(Row(contender, name, scores, None, warnings))
        stacked[name] = (task, rows)
    return stacked


def _row_of(block: dict, task: str, contender: str) -> Row | None:
    rows = block.get(task, (None, []))[1]
    return next((row for row in rows if row.contender == contender), None)


def _keep_first_run(rows: list, row) -> bool:
    """Add ``row`` unless its contender has one; it replaces a row that did not run, in place.

    Returns whether ``row`` was kept.
    """
    known = [k for k, kept in enumerate(rows) if kept.contender == row.contender]
    if not known:
        rows.append(row)
        return True
    if rows[known[0]].skipped is not None and row.skipped is None:
        rows[known[0]] = row
        return True
    return False
