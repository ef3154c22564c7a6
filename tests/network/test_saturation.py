"""Training that saturates or ends far above the baseline is a TrainingError (issue 17).

Adam with ``learning_rate=1e9`` keeps the loss finite while every probability
is thrown to exactly 0 or 1; the fit must fail and keep the previous fit, on
every engine and for continued fits, without false alarms on confident and
right networks.
"""

import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
from sklearn.datasets import make_classification, make_regression

from safekeras import SafeKerasClassifier, SafeKerasRegressor, TrainingError
from safekeras.network.engine import COMPILED_BACKENDS
from safekeras.network.training import OUTCOME_ROWS, check_training_outcome

pytestmark = pytest.mark.core

REGRESSOR = dict(hidden_layer_sizes=(8,), epochs=5, batch_size=32, random_state=0)
TINY = dict(REGRESSOR, threshold=None)
FLOAT32_EPS = float(np.finfo(np.float32).eps)
# What the two checks say (either may fire first; both name the fix).
SATURATED = r"Training failed: .*(stuck at 0 or 1|over 10 times).*Lower learning_rate"


def _engines():
    if keras.backend.backend() in COMPILED_BACKENDS:
        return ["compiled", "keras"]
    return ["keras"]


@pytest.fixture(scope="module")
def binary():
    return make_classification(n_samples=300, n_features=5, random_state=0)


@pytest.fixture(scope="module")
def regression():
    return make_regression(n_samples=300, n_features=5, noise=5.0, random_state=0)


def _fitted_state(estimator) -> dict:
    return {name: value for name, value in vars(estimator).items() if name.endswith("_")}


def _assert_refit_fails_and_keeps(estimator, X, y, predict, match, **bad_params):
    before, state = getattr(estimator, predict)(X), _fitted_state(estimator)
    weights = [w.copy() for w in estimator.model_.get_weights()]
    estimator.set_params(**bad_params)
    with pytest.raises(TrainingError, match=match):
        estimator.fit(X, y)
    after = _fitted_state(estimator)
    assert after.keys() == state.keys()
    assert all(after[name] is state[name] for name in state)  # every fitted attribute kept
    for kept, weight in zip(weights, estimator.model_.get_weights(), strict=True):
        np.testing.assert_array_equal(kept, weight)
    np.testing.assert_array_equal(getattr(estimator, predict)(X), before)


# -- every engine: the refit that blows up is refused and the previous fit kept --------


@pytest.mark.parametrize("engine", _engines())
def test_adam_huge_learning_rate_refit_of_a_classifier_raises_and_keeps_the_fit(binary, engine):
    X, y = binary
    clf = SafeKerasClassifier(engine=engine, **TINY).fit(X, y)
    assert clf.engine_ == engine
    _assert_refit_fails_and_keeps(clf, X, y, "predict_proba", SATURATED, learning_rate=1e9)


@pytest.mark.parametrize("engine", _engines())
def test_adam_huge_learning_rate_refit_of_a_regressor_raises_and_keeps_the_fit(regression, engine):
    # 1e3 is the regressor's analogue of 1e9: the loss stays finite (1e9 overflows to inf,
    # which the per-epoch check already stops) but is ~1e12 times the target's variance.
    X, y = regression
    reg = SafeKerasRegressor(engine=engine, **REGRESSOR).fit(X, y)
    match = r"Training failed: the mean squared error on the training rows is .* over 10 times"
    _assert_refit_fails_and_keeps(reg, X, y, "predict", match, learning_rate=1e3)


def test_a_first_fit_that_saturates_leaves_the_estimator_unfitted(binary):
    X, y = binary
    clf = SafeKerasClassifier(**TINY, learning_rate=1e9)
    with pytest.raises(TrainingError, match=SATURATED):
        clf.fit(X, y)
    assert not hasattr(clf, "pipeline_") and not hasattr(clf, "classes_")


# -- continued fits (incremental.py): refused, network restored ------------------------


def test_a_warm_start_that_saturates_is_refused_and_restores_the_network(binary):
    X, y = binary
    clf = SafeKerasClassifier(**TINY, warm_start=True).fit(X, y)
    optimizer = clf.model_.optimizer
    before, weights = clf.predict_proba(X), [w.copy() for w in clf.model_.get_weights()]
    clf.set_params(learning_rate=1e9)
    with pytest.raises(TrainingError, match=r"stuck at 0 or 1|over 10 times") as error:
        clf.fit(X, y)
    assert "continued fit" in str(error.value)
    assert clf.model_.optimizer is optimizer
    for kept, weight in zip(weights, clf.model_.get_weights(), strict=True):
        np.testing.assert_array_equal(kept, weight)
    np.testing.assert_array_equal(clf.predict_proba(X), before)


