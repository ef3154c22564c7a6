"""Several default MLPs trained together and kept as one network (safekeras/network/ensemble.py).

Three properties make the ensemble what it claims to be: a member trained in
the stack takes the very steps its own network takes with the estimator's loss
(so the members are default MLPs, not something else), the kept network's
output is the members' mean pre-activation (so the ensemble predicts their
average), and the estimator predicts what its members predict on average.
"""

import itertools

import default_mlps
import keras
import numpy as np
import pytest
from default_mlps import HIDDEN, L2, SETTINGS
from sklearn.datasets import make_classification, make_regression

from safekeras import ParameterError, SafeKerasClassifier, SafeKerasRegressor, TrainingError
from safekeras.data.targets import classification_target, regression_target
from safekeras.network import ensemble, optimizers, stacked

pytestmark = [
    pytest.mark.core,
    pytest.mark.skipif(
        keras.backend.backend() not in ("tensorflow", "jax"),
        reason="the members train in the compiled engine",
    ),
]


def regression_data(seed, n_rows=96, width=5, outputs=1):
    rng = np.random.RandomState(seed)
    x = rng.normal(size=(n_rows, width)).astype("float32")
    y = x[:, :outputs] - 0.5 * x[:, 1:2] ** 2 + 0.3 * rng.normal(size=(n_rows, outputs))
    y = y.astype("float32")
    return x[:72], y[:72], x[72:], y[72:]


def default_mlp(spec, width, seed, hidden=HIDDEN, dropout=0.1):
    return default_mlps.default_mlp(spec, width, seed, hidden=hidden, dropout=dropout)


def regression_spec(outputs=1):
    spec, _ = regression_target(np.zeros((4, outputs)) if outputs > 1 else np.zeros(4))
    return spec


@pytest.mark.parametrize(
    "loss",
    ["mean_squared_error", "huber", keras.losses.LogCosh()],
    ids=["mse", "huber", "log_cosh"],
)
def test_a_member_alone_takes_its_networks_own_steps_with_the_estimators_loss(loss):
    x, y, x_val, y_val = regression_data(0)
    spec = regression_spec()
    alone = default_mlp(spec, x.shape[1], seed=1)
    alone.compile(optimizer=optimizers.make_optimizer("adam", 0.01), loss=loss)
    result = default_mlps.train_alone(alone, x, y, (x_val, y_val, None))
    member = default_mlp(spec, x.shape[1], seed=1)
    seeds = [layer.get_config()["seed"] for layer in member.layers if "dropout" in layer.name]
    stack = stacked.stack_weights(
        [member.get_weights()],
        dropout_seeds=seeds,
        width=x.shape[1],
        hidden_units=HIDDEN,
        activation="relu",
        dropout=0.1,
        l2=L2,
        output_activation="linear",
        loss=loss if isinstance(loss, str) else keras.losses.serialize(loss),
    )
    stack.compile(optimizer=optimizers.make_optimizer("adam", 0.01), loss=None)
    stacked_result = stacked.train_stack(
        stack,
        train=stacked.stack_rows([(x, y, None)], x.shape[1], "float32"),
        validation=stacked.stack_rows([(x_val, y_val, None)], x.shape[1], "float32"),
        shuffle_seed=7,
        **SETTINGS,
    )
    assert stacked_result.epochs_run == result.epochs_run
    np.testing.assert_allclose(
        stacked_result.history["val_loss"], result.history["val_loss"], rtol=1e-4, atol=1e-6
    )
    (trained,) = stacked.fold_weights(stack, [x.shape[1]])
    for mine, own in zip(trained, alone.get_weights(), strict=True):
        np.testing.assert_allclose(mine, own, rtol=1e-4, atol=1e-5)


def member_weights(width, hidden, outputs, seed):
    rng = np.random.RandomState(seed)
    sizes = [width, *hidden, outputs]
    weights = []
    for fan_in, fan_out in itertools.pairwise(sizes):
        weights += [rng.normal(size=(fan_in, fan_out)), rng.normal(size=fan_out)]
    return [w.astype("float32") for w in weights]


