"""Smoke test of benchmarks/tensor_overhead.py: it runs end to end and fills every cell.

It does not check the ratio: a quick run is dominated by graph tracing.
"""

import math

import benchmark_reports as reports
import pytest


@pytest.mark.slow
def test_quick_run_fills_every_cell(capsys):
    benchmark = reports.load_benchmark("tensor_overhead")
    assert benchmark.main(["--quick", "--rows", "300", "--calls", "2"]) == 0
    printed = capsys.readouterr().out
    (rows,) = reports.tables(printed).values()
    assert [(row["section"], row["measurement"]) for row in rows] == [
        *(("fit", name) for name in benchmark.SIDES),
        ("predict 200 images", "raw `model.predict_on_batch` (pre-scaled)"),
        ("predict 200 images", "safekeras `predict_proba` (auto fit)"),
        ("predict 200 images", "safekeras `predict_proba` (keras fit)"),
    ]
    for row in rows:
        (seconds,) = reports.numbers(row["median"])
        (ratio,) = reports.numbers(row["ratio vs reference"])
        assert math.isfinite(seconds) and seconds > 0, row
        assert math.isfinite(ratio) and ratio > 0, row
    assert rows[0]["ratio vs reference"] == "1.00x (ref)"
    assert rows[3]["ratio vs reference"] == "1.00x (ref)"
    verdict = next(line for line in printed.splitlines() if line.startswith("**Verdict**"))
    assert verdict.count("target <= 1.10x") == 2
    assert 'engine="auto"' in verdict and 'engine="keras"' in verdict
