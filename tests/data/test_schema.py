"""InputSchema: what fit saw, and the checks every predict batch goes through."""

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.model_selection import train_test_split

from safekeras import (
    DriftError,
    DriftWarning,
    InputError,
    SafeKerasClassifier,
    SafeKerasRegressor,
)
from safekeras.data import schema as schema_module
from safekeras.data.drift import MIN_ROWS_FOR_SHARE, MIN_ROWS_FOR_SPREAD
from safekeras.data.schema import InputSchema
from safekeras.decision import threshold_fitting

pytestmark = pytest.mark.core


@pytest.fixture(scope="module")
def digits_split():
    X, y = load_digits(return_X_y=True)
    return train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)


@pytest.fixture(scope="module")
def cancer_split():
    X, _ = load_breast_cancer(return_X_y=True)
    return train_test_split(X, test_size=0.3, random_state=0)


def _batches(X, size):
    return [X[start : start + size] for start in range(0, len(X), size)]


def _mixed_frame(n, seed=0, categories=("a", "b", "c", "d")):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "income": rng.lognormal(10, 1, n),
            "age": rng.integers(18, 90, n),
            "score": rng.normal(0, 1, n),
            "city": rng.choice(list(categories), n),
        }
    )


# -- the seed's pitfall: trained on 0-1 pixels, fed the raw ones -----------------------


@pytest.mark.parametrize("size", [1, 10, 1000])
def test_raw_pixels_after_training_on_scaled_ones_are_flagged(digits_split, size):
    X_train, X_test, _, _ = digits_split
    schema = InputSchema.from_training(X_train / 16)
    for batch in _batches(X_test, size)[:20]:
        report = schema.check(batch)
        assert [f.kind for f in report.findings] == ["range"]
        message = report.findings[0].message
        assert "times larger than in training" in message
        assert "scaling step applied before fit but not now" in message


@pytest.mark.parametrize("size", [1, 10, 1000])
def test_held_out_rows_of_the_training_distribution_stay_quiet(digits_split, size):
    X_train, X_test, _, _ = digits_split
    schema = InputSchema.from_training(X_train / 16)
    alarms = [
        str(schema.check(batch)) for batch in _batches(X_test / 16, size) if schema.check(batch)
    ]
    assert alarms == []


@pytest.mark.parametrize("seed", range(5))
def test_heavy_tailed_columns_stay_quiet_on_fresh_rows(seed):
    # Breast cancer's "area error" puts held-out values up to 1.5 training ranges beyond the max.
    X, _ = load_breast_cancer(return_X_y=True)
    X_train, X_test = train_test_split(X, test_size=0.3, random_state=seed)
    schema = InputSchema.from_training(X_train)
    assert not schema.check(X_test)
    assert not any(schema.check(row) for row in _batches(X_test, 1))


# -- other kinds of drift -------------------------------------------------------------


def test_unit_change_in_one_column_is_flagged_on_a_single_row(cancer_split):
    X_train, X_test = cancer_split
    schema = InputSchema.from_training(X_train)
    row = X_test[:1].copy()
    row[0, 3] *= 1000  # mean area in another unit
    report = schema.check(row)
    (finding,) = report.findings
    assert finding.kind == "range" and finding.columns == (3,)
    assert "1 of 30 column(s)" in finding.message and "column 3" in finding.message
    assert finding.evidence[3]["magnitude_factor"] > 100


def test_sign_flip_is_named_as_the_likely_cause(cancer_split):
    X_train, X_test = cancer_split
    schema = InputSchema.from_training(X_train)
    batch = X_test[:20].copy()
    batch[:, 0] = -batch[:, 0]  # mean radius, 6 to 28 in training
    (finding,) = schema.check(batch).findings
    assert finding.columns == (0,)
    assert finding.evidence[0]["sign_flipped"]
    assert "sign-flipped" in finding.message
    assert schema.check(batch[:1]).findings[0].columns == (0,)


def test_shrunken_spread_is_flagged_in_batches_only():
    rng = np.random.default_rng(0)
    X_train = rng.normal(0, 1, (500, 3))
    schema = InputSchema.from_training(X_train)
    batch = rng.normal(0, 1, (MIN_ROWS_FOR_SPREAD, 3))
    batch[:, 1] /= 1000  # inside the training range, but a thousand times narrower
    (finding,) = schema.check(batch).findings
    assert finding.kind == "spread" and finding.columns == (1,)
    assert finding.evidence[1]["spread_ratio"] < 0.01
    assert not schema.check(batch[: MIN_ROWS_FOR_SPREAD - 1])
    assert not schema.check(batch[:1])


