"""Several default MLPs trained together and averaged as one network (``ensemble_size``).

A network trained from one random start is one draw: its initial weights,
dropout masks and batch order move its predictions by more than the gap
between good models on a small table. The mean of several such networks
keeps what they agree on; for a squared error it is never worse than the
members' average and better by their disagreement (the loss is convex).

How the ``K`` members train: as the folds of one
:class:`~safekeras.network.fold_layers.FoldStack` (:mod:`.stacked`), in one
whole fit of the compiled engine (on TensorFlow, from a layout's second fit
on, loaded into its cached twin without being built: :mod:`.deferred_stack`).
Every member gets its own initial weights, dropout masks and row order (so
each sees other batches) and the estimator's
loss, and stops early on its own validation rows, keeping its own best
epoch. The members are *cross-fitted* (:func:`member_rows`): the first
trains on the fit's training rows and stops on its validation split; each
other member holds out a slice of the training rows as large as that split
(disjoint slices) and trains on every other row, the validation split
included. Each member still stops on rows it never trained on, and together
they train on every row, where members sharing one split left the split
out of all of them: pooled over three seeds, R² +0.000 to +0.005 on five of
the six regression tables and -0.001 on the sixth, all ties, at the same
fit time (``docs/defaults.md``). Their arithmetic adds up; the
per-step dispatch, which dominates small tables, is paid once. The stack
trains until all members but one (:data:`MEMBERS_LEFT`) have stopped; the
last keeps its best epoch so far, since a member whose slice keeps it
improving would otherwise train on alone for most of the fit.

What is kept: one plain default MLP ``K`` times as wide whose output is the
members' mean output before the head's activation (their mean prediction for
a linear head). The first hidden layer concatenates the members' kernels (they
read the same inputs), deeper hidden layers hold them block-diagonally (a
member reads only its own units), and the output layer averages the members'
pre-activations. It is a ``keras.Sequential`` of ``Dense`` and ``Dropout``
layers like the single network, so prediction, ``save``/``load``,
``to_keras`` and ``diagnose`` treat it as they treat any default MLP.
``benchmarks/defaults_ablation.py --sections ensemble`` measures the members'
effect on real tables (see ``docs/defaults.md``).
"""

from __future__ import annotations

import numpy as np

from ..data import row_twins
from ..exceptions import ParameterError
from . import stacked
from .engine.result import TrainingResult
from .engine.shared import loss_config_keeps_settings

__all__ = [
    "AUTO_REGRESSION_SIZE",
    "ensemble_obstacles",
    "merge_members",
    "resolve_ensemble_size",
    "summary_line",
    "train_members",
    "wide_layer_sizes",
]

#: Members of ``ensemble_size="auto"`` for a regression target (R² up on every
#: real table but one, three paired wins; 8 were no better). Classifiers train
#: one network by default: four only tied one there, at 2 to 2.5 times the fit
#: time, which the default path's speed targets do not allow (``docs/defaults.md``).
AUTO_REGRESSION_SIZE = 4
#: Whether members after the first hold out slices of their own (see :func:`member_rows`).
CROSS_FIT = True
#: Members still training when the stack stops: once all others have stopped, the
#: last one keeps its best epoch so far instead of training on alone. Every real table
#: a tie over three seeds, paired median fit time 13 to 32 % lower
#: (``benchmarks/defaults_ablation.py --sections ensemble-stop``, ``docs/defaults.md``).
MEMBERS_LEFT = 1


