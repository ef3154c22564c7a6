"""A default classifier refitted on every row after early stopping: an experiment's candidate.

Early stopping holds out a validation split (a fifth of the rows) to find how long to
train; the network that is kept never trains on those rows. Refitting is the usual
answer: a second network trained on every row, with the split's verdicts (the epoch
count, whether the logistic average helps) as fixed settings. On a small, imbalanced
table the split holds a fifth of a rare class's few rows, which is where it may matter.

:class:`RefitOnAllRows` composes two public estimators, so that
``benchmarks/defaults_ablation.py --sections refit`` can measure the idea before the
library builds it:

1. ``SafeKerasClassifier(random_state=...)`` at its defaults (the first fit);
2. ``SafeKerasClassifier(early_stopping=False, epochs=first.best_epoch_,
   batch_size=first.batch_size_, linear_baseline="logistic" or None, as the first
   kept it)`` on every row.

``predict_proba`` is the second's probabilities or (``average=True``) the mean of both
fits'. ``predict`` applies the first fit's decision rule (its ``threshold_`` or
``class_multipliers_``, through :func:`safekeras.decision.rule.predicted_labels`); under
the default balanced-accuracy scoring that rule is the training class shares, which the
rows of the second fit share up to the stratified split's rounding.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from safekeras import SafeKerasClassifier
from safekeras.decision.rule import positive_index, predicted_labels

__all__ = ["RefitOnAllRows"]


class RefitOnAllRows(ClassifierMixin, BaseEstimator):
    """The default classifier, then a second one on every row for the first's best epoch count.

    Parameters
    ----------
    random_state : int, default=0
        Seeds both fits.
    average : bool, default=False
        Whether ``predict_proba`` averages the two fits' probabilities (else the
        second's alone).
    """

    def __init__(self, random_state=0, average=False):
        self.random_state = random_state
        self.average = average

    def fit(self, X, y):
        """Fit the default classifier, then refit on every row.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)

        Returns
        -------
        self
        """
        first = SafeKerasClassifier(random_state=self.random_state).fit(X, y)
        second = SafeKerasClassifier(
            random_state=self.random_state,
            early_stopping=False,
            epochs=max(1, int(first.best_epoch_)),
            batch_size=first.batch_size_,
            linear_baseline=None if first.linear_baseline_ is None else "logistic",
        ).fit(X, y)
        self.first_, self.second_ = first, second
        self.classes_ = first.classes_
        # What the ablation's tables report as the settings a fit ran with.
        self.batch_size_, self.patience_ = first.batch_size_, first.patience_
        self.n_epochs_ = first.n_epochs_ + second.n_epochs_
        return self

    def predict_proba(self, X):
        """The refitted network's probabilities, or their mean with the first fit's.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        proba = self.second_.predict_proba(X)
        return (proba + self.first_.predict_proba(X)) / 2 if self.average else proba

    def predict(self, X):
        """Labels of :meth:`predict_proba` under the first fit's decision rule.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        first = self.first_
        positive = (
            positive_index(first.classes_, first.pos_label_)
            if first.target_type_ == "binary"
            else None
        )
        return predicted_labels(
            self.predict_proba(X),
            first.target_type_,
            np.asarray(first.classes_),
            first.threshold_,
            positive,
            first.class_multipliers_,
        )
