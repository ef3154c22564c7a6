"""A default fit that trains its network before building it gives the fit a built network gives.

The first fit of a layout builds its network and checks the recipe's
initial state against it; later fits of that layout train from the recipe's
state (on TensorFlow the cached twin, on JAX the layout's compiled
functions), and the Keras network is built only when read. These tests
compare the two kinds of fit (predictions, weights, optimizer state,
history), and check that everything reading ``model_`` (pickle, ``save``,
``partial_fit``, threads) sees the network a built-first fit would have
left. They run on both backends (the JAX core subset runs them there).
"""

import copy
import pickle
import threading
from collections import OrderedDict

import keras
import numpy as np
import pytest

from safekeras import SafeKerasClassifier, SafeKerasRegressor, load
from safekeras.network import architecture, deferred
from safekeras.network.engine import tf_epochs
from safekeras.network.engine.jax_layouts import JaxLayout
from safekeras.network.engine.shared import copied_variables
from safekeras.network.inference import as_numpy

pytestmark = pytest.mark.core

SMALL = dict(hidden_layer_sizes=(8, 4), epochs=4, batch_size=32, threshold=None)


@pytest.fixture
def fresh_layouts(monkeypatch):
    """No layout known yet: the next fit of each builds first (the twins stay cached)."""
    monkeypatch.setattr(deferred, "_known", OrderedDict())


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(160, 5))
    y = (X[:, 0] - X[:, 1] + 0.3 * rng.normal(size=160) > 0).astype(int)
    return X, y


def _is_deferred(estimator) -> bool:
    return "_deferred" in vars(estimator.pipeline_.named_steps["network"])


def _state(network) -> list:
    return [as_numpy(variable.value) for variable in copied_variables(network)]


def test_a_deferred_fit_equals_a_fit_that_built_its_network(data, fresh_layouts):
    X, y = data
    built = SafeKerasClassifier(random_state=3, **SMALL).fit(X, y)
    later = SafeKerasClassifier(random_state=3, **SMALL).fit(X, y)
    assert not _is_deferred(built) and "model_" in vars(built)
    assert _is_deferred(later) and "model_" not in vars(later)
    np.testing.assert_array_equal(later.predict_proba(X), built.predict_proba(X))
    assert later.history_ == built.history_ and later.best_epoch_ == built.best_epoch_
    assert _is_deferred(later)  # predicting needed no Keras network
    # Built on first read: weights, Dropout seed states and the optimizer's moments.
    for got, expected in zip(_state(later.model_), _state(built.model_), strict=True):
        np.testing.assert_array_equal(got, expected)
    assert later.model_.get_config() == built.model_.get_config()
    np.testing.assert_array_equal(later.predict_proba(X), built.predict_proba(X))


def test_another_seed_draws_other_initial_weights(data, fresh_layouts):
    X, y = data
    SafeKerasClassifier(random_state=3, **SMALL).fit(X, y)
    first = SafeKerasClassifier(random_state=4, **SMALL).fit(X, y)
    second = SafeKerasClassifier(random_state=5, **SMALL).fit(X, y)
    assert _is_deferred(first) and _is_deferred(second)
    assert not np.array_equal(first.predict_proba(X), second.predict_proba(X))
    # Each equals the fit of its seed that builds first.
    deferred._known.clear()
    again = SafeKerasClassifier(random_state=5, **SMALL).fit(X, y)
    assert not _is_deferred(again)
    np.testing.assert_array_equal(again.predict_proba(X), second.predict_proba(X))


def test_model_is_built_once_and_then_predicts(data, fresh_layouts):
    X, y = data
    SafeKerasClassifier(random_state=0, **SMALL).fit(X, y)
    estimator = SafeKerasClassifier(random_state=0, **SMALL).fit(X, y)
    seen, errors = [], []

    def read():
        try:
            seen.append(estimator.model_)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and all(model is seen[0] for model in seen)
    assert estimator.model_ is seen[0] is estimator.pipeline_.named_steps["network"].model_
    # Once built, the network is what predicts: changing it changes the predictions.
    before = estimator.predict_proba(X)
    seen[0].layers[-1].bias.assign(seen[0].layers[-1].bias + 5.0)
    assert not np.allclose(estimator.predict_proba(X), before)


