"""The compiled TensorFlow engine's dropout masks (safekeras/network/dropout.py).

The network keeps Keras ``Dropout`` layers; in training, the compiled engine
draws their masks with 16 random bits per unit instead of Keras's float32
uniform. These tests check that the masks drop units at the layer's rate and
keep the expectation, differ per step and per seed, repeat with the seed,
act in training only, that the engine really draws them (a spy on the traced
step), and that networks it cannot run layer by layer keep Keras's dropout.
"""

from collections import OrderedDict

import keras
import numpy as np
import pytest

from safekeras import SafeKerasClassifier
from safekeras.network import dropout as engine_dropout
from safekeras.network.dropout import dropout_mask, training_forward
from safekeras.network.engine import tf_epochs

pytestmark = pytest.mark.tensorflow_only(reason="the masks of the compiled TensorFlow engine")

tf = pytest.importorskip("tensorflow")


def _chain(rate=0.3, seed=5, width=64):
    """Input -> Dense (ones, no bias) -> Dropout: the output is the mask times the input sum."""
    return keras.Sequential(
        [
            keras.Input(shape=(4,)),
            keras.layers.Dense(width, kernel_initializer="ones", use_bias=False),
            keras.layers.Dropout(rate, seed=seed),
        ]
    )


def test_the_mask_drops_units_at_the_rate_and_keeps_their_expectation():
    x = tf.ones([2000, 64])
    out = dropout_mask(x, 0.3, tf.constant([3, 0], tf.int64)).numpy()
    dropped = np.mean(out == 0)
    # 128 000 Bernoulli(0.3) draws: 5 standard deviations are 0.0064.
    assert abs(dropped - 0.3) < 0.0064
    threshold = round(0.3 * 65536)
    np.testing.assert_allclose(out[out != 0], 65536 / (65536 - threshold), rtol=1e-6)
    assert abs(out.mean() - 1.0) < 0.01  # inverse keep probability: unbiased
    assert dropout_mask(x, 0.0, tf.constant([3, 0], tf.int64)) is x


def test_the_mask_is_a_constant_of_the_gradient():
    x = tf.Variable(tf.ones([8, 16]))
    with tf.GradientTape() as tape:
        out = dropout_mask(x, 0.5, tf.constant([1, 2], tf.int64))
        total = tf.reduce_sum(out)
    gradient = tape.gradient(total, x).numpy()
    np.testing.assert_array_equal(gradient, out.numpy())  # d(x * mask)/dx = mask


def test_masks_differ_per_step_and_per_seed_and_repeat_with_the_seed():
    x = np.ones((32, 4), "float32")

    def steps(seed):
        forward = tf.function(training_forward(_chain(seed=seed, width=1000)))
        return [forward(x).numpy() == 0 for _ in range(3)]

    first, again, other = steps(5), steps(5), steps(6)
    # The seed state advances per call, and the steps' masks are independent draws:
    # 32 000 units dropped in both of two steps at rate**2 (5 standard deviations: 0.008).
    assert abs(np.mean(first[0] & first[1]) - 0.3**2) < 0.008
    assert abs(np.mean(first[1] & first[2]) - 0.3**2) < 0.008
    for mask, repeat in zip(first, again, strict=True):
        np.testing.assert_array_equal(mask, repeat)
    assert not np.array_equal(first[0], other[0])


def test_training_forward_is_the_network_apart_from_the_masks():
    network = _chain(rate=0.25, width=1000)
    x = np.arange(8, dtype="float32").reshape(2, 4)
    state = network.layers[-1].seed_generator.state
    before = state.numpy().copy()
    out = training_forward(network)(x).numpy()
    np.testing.assert_array_equal(state.numpy(), [before[0], before[1] + 1])  # one draw, as Keras's
    kept = out != 0
    scale = 65536 / (65536 - round(0.25 * 65536))
    expected = network(x, training=False).numpy() * scale
    np.testing.assert_allclose(out[kept], expected[kept], rtol=1e-6)
    assert 0.2 < 1 - kept.mean() < 0.3
    # Out of training the layer is Keras's Dropout: the identity.
    np.testing.assert_allclose(network(x, training=False).numpy(), network.predict(x, verbose=0))


