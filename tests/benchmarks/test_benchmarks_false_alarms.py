"""Smoke test of benchmarks/false_alarms.py: it runs end to end and counts every case."""

import benchmark_reports as reports
import pytest


@pytest.mark.slow
def test_quick_run_counts_every_case(capsys):
    benchmark = reports.load_benchmark("false_alarms")
    args = benchmark.parse_args(["--quick"])
    cases = benchmark.run(args)
    names = [case.name for case in cases]
    assert names[:2] == ["breast-cancer (2-fold CV)", "wine (2-fold CV)"]
    assert {"README block 3", "quickstart block 3"} <= set(names)
    assert all(case.fits >= 1 for case in cases)
    # The problems built to be caught are caught, even with a few epochs.
    caught = {case.name: case.verdict for case in cases if case.expect_alarm}
    assert set(caught.values()) == {"caught"}, caught
    report = benchmark.report(cases)
    assert report.startswith("| case |")
    assert report.count("\n| ") == len(cases)  # one row per case under the header
    assert f"problems caught: {len(caught)} of {len(caught)}." in report
    assert "| quickstart block 3 |" in capsys.readouterr().out
