"""Threshold metrics at every candidate from one sorted pass over the probabilities.

Scoring a threshold with a scikit-learn scorer costs a full metric call (input
checks, label encoding, a confusion matrix); a search scores about 200
candidates and its bootstrap 100 more. The stock threshold metrics depend on
the predictions only through the four (weighted) counts of true and false
positives and negatives, so here the probabilities are sorted once, cumulative
sums give the counts at every candidate (as scikit-learn's
``precision_recall_curve`` does), and the metric is evaluated on all of them at
once, with the same arithmetic scikit-learn uses so that equal scores stay equal
and the search picks the same threshold.

Only scorers recognised exactly (the scorer's type, its metric function and
every keyword argument) take this path; :func:`counting_metric` returns None
for anything else, and the caller scores that scorer the generic way.
"""

from __future__ import annotations

import math
import numbers
import sys
from collections.abc import Callable

import numpy as np
from sklearn import metrics as sk_metrics
from sklearn.metrics._scorer import _Scorer

from .metrics import _ImbalanceScorer

__all__ = ["Counts", "SortedRows", "countable", "counting_metric", "counts_at"]


class Counts:
    """Weighted true/false positive/negative counts, one entry per threshold."""

    __slots__ = ("fn", "fp", "tn", "tp")

    def __init__(self, tp, fp, fn, tn):
        self.tp, self.fp, self.fn, self.tn = tp, fp, fn, tn

    def swapped(self) -> Counts:
        """The counts with the negative class read as the positive one."""
        return Counts(self.tn, self.fn, self.fp, self.tp)


def countable(y_positive, proba, sample_weight) -> bool:
    """Whether counts reproduce the scorer: finite probabilities, both classes, positive weights.

    A class with no weight makes some scikit-learn metrics raise or warn and drop
    that class; those rare inputs keep the generic path and its exact behaviour.
    """
    if not np.all(np.isfinite(proba)) or y_positive.all() or not y_positive.any():
        return False
    if sample_weight is None:
        return True
    weights = np.asarray(sample_weight)
    return weights.dtype.kind in "fiu" and bool(
        np.all(weights > 0) and np.all(np.isfinite(weights))
    )


class SortedRows:
    """Held-out rows sorted once by probability, with the class weights at or above each row.

    The one sort behind both the counts at every candidate threshold and the
    ROC-AUC, so a search sorts its probabilities once.

    Parameters
    ----------
    y_positive : ndarray of bool, shape (n_samples,)
        True for rows of the positive class.
    proba : ndarray of shape (n_samples,)
        Finite probabilities of the positive class.
    sample_weight : ndarray or None, default=None
        Positive row weights (see :func:`countable`).
    """

    __slots__ = ("above_neg", "above_pos", "neg_weights", "pos_weights", "proba")

    def __init__(self, y_positive, proba, sample_weight=None):
        order = np.argsort(proba, kind="stable")
        self.proba = proba[order]
        is_positive = np.asarray(y_positive, dtype=bool)[order]
        weights = np.ones(len(proba)) if sample_weight is None else np.asarray(sample_weight, float)
        weights = weights[order]
        self.pos_weights = np.where(is_positive, weights, 0.0)
        self.neg_weights = np.where(is_positive, 0.0, weights)
        # Weight of the positive (negative) rows at or above each sorted position, summed
        # from the top so that it is exact for integer weights however many rows there are.
        self.above_pos = _suffix_sums(self.pos_weights)
        self.above_neg = _suffix_sums(self.neg_weights)

    def counts_at(self, thresholds) -> Counts:
        """The counts when rows with ``proba >= threshold`` are predicted positive.

        The counts of a candidate are read at the first sorted position it does not
        exceed, so candidates that predict the same rows get bit-identical counts.
        """
        thresholds = np.asarray(thresholds, dtype=np.float64)
        first = np.searchsorted(self.proba, thresholds, side="left")
        tp, fp = self.above_pos[first], self.above_neg[first]
        return Counts(tp, fp, self.above_pos[0] - tp, self.above_neg[0] - fp)

    def roc_auc(self) -> float:
        """The weighted ROC-AUC: the Mann-Whitney statistic, ties counted half.

        The chance that a positive row outranks a negative one, each drawn by
        weight: equal to scikit-learn's ``roc_auc_score`` (the trapezoids under
        the ROC curve), without its input checks and its own sort.
        """
        proba = self.proba
        starts = np.flatnonzero(np.r_[True, proba[1:] != proba[:-1]])
        # Weight of each class at each distinct probability, summed within the tie group.
        tied_pos = np.add.reduceat(self.pos_weights, starts)
        tied_neg = np.add.reduceat(self.neg_weights, starts)
        below_neg = np.cumsum(tied_neg) - tied_neg
        wins = np.sum(tied_pos * (below_neg + tied_neg / 2))
        return float(wins / (self.above_pos[0] * self.above_neg[0]))


