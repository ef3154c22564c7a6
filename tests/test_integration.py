"""How SafeKerasClassifier and SafeKerasRegressor compose with scikit-learn and persist.

Meta-estimators (Pipeline, GridSearchCV, cross_validate, calibration and
threshold tuning), cloning, pickling in and across processes, label dtypes and
mixed-dtype DataFrames. Data are tiny and networks small so that the module
runs in about a minute on two cores; the tests over ~5 s are marked ``slow``.
"""

import copy
import pickle
import subprocess
import sys
import textwrap

import cloudpickle
import joblib
import keras
import numpy as np
import pytest
from imblearn.under_sampling import RandomUnderSampler
from sklearn.base import clone, is_classifier, is_regressor
from sklearn.calibration import CalibratedClassifierCV
from sklearn.datasets import load_wine, make_blobs, make_classification, make_regression
from sklearn.feature_selection import SelectKBest, f_classif
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import (
    FixedThresholdClassifier,
    GridSearchCV,
    StratifiedKFold,
    TunedThresholdClassifierCV,
    check_cv,
    cross_validate,
)
from sklearn.pipeline import Pipeline

from safekeras import DriftWarning, SafeKerasClassifier, SafeKerasRegressor
from safekeras.deploy.persistence import model_to_bytes

pytestmark = pytest.mark.core

FAST = dict(hidden_layer_sizes=(16,), epochs=15, batch_size=32, learning_rate=0.01, random_state=0)


def fast_classifier(**params):
    # threshold_cv=None: one network per fit (the small data here would make "auto" fold 5
    # times; tests/test_thresholds.py covers that).
    return SafeKerasClassifier(**{**FAST, "threshold_cv": None, **params})


@pytest.fixture(scope="module")
def binary_data():
    return make_classification(n_samples=200, n_features=6, weights=[0.7, 0.3], random_state=0)


@pytest.fixture(scope="module")
def fitted_classifier(binary_data):
    X, y = binary_data
    return fast_classifier().fit(X, y)


@pytest.fixture(scope="module")
def regression_data():
    return make_regression(n_samples=120, n_features=5, noise=0.1, random_state=0)


@pytest.fixture(scope="module")
def fitted_regressor(regression_data):
    X, y = regression_data
    return SafeKerasRegressor(**FAST).fit(X, y)


def dense_units(model):
    return [layer.units for layer in model.layers if isinstance(layer, keras.layers.Dense)]


def dropout_rates(model):
    return [layer.rate for layer in model.layers if isinstance(layer, keras.layers.Dropout)]


def optimizer_learning_rate(model):
    return float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))


# -- estimator type ------------------------------------------------------------


def test_estimator_types_and_classifier_cv_is_stratified(binary_data):
    _, y = binary_data
    assert is_classifier(SafeKerasClassifier())
    assert not is_regressor(SafeKerasClassifier())
    assert is_regressor(SafeKerasRegressor())
    assert not is_classifier(SafeKerasRegressor())

    cv = check_cv(5, y, classifier=is_classifier(SafeKerasClassifier()))
    assert isinstance(cv, StratifiedKFold)
    assert cv.get_n_splits() == 5


# -- Pipeline --------------------------------------------------------------------