def ensemble_obstacles(estimator, *, partial: bool) -> list[str]:
    """Why ``estimator``'s fit cannot train several networks together (empty: it can).

    Parameters
    ----------
    estimator : SafeKerasClassifier or SafeKerasRegressor
        Read for ``model``, ``engine``, ``callbacks``, ``loss`` and the optimizer.
    partial : bool
        Whether the fit is a ``partial_fit`` (one pass, one network).

    Returns
    -------
    list of str
        One phrase per obstacle.
    """
    import keras

    from .optimizers import fit_optimizer

    obstacles = []
    if estimator.model is not None:
        obstacles.append("the network is your own model (ensembles are of the default MLP)")
    if partial:
        obstacles.append("partial_fit trains one network")
    if estimator.engine == "keras":
        obstacles.append("engine='keras' trains one network with model.fit")
    if estimator.callbacks:
        obstacles.append("callbacks watch one network's training")
    if not isinstance(estimator.loss, (str, keras.losses.Loss)):
        obstacles.append("the loss is a plain function (give a loss name or a keras.losses.Loss)")
    elif isinstance(estimator.loss, keras.losses.Loss) and not loss_config_keeps_settings(
        estimator.loss
    ):
        obstacles.append(
            f"{type(estimator.loss).__name__}'s config leaves out some of its settings, and the "
            "members' network is rebuilt from its config (give the loss by name)"
        )
    if not obstacles:  # building an optimizer is the costliest check: only when it counts
        obstacles += stacked.stack_obstacles(
            backend=keras.backend.backend(), optimizer=fit_optimizer(estimator)
        )
    return obstacles


def resolve_ensemble_size(estimator, spec, *, partial: bool) -> int:
    """The number of networks a fit trains together (``ensemble_size_``).

    Parameters
    ----------
    estimator : SafeKerasClassifier or SafeKerasRegressor
    spec : TargetSpec
        The target (``"auto"`` ensembles regression targets).
    partial : bool
        Whether the fit is a ``partial_fit``.

    Returns
    -------
    int
        ``ensemble_size`` itself, or what ``"auto"`` resolves to:
        :data:`AUTO_REGRESSION_SIZE` for a regression target when nothing
        stands in the way (see :func:`ensemble_obstacles`), else 1.

    Raises
    ------
    ParameterError
        If ``ensemble_size`` asks for several networks and something stands
        in the way, naming it.
    """
    requested = estimator.ensemble_size
    if requested == 1:
        return 1
    if requested == "auto" and not spec.target_type.startswith("continuous"):
        return 1
    obstacles = ensemble_obstacles(estimator, partial=partial)
    if requested == "auto":
        return 1 if obstacles else AUTO_REGRESSION_SIZE
    if obstacles:
        raise ParameterError(
            f"ensemble_size={requested} cannot train several networks together: "
            + "; ".join(obstacles)
            + ". Use ensemble_size=1 (or 'auto', which then trains one network)."
        )
    return int(requested)


def wide_layer_sizes(hidden_layer_sizes, size: int) -> list[int]:
    """The hidden widths of the one network ``size`` members become (``size=1``: their own).

    ``hidden_layer_sizes`` as the estimators take it: an int is one layer.
    """
    from .architecture import layer_sizes

    return [int(units) * size for units in layer_sizes(hidden_layer_sizes)]


