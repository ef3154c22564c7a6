"""``diagnose()``: what went wrong in training, with the evidence and the fix.

:func:`diagnose` (what ``estimator.diagnose(X, y)`` calls) reads what a fitted
estimator kept about its training (the loss per epoch, the epoch early
stopping kept, the class counts, the loss of a network that learnt nothing,
the threshold search) and, given data, what the model does on it. It returns a
:class:`Diagnosis`: one :class:`Finding` per problem found, each with the
numbers behind it and a fix in terms of the estimator's parameters, and a
summary of the numbers that are always available. A healthy fit has no
findings.

=============== ================= ===========================================================
pitfall         needs             fires when
=============== ================= ===========================================================
overfitting     ``val_loss``, the weights in use have a validation loss :data:`VAL_RISE`
                threshold's       above its minimum while the training loss fell, or the
                held-out rows,    validation loss (else the loss on the rows the threshold was
                or ``X, y``       tuned on, or on ``X, y``, less :data:`NOISE_Z` standard
                                  errors) at the kept epoch is :data:`GAP_RATIO` times the
                                  training loss and above it by :data:`GAP_SHARE` of the
                                  baseline loss; with no held-out rows at all, a training loss
                                  under :data:`MEMORISED_SHARE` of the baseline (it cannot tell)
underfitting    (``X, y``)        the training loss stayed above :data:`BASELINE_SHARE` of the
                                  loss of predicting the class priors (the target's mean), or
                                  early stopping never stopped (the best epoch is the last of
                                  ``epochs``) with the validation loss still falling
                                  :data:`STILL_FALLING` over the last ``patience`` epochs, or
                                  on ``X, y`` balanced accuracy is within
                                  :data:`CHANCE_MARGIN` of chance (R^2 below :data:`MIN_R2`)
imbalance       (``X, y``)        the smallest class holds less than :data:`MINORITY_SHARE` of
                                  the training rows (two classes; the same share of an equal
                                  split for more) and nothing adapts to it: no tuned or chosen
                                  threshold, no ``class_weight``, no ``sampler``
threshold       ``X, y``          on ``X, y``, the threshold in use scores
                                  :data:`THRESHOLD_MARGIN` worse than 0.5 (or, when fixed,
                                  than the best threshold)
label_inversion ``X, y`` for the  ROC-AUC on ``X, y`` is below :data:`INVERTED_AUC`, a
                first three       relabelling of a multiclass ``y`` is :data:`RELABEL_GAIN` more
                                  accurate, ``y`` holds labels ``fit`` never saw, or the
                                  default positive class holds :data:`MAJORITY_SHARE` of the
                                  training rows
drift           ``X``             :meth:`~safekeras.schema.InputSchema.check` finds drift
=============== ================= ===========================================================

``X, y`` in parentheses: used when given. Regressors get the overfitting,
underfitting and drift checks. Each pitfall is one finding (several signs of
it are joined), so the count of problems is the count of pitfalls. ``diagnose``
never changes the estimator and never warns or raises about drift: drift is a
finding.
"""

from __future__ import annotations

import copy
import math
import textwrap
import warnings
from dataclasses import dataclass, field
from numbers import Integral

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.exceptions import NotFittedError as SklearnNotFittedError
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    r2_score,
    roc_auc_score,
)
from sklearn.utils.validation import _num_samples, check_array, check_is_fitted

from ..data.resampling import class_weights
from ..data.targets import _as_target_array
from ..decision.thresholds import (
    DEFAULT_THRESHOLD,
    MIN_CLASS_COUNT,
    make_threshold_scorer,
    score_thresholds,
    scorer_labels,
    tune_threshold,
)
from ..exceptions import DiagnosisError, InputError, NotFittedError, TargetError

__all__ = [
    "BASELINE_SHARE",
    "CHANCE_MARGIN",
    "GAP_RATIO",
    "GAP_SHARE",
    "INVERTED_AUC",
    "MAJORITY_SHARE",
    "MEMORISED_SHARE",
    "MINORITY_SHARE",
    "MIN_AUC_ROWS",
    "MIN_R2",
    "MIN_RELABEL_ROWS",
    "NOISE_Z",
    "PITFALLS",
    "RELABELLED_SKILL",
    "RELABEL_GAIN",
    "RISE_SHARE",
    "STILL_FALLING",
    "THRESHOLD_MARGIN",
    "VAL_RISE",
    "Diagnosis",
    "Finding",
    "TrainingProfile",
    "baseline_loss",
    "diagnose",
    "training_profile",
]

#: The pitfalls a :class:`Finding` can name, in the order a report lists them.
PITFALLS = ("overfitting", "underfitting", "imbalance", "threshold", "label_inversion", "drift")

# -- overfitting ---------------------------------------------------------------------------
#: Rise of the validation loss from its minimum to the last epoch, as a share of that minimum,
#: that counts as "rising" (while the training loss fell). With the default learning rate the
#: last ``patience`` epochs of healthy fits rose at most 5 % (24 fits of small data sets); at
#: 10 %, learning rate 0.01 with batches of 32 fired on 14 of 20 fits, most of them mild.
VAL_RISE = 0.25
#: ... and the rise must also exceed this share of the baseline loss, so that a loss creeping
#: from 0.01 to 0.012 on a nearly perfect fit does not count.
RISE_SHARE = 0.05
#: Validation loss (or the loss on the data given) at the kept epoch over the training loss
#: there that counts as a generalisation gap. Generous: the training loss includes dropout and
#: the L2 penalty, and healthy nearly-perfect fits reach ratios of 3 at tiny losses ...
GAP_RATIO = 1.5
#: ... so the gap must also exceed this share of the baseline loss. Healthy fits of small
#: synthetic and bundled data sets reached 0.29; a 4-class fit on 420 rows whose held-out loss
#: was 1.9 times its training loss reached 0.37.
GAP_SHARE = 0.3
#: The loss on the data given is lowered by this many standard errors before it is compared:
#: on 100 rows of a binary problem, the mean log loss of 100-row batches of one population
#: varied from 0.23 to 0.47 (standard error up to 0.08), a few confident mistakes weighing most.
NOISE_Z = 2.0
#: With no held-out rows at all (no validation loss, no threshold search, no ``X, y``), a
#: training loss under this share of the baseline is reported as "cannot tell": the network
#: then gives the true class of nearly every training row a probability above 0.99, which data
#: with any label noise allows only by memorising it (clean, separable data allows it too,
#: which is why the finding says it cannot tell). Healthy fits of the bundled and synthetic
#: data sets kept epochs at 0.02-0.86 of the baseline.
MEMORISED_SHARE = 0.01

