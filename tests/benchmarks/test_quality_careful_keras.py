"""The quality benchmark's peers as their documentation recommends them: the careful Keras
pipeline (benchmarks/careful_keras.py, contenders.make_careful_keras) and the MLP pipeline at
scikit-learn's defaults beside the one with early stopping."""

import argparse
import random

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.datasets import make_classification

from benchmarks import contenders
from benchmarks.careful_keras import CarefulKerasClassifier, CarefulKerasRegressor
from benchmarks.datasets import Dataset

ARGS = argparse.Namespace(seed=0, epochs=None, mlp_max_iter=200, keras_epochs=30)


@pytest.fixture(scope="module")
def imbalanced():
    X, y = make_classification(
        n_samples=240, n_features=6, n_informative=4, weights=[0.85], random_state=0
    )
    return X * 50.0 + 100.0, y  # far from scaled: the pipeline must scale


def final(pipeline):
    return pipeline[-1]


@pytest.mark.slow
def test_careful_keras_scales_weights_classes_and_stops_early(imbalanced):
    X, y = imbalanced
    pipeline = contenders.make_careful_keras(X, random_state=0, epochs=60, patience=3)
    model = final(pipeline)
    assert isinstance(model, CarefulKerasClassifier)
    # TensorFlow's start-up draws from numpy's global generator once per process: pay it
    # before measuring what the fit itself does to the global state.
    contenders.make_careful_keras(X, epochs=1).fit(X[:40], y[:40])
    before = (np.random.get_state()[1].copy(), random.getstate())  # noqa: NPY002 (the global one)
    pipeline.fit(X, y)
    after = (np.random.get_state()[1], random.getstate())  # noqa: NPY002
    assert np.array_equal(before[0], after[0]) and before[1] == after[1]  # no global seeding
    scaled = pipeline[0].transform(X)
    assert np.allclose(scaled.mean(axis=0), 0.0, atol=1e-6)
    assert model.n_epochs_ < 60  # early stopping ended it
    network = model.model_
    assert network.layers[-1].units == 1 and network.loss == "binary_crossentropy"
    proba = pipeline.predict_proba(X)
    assert proba.shape == (len(y), 2) and np.allclose(proba.sum(axis=1), 1.0)
    # Threshold 0.5 on the positive probability.
    assert np.array_equal(pipeline.predict(X), (proba[:, 1] > 0.5).astype(int))
    weights = model.class_weight_  # "balanced": n / (2 * rows of the class)
    assert weights[1] == pytest.approx(len(y) / (2 * np.sum(y == 1))) and weights[1] > 2
    # Balanced class weights: the rare class is predicted about as often as it occurs, or
    # more, where an unweighted fit on 15 % positives would lean to the majority.
    assert np.mean(pipeline.predict(X)) >= 0.8 * np.mean(y)


@pytest.mark.slow
def test_careful_keras_is_reproducible_and_clone_safe(imbalanced):
    X, y = imbalanced
    pipeline = contenders.make_careful_keras(X, random_state=3, epochs=5)
    first = clone(pipeline).fit(X, y).predict_proba(X)
    second = clone(pipeline).fit(X, y).predict_proba(X)
    assert np.array_equal(first, second)
    assert clone(pipeline).get_params()["carefulkerasclassifier__random_state"] == 3


@pytest.mark.slow
def test_careful_keras_encodes_a_frame_and_takes_multiclass_and_regression():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=150),
            "colour": pd.Categorical(rng.choice(["red", "blue", None], size=150)),
            "plan": rng.choice(["a", "b"], size=150),
        }
    )
    frame.loc[::10, "x"] = np.nan
    classes = np.where(frame["colour"] == "red", 2, (frame["x"].fillna(0) > 0).astype(int))
    pipeline = contenders.make_careful_keras(frame, random_state=0, epochs=3)
    assert isinstance(pipeline[0], ColumnTransformer)
    pipeline.fit(frame, classes)
    assert final(pipeline).model_.layers[-1].units == 3
    assert final(pipeline).model_.loss == "sparse_categorical_crossentropy"
    assert set(pipeline.predict(frame)) <= {0, 1, 2}
    target = 1000.0 + 50.0 * frame["x"].fillna(0).to_numpy()
    regressor = contenders.make_careful_keras(frame, regression=True, random_state=0, epochs=3)
    assert isinstance(final(regressor), CarefulKerasRegressor)
    predicted = regressor.fit(frame, target).predict(frame)
    # Trained on the standardised target, predicted back on its scale.
    assert abs(np.mean(predicted) - 1000.0) < 100.0


def test_the_quality_benchmark_runs_mlp_at_its_defaults_and_with_early_stopping():
    X, y = make_classification(n_samples=60, random_state=0)
    dataset = Dataset("tiny", "", X, y)
    by_name = {contender.name: contender for contender in contenders.CONTENDERS}
    defaults = final(by_name[contenders.MLP_DEFAULTS].make(dataset, ARGS))
    early = final(by_name[contenders.MLP].make(dataset, ARGS))
    assert defaults.early_stopping is False and early.early_stopping is True
    tuned = by_name[contenders.MLP_TUNED].make(dataset, ARGS)
    assert final(tuned.estimator).early_stopping is True
    careful = by_name[contenders.CAREFUL_KERAS].make(dataset, ARGS)
    assert final(careful).epochs == 200  # its own default unless --epochs caps it
    capped = argparse.Namespace(**{**vars(ARGS), "epochs": 5})
    assert final(by_name[contenders.CAREFUL_KERAS].make(dataset, capped)).epochs == 5
