"""benchmarks/fit_overhead.py: the stage times add up to the fit, and the timing leaves no trace."""

from types import SimpleNamespace

import benchmark_reports as reports
import numpy as np
import pytest

from safekeras import SafeKerasClassifier


def test_stage_times_add_up_to_the_fit_and_the_wrappers_are_removed():
    benchmark = reports.load_benchmark("fit_overhead")
    rng = np.random.RandomState(0)
    X = rng.normal(size=(120, 4))
    y = (X[:, 0] > 0.8).astype(int)
    params = dict(threshold_cv=None, hidden_layer_sizes=(4,), epochs=3, random_state=0)
    original = SafeKerasClassifier._build_network
    total, times, fitted = benchmark.fit_once(X, y, params)
    assert SafeKerasClassifier._build_network is original
    assert "_build_network" not in vars(SafeKerasClassifier)
    assert fitted.n_epochs_ == 3
    top = [label for label, _, _, depth in benchmark._STAGES if depth == 0]
    stages = ("model build (or its recipe)", "logistic average (its regression fitted)")
    assert all(times[label] > 0 for label in (*stages, "epochs (one compiled call)"))
    assert 0.5 * total < sum(times.get(label, 0.0) for label in top) <= total
    inner = [label for label, _, _, depth in benchmark._STAGES if depth == 1]
    assert sum(times.get(label, 0.0) for label in inner) <= total


def test_per_epoch_measures_the_fit_and_its_arithmetic_in_turns(monkeypatch):
    import keras

    benchmark = reports.load_benchmark("fit_overhead")
    rng = np.random.RandomState(0)
    X = rng.normal(size=(120, 4))
    y = (X[:, 0] > 0.8).astype(int)
    epochs_run = []
    original = benchmark.fit_once

    def counting(X, y, params):
        epochs_run.append(params.get("epochs"))
        return original(X, y, params)

    monkeypatch.setattr(benchmark, "fit_once", counting)
    slope, arithmetic, batch_size = benchmark.per_epoch(X, y, short=1, long=3, repeats=2)
    assert epochs_run == [None, 1, 3, 1, 3, 1, 3]  # the batch size's fit, a warm-up round, 2 rounds
    assert batch_size >= 1 and np.isfinite(slope)
    if keras.backend.backend() == "tensorflow":
        assert np.isfinite(arithmetic)
    else:
        assert arithmetic is None


def test_the_fixed_cost_is_also_shown_less_the_logistic_regression():
    benchmark = reports.load_benchmark("fit_overhead")
    rng = np.random.RandomState(0)
    X = rng.normal(size=(120, 4))
    y = (X[:, 0] > 0.8).astype(int)
    params = dict(hidden_layer_sizes=(4,), epochs=3, random_state=0)
    rows, summary = benchmark.stage_breakdown(X, y, params, repeats=1)
    less = [row for row in rows if row.startswith("| fixed cost less the logistic regression |")]
    assert len(less) == 1
    assert 0 < float(less[0].split("|")[2]) < summary["fixed"] * 1e3
    assert summary["fixed_less_logistic"] == summary["fixed"] - summary["logistic"]  # one fit
    # The docs' stages: the training call less its epochs in place of the call, "other" last.
    stages = summary["stages"]
    assert list(stages)[-1] == benchmark.OTHER and benchmark.TRAIN not in stages
    assert stages[benchmark.AROUND_EPOCHS] >= 0 and summary["epochs_call"] > 0
    assert sum(stages.values()) + summary["epochs_call"] == pytest.approx(summary["whole"])
    rows, _ = benchmark.stage_breakdown(X, y, {**params, "linear_baseline": None}, repeats=1)
    assert not any("less the logistic" in row for row in rows)  # nothing to take away


def test_the_docs_block_reads_each_target_off_the_numbers():
    docs = reports.load_benchmark("fit_overhead_docs")

    def summary(fixed, logistic, tiny=0.00004):
        stages = {
            "preprocessing fit + transform": fixed - logistic - 0.001 - tiny - 0.00004,
            "logistic": logistic,
            "threshold search": tiny,
            "recording": 0.00004,
            "other": 0.001,
        }
        return {
            "stages": stages,
            "whole": fixed + 0.05,
            "epochs_call": 0.05,
            "fixed": fixed,
            "logistic": logistic,
            "fixed_less_logistic": fixed - logistic,
            "epochs": 20,
        }

    measured = {
        (600, 30): {"defaults": summary(0.0095, 0.002), "per_epoch": (0.0018, 0.0017)},
        (3000, 10): {"defaults": summary(0.0121, 0.0025, 0.0001), "per_epoch": (0.0032, 0.0031)},
    }
    args = SimpleNamespace(repeats=7, short=10, long=60)
    body = docs.docs_body(measured, args)
    assert "| ms (median of warm default fits) | 600 x 30 | 3000 x 10 |" in body
    assert "| **fixed cost** (the fit minus its epochs) | **9.5** | **12.1** |" in body
    assert "| fixed cost less the logistic regression | 7.5 | 9.6 |" in body
    # A stage is shown where it took 0.05 ms at some size, in its place; else it is "other".
    rows = [line.split(" | ")[0] for line in body.splitlines() if line.startswith("| &nbsp;")]
    assert rows == [
        f"| &nbsp;&nbsp;{label}"
        for label in ("preprocessing fit + transform", "logistic", "threshold search", "other")
    ]
    measured[(3000, 10)]["defaults"] = summary(0.0121, 0.0025)
    assert "threshold search" not in docs.docs_body(measured, args)
    assert "| &nbsp;&nbsp;other | 1.1 | 1.1 |" in docs.docs_body(measured, args)  # 1 + 2 x 0.04
    assert "| per epoch beyond the same epochs in plain TensorFlow ops | 0.10 | 0.10 |" in body
    assert "at most 10 ms, met at 600 x 30, not at 3000 x 10 (met at every size without" in body
    assert "0.2 ms per epoch beyond the arithmetic, met at every size." in body
    # On JAX there is no plain-ops floor: no row, and the per-epoch target is not judged.
    measured[(600, 30)]["per_epoch"] = measured[(3000, 10)]["per_epoch"] = (0.0018, None)
    assert "plain TensorFlow ops |" not in docs.docs_body(measured, args)
