"""``benchmarks/defaults_ablation.py``: its report, counted by the one paired rule."""

from unittest import mock

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
    assert ablation._rule_budget(20_000, max_batch=1024) == {"batch_size": 1024, "patience": 7}
    assert ablation._rule_budget(20_000, max_batch=256) == {"batch_size": 256, "patience": 7}
    assert ablation._rule_budget(300, max_batch=256) == {"batch_size": 32, "patience": 7}


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


def test_the_patience_section_varies_the_auto_rule_for_its_fits_only():
    from sklearn.datasets import make_classification

    from safekeras import SafeKerasClassifier
    from safekeras.estimators import base
    from safekeras.network import budget

    candidates = ablation.patience_candidates("binary")
    grows = "one more per 5 epochs to the best"
    assert list(candidates) == [
        "10 epochs / 80 steps, fixed " + ablation.BEFORE,
        f"10 epochs / 80 steps, {grows}",
        f"7 epochs / 56 steps, {grows} (new default)",
        f"5 epochs / 40 steps, {grows}",
    ]
    assert ablation._baseline_name(candidates) == next(iter(candidates))
    # 300 rows: 255 train in batches of 32, 8 steps an epoch, so the epochs rule decides.
    X, y = make_classification(n_samples=300, n_features=5, random_state=0)
    fast = SafeKerasClassifier(hidden_layer_sizes=(8,), epochs=3, random_state=0)
    shorter = ablation.PatienceRule(fast, min_patience=5, patience_steps=40).fit(X, y)
    assert (shorter.patience_, shorter.estimator_.patience) == (5, "auto")
    resolved = []

    def spy(*args, **kwargs):
        resolved.append(budget.resolve_budget(*args, **kwargs))
        return resolved[-1]

    with mock.patch.object(base, "resolve_budget", spy):
        ablation.PatienceRule(fast, epochs_per_wait=0).fit(X, y)
        ablation.PatienceRule(fast).fit(X, y)
    assert [found.epochs_per_wait for found in resolved] == [0, 5]
    # restored after the fits
    assert (budget.MIN_PATIENCE, budget.PATIENCE_STEPS, budget.EPOCHS_PER_WAIT) == (7, 56, 5)
    assert ablation.PatienceRule(fast).fit(X, y).patience_ == fast.fit(X, y).patience_ == 7
    assert ablation.PatienceRule(fast, 10, 80).fit(X, y).patience_ == 10
    np.testing.assert_array_equal(shorter.predict_proba(X), shorter.estimator_.predict_proba(X))


def test_a_docs_page_without_a_sections_markers_stops_the_run_before_it_starts(
    tmp_path, monkeypatch
):
    page = tmp_path / "defaults.md"
    page.write_text(f"{ablation.DOCS_START}\nold\n{ablation.DOCS_END}\n")
    monkeypatch.setattr(ablation, "run_sections", lambda *a: pytest.fail("the run started"))
    with pytest.raises(SystemExit, match=r"no <!-- defaults:patience:start -->.*--from-json"):
        ablation.main(["--sections", "patience", "--docs", str(page)])
    assert page.read_text() == f"{ablation.DOCS_START}\nold\n{ablation.DOCS_END}\n"


def test_the_embeddings_section_patches_the_numeric_pipeline_for_its_fits_only():
    from sklearn.datasets import make_regression

    from safekeras import SafeKerasRegressor
    from safekeras.data import preprocessing

    candidates = ablation.embedding_candidates("regression")
    assert ablation._baseline_name(candidates) == next(iter(candidates))
    assert len(candidates) == 1 + len(ablation.EMBEDDINGS)
    today = preprocessing._numeric_pipeline
    X, y = make_regression(n_samples=200, n_features=3, random_state=0)
    X[:, 2] = np.round(X[:, 2]) > 0  # two values: below min_distinct, no basis
    fast = SafeKerasRegressor(hidden_layer_sizes=(8,), epochs=3, random_state=0)
    embedded = ablation.NumericEmbedding(fast, degree=1, n_knots=5, min_distinct=10).fit(X, y)
    assert preprocessing._numeric_pipeline is today  # restored after the fit
    assert "splines" not in embedded.estimator_.preprocessor_.named_transformers_  # "auto"'s off
    numeric = embedded.estimator_.preprocessor_.named_transformers_["numeric"]
    assert [name for name, _ in numeric.steps] == [
        *(name for name, _ in today().steps),
        "embed",
    ]
    splines = numeric.named_steps["embed"].transformer_list[1][1]
    assert splines.columns_ == [0, 1]
    width = 3 + 2 * 5  # the 3 scaled columns, then 5 degree-1 basis functions of 2 of them
    assert embedded.estimator_.model_.input_shape[-1] == width
    # predict reads the fitted preprocessor (not the plan of the "auto" one): the same embedding.
    assert embedded.estimator_._preprocessing_plan() is None
    x = embedded.estimator_.preprocessor_.transform(X).astype("float32")
    assert x.shape == (200, width)
    network_output = embedded.estimator_.model_.predict(x, verbose=0)
    # The default regressor's network learnt the residual of its linear baseline.
    expected = embedded.estimator_.linear_baseline_.combine(x, network_output)
    np.testing.assert_allclose(embedded.estimator_.pipeline_.predict(X), expected, rtol=1e-5)
    assert np.isfinite(embedded.predict(X)).all()
    with pytest.raises(ValueError):
        ablation.NumericEmbedding(fast).fit(X, np.full(len(X), np.nan))
    assert preprocessing._numeric_pipeline is today  # restored after a fit that raised, too
    plain = fast.fit(X, y)  # a fit outside the candidate is today's: "auto"'s own embeddings
    assert plain.model_.input_shape[-1] == 3 + 2 * 8 and plain._preprocessing_plan() is not None


