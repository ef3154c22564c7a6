"""The whole fit as one jitted ``lax.while_loop`` (JAX backend, see :mod:`.whole_fit`).

The loop's state is the training state of :mod:`.jax_epochs` (trainable,
non-trainable, metric and optimizer arrays), the epoch counter, the losses
of every epoch (arrays of the epoch budget's length, a static argument: one
compilation per budget), the best validation loss, its epoch, the epochs
waited and the best epoch's trainable and non-trainable arrays, which
:meth:`JaxEpochs.restore` would put back. Its body is the jitted epoch of
:mod:`.jax_epochs`, with the key ``fold_in(key, epoch)`` the per-epoch loop
uses, then the validation loss and the early-stopping rule of :mod:`.loop`.

The validation loss of a split in one chunk is that chunk's loss, exactly as
the per-epoch loop reads it; over several chunks the row-weighted mean is
taken in float32 (JAX's default precision), where the per-epoch loop uses
Python floats, so it may differ from it in the last bits.
"""

from __future__ import annotations

__all__ = ["whole_fit_function"]


def whole_fit_function(epoch_function, loss_function):
    """The jitted whole fit.

    ``fit(state, key, train, validation, patience, epochs_per_wait, stops, folds_left, *,
    epochs)``.

    Returns the final state (best weights restored when early stopping
    picked them), the training and validation losses (``epochs`` long; the
    first ``epochs_run`` are recorded), the 1-based best epoch (0: none
    restored) and ``epochs_run``.
    """
    import jax

    def fit(state, key, train, validation, patience, epochs_per_wait, stops, folds_left, *, epochs):
        def run_epoch(carry):
            state, epoch = carry
            return epoch_function(state, jax.random.fold_in(key, epoch), *train)

        def validation_loss(state):
            return _validation_loss(loss_function, state, validation)

        wait = (patience, epochs_per_wait)
        return _epoch_loop(
            state,
            run_epoch,
            validation_loss if validation else None,
            wait,
            stops,
            folds_left,
            epochs,
        )

    return jax.jit(fit, static_argnames=("epochs",))


def _epoch_loop(state, run_epoch, validation_loss, wait, stops, folds_left, epochs):
    """The ``lax.while_loop`` over epochs, and the best weights restored after it.

    A fold-stacked network (see :mod:`safekeras.network.stacked`) has one
    validation loss per fold: each fold improves, waits and stops on its own,
    keeps its own best trainable arrays (their first axis is the fold), and
    training runs until at most ``folds_left`` folds are still training (0:
    until every fold has stopped); those keep their best arrays so far.
    """
    import jax
    import jax.numpy as jnp

    fold_shape = () if validation_loss is None else jax.eval_shape(validation_loss, state).shape

    def keep_best(improved, current, best):
        if not fold_shape:
            return jax.tree.map(lambda new, old: jnp.where(improved, new, old), current, best)
        trainable = [
            _where_fold(improved, new, old) for new, old in zip(current[0], best[0], strict=True)
        ]
        return trainable, current[1]  # only the trainable arrays are per fold

    def keep_going(carry):
        epoch, going = carry[0], carry[1]
        return jnp.logical_and(going, epoch < epochs)

    def body(carry):
        epoch, _, state, losses, val_losses, best_loss, best_epoch, waited, stopped, best = carry
        state, loss = run_epoch((state, epoch))
        losses = losses.at[epoch].set(loss)
        finite = jnp.isfinite(loss)
        improved = jnp.zeros(fold_shape, bool)
        if validation_loss is not None:
            val_loss = validation_loss(state)
            val_losses = val_losses.at[epoch].set(jnp.mean(val_loss))
            finite = jnp.logical_and(finite, jnp.all(jnp.isfinite(val_loss)))
            improved = stops & (val_loss < best_loss) & ~stopped
            best_loss = jnp.where(improved, val_loss, best_loss)
        epoch = epoch + 1
        # The per-epoch loop's rule: a better epoch resets the count, any other adds one.
        best = keep_best(improved, state[:2], best)
        best_epoch = jnp.where(improved, epoch, best_epoch)
        waited = jnp.where(improved, jnp.zeros_like(waited), waited + 1)
        stopped = stopped | (stops & ~improved & (waited >= _required_wait(*wait, best_epoch)))
        going = jnp.logical_and(finite, ~_enough_stopped(stopped, folds_left))
        return epoch, going, state, losses, val_losses, best_loss, best_epoch, waited, stopped, best

    zeros = jnp.zeros(epochs, jnp.float32)
    count = jnp.zeros((), jnp.int32)
    per_fold = jnp.zeros(fold_shape, jnp.int32)
    best_loss = jnp.full(fold_shape, jnp.inf, jnp.float32)
    stopped = jnp.zeros(fold_shape, bool)
    start = (count, jnp.ones((), bool), state, zeros, zeros, best_loss, per_fold, per_fold)
    start = (*start, stopped, state[:2])
    carry = jax.lax.while_loop(keep_going, body, start)
    epochs_run, state, losses, val_losses, best_epoch, best = (carry[i] for i in (0, 2, 3, 4, 6, 9))
    restore = jnp.logical_and(stops, jnp.all(best_epoch > 0))
    kept = jax.tree.map(lambda old, new: jnp.where(restore, old, new), best, state[:2])
    return (*kept, *state[2:]), losses, val_losses, jnp.max(best_epoch), epochs_run


def _enough_stopped(stopped, folds_left):
    """Whether no more than ``folds_left`` folds are still training (never before one stopped)."""
    import jax.numpy as jnp

    return jnp.sum(stopped) >= jnp.maximum(stopped.size - folds_left, 1)


def _required_wait(patience, epochs_per_wait, best_epoch):
    """:func:`~safekeras.network.budget.required_wait` in the loop (per fold), in integers."""
    import jax.numpy as jnp

    per = jnp.maximum(epochs_per_wait, 1)
    grown = jnp.where(epochs_per_wait > 0, (best_epoch + per - 1) // per, 0)
    return jnp.maximum(patience, grown)


def _where_fold(improved, new, old):
    """``new`` in the folds that improved, ``old`` in the others (the fold axis first)."""
    import jax.numpy as jnp

    return jnp.where(improved.reshape(improved.shape + (1,) * (new.ndim - 1)), new, old)


def _validation_loss(loss_function, state, validation):
    """The validation loss: one chunk's loss, or the row-weighted mean of several."""
    trainable, non_trainable, metrics, _ = state
    losses = [loss_function(trainable, non_trainable, metrics, *part) for part in validation]
    if len(losses) == 1:
        return losses[0]
    rows = [part[0].shape[0] for part in validation]
    return sum(loss * n for loss, n in zip(losses, rows, strict=True)) / sum(rows)
