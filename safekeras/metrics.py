"""Imbalance-aware evaluation of any fitted scikit-learn classifier.

Accuracy hides a useless classifier on imbalanced data (always predicting the
majority class scores 0.9 when 90% of the samples belong to it). This module
reports and scores what does not: per-class recall and specificity, their
geometric mean, balanced accuracy, and the precision-recall curve of the
minority class. Every number comes from a scikit-learn or imbalanced-learn
metric; nothing is re-implemented here.

Two kinds of metrics are kept apart, because they answer different questions:

- *threshold-dependent* ones use ``estimator.predict(X)``, so they score the
  decisions the estimator actually makes, with whatever threshold it applies
  (``threshold_`` of :class:`~safekeras.SafeKerasClassifier`, a
  :class:`~sklearn.model_selection.TunedThresholdClassifierCV`, ...);
- *ranking and probability* ones use ``estimator.predict_proba(X)`` and do not
  depend on the threshold.

The names below are shared by :func:`imbalance_report` (attributes of
:class:`ImbalanceReport`) and :func:`imbalance_scoring` (keys of the scoring
dict). For a binary target the positive class is ``pos_label`` if given, else
the estimator's ``pos_label_`` (:class:`~safekeras.SafeKerasClassifier`), else
the ``pos_label`` of a :class:`~sklearn.model_selection.FixedThresholdClassifier`,
else ``classes_[1]``. It is resolved per fitted estimator, so string labels work
without naming it. For multiclass targets, per-class scores are macro-averaged
(every class counts the same, however rare).

==================== ========== ===================================================
name                 uses       meaning
==================== ========== ===================================================
balanced_accuracy    predict    mean recall over classes
                                (:func:`~sklearn.metrics.balanced_accuracy_score`)
f1                   predict    F1 of the positive class; multiclass: macro F1
precision            predict    precision of the positive class; multiclass: macro
recall               predict    recall (sensitivity) of the positive class;
                                multiclass: macro
specificity          predict    true-negative rate of the positive class, i.e. the
                                recall of the other class; multiclass: macro of
                                the one-vs-rest specificities
geometric_mean       predict    G-mean: geometric mean of the per-class recalls
                                (:func:`imblearn.metrics.geometric_mean_score`);
                                binary: sqrt(recall * specificity). 0 as soon as
                                one class is never recognised
average_precision    proba      PR-AUC of the positive class
                                (:func:`~sklearn.metrics.average_precision_score`);
                                multiclass: macro one-vs-rest
roc_auc              proba      ROC-AUC (:func:`~sklearn.metrics.roc_auc_score`);
                                multiclass: macro one-vs-rest
neg_brier_score      proba      minus :func:`~sklearn.metrics.brier_score_loss`
                                (binary: on P(positive), in [0, 1]; multiclass:
                                over all classes, in [0, 2], scikit-learn >= 1.7)
==================== ========== ===================================================

:class:`ImbalanceReport` also has ``accuracy`` (for contrast), ``brier_score``
(the loss itself, lower is better), per-class precision, recall, F1,
specificity, geometric mean and support, the confusion matrix, the class counts
and the decision threshold.

Multilabel-indicator targets are not handled (:class:`~safekeras.TargetError`):
evaluate each label as its own binary problem.

Examples
--------
>>> from sklearn.datasets import make_classification
>>> from sklearn.linear_model import LogisticRegression
>>> from sklearn.model_selection import cross_validate
>>> from safekeras.metrics import imbalance_report, imbalance_scoring
>>> X, y = make_classification(weights=[0.9, 0.1], random_state=0)
>>> clf = LogisticRegression().fit(X, y)
>>> report = imbalance_report(clf, X, y)
>>> report.minority_class, report.threshold
(1, None)
>>> cv = cross_validate(LogisticRegression(), X, y, scoring=imbalance_scoring(), cv=3)
>>> sorted(key for key in cv if key.startswith("test_"))[:3]
['test_average_precision', 'test_balanced_accuracy', 'test_f1']
"""

from __future__ import annotations

from .decision.imbalance_report import ImbalanceReport, imbalance_report
from .decision.metrics import imbalance_scoring

__all__ = [
    "ImbalanceReport",
    "imbalance_report",
    "imbalance_scoring",
]