def pre_activation(weights, x):
    for layer in range(len(weights) // 2 - 1):
        x = np.maximum(x @ weights[2 * layer] + weights[2 * layer + 1], 0.0)
    return x @ weights[-2] + weights[-1]


@pytest.mark.parametrize("hidden", [(), (6,), (6, 5), (6, 5, 3)])
@pytest.mark.parametrize("target", ["regression", "binary"])
def test_the_kept_network_outputs_the_members_mean_pre_activation(hidden, target):
    outputs = 2 if target == "regression" else 1
    members = [member_weights(4, hidden, outputs, seed) for seed in range(3)]
    spec = regression_spec(outputs) if target == "regression" else classification_target([0, 1])[0]
    network = default_mlp(spec, 4, seed=0, hidden=ensemble.wide_layer_sizes(hidden, 3))
    network.set_weights(ensemble.merge_members(members))
    x = np.random.RandomState(9).normal(size=(11, 4)).astype("float32")
    mean = np.mean([pre_activation(member, x) for member in members], axis=0)
    expected = mean if target == "regression" else 1 / (1 + np.exp(-mean))
    np.testing.assert_allclose(network.predict(x, verbose=0), expected, rtol=1e-4, atol=1e-5)


def test_the_regressor_predicts_its_members_mean(monkeypatch):
    kept = []
    merge = ensemble.merge_members
    monkeypatch.setattr(
        ensemble, "merge_members", lambda members: kept.append(members) or merge(members)
    )
    X, y = make_regression(n_samples=120, n_features=5, noise=5.0, random_state=0)
    regressor = SafeKerasRegressor(ensemble_size=3, epochs=8, random_state=0).fit(X, y)
    assert regressor.ensemble_size_ == 3
    assert [layer.units for layer in regressor.model_.layers if hasattr(layer, "units")] == [
        192,
        96,
        1,
    ]
    (members,) = kept
    scaled = regressor.preprocessor_.transform(X[:9]).astype("float32")
    mean = np.mean([pre_activation(member, scaled) for member in members], axis=0)
    # The members learnt the linear baseline's residual: their mean is added to the ridge.
    combined = regressor.linear_baseline_.combine(scaled, mean)
    expected = regressor.target_scaler_.inverse_transform(combined).ravel()
    np.testing.assert_allclose(regressor.predict(X[:9]), expected, rtol=1e-4, atol=1e-3)


def test_auto_ensembles_a_regressor_and_not_a_classifier():
    X, y = make_regression(n_samples=80, n_features=4, random_state=0)
    regressor = SafeKerasRegressor(epochs=3, random_state=0).fit(X, y)
    assert regressor.ensemble_size_ == ensemble.AUTO_REGRESSION_SIZE
    Xc, yc = make_classification(n_samples=80, n_features=4, random_state=0)
    assert SafeKerasClassifier(epochs=3, random_state=0).fit(Xc, yc).ensemble_size_ == 1
    # Anything that trains one network on its own terms makes "auto" train one.
    callback = keras.callbacks.TerminateOnNaN()
    for settings in ({"callbacks": [callback]}, {"engine": "keras"}):
        fitted = SafeKerasRegressor(epochs=2, random_state=0, **settings).fit(X, y)
        assert fitted.ensemble_size_ == 1
    assert SafeKerasRegressor(random_state=0).partial_fit(X, y).ensemble_size_ == 1


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"engine": "keras"}, "engine='keras'"),
        ({"model": lambda meta: keras.Sequential([keras.layers.Dense(1)])}, "your own model"),
        ({"loss": lambda y, p: (y - p) ** 2}, "plain function"),
        ({"loss": keras.losses.Huber(delta=0.5)}, "Huber's config leaves out"),
        ({"optimizer": keras.optimizers.Adam(clipnorm=1.0)}, "clipnorm"),
    ],
)
def test_an_ensemble_that_cannot_train_together_is_refused_naming_why(settings, named):
    X, y = make_regression(n_samples=60, n_features=4, random_state=0)
    regressor = SafeKerasRegressor(ensemble_size=2, epochs=2, **settings)
    with pytest.raises(ParameterError, match=named):
        regressor.fit(X, y)
    assert not hasattr(regressor, "pipeline_")  # nothing half-fitted
    with pytest.raises(ParameterError, match="partial_fit trains one network"):
        SafeKerasRegressor(ensemble_size=2).partial_fit(X, y)