def test_pickle_copy_and_save_hold_the_network_of_a_deferred_fit(data, fresh_layouts, tmp_path):
    X, y = data
    SafeKerasClassifier(random_state=1, **SMALL).fit(X, y)
    estimator = SafeKerasClassifier(random_state=1, **SMALL).fit(X, y)
    expected = estimator.predict_proba(X)
    unpickled = pickle.loads(pickle.dumps(estimator))  # pickled as the built network
    assert "_deferred" not in vars(unpickled.pipeline_.named_steps["network"])
    np.testing.assert_array_equal(unpickled.predict_proba(X), expected)
    copied = copy.deepcopy(estimator)
    np.testing.assert_array_equal(copied.predict_proba(X), expected)
    path = tmp_path / "model.safekeras"
    SafeKerasClassifier(random_state=1, **SMALL).fit(X, y).save(path)
    np.testing.assert_array_equal(load(path).predict_proba(X), expected)


def test_partial_fit_continues_a_deferred_fit_as_a_built_one(data, fresh_layouts):
    X, y = data
    built = SafeKerasClassifier(random_state=2, **SMALL).fit(X, y)
    later = SafeKerasClassifier(random_state=2, **SMALL).fit(X, y)
    assert _is_deferred(later)
    built.partial_fit(X[:80], y[:80])
    later.partial_fit(X[:80], y[:80])  # the optimizer's moments carry over
    np.testing.assert_array_equal(later.predict_proba(X), built.predict_proba(X))


def test_a_layout_whose_recipe_disagrees_with_keras_always_builds(data, fresh_layouts, monkeypatch):
    X, y = data
    real = deferred.MLPRecipe.initial_state

    def shifted(recipe, dtype):
        return [np.asarray(value) + 1 for value in real(recipe, dtype)]

    monkeypatch.setattr(deferred.MLPRecipe, "initial_state", shifted)
    first = SafeKerasClassifier(random_state=0, **SMALL).fit(X, y)
    second = SafeKerasClassifier(random_state=0, **SMALL).fit(X, y)
    assert list(deferred._known.values()) == [None]
    assert not _is_deferred(first) and not _is_deferred(second)
    np.testing.assert_array_equal(second.predict_proba(X), first.predict_proba(X))


def test_a_known_layout_defers_at_another_row_count(data, fresh_layouts):
    X, y = data
    SafeKerasClassifier(random_state=3, **SMALL).fit(X, y)
    later = SafeKerasClassifier(random_state=3, **SMALL).fit(X[:150], y[:150])
    assert _is_deferred(later)
    deferred._known.clear()
    built = SafeKerasClassifier(random_state=3, **SMALL).fit(X[:150], y[:150])
    assert not _is_deferred(built)
    np.testing.assert_array_equal(later.predict_proba(X), built.predict_proba(X))
    assert later.history_ == built.history_


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="JAX layouts hold a reference network")
def test_jax_layouts_are_few_and_never_hand_out_their_reference(data, fresh_layouts, monkeypatch):
    X, y = data
    monkeypatch.setattr(deferred, "_JAX_LAYOUTS", 2)
    for width in (3, 4, 5):
        settings = {**SMALL, "hidden_layer_sizes": (width,)}
        first = SafeKerasClassifier(random_state=0, **settings).fit(X, y)
        second = SafeKerasClassifier(random_state=0, **settings).fit(X, y)
        assert not _is_deferred(first) and _is_deferred(second)
        np.testing.assert_array_equal(second.predict_proba(X), first.predict_proba(X))
    layouts = [value for value in deferred._known.values() if isinstance(value, JaxLayout)]
    assert [layout.reference.layers[0].units for layout in layouts] == [4, 5]
    # The reference trains nobody's weights: still the recipe's initial state.
    reference = layouts[-1].reference
    biases = [layer.bias for layer in reference.layers if getattr(layer, "bias", None) is not None]
    assert biases and not any(np.any(as_numpy(bias.value)) for bias in biases)
    assert second.model_ is not reference


@pytest.mark.tensorflow_only(reason="TensorFlow's deferred fits borrow a twin")
def test_a_twin_in_use_makes_the_fit_build_its_network(data, fresh_layouts):
    X, y = data
    SafeKerasClassifier(random_state=0, **SMALL).fit(X, y)
    (known,) = deferred._known.values()
    twin = tf_epochs.borrow_cached_twin(known.twin_key)
    try:
        busy = SafeKerasClassifier(random_state=0, **SMALL).fit(X, y)
    finally:
        twin.in_use.release()
    assert not _is_deferred(busy)
    free = SafeKerasClassifier(random_state=0, **SMALL).fit(X, y)
    assert _is_deferred(free)
    np.testing.assert_array_equal(free.predict_proba(X), busy.predict_proba(X))


