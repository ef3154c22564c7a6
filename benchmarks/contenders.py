"""Every peer a benchmark compares safekeras with, one definition each, configured as measured.

The quality benchmark's contenders (Keras with the pitfalls safekeras prevents, a careful
hand-written Keras pipeline, the Keras and SciKeras wrappers, the MLP pipeline at its defaults,
with early stopping and with a tuned threshold, HistGradientBoosting with a tuned threshold,
safekeras's defaults), the raw Keras network the speed benchmarks time against, and the
default-path benchmark's MLP pipelines.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.model_selection import TunedThresholdClassifierCV
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import LabelEncoder, OneHotEncoder, StandardScaler

from benchmarks.datasets import SEED, Dataset

HIDDEN_LAYER_SIZES = (64, 32)  # the pitfall and wrapped Keras networks: safekeras's default sizes


KERAS_BATCH_SIZE = 32  # Keras' own default, which the tutorials keep


TUNED_CV = 5  # TunedThresholdClassifierCV's default internal folds


def build_tutorial_network(n_features: int, n_outputs: int, activation: str):
    """``Input -> Dense(64, relu) -> Dense(32, relu) -> Dense(n_outputs, activation)``."""
    import keras

    return keras.Sequential(
        [
            keras.Input(shape=(n_features,)),
            *(keras.layers.Dense(units, activation="relu") for units in HIDDEN_LAYER_SIZES),
            keras.layers.Dense(n_outputs, activation=activation),
        ]
    )


class PitfallKerasClassifier(ClassifierMixin, BaseEstimator):
    """A Keras model with the pitfalls safekeras prevents, made cross-validatable and nothing more.

    Unscaled inputs, a fixed number of epochs, no early stopping, no class weights,
    threshold 0.5: the "predict wrong" cases of ``docs/pitfalls``, not a Keras tutorial
    (those scale their inputs).

    Parameters
    ----------
    epochs : int, default=30
        Epochs of ``model.fit``; no early stopping.
    batch_size : int, default=32
        Keras' default.
    random_state : int, default=0
        Passed to ``keras.utils.set_random_seed`` before the network is built,
        as the Keras reproducibility recipe does (it seeds Python, numpy and
        the backend globally).

    Attributes
    ----------
    classes_ : ndarray
        The labels, from a ``LabelEncoder``.
    model_ : keras.Model
        The trained network.
    epochs_ : int
        Epochs trained.
    """

    def __init__(self, epochs=30, batch_size=KERAS_BATCH_SIZE, random_state=0):
        self.epochs = epochs
        self.batch_size = batch_size
        self.random_state = random_state

    def fit(self, X, y):
        import keras

        self.encoder_ = LabelEncoder().fit(y)
        self.classes_ = self.encoder_.classes_
        target = self.encoder_.transform(y)
        binary = len(self.classes_) == 2
        keras.utils.set_random_seed(self.random_state)
        model = build_tutorial_network(
            np.shape(X)[1],
            1 if binary else len(self.classes_),
            "sigmoid" if binary else "softmax",
        )
        model.compile(
            optimizer="adam",
            loss="binary_crossentropy" if binary else "sparse_categorical_crossentropy",
        )
        # No scaling, no validation split, no class weights: the pitfalls, on purpose.
        history = model.fit(
            np.asarray(X, dtype=np.float32),
            target,
            epochs=self.epochs,
            batch_size=self.batch_size,
            verbose=0,
        )
        self.model_ = model
        self.epochs_ = len(history.history["loss"])
        return self

    def predict_proba(self, X):
        output = self.model_.predict(np.asarray(X, dtype=np.float32), verbose=0)
        if output.shape[1] == 1:
            return np.hstack([1.0 - output, output])
        return output

    def predict(self, X):
        # argmax of [1 - p, p] is "p > 0.5".
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


def build_for_keras_wrapper(X, y, seed=0):
    """Builder for ``keras.wrappers.SKLearnClassifier``, which one-hot encodes ``y``."""
    import keras

    keras.utils.set_random_seed(seed)
    model = build_tutorial_network(X.shape[1], y.shape[1], "softmax")
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    return model


def build_for_scikeras(meta):
    """Builder for SciKeras: the same network, left for SciKeras to compile."""
    n_classes = meta["n_classes_"]
    binary = n_classes == 2
    return build_tutorial_network(
        meta["n_features_in_"], 1 if binary else n_classes, "sigmoid" if binary else "softmax"
    )


def encoder(dataset: Dataset):
    """The smallest encoding that lets a peer take the mixed frame; None for numeric data."""
    if not dataset.mixed:
        return None
    categories = make_pipeline(
        SimpleImputer(strategy="most_frequent"),
        OneHotEncoder(handle_unknown="ignore", sparse_output=False),
    )
    return ColumnTransformer(
        [
            (
                "numbers",
                SimpleImputer(strategy="median"),
                make_column_selector(dtype_include="number"),
            ),
            ("categories", categories, make_column_selector(dtype_include="category")),
        ]
    )


def pipeline(dataset: Dataset, *steps):
    """``make_pipeline(<encoder if needed>, *steps)``, or the estimator alone."""
    steps = [step for step in (encoder(dataset), *steps) if step is not None]
    return steps[0] if len(steps) == 1 else make_pipeline(*steps)


def make_safekeras(dataset: Dataset, args):
    from safekeras import SafeKerasClassifier

    params = {} if args.epochs is None else {"epochs": args.epochs}
    return SafeKerasClassifier(random_state=args.seed, **params)


def build_image_network(input_shape: tuple, n_outputs: int, activation: str):
    """A small CNN: ``Conv2D(16, 3) -> MaxPooling2D -> Conv2D(32, 3) -> Flatten -> head``."""
    import keras

    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(n_outputs, activation=activation),
        ]
    )


def build_sequence_network(input_shape: tuple, n_outputs: int, activation: str):
    """A small 1-D CNN: ``Conv1D(16, 5) -> Conv1D(16, 5) -> GlobalMaxPooling1D -> head``.

    Global max pooling makes the answer the same wherever the pattern sits in the series.
    """
    import keras

    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            keras.layers.Conv1D(16, 5, padding="same", activation="relu"),
            keras.layers.Conv1D(16, 5, padding="same", activation="relu"),
            keras.layers.GlobalMaxPooling1D(),
            keras.layers.Dense(n_outputs, activation=activation),
        ]
    )


def network_for(input_shape: tuple, meta: dict):
    """The builder handed to safekeras: a CNN for images, a 1-D CNN for sequences.

    ``input_shape`` is bound with ``functools.partial``; safekeras calls it with ``meta``
    (the head it needs) and seeds the network's layers itself.
    """
    build = build_image_network if len(input_shape) == 3 else build_sequence_network
    return build(input_shape, meta["n_outputs_"], meta["output_activation_"])


def make_safekeras_network(dataset: Dataset, args):
    """safekeras's defaults around a user network that takes the dataset's N-d shape."""
    from functools import partial

    from safekeras import SafeKerasClassifier

    if dataset.tensor is None:
        return None
    params = {} if args.epochs is None else {"epochs": args.epochs}
    builder = partial(network_for, tuple(dataset.tensor.shape[1:]))
    return SafeKerasClassifier(model=builder, random_state=args.seed, **params)


def make_pitfall_keras(dataset: Dataset, args):
    return pipeline(
        dataset, PitfallKerasClassifier(epochs=args.keras_epochs, random_state=args.seed)
    )


def make_keras_wrapper(dataset: Dataset, args):
    from keras.wrappers import SKLearnClassifier

    return pipeline(
        dataset,
        StandardScaler(),
        SKLearnClassifier(
            model=build_for_keras_wrapper,
            model_kwargs={"seed": args.seed},
            fit_kwargs={
                "epochs": args.keras_epochs,
                "batch_size": KERAS_BATCH_SIZE,
                "verbose": 0,
            },
        ),
    )


def make_scikeras(dataset: Dataset, args):
    from scikeras.wrappers import KerasClassifier

    return pipeline(
        dataset,
        StandardScaler(),
        KerasClassifier(
            model=build_for_scikeras,
            loss="binary_crossentropy" if dataset.binary else "sparse_categorical_crossentropy",
            optimizer="adam",
            epochs=args.keras_epochs,
            batch_size=KERAS_BATCH_SIZE,
            verbose=0,
            random_state=args.seed,
        ),
    )


def make_careful_keras(X, *, regression: bool = False, random_state: int = 0, **params):
    """A careful hand-written Keras pipeline for ``X``: what a good Keras tutorial writes.

    ``careful_preprocessor(X)`` (median imputation and scaling of the numbers; imputation
    and one-hot encoding of a DataFrame's other columns) followed by
    ``CarefulKerasClassifier`` (sigmoid / softmax head, cross-entropy, balanced class
    weights, threshold 0.5 / argmax) or, with ``regression``, ``CarefulKerasRegressor``
    (linear head, MSE on the standardised target). Both: ``Dense(64, relu) ->
    Dense(32, relu)``, Adam, batch 32, at most 200 epochs with
    ``EarlyStopping(patience=10, restore_best_weights=True)`` on a 20 % validation split.

    Parameters
    ----------
    X : ndarray or pandas.DataFrame
        The training features, or any frame with the same columns and dtypes: only their
        types are read, to choose the encoding.
    regression : bool, default=False
        Build the regressor instead of the classifier.
    random_state : int, default=0
        Seeds the validation split, the initial weights and the shuffle.
    **params
        Other settings of the network (``epochs``, ``batch_size``, ``patience``,
        ``validation_fraction``, ``learning_rate``).

    Returns
    -------
    sklearn.pipeline.Pipeline
        Unfitted; ``clone``-safe, so it can be cross-validated.
    """
    from benchmarks.careful_keras import (
        CarefulKerasClassifier,
        CarefulKerasRegressor,
        careful_preprocessor,
    )

    network = CarefulKerasRegressor if regression else CarefulKerasClassifier
    return make_pipeline(careful_preprocessor(X), network(random_state=random_state, **params))


def make_careful(dataset: Dataset, args):
    """The quality benchmark's careful Keras peer (``make_careful_keras`` on the dataset).

    ``--epochs`` caps its epochs as it caps safekeras's (both stop early); its default, 200,
    is safekeras's too.
    """
    params = {} if args.epochs is None else {"epochs": args.epochs}
    return make_careful_keras(dataset.X, random_state=args.seed, **params)


def make_mlp(dataset: Dataset, args):
    return pipeline(
        dataset,
        StandardScaler(),
        MLPClassifier(early_stopping=True, max_iter=args.mlp_max_iter, random_state=args.seed),
    )


def make_mlp_defaults(dataset: Dataset, args):
    """``MLPClassifier`` at scikit-learn's defaults (no early stopping), after a scaler."""
    return pipeline(
        dataset,
        StandardScaler(),
        MLPClassifier(max_iter=args.mlp_max_iter, random_state=args.seed),
    )


def make_mlp_tuned(dataset: Dataset, args):
    if not dataset.binary:
        return None  # TunedThresholdClassifierCV is binary only
    return TunedThresholdClassifierCV(
        make_mlp(dataset, args), scoring="balanced_accuracy", cv=TUNED_CV
    )


def make_hgb(dataset: Dataset, args):
    hgb = HistGradientBoostingClassifier(categorical_features="from_dtype", random_state=args.seed)
    if not dataset.binary:
        return hgb  # no threshold to tune: argmax
    return TunedThresholdClassifierCV(hgb, scoring="balanced_accuracy", cv=TUNED_CV)


DROPOUT = 0.1


L2 = 1e-4


def build_raw_model(
    n_features: int,
    seed: int = SEED,
    *,
    hidden_layer_sizes=HIDDEN_LAYER_SIZES,
    dropout: float = DROPOUT,
    l2: float = L2,
    learning_rate: float | None = None,
):
    """The default safekeras MLP (or one with other settings), written the way a plain Keras
    user would.

    Seeded through its initialisers and dropout layers, not through
    ``keras.utils.set_random_seed``, so no global state changes.
    """
    import keras

    seeds = iter(range(seed, seed + 100))
    layers = [keras.Input(shape=(n_features,))]
    for units in hidden_layer_sizes:
        layers.append(
            keras.layers.Dense(
                units,
                activation="relu",
                kernel_initializer=keras.initializers.GlorotUniform(seed=next(seeds)),
                kernel_regularizer=keras.regularizers.L2(l2) if l2 else None,
            )
        )
        if dropout:
            layers.append(keras.layers.Dropout(dropout, seed=next(seeds)))
    layers.append(
        keras.layers.Dense(
            1,
            activation="sigmoid",
            kernel_initializer=keras.initializers.GlorotUniform(seed=next(seeds)),
        )
    )
    model = keras.Sequential(layers)
    optimizer = (
        keras.optimizers.Adam()
        if learning_rate is None
        else keras.optimizers.Adam(learning_rate=learning_rate)
    )
    model.compile(optimizer=optimizer, loss="binary_crossentropy")
    return model


# The speed benchmarks' raw Keras network: its batch size and its fit.
BATCH_SIZE = 256

# Rows used by the warm-up fits: enough for a couple of batches, cheap to train.
WARMUP_ROWS = 512


def fit_raw(X: np.ndarray, y: np.ndarray, epochs: int, callbacks=None, **network):
    """Scale, build, compile and fit; returns ``(scaler, model)``.

    ``network`` overrides ``build_raw_model``'s settings (sizes, dropout, L2, learning rate).
    """
    scaler = StandardScaler()
    x = scaler.fit_transform(X)
    model = build_raw_model(x.shape[1], **network)
    model.fit(x, y, epochs=epochs, batch_size=BATCH_SIZE, verbose=0, callbacks=callbacks)
    return scaler, model


def make_default_path_contender(name: str, seed: int):
    if name == "safekeras":
        from safekeras import SafeKerasClassifier

        return SafeKerasClassifier(random_state=seed)
    mlp = make_pipeline(StandardScaler(), MLPClassifier(early_stopping=True, random_state=seed))
    if name == "MLP pipeline":
        return mlp
    return TunedThresholdClassifierCV(mlp, scoring="balanced_accuracy", random_state=seed)


SAFEKERAS = "safekeras default"


SAFEKERAS_NETWORK = "safekeras + user network"


PITFALL_KERAS = "Keras with pitfalls"


CAREFUL_KERAS = "careful Keras"


KERAS_WRAPPER = "keras SKLearnClassifier"


SCIKERAS = "SciKeras KerasClassifier"


MLP_DEFAULTS = "MLP defaults"


MLP = "MLP early stopping"


MLP_TUNED = "MLP + tuned threshold"


HGB = "HGB + tuned threshold"


@dataclass(frozen=True)
class Contender:
    """One line of the tables.

    Attributes
    ----------
    name : str
    make : callable
        ``make(dataset, args)`` returns a fresh estimator, or None where the
        contender does not apply (the table says why: ``not_applicable``).
    not_applicable : str
        Shown where ``make`` returns None.
    tensor : bool
        Whether it takes the dataset's N-d ``tensor`` rather than its flat ``X``.
    """

    name: str
    make: Callable[[Dataset, argparse.Namespace], object]
    not_applicable: str = "n/a"
    tensor: bool = False  # cross-validated on ``dataset.tensor``, not on the flat ``X``


CONTENDERS = (
    Contender(SAFEKERAS, make_safekeras),
    Contender(CAREFUL_KERAS, make_careful),
    Contender(PITFALL_KERAS, make_pitfall_keras),
    Contender(KERAS_WRAPPER, make_keras_wrapper),
    Contender(SCIKERAS, make_scikeras),
    Contender(MLP_DEFAULTS, make_mlp_defaults),
    Contender(MLP, make_mlp),
    Contender(MLP_TUNED, make_mlp_tuned, "n/a (binary only)"),
    Contender(HGB, make_hgb),
)


# Run on the datasets with an image or sequence shape only, after CONTENDERS (which get the
# flat view of the same rows, on the same folds).
NETWORK_CONTENDERS = (Contender(SAFEKERAS_NETWORK, make_safekeras_network, tensor=True),)


def safekeras_estimator(epochs: int, **params):
    from safekeras import SafeKerasClassifier

    return SafeKerasClassifier(
        epochs=epochs,
        early_stopping=False,
        threshold=0.5,  # fixed: no validation split for threshold tuning
        random_state=SEED,
        **params,
    )
