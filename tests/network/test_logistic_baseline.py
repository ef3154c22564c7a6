"""The classifier's linear baseline: a logistic regression averaged with the network."""

import copy

import keras
import numpy as np
import pytest
from scipy.special import expit, softmax
from sklearn.datasets import make_multilabel_classification
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss as sklearn_log_loss

from safekeras import SafeKerasClassifier, SafeKerasRegressor, load
from safekeras.deploy.load_checks import check_linear_baseline_fits
from safekeras.exceptions import ParameterError, PersistenceError, ValidationSplitWarning
from safekeras.network import logistic_baseline
from safekeras.network.linear_baseline import LinearBaseline
from safekeras.network.logistic_baseline import (
    PROBABILITY_FLOOR,
    LogisticBaseline,
    kept_if_better,
    log_loss,
    network_logits,
)

pytestmark = pytest.mark.core

FAST = {"epochs": 15, "random_state": 0}


def _logistic_rows(n=300, n_classes=2, seed=0):
    """Labels drawn from a linear model: the logistic regression is the right model."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5))
    z = x @ rng.normal(size=(5, n_classes))
    y = np.array([rng.choice(n_classes, p=p) for p in softmax(z, axis=1)])
    return x, y


def _xor_rows(n=600, seed=0):
    """A table no linear model describes: the label is the sign of a product."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, size=(n, 4))
    return x, (x[:, 0] * x[:, 1] > 0).astype(int)


# -- the module -------------------------------------------------------------------------


@pytest.mark.parametrize("n_classes", [2, 3])
def test_its_logits_are_scikit_learns_logistic_regression(n_classes):
    x, y = _logistic_rows(n_classes=n_classes)
    weights = np.linspace(0.5, 1.5, len(y))
    baseline = LogisticBaseline(columns=[0, 1, 3]).fit(x, y, weights, n_classes=n_classes)
    reference = LogisticRegression(max_iter=500).fit(x[:, [0, 1, 3]], y, sample_weight=weights)
    n_logits = 1 if n_classes == 2 else n_classes
    assert baseline.coef_.shape == (3, n_logits) and baseline.n_features_in_ == 5
    np.testing.assert_allclose(
        baseline.logits(x),
        reference.decision_function(x[:, [0, 1, 3]]).reshape(len(x), -1),
        rtol=1e-10,
    )


def test_combine_averages_the_logits():
    x, y = _logistic_rows()
    baseline = LogisticBaseline().fit(x, y)
    p = np.linspace(0.05, 0.95, len(x)).reshape(-1, 1)
    expected = expit((np.log(p / (1 - p)) + baseline.logits(x)) / 2)
    np.testing.assert_allclose(baseline.combine(x, p), expected, rtol=1e-12)
    x3, y3 = _logistic_rows(n_classes=3)
    baseline3 = LogisticBaseline().fit(x3, y3, n_classes=3)
    p3 = softmax(np.random.default_rng(1).normal(size=(len(x3), 3)), axis=1)
    combined = baseline3.combine(x3, p3)
    np.testing.assert_allclose(combined, softmax((np.log(p3) + baseline3.logits(x3)) / 2, axis=1))
    np.testing.assert_allclose(combined.sum(axis=1), 1.0)


def test_saturated_probabilities_are_read_within_the_floor():
    logits = network_logits(np.array([[0.0], [1.0], [0.5]]))
    floor = np.log(PROBABILITY_FLOOR / (1 - PROBABILITY_FLOOR))
    np.testing.assert_allclose(logits.ravel(), [floor, -floor, 0.0], atol=1e-12)
    assert np.isfinite(network_logits(np.array([[1.0, 0.0, 0.0]]))).all()


def test_its_log_loss_is_scikit_learns():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, size=50)
    p = softmax(rng.normal(size=(50, 3)), axis=1)
    w = rng.uniform(0.5, 2.0, size=50)
    assert log_loss(p, y, w) == pytest.approx(sklearn_log_loss(y, p, sample_weight=w))
    p1 = rng.uniform(0.1, 0.9, size=(50, 1))
    y1 = rng.integers(0, 2, size=50)
    both = np.column_stack([1 - p1[:, 0], p1[:, 0]])
    assert log_loss(p1, y1) == pytest.approx(sklearn_log_loss(y1, both))


