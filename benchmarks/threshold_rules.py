"""The binary decision rule before the prior threshold: the measured alternative.

``SafeKerasClassifier()`` now sets a binary threshold for balanced accuracy to the
positive class's training share, the Bayes rule for that scoring, with no held-out
rows. :class:`HeldOutThreshold` is the rule it replaced, which
``benchmarks/defaults_ablation.py --sections threshold`` measures against it: the
threshold tuned for balanced accuracy on the validation split when that split holds
at least ``MIN_CLASS_COUNT`` rows of each class, else on out-of-fold probabilities of
5 internal fits (``threshold_cv="auto"`` before the prior rule).
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone

from safekeras import SafeKerasClassifier
from safekeras.decision import thresholds


class HeldOutThreshold(ClassifierMixin, BaseEstimator):
    """``estimator`` (a binary SafeKerasClassifier) with its threshold tuned on held-out rows.

    ``fit`` picks ``threshold_cv`` as ``"auto"`` did before the prior rule:
    None (the validation split) when the split would hold enough rows of the
    rarer class, else that many folds (``thresholds.auto_cv_folds``).
    """

    def __init__(self, estimator=None):
        self.estimator = estimator

    def fit(self, X, y):
        base = SafeKerasClassifier() if self.estimator is None else self.estimator
        counts = np.unique(np.asarray(y), return_counts=True)[1]
        folds = thresholds.auto_cv_folds(counts, base.validation_fraction)
        self.estimator_ = clone(base).set_params(threshold_cv=folds).fit(X, y)
        self.classes_ = self.estimator_.classes_
        for name in ("batch_size_", "patience_", "n_epochs_"):
            setattr(self, name, getattr(self.estimator_, name))
        return self

    def predict(self, X):
        return self.estimator_.predict(X)

    def predict_proba(self, X):
        return self.estimator_.predict_proba(X)