@pytest.mark.parametrize("kind", ["regression", "binary"])
def test_the_splines_section_pairs_the_default_with_the_other_embeddings_setting(kind):
    from sklearn.base import clone
    from sklearn.datasets import make_regression

    from safekeras import SafeKerasClassifier, SafeKerasRegressor

    candidates = ablation.spline_candidates(kind)
    assert ablation._baseline_name(candidates) == next(iter(candidates))
    estimator = SafeKerasRegressor if kind == "regression" else SafeKerasClassifier
    shipped = estimator._auto_numeric_splines
    assert shipped is (kind == "regression")
    baseline, candidate = (make(200) for make in candidates.values())
    default, other = (candidate, baseline) if shipped else (baseline, candidate)
    assert default.get_params()["numeric_embeddings"] == "auto"  # the default, as shipped
    assert other.get_params()["numeric_embeddings"] == (None if shipped else "splines")
    X, y = make_regression(n_samples=200, n_features=2, random_state=0)
    y = y if kind == "regression" else (y > 0).astype(int)
    for made, enabled in ((default, shipped), (other, not shipped)):
        fitted = clone(made).set_params(hidden_layer_sizes=(8,), epochs=2).fit(X, y)
        width = 2 + 2 * 8 if enabled else 2
        assert fitted.model_.input_shape[-1] == width
        assert fitted._preprocessing_plan() is not None  # predict reads the plan
        assert fitted.predict(X).shape == (200,)


def test_quantile_splines_drop_repeated_knots_and_hold_the_basis_beyond_the_range():
    column = np.r_[np.zeros(80), np.linspace(1, 2, 20)][:, None]  # 80 % ties at 0
    splines = ablation.QuantileSplines(degree=1, n_knots=6, min_distinct=3).fit(column)
    assert splines.columns_ == [0]
    knots = splines.splines_[0].bsplines_[0].t
    assert len(np.unique(knots)) < 6  # the tied quantiles became one knot
    outside = splines.transform(np.array([[-5.0], [10.0]]))
    np.testing.assert_allclose(outside, splines.transform(np.array([[0.0], [2.0]])))
    assert len(splines.get_feature_names_out(["a"])) == outside.shape[1]


def test_the_cross_fit_section_shares_the_split_for_the_rule_befores_fits_only():
    from sklearn.datasets import make_regression

    from safekeras import SafeKerasRegressor
    from safekeras.network import ensemble

    candidates = ablation.cross_fit_candidates()
    before, default = candidates
    assert before.endswith(ablation.BEFORE) and ablation._baseline_name(candidates) == before
    X, y = make_regression(n_samples=120, n_features=4, noise=5.0, random_state=0)
    seen = []
    member_rows = ensemble.member_rows

    def spy(*args, **kwargs):
        seen.append(ensemble.CROSS_FIT)
        return member_rows(*args, **kwargs)

    fast = dict(hidden_layer_sizes=(8,), epochs=3)
    with mock.patch.object(ensemble, "member_rows", spy):
        shared = candidates[before](120).set_params(estimator__random_state=0)
        shared.estimator.set_params(**fast)
        shared.fit(X, y)
        crossed = SafeKerasRegressor(random_state=0, **fast).fit(X, y)
    assert seen == [False, True] and ensemble.CROSS_FIT is True  # restored after the fit
    assert not np.array_equal(shared.predict(X), crossed.predict(X))
    assert isinstance(candidates[default](120), SafeKerasRegressor)


