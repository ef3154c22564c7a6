"""The preprocessed rows of a fit (estimators/fit_rows.py)."""

import numpy as np
import pandas as pd
import pytest
import sklearn
from sklearn.compose import ColumnTransformer
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError

from safekeras import SafeKerasClassifier
from safekeras.estimators import fit_rows

pytestmark = pytest.mark.core

SMALL = dict(hidden_layer_sizes=(8,), epochs=6, batch_size=32, random_state=0, threshold_cv=None)


def _frame():
    rng = np.random.RandomState(0)
    n = 240
    frame = pd.DataFrame(
        {
            "income": rng.lognormal(10, 1, n),
            "age": rng.randint(18, 90, n),
            "city": rng.choice(["paris", "oslo", "lima"], n),
        }
    )
    frame.loc[::7, "income"] = np.nan
    frame.loc[::9, "city"] = None
    y = ((frame["age"] > 50) ^ (frame["city"] == "oslo")).astype(int).to_numpy()
    return frame, y


def _through_sklearn(preprocessor, schema, kind):
    return (lambda X: X) if preprocessor is None else preprocessor.transform


@pytest.mark.parametrize("as_frame", [True, False])
def test_validation_rows_through_the_plan_train_as_through_sklearn(monkeypatch, as_frame):
    X, y = _frame()
    if not as_frame:
        X = X[["income", "age"]].to_numpy()
    planned = SafeKerasClassifier(**SMALL).fit(X, y)
    with monkeypatch.context() as patch:
        patch.setattr(fit_rows, "_transformer", _through_sklearn)
        reference = SafeKerasClassifier(**SMALL).fit(X, y)
    assert planned.history_ == reference.history_
    np.testing.assert_array_equal(planned.predict_proba(X), reference.predict_proba(X))


def test_a_users_preprocessor_transforms_its_own_validation_rows():
    X, y = _frame()
    X = X[["income", "age"]].fillna(0).to_numpy()
    seen = []

    class Recording(StandardScaler):
        def transform(self, X, copy=None):
            seen.append(len(X))
            return super().transform(X, copy=copy)

    SafeKerasClassifier(preprocessor=Recording(), **SMALL).fit(X, y)
    assert seen[:2] == [204, 36]  # the training rows, then the validation rows (15 %)


def test_parameter_checks_are_skipped_for_the_auto_preprocessor_only():
    X, y = _frame()
    assert not sklearn.get_config()["skip_parameter_validation"]
    SafeKerasClassifier(**SMALL).fit(X, y)
    assert not sklearn.get_config()["skip_parameter_validation"]  # restored
    invalid = ColumnTransformer([("scale", StandardScaler(), ["age"])], remainder="bogus")
    with pytest.raises(InvalidParameterError):
        SafeKerasClassifier(preprocessor=invalid, **SMALL).fit(X, y)


def test_regressor_auto_preprocessor_embeds_numeric_columns_classifier_does_not():
    from safekeras import SafeKerasRegressor

    frame, y = _frame()
    reg = SafeKerasRegressor(hidden_layer_sizes=(8,), epochs=2, random_state=0).fit(frame, y)
    clf = SafeKerasClassifier(**SMALL).fit(frame, y)
    embedded = reg.preprocessor_.named_transformers_["splines"].feature_names_in_
    assert list(embedded) == ["income", "age"]
    assert reg.model_.input_shape[1] == 2 + 3 + 2 * 8  # the plan and predict read them too
    assert reg._preprocessing_plan().splines is not None
    assert "splines" not in clf.preprocessor_.named_transformers_
    assert clf.model_.input_shape[1] == 2 + 3


def test_a_regressor_with_a_network_of_its_own_keeps_the_raw_width():
    import keras

    from safekeras import SafeKerasRegressor

    rng = np.random.RandomState(0)
    X, y = rng.normal(size=(120, 3)), rng.normal(size=120)
    network = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4), keras.layers.Dense(1)])
    reg = SafeKerasRegressor(model=network, epochs=2, random_state=0).fit(X, y)
    assert "splines" not in reg.preprocessor_.named_transformers_  # written for 3 inputs
    assert reg.model_.input_shape == (None, 3)


