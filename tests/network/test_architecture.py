"""Default MLP, user models, builders and head checks (safekeras/network/architecture.py)."""

import keras
import numpy as np
import pytest

from safekeras import ModelSpecError, SafeKerasClassifier, SafeKerasRegressor
from safekeras.network import architecture

pytestmark = pytest.mark.core

FAST = dict(epochs=3, batch_size=32, random_state=0)


@pytest.fixture(scope="module")
def multiclass_data():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(120, 4))
    return X, np.argmax(X[:, :3], axis=1)


@pytest.fixture(scope="module")
def binary_data():
    rng = np.random.RandomState(1)
    X = rng.normal(size=(120, 4))
    return X, (X[:, 0] + X[:, 1] > 0).astype(int)


def _weights(model):
    return [w.copy() for w in model.get_weights()]


def test_default_mlp_follows_architecture_parameters(binary_data):
    X, y = binary_data
    clf = SafeKerasClassifier(hidden_layer_sizes=(7, 5), dropout=0.25, l2=0.0, **FAST).fit(X, y)
    dense = [layer for layer in clf.model_.layers if isinstance(layer, keras.layers.Dense)]
    assert [layer.units for layer in dense] == [7, 5, 1]
    assert dense[-1].activation.__name__ == "sigmoid"
    dropouts = [layer for layer in clf.model_.layers if isinstance(layer, keras.layers.Dropout)]
    assert [layer.rate for layer in dropouts] == [0.25, 0.25]
    assert all(layer.kernel_regularizer is None for layer in dense)


def test_empty_hidden_layers_give_a_logistic_regression(binary_data):
    X, y = binary_data
    clf = SafeKerasClassifier(hidden_layer_sizes=(), **FAST).fit(X, y)
    assert len(clf.model_.layers) == 1


@pytest.mark.parametrize("compiled", [False, True])
def test_user_sequential_is_cloned_never_mutated(multiclass_data, compiled):
    X, y = multiclass_data
    user = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    if compiled:
        user.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    before = _weights(user)
    clf = SafeKerasClassifier(model=user, **FAST).fit(X, y)
    assert clf.model_ is not user
    for old, new in zip(before, _weights(user), strict=True):
        np.testing.assert_array_equal(old, new)
    if compiled:  # the user's optimizer never took a step
        assert int(user.optimizer.iterations.numpy()) == 0
    else:
        assert getattr(user, "optimizer", None) is None
    assert clf.predict_proba(X).shape == (120, 3)


def test_user_functional_model_and_builder_callable(multiclass_data):
    X, y = multiclass_data
    inputs = keras.Input((4,))
    outputs = keras.layers.Dense(3, activation="softmax")(keras.layers.Dense(6)(inputs))
    functional = keras.Model(inputs, outputs)
    # Trained long enough to learn the argmax rule: chance is 1/3, an untrained net scores ~0.2.
    trained = SafeKerasClassifier(model=functional, **{**FAST, "epochs": 30, "learning_rate": 0.05})
    assert trained.fit(X, y).score(X, y) > 0.8
    assert [type(layer).__name__ for layer in trained.model_.layers] == [
        "InputLayer",
        "Dense",
        "Dense",
    ]

    seen = {}

    def build(meta):
        seen.update(meta)
        return keras.Sequential(
            [
                keras.Input((meta["n_features_in_"],)),
                keras.layers.Dense(meta["n_outputs_"], activation=meta["output_activation_"]),
            ]
        )

    SafeKerasClassifier(model=build, **FAST).fit(X, y)
    assert seen["n_features_in_"] == 4 and seen["n_outputs_"] == 3
    assert seen["target_type_"] == "multiclass" and list(seen["classes_"]) == [0, 1, 2]
    assert seen["loss_"] == "sparse_categorical_crossentropy"


def test_builder_meta_counts_features_after_one_hot_encoding():
    X = np.array([["a", 1.0], ["b", 2.0], ["c", 3.0], ["a", 4.0]] * 10, dtype=object)
    y = np.array([0, 1] * 20)
    seen = {}

    def build(meta):
        seen.update(meta)
        return keras.Sequential([keras.layers.Dense(1, activation="sigmoid")])

    SafeKerasClassifier(model=build, early_stopping=False, **FAST).fit(X, y)
    assert seen["n_features_in_"] == 4  # 3 one-hot columns + 1 scaled number


def test_builder_must_return_a_keras_model(binary_data):
    X, y = binary_data
    with pytest.raises(ModelSpecError, match=r"not a keras\.Model"):
        SafeKerasClassifier(model=lambda meta: "not a model", **FAST).fit(X, y)


