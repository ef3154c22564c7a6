"""Smoke test of the quality benchmark (benchmarks/quality.py) through its entry point
(benchmarks/run.py, ``python -m benchmarks``): it runs end to end, fills every cell, draws
the plots and quotes the recorded speed results.

It does not check who wins: the quick run trains a few epochs only (the verdicts' rule is
tested in test_quality_verdicts.py).
"""

import importlib.util
import math

import benchmark_reports as reports
import pytest

# SciKeras is optional (not in the [test] extra): its cells say n/a where it is missing.
SCIKERAS_INSTALLED = importlib.util.find_spec("scikeras") is not None

HEADERS = [
    "contender",
    "balanced acc.",
    "PR-AUC",
    "F1",
    "Brier",
    "fit s/fold",
    "epochs/fold",
    "fits/fold",
]


def test_quick_run_writes_nothing_unless_asked():
    benchmark = reports.load_benchmark("run")
    quick = benchmark.parse_args(["--quick"])
    assert quick.out is None and quick.readme is None
    assert quick.folds == 2 and quick.datasets == ("breast-cancer", "wine")
    full = benchmark.parse_args([])
    assert full.out == str(benchmark.ROOT / "docs")
    assert full.readme == str(benchmark.ROOT / "README.md")
    assert benchmark.parse_args(["--no-readme"]).readme is None
    assert full.datasets == benchmark.quality.DATASETS and full.folds == 5
    with pytest.raises(SystemExit):
        benchmark.parse_args(["--datasets", "iris"])


def test_speed_section_carries_the_generated_blocks_over():
    benchmark = reports.load_benchmark("run")
    speed_docs = benchmark.speed_docs
    start, end = speed_docs.markers("training")
    text = benchmark.speed_section(f"old page\n{start}\n| measured |\n{end}\n")
    assert text.startswith("## Speed and memory")
    assert f"{start}\n| measured |\n{end}" in text  # kept as --speed wrote it
    for name in benchmark.SPEED_TITLES:  # the others wait for `python -m benchmarks --speed`
        assert speed_docs.read_block(text, name) is not None, name
    assert text.count(speed_docs.PLACEHOLDER) == len(benchmark.SPEED_TITLES) - 1


def test_readme_block_is_replaced_between_its_markers(tmp_path):
    benchmark = reports.load_benchmark("run")
    readme = tmp_path / "README.md"
    readme.write_text(
        f"# x\n\n{benchmark.README_START}\nold\n{benchmark.README_END}\n\nrest\n", encoding="utf-8"
    )
    block = f"{benchmark.README_START}\nnew\n{benchmark.README_END}"
    assert benchmark.update_readme(readme, block)
    assert readme.read_text(encoding="utf-8") == f"# x\n\n{block}\n\nrest\n"
    readme.write_text("# no markers\n", encoding="utf-8")
    assert not benchmark.update_readme(readme, block)
    assert readme.read_text(encoding="utf-8") == "# no markers\n"