def test_a_partial_fit_that_saturates_is_refused_and_restores_the_network(binary):
    X, y = binary
    # partial_fit keeps its optimizer between calls: a schedule makes the second call's
    # steps 1e9 (the first call takes ceil(300 / 32) = 10 steps).
    schedule = keras.optimizers.schedules.PiecewiseConstantDecay([9], [1e-3, 1e9])
    clf = SafeKerasClassifier(**TINY, optimizer=keras.optimizers.Adam(schedule))
    clf.partial_fit(X, y, classes=[0, 1])
    state, before = _fitted_state(clf), clf.predict_proba(X)
    weights = [w.copy() for w in clf.model_.get_weights()]
    with pytest.raises(TrainingError, match=r"stuck at 0 or 1|over 10 times"):
        clf.partial_fit(X, y)
    assert all(_fitted_state(clf)[name] is state[name] for name in state)
    assert clf.n_epochs_ == 1
    for kept, weight in zip(weights, clf.model_.get_weights(), strict=True):
        np.testing.assert_array_equal(kept, weight)
    np.testing.assert_array_equal(clf.predict_proba(X), before)


# -- no false alarms --------------------------------------------------------------------


def _saturated_share(proba) -> float:
    return float(np.mean(np.all((proba <= FLOAT32_EPS) | (proba >= 1 - FLOAT32_EPS), axis=1)))


def test_separable_data_trained_200_epochs_is_confident_and_right_and_fits():
    # Unscaled blobs far apart: the outputs reach float32 saturation on every row, which
    # is right, so the check must not fire (saturation alone is no failure).
    rng = np.random.RandomState(0)
    X = np.vstack([rng.normal(-20, 1, (100, 2)), rng.normal(20, 1, (100, 2))])
    y = np.repeat([0, 1], 100)
    clf = SafeKerasClassifier(
        **{**TINY, "hidden_layer_sizes": (16,), "epochs": 200},
        preprocessor=None,
        early_stopping=False,
        learning_rate=0.01,
    ).fit(X, y)
    proba = clf.predict_proba(X)
    assert clf.n_epochs_ == 200
    assert _saturated_share(proba) >= 0.9  # the saturated regime is really exercised
    np.testing.assert_array_equal(clf.predict(X), y)


def test_imbalanced_five_percent_positives_fits_without_alarm():
    X, y = make_classification(n_samples=600, weights=[0.95], flip_y=0, random_state=0)
    assert 0.04 < y.mean() < 0.06
    clf = SafeKerasClassifier(hidden_layer_sizes=(16,), epochs=20, random_state=0).fit(X, y)
    assert clf.n_epochs_ >= 1


# -- the rule itself, on outputs given directly ------------------------------------------


def _check(outputs, y, activation="sigmoid", logits=False, sample_weight=None, continued=False):
    outputs = np.asarray(outputs, dtype=np.float64)
    check_training_outcome(
        lambda x: outputs[x],  # x is a column of row indices
        np.arange(len(outputs)),
        y,
        sample_weight,
        activation=activation,
        logits=logits,
        dtype="float32",
        continued=continued,
    )


def test_confident_and_right_outputs_pass_and_confident_and_wrong_ones_fail():
    y = np.repeat([0.0, 1.0], 100).reshape(-1, 1)
    _check(y.copy(), y)  # exactly 0/1 everywhere, all right: a separable fit
    wrong = y.copy()
    wrong[:3] = 1.0  # 1.5 % of the rows saturated at the wrong answer
    with pytest.raises(TrainingError, match=r"100% of the training rows .* 1\.5% of the rows"):
        _check(wrong, y)


def test_collapse_to_the_majority_class_is_caught_by_the_prior_baseline():
    y = np.zeros((200, 1))
    y[:2] = 1.0  # 1 % positives: every output exactly 0 is wrong on 1 % of the rows
    with pytest.raises(TrainingError, match=r"cross-entropy is .* \(predicting .*: 0\.056"):
        _check(np.zeros((200, 1)), y)


def test_uncertain_or_single_class_outputs_are_not_alarms():
    y = np.zeros((200, 1))
    y[:2] = 1.0
    _check(np.full((200, 1), 0.5), y)  # an untrained network on 1 % positives
    _check(np.full((50, 1), 0.3), np.ones((50, 1)))  # a partial_fit chunk of one class
    index = np.repeat([0, 1, 2], 20)
    _check(np.full((60, 3), 1 / 3), index, activation="softmax")


