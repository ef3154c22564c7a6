"""benchmarks/fit_overhead.py: the stage times add up to the fit, and the timing leaves no trace."""

import benchmark_reports as reports
import numpy as np

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
    rows, fixed = benchmark.stage_breakdown(X, y, params, repeats=1)
    less = [row for row in rows if row.startswith("| fixed cost less the logistic regression |")]
    assert len(less) == 1
    assert 0 < float(less[0].split("|")[2]) < fixed * 1e3
    rows, _ = benchmark.stage_breakdown(X, y, {**params, "linear_baseline": None}, repeats=1)
    assert not any("less the logistic" in row for row in rows)  # nothing to take away
