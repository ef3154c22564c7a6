"""The speed figures of the README and docs are written by the benchmarks, between markers.

``python -m benchmarks --speed`` runs the speed benchmarks with ``--write``; each writes its
tables between ``<!-- speed:NAME:start -->`` and ``<!-- speed:NAME:end -->`` in the files
``benchmarks/speed_docs.py`` names. These tests check the writer (nothing outside the markers
changes, missing markers are an error), that the committed docs carry every block and no
hand-typed figure outside them, and, end to end, that a ``--quick`` run fills every block of a
copy of the docs with well-formed tables and leaves the committed docs alone.
"""

import argparse
import re
import shutil
import subprocess
import sys

import benchmark_reports as reports
import pytest

run = reports.load_benchmark("run")  # puts the repository root on sys.path

from benchmarks import deploy_docs, speed_docs  # noqa: E402
from benchmarks.deploy_imports import (  # noqa: E402
    IMPORT_SKLEARN,
    ImportResult,
    format_import_table,
)
from benchmarks.deploy_memory import MEMORY_CASES, MemoryResult  # noqa: E402

ROOT = speed_docs.ROOT
BLOCK = re.compile(r"<!-- speed:([\w-]+):start -->.*?<!-- speed:\1:end -->", flags=re.S)
HEADLINE = re.compile(r"<!-- benchmarks:headline -->.*?<!-- /benchmarks:headline -->", flags=re.S)
# A number with a unit of time, memory or speed-up, as a hand-typed figure would be written.
FIGURE = re.compile(r"(?<![\w.])\d+(?:\.\d+)?\s?(?:ms|µs|s|seconds|MB|KB|GB|x|\u00d7)(?!\w)")
# Files whose speed figures must all be generated; docs/benchmarks.md is generated whole.
HAND_WRITTEN = (
    "README.md",
    "docs/training.md",
    "docs/inference.md",
    "docs/scaling.md",
    "docs/quickstart.md",
    "docs/deployment/index.md",
)


def docs_files():
    return sorted({relative for files in speed_docs.BLOCKS.values() for relative in files})


def copy_docs(tmp_path):
    """README.md and docs/ copied under ``tmp_path``: what a speed run may write into."""
    shutil.copy(ROOT / "README.md", tmp_path / "README.md")
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    return tmp_path


def outside_blocks(text):
    return BLOCK.sub("<block>", text)


def test_committed_docs_hold_every_block_once_per_file():
    for name, files in speed_docs.BLOCKS.items():
        start, end = speed_docs.markers(name)
        for relative in files:
            text = (ROOT / relative).read_text(encoding="utf-8")
            assert text.count(start) == text.count(end) == 1, (relative, name)
            assert text.index(start) < text.index(end), (relative, name)


# Typed figures that another benchmark measures but does not write yet (file -> fragments of the
# lines): each should become a generated block of its own script, then leave this list.
NOT_YET_GENERATED = {
    "docs/training.md": ("batches of 128 at 2 000 rows fitted 1.1-1.4x slower",),  # defaults study
}


def test_no_hand_typed_speed_figure_outside_the_blocks():
    for relative in HAND_WRITTEN:
        text = HEADLINE.sub("", outside_blocks((ROOT / relative).read_text(encoding="utf-8")))
        known = NOT_YET_GENERATED.get(relative, ())
        found = [
            line
            for line in text.splitlines()
            if FIGURE.search(line) and not any(fragment in line for fragment in known)
        ]
        assert found == [], (relative, found)


def test_write_block_replaces_only_between_the_markers(tmp_path):
    root = copy_docs(tmp_path)
    before = {relative: (root / relative).read_text(encoding="utf-8") for relative in docs_files()}
    written = speed_docs.write_block(root, "parallel", "| a |\n|---|\n| 1 |", "parallel", True)
    assert written == [root / relative for relative in speed_docs.BLOCKS["parallel"]]
    for relative, old in before.items():
        new = (root / relative).read_text(encoding="utf-8")
        assert outside_blocks(new) == outside_blocks(old), relative
        block = speed_docs.read_block(new, "parallel")
        if relative in speed_docs.BLOCKS["parallel"]:
            assert "| 1 |" in block and speed_docs.QUICK_TAG in block
            assert "`benchmarks/parallel.py`" in block and speed_docs.PLACEHOLDER not in block
            assert speed_docs.read_block(new, "training") == speed_docs.read_block(old, "training")
        else:
            assert new == old, relative
    # A second write finds its markers again and replaces the first.
    speed_docs.write_block(root, "parallel", "| b |\n|---|\n| 2 |", "parallel", False)
    block = speed_docs.read_block(
        (root / "docs/scaling.md").read_text(encoding="utf-8"), "parallel"
    )
    assert "| 2 |" in block and "| 1 |" not in block and speed_docs.QUICK_TAG not in block