def test_the_average_is_kept_only_when_it_lowers_the_validation_loss():
    x, y = _logistic_rows(n=400)
    baseline = LogisticBaseline().fit(x[:200], y[:200])
    truth = expit(baseline.logits(x[200:]))
    uninformed = np.full((200, 1), 0.5)
    assert kept_if_better(baseline, uninformed, x[200:], y[200:], None) is baseline
    certain = np.where(y[200:] == 1, 0.999, 0.001).reshape(-1, 1)  # a network that is right
    assert kept_if_better(baseline, certain, x[200:], y[200:], None) is None
    assert log_loss(truth, y[200:]) < log_loss(uninformed, y[200:])


def test_a_binary_target_under_two_softmax_units_gets_two_logit_columns():
    x, y = _logistic_rows()
    one = LogisticBaseline().fit(x, y)
    two = LogisticBaseline().fit(x, y, n_logits=2)
    np.testing.assert_array_equal(two.coef_, np.hstack([np.zeros_like(one.coef_), one.coef_]))
    np.testing.assert_array_equal(two.intercept_, [0.0, one.intercept_[0]])
    p = np.linspace(0.05, 0.95, len(x)).reshape(-1, 1)
    np.testing.assert_allclose(
        two.combine(x, np.hstack([1 - p, p]))[:, 1], one.combine(x, p)[:, 0], rtol=1e-9
    )
    with pytest.raises(ValueError, match="3 logits for 2 classes"):
        LogisticBaseline().fit(x, y, n_logits=3)


def test_every_class_must_have_training_rows():
    x, y = _logistic_rows(n_classes=3)
    with pytest.raises(ValueError, match="every one of 4 classes"):
        LogisticBaseline().fit(x, y, n_classes=4)


# -- the estimator ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def linear_table():
    x, y = _logistic_rows(n=300)
    return x[:240], x[240:], y[:240], y[240:]


def test_the_default_keeps_the_average_on_a_linear_table(linear_table):
    X_train, X_test, y_train, _ = linear_table
    clf = SafeKerasClassifier(**FAST).fit(X_train, y_train)
    assert isinstance(clf.linear_baseline_, LogisticBaseline)
    network = clf.pipeline_.named_steps["network"]
    x = clf.preprocessor_.transform(X_test).astype(network.input_dtype())  # as predict reads it
    alone = network.without_baseline().predict(x)
    np.testing.assert_allclose(
        clf.predict_proba(X_test)[:, 1], clf.linear_baseline_.combine(x, alone)[:, 0], rtol=1e-12
    )


def test_the_default_drops_it_where_a_linear_model_cannot_help(capsys):
    X, y = _xor_rows()
    auto = SafeKerasClassifier(**FAST, verbose=1).fit(X, y)
    assert "the logistic average is dropped (validation log-loss" in capsys.readouterr().out
    alone = SafeKerasClassifier(**FAST, verbose=1, linear_baseline=None).fit(X, y)
    assert "logistic average" not in capsys.readouterr().out
    assert auto.linear_baseline_ is None
    # The logistic regression draws no seed: the network is the same one, to the bit.
    np.testing.assert_array_equal(auto.predict_proba(X), alone.predict_proba(X))
    assert auto.threshold_ == alone.threshold_


def _user_network(meta):
    inputs = keras.Input((meta["n_features_in_"],))
    hidden = keras.layers.Dense(8, activation="relu")(inputs)
    return keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(hidden))


@pytest.mark.parametrize(
    "params, expected",
    [
        ({"linear_baseline": "logistic"}, True),
        ({"linear_baseline": None}, False),
        ({"model": _user_network}, False),
        ({"model": _user_network, "linear_baseline": "logistic"}, True),
        ({"early_stopping": False, "threshold": 0.5}, False),  # no split to decide on
        ({"early_stopping": False, "threshold": 0.5, "linear_baseline": "logistic"}, True),
    ],
    ids=["logistic", "None", "user network", "user network, logistic", "no split", "forced"],
)
def test_who_gets_a_baseline(linear_table, params, expected):
    X_train, _, y_train, _ = linear_table
    clf = SafeKerasClassifier(**{**FAST, **params}).fit(X_train, y_train)
    assert (clf.linear_baseline_ is not None) is expected


def _softmax_head_network(meta):
    inputs = keras.Input((meta["n_features_in_"],))
    hidden = keras.layers.Dense(8, activation="relu")(inputs)
    return keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(hidden))


