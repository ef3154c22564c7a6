"""Smoke test of benchmarks/training.py: it runs end to end and fills every cell."""

import math

import benchmark_reports as reports
import pytest


@pytest.mark.slow
def test_quick_run_fills_every_cell(tmp_path, capsys):
    benchmark = reports.load_benchmark("training")
    out = tmp_path / "training.md"
    # TensorFlow only: the JAX subprocess would double the run time.
    benchmark.main(["--quick", "--backends", "tensorflow", "--output", str(out)])
    report = out.read_text(encoding="utf-8")
    printed = capsys.readouterr().out
    assert "CPUs:" in report and report.count("**Verdict**") == 1
    assert "## TensorFlow backend" in report and "JAX" not in report
    table_lines = [line for line in report.splitlines() if line.startswith("|")]
    assert all(line in printed for line in table_lines)  # --output mirrors stdout

    tables = reports.tables(report)
    main = tables["TensorFlow backend"]
    assert [row["contender"] for row in main] == list(benchmark.CONTENDERS)
    assert {row["data (rows x features)"] for row in main} == {"2000 x 20"}
    for row in main:
        for header, cell in list(row.items())[2:]:
            numbers = reports.numbers(cell)
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
            numbers = reports.numbers(cell)
            assert len(numbers) == 1 and math.isfinite(numbers[0]), (row["contender"], header)

    verdict = next(line for line in report.splitlines() if line.startswith("**Verdict**"))
    assert "target <= 0.25x" in verdict and "target <= 1.00x" in verdict