def test_most_of_a_batch_outside_the_range_is_flagged_even_when_near():
    rng = np.random.default_rng(0)
    schema = InputSchema.from_training(rng.uniform(0, 1, (500, 2)))
    batch = rng.uniform(0, 1, (MIN_ROWS_FOR_SHARE, 2))
    batch[:, 0] += 1.5  # every value beyond the maximum, but by less than FAR_EXCESS ranges
    (finding,) = schema.check(batch).findings
    assert finding.columns == (0,) and finding.evidence[0]["share_outside"] == 1.0
    assert not schema.check(batch[:1])  # one such row is not evidence


def test_column_suddenly_missing_is_flagged():
    frame = _mixed_frame(300)
    schema = InputSchema.from_training(frame)
    batch = _mixed_frame(20, seed=1)
    batch["age"] = np.nan
    (finding,) = schema.check(batch).findings
    assert finding.kind == "missing" and finding.columns == ("age",)
    assert "'age' 100%" in finding.message


def test_unseen_categories_are_counted_per_column():
    schema = InputSchema.from_training(_mixed_frame(300))
    batch = _mixed_frame(10, seed=1)
    batch.loc[:2, "city"] = ["zurich", "zurich", "oslo"]
    (finding,) = schema.check(batch).findings
    assert finding.kind == "unseen_category" and finding.columns == ("city",)
    assert finding.evidence["city"]["n_unseen"] == 3
    assert finding.evidence["city"]["examples"] == ["oslo", "zurich"]
    assert "'city': 3 row(s)" in finding.message


def test_identifier_like_columns_are_not_tracked_as_categories():
    frame = _mixed_frame(100)
    frame["id"] = [f"row-{i}" for i in range(100)]
    schema = InputSchema.from_training(frame)
    assert schema.columns[-1].categories is None
    batch = _mixed_frame(5, seed=2)
    batch["id"] = [f"new-{i}" for i in range(5)]
    assert not schema.check(batch)


def test_object_arrays_mix_numbers_and_categories():
    X = np.array([[1.0, "a"], [2.0, "b"], [3.0, "a"], [2.5, "b"]] * 10, dtype=object)
    schema = InputSchema.from_training(X)
    assert [p.kind for p in schema.columns] == ["numeric", "categorical"]
    assert not schema.check(np.array([[2.0, "a"], ["1.5", "b"]], dtype=object))
    report = schema.check(np.array([[2.0, "c"]], dtype=object))
    assert report.findings[0].columns == (1,)


# -- errors every batch is checked for, whatever on_drift says ------------------------


def test_strings_in_a_numeric_column_raise_naming_it():
    schema = InputSchema.from_training(_mixed_frame(50))
    batch = _mixed_frame(3, seed=1).astype({"income": object})
    batch.loc[1, "income"] = "12k"
    with pytest.raises(InputError, match=r"'income' \('12k'\).*pandas.to_numeric"):
        schema.check(batch, drift=False)
    batch["income"] = batch["income"].astype(str)  # numbers, but arriving as strings
    with pytest.raises(InputError, match="'income'"):
        schema.check(batch)


def test_non_numbers_in_an_object_array_raise_naming_the_column():
    X = np.array([[1.0, "a"], [2.0, "b"]] * 5, dtype=object)
    schema = InputSchema.from_training(X)
    with pytest.raises(InputError, match=r"column 0 \('n/a'\)"):
        schema.check(np.array([["n/a", "a"]], dtype=object))


@pytest.mark.parametrize("numeric_only", [False, True])
def test_infinity_raises_naming_the_column(numeric_only):
    X = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [0.0, 1.0, 2.0]})
    schema = InputSchema.from_training(X, numeric_only=numeric_only)
    with pytest.raises(InputError, match="infinity in 'b'"):
        schema.check(X.assign(b=[0.0, np.inf, 1.0]), drift=False)
    with pytest.raises(InputError, match="infinity in 'a'"):
        InputSchema.from_training(X.assign(a=[1.0, -np.inf, 3.0]), numeric_only=numeric_only)


