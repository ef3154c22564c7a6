"""Fitting the classifier's decision threshold inside ``fit``.

:func:`decision_plan` decides where ``threshold="auto"`` gets held-out
probabilities: the validation split, or out-of-fold predictions of internal
fits (:func:`cross_validated_thresholds`). :func:`fit_decision` then gives
``threshold_`` and ``threshold_search_``: fixed, or tuned by
:mod:`~safekeras.decision.thresholds` on probabilities the network did not
train on.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from numbers import Integral

import numpy as np
from sklearn.base import clone
from sklearn.metrics import get_scorer_names
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.utils import check_random_state

from ..data.input_validation import unequal_or_none
from ..data.preprocessing import take_rows
from ..data.resampling import class_counts
from ..exceptions import InputError, ParameterError, TargetError
from ..network.architecture import seed_stream
from . import stacked_folds, thresholds
from .plan import DecisionPlan, FoldRecipe
from .rule import PRIOR_CORRECTED_SCORINGS, positive_index, prior_multipliers, proba_from_outputs
from .stacked_folds import FoldData

__all__ = [
    "STACK_FOLDS",
    "check_threshold_applies",
    "cross_validated_thresholds",
    "decision_plan",
    "fit_class_multipliers",
    "fit_decision",
    "is_auto",
    "prior_plan",
    "resolve_pos_label",
    "search_thresholds",
]


# Whether the default MLP's internal folds are trained as one stacked network. Only
# a benchmark comparing the two ways (benchmarks/default_path.py) switches it off.
STACK_FOLDS = True


def is_auto(value) -> bool:
    """Whether a parameter is the string ``"auto"`` (never an array compared to it)."""
    return isinstance(value, str) and value == "auto"


def check_threshold_applies(spec, threshold) -> None:
    """InputError when a fixed ``threshold`` is given for a multiclass target."""
    if spec.target_type == "multiclass":
        if not is_auto(threshold) and threshold is not None:
            raise InputError(
                f"threshold={threshold} applies to binary and multilabel targets, "
                f"but y is {spec.describe()}, which takes no threshold. Leave "
                "threshold='auto' (the rule threshold_scoring asks for) or None (the most "
                "probable class)."
            )


def decision_plan(
    estimator, spec, y_kept, partial=False, resume=False
) -> tuple[str | None, object]:
    """How the decision rule is fitted: ("validation" | "cv" | "prior" | None, the CV to use).

    Reads ``estimator``'s ``threshold``, ``threshold_scoring``,
    ``threshold_cv``, ``class_weight``, ``sampler`` and
    ``validation_fraction``; ``y_kept`` are the encoded targets of the rows
    with a positive weight. A multiclass target's plan is "prior" or None
    (:func:`prior_plan`): nothing is tuned on held-out rows. So is a
    binary target's with ``threshold_cv="auto"`` when the scoring has a
    prior-corrected Bayes rule (balanced accuracy): its threshold is the
    positive class's training share, which ties tuning it out of fold and
    costs no internal fits (``docs/defaults.md`` has the measurements).
    An explicit ``threshold_cv`` always tunes.
    """
    if not is_auto(estimator.threshold) or partial:
        return None, None
    scoring = estimator.threshold_scoring
    if spec.target_type == "multiclass":
        return prior_plan(estimator), None
    if thresholds.costs_stated(estimator.class_weight, estimator.sampler, scoring):
        return None, None  # 0.5 is the decision the stated costs ask for
    _check_scorer(scoring)
    if spec.target_type == "binary" and is_auto(estimator.threshold_cv):
        if prior_plan(estimator) == "prior":
            return "prior", None  # the Bayes rule needs no held-out rows
    if estimator.threshold_cv is None or resume:
        # Cross-validated tuning refits from scratch; a warm start tunes on its split.
        return "validation", None
    if not is_auto(estimator.threshold_cv):
        return "cv", estimator.threshold_cv
    folds = thresholds.auto_cv_folds(class_counts(spec, y_kept), estimator.validation_fraction)
    return ("validation", None) if folds is None else ("cv", folds)


def _check_scorer(scoring) -> None:
    """ParameterError unless ``scoring`` is a scikit-learn scorer."""
    if isinstance(scoring, str) and scoring in get_scorer_names():
        return  # a known name: building its scorer (a deep copy) would only be discarded
    try:
        thresholds.make_threshold_scorer(scoring)
    except ValueError as exc:
        raise ParameterError(
            f"threshold_scoring={scoring!r} is not a scikit-learn scorer: {exc}"
        ) from exc


def prior_plan(estimator) -> str | None:
    """``"prior"`` when ``threshold="auto"`` divides the probabilities by the class priors.

    Balanced accuracy (:data:`~safekeras.decision.rule.PRIOR_CORRECTED_SCORINGS`)
    asks for ``argmax p(c|x) / prior(c)``: for a binary target, predicting the
    positive class when its probability is at least its training share. Any
    other ``threshold_scoring`` gets None (multiclass: the most probable class;
    binary: a threshold tuned on held-out rows), and so do a ``class_weight``
    or a ``sampler``: they state the costs, and the network trained on them
    already weighs the classes as asked.
    """
    scoring = estimator.threshold_scoring
    _check_scorer(scoring)
    if estimator.class_weight is not None or estimator.sampler is not None:
        return None
    if isinstance(scoring, str) and scoring in PRIOR_CORRECTED_SCORINGS:
        return "prior"
    return None


def fit_class_multipliers(spec, decision, rows) -> dict:
    """``class_multipliers_``: what ``predict`` multiplies multiclass probabilities by.

    One over the class shares of the rows ``fit`` was given (training and
    validation rows, weighted by ``sample_weight``) for a "prior"
    :func:`prior_plan`, else ones (the most probable class); None for
    binary and multilabel targets, which ``threshold_`` decides.
    """
    if spec.target_type != "multiclass":
        return {"class_multipliers_": None}
    if decision != "prior":
        return {"class_multipliers_": np.ones(spec.n_classes)}
    return {"class_multipliers_": _prior_multipliers(spec, rows)}


def _prior_multipliers(spec, rows) -> np.ndarray:
    """One over each class's share of the rows ``fit`` was given (weighted)."""
    y_all, w_all = rows.y_train, rows.w_train
    if rows.y_val is not None:
        y_all = np.concatenate([rows.y_train, rows.y_val])
        w_all = np.concatenate([rows.w_train, rows.w_val])
    return prior_multipliers(np.asarray(y_all, np.intp), w_all, spec.n_classes)


