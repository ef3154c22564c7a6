"""The regressor's target transform (standardised, log1p for heavy tails) and its loss for counts.

The network learns the target on a scale of unit spread; ``predict`` undoes the
transform, so predictions are in the units of ``y``. ``target_transform="auto"``
chooses from the training targets only, by one documented rule
(:func:`choose_target_transform`):

* ``"log1p"`` when every target column is strictly positive (amounts, prices,
  salaries: not counts, which hold zeros), its right tail is heavy (sample
  skewness at least :data:`LOG_SKEW`) and ``log1p`` makes it more symmetric;
* ``"standard"`` (subtract the mean, divide by the standard deviation)
  otherwise.

``"log1p"`` is ``log(1 + y)`` then standardised; its inverse is
``expm1(z * scale + mean)``. It is applied to ``|y|`` with the sign of ``y``
kept (``sign(y) * log1p(|y|)``), which is ``log1p`` on the non-negative targets
"auto" chooses it for and stays defined (and invertible) for a negative value
that only a validation split, ``diagnose`` or an explicit choice brings. A
network trained on it predicts the conditional mean of ``log(1 + y)``: on a
heavy tail that is what keeps a few huge targets from dominating the squared
error, at the cost of predicting nearer the conditional median than the mean.
``benchmarks/defaults_ablation.py`` measured both on real tables
(``docs/defaults.md``): log1p cost R² on counts (bikeshare: skew 1.1, -0.056;
randhie visits, 31 % zeros, skew 4.8: -0.070) while it lowered their MAE, and
tied on R² for wages (skew 1.7; MAE better in 5 of 5 folds). Hence the rule
leaves counts and moderate skews standardised.

Counts get another loss instead (:func:`choose_regression_loss`): the Poisson
deviance of an exponential output (the log link, :mod:`safekeras.network.losses`),
on ``y`` divided by its mean (``"scale"``, no centring: a count stays
non-negative). Its network predicts the conditional *mean* of ``y``
directly, so there is no retransformation bias, as there is under log1p.
``loss="auto"`` picks it when every target column holds non-negative integers
with a skewness of at least :data:`COUNT_SKEW` (the numbers that chose it are in
``docs/defaults.md``).
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

from ..exceptions import ParameterError

__all__ = [
    "COUNT_SKEW",
    "LOG_SKEW",
    "TARGET_TRANSFORMS",
    "TargetTransformer",
    "choose_regression_loss",
    "choose_target_transform",
    "weighted_skewness",
]

#: The transforms a regressor's ``target_transform`` may name (besides "auto").
TARGET_TRANSFORMS = ("standard", "log1p", "scale")

#: Skewness from which a non-negative integer target is fitted with the Poisson deviance by
#: ``loss="auto"``: a right tail, as counts of events have; 1 is the usual "highly skewed".
COUNT_SKEW = 1.0

#: Skewness from which a strictly positive target is log-transformed by "auto": above the
#: measured tables where log1p cost R² or only tied (skew 1.1 and 1.7).
LOG_SKEW = 2.0


def weighted_skewness(y: np.ndarray, sample_weight=None) -> np.ndarray:
    """The (weighted, population) skewness of each column of ``y``; 0 for a constant column.

    Parameters
    ----------
    y : ndarray of shape (n_samples, n_targets)
    sample_weight : ndarray of shape (n_samples,) or None

    Returns
    -------
    ndarray of shape (n_targets,)
    """
    weights = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, float)
    weights = weights / weights.sum()
    centred = y - weights @ y
    second = weights @ centred**2
    third = weights @ centred**3
    spread = np.sqrt(second)
    # A spread at rounding level of the values is no spread: no tail to speak of.
    flat = spread <= 1e-12 * np.maximum(np.abs(weights @ y), 1.0)
    return np.where(flat, 0.0, third / np.where(flat, 1.0, spread) ** 3)


def choose_target_transform(y, sample_weight=None) -> str:
    """The transform ``target_transform="auto"`` picks for the training targets ``y``.

    Parameters
    ----------
    y : array-like of shape (n_samples,) or (n_samples, n_targets)
        Training targets (finite).
    sample_weight : array-like of shape (n_samples,) or None
        Their weights.

    Returns
    -------
    {"standard", "log1p"}
        ``"log1p"`` when every column is strictly positive, has a skewness
        of at least :data:`LOG_SKEW` and a smaller absolute skewness after
        ``log1p``; else ``"standard"``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> choose_target_transform(rng.lognormal(0, 1, 500))
    'log1p'
    >>> choose_target_transform(rng.normal(10, 2, 500))
    'standard'
    """
    y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
    if len(y) < 3 or np.any(y <= 0):  # counts (zeros) kept standard: log1p cost them R²
        return "standard"
    skew = weighted_skewness(y, sample_weight)
    logged = np.abs(weighted_skewness(np.log1p(y), sample_weight))
    heavy = (skew >= LOG_SKEW) & (logged < np.abs(skew))
    return "log1p" if bool(np.all(heavy)) else "standard"


def choose_regression_loss(y, sample_weight=None) -> str:
    """The loss ``loss="auto"`` picks for the regression targets ``y``.

    Parameters
    ----------
    y : array-like of shape (n_samples,) or (n_samples, n_targets)
        The targets given to ``fit`` (finite).
    sample_weight : array-like of shape (n_samples,) or None
        Their weights (zero-weight rows do not count).

    Returns
    -------
    {"poisson", "mean_squared_error"}
        ``"poisson"`` when every column holds non-negative integers, not all
        zero, with a skewness of at least :data:`COUNT_SKEW`: counts with a
        right tail. Else ``"mean_squared_error"``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> choose_regression_loss(rng.poisson(rng.lognormal(0, 1, 500)))
    'poisson'
    >>> choose_regression_loss(rng.normal(10, 2, 500))
    'mean_squared_error'
    """
    y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
    if sample_weight is not None:
        kept = np.asarray(sample_weight, dtype=np.float64) > 0
        y, sample_weight = y[kept], np.asarray(sample_weight, dtype=np.float64)[kept]
    counts = len(y) >= 3 and np.all(y >= 0) and np.all(y == np.round(y)) and np.any(y > 0)
    if not counts:
        return "mean_squared_error"
    skewed = np.all(weighted_skewness(y, sample_weight) >= COUNT_SKEW)
    return "poisson" if skewed else "mean_squared_error"


class TargetTransformer(TransformerMixin, BaseEstimator):
    """A regression target on a scale of unit spread, and back.

    Parameters
    ----------
    method : {"standard", "log1p", "scale"}, default="standard"
        ``"standard"``: ``(y - mean) / std``. ``"log1p"``: the same of
        ``sign(y) * log(1 + |y|)`` (``log(1 + y)`` for a non-negative ``y``).
        ``"scale"``: ``y / mean(|y|)``, not centred, so that a count stays a
        non-negative count of mean 1 (the Poisson loss's target).

    Attributes
    ----------
    scaler_ : sklearn.preprocessing.StandardScaler
        The standardisation, of ``y`` or of ``log1p(y)``, fitted on the
        (weighted) training targets; for ``"scale"``, not centred and with
        ``scale_`` the weighted mean of ``|y|`` (1 where that is 0).
    """

    def __init__(self, method="standard"):
        self.method = method

    def fit(self, y, sample_weight=None):
        """Fit the transform on training targets ``y`` of shape (n_samples, n_targets).

        Raises
        ------
        ParameterError
            If ``method`` is not one of :data:`TARGET_TRANSFORMS`.
        """
        if self.method not in TARGET_TRANSFORMS:
            raise ParameterError(
                f"target_transform={self.method!r} is not one of "
                f"{['auto', *TARGET_TRANSFORMS]}. Pick one of those."
            )
        y = np.asarray(y, dtype=np.float64)
        scaler = StandardScaler(with_mean=self.method != "scale")
        self.scaler_ = scaler.fit(self._forward(y), sample_weight=sample_weight)
        if self.method == "scale":
            # By the mean size rather than the spread: a Poisson head (exp(0) = 1 at its
            # initial zero bias) then starts at the mean count, the deviance's baseline.
            # Measured: dividing by the standard deviation cost R² where the spread is small
            # against the mean (docs/defaults.md). Kept a StandardScaler, which the export
            # and the persistence checks read.
            size = np.average(np.abs(y), axis=0, weights=sample_weight)
            self.scaler_.scale_ = np.where(size > 0, size, 1.0)
        return self

    def transform(self, y):
        """The targets as the network learns them."""
        check_is_fitted(self)
        return self.scaler_.transform(self._forward(np.asarray(y, dtype=np.float64)))

    def inverse_transform(self, z):
        """Network outputs back in the units of ``y`` (``inf`` where ``expm1`` overflows)."""
        check_is_fitted(self)
        unscaled = self.scaler_.inverse_transform(np.asarray(z, dtype=np.float64))
        if self.method == "log1p":
            with np.errstate(over="ignore"):  # an overflow is reported by the caller
                return np.sign(unscaled) * np.expm1(np.abs(unscaled))
        return unscaled

    def _forward(self, y: np.ndarray) -> np.ndarray:
        return np.sign(y) * np.log1p(np.abs(y)) if self.method == "log1p" else y
