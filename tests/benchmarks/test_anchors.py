"""Smoke and unit tests of the anchors benchmark (benchmarks/anchors.py).

The quick run goes end to end on tiny data with every contender; the rules of the report
(targets, paired verdicts, skipped tables and contenders) are checked on rows made by hand.
It does not check who wins: the quick run trains a few epochs only.
"""

import importlib.util
import json
import platform
import sys
from pathlib import Path

import benchmark_reports as reports
import numpy as np
import pandas as pd
import pytest
import sklearn

anchors = reports.load_benchmark("anchors")  # puts the repository root on sys.path
ROOT = Path(anchors.__file__).resolve().parents[1]

import benchmarks.anchor_contenders as contenders  # noqa: E402
import benchmarks.anchor_report as report  # noqa: E402
import benchmarks.report as report_helpers  # noqa: E402

ALL = [anchor.name for anchor in contenders.ANCHORS]
# Optional contenders: a row that says why where their package is not installed.
OPTIONAL = {contenders.REALMLP, contenders.TABM}
if importlib.util.find_spec("scikeras") is None:
    OPTIONAL.add(contenders.SCIKERAS)


@pytest.fixture(scope="module")
def quick_page(tmp_path_factory):
    """One quick run: breast_cancer and diabetes on 160 rows, 2 folds, every contender."""
    page = tmp_path_factory.mktemp("anchors") / "anchors.md"
    argv = ["--quick", "--max-rows", "160", "--epochs", "2", "--keras-epochs", "1"]
    argv += ["--hgb-max-iter", "10", "--contenders", ",".join(ALL), "--markdown", str(page)]
    anchors.main(argv)
    return page.read_text(encoding="utf-8")


@pytest.mark.slow
def test_quick_run_reports_every_contender_on_every_task(quick_page):
    tables = reports.tables(quick_page)
    headline = tables["Headline"]
    assert [(row["task"], row["metric"]) for row in headline] == [
        ("diabetes", "R²"),  # smaller tables first
        ("breast_cancer", "balanced acc."),
        ("breast_cancer", "PR-AUC"),
    ]
    assert list(headline[0])[2:] == ALL
    for title in ("breast_cancer (binary", "diabetes (regression"):
        (rows,) = [rows for name, rows in tables.items() if name.startswith(title)]
        assert [row["contender"] for row in rows] == ALL
        for row in rows:
            if row["contender"] in OPTIONAL:
                continue
            fit = reports.numbers(row["fit s/fold"])
            assert fit[0] > 0, row  # every installed contender ran
    cancer = tables[next(name for name in tables if name.startswith("breast_cancer"))]
    for row in cancer[1:]:
        if row["contender"] not in OPTIONAL:
            assert row["safekeras vs it: PR-AUC"].split()[-1] in ("win", "tie", "loss"), row
    assert "Quick run: a smoke test only" in quick_page


@pytest.mark.slow
def test_quick_run_judges_each_target(quick_page):
    # Fit-time rows appear only where pytabkit is installed; the note says why otherwise.
    fit_rows = "| fit s/fold vs RealMLP-TD |" in quick_page
    assert (
        fit_rows or "- fit time vs RealMLP-TD: not judged on diabetes, breast_cancer:" in quick_page
    )
    rows = reports.tables(quick_page)["Targets"]
    targets = [row for row in rows if not row["metric"].startswith("fit s/fold")]
    metrics = [(row["task"], row["metric"]) for row in targets]
    assert metrics == [
        ("diabetes", "R²"),
        ("breast_cancer", "balanced acc."),
        ("breast_cancer", "PR-AUC"),
        ("average of 1 classification tasks", "balanced acc."),
        ("average of 1 classification tasks", "PR-AUC"),
        ("average of 1 regression tasks", "R²"),
    ]
    for row in targets:
        regression_average = row["task"].startswith("average of 1 regression")
        assert row["verdict"] in (("-",) if regression_average else ("pass", "**FAIL**")), row
        safe, best = reports.numbers(row["safekeras"])[0], reports.numbers(row["best other"])[-1]
        # Both means are printed to 3 decimals, the gap from the unrounded ones.
        assert reports.numbers(row["gap"])[0] == pytest.approx(safe - best, abs=1.5e-3)


