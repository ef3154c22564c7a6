"""The label-inversion check: ``y`` holds unknown, swapped or permuted labels, or the
default positive class is the common one."""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import confusion_matrix

from .imbalance import MINORITY_SHARE
from .report import Finding
from .text import _plain, _shown

__all__ = [
    "INVERTED_AUC",
    "MAJORITY_SHARE",
    "MIN_AUC_ROWS",
    "MIN_RELABEL_ROWS",
    "RELABELLED_SKILL",
    "RELABEL_GAIN",
]

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
# Said when y looks encoded differently from fit.
_SKIPPED = (
    "The checks that compare predictions with y (overfitting, underfitting, threshold) were "
    "skipped."
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
