"""Multiclass class multipliers tuned on held-out probabilities: the measured alternative.

``SafeKerasClassifier(threshold="auto")`` divides each class's probability by its
training share (``class_multipliers_``), the Bayes rule for balanced accuracy, with no
held-out data. :class:`HeldOutMultipliers` is the other way ``benchmarks/defaults_ablation.py``
measures against it: the multipliers that maximise balanced accuracy on out-of-fold
probabilities of the training rows (``folds`` internal fits, as ``threshold_cv`` does for a
binary threshold), found by coordinate ascent from the prior-corrected ones.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict

# Candidate factors for one class's multiplier per pass, on a log scale around its value.
_FACTORS = np.exp(np.linspace(-2.0, 2.0, 41))
_PASSES = 3


def tune_multipliers(proba: np.ndarray, y: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Multipliers maximising the balanced accuracy of ``argmax(proba * m)`` on ``y``.

    Coordinate ascent from ``start``: each pass tries every factor of
    ``_FACTORS`` on each class's multiplier in turn and keeps the best (ties keep
    the current value, so a flat surface leaves ``start`` as it is).
    """
    multipliers = start.astype(np.float64).copy()

    def score(m):
        return balanced_accuracy_score(y, np.argmax(proba * m, axis=1))

    best = score(multipliers)
    for _ in range(_PASSES):
        for c in range(len(multipliers)):
            for factor in _FACTORS:
                trial = multipliers.copy()
                trial[c] *= factor
                value = score(trial)
                if value > best:
                    best, multipliers = value, trial
    return multipliers


class HeldOutMultipliers(ClassifierMixin, BaseEstimator):
    """``estimator`` (a multiclass SafeKerasClassifier) with multipliers tuned out of fold."""

    def __init__(self, estimator=None, folds=5, random_state=0):
        self.estimator = estimator
        self.folds = folds
        self.random_state = random_state

    def fit(self, X, y):
        base = clone(self.estimator).set_params(threshold=None)
        self.fitted_ = clone(base).fit(X, y)
        self.classes_ = self.fitted_.classes_
        splitter = StratifiedKFold(self.folds, shuffle=True, random_state=self.random_state)
        proba = cross_val_predict(base, X, y, cv=splitter, method="predict_proba")
        encoded = np.searchsorted(self.classes_, y)
        priors = np.bincount(encoded, minlength=len(self.classes_)) / len(encoded)
        self.class_multipliers_ = tune_multipliers(proba, encoded, 1.0 / priors)
        return self

    def predict_proba(self, X):
        return self.fitted_.predict_proba(X)

    def predict(self, X):
        return self.classes_[np.argmax(self.predict_proba(X) * self.class_multipliers_, axis=1)]