@pytest.mark.slow
def test_quick_run_fills_every_cell_and_draws_the_plots(tmp_path, capsys):
    benchmark = reports.load_benchmark("run")
    quality = benchmark.quality
    contenders = benchmark.contenders
    benchmark.main(["--quick", "--out", str(tmp_path)])
    page = (tmp_path / "benchmarks.md").read_text(encoding="utf-8")
    printed = capsys.readouterr().out
    table_lines = [line for line in page.splitlines() if line.startswith("|")]
    assert table_lines and all(line in printed for line in table_lines)  # the page is printed
    assert "CPUs:" in page and "date:" in page and "## Speed and memory" in page

    for name in ("quality.png", "fit_time.png"):
        image = tmp_path / "img" / "benchmarks" / name
        assert image.read_bytes().startswith(b"\x89PNG"), name
        assert f"](img/benchmarks/{name})" in page  # relative to the page, for MkDocs

    tables = reports.tables(page)
    headline = tables["Headline"]
    body, totals = headline[:-1], headline[-1]
    assert [(row["dataset"], row["metric"]) for row in body] == [
        (dataset, metric)
        for dataset in ("breast-cancer", "wine")
        for metric in ("balanced acc.", "PR-AUC", "Brier")
    ]
    columns = [contender.name for contender in contenders.CONTENDERS]
    verdicts = {name: 0 for name in columns[1:]}
    for row in body:
        assert list(row)[2:] == columns  # every contender, the default first
        assert 0.0 <= float(row[contenders.SAFEKERAS]) <= 2.0  # its own mean (Brier: 0 to 2)
        for name in columns[1:]:
            if row[name] == "n/a":  # the tuned MLP: binary only; the Keras wrapper: no proba
                assert (
                    (name == contenders.MLP_TUNED and row["dataset"] == "wine")
                    or (name == contenders.KERAS_WRAPPER and row["metric"] != "balanced acc.")
                    or (name == contenders.SCIKERAS and not SCIKERAS_INSTALLED)
                ), row
                continue
            value, verdict = row[name].split()  # the peer's mean, safekeras's verdict
            assert 0.0 <= float(value) <= 2.0 and verdict in ("win", "tie", "loss"), (row, name)
            verdicts[name] += 1
    assert totals["dataset"] == "**all**" and totals[contenders.SAFEKERAS] == ""
    for name, count in verdicts.items():  # the last row counts every verdict of its column
        assert sum(int(n) for n in totals[name].split("/")) == count, (name, totals[name])

    names = [contender.name for contender in contenders.CONTENDERS]
    for dataset in ("breast-cancer", "wine"):
        rows = {row["contender"]: row for row in tables[dataset]}
        assert list(rows) == names and all(list(row) == HEADERS for row in rows.values())
        for name, row in rows.items():
            if name == contenders.MLP_TUNED and dataset == "wine":
                assert row["balanced acc."] == "n/a (binary only)"
                continue
            version, reason = quality.scikeras_status()
            if name == contenders.SCIKERAS and version is None:  # reported with its reason
                assert row["balanced acc."] == reason, row
                continue
            for header in HEADERS[1:]:
                if row[header] == "n/a":  # PR-AUC and Brier need predict_proba
                    assert name == contenders.KERAS_WRAPPER and header in ("PR-AUC", "Brier")
                    continue
                numbers = reports.numbers(row[header].strip("*"))
                assert numbers and all(math.isfinite(x) for x in numbers), (dataset, name, header)
        # threshold tuning: 5 internal fits and a refit per fold
        assert rows[contenders.HGB]["fits/fold"] == ("6" if dataset == "breast-cancer" else "1")
        assert rows[contenders.PITFALL_KERAS]["epochs/fold"] == "3"  # --quick: 3 Keras epochs
        # --quick caps careful Keras's epochs at safekeras's (5); early stopping may end sooner.
        assert float(rows[contenders.CAREFUL_KERAS]["epochs/fold"]) <= 5

    contract = {row["contender"]: row for row in tables["What scikit-learn sees of each contender"]}
    assert contract[contenders.SAFEKERAS]["`is_classifier`"] == "yes"
    assert contract[contenders.SAFEKERAS]["parameters `clone` dropped"] == "none"


@pytest.mark.slow
def test_a_network_contender_runs_on_the_nd_rows_and_gets_its_verdict(monkeypatch):
    quality = reports.load_benchmark("quality")
    shapes = []  # what each contender was cross-validated on
    real_cross_validate = quality.cross_validate

    def recording(estimator, X, *args, **kwargs):
        shapes.append(X.shape)
        return real_cross_validate(estimator, X, *args, **kwargs)

    monkeypatch.setattr(quality, "cross_validate", recording)
    from sklearn.model_selection import StratifiedKFold

    from benchmarks import contenders, quality_tables

    args = quality.parse_args(["--quick", "--datasets", "sequences", "--sequence-rows", "120"])
    (dataset,) = quality.load_datasets(args)
    assert dataset.tensor.shape == (120, 50, 1) and dataset.X.shape == (120, 50)
    folds = StratifiedKFold(args.folds, shuffle=True, random_state=args.seed)
    flat = next(c for c in contenders.CONTENDERS if c.name == contenders.SAFEKERAS)
    (network,) = contenders.NETWORK_CONTENDERS
    results = [quality.run_contender(c, dataset, folds, args)[0] for c in (flat, network)]
    assert shapes == [(120, 50), (120, 50, 1)]  # the flat view, then the series
    for result in results:
        assert result.skipped is None, result.skipped
        values = result.values("balanced_accuracy")
        assert len(values) == 2 and all(0.0 <= v <= 1.0 for v in values)
    assert results[1].warnings == {}  # the N-d rows raise nothing on the way
    entry = quality_tables.DatasetResults(dataset, results, 1.0)
    page = quality_tables.report_dataset(entry, args)
    assert "(as 120 x 50 x 1)" in page
    assert f"**Network verdict** ({contenders.SAFEKERAS_NETWORK} on the N-d rows" in page
    assert f"vs {contenders.SAFEKERAS}: " in page
    # A table has no N-d view: the network contender does not apply.
    table = quality.load_datasets(quality.parse_args(["--quick", "--datasets", "wine"]))[0]
    assert network.make(table, args) is None
