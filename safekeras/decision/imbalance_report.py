"""The imbalance report: every imbalance-aware metric of a fitted classifier at once.

Documented in :mod:`safekeras.metrics`; the metrics themselves are those of
:mod:`safekeras.decision.metrics`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support
from sklearn.utils import check_consistent_length

from ..exceptions import TargetError
from .classifier_task import _check_y, _plain, _predictions, _task
from .metrics import _METRICS, _class_specificity

__all__ = ["ImbalanceReport", "imbalance_report"]


def _fmt(value) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


@dataclasses.dataclass(frozen=True, repr=False)
class ImbalanceReport:
    """Imbalance-aware evaluation of a fitted classifier on ``(X, y)``.

    Built by :func:`imbalance_report`; immutable. Sequences are tuples aligned
    with ``classes`` (the estimator's ``classes_`` order). ``str(report)`` is a
    readable fixed-width report, :meth:`to_dict` a JSON-serialisable dict.

    Attributes
    ----------
    estimator : str
        Class name of the evaluated estimator.
    target_type : {"binary", "multiclass"}
    classes : tuple
        The estimator's ``classes_``, as plain Python values.
    pos_label : label or None
        Positive class of a binary target (None for multiclass).
    threshold : float or None
        Decision threshold ``predict`` applies, read from ``threshold_``,
        ``best_threshold_`` or a ``FixedThresholdClassifier``'s ``threshold``.
        None: the estimator exposes none (its own rule: 0.5 or argmax for most
        classifiers). For a multiclass :class:`~safekeras.SafeKerasClassifier`
        whose ``predict`` corrects for the class priors, its
        ``class_multipliers_`` instead (a tuple, one per class).
    threshold_source : str or None
        Where ``threshold`` was read, e.g. ``"SafeKerasClassifier.threshold_"``.
    n_samples : int
    class_counts : tuple of int
        Samples per class in ``y`` (unweighted).
    minority_class : label
    minority_share : float
        Fraction of the samples in the smallest class.
    imbalance_ratio : float
        Largest class count over smallest.
    accuracy, balanced_accuracy, precision, recall, f1, specificity, \
geometric_mean : float
        From ``predict``; see the module docstring. ``accuracy`` is kept for
        contrast only.
    average_precision, roc_auc : float
        From ``predict_proba``.
    brier_score : float or None
        Brier score loss (lower is better); None if unavailable (multiclass with
        scikit-learn < 1.7).
    class_precision, class_recall, class_f1, class_specificity, \
class_geometric_mean : tuple of float
        Per class, one-vs-rest. ``class_geometric_mean`` is
        sqrt(recall * specificity) of each class.
    class_support : tuple of float
        Per-class support, weighted by ``sample_weight`` when given.
    confusion_matrix : tuple of tuple
        Rows: true classes, columns: predicted classes, in ``classes`` order
        (weighted sums when ``sample_weight`` is given).
    weighted : bool
        Whether ``sample_weight`` was given.
    """

    estimator: str
    target_type: str
    classes: tuple
    pos_label: Any
    threshold: Any
    threshold_source: str | None
    n_samples: int
    class_counts: tuple
    minority_class: Any
    minority_share: float
    imbalance_ratio: float
    accuracy: float
    balanced_accuracy: float
    precision: float
    recall: float
    f1: float
    specificity: float
    geometric_mean: float
    average_precision: float
    roc_auc: float
    brier_score: float | None
    class_precision: tuple
    class_recall: tuple
    class_f1: tuple
    class_specificity: tuple
    class_geometric_mean: tuple
    class_support: tuple
    confusion_matrix: tuple
    weighted: bool

    def to_dict(self) -> dict:
        """Every attribute as plain Python values (lists for tuples); JSON-serialisable."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def __repr__(self) -> str:
        return (
            f"ImbalanceReport({self.estimator}, {self.target_type}, "
            f"classes={list(self.classes)}, balanced_accuracy={self.balanced_accuracy:.4f}, "
            f"average_precision={self.average_precision:.4f}, threshold={self.threshold!r})"
        )

    def _threshold_line(self) -> str:
        if self.threshold_source is not None and self.threshold_source.endswith("multipliers_"):
            return (
                "decision rule: the class of the largest probability times its multiplier, "
                f"[{', '.join(f'{m:.4g}' for m in self.threshold)}] ({self.threshold_source})"
            )
        if self.threshold is not None:
            return f"decision threshold: {_fmt(self.threshold)} ({self.threshold_source})"
        if self.target_type == "binary":
            return (
                f"decision threshold: not exposed by {self.estimator} "
                "(its own predict rule; 0.5 on P(positive) for most classifiers)"
            )
        if self.threshold_source is not None:
            return f"decision rule: most probable class ({self.threshold_source} is None)"
        return f"decision rule: {self.estimator}.predict (the most probable class, usually)"

    def __str__(self) -> str:
        labels = [str(c) for c in self.classes]
        width = max(8, *(len(label) for label in labels)) + 2
        binary = self.target_type == "binary"
        lines = [
            f"Imbalance report for {self.estimator}: {self.target_type}, {self.n_samples} "
            f"samples, minority class {self.minority_class!r}: {self.minority_share:.1%} "
            f"(imbalance ratio {self.imbalance_ratio:.1f}:1)",
        ]
        if binary:
            lines.append(f"positive class: {self.pos_label!r}")
            if self.pos_label != self.minority_class:
                # Sorted string labels easily make the majority class classes_[1].
                lines.append(
                    f"note: the positive class is the majority class; pass "
                    f"pos_label={self.minority_class!r} to score the minority class"
                )
        lines += [
            self._threshold_line(),
            "",
            f"{'accuracy':<20}{_fmt(self.accuracy)}  (for contrast, not imbalance-aware)",
            f"{'balanced_accuracy':<20}{_fmt(self.balanced_accuracy)}",
        ]
        averaged = "positive class" if binary else "macro average"
        for name in ("precision", "recall", "f1", "specificity"):
            lines.append(f"{name:<20}{_fmt(getattr(self, name))}  ({averaged})")
        lines += [
            f"{'geometric_mean':<20}{_fmt(self.geometric_mean)}  (of the per-class recalls)",
            f"{'average_precision':<20}{_fmt(self.average_precision)}  (PR-AUC, predict_proba)",
            f"{'roc_auc':<20}{_fmt(self.roc_auc)}  (predict_proba)",
            f"{'brier_score':<20}{_fmt(self.brier_score)}  (predict_proba, lower is better)",
            "",
        ]
        columns = ("precision", "recall", "f1", "specificity", "geometric_mean", "support")
        lines.append("class".ljust(width) + "".join(c.rjust(15) for c in columns))
        per_class = zip(
            labels,
            self.class_precision,
            self.class_recall,
            self.class_f1,
            self.class_specificity,
            self.class_geometric_mean,
            self.class_support,
            strict=True,
        )
        for label, *values, support in per_class:
            cells = "".join(f"{v:15.4f}" for v in values) + f"{support:15g}"
            lines.append(label.ljust(width) + cells)
        weighted = ", weighted" if self.weighted else ""
        lines += ["", f"confusion matrix (rows: true class, columns: predicted class{weighted})"]
        lines.append(" " * width + "".join(label.rjust(width) for label in labels))
        for label, row in zip(labels, self.confusion_matrix, strict=True):
            lines.append(label.ljust(width) + "".join(f"{v:{width}g}" for v in row))
        return "\n".join(lines)


def imbalance_report(estimator, X, y, *, sample_weight=None, pos_label=None) -> ImbalanceReport:
    """Evaluate a fitted classifier with imbalance-aware metrics.

    Parameters
    ----------
    estimator : fitted classifier
        Any scikit-learn classifier with ``classes_``, ``predict`` and
        ``predict_proba`` (a Pipeline, a ``TunedThresholdClassifierCV``, a
        :class:`~safekeras.SafeKerasClassifier`...), binary or multiclass.
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
        True labels. Every class of ``estimator.classes_`` must occur (per-class
        recall and ROC-AUC are undefined otherwise), and no other label.
    sample_weight : array-like of shape (n_samples,), default=None
        Passed to every metric.
    pos_label : label, default=None
        Positive class of a binary target. None: the estimator's
        ``pos_label_``, else ``classes_[1]``.

    Returns
    -------
    report : ImbalanceReport

    Raises
    ------
    sklearn.exceptions.NotFittedError
        If the estimator is not fitted.
    safekeras.TargetError
        If ``y`` is not a binary or multiclass target (multilabel included),
        has labels the estimator never saw or lacks one of its classes, or
        ``pos_label`` is not one of the classes.
    """
    task = _task(estimator, pos_label)
    y = _check_y(task, y, estimator)
    check_consistent_length(X, y, sample_weight)
    classes = task.classes
    counts = np.array([np.count_nonzero(y == c) for c in classes])
    missing = [c for c, n in zip(classes.tolist(), counts, strict=True) if n == 0]
    if missing:
        raise TargetError(
            f"y has no samples of class(es) {missing}, so their recall, PR-AUC and ROC-AUC "
            f"are undefined. Evaluate on data holding every class of {classes.tolist()} "
            "(e.g. a stratified train_test_split)."
        )
    sw = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
    responses = {
        method: _predictions(estimator, task, X, len(y), method)
        for method in ("predict", "predict_proba")
    }
    scores = {}
    for name, (method, metric) in _METRICS.items():
        try:
            scores[name] = float(metric(task, y, responses[method], sw))
        except NotImplementedError:  # the multiclass Brier score on scikit-learn < 1.7
            scores[name] = None
    neg_brier = scores.pop("neg_brier_score")
    pred = responses["predict"]
    precision, recall, f1, support = precision_recall_fscore_support(
        y, pred, labels=classes, average=None, sample_weight=sw, zero_division=0.0
    )
    specificity = _class_specificity(task, y, pred, sw)
    matrix = confusion_matrix(y, pred, labels=classes, sample_weight=sw)
    smallest = int(np.argmin(counts))
    return ImbalanceReport(
        estimator=task.estimator_name,
        target_type="binary" if task.binary else "multiclass",
        classes=tuple(_plain(classes.tolist())),
        pos_label=_plain(task.pos_label),
        threshold=task.threshold,
        threshold_source=task.threshold_source,
        n_samples=len(y),
        class_counts=tuple(int(n) for n in counts),
        minority_class=_plain(classes[smallest]),
        minority_share=float(counts[smallest] / len(y)),
        imbalance_ratio=float(counts.max() / counts[smallest]),
        brier_score=None if neg_brier is None else -neg_brier,
        class_precision=tuple(float(v) for v in precision),
        class_recall=tuple(float(v) for v in recall),
        class_f1=tuple(float(v) for v in f1),
        class_specificity=tuple(float(v) for v in specificity),
        class_geometric_mean=tuple(float(v) for v in np.sqrt(recall * specificity)),
        class_support=tuple(_plain(support)),
        confusion_matrix=tuple(tuple(row) for row in _plain(matrix)),
        weighted=sw is not None,
        **scores,
    )
