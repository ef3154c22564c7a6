"""``threshold_cv``'s internal folds of the default MLP, trained as one network.

A fold's fit is the estimator's own ``fit`` of a clone (see
:func:`~safekeras.decision.threshold_fitting.cross_validated_thresholds` for
its recipe: the network's epochs and batch size, no split or early stopping
of its own), in three parts: the steps before training (read the rows, fit
the preprocessor, rebalance, draw the seeded initial weights, encode the
targets), the training, and the prediction of the held-out rows.
:func:`fit_stacked` runs the steps before training of every fold as the
clone's ``fit`` runs them, and trains the folds' networks together: one
:class:`~safekeras.network.fold_layers.FoldStack` in one whole fit of the
compiled engine, each fold on its own rows, from the initial weights its
clone would have had. The held-out rows of every fold are then predicted in
one forward pass of the stack. So ``k`` folds cost one fit's fixed cost and
dispatch, not ``k``, and no Keras model is built per fold.

What the stack cannot train keeps the clones' fits (:func:`obstacles` names
why): a user's model or builder, callbacks, a sampler, ``engine="keras"``,
a loss other than ``"auto"``, an optimizer whose update is not elementwise.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from sklearn.utils import check_random_state

from ..data.preprocessing import take_rows
from ..exceptions import TrainingError
from ..network import checks, logistic_baseline, optimizers, stacked, training
from ..network.architecture import layer_sizes, seed_stream
from ..network.budget import resolve_budget
from ..network.engine.result import DIVERGENCE_FIXES
from .rule import proba_from_outputs

__all__ = ["FoldData", "fit_stacked", "obstacles"]


@dataclass(frozen=True)
class FoldData:
    """The rows the folds split: ``X``, their labels and weights, and the kept rows' indices."""

    X: object
    y_labels: np.ndarray
    w_kept: np.ndarray | None
    kept: np.ndarray


@dataclass
class _PreparedFold:
    """A fold's ``fit`` up to training: its rows, targets and initial weights."""

    preprocessor: object
    rows: object
    y_train: np.ndarray
    weights: list
    dropout_seeds: list
    output_activation: str
    shuffle_seed: int

    def preprocessed(self, X, dtype) -> np.ndarray:
        """Rows of ``X`` as the fold's network reads them (its own preprocessor)."""
        x = X if self.preprocessor is None else self.preprocessor.transform(X)
        return checks.as_network_input(x).astype(dtype, copy=False)


def obstacles(estimator) -> list[str]:
    """Why ``estimator``'s internal folds cannot be stacked (empty: they can).

    Parameters
    ----------
    estimator : SafeKerasClassifier
        The estimator whose folds would be fitted (its clones' settings).
    """
    import keras

    reasons = []
    if estimator.model is not None:
        reasons.append("a user's model or builder")
    if estimator.callbacks:
        reasons.append("callbacks")
    if getattr(estimator, "sampler", None) is not None:
        reasons.append("a sampler")
    if estimator.engine == "keras":
        reasons.append("engine='keras'")
    if not (isinstance(estimator.loss, str) and estimator.loss == "auto"):
        reasons.append(f"loss={estimator.loss!r}")
    if estimator.ensemble_size != "auto" and estimator.ensemble_size > 1:
        # ("auto" trains a classifier's one network: a fold's stack matches it.)
        reasons.append(f"ensemble_size={estimator.ensemble_size} (each fold trains its own)")
    optimizer = optimizers.fit_optimizer(estimator)
    reasons += stacked.stack_obstacles(backend=keras.backend.backend(), optimizer=optimizer)
    return reasons


