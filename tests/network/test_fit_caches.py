"""The compiled engine's caches: keyed by everything the program depends on, bounded, shared safely.

A refit of an architecture already traced in the process reuses its compiled
program (a TensorFlow "twin", a jitted JAX function). These tests check that
the reuse never changes a result: a changed setting misses the cache, a fit
through a warm cache equals the same fit through a cold one, the caches stay
within their bound, and fits in threads get the results of serial fits. They
run on TensorFlow and on JAX (``KERAS_BACKEND=jax``).
"""

import warnings
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor

import keras
import numpy as np
import pytest

from safekeras import SafeKerasClassifier
from safekeras.network import deferred, optimizers
from safekeras.network.engine import COMPILED_BACKENDS, jax_epochs, shared, tf_epochs

pytestmark = [
    pytest.mark.core,
    pytest.mark.skipif(
        keras.backend.backend() not in COMPILED_BACKENDS,
        reason="the compiled engine's caches exist on TensorFlow and JAX",
    ),
]

# Small and quick; no threshold search, so that one network is trained per fit.
PARAMS = dict(engine="compiled", hidden_layer_sizes=(8,), batch_size=32, epochs=4, threshold=None)


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(160, 5))
    y = (X[:, 0] - X[:, 1] + 0.5 * rng.normal(size=160) > 0).astype(int)
    return X, y


def _cache():
    """The backend's cache module and the name of its cache."""
    if keras.backend.backend() == "jax":
        return jax_epochs, "_compiled_functions"
    return tf_epochs, "_twins"


@pytest.fixture
def cold_cache(monkeypatch):
    """An empty cache for the test (the process's own are put back afterwards).

    The layouts seen so far go too: a default network whose layout an earlier test of
    the process fitted trains deferred, through its layout's programs, and never
    reaches the backend's cache (so the result would hang on which tests ran first).
    """
    module, name = _cache()
    monkeypatch.setattr(module, name, OrderedDict())
    monkeypatch.setattr(deferred, "_known", OrderedDict())
    return module, name


def _network(units=8, activation="relu", dropout=0.1, l2=1e-4, optimizer="adam", seed=0):
    layers = [keras.Input(shape=(5,), name=f"in_{seed}")]
    layers.append(
        keras.layers.Dense(
            units,
            activation=activation,
            kernel_initializer=keras.initializers.GlorotUniform(seed=seed),
            kernel_regularizer=keras.regularizers.L2(l2) if l2 else None,
            name=f"dense_{seed}",
        )
    )
    if dropout:
        layers.append(keras.layers.Dropout(dropout, seed=seed))
    layers.append(keras.layers.Dense(1, activation="sigmoid"))
    network = keras.Sequential(layers)
    network.compile(
        optimizer=optimizers.make_optimizer(optimizer, None), loss="binary_crossentropy"
    )
    return network


def _key(network, batch_size=32):
    return shared.trace_key(network, batch_size=batch_size, rows=100)


@pytest.mark.parametrize(
    "change",
    [
        dict(units=16),
        dict(activation="tanh"),
        dict(dropout=0.3),
        dict(dropout=0.0),
        dict(l2=1e-2),
        dict(l2=0.0),
        dict(optimizer="sgd"),
    ],
    ids=lambda change: "-".join(f"{k}={v}" for k, v in change.items()),
)
def test_every_setting_that_shapes_the_program_changes_the_trace_key(change):
    assert _key(_network(**change)) != _key(_network())


def test_a_loss_setting_its_config_leaves_out_changes_the_trace_key():
    # Keras's Huber drops delta from its config: two deltas once shared one program.
    network, other = _network(), _network()
    network.compile(optimizer="adam", loss=keras.losses.Huber(delta=1.0))
    other.compile(optimizer="adam", loss=keras.losses.Huber(delta=0.1))
    assert _key(other) != _key(network)
    again = _network()
    again.compile(optimizer="adam", loss=keras.losses.Huber(delta=1.0))
    assert _key(again) == _key(network)  # equal settings still share a program
    first, second = _network(), _network()
    first.compile(optimizer="adam", loss=lambda y, p: (y - p) ** 2)
    second.compile(optimizer="adam", loss=lambda y, p: abs(y - p))
    assert _key(first) != _key(second)  # two functions of one name