def fit_decision(estimator, spec, plan, network, rows, held_out_searches) -> dict:
    """``threshold_`` (fixed, the prior, or tuned on held-out probabilities) and its search.

    ``plan`` is :func:`decision_plan`'s: None fixes the threshold, "prior"
    sets a binary target's to the positive class's share of the rows ``fit``
    was given (weighted; no search), "validation" tunes it on ``network``'s
    probabilities of the validation rows of ``rows``, "cv" uses
    ``held_out_searches`` (from :func:`cross_validated_thresholds`).
    """
    if spec.target_type == "multiclass":
        return {"threshold_": None, "threshold_search_": None}
    if plan is None:
        tuned_or_none = estimator.threshold is None or is_auto(estimator.threshold)
        fixed = thresholds.DEFAULT_THRESHOLD if tuned_or_none else estimator.threshold
        threshold = float(fixed)
        if spec.target_type == "multilabel-indicator":
            threshold = np.full(spec.n_classes, threshold)
        return {"threshold_": threshold, "threshold_search_": None}
    if plan == "prior":
        positive = positive_index(spec.classes, resolve_pos_label(estimator, spec.classes))
        share = 1.0 / _prior_multipliers(spec, rows)[positive]
        return {"threshold_": float(share), "threshold_search_": None}
    if plan == "validation":
        proba = proba_from_outputs(spec.target_type, network.predict(rows.x_val))
        searches = search_thresholds(
            estimator, spec, proba, rows.y_val, unequal_or_none(rows.w_val)
        )
    else:
        searches = held_out_searches
    scoring = estimator.threshold_scoring
    thresholds.warn_if_unreliable(
        searches, scoring if isinstance(scoring, str) else "threshold_scoring"
    )
    if spec.target_type == "binary":
        search = searches[None]
        return {"threshold_": search.threshold, "threshold_search_": search}
    ordered = [searches[label] for label in range(spec.n_classes)]
    return {
        "threshold_": np.array([search.threshold for search in ordered]),
        "threshold_search_": ordered,
    }


def search_thresholds(estimator, spec, proba, y_encoded, sample_weight, n_folds=0) -> dict:
    """One :class:`~safekeras.thresholds.ThresholdSearch` per binary decision.

    Keyed by None for a binary target, by label index for a multilabel one;
    each maximises ``estimator.threshold_scoring``.
    """
    scorer = thresholds.make_threshold_scorer(estimator.threshold_scoring)
    if spec.target_type == "binary":
        positive = positive_index(spec.classes, resolve_pos_label(estimator, spec.classes))
        labels = thresholds.scorer_labels(estimator.threshold_scoring, spec.classes, positive)
        search = thresholds.tune_threshold(
            y_encoded == positive,
            proba[:, positive],
            scorer,
            sample_weight=sample_weight,
            labels=labels,
            n_folds=n_folds,
        )
        return {None: search}
    return {
        label: thresholds.tune_threshold(
            y_encoded[:, label] == 1,
            proba[:, label],
            scorer,
            sample_weight=sample_weight,
            n_folds=n_folds,
        )
        for label in range(spec.n_classes)
    }


