"""The classifier's decision rule at predict time: outputs to probabilities, labels and scores.

``predict_proba`` reads the network's outputs as one probability column per
class (:func:`proba_from_outputs`); ``predict`` applies the fitted threshold
to them (:func:`predicted_labels`) and ``decision_function`` gives scores
whose sign or argmax agrees with ``predict`` (:func:`decision_scores`).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "decision_scores",
    "logit",
    "positive_index",
    "predicted_labels",
    "proba_from_outputs",
]


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


def predicted_labels(proba, target_type: str, classes, threshold, positive) -> np.ndarray:
    """Labels read from ``proba`` with ``threshold`` (on column ``positive`` when binary).

    Multilabel: a 0/1 indicator matrix, each label on where its probability is
    at least its threshold. Multiclass: the most probable class.
    """
    if target_type == "multilabel-indicator":
        return (proba.astype(np.float64) >= threshold).astype(np.int64)
    if target_type == "binary":
        # float64, as in the threshold search, so a row on the threshold decides alike.
        is_positive = proba[:, positive].astype(np.float64) >= threshold
        return np.where(is_positive, classes[positive], classes[1 - positive])
    return classes[np.argmax(proba, axis=1)]


def decision_scores(proba, target_type: str, threshold, positive) -> np.ndarray:
    """Scores whose sign (binary, multilabel) or argmax (multiclass) is the decision.

    Binary: ``logit(p) - logit(t)`` with ``p`` the probability of
    ``classes[1]`` and ``t`` the threshold on it; multilabel: the same per
    label; multiclass: log-probabilities.
    """
    if target_type == "multiclass":
        return np.log(np.clip(proba, 1e-300, None))
    if target_type == "binary":
        proba = proba[:, 1]
        if positive == 0:
            threshold = 1.0 - threshold
    return logit(proba) - logit(np.float64(threshold))


def logit(p):
    """``log(p / (1 - p))`` in float64, ``p`` clipped to [1e-15, 1 - 1e-15] to stay finite."""
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-15, 1 - 1e-15)
    return np.log(p) - np.log1p(-p)