def test_nan_is_an_error_only_without_a_preprocessor():
    X = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    with_nan = np.array([[1.0, np.nan]])
    assert not InputSchema.from_training(X).check(with_nan)
    strict = InputSchema.from_training(X, numeric_only=True, feature_names=["x", "y"])
    with pytest.raises(InputError, match=r"NaN in 'y'.*preprocessor='auto'"):
        strict.check(with_nan)


def test_array_given_to_a_schema_fitted_on_a_frame_raises():
    schema = InputSchema.from_training(_mixed_frame(20))
    with pytest.raises(InputError, match="fitted on a DataFrame with columns income, age"):
        schema.check(_mixed_frame(2).to_numpy())


def test_schema_pickles_and_checks_alike(digits_split):
    X_train, X_test, _, _ = digits_split
    schema = InputSchema.from_training(X_train / 16)
    restored = pickle.loads(pickle.dumps(schema))
    assert restored.columns == schema.columns
    assert str(restored.check(X_test[:5])) == str(schema.check(X_test[:5]))


def test_report_lists_columns_and_reads_as_text():
    schema = InputSchema.from_training(_mixed_frame(300))
    batch = _mixed_frame(20, seed=1)
    batch["score"] *= 1000
    batch.loc[0, "city"] = "zurich"
    report = schema.check(batch)
    assert bool(report) and report.columns == ("score", "city")
    assert str(report).startswith("The 20 row(s) given do not look like the training data:")
    assert not schema.check(_mixed_frame(20, seed=1))
    assert str(schema.check(_mixed_frame(3, seed=1))) == "No drift found in 3 row(s)."


# -- through the estimators -----------------------------------------------------------

QUICK = dict(
    hidden_layer_sizes=(8,),
    epochs=2,
    early_stopping=False,
    threshold=0.5,
    random_state=0,
)


@pytest.fixture(scope="module")
def pixel_classifier(digits_split):
    X_train, _, y_train, _ = digits_split
    binary = y_train % 2
    return SafeKerasClassifier(preprocessor=None, **QUICK).fit(X_train / 16, binary)