def test_missing_optional_contender_is_a_row_with_its_reason(monkeypatch):
    monkeypatch.setitem(sys.modules, "pytabkit", None)  # import pytabkit raises ImportError
    task = anchors.real_tables.RealTask("toy", "binary", *_toy_frame(), source="made here")
    args = anchors.parse_args(["--quick"])
    (anchor,) = [a for a in contenders.ANCHORS if a.name == contenders.REALMLP]
    row = anchors.run_anchor(anchor, task, anchors.splits(task, args), args)
    assert row.skipped.startswith("pytabkit does not import")
    assert "torch" in row.skipped and row.scores == {}
    table = report.task_table(task, [_row(contenders.SAFEKERAS, [0.8, 0.9]), row], args)
    assert f"| {contenders.REALMLP} | n/a |" in table
    assert f"- {contenders.REALMLP}: pytabkit does not import" in table
    notes = report.fit_time_notes([(task, [row])])
    assert notes == [
        f"- fit time vs {contenders.REALMLP}: not judged on toy: {row.skipped}",
        f"- fit time vs {contenders.TABM}: not judged: not among --contenders",
    ]


def test_missing_csv_folder_is_skipped_with_a_line(monkeypatch, tmp_path):
    monkeypatch.setattr(anchors.real_tables, "DATA_DIR", tmp_path / "absent")
    monkeypatch.setattr(report, "describe_environment", _no_tensorflow)
    tasks, skipped = anchors.load_tasks(anchors.parse_args(["--tasks", "wine,carseats-Sales"]))
    assert [task.name for task in tasks] == ["wine"]
    assert skipped == [f"carseats: {tmp_path / 'absent' / 'carseats.csv'} is absent"]
    tasks, skipped = anchors.load_tasks(anchors.parse_args([]))
    assert [task.name for task in tasks] == ["wine", "diabetes", "breast_cancer"]
    tables = ["college", "carseats", "wage", "bikeshare", "anes96", "randhie"]
    assert [line.split(":")[0] for line in skipped] == tables  # one line per table
    section = report.settings_section(anchors.parse_args([]), skipped)
    assert "Skipped tables:" in section and f"- {skipped[0]}" in section


def test_unknown_task_or_contender_is_an_error_that_lists_the_choices():
    with pytest.raises(SystemExit, match=r"--tasks: unknown \['iris'\]"):
        anchors.load_tasks(anchors.parse_args(["--tasks", "wine,iris"]))
    with pytest.raises(SystemExit):
        anchors.parse_args(["--contenders", "XGBoost"])


def test_every_contender_gets_the_same_folds_and_repeats_reshuffle_them():
    X, y = _toy_frame()
    task = anchors.real_tables.RealTask("toy", "binary", X, y, "made here")
    args = anchors.parse_args(["--folds", "4", "--repeats", "2"])
    first, again = anchors.splits(task, args), anchors.splits(task, args)
    assert len(first) == 8
    assert all((a == b).all() for (a, _), (b, _) in zip(first, again, strict=True))
    for repeat in (first[:4], first[4:]):  # each repeat covers every row once, stratified
        tests = np.concatenate([test for _, test in repeat])
        assert sorted(tests) == list(range(len(y)))
        assert all(abs(y[test].mean() - y.mean()) < 0.15 for _, test in repeat)
    assert not all((a == b).all() for (_, a), (_, b) in zip(first[:4], first[4:], strict=True))