def test_an_ensemble_is_reproducible_and_its_members_stop_early():
    X, y = make_regression(n_samples=150, n_features=6, noise=10.0, random_state=1)
    fits = [SafeKerasRegressor(ensemble_size=3, random_state=4).fit(X, y) for _ in range(2)]
    np.testing.assert_array_equal(fits[0].predict(X), fits[1].predict(X))
    fitted = fits[0]
    assert len(fitted.history_["val_loss"]) == len(fitted.history_["loss"]) == fitted.n_epochs_
    assert 1 <= fitted.best_epoch_ <= fitted.n_epochs_ < 200  # the members stopped early
    summary = fitted.diagnose().summary
    assert summary["ensemble_size"] == 3
    assert summary["train_loss_best"] == fitted.history_["loss"][fitted.best_epoch_ - 1]
    assert (
        "ensemble_size"
        not in SafeKerasRegressor(ensemble_size=1, epochs=3).fit(X, y).diagnose().summary
    )
    other = SafeKerasRegressor(ensemble_size=3, random_state=5).fit(X, y)
    assert not np.array_equal(other.predict(X), fitted.predict(X))


def test_diverging_members_raise_and_leave_nothing_fitted():
    X, y = make_regression(n_samples=80, n_features=4, random_state=0)
    regressor = SafeKerasRegressor(
        ensemble_size=2, preprocessor=None, learning_rate=1e6, early_stopping=False, epochs=20
    )
    with pytest.raises(TrainingError, match=r"diverged: loss became (nan|inf) at epoch \d+\."):
        regressor.fit(X * 1e15, y * 1e15)
    assert not hasattr(regressor, "pipeline_")


def test_a_warm_start_trains_the_kept_network_on_as_one():
    X, y = make_regression(n_samples=100, n_features=4, noise=5.0, random_state=0)
    regressor = SafeKerasRegressor(ensemble_size=2, epochs=4, warm_start=True, random_state=0)
    regressor.fit(X, y)
    widths = [layer.units for layer in regressor.model_.layers if hasattr(layer, "units")]
    before = regressor.predict(X)
    # From the fitted weights, not from new members: a vanishing step leaves them in place.
    regressor.set_params(learning_rate=1e-12, epochs=1, early_stopping=False)
    regressor.fit(X, y)
    assert regressor.ensemble_size_ == 2
    assert [layer.units for layer in regressor.model_.layers if hasattr(layer, "units")] == widths
    np.testing.assert_allclose(regressor.predict(X), before, rtol=1e-4, atol=1e-4)
    regressor.set_params(learning_rate=0.01, epochs=5)
    regressor.fit(X, y)
    assert not np.allclose(regressor.predict(X), before)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_a_classifier_ensemble_gives_probabilities_and_labels(n_classes):
    X, y = make_classification(
        n_samples=120,
        n_features=5,
        n_informative=4,
        n_redundant=0,
        n_classes=n_classes,
        random_state=0,
    )
    classifier = SafeKerasClassifier(ensemble_size=2, epochs=6, random_state=0).fit(X, y)
    assert classifier.ensemble_size_ == 2
    proba = classifier.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert set(classifier.predict(X)) <= set(classifier.classes_)


def test_the_threshold_folds_of_an_ensemble_are_ensembles(capsys):
    X, y = make_classification(n_samples=120, n_features=5, weights=[0.8], random_state=0)
    classifier = SafeKerasClassifier(
        ensemble_size=2, threshold_cv=3, epochs=6, random_state=0, verbose=1
    ).fit(X, y)
    assert "not stacked: ensemble_size=2 (each fold trains its own)" in capsys.readouterr().out
    assert 0 < classifier.threshold_ < 1
    assert classifier.threshold_search_ is not None


def _rows_of_parts(parts, pool_x):
    """Each part's rows, as positions in ``pool_x`` (its rows are distinct)."""
    position = {tuple(row): index for index, row in enumerate(pool_x)}
    return [np.array([position[tuple(row)] for row in x]) for x, _, _ in parts]


