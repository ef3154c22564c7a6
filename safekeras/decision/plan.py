"""How ``fit`` fits the decision rule, and how its internal folds train.

:func:`~safekeras.decision.threshold_fitting.decision_plan` decides where the
threshold is tuned (:class:`DecisionPlan`); a "cv" plan's folds are fitted
after the network, with the training recipe the network's own fit ended with
(:class:`FoldRecipe`).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DecisionPlan", "FoldRecipe"]


@dataclass(frozen=True)
class DecisionPlan:
    """How ``fit`` fits the decision rule.

    Attributes
    ----------
    decision : {"validation", "cv", "prior"} or None
        Tune on the validation split, on out-of-fold probabilities, take the
        training class shares (balanced accuracy's rule), or none (a fixed
        threshold).
    threshold_cv : int, splitter or None
        The folds of a "cv" plan.
    fold_seed : int or None
        Their seed, drawn before the split and the network's seeds (a "cv"
        plan's network draws its seeds one later); None for other plans.
    """

    decision: str | None
    threshold_cv: object = None
    fold_seed: int | None = None


@dataclass(frozen=True)
class FoldRecipe:
    """How each internal fold trains: the network's fit, repeated on the fold's rows.

    Attributes
    ----------
    epochs : int
        The epochs whose weights the network kept (its ``best_epoch_``): a
        fold trains that long, with no split or early stopping of its own,
        so all of its rows train it and every fold stops together.
    batch_size : int
        The network's batch size (its ``batch_size_``).
    kept_baseline : bool, default=False
        Whether the network kept its logistic baseline (``linear_baseline_``):
        each fold then averages with a logistic regression of its own rows, so
        the threshold is tuned on probabilities made as ``predict`` makes them.
    """

    epochs: int
    batch_size: int
    kept_baseline: bool = False
