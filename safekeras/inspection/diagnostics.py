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

This module runs the checks; each pitfall's check and thresholds live in a module of
their own (:mod:`~safekeras.inspection.overfitting`, ``underfitting``, ``imbalance``
with the threshold check, ``labels``, ``drift``), what they read is measured once in
:mod:`~safekeras.inspection.measure`, and the report is built by
:mod:`~safekeras.inspection.report` and :mod:`~safekeras.inspection.summary`. The
thresholds are re-exported here (and by :mod:`safekeras.diagnostics`).
"""

from __future__ import annotations

from .drift import _check_drift
from .imbalance import MINORITY_SHARE, THRESHOLD_MARGIN, _check_imbalance, _check_threshold
from .labels import (
    INVERTED_AUC,
    MAJORITY_SHARE,
    MIN_AUC_ROWS,
    MIN_RELABEL_ROWS,
    RELABEL_GAIN,
    RELABELLED_SKILL,
    _check_label_inversion,
    _label_findings,
)
from .measure import _gather
from .overfitting import (
    GAP_RATIO,
    GAP_SHARE,
    MEMORISED_SHARE,
    NOISE_Z,
    RISE_SHARE,
    VAL_RISE,
    _check_overfitting,
)
from .profile import TrainingProfile, baseline_loss, training_profile
from .report import PITFALLS, Diagnosis, Finding
from .summary import _curves, _summary
from .underfitting import (
    BASELINE_SHARE,
    CHANCE_MARGIN,
    MIN_R2,
    STILL_FALLING,
    _check_underfitting,
)

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

_CHECKS = (
    _check_overfitting,
    _check_underfitting,
    _check_imbalance,
    _check_threshold,
    _check_label_inversion,
    _check_drift,
)


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
    context = _gather(estimator, X, y)
    if y is not None:
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