def test_the_baseline_section_pairs_the_default_with_the_network_alone():
    from sklearn.base import clone
    from sklearn.datasets import make_regression

    from safekeras import SafeKerasRegressor

    candidates = ablation.baseline_candidates()
    before, _ = candidates
    assert before.endswith(ablation.BEFORE) and ablation._baseline_name(candidates) == before
    alone, shipped = (make(200) for make in candidates.values())
    assert alone.get_params()["linear_baseline"] is None
    assert shipped.get_params() == SafeKerasRegressor(random_state=ablation.SEED).get_params()
    X, y = make_regression(n_samples=120, n_features=3, noise=5.0, random_state=0)
    fast = dict(hidden_layer_sizes=(8,), epochs=2)
    assert clone(alone).set_params(**fast).fit(X, y).linear_baseline_ is None
    assert clone(shipped).set_params(**fast).fit(X, y).linear_baseline_ is not None
    assert "baseline" in ablation.POOLED and "baseline" not in ablation.parse_args([]).sections


def test_the_logistic_section_pairs_the_default_with_the_network_alone_and_always():
    from safekeras import SafeKerasClassifier

    candidates = ablation.logistic_candidates()
    before, always, shipped = candidates
    assert before.endswith(ablation.BEFORE) and ablation._baseline_name(candidates) == before
    estimators = {name: make(200) for name, make in candidates.items()}
    assert estimators[before].get_params()["linear_baseline"] is None
    assert estimators[always].get_params()["linear_baseline"] == "logistic"
    default = SafeKerasClassifier(random_state=ablation.SEED).get_params()
    assert estimators[shipped].get_params() == default
    assert "logistic" in ablation.POOLED and "logistic" not in ablation.parse_args([]).sections
    args = ablation.parse_args(["--sections", "logistic"])
    names = [name for name, *_ in ablation._section_tasks("logistic", args)]
    assert names[-2:] == ["600x30", "3000x10"]  # the default-path data after the real tables
    named = ablation.parse_args(["--sections", "logistic", "--tasks", "wine"])
    assert "600x30" not in [name for name, *_ in ablation._section_tasks("logistic", named)]


@pytest.mark.parametrize("kind", ["regression", "binary"])
def test_the_width_section_pairs_the_default_layers_with_wider_and_deeper_ones(kind):
    from safekeras import SafeKerasClassifier, SafeKerasRegressor

    candidates = ablation.width_candidates(kind)
    before = next(iter(candidates))
    assert before.endswith(ablation.BEFORE) and ablation._baseline_name(candidates) == before
    estimator = SafeKerasRegressor if kind == "regression" else SafeKerasClassifier
    made = {name: make(200) for name, make in candidates.items()}
    assert made[before].get_params() == estimator(random_state=ablation.SEED).get_params()
    widths = [made[name].get_params()["hidden_layer_sizes"] for name in list(candidates)[1:]]
    assert widths == list(ablation.WIDTHS)
    assert "width" in ablation.EXPERIMENTS and "width" not in ablation.parse_args([]).sections


@pytest.mark.parametrize("kind", ["regression", "binary"])
def test_the_ensemble_stop_section_trains_to_the_last_member_for_the_rule_before_only(kind):
    from sklearn.datasets import make_classification, make_regression

    from safekeras.network import deferred_stack, ensemble

    candidates = ablation.ensemble_stop_candidates(kind)
    before, default = candidates
    assert before.endswith(ablation.BEFORE) and ablation._baseline_name(candidates) == before
    if kind == "regression":
        X, y = make_regression(n_samples=120, n_features=4, noise=5.0, random_state=0)
    else:
        X, y = make_classification(n_samples=120, n_features=4, random_state=0)
    seen = []
    train = deferred_stack.train_stacked_members  # built or not, the members train here

    def spy(*args, **kwargs):
        seen.append(kwargs["folds_left"])
        return train(*args, **kwargs)

    fast = dict(hidden_layer_sizes=(8,), epochs=3)
    with mock.patch.object(deferred_stack, "train_stacked_members", spy):
        to_the_last = candidates[before](120)
        to_the_last.estimator.set_params(**fast)
        to_the_last.fit(X, y)
        all_but_one = candidates[default](120).set_params(**fast).fit(X, y)
    assert seen == [0, 1] and ensemble.MEMBERS_LEFT == 1  # restored after the fit
    assert all_but_one.ensemble_size_ == to_the_last.estimator_.ensemble_size_ == 4


