"""Smoke test of benchmarks/parallel.py: it runs end to end and fills every cell.

It does not check the speed-ups: they depend on the machine.
"""

import math

import benchmark_reports as reports
import pytest

HEADERS = [
    "run",
    "n_jobs",
    "TF pools in the workers",
    "median (s)",
    "each (s)",
    "vs first row",
    "speed-up",
    "same best_params_",
    "max abs diff of mean_test_score",
    "workers: share, TF intra/inter, threads",
]


def run_quick(tmp_path, capsys, *options):
    benchmark = reports.load_benchmark("parallel")
    out = tmp_path / "parallel.md"
    benchmark.main(["--quick", *options, "--output", str(out)])
    report = out.read_text(encoding="utf-8")
    printed = capsys.readouterr().out
    table_lines = [line for line in report.splitlines() if line.startswith("|")]
    assert all(line in printed for line in table_lines)  # --output mirrors stdout
    assert "CPUs:" in report and "joblib" in report
    (rows,) = reports.tables(report).values()
    assert all(list(row) == HEADERS for row in rows)
    for row in rows:
        for header in ("median (s)", "vs first row", "speed-up"):
            (number,) = reports.numbers(row[header])
            assert math.isfinite(number) and number > 0, (row["run"], header, row[header])
        # The same search finds the same candidates, whatever ran it.
        assert row["same best_params_"] == "yes", row
        assert reports.numbers(row["max abs diff of mean_test_score"]) == [0.0], row
        assert "NOT as expected" not in row["TF pools in the workers"], row
    assert rows[0]["run"] == "serial" and rows[0]["vs first row"] == "1.00x"
    return report, rows


def test_quick_serial_run_fills_every_cell(tmp_path, capsys):
    # n_jobs=1 only: no worker processes to start, so a few seconds.
    report, rows = run_quick(tmp_path, capsys, "--variants", "serial")
    assert [row["run"] for row in rows] == ["serial"]
    assert rows[0]["workers: share, TF intra/inter, threads"] == "-"
    assert "the same in every search (1): yes" in report


@pytest.mark.slow
def test_quick_run_limits_pools_only_where_it_should(tmp_path, capsys):
    report, rows = run_quick(tmp_path, capsys)
    assert [row["run"] for row in rows] == [
        "serial",
        "limited, cold",
        "limited, warm",
        "default, cold",
        "default, warm",
    ]
    for row in rows[1:]:
        workers = row["workers: share, TF intra/inter, threads"].split("; ")
        assert 1 <= len(workers) <= 2, row
        for worker in workers:
            share, intra, inter, _ = reports.numbers(worker.replace("/", " "))
            if row["run"].startswith("limited"):
                assert intra == inter == share >= 1, worker
            else:  # TF_NUM_*_THREADS=0 in the subprocess: safekeras left the pools alone
                assert intra == inter == 0, worker
    assert "the same in every search (5): yes" in report
    assert "pools limited vs TensorFlow's defaults" in report