def counts_at(y_positive, proba, thresholds, sample_weight=None) -> Counts:
    """The counts when rows with ``proba >= threshold`` are predicted positive.

    One sort and two cumulative sums (:class:`SortedRows`).
    """
    return SortedRows(y_positive, proba, sample_weight).counts_at(thresholds)


def _suffix_sums(values: np.ndarray) -> np.ndarray:
    """``out[k] = values[k:].sum()`` for k in 0..n (``out[n] = 0``)."""
    return np.append(np.cumsum(values[::-1])[::-1], 0.0)


def counting_metric(scorer, labels) -> Callable[[Counts], np.ndarray] | None:
    """``metric(counts) -> scores`` equal to ``scorer`` on those counts, or None.

    Parameters
    ----------
    scorer : callable
        The threshold scorer (a scikit-learn ``_Scorer`` of a stock metric,
        or one of :func:`safekeras.metrics.imbalance_scoring`'s scorers).
    labels : tuple (negative, positive)
        The labels the scorer sees; a ``pos_label`` naming the negative one
        scores the negative class.
    """
    if type(scorer) is _ImbalanceScorer:
        return _imbalance_metric(scorer, labels)
    if type(scorer) is not _Scorer or scorer._response_method != "predict":
        return None
    if scorer._sign not in (1, -1):
        return None
    metric = _stock_metric(scorer._score_func, dict(scorer._kwargs), labels)
    if metric is None or scorer._sign == 1:
        return metric
    return lambda counts: -metric(counts)


def _imbalance_metric(scorer, labels):
    side = _side(scorer.pos_label, labels, default=labels[1])
    if side is None:
        return None
    name = scorer.name
    if name == "geometric_mean":
        return lambda c: _geometric_mean(c, 0.0)
    if name in ("accuracy", "balanced_accuracy"):
        return _stock_metric(_STOCK_FUNCTIONS[name], {}, labels)
    if name == "specificity":
        # recall_score(y != positive, pred != positive, zero_division=0.0)
        return _oriented(lambda c: _divide(c.tn, c.tn + c.fp, 0.0), side)
    if name in ("precision", "recall", "f1"):
        kwargs = {"pos_label": labels[side], "average": "binary", "zero_division": 0.0}
        return _stock_metric(_STOCK_FUNCTIONS[name], kwargs, labels)
    return None


def _stock_metric(function, kwargs, labels):
    """The counting form of a scikit-learn (or imbalanced-learn) metric call, or None."""
    if function is sk_metrics.accuracy_score:
        normalize = kwargs.pop("normalize", True)
        if kwargs or not isinstance(normalize, bool):
            return None
        return lambda c: _accuracy(c, normalize)
    if function is sk_metrics.balanced_accuracy_score:
        adjusted = kwargs.pop("adjusted", False)
        if kwargs or not isinstance(adjusted, bool):
            return None
        return lambda c: _balanced_accuracy(c, adjusted)
    if function is sk_metrics.matthews_corrcoef:
        return None if kwargs else _matthews
    if _is_geometric_mean(function):
        return _geometric_mean_metric(kwargs)
    if function is sk_metrics.jaccard_score:
        if _is_nan(kwargs.get("zero_division")):
            return None  # jaccard_score rejects it: the generic path raises its error
        return _set_wise(kwargs, labels, _jaccard_sums, _jaccard, nan_average=False)
    if function is sk_metrics.fbeta_score:
        beta = kwargs.pop("beta", None)
        if not isinstance(beta, numbers.Real) or isinstance(beta, bool) or not beta >= 0:
            return None
    elif function in _BETAS:
        beta = _BETAS[function]
    else:
        return None
    return _set_wise(kwargs, labels, _prf_sums, lambda s, zd: _prf(s, zd, beta), nan_average=True)