# -- underfitting --------------------------------------------------------------------------
#: Training loss at the kept epoch above this share of the baseline loss means the network
#: learnt little beyond the class priors (the mean). Fits of small synthetic and bundled data
#: sets ended at 0.02-0.86 of it, the highest on data with 10 % flipped labels and little signal.
BASELINE_SHARE = 0.9
#: The validation loss still falling at the last epoch counts when it fell by at least this
#: share over the last ``patience`` epochs: the breast-cancer demo creeps down 1-2 % there after
#: 200 epochs, with balanced accuracy 0.97, and more epochs would change nothing.
STILL_FALLING = 0.05
#: Balanced accuracy on the data given within this much of chance (1 / n_classes) is chance.
CHANCE_MARGIN = 0.05
#: A regressor whose R^2 on the data given is at most this explains next to nothing.
MIN_R2 = 0.05

# -- imbalance -----------------------------------------------------------------------------
#: The smallest of two classes holding less than this share of the training rows makes accuracy
#: and a 0.5 threshold misleading (a constant prediction is then over 80 % accurate). With K
#: classes the bar is the same share of an equal split, ``MINORITY_SHARE * 2 / K``: 10 % for 4
#: classes, so that 10 balanced classes of 10 % each are not "imbalanced".
MINORITY_SHARE = 0.2

# -- threshold -----------------------------------------------------------------------------
#: A threshold scoring this much worse (in ``threshold_scoring``, balanced accuracy by
#: default) than 0.5, or when fixed than the best threshold, on the data given is reported.
#: One row of 20 changes a recall by 0.05, so rows of each class must number at least
#: :data:`safekeras.thresholds.MIN_CLASS_COUNT`.
THRESHOLD_MARGIN = 0.05

# -- label inversion -----------------------------------------------------------------------
#: ROC-AUC below this on labelled data means the predictions run opposite to ``y``. A model
#: with no skill falls below 0.3 by chance in 1.5 % of draws of 20 + 20 rows.
INVERTED_AUC = 0.3
#: Rows of each class needed in ``y`` before its ROC-AUC is trusted.
MIN_AUC_ROWS = 20
#: A relabelling of a multiclass ``y`` this much more accurate than ``y`` as given means its
#: labels are permuted ...
RELABEL_GAIN = 0.2
#: ... when the relabelled predictions also get this share of the way from chance to perfect
#: accuracy. Without it, a model with no skill gains 0.2 from some relabelling of 3 classes of
#: 10 rows in a quarter of draws; with it, in under 1 in 1000.
RELABELLED_SKILL = 0.5
#: Rows per class needed in ``y`` (on average) before a relabelling is trusted.
MIN_RELABEL_ROWS = 10
#: A default positive class (``classes_[1]``) holding at least this share of the training rows
#: is probably not the class to find: the other class is then rare by the imbalance bar
#: (:data:`MINORITY_SHARE`). Below it, which class is "positive" is a matter of naming (63 %
#: of ``load_breast_cancer`` is benign, class 1) and F1 or PR-AUC of either class are readable.
MAJORITY_SHARE = 1 - MINORITY_SHARE

# Losses whose value for a constant prediction of the training priors is known.
_CROSS_ENTROPIES = {
    "binary_crossentropy",
    "sparse_categorical_crossentropy",
    "categorical_crossentropy",
}
_SQUARED_ERRORS = {"mean_squared_error", "mse"}
# Keras clips probabilities this far from 0 and 1 in its cross-entropies.
_EPSILON = 1e-7
# Labels named in a message before "and N more".
_SHOWN = 5
# Said when y looks encoded differently from fit.
_SKIPPED = (
    "The checks that compare predictions with y (overfitting, underfitting, threshold) were "
    "skipped."
)
# Items of a list shown in a report before "... (N more)".
_LIST_SHOWN = 10
# Width of the report's field names.
_KEY_WIDTH = 30


@dataclass(frozen=True)
class TrainingProfile:
    """What ``fit`` saw, kept so that ``diagnose()`` can explain the fit later.

    Attributes
    ----------
    target_type : str
        As ``target_type_``.
    class_counts : tuple of int or None
        Rows per class in the data given to ``fit`` (zero-weight rows left
        out, before any resampling), in ``classes_`` order; for a multilabel
        target, rows where each label is on. None for regression.
    n_rows : int
        Rows given to ``fit`` with a positive weight.
    n_train, n_validation : int
        Rows of the training split (after resampling) and of the validation
        split (0 when none was held out).
    baseline_loss : float or None
        The training loss of a network that learnt nothing but the (weighted)
        class priors of the training split, or the target's variance for a
        regressor: 1.0 on the standardised target. ``history_["loss"]`` near it
        means the network underfits. None for losses where it is not known.
    """

    target_type: str
    class_counts: tuple | None
    n_rows: int
    n_train: int
    n_validation: int
    baseline_loss: float | None


def training_profile(spec, y_kept, y_train, w_train, n_validation, loss) -> TrainingProfile:
    """Summarise a fit for :class:`TrainingProfile`.

    Parameters
    ----------
    spec : safekeras.data.targets.TargetSpec
    y_kept : ndarray
        Encoded targets of the rows with a positive weight.
    y_train, w_train : ndarray
        Encoded targets and weights of the training split as trained on
        (after resampling and class weights).
    n_validation : int
    loss : str or keras loss
        The loss the network was trained with.
    """
    counts = None
    if spec.target_type in ("binary", "multiclass"):
        counts = tuple(np.bincount(y_kept, minlength=spec.n_classes).tolist())
    elif spec.target_type == "multilabel-indicator":
        counts = tuple(np.asarray(y_kept).sum(axis=0).astype(int).tolist())
    return TrainingProfile(
        target_type=spec.target_type,
        class_counts=counts,
        n_rows=len(y_kept),
        n_train=len(y_train),
        n_validation=int(n_validation),
        baseline_loss=baseline_loss(spec.target_type, y_train, w_train, loss),
    )


def baseline_loss(target_type, y_encoded, sample_weight, loss) -> float | None:
    """Loss of predicting the weighted training priors (classification) or the mean (regression).

    The units are those of Keras's training loss with weights rescaled to
    mean 1: the weighted mean of the per-row loss.
    """
    if not isinstance(loss, str):
        return None
    weights = np.asarray(sample_weight, dtype=np.float64)
    weights = weights / weights.sum()
    if target_type.startswith("continuous"):
        # The target is standardised (weighted) in fit: its weighted variance is 1 per output.
        return 1.0 if loss in _SQUARED_ERRORS else None
    if loss not in _CROSS_ENTROPIES:
        return None
    if target_type == "multilabel-indicator":
        on = np.clip(weights @ np.asarray(y_encoded, dtype=np.float64), 1e-12, 1 - 1e-12)
        return float(np.mean(-(on * np.log(on) + (1 - on) * np.log1p(-on))))
    n_classes = int(np.max(y_encoded)) + 1
    priors = np.bincount(y_encoded, weights=weights, minlength=n_classes)
    priors = priors[priors > 0]
    return float(-np.sum(priors * np.log(priors)))


