"""The numbers a :class:`~safekeras.Diagnosis` always reports, and the data its plot draws."""

from __future__ import annotations

import numpy as np

from ..decision import threshold_fitting
from .text import _is_auto, _plain


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
    )
    if getattr(estimator, "ensemble_size_", 1) > 1:  # its losses are the members' mean
        summary["ensemble_size"] = int(estimator.ensemble_size_)
    summary.update(
        train_loss_best=context.train_best,
        train_loss_final=float(context.loss[-1]),
    )
    if context.val_loss is not None:
        summary["val_loss_best"] = float(context.val_loss[context.best_epoch - 1])
        summary["val_loss_final"] = float(context.val_loss[-1])
    summary["baseline_loss"] = context.baseline
    if context.classifier and context.target_type != "multiclass":
        summary.update(_threshold_summary(estimator))
    elif context.classifier and getattr(estimator, "class_multipliers_", None) is not None:
        summary["class_multipliers"] = estimator.class_multipliers_.tolist()
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
            return _untuned_auto_source(estimator)
        return "fixed" if estimator.threshold is not None else "fixed (0.5)"
    if isinstance(search, list):
        tuned = sum(s.tuned for s in search)
        return f"tuned for {tuned} of {len(search)} labels on {search[0].source}"
    if not search.tuned:
        return f"not tunable on {search.source}, so 0.5"
    return f"tuned on {search.source}"


def _untuned_auto_source(estimator) -> str:
    """Why ``threshold="auto"`` searched nothing: the costs are stated, or the prior is the rule."""
    if estimator.class_weight is not None or estimator.sampler is not None:
        return "0.5: class_weight or sampler states the costs, so threshold='auto' keeps it"
    # The conditions of threshold_fitting.decision_plan's "prior" plan (a binary target).
    prior = estimator.target_type_ == "binary" and _is_auto(estimator.threshold_cv)
    if prior and threshold_fitting.prior_plan(estimator) == "prior":
        return f"the positive class's training share ({estimator.threshold_scoring}'s rule)"
    return "0.5: partial_fit does not tune it"


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