def _set_wise(kwargs, labels, sums, finish, *, nan_average):
    """A per-label metric with ``average`` binary, micro, macro or weighted.

    ``sums(counts)`` gives the per-label sums scikit-learn divides, ``finish(sums,
    zero_division)`` the metric from them; micro-averaging adds the sums of both labels.
    """
    average = kwargs.pop("average", "binary")
    pos_label = kwargs.pop("pos_label", 1)
    zero_division = kwargs.pop("zero_division", "warn")
    if kwargs or not _valid_zero_division(zero_division):
        return None
    zd = _zero_division_value(zero_division)
    if average == "binary":
        side = _side(pos_label, labels)
        return None if side is None else _oriented(lambda c: finish(sums(c), zd), side)
    if average == "micro":
        pooled = lambda c: tuple(n + p for n, p in zip(sums(c.swapped()), sums(c), strict=True))  # noqa: E731
        return lambda c: finish(pooled(c), zd)
    if average in ("macro", "weighted"):
        per_label = lambda c: finish(sums(c), zd)  # noqa: E731
        return lambda c: _label_average(c, per_label, average, nan_average)
    return None


def _side(pos_label, labels, default=None):
    """1 when ``pos_label`` is the positive label, 0 the negative one, None if unsure."""
    pos_label = default if pos_label is None else pos_label
    for side in (1, 0):
        if _same_label(pos_label, labels[side]):
            return side
    return None


def _same_label(a, b) -> bool:
    # Only plain equal labels of one kind: anything subtler (1 vs True, 1 vs 1.0)
    # keeps the generic path, where scikit-learn decides.
    def kind(value):
        if isinstance(value, bool | np.bool_):
            return "bool"
        if isinstance(value, numbers.Integral):
            return "int"
        return "str" if isinstance(value, str) else None

    return kind(a) is not None and kind(a) == kind(b) and a == b


def _oriented(metric, side):
    return metric if side == 1 else lambda c: metric(c.swapped())


def _valid_zero_division(value) -> bool:
    if isinstance(value, str):
        return value == "warn"
    return isinstance(value, numbers.Real) and (value in (0, 1) or _is_nan(value))


def _is_nan(value) -> bool:
    return isinstance(value, numbers.Real) and math.isnan(value)


def _zero_division_value(value) -> float:
    # As sklearn's _check_zero_division: "warn" scores 0 (the warning is silenced anyway).
    return 0.0 if isinstance(value, str) else float(value)


def _divide(numerator, denominator, zero_division):
    """scikit-learn's ``_prf_divide``: ``zero_division`` where the denominator is 0."""
    empty = denominator == 0
    result = numerator / np.where(empty, 1.0, denominator)
    return np.where(empty, zero_division, result)


def _prf_sums(c):
    """tp, predicted and true sums of the positive label (precision_recall_fscore_support)."""
    return c.tp, c.tp + c.fp, c.tp + c.fn


def _prf(sums, zd, beta):
    """Precision (beta 0), recall (beta inf) or F-beta from the sums."""
    tp, pred_sum, true_sum = sums
    if beta == 0:
        return _divide(tp, pred_sum, zd)
    if np.isposinf(beta):
        return _divide(tp, true_sum, zd)
    beta2 = beta**2
    return _divide((1 + beta2) * tp, beta2 * true_sum + pred_sum, zd)


def _jaccard_sums(c):
    return c.tp, c.tp + c.fp + c.fn


def _jaccard(sums, zd):
    return _divide(sums[0], sums[1], zd)


