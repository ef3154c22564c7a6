"""Refits and loads create no new TensorFlow variable names (each one would leak memory).

TensorFlow keeps a kernel for every distinct variable name it creates
eagerly, for the life of the process; Keras numbers the names of seed
generators, auto-named layers and optimizer slots. These tests check that a
second fit (and a second load) creates variables under the names the first
one used, that Keras's own names are untouched, and that the renaming stays
out of graph mode and distribution strategies, where a name means sharing.
"""

import pickle
import warnings

import numpy as np
import pytest

from safekeras import SafeKerasClassifier, SafeKerasRegressor
from safekeras.network.variable_names import VARIABLE_NAME, stable_variable_names

pytestmark = [
    pytest.mark.core,
    pytest.mark.tensorflow_only(reason="the names are TensorFlow's (its eager kernel cache)"),
]

SMALL = dict(hidden_layer_sizes=(8, 4), epochs=3, batch_size=32)


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(120, 4))
    y = (X[:, 0] + 0.3 * rng.normal(size=120) > 0).astype(int)
    return X, y


def _tensorflow_names(estimator) -> set:
    network = estimator.model_
    variables = [*network.variables, *network.optimizer.variables]
    return {variable.value.name for variable in variables}


def _keras_paths(estimator) -> list:
    return [variable.path for variable in estimator.model_.variables]


@pytest.mark.parametrize(
    "make",
    [
        lambda: SafeKerasClassifier(dropout=0.2, threshold=None, random_state=0, **SMALL),
        lambda: SafeKerasRegressor(dropout=0.2, ensemble_size=2, random_state=0, **SMALL),
    ],
    ids=["classifier", "regressor-ensemble"],
)
def test_a_refit_creates_its_variables_under_the_names_of_the_first_fit(data, make):
    X, y = data
    target = y if isinstance(make(), SafeKerasClassifier) else X[:, 0] + 0.1 * y
    first, second = make().fit(X, target), make().fit(X, target)
    # Keras numbers each new seed generator ("seed_generator_57"); TensorFlow sees one name.
    assert _tensorflow_names(first) == _tensorflow_names(second) == {f"{VARIABLE_NAME}:0"}
    seed_paths = [path for path in _keras_paths(second) if "seed_generator" in path]
    assert len(seed_paths) == 2  # the dropout layers' seeds: Keras's names are its own
    assert seed_paths != [path for path in _keras_paths(first) if "seed_generator" in path]


def test_keras_names_and_predictions_are_unchanged(data):
    X, y = data
    estimator = SafeKerasClassifier(dropout=0.2, threshold=None, random_state=0, **SMALL).fit(X, y)
    assert [path.split("/", 1)[1] for path in _keras_paths(estimator)[:2]] == [
        "hidden_1/kernel",
        "hidden_1/bias",
    ]
    # Keras's own short names too; only the TensorFlow handle carries the fixed one.
    variables = estimator.model_.variables[:3]
    assert [v.name for v in variables] == ["kernel", "bias", "seed_generator_state"]
    assert {v.value.name for v in variables} == {f"{VARIABLE_NAME}:0"}
    restored = pickle.loads(pickle.dumps(estimator))
    assert [v.name for v in restored.model_.variables] == [
        v.name for v in estimator.model_.variables
    ]
    np.testing.assert_array_equal(restored.predict_proba(X), estimator.predict_proba(X))


def test_loading_a_pickle_twice_creates_no_new_names(data):
    X, y = data
    payload = pickle.dumps(
        SafeKerasClassifier(dropout=0.2, threshold=None, random_state=0, **SMALL).fit(X, y)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        first, second = pickle.loads(payload), pickle.loads(payload)
    names = [{v.value.name for v in loaded.model_.variables} for loaded in (first, second)]
    assert names[0] == names[1] == {f"{VARIABLE_NAME}:0"}


def test_save_then_load_creates_variables_under_the_fixed_name_only(data, tmp_path):
    import tensorflow as tf

    from safekeras import load

    X, y = data
    path = tmp_path / "model.skeras"
    SafeKerasClassifier(dropout=0.2, threshold=None, random_state=0, **SMALL).fit(X, y).save(path)
    created = []

    def record(next_creator, **kwargs):  # outermost: sees the name the variable gets
        created.append(kwargs.get("name"))
        return next_creator(**kwargs)

    with tf.variable_creator_scope(record):
        load(path)  # the network, and the default MLP its load check builds to compare
    assert created and set(created) == {f"{VARIABLE_NAME}/"}


def test_graph_mode_variables_keep_their_names():
    import tensorflow as tf

    with tf.Graph().as_default(), stable_variable_names():
        first, second = tf.Variable(1.0, name="first"), tf.Variable(2.0, name="second")
    # In a graph the name is the shared handle: one name would make them one variable.
    assert (first.name, second.name) == ("first:0", "second:0")


def test_variables_under_a_distribution_strategy_keep_their_names():
    import tensorflow as tf

    with tf.distribute.OneDeviceStrategy("/cpu:0").scope(), stable_variable_names():
        variable = tf.Variable(1.0, name="mine")
    assert variable.name == "mine:0"


def test_the_renaming_ends_with_the_block():
    import tensorflow as tf

    with stable_variable_names():
        inside = tf.Variable(1.0, name="inside")
    outside = tf.Variable(1.0, name="outside")
    assert (inside.name, outside.name) == (f"{VARIABLE_NAME}:0", "outside:0")
