"""Target detection, label encoding and the head/loss contract (safekeras/data/targets.py)."""

import numpy as np
import pytest
from sklearn.exceptions import DataConversionWarning

from safekeras import SafeKerasClassifier, SafeKerasRegressor, TargetError
from safekeras.data.targets import (
    Head,
    classification_target,
    describe_loss,
    regression_target,
    resolve_output,
)
from safekeras.exceptions import ModelSpecError

pytestmark = pytest.mark.core

FAST = dict(hidden_layer_sizes=(8,), epochs=2, batch_size=32, random_state=0)


@pytest.mark.parametrize(
    "y, classes",
    [
        (np.array(["no", "yes", "no", "yes"]), np.array(["no", "yes"])),
        (np.array([-3, 7, 42, 7, -3]), np.array([-3, 7, 42])),
        (np.array([True, False, True]), np.array([False, True])),
        (np.array(["b", "a", "c", "a"], dtype=object), np.array(["a", "b", "c"], dtype=object)),
    ],
)
def test_classes_are_sorted_labels_of_any_dtype(y, classes):
    spec, encoded = classification_target(y)
    np.testing.assert_array_equal(spec.classes, classes)
    np.testing.assert_array_equal(spec.classes[encoded], y)


@pytest.mark.parametrize(
    "y, target_type, units, activation, loss",
    [
        ([0, 1, 1, 0], "binary", 1, "sigmoid", "binary_crossentropy"),
        ([0, 1, 2, 1], "multiclass", 3, "softmax", "sparse_categorical_crossentropy"),
        ([[0, 1], [1, 1], [1, 0]], "multilabel-indicator", 2, "sigmoid", "binary_crossentropy"),
    ],
)
def test_head_and_loss_follow_target_type(y, target_type, units, activation, loss):
    spec, _ = classification_target(np.asarray(y))
    assert (spec.target_type, spec.n_outputs, spec.activation, spec.loss) == (
        target_type,
        units,
        activation,
        loss,
    )


def test_column_vector_y_warns_and_is_raveled():
    with pytest.warns(DataConversionWarning, match="column-vector y"):
        spec, encoded = classification_target(np.array([[0], [1], [1]]))
    assert spec.target_type == "binary" and encoded.shape == (3,)


@pytest.mark.parametrize(
    "y, match",
    [
        (np.array([0.1, 0.5, 2.3, 1.7]), "Unknown label type: 'continuous'.*SafeKerasRegressor"),
        (np.array([1, 1, 1]), "only one class"),
        (np.array([0.0, np.nan, 1.0]), "contains NaN"),
        (np.array(["a", None, "b"], dtype=object), "missing label"),
        (np.array([[0, 1], [2, 0]]), "multiclass-multioutput"),
        (np.array(["a", 1, "b"], dtype=object), "mixes label types"),
    ],
)
def test_bad_classification_targets_raise_target_error(y, match):
    with pytest.raises(TargetError, match=match):
        classification_target(y)


def test_regression_target_is_2d_and_remembers_its_shape():
    spec, y2d = regression_target(np.arange(5.0))
    assert (spec.target_type, spec.n_outputs, spec.y_ndim) == ("continuous", 1, 1)
    assert y2d.shape == (5, 1)
    spec, y2d = regression_target(np.ones((5, 3)))
    assert (spec.target_type, spec.n_outputs, spec.y_ndim) == ("continuous-multioutput", 3, 2)
    with pytest.raises(TargetError, match="NaN"):
        regression_target(np.array([1.0, np.nan]))


@pytest.mark.parametrize(
    "loss, name",
    [
        ("mse", "mean_squared_error"),
        ("BinaryCrossentropy", "binary_crossentropy"),
        ("sparse_categorical_crossentropy", "sparse_categorical_crossentropy"),
        ("my_custom_loss", None),
    ],
)
def test_describe_loss_normalises_names(loss, name):
    assert describe_loss(loss) == (name, False)


def test_describe_loss_reads_keras_objects_and_from_logits():
    import keras

    assert describe_loss(keras.losses.BinaryCrossentropy(from_logits=True)) == (
        "binary_crossentropy",
        True,
    )
    assert describe_loss(keras.losses.MeanSquaredError()) == ("mean_squared_error", False)


