"""Smoke test of benchmarks/image_drift.py: it runs end to end and fills every cell."""

import math

import benchmark_reports as reports


def test_quick_run_fills_every_cell_and_meets_the_targets(tmp_path, capsys):
    benchmark = reports.load_benchmark("image_drift")
    out = tmp_path / "image_drift.md"
    benchmark.main(["--quick", "--markdown", str(out)])
    report = out.read_text(encoding="utf-8")
    printed = capsys.readouterr().out
    assert "CPUs:" in report and report.count("**Verdict**") == 4
    table_lines = [line for line in report.splitlines() if line.startswith("|")]
    assert all(line in printed for line in table_lines)  # --markdown mirrors stdout

    tables = reports.tables(report)

    def table(prefix):
        return next(rows for title, rows in tables.items() if title.startswith(prefix))

    alarms = table("1. False alarms")
    detection = table("2. Detection")
    shapes = table("3. Shape mistakes")
    cost = table("4. Cost")
    sizes = [f"{n} row{'s' if n > 1 else ''}" for n in benchmark.SIZES]
    assert [row["dataset"] for row in alarms] == [benchmark.DIGITS, benchmark.SMOOTH]
    assert len(detection) == len(benchmark.SCENARIOS)
    assert [row["mistake"] for row in shapes] == [name for name, _ in benchmark.SHAPE_MISTAKES]
    for row in cost:
        numbers = [reports.numbers(cell)[0] for header, cell in row.items() if "ms" in header]
        assert len(numbers) == len(benchmark.COST_SIZES)
        assert all(math.isfinite(x) and x > 0 for x in numbers)

    def counts(row):
        return [tuple(reports.numbers(row[size])) for size in sizes]

    # The targets: no false alarm on clean images, every scaled batch caught at every size,
    # every shape mistake refused.
    for row in alarms:
        assert all(fired == 0 and checked > 0 for fired, checked in counts(row)), row
    for row in detection:
        assert all(fired == checked > 0 for fired, checked in counts(row)), row
    assert [row["InputError"] for row in shapes] == ["yes"] * len(shapes)