@pytest.mark.parametrize(
    "make",
    [
        lambda: _functional(),
        lambda: keras.Sequential(
            [keras.Input((4,)), keras.layers.Dropout(0.3, noise_shape=(1, 4), seed=1)]
        ),
        lambda: keras.Sequential([keras.Input((4,)), keras.layers.Dropout(1.0, seed=1)]),
        lambda: keras.Sequential([keras.Input((4,)), keras.layers.GaussianNoise(0.1, seed=1)]),
    ],
    ids=["functional", "noise_shape", "rate 1", "other random layer"],
)
def test_networks_it_cannot_run_layer_by_layer_keep_keras_dropout(make, monkeypatch):
    def refuse(*args):
        raise AssertionError("dropout_mask used")

    monkeypatch.setattr(engine_dropout, "dropout_mask", refuse)
    network = make()
    x = np.ones((16, 4), "float32")
    forward = training_forward(network)
    twin = keras.models.clone_model(network)
    twin.set_weights(network.get_weights())
    for variable, value in zip(
        twin.non_trainable_variables, network.non_trainable_variables, strict=True
    ):
        variable.assign(value)  # the same seed state: the same Keras masks
    np.testing.assert_array_equal(forward(x).numpy(), twin(x, training=True).numpy())


def _functional():
    inputs = keras.Input((4,))
    return keras.Model(inputs, keras.layers.Dropout(0.3, seed=2)(keras.layers.Dense(8)(inputs)))


def test_a_nested_plain_sequential_is_run_with_the_cheap_masks(monkeypatch):
    calls = []
    monkeypatch.setattr(
        engine_dropout,
        "dropout_mask",
        lambda x, rate, seed: calls.append(rate) or x,
    )
    network = keras.Sequential([keras.Input((4,)), _chain(rate=0.2), keras.layers.Dense(1)])
    training_forward(network)(np.ones((3, 4), "float32"))
    assert calls == [0.2]


@pytest.fixture
def data():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(300, 6))
    y = (X[:, 0] - X[:, 1] + 0.5 * rng.normal(size=300) > 0).astype(int)
    return X, y


PARAMS = dict(
    engine="compiled",
    hidden_layer_sizes=(16, 8),
    batch_size=64,
    epochs=5,
    early_stopping=False,
    threshold=None,
)


def test_the_compiled_engine_trains_with_these_masks(data, monkeypatch):
    # A cold cache, so that the step is traced here; the spy sees the trace's calls.
    monkeypatch.setattr(tf_epochs, "_twins", OrderedDict())
    rates = []
    real = engine_dropout.dropout_mask

    def spy(x, rate, seed):
        rates.append(rate)
        return real(x, rate, seed)

    monkeypatch.setattr(engine_dropout, "dropout_mask", spy)
    X, y = data
    clf = SafeKerasClassifier(**PARAMS, dropout=0.3, random_state=0).fit(X, y)
    assert rates and set(rates) == {0.3}
    dropouts = [layer for layer in clf.model_.layers if isinstance(layer, keras.layers.Dropout)]
    assert [type(layer) for layer in dropouts] == [keras.layers.Dropout] * 2  # the model is Keras's


def test_compiled_fits_with_dropout_repeat_with_the_seed_and_differ_across_seeds(data):
    X, y = data
    fits = {
        (dropout, seed): SafeKerasClassifier(**PARAMS, dropout=dropout, random_state=seed).fit(X, y)
        for dropout, seed in [(0.3, 0), (0.3, 1)]
    }
    same, other_seed = fits[(0.3, 0)], fits[(0.3, 1)]
    repeat = SafeKerasClassifier(**PARAMS, dropout=0.3, random_state=0).fit(X, y)
    assert repeat.history_ == same.history_
    np.testing.assert_array_equal(repeat.predict_proba(X), same.predict_proba(X))
    assert other_seed.history_ != same.history_
    np.testing.assert_array_equal(same.predict_proba(X), same.predict_proba(X))  # no masks
