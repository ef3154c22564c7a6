"""Smoke test of benchmarks/threshold_search.py: it runs end to end and fills every cell."""

import math

import benchmark_reports as reports
import pytest


@pytest.mark.slow
def test_quick_run_fills_every_cell_and_both_paths_agree(tmp_path, capsys):
    benchmark = reports.load_benchmark("threshold_search")
    out = tmp_path / "threshold_search.md"
    benchmark.main(["--quick", "--markdown", str(out)])
    report = out.read_text(encoding="utf-8")
    printed = capsys.readouterr().out
    assert "CPUs:" in report and report == printed  # --markdown mirrors stdout
    (rows,) = reports.tables(report).values()
    assert [row["scorer"] for row in rows] == list(benchmark.scorers())
    for row in rows:
        assert row["same"] == "yes", row
        for header in ("counts (ms)", "scorer loop (ms)", "ratio", "threshold"):
            (value,) = reports.numbers(row[header])
            assert math.isfinite(value) and value > 0, (row["scorer"], header)
        # One sorted pass beats ~300 scorer calls by far, even on a loaded machine.
        assert reports.numbers(row["ratio"])[0] > 5, row
