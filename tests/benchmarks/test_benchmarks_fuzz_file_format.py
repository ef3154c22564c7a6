"""Smoke test of benchmarks/fuzz_file_format.py: a short run reports every kind and passes."""

import sys

import benchmark_reports as reports
import pytest


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="uses SIGALRM and resource")
def test_short_run_counts_every_variant_and_exits_zero(capsys):
    benchmark = reports.load_benchmark("fuzz_file_format")
    status = benchmark.main(["--n", "24", "--seed", "0"])
    printed = capsys.readouterr().out
    assert status == 0, printed
    rows = {
        line.split("|")[1].strip(): [int(x) for x in reports.numbers(line)]
        for line in printed.splitlines()
        if line.startswith("| ") and not line.startswith("| kind")
    }
    assert sorted(rows) == sorted([*benchmark.KINDS, "all"])
    assert all(sum(counts) == 4 for kind, counts in rows.items() if kind != "all")
    assert sum(rows["all"]) == 24
    assert "largest rise of the peak RSS by one variant" in printed and "slowest load" in printed
