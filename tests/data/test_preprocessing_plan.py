"""The "auto" preprocessor's fast path (safekeras/data/preprocessing_plan.py).

The plan must give *exactly* what the fitted ColumnTransformer gives, on every
kind of column and value, or not exist at all.
"""

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.preprocessing import StandardScaler

from safekeras import SafeKerasClassifier, SafeKerasRegressor
from safekeras.data.preprocessing import MAX_CATEGORIES, fit_preprocessor, make_auto_preprocessor
from safekeras.data.preprocessing_plan import PreprocessingPlan
from safekeras.data.schema import InputSchema
from safekeras.network.fitted import PREDICT_CHUNK

pytestmark = pytest.mark.core

FAST = dict(hidden_layer_sizes=(8,), epochs=2, batch_size=64, threshold=0.5, random_state=0)


def _fitted(X, numeric_splines=False):
    """The "auto" preprocessor and the schema, fitted on X as the estimator fits them."""
    preprocessor = make_auto_preprocessor(X, numeric_splines).fit(X)
    schema = InputSchema.from_training(X)
    return preprocessor, schema, PreprocessingPlan.from_fitted(preprocessor, schema)


def _assert_plan_equals_sklearn(preprocessor, schema, plan, X):
    assert plan is not None
    expected = preprocessor.transform(X)
    got = plan.transform(schema.decode(X))
    assert got.dtype == expected.dtype == np.float64
    np.testing.assert_array_equal(got, expected)


@pytest.fixture(scope="module")
def mixed_frame():
    rng = np.random.RandomState(0)
    n = 400
    frame = pd.DataFrame(
        {
            "income": rng.lognormal(10, 1, n),
            "age": rng.randint(18, 90, n),
            "flag": rng.rand(n) > 0.5,
            "count": pd.array(rng.randint(0, 5, n), dtype="Int64"),
            "city": rng.choice(["paris", "oslo", "lima"], n),
            "plan": pd.Categorical(rng.choice(["basic", "pro"], n)),
            "code": rng.randint(0, 3, n).astype(object),  # numbers in an object column
            # More than MAX_CATEGORIES values: the rarest share the "infrequent" column.
            "shop": [f"s{int(v)}" for v in rng.zipf(1.3, n) % (MAX_CATEGORIES * 2)],
        }
    )
    frame["code"] = frame["code"].map(lambda v: ["a", 1, 2.5][v])
    frame.loc[::7, "income"] = np.nan
    frame.loc[::9, "city"] = None
    frame.loc[::11, "count"] = pd.NA
    frame.loc[::13, "plan"] = np.nan
    return frame


def test_numeric_array_matches_sklearn_bit_for_bit():
    rng = np.random.RandomState(1)
    X = rng.normal(50, 20, size=(300, 6))
    X[::5, 2] = np.nan
    X[:, 4] = 7.0  # constant: scale 1
    preprocessor, schema, plan = _fitted(X)
    batch = rng.normal(50, 20, size=(40, 6))
    batch[::3, 1] = np.nan
    _assert_plan_equals_sklearn(preprocessor, schema, plan, batch)
    _assert_plan_equals_sklearn(preprocessor, schema, plan, batch[:1])


def test_spline_embeddings_match_sklearn_bit_for_bit():
    rng = np.random.RandomState(2)
    X = rng.normal(50, 20, size=(300, 5))
    X[:, 1] = np.where(rng.rand(300) < 0.8, 0.0, rng.exponential(5, 300))  # tied quantiles
    X[:, 3] = rng.randint(0, 3, 300)  # a code: scaled, not embedded
    X[::6, 0] = np.nan
    preprocessor, schema, plan = _fitted(X, numeric_splines=True)
    assert plan.splines.positions == (0, 1, 2, 4)
    assert plan.n_features_out == 5 + 4 * 8
    batch = rng.normal(50, 60, size=(60, 5))  # beyond the training range, both sides
    batch[:, 1] = rng.choice([-1.0, 0.0, X[:, 1].max(), 3.0, 1e3], 60)
    batch[::4, 2] = np.nan
    batch[::5, 0] = X[:, 0][~np.isnan(X[:, 0])].max()  # the closed upper end
    _assert_plan_equals_sklearn(preprocessor, schema, plan, batch)
    _assert_plan_equals_sklearn(preprocessor, schema, plan, batch[:1])
    assert np.isnan(batch[0, 2])  # the batch is left as given


def test_mixed_frame_with_spline_embeddings_matches_sklearn_bit_for_bit(mixed_frame):
    preprocessor, schema, plan = _fitted(mixed_frame, numeric_splines=True)
    assert plan.splines.positions == (0, 1)  # income, age: flag and count have < 10 values
    for rows in (mixed_frame, mixed_frame.iloc[:1], mixed_frame.iloc[5:70]):
        _assert_plan_equals_sklearn(preprocessor, schema, plan, rows)


def test_mixed_frame_matches_sklearn_bit_for_bit(mixed_frame):
    preprocessor, schema, plan = _fitted(mixed_frame)
    assert any(encoding.infrequent for encoding in plan.categorical)
    for rows in (mixed_frame, mixed_frame.iloc[:1], mixed_frame.iloc[5:70]):
        _assert_plan_equals_sklearn(preprocessor, schema, plan, rows)