def fit_stacked(fold_estimators, data: FoldData, folds, target_type: str) -> list[np.ndarray]:
    """Fit every fold, training their networks as one stack; their held-out probabilities.

    Parameters
    ----------
    fold_estimators : list of SafeKerasClassifier
        Unfitted clones, one per fold (their ``random_state`` set), which
        :func:`obstacles` accepts. They lend their settings and their fit's
        steps before training; they are left unfitted (only the stack trains).
    data : FoldData
    folds : list of (train, test) index arrays into ``data.kept``
    target_type : {"binary", "multilabel-indicator"}
        The target's type (the stack's head is a sigmoid per output).

    Returns
    -------
    list of ndarray
        Fold ``k``'s probabilities of its held-out rows ``test``, as its
        clone's ``predict_proba`` gives them.

    Raises
    ------
    TrainingError
        If a fold's training loss, or a held-out probability, is not finite.
    """
    prepared = [
        _prepare(fold, *_fold_rows(data, train))
        for fold, (train, _) in zip(fold_estimators, folds, strict=True)
    ]
    stack, width, dtype = _train_together(fold_estimators[0], prepared)
    held_out = [
        part.preprocessed(take_rows(data.X, data.kept[test]), dtype)
        for part, (_, test) in zip(prepared, folds, strict=True)
    ]
    outputs = stacked.predict_folds(stack, held_out, width, dtype)
    if fold_estimators[0].linear_baseline == "logistic":  # as each clone's fit would average
        outputs = [
            _averaged(part, x, output)
            for part, x, output in zip(prepared, held_out, outputs, strict=True)
        ]
    probabilities = [proba_from_outputs(target_type, output) for output in outputs]
    if not all(np.isfinite(proba).all() for proba in probabilities):
        raise TrainingError(
            "threshold_cv: an internal fold's network predicts non-finite probabilities. "
            + DIVERGENCE_FIXES
        )
    return probabilities


def _averaged(part: _PreparedFold, x, output) -> np.ndarray:
    """The fold's held-out outputs averaged with a logistic regression of its training rows."""
    baseline = logistic_baseline.fit_on_network_inputs(
        part.preprocessor, part.rows.x_train, part.rows.y_train, part.rows.w_train, n_classes=2
    )
    return output if baseline is None else baseline.combine(x, output)


def _fold_rows(data: FoldData, train):
    weights = None if data.w_kept is None else data.w_kept[train]
    return take_rows(data.X, data.kept[train]), data.y_labels[train], weights


def _prepare(fold, X, y, sample_weight) -> _PreparedFold:
    """``fold.fit(X, y, sample_weight)``'s steps before training (see the base estimator).

    The fold's network is not built: its initial weights are drawn from the
    same seeds, in the same order, as its build would draw them.
    """
    fit_data = fold._read_validated(X, y, sample_weight, None, partial=False, how=None)
    rng = check_random_state(fold.random_state)
    seeds = seed_stream(rng)
    spec = fit_data.spec
    # The fold trains without early stopping, and its threshold is fixed: no split.
    train_idx, val_idx = fold._split(fit_data, rng, fold.early_stopping)
    preprocessor, rows = fold._training_rows(fit_data, train_idx, val_idx, False)
    transformer = fold._target_transformer(spec, rows, False)
    rows = fold._rebalanced(spec, rows, preprocessor, seeds)
    weights, dropout_seeds = stacked.initial_fold_weights(
        rows.x_train.shape[1],
        layer_sizes(fold.hidden_layer_sizes),
        spec.n_outputs,
        fold.dropout,
        seeds,
    )
    dtype = weights[0].dtype
    checks.check_network_input(fit_data.input_schema, preprocessor, dtype, rows.x_train, None)
    rows = replace(rows, x_train=rows.x_train.astype(dtype, copy=False))
    output = fold._checked_output(spec, None, rows.x_train)
    y_train, _ = fold._encoded_targets(spec, output, rows, transformer, dtype, False)
    return _PreparedFold(
        preprocessor,
        rows,
        y_train,
        weights,
        dropout_seeds,
        output.activation,
        shuffle_seed=next(seeds),
    )


def _train_together(settings, prepared):
    """Train the prepared folds' networks as one stack: the stack, its width and dtype."""
    dtype = prepared[0].weights[0].dtype
    width = max(part.rows.x_train.shape[1] for part in prepared)
    stack = stacked.stack_weights(
        [part.weights for part in prepared],
        dropout_seeds=prepared[0].dropout_seeds,
        width=width,
        hidden_units=layer_sizes(settings.hidden_layer_sizes),
        activation=settings.activation,
        dropout=settings.dropout,
        l2=settings.l2,
        output_activation=prepared[0].output_activation,
    )
    stack.compile(optimizer=optimizers.fit_optimizer(settings), loss=None)
    train = stacked.stack_rows(
        [
            (part.rows.x_train, part.y_train, training.normalise_weights(part.rows.w_train, dtype))
            for part in prepared
        ],
        width,
        dtype,
    )
    n_rows = max(len(part.rows.x_train) for part in prepared)
    budget = resolve_budget(settings.batch_size, settings.patience, n_rows)
    stacked.train_stack(
        stack,
        train=train,
        validation=None,
        batch_size=budget.batch_size,
        epochs=settings.epochs,
        patience=budget.patience,
        # One shuffle for all folds: each still gets a fresh order of its own rows.
        shuffle_seed=prepared[0].shuffle_seed,
    )
    return stack, width, dtype
