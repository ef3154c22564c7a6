"""A careful hand-written Keras network, as a good Keras tutorial writes it, for the benchmarks.

The peer that a competent Keras user builds without safekeras: inputs imputed, scaled and
one-hot encoded (:func:`careful_preprocessor`), the head and loss the target needs, Adam,
``EarlyStopping(restore_best_weights=True)`` on a held-out validation split (stratified for
classes), class weights for imbalance, and threshold 0.5 / argmax. Seeded through its
initialisers and its own shuffle, so a fit changes no global random state.

:func:`benchmarks.contenders.make_careful_keras` builds the whole pipeline.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.impute import SimpleImputer
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import LabelEncoder, OneHotEncoder, StandardScaler
from sklearn.utils.class_weight import compute_class_weight

HIDDEN_LAYER_SIZES = (64, 32)  # safekeras's default sizes, as every Keras peer here uses


def careful_preprocessor(X):
    """Median-impute and scale the numbers, impute and one-hot encode everything else.

    A DataFrame's columns are split by dtype (numbers against the rest: strings,
    categories, booleans); an array is taken as all numeric.

    Parameters
    ----------
    X : ndarray or pandas.DataFrame
        The features, or a frame with the same columns and dtypes: only its type is read.

    Returns
    -------
    sklearn.pipeline.Pipeline or sklearn.compose.ColumnTransformer
        Unfitted.
    """
    numbers = make_pipeline(SimpleImputer(strategy="median"), StandardScaler())
    if not hasattr(X, "dtypes"):
        return numbers
    categories = make_pipeline(
        SimpleImputer(strategy="most_frequent"),
        OneHotEncoder(handle_unknown="ignore", sparse_output=False),
    )
    return ColumnTransformer(
        [
            ("numbers", numbers, make_column_selector(dtype_include="number")),
            ("categories", categories, make_column_selector(dtype_exclude="number")),
        ]
    )


def _batches(x, y, weights, batch_size: int, seed: int):
    """Shuffled mini-batches, reshuffled each epoch from ``seed``: a seeded ``tf.data`` shuffle.

    Keras shuffles arrays with the backend's global seed; a seeded shuffle of its own keeps
    the fit reproducible without ``keras.utils.set_random_seed`` (a global side effect).
    TensorFlow backend only, as the benchmarks run.
    """
    import tensorflow as tf

    rows = tf.data.Dataset.from_tensor_slices((x, y, weights))
    return rows.shuffle(len(x), seed=seed, reshuffle_each_iteration=True).batch(batch_size)


class _CarefulKeras(BaseEstimator):
    """The shared fit: split, build, train with early stopping, keep the best weights."""

    def __init__(
        self,
        epochs=200,
        batch_size=32,
        patience=10,
        validation_fraction=0.2,
        learning_rate=1e-3,
        random_state=0,
    ):
        self.epochs = epochs
        self.batch_size = batch_size
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.learning_rate = learning_rate
        self.random_state = random_state

    def _network(self, n_features: int, n_outputs: int, activation: str):
        import keras

        seeds = iter(range(self.random_state, self.random_state + 100))
        layers = [keras.Input(shape=(n_features,))]
        for units in HIDDEN_LAYER_SIZES:
            layers.append(
                keras.layers.Dense(
                    units,
                    activation="relu",
                    kernel_initializer=keras.initializers.GlorotUniform(seed=next(seeds)),
                )
            )
        layers.append(
            keras.layers.Dense(
                n_outputs,
                activation=activation,
                kernel_initializer=keras.initializers.GlorotUniform(seed=next(seeds)),
            )
        )
        return keras.Sequential(layers)

    def _train(self, X, target, weights, head: tuple[int, str, str], stratify):
        import keras

        x = np.asarray(X, dtype=np.float32)
        parts = train_test_split(
            x,
            target,
            weights,
            test_size=self.validation_fraction,
            stratify=stratify,
            random_state=self.random_state,
        )
        x_fit, x_val, y_fit, y_val, w_fit, w_val = parts
        n_outputs, activation, loss = head
        model = self._network(x.shape[1], n_outputs, activation)
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=self.learning_rate), loss=loss)
        stop = keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=self.patience, restore_best_weights=True
        )
        history = model.fit(
            _batches(x_fit, y_fit, w_fit, self.batch_size, self.random_state),
            validation_data=(x_val, y_val, w_val),
            epochs=self.epochs,
            shuffle=False,  # the batches come shuffled, from the seeded tf.data shuffle
            callbacks=[stop],
            verbose=0,
        )
        self.model_ = model
        self.n_features_in_ = x.shape[1]
        # Epochs trained, the patience included (the restored weights are from earlier).
        self.n_epochs_ = len(history.history["loss"])
        return self

    def _output(self, X):
        return self.model_.predict(np.asarray(X, dtype=np.float32), verbose=0)


class CarefulKerasClassifier(ClassifierMixin, _CarefulKeras):
    """Sigmoid head and binary cross-entropy (two classes) or softmax and sparse categorical
    cross-entropy, balanced class weights, threshold 0.5 / argmax.

    Parameters
    ----------
    epochs : int, default=200
        Most epochs; early stopping usually ends sooner.
    batch_size : int, default=32
        Keras' default.
    patience : int, default=10
        Epochs without a better validation loss before stopping.
    validation_fraction : float, default=0.2
        Share of the rows held out (stratified) for early stopping.
    learning_rate : float, default=1e-3
        Adam's default.
    random_state : int, default=0
        Seeds the split, the initial weights and the shuffle.

    Attributes
    ----------
    classes_ : ndarray
    class_weight_ : dict
        Label to the weight of its rows in the loss (``"balanced"``).
    model_ : keras.Model
    n_epochs_ : int
        Epochs trained.
    """

    def fit(self, X, y):
        encoder = LabelEncoder().fit(y)
        self.classes_ = encoder.classes_
        target = encoder.transform(y)
        # "balanced": each class weighs as much in the loss as the others together do.
        per_class = compute_class_weight(
            "balanced", classes=np.arange(len(self.classes_)), y=target
        )
        self.class_weight_ = dict(zip(self.classes_.tolist(), per_class.tolist(), strict=True))
        weights = per_class[target].astype(np.float32)
        binary = len(self.classes_) == 2
        head = (
            (1, "sigmoid", "binary_crossentropy")
            if binary
            else (len(self.classes_), "softmax", "sparse_categorical_crossentropy")
        )
        labels = target.astype(np.float32 if binary else np.int32)
        return self._train(X, labels, weights, head, stratify=target)

    def predict_proba(self, X):
        output = self._output(X).astype(float)
        if output.shape[1] == 1:
            return np.hstack([1.0 - output, output])
        return output

    def predict(self, X):
        # argmax of [1 - p, p] is "p > 0.5".
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


class CarefulKerasRegressor(RegressorMixin, _CarefulKeras):
    """Linear head and mean squared error on the standardised target, inverted at predict.

    Parameters and attributes as :class:`CarefulKerasClassifier` (no class weights;
    the validation split is not stratified), plus ``target_mean_`` and ``target_scale_``.
    """

    def fit(self, X, y):
        y = np.asarray(y, dtype=float)
        self.target_mean_ = float(np.mean(y))
        self.target_scale_ = float(np.std(y)) or 1.0
        target = ((y - self.target_mean_) / self.target_scale_).astype(np.float32)
        weights = np.ones(len(y), dtype=np.float32)
        return self._train(X, target, weights, (1, "linear", "mean_squared_error"), None)

    def predict(self, X):
        return self._output(X)[:, 0].astype(float) * self.target_scale_ + self.target_mean_
