"""The "auto" preprocessor and the other preprocessor options (safekeras/data/preprocessing.py)."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.decomposition import PCA
from sklearn.preprocessing import MinMaxScaler

from safekeras import DriftWarning, InputError, InputTypeError, SafeKerasClassifier
from safekeras.data.preprocessing import (
    SPLINE_KNOTS,
    fit_preprocessor,
    make_auto_preprocessor,
    split_columns,
    weighted_median,
)

pytestmark = pytest.mark.core

FAST = dict(hidden_layer_sizes=(8,), epochs=3, batch_size=32, random_state=0)


@pytest.fixture(scope="module")
def mixed_frame():
    rng = np.random.RandomState(0)
    n = 80
    frame = pd.DataFrame(
        {
            "income": rng.lognormal(10, 1, n),
            "age": rng.randint(18, 90, n),
            "city": rng.choice(["paris", "oslo", "lima"], n),
            "plan": pd.Categorical(rng.choice(["basic", "pro"], n)),
            "active": rng.rand(n) > 0.5,
        }
    )
    frame.loc[::7, "income"] = np.nan
    frame.loc[::9, "city"] = None
    y = np.where(frame["age"] > 50, "old", "young")
    return frame, y


def test_dataframe_columns_are_split_by_dtype(mixed_frame):
    frame, _ = mixed_frame
    assert split_columns(frame) == (["income", "age", "active"], ["city", "plan"])


def test_object_array_columns_are_split_by_content():
    X = np.array([[1.5, "a", "3"], [2.0, "b", "4"]], dtype=object)
    assert split_columns(X) == ([0, 2], [1])


def test_auto_preprocessor_scales_imputes_and_one_hot_encodes(mixed_frame):
    frame, _ = mixed_frame
    out = make_auto_preprocessor(frame).fit_transform(frame)
    # 3 numeric columns + 3 cities + 2 plans
    assert out.shape == (80, 3 + 3 + 2)
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out[:, :3].mean(axis=0), 0, atol=1e-7)


def test_numeric_splines_embed_the_columns_with_many_values(mixed_frame):
    frame, _ = mixed_frame
    preprocessor = make_auto_preprocessor(frame, numeric_splines=True).fit(frame)
    names = [name for name, _, _ in preprocessor.transformers_ if name != "remainder"]
    assert names == ["numeric", "categorical", "splines"]
    assert preprocessor.named_transformers_["splines"].feature_names_in_.tolist() == [
        "income",
        "age",
    ]
    out = preprocessor.transform(frame)
    width = SPLINE_KNOTS + 2  # cubic: n_knots + degree - 1 basis functions
    assert out.shape == (80, 3 + 3 + 2 + 2 * width)
    splines = out[:, 8:].reshape(80, 2, width)
    np.testing.assert_allclose(splines.sum(axis=-1), 1.0)  # a partition of unity, NaN imputed
    assert make_auto_preprocessor(frame).fit_transform(frame).shape == (80, 8)  # not by default


def test_spline_width_is_fixed_when_the_quantiles_tie():
    rng = np.random.default_rng(0)
    widths = set()
    for zeros in (0.5, 0.8, 0.9):  # more and more tied knots at 0 (and 40+ other values)
        X = np.where(rng.random((400, 1)) < zeros, 0.0, rng.exponential(size=(400, 1)))
        out = make_auto_preprocessor(X, numeric_splines=True).fit_transform(X)
        assert np.isfinite(out).all()
        widths.add(out.shape[1])
    assert widths == {1 + SPLINE_KNOTS + 2}  # one network layout whatever the fold


def test_weighted_fit_puts_the_spline_knots_at_weighted_quantiles():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(150, 2))
    weights = rng.integers(1, 5, 150).astype(float)
    weighted = make_auto_preprocessor(X, numeric_splines=True)
    fit_preprocessor(weighted, X, weights)
    plain = make_auto_preprocessor(X, numeric_splines=True).fit(X)
    splines = weighted.named_transformers_["splines"]
    expected = clone(splines.named_steps["spline"]).fit(X, sample_weight=weights)
    for got, want, unweighted in zip(
        splines.named_steps["spline"].bsplines_,
        expected.bsplines_,
        plain.named_transformers_["splines"].named_steps["spline"].bsplines_,
        strict=True,
    ):
        np.testing.assert_array_equal(got.t, want.t)
        assert not np.array_equal(got.t, unweighted.t)


def test_classifier_fits_a_mixed_dataframe_with_missing_values(mixed_frame):
    frame, y = mixed_frame
    clf = SafeKerasClassifier(**FAST).fit(frame, y)
    np.testing.assert_array_equal(clf.feature_names_in_, frame.columns)
    assert set(clf.predict(frame)) <= {"old", "young"}


def test_unseen_category_at_predict_time_is_ignored(mixed_frame):
    frame, y = mixed_frame
    clf = SafeKerasClassifier(**FAST).fit(frame, y)
    new = frame.head(3).copy()
    new["city"] = ["tokyo", "rome", "oslo"]
    with pytest.warns(DriftWarning, match="'city': 2 row"):  # counted and reported, not fatal
        assert clf.predict_proba(new).shape == (3, 2)


def test_preprocessor_is_fitted_on_the_training_split_only():
    X = np.arange(100, dtype=float).reshape(-1, 1)
    y = np.array([0, 1] * 50)
    clf = SafeKerasClassifier(validation_fraction=0.3, **FAST).fit(X, y)
    scaler = clf.preprocessor_.named_transformers_["numeric"].named_steps["scale"]
    assert scaler.n_samples_seen_ == 70


def test_preprocessor_is_reused_unchanged_at_predict_time():
    rng = np.random.RandomState(0)
    X = rng.uniform(0, 1, size=(60, 3))
    y = (X[:, 0] > 0.5).astype(int)
    clf = SafeKerasClassifier(**FAST).fit(X, y)
    scaler = clf.preprocessor_.named_transformers_["numeric"].named_steps["scale"]
    mean = scaler.mean_.copy()
    with pytest.warns(DriftWarning, match="255 times larger"):  # the seed's 0-255 input
        clf.predict_proba(X * 255)  # ...scaled with the *fitted* statistics, and reported
    np.testing.assert_array_equal(scaler.mean_, mean)


def test_passthrough_requires_numeric_finite_input():
    X = np.array([[1.0, np.nan], [2.0, 3.0]] * 10)
    y = [0, 1] * 10
    with pytest.raises(ValueError, match="NaN"):
        SafeKerasClassifier(preprocessor="passthrough", **FAST).fit(X, y)
    strings = np.array([["a", 1], ["b", 2]] * 10, dtype=object)
    with pytest.raises(InputError, match="every column must be numeric; use preprocessor='auto'"):
        SafeKerasClassifier(preprocessor=None, **FAST).fit(strings, y)


def test_custom_transformer_is_cloned_and_fitted():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 4))
    y = (X[:, 0] > 0).astype(int)
    template = PCA(n_components=2)
    clf = SafeKerasClassifier(preprocessor=template, **FAST).fit(X, y)
    assert clf.preprocessor_ is not template and not hasattr(template, "components_")
    assert clf.preprocessor_.n_components_ == 2
    assert clf.model_.inputs[0].shape[-1] == 2
    minmax = SafeKerasClassifier(preprocessor=MinMaxScaler(), **FAST).fit(X, y)
    assert minmax.pipeline_.named_steps["preprocess"].data_max_.shape == (4,)


def test_sparse_input_is_refused_with_advice():
    from scipy import sparse

    X = sparse.random(20, 4, density=0.5, format="csr", random_state=0)
    with pytest.raises(InputTypeError, match="sparse"):
        SafeKerasClassifier(**FAST).fit(X, [0, 1] * 10)


def test_infinite_values_are_refused():
    X = np.array([[1.0, np.inf], [2.0, 3.0]] * 10)
    with pytest.raises(ValueError, match="infinity"):
        SafeKerasClassifier(**FAST).fit(X, [0, 1] * 10)


def test_empty_dataframe_is_refused():
    with pytest.raises(InputError, match="0 sample"):
        SafeKerasClassifier(**FAST).fit(pd.DataFrame({"a": []}), [])


def test_passthrough_dataframe_records_feature_names():
    frame = pd.DataFrame({"a": np.arange(20.0), "b": np.arange(20.0) % 3})
    clf = SafeKerasClassifier(preprocessor="passthrough", **FAST).fit(frame, [0, 1] * 10)
    np.testing.assert_array_equal(clf.feature_names_in_, ["a", "b"])
    with pytest.raises(ValueError, match="feature names"):
        clf.predict(frame[["b", "a"]])


# -- sample weights reach the "auto" preprocessing (issue 20) ---------------------------


def _weighted_frame(seed=0, n=60):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "income": rng.lognormal(10, 1, n),
            "age": rng.integers(18, 90, n).astype(float),
            "city": rng.choice(["oslo", "paris", "rome"], n).astype(object),
        }
    )
    frame.loc[rng.random(n) < 0.2, "income"] = np.nan
    frame.loc[rng.random(n) < 0.2, "city"] = None
    return frame, rng.integers(1, 4, n).astype(float)


@pytest.mark.parametrize("seed", range(20))
def test_weighted_median_is_the_median_of_repeated_values(seed):
    rng = np.random.default_rng(seed)
    values = rng.integers(0, 6, rng.integers(1, 12)).astype(float)
    weights = rng.integers(0, 4, len(values)).astype(float)
    weights[0] = max(weights[0], 1)  # at least one value counts
    values[rng.random(len(values)) < 0.2] = np.nan
    weights[np.isnan(values)] = 1.0
    repeated = np.repeat(values, weights.astype(int))
    expected = np.median(repeated[~np.isnan(repeated)]) if (~np.isnan(repeated)).any() else np.nan
    np.testing.assert_equal(weighted_median(values, weights), expected)


def test_weighted_median_splits_an_even_total_between_the_middle_values():
    assert weighted_median(np.array([1.0, 2.0, 5.0]), np.array([1.0, 1.0, 2.0])) == 3.5
    assert weighted_median(np.array([1.0, 2.0, 5.0]), np.array([3.0, 0.0, 2.0])) == 1.0
    assert np.isnan(weighted_median(np.array([np.nan, 1.0]), np.array([1.0, 0.0])))


def test_integer_weights_fit_the_auto_preprocessor_like_repeated_rows():
    frame, weights = _weighted_frame()
    weighted = make_auto_preprocessor(frame)
    got = fit_preprocessor(weighted, frame, weights)
    rows = np.repeat(np.arange(len(frame)), weights.astype(int))
    repeated = make_auto_preprocessor(frame).fit(frame.iloc[rows])
    np.testing.assert_allclose(got, repeated.transform(frame), rtol=1e-12, atol=1e-12)
    for name in ("numeric", "categorical"):
        got_fill = weighted.named_transformers_[name].named_steps["impute"].statistics_
        want_fill = repeated.named_transformers_[name].named_steps["impute"].statistics_
        assert list(got_fill) == list(want_fill)
    # And the weights change something here: without them the medians and means differ.
    plain = make_auto_preprocessor(frame).fit(frame)
    assert not np.allclose(plain.transform(frame), got)


def test_equal_weights_fit_exactly_as_no_weights():
    frame, _ = _weighted_frame(seed=1)
    plain = make_auto_preprocessor(frame).fit_transform(frame)
    same = fit_preprocessor(make_auto_preprocessor(frame), frame, np.full(len(frame), 2.5))
    np.testing.assert_array_equal(same, plain)


def test_other_preprocessors_are_fitted_without_weights():
    X = np.random.default_rng(0).normal(size=(30, 2))
    scaler = MinMaxScaler()
    out = fit_preprocessor(scaler, X, np.arange(1.0, 31.0))
    np.testing.assert_array_equal(out, MinMaxScaler().fit_transform(X))
