"""The compiled training engine against model.fit (safekeras/network/engine/).

The strongest check is arithmetic: with one full batch per epoch the order of
the rows cannot matter, so the compiled engine and ``model.fit`` must take the
very same optimizer steps from the same seeded initial weights. Equal
histories and equal predictions then show that the loss (compiled loss,
sample and class weights, L2 penalties), batch normalisation, validation loss
and early stopping are computed as Keras computes them. Mini-batch training is
checked for equal quality and for determinism.
"""

import os
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor

import keras
import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.metrics import balanced_accuracy_score, r2_score
from sklearn.model_selection import train_test_split

from safekeras import ParameterError, SafeKerasClassifier, SafeKerasRegressor, TrainingError
from safekeras.network import budget
from safekeras.network.engine import (
    COMPILED_BACKENDS,
    compiled_obstacles,
    loop,
    resolve_engine,
    tf_epochs,
    whole_fit,
)

pytestmark = pytest.mark.skipif(
    keras.backend.backend() not in COMPILED_BACKENDS,
    reason=f"the compiled engine exists for {' and '.join(COMPILED_BACKENDS)}; "
    f"{keras.backend.backend()} trains with model.fit",
)

# One optimizer step per epoch over every training row: the row order is irrelevant.
FULL_BATCH = dict(
    hidden_layer_sizes=(16,),
    dropout=0.0,
    l2=1e-3,
    batch_size=10_000,
    learning_rate=0.05,
    epochs=6,
    threshold=None,
    random_state=0,
)


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(240, 6))
    y = (X[:, 0] - X[:, 1] + 0.5 * rng.normal(size=240) > 0).astype(int)
    return X, y


def _fit_both(make, X, y, **fit_params):
    fitted = {}
    for engine in ("compiled", "keras"):
        fitted[engine] = make(engine).fit(X, y, **fit_params)
        assert fitted[engine].engine_ == engine
    return fitted["compiled"], fitted["keras"]


def _assert_same_training(compiled, keras_fit, X, proba=True):
    assert compiled.history_.keys() == keras_fit.history_.keys()
    for key in compiled.history_:
        np.testing.assert_allclose(compiled.history_[key], keras_fit.history_[key], rtol=1e-4)
    assert compiled.best_epoch_ == keras_fit.best_epoch_
    assert compiled.n_epochs_ == keras_fit.n_epochs_
    predict = "predict_proba" if proba else "predict"
    np.testing.assert_allclose(
        getattr(compiled, predict)(X), getattr(keras_fit, predict)(X), rtol=1e-4, atol=1e-5
    )


@pytest.mark.parametrize("early_stopping", [False, True])
def test_full_batch_binary_training_matches_model_fit_step_for_step(data, early_stopping):
    X, y = data
    weights = np.where(y == 1, 3.0, 1.0)  # unequal weights and an L2 penalty in the loss
    epochs = 40 if early_stopping else 6
    compiled, keras_fit = _fit_both(
        lambda engine: SafeKerasClassifier(
            engine=engine,
            early_stopping=early_stopping,
            patience=2,
            **{**FULL_BATCH, "epochs": epochs},
        ),
        X,
        y,
        sample_weight=weights,
    )
    _assert_same_training(compiled, keras_fit, X)
    assert ("val_loss" in compiled.history_) is early_stopping
    if early_stopping:  # both stopped at the same epoch, well before the budget
        assert compiled.n_epochs_ - compiled.best_epoch_ == 2 and compiled.n_epochs_ < epochs


def test_full_batch_class_weights_multiclass_and_batch_norm_match_model_fit():
    X, y = load_wine(return_X_y=True)

    def with_batch_norm(meta):
        return keras.Sequential(
            [
                keras.Input((meta["n_features_in_"],)),
                keras.layers.Dense(12, activation="relu"),
                keras.layers.BatchNormalization(),
                keras.layers.Dense(meta["n_outputs_"], activation="softmax"),
            ]
        )

    compiled, keras_fit = _fit_both(
        lambda engine: SafeKerasClassifier(
            with_batch_norm,
            engine=engine,
            class_weight="balanced",
            **{**FULL_BATCH, "threshold": "auto"},
        ),
        X,
        y,
    )
    _assert_same_training(compiled, keras_fit, X)
    moving_mean = compiled.model_.layers[1].moving_mean
    assert np.abs(np.asarray(moving_mean)).max() > 0  # batch norm trained in training mode