def test_unknown_missing_and_infrequent_categories_match_sklearn(mixed_frame):
    preprocessor, schema, plan = _fitted(mixed_frame)
    batch = mixed_frame.iloc[:6].copy()
    batch["city"] = ["rome", None, np.nan, "paris", "oslo", "lima"]  # unknown and missing
    batch["shop"] = ["s1", "never-seen", "s97", None, "s2", "s1"]  # infrequent and unknown
    batch["code"] = pd.Series(["a", 3, None, 1, 2.5, "zz"], dtype=object)
    batch["plan"] = pd.Categorical(["pro", None, "basic", "pro", "pro", "basic"])
    _assert_plan_equals_sklearn(preprocessor, schema, plan, batch)
    for i in range(len(batch)):  # one row at a time: the small-frame reading path
        _assert_plan_equals_sklearn(preprocessor, schema, plan, batch.iloc[[i]])


def test_object_array_with_strings_matches_sklearn():
    rng = np.random.RandomState(2)
    X = np.empty((120, 3), dtype=object)
    X[:, 0] = rng.normal(size=120)
    X[:, 1] = rng.choice(["a", "b", "c"], 120)
    X[:, 2] = [str(v) for v in rng.randint(0, 9, 120)]  # numbers written as strings
    X[::10, 1] = None
    preprocessor, schema, plan = _fitted(X)
    batch = X[:10].copy()
    batch[0, 1] = "unseen"
    batch[1, 1] = np.nan
    _assert_plan_equals_sklearn(preprocessor, schema, plan, batch)


def test_row_slices_give_the_same_rows(mixed_frame):
    _, schema, plan = _fitted(mixed_frame)
    batch = schema.decode(mixed_frame)
    whole = plan.transform(batch)
    np.testing.assert_array_equal(plan.transform(batch, slice(10, 25)), whole[10:25])


def test_other_preprocessors_have_no_plan():
    X = np.random.RandomState(0).normal(size=(50, 3))
    schema = InputSchema.from_training(X)
    scaler = StandardScaler().fit(X)
    assert PreprocessingPlan.from_fitted(scaler, schema) is None
    assert PreprocessingPlan.from_fitted(None, schema) is None
    # The "auto" layout with another imputation strategy is not the "auto" preprocessor.
    auto = make_auto_preprocessor(X)
    auto.transformers[0][1].set_params(impute=SimpleImputer(strategy="mean"))
    assert PreprocessingPlan.from_fitted(auto.fit(X), schema) is None
    reordered = ColumnTransformer([("numeric", StandardScaler(), [2, 1, 0])]).fit(X)
    assert PreprocessingPlan.from_fitted(reordered, schema) is None


@pytest.mark.parametrize("kind", ["array", "frame"])
def test_estimator_predictions_equal_its_pipeline(mixed_frame, kind):
    y = (mixed_frame["age"] > 50).to_numpy()
    X = mixed_frame if kind == "frame" else mixed_frame[["income", "age", "flag"]].to_numpy(float)
    clf = SafeKerasClassifier(**FAST).fit(X, y)
    assert clf._preprocessing_plan() is not None
    for rows in (X[:1] if kind == "array" else X.iloc[:1], X):
        proba = clf.predict_proba(rows)
        np.testing.assert_array_equal(proba[:, 1], clf.pipeline_.predict(rows)[:, 0])


def test_large_batches_stream_in_chunks_with_equal_results():
    rng = np.random.RandomState(3)
    X = rng.normal(size=(PREDICT_CHUNK + 500, 4))
    y = X[:, 0] + rng.normal(scale=0.1, size=len(X))
    reg = SafeKerasRegressor(**{k: v for k, v in FAST.items() if k != "threshold"}).fit(
        X[:300], y[:300]
    )
    pieces = np.concatenate([reg.predict(X[:PREDICT_CHUNK]), reg.predict(X[PREDICT_CHUNK:])])
    np.testing.assert_array_equal(reg.predict(X), pieces)
    expected = reg.target_scaler_.inverse_transform(reg.pipeline_.predict(X)).ravel()
    np.testing.assert_array_equal(reg.predict(X), expected)


def test_plan_of_a_weighted_fit_equals_the_column_transformer():
    rng = np.random.default_rng(0)
    n = 80
    X = pd.DataFrame(
        {
            "x": rng.normal(5, 2, n),
            "k": rng.integers(0, 9, n).astype(float),
            "c": rng.choice(["a", "b", "c"], n).astype(object),
        }
    )
    X.loc[rng.random(n) < 0.2, "x"] = np.nan
    X.loc[rng.random(n) < 0.2, "c"] = None
    preprocessor = make_auto_preprocessor(X)
    fit_preprocessor(preprocessor, X, rng.uniform(0.1, 5.0, n))
    schema = InputSchema.from_training(X)
    plan = PreprocessingPlan.from_fitted(preprocessor, schema)
    _assert_plan_equals_sklearn(preprocessor, schema, plan, X)