@pytest.mark.parametrize(
    "layers, match",
    [
        ([keras.layers.Dense(3, activation="sigmoid")], "sigmoid scores do not sum to 1"),
        ([keras.layers.Dense(1, activation="softmax")], r"1 unit"),
        ([keras.layers.Dense(3)], "last layer is linear"),
        ([keras.layers.Dense(16, activation="relu")], "add_head=True"),
    ],
)
def test_wrong_user_heads_are_clear_errors(multiclass_data, layers, match):
    X, y = multiclass_data
    model = keras.Sequential([keras.Input((4,)), *layers])
    with pytest.raises(ModelSpecError, match=match):
        SafeKerasClassifier(model=model, **FAST).fit(X, y)


def test_softmax_over_one_unit_for_binary_is_caught(binary_data):
    X, y = binary_data
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation="softmax")])
    with pytest.raises(ModelSpecError, match=r"always outputs 1\.0"):
        SafeKerasClassifier(model=model, **FAST).fit(X, y)


def test_add_head_appends_the_output_layer_the_target_needs(multiclass_data):
    X, y = multiclass_data
    body = keras.Sequential([keras.Input((4,)), keras.layers.Dense(16, activation="relu")])
    clf = SafeKerasClassifier(model=body, add_head=True, **FAST).fit(X, y)
    head = clf.model_.layers[-1]
    assert head.units == 3 and head.activation.__name__ == "softmax"
    assert len(body.layers) == 1  # the user's model is untouched

    reg = SafeKerasRegressor(model=body, add_head=True, **FAST).fit(X, X[:, :2])
    assert reg.model_.layers[-1].units == 2 and reg.predict(X).shape == (120, 2)


def test_two_unit_softmax_binary_head_and_from_logits_head(binary_data):
    X, y = binary_data
    softmax2 = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    clf = SafeKerasClassifier(model=softmax2, **FAST).fit(X, y)
    assert clf.loss_ == "sparse_categorical_crossentropy"
    assert clf.predict_proba(X).shape == (120, 2)

    linear = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    clf = SafeKerasClassifier(
        model=linear, loss=keras.losses.BinaryCrossentropy(from_logits=True), **FAST
    ).fit(X, y)
    proba = clf.predict_proba(X)
    assert ((proba >= 0) & (proba <= 1)).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


def test_input_width_mismatch_is_explained(binary_data):
    X, y = binary_data
    model = keras.Sequential([keras.Input((9,)), keras.layers.Dense(1, activation="sigmoid")])
    with pytest.raises(ModelSpecError, match=r"expects 9 input features.*4 columns"):
        SafeKerasClassifier(model=model, **FAST).fit(X, y)


def test_multiple_outputs_are_rejected(binary_data):
    X, y = binary_data
    inputs = keras.Input((4,))
    outputs = [
        keras.layers.Dense(1, activation="sigmoid")(inputs),
        keras.layers.Dense(1, activation="sigmoid")(inputs),
    ]
    with pytest.raises(ModelSpecError, match="several outputs"):
        SafeKerasClassifier(model=keras.Model(inputs, outputs), **FAST).fit(X, y)


def test_unnamed_activation_is_inferred_from_outputs(multiclass_data):
    X, y = multiclass_data
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Softmax()])
    clf = SafeKerasClassifier(model=model, **FAST).fit(X, y)
    np.testing.assert_allclose(clf.predict_proba(X).sum(axis=1), 1.0)


@pytest.mark.parametrize("dropout", [True, False])
def test_glorot_layers_lay_the_seeds_out_as_the_default_mlp_draws_them(dropout):
    layers = architecture.glorot_layers(5, (4, 3, 2), dropout)
    assert [(layer.fan_in, layer.units) for layer in layers] == [(5, 4), (4, 3), (3, 2)]
    if dropout:  # kernel, its Dropout, kernel, its Dropout, output kernel
        assert [(layer.kernel_seed, layer.dropout_seed) for layer in layers] == [
            (0, 1),
            (2, 3),
            (4, None),
        ]
    else:
        assert [(layer.kernel_seed, layer.dropout_seed) for layer in layers] == [
            (0, None),
            (1, None),
            (2, None),
        ]
    # Keras's GlorotUniform limit: sqrt(6 / (fan_in + fan_out)).
    np.testing.assert_allclose([layer.limit for layer in layers], np.sqrt(6 / np.array([9, 7, 5])))