def test_a_panels_folds_keep_each_units_rows_on_one_side():
    X = pd.DataFrame({"a": np.repeat(np.arange(30), 4), "b": np.repeat(np.arange(30) % 3, 4)})
    y = np.arange(len(X), dtype=float)
    groups = anchors.real_tables.feature_row_groups(X)
    assert len(np.unique(groups)) == 30  # one unit per distinct feature row
    task = anchors.real_tables.RealTask("panel", "regression", X, y, "made here", groups)
    folds = anchors.splits(task, anchors.parse_args(["--folds", "5"]))
    assert sorted(np.concatenate([test for _, test in folds])) == list(range(len(y)))
    for train, test in folds:
        assert not set(groups[train]) & set(groups[test])
    small = anchors.subsample(task, 60, seed=0)
    assert len(small.groups) == 60 and set(small.groups) <= set(groups)


def test_target_passes_within_the_margin_and_fails_past_it():
    args = anchors.parse_args(["--folds", "3"])
    task = anchors.SavedTask("t", "binary", "")
    safe = _row(contenders.SAFEKERAS, [0.900, 0.900, 0.900], pr_auc=[0.5, 0.5, 0.5])
    close = _row(contenders.LINEAR, [0.904, 0.904, 0.904], pr_auc=[0.6, 0.6, 0.6])
    (accuracy, pr_auc) = report.target_rows(task, [safe, close], args)
    assert accuracy.endswith("| >= -0.005 | pass |") and "-0.004" in accuracy
    assert pr_auc.endswith("| >= -0.005 | **FAIL** |") and "-0.100" in pr_auc
    regression = anchors.SavedTask("r", "regression", "")
    for other, verdict in ((0.509, "pass"), (0.511, "**FAIL**")):
        rows = [_r2(contenders.SAFEKERAS, 0.5), _r2(contenders.HGB, other)]
        (line,) = report.target_rows(regression, rows, args)
        assert line.endswith(f"| >= -0.01 | {verdict} |"), line


def test_wins_and_losses_follow_the_paired_rule():
    args = anchors.parse_args(["--folds", "4"])
    task = anchors.SavedTask("t", "binary", "")
    safe = _row(contenders.SAFEKERAS, [0.80, 0.82, 0.81, 0.83])
    ahead = _row(contenders.LINEAR, [0.70, 0.71, 0.72, 0.70])  # safekeras clearly ahead
    noisy = _row(contenders.HGB, [0.95, 0.70, 0.97, 0.68])  # higher mean, but noisy: a tie
    args.contenders = (contenders.SAFEKERAS, contenders.LINEAR, contenders.HGB)
    summary = reports.tables(report.summary_section([(task, [safe, ahead, noisy])], args))
    (rows,) = summary.values()
    cells = {row["contender"]: row for row in rows}
    assert cells[contenders.LINEAR]["balanced acc."] == "1 / 0 / 0"
    assert cells[contenders.HGB]["balanced acc."] == "0 / 1 / 0"
    assert cells[contenders.HGB]["Brier"] == "0 / 0 / 0 (1 not run)"  # no Brier scores here
    assert np.mean(noisy.values("balanced_accuracy")) > np.mean(safe.values("balanced_accuracy"))


def test_saved_json_renders_the_same_report(monkeypatch, tmp_path):
    monkeypatch.setattr(report, "describe_environment", _no_tensorflow)
    args = anchors.parse_args(["--folds", "2", "--contenders", "safekeras default,tuned linear"])
    task = anchors.SavedTask("t", "binary", "10 x 2")
    rows = [_row(contenders.SAFEKERAS, [0.8, 0.9]), _row(contenders.LINEAR, [0.7, 0.8])]
    path = tmp_path / "run.json"
    anchors.save_json(str(path), [(task, rows)], args, ["x: absent"], 3)
    again = anchors.parse_args([])
    results, skipped, total = anchors.load_json(str(path), again)
    assert (skipped, total, again.folds, again.contenders) == (
        ["x: absent"],
        3,
        2,
        (contenders.SAFEKERAS, contenders.LINEAR),
    )
    before = report.build_report([(task, rows)], args, ["x: absent"], 3)
    assert report.build_report(results, again, skipped, total)[2:] == before[2:]
    assert "**Partial report: 1 of 3 tasks done.**" in before


