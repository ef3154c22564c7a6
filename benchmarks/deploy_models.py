"""The deployment benchmark's fitted models and their predict calls.

Part of :mod:`benchmarks.deploy`: each input kind's fitted contenders (safekeras, the
same network in raw Keras behind the user's own preprocessing, the ``MLPClassifier``
pipeline), the predict calls timed on them and their round-robin timing.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from benchmarks.contenders import (
    BATCH_SIZE,
    HIDDEN_LAYER_SIZES,
    build_raw_model,
    safekeras_estimator,
)
from benchmarks.datasets import SEED
from benchmarks.report import time_calls

# Contender names (table rows).
SK_PROBA = "safekeras `predict_proba`"


SK_PREDICT = "safekeras `predict`"


RAW_PREDICT = "raw `model.predict` (+ transform)"


RAW_ON_BATCH = "raw `model.predict_on_batch` (+ transform)"


RAW_CALL = "raw `model(x)` (+ transform)"


MLP_PROBA = "`MLPClassifier` pipeline `predict_proba`"


MLP_PREDICT = "`MLPClassifier` pipeline `predict`"


def user_preprocessing(kind: str):
    """What a careful user scales (and encodes) their inputs with."""
    if kind == "numpy":
        return StandardScaler()
    return ColumnTransformer(
        [
            ("numbers", StandardScaler(), [f"x{i}" for i in range(FEATURES - 1)]),
            ("region", OneHotEncoder(handle_unknown="ignore", sparse_output=False), ["region"]),
        ]
    )


@dataclass
class Fitted:
    """One input kind's fitted contenders and the data they were fitted on."""

    kind: str
    X: object  # numpy array or DataFrame
    safekeras: object
    preprocessing: object
    model: object
    mlp: object


def fit_models(kind: str, X, y, epochs: int) -> Fitted:
    safekeras = safekeras_estimator(epochs).fit(X, y)
    preprocessing = user_preprocessing(kind)
    x = preprocessing.fit_transform(X)
    model = build_raw_model(x.shape[1])
    model.fit(x, y, batch_size=BATCH_SIZE, epochs=epochs, verbose=0)
    mlp = make_pipeline(
        user_preprocessing(kind),
        MLPClassifier(hidden_layer_sizes=HIDDEN_LAYER_SIZES, max_iter=epochs, random_state=SEED),
    )
    with warnings.catch_warnings():
        # max_iter is small on purpose; the warning says nothing here.
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp.fit(X, y)
    return Fitted(kind, X, safekeras, preprocessing, model, mlp)


def predict_calls(fitted: Fitted, X_rows) -> dict[str, Callable[[], object]]:
    import keras

    est, prep, model, mlp = fitted.safekeras, fitted.preprocessing, fitted.model, fitted.mlp
    return {
        SK_PROBA: lambda: est.predict_proba(X_rows),
        SK_PREDICT: lambda: est.predict(X_rows),
        RAW_PREDICT: lambda: model.predict(prep.transform(X_rows), verbose=0),
        RAW_ON_BATCH: lambda: model.predict_on_batch(prep.transform(X_rows)),
        # The eager call, as Keras's docs advise for small batches: no tf.function, no adapter.
        RAW_CALL: lambda: keras.ops.convert_to_numpy(
            model(prep.transform(X_rows).astype("float32"), training=False)
        ),
        MLP_PROBA: lambda: mlp.predict_proba(X_rows),
        MLP_PREDICT: lambda: mlp.predict(X_rows),
    }


def take_rows(X, rows: int):
    """The first ``rows`` rows of ``X``, tiled when ``X`` has fewer."""
    index = np.resize(np.arange(len(X)), rows)
    return X.iloc[index].reset_index(drop=True) if hasattr(X, "iloc") else X[index]


def time_predicts(fitted: Fitted, X_rows, n_calls: int, warmups: int) -> dict[str, float]:
    calls = predict_calls(fitted, X_rows)
    for _ in range(warmups):
        for function in calls.values():
            function()
    return time_calls(calls, n_calls)


FEATURES = 20