BINARY, _ = classification_target(np.array([0, 1]))
MULTI, _ = classification_target(np.array([0, 1, 2, 3, 4]))
LABELS, _ = classification_target(np.array([[0, 1, 1], [1, 0, 1]]))
CONTINUOUS, _ = regression_target(np.arange(3.0))


@pytest.mark.parametrize(
    "spec, head, loss, error, match",
    [
        (BINARY, Head(1, "sigmoid"), "mse", TargetError, "regression loss"),
        (MULTI, Head(5, "softmax"), "binary_crossentropy", TargetError, "5 classes"),
        (MULTI, Head(5, "sigmoid"), "auto", ModelSpecError, "sigmoid scores do not sum to 1"),
        (BINARY, Head(1, "softmax"), "auto", ModelSpecError, "always outputs 1.0"),
        (BINARY, Head(1, "linear"), "binary_crossentropy", ModelSpecError, "linear"),
        (MULTI, Head(3, "softmax"), "auto", ModelSpecError, "3 unit.*needs 5 units"),
        (LABELS, Head(3, "softmax"), "auto", ModelSpecError, "labels compete"),
        (BINARY, Head(1, "relu"), "auto", ModelSpecError, "uses relu"),
        (CONTINUOUS, Head(1, "linear"), "binary_crossentropy", TargetError, "classification loss"),
        (CONTINUOUS, Head(1, "relu"), "auto", ModelSpecError, "linear last layer"),
        (CONTINUOUS, Head(2, "linear"), "auto", ModelSpecError, "2 unit"),
    ],
)
def test_mismatched_heads_and_losses_raise_clear_errors(spec, head, loss, error, match):
    with pytest.raises(error, match=match):
        resolve_output(spec, head, loss)


def test_from_logits_needs_a_linear_head_and_is_applied_at_predict():
    import keras

    logits_loss = keras.losses.BinaryCrossentropy(from_logits=True)
    output = resolve_output(BINARY, Head(1, "linear"), logits_loss)
    assert output.logits and output.activation == "sigmoid"
    with pytest.raises(ModelSpecError, match="applied twice"):
        resolve_output(BINARY, Head(1, "sigmoid"), logits_loss)


def test_two_unit_softmax_is_a_valid_binary_head():
    output = resolve_output(BINARY, Head(2, "softmax"), "auto")
    assert output.loss == "sparse_categorical_crossentropy" and output.y_encoding == "index"


def test_categorical_crossentropy_gets_one_hot_targets():
    output = resolve_output(MULTI, Head(5, "softmax"), "categorical_crossentropy")
    assert output.y_encoding == "one_hot"


# -- the same contract through the estimators ---------------------------------


def test_classifier_rejects_continuous_y_with_advice():
    X = np.random.RandomState(0).normal(size=(20, 3))
    with pytest.raises(TargetError, match="SafeKerasRegressor"):
        SafeKerasClassifier(**FAST).fit(X, X[:, 0])


def test_classifier_rejects_mismatched_lengths():
    X = np.zeros((10, 2))
    with pytest.raises(TargetError, match="inconsistent numbers of samples"):
        SafeKerasClassifier(**FAST).fit(X, [0, 1] * 4)


def test_classifier_rejects_regression_loss():
    X = np.random.RandomState(0).normal(size=(30, 3))
    with pytest.raises(TargetError, match="regression loss"):
        SafeKerasClassifier(loss="mse", **FAST).fit(X, X[:, 0] > 0)


def test_regressor_rejects_classification_loss():
    X = np.random.RandomState(0).normal(size=(30, 3))
    with pytest.raises(TargetError, match="classification loss"):
        SafeKerasRegressor(loss="binary_crossentropy", **FAST).fit(X, X[:, 0])


def test_categorical_crossentropy_trains_on_string_labels():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(90, 3))
    y = np.array(["a", "b", "c"])[np.argmax(X, axis=1)]
    clf = SafeKerasClassifier(loss="categorical_crossentropy", **FAST).fit(X, y)
    assert clf.predict_proba(X).shape == (90, 3)
    assert set(clf.predict(X)) <= {"a", "b", "c"}