def test_softmax_outputs_stuck_at_one_hot_wrong_answers_fail():
    index = np.repeat([0, 1, 2], 20)
    outputs = np.eye(3)[(index + 1) % 3]  # saturated, every row wrong
    # Clipped at float32 precision a wrong saturated row costs -log(eps) = 15.94 nats.
    with pytest.raises(TrainingError, match=r"is 15\.94, over 10 times 1\.099, .*frequencies"):
        _check(outputs, index, activation="softmax")
    _check(np.eye(3)[index], index, activation="softmax")  # saturated and right


def test_logits_give_the_exact_loss_and_catch_huge_wrong_logits():
    y = np.repeat([0.0, 1.0], 100).reshape(-1, 1)
    logits = np.where(y > 0.5, 30.0, -30.0)
    _check(logits, y, logits=True)  # confident and right
    logits[:1] = 1e6  # one row 1e6 nats wrong: far above 10 x log(2) per row on average
    with pytest.raises(TrainingError, match=r"cross-entropy on the training rows is 5000, over"):
        _check(logits, y, logits=True)


def test_regression_is_judged_against_the_mean_with_a_floor_for_constant_chunks():
    rng = np.random.RandomState(0)
    t = rng.normal(size=(200, 1))
    _check(t + 0.5 * rng.normal(size=t.shape), t, activation="linear")
    _check(np.zeros((50, 1)), np.full((50, 1), 5.0), activation="linear")  # a shifted chunk
    with pytest.raises(TrainingError, match=r"mean squared error .* is 1e\+06, over 10 times 1\b"):
        _check(t + 1e3, t, activation="linear")
    with pytest.raises(TrainingError, match="continued fit"):
        _check(t + 1e3, t, activation="linear", continued=True)


def test_zero_weight_rows_do_not_count():
    y = np.repeat([0.0, 1.0], 100).reshape(-1, 1)
    wrong = y.copy()
    wrong[:20] = 1.0  # saturated and wrong, but on rows that weigh nothing
    weights = np.ones(200)
    weights[:20] = 0.0
    _check(wrong, y, sample_weight=weights)
    with pytest.raises(TrainingError):
        _check(wrong, y)


def test_the_check_reads_a_bounded_evenly_spaced_sample_of_the_rows():
    seen = []

    def predict(x):
        seen.append(x)
        return np.zeros((len(x), 1))

    n_rows = 4 * OUTCOME_ROWS + 3
    y = np.zeros(n_rows)
    y[::2] = 1.0  # balanced, so 0.5 everywhere is no alarm
    check_training_outcome(
        lambda x: predict(x) + 0.5,
        np.arange(n_rows),
        y,
        None,
        activation="sigmoid",
        logits=False,
        dtype="float32",
    )
    assert OUTCOME_ROWS // 2 < len(seen[0]) <= OUTCOME_ROWS
    assert np.unique(np.diff(seen[0])).size == 1  # evenly spaced: no random state used


# -- the JAX engine ----------------------------------------------------------------------

JAX_SCRIPT = textwrap.dedent(
    """
    import keras, numpy as np, pytest
    from sklearn.datasets import make_classification, make_regression
    from safekeras import SafeKerasClassifier, SafeKerasRegressor, TrainingError
    assert keras.backend.backend() == "jax"
    tiny = dict(hidden_layer_sizes=(8,), epochs=5, batch_size=32, random_state=0)
    for make, data, predict, lr in (
        (SafeKerasClassifier, make_classification(n_samples=300, n_features=5, random_state=0),
         "predict_proba", 1e9),
        (SafeKerasRegressor, make_regression(n_samples=300, n_features=5, random_state=0),
         "predict", 1e3),
    ):
        X, y = data
        est = make(engine="compiled", **tiny).fit(X, y)
        assert est.engine_ == "compiled"
        before, model = getattr(est, predict)(X), est.model_
        with pytest.raises(TrainingError, match="Training failed: .*Lower learning_rate"):
            est.set_params(learning_rate=lr).fit(X, y)
        assert est.model_ is model
        np.testing.assert_array_equal(getattr(est, predict)(X), before)
    print("jax saturation ok")
    """
)


@pytest.mark.slow
def test_the_jax_engine_refuses_a_saturating_refit_and_keeps_the_fit():
    pytest.importorskip("jax")
    if keras.backend.backend() == "jax":
        pytest.skip("the module's tests above already run on the JAX engine")
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run(
        [sys.executable, "-c", JAX_SCRIPT], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "jax saturation ok" in result.stdout
