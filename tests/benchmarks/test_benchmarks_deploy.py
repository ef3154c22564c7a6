"""Smoke test of benchmarks/deploy.py: it runs end to end and fills every cell.

It does not check that the targets are met: the timings depend on the machine.
"""

import math

import benchmark_reports as reports
import pytest


def assert_numeric(row, headers, label):
    for header in headers:
        numbers = reports.numbers(row[header])
        assert len(numbers) == 1 and math.isfinite(numbers[0]), (label, header, row[header])


@pytest.mark.slow
def test_quick_run_fills_every_cell(tmp_path, capsys):
    benchmark = reports.load_benchmark("deploy")
    memory_cases = reports.load_benchmark("deploy_memory")
    import_times = reports.load_benchmark("deploy_imports")
    models = reports.load_benchmark("deploy_models")
    pickling = reports.load_benchmark("deploy_pickle")
    out = tmp_path / "deploy.md"
    # TensorFlow only: the JAX subprocess would double the run time.
    benchmark.main(["--quick", "--backends", "tensorflow", "--output", str(out)])
    report = out.read_text(encoding="utf-8")
    printed = capsys.readouterr().out
    assert "CPUs:" in report and "JAX" not in report
    table_lines = [line for line in report.splitlines() if line.startswith("|")]
    assert all(line in printed for line in table_lines)  # --output mirrors stdout

    tables = reports.tables(report)
    assert list(tables) == [
        "TensorFlow: 1-row predict latency",
        "TensorFlow: 2000-row predict",
        "TensorFlow: memory per fit",
        "TensorFlow: pickle",
        "Import time",
    ]

    contenders = [
        models.SK_PROBA,
        models.SK_PREDICT,
        models.RAW_PREDICT,
        models.RAW_ON_BATCH,
        models.RAW_CALL,
        models.MLP_PROBA,
        models.MLP_PREDICT,
    ]
    ratio_headers = list(benchmark.PREDICT_REFERENCES)
    for title in ("TensorFlow: 1-row predict latency", "TensorFlow: 2000-row predict"):
        rows = tables[title]
        for kind in benchmark.INPUTS.values():
            by_name = {row["contender"]: row for row in rows if row["input"] == kind}
            assert list(by_name) == contenders, (title, kind)
            for name, row in by_name.items():
                assert_numeric(row, ["median", *ratio_headers], (title, kind, name))
            for header, reference in benchmark.PREDICT_REFERENCES.items():
                assert by_name[reference][header] == "1.00x", (title, kind, header)

    memory = tables["TensorFlow: memory per fit"]
    assert [row["measurement"] for row in memory] == [
        case.label for case in benchmark.MEMORY_CASES.values()
    ]
    for row in memory:
        assert row["fits"] == "4", row
        assert_numeric(row, list(row)[1:], row["measurement"])
        assert float(row["RSS after warm-up (MB)"]) > 0, row
    raw = benchmark.MEMORY_CASES[memory_cases.MEMORY_REFERENCE].label
    raw_grid = benchmark.MEMORY_CASES[benchmark.GRID_REFERENCE].label
    by_measurement = {row["measurement"]: row for row in memory}
    assert by_measurement[raw]["MB/fit vs raw Keras (c)"] == "1.00x"
    assert by_measurement[raw_grid]["MB/fit vs raw Keras grid (e)"] == "1.00x"

    pickled = tables["TensorFlow: pickle"]
    assert [row["contender"] for row in pickled] == list(pickling.PERSISTERS)
    for row in pickled:
        assert_numeric(row, list(row)[1:], row["contender"])
        assert float(row["size (KB)"]) > 0, row
        # A round trip gives back the same model.
        assert float(row["max proba change after round trip"]) < 1e-5, row
    by_name = {row["contender"]: row for row in pickled}
    for header in ("dumps vs raw Keras", "loads vs raw Keras"):
        assert by_name[pickling.RAW_SAVE][header] == "1.00x"
    for header in ("dumps vs MLP pickle", "loads vs MLP pickle"):
        assert by_name[pickling.MLP_PICKLE][header] == "1.00x"

    imports = tables["Import time"]
    assert [row["statement"] for row in imports] == list(
        benchmark.import_statements(["tensorflow"])
    )
    for row in imports:
        assert_numeric(
            row,
            ["median", "fastest", "modules loaded", "vs `import sklearn.neural_network`"],
            row["statement"],
        )
        assert row["loads scikit-learn"] in {"yes", "no"}
        assert row["loads TensorFlow"] in {"yes", "no"}
    by_statement = {row["statement"]: row for row in imports}
    assert (
        by_statement[import_times.IMPORT_SKLEARN]["vs `import sklearn.neural_network`"] == "1.00x"
    )
    assert by_statement["`import tensorflow`"]["loads TensorFlow"] == "yes"

    # The report ends with one verdict per target: 2 one-row, 2 large, 2 memory, 1 import.
    verdict_section = report.split("## Verdict", 1)[1]
    verdicts = [line for line in report.splitlines() if line.startswith("**Verdict**")]
    assert len(verdicts) == 7 and all(line in verdict_section for line in verdicts)
    assert all(" met" in line or "NOT met" in line for line in verdicts)
    assert sum("target <= 1.00 ms" in line for line in verdicts) == 1
    assert sum("target <= 3.00 ms" in line for line in verdicts) == 1
    assert sum("target <= 2.00x" in line for line in verdicts) == 2
    assert sum("target <= 0.5 MB" in line for line in verdicts) == 2
    assert sum("target <= 0.5 s" in line for line in verdicts) == 1
