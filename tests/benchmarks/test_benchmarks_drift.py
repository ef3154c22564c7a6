"""Smoke test of benchmarks/drift.py: it runs end to end and fills every cell."""

import math

import benchmark_reports as reports
import pytest


@pytest.mark.slow
def test_quick_run_fills_every_cell_and_meets_the_basics(tmp_path, capsys):
    benchmark = reports.load_benchmark("drift")
    detection_module = reports.load_benchmark("drift_detection")
    out = tmp_path / "drift.md"
    benchmark.main(["--quick", "--markdown", str(out)])
    report = out.read_text(encoding="utf-8")
    printed = capsys.readouterr().out
    assert "CPUs:" in report and report.count("**Verdict**") == 4
    table_lines = [line for line in report.splitlines() if line.startswith("|")]
    assert all(line in printed for line in table_lines)  # --markdown mirrors stdout

    tables = reports.tables(report)

    def table(prefix):
        return next(rows for title, rows in tables.items() if title.startswith(prefix))

    alarms = {row["dataset"]: row for row in table("1. False alarms")}
    e2e = {row["dataset"]: row for row in table("Through the estimator")}
    detection = {row["scenario"]: row for row in table("2. Detection")}
    cost = table("3. Cost at predict time")
    datasets = benchmark.load_drift_datasets(0)
    names = [d.name for d in datasets]
    assert list(alarms) == names and list(e2e) == names
    assert len(detection) == len(benchmark.make_scenarios({d.name: d for d in datasets}))
    assert [(row["model"], int(row["rows"])) for row in cost] == [
        (model, size)
        for model in (benchmark.BREAST_CANCER, benchmark.MIXED)
        for size in benchmark.COST_SIZES
    ]
    for rows in (alarms.values(), e2e.values(), detection.values(), cost):
        for row in rows:
            first, *cells = row.items()
            for header, cell in cells:
                if "kinds" in header or header == "estimator":
                    assert cell, (first, header)  # text, e.g. "none" or "range 48"
                    continue
                numbers = reports.numbers(cell)
                assert numbers, (first, header, cell)
                assert all(math.isfinite(x) for x in numbers), (first, header, cell)

    # A fresh sample of digits/16 never warns; raw 0-16 pixels are always caught.
    sizes = [f"{n} row{'s' if n > 1 else ''}" for n in benchmark.ALARM_SIZES]
    digits = alarms[detection_module.DIGITS]
    assert [reports.numbers(digits[size])[0] for size in sizes] == [0.0] * len(sizes)
    raw_pixels = next(row for name, row in detection.items() if "fed raw pixels" in name)
    detect_sizes = [f"{n} row{'s' if n > 1 else ''}" for n in detection_module.DETECT_SIZES]
    assert [float(raw_pixels[size]) for size in detect_sizes] == [1.0] * len(detect_sizes)