@pytest.mark.parametrize(
    ("option", "regressor_width", "classifier_width"),
    [("auto", 2 + 3 + 2 * 8, 2 + 3), ("splines", 2 + 3 + 2 * 8, 2 + 3 + 2 * 8), (None, 5, 5)],
)
def test_numeric_embeddings_chooses_the_embeddings(option, regressor_width, classifier_width):
    from sklearn.base import clone

    from safekeras import SafeKerasRegressor

    frame, y = _frame()
    reg = SafeKerasRegressor(
        hidden_layer_sizes=(8,), epochs=2, random_state=0, numeric_embeddings=option
    ).fit(frame, y)
    clf = SafeKerasClassifier(**SMALL, numeric_embeddings=option).fit(frame, y)
    assert reg.model_.input_shape[1] == regressor_width
    assert clf.model_.input_shape[1] == classifier_width
    for est in (reg, clf):
        assert est._preprocessing_plan() is not None  # predict and to_keras read them too
        assert clone(est).get_params()["numeric_embeddings"] == option


def test_numeric_embeddings_splines_reach_a_network_of_ones_own():
    import keras

    from safekeras import SafeKerasRegressor

    rng = np.random.RandomState(0)
    X, y = rng.normal(size=(120, 3)), rng.normal(size=120)

    def network(meta):  # reads the preprocessed width, as the docs ask
        return keras.Sequential([keras.Input((meta["n_features_in_"],)), keras.layers.Dense(1)])

    reg = SafeKerasRegressor(model=network, numeric_embeddings="splines", epochs=2, random_state=0)
    assert reg.fit(X, y).model_.input_shape == (None, 3 + 3 * 8)


def test_an_estimator_saved_before_numeric_embeddings_keeps_its_preprocessing():
    from safekeras import SafeKerasRegressor

    X, y = np.random.RandomState(1).normal(size=(100, 2)), np.arange(100.0)
    reg = SafeKerasRegressor(hidden_layer_sizes=(8,), epochs=2, numeric_embeddings=None)
    state = reg.fit(X, y).__getstate__()
    del state["numeric_embeddings"]  # as a file written before the parameter holds it
    old = SafeKerasRegressor.__new__(SafeKerasRegressor)
    old.__setstate__(state)
    assert old.get_params()["numeric_embeddings"] is None  # its "auto" embedded nothing
    np.testing.assert_array_equal(old.predict(X), reg.predict(X))


def _panel(n_people=60, visits=5, seed=0):
    rng = np.random.default_rng(seed)
    X = np.repeat(rng.normal(size=(n_people, 3)), visits, axis=0)
    return X, X[:, 0] + rng.normal(size=len(X))


def _split_of(estimator, X, y):
    data = estimator._read_validated(X, y, None, None, partial=False, how=None)
    return fit_rows.split(estimator, data, np.random.RandomState(0), holdout=True)


def test_a_regression_split_keeps_rows_with_identical_features_together():
    from safekeras import SafeKerasRegressor

    X, y = _panel()
    train, val = _split_of(SafeKerasRegressor(), X, y)
    trained = {tuple(row) for row in X[train]}
    assert len(val) and not any(tuple(row) in trained for row in X[val])
    assert len(val) == pytest.approx(0.15 * len(X), abs=5)  # 15 % of the people, 5 rows each


def _assert_split_as_before(estimator, X, y):
    """``fit_rows.split`` draws exactly the split ``training.split_rows`` drew before twins."""
    from safekeras.network import training

    data = estimator._read_validated(X, y, None, None, partial=False, how=None)
    before = training.split_rows(
        data.spec, data.y_encoded, data.kept, np.random.RandomState(0), fraction=0.15, holdout=True
    )
    for ours, theirs in zip(_split_of(estimator, X, y), before, strict=True):
        np.testing.assert_array_equal(ours, theirs)


def test_without_twins_or_with_classes_the_split_is_the_one_before():
    from safekeras import SafeKerasRegressor

    _assert_split_as_before(SafeKerasRegressor(), *_panel(n_people=300, visits=1))
    # A class target stays stratified, twins or not: the classifier's split is unchanged.
    X, y = _panel()
    _assert_split_as_before(SafeKerasClassifier(), X, (y > 0).astype(int))
