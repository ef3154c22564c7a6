"""Robust scaling and smooth clipping of numeric columns: RealMLP-TD's preprocessing.

Holzmüller, Grinsztajn and Steinwart (2024), "Better by default: strong pre-tuned
MLPs and boosted trees on tabular data", scale each numeric column robustly and
then squash it smoothly, so that a heavy tail or an outlier neither dominates
the column's scale (as it does a standard deviation's) nor reaches the network
as a huge input. skrub's ``SquashingScaler`` is the same transformer; it is
written out here because skrub is no dependency of this project, and only
``benchmarks/defaults_ablation.py --sections scaling`` uses it.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

__all__ = ["RobustSoftClip"]


class RobustSoftClip(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Centre on the median, divide by the interquartile range, then squash smoothly.

    Each column ``x`` becomes ``z / sqrt(1 + (z / bound)**2)`` with
    ``z = (x - median) / spread``: near the identity for ``|z|`` well under
    ``bound``, and never beyond ``±bound``. The spread is the interquartile
    range; where that is 0 (a column mostly of one value, such as a rare
    binary flag) it is half the column's range, as in RealMLP-TD; a constant
    column becomes 0.

    Parameters
    ----------
    bound : float, default=3.0
        The value the squashed column tends to, on either side.

    Attributes
    ----------
    center_ : ndarray of shape (n_features,)
        Each column's training median.
    factor_ : ndarray of shape (n_features,)
        One over each column's spread (0 for a constant column).
    n_features_in_ : int
    """

    def __init__(self, bound=3.0):
        self.bound = bound

    def fit(self, X, y=None):
        """Learn each column's median and spread.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Finite numbers (impute missing values first).
        y : None
            Ignored.

        Returns
        -------
        self : RobustSoftClip
        """
        X = validate_data(self, X, dtype=np.float64)
        self.center_ = np.median(X, axis=0)
        lower, upper = np.quantile(X, [0.25, 0.75], axis=0)
        spread = upper - lower
        tied = spread == 0
        spread[tied] = 0.5 * (X.max(axis=0) - X.min(axis=0))[tied]
        self.factor_ = np.divide(1.0, spread, out=np.zeros_like(spread), where=spread > 0)
        return self

    def transform(self, X):
        """Scale and squash ``X`` with the training medians and spreads.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_features)
            Every value within ``[-bound, bound]``.
        """
        check_is_fitted(self, "factor_")
        X = validate_data(self, X, dtype=np.float64, reset=False)
        scaled = (X - self.center_) * self.factor_
        return scaled / np.sqrt(1.0 + (scaled / self.bound) ** 2)
