"""``benchmarks/numeric_scaling.py``: RealMLP-TD's robust scaling with smooth clipping."""

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from benchmarks.numeric_scaling import RobustSoftClip


def test_columns_are_centred_on_the_median_and_divided_by_the_interquartile_range():
    X = np.array([[1.0], [2.0], [3.0], [4.0], [1000.0]])  # one huge outlier
    scaler = RobustSoftClip(bound=3.0).fit(X)
    assert scaler.center_ == pytest.approx([3.0])
    assert scaler.factor_ == pytest.approx([1 / (4.0 - 2.0)])
    z = (X[:, 0] - 3.0) / 2.0
    np.testing.assert_allclose(scaler.transform(X)[:, 0], z / np.sqrt(1 + (z / 3.0) ** 2))
    # The outlier neither sets the scale (a standard deviation would be ~446) nor passes the bound.
    assert scaler.transform(X)[-1, 0] == pytest.approx(3.0, abs=1e-3)
    assert np.abs(scaler.transform(np.array([[-1e9], [1e9]]))).max() <= 3.0


def test_a_column_of_one_value_mostly_is_scaled_by_half_its_range_and_a_constant_one_is_zero():
    flag = np.r_[np.zeros(90), np.ones(10)]  # IQR 0: a rare binary flag
    constant = np.full(100, 7.0)
    scaler = RobustSoftClip().fit(np.c_[flag, constant])
    assert scaler.factor_ == pytest.approx([1 / 0.5, 0.0])
    out = scaler.transform(np.array([[1.0, 7.0], [0.0, 123.0]]))
    assert out[0, 0] == pytest.approx(2.0 / np.sqrt(1 + (2.0 / 3.0) ** 2))
    assert out[1, 0] == 0.0 and (out[:, 1] == 0.0).all()


def test_it_is_a_scikit_learn_transformer_with_checked_inputs():
    X = np.random.default_rng(0).normal(size=(50, 3))
    scaler = RobustSoftClip()
    with pytest.raises(NotFittedError):
        scaler.transform(X)
    scaler.fit(X)
    assert scaler.n_features_in_ == 3
    assert list(scaler.get_feature_names_out(["a", "b", "c"])) == ["a", "b", "c"]
    with pytest.raises(ValueError, match="features"):
        scaler.transform(X[:, :2])
    original = X.copy()
    scaler.fit_transform(X)
    np.testing.assert_array_equal(X, original)  # the input is not altered
