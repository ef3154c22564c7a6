"""The classifier under evaluation: its classes, positive class and threshold.

Shared by the scorers (:mod:`safekeras.decision.metrics`) and the report
(:mod:`safekeras.decision.imbalance_report`): :func:`_task` resolves what a
fitted classifier was trained on once per evaluation, :func:`_check_y` and
:func:`_predictions` check the labels and the responses against it.
"""

from __future__ import annotations

import dataclasses
import numbers
from typing import Any

import numpy as np
from sklearn.model_selection import FixedThresholdClassifier
from sklearn.pipeline import Pipeline
from sklearn.utils import column_or_1d
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_is_fitted

from ..exceptions import TargetError

__all__: list[str] = []


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
        multipliers = getattr(candidate, "class_multipliers_", None)
        if multipliers is not None and np.ptp(multipliers) > 0:
            # A multiclass SafeKerasClassifier deciding on prior-corrected probabilities.
            return _frozen(multipliers), f"{name}.class_multipliers_"
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