@dataclass(frozen=True)
class Finding:
    """One problem :func:`diagnose` found: what, the numbers behind it, and the fix.

    Attributes
    ----------
    pitfall : str
        One of :data:`PITFALLS`.
    title : str
        One line naming the problem with its key numbers.
    evidence : dict
        The numbers (and labels) behind it, as plain Python values.
    fix : str
        What to change, in terms of the estimator's parameters.
    """

    pitfall: str
    title: str
    evidence: dict = field(default_factory=dict)
    fix: str = ""

    def __str__(self) -> str:
        lines = textwrap.wrap(f"[{self.pitfall}] {self.title}", width=100, subsequent_indent="  ")
        lines += [f"    {key:<{_KEY_WIDTH}} {_fmt(value)}" for key, value in self.evidence.items()]
        lines += textwrap.wrap(
            f"fix: {self.fix}", width=100, initial_indent="  ", subsequent_indent="       "
        )
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """The finding as plain Python values; JSON-serialisable."""
        return {
            "pitfall": self.pitfall,
            "title": self.title,
            "evidence": _plain(self.evidence),
            "fix": self.fix,
        }


class Diagnosis:
    """What :func:`diagnose` found about a fitted estimator (built by :func:`diagnose`).

    Attributes
    ----------
    findings : tuple of Finding
        One per problem found, in :data:`PITFALLS` order: at most one per
        pitfall (several signs of one pitfall, e.g. opposite predictions and a
        majority positive class, are joined in one finding); empty for a
        healthy fit.
    summary : dict
        The numbers that are always available (epochs, losses, class counts,
        threshold) and, with ``X, y``, the metrics on them, whether or not
        they point at a problem.
    estimator_name : str
        Class name of the diagnosed estimator.

    Notes
    -----
    ``str(diagnosis)`` is a readable report, :meth:`to_dict` a JSON-serialisable
    dict, and :meth:`plot` draws the learning curves, the precision-recall curve
    and the threshold scores (needs matplotlib: ``pip install "safekeras[plot]"``).
    """

    def __init__(self, findings, summary, *, estimator_name="estimator", curves=None):
        self.findings = tuple(findings)
        self.summary = dict(summary)
        self.estimator_name = estimator_name
        self._curves = dict(curves or {})

    @property
    def pitfalls(self) -> tuple:
        """The pitfalls found, each once, in report order."""
        return tuple(dict.fromkeys(finding.pitfall for finding in self.findings))

    def by_pitfall(self, pitfall: str) -> tuple:
        """The findings about one of :data:`PITFALLS` (empty when it was not found)."""
        if pitfall not in PITFALLS:
            raise DiagnosisError(f"Unknown pitfall {pitfall!r}; the pitfalls are {PITFALLS}.")
        return tuple(finding for finding in self.findings if finding.pitfall == pitfall)

    def __repr__(self) -> str:
        return f"Diagnosis({self.estimator_name}, pitfalls={self.pitfalls!r})"

    def __str__(self) -> str:
        count = len(self.pitfalls)
        if count:
            header = f"Diagnosis of {self.estimator_name}: {count} problem(s) found"
        else:
            header = f"Diagnosis of {self.estimator_name}: No problems found."
        lines = [header, ""]
        for number, finding in enumerate(self.findings, 1):
            lines += [f"{number}. {finding}", ""]
        lines.append("Summary")
        lines += [f"  {key:<{_KEY_WIDTH}} {_fmt(value)}" for key, value in self.summary.items()]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """Findings and summary as plain Python values (NaN as None); JSON-serialisable."""
        return {
            "estimator": self.estimator_name,
            "pitfalls": list(self.pitfalls),
            "findings": [finding.to_dict() for finding in self.findings],
            "summary": _plain(self.summary),
        }

    def plot(self, axes=None):
        """Draw the learning curves and, for binary targets, the threshold panels.

        Parameters
        ----------
        axes : sequence of matplotlib Axes, default=None
            One per panel of :attr:`safekeras.plotting.DiagnosisDisplay.panels`; None
            makes a new figure.

        Returns
        -------
        safekeras.plotting.DiagnosisDisplay
        """
        from .plotting import DiagnosisDisplay

        return DiagnosisDisplay(**self._curves).plot(axes=axes)


# -- diagnose ------------------------------------------------------------------------------


@dataclass
class _Given:
    """What the model does on the ``X, y`` given to :func:`diagnose`.

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


def diagnose(estimator, X=None, y=None) -> Diagnosis:
    """Explain a fit: over/underfitting, imbalance, threshold, label inversion, drift.

    Parameters
    ----------
    estimator : fitted SafeKerasClassifier or SafeKerasRegressor
        Never modified.
    X : array-like or DataFrame of shape (n_samples, n_features), default=None
        Data to check for drift against the training data and, with ``y``,
        to measure the model on: data held out from ``fit``, so that the
        losses compare with the training loss.
    y : array-like of shape (n_samples,) or (n_samples, n_outputs), default=None
        Labels (targets) of ``X``, encoded as in ``fit``.

    Returns
    -------
    Diagnosis

    Raises
    ------
    safekeras.NotFittedError
        If the estimator is not fitted.
    safekeras.InputError
        If ``y`` is given without ``X``, or ``X`` cannot be predicted on
        (wrong columns, strings in numeric columns, infinite values).
    safekeras.TargetError
        If ``y`` does not have one label (target) per row of ``X`` of the
        shape ``fit`` saw, or has missing labels.
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
            context.label_findings = _label_findings(context)
    findings = []
    for check in _CHECKS:
        findings += _one_finding(check(context))
    return Diagnosis(
        findings,
        _summary(context),
        estimator_name=type(estimator).__name__,
        curves=_curves(context),
    )


def _one_finding(findings: list) -> list:
    """Several findings of one pitfall as one, so that problems and pitfalls count alike."""
    if len(findings) < 2:
        return findings
    evidence = {}
    for finding in reversed(findings):  # the first finding's numbers win a shared name
        evidence.update(finding.evidence)
    return [
        Finding(
            findings[0].pitfall,
            "; ".join(finding.title for finding in findings),
            evidence,
            " ".join(finding.fix for finding in findings),
        )
    ]


