"""Smoke test of benchmarks/default_path.py: a quick run prints one row per size, every column."""

import benchmark_reports as reports
import pytest


@pytest.mark.slow
def test_quick_run_reports_each_contender_and_the_target(capsys):
    benchmark = reports.load_benchmark("default_path")
    assert benchmark.main(["--quick", "--sizes", "300x10,600x30"]) == 0
    printed = capsys.readouterr().out
    (rows,) = reports.tables(printed).values()
    assert [row["data"] for row in rows] == ["300x10", "600x30"]
    for row in rows:
        seconds = [reports.numbers(row[name])[0] for name in ("MLP pipeline", "tuned MLP pipeline")]
        assert all(s > 0 for s in seconds)
        assert "epochs" in row["`SafeKerasClassifier()`"]
        accuracies = reports.numbers(row["balanced accuracy (safekeras / MLP / tuned MLP)"])
        assert len(accuracies) == 3 and all(0 <= a <= 1 for a in accuracies)
    assert rows[0]["target"] == "(no target)"
    assert rows[1]["target"].startswith("<= 1.0x tuned and <= 5x plain: ")
    assert "First safekeras fit in the process (cold trace)" in printed
