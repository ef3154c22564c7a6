"""``threshold_cv``'s internal folds of the default MLP, trained as one network.

A fold's fit is the estimator's own ``fit`` of a clone, split in three: the
steps before training (read the rows, hold out the validation split, fit the
preprocessor, rebalance, build the seeded network, encode the targets), the
training, and the steps after it (check the trained network, record it,
predict the held-out rows). :func:`fit_stacked` runs the first and last
steps of every fold exactly as the clone's ``fit`` runs them, and trains the
folds' networks together in between: one
:class:`~safekeras.network.stacked.FoldStack` in one whole fit of the
compiled engine, each fold on its own rows with its own early stopping,
from the initial weights its clone would have had. So ``k`` folds cost one
fit's fixed cost and per-epoch dispatch, not ``k``.

What the stack cannot train keeps the clones' fits (:func:`obstacles` names
why): a user's model or builder, callbacks, a sampler, ``engine="keras"``,
a loss other than ``"auto"``, an optimizer whose update is not elementwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.utils import check_random_state

from ..data.preprocessing import take_rows
from ..network import stacked, training
from ..network.architecture import layer_sizes, seed_stream
from ..network.budget import resolve_budget
from ..network.fitted import input_dtype

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
    """A fold's ``fit`` up to training: what training needs, and what the steps after it read."""

    fold: object
    data: object
    preprocessor: object
    network: object
    output: object
    rows: object
    y_train: np.ndarray
    validation: tuple | None
    val_idx: np.ndarray | None
    transformer: object
    shuffle_seed: int


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
    optimizer = training.make_optimizer(estimator.optimizer, estimator.learning_rate)
    reasons += stacked.stack_obstacles(backend=keras.backend.backend(), optimizer=optimizer)
    return reasons


def fit_stacked(fold_estimators, data: FoldData, folds) -> list[np.ndarray]:
    """Fit every fold, training their networks as one stack; their held-out probabilities.

    Parameters
    ----------
    fold_estimators : list of SafeKerasClassifier
        Unfitted clones, one per fold (their ``random_state`` set), which
        :func:`obstacles` accepts. Each is left fitted, as its own ``fit``
        would leave it.
    data : FoldData
    folds : list of (train, test) index arrays into ``data.kept``

    Returns
    -------
    list of ndarray
        Fold ``k``'s ``predict_proba`` of its held-out rows ``test``.
    """
    prepared = [
        _prepare(fold, *_fold_rows(data, train))
        for fold, (train, _) in zip(fold_estimators, folds, strict=True)
    ]
    first = prepared[0].fold
    result = _train_together(first, prepared)
    return [
        _finish(part, result).predict_proba(take_rows(data.X, data.kept[test]))
        for part, (_, test) in zip(prepared, folds, strict=True)
    ]


def _fold_rows(data: FoldData, train):
    weights = None if data.w_kept is None else data.w_kept[train]
    return take_rows(data.X, data.kept[train]), data.y_labels[train], weights


def _prepare(fold, X, y, sample_weight) -> _PreparedFold:
    """``fold.fit(X, y, sample_weight)``'s steps before training (see the base estimator)."""
    fit_data = fold._read_validated(X, y, sample_weight, None, partial=False, how=None)
    rng = check_random_state(fold.random_state)
    seeds = seed_stream(rng)
    spec = fit_data.spec
    # The fold's threshold is fixed, so its split is held out for early stopping only.
    train_idx, val_idx = fold._split(
        spec, fit_data.y_encoded, fit_data.kept, rng, fold.early_stopping
    )
    preprocessor, rows = fold._training_rows(fit_data, train_idx, val_idx, False)
    transformer = fold._target_transformer(spec, rows, False)
    rows = fold._rebalanced(spec, rows, preprocessor, seeds)
    network = fold._build_network(spec, rows.x_train, seeds)
    rows = fold._in_network_dtype(fit_data, preprocessor, network, rows, False)
    output = fold._checked_output(spec, network, rows.x_train)
    y_train, validation = fold._encoded_targets(
        spec, output, rows, transformer, input_dtype(network), False
    )
    return _PreparedFold(
        fold,
        fit_data,
        preprocessor,
        network,
        output,
        rows,
        y_train,
        validation,
        val_idx,
        transformer,
        shuffle_seed=next(seeds),
    )


def _train_together(settings, prepared):
    """Train the prepared folds' networks as one stack; each network gets its trained weights."""
    networks = [part.network for part in prepared]
    dtype = input_dtype(networks[0])
    width = max(part.rows.x_train.shape[1] for part in prepared)
    stack = stacked.stack_networks(
        networks,
        width=width,
        hidden_units=layer_sizes(settings.hidden_layer_sizes),
        activation=settings.activation,
        dropout=settings.dropout,
        l2=settings.l2,
    )
    stack.compile(
        optimizer=training.make_optimizer(settings.optimizer, settings.learning_rate), loss=None
    )
    train = stacked.stack_rows(
        [
            (part.rows.x_train, part.y_train, training.normalise_weights(part.rows.w_train, dtype))
            for part in prepared
        ],
        width,
        dtype,
    )
    validation = None
    if all(part.validation is not None for part in prepared):
        validation = stacked.stack_rows([part.validation for part in prepared], width, dtype)
    n_rows = max(len(part.rows.x_train) for part in prepared)
    budget = resolve_budget(settings.batch_size, settings.patience, n_rows)
    result = stacked.train_stack(
        stack,
        train=train,
        validation=validation,
        batch_size=budget.batch_size,
        epochs=settings.epochs,
        patience=budget.patience,
        # One shuffle for all folds: each still gets a fresh order of its own rows.
        shuffle_seed=prepared[0].shuffle_seed,
    )
    stacked.unstack_into(stack, networks)
    return result


def _finish(part: _PreparedFold, result):
    """``fit``'s steps after training, for one fold: the fold estimator, fitted."""
    fold, spec = part.fold, part.data.spec
    fitted_network = fold._checked_network(
        part.network, part.output, part.rows, part.y_train, False
    )
    decision = fold._decided(spec, (None, None), fitted_network, part.rows)
    fold._record_network(part.data, part.preprocessor, part.network, fitted_network, result, False)
    fold._record_target(part.data, part.output, part.rows, part.val_idx, part.transformer, decision)
    return fold