def _check_fitted(estimator) -> None:

    try:
        check_is_fitted(estimator)
    except SklearnNotFittedError as exc:
        raise NotFittedError(
            f"This {type(estimator).__name__} instance is not fitted yet. Call 'fit' with "
            "appropriate arguments before diagnose()."
        ) from exc


# -- measuring the model on X, y -------------------------------------------------------------


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
    # The training loss is the squared error on the standardised target: measure it alike.
    per_row = np.mean((scaler.transform(y2d) - scaler.transform(predicted)) ** 2, axis=1)
    loss, loss_se = _mean_and_se(per_row)
    metrics = {"mse_standardised": loss}
    if n_rows >= 2:
        metrics["r2"] = float(r2_score(y2d, predicted))
    return _Given(n_rows, y2d, (), None, predicted, loss, loss_se, metrics)


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


# -- the checks ------------------------------------------------------------------------------


def _is_gap(held_out: float, train: float, scale: float) -> bool:
    """Whether a held-out loss is far enough above the training loss to call it overfitting."""
    return held_out >= GAP_RATIO * train and held_out - train >= GAP_SHARE * scale


def _check_overfitting(context) -> list:
    best, n_epochs, train_best = context.best_epoch, context.n_epochs, context.train_best
    evidence = {
        "best_epoch": best,
        "n_epochs": n_epochs,
        "train_loss_best": train_best,
        "train_loss_final": float(context.loss[-1]),
    }
    signs = []
    if context.val_loss is not None:
        signs += _validation_signs(context, evidence)
    else:
        signs += _held_out_signs(context, evidence)
    if context.comparable:
        given_loss, given_se = context.given.loss, context.given.loss_se
        evidence.update(given_loss=given_loss, given_loss_se=given_se)
        # Judged on what the loss surely exceeds: a few confident mistakes in a small batch
        # can double a mean loss by luck alone.
        if _is_gap(given_loss - NOISE_Z * given_se, train_best, context.scale):
            evidence["given_train_ratio"] = given_loss / train_best
            signs.append(
                f"the loss on the {context.given.n_rows} rows given, {given_loss:.3g} (+- "
                f"{given_se:.2g}), is {given_loss / train_best:.1f} times the training loss "
                f"{train_best:.3g}"
            )
    if not signs:
        return _cannot_tell(context, evidence)
    if context.baseline is not None:
        evidence["baseline_loss"] = context.baseline
    return [Finding("overfitting", "; ".join(signs), evidence, _overfitting_fix(context))]


def _validation_signs(context, evidence) -> list:
    """Overfitting in the recorded validation loss, as it bears on the weights in use.

    A rise *after* the epoch early stopping restored is how early stopping finds its
    epoch (it waits ``patience`` epochs), not a problem of the model in use: only a
    validation loss at the kept epoch above the minimum (the weights in use are past
    it, as without early stopping) counts.
    """
    val, best = context.val_loss, context.best_epoch
    train_best = context.train_best
    minimum, kept = float(np.min(val)), float(val[best - 1])
    at_minimum = int(np.argmin(val)) + 1
    # val_loss_min, not val_loss_best: the summary's val_loss_best is the loss at the kept epoch.
    evidence.update(
        val_loss_min=minimum, val_loss_min_epoch=at_minimum, val_loss_final=float(val[-1])
    )
    signs = []
    rise = kept - minimum
    if (
        train_best < float(context.loss[at_minimum - 1])
        and rise >= VAL_RISE * minimum
        and rise >= RISE_SHARE * context.scale
    ):
        evidence["val_loss_rise"] = rise / minimum
        signs.append(
            f"validation loss rose {rise / minimum:.0%} after epoch {at_minimum} (to "
            f"{kept:.3g} at epoch {best}, whose weights predict) while the training loss fell"
        )
    kept_se = _validation_loss_se(context, kept)
    if kept_se is not None:
        evidence["val_loss_se"] = kept_se
    if _is_gap(kept - NOISE_Z * (kept_se or 0.0), train_best, context.scale):
        evidence["val_train_ratio"] = kept / train_best
        signs.append(
            f"at epoch {best} the validation loss {kept:.3g} is "
            f"{kept / train_best:.1f} times the training loss {train_best:.3g}"
        )
    return signs


def _validation_loss_se(context, kept: float) -> float | None:
    """Standard error of the validation loss at the kept epoch.

    Measured when the threshold was tuned on the validation split (the same rows,
    predicted by the kept weights). Otherwise approximated by taking the per-row
    spread of the loss equal to its mean, as for an exponential tail; per-row log
    losses are usually more spread than that, so this underestimates the noise
    rather than inventing it: a 48-row split whose loss doubled by chance (five
    positive rows, one confident mistake) is no longer called a gap.
    """
    held_out = _threshold_held_out_loss(context)
    if held_out is not None and held_out[3].startswith("the validation split"):
        return held_out[1]
    n_validation = 0 if context.profile is None else context.profile.n_validation
    return kept / np.sqrt(n_validation) if n_validation else None


def _held_out_signs(context, evidence) -> list:
    """Overfitting on the rows the threshold was tuned on, when no validation loss was kept.

    ``threshold="auto"`` predicts held-out rows (the validation split, or every row out
    of fold) even without early stopping; their cross-entropy is a validation loss.
    """
    held_out = _threshold_held_out_loss(context)
    if held_out is None:
        return []
    loss, loss_se, n_rows, source = held_out
    train_best = context.train_best
    evidence.update(held_out_loss=loss, held_out_loss_se=loss_se, held_out_source=source)
    if not _is_gap(loss - NOISE_Z * loss_se, train_best, context.scale):
        return []
    evidence["held_out_train_ratio"] = loss / train_best
    return [
        f"the loss on the {n_rows} held-out rows the threshold was tuned on ({source}), "
        f"{loss:.3g} (+- {loss_se:.2g}), is {loss / train_best:.1f} times the training loss "
        f"{train_best:.3g}"
    ]


def _threshold_held_out_loss(context) -> tuple | None:
    """(loss, standard error, rows, source) of the threshold search's held-out rows.

    Weighted per class as training weighs them, so that it compares with the
    training loss; a multilabel target averages its labels, as its loss does.
    """
    search = getattr(context.estimator, "threshold_search_", None)
    searches = search if isinstance(search, list) else [search]
    if search is None or any(not s.loss_by_class for s in searches):
        return None
    per_class = None
    if context.target_type == "binary":
        per_class = _class_weight_per_row(context.estimator, np.arange(2))
        if per_class is not None and context.estimator._pos_index() == 0:
            per_class = per_class[::-1]  # loss_by_class is (negative, positive)
    means, variances = [], []
    for one in searches:
        mean, variance = _combine_classes(one, per_class)
        means.append(mean)
        variances.append(variance)
    loss = float(np.mean(means))
    loss_se = float(np.sqrt(np.sum(variances)) / len(variances))
    return loss, loss_se, searches[0].n_samples, searches[0].source