def test_last_step_of_pipeline(binary_data):
    X, y = binary_data
    pipe = Pipeline([("select", SelectKBest(f_classif, k=4)), ("clf", fast_classifier())])
    pipe.fit(X, y)

    clf = pipe.named_steps["clf"]
    assert clf.n_features_in_ == 4
    np.testing.assert_array_equal(pipe.classes_, np.unique(y))
    pred = pipe.predict(X)
    assert pred.shape == (len(X),)
    assert set(np.unique(pred)) <= set(clf.classes_)
    proba = pipe.predict_proba(X)
    assert proba.shape == (len(X), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(proba, clf.predict_proba(pipe[:-1].transform(X)))
    # The majority class is 70 % of y: accuracy alone could pass without learning anything.
    assert balanced_accuracy_score(y, pipe.predict(X)) > 0.85


# -- GridSearchCV ----------------------------------------------------------------

PARAM_GRID = {
    "hidden_layer_sizes": [(4,), (6, 3)],
    "dropout": [0.25],
    "learning_rate": [0.003, 0.03],
    "epochs": [2, 4],
}


def _grid_search(X, y, n_jobs):
    base = SafeKerasClassifier(
        hidden_layer_sizes=(16,),
        dropout=0.1,
        learning_rate=0.01,
        epochs=15,
        early_stopping=False,
        batch_size=32,
        threshold_cv=None,
        random_state=0,
    )
    search = GridSearchCV(
        base, PARAM_GRID, cv=2, scoring="neg_log_loss", n_jobs=n_jobs, error_score="raise"
    )
    return search.fit(X, y)


@pytest.fixture(scope="module")
def grid_search_serial(binary_data):
    X, y = binary_data
    return _grid_search(X[:120], y[:120], n_jobs=1)


@pytest.mark.slow
def test_grid_search_parameters_take_effect(grid_search_serial):
    search = grid_search_serial
    n_candidates = np.prod([len(v) for v in PARAM_GRID.values()])
    assert len(search.cv_results_["params"]) == n_candidates
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()

    best, params = search.best_estimator_, search.best_params_
    assert best.get_params()["hidden_layer_sizes"] == params["hidden_layer_sizes"]
    # The Keras model was built from the winning parameters, not the base estimator's.
    hidden = list(params["hidden_layer_sizes"])
    assert dense_units(best.model_) == [*hidden, 1]
    expected_rates = [params["dropout"]] * len(hidden) if params["dropout"] > 0 else []
    assert dropout_rates(best.model_) == pytest.approx(expected_rates)
    assert optimizer_learning_rate(best.model_) == pytest.approx(params["learning_rate"], rel=1e-6)
    assert best.n_epochs_ == params["epochs"]
    # early_stopping=False: every epoch ran and the last is kept; the threshold's validation
    # split records its loss, without acting on it.
    assert best.best_epoch_ == len(best.history_["loss"]) == params["epochs"]
    assert len(best.history_["val_loss"]) == params["epochs"]


def test_grid_search_parameters_take_effect_in_every_candidate(binary_data):
    # Refit each candidate on its own: each parameter value changes the fitted network.
    X, y = binary_data
    base = SafeKerasClassifier(
        early_stopping=False, batch_size=64, threshold_cv=None, random_state=0
    )
    cases = [
        {"hidden_layer_sizes": (3, 2), "dropout": 0.3, "learning_rate": 0.02, "epochs": 1},
        {"hidden_layer_sizes": (5,), "dropout": 0.0, "learning_rate": 0.007, "epochs": 3},
    ]
    for params in cases:
        est = clone(base).set_params(**params).fit(X, y)
        hidden = list(params["hidden_layer_sizes"])
        assert dense_units(est.model_) == [*hidden, 1]
        expected_rates = [params["dropout"]] * len(hidden) if params["dropout"] > 0 else []
        assert dropout_rates(est.model_) == pytest.approx(expected_rates)
        assert optimizer_learning_rate(est.model_) == pytest.approx(
            params["learning_rate"], rel=1e-6
        )
        assert est.n_epochs_ == len(est.history_["loss"]) == params["epochs"]


# -- cross_validate ----------------------------------------------------------------


def test_cross_validate_binary_scores_finite_on_stratified_folds(binary_data):
    X, y = binary_data
    scoring = ["roc_auc", "average_precision", "neg_log_loss", "balanced_accuracy", "f1"]
    result = cross_validate(fast_classifier(), X, y, cv=3, scoring=scoring, return_indices=True)
    for name in scoring:
        scores = result[f"test_{name}"]
        assert scores.shape == (3,)
        assert np.isfinite(scores).all(), (name, scores)
    assert result["test_roc_auc"].min() > 0.7

    expected_folds = list(StratifiedKFold(n_splits=3).split(X, y))
    for test_idx, (_, expected) in zip(result["indices"]["test"], expected_folds, strict=True):
        np.testing.assert_array_equal(test_idx, expected)


def test_cross_validate_multiclass_scores_finite():
    X, y = load_wine(return_X_y=True)
    X, y = X[::2], y[::2]  # the rows are sorted by class: every other row keeps all three
    scoring = ["roc_auc_ovr", "neg_log_loss", "balanced_accuracy", "f1_macro"]
    result = cross_validate(fast_classifier(), X, y, cv=3, scoring=scoring)
    for name in scoring:
        scores = result[f"test_{name}"]
        assert scores.shape == (3,)
        assert np.isfinite(scores).all(), (name, scores)
    assert result["test_roc_auc_ovr"].min() > 0.8


# -- calibration and decision thresholds -------------------------------------------


def test_calibrated_classifier_cv(binary_data):
    X, y = binary_data
    calibrated = CalibratedClassifierCV(fast_classifier(), cv=3).fit(X, y)
    assert len(calibrated.calibrated_classifiers_) == 3
    proba = calibrated.predict_proba(X)
    assert proba.shape == (len(X), 2)
    assert np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    pred = calibrated.predict(X)
    assert pred.shape == (len(X),)
    assert set(np.unique(pred)) <= set(calibrated.classes_)


def test_fixed_threshold_classifier(binary_data):
    X, y = binary_data
    fixed = FixedThresholdClassifier(fast_classifier(), threshold=0.3).fit(X, y)
    inner = fixed.estimator_
    expected = np.where(inner.predict_proba(X)[:, 1] >= 0.3, inner.classes_[1], inner.classes_[0])
    np.testing.assert_array_equal(fixed.predict(X), expected)
    # The lower threshold predicts the positive class at least as often as 0.5 does.
    assert (fixed.predict(X) == 1).sum() >= (inner.predict_proba(X)[:, 1] >= 0.5).sum()
    np.testing.assert_array_equal(fixed.predict_proba(X), inner.predict_proba(X))


@pytest.mark.slow
def test_tuned_threshold_classifier_cv(binary_data):
    X, y = binary_data
    tuned = TunedThresholdClassifierCV(fast_classifier(), cv=3, scoring="balanced_accuracy")
    tuned.fit(X, y)
    assert 0 < tuned.best_threshold_ < 1
    assert np.isfinite(tuned.best_score_)
    inner = tuned.estimator_
    expected = np.where(
        inner.predict_proba(X)[:, 1] >= tuned.best_threshold_,
        inner.classes_[1],
        inner.classes_[0],
    )
    np.testing.assert_array_equal(tuned.predict(X), expected)


# -- clone and set_params ----------------------------------------------------------


def make_mlp(meta):
    """A module-level (so picklable and deep-copy-stable) model builder."""
    return keras.Sequential(
        [keras.Input(shape=(meta["n_features_in_"],)), keras.layers.Dense(4, activation="tanh")]
    )


def _non_default_params():
    return dict(
        model=make_mlp,
        hidden_layer_sizes=(8, 4),
        activation="tanh",
        dropout=0.2,
        l2=1e-3,
        ensemble_size=2,
        add_head=True,
        preprocessor="passthrough",
        numeric_embeddings="splines",
        loss="binary_crossentropy",
        optimizer="sgd",
        learning_rate=0.05,
        batch_size=17,
        epochs=7,
        early_stopping=False,
        validation_fraction=0.25,
        patience=3,
        callbacks=[keras.callbacks.EarlyStopping(monitor="loss", patience=2)],
        warm_start=True,
        engine="keras",
        on_drift="raise",
        random_state=42,
        verbose=2,
    )


@pytest.mark.parametrize("Estimator", [SafeKerasClassifier, SafeKerasRegressor])
def test_clone_keeps_every_non_default_parameter(Estimator):
    params = _non_default_params()
    if Estimator is SafeKerasClassifier:
        params.update(
            sampler=RandomUnderSampler(sampling_strategy=0.5),
            class_weight={0: 2.0},
            linear_baseline="logistic",
            threshold=0.3,
            threshold_scoring="f1",
            threshold_cv=3,
            pos_label=0,
        )
    else:
        params["loss"] = "mean_absolute_error"
        params["target_transform"] = "log1p"
        params["linear_baseline"] = None
    defaults = Estimator().get_params()
    assert set(params) == set(defaults)
    assert all(
        params[name] is not defaults[name] and params[name] != defaults[name] for name in params
    )

    est = Estimator(**params)
    cloned = clone(est)
    cloned_params, est_params = cloned.get_params(), est.get_params()
    cloned_callbacks = cloned_params.pop("callbacks")
    est_callbacks = est_params.pop("callbacks")
    if "sampler" in est_params:  # estimators compare by identity: compare their params
        cloned_sampler, est_sampler = cloned_params.pop("sampler"), est_params.pop("sampler")
        assert cloned_sampler is not est_sampler
        assert cloned_sampler.get_params() == est_sampler.get_params()
    assert cloned_params == est_params
    assert [type(cb) for cb in cloned_callbacks] == [type(cb) for cb in est_callbacks]
    assert cloned_callbacks[0] is not est_callbacks[0]
    assert cloned_callbacks[0].monitor == "loss"
    assert cloned_callbacks[0].patience == 2


def test_clone_of_fitted_estimator_is_unfitted(fitted_classifier):
    cloned = clone(fitted_classifier)
    assert cloned.get_params() == fitted_classifier.get_params()
    for name in ("pipeline_", "model_", "classes_", "history_", "n_features_in_"):
        assert not hasattr(cloned, name)


def test_set_params_then_fit_takes_effect(binary_data):
    X, y = binary_data
    est = fast_classifier()
    returned = est.set_params(
        hidden_layer_sizes=(5, 3),
        dropout=0.0,
        learning_rate=0.02,
        epochs=3,
        early_stopping=False,
        threshold=0.2,
    )
    assert returned is est
    est.fit(X, y)
    assert dense_units(est.model_) == [5, 3, 1]
    assert dropout_rates(est.model_) == []
    assert optimizer_learning_rate(est.model_) == pytest.approx(0.02, rel=1e-6)
    assert est.n_epochs_ == len(est.history_["loss"]) == 3
    assert est.threshold_ == 0.2
    expected = np.where(est.predict_proba(X)[:, 1] >= 0.2, 1, 0)
    np.testing.assert_array_equal(est.predict(X), expected)


# -- pickling ------------------------------------------------------------------------

PICKLERS = {
    "pickle": (pickle.dumps, pickle.loads),
    "cloudpickle": (cloudpickle.dumps, pickle.loads),
    "joblib": (None, None),  # through a file, below
}


def _round_trip(obj, how, tmp_path):
    if how == "joblib":
        path = tmp_path / "estimator.joblib"
        joblib.dump(obj, path)
        return joblib.load(path)
    dumps, loads = PICKLERS[how]
    return loads(dumps(obj))


@pytest.mark.parametrize("how", sorted(PICKLERS))
def test_pickle_round_trip_fitted_classifier(fitted_classifier, binary_data, how, tmp_path):
    X, _ = binary_data
    reduce_before = keras.Model.__reduce__
    expected = fitted_classifier.predict_proba(X)
    restored = _round_trip(fitted_classifier, how, tmp_path)
    assert keras.Model.__reduce__ is reduce_before

    assert restored is not fitted_classifier
    np.testing.assert_array_equal(restored.predict_proba(X), expected)
    np.testing.assert_array_equal(restored.predict(X), fitted_classifier.predict(X))
    np.testing.assert_array_equal(restored.classes_, fitted_classifier.classes_)
    assert restored.history_ == fitted_classifier.history_
    assert restored.get_params() == fitted_classifier.get_params()
    # The original keeps working after being pickled.
    np.testing.assert_array_equal(fitted_classifier.predict_proba(X), expected)


@pytest.mark.parametrize("how", sorted(PICKLERS))
def test_pickle_round_trip_fitted_regressor(fitted_regressor, regression_data, how, tmp_path):
    X, _ = regression_data
    expected = fitted_regressor.predict(X)
    restored = _round_trip(fitted_regressor, how, tmp_path)
    np.testing.assert_array_equal(restored.predict(X), expected)
    assert restored.predict(X).shape == (len(X),)
    assert restored.model_ is restored.pipeline_.named_steps["network"].model_


@pytest.mark.parametrize("Estimator", [SafeKerasClassifier, SafeKerasRegressor])
@pytest.mark.parametrize("how", sorted(PICKLERS))
def test_pickle_round_trip_unfitted(Estimator, how, tmp_path):
    est = Estimator(hidden_layer_sizes=(3,), epochs=2, random_state=7)
    restored = _round_trip(est, how, tmp_path)
    assert type(restored) is Estimator
    assert restored.get_params() == est.get_params()
    assert not hasattr(restored, "pipeline_")
    assert not hasattr(restored, "model_")


_FRESH_PROCESS_CODE = textwrap.dedent(
    """
    import copyreg
    import sys

    import keras
    import numpy as np

    reduce_before = keras.Model.__reduce__
    reduce_ex_before = keras.Model.__reduce_ex__
    dispatch_before = dict(copyreg.dispatch_table)

    import joblib
    import safekeras

    unchanged_on_import = keras.Model.__reduce__ is reduce_before
    if sys.argv[4] == "joblib":
        est = joblib.load(sys.argv[1])
    else:  # pickle and cloudpickle files both load with pickle
        import pickle

        with open(sys.argv[1], "rb") as handle:
            est = pickle.load(handle)
    assert isinstance(est, safekeras.SafeKerasClassifier), type(est)
    assert est.model_ is est.pipeline_.named_steps["network"].model_
    X = np.load(sys.argv[2])
    np.save(sys.argv[3], est.predict_proba(X))
    np.save(sys.argv[3] + ".labels.npy", est.predict(X))
    print("THRESHOLD=" + repr(float(est.threshold_)))
    unchanged = (
        unchanged_on_import
        and keras.Model.__reduce__ is reduce_before
        and keras.Model.__reduce_ex__ is reduce_ex_before
        and dict(copyreg.dispatch_table) == dispatch_before
    )
    print("KERAS_UNPATCHED=" + str(unchanged))
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("how", ["joblib", "pickle", "cloudpickle"])
def test_round_trip_in_fresh_process(fitted_classifier, binary_data, tmp_path, how):
    X, _ = binary_data
    model_path = tmp_path / f"estimator.{how}"
    X_path, out_path = tmp_path / "X.npy", tmp_path / "proba.npy"
    if how == "joblib":
        joblib.dump(fitted_classifier, model_path)
    else:
        dumps = pickle.dumps if how == "pickle" else cloudpickle.dumps
        model_path.write_bytes(dumps(fitted_classifier))
    np.save(X_path, X)

    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            _FRESH_PROCESS_CODE,
            str(model_path),
            str(X_path),
            str(out_path),
            how,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "KERAS_UNPATCHED=True" in proc.stdout, proc.stdout
    assert f"THRESHOLD={float(fitted_classifier.threshold_)!r}" in proc.stdout
    np.testing.assert_array_equal(np.load(out_path), fitted_classifier.predict_proba(X))
    labels = np.load(str(out_path) + ".labels.npy", allow_pickle=True)
    np.testing.assert_array_equal(labels, fitted_classifier.predict(X))


def test_pickled_estimator_holds_the_network_once(fitted_classifier):
    data = pickle.dumps(fitted_classifier)
    restored = pickle.loads(data)
    assert restored.model_ is restored.pipeline_.named_steps["network"].model_
    # One .keras archive plus a small remainder (preprocessor, history, classes).
    assert len(data) < 1.5 * len(model_to_bytes(fitted_classifier.model_))

    # Copies made through the pickle protocol keep the link, too.
    copied = copy.deepcopy(fitted_classifier)
    assert copied.model_ is copied.pipeline_.named_steps["network"].model_
    assert copied.model_ is not fitted_classifier.model_


# -- label dtypes --------------------------------------------------------------------

LABELS = {
    "str-binary": np.array(["no", "yes"]),
    "str-multiclass": np.array(["cat", "dog", "emu"]),
    "object-multiclass": np.array(["b", "a", "c"], dtype=object),
    "int-noncontiguous": np.array([42, -3, 7]),
    "int-binary-negative": np.array([-3, 42]),
    "bool": np.array([True, False]),
}


@pytest.mark.parametrize("labels", LABELS.values(), ids=LABELS.keys())
def test_label_dtypes_round_trip(labels):
    n_classes = len(labels)
    X, blob = make_blobs(
        n_samples=30 * n_classes,
        centers=n_classes,
        n_features=4,
        cluster_std=0.5,
        center_box=(-8, 8),
        random_state=0,
    )
    y = labels[blob]
    est = fast_classifier(learning_rate=0.03).fit(X, y)

    np.testing.assert_array_equal(est.classes_, np.unique(y))
    assert est.classes_.dtype.kind == y.dtype.kind
    pred = est.predict(X)
    assert pred.dtype.kind == y.dtype.kind
    assert set(pred.tolist()) <= set(est.classes_.tolist())
    proba = est.predict_proba(X)
    assert proba.shape == (len(X), n_classes)
    # Separable clusters: each probability column belongs to the class in classes_.
    np.testing.assert_array_equal(est.classes_[np.argmax(proba, axis=1)], y)
    np.testing.assert_array_equal(pred, y)


# -- DataFrames ------------------------------------------------------------------------


def _mixed_frame(pd, n, rng):
    frame = pd.DataFrame(
        {
            "amount": rng.normal(size=n),
            "count": rng.integers(0, 10, size=n),
            "city": rng.choice(["paris", "oslo", "lima"], size=n).astype(object),
            "grade": pd.Categorical(rng.choice(["a", "b", "c"], size=n)),
            "flag": rng.random(n) > 0.5,
        }
    )
    frame.loc[::7, "amount"] = np.nan
    frame.loc[::9, "city"] = None
    return frame


def test_mixed_dtype_dataframe(binary_data):
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    X = _mixed_frame(pd, 120, rng)
    y = np.where((X["count"] > 4) ^ (X["city"] == "oslo"), "high", "low")
    assert X["amount"].isna().any()
    assert X["city"].isna().any()

    est = SafeKerasClassifier(epochs=3, random_state=0).fit(X, y)
    np.testing.assert_array_equal(est.feature_names_in_, X.columns)
    assert est.n_features_in_ == X.shape[1]
    pred = est.predict(X)
    assert pred.shape == (len(X),)
    assert set(pred) <= {"high", "low"}

    X_new = _mixed_frame(pd, 10, rng)
    X_new["city"] = ["atlantis"] * 5 + ["oslo"] * 5
    X_new["grade"] = pd.Categorical(["zzz"] * 5 + ["a"] * 5)
    with pytest.warns(DriftWarning, match="'city': 5 row.*'grade': 5 row"):
        proba = est.predict_proba(X_new)
    assert proba.shape == (10, 2)
    assert np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    with pytest.warns(DriftWarning, match="Categories never seen in training"):
        assert set(est.predict(X_new)) <= {"high", "low"}