def cross_validated_thresholds(estimator, data, spec, plan: DecisionPlan, recipe: FoldRecipe):
    """Thresholds tuned on out-of-fold probabilities of ``plan``'s internal fits.

    Each fold fits a clone of ``estimator`` (threshold 0.5, no inner CV, no
    drift checks) on the rows ``kept`` of ``X`` outside the fold, with the
    recipe the estimator's own network trained with (``recipe``): as many
    epochs as it kept, in batches of its size, and no split or early stopping
    of its own, so that every row outside the fold trains the fold's network
    and the out-of-fold probabilities come from networks trained as the final
    one was. For the default MLP the folds' networks are trained together, as
    one stacked network in one fit (:mod:`safekeras.network.stacked`);
    anything else (a user's model, callbacks, a sampler, ``engine="keras"``,
    ...) fits the clones one after the other. ``threshold_search_`` says which
    (``fold_training``, ``fold_fits``), and so does ``verbose``. ``data`` is the
    fit's data (``X``, the encoded ``y``, the weights, the ``kept`` rows).
    """
    X, y_encoded, weights, kept = data.X, data.y_encoded, data.weights, data.kept
    splitter, seed = plan.threshold_cv, plan.fold_seed
    y_kept = y_encoded[kept]
    y_labels = spec.classes[y_kept] if spec.target_type == "binary" else y_kept
    if isinstance(splitter, Integral):
        kind = StratifiedKFold if spec.target_type == "binary" else KFold
        splitter = kind(n_splits=splitter, shuffle=True, random_state=seed)
    w_kept = unequal_or_none(weights[kept])
    # The held-out folds come from the training data: drift checks would only cry wolf.
    inner = clone(estimator).set_params(
        threshold=thresholds.DEFAULT_THRESHOLD,
        threshold_cv=None,
        on_drift="ignore",
        early_stopping=False,
        epochs=recipe.epochs,
        batch_size=recipe.batch_size,
        # A fold has no split to decide on: it averages exactly when the network does.
        linear_baseline="logistic" if recipe.kept_baseline else None,
    )
    try:
        folds = list(splitter.split(np.zeros((len(kept), 1)), y_labels))
    except ValueError as exc:
        raise InputError(f"threshold_cv={splitter!r} cannot split y: {exc}") from exc
    fold_estimators = [
        clone(inner).set_params(random_state=fold_seed)
        for fold_seed, _ in zip(seed_stream(check_random_state(seed)), folds, strict=False)
    ]
    data = FoldData(X, y_labels, w_kept, kept)
    obstacles = stacked_folds.obstacles(inner) if STACK_FOLDS else ["stacking is switched off"]
    if obstacles:
        predictions = [
            _clone_fold(fold, data, *rows)
            for fold, rows in zip(fold_estimators, folds, strict=True)
        ]
        training, fits = "clones", len(folds)
    else:
        predictions = stacked_folds.fit_stacked(fold_estimators, data, folds, spec.target_type)
        training, fits = "stacked", 1
    _report_folds(estimator, training, len(folds), obstacles)
    proba = np.zeros((len(kept), spec.n_classes))
    covered = np.zeros(len(kept), dtype=bool)
    for (_, test), fold_proba in zip(folds, predictions, strict=True):
        proba[test] = fold_proba
        covered[test] = True
    searches = search_thresholds(
        estimator,
        spec,
        proba[covered],
        y_kept[covered],
        None if w_kept is None else w_kept[covered],
        n_folds=len(folds),
    )
    return {
        key: replace(search, fold_training=training, fold_fits=fits)
        for key, search in searches.items()
    }


def _clone_fold(fold, data, train, test) -> np.ndarray:
    """A fold's out-of-fold probabilities, from its own fit of the clone ``fold``."""
    fold.fit(
        take_rows(data.X, data.kept[train]),
        data.y_labels[train],
        sample_weight=None if data.w_kept is None else data.w_kept[train],
    )
    return fold.predict_proba(take_rows(data.X, data.kept[test]))


def _report_folds(estimator, training: str, n_folds: int, obstacles) -> None:
    """With ``verbose``, one line on how the internal folds were trained and what it cost."""
    if not estimator.verbose:
        return
    if training == "stacked":
        line = f"threshold_cv: {n_folds} internal folds trained as one stacked network (1 fit)"
    else:
        line = (
            f"threshold_cv: {n_folds} internal folds trained one after the other "
            f"({n_folds} fits; not stacked: {'; '.join(obstacles)})"
        )
    print(line, file=sys.stdout, flush=True)


def resolve_pos_label(estimator, classes):
    """The class ``estimator.pos_label`` names (None: ``classes[1]``)."""
    if estimator.pos_label is None:
        return classes[1]
    matches = [c for c in classes if c == estimator.pos_label]
    if not matches:
        raise TargetError(
            f"pos_label={estimator.pos_label!r} is not one of the classes {classes.tolist()}. "
            "Pass one of them, or None for the last class in sorted order."
        )
    return matches[0]
