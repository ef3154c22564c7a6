"""The classifier's decision rule at predict time: outputs to probabilities, labels and scores.

``predict_proba`` reads the network's outputs as one probability column per
class (:func:`proba_from_outputs`); ``predict`` applies the fitted threshold
(binary, multilabel) or class multipliers (multiclass) to them
(:func:`predicted_labels`) and ``decision_function`` gives scores whose sign
or argmax agrees with ``predict`` (:func:`decision_scores`).
:func:`prior_multipliers` gives the multipliers of the rule that maximises
balanced accuracy: each class's probability divided by its training share.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "PRIOR_CORRECTED_SCORINGS",
    "check_multipliers",
    "decision_scores",
    "logit",
    "positive_index",
    "predicted_labels",
    "prior_multipliers",
    "proba_from_outputs",
]

#: ``threshold_scoring`` names whose best multiclass decision is the prior-corrected argmax.
#: Balanced accuracy (macro recall) weighs each class's errors by one over its share of the
#: rows, so its Bayes rule is ``argmax p(c|x) / prior(c)``; for accuracy, log-loss and any other
#: scorer the most probable class is kept.
PRIOR_CORRECTED_SCORINGS = frozenset({"balanced_accuracy", "recall_macro"})


def proba_from_outputs(target_type: str, outputs: np.ndarray) -> np.ndarray:
    """Network outputs as ``predict_proba`` columns (two for a 1-unit binary head)."""
    if target_type == "binary" and outputs.shape[1] == 1:
        positive = outputs[:, 0]
        return np.column_stack([1.0 - positive, positive])
    if target_type == "multilabel-indicator":
        return outputs
    return outputs / outputs.sum(axis=1, keepdims=True)


def positive_index(classes: np.ndarray, pos_label) -> int:
    """Position of ``pos_label`` in ``classes``."""
    return int(np.flatnonzero(classes == pos_label)[0])


def predicted_labels(
    proba, target_type: str, classes, threshold, positive, multipliers=None
) -> np.ndarray:
    """Labels read from ``proba`` with ``threshold`` (on column ``positive`` when binary).

    Multilabel: a 0/1 indicator matrix, each label on where its probability is
    at least its threshold. Multiclass: the class of the largest
    ``proba * multipliers`` (the most probable class when ``multipliers`` is
    None or all ones).
    """
    if target_type == "multilabel-indicator":
        return (proba.astype(np.float64) >= threshold).astype(np.int64)
    if target_type == "binary":
        # float64, as in the threshold search, so a row on the threshold decides alike.
        is_positive = proba[:, positive].astype(np.float64) >= threshold
        return np.where(is_positive, classes[positive], classes[1 - positive])
    return classes[np.argmax(_weighted(proba, multipliers), axis=1)]


def decision_scores(proba, target_type: str, threshold, positive, multipliers=None) -> np.ndarray:
    """Scores whose sign (binary, multilabel) or argmax (multiclass) is the decision.

    Binary: ``logit(p) - logit(t)`` with ``p`` the probability of
    ``classes[1]`` and ``t`` the threshold on it; multilabel: the same per
    label; multiclass: ``log(p * multipliers)``, the log-probabilities when
    ``multipliers`` is None or all ones.
    """
    if target_type == "multiclass":
        # The log of the very array predict takes the argmax of: ties and order are kept.
        return np.log(np.clip(_weighted(proba, multipliers), 1e-300, None))
    if target_type == "binary":
        proba = proba[:, 1]
        if positive == 0:
            threshold = 1.0 - threshold
    return logit(proba) - logit(np.float64(threshold))


def logit(p):
    """``log(p / (1 - p))`` in float64, ``p`` clipped to [1e-15, 1 - 1e-15] to stay finite."""
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-15, 1 - 1e-15)
    return np.log(p) - np.log1p(-p)


def _weighted(proba, multipliers):
    """``proba * multipliers`` in float64; ``proba`` itself for the plain argmax."""
    if multipliers is None or np.all(multipliers == 1.0):
        return proba
    return proba.astype(np.float64) * multipliers


def prior_multipliers(y_encoded, sample_weight, n_classes: int) -> np.ndarray:
    """``1 / prior(c)`` for each class, the priors the (weighted) training class shares.

    A network trained on these rows estimates ``p(c|x)`` under the training
    priors; dividing by them ranks the classes by ``p(x|c)``, which is the
    decision with the best expected balanced accuracy.

    Parameters
    ----------
    y_encoded : ndarray of int, shape (n_samples,)
        Class indices of the rows the network trained on.
    sample_weight : ndarray of shape (n_samples,) or None
        Their weights (None: equal).
    n_classes : int
        Number of classes; every one must have a positive weight.

    Returns
    -------
    ndarray of shape (n_classes,)
        Positive and finite, with ``sum(1 / multipliers) == 1``.
    """
    weights = np.ones(len(y_encoded)) if sample_weight is None else sample_weight
    totals = np.bincount(y_encoded, weights=np.asarray(weights, np.float64), minlength=n_classes)
    return totals.sum() / totals


def check_multipliers(multipliers, n_classes: int) -> str | None:
    """What is wrong with fitted class multipliers, in words, or None when they are a rule.

    Valid: an array of ``n_classes`` positive finite floats that is either all
    ones (the most probable class) or one over priors that sum to one (the
    prior-corrected rule).
    """
    array = np.asarray(multipliers) if isinstance(multipliers, np.ndarray) else None
    if array is None or array.shape != (n_classes,) or array.dtype.kind != "f":
        return f"expected an array of {n_classes} floats, got {multipliers!r}"
    if not np.all(np.isfinite(array) & (array > 0)):
        return f"they must be positive and finite, got {array.tolist()}"
    if not (np.all(array == 1.0) or abs(float(np.sum(1.0 / array)) - 1.0) < 1e-9):
        return (
            f"{array.tolist()} are neither all ones (the most probable class) nor one over "
            "class shares that sum to one (the prior-corrected rule)"
        )
    return None
