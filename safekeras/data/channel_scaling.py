"""``ChannelScaler``: the ``"auto"`` preprocessor of N-dimensional inputs (images, series).

A tensor ``X`` of shape ``(n_samples, ..., n_channels)`` (Keras's default
"channels_last" layout) is standardised *per channel*: each channel's mean
and standard deviation are taken over every sample and every position (all
axes but the last) of the training split, and every value of that channel is
mapped to ``(x - mean_) / scale_``. That is the obvious generalisation of
:class:`~sklearn.preprocessing.StandardScaler` to images: a pixel's position
does not get its own statistics (a corner pixel that is always 0 would
otherwise be divided by 0, and shifting an image would change its scaling),
while the channels (red, green, blue; or the variables of a multivariate
series) keep theirs.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ..exceptions import InputError

__all__ = ["ChannelScaler"]


class ChannelScaler(TransformerMixin, BaseEstimator):
    """Standardise each channel (last axis) of an N-dimensional array.

    Parameters
    ----------
    None.

    Attributes
    ----------
    mean_ : ndarray of shape (n_channels,)
        Per-channel mean over every axis but the last, of the training rows
        (weighted by ``sample_weight`` when given).
    scale_ : ndarray of shape (n_channels,)
        Per-channel (population) standard deviation; 1 for a constant
        channel, so that it maps to 0 instead of dividing by 0.
    shape_ : tuple of int
        The trailing shape ``X.shape[1:]`` seen in ``fit``.

    See Also
    --------
    sklearn.preprocessing.StandardScaler : The same for one feature per column.

    Notes
    -----
    A sample of integer weight ``k`` counts as ``k`` copies of it, as in the
    network's loss (and as the table ``"auto"`` preprocessor's statistics).
    The output is float32, the dtype networks compute in.

    Examples
    --------
    >>> import numpy as np
    >>> from safekeras.data.channel_scaling import ChannelScaler
    >>> X = np.arange(16, dtype=float).reshape(2, 2, 2, 2)  # 2 images, 2x2, 2 channels
    >>> scaler = ChannelScaler().fit(X)
    >>> scaler.mean_
    array([7., 8.])
    >>> scaler.transform(X).shape
    (2, 2, 2, 2)
    """

    def fit(self, X, y=None, sample_weight=None):
        """Learn each channel's mean and standard deviation.

        Parameters
        ----------
        X : ndarray of shape (n_samples, ..., n_channels)
            Training rows, at least 2-dimensional, finite.
        y : None
            Ignored.
        sample_weight : ndarray of shape (n_samples,), default=None
            Non-negative weights of the samples (None: all equal).

        Returns
        -------
        self : ChannelScaler
        """
        X = _as_tensor(X)
        per_row = X.reshape(len(X), -1, X.shape[-1])  # (n, positions, channels)
        weights = np.ones(len(X)) if sample_weight is None else np.asarray(sample_weight, float)
        if weights.shape != (len(X),) or weights.sum() <= 0:
            raise InputError(
                f"sample_weight must hold one non-negative weight per sample ({len(X)}), not "
                f"all zero; got shape {weights.shape}."
            )
        total = weights.sum() * per_row.shape[1]
        mean = np.einsum("n,npc->c", weights, per_row, dtype=np.float64) / total
        centred = per_row - mean
        variance = np.einsum("n,npc,npc->c", weights, centred, centred) / total
        scale = np.sqrt(variance)
        # As StandardScaler: a spread at rounding level is no spread.
        constant = scale < 10 * np.finfo(np.float64).eps * np.maximum(np.abs(mean), 1.0)
        self.mean_ = mean
        self.scale_ = np.where(constant, 1.0, scale)
        self.shape_ = tuple(int(d) for d in X.shape[1:])
        self.n_features_in_ = int(X.shape[1])
        return self

    def transform(self, X) -> np.ndarray:
        """Standardise ``X`` with the fitted per-channel statistics.

        Parameters
        ----------
        X : ndarray of shape (n_samples, ..., n_channels)
            Rows with the trailing shape seen in ``fit``.

        Returns
        -------
        ndarray of the same shape, float32
        """
        check_is_fitted(self, "mean_")
        X = _as_tensor(X)
        if tuple(X.shape[1:]) != self.shape_:
            raise InputError(
                f"ChannelScaler was fitted on samples of shape {self.shape_} but got "
                f"{tuple(X.shape[1:])}. Pass samples shaped as in fit (channels last)."
            )
        mean = self.mean_.astype(np.float32)
        scale = self.scale_.astype(np.float32)
        return (X.astype(np.float32, copy=False) - mean) / scale

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """One name per channel, ``"channel k"``: what messages call the network's inputs."""
        check_is_fitted(self, "mean_")
        return np.array([f"channel {k}" for k in range(len(self.mean_))], dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        return tags


def _as_tensor(X) -> np.ndarray:
    """``X`` as a numeric array of at least 2 dimensions, or an InputError saying why not."""
    X = np.asarray(X)
    if X.ndim < 2 or X.dtype.kind not in "biuf":
        raise InputError(
            f"ChannelScaler needs a numeric array of shape (n_samples, ..., n_channels); got "
            f"dtype {X.dtype} and shape {X.shape}."
        )
    if len(X) == 0:
        raise InputError("ChannelScaler got 0 samples; at least 1 is required.")
    return X