@pytest.mark.parametrize("multioutput", [False, True])
def test_full_batch_regression_matches_model_fit(multioutput):
    X, y = load_diabetes(return_X_y=True)
    if multioutput:
        y = np.column_stack([y, -0.5 * y + 10])
    compiled, keras_fit = _fit_both(
        lambda engine: SafeKerasRegressor(
            engine=engine,
            ensemble_size=1,  # model.fit trains one network
            **{k: v for k, v in FULL_BATCH.items() if k != "threshold"},
        ),
        X,
        y,
    )
    _assert_same_training(compiled, keras_fit, X, proba=False)


def test_full_batch_multilabel_matches_model_fit(data):
    X, y = data
    Y = np.column_stack([y, X[:, 2] > 0])
    compiled, keras_fit = _fit_both(
        lambda engine: SafeKerasClassifier(engine=engine, **FULL_BATCH), X, Y
    )
    _assert_same_training(compiled, keras_fit, X)


def test_minibatch_training_reaches_model_fit_quality():
    datasets = [load_breast_cancer(return_X_y=True), load_wine(return_X_y=True)]
    for X, y in datasets:
        X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=0)
        scores = {}
        for engine in ("compiled", "keras"):
            clf = SafeKerasClassifier(engine=engine, epochs=40, batch_size=32, random_state=0)
            scores[engine] = balanced_accuracy_score(
                y_test, clf.fit(X_train, y_train).predict(X_test)
            )
        assert scores["compiled"] > 0.9
        assert abs(scores["compiled"] - scores["keras"]) < 0.05, scores

    X, y = load_diabetes(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    r2 = {
        engine: r2_score(
            y_test,
            SafeKerasRegressor(
                engine=engine, ensemble_size=1, epochs=60, batch_size=32, random_state=0
            )
            .fit(X_train, y_train)
            .predict(X_test),
        )
        for engine in ("compiled", "keras")
    }
    assert r2["compiled"] > 0.3 and abs(r2["compiled"] - r2["keras"]) < 0.1, r2


def test_minibatch_compiled_training_is_seeded_and_covers_the_last_partial_batch(data):
    X, y = data
    params = dict(engine="compiled", batch_size=50, epochs=4, early_stopping=False, threshold=None)
    first = SafeKerasClassifier(random_state=3, **params).fit(X, y)
    again = SafeKerasClassifier(random_state=3, **params).fit(X, y)
    other = SafeKerasClassifier(random_state=4, **params).fit(X, y)
    np.testing.assert_array_equal(first.predict_proba(X), again.predict_proba(X))
    assert not np.allclose(first.predict_proba(X), other.predict_proba(X))
    # 240 rows in batches of 50: 4 full batches and one of 40, every epoch.
    assert int(first.model_.optimizer.iterations) == 4 * 5


def test_early_stopping_keeps_the_best_epoch(data):
    X, y = data
    clf = SafeKerasClassifier(
        engine="compiled",
        hidden_layer_sizes=(64,),
        epochs=80,
        patience=3,
        learning_rate=0.05,
        batch_size=16,
        threshold=None,
        random_state=0,
    ).fit(X, y)
    val_loss = clf.history_["val_loss"]
    assert clf.best_epoch_ == int(np.argmin(val_loss)) + 1
    assert clf.n_epochs_ - clf.best_epoch_ == 3 and clf.n_epochs_ < 80


def test_patience_zero_stops_at_the_first_epoch_without_improvement(data):
    X, y = data
    clf = SafeKerasClassifier(
        engine="compiled", patience=0, epochs=200, learning_rate=0.2, threshold=None, random_state=0
    ).fit(X, y)
    val_loss = clf.history_["val_loss"]
    assert all(np.diff(val_loss[:-1]) < 0) and val_loss[-1] >= min(val_loss[:-1])


class _Recorder(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.events = []
        self.first_kernels = []

    def on_train_begin(self, logs=None):
        self.events.append("train_begin")

    def on_epoch_begin(self, epoch, logs=None):
        self.events.append(f"epoch_begin {epoch}")

    def on_epoch_end(self, epoch, logs=None):
        self.events.append(f"epoch_end {epoch} {sorted(logs)}")
        self.first_kernels.append(self.model.layers[0].kernel.numpy().copy())

    def on_train_end(self, logs=None):
        self.events.append("train_end")


def test_callbacks_get_the_epoch_hooks_logs_and_live_weights_of_model_fit(data):
    X, y = data
    seen = []

    class Spy(_Recorder):
        def on_train_end(self, logs=None):
            super().on_train_end(logs)
            seen.append(self)

    SafeKerasClassifier(
        engine="compiled", callbacks=[Spy()], epochs=2, patience=5, threshold=None
    ).fit(X, y)
    (spy,) = seen
    assert spy.events == [
        "train_begin",
        "epoch_begin 0",
        "epoch_end 0 ['loss', 'val_loss']",
        "epoch_begin 1",
        "epoch_end 1 ['loss', 'val_loss']",
        "train_end",
    ]
    assert not np.allclose(spy.first_kernels[0], spy.first_kernels[1])  # weights seen live


def test_a_learning_rate_callback_takes_effect(data):
    X, y = data
    frozen = keras.callbacks.LearningRateScheduler(lambda epoch, lr: 0.0)
    clf = SafeKerasClassifier(
        engine="compiled",
        callbacks=[frozen],
        dropout=0.0,
        epochs=3,
        early_stopping=False,
        threshold=None,
        random_state=0,
    ).fit(X, y)
    np.testing.assert_allclose(clf.history_["loss"], clf.history_["loss"][0], rtol=1e-5)


def test_epoch_level_model_checkpoint_stays_on_the_compiled_engine(data, tmp_path):
    X, y = data
    path = tmp_path / "best.keras"
    checkpoint = keras.callbacks.ModelCheckpoint(path, monitor="val_loss", save_best_only=True)
    clf = SafeKerasClassifier(callbacks=[checkpoint], epochs=3, threshold=None).fit(X, y)
    assert clf.engine_ == "compiled" and path.exists()


class _PerBatch(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.batches = 0

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1


def test_per_batch_callbacks_train_with_model_fit_under_auto(data):
    X, y = data
    clf = SafeKerasClassifier(callbacks=[_PerBatch()], epochs=2, threshold=None).fit(X, y)
    assert clf.engine_ == "keras"
    lambda_callback = keras.callbacks.LambdaCallback(on_batch_end=lambda batch, logs: None)
    clf.set_params(callbacks=[lambda_callback]).fit(X, y)
    assert clf.engine_ == "keras"


def test_engine_compiled_refuses_what_it_cannot_run_and_says_why(data):
    X, y = data
    clf = SafeKerasClassifier(engine="compiled", callbacks=[_PerBatch()], epochs=2)
    with pytest.raises(
        ParameterError, match=r"_PerBatch uses per-batch hooks \(on_train_batch_end"
    ):
        clf.fit(X, y)
    assert not hasattr(clf, "pipeline_")


def test_networks_with_their_own_train_step_are_trained_by_model_fit():
    class OwnStep(keras.Sequential):
        def train_step(self, data):
            return super().train_step(data)

    network = OwnStep([keras.Input((3,)), keras.layers.Dense(1)])
    assert compiled_obstacles(network, None) == ["OwnStep overrides train_step"]
    assert resolve_engine("auto", network, None) == "keras"
    with pytest.raises(ParameterError, match="OwnStep overrides train_step"):
        resolve_engine("compiled", network, None)
    plain = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    assert resolve_engine("auto", plain, None) == "compiled"
    assert resolve_engine("keras", plain, None) == "keras"


def test_verbose_prints_one_line_per_epoch(data, capsys):
    X, y = data
    SafeKerasClassifier(engine="compiled", epochs=2, patience=5, threshold=None, verbose=1).fit(
        X, y
    )
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("Epoch")]
    assert len(lines) == 2
    assert lines[0].startswith("Epoch 1/2 - loss: ") and " - val_loss: " in lines[0]


def test_a_nan_loss_stops_with_a_training_error(data):
    X, y = data
    clf = SafeKerasRegressor(
        engine="compiled", preprocessor=None, early_stopping=False, epochs=3, learning_rate=1e6
    )
    with pytest.raises(TrainingError, match=r"diverged: loss became (nan|inf) at epoch \d"):
        clf.fit(X * 1e15, y * 1e15)
    assert not hasattr(clf, "pipeline_")


class _EpochCounter(keras.callbacks.Callback):
    """An epoch-level callback: fits with callbacks train their own network, not a twin."""

    def on_epoch_end(self, epoch, logs=None):
        pass


def _twins_idle():
    return all(not twin.in_use.locked() for twin in tf_epochs._twins.values())


def test_refits_reuse_a_traced_twin_with_the_same_arithmetic(data):
    X, y = data
    params = dict(engine="compiled", batch_size=32, epochs=5, threshold=None, random_state=5)
    first = SafeKerasClassifier(**params).fit(X, y)
    cached = dict(tf_epochs._twins)
    second = SafeKerasClassifier(**params).fit(X[:200], y[:200])  # other row count, same twin
    again = SafeKerasClassifier(**params).fit(X, y)
    assert dict(tf_epochs._twins) == cached and _twins_idle()
    own_trace = SafeKerasClassifier(**params, callbacks=[_EpochCounter()]).fit(X, y)
    np.testing.assert_allclose(again.predict_proba(X), own_trace.predict_proba(X), rtol=1e-6)
    np.testing.assert_array_equal(first.predict_proba(X), again.predict_proba(X))
    # Each estimator owns its network: a later fit through the twin changes no earlier model.
    twins = [twin.network for twin in tf_epochs._twins.values()]
    assert all(fitted.model_ not in twins for fitted in (first, second, again))
    assert not np.allclose(first.predict_proba(X), second.predict_proba(X))
    np.testing.assert_array_equal(first.predict_proba(X), again.predict_proba(X))


def test_concurrent_fits_of_one_architecture_match_serial_fits(data):
    X, y = data
    params = dict(engine="compiled", batch_size=32, epochs=3, threshold=None)
    serial = [
        SafeKerasClassifier(**params, random_state=seed).fit(X, y).predict_proba(X)
        for seed in range(4)
    ]
    with ThreadPoolExecutor(max_workers=4) as pool:
        concurrent = list(
            pool.map(
                lambda seed: (
                    SafeKerasClassifier(**params, random_state=seed).fit(X, y).predict_proba(X)
                ),
                range(4),
            )
        )
    for expected, got in zip(serial, concurrent, strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-6)
    assert _twins_idle()


def test_a_failed_fit_gives_its_twin_back(data):
    X, y = data
    params = dict(engine="compiled", preprocessor=None, early_stopping=False, epochs=3)
    SafeKerasRegressor(**params).fit(X, y)
    with pytest.raises(TrainingError):
        SafeKerasRegressor(**params, learning_rate=1e30).fit(X * 1e15, y * 1e15)
    assert _twins_idle()


JAX_SCRIPT = textwrap.dedent(
    """
    import keras, numpy as np
    from sklearn.datasets import load_breast_cancer
    from sklearn.metrics import balanced_accuracy_score
    from safekeras import SafeKerasClassifier
    from safekeras.network.engine import jax_epochs
    assert keras.backend.backend() == "jax"
    X, y = load_breast_cancer(return_X_y=True)
    full_batch = dict(hidden_layer_sizes=(16,), dropout=0.0, l2=1e-3, batch_size=10_000,
                      learning_rate=0.05, epochs=5, threshold=None, random_state=0)
    compiled = SafeKerasClassifier(engine="compiled", **full_batch).fit(X, y)
    reference = SafeKerasClassifier(engine="keras", **full_batch).fit(X, y)
    assert compiled.engine_ == "compiled" and reference.engine_ == "keras"
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(compiled.history_[key], reference.history_[key], rtol=1e-4)
    np.testing.assert_allclose(compiled.predict_proba(X), reference.predict_proba(X), atol=1e-5)
    minibatch = dict(engine="compiled", epochs=30, batch_size=32, random_state=0)
    first = SafeKerasClassifier(**minibatch).fit(X, y)
    cached = len(jax_epochs._compiled_functions)
    again = SafeKerasClassifier(**minibatch).fit(X, y)
    assert len(jax_epochs._compiled_functions) == cached  # the refit reused the compiled epoch
    np.testing.assert_array_equal(first.predict_proba(X), again.predict_proba(X))
    other = SafeKerasClassifier(**{**minibatch, "random_state": 1}).fit(X, y)
    assert not np.allclose(first.predict_proba(X), other.predict_proba(X))
    wider = SafeKerasClassifier(**minibatch, hidden_layer_sizes=(8,)).fit(X, y)
    assert len(jax_epochs._compiled_functions) == cached + 1
    assert balanced_accuracy_score(y, first.predict(X)) > 0.9
    assert first.n_epochs_ - first.best_epoch_ in (first.patience_, 30 - first.best_epoch_)
    print("jax engine ok")
    """
)


@pytest.mark.slow
def test_jax_backend_trains_with_a_jitted_scan_that_matches_model_fit():
    pytest.importorskip("jax")
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run(
        [sys.executable, "-c", JAX_SCRIPT], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "jax engine ok" in result.stdout


# -- the whole fit in one compiled call (engine/whole_fit.py) ----------------------------


@pytest.fixture
def whole_fits(monkeypatch):
    """Counts the fits trained in one compiled call (the rest ran the per-epoch loop)."""
    calls = []
    original = whole_fit.run_whole_fit

    def counting(runner, **options):
        calls.append(options)
        return original(runner, **options)

    monkeypatch.setattr(loop, "run_whole_fit", counting)
    monkeypatch.setattr(whole_fit, "run_whole_fit", counting)
    if keras.backend.backend() == "tensorflow":
        # A deferred default fit (safekeras.network.deferred) trains its twin through it.
        from safekeras.network.engine import tf_epochs

        monkeypatch.setattr(tf_epochs, "run_whole_fit", counting)
    return calls


WHOLE_FIT_CASES = {
    "early stopping": dict(patience=3),
    "early stopping, sample weights": dict(patience=3, sample_weight=True),
    # The threshold is tuned on the validation split, whose loss is then recorded only.
    "validation recorded, no stopping": dict(
        early_stopping=False, threshold="auto", threshold_cv=None
    ),
    "no validation split": dict(early_stopping=False, threshold=None),
    "patience zero": dict(patience=0, learning_rate=0.2),
}


@pytest.mark.core
@pytest.mark.parametrize("case", WHOLE_FIT_CASES)
def test_the_whole_fit_in_one_call_trains_as_the_per_epoch_loop(data, whole_fits, case):
    X, y = data
    options = dict(WHOLE_FIT_CASES[case])
    weights = np.where(y == 1, 2.5, 1.0) if options.pop("sample_weight", False) else None
    params = {
        **dict(engine="compiled", batch_size=32, epochs=40, threshold=None, random_state=2),
        **options,
    }
    whole = SafeKerasClassifier(**params).fit(X, y, sample_weight=weights)
    assert len(whole_fits) == 1
    per_epoch = SafeKerasClassifier(**params, callbacks=[_EpochCounter()])
    per_epoch.fit(X, y, sample_weight=weights)
    assert len(whole_fits) == 1  # callbacks keep the per-epoch loop
    assert whole.history_.keys() == per_epoch.history_.keys()
    for key in whole.history_:
        np.testing.assert_allclose(whole.history_[key], per_epoch.history_[key], rtol=1e-6)
    assert (whole.best_epoch_, whole.n_epochs_) == (per_epoch.best_epoch_, per_epoch.n_epochs_)
    for got, expected in zip(
        whole.model_.get_weights(), per_epoch.model_.get_weights(), strict=True
    ):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)
    assert ("val_loss" in whole.history_) is (case != "no validation split")
    if params.get("early_stopping", True):
        stopped = whole.n_epochs_ < params["epochs"]
        assert stopped and whole.best_epoch_ == int(np.argmin(whole.history_["val_loss"])) + 1
    else:
        assert whole.best_epoch_ == whole.n_epochs_ == params["epochs"]


@pytest.mark.tensorflow_only(reason="JAX compiles the whole fit once per epoch budget")
def test_one_trace_of_the_whole_fit_serves_every_budget_and_patience(data, whole_fits):
    X, y = data
    params = dict(engine="compiled", batch_size=32, threshold=None, random_state=0)
    SafeKerasClassifier(**params, epochs=5).fit(X, y)
    twin = list(tf_epochs._twins.values())[-1]  # the most recently used
    traces = twin.functions[2].experimental_get_tracing_count()
    SafeKerasClassifier(**params, epochs=9, patience=1).fit(X, y)
    SafeKerasClassifier(**params, epochs=3, early_stopping=False, threshold_cv=None).fit(X, y)
    assert twin.functions[2].experimental_get_tracing_count() == traces == 1
    assert len(whole_fits) == 3


@pytest.mark.core
def test_callbacks_and_verbose_keep_their_per_epoch_calls(data, whole_fits, capsys):
    X, y = data
    seen = []

    class Spy(_Recorder):
        def on_train_end(self, logs=None):
            super().on_train_end(logs)
            seen.append(self)

    params = dict(engine="compiled", epochs=3, patience=10, threshold=None)
    SafeKerasClassifier(**params, callbacks=[Spy()]).fit(X, y)
    SafeKerasClassifier(**params, verbose=1).fit(X, y)
    assert not whole_fits
    events = [event.split()[0] for event in seen[0].events]
    assert events == ["train_begin", *["epoch_begin", "epoch_end"] * 3, "train_end"]
    assert len([line for line in capsys.readouterr().out.splitlines() if "Epoch" in line]) == 3


@pytest.mark.core
def test_a_diverging_whole_fit_raises_the_per_epoch_loops_error(data, whole_fits):
    X, y = data
    params = dict(
        engine="compiled",
        ensemble_size=1,
        preprocessor=None,
        early_stopping=False,
        epochs=20,
        random_state=0,
    )
    messages = []
    for callbacks in (None, [_EpochCounter()]):
        clf = SafeKerasRegressor(**params, learning_rate=1e6, callbacks=callbacks)
        with pytest.raises(
            TrainingError, match=r"diverged: loss became (nan|inf) at epoch \d+\."
        ) as error:
            clf.fit(X * 1e15, y * 1e15)
        messages.append(str(error.value))
        assert not hasattr(clf, "pipeline_")
    assert len(whole_fits) == 1 and messages[0] == messages[1]


def test_every_engine_grows_the_wait_with_the_best_epoch(data, monkeypatch):
    # patience="auto" waits at least one epoch for every EPOCHS_PER_WAIT epochs up to the
    # best one (budget.required_wait); small constants make the growth show on tiny data.
    monkeypatch.setattr(budget, "MIN_PATIENCE", 1)
    monkeypatch.setattr(budget, "PATIENCE_STEPS", 1)
    monkeypatch.setattr(budget, "EPOCHS_PER_WAIT", 2)
    X, y = data
    params = {**FULL_BATCH, "epochs": 80, "learning_rate": 0.05, "patience": "auto"}
    fits = {
        "whole fit": SafeKerasClassifier(engine="compiled", **params),
        "per-epoch loop": SafeKerasClassifier(
            engine="compiled", callbacks=[_EpochCounter()], **params
        ),
        "model.fit": SafeKerasClassifier(engine="keras", **params),
    }
    for estimator in fits.values():
        estimator.fit(X, y)
    whole = fits["whole fit"]
    best, run = whole.best_epoch_, whole.n_epochs_
    assert whole.patience_ == 1 and run < params["epochs"]
    assert run - best == budget.required_wait(1, 2, best) > 1  # a fixed patience of 1 stops sooner
    for name in ("per-epoch loop", "model.fit"):
        other = fits[name]
        assert (other.best_epoch_, other.n_epochs_) == (best, run), name
        np.testing.assert_allclose(
            other.history_["val_loss"], whole.history_["val_loss"], rtol=1e-4
        )
