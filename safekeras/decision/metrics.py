"""Imbalance-aware metrics and scorers: the implementation of :mod:`safekeras.metrics`.

Documented there. Each metric is a function of the resolved task
(:mod:`safekeras.decision.classifier_task`), the labels and one response;
:func:`imbalance_scoring` wraps them as scikit-learn scorers and
:func:`~safekeras.decision.imbalance_report.imbalance_report` computes them all.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    balanced_accuracy_score,
    brier_score_loss,
    precision_recall_fscore_support,
    recall_score,
    roc_auc_score,
)
from sklearn.preprocessing import label_binarize

from .classifier_task import _check_y, _predictions, _Task, _task

__all__ = ["imbalance_scoring"]

_SCORE_NAMES = (
    "balanced_accuracy",
    "f1",
    "precision",
    "recall",
    "specificity",
    "geometric_mean",
    "average_precision",
    "roc_auc",
    "neg_brier_score",
)


def _averaged(task: _Task) -> dict:
    """Keyword arguments that pick the positive class (binary) or the macro average."""
    if task.binary:
        return {"pos_label": task.pos_label, "average": "binary"}
    return {"labels": task.classes, "average": "macro"}


def _prf(task, y, pred, sw, index):
    return precision_recall_fscore_support(
        y, pred, **_averaged(task), sample_weight=sw, zero_division=0.0
    )[index]


def _class_specificity(task, y, pred, sw) -> np.ndarray:
    """One-vs-rest specificity of each class: the recall of "not this class".

    Not imblearn's ``sensitivity_specificity_support``: it mixes a sample count with
    weighted sums when ``sample_weight`` is given (imbalanced-learn issue #1180).
    """
    return np.array(
        [recall_score(y != c, pred != c, sample_weight=sw, zero_division=0.0) for c in task.classes]
    )


def _specificity(task, y, pred, sw) -> float:
    specificity = _class_specificity(task, y, pred, sw)
    return specificity[task.pos_index] if task.binary else np.mean(specificity)


def _average_precision(task, y, proba, sw):
    if task.binary:
        return average_precision_score(
            y, proba[:, task.pos_index], pos_label=task.pos_label, sample_weight=sw
        )
    # Binarising with classes_ keeps the columns aligned with predict_proba even when
    # some class is absent from y.
    indicator = label_binarize(y, classes=task.classes)
    return average_precision_score(indicator, proba, average="macro", sample_weight=sw)


def _roc_auc(task, y, proba, sw):
    if task.binary:
        # roc_auc_score has no pos_label: give it the positive class explicitly.
        return roc_auc_score(y == task.pos_label, proba[:, task.pos_index], sample_weight=sw)
    return roc_auc_score(
        y, proba, multi_class="ovr", average="macro", labels=task.classes, sample_weight=sw
    )


def _brier(task, y, proba, sw):
    if task.binary:
        return brier_score_loss(
            y, proba[:, task.pos_index], pos_label=task.pos_label, sample_weight=sw
        )
    try:
        return brier_score_loss(y, proba, labels=task.classes, sample_weight=sw)
    except TypeError as error:  # scikit-learn < 1.7 has no multiclass Brier score
        raise NotImplementedError(
            "The multiclass Brier score needs scikit-learn >= 1.7."
        ) from error


# name -> (response method, metric(task, y, response, sample_weight)); higher is better.
_METRICS: dict[str, tuple[str, Callable]] = {
    "accuracy": ("predict", lambda t, y, p, sw: accuracy_score(y, p, sample_weight=sw)),
    "balanced_accuracy": (
        "predict",
        lambda t, y, p, sw: balanced_accuracy_score(y, p, sample_weight=sw),
    ),
    "precision": ("predict", lambda t, y, p, sw: _prf(t, y, p, sw, 0)),
    "recall": ("predict", lambda t, y, p, sw: _prf(t, y, p, sw, 1)),
    "f1": ("predict", lambda t, y, p, sw: _prf(t, y, p, sw, 2)),
    "specificity": ("predict", _specificity),
    "geometric_mean": (
        "predict",
        lambda t, y, p, sw: _geometric_mean(y, p, labels=t.classes, sample_weight=sw),
    ),
    "average_precision": ("predict_proba", _average_precision),
    "roc_auc": ("predict_proba", _roc_auc),
    "neg_brier_score": ("predict_proba", lambda t, y, p, sw: -_brier(t, y, p, sw)),
}


class _ImbalanceScorer:
    """A scikit-learn scorer ``(estimator, X, y) -> float`` resolving the positive class
    from each fitted estimator, so that string labels need no ``pos_label``."""

    def __init__(self, name: str, pos_label=None):
        self.name = name
        self.pos_label = pos_label

    def __call__(self, estimator, X, y, sample_weight=None) -> float:
        task = _task(estimator, self.pos_label)
        y = _check_y(task, y, estimator)
        response_method, metric = _METRICS[self.name]
        response = _predictions(estimator, task, X, len(y), response_method)
        return float(metric(task, y, response, sample_weight))

    def __repr__(self) -> str:
        return f"imbalance_scoring(pos_label={self.pos_label!r})[{self.name!r}]"


def imbalance_scoring(pos_label=None) -> dict[str, Callable]:
    """Scorers for ``cross_validate``, ``GridSearchCV`` and friends.

    Parameters
    ----------
    pos_label : label, default=None
        Positive class of a binary target. None: resolved per fitted estimator
        (its ``pos_label_``, else ``classes_[1]``), which works for string
        labels. Must be None for multiclass targets.

    Returns
    -------
    scoring : dict of str to callable
        Keys ``balanced_accuracy``, ``f1``, ``precision``, ``recall``,
        ``specificity``, ``geometric_mean``, ``average_precision``, ``roc_auc``
        and ``neg_brier_score`` (see the module docstring); every value is a
        scorer ``(estimator, X, y) -> float``, greater is better.

    Examples
    --------
    >>> from sklearn.model_selection import GridSearchCV
    >>> from sklearn.linear_model import LogisticRegression
    >>> search = GridSearchCV(
    ...     LogisticRegression(), {"C": [0.1, 1.0]},
    ...     scoring=imbalance_scoring(), refit="balanced_accuracy",
    ... )
    """
    return {name: _ImbalanceScorer(name, pos_label) for name in _SCORE_NAMES}


def _geometric_mean(y_true, y_pred, **kwargs) -> float:
    # imbalanced-learn takes about 0.3 s to import: only when this scorer runs.
    from imblearn.metrics import geometric_mean_score

    return geometric_mean_score(y_true, y_pred, **kwargs)
