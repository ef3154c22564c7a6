"""Imbalance-aware metrics: the implementation of :mod:`safekeras.metrics` (documented there)."""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    balanced_accuracy_score,
    brier_score_loss,
    confusion_matrix,
    precision_recall_fscore_support,
    recall_score,
    roc_auc_score,
)
from sklearn.model_selection import FixedThresholdClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import label_binarize
from sklearn.utils import check_consistent_length, column_or_1d
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_is_fitted

from ..exceptions import TargetError

__all__ = ["ImbalanceReport", "imbalance_report", "imbalance_scoring"]

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


@dataclasses.dataclass(frozen=True)
class _Task:
    """What a fitted classifier was trained on, resolved once per evaluation."""

    estimator_name: str
    classes: np.ndarray
    pos_label: Any
    threshold: Any
    threshold_source: str | None

    @property
    def binary(self) -> bool:
        return len(self.classes) == 2

    @property
    def pos_index(self) -> int:
        return next(i for i, c in enumerate(self.classes) if c == self.pos_label)


def _candidates(estimator) -> list:
    # A Pipeline hides the attributes of its final classifier.
    if isinstance(estimator, Pipeline):
        return [estimator, estimator[-1]]
    return [estimator]


def _match_label(label, classes, what: str):
    matches = [c for c in classes if c == label]
    if not matches:
        raise TargetError(
            f"{what}={label!r} is not one of the classes {_plain(list(classes))}. "
            "Pass one of them, or pos_label=None to use the estimator's positive class."
        )
    return matches[0]


def _resolve_pos_label(estimator, classes, pos_label):
    if len(classes) != 2:
        if pos_label is not None:
            raise TargetError(
                f"pos_label={pos_label!r} applies to binary targets, but the estimator has "
                f"{len(classes)} classes {_plain(list(classes))}. Leave pos_label=None: "
                "multiclass scores are macro averages over all classes."
            )
        return None
    if pos_label is not None:
        return _match_label(pos_label, classes, "pos_label")
    for candidate in _candidates(estimator):
        fitted = getattr(candidate, "pos_label_", None)
        if fitted is not None:
            return _match_label(fitted, classes, "pos_label_")
        # TunedThresholdClassifierCV has no pos_label: it thresholds classes_[1] by default.
        if isinstance(candidate, FixedThresholdClassifier):
            if candidate.pos_label is not None:
                return _match_label(candidate.pos_label, classes, "pos_label")
    return classes[1]


def _resolve_threshold(estimator) -> tuple[Any, str | None]:
    for candidate in _candidates(estimator):
        name = type(candidate).__name__
        if hasattr(candidate, "threshold_"):
            return _frozen(candidate.threshold_), f"{name}.threshold_"
        if hasattr(candidate, "best_threshold_"):
            return _frozen(candidate.best_threshold_), f"{name}.best_threshold_"
        if isinstance(candidate, FixedThresholdClassifier) and isinstance(
            candidate.threshold, numbers.Real
        ):
            return float(candidate.threshold), f"{name}.threshold"
    return None, None


def _task(estimator, pos_label) -> _Task:
    check_is_fitted(estimator)
    for method in ("predict", "predict_proba"):
        if not hasattr(estimator, method):
            raise TypeError(
                f"{type(estimator).__name__} has no {method}(); imbalance metrics need both "
                "predict and predict_proba. Wrap it in "
                "sklearn.calibration.CalibratedClassifierCV to get probabilities."
            )
    classes = np.asarray(estimator.classes_)
    if getattr(estimator, "target_type_", None) == "multilabel-indicator" or classes.ndim != 1:
        raise _multilabel_error(estimator)
    if len(classes) < 2:
        raise TargetError(
            f"{type(estimator).__name__} was fitted on a single class {_plain(classes)}: "
            "there is no imbalance to evaluate. Fit it on at least two classes."
        )
    threshold, source = _resolve_threshold(estimator)
    return _Task(
        estimator_name=type(estimator).__name__,
        classes=classes,
        pos_label=_plain(_resolve_pos_label(estimator, classes, pos_label)),
        threshold=threshold,
        threshold_source=source,
    )


def _multilabel_error(estimator) -> TargetError:
    return TargetError(
        f"{type(estimator).__name__} predicts a multilabel-indicator target, which the "
        "imbalance metrics do not handle. Evaluate each label as its own binary problem, "
        "e.g. sklearn.metrics.classification_report(y, estimator.predict(X), "
        "zero_division=0) and average_precision_score(y, estimator.predict_proba(X), "
        "average=None)."
    )


def _check_y(task: _Task, y, estimator) -> np.ndarray:
    kind = type_of_target(y, input_name="y")
    if kind == "multilabel-indicator":
        raise _multilabel_error(estimator)
    if kind not in ("binary", "multiclass"):
        raise TargetError(
            f"y is {kind!r}, but imbalance metrics need class labels (binary or multiclass)."
        )
    y = column_or_1d(y, warn=True)
    known = task.classes.tolist()
    unseen = sorted((v for v in set(y.tolist()) if v not in known), key=repr)
    if unseen:
        raise TargetError(
            f"y contains labels {unseen} that {task.estimator_name} never saw in fit "
            f"(its classes_ are {known}). Evaluate on labels of the same type and values "
            "as the training target."
        )
    return y


def _predictions(estimator, task: _Task, X, n_samples: int, response: str) -> np.ndarray:
    out = np.asarray(getattr(estimator, response)(X))
    expected = (n_samples,) if response == "predict" else (n_samples, len(task.classes))
    if out.shape != expected:
        if out.ndim == 2 and response == "predict":
            raise _multilabel_error(estimator)
        raise TargetError(
            f"{task.estimator_name}.{response} returned shape {out.shape}, expected "
            f"{expected} for classes {_plain(task.classes.tolist())}."
        )
    return out


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


def _plain(value):
    """Numpy scalars and arrays (also nested in tuples/lists) as plain Python values."""
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _frozen(value):
    """``_plain`` with tuples for sequences, for the immutable report."""
    value = _plain(value)
    return tuple(value) if isinstance(value, list) else value


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
        classifiers).
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


def _geometric_mean(y_true, y_pred, **kwargs) -> float:
    # imbalanced-learn takes about 0.3 s to import: only when this scorer runs.
    from imblearn.metrics import geometric_mean_score

    return geometric_mean_score(y_true, y_pred, **kwargs)
