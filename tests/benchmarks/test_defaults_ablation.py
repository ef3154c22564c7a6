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


def _classified(balanced_accuracy):
    return {"fit_s": [1.0] * 5, "balanced_accuracy": balanced_accuracy, "pr_auc": [0.5] * 5}


def test_the_threshold_section_compares_with_the_rule_before_and_fills_its_own_block(tmp_path):
    before = "tuned on held-out rows " + ablation.BEFORE
    raw = {
        "threshold": {
            "600x30": {
                "share": _classified([0.80, 0.82, 0.81, 0.83, 0.84]),
                before: _classified([0.70, 0.71, 0.72, 0.70, 0.73]),
            }
        },
        **RAW,
    }
    assert ablation._baseline_name(raw["threshold"]["600x30"]) == before
    report = ablation.render({"threshold": raw["threshold"]})
    assert "| candidate vs before |" in report and "Δ bal. acc. vs before" in report
    assert "| share | 1/0/0 | 0/1/0 |" in report
    page = tmp_path / "defaults.md"
    page.write_text(
        f"{ablation.DOCS_START}\nold\n{ablation.DOCS_END}\n"
        "<!-- defaults:threshold:start -->\nold\n<!-- defaults:threshold:end -->\n"
    )
    for name, part in ablation._docs_blocks(raw).items():
        ablation.write_between_markers(page, ablation.render(part), name)
    text = page.read_text()
    assert "\nold\n" not in text
    tables, threshold = text.split("<!-- defaults:threshold:start -->")
    assert "heavy" in tables and "600x30" not in tables
    assert "600x30" in threshold and "heavy" not in threshold


def test_the_rule_before_tunes_where_the_old_auto_did():
    from sklearn.datasets import make_classification

    from benchmarks.threshold_rules import HeldOutThreshold
    from safekeras import SafeKerasClassifier

    X, y = make_classification(n_samples=300, n_features=5, weights=[0.9], random_state=0)
    fast = SafeKerasClassifier(hidden_layer_sizes=(8,), epochs=3, random_state=0)
    small = HeldOutThreshold(fast).fit(X, y)  # about 5 positives in the split: 5 folds
    assert small.estimator_.threshold_search_.n_folds == 5
    X, y = make_classification(n_samples=1000, n_features=5, weights=[0.5], random_state=0)
    large = HeldOutThreshold(fast).fit(X, y)  # about 75 of each class in the split
    assert large.estimator_.threshold_search_.n_folds == 0
    np.testing.assert_array_equal(large.predict(X), large.estimator_.predict(X))