def test_runs_split_by_task_merge_into_one_report(tmp_path):
    args = anchors.parse_args(["--folds", "2", "--contenders", "safekeras default,tuned linear"])
    small = anchors.SavedTask("small", "binary", "")
    large = anchors.SavedTask("large", "regression", "")
    first = [(small, [_row(contenders.SAFEKERAS, [0.8, 0.9]), _row(contenders.LINEAR, [0.7, 0.8])])]
    second = [(large, [_r2(contenders.SAFEKERAS, 0.5)])]
    anchors.save_json(str(tmp_path / "a.json"), first, args, [], 2)
    anchors.save_json(str(tmp_path / "b.json"), second, args, [], 1)
    merged = anchors.parse_args([])
    results, _, total = anchors.load_json(f"{tmp_path / 'a.json'},{tmp_path / 'b.json'}", merged)
    assert [(task.name, [row.contender for row in rows]) for task, rows in results] == [
        ("small", [contenders.SAFEKERAS, contenders.LINEAR]),
        ("large", [contenders.SAFEKERAS]),
    ]
    assert total == 2 and merged.folds == 2
    other = anchors.parse_args(["--folds", "3", "--contenders", "safekeras default"])
    anchors.save_json(str(tmp_path / "c.json"), second, other, [], 1)
    with pytest.raises(SystemExit, match=r"c\.json was run with"):
        anchors.load_json(f"{tmp_path / 'a.json'},{tmp_path / 'c.json'}", anchors.parse_args([]))


def test_a_contender_run_apart_replaces_its_row_that_did_not_run(tmp_path):
    args = anchors.parse_args(["--folds", "2", "--contenders", "safekeras default,RealMLP-TD"])
    task = anchors.SavedTask("t", "binary", "")
    absent = report.Row(contenders.REALMLP, "t", skipped="pytabkit does not import")
    stored = [(task, [_row(contenders.SAFEKERAS, [0.8, 0.9]), absent])]
    apart = [(task, [_row(contenders.REALMLP, [0.7, 0.95])])]
    anchors.save_json(str(tmp_path / "stored.json"), stored, args, [], 1)
    anchors.save_json(str(tmp_path / "apart.json"), apart, args, [], 1)
    for order in ("stored.json,apart.json", "apart.json,stored.json"):
        paths = ",".join(str(tmp_path / name) for name in order.split(","))
        results, _, _ = anchors.load_json(paths, anchors.parse_args([]))
        [(_, rows)] = results
        by_name = {row.contender: row for row in rows}
        assert set(by_name) == {contenders.SAFEKERAS, contenders.REALMLP}
        assert by_name[contenders.REALMLP].skipped is None
        assert list(by_name[contenders.REALMLP].values("balanced_accuracy")) == [0.7, 0.95]
    # Two runs of one contender: the first file's rows stay.
    again = [(task, [_row(contenders.SAFEKERAS, [0.1, 0.2])])]
    anchors.save_json(str(tmp_path / "again.json"), again, args, [], 1)
    paths = f"{tmp_path / 'stored.json'},{tmp_path / 'again.json'}"
    [(_, rows)], _, _ = anchors.load_json(paths, anchors.parse_args([]))
    assert list(rows[0].values("balanced_accuracy")) == [0.8, 0.9]


