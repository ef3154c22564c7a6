"""safekeras with the tools users pair it with: MLflow, Optuna, metadata routing, skops.

docs/integrations.md shows each of these; the tests here pin the behaviour the page relies on.
MLflow and Optuna are not dependencies of safekeras (nor of the ``[test]`` extra): their tests
are skipped, with the reason, where they are not installed (``pip install mlflow-skinny optuna``
runs them).
"""

import numpy as np
import pytest
import sklearn
import skops.io
from imblearn.over_sampling import RandomOverSampler
from sklearn.base import clone
from sklearn.metrics import accuracy_score
from sklearn.model_selection import GridSearchCV, KFold, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import safekeras
from safekeras import ParameterError, SafeKerasClassifier, SafeKerasRegressor, skops_trusted_types
from safekeras.deploy.allowlist import _spline_types

pytestmark = pytest.mark.core

# threshold=0.5: no threshold tuning, one network per fit.
FAST = dict(hidden_layer_sizes=(4,), epochs=2, batch_size=32, random_state=0)


def _data(n=80, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, 3)
    return X, (X[:, 0] + 0.3 * rng.randn(n) > 0).astype(int)


@pytest.fixture(scope="module")
def classifier():
    X, y = _data()
    return SafeKerasClassifier(threshold=0.5, **FAST).fit(X, y), X


@pytest.fixture(scope="module")
def mixed_regressor():
    pd = pytest.importorskip("pandas")
    rng = np.random.RandomState(1)
    frame = pd.DataFrame({"size": rng.randn(60), "city": rng.choice(["oslo", "lima"], 60)})
    y = frame["size"].to_numpy() * 10.0 + (frame["city"] == "oslo") * 3.0
    return SafeKerasRegressor(**FAST).fit(frame, y), frame


# -- the public skops trusted-types list ------------------------------------------------------


def test_trusted_types_are_what_skops_needs_for_every_estimator(classifier, mixed_regressor):
    names = skops_trusted_types()
    assert names == sorted(set(names))
    assert safekeras.skops_trusted_types is skops_trusted_types  # the lazy export
    for est, X in (classifier, mixed_regressor):
        data = skops.io.dumps(est)
        untrusted = set(skops.io.get_untrusted_types(data=data))
        assert untrusted <= set(names), untrusted - set(names)
        loaded = skops.io.loads(data, trusted=names)
        np.testing.assert_array_equal(loaded.predict(X), est.predict(X))
    # Every listed name is a type some safekeras estimator holds, not a catch-all: the SciPy
    # ones are those of the regressor's spline embeddings, which the regressor here holds.
    splines = _spline_types()
    assert splines <= set(names)
    assert all(
        name.startswith(("safekeras.", "numpy.", "builtins.")) or name in splines for name in names
    )


def test_trusted_types_of_an_estimator_add_its_sampler():
    X, y = _data()
    est = SafeKerasClassifier(sampler=RandomOverSampler(random_state=0), threshold=0.5, **FAST)
    est.fit(X, y)
    sampler = "imblearn.over_sampling._random_over_sampler.RandomOverSampler"
    assert sampler not in skops_trusted_types()
    assert set(skops_trusted_types(est)) - set(skops_trusted_types()) == {sampler}
    data = skops.io.dumps(est)
    with pytest.raises(skops.io.exceptions.UntrustedTypesFoundException, match="RandomOver"):
        skops.io.loads(data, trusted=skops_trusted_types())
    loaded = skops.io.loads(data, trusted=skops_trusted_types(est))
    np.testing.assert_array_equal(loaded.predict_proba(X), est.predict_proba(X))


@pytest.mark.parametrize("estimator", ["SafeKerasClassifier", 3])
def test_trusted_types_of_a_non_estimator_is_a_parameter_error(estimator):
    with pytest.raises(ParameterError, match=r"estimator must be a SafeKerasClassifier.*got"):
        skops_trusted_types(estimator)


# -- MLflow -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mlflow_sklearn():
    pytest.importorskip("mlflow", reason="MLflow is not installed (pip install mlflow-skinny)")
    import mlflow.sklearn

    return mlflow.sklearn


# pip_requirements: MLflow otherwise infers them by importing the model in a subprocess (~20 s).
@pytest.mark.slow
def test_mlflow_skops_round_trip_with_the_public_list(mlflow_sklearn, classifier, tmp_path):
    from mlflow.exceptions import MlflowException

    est, X = classifier
    with pytest.raises(MlflowException, match="untrusted types"):
        mlflow_sklearn.save_model(est, tmp_path / "refused", pip_requirements=["safekeras"])
    path = tmp_path / "model"
    mlflow_sklearn.save_model(
        est, path, skops_trusted_types=skops_trusted_types(), pip_requirements=["safekeras"]
    )
    assert (path / "model.skops").exists()
    loaded = mlflow_sklearn.load_model(str(path))
    assert type(loaded) is SafeKerasClassifier and loaded is not est
    np.testing.assert_array_equal(loaded.predict_proba(X), est.predict_proba(X))
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))


@pytest.mark.slow
def test_mlflow_skops_round_trip_of_a_regressor_with_categories(
    mlflow_sklearn, mixed_regressor, tmp_path
):
    est, frame = mixed_regressor
    path = tmp_path / "model"
    mlflow_sklearn.save_model(
        est, path, skops_trusted_types=skops_trusted_types(est), pip_requirements=["safekeras"]
    )
    loaded = mlflow_sklearn.load_model(str(path))
    np.testing.assert_array_equal(loaded.predict(frame), est.predict(frame))


