"""The optimizer of a fit, its learning rate and its recipe (network/optimizers.py)."""

import keras
import pytest

from safekeras import InputError, SafeKerasClassifier
from safekeras.network import optimizers
from safekeras.network.optimizers import (
    AUTO_LEARNING_RATE,
    OptimizerRecipe,
    fit_optimizer,
    fit_optimizer_recipe,
    make_optimizer,
    resolve_learning_rate,
)

pytestmark = pytest.mark.core

CLASSIFIER = dict(
    hidden_layer_sizes=(16,), epochs=8, batch_size=32, random_state=0, threshold_cv=None
)


def test_make_optimizer_builds_a_fresh_optimizer_each_time():
    template = keras.optimizers.SGD(learning_rate=0.5, momentum=0.9)
    first, second = make_optimizer(template, None), make_optimizer(template, 0.01)
    assert first is not template and second is not first
    assert float(first.learning_rate) == 0.5 and float(second.learning_rate) == pytest.approx(0.01)
    with pytest.raises(InputError, match="not a Keras optimizer"):
        make_optimizer("not-an-optimizer", None)


def test_learning_rate_and_optimizer_take_effect(data):
    X, y = data
    clf = SafeKerasClassifier(optimizer="sgd", learning_rate=0.123, **CLASSIFIER).fit(X, y)
    assert type(clf.model_.optimizer).__name__ == "SGD"
    assert float(clf.model_.optimizer.learning_rate) == pytest.approx(0.123)


def _own_builder(meta):
    return keras.Sequential(
        [keras.Input(shape=(meta["n_features_in_"],)), keras.layers.Dense(1, activation="sigmoid")]
    )


@pytest.mark.parametrize(
    "params, rate",
    [
        ({}, AUTO_LEARNING_RATE),  # "auto": the default MLP with Adam
        ({"learning_rate": None}, 1e-3),  # Adam's own
        ({"model": _own_builder}, 1e-3),  # "auto" leaves a user's network at the optimizer's own
        ({"optimizer": "rmsprop"}, 1e-3),  # ... and another optimizer
        ({"optimizer": keras.optimizers.Adam(0.02)}, 0.02),  # ... and a template's rate
        ({"learning_rate": 0.05}, 0.05),
    ],
)
def test_auto_learning_rate_is_3e_3_for_the_default_mlp_with_adam_only(data, params, rate):
    X, y = data
    clf = SafeKerasClassifier(**{**CLASSIFIER, "epochs": 1, **params}).fit(X, y)
    assert float(clf.model_.optimizer.learning_rate) == pytest.approx(rate)
    assert clf.get_params()["learning_rate"] == params.get("learning_rate", "auto")


def test_resolve_learning_rate_reads_the_estimator_settings():
    assert resolve_learning_rate("auto", "adam", None) == AUTO_LEARNING_RATE
    assert resolve_learning_rate("auto", "Adam", None) == AUTO_LEARNING_RATE
    assert resolve_learning_rate("auto", "sgd", None) is None
    assert resolve_learning_rate("auto", "adam", _own_builder) is None
    assert resolve_learning_rate(None, "adam", None) is None
    assert resolve_learning_rate(0.1, "sgd", _own_builder) == 0.1


def test_string_optimizers_get_their_alias_as_name():
    assert make_optimizer("adam", 0.01).name == "adam"
    assert make_optimizer("RMSprop", None).name == "rmsprop"
    template = keras.optimizers.SGD(name="my_sgd")
    assert make_optimizer(template, 0.5).name == "my_sgd"


def _config(optimizer):
    return optimizers.optimizer_config(optimizer)


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"learning_rate": None},
        {"optimizer": "RMSprop", "learning_rate": 0.01},
        {"optimizer": keras.optimizers.SGD(learning_rate=0.5, momentum=0.9)},
        {"optimizer": keras.optimizers.SGD(momentum=0.9), "learning_rate": 0.02},
    ],
)
def test_recipe_makes_the_optimizer_fit_optimizer_makes(params):
    clf = SafeKerasClassifier(**params)
    recipe = fit_optimizer_recipe(clf)
    made, expected = recipe.make(), fit_optimizer(clf)
    assert type(made) is type(expected)
    assert _config(made) == _config(expected)
    assert recipe.make() is not made  # a fresh optimizer every time


def test_recipe_of_a_name_is_read_once_per_name_and_rate(monkeypatch):
    made = []
    original = optimizers.make_optimizer
    monkeypatch.setattr(optimizers, "_recipes", type(optimizers._recipes)())
    monkeypatch.setattr(
        optimizers, "make_optimizer", lambda *args: made.append(args) or original(*args)
    )
    first = fit_optimizer_recipe(SafeKerasClassifier(learning_rate=0.01))
    again = fit_optimizer_recipe(SafeKerasClassifier(learning_rate=0.01))
    other = fit_optimizer_recipe(SafeKerasClassifier(learning_rate=0.02))
    assert made == [("adam", 0.01), ("adam", 0.02)]
    assert first is again and dict(other.config)["learning_rate"] == pytest.approx(0.02)
    assert OptimizerRecipe.of(first.make()) == first


def test_recipe_of_an_unknown_name_is_an_input_error():
    with pytest.raises(InputError, match="not a Keras optimizer"):
        fit_optimizer_recipe(SafeKerasClassifier(optimizer="not-an-optimizer"))