def test_runs_of_further_repeats_stack_into_one_repeated_run(tmp_path):
    task = anchors.SavedTask("t", "binary", "")
    first = anchors.parse_args(["--folds", "2", "--contenders", "safekeras default,tuned linear"])
    more = anchors.parse_args(["--folds", "2", "--seed", "1", "--repeats", "2"])
    seed0 = [(task, [_row(contenders.SAFEKERAS, [0.8, 0.9]), _row(contenders.LINEAR, [0.7, 0.8])])]
    seeds12 = [(task, [_row(contenders.SAFEKERAS, [0.1, 0.2, 0.3, 0.4])])]
    anchors.save_json(str(tmp_path / "seed0.json"), seed0, first, [], 1)
    anchors.save_json(str(tmp_path / "seeds12.json"), seeds12, more, [], 1)
    for order in ("seed0.json,seeds12.json", "seeds12.json,seed0.json"):
        args = anchors.parse_args([])
        paths = ",".join(str(tmp_path / name) for name in order.split(","))
        [(_, rows)], _, _ = anchors.load_json(paths, args)
        assert (args.seed, args.repeats, args.folds) == (0, 3, 2)
        by_name = {row.contender: row for row in rows}
        safe = by_name[contenders.SAFEKERAS]
        assert list(safe.values("balanced_accuracy")) == [0.8, 0.9, 0.1, 0.2, 0.3, 0.4]
        # Two folds of six would not pair with safekeras's: the row says it did not run.
        assert by_name[contenders.LINEAR].skipped == "not run on every one of 2 runs"
        page = "\n\n".join(report.build_report([(task, rows)], args, [], 1))
        assert "2-fold CV x 3 repeat(s), seed 0" in page
    # A gap (seed 0, then seed 2) or an overlap (seed 0 twice over) is refused.
    gap = anchors.parse_args(["--folds", "2", "--seed", "2"])
    anchors.save_json(str(tmp_path / "seed2.json"), seeds12, gap, [], 1)
    overlap = anchors.parse_args(["--folds", "2", "--repeats", "2"])
    anchors.save_json(str(tmp_path / "seeds01.json"), seeds12, overlap, [], 1)
    for other in ("seed2.json", "seeds01.json"):
        paths = f"{tmp_path / 'seed0.json'},{tmp_path / other}"
        with pytest.raises(SystemExit, match="must follow one another"):
            anchors.load_json(paths, anchors.parse_args([]))


def test_a_run_apart_records_its_environment_and_measures_no_safekeras(tmp_path, monkeypatch):
    """pytabkit's contenders run in an environment of their own: the page names its versions."""
    task = anchors.real_tables.RealTask("toy", "binary", *_toy_frame(), source="made here")
    monkeypatch.setattr(anchors, "code_version", lambda: "commit abc")
    monkeypatch.setattr(anchors, "load_tasks", lambda args: ([task], []))
    monkeypatch.setattr(anchors, "run_anchor", lambda anchor, *_: _row(anchor.name, [0.8, 0.9]))
    monkeypatch.setattr(anchors, "build_report", lambda *a: ["report"])
    monkeypatch.setattr(anchors, "finish_report", lambda *a: "report")
    for contender in (contenders.REALMLP, contenders.SAFEKERAS):
        path = tmp_path / ("ours.json" if contender == contenders.SAFEKERAS else "apart.json")
        argv = ["--folds", "2", "--contenders", contender, "--json", str(path)]
        # --markdown elsewhere: its default is the docs page.
        anchors.run(anchors.parse_args([*argv, "--markdown", str(tmp_path / "page.md")]))
    apart = json.loads((tmp_path / "apart.json").read_text(encoding="utf-8"))
    ours = json.loads((tmp_path / "ours.json").read_text(encoding="utf-8"))
    assert (apart["code"], ours["code"]) == (None, "commit abc")
    assert apart["packages"]["python"] == platform.python_version()
    assert apart["packages"]["scikit-learn"] == sklearn.__version__
    # The versions of a file run apart become a bullet; safekeras's code is its own file's.
    apart["packages"] = {"python": "3.11.7", "torch": "2.13.0+cpu", "pytabkit": "1.8.0"}
    (tmp_path / "apart.json").write_text(json.dumps(apart), encoding="utf-8")
    args = anchors.parse_args([])
    anchors.load_json(f"{tmp_path / 'ours.json'},{tmp_path / 'apart.json'}", args)
    assert args.code == "commit abc"
    assert args.runs_apart == [
        ((contenders.REALMLP,), {"python": "3.11.7", "torch": "2.13.0+cpu", "pytabkit": "1.8.0"})
    ]
    monkeypatch.setattr(report, "describe_environment", _no_tensorflow)
    settings = report.settings_section(args, [])
    bullet = f"- {contenders.REALMLP}: run apart, in an environment with python 3.11.7, torch"
    assert bullet + " 2.13.0+cpu, pytabkit 1.8.0" in settings