@pytest.mark.parametrize("n_train, n_val, size", [(40, 8, 4), (20, 8, 4), (40, 8, 2)])
def test_cross_fitted_members_each_hold_out_rows_they_never_train_on(n_train, n_val, size):
    rng = np.random.RandomState(0)
    x, y = rng.normal(size=(n_train, 3)), rng.normal(size=(n_train, 1))
    x_val, y_val = rng.normal(size=(n_val, 3)), rng.normal(size=n_val)
    weights, w_val = rng.uniform(0.5, 2, n_train), None
    train, validation = ensemble.member_rows(
        size, (x, y, weights), (x_val, y_val, w_val), np.random.default_rng(1)
    )
    pool_x = np.concatenate([x, x_val])
    trained, held = _rows_of_parts(train, pool_x), _rows_of_parts(validation, pool_x)
    # The first member is the fit's own split; every member trains on all rows but its own.
    np.testing.assert_array_equal(trained[0], np.arange(n_train))
    np.testing.assert_array_equal(held[0], np.arange(n_train, n_train + n_val))
    for member in range(size):
        assert len(held[member]) == n_val and not set(trained[member]) & set(held[member])
        assert set(trained[member]) | set(held[member]) == set(range(n_train + n_val))
        # Targets and weights travel with their rows; weights have mean 1 over each part.
        pool_y = np.concatenate([y[:, 0], y_val])
        np.testing.assert_array_equal(train[member][1][:, 0], pool_y[trained[member]])
        assert train[member][2] is weights or np.isclose(train[member][2].mean(), 1.0)
    # Held-out slices are disjoint while the training rows last: together, every row trains.
    slices = held[1:]
    if (size - 1) * n_val <= n_train:
        assert len(set(np.concatenate(slices))) == (size - 1) * n_val
    assert set(np.concatenate(trained[1:])) | set(trained[0]) == set(range(n_train + n_val))


def test_without_cross_fitting_members_share_the_split_in_orders_of_their_own(monkeypatch):
    monkeypatch.setattr(ensemble, "CROSS_FIT", False)
    rng = np.random.RandomState(0)
    x, y = rng.normal(size=(30, 3)), rng.normal(size=(30, 1))
    x_val, y_val = rng.normal(size=(6, 3)), rng.normal(size=6)
    train, validation = ensemble.member_rows(
        3, (x, y, None), (x_val, y_val, None), np.random.default_rng(1)
    )
    trained = _rows_of_parts(train, x)
    np.testing.assert_array_equal(trained[0], np.arange(30))
    assert all(sorted(rows) == list(range(30)) for rows in trained)
    assert not np.array_equal(trained[1], trained[0])
    assert all(part[0] is x_val for part in validation)
    no_split, none = ensemble.member_rows(3, (x, y, None), None, np.random.default_rng(1))
    assert none is None and len(no_split) == 3


def test_members_hold_out_whole_groups_of_twin_rows():
    from safekeras.data.row_twins import twin_groups

    rng = np.random.RandomState(0)
    people = rng.normal(size=(12, 3))
    x = np.repeat(people, 4, axis=0)  # each person's features on 4 rows
    y = rng.normal(size=(48, 1))
    x_val, y_val = rng.normal(size=(8, 3)), rng.normal(size=8)
    twins = twin_groups(x)
    train, validation = ensemble.member_rows(
        4, (x, y, None), (x_val, y_val, None), np.random.default_rng(1), twins=twins
    )
    for (x_train, _, _), (x_held, _, _) in zip(train, validation, strict=True):
        trained = {tuple(row) for row in x_train}
        assert len(x_held) and not any(tuple(row) in trained for row in x_held)
    # Without twins the members draw exactly the slices they drew before twins existed:
    # consecutive windows of one permutation of the training rows, the generator's first draw.
    distinct = x[::4]
    _, held_out = ensemble.member_rows(
        4, (distinct, y[::4], None), (x_val, y_val, None), np.random.default_rng(1)
    )
    order = np.random.default_rng(1).permutation(len(distinct))
    for member, (x_held, _, _) in enumerate(held_out[1:]):
        window = order[(np.arange(len(x_val)) + member * len(x_val)) % len(distinct)]
        np.testing.assert_array_equal(x_held, distinct[window])
