"""Several default MLPs trained as one stacked network (safekeras/network/stacked.py).

The threshold folds of ``threshold_cv`` train as one :class:`FoldStack`. Two
properties make that the folds' own fits: a stack of one fold takes the very
optimizer steps its network takes in its own compiled fit (same initial
weights, rows, shuffles, loss, penalty and early stopping), and in a stack of
several folds no row of one fold reaches another fold's weights: a fold's
trained weights are bit for bit those it gets when every other fold's labels
are changed and its own zero-weight padding rows hold garbage.
"""

import default_mlps
import keras
import numpy as np
import pytest
from default_mlps import HIDDEN, L2, SETTINGS

from safekeras.data.targets import classification_target
from safekeras.network import architecture, optimizers, stacked

pytestmark = [
    pytest.mark.core,
    pytest.mark.skipif(
        keras.backend.backend() not in ("tensorflow", "jax"),
        reason="the stacked folds train in the compiled engine",
    ),
]


def fold_data(seed, n_rows=96, width=5):
    rng = np.random.RandomState(seed)
    x = rng.normal(size=(n_rows, width)).astype("float32")
    y = (x[:, 0] - x[:, 1] + 0.5 * rng.normal(size=n_rows) > 0).astype("float32")
    return x[:72], y[:72, None], x[72:], y[72:, None]


def default_mlp(width, seed, dropout=0.0):
    spec, _ = classification_target(np.array([0, 1]))
    return default_mlps.default_mlp(spec, width, seed, dropout=dropout)


def compiled(network):
    network.compile(optimizer=optimizers.make_optimizer("adam", 0.01), loss="binary_crossentropy")
    return network


def stack_of(networks, width, dropout=0.0):
    """The stack of ``networks``' initial weights (and their first one's dropout seeds)."""
    seeds = [layer.get_config()["seed"] for layer in networks[0].layers if "dropout" in layer.name]
    stack = stacked.stack_weights(
        [network.get_weights() for network in networks],
        dropout_seeds=seeds,
        width=width,
        hidden_units=HIDDEN,
        activation="relu",
        dropout=dropout,
        l2=L2,
        output_activation="sigmoid",
    )
    stack.compile(optimizer=optimizers.make_optimizer("adam", 0.01), loss=None)
    return stack


def unstack_into(stack, networks):
    widths = [network.input_shape[-1] for network in networks]
    for network, weights in zip(networks, stacked.fold_weights(stack, widths), strict=True):
        network.set_weights(weights)


def trained_stack(folds, networks, dropout=0.0, **options):
    width = max(part[0].shape[1] for part in folds)
    stack = stack_of(networks, width, dropout)
    train = stacked.stack_rows([(x, y, None) for x, y, _, _ in folds], width, "float32")
    validation = stacked.stack_rows([(xv, yv, None) for _, _, xv, yv in folds], width, "float32")
    result = stacked.train_stack(
        stack, train=train, validation=validation, shuffle_seed=7, **SETTINGS, **options
    )
    unstack_into(stack, networks)
    return result


@pytest.mark.parametrize("dropout", [0.0, 0.2])
def test_initial_fold_weights_are_the_default_mlps_drawn_from_the_same_seeds(dropout):
    network = default_mlp(5, seed=3, dropout=dropout)
    seeds = architecture.seed_stream(np.random.RandomState(3))
    weights, dropout_seeds = stacked.initial_fold_weights(5, HIDDEN, 1, dropout, seeds)
    for mine, built in zip(weights, network.get_weights(), strict=True):
        np.testing.assert_array_equal(mine, built)
    expected = [layer.get_config()["seed"] for layer in network.layers if "dropout" in layer.name]
    assert dropout_seeds == expected
    rebuilt = architecture.seed_stream(np.random.RandomState(3))
    for _ in range(len(HIDDEN) + 1 + len(expected)):
        next(rebuilt)
    assert next(seeds) == next(rebuilt)  # as many seeds drawn as the build draws