def test_each_contender_is_warmed_up_once_per_kind_before_the_first_table(monkeypatch, tmp_path):
    calls = []

    def record(anchor, task, folds, args):
        calls.append((anchor.name, task.name, len(folds)))
        return _row(anchor.name, [0.8] * len(folds))

    tasks = [anchors.warm_up_task(kind) for kind in ("regression", "binary")]
    tasks = [anchors.real_tables.RealTask(f"table {t.kind}", t.kind, t.X, t.y, "") for t in tasks]
    monkeypatch.setattr(anchors, "load_tasks", lambda args: (tasks, []))
    monkeypatch.setattr(anchors, "run_anchor", record)
    names = f"{contenders.SAFEKERAS},{contenders.LINEAR}"
    argv = ["--folds", "2", "--contenders", names, "--json", str(tmp_path / "run.json")]
    anchors.run(anchors.parse_args([*argv, "--markdown", str(tmp_path / "page.md")]))
    warm = [
        (c, f"warm-up {kind}", 1) for kind in ("regression", "binary") for c in names.split(",")
    ]
    timed = [(c, t.name, 2) for t in tasks for c in names.split(",")]
    assert calls == warm + timed
    assert json.loads((tmp_path / "run.json").read_text(encoding="utf-8"))["warmed_up"] is True
    for kind in ("binary", "multiclass", "regression"):
        task = anchors.warm_up_task(kind)
        assert task.kind == kind and task.X.shape == (120, 4)
        assert len(np.unique(task.y)) == {"binary": 2, "multiclass": 3, "regression": 120}[kind]


def test_a_file_listed_first_replaces_a_contenders_rows_and_says_what_measured_them(tmp_path):
    args = anchors.parse_args(["--folds", "2", "--contenders", "safekeras default,tuned linear"])
    task = anchors.SavedTask("t", "binary", "")
    stored = [(task, [_row(contenders.SAFEKERAS, [0.8, 0.9]), _row(contenders.LINEAR, [0.7, 0.8])])]
    args.code = "commit old"
    anchors.save_json(str(tmp_path / "stored.json"), stored, args, [], 1)
    again = anchors.parse_args(["--folds", "2", "--contenders", "safekeras default"])
    again.code, again.warmed_up = "commit new", True
    anchors.save_json(
        str(tmp_path / "again.json"),
        [(task, [_row(contenders.SAFEKERAS, [0.1, 0.2])])],
        again,
        [],
        1,
    )
    merged = anchors.parse_args([])
    [(_, rows)], _, _ = anchors.load_json(
        f"{tmp_path / 'again.json'},{tmp_path / 'stored.json'}", merged
    )
    by_name = {row.contender: row for row in rows}
    assert list(by_name[contenders.SAFEKERAS].values("balanced_accuracy")) == [0.1, 0.2]
    assert list(by_name[contenders.LINEAR].values("balanced_accuracy")) == [0.7, 0.8]
    # The stored file's safekeras rows were replaced: only the new commit measured the page's.
    assert merged.code == "commit new"
    assert merged.cold_start == (contenders.LINEAR,)
    line = report._warm_up_line(merged.cold_start)
    assert line.endswith(
        f"; not {contenders.LINEAR}, whose runs were saved before this warm-up: in each of their "
        "runs the first table's first fold includes it"
    )
    assert report._warm_up_line(()).endswith("not charged to the first table's first fold")


