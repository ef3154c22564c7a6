"""The imbalance and threshold checks: a rare class nothing adapts to, a threshold that loses."""

from __future__ import annotations

import numpy as np

from ..decision.thresholds import DEFAULT_THRESHOLD
from .report import Finding
from .summary import _threshold_source
from .text import _is_auto, _plain

__all__ = ["MINORITY_SHARE", "THRESHOLD_MARGIN"]

#: The smallest of two classes holding less than this share of the training rows makes accuracy
#: and a 0.5 threshold misleading (a constant prediction is then over 80 % accurate). With K
#: classes the bar is the same share of an equal split, ``MINORITY_SHARE * 2 / K``: 10 % for 4
#: classes, so that 10 balanced classes of 10 % each are not "imbalanced".
MINORITY_SHARE = 0.2
#: A threshold scoring this much worse (in ``threshold_scoring``, balanced accuracy by
#: default) than 0.5, or when fixed than the best threshold, on the data given is reported.
#: One row of 20 changes a recall by 0.05, so rows of each class must number at least
#: :data:`safekeras.thresholds.MIN_CLASS_COUNT`.
THRESHOLD_MARGIN = 0.05


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
    if estimator.target_type_ == "multiclass":
        # threshold="auto"'s prior-corrected rule already weighs the rare classes up.
        multipliers = getattr(estimator, "class_multipliers_", None)
        return multipliers is not None and bool(np.ptp(multipliers) > 0)
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
        steps.append(
            "predict picks the most probable class, which favours the large classes "
            "(threshold='auto' with threshold_scoring='balanced_accuracy' divides each "
            "class's probability by its training share)"
        )
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