def test_names_seeds_and_a_float_learning_rate_leave_the_trace_key_alone():
    # They only set initial values (variables): one program trains them all.
    reference = _network(seed=0)
    other = _network(seed=7)
    other.optimizer.learning_rate.assign(0.05)
    assert _key(other) == _key(reference)
    assert _key(reference, batch_size=64) != _key(reference)
    network = _network()
    schedule = keras.optimizers.schedules.ExponentialDecay(1e-3, decay_steps=10, decay_rate=0.9)
    network.compile(optimizer=keras.optimizers.Adam(schedule), loss="binary_crossentropy")
    assert _key(network) != _key(reference)  # a schedule is part of the program


def test_reading_the_trace_key_raises_no_warning(data):
    # On JAX, Keras's get_config warned (NumPy's __array__ copy deprecation) on every fit.
    optimizer = keras.optimizers.Adam(learning_rate=0.002)
    optimizer.build([keras.Variable(np.zeros(3))])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert shared.optimizer_config(optimizer)["learning_rate"] == pytest.approx(0.002)
        assert _key(_network()) is not None
        SafeKerasClassifier(**PARAMS, random_state=0).fit(*data)


def test_a_fit_through_a_warm_cache_equals_the_same_fit_through_a_cold_one(data, cold_cache):
    X, y = data
    module, name = cold_cache
    cold = SafeKerasClassifier(**PARAMS, random_state=3).fit(X, y)
    assert len(getattr(module, name)) == 1
    warm = SafeKerasClassifier(**PARAMS, random_state=3).fit(X, y)
    assert len(getattr(module, name)) == 1  # the refit found its program
    assert warm.history_ == cold.history_
    np.testing.assert_array_equal(warm.predict_proba(X), cold.predict_proba(X))


@pytest.mark.parametrize(
    "change", [dict(l2=0.5), dict(dropout=0.5), dict(activation="tanh"), dict(learning_rate=0.1)]
)
def test_a_changed_setting_never_trains_with_a_stale_program(data, change, monkeypatch):
    X, y = data
    module, name = _cache()
    # Reference: the changed fit alone in an empty cache.
    monkeypatch.setattr(module, name, OrderedDict())
    alone = SafeKerasClassifier(**PARAMS, **change, random_state=1).fit(X, y)
    # The same fit after the unchanged architecture has warmed the cache.
    monkeypatch.setattr(module, name, OrderedDict())
    SafeKerasClassifier(**PARAMS, random_state=1).fit(X, y)
    after = SafeKerasClassifier(**PARAMS, **change, random_state=1).fit(X, y)
    assert after.history_ == alone.history_
    np.testing.assert_array_equal(after.predict_proba(X), alone.predict_proba(X))


@pytest.mark.slow
def test_the_caches_stay_within_their_bound(data, cold_cache, monkeypatch):
    X, y = data
    module, name = cold_cache
    monkeypatch.setattr(module, "_CACHE_SIZE", 1)
    narrow, wide = (
        SafeKerasClassifier(**{**PARAMS, "hidden_layer_sizes": (units,)}, random_state=0).fit(X, y)
        for units in (3, 4)
    )
    assert len(getattr(module, name)) == 1
    # The evicted architecture traces again, to the same result.
    again = SafeKerasClassifier(**{**PARAMS, "hidden_layer_sizes": (3,)}, random_state=0).fit(X, y)
    np.testing.assert_array_equal(again.predict_proba(X), narrow.predict_proba(X))
    assert not np.allclose(wide.predict_proba(X), narrow.predict_proba(X))


def test_a_fit_leaves_the_networks_of_earlier_fits_alone(data):
    X, y = data
    first = SafeKerasClassifier(**PARAMS, random_state=0).fit(X, y)
    weights = [w.copy() for w in first.model_.get_weights()]
    SafeKerasClassifier(**PARAMS, random_state=1).fit(X, y)  # same program, other weights
    for before, after in zip(weights, first.model_.get_weights(), strict=True):
        np.testing.assert_array_equal(before, after)


