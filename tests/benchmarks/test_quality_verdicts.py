"""The quality benchmark's verdicts: one paired rule for every win and loss, and a headline
that shows every contender (benchmarks/quality_tables.py).

Built from hand-made per-fold scores, so no network is trained here.
"""

import argparse

import benchmark_reports as reports
import numpy as np
import pytest

from benchmarks import contenders, quality_tables
from benchmarks.datasets import Dataset
from benchmarks.quality_tables import DatasetResults, Result, Run

# Five folds of digits, as measured: safekeras +0.000 ± 0.014 against the MLP, ahead in
# some folds and behind in others. The old headline counted such a raw mean as a win.
LEVEL = np.array([0.970, 0.950, 0.975, 0.955, 0.962])
NOISE = np.array([-0.012, 0.016, -0.014, 0.013, -0.001])  # mean +0.0004, sd 0.014


def result(name: str, dataset: str, scores) -> Result:
    values = np.asarray(scores, dtype=float)
    return Result(
        name,
        dataset,
        scores={
            "balanced_accuracy": values,
            "pr_auc": values,
            "brier": 1.0 - values,  # lower is better: the same ordering, flipped
            "fit_seconds": np.ones_like(values),
        },
    )


def make_run(per_dataset: dict[str, dict[str, np.ndarray]]) -> Run:
    datasets = []
    for name, scores in per_dataset.items():
        data = Dataset(name, name, np.zeros((4, 1)), np.array([0, 1, 0, 1]))
        results = [result(contender, name, values) for contender, values in scores.items()]
        datasets.append(DatasetResults(data, results, 1.0))
    args = argparse.Namespace(folds=5, seed=0)
    return Run(args, "", datasets, {}, {})


def test_a_level_difference_within_the_fold_spread_is_a_tie():
    safe = result(contenders.SAFEKERAS, "digits", LEVEL + NOISE)
    mlp = result(contenders.MLP, "digits", LEVEL)
    diffs = safe.values("balanced_accuracy") - mlp.values("balanced_accuracy")
    assert round(float(np.mean(diffs)), 3) == 0.0 and round(np.std(diffs, ddof=1), 3) == 0.014
    assert np.mean(diffs) > 0  # a raw-mean rule would call it a win
    for metric in quality_tables.VERDICT_METRICS:
        assert quality_tables.verdict(safe, mlp, metric).verdict == "tie", metric
        assert quality_tables.verdict(mlp, safe, metric).verdict == "tie", metric
    run = make_run({"digits": {contenders.SAFEKERAS: LEVEL + NOISE, contenders.MLP: LEVEL}})
    assert quality_tables.compare(run, contenders.MLP, "balanced_accuracy") == {
        "win": [],
        "tie": ["digits"],
        "loss": [],
    }


@pytest.mark.parametrize("metric", quality_tables.VERDICT_METRICS)
def test_swapping_the_sides_swaps_win_and_loss(metric):
    better = LEVEL + 0.03 + NOISE / 4  # clears the interval
    a = result(contenders.SAFEKERAS, "wine", better)
    b = result(contenders.HGB, "wine", LEVEL)
    forward, backward = quality_tables.verdict(a, b, metric), quality_tables.verdict(b, a, metric)
    assert (forward.verdict, backward.verdict) == ("win", "loss")
    assert forward.mean == pytest.approx(-backward.mean)
    assert forward.half_width == pytest.approx(backward.half_width)
    # The tables apply the same rule whichever side is safekeras: a peer that scores as
    # safekeras did is a loss for safekeras, by the same margin.
    ahead = make_run({"wine": {contenders.SAFEKERAS: better, contenders.HGB: LEVEL}})
    behind = make_run({"wine": {contenders.SAFEKERAS: LEVEL, contenders.HGB: better}})
    assert quality_tables.compare(ahead, contenders.HGB, metric)["win"] == ["wine"]
    assert quality_tables.compare(behind, contenders.HGB, metric)["loss"] == ["wine"]


def test_brier_is_signed_so_that_lower_wins():
    a = Result("a", "d", scores={"brier": np.array([0.10, 0.11, 0.09, 0.10, 0.10])})
    b = Result("b", "d", scores={"brier": np.array([0.20, 0.21, 0.19, 0.22, 0.20])})
    assert quality_tables.verdict(a, b, "brier").verdict == "win"
    assert quality_tables.verdict(b, a, "brier").verdict == "loss"


def test_a_contender_without_the_metric_gets_no_verdict():
    safe = result(contenders.SAFEKERAS, "wine", LEVEL)
    skipped = Result(contenders.MLP_TUNED, "wine", skipped="n/a (binary only)")
    no_proba = Result(contenders.KERAS_WRAPPER, "wine", scores={"pr_auc": np.full(5, np.nan)})
    assert quality_tables.verdict(safe, skipped, "balanced_accuracy") is None
    assert quality_tables.verdict(safe, no_proba, "pr_auc") is None
    assert quality_tables.headline_cell(safe, skipped, "pr_auc") == "n/a"


def full_run() -> Run:
    """Every contender on two datasets: one peer clearly ahead, one level, the rest behind."""
    names = [contender.name for contender in contenders.CONTENDERS]
    scores = {}
    for dataset in ("breast-cancer", "wine"):
        scores[dataset] = {name: LEVEL - 0.05 + NOISE / 4 for name in names}
        scores[dataset][contenders.SAFEKERAS] = LEVEL
        scores[dataset][contenders.SCIKERAS] = LEVEL + 0.03 + NOISE / 4
        scores[dataset][contenders.MLP] = LEVEL + NOISE
    return make_run(scores)


def test_the_headline_lists_every_contender_with_its_verdict():
    run = full_run()
    table = quality_tables.headline_table(run)
    rows = reports.tables("### Headline\n\n" + table)["Headline"]
    names = [contender.name for contender in contenders.CONTENDERS]
    assert list(rows[0])[2:] == names  # every contender, the default first
    assert set(quality_tables.PEERS) == set(names) - {contenders.SAFEKERAS}
    body, totals = rows[:-1], rows[-1]
    assert [(row["dataset"], row["metric"]) for row in body] == [
        (dataset, label)
        for dataset in ("breast-cancer", "wine")
        for label in ("balanced acc.", "PR-AUC", "Brier")
    ]
    for row in body:
        assert row[contenders.SAFEKERAS] in ("0.962", "0.038")  # its own mean, no verdict
        assert row[contenders.SCIKERAS].endswith(" loss")  # a peer's win shows as a loss
        assert row[contenders.MLP].endswith(" tie")
        assert row[contenders.HGB].endswith(" win")
    assert totals[contenders.SCIKERAS] == "0/0/6"
    assert totals[contenders.MLP] == "0/6/0"
    assert totals[contenders.HGB] == "6/0/0"


def test_the_summary_and_verdicts_name_losses_by_the_same_rule():
    run = full_run()
    summary = quality_tables.summary(run)
    for peer in quality_tables.PEERS:
        assert f"- {contenders.SAFEKERAS} vs {peer} (wins-ties-losses): " in summary, peer
    assert (
        f"vs {contenders.SCIKERAS} (wins-ties-losses): balanced acc. 0-0-2 "
        "(lost on breast-cancer, wine)"
    ) in summary
    assert f"vs {contenders.MLP} (wins-ties-losses): balanced acc. 0-2-0;" in summary
    verdict = quality_tables.dataset_verdict(run.datasets[0].results)
    assert "(loss, ahead in 0/5 folds)" in verdict and "(tie, ahead in" in verdict
    assert "best" not in verdict  # no raw-mean winner in the verdict