def _combine_classes(search, per_class) -> tuple[float, float]:
    """Mean loss over both classes (weighted per row by ``per_class``) and its variance."""
    counts = np.array([search.n_negative, search.n_positive], dtype=np.float64)
    weights = np.ones(2) if per_class is None else np.asarray(per_class, dtype=np.float64)
    stats = np.asarray(search.loss_by_class, dtype=np.float64)
    shares = counts * weights / np.sum(counts * weights)
    mean = float(shares @ stats[:, 0])
    # Each row weighs shares[k] / counts[k]: the variance of a weighted mean of rows.
    spread = stats[:, 1] ** 2 + (stats[:, 0] - mean) ** 2
    return mean, float(np.sum(shares**2 / counts * spread))


def _cannot_tell(context, evidence) -> list:
    """A training loss near zero with nothing held out to compare: memorised, or clean data?"""
    baseline = context.baseline
    held_out = context.val_loss is not None or "held_out_loss" in evidence
    if held_out or context.comparable or baseline is None:
        return []
    if context.train_best >= MEMORISED_SHARE * baseline:
        return []
    evidence.update(baseline_loss=baseline, train_baseline_ratio=context.train_best / baseline)
    title = (
        f"cannot tell whether the network generalises or memorised its training rows: the "
        f"training loss {context.train_best:.3g} is {context.train_best / baseline:.2%} of the "
        f"baseline {baseline:.3g}, and no rows were held out to compare"
    )
    fix = (
        "Give diagnose rows held out from fit: estimator.diagnose(X_test, y_test). Or refit "
        "with early_stopping=True, which keeps the epoch with the lowest validation loss "
        "and records val_loss. A loss this low on data with any label noise means the network "
        "memorised it."
    )
    return [Finding("overfitting", title, evidence, fix)]


def _overfitting_fix(context) -> str:
    estimator = context.estimator
    if estimator.early_stopping and context.best_epoch < context.n_epochs:
        first = (
            f"Early stopping already restored the weights of epoch {context.best_epoch} (of "
            f"{context.n_epochs} run), so predict does not use the later, more overfit epochs."
        )
    elif estimator.early_stopping:
        first = "Early stopping kept the last epoch: the validation loss was still falling."
    else:
        first = (
            "early_stopping=False, so predict uses the last epoch's weights: set "
            "early_stopping=True to keep the epoch with the lowest validation loss."
        )
    if estimator.model is None:
        steps = _regularise_mlp(estimator)
    else:
        steps = [
            "add keras.layers.Dropout(0.3) after the hidden layers of your model",
            "give them kernel_regularizer=keras.regularizers.L2(1e-4)",
            "use fewer units",
        ]
    steps.append("train on more data")
    return f"{first} To overfit less: {'; '.join(steps)}."