@pytest.mark.slow
def test_fits_in_threads_sharing_the_cache_match_serial_fits(data, cold_cache, monkeypatch):
    X, y = data
    module, name = cold_cache
    monkeypatch.setattr(module, "_CACHE_SIZE", 1)  # evictions while other threads read
    settings = [dict(random_state=seed, hidden_layer_sizes=(4 + seed // 2,)) for seed in range(4)]

    def fit(setting):
        return SafeKerasClassifier(**{**PARAMS, **setting}).fit(X, y).predict_proba(X)

    serial = [fit(setting) for setting in settings]
    with ThreadPoolExecutor(max_workers=2) as pool:
        concurrent = list(pool.map(fit, settings))
    for expected, got in zip(serial, concurrent, strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-6)
    assert len(getattr(module, name)) <= 1


def test_the_loss_is_built_from_the_declared_output_without_a_forward_pass(data):
    x = data[0][:4].astype("float32")
    network = _network()
    zeros = shared._declared_output_zeros(network, 2)
    assert tuple(zeros.shape) == (2, 1)
    assert keras.backend.standardize_dtype(zeros.dtype) == "float32"

    class Subclassed(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(1, activation="sigmoid")

        def call(self, inputs):
            return self.dense(inputs)

    subclassed = Subclassed()
    assert shared._declared_output_zeros(subclassed, 2) is None  # unbuilt: a forward pass builds it
    subclassed(x)
    assert shared._declared_output_zeros(subclassed, 2) is None  # it declares no output


def test_training_state_built_without_a_forward_pass_trains_the_same(data, monkeypatch):
    X, y = data
    zeros_built = SafeKerasClassifier(**PARAMS, random_state=2).fit(X, y)
    # Without the shortcut, the loss is built from an eager forward pass, as it used to be.
    monkeypatch.setattr(shared, "_declared_output_zeros", lambda network, n_rows: None)
    forward_built = SafeKerasClassifier(**PARAMS, random_state=2).fit(X, y)
    assert zeros_built.history_ == forward_built.history_
    np.testing.assert_array_equal(zeros_built.predict_proba(X), forward_built.predict_proba(X))
    names = [v.path for v in zeros_built.model_.optimizer.variables]
    assert names == [v.path for v in forward_built.model_.optimizer.variables]


def test_recent_or_make_makes_a_key_once_keeps_the_recent_and_runs_make_unlocked():
    import threading

    cache, lock, made = OrderedDict(), threading.Lock(), []

    def make(value):
        def build():
            assert not lock.locked()  # a trace or build never holds the cache's lock
            made.append(value)
            return value

        return build

    assert shared.recent_or_make(cache, lock, "a", make(1), size=2) == 1
    assert shared.recent_or_make(cache, lock, "b", make(2), size=2) == 2
    assert shared.recent_or_make(cache, lock, "a", make(99), size=2) == 1  # a hit: not made
    assert shared.recent_or_make(cache, lock, "c", make(3), size=2) == 3
    assert made == [1, 2, 3]
    assert list(cache) == ["a", "c"]  # "b" was the least recently used


@pytest.mark.tensorflow_only(reason="TensorFlow's retracing detector; jax.jit logs no such line")
def test_fitting_tables_of_many_widths_logs_no_retracing_warning():
    # Each layout gets its own functions, traced once each; TensorFlow counts the
    # traces of every function made from the same code, and would log after five.
    import logging

    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("tensorflow")
    logger.addHandler(handler)
    try:
        rng = np.random.RandomState(0)
        for width in range(2, 7):  # five layouts: the detector logs at the fifth trace
            X = rng.normal(size=(60, width))
            y = (X[:, 0] > 0).astype(int)
            SafeKerasClassifier(hidden_layer_sizes=(8,), epochs=2, random_state=0).fit(X, y)
    finally:
        logger.removeHandler(handler)
    assert not [r for r in records if "retracing" in r.getMessage()]
