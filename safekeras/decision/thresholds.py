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

Multiclass targets take no threshold: it needs a single "positive" class, and
one-vs-rest thresholds can leave a row with no class or several. For balanced
accuracy ``predict`` divides each class's probability by its training share
instead (:func:`safekeras.decision.rule.prior_multipliers`), that metric's
best decision, which needs no held-out rows; other scorers keep the most
probable class.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import check_scoring, roc_auc_score

from ..exceptions import ThresholdWarning, external_stacklevel
from .threshold_bootstrap import bootstrap_gain_se
from .threshold_counts import SortedRows, countable, counting_metric

__all__ = [
    "AUTO_CV_FOLDS",
    "BOOTSTRAP_ROUNDS",
    "DEFAULT_THRESHOLD",
    "GAIN_Z",
    "MAX_CANDIDATES",
    "MIN_CLASS_COUNT",
    "MIN_TUNING_COUNT",
    "PLAUSIBLE_LOSS",
    "ThresholdSearch",
    "auto_cv_folds",
    "costs_stated",
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
#: A threshold tuned on fewer rows of a class than this is reported whatever its score: one row
#: then moves that class's recall by more than 0.1, twice :data:`PLAUSIBLE_LOSS`, and a
#: bootstrap of so few rows says little about its own spread.
MIN_TUNING_COUNT = 10
#: A tuned threshold is reported when, :data:`GAIN_Z` bootstrap standard errors below its gain
#: over 0.5, it could score this much *worse* than 0.5 on new data (in the scorer's units;
#: 0.05 of balanced accuracy is one row in 20 of a class). How far the threshold moves is not
#: the question: on 5 % positives, tuning for balanced accuracy rightly flips many predictions.
PLAUSIBLE_LOSS = 0.05
#: Standard errors of the gain, a one-sided 98 % bound, that make up for part of the optimism
#: of a gain measured on the rows the threshold was chosen on.
GAIN_Z = 2.0
#: Stratified bootstrap resamples of the held-out rows behind the gain's standard error. With the
#: resampled bin counts as control variates its own relative error is about 1 % (5 % when row
#: weights differ within a class; 10 % for the plain spread of 50 gains). A stock metric scores
#: all rounds at once from counts; any other scorer is called twice per round (0.1 s per 1000 rows).
BOOTSTRAP_ROUNDS = 50
# Keras clips probabilities this far from 0 and 1 in its cross-entropy.
_EPSILON = 1e-7


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
    gain_se : float
        Standard error of ``score - default_score`` over stratified bootstrap
        resamples of the held-out rows (NaN when not tuned or when no
        prediction changed).
    loss_by_class : tuple of (mean, std) pairs
        The held-out cross-entropy (clipped as Keras clips it) of the negative
        and of the positive rows: its mean and standard deviation per row,
        weighted by ``sample_weight``. What :func:`safekeras.diagnostics.diagnose`
        compares with the training loss when the history holds no
        ``val_loss``. Empty when a class is missing.
    roc_auc : float
        ROC-AUC of the held-out probabilities (NaN when a class is missing).
    fold_training : {"stacked", "clones", ""}
        How the ``n_folds`` internal networks were trained: "stacked", all in one
        network and one fit; "clones", one fit each; "" on the validation split.
    fold_fits : int
        Network fits the internal folds cost: 1 stacked, ``n_folds`` as clones.
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
    gain_se: float = float("nan")
    loss_by_class: tuple = ()
    roc_auc: float = float("nan")
    fold_training: str = ""
    fold_fits: int = 0

    @property
    def n_samples(self) -> int:
        return self.n_positive + self.n_negative

    @property
    def gain(self) -> float:
        """``score - default_score``: what tuning gained over 0.5 on the held-out rows."""
        return self.score - self.default_score

    @property
    def worst_plausible_gain(self) -> float:
        """The gain less :data:`GAIN_Z` standard errors (the gain itself without a spread)."""
        if not np.isfinite(self.gain_se):
            return self.gain
        return self.gain - GAIN_Z * self.gain_se

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
        predictions for no measured gain. When the tuned threshold changes a
        prediction, ``gain_se`` is the bootstrap standard error of its gain
        over 0.5 (:data:`BOOTSTRAP_ROUNDS` more pairs of scores).
    """
    y_positive = np.asarray(y_positive, dtype=bool)
    proba = np.asarray(proba, dtype=np.float64)
    n_positive = int(y_positive.sum())
    n_negative = len(y_positive) - n_positive
    if n_positive == 0 or n_negative == 0:
        return _untuned(n_positive, n_negative, n_folds)
    sorted_rows = None  # one sort serves the counts at every candidate and the ROC-AUC
    if countable(y_positive, proba, sample_weight):
        sorted_rows = SortedRows(y_positive, proba, sample_weight)
    held_out = _held_out_quality(y_positive, proba, sample_weight, sorted_rows)

    candidates = _candidates(proba)
    scores = _score_thresholds(
        y_positive, proba, scorer, candidates, sample_weight, labels, sorted_rows
    )
    scores = np.where(np.isnan(scores), -np.inf, scores)
    default_index = int(np.flatnonzero(candidates == DEFAULT_THRESHOLD)[0])
    finite = scores[np.isfinite(scores)]
    if finite.size == 0 or np.ptp(finite) < 1e-12:
        return _untuned(n_positive, n_negative, n_folds, candidates, scores, **held_out)

    best = np.flatnonzero(scores == scores.max())
    chosen = best[np.argmin(np.abs(candidates[best] - DEFAULT_THRESHOLD))]
    threshold = float(candidates[chosen])
    n_changed = int(np.sum((proba >= threshold) != (proba >= DEFAULT_THRESHOLD)))
    gain_se = np.nan
    if n_changed:
        gain_se = _bootstrap_gain_se(
            y_positive, proba, scorer, threshold, sample_weight=sample_weight, labels=labels
        )
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
        gain_se=gain_se,
        **held_out,
    )


def costs_stated(class_weight, sampler, threshold_scoring) -> bool:
    """Whether ``threshold="auto"`` keeps 0.5 because the user stated the costs.

    An explicit ``class_weight`` or ``sampler`` says how much each class's
    errors cost: the network is trained on that weighted loss, and cutting its
    probability at 0.5 is the decision with the least weighted cost. Tuning the
    threshold for balanced accuracy afterwards would undo the weights (with
    ``class_weight={0: 1000, 1: 1e-4}`` it would predict class 1 again). A
    ``threshold_scoring`` other than the default still asks for its own tuning.

    Parameters
    ----------
    class_weight : None, "balanced" or dict
    sampler : imbalanced-learn sampler or None
    threshold_scoring : str or callable
        The estimator's parameters of those names.
    """
    if not (isinstance(threshold_scoring, str) and threshold_scoring == "balanced_accuracy"):
        return False
    return class_weight is not None or sampler is not None


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

    Notes
    -----
    scikit-learn's stock threshold metrics (accuracy, balanced accuracy,
    precision, recall, F1, F-beta, Jaccard, Matthews correlation,
    imbalanced-learn's G-mean, and the label-based scorers of
    :func:`safekeras.metrics.imbalance_scoring`) are computed for all thresholds
    at once from weighted counts after one sort (:mod:`safekeras.decision.threshold_counts`),
    with the scorer's own arithmetic; any other scorer is called once per threshold.
    """
    proba = np.asarray(proba, dtype=np.float64)
    return _score_thresholds(y_positive, proba, scorer, thresholds, sample_weight, labels)


def _score_thresholds(
    y_positive, proba, scorer, thresholds, sample_weight, labels, sorted_rows=None
):
    """:func:`score_thresholds`, reusing the sorted rows of :func:`tune_threshold` if given."""
    counted = _counted_scores(
        y_positive, proba, scorer, thresholds, sample_weight, labels, sorted_rows
    )
    if counted is not None:
        return counted
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


def _counted_scores(y_positive, proba, scorer, thresholds, sample_weight, labels, sorted_rows):
    """The scores from counts when ``scorer`` is a recognised stock metric, else None."""
    y_positive = np.asarray(y_positive, dtype=bool)
    metric = counting_metric(scorer, labels)
    if metric is None or not countable(y_positive, proba, sample_weight):
        return None
    if sorted_rows is None:
        sorted_rows = SortedRows(y_positive, proba, sample_weight)
    counts = sorted_rows.counts_at(thresholds)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(metric(counts), dtype=np.float64).reshape(len(counts.tp))


def warn_if_unreliable(searches: dict, scoring_name: str) -> None:
    """Emit one :class:`ThresholdWarning` for searches whose evidence is weak.

    A search is reported when it could not be tuned (one class held out, or a
    scorer that does not depend on the threshold), when it was tuned on fewer
    than :data:`MIN_TUNING_COUNT` rows of a class, or when it changes at least
    that many predictions and the held-out rows cannot rule out that it scores
    :data:`PLAUSIBLE_LOSS` worse than 0.5 on new data (its gain less
    :data:`GAIN_Z` bootstrap standard errors: a score surface too flat or too
    noisy to trust its optimum). A
    threshold far from 0.5 with a clear gain, what imbalanced data calls for, is
    not reported.

    Parameters
    ----------
    searches : dict of label to ThresholdSearch
        One search per binary target (one per label for multilabel targets).
    scoring_name : str
        How to name the scorer in the message.
    """
    problems, noisy, out_of_fold = [], False, False
    for label, search in searches.items():
        prefix = "" if label is None else f"label {label}: "
        problem = _weak_evidence(search, scoring_name)
        if problem is not None:
            problems.append(prefix + problem)
            # A threshold-free scorer needs another metric, not more rows.
            noisy = noisy or search.tuned or min(search.n_positive, search.n_negative) == 0
            out_of_fold = out_of_fold or bool(search.n_folds)
    if not problems:
        return
    message = "Decision threshold: " + "; ".join(problems) + "."
    if noisy:
        message += " " + _steadier(out_of_fold)
    warnings.warn(message, ThresholdWarning, stacklevel=external_stacklevel())


def _weak_evidence(search, scoring_name: str) -> str | None:
    """What is wrong with one search, in words, or None when its evidence holds."""
    smallest = min(search.n_positive, search.n_negative)
    if not search.tuned and smallest == 0:
        return (
            f"{search.source} holds {search.n_positive} positive and {search.n_negative} "
            f"negative rows, so the threshold stays {DEFAULT_THRESHOLD}"
        )
    if not search.tuned:
        return (
            f"{scoring_name} scores every threshold the same (a ranking or probability "
            f"metric does not depend on it), so the threshold stays {DEFAULT_THRESHOLD}; use a "
            "metric of predicted labels such as 'balanced_accuracy' or 'f1'"
        )
    if smallest < MIN_TUNING_COUNT:
        return (
            f"the threshold {search.threshold:.3g} was tuned on only {search.n_positive} "
            f"positive and {search.n_negative} negative rows of {search.source}, so one row "
            "moves it"
        )
    # Fewer changed predictions than MIN_TUNING_COUNT are too few to judge and move little;
    # a split that small in every class is caught by the count above.
    if search.n_changed >= MIN_TUNING_COUNT and search.worst_plausible_gain < -PLAUSIBLE_LOSS:
        return (
            f"the threshold {search.threshold:.3g} changes {search.n_changed} of "
            f"{search.n_samples} predictions of {search.source} versus {DEFAULT_THRESHOLD} "
            f"for a gain in {scoring_name} of {search.gain:.3f} (from "
            f"{search.default_score:.3f} to {search.score:.3f}) +- {search.gain_se:.3f}: "
            "within the noise of these rows, so it may do worse than 0.5 on new data"
        )
    return None


def _steadier(out_of_fold: bool) -> str:
    """What steadies a threshold tuned on too little evidence."""
    if out_of_fold:
        return (
            "Every training row was already predicted out of fold: only more rows, above all "
            "of the rarer class, make the threshold steadier."
        )
    return (
        "More rows make it steadier: more data, a larger validation_fraction, or "
        "threshold_cv=5 (tunes on out-of-fold probabilities of every training row)."
    )


def _held_out_quality(y_positive, proba, sample_weight, sorted_rows) -> dict:
    """ROC-AUC and per-class cross-entropy of held-out probabilities (both classes present).

    The ROC-AUC comes from ``sorted_rows`` when the search has them, else from
    scikit-learn (non-finite probabilities or weights, which it judges).
    """
    weights = np.ones(len(proba)) if sample_weight is None else np.asarray(sample_weight, float)
    clipped = np.clip(proba, _EPSILON, 1 - _EPSILON)
    per_row = -np.where(y_positive, np.log(clipped), np.log1p(-clipped))
    by_class = []
    for rows in (~y_positive, y_positive):
        mean = float(np.average(per_row[rows], weights=weights[rows]))
        spread = float(np.sqrt(np.average((per_row[rows] - mean) ** 2, weights=weights[rows])))
        by_class.append((mean, spread))
    if sorted_rows is not None:
        auc = sorted_rows.roc_auc()
    else:
        auc = float(roc_auc_score(y_positive, proba, sample_weight=sample_weight))
    return {"loss_by_class": tuple(by_class), "roc_auc": auc}


def _bootstrap_gain_se(y_positive, proba, scorer, threshold, *, sample_weight, labels) -> float:
    """Standard error of the score at ``threshold`` less the score at 0.5, by bootstrap.

    A stock metric is scored from counts, any other scorer is called twice per
    resample; both on the same resamples
    (:func:`~safekeras.decision.threshold_bootstrap.bootstrap_gain_se`).
    """
    metric = counting_metric(scorer, labels)
    if not countable(y_positive, proba, sample_weight):
        metric = None

    def score_rows(rows):
        weights = None if sample_weight is None else np.asarray(sample_weight)[rows]
        at_threshold, at_half = score_thresholds(
            y_positive[rows],
            proba[rows],
            scorer,
            [threshold, DEFAULT_THRESHOLD],
            sample_weight=weights,
            labels=labels,
        )
        return at_threshold - at_half

    return bootstrap_gain_se(
        y_positive,
        proba,
        threshold,
        DEFAULT_THRESHOLD,
        rounds=BOOTSTRAP_ROUNDS,
        metric=metric,
        score_rows=score_rows,
        sample_weight=sample_weight,
    )


def _candidates(proba: np.ndarray) -> np.ndarray:
    distinct = np.unique(proba)
    midpoints = (distinct[:-1] + distinct[1:]) / 2
    if len(midpoints) > MAX_CANDIDATES:
        midpoints = np.unique(np.quantile(midpoints, np.linspace(0, 1, MAX_CANDIDATES)))
    return np.unique(np.append(midpoints, DEFAULT_THRESHOLD))


def _untuned(
    n_positive, n_negative, n_folds, thresholds=None, scores=None, **held_out
) -> ThresholdSearch:
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
        **held_out,
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

    def fit(self, X=None, y=None):
        # Never fitted: check_is_fitted (safekeras.metrics' scorers) only asks that it exists.
        return self

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