def test_predict_folds_gives_each_fold_its_own_networks_outputs():
    networks = [default_mlp(5, seed=1), default_mlp(3, seed=2)]
    stack = stack_of(networks, width=5)
    parts = [fold_data(0)[2], fold_data(1, width=3)[2][:7]]
    outputs = stacked.predict_folds(stack, parts, 5, "float32")
    for output, network, part in zip(outputs, networks, parts, strict=True):
        np.testing.assert_allclose(output, network.predict(part, verbose=0), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dropout", [0.0, 0.2])
def test_a_stack_of_one_fold_takes_its_networks_own_optimizer_steps(dropout):
    x, y, x_val, y_val = fold_data(0)
    alone = compiled(default_mlp(x.shape[1], seed=1, dropout=dropout))
    result = default_mlps.train_alone(alone, x, y, (x_val, y_val, None))
    in_stack = default_mlp(x.shape[1], seed=1, dropout=dropout)
    stacked_result = trained_stack([(x, y, x_val, y_val)], [in_stack], dropout=dropout)
    assert stacked_result.epochs_run == result.epochs_run
    assert stacked_result.best_epoch == result.best_epoch
    np.testing.assert_allclose(
        stacked_result.history["val_loss"], result.history["val_loss"], rtol=1e-4, atol=1e-6
    )
    for mine, own in zip(in_stack.get_weights(), alone.get_weights(), strict=True):
        np.testing.assert_allclose(mine, own, rtol=1e-4, atol=1e-5)


def test_no_row_of_one_fold_reaches_another_folds_weights():
    first, second = fold_data(0), fold_data(1, n_rows=110, width=3)  # narrower, more rows
    clean = [default_mlp(5, seed=1), default_mlp(3, seed=2)]
    trained_stack([first, second], clean)
    x2, y2, xv2, yv2 = second
    poisoned_second = (x2, 1.0 - y2, xv2, 1.0 - yv2)  # every label of fold 1 flipped
    poisoned = [default_mlp(5, seed=1), default_mlp(3, seed=2)]
    trained_stack([first, poisoned_second], poisoned)
    for mine, clean_weights in zip(poisoned[0].get_weights(), clean[0].get_weights(), strict=True):
        np.testing.assert_array_equal(mine, clean_weights)  # fold 0: bit for bit
    changed = [
        not np.array_equal(a, b)
        for a, b in zip(poisoned[1].get_weights(), clean[1].get_weights(), strict=True)
    ]
    assert all(changed)  # fold 1 learnt its flipped labels


def test_rows_of_weight_zero_do_not_train_a_fold():
    x, y, x_val, y_val = fold_data(0)
    width = x.shape[1]
    parts = [(x[:60], y[:60], None), (x, y, None)]  # fold 0 is padded with 12 rows
    clean = stacked.stack_rows(parts, width, "float32")
    garbage = tuple(array.copy() for array in clean)
    garbage[0][60:, 0] = 1e3  # fold 0's padding rows: huge inputs, flipped labels
    garbage[1][60:, 0] = 1.0 - garbage[1][60:, 0]
    assert not garbage[2][60:, 0].any()  # they weigh 0
    validation = stacked.stack_rows([(x_val, y_val, None)] * 2, width, "float32")
    weights = []
    for train in (clean, garbage):
        networks = [default_mlp(width, seed=1), default_mlp(width, seed=2)]
        stack = stack_of(networks, width)
        stacked.train_stack(stack, train=train, validation=validation, shuffle_seed=7, **SETTINGS)
        unstack_into(stack, networks)
        weights.append(networks[0].get_weights())
    for with_garbage, without in zip(*weights, strict=True):
        np.testing.assert_array_equal(with_garbage, without)


def test_each_fold_stops_on_its_own_and_keeps_its_own_best_weights(monkeypatch):
    monkeypatch.setitem(SETTINGS, "epochs", 40)
    monkeypatch.setitem(SETTINGS, "patience", 2)
    folds = [fold_data(seed) for seed in range(3)]
    together = [default_mlp(5, seed=seed + 1) for seed in range(3)]
    result = trained_stack(folds, together)
    alone_epochs = []
    for fold, seed, network in zip(folds, range(3), together, strict=True):
        alone = [default_mlp(5, seed=seed + 1)]
        alone_epochs.append(trained_stack([fold], alone).epochs_run)
        for mine, own in zip(network.get_weights(), alone[0].get_weights(), strict=True):
            np.testing.assert_allclose(mine, own, rtol=1e-5, atol=1e-6)
    assert len(set(alone_epochs)) > 1  # the folds stop at different epochs...
    assert result.epochs_run == max(alone_epochs)  # ...and the stack runs until the last stops


def test_a_stack_leaving_one_fold_training_stops_once_the_others_have(monkeypatch):
    monkeypatch.setitem(SETTINGS, "epochs", 40)
    monkeypatch.setitem(SETTINGS, "patience", 2)
    seeds = (0, 3, 5)  # folds that stop at three different epochs, alone
    folds = [fold_data(seed) for seed in seeds]
    alone_epochs = [
        trained_stack([fold], [default_mlp(5, seed=seed + 1)]).epochs_run
        for seed, fold in zip(seeds, folds, strict=True)
    ]
    cut = sorted(alone_epochs)[-2]  # when all folds but the slowest have stopped
    assert cut < max(alone_epochs)  # (so the slowest would train on alone)
    together = [default_mlp(5, seed=seed + 1) for seed in seeds]
    result = trained_stack(folds, together, folds_left=1)
    assert result.epochs_run == cut
    for seed, fold, network, epochs in zip(seeds, folds, together, alone_epochs, strict=True):
        # A fold stopped by then is as trained alone; the slowest keeps its best epoch
        # so far, as when trained alone on a budget of ``cut`` epochs.
        monkeypatch.setitem(SETTINGS, "epochs", min(epochs, cut))
        alone = [default_mlp(5, seed=seed + 1)]
        trained_stack([fold], alone)
        for mine, own in zip(network.get_weights(), alone[0].get_weights(), strict=True):
            np.testing.assert_allclose(mine, own, rtol=1e-5, atol=1e-6)


def test_stack_obstacles_name_optimizers_that_mix_the_folds():
    backend = keras.backend.backend()
    assert stacked.stack_obstacles(backend=backend, optimizer=keras.optimizers.Adam()) == []
    lamb = stacked.stack_obstacles(backend=backend, optimizer=keras.optimizers.Lamb())
    assert lamb == ["optimizer Lamb is not one whose updates are elementwise"]
    clipped = stacked.stack_obstacles(backend=backend, optimizer=keras.optimizers.SGD(clipnorm=1))
    assert clipped == ["clipnorm mixes the folds' gradients"]