def test_write_block_refuses_a_file_without_its_markers(tmp_path):
    root = copy_docs(tmp_path)
    page = root / "docs" / "scaling.md"
    page.write_text("# Scaling\n\nno markers here\n", encoding="utf-8")
    with pytest.raises(SystemExit, match=r"scaling\.md has no <!-- speed:parallel:start -->"):
        speed_docs.write_block(root, "parallel", "body", "parallel", False)
    assert page.read_text(encoding="utf-8") == "# Scaling\n\nno markers here\n"


def test_peer_table_names_the_fastest_peer_and_says_where_it_wins():
    rows = {
        "1 row": {"ours": 2e-3, "a": 1e-3, "b": 5e-3},
        "many": {"ours": 1.0, "a": 3.0, "b": 2.0},
    }
    table = speed_docs.peer_table("rows", rows, ("ours", "a", "b"), "ours", ("a", "b"))
    (parsed,) = reports.tables("# t\n" + table).values()
    assert [row["fastest peer"] for row in parsed] == ["a", "b"]
    assert [row["ours / fastest peer"] for row in parsed] == ["2.00x", "0.50x"]
    assert speed_docs.faster_than_ours(rows, "ours", "a") == (
        "a is faster than ours at: 1 row (1.00 ms against 2.00 ms)."
    )
    assert speed_docs.faster_than_ours(rows, "ours", "b") == "b is slower than ours in every row."


def test_memory_and_import_blocks_from_measurements(tmp_path):
    """The blocks a quick run does not measure (they need a fresh process per reading)."""
    root = copy_docs(tmp_path)
    memory = {
        kind: MemoryResult(case.label, [100.0, 101.0, 101.5, 101.5, 102.0])
        for kind, case in MEMORY_CASES.items()
    }
    memory["raw_clear"] = MemoryResult(MEMORY_CASES["raw_clear"].label, [], error="it crashed")
    measured = {"TensorFlow": {"one": {}, "many": {}, "memory": memory}}
    imports = {
        "`import safekeras`": ImportResult([0.004, 0.003]),
        IMPORT_SKLEARN: ImportResult([0.8], modules=900, sklearn=True),
        "`import tensorflow`": ImportResult([3.0], modules=4000, tensorflow=True),
    }
    args = argparse.Namespace(
        memory_warmups=3, memory_rows=500, memory_epochs=3, import_repeats=2, quick=False
    )
    table = format_import_table(imports)
    speed_docs.write_block(root, "memory", deploy_docs.memory_body(measured, args), "deploy", False)
    speed_docs.write_block(
        root, "imports", deploy_docs.imports_body(imports, table, args), "deploy", False
    )
    inference = (root / "docs" / "inference.md").read_text(encoding="utf-8")
    tables = reports.tables("# m\n" + speed_docs.read_block(inference, "memory"))
    (rows,) = tables.values()
    expected = ["-" if kind == "raw_clear" else "0.50" for kind in MEMORY_CASES]
    assert [row["MB per fit"] for row in rows] == expected
    assert rows[3]["fits"] == "failed" and rows[0]["fits"] == "4"
    assert rows[0]["MB per fit, second half"] == "0.25"
    imports_block = speed_docs.read_block(inference, "imports")
    assert "| `import safekeras` | 3.50 ms |" in imports_block
    assert "Statements that load TensorFlow: `import tensorflow`." in imports_block


def test_a_quick_speed_run_needs_a_root_of_its_own():
    with pytest.raises(SystemExit):
        run.parse_args(["--speed", "--quick"])
    args = run.parse_args(["--speed"])
    assert args.speed and args.root == ROOT


@pytest.mark.slow
def test_quick_speed_run_fills_every_block_of_a_copy(tmp_path):
    root = copy_docs(tmp_path)
    committed = {relative: (ROOT / relative).read_bytes() for relative in docs_files()}
    before = {relative: (root / relative).read_text(encoding="utf-8") for relative in docs_files()}
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--speed", "--quick", "--root", str(root)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert speed_docs.unfilled(root, speed_docs.QUICK_SKIPS) == []
    for relative, old in before.items():
        new = (root / relative).read_text(encoding="utf-8")
        assert outside_blocks(new) == outside_blocks(old), relative  # nothing else touched
        for name, files in speed_docs.BLOCKS.items():
            if relative not in files or name in speed_docs.QUICK_SKIPS:
                continue
            block = speed_docs.read_block(new, name)
            assert speed_docs.QUICK_TAG in block, (relative, name)
            if name == "latency-summary":  # a sentence, no table
                assert "`predict_proba`" in block and " ms" in block
                continue
            (rows,) = reports.tables("# t\n" + block).values()  # one well-formed table
            assert rows and all(reports.numbers(row[list(row)[1]]) for row in rows), name
    for relative, content in committed.items():
        assert (ROOT / relative).read_bytes() == content, f"the quick run wrote into {relative}"
