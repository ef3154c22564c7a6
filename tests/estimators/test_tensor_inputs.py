"""Images, series and token ids through both estimators (``input_kind_`` "tensor", "tokens").

Digits as (n, 8, 8, 1) images with a tiny Conv2D network, (n, 20, 1) series with Conv1D
and LSTM, and (n, 10) integer token ids with an Embedding: the same fit, predict,
persistence and export guarantees as a table, and clear errors where they cannot hold.
"""

import pickle

import keras
import numpy as np
import pytest
from imblearn.over_sampling import SMOTE, RandomOverSampler
from sklearn.datasets import load_digits
from sklearn.metrics import balanced_accuracy_score

from safekeras import SafeKerasClassifier, SafeKerasRegressor, load
from safekeras.data.channel_scaling import ChannelScaler
from safekeras.exceptions import (
    InputError,
    ModelSpecError,
    ParameterError,
    PersistenceError,
)
from safekeras.export import keras_inputs

pytestmark = pytest.mark.core

FAST = dict(epochs=5, batch_size=64, learning_rate=0.01, random_state=0)


def _cnn(units=10, activation="softmax", shape=(8, 8, 1)):
    return keras.Sequential(
        [
            keras.Input(shape=shape),
            keras.layers.Conv2D(4, 3, activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Flatten(),
            keras.layers.Dense(units, activation=activation),
        ]
    )


def _lstm():
    return keras.Sequential(
        [
            keras.Input(shape=(20, 1)),
            keras.layers.LSTM(4),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )


def _embedding():
    return keras.Sequential(
        [
            keras.Input(shape=(10,)),
            keras.layers.Embedding(20, 4),
            keras.layers.GlobalAveragePooling1D(),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    images, y = X.reshape(-1, 8, 8, 1)[:700], y[:700]  # raw 0-16 pixels: the scaler learns them
    return images[:500], y[:500], images[500:], y[500:]


@pytest.fixture(scope="module")
def cnn(digits):
    X, y, _, _ = digits
    return SafeKerasClassifier(_cnn(), **FAST).fit(X, y)


@pytest.fixture(scope="module")
def series():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(240, 20, 1)).astype("float32")
    return X, X[:, 5:10, 0].mean(axis=1) > 0  # the class lives in a window of the series


@pytest.fixture(scope="module")
def tokens():
    rng = np.random.default_rng(0)
    T = rng.integers(0, 20, size=(240, 10))
    return T, (T == 3).any(axis=1)


@pytest.fixture(scope="module")
def token_model(tokens):
    return SafeKerasClassifier(_embedding(), **FAST).fit(*tokens)


# -- images -------------------------------------------------------------------------------


def test_a_cnn_learns_digit_images_through_a_fitted_channel_scaler(cnn, digits):
    X_test, y_test = digits[2:]
    assert cnn.input_kind_ == "tensor"
    assert cnn.n_features_in_ == 8  # X.shape[1], as scikit-learn records it
    assert type(cnn.preprocessor_) is ChannelScaler
    assert cnn.pipeline_.named_steps["preprocess"] is cnn.preprocessor_
    assert balanced_accuracy_score(y_test, cnn.predict(X_test)) > 0.6  # 10 classes: chance 0.1
    np.testing.assert_allclose(cnn.predict_proba(X_test), cnn.pipeline_.predict(X_test), atol=1e-6)


def test_the_scaler_is_fitted_on_the_weighted_training_split_only(digits):
    X, y, _, _ = digits
    weights = np.ones(len(X))
    weights[:50] = 0  # rows of weight 0 are never trained on: nor do they scale
    X = X.copy()
    X[:50] = 1e3
    one_pass = dict(FAST, epochs=1, early_stopping=False)
    whole = SafeKerasRegressor(_cnn(1, None), **one_pass).fit(X, y, sample_weight=weights)
    np.testing.assert_allclose(whole.preprocessor_.mean_, [X[50:].mean()], rtol=1e-6)
    np.testing.assert_allclose(whole.preprocessor_.scale_, [X[50:].std()], rtol=1e-6)
    held_out = SafeKerasRegressor(_cnn(1, None), **FAST).fit(X, y, sample_weight=weights)
    assert held_out._training_profile_.n_validation > 0
    assert held_out.preprocessor_.mean_[0] != pytest.approx(X[50:].mean(), rel=1e-6)


def test_predict_never_modifies_the_callers_array(cnn, digits):
    X_test = digits[2].copy()
    before = X_test.copy()
    cnn.predict_proba(X_test)
    np.testing.assert_array_equal(X_test, before)


def test_preprocessor_none_passes_the_tensor_through_unchanged(digits):
    X, y, X_test, _ = digits
    clf = SafeKerasClassifier(_cnn(), preprocessor=None, **{**FAST, "epochs": 1}).fit(X, y)
    assert clf.preprocessor_ is None
    raw = keras.ops.convert_to_numpy(clf.model_(X_test.astype("float32")))
    np.testing.assert_allclose(clf.predict_proba(X_test), raw, atol=1e-6)


def test_the_default_mlp_refuses_images_and_says_how_to_fix_it(digits):
    X, y, _, _ = digits
    with pytest.raises(ModelSpecError, match=r"Flatten X \(X.reshape\(len\(X\), -1\)\)"):
        SafeKerasClassifier(epochs=1).fit(X, y)


def test_a_network_for_another_shape_is_a_model_spec_error_naming_both(digits):
    X, y, _, _ = digits
    with pytest.raises(
        ModelSpecError,
        match=r"takes samples of shape \(8, 8, 3\), but X holds samples of shape \(8, 8, 1\)",
    ):
        SafeKerasClassifier(_cnn(shape=(8, 8, 3)), epochs=1).fit(X, y)


def test_a_flat_table_given_to_an_image_model_names_the_shape(cnn, digits):
    flat = digits[2].reshape(len(digits[2]), -1)
    with pytest.raises(
        InputError,
        match=r"X has shape \(200, 64\), but .* rows of shape \(8, 8, 1\).* looks flattened",
    ):
        cnn.predict(flat)


@pytest.mark.parametrize(
    ("change", "hint"),
    [
        (lambda X: np.moveaxis(X, -1, 1), "looks channels-first"),
        (lambda X: X[:, :6, :6], "rows are 6x6 per channel, the training rows 8x8"),
        (lambda X: np.concatenate([X, X, X], axis=-1), "channel"),
    ],
)
def test_a_batch_of_another_image_shape_names_both_shapes_and_the_mistake(
    cnn, digits, change, hint
):
    # Before scikit-learn's feature count, whose message names one axis only.
    batch = change(digits[2][:5])
    with pytest.raises(
        InputError, match=r"X has shape .* fitted on rows of shape \(8, 8, 1\)"
    ) as e:
        cnn.predict(batch)
    assert hint in str(e.value)


def test_a_table_given_to_a_sequence_network_is_refused_not_reshaped_by_keras():
    # Keras would add the missing axis itself and train on the table as a sequence.
    X = np.random.default_rng(0).normal(size=(60, 20))
    y = (X.sum(axis=1) > 0).astype(int)
    with pytest.raises(
        ModelSpecError, match=r"takes samples of shape \(20, 1\), but X is a 2-d table"
    ):
        SafeKerasClassifier(_lstm(), epochs=1, random_state=0).fit(X, y)


def test_an_image_given_to_a_table_model_is_an_input_error(digits):
    X, y, X_test, _ = digits
    flat = SafeKerasClassifier(hidden_layer_sizes=(8,), epochs=1, random_state=0)
    flat.fit(X.reshape(len(X), -1), y)
    with pytest.raises(InputError, match=r"fitted on a 2-d table of 64 columns, but got an array"):
        flat.predict(X_test)


def test_nan_in_an_image_is_refused_at_fit(digits):
    X, y, _, _ = digits
    X = X.copy()
    X[3, 2, 2, 0] = np.nan
    with pytest.raises(InputError, match=r"contains NaN \(in channel\(s\) \[0\]"):
        SafeKerasClassifier(_cnn(), epochs=1).fit(X, y)


def test_class_weight_threshold_and_stratified_early_stopping_on_images(digits):
    X, y, X_test, _ = digits
    binary = y == 3
    clf = SafeKerasClassifier(
        _cnn(1, "sigmoid"), class_weight="balanced", threshold="auto", threshold_cv=None, **FAST
    ).fit(X, binary)
    assert "val_loss" in clf.history_ and 1 <= clf.best_epoch_ <= clf.n_epochs_
    assert 0 < clf.threshold_ < 1
    assert clf.predict_proba(X_test).shape == (len(X_test), 2)


def test_the_tuned_threshold_cross_validates_on_images(digits):
    X, y, _, _ = digits
    clf = SafeKerasClassifier(
        _cnn(1, "sigmoid"), threshold="auto", early_stopping=False, **{**FAST, "epochs": 2}
    )
    clf.fit(X[:300], y[:300] == 3)  # no early stopping: the threshold comes from internal folds
    assert 0 < clf.threshold_ < 1


def test_random_oversampling_works_and_smote_is_refused(digits):
    X, y, _, _ = digits
    binary = y == 3
    clf = SafeKerasClassifier(
        _cnn(1, "sigmoid"), sampler=RandomOverSampler(), **{**FAST, "epochs": 1}
    )
    clf.fit(X, binary)
    profile = clf._training_profile_
    n_train = len(X) - profile.n_validation
    assert profile.n_train > n_train  # minority images were repeated, whole
    with pytest.raises(ParameterError, match=r"synthesises rows.*RandomOverSampler"):
        SafeKerasClassifier(_cnn(1, "sigmoid"), sampler=SMOTE(), epochs=1).fit(X, binary)


def test_warm_start_and_partial_fit_continue_on_images(digits):
    X, y, _, _ = digits
    clf = SafeKerasClassifier(_cnn(), **{**FAST, "epochs": 1}).fit(X, y)
    scaler = clf.preprocessor_
    clf.set_params(warm_start=True).fit(X, y)
    assert clf.preprocessor_ is scaler  # frozen: the network learnt its scale
    epochs = clf.n_epochs_
    clf.partial_fit(X[:50], y[:50])
    assert clf.n_epochs_ == epochs + 1
    with pytest.raises(InputError, match="shape"):
        clf.partial_fit(X[:50, :4], y[:50])


@pytest.mark.tensorflow_only(reason="the compiled engine is TensorFlow's on this backend")
def test_the_compiled_engine_trains_a_cnn(cnn):
    assert cnn.engine_ == "compiled"


def test_diagnose_runs_on_an_image_fit(cnn, digits):
    diagnosis = cnn.diagnose(digits[2], digits[3])
    assert isinstance(diagnosis.findings, tuple | list)
    assert "SafeKerasClassifier" in str(diagnosis)


# -- persistence and export ---------------------------------------------------------------


def test_pickle_and_save_load_predict_identically(cnn, digits, tmp_path):
    X_test = digits[2]
    expected = cnn.predict_proba(X_test)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(cnn)).predict_proba(X_test), expected)
    cnn.save(tmp_path / "cnn.safekeras")
    loaded = load(tmp_path / "cnn.safekeras")
    assert loaded.input_kind_ == "tensor"
    np.testing.assert_array_equal(loaded.predict_proba(X_test), expected)


def test_an_lstm_round_trips_and_exports(series, tmp_path):
    X, y = series
    clf = SafeKerasClassifier(_lstm(), **FAST).fit(X, y)
    clf.save(tmp_path / "lstm.safekeras")
    np.testing.assert_array_equal(
        load(tmp_path / "lstm.safekeras").predict_proba(X), clf.predict_proba(X)
    )
    exported = keras.ops.convert_to_numpy(clf.to_keras()(X))
    np.testing.assert_allclose(exported, clf.predict_proba(X), atol=1e-6)


def test_a_tampered_sample_shape_is_refused_at_load(cnn, tmp_path):
    tampered = pickle.loads(pickle.dumps(cnn))
    tampered._input_shape_ = (8, 8, 3)
    tampered.save(tmp_path / "bad.safekeras")
    with pytest.raises(
        PersistenceError, match=r"is inconsistent: the estimator was fitted on 'tensor'"
    ):
        load(tmp_path / "bad.safekeras")


def test_to_keras_applies_the_channel_scaler_in_front_of_the_network(cnn, digits):
    X_test = digits[2]
    model = cnn.to_keras()
    assert "channel_scale" in [layer.name for layer in model.layers]
    exported = keras.ops.convert_to_numpy(model(X_test.astype("float32")))
    np.testing.assert_allclose(exported, cnn.predict_proba(X_test), atol=1e-6)


def test_a_conv1d_regressor_on_series(series):
    X, _ = series
    target = X[:, 5:10, 0].mean(axis=1)
    network = keras.Sequential(
        [
            keras.Input(shape=(20, 1)),
            keras.layers.Conv1D(4, 3),
            keras.layers.GlobalAveragePooling1D(),
            keras.layers.Dense(1),
        ]
    )
    reg = SafeKerasRegressor(network, **FAST).fit(X, target)
    assert reg.input_kind_ == "tensor" and reg.predict(X).shape == (len(X),)
    exported = keras.ops.convert_to_numpy(reg.to_keras()(X)).ravel()
    np.testing.assert_allclose(exported, reg.predict(X), rtol=1e-5, atol=1e-6)


# -- token ids ----------------------------------------------------------------------------


def test_token_ids_are_never_scaled(token_model, tokens):
    T, _ = tokens
    assert token_model.input_kind_ == "tokens"
    assert token_model.preprocessor_ is None  # preprocessor="auto" leaves codes alone
    raw = keras.ops.convert_to_numpy(token_model.model_(T.astype("float32")))[:, 0]
    np.testing.assert_allclose(token_model.predict_proba(T)[:, 1], raw, atol=1e-6)
    model = token_model.to_keras()
    exported = keras.ops.convert_to_numpy(model(keras_inputs(model, T)))
    np.testing.assert_allclose(exported, token_model.predict_proba(T), atol=1e-6)


def test_a_builder_that_starts_with_an_embedding_reads_token_ids(tokens):
    def build(meta):
        return keras.Sequential(
            [
                keras.Input(shape=meta["input_shape_"]),
                keras.layers.Embedding(20, 4),
                keras.layers.Flatten(),
                keras.layers.Dense(1, activation="sigmoid"),
            ]
        )

    clf = SafeKerasClassifier(build, **{**FAST, "epochs": 1}).fit(*tokens)
    assert clf.input_kind_ == "tokens" and clf.preprocessor_ is None


def test_ids_beyond_the_embedding_are_an_error_not_zeros(token_model, tokens):
    T = tokens[0].copy()
    T[7, 2] = 20
    with pytest.raises(
        InputError, match=r"Token id 20 is beyond the network's Embedding vocabulary \(input_dim=20"
    ):
        token_model.predict(T)


def test_tokens_are_picked_never_interpolated(tokens, tmp_path):
    T, y = tokens
    with pytest.raises(
        ParameterError, match="token id sequences would mean interpolating token ids"
    ):
        SafeKerasClassifier(_embedding(), sampler=SMOTE(), epochs=1).fit(T, y)
    clf = SafeKerasClassifier(_embedding(), sampler=RandomOverSampler(), **{**FAST, "epochs": 1})
    clf.fit(T, y).save(tmp_path / "tokens.safekeras")
    np.testing.assert_array_equal(
        load(tmp_path / "tokens.safekeras").predict_proba(T), clf.predict_proba(T)
    )


def test_token_ids_as_floats_are_refused_rather_than_scaled(tokens):
    T, y = tokens
    with pytest.raises(InputError, match=r"Pass the ids as integers \(X.astype\('int64'\)\)"):
        SafeKerasClassifier(_embedding(), epochs=1).fit(T.astype(float), y)