def train_members(
    *,
    size: int,
    settings,
    output,
    n_outputs: int,
    x,
    y,
    sample_weight,
    validation,
    budget,
    early_stopping: bool,
    epochs: int,
    seeds,
    keep_twins_together: bool = False,
):
    """Train ``size`` default MLPs together; their merged weights and the training record.

    Parameters
    ----------
    size : int
        Members (at least 2).
    settings : SafeKerasClassifier or SafeKerasRegressor
        Lends the architecture (``hidden_layer_sizes``, ``activation``,
        ``dropout``, ``l2``) and the optimizer.
    output : OutputSpec
        The head's activation and the loss.
    n_outputs : int
        The head's units.
    x, y : ndarray
        The training rows as the network gets them, and their encoded targets.
    sample_weight : ndarray or None
        Normalised training weights (None: all equal).
    validation : tuple (x, y, sample_weight) or None
        The validation split, shared by the members.
    budget : Budget
        Batch size, patience and the wait's growth.
    early_stopping : bool
        Whether each member stops on the validation loss (else it is recorded).
    epochs : int
        The epoch budget.
    seeds : iterator of int
        The fit's seed stream: each member's initial weights and row order,
        and the shuffles, are drawn from it.

    Returns
    -------
    weights : list of ndarray
        The weights of the one wide network (:func:`merge_members`).
    result : TrainingResult
        ``history["loss"]`` the members' mean training loss per epoch,
        ``history["val_loss"]`` their mean validation loss; ``best_epoch`` the
        latest of the members' best epochs.

    Raises
    ------
    TrainingError
        If a member's training or validation loss becomes NaN or infinite.
    """
    from .architecture import layer_sizes
    from .deferred_stack import train_stacked_members
    from .optimizers import fit_optimizer_recipe

    hidden_units = layer_sizes(settings.hidden_layer_sizes)
    width = x.shape[1]
    members, dropout_seeds = [], []
    for _ in range(size):
        weights, dropout_seeds = stacked.initial_fold_weights(
            width, hidden_units, n_outputs, settings.dropout, seeds
        )
        members.append(weights)
    orders = np.random.default_rng(next(seeds))
    twins = row_twins.twin_groups(x) if keep_twins_together and validation is not None else None
    train_parts, validation_parts = member_rows(
        size, (x, _column(y), sample_weight), validation, orders, twins=twins
    )
    train = stacked.stack_rows(train_parts, width, x.dtype)
    stacked_validation = None
    if validation_parts is not None:
        stacked_validation = stacked.stack_rows(validation_parts, width, x.dtype)
    trained, result = train_stacked_members(
        members,
        dropout_seeds=dropout_seeds,
        architecture=dict(
            width=width,
            hidden_units=hidden_units,
            activation=settings.activation,
            dropout=settings.dropout,
            l2=settings.l2,
            output_activation=output.activation,
            loss=_stackable_loss(output.loss),
        ),
        optimizer=fit_optimizer_recipe(settings),
        train=train,
        validation=stacked_validation,
        widths=[width] * size,
        batch_size=budget.batch_size,
        epochs=epochs,
        patience=budget.patience,
        epochs_per_wait=budget.epochs_per_wait,
        shuffle_seed=next(seeds),
        stops=early_stopping,
        folds_left=MEMBERS_LEFT,
    )
    history = {**result.history, "loss": [loss / size for loss in result.history["loss"]]}
    return merge_members(trained), TrainingResult(
        history=history,
        best_epoch=result.best_epoch,
        epochs_run=result.epochs_run,
        engine=result.engine,
    )


def member_rows(size: int, train, validation, rng, twins=None) -> tuple[list, list | None]:
    """Each member's training rows and validation rows, as ``(x, y, sample_weight)`` triples.

    The first member trains on the fit's training rows and stops on its
    validation split. Without cross-fitting (:data:`CROSS_FIT` False, or no
    validation split) every other member does too, its rows in an order of
    its own (so the shared shuffle gives it other batches). With it, member
    ``k`` holds out a slice of the training rows as large as the validation
    split, disjoint from the other members' slices while the rows last (then
    wrapping around), and trains on every other row, the validation split
    included: each member stops on rows it never trained on, and together
    the members train on every row. Weights are rescaled to mean 1 over each
    part, as the fit rescales its own (:func:`~.training.normalise_weights`).

    Parameters
    ----------
    size : int
        Members.
    train : tuple (x, y, sample_weight or None)
        The fit's training rows, ``y`` one row per sample.
    validation : tuple (x, y, sample_weight or None) or None
        The fit's validation split.
    rng : numpy.random.Generator
        Draws the members' row orders and held-out slices.
    twins : ndarray of shape (n_train,) or None
        Group ids of training rows with identical features
        (:func:`~safekeras.data.row_twins.twin_groups`): each group is held
        out whole, by one slice (:func:`~safekeras.data.row_twins.grouped_slices`),
        so no member stops on rows whose twins it trains on.

    Returns
    -------
    train_parts : list of tuple
    validation_parts : list of tuple or None
    """
    x, y, weights = train
    if validation is None or not CROSS_FIT:
        orders = [np.arange(len(x))] + [rng.permutation(len(x)) for _ in range(size - 1)]
        train_parts = [(x[order], y[order], _rows_of(weights, order)) for order in orders]
        if validation is None:
            return train_parts, None
        x_val, y_val, w_val = validation
        return train_parts, [(x_val, _column(y_val), w_val)] * size
    x_val, y_val, w_val = validation
    y_val = _column(y_val)
    n_train, n_val = len(x), len(x_val)
    pool_x = np.concatenate([x, x_val])
    pool_y = np.concatenate([y, y_val])
    pool_w = None
    if weights is not None or w_val is not None:
        pool_w = np.concatenate(
            [
                np.ones(n_train) if weights is None else weights,
                np.ones(n_val) if w_val is None else w_val,
            ]
        )
    train_parts = [(x, y, weights)]
    validation_parts = [(x_val, y_val, w_val)]
    if twins is None:
        slices = rng.permutation(n_train)
        held_out = [
            slices[(np.arange(n_val) + (member - 1) * n_val) % n_train] for member in range(1, size)
        ]
    else:
        held_out = row_twins.grouped_slices(twins, n_val, size - 1, rng)
    for held in held_out:
        kept = np.setdiff1d(np.arange(n_train + n_val), held)
        kept = kept[rng.permutation(len(kept))]
        train_parts.append((pool_x[kept], pool_y[kept], _mean_one(pool_w, kept)))
        validation_parts.append((pool_x[held], pool_y[held], _mean_one(pool_w, held)))
    return train_parts, validation_parts


