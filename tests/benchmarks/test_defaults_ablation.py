"""``benchmarks/defaults_ablation.py``: its report, counted by the one paired rule."""

import numpy as np
import pandas as pd
import pytest

from benchmarks import defaults_ablation as ablation
from benchmarks.paired import compare_paired

TODAY = ablation.TODAY


def _result(r2, mae, **attributes):
    return {"fit_s": [1.0, 2.0, 3.0, 4.0, 5.0], "r2": r2, "mae": mae, **attributes}


RAW = {
    "regression": {
        "heavy": {
            TODAY: _result([0.30, 0.40, 0.35, 0.38, 0.33], [5, 5, 5, 5, 5], batch_size_=[256] * 5),
            "better": _result(
                [0.50, 0.55, 0.52, 0.57, 0.51],
                [4, 4, 4, 4, 4],
                batch_size_=[32] * 5,
                patience_=[15, 15, 14, 15, 15],
                n_epochs_=[40, 50, 60, 70, 80],
                target_transform_=["log1p"] * 5,
            ),
        }
    }
}


def test_table_counts_each_candidate_against_today_by_the_paired_rule():
    report = ablation.render(RAW)
    verdict = compare_paired(
        RAW["regression"]["heavy"]["better"]["r2"], RAW["regression"]["heavy"][TODAY]["r2"]
    )
    assert verdict.verdict == "win"
    assert f"| better | 0.530 | {verdict} |" in report
    assert "| better | 1/0/0 | 1/0/0 |" in report  # R² and MAE (lower is better) both win
    assert "batch 32, patience 14/15, epochs 60, y log1p" in report
    assert f"| {TODAY} | 0.352 | — |" in report


def test_the_docs_page_gets_the_tables_between_its_markers(tmp_path):
    page = tmp_path / "defaults.md"
    page.write_text(f"# Title\n\n{ablation.DOCS_START}\nold\n{ablation.DOCS_END}\n\nprose\n")
    ablation.write_between_markers(page, "NEW TABLES")
    text = page.read_text()
    assert "old" not in text
    assert f"{ablation.DOCS_START}\nNEW TABLES\n{ablation.DOCS_END}\n\nprose" in text
    page.write_text("# no markers\n")
    with pytest.raises(SystemExit, match="has no <!-- defaults:tables:start -->"):
        ablation.write_between_markers(page, "x")


def test_rule_variants_follow_the_budget_rule():
    assert ablation._rule_budget(20_000, max_batch=1024) == {"batch_size": 1024, "patience": 10}
    assert ablation._rule_budget(20_000, max_batch=256) == {"batch_size": 256, "patience": 10}
    assert ablation._rule_budget(300, max_batch=256) == {"batch_size": 32, "patience": 10}


def test_string_columns_become_categories_for_gradient_boosting():
    frame = pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"]})
    converted = ablation._categoricals_as_category(frame)
    assert str(converted["b"].dtype) == "category"
    assert str(frame["b"].dtype) != "category"  # the caller's frame is left as it was
    array = np.zeros((2, 2))
    assert ablation._categoricals_as_category(array) is array