@pytest.mark.slow
def test_mlflow_cloudpickle_round_trip(mlflow_sklearn, classifier, tmp_path):
    est, X = classifier
    path = tmp_path / "model"
    mlflow_sklearn.save_model(
        est, path, serialization_format="cloudpickle", pip_requirements=["safekeras"]
    )
    loaded = mlflow_sklearn.load_model(str(path))
    np.testing.assert_array_equal(loaded.predict_proba(X), est.predict_proba(X))


# -- hidden_layer_sizes as an int (Optuna's suggest_int) ----------------------------------------


@pytest.mark.parametrize("size", [5, np.int64(5)])
def test_hidden_layer_sizes_int_is_one_hidden_layer(size):
    X, y = _data()
    params = {**FAST, "threshold": 0.5}
    est = SafeKerasClassifier(**{**params, "hidden_layer_sizes": size}).fit(X, y)
    assert est.get_params()["hidden_layer_sizes"] is size  # not rewritten
    assert clone(est).hidden_layer_sizes is size
    units = [layer.units for layer in est.model_.layers if hasattr(layer, "units")]
    assert units == [5, 1]
    as_tuple = SafeKerasClassifier(**{**params, "hidden_layer_sizes": (5,)}).fit(X, y)
    np.testing.assert_array_equal(est.predict_proba(X), as_tuple.predict_proba(X))


@pytest.mark.parametrize("size", [0, -3, True, 2.0, "16", (4, 0)])
def test_hidden_layer_sizes_that_are_no_layer_sizes_are_parameter_errors(size):
    X, _ = _data()
    with pytest.raises(ParameterError, match=r"hidden_layer_sizes.*(int|integer)"):
        SafeKerasRegressor(**{**FAST, "hidden_layer_sizes": size}).fit(X, X[:, 0])


@pytest.mark.slow
def test_optuna_integer_suggestion_tunes_hidden_layer_sizes():
    optuna = pytest.importorskip("optuna", reason="Optuna is not installed (pip install optuna)")
    X, y = _data(120)

    def objective(trial):
        est = SafeKerasClassifier(
            hidden_layer_sizes=trial.suggest_int("hidden_layer_sizes", 2, 8),
            threshold=0.5,
            **{k: v for k, v in FAST.items() if k != "hidden_layer_sizes"},
        )
        return cross_validate(est, X, y, cv=2)["test_score"].mean()

    sampler = optuna.samplers.RandomSampler(seed=0)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(objective, n_trials=2)
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE] * 2
    assert isinstance(study.best_params["hidden_layer_sizes"], int)


# -- metadata routing -------------------------------------------------------------------------


def test_routed_sample_weight_reaches_fit_and_score():
    """With fit and score requests, the weights train the network and weight each fold's score."""
    X, y = _data(120)
    w = np.where(y == 1, 3.0, 1.0)
    folds = KFold(2, shuffle=True, random_state=0)
    with sklearn.config_context(enable_metadata_routing=True):
        est = SafeKerasClassifier(threshold=0.5, **FAST)
        est.set_fit_request(sample_weight=True).set_score_request(sample_weight=True)
        pipe = make_pipeline(StandardScaler().set_fit_request(sample_weight=False), est)
        result = cross_validate(pipe, X, y, params={"sample_weight": w}, cv=folds)
    for score, (train, test) in zip(result["test_score"], folds.split(X), strict=True):
        fitted = clone(pipe).fit(X[train], y[train], safekerasclassifier__sample_weight=w[train])
        expected = accuracy_score(y[test], fitted.predict(X[test]), sample_weight=w[test])
        assert score == pytest.approx(expected)
        unweighted = clone(pipe).fit(X[train], y[train])  # the weights changed the network
        assert not np.array_equal(fitted.predict_proba(X[test]), unweighted.predict_proba(X[test]))


def test_routing_without_a_score_request_fails_or_scores_nan():
    """Why the docs say set_score_request: without it a search cannot score the weighted folds."""
    from sklearn.exceptions import UnsetMetadataPassedError

    X, y = _data(120)
    w = np.where(y == 1, 3.0, 1.0)
    with sklearn.config_context(enable_metadata_routing=True):
        est = SafeKerasClassifier(threshold=0.5, **FAST).set_fit_request(sample_weight=True)
        with pytest.raises(UnsetMetadataPassedError, match="set_score_request"):
            GridSearchCV(est, {"dropout": [0.0]}, cv=2).fit(X, y, sample_weight=w)
        # In a Pipeline it is worse: every score is NaN, with a warning per fold.
        pipe = make_pipeline(StandardScaler().set_fit_request(sample_weight=False), est)
        search = GridSearchCV(pipe, {"safekerasclassifier__dropout": [0.0]}, cv=2)
        with pytest.warns(UserWarning, match="set_score_request"):
            search.fit(X, y, sample_weight=w)
        assert np.isnan(search.cv_results_["mean_test_score"]).all()
        est.set_score_request(sample_weight=True)
        assert np.isfinite(search.fit(X, y, sample_weight=w).best_score_)
