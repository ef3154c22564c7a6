"""Smoke test of benchmarks/training.py: it runs end to end and fills every cell."""

import importlib.util
import math
import re
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "training.py"
NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e[+-]?\d+)?|nan|inf")


def _load_benchmark():
    # Loaded by path: the benchmarks folder is not part of the installed package.
    spec = importlib.util.spec_from_file_location("benchmarks_training", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _cells(line):
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _tables(report):
    """Each section's table, as a list of rows {header: cell}, by section title."""
    tables = {}
    for section in re.split(r"^#+ ", report, flags=re.MULTILINE)[1:]:
        lines = [line for line in section.splitlines() if line.startswith("| ")]
        if not lines:
            continue
        header = _cells(lines[0])
        rows = []
        for line in lines[1:]:  # the |---| line does not start with "| "
            cells = _cells(line)
            assert len(cells) == len(header), line
            rows.append(dict(zip(header, cells, strict=True)))
        tables[section.splitlines()[0]] = rows
    return tables


def _numbers(cell):
    return [float(x) for x in NUMBER.findall(cell)]


@pytest.mark.slow
def test_quick_run_fills_every_cell(tmp_path, capsys):
    benchmark = _load_benchmark()
    out = tmp_path / "training.md"
    # TensorFlow only: the JAX subprocess would double the run time.
    benchmark.main(["--quick", "--backends", "tensorflow", "--output", str(out)])
    report = out.read_text(encoding="utf-8")
    printed = capsys.readouterr().out
    assert "CPUs:" in report and report.count("**Verdict**") == 1
    assert "## TensorFlow backend" in report and "JAX" not in report
    table_lines = [line for line in report.splitlines() if line.startswith("|")]
    assert all(line in printed for line in table_lines)  # --output mirrors stdout

    tables = _tables(report)
    main = tables["TensorFlow backend"]
    assert [row["contender"] for row in main] == list(benchmark.CONTENDERS)
    assert {row["data (rows x features)"] for row in main} == {"2000 x 20"}
    for row in main:
        for header, cell in list(row.items())[2:]:
            numbers = _numbers(cell)
            assert len(numbers) == 1 and math.isfinite(numbers[0]), (row["contender"], header)
            assert numbers[0] >= 0, (row["contender"], header, cell)
        assert 0.0 <= float(row["held-out accuracy"]) <= 1.0, row
    by_name = {row["contender"]: row for row in main}
    assert by_name[benchmark.RAW]["vs raw Keras fit"] == "1.00x"
    assert by_name[benchmark.MLP]["vs MLPClassifier"] == "1.00x"

    breakdown = tables["Where the time goes (TensorFlow, 2000 x 20)"]
    assert [row["contender"] for row in breakdown] == [
        benchmark.COMPILED,
        benchmark.KERAS_ENGINE,
        benchmark.RAW,
    ]
    for row in breakdown:
        for header, cell in list(row.items())[1:]:
            numbers = _numbers(cell)
            assert len(numbers) == 1 and math.isfinite(numbers[0]), (row["contender"], header)

    verdict = next(line for line in report.splitlines() if line.startswith("**Verdict**"))
    assert "target <= 0.25x" in verdict and "target <= 1.00x" in verdict