def _regularise_mlp(estimator) -> list:
    steps = []
    dropout, l2 = float(estimator.dropout), float(estimator.l2)
    if dropout < 0.5:
        steps.append(f"dropout is {dropout:g}: try {0.3 if dropout < 0.3 else 0.5:g}")
    if l2 < 1e-2:
        steps.append(f"l2 is {l2:g}: try {1e-4 if l2 == 0 else l2 * 10:g}")
    sizes = _sizes(estimator.hidden_layer_sizes)
    smaller = tuple(max(1, size // 2) for size in sizes)
    if sizes and smaller != sizes:
        steps.append(f"hidden_layer_sizes is {sizes}: try {smaller}")
    return steps


def _sizes(hidden_layer_sizes) -> tuple:
    if isinstance(hidden_layer_sizes, Integral):
        return (int(hidden_layer_sizes),)
    return tuple(int(size) for size in hidden_layer_sizes)


def _check_underfitting(context) -> list:
    estimator = context.estimator
    train_best, baseline = context.train_best, context.baseline
    evidence = {"best_epoch": context.best_epoch, "n_epochs": context.n_epochs}
    evidence["epochs"] = int(estimator.epochs)
    evidence["train_loss_best"] = train_best
    signs, weak = [], False
    if baseline is not None:
        evidence.update(baseline_loss=baseline, train_baseline_ratio=train_best / baseline)
        if train_best >= BASELINE_SHARE * baseline:
            weak = True
            what = "the class priors" if context.classifier else "the mean"
            signs.append(
                f"the training loss {train_best:.3g} at epoch {context.best_epoch} is "
                f"{train_best / baseline:.0%} of the baseline {baseline:.3g} (predicting {what})"
            )
    still_falling = (
        context.val_loss is not None
        and context.best_epoch == context.n_epochs == int(estimator.epochs)
        and context.n_epochs > 1
    )
    if still_falling:
        # A loss still creeping down at the end is not worth more epochs; one falling fast is.
        val = context.val_loss
        window = min(max(int(estimator.patience), 1), len(val) - 1)
        recent_fall = float(val[-1 - window] - val[-1])
        evidence["val_loss_recent_fall"] = recent_fall
        still_falling = recent_fall >= STILL_FALLING * float(val[-1 - window])
    if still_falling:
        signs.append(
            f"the validation loss was still falling at the last of epochs={estimator.epochs} "
            f"({recent_fall / float(val[-1 - window]):.0%} in its last {window} epochs)"
        )
    chance, numbers = _chance_sign(context)
    evidence.update(numbers)
    if chance:
        weak = True
        signs.append(chance)
    if not signs:
        return []
    return [Finding("underfitting", "; ".join(signs), evidence, _underfitting_fix(context, weak))]


def _chance_sign(context) -> tuple[str | None, dict]:
    """Whether the model does no better than chance on ``X, y`` (the sign, or None), and the
    numbers that say so."""
    if not context.comparable:
        return None, {}
    metrics, n_rows = context.given.metrics, context.given.n_rows
    if "r2" in metrics:
        sign = None
        if metrics["r2"] <= MIN_R2:
            sign = f"R^2 on the {n_rows} rows given is {metrics['r2']:.3f}"
        return sign, {"r2": metrics["r2"]}
    if "balanced_accuracy" in metrics:
        score, chance = metrics["balanced_accuracy"], 1.0 / len(context.estimator.classes_)
        sign = None
        if score <= chance + CHANCE_MARGIN:
            sign = (
                f"balanced accuracy on the {n_rows} rows given is {score:.3f}, near chance "
                f"({chance:.3g})"
            )
        return sign, {"balanced_accuracy": score, "chance": chance}
    return None, {}


def _underfitting_fix(context, weak: bool) -> str:
    estimator = context.estimator
    epochs = int(estimator.epochs)
    steps = []
    if context.best_epoch == context.n_epochs == epochs:
        steps.append(f"epochs is {epochs}: try {2 * epochs}")
    if weak:
        steps += _strengthen(estimator)
    advice = f"To learn more: {'; '.join(steps)}." if steps else ""
    if weak:
        advice += (
            " If a bigger network only overfits, X carries little information about y: check "
            "that the rows of X and y line up and that the informative features are included."
        )
    return advice.strip()


def _strengthen(estimator) -> list:
    steps = []
    if estimator.model is None:
        sizes = _sizes(estimator.hidden_layer_sizes)
        if not sizes:
            steps.append("hidden_layer_sizes is () (a linear model): try (64, 32)")
        else:
            steps.append(f"hidden_layer_sizes is {sizes}: try {tuple(2 * size for size in sizes)}")
        if float(estimator.dropout) >= 0.3:
            steps.append(f"dropout is {float(estimator.dropout):g}: try 0.1")
        if float(estimator.l2) >= 1e-3:
            steps.append(f"l2 is {float(estimator.l2):g}: try {float(estimator.l2) / 10:g}")
    else:
        steps.append("a wider or deeper model")
    rate = estimator.learning_rate
    if rate is None:
        steps.append("learning_rate is None (the optimizer's own, 1e-3 for Adam): try 3e-3")
    elif rate < 1e-2:  # above, a higher rate tends to diverge rather than learn more
        suggested = 1e-3 if rate < 1e-4 else 3 * rate
        steps.append(f"learning_rate is {rate:g}: try {suggested:g}")
    return steps


def _check_imbalance(context) -> list:
    if not context.classifier or context.target_type not in ("binary", "multiclass"):
        return []
    if context.profile is None or context.profile.class_counts is None:
        return []
    estimator = context.estimator
    counts = np.asarray(context.profile.class_counts)
    smallest = int(np.argmin(counts))
    share = counts[smallest] / counts.sum()
    if share >= MINORITY_SHARE * 2 / len(counts) or _adapted_to_imbalance(estimator):
        return []
    minority = _plain(estimator.classes_[smallest])
    evidence = {
        "classes": estimator.classes_.tolist(),
        "class_counts": counts.tolist(),
        "minority_class": minority,
        "minority_share": float(share),
        "imbalance_ratio": float(counts.max() / counts[smallest]),
    }
    title = (
        f"class {minority!r} holds {share:.1%} of the {counts.sum()} training rows "
        f"({evidence['imbalance_ratio']:.1f}:1)"
    )
    if context.labelled:
        metrics = context.given.metrics
        evidence.update(
            accuracy=metrics["accuracy"], balanced_accuracy=metrics["balanced_accuracy"]
        )
        title += (
            f"; on the {context.given.n_rows} rows given, accuracy {metrics['accuracy']:.3f} vs "
            f"balanced accuracy {metrics['balanced_accuracy']:.3f}"
        )
    return [Finding("imbalance", title, evidence, _imbalance_fix(estimator))]


def _adapted_to_imbalance(estimator) -> bool:
    """Whether the fit already answers imbalance, so that it is a property, not a problem.

    A tuned threshold (``threshold="auto"``), a threshold the user chose, a
    ``class_weight`` or a ``sampler`` each move the decisions away from "always
    the majority"; what is left is judging the model by the right metrics,
    which the imbalance report does.
    """
    if estimator.class_weight is not None or getattr(estimator, "sampler", None) is not None:
        return True
    if estimator.target_type_ != "binary":
        return False
    return _threshold_tuned(estimator) or float(estimator.threshold_) != DEFAULT_THRESHOLD


def _threshold_tuned(estimator) -> bool:
    search = estimator.threshold_search_
    return search is not None and not isinstance(search, list) and search.tuned


def _imbalance_fix(estimator) -> str:
    """What adapts the fit to imbalance (only asked when nothing does yet)."""
    steps = []
    if estimator.target_type_ == "binary":
        if _is_auto(estimator.threshold):
            steps.append(
                "threshold='auto' left the decision threshold at 0.5 (the ThresholdWarning "
                "fit emitted says why)"
            )
        else:
            steps.append(
                f"threshold is fixed at {estimator.threshold_:g}: threshold='auto' tunes it for "
                "balanced accuracy on held-out rows"
            )
    else:
        steps.append("predict picks the most probable class, which favours the large classes")
    steps.append(
        "class_weight='balanced' or an imbalanced-learn sampler (e.g. "
        "sampler=RandomOverSampler()) make training weigh the rare class more"
    )
    steps.append(
        "judge the model by balanced accuracy or PR-AUC, not accuracy: "
        "safekeras.metrics.imbalance_report(estimator, X_test, y_test)"
    )
    return "; ".join(steps) + "."


def _check_threshold(context) -> list:
    curve = context.curve
    if curve is None or not context.comparable:
        return []
    estimator = context.estimator
    threshold, scoring = float(estimator.threshold_), curve["scoring"]
    fixed = not _threshold_tuned(estimator)
    if fixed:
        # 0.5 is among the candidates, so a fixed threshold worse than 0.5 is caught too.
        found = curve["best"] >= curve["at_threshold"] + THRESHOLD_MARGIN
    else:
        # The in-sample best flatters these rows: only losing to 0.5 is held against tuning.
        found = curve["at_threshold"] <= curve["at_half"] - THRESHOLD_MARGIN
    if not found:
        return []
    evidence = {
        "threshold": threshold,
        "threshold_source": _threshold_source(estimator),
        "scoring": scoring,
        "score_at_threshold": curve["at_threshold"],
        "score_at_0.5": curve["at_half"],
        "best_score_in_sample": curve["best"],
        "best_threshold_in_sample": curve["best_threshold"],
        "n_positive": curve["n_positive"],
        "n_negative": curve["n_negative"],
    }
    n_rows = context.given.n_rows
    if not fixed:
        title = (
            f"threshold_ {threshold:.3g} scores {scoring} {curve['at_threshold']:.3f} on the "
            f"{n_rows} rows given, {curve['at_half'] - curve['at_threshold']:.3f} below 0.5 "
            f"({curve['at_half']:.3f})"
        )
        fix = (
            f"threshold_ was tuned on {estimator.threshold_search_.source}, which these rows "
            "do not bear out: tune it on more rows with threshold_cv=5 (out-of-fold "
            "probabilities of every training row) or fix threshold=0.5. If these rows come "
            "from another population than the training rows, refit on data like them."
        )
    else:
        title = (
            f"the fixed threshold {threshold:.3g} scores {scoring} "
            f"{curve['at_threshold']:.3f} on the {n_rows} rows given; 0.5 scores "
            f"{curve['at_half']:.3f} and {curve['best_threshold']:.3g} would score "
            f"{curve['best']:.3f} (in-sample)"
        )
        fix = _fixed_threshold_fix(estimator, curve)
    return [Finding("threshold", title, evidence, fix)]


def _fixed_threshold_fix(estimator, curve) -> str:
    if _is_auto(estimator.threshold):
        first = (
            "threshold='auto' keeps 0.5 because class_weight or sampler states the costs: if "
            "these rows should be decided otherwise, change the weights, or tune the threshold "
            "for a metric with threshold_scoring (e.g. 'f1')."
        )
    else:
        first = (
            f"The threshold is fixed (threshold={estimator.threshold!r}): threshold='auto' "
            "tunes it for threshold_scoring on held-out rows."
        )
    return (
        f"{first} threshold={curve['best_threshold']:.2f} is the best on these rows, but it was "
        "chosen on them: confirm it on other data."
    )


def _check_label_inversion(context) -> list:
    if not context.classifier:
        return []
    return context.label_findings + _majority_positive(context)


def _label_findings(context) -> list:
    """Signs that ``y`` is encoded differently from ``fit``: unknown, swapped or permuted labels.

    Found before the other checks, which skip comparing predictions with a ``y`` that
    does not mean what ``fit``'s did.
    """
    if not context.classifier or context.given is None:
        return []
    if context.given.unknown:
        return [_unknown_labels(context)]
    if context.drift:
        return []
    if context.target_type == "binary":
        return _inverted_predictions(context)
    if context.target_type == "multiclass":
        return _permuted_labels(context)
    return []


def _unknown_labels(context) -> Finding:
    estimator, given = context.estimator, context.given
    classes = estimator.classes_.tolist()
    n_unknown = int(np.count_nonzero(given.y < 0))
    title = (
        f"y holds {len(given.unknown)} label(s) fit never saw ({_shown(given.unknown)}) in "
        f"{n_unknown} of {given.n_rows} rows; the classes are {_shown(classes)}"
    )
    evidence = {
        "unknown_labels": list(given.unknown[:20]),
        "n_rows_unknown": n_unknown,
        "classes": classes,
    }
    fix = (
        "Encode y as it was encoded for fit: the same label values of the same type (1 and "
        "'1' differ). The checks that compare predictions with y were skipped."
    )
    return Finding("label_inversion", title, evidence, fix)


def _inverted_predictions(context) -> list:
    estimator, given = context.estimator, context.given
    auc = given.metrics.get("roc_auc")
    positive = estimator._pos_index()
    n_positive = int(np.count_nonzero(given.y == positive))
    n_negative = given.n_rows - n_positive
    if auc is None or min(n_positive, n_negative) < MIN_AUC_ROWS or auc >= INVERTED_AUC:
        return []
    pos_label = _plain(estimator.pos_label_)
    title = (
        f"the predictions run opposite to y: ROC-AUC of P({pos_label!r}) is {auc:.3f} on the "
        f"{given.n_rows} rows given (balanced accuracy "
        f"{given.metrics['balanced_accuracy']:.3f})"
    )
    evidence = {
        "roc_auc": auc,
        "balanced_accuracy": given.metrics["balanced_accuracy"],
        "pos_label": pos_label,
        "n_positive": n_positive,
        "n_negative": n_negative,
    }
    fix = (
        f"y is probably encoded opposite to fit (the two labels swapped, e.g. 0 and 1, or "
        f"{pos_label!r} meaning the other outcome here): check how these labels were built. "
        "If they are right, the training labels were swapped: refit on corrected labels. "
        + _SKIPPED
    )
    return [Finding("label_inversion", title, evidence, fix)]


def _permuted_labels(context) -> list:

    estimator, given = context.estimator, context.given
    classes = estimator.classes_
    if given.n_rows < MIN_RELABEL_ROWS * len(classes):
        return []
    matrix = confusion_matrix(given.y, given.predicted, labels=np.arange(len(classes)))
    rows, columns = linear_sum_assignment(matrix, maximize=True)
    accuracy = np.trace(matrix) / given.n_rows
    relabelled = matrix[rows, columns].sum() / given.n_rows
    chance = 1 / len(classes)
    skilled = relabelled >= chance + RELABELLED_SKILL * (1 - chance)
    if relabelled - accuracy < RELABEL_GAIN or not skilled:
        return []
    pairs = zip(rows, columns, strict=True)
    moves = [(_plain(classes[r]), _plain(classes[c])) for r, c in pairs if r != c]
    described = ", ".join(f"{a!r} as {b!r}" for a, b in moves)
    title = (
        f"y's labels look permuted: reading {described} raises accuracy from "
        f"{accuracy:.3f} to {relabelled:.3f} on the {given.n_rows} rows given"
    )
    evidence = {
        "accuracy": float(accuracy),
        "relabelled_accuracy": float(relabelled),
        "relabelling": [[a, b] for a, b in moves],
    }
    first, second = moves[0]
    fix = (
        f"The model predicts {second!r} where y says {first!r}: y was probably encoded with "
        "another label mapping than in fit (a LabelEncoder or category codes fitted on other "
        "data, or a different order). Encode y as for fit. " + _SKIPPED
    )
    return [Finding("label_inversion", title, evidence, fix)]


def _majority_positive(context) -> list:
    estimator, profile = context.estimator, context.profile
    if context.target_type != "binary" or estimator.pos_label is not None or profile is None:
        return []
    counts = np.asarray(profile.class_counts)
    positive = estimator._pos_index()
    share = counts[positive] / counts.sum()
    if share < MAJORITY_SHARE:
        return []
    pos_label = _plain(estimator.pos_label_)
    minority = _plain(estimator.classes_[1 - positive])
    title = (
        f"the positive class {pos_label!r} (classes_[1], the default) is the majority: "
        f"{share:.0%} of the {counts.sum()} training rows"
    )
    evidence = {
        "pos_label": pos_label,
        "pos_label_share": float(share),
        "minority_class": minority,
        "class_counts": counts.tolist(),
    }
    fix = (
        f"Metrics of one class (F1, recall, precision, PR-AUC, imbalance_report, and "
        f"threshold_scoring='f1') now measure how well the model finds the common class "
        f"{pos_label!r}. To find the rare class {minority!r}, pass pos_label={minority!r}. If "
        f"{pos_label!r} is the class to find, pass pos_label={pos_label!r}: this finding goes."
    )
    return [Finding("label_inversion", title, evidence, fix)]


def _check_drift(context) -> list:
    report = context.drift
    if not report:
        return []
    findings = report.findings
    columns = report.columns
    title = (
        f"the {report.n_rows} rows given do not look like the training data: "
        f"{len(findings)} kind(s) of drift in {len(columns)} column(s) ({_shown(columns)})"
    )
    evidence = {
        "n_rows": report.n_rows,
        "kinds": [finding.kind for finding in findings],
        "columns": list(columns),
        "messages": [finding.message for finding in findings],
    }
    fix = (
        "Each message names the likely cause: prepare these rows exactly as the training "
        "rows were (same units, scaling and encoding), or refit on data like them."
    )
    if context.labelled:
        fix += (
            " Until then the metrics on these rows say little about the fit: the checks that "
            "compare predictions with y (overfitting, underfitting, threshold, label "
            "inversion) were skipped."
        )
    return [Finding("drift", title, evidence, fix)]


_CHECKS = (
    _check_overfitting,
    _check_underfitting,
    _check_imbalance,
    _check_threshold,
    _check_label_inversion,
    _check_drift,
)


# -- summary and plot data -------------------------------------------------------------------


def _summary(context) -> dict:
    estimator = context.estimator
    summary = {"target_type": context.target_type}
    if context.classifier:
        summary["classes"] = estimator.classes_.tolist()
        if context.profile is not None:
            summary["class_counts"] = list(context.profile.class_counts)
        if context.target_type == "binary":
            summary["pos_label"] = _plain(estimator.pos_label_)
    if context.profile is not None:
        summary.update(
            n_rows=context.profile.n_rows,
            n_train=context.profile.n_train,
            n_validation=context.profile.n_validation,
        )
    summary.update(
        epochs=int(estimator.epochs),
        n_epochs=context.n_epochs,
        best_epoch=context.best_epoch,
        early_stopping=bool(estimator.early_stopping),
        train_loss_best=context.train_best,
        train_loss_final=float(context.loss[-1]),
    )
    if context.val_loss is not None:
        summary["val_loss_best"] = float(context.val_loss[context.best_epoch - 1])
        summary["val_loss_final"] = float(context.val_loss[-1])
    summary["baseline_loss"] = context.baseline
    if context.classifier and context.target_type != "multiclass":
        summary.update(_threshold_summary(estimator))
    if context.drift is not None:
        summary["given_rows"] = context.drift.n_rows
        summary["given_drift_findings"] = len(context.drift.findings)
    if context.labelled:
        summary["given_loss"] = context.given.loss
        summary.update(context.given.metrics)
    if context.curve is not None:
        curve = context.curve
        summary.update(
            {
                "score_at_threshold": curve["at_threshold"],
                "score_at_0.5": curve["at_half"],
                "best_score_in_sample": curve["best"],
                "best_threshold_in_sample": curve["best_threshold"],
            }
        )
    return summary


def _threshold_summary(estimator) -> dict:
    threshold = estimator.threshold_
    summary = {
        "threshold": threshold.tolist() if isinstance(threshold, np.ndarray) else threshold,
        "threshold_source": _threshold_source(estimator),
    }
    search = estimator.threshold_search_
    if estimator.target_type_ == "binary" and search is not None and search.tuned:
        scoring = estimator.threshold_scoring
        summary["threshold_scoring"] = scoring if isinstance(scoring, str) else repr(scoring)
        summary["threshold_tuning_score"] = search.score
        summary["threshold_tuning_score_at_0.5"] = search.default_score
    return summary


def _threshold_source(estimator) -> str:
    search = estimator.threshold_search_
    if search is None:
        if _is_auto(estimator.threshold) and estimator.target_type_ != "multiclass":
            return "0.5: class_weight or sampler states the costs, so threshold='auto' keeps it"
        return "fixed" if estimator.threshold is not None else "fixed (0.5)"
    if isinstance(search, list):
        tuned = sum(s.tuned for s in search)
        return f"tuned for {tuned} of {len(search)} labels on {search[0].source}"
    if not search.tuned:
        return f"not tunable on {search.source}, so 0.5"
    return f"tuned on {search.source}"


def _curves(context) -> dict:
    """The data :class:`~safekeras.plotting.DiagnosisDisplay` draws."""
    estimator = context.estimator
    curves = {
        "loss": context.loss.tolist(),
        "val_loss": None if context.val_loss is None else context.val_loss.tolist(),
        "best_epoch": context.best_epoch,
        "baseline_loss": context.baseline,
        "estimator_name": type(estimator).__name__,
    }
    if context.target_type != "binary":
        return curves
    positive = estimator._pos_index()
    curves.update(pos_label=_plain(estimator.pos_label_), threshold=float(estimator.threshold_))
    if context.curve is not None:
        curves.update(
            y_true=context.given.y == positive,
            y_score=context.given.proba[:, positive],
            thresholds=context.curve["thresholds"],
            scores=context.curve["scores"],
            scoring_name=context.curve["scoring"],
            scores_source=f"the {context.given.n_rows} rows given",
        )
        return curves
    search = estimator.threshold_search_
    if search is not None and search.tuned:
        scoring = estimator.threshold_scoring
        curves.update(
            thresholds=search.thresholds,
            scores=search.scores,
            scoring_name=scoring if isinstance(scoring, str) else repr(scoring),
            scores_source=search.source,
        )
    return curves


# -- formatting ------------------------------------------------------------------------------


def _is_auto(value) -> bool:
    return isinstance(value, str) and value == "auto"


def _shown(values) -> str:
    values = list(values)
    shown = ", ".join(repr(_plain(v)) for v in values[:_SHOWN])
    if len(values) > _SHOWN:
        shown += f" and {len(values) - _SHOWN} more"
    return shown


def _plain(value):
    """Plain Python values for JSON: numpy scalars and arrays unwrapped, NaN as None."""
    if isinstance(value, dict):
        return {str(_plain(k)): _plain(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _fmt(value) -> str:
    value = _plain(value)
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        if value and all(isinstance(v, str) and len(v) > 40 for v in value):
            return "".join(f"\n{' ' * 6}- {v}" for v in value)
        shown = [repr(v) if isinstance(v, str) else _fmt(v) for v in value[:_LIST_SHOWN]]
        if len(value) > _LIST_SHOWN:
            shown.append(f"... ({len(value) - _LIST_SHOWN} more)")
        return "[" + ", ".join(shown) + "]"
    return str(value)
