"""Smoke test of benchmarks/imbalance.py: it runs end to end and fills every cell."""

import math
import re

import benchmark_reports as reports
import pytest


@pytest.mark.slow
def test_quick_run_reports_every_arm_with_finite_numbers(tmp_path, capsys):
    benchmark = reports.load_benchmark("imbalance")
    out = tmp_path / "imbalance.md"
    benchmark.main(
        [
            "--quick",
            "--datasets",
            "breast-cancer",
            "--epochs",
            "2",
            "--raw-epochs",
            "2",
            "--markdown",
            str(out),
        ]
    )
    report = out.read_text(encoding="utf-8")
    printed = capsys.readouterr().out
    assert "## breast-cancer" in report and "## synthetic" not in report
    assert "CPUs:" in report and "**Verdict**" in report

    rows = {
        line.split("|")[1].strip(): line
        for line in report.splitlines()
        if line.startswith("| ") and not line.startswith("| arm ")
    }
    assert set(rows) == {arm.name for arm in benchmark.make_arms()}
    assert all(line in printed for line in rows.values())  # --markdown mirrors stdout
    for name, line in rows.items():
        cells = [cell.strip() for cell in line.strip("|").split("|")[1:]]
        numbers = [float(x) for cell in cells for x in re.findall(r"-?\d+(?:\.\d+)?|nan|inf", cell)]
        assert len(numbers) == 13, (name, cells)  # 5 mean ± std pairs + 3 plain numbers
        assert all(math.isfinite(x) for x in numbers), (name, cells)
    assert rows[benchmark.ARM_TUNED].split("|")[8].strip() == "6"  # fits/fold
    # Balanced accuracy's threshold is the training share: no internal fits, even on 9 positives.
    assert rows[benchmark.ARM_DEFAULT].split("|")[8].strip() == "1"