def test_a_binary_softmax_heads_average_is_the_sigmoid_of_the_mean_logits(linear_table, tmp_path):
    X_train, X_test, y_train, _ = linear_table
    clf = SafeKerasClassifier(_softmax_head_network, **FAST, linear_baseline="logistic")
    clf.fit(X_train, y_train)
    baseline = clf.linear_baseline_
    # Two network outputs, two logit columns: the first class's logit is 0.
    assert baseline.coef_.shape == (5, 2) and not baseline.coef_[:, 0].any()
    network = clf.pipeline_.named_steps["network"]
    x = clf.preprocessor_.transform(X_test).astype(network.input_dtype())
    alone = network.without_baseline().predict(x)
    logistic = x.astype(np.float64) @ baseline.coef_[:, 1] + baseline.intercept_[1]
    expected = expit((np.log(alone[:, 1] / alone[:, 0]) + logistic) / 2)
    np.testing.assert_allclose(clf.predict_proba(X_test)[:, 1], expected, rtol=1e-9)
    exported = np.asarray(clf.to_keras().predict(X_test, verbose=0))
    np.testing.assert_allclose(exported, clf.predict_proba(X_test), atol=1e-5)
    clf.save(tmp_path / "softmax.safekeras")
    loaded = load(tmp_path / "softmax.safekeras", trusted=[_trusted_name(_softmax_head_network)])
    np.testing.assert_array_equal(loaded.predict_proba(X_test), clf.predict_proba(X_test))


def _trusted_name(function) -> str:
    return f"{function.__module__}.{function.__qualname__}"


def test_a_multiclass_average_is_a_softmax_of_the_mean_logits():
    X, y = _logistic_rows(n=300, n_classes=3)
    clf = SafeKerasClassifier(**FAST, linear_baseline="logistic").fit(X, y)
    assert clf.linear_baseline_.coef_.shape == (5, 3)
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(clf.predict(X), np.argmax(proba * clf.class_multipliers_, axis=1))


def test_a_first_partial_fit_has_none():
    X, y = _logistic_rows()
    clf = SafeKerasClassifier(random_state=0).partial_fit(X, y, classes=[0, 1])
    assert clf.linear_baseline_ is None


def test_logistic_on_a_multilabel_target_is_refused_and_nothing_is_fitted():
    X, Y = make_multilabel_classification(n_samples=100, n_classes=3, random_state=0)
    clf = SafeKerasClassifier(**FAST, linear_baseline="logistic")
    with pytest.raises(ParameterError, match=r"linear_baseline=.logistic.*'multilabel-indicator'"):
        clf.fit(X, Y)
    assert not hasattr(clf, "pipeline_")
    assert SafeKerasClassifier(**FAST).fit(X, Y).linear_baseline_ is None


def test_a_warm_start_keeps_the_baseline(linear_table):
    X_train, _, y_train, _ = linear_table
    clf = SafeKerasClassifier(**FAST, warm_start=True, linear_baseline="logistic")
    clf.fit(X_train, y_train)
    before = copy.deepcopy(clf.linear_baseline_)
    clf.fit(X_train[:100], 1 - y_train[:100])
    np.testing.assert_array_equal(clf.linear_baseline_.coef_, before.coef_)
    with pytest.raises(ParameterError, match="linear_baseline"):
        clf.set_params(linear_baseline=None).fit(X_train, y_train)


def test_the_threshold_is_tuned_on_the_averaged_probabilities(linear_table):
    X_train, _, y_train, _ = linear_table
    clf = SafeKerasClassifier(**FAST, linear_baseline="logistic", threshold_scoring="f1")
    clf.fit(X_train, y_train)
    search = clf.threshold_search_
    assert search is not None and clf.threshold_ == search.threshold
    np.testing.assert_array_equal(
        clf.predict(X_train),
        clf.classes_[(clf.predict_proba(X_train)[:, 1] >= clf.threshold_).astype(int)],
    )


def test_a_regressor_does_not_take_a_logistic_baseline():
    with pytest.raises(ParameterError, match="linear_baseline"):
        SafeKerasRegressor(linear_baseline="logistic").fit(np.eye(4), np.arange(4.0))


# -- export -------------------------------------------------------------------------------


