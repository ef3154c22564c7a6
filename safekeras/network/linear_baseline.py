"""The regressor's linear baseline: a ridge fit the network learns the residual of.

A default ``SafeKerasRegressor`` (``linear_baseline="auto"``) first fits
scikit-learn's :class:`~sklearn.linear_model.RidgeCV` (the penalty chosen by its
efficient leave-one-out search over :data:`ALPHAS`, on at most :data:`SEARCH_ROWS`
rows) on the network's own
inputs (the standardised numeric and one-hot columns; not the spline
embeddings, see :func:`linear_columns`) and the transformed target. The
network then learns what the ridge leaves: the residual, divided by its
root-mean-square so that it keeps the unit spread the network's defaults
were chosen for. ``predict`` adds the two back:

    z = ridge(x) + scale * network(x)

It is a linear shortcut beside the network (as in "wide and deep" models),
fitted in closed form rather than by gradient steps: on a nearly linear table
the network no longer has to rediscover the linear part from a few hundred
rows, and early stopping starts from the ridge's error, not the mean's. The
numbers that chose it are in ``docs/defaults.md``.

The baseline is applied by the fitted network step
(:class:`~safekeras.network.fitted.FittedNetwork`), so ``pipeline_.predict``,
``predict`` and ``to_keras()`` agree; the estimator shows it as
``linear_baseline_``.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.linear_model import Ridge, RidgeCV
from sklearn.utils.validation import check_is_fitted

__all__ = [
    "ALPHAS",
    "MIN_SCALE",
    "SEARCH_ROWS",
    "LinearBaseline",
    "LinearOnColumns",
    "linear_columns",
]

#: The ridge penalties searched (``RidgeCV``'s leave-one-out on the training split): the grid
#: of the benchmarks' "tuned linear" anchor, from nearly unpenalised to strongly shrunk.
ALPHAS = np.logspace(-3, 3, 13)

#: The most rows ``RidgeCV``'s search reads; a larger split is then fitted by ``Ridge`` at the
#: penalty chosen. The search's cost grows with rows x columns² (its SVD): 4.7 s on 100 000 x
#: 200 against 0.9 s for the search on 10 000 rows and the fit on all; the penalty of a sum of
#: squared errors does not scale with the rows, so it carries over.
SEARCH_ROWS = 10_000

#: The smallest residual scale divided by: a target the ridge fits to rounding (a linear
#: ``y``) leaves residuals of float noise, which must not be blown up to unit spread.
MIN_SCALE = 1e-6


def linear_columns(preprocessor, width: int) -> np.ndarray:
    """The network input columns the ridge reads: all but the spline embeddings.

    Measured (``docs/defaults.md``): a ridge on the splines as well (an additive
    model) cost the nearly linear tables much of the gain, since its residuals are
    what the network would have learnt itself.

    Parameters
    ----------
    preprocessor : fitted transformer or None
        The estimator's fitted preprocessing; a fitted ``"auto"``
        ``ColumnTransformer`` names its spline block ``"splines"``.
    width : int
        The number of columns the preprocessing gives.

    Returns
    -------
    ndarray of int
        Column indices, in order.
    """
    keep = np.ones(width, dtype=bool)
    splines = getattr(preprocessor, "output_indices_", {}).get("splines")
    if splines is not None:
        keep[splines] = False
    return np.flatnonzero(keep)


class LinearOnColumns:
    """``x[:, columns] @ coef_ + intercept_``: the linear part both baselines share."""

    def _selected(self, x: np.ndarray) -> np.ndarray:
        return x if self.columns is None else x[:, np.asarray(self.columns, dtype=np.intp)]

    def _linear(self, x: np.ndarray) -> np.ndarray:
        return self._selected(x) @ self.coef_ + self.intercept_


class LinearBaseline(LinearOnColumns, BaseEstimator):
    """A ridge regression on some input columns, and the scaled residual it leaves.

    Parameters
    ----------
    columns : array-like of int or None, default=None
        The input columns the ridge reads (None: all).

    Attributes
    ----------
    coef_ : ndarray of shape (n_columns, n_outputs)
        The ridge's coefficients on ``columns``.
    intercept_ : ndarray of shape (n_outputs,)
    alpha_ : float
        The penalty ``RidgeCV`` chose.
    scale_ : ndarray of shape (n_outputs,)
        The (weighted) root-mean-square of the training residual of each
        output, at least :data:`MIN_SCALE`: what the residual is divided by.
    target_variance_ : ndarray of shape (n_outputs,)
        The (weighted) variance of each training target column.
    n_features_in_ : int
        The width of the inputs it was fitted on.
    """

    def __init__(self, columns=None):
        self.columns = columns

    def fit(self, x, z, sample_weight=None):
        """Fit the ridge of ``z`` on ``x[:, columns]`` and the residual's scale.

        Parameters
        ----------
        x : ndarray of shape (n_samples, n_features)
            The network's inputs (preprocessed).
        z : ndarray of shape (n_samples, n_outputs)
            The target as the network would learn it (transformed).
        sample_weight : ndarray of shape (n_samples,) or None

        Returns
        -------
        self
        """
        x = np.asarray(x, dtype=np.float64)
        z = np.asarray(z, dtype=np.float64).reshape(len(z), -1)
        ridge = self._ridge(self._selected(x), z, sample_weight)
        self.coef_ = np.asarray(ridge.coef_, dtype=np.float64).reshape(z.shape[1], -1).T
        self.intercept_ = np.asarray(ridge.intercept_, dtype=np.float64).reshape(z.shape[1])
        self.alpha_ = float(ridge.alpha_)
        self.n_features_in_ = x.shape[1]
        residual = z - self._linear(x)
        mean_square = np.average(residual**2, axis=0, weights=sample_weight)
        self.scale_ = np.maximum(np.sqrt(mean_square), MIN_SCALE)
        centred = z - np.average(z, axis=0, weights=sample_weight)
        self.target_variance_ = np.average(centred**2, axis=0, weights=sample_weight)
        return self

    def residual(self, x, z) -> np.ndarray:
        """What the network learns: ``(z - ridge(x)) / scale_``.

        Parameters
        ----------
        x : ndarray of shape (n_samples, n_features)
        z : ndarray of shape (n_samples, n_outputs)

        Returns
        -------
        ndarray of shape (n_samples, n_outputs), float64
        """
        check_is_fitted(self)
        z = np.asarray(z, dtype=np.float64).reshape(len(z), -1)
        return (z - self._linear(np.asarray(x, dtype=np.float64))) / self.scale_

    def combine(self, x, outputs) -> np.ndarray:
        """The predicted target: ``ridge(x) + scale_ * outputs``.

        Parameters
        ----------
        x : ndarray of shape (n_samples, n_features)
            The inputs the network read.
        outputs : ndarray of shape (n_samples, n_outputs)
            The network's outputs for them.

        Returns
        -------
        ndarray of shape (n_samples, n_outputs), float64
        """
        check_is_fitted(self)
        linear = self._linear(np.asarray(x, dtype=np.float64))
        return linear + self.scale_ * np.asarray(outputs, dtype=np.float64)

    def baseline_loss(self) -> float:
        """The squared error of predicting the target's mean, in the residual's units.

        A network that learnt nothing beyond the mean would have a residual loss
        of ``target_variance_ / scale_**2`` (``1 / scale_**2`` for a
        standardised target), averaged over the outputs as Keras averages the
        loss.

        Returns
        -------
        float
        """
        check_is_fitted(self)
        return float(np.mean(self.target_variance_ / self.scale_**2))

    @staticmethod
    def _ridge(x, z, sample_weight):
        """``RidgeCV`` on the rows, or its penalty from :data:`SEARCH_ROWS` of them."""
        if len(x) <= SEARCH_ROWS:
            return RidgeCV(alphas=ALPHAS).fit(x, z, sample_weight=sample_weight)
        rows = np.linspace(0, len(x) - 1, SEARCH_ROWS).astype(np.intp)  # spread over the split
        weights = None if sample_weight is None else sample_weight[rows]
        alpha = RidgeCV(alphas=ALPHAS).fit(x[rows], z[rows], sample_weight=weights).alpha_
        ridge = Ridge(alpha=alpha).fit(x, z, sample_weight=sample_weight)
        ridge.alpha_ = alpha  # as RidgeCV names it
        return ridge
