"""The classifier's linear baseline: a logistic regression averaged with the network.

A default ``SafeKerasClassifier`` (``linear_baseline="auto"``) fits scikit-learn's
:class:`~sklearn.linear_model.LogisticRegression` (its default penalty, ``C=1``, on
the standardised inputs) on the network's own inputs (the scaled numeric and
one-hot columns; not spline embeddings, see
:func:`~safekeras.network.linear_baseline.linear_columns`), on the rows and
weights the network trains on. After training, the two are averaged in logit
space:

    z = (logit(network(x)) + logistic(x)) / 2,    probabilities = sigmoid(z) or softmax(z)

and the average is kept only when it lowers the weighted log-loss of the
network's own validation split (:func:`kept_if_better`). So a nearly linear
table, where a few hundred rows leave the network noisier than the logistic
regression, gets the pair's better ranking and calibration, and a table the
logistic regression cannot describe (interactions, clusters) keeps the network
alone, unchanged. The numbers that chose this rule are in ``docs/defaults.md``.

The average is applied by the fitted network step
(:class:`~safekeras.network.fitted.FittedNetwork`), so ``pipeline_.predict``,
``predict_proba``, the threshold search and ``to_keras()`` agree; the estimator
shows it as ``linear_baseline_``.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn import config_context
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_is_fitted

from .inference import sigmoid, softmax
from .linear_baseline import LinearOnColumns, linear_columns
from .training import normalise_weights

__all__ = [
    "MAX_ITER",
    "PROBABILITY_FLOOR",
    "LogisticBaseline",
    "fit_on_network_inputs",
    "kept_if_better",
    "log_loss",
    "network_logits",
    "validation_losses",
]

#: Iterations of the logistic regression's solver (lbfgs). It starts from zero on
#: standardised columns and converges in tens of iterations on the tables measured; a
#: fit that has not converged by then is still a fair linear model to average with.
MAX_ITER = 500

#: Probabilities are clipped to ``[PROBABILITY_FLOOR, 1 - PROBABILITY_FLOOR]`` before their
#: logit: a float32 sigmoid cannot tell ``1 - p`` apart below about 6e-8, so the network's
#: logits are read within about +-16 (a probability of 1 - 1e-7).
PROBABILITY_FLOOR = 1e-7


class LogisticBaseline(LinearOnColumns, BaseEstimator):
    """A logistic regression on some input columns, averaged with the network's logits.

    Parameters
    ----------
    columns : array-like of int or None, default=None
        The input columns the logistic regression reads (None: all).

    Attributes
    ----------
    coef_ : ndarray of shape (n_columns, n_logits)
        The logistic regression's coefficients on ``columns``, one column per
        network output: one logit for a binary target under a sigmoid head, one
        per class under a softmax head (a binary target's first column is then
        zeros: its logit is the second class's against the first).
    intercept_ : ndarray of shape (n_logits,)
    n_features_in_ : int
        The width of the inputs it was fitted on.
    """

    def __init__(self, columns=None):
        self.columns = columns

    def fit(self, x, y, sample_weight=None, *, n_classes: int = 2, n_logits: int | None = None):
        """Fit the logistic regression of the class indices ``y`` on ``x[:, columns]``.

        Parameters
        ----------
        x : ndarray of shape (n_samples, n_features)
            The network's inputs (preprocessed).
        y : ndarray of shape (n_samples,)
            Class indices ``0 .. n_classes - 1``, every class present.
        sample_weight : ndarray of shape (n_samples,) or None
            The weights the network trains with.
        n_classes : int, default=2
            The number of classes.
        n_logits : int or None, default=None
            The network's outputs, which ``combine`` averages with: None means
            1 for two classes (a sigmoid head), else ``n_classes``. A binary
            target under a two-unit softmax head takes 2.

        Returns
        -------
        self

        Raises
        ------
        ValueError
            If a class has no training row (the network's split keeps them all),
            or ``n_logits`` is neither 1 (two classes only) nor ``n_classes``.
        """
        n_logits = (1 if n_classes == 2 else n_classes) if n_logits is None else n_logits
        if n_logits != n_classes and not (n_logits == 1 and n_classes == 2):
            raise ValueError(f"LogisticBaseline.fit: {n_logits} logits for {n_classes} classes")
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y).ravel().astype(np.intp)
        if not np.array_equal(np.unique(y), np.arange(n_classes)):
            raise ValueError(f"LogisticBaseline.fit needs every one of {n_classes} classes in y")
        # Not converged is still a linear model fitted as far as MAX_ITER took it. The
        # parameters are this module's own, valid by construction: scikit-learn need not
        # check them again on every fit (the setting is thread-local, restored on exit).
        with warnings.catch_warnings(), config_context(skip_parameter_validation=True):
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = LogisticRegression(max_iter=MAX_ITER).fit(
                self._selected(x), y, sample_weight=sample_weight
            )
        coef = np.asarray(model.coef_, dtype=np.float64).T
        intercept = np.asarray(model.intercept_, dtype=np.float64)
        if n_logits == 2 and n_classes == 2:  # softmax logits: the first class's is 0
            coef = np.hstack([np.zeros_like(coef), coef])
            intercept = np.concatenate([np.zeros_like(intercept), intercept])
        self.coef_ = coef.copy()
        self.intercept_ = intercept.copy()
        self.n_features_in_ = x.shape[1]
        return self

    def logits(self, x) -> np.ndarray:
        """The logistic regression's logits of ``x``, shape (n_samples, n_logits).

        Parameters
        ----------
        x : ndarray of shape (n_samples, n_features)

        Returns
        -------
        ndarray, float64
        """
        check_is_fitted(self)
        return self._linear(np.asarray(x, dtype=np.float64))

    def combine(self, x, probabilities) -> np.ndarray:
        """The averaged probabilities: the activation of ``(logit(network) + logistic(x)) / 2``.

        Parameters
        ----------
        x : ndarray of shape (n_samples, n_features)
            The inputs the network read.
        probabilities : ndarray of shape (n_samples, n_logits)
            The network's probabilities for them (a sigmoid column, or softmax rows).

        Returns
        -------
        ndarray of shape (n_samples, n_logits), float64
        """
        averaged = (network_logits(probabilities) + self.logits(x)) / 2.0
        return sigmoid(averaged) if averaged.shape[1] == 1 else softmax(averaged)

    def baseline_loss(self) -> None:
        """None: the network learnt the labels themselves, so the profile's baseline stands."""
        return None


def network_logits(probabilities) -> np.ndarray:
    """Logits of a network's probabilities: ``logit(p)`` of a sigmoid column, ``log(p)`` of softmax.

    Softmax logits are read up to a constant per row, which the softmax of the
    average ignores. Probabilities are clipped to :data:`PROBABILITY_FLOOR`.

    Parameters
    ----------
    probabilities : ndarray of shape (n_samples, n_logits)

    Returns
    -------
    ndarray of shape (n_samples, n_logits), float64
    """
    p = np.clip(
        np.asarray(probabilities, dtype=np.float64), PROBABILITY_FLOOR, 1 - PROBABILITY_FLOOR
    )
    if p.shape[1] == 1:
        return np.log(p) - np.log1p(-p)
    return np.log(p)


def log_loss(probabilities, y, sample_weight=None) -> float:
    """The weighted mean cross-entropy of class indices ``y`` under ``probabilities``.

    Parameters
    ----------
    probabilities : ndarray of shape (n_samples, n_logits)
        A sigmoid column (the positive class's probability) or softmax rows.
    y : ndarray of shape (n_samples,)
        Class indices.
    sample_weight : ndarray of shape (n_samples,) or None

    Returns
    -------
    float
    """
    p = np.clip(
        np.asarray(probabilities, dtype=np.float64), PROBABILITY_FLOOR, 1 - PROBABILITY_FLOOR
    )
    y = np.asarray(y).ravel().astype(np.intp)
    if p.shape[1] == 1:
        given = np.where(y == 1, p[:, 0], 1.0 - p[:, 0])
    else:
        given = p[np.arange(len(y)), y]
    return float(np.average(-np.log(given), weights=sample_weight))


def fit_on_network_inputs(preprocessor, x, y, sample_weight, n_classes: int, n_logits=None):
    """A :class:`LogisticBaseline` of the network's training rows, as the network weighs them.

    None when a class has no training row (a class too small for the split to
    stratify): a logistic regression cannot give it a logit, and the network,
    built for every class, stands alone.

    Parameters
    ----------
    preprocessor : fitted transformer or None
        The fit's preprocessing: its spline block, if any, is left out
        (:func:`~safekeras.network.linear_baseline.linear_columns`).
    x : ndarray of shape (n_samples, n_features)
        The network's training inputs.
    y : ndarray of shape (n_samples,)
        Their class indices.
    sample_weight : ndarray of shape (n_samples,) or None
        The weights the network trains with (normalised to mean 1).
    n_classes : int
    n_logits : int or None, default=None
        The network's outputs (see :meth:`LogisticBaseline.fit`).

    Returns
    -------
    LogisticBaseline or None
    """
    if len(np.unique(np.asarray(y).ravel())) < n_classes:
        return None
    columns = linear_columns(preprocessor, x.shape[1])
    weights = None if sample_weight is None else normalise_weights(sample_weight, "float64")
    return LogisticBaseline(columns=columns).fit(
        x, y, weights, n_classes=n_classes, n_logits=n_logits
    )


def validation_losses(baseline, network_probabilities, x_val, y_val, w_val) -> tuple:
    """The validation log-loss of the network alone, and of its average with ``baseline``.

    Parameters
    ----------
    baseline : LogisticBaseline
        Fitted on the training split.
    network_probabilities : ndarray of shape (n_val, n_logits)
        The trained network's probabilities of the validation rows.
    x_val : ndarray of shape (n_val, n_features)
    y_val : ndarray of shape (n_val,)
        Class indices.
    w_val : ndarray of shape (n_val,) or None
        The weights the validation loss reads.

    Returns
    -------
    (float, float)
        ``(alone, averaged)``.
    """
    alone = log_loss(network_probabilities, y_val, w_val)
    averaged = log_loss(baseline.combine(x_val, network_probabilities), y_val, w_val)
    return alone, averaged


def kept_if_better(baseline, network_probabilities, x_val, y_val, w_val):
    """``baseline`` if averaging with it lowers the validation log-loss, else None.

    Parameters
    ----------
    baseline, network_probabilities, x_val, y_val, w_val
        As :func:`validation_losses` reads them.

    Returns
    -------
    LogisticBaseline or None
    """
    alone, averaged = validation_losses(baseline, network_probabilities, x_val, y_val, w_val)
    return baseline if averaged < alone else None