def _label_average(c, per_label, average, nan_average):
    """Macro or support-weighted mean over (negative, positive) labels.

    precision_recall_fscore_support ignores a NaN (``zero_division=np.nan``);
    jaccard_score averages with ``np.average`` and keeps it.
    """
    values = (per_label(c.swapped()), per_label(c))
    if average == "weighted":
        weights = (c.tn + c.fp, c.tp + c.fn)  # rows of each true label
        return _weighted_mean(values, weights, ignore_nan=nan_average)
    if not nan_average:
        return (values[0] + values[1]) / 2
    return _nanmean_pair(*values)


def _nanmean_pair(a, b):
    """``np.nanmean`` of two values: NaN only when both are NaN."""
    a_nan, b_nan = np.isnan(a), np.isnan(b)
    total = np.where(a_nan, 0.0, a) + np.where(b_nan, 0.0, b)
    count = (~a_nan).astype(float) + (~b_nan).astype(float)
    with np.errstate(invalid="ignore"):
        return total / count


def _weighted_mean(values, weights, *, ignore_nan):
    (a, b), (wa, wb) = values, weights
    a_nan = np.isnan(a) & ignore_nan
    b_nan = np.isnan(b) & ignore_nan
    total = np.where(a_nan, 0.0, a * wa) + np.where(b_nan, 0.0, b * wb)
    scale = np.where(a_nan, 0.0, wa) + np.where(b_nan, 0.0, wb)
    with np.errstate(invalid="ignore"):
        return total / scale


def _accuracy(c, normalize):
    correct = c.tp + c.tn
    return correct / (correct + c.fp + c.fn) if normalize else correct


def _balanced_accuracy(c, adjusted):
    score = (c.tn / (c.tn + c.fp) + c.tp / (c.fn + c.tp)) / 2
    return (score - 0.5) / (1 - 0.5) if adjusted else score


def _matthews(c):
    # sklearn's covariance form on the confusion matrix [[tn, fp], [fn, tp]].
    t_neg, t_pos = c.tn + c.fp, c.fn + c.tp
    p_neg, p_pos = c.tn + c.fn, c.fp + c.tp
    n_correct = c.tn + c.tp
    n_samples = p_neg + p_pos
    cov_ytyp = n_correct * n_samples - (t_neg * p_neg + t_pos * p_pos)
    cov_ypyp = n_samples**2 - (p_neg * p_neg + p_pos * p_pos)
    cov_ytyt = n_samples**2 - (t_neg * t_neg + t_pos * t_pos)
    product = cov_ypyp * cov_ytyt
    zero = product == 0
    return np.where(zero, 0.0, cov_ytyp / np.sqrt(np.where(zero, 1.0, product)))


def _is_geometric_mean(function) -> bool:
    # imbalanced-learn is imported lazily (0.3 s): a scorer holding its metric imported it.
    module = sys.modules.get("imblearn.metrics")
    return module is not None and function is getattr(module, "geometric_mean_score", None)


def _geometric_mean_metric(kwargs):
    average = kwargs.pop("average", "multiclass")
    correction = kwargs.pop("correction", 0.0)
    if kwargs.get("labels", 0) is None:
        del kwargs["labels"]
    if kwargs or average != "multiclass" or not isinstance(correction, numbers.Real):
        return None
    return lambda c: _geometric_mean(c, float(correction))


def _geometric_mean(c, correction):
    """imbalanced-learn's multiclass G-mean: scipy's gmean of the per-class recalls."""
    from scipy.stats import gmean

    recalls = np.column_stack([c.tn / (c.tn + c.fp), c.tp / (c.tp + c.fn)])
    recalls[recalls == 0] = correction
    with np.errstate(divide="ignore", invalid="ignore"):
        return gmean(recalls, axis=1)


# The beta for which precision_recall_fscore_support's F-score is the metric.
_BETAS = {sk_metrics.f1_score: 1, sk_metrics.precision_score: 0, sk_metrics.recall_score: np.inf}
_STOCK_FUNCTIONS = {
    "accuracy": sk_metrics.accuracy_score,
    "balanced_accuracy": sk_metrics.balanced_accuracy_score,
    "precision": sk_metrics.precision_score,
    "recall": sk_metrics.recall_score,
    "f1": sk_metrics.f1_score,
}