def test_the_scaling_section_swaps_the_numeric_scaler_for_its_fits_only():
    from sklearn.datasets import make_classification
    from sklearn.preprocessing import QuantileTransformer, StandardScaler

    from benchmarks.numeric_scaling import RobustSoftClip
    from safekeras import SafeKerasClassifier
    from safekeras.data import preprocessing

    candidates = ablation.scaling_candidates("binary")
    before, robust, quantiles = candidates
    assert before.endswith(ablation.BEFORE) and ablation._baseline_name(candidates) == before
    assert isinstance(candidates[robust](100).scaler, RobustSoftClip)
    assert isinstance(candidates[quantiles](100).scaler, QuantileTransformer)
    today = preprocessing._numeric_pipeline
    X, y = make_classification(n_samples=150, n_features=4, random_state=0)
    X[:5, 0] = 1e6  # an outlier the robust scaler squashes
    fast = SafeKerasClassifier(hidden_layer_sizes=(8,), epochs=3, random_state=0)
    squashed = ablation.NumericScaling(fast, RobustSoftClip()).fit(X, y)
    assert preprocessing._numeric_pipeline is today  # restored after the fit
    numeric = squashed.estimator_.preprocessor_.named_transformers_["numeric"]
    assert [name for name, _ in numeric.steps] == [name for name, _ in today().steps]
    assert isinstance(numeric.named_steps["scale"], RobustSoftClip)
    # predict reads the fitted preprocessor (the plan reads a StandardScaler only).
    assert squashed.estimator_._preprocessing_plan() is None
    assert np.abs(squashed.estimator_.preprocessor_.transform(X)).max() <= 3.0
    proba = squashed.predict_proba(X)
    assert np.isfinite(proba).all() and squashed.predict(X).shape == y.shape
    plain = fast.fit(X, y)  # a fit outside the candidate is today's
    assert isinstance(
        plain.preprocessor_.named_transformers_["numeric"].named_steps["scale"], StandardScaler
    )


def test_the_regularisation_section_varies_the_penalty_and_halves_the_rate_on_plateaus():
    import keras

    from safekeras.network import budget

    candidates = ablation.regularisation_candidates("regression")
    before = next(iter(candidates))
    assert before.endswith(ablation.BEFORE) and ablation._baseline_name(candidates) == before
    n = 1000
    penalties = [candidates[name](n).l2 for name in candidates]
    rows = int(n * ablation.TRAIN_SHARE)
    assert penalties[:4] == [1e-4, 1e-3, 1e-5, 1.0 / rows]
    (plateau,) = candidates["rate halved on plateaus"](n).callbacks
    assert isinstance(plateau, keras.callbacks.ReduceLROnPlateau)
    wait = budget.auto_patience(rows, budget.auto_batch_size(rows))
    assert plateau.patience == max(2, wait // 2) and plateau.factor == 0.5
    # Each fit gets its own callback: a plateau counter is state.
    assert candidates["rate halved on plateaus"](n).callbacks[0] is not plateau


def test_pooling_appends_each_seeds_folds_and_judges_them_together(tmp_path):
    import json

    seed0 = {
        "regression": {
            "heavy": {
                TODAY: _result([0.3] * 5, [5] * 5),
                "better": _result([0.31, 0.32, 0.31, 0.30, 0.32], [5] * 5),
            }
        }
    }
    seed1 = {
        "regression": {
            "heavy": {
                TODAY: _result([0.4] * 5, [4] * 5),
                "better": _result([0.41, 0.40, 0.42, 0.41, 0.41], [4] * 5),
            }
        }
    }
    pooled = ablation.pooled([seed0, seed1])
    better = pooled["regression"]["heavy"]["better"]
    assert better["r2"] == [0.31, 0.32, 0.31, 0.30, 0.32, 0.41, 0.40, 0.42, 0.41, 0.41]
    assert len(better["fit_s"]) == 10
    paths = []
    for k, run in enumerate((seed0, seed1)):
        paths.append(tmp_path / f"s{k}.json")
        paths[-1].write_text(json.dumps(run), "utf-8")
    report = ablation.main(["--from-json", *map(str, paths), "--pool"])
    pooled_verdict = compare_paired(better["r2"], pooled["regression"]["heavy"][TODAY]["r2"])
    assert f"{pooled_verdict.mean:+.3f} ± {pooled_verdict.half_width:.3f}" in report
    assert "ahead in 8/10 folds" in report  # 10 pairs, not the last file's 5
    last_only = ablation.main(["--from-json", *map(str, paths)])
    assert "ahead in 4/5 folds" in last_only
    # A default run leaves the pooled sections' blocks alone.
    assert not set(ablation.parse_args([]).sections) & set(ablation.POOLED)