def test_a_row_limit_skips_a_contenders_larger_tables_with_a_row_that_says_so():
    task = anchors.real_tables.RealTask("toy", "binary", *_toy_frame(), source="made here")
    args = anchors.parse_args(["--quick", "--row-limit", f"{contenders.LINEAR}=39"])
    assert args.row_limits == {contenders.LINEAR: 39}
    (anchor,) = [a for a in contenders.ANCHORS if a.name == contenders.LINEAR]
    row = anchors.run_anchor(anchor, task, anchors.splits(task, args), args)
    assert (row.skipped, row.scores) == ("not run: 40 rows, over its --row-limit of 39", {})
    args.row_limits[contenders.LINEAR] = 40
    assert anchors.run_anchor(anchor, task, anchors.splits(task, args), args).skipped is None
    for bad in ("nobody=10", f"{contenders.LINEAR}=many"):
        with pytest.raises(SystemExit):
            anchors.parse_args(["--row-limit", bad])


def test_an_environment_without_tensorflow_is_described_without_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "keras", None)  # import keras raises ImportError
    text = report_helpers.describe_environment(("pandas", pd.__version__))
    assert "- tensorflow and keras: not installed in this environment" in text
    assert f"pandas {pd.__version__}" in text and "safekeras" not in text


def _no_tensorflow(*extra):
    """The environment bullets without importing TensorFlow (seconds) for a table test."""
    return "- environment"


def _toy_frame():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    return pd.DataFrame(X, columns=["a", "b", "c"]), (X[:, 0] > 0.3).astype(int)


def _row(name, accuracy, pr_auc=None):
    scores = {"balanced_accuracy": list(accuracy), "fit_seconds": [1.0] * len(accuracy)}
    scores["pr_auc"] = list(pr_auc if pr_auc is not None else accuracy)
    return report.Row(name, "t", scores)


def _r2(name, value):
    return report.Row(name, "r", {"r2": [value] * 3, "mae": [1.0] * 3, "fit_seconds": [1.0] * 3})


def test_the_docs_page_is_the_report_of_the_stored_run(monkeypatch):
    """docs/anchors.md is what ``--from-json`` renders of the stored runs (seed 0, seeds 1-2).

    So every figure on the page comes from the stored per-fold scores, and a change to the
    report's rules shows on the page once it is rendered again. The environment bullets
    (the rendering machine's versions) are left out of the comparison.
    """
    monkeypatch.setattr(report, "describe_environment", _no_tensorflow)
    names = (
        "anchors_safekeras.json",
        "anchors_realmlp.json",
        "anchors_tabm.json",
        "anchors_tabm_mid.json",
        "anchors_tabm_row_limit.json",
        "anchors.json",
        "anchors_safekeras_seeds_1_2.json",
        "anchors_realmlp_seeds_1_2.json",
        "anchors_realmlp_seeds_1_2_large.json",
        "anchors_tabm_seeds_1_2.json",
        "anchors_tabm_mid_seeds_1_2.json",
        "anchors_tabm_row_limit_seeds_1_2.json",
        "anchors_seeds_1_2.json",
    )
    stored = [f"benchmarks/results/{name}" for name in names]
    args = anchors.parse_args([])
    results, skipped, total = anchors.load_json(",".join(str(ROOT / s) for s in stored), args)
    assert (args.seed, args.repeats) == (0, 3)
    sections = report.build_report(results, args, skipped, total)
    page = (ROOT / "docs" / "anchors.md").read_text(encoding="utf-8")
    assert "\n\n".join(sections[2:]) in page
    assert page.endswith(f"saved in {', '.join(f'`{s}`' for s in stored)}.\n")
    assert "Partial report" not in page