def _mean_one(weights, rows):
    """``weights[rows]`` rescaled to mean 1 (None when there are no weights)."""
    if weights is None:
        return None
    part = weights[rows]
    return (part * (len(part) / part.sum())).astype(weights.dtype)


def summary_line(size: int, result: TrainingResult) -> str:
    """What ``verbose`` prints after the members trained (they train in one compiled call)."""
    line = f"ensemble_size={size}: {size} networks trained together, {result.epochs_run} epochs"
    if "val_loss" in result.history:
        best = result.history["val_loss"][result.best_epoch - 1]
        line += f", the last to stop kept epoch {result.best_epoch} (mean val_loss {best:.4f})"
    return f"{line}, mean loss {result.history['loss'][-1]:.4f}"


def merge_members(members) -> list:
    """The weights of one default MLP whose output is the members' mean pre-activation.

    Parameters
    ----------
    members : list of list of ndarray
        Each member's weights as its default MLP's ``get_weights()`` lists
        them (kernel and bias per layer, the output layer last).

    Returns
    -------
    list of ndarray
        Kernel and bias per layer of the network with
        :func:`wide_layer_sizes` hidden units: the first kernel side by side,
        deeper hidden kernels block-diagonal, the output kernel stacked and
        divided by the members, the output bias their mean (without hidden
        layers, the members' mean kernel and bias).
    """
    size, depth = len(members), len(members[0]) // 2
    merged = []
    for layer in range(depth):
        kernels = [member[2 * layer] for member in members]
        biases = [member[2 * layer + 1] for member in members]
        if layer == depth - 1 == 0:  # no hidden layer: linear members, their mean is linear
            merged += [np.mean(kernels, axis=0), np.mean(biases, axis=0)]
        elif layer == depth - 1:  # the head: the mean of the members' pre-activations
            merged += [np.concatenate(kernels, axis=0) / size, np.mean(biases, axis=0)]
        elif layer == 0:  # every member reads the same inputs
            merged += [np.concatenate(kernels, axis=1), np.concatenate(biases)]
        else:
            merged += [_block_diagonal(kernels), np.concatenate(biases)]
    return [weights.astype(members[0][0].dtype, copy=False) for weights in merged]


def _block_diagonal(kernels):
    rows = sum(kernel.shape[0] for kernel in kernels)
    columns = sum(kernel.shape[1] for kernel in kernels)
    block = np.zeros((rows, columns), kernels[0].dtype)
    row = column = 0
    for kernel in kernels:
        block[row : row + kernel.shape[0], column : column + kernel.shape[1]] = kernel
        row, column = row + kernel.shape[0], column + kernel.shape[1]
    return block


def _column(y):
    """Targets as one row per sample (class indices keep their one column)."""
    return y.reshape(len(y), -1)


def _rows_of(sample_weight, order):
    return None if sample_weight is None else sample_weight[order]


def _stackable_loss(loss):
    """The loss as the stack's config holds it: a name, or a serialised Loss."""
    import keras

    if isinstance(loss, str):
        return loss
    return keras.losses.serialize(loss)
