"""``ChannelScaler``: per-channel standardisation of images and series (data/channel_scaling.py)."""

import numpy as np
import pytest
from sklearn.base import clone

from safekeras.data.channel_scaling import ChannelScaler
from safekeras.data.preprocessing import fit_preprocessor, resolve_preprocessor
from safekeras.exceptions import InputError

pytestmark = pytest.mark.core


def _images():
    # 3 images of 2x2 pixels and 2 channels; channel 1 is channel 0 times 10, plus 100.
    channel0 = np.array([[[0.0, 1.0], [2.0, 3.0]], [[4.0, 5.0], [6.0, 7.0]], [[8, 9], [10, 11]]])
    return np.stack([channel0, channel0 * 10 + 100], axis=-1)


def test_statistics_are_per_channel_over_every_other_axis():
    X = _images()
    scaler = ChannelScaler().fit(X)
    # By hand: channel 0 holds 0..11, mean 5.5, population variance (12**2 - 1) / 12.
    std0 = np.sqrt((12**2 - 1) / 12)
    np.testing.assert_allclose(scaler.mean_, [5.5, 155.0])
    np.testing.assert_allclose(scaler.scale_, [std0, 10 * std0])
    assert scaler.mean_.shape == scaler.scale_.shape == (2,)
    out = scaler.transform(X)
    assert out.shape == X.shape and out.dtype == np.float32
    expected0 = (np.arange(12.0) - 5.5) / std0
    np.testing.assert_allclose(out[..., 0].ravel(), expected0, rtol=1e-6)
    np.testing.assert_allclose(out[..., 1], out[..., 0], rtol=1e-5)  # the same after scaling


def test_a_constant_channel_gets_scale_one_and_maps_to_zero():
    X = np.concatenate([_images()[..., :1], np.full((3, 2, 2, 1), 7.0)], axis=-1)
    scaler = ChannelScaler().fit(X)
    assert scaler.scale_[1] == 1.0
    assert np.all(scaler.transform(X)[..., 1] == 0)


def test_integer_weights_count_as_repeated_samples():
    X = _images()
    weighted = ChannelScaler().fit(X, sample_weight=np.array([1.0, 3.0, 0.0]))
    repeated = ChannelScaler().fit(X[[0, 1, 1, 1]])
    np.testing.assert_allclose(weighted.mean_, repeated.mean_)
    np.testing.assert_allclose(weighted.scale_, repeated.scale_)


def test_series_and_the_input_is_not_modified():
    X = np.random.default_rng(0).normal(3.0, 2.0, size=(50, 20, 3))
    before = X.copy()
    out = ChannelScaler().fit(X).transform(X)
    np.testing.assert_array_equal(X, before)
    np.testing.assert_allclose(out.reshape(-1, 3).mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(out.reshape(-1, 3).std(axis=0), 1, atol=1e-5)


def test_another_sample_shape_is_an_input_error():
    scaler = ChannelScaler().fit(_images())
    with pytest.raises(
        InputError, match=r"fitted on samples of shape \(2, 2, 2\) but got \(2, 2, 3\)"
    ):
        scaler.transform(np.zeros((1, 2, 2, 3)))
    with pytest.raises(InputError, match="numeric array of shape"):
        ChannelScaler().fit(np.array(["a", "b"]))


def test_auto_is_a_channel_scaler_for_tensors_and_nothing_for_tokens():
    X = _images()
    assert type(resolve_preprocessor("auto", X, "tensor")) is ChannelScaler
    assert resolve_preprocessor("auto", np.zeros((3, 4), dtype=int), "tokens") is None
    assert resolve_preprocessor(None, X, "tensor") is None
    fitted = clone(resolve_preprocessor("auto", X, "tensor"))
    out = fit_preprocessor(fitted, X, np.array([1.0, 3.0, 0.0]))  # weighted like the table one
    np.testing.assert_allclose(fitted.mean_, ChannelScaler().fit(X[[0, 1, 1, 1]]).mean_)
    assert out.shape == X.shape