def test_predict_warns_at_the_callers_line(pixel_classifier, digits_split):
    _, X_test, _, _ = digits_split
    with pytest.warns(DriftWarning, match="times larger than in training") as record:
        pixel_classifier.predict(X_test[:1])
    assert record[0].filename == __file__
    assert record[0].message.report.findings[0].kind == "range"
    assert "on_drift='ignore'" in str(record[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pixel_classifier.predict_proba(X_test / 16)


def test_on_drift_raise_and_ignore(pixel_classifier, digits_split):
    _, X_test, _, _ = digits_split
    strict = pickle.loads(pickle.dumps(pixel_classifier)).set_params(on_drift="raise")
    with pytest.raises(DriftError, match="fall outside their training range") as info:
        strict.predict(X_test[:10])
    assert info.value.report.columns
    quiet = strict.set_params(on_drift="ignore")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert quiet.predict(X_test[:10]).shape == (10,)
    with pytest.raises(InputError, match="infinity in column 5"):
        quiet.predict(np.where(np.arange(64) == 5, np.inf, X_test[:1] / 16))


def test_decision_function_and_score_are_checked_too(pixel_classifier, digits_split):
    _, X_test, _, y_test = digits_split
    with pytest.warns(DriftWarning):
        pixel_classifier.decision_function(X_test[:3])
    with pytest.warns(DriftWarning):
        pixel_classifier.score(X_test, y_test % 2)


def test_regressor_checks_drift_with_the_auto_preprocessor():
    X = _mixed_frame(200)
    y = np.log(X["income"]) + X["score"]
    params = {k: v for k, v in QUICK.items() if k != "threshold"}
    reg = SafeKerasRegressor(**params).fit(X, y)
    batch = _mixed_frame(20, seed=1)
    batch["income"] /= 1000  # thousands instead of units
    with pytest.warns(DriftWarning, match="'income'"):
        reg.predict(batch)
    assert reg.input_schema_.feature_names == tuple(X.columns)


@pytest.mark.filterwarnings("ignore:X does not have valid feature names")
def test_columns_out_of_order_raise_with_the_fix():
    X = _mixed_frame(60)
    y = (X["score"] > 0).astype(int)
    clf = SafeKerasClassifier(**QUICK).fit(X, y)
    with pytest.raises(InputError, match=r"(?s)same order.*X\[estimator.feature_names_in_\]"):
        clf.predict(X[["age", "income", "score", "city"]])
    with pytest.raises(InputError, match="Feature names seen at fit time, yet now missing"):
        clf.predict(X.drop(columns="age"))
    with pytest.raises(InputError, match="selects them by name"):
        clf.predict(X.to_numpy())
    with pytest.raises(ValueError, match="X has 3 features, but SafeKerasClassifier is expecting"):
        clf.predict(X.drop(columns="age").to_numpy())
    assert clf.predict(X[list(clf.feature_names_in_)]).shape == (60,)


def test_fit_rejects_infinity_by_column_and_leaves_no_schema():
    X = _mixed_frame(40)
    y = (X["score"] > 0).astype(int)
    clf = SafeKerasClassifier(**QUICK)
    with pytest.raises(InputError, match="infinity in 'score'"):
        clf.fit(X.assign(score=np.where(X["score"] > 1, np.inf, X["score"])), y)
    assert not hasattr(clf, "input_schema_")
    with pytest.raises(InputError, match="NaN in column 1"):
        X_missing = np.ones((40, 3))
        X_missing[7, 1] = np.nan
        SafeKerasClassifier(preprocessor=None, **QUICK).fit(X_missing, y)


@pytest.mark.filterwarnings("ignore::safekeras.ThresholdWarning")
def test_internal_threshold_folds_do_not_check_drift(monkeypatch):
    calls = []
    original = InputSchema.check_decoded

    def spy(self, batch, *, drift=True):
        calls.append(drift)
        return original(self, batch, drift=drift)

    monkeypatch.setattr(InputSchema, "check_decoded", spy)
    X, y = load_breast_cancer(return_X_y=True)
    clf = SafeKerasClassifier(**{**QUICK, "threshold": "auto", "threshold_cv": 2})
    clf.fit(X[:80], y[:80])
    assert calls == []  # stacked folds: their held-out rows are predicted by the stack
    monkeypatch.setattr(threshold_fitting, "STACK_FOLDS", False)
    clf.fit(X[:80], y[:80])
    assert calls == [False, False]  # the two clones' predict_proba: structural checks only


def test_strings_without_a_preprocessor_raise_input_error():
    X = pd.DataFrame({"a": np.arange(20.0), "b": np.arange(20.0)})
    clf = SafeKerasClassifier(preprocessor=None, **QUICK).fit(X, [0, 1] * 10)
    with pytest.raises(InputError, match=r"could not convert.*preprocessor='auto'"):
        clf.predict(X.assign(b=["x"] * 20))


# Column values with many ties (small integers) and without (wide floats).
TIED_OR_SPREAD_VALUES = st.one_of(st.integers(-3, 3).map(float), st.floats(-1e6, 1e6))


@settings(max_examples=60, deadline=None)
@given(
    arrays(
        np.float64,
        array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=12),
        elements=TIED_OR_SPREAD_VALUES,
    ),
    st.booleans(),
)
def test_a_block_is_profiled_as_each_of_its_columns_alone(values, with_missing):
    # The profile of a block without missing values is computed for all its columns at once.
    if with_missing:
        values = values.copy()
        values[0, 0] = np.nan
    schema = InputSchema.from_training(values)
    one_by_one = tuple(
        schema_module._numeric_profile(j, "float64", values[:, j]) for j in range(values.shape[1])
    )
    assert schema.columns == one_by_one


@settings(max_examples=80, deadline=None)
@given(arrays(np.float64, st.integers(1, 400), elements=TIED_OR_SPREAD_VALUES))
def test_profile_quantiles_are_numpys_inverted_cdf_quantiles(column):
    # The profile reads its quantiles from one sort; they must be the values np.quantile picks.
    profile = schema_module._numeric_profile(0, "float64", column)
    expected = np.quantile(column, schema_module.QUANTILES, method="inverted_cdf")
    assert list(profile.quantiles) == expected.tolist()
    assert (profile.minimum, profile.maximum) == (column.min(), column.max())


@pytest.mark.parametrize("n_values", [1, 2, 3, 99, 100, 101, 1999, 2000, 20_000, 100_001])
def test_quantile_positions_match_numpy_at_sizes_where_rounding_could_differ(n_values):
    column = np.arange(n_values, dtype=np.float64)[::-1].copy()
    expected = np.quantile(column, schema_module.QUANTILES, method="inverted_cdf")
    assert (np.sort(column)[schema_module._inverted_cdf_positions(n_values)] == expected).all()
