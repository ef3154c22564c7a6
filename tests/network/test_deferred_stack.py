"""An ensemble's stack trained on its twin, never built (safekeras/network/deferred_stack.py).

The first fit of a layout builds the stack (and checks the values the module
would load); later fits load those values straight into the twin. Both must
train the members to the same bits.
"""

from collections import OrderedDict
from unittest import mock

import keras
import numpy as np
import pytest
from sklearn.datasets import make_classification, make_regression

from safekeras import SafeKerasClassifier, SafeKerasRegressor
from safekeras.network import deferred_stack, stacked

pytestmark = pytest.mark.core

ON_TENSORFLOW = keras.backend.backend() == "tensorflow"
SMALL = dict(ensemble_size=3, hidden_layer_sizes=(8, 4), epochs=12)


@pytest.fixture
def no_known_layouts(monkeypatch):
    """A process that has seen no stack layout (the first fit builds)."""
    monkeypatch.setattr(deferred_stack, "_known", OrderedDict())


@pytest.fixture
def builds(monkeypatch):
    """The number of stacks built (``stacked.stack_weights`` calls) so far."""
    calls = []
    build = stacked.stack_weights

    def counted(*args, **kwargs):
        calls.append(1)
        return build(*args, **kwargs)

    monkeypatch.setattr(stacked, "stack_weights", counted)
    return calls


def data(kind):
    if kind == "regression":
        X, y = make_regression(n_samples=150, n_features=5, noise=10.0, random_state=0)
        return SafeKerasRegressor, X, y
    X, y = make_classification(n_samples=150, n_features=5, random_state=0)
    return SafeKerasClassifier, X, y


def assert_same_fit(first, second, X):
    np.testing.assert_array_equal(first.predict(X), second.predict(X))
    assert first.history_ == second.history_
    assert (first.best_epoch_, first.n_epochs_) == (second.best_epoch_, second.n_epochs_)
    for mine, theirs in zip(first.model_.get_weights(), second.model_.get_weights(), strict=True):
        np.testing.assert_array_equal(mine, theirs)


@pytest.mark.skipif(not ON_TENSORFLOW, reason="stacks train on a cached twin on TensorFlow only")
@pytest.mark.parametrize("kind", ["regression", "classification"])
def test_a_known_layout_trains_its_stack_on_the_twin_to_the_same_bits(
    kind, no_known_layouts, builds
):
    estimator, X, y = data(kind)
    built = estimator(random_state=3, **SMALL).fit(X, y)
    assert len(builds) == 1 and len(deferred_stack._known) == 1  # built, layout learned
    deferred = estimator(random_state=3, **SMALL).fit(X, y)
    assert len(builds) == 1  # the second fit built no stack
    assert_same_fit(built, deferred, X)
    other = estimator(random_state=4, **SMALL).fit(X, y)
    assert len(builds) == 1
    assert not np.array_equal(other.predict(X), built.predict(X))  # its own seeds


@pytest.mark.skipif(not ON_TENSORFLOW, reason="stacks train on a cached twin on TensorFlow only")
def test_the_stack_is_built_while_its_twin_is_busy(no_known_layouts, builds):
    from safekeras.network.engine.tf_epochs import borrow_cached_twin

    estimator, X, y = data("regression")
    built = estimator(random_state=3, **SMALL).fit(X, y)
    (known,) = deferred_stack._known.values()
    twin = borrow_cached_twin(known.twin_key)  # another fit is training it
    try:
        while_busy = estimator(random_state=3, **SMALL).fit(X, y)
    finally:
        twin.in_use.release()
    assert len(builds) == 2
    assert_same_fit(built, while_busy, X)


@pytest.mark.skipif(not ON_TENSORFLOW, reason="stacks train on a cached twin on TensorFlow only")
def test_a_layout_whose_values_would_differ_is_never_deferred(no_known_layouts, builds):
    values = deferred_stack._initial_values

    def off_by_one_seed(roles, members, dropout_seeds, width, optimizer_state):
        return values(roles, members, [seed + 1 for seed in dropout_seeds], width, optimizer_state)

    estimator, X, y = data("regression")
    with mock.patch.object(deferred_stack, "_initial_values", off_by_one_seed):
        for _ in range(2):
            estimator(random_state=3, **SMALL).fit(X, y)
    assert len(builds) == 2 and not deferred_stack._known


@pytest.mark.skipif(ON_TENSORFLOW, reason="TensorFlow defers known layouts")
def test_other_backends_build_every_stack(no_known_layouts, builds):
    estimator, X, y = data("regression")
    first, second = (estimator(random_state=3, **SMALL).fit(X, y) for _ in range(2))
    assert len(builds) == 2 and not deferred_stack._known
    np.testing.assert_array_equal(first.predict(X), second.predict(X))