@pytest.mark.parametrize("n_classes", [2, 3])
def test_export_averages_as_predict_does(n_classes, tmp_path):
    import safekeras.export  # noqa: F401 - registers the export layers

    X, y = _logistic_rows(n=300, n_classes=n_classes)
    clf = SafeKerasClassifier(**FAST, linear_baseline="logistic").fit(X, y)
    model = clf.to_keras()
    assert any(layer.name.startswith("linear_baseline") for layer in model.layers)
    exported = np.asarray(model.predict(X, verbose=0))
    np.testing.assert_allclose(exported, clf.predict_proba(X), atol=1e-5)
    model.save(tmp_path / "exported.keras")
    loaded = keras.saving.load_model(tmp_path / "exported.keras", safe_mode=True)
    np.testing.assert_array_equal(loaded.predict(X, verbose=0), exported)


# -- loading ------------------------------------------------------------------------------


TAMPERED = {
    "NaN coefficient": lambda b: b.coef_.__setitem__((0, 0), np.nan),
    "infinite intercept": lambda b: b.intercept_.__setitem__(0, np.inf),
    "coefficients of another shape": lambda b: setattr(b, "coef_", b.coef_[:-1]),
    "one logit too many": lambda b: (
        setattr(b, "coef_", np.hstack([b.coef_, b.coef_])),
        setattr(b, "intercept_", np.repeat(b.intercept_, 2)),
    ),
    "integer coefficients": lambda b: setattr(b, "coef_", b.coef_.astype(np.int64)),
    "a column beyond the inputs": lambda b: b.columns.__setitem__(0, 10**6),
    "a repeated column": lambda b: b.columns.__setitem__(1, b.columns[0]),
    "another input width": lambda b: setattr(b, "n_features_in_", b.n_features_in_ + 1),
}


@pytest.fixture(scope="module")
def fitted(linear_table):
    X_train, _, y_train, _ = linear_table
    return SafeKerasClassifier(epochs=2, random_state=0, linear_baseline="logistic").fit(
        X_train, y_train
    )


@pytest.mark.parametrize("tamper", TAMPERED.values(), ids=TAMPERED.keys())
def test_a_tampered_baseline_is_refused(fitted, tamper):
    est = copy.deepcopy(fitted)
    tamper(est.pipeline_.named_steps["network"].linear_baseline)
    with pytest.raises(PersistenceError, match=r"f\.safekeras is inconsistent: its linear base"):
        check_linear_baseline_fits(est, "f.safekeras")


def test_a_ridge_on_a_classifier_is_refused(fitted):
    est = copy.deepcopy(fitted)
    network = est.pipeline_.named_steps["network"]
    ridge = LinearBaseline(columns=network.linear_baseline.columns)
    network.linear_baseline = ridge.fit(np.ones((3, 5)) * np.arange(3)[:, None], np.arange(3.0))
    with pytest.raises(PersistenceError, match="expected None, a regressor's LinearBaseline"):
        check_linear_baseline_fits(est, "f.safekeras")


def test_save_and_load_keep_the_average_and_refuse_a_tampered_one(fitted, linear_table, tmp_path):
    X_test = linear_table[1]
    fitted.save(tmp_path / "good.safekeras")
    np.testing.assert_array_equal(
        load(tmp_path / "good.safekeras").predict_proba(X_test), fitted.predict_proba(X_test)
    )
    est = copy.deepcopy(fitted)
    est.pipeline_.named_steps["network"].linear_baseline.coef_[0, 0] = np.nan
    est.save(tmp_path / "bad.safekeras")
    with pytest.raises(PersistenceError, match="linear baseline"):
        load(tmp_path / "bad.safekeras")


def test_a_class_without_training_rows_leaves_the_network_alone():
    x, y = _logistic_rows(n_classes=3)
    assert logistic_baseline.fit_on_network_inputs(None, x, y, None, n_classes=4) is None
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 3))
    y = np.array(["a"] * 60 + ["b"] * 59 + ["c"])  # one row of "c": in one split only
    with pytest.warns(ValidationSplitWarning):  # seed 0 puts it in the validation split
        clf = SafeKerasClassifier(**FAST, linear_baseline="logistic").fit(X, y)
    assert clf.linear_baseline_ is None and clf.predict_proba(X).shape == (120, 3)


def test_the_module_fits_on_the_network_inputs_without_splines():
    x, y = _logistic_rows()
    baseline = logistic_baseline.fit_on_network_inputs(None, x, y, None, n_classes=2)
    np.testing.assert_array_equal(baseline.columns, np.arange(5))
