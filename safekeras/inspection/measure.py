"""What ``diagnose()`` measures, once: the training history, drift, the model on ``X, y``.

:func:`_gather` checks ``diagnose``'s arguments and returns the :class:`_Context` every
check, the summary and :class:`~safekeras.plotting.DiagnosisDisplay` read.
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass, field

import numpy as np
from sklearn.exceptions import NotFittedError as SklearnNotFittedError
from sklearn.metrics import accuracy_score, balanced_accuracy_score, r2_score, roc_auc_score
from sklearn.utils.validation import _num_samples, check_array, check_is_fitted

from ..data.resampling import class_weights
from ..data.targets import _as_target_array
from ..decision.thresholds import (
    MIN_CLASS_COUNT,
    make_threshold_scorer,
    score_thresholds,
    scorer_labels,
    tune_threshold,
)
from ..exceptions import InputError, NotFittedError, TargetError
from ..network.losses import POISSON, poisson_deviance_per_row
from .profile import TrainingProfile

# Keras clips probabilities this far from 0 and 1 in its cross-entropies.
_EPSILON = 1e-7


@dataclass
class _Given:
    """What the model does on the ``X, y`` given to :func:`~safekeras.diagnostics.diagnose`.

    ``y`` and ``predicted`` are class indices into ``classes_`` (binary,
    multiclass), 0/1 matrices (multilabel) or the target (regression, 2-d).
    With labels that ``fit`` never saw (``unknown``), nothing else is measured.
    """

    n_rows: int
    y: np.ndarray
    unknown: tuple = ()
    proba: np.ndarray | None = None
    predicted: np.ndarray | None = None
    loss: float | None = None
    loss_se: float | None = None
    metrics: dict = field(default_factory=dict)


@dataclass
class _Context:
    """Everything the checks read, gathered once."""

    estimator: object
    loss: np.ndarray
    val_loss: np.ndarray | None
    best_epoch: int
    n_epochs: int
    profile: TrainingProfile | None
    drift: object = None
    given: _Given | None = None
    curve: dict | None = None
    label_findings: list = field(default_factory=list)

    @property
    def classifier(self) -> bool:
        return hasattr(self.estimator, "classes_")

    @property
    def target_type(self) -> str:
        return self.estimator.target_type_

    @property
    def baseline(self) -> float | None:
        return None if self.profile is None else self.profile.baseline_loss

    @property
    def scale(self) -> float:
        """The unit losses are compared in: the baseline, else the loss of the first epoch."""
        return self.baseline if self.baseline is not None else float(self.loss[0])

    @property
    def train_best(self) -> float:
        return float(self.loss[self.best_epoch - 1])

    @property
    def labelled(self) -> bool:
        """Whether ``X, y`` were given with labels the model knows."""
        return self.given is not None and not self.given.unknown

    @property
    def comparable(self) -> bool:
        """Whether predictions on ``X`` can be judged against ``y``.

        Not when the rows drifted or ``y`` looks encoded differently from ``fit``:
        either explains any loss or metric, and blaming them on the fit would
        send the user after the wrong fix.
        """
        return self.labelled and not self.drift and not self.label_findings


def _gather(estimator, X=None, y=None) -> _Context:
    """Check ``diagnose``'s arguments and gather what the checks and the plot read.

    Everything but the label findings (see :func:`~safekeras.diagnostics.diagnose`),
    which are judgements made on this context, not measurements.
    """
    _check_fitted(estimator)
    if y is not None and X is None:
        raise InputError(
            "diagnose got y without X: y is compared with the predictions for X. Pass both, "
            "ideally rows held out from fit: estimator.diagnose(X_test, y_test); or neither."
        )
    history = estimator.history_
    val_loss = history.get("val_loss")  # only with early stopping
    context = _Context(
        estimator=estimator,
        loss=np.asarray(history["loss"], dtype=np.float64),
        val_loss=np.asarray(val_loss, dtype=np.float64) if val_loss else None,
        best_epoch=int(estimator.best_epoch_),
        n_epochs=int(estimator.n_epochs_),
        profile=getattr(estimator, "_training_profile_", None),
    )
    if X is not None:
        X = estimator._validate_features(X, reset=False)
        context.drift = estimator.input_schema_.check(X)
        if y is not None:
            context.given = _measure(estimator, X, y)
            context.curve = _threshold_curve(context)
    return context


def _check_fitted(estimator) -> None:

    try:
        check_is_fitted(estimator)
    except SklearnNotFittedError as exc:
        raise NotFittedError(
            f"This {type(estimator).__name__} instance is not fitted yet. Call 'fit' with "
            "appropriate arguments before diagnose()."
        ) from exc


def _measure(estimator, X, y) -> _Given:
    """Predict ``X`` without drift warnings and compare with ``y``."""

    n_rows = _num_samples(X)
    # A shallow copy shares the fitted network; only its own on_drift changes, so the drift
    # found here is reported as a finding, not warned about (or raised) by predict.
    quiet = copy.copy(estimator)
    quiet.on_drift = "ignore"
    if hasattr(estimator, "classes_"):
        return _measure_classifier(estimator, quiet, X, y, n_rows)
    return _measure_regressor(estimator, quiet, X, y, n_rows)


def _target_array(y, n_rows: int) -> np.ndarray:

    y = _as_target_array(y)
    if len(y) != n_rows:
        raise TargetError(
            f"X has {n_rows} rows but y has {len(y)}. Pass one label (target) per row of X."
        )
    return y


def _measure_classifier(estimator, quiet, X, y, n_rows) -> _Given:

    encoded, unknown = _encode_labels(estimator, _target_array(y, n_rows))
    proba = np.asarray(quiet.predict_proba(X), dtype=np.float64)
    if unknown:
        return _Given(n_rows=n_rows, y=encoded, unknown=unknown, proba=proba)
    predicted, _ = _encode_labels(estimator, np.asarray(quiet.predict(X)))
    target_type = estimator.target_type_
    metrics = {"accuracy": float(accuracy_score(encoded, predicted))}
    if target_type != "multilabel-indicator":
        with warnings.catch_warnings():
            # "y_pred contains classes not in y_true": a small y need not hold every class.
            warnings.simplefilter("ignore", UserWarning)
            metrics["balanced_accuracy"] = float(balanced_accuracy_score(encoded, predicted))
    per_row = _cross_entropy(target_type, encoded, proba)
    metrics["log_loss"] = float(np.mean(per_row))
    metrics["roc_auc"] = _roc_auc(estimator, encoded, proba)
    # Weighted as training weighs it, so that it compares with the training loss.
    loss, loss_se = _mean_and_se(per_row, _class_weight_per_row(estimator, encoded))
    return _Given(n_rows, encoded, (), proba, predicted, loss, loss_se, metrics)


def _measure_regressor(estimator, quiet, X, y, n_rows) -> _Given:

    y = _target_array(y, n_rows)
    try:
        y = check_array(y, ensure_2d=False, dtype=np.float64, input_name="y")
    except ValueError as exc:
        raise TargetError(f"{exc} Drop those rows of X and y before diagnose.") from exc
    y2d = y.reshape(len(y), -1)
    if y2d.shape[1] != estimator.n_outputs_:
        raise TargetError(
            f"y has {y2d.shape[1]} target column(s) but the estimator was fitted on "
            f"{estimator.n_outputs_}. Pass the targets as they were given to fit."
        )
    predicted = np.asarray(quiet.predict(X), dtype=np.float64).reshape(len(y), -1)
    scaler = estimator.target_scaler_
    # Measured as the training loss was, on the target as the network learnt it.
    if getattr(estimator, "loss_", None) == POISSON:
        per_row, name = _poisson_deviance(y2d, predicted, scaler), "poisson_deviance_scaled"
    else:
        error = scaler.transform(y2d) - scaler.transform(predicted)
        per_row, name = np.mean(error**2, axis=1), "mse_standardised"
    metrics = {name: float(np.mean(per_row))}
    baseline = getattr(estimator, "linear_baseline_", None)
    if baseline is not None:  # the network learnt the residual divided by its scale
        per_row = np.mean((error / baseline.scale_) ** 2, axis=1)
    loss, loss_se = _mean_and_se(per_row)
    if n_rows >= 2:
        metrics["r2"] = float(r2_score(y2d, predicted))
    return _Given(n_rows, y2d, (), None, predicted, loss, loss_se, metrics)


def _poisson_deviance(y2d, predicted, scaler) -> np.ndarray:
    if np.any(y2d < 0):
        raise TargetError(
            "y holds negative values, but the estimator was fitted with loss='poisson' on "
            "non-negative targets (counts): pass the targets as they were given to fit."
        )
    return poisson_deviance_per_row(scaler.transform(y2d), scaler.transform(predicted))


def _encode_labels(estimator, y) -> tuple[np.ndarray, tuple]:
    """Class indices of ``y`` (-1 for labels ``fit`` never saw) and those labels."""
    classes = estimator.classes_
    if estimator.target_type_ == "multilabel-indicator":
        if y.ndim != 2 or y.shape[1] != len(classes):
            raise TargetError(
                f"y has shape {y.shape}, but the estimator was fitted on a multilabel "
                f"indicator matrix of {len(classes)} columns. Pass y as given to fit."
            )
        if not np.isin(y, (0, 1)).all():
            raise TargetError(
                "y holds values other than 0 and 1; a multilabel target is an indicator "
                "matrix, as given to fit."
            )
        return y.astype(np.int64), ()
    if y.ndim == 2 and y.shape[1] == 1:
        y = y.ravel()
    if y.ndim != 1:
        raise TargetError(
            f"y has shape {y.shape}, but the estimator was fitted on one label per row. Pass "
            "y as a 1-d array of labels."
        )
    missing = _count_missing(y)
    if missing:
        raise TargetError(
            f"y holds {missing} missing label(s) (None or NaN). Drop those rows of X and y "
            "before diagnose."
        )
    # Labels compare as they are, as in fit: 1 and 1.0 are the same class, 1 and "1" are not.
    lookup = {label: index for index, label in enumerate(classes.tolist())}
    values = y.tolist()
    encoded = np.array([lookup.get(value, -1) for value in values], dtype=np.int64)
    unknown = {values[i] for i in np.flatnonzero(encoded < 0)}
    return encoded, tuple(sorted(unknown, key=repr))


def _count_missing(y) -> int:
    if y.dtype.kind == "f":
        return int(np.count_nonzero(~np.isfinite(y)))
    if y.dtype.kind == "O":
        return sum(v is None or (isinstance(v, float) and v != v) for v in y.flat)
    return 0


def _cross_entropy(target_type, encoded, proba) -> np.ndarray:
    """The cross-entropy of each row, clipped as Keras clips it."""
    clipped = np.clip(proba, _EPSILON, 1 - _EPSILON)
    if target_type == "multilabel-indicator":
        return -np.mean(encoded * np.log(clipped) + (1 - encoded) * np.log1p(-clipped), axis=1)
    return -np.log(clipped[np.arange(len(encoded)), encoded])


def _mean_and_se(per_row, weights=None) -> tuple[float, float]:
    """The (weighted) mean of per-row losses and its standard error."""
    weights = np.ones(len(per_row)) if weights is None else np.asarray(weights, dtype=np.float64)
    weights = weights / weights.sum()
    mean = float(weights @ per_row)
    return mean, float(np.sqrt(np.sum(weights**2 * (per_row - mean) ** 2)))


def _class_weight_per_row(estimator, encoded) -> np.ndarray | None:
    """Row weights that make the loss on ``y`` comparable with the weighted training loss.

    None without ``class_weight``, and with ``class_weight="balanced"`` after a
    sampler, which computed it on the resampled split.
    """
    class_weight = getattr(estimator, "class_weight", None)
    profile = getattr(estimator, "_training_profile_", None)
    if class_weight is None or estimator.target_type_ not in ("binary", "multiclass"):
        return None
    if isinstance(class_weight, str):
        if getattr(estimator, "sampler", None) is not None or profile is None:
            return None
        # "balanced" weighs by the training class counts (every class is present in fit).
        counts = profile.class_counts
        reference = np.repeat(np.arange(len(counts)), counts)
    else:
        reference = encoded
    per_class = class_weights(class_weight, estimator.classes_, reference)
    weights = per_class[encoded]
    return weights / weights.mean()


def _roc_auc(estimator, encoded, proba) -> float | None:
    """ROC-AUC of the probabilities on ``y``; None when ``y`` lacks a class."""

    target_type = estimator.target_type_
    if target_type == "binary":
        positive = estimator._pos_index()
        is_positive = encoded == positive
        if is_positive.all() or not is_positive.any():
            return None
        return float(roc_auc_score(is_positive, proba[:, positive]))
    if target_type == "multiclass":
        if len(np.unique(encoded)) < len(estimator.classes_):
            return None
        labels = np.arange(len(estimator.classes_))
        return float(roc_auc_score(encoded, proba, multi_class="ovr", labels=labels))
    on = encoded.sum(axis=0)
    if np.any(on == 0) or np.any(on == len(encoded)):
        return None
    return float(roc_auc_score(encoded, proba, average="macro"))


def _threshold_curve(context) -> dict | None:
    """``threshold_scoring`` on the data given at 0.5, at ``threshold_`` and at every cut.

    Binary targets with enough rows of each class only. The best cut is chosen on
    these rows (in-sample), so it flatters them.
    """

    estimator, given = context.estimator, context.given
    if context.target_type != "binary" or not context.labelled:
        return None
    positive = estimator._pos_index()
    is_positive = given.y == positive
    if min(np.count_nonzero(is_positive), np.count_nonzero(~is_positive)) < MIN_CLASS_COUNT:
        return None
    scoring = estimator.threshold_scoring
    scorer = make_threshold_scorer(scoring)
    labels = scorer_labels(scoring, estimator.classes_, positive)  # as in fit
    score = given.proba[:, positive]
    search = tune_threshold(is_positive, score, scorer, labels=labels)
    if not search.tuned:
        return None
    (at_threshold,) = score_thresholds(
        is_positive, score, scorer, [float(estimator.threshold_)], labels=labels
    )
    return {
        "scoring": scoring if isinstance(scoring, str) else repr(scoring),
        "at_threshold": float(at_threshold),
        "at_half": search.default_score,
        "best": search.score,
        "best_threshold": search.threshold,
        "n_positive": search.n_positive,
        "n_negative": search.n_negative,
        "thresholds": search.thresholds,
        "scores": search.scores,
    }