def _user_network(width):
    return keras.Sequential(
        [keras.Input((width,)), keras.layers.Dense(4), keras.layers.Dense(1, "sigmoid")]
    )


@pytest.mark.parametrize(
    "params",
    [
        dict(verbose=1),
        dict(callbacks=[keras.callbacks.History()]),
        dict(engine="keras"),
        dict(model=lambda meta: _user_network(meta["n_features_in_"])),
    ],
    ids=["verbose", "callbacks", "keras-engine", "user-model"],
)
def test_fits_that_need_their_network_build_it(data, fresh_layouts, params, capsys):
    X, y = data
    settings = {**SMALL, **params}
    for _ in range(2):
        estimator = SafeKerasClassifier(random_state=0, **settings).fit(X, y)
        assert not _is_deferred(estimator)
    assert not deferred._known


def _regression(data):
    X, _ = data
    settings = {key: value for key, value in SMALL.items() if key != "threshold"}
    return X, X[:, 0] + 0.5 * X[:, 1], settings


def test_an_ensemble_fit_defers_the_network_its_members_become(data, monkeypatch, tmp_path):
    # The members train as a stack of their own: the wide network holding their merged
    # weights is built only when read, and is then the network an eager build holds.
    X, target, settings = _regression(data)
    deferred_fit = SafeKerasRegressor(random_state=0, **settings).fit(X, target)
    assert deferred_fit.ensemble_size_ == 4
    assert _is_deferred(deferred_fit) and "model_" not in vars(deferred_fit)
    with monkeypatch.context() as patched:
        patched.setattr(deferred, "can_defer", lambda *args, **kwargs: False)
        built = SafeKerasRegressor(random_state=0, **settings).fit(X, target)
    assert not _is_deferred(built) and "model_" in vars(built)
    np.testing.assert_array_equal(deferred_fit.predict(X), built.predict(X))
    assert deferred_fit.history_ == built.history_
    assert _is_deferred(deferred_fit)  # predicting needed no Keras network
    for got, expected in zip(_state(deferred_fit.model_), _state(built.model_), strict=True):
        np.testing.assert_array_equal(got, expected)  # weights and Dropout seed states
    assert deferred_fit.model_.get_config() == built.model_.get_config()
    assert not deferred_fit.model_.optimizer.built and not built.model_.optimizer.built
    expected = built.predict(X)
    np.testing.assert_array_equal(deferred_fit.predict(X), expected)
    again = SafeKerasRegressor(random_state=0, **settings).fit(X, target)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(again)).predict(X), expected)
    again.save(tmp_path / "ensemble.safekeras")
    np.testing.assert_array_equal(load(tmp_path / "ensemble.safekeras").predict(X), expected)


def test_an_ensemble_keras_must_predict_is_built_when_trained(data, monkeypatch):
    X, target, settings = _regression(data)
    expected = SafeKerasRegressor(random_state=0, **settings).fit(X, target).predict(X)
    monkeypatch.setattr(deferred, "_reference_plan", lambda recipe, dtype: None)
    estimator = SafeKerasRegressor(random_state=0, **settings).fit(X, target)
    assert not _is_deferred(estimator) and "model_" in vars(estimator)
    np.testing.assert_array_equal(estimator.predict(X), expected)


def test_a_recipe_draws_the_seeds_the_network_build_draws():
    def stream():
        return iter(range(100, 200))

    for dropout in (0.0, 0.25):
        layout = dict(
            n_features=6,
            n_outputs=3,
            output_activation="softmax",
            hidden_layer_sizes=(5, 4),
            activation="relu",
            dropout=dropout,
            l2=0.0,
        )
        seeds = stream()
        recipe = deferred.MLPRecipe.draw(seeds, **layout)
        after_recipe = next(seeds)
        seeds = stream()
        network = architecture.default_mlp(**layout, seeds=seeds)
        assert next(seeds) == after_recipe
        values = [np.asarray(value) for value in recipe.initial_state("float32")]
        built = [*network.trainable_variables, *network.non_trainable_variables]
        assert len(values) == len(built)
        for value, variable in zip(values, built, strict=True):
            np.testing.assert_array_equal(value, as_numpy(variable.value))
            assert value.dtype == np.dtype(variable.dtype)
