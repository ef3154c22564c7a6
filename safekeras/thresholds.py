"""Decision thresholds tuned once, on probabilities the network never trained on.

A classifier's probabilities are only half a decision: ``predict`` also needs
the probability above which a row counts as positive. 0.5 is right only when
the classes are balanced and errors cost the same; on imbalanced data it
predicts the majority class almost always, which accuracy then rewards. So
``threshold="auto"`` picks the threshold that maximises ``threshold_scoring``
(balanced accuracy by default, any scikit-learn scorer otherwise) on held-out
probabilities, the same search scikit-learn's
:class:`~sklearn.model_selection.TunedThresholdClassifierCV` runs, but on the
validation split the network already holds out for early stopping, so the
network is trained once instead of once per fold.

Multiclass targets are left to the most probable class: a threshold needs a
single "positive" class, and one-vs-rest thresholds can leave a row with no
class or several.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import check_scoring

from .exceptions import ThresholdWarning, external_stacklevel

__all__ = [
    "AUTO_CV_FOLDS",
    "DEFAULT_THRESHOLD",
    "MAX_CANDIDATES",
    "MAX_CHANGED_SHARE",
    "MIN_CLASS_COUNT",
    "ThresholdSearch",
    "auto_cv_folds",
    "make_threshold_scorer",
    "score_thresholds",
    "scorer_labels",
    "tune_threshold",
    "warn_if_unreliable",
]

#: The threshold used when there is nothing to tune it on.
DEFAULT_THRESHOLD = 0.5
#: At most this many candidate thresholds are scored (quantiles of the midpoints).
MAX_CANDIDATES = 200
#: Fewer positives or negatives than this in the held-out data make the threshold noisy.
MIN_CLASS_COUNT = 20
#: Internal fits of ``threshold_cv="auto"`` when the validation split is too small.
AUTO_CV_FOLDS = 5
#: A tuned threshold flipping more than this share of held-out predictions is reported.
MAX_CHANGED_SHARE = 0.25


@dataclass(frozen=True)
class ThresholdSearch:
    """The outcome of one threshold search, kept for reports and plots.

    Attributes
    ----------
    threshold : float
        The chosen threshold (``DEFAULT_THRESHOLD`` when it could not be tuned).
    thresholds, scores : ndarray
        Every candidate threshold and its score (empty when not tuned).
    score : float
        Score at ``threshold`` (NaN when not tuned).
    default_score : float
        Score at ``DEFAULT_THRESHOLD`` (NaN when not tuned).
    n_positive, n_negative : int
        Positive and negative rows the search saw.
    n_changed : int
        Held-out predictions that differ between ``threshold`` and 0.5.
    tuned : bool
        False when the held-out data could not support a search (one class
        only, or a scorer that does not depend on the threshold).
    n_folds : int
        0 when the held-out probabilities came from the validation split, else
        the number of internal fits that predicted every row out of fold.
    """

    threshold: float
    thresholds: np.ndarray
    scores: np.ndarray
    score: float
    default_score: float
    n_positive: int
    n_negative: int
    n_changed: int
    tuned: bool
    n_folds: int = 0

    @property
    def n_samples(self) -> int:
        return self.n_positive + self.n_negative

    @property
    def source(self) -> str:
        """Where the held-out probabilities came from, in words."""
        if self.n_folds:
            return (
                f"out-of-fold predictions of {self.n_folds} internal fits ({self.n_samples} rows)"
            )
        return f"the validation split ({self.n_samples} rows)"


def auto_cv_folds(class_counts, validation_fraction: float) -> int | None:
    """Folds for ``threshold_cv="auto"``: None when the validation split suffices.

    The validation split holds about ``validation_fraction`` of each class. When
    that is fewer than ``MIN_CLASS_COUNT`` rows of a class, a threshold tuned on
    it is noise, so every row is predicted out of fold instead, in
    ``AUTO_CV_FOLDS`` folds (fewer when a class has fewer rows than that; with
    under two rows in a class there is nothing to fold, and the split is used).

    Parameters
    ----------
    class_counts : sequence of int
        Rows per class (per label and side, for multilabel targets).
    validation_fraction : float
        The estimator's ``validation_fraction``.
    """
    smallest = min(class_counts)
    if int(smallest * validation_fraction) >= MIN_CLASS_COUNT or smallest < 2:
        return None
    return min(AUTO_CV_FOLDS, smallest)


def make_threshold_scorer(scoring):
    """A scikit-learn scorer from a name or a ``scorer(estimator, X, y)`` callable.

    Raises
    ------
    ValueError
        For an unknown scorer name (sklearn's message lists the valid ones).
    """
    return check_scoring(None, scoring=scoring)


def tune_threshold(
    y_positive: np.ndarray,
    proba: np.ndarray,
    scorer,
    *,
    sample_weight: np.ndarray | None = None,
    labels: tuple = (0, 1),
    n_folds: int = 0,
) -> ThresholdSearch:
    """Find the threshold on ``proba`` that maximises ``scorer``.

    Parameters
    ----------
    y_positive : ndarray of bool, shape (n_samples,)
        True for rows of the positive class.
    proba : ndarray of shape (n_samples,)
        Held-out probability of the positive class.
    scorer : callable
        ``scorer(estimator, X, y, sample_weight=...)``, as from
        :func:`make_threshold_scorer`. It sees a stand-in classifier whose
        ``predict`` applies the candidate threshold.
    sample_weight : ndarray or None
        Row weights passed to the scorer.
    labels : tuple (negative, positive)
        The labels the scorer sees. Named scorers get ``(0, 1)`` so that
        ``"f1"``, ``"recall"`` or ``"precision"`` score the positive class;
        a user's callable gets the original labels.
    n_folds : int
        Recorded in the result: 0 for a validation split, else the number of
        internal fits behind out-of-fold ``proba``.

    Returns
    -------
    ThresholdSearch
        Candidates are the midpoints between consecutive distinct
        probabilities (thinned to ``MAX_CANDIDATES`` quantiles) plus 0.5, so
        the tuned threshold never scores below 0.5 on this data. Among equal
        best scores the candidate closest to 0.5 wins: it changes the fewest
        predictions for no measured gain.
    """
    y_positive = np.asarray(y_positive, dtype=bool)
    proba = np.asarray(proba, dtype=np.float64)
    n_positive = int(y_positive.sum())
    n_negative = len(y_positive) - n_positive
    if n_positive == 0 or n_negative == 0:
        return _untuned(n_positive, n_negative, n_folds)

    candidates = _candidates(proba)
    scores = score_thresholds(
        y_positive, proba, scorer, candidates, sample_weight=sample_weight, labels=labels
    )
    scores = np.where(np.isnan(scores), -np.inf, scores)
    default_index = int(np.flatnonzero(candidates == DEFAULT_THRESHOLD)[0])
    finite = scores[np.isfinite(scores)]
    if finite.size == 0 or np.ptp(finite) < 1e-12:
        return _untuned(n_positive, n_negative, n_folds, candidates, scores)

    best = np.flatnonzero(scores == scores.max())
    chosen = best[np.argmin(np.abs(candidates[best] - DEFAULT_THRESHOLD))]
    threshold = float(candidates[chosen])
    n_changed = int(np.sum((proba >= threshold) != (proba >= DEFAULT_THRESHOLD)))
    return ThresholdSearch(
        threshold=threshold,
        thresholds=candidates,
        scores=scores,
        score=float(scores[chosen]),
        default_score=float(scores[default_index]),
        n_positive=n_positive,
        n_negative=n_negative,
        n_changed=n_changed,
        tuned=True,
        n_folds=n_folds,
    )


def scorer_labels(scoring, classes, positive: int) -> tuple:
    """The (negative, positive) labels a threshold scorer sees.

    Named scorers (``"f1"``, ``"recall"``) score label 1, so they get ``(0, 1)``
    and score the positive class; a callable gets the caller's own labels, e.g.
    for ``make_scorer(fbeta_score, beta=2, pos_label="fraud")``.

    Parameters
    ----------
    scoring : str or callable
        The ``threshold_scoring`` parameter.
    classes : ndarray of shape (2,)
        The binary target's classes.
    positive : int
        Index of the positive class in ``classes``.
    """
    if isinstance(scoring, str):
        return (0, 1)
    return (classes[1 - positive], classes[positive])


def score_thresholds(
    y_positive, proba, scorer, thresholds, *, sample_weight=None, labels=(0, 1)
) -> np.ndarray:
    """The score of each threshold applied to ``proba`` (NaN where the scorer gives none).

    Parameters
    ----------
    y_positive : ndarray of bool, shape (n_samples,)
        True for rows of the positive class.
    proba : ndarray of shape (n_samples,)
        Probability of the positive class.
    scorer : callable
        ``scorer(estimator, X, y, sample_weight=...)``; it sees a stand-in
        classifier whose ``predict`` applies each threshold in turn.
    thresholds : sequence of float
    sample_weight : ndarray or None, default=None
    labels : tuple (negative, positive), default=(0, 1)
        The labels the scorer sees (see :func:`scorer_labels`).
    """
    proba = np.asarray(proba, dtype=np.float64)
    stand_in = _ThresholdedProba(np.asarray(labels), proba)
    y_true = np.where(np.asarray(y_positive, dtype=bool), labels[1], labels[0])
    rows = np.arange(len(proba)).reshape(-1, 1)
    kwargs = {} if sample_weight is None else {"sample_weight": sample_weight}
    scores = np.empty(len(thresholds))
    with warnings.catch_warnings():
        # Precision with no predicted positive is scored 0, as it should be here.
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        for i, threshold in enumerate(thresholds):
            stand_in.threshold = threshold
            scores[i] = scorer(stand_in, rows, y_true, **kwargs)
    return scores


def warn_if_unreliable(searches: dict, scoring_name: str) -> None:
    """Emit one :class:`ThresholdWarning` for searches that deserve a second look.

    Parameters
    ----------
    searches : dict of label to ThresholdSearch
        One search per binary target (one per label for multilabel targets).
    scoring_name : str
        How to name the scorer in the message.
    """
    problems = []
    for label, search in searches.items():
        prefix = "" if label is None else f"label {label}: "
        if not search.tuned and min(search.n_positive, search.n_negative) == 0:
            problems.append(
                f"{prefix}{search.source} holds {search.n_positive} positive and "
                f"{search.n_negative} negative rows, so the threshold stays "
                f"{DEFAULT_THRESHOLD}"
            )
        elif not search.tuned:
            problems.append(
                f"{prefix}{scoring_name} scores every threshold the same (a ranking or "
                f"probability metric does not depend on it), so the threshold stays "
                f"{DEFAULT_THRESHOLD}; use a metric of predicted labels such as "
                "'balanced_accuracy' or 'f1'"
            )
        elif min(search.n_positive, search.n_negative) < MIN_CLASS_COUNT:
            problems.append(
                f"{prefix}the threshold {search.threshold:.3g} was tuned on only "
                f"{search.n_positive} positive and {search.n_negative} negative rows of "
                f"{search.source}, so it is noisy"
            )
        elif search.n_changed > MAX_CHANGED_SHARE * search.n_samples:
            problems.append(
                f"{prefix}the tuned threshold {search.threshold:.3g} changes "
                f"{search.n_changed} of {search.n_samples} held-out predictions versus "
                f"{DEFAULT_THRESHOLD} ({scoring_name} {search.default_score:.3f} -> "
                f"{search.score:.3f}); the probabilities are far from calibrated for "
                "this decision"
            )
    if problems:
        warnings.warn(
            "Decision threshold: "
            + "; ".join(problems)
            + ". More data makes it steadier (threshold_cv=k tunes on out-of-fold "
            "probabilities of every row); pass threshold=<float> to fix it.",
            ThresholdWarning,
            stacklevel=external_stacklevel(),
        )


def _candidates(proba: np.ndarray) -> np.ndarray:
    distinct = np.unique(proba)
    midpoints = (distinct[:-1] + distinct[1:]) / 2
    if len(midpoints) > MAX_CANDIDATES:
        midpoints = np.unique(np.quantile(midpoints, np.linspace(0, 1, MAX_CANDIDATES)))
    return np.unique(np.append(midpoints, DEFAULT_THRESHOLD))


def _untuned(n_positive, n_negative, n_folds, thresholds=None, scores=None) -> ThresholdSearch:
    return ThresholdSearch(
        threshold=DEFAULT_THRESHOLD,
        thresholds=np.empty(0) if thresholds is None else thresholds,
        scores=np.empty(0) if scores is None else scores,
        score=np.nan,
        default_score=np.nan,
        n_positive=n_positive,
        n_negative=n_negative,
        n_changed=0,
        tuned=False,
        n_folds=n_folds,
    )


class _ThresholdedProba(ClassifierMixin, BaseEstimator):
    """Stands in for the classifier: held-out probabilities cut at ``threshold``.

    ``X`` is a column of row indices into the stored probabilities, so any
    scikit-learn scorer (label, probability or decision-function based) can
    score it exactly as it would score the real estimator.
    """

    def __init__(self, classes, proba, threshold=DEFAULT_THRESHOLD):
        self.classes = classes
        self.proba = proba
        self.threshold = threshold

    def __sklearn_is_fitted__(self):
        return True

    @property
    def classes_(self):
        return self.classes

    def predict_proba(self, X):
        positive = self.proba[np.asarray(X, dtype=np.intp).ravel()]
        return np.column_stack([1.0 - positive, positive])

    def decision_function(self, X):
        return self.predict_proba(X)[:, 1] - self.threshold

    def predict(self, X):
        return self.classes[(self.predict_proba(X)[:, 1] >= self.threshold).astype(np.intp)]
