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
    """``fit(state, key, train, validation, patience, stops, *, epochs)``, jitted.

    Returns the final state (best weights restored when early stopping
    picked them), the training and validation losses (``epochs`` long; the
    first ``epochs_run`` are recorded), the 1-based best epoch (0: none
    restored) and ``epochs_run``.
    """
    import jax

    def fit(state, key, train, validation, patience, stops, *, epochs):
        def run_epoch(carry):
            state, epoch = carry
            return epoch_function(state, jax.random.fold_in(key, epoch), *train)

        def validation_loss(state):
            return _validation_loss(loss_function, state, validation)

        return _epoch_loop(
            state, run_epoch, validation_loss if validation else None, patience, stops, epochs
        )

    return jax.jit(fit, static_argnames=("epochs",))


def _epoch_loop(state, run_epoch, validation_loss, patience, stops, epochs):
    import jax
    import jax.numpy as jnp

    def keep_going(carry):
        epoch, going = carry[0], carry[1]
        return jnp.logical_and(going, epoch < epochs)

    def body(carry):
        epoch, _, state, losses, val_losses, best_loss, best_epoch, waited, best = carry
        state, loss = run_epoch((state, epoch))
        losses = losses.at[epoch].set(loss)
        finite = jnp.isfinite(loss)
        improved = jnp.asarray(False)
        if validation_loss is not None:
            val_loss = validation_loss(state)
            val_losses = val_losses.at[epoch].set(val_loss)
            finite = jnp.logical_and(finite, jnp.isfinite(val_loss))
            improved = jnp.logical_and(stops, val_loss < best_loss)
            best_loss = jnp.where(improved, val_loss, best_loss)
        epoch = epoch + 1
        # The per-epoch loop's rule: a better epoch resets the count, any other adds one.
        best = jax.tree.map(lambda new, old: jnp.where(improved, new, old), state[:2], best)
        best_epoch = jnp.where(improved, epoch, best_epoch)
        waited = jnp.where(improved, jnp.zeros_like(waited), waited + 1)
        stop = jnp.logical_and(jnp.logical_and(stops, ~improved), waited >= patience)
        going = jnp.logical_and(finite, ~stop)
        return epoch, going, state, losses, val_losses, best_loss, best_epoch, waited, best

    zeros = jnp.zeros(epochs, jnp.float32)
    count = jnp.zeros((), jnp.int32)
    best_loss = jnp.full((), jnp.inf, jnp.float32)
    start = (count, jnp.ones((), bool), state, zeros, zeros, best_loss, count, count, state[:2])
    epochs_run, _, state, losses, val_losses, _, best_epoch, _, best = jax.lax.while_loop(
        keep_going, body, start
    )
    restore = jnp.logical_and(stops, best_epoch > 0)
    kept = jax.tree.map(lambda old, new: jnp.where(restore, old, new), best, state[:2])
    return (*kept, *state[2:]), losses, val_losses, best_epoch, epochs_run


def _validation_loss(loss_function, state, validation):
    """The validation loss: one chunk's loss, or the row-weighted mean of several."""
    trainable, non_trainable, metrics, _ = state
    losses = [loss_function(trainable, non_trainable, metrics, *part) for part in validation]
    if len(losses) == 1:
        return losses[0]
    rows = [part[0].shape[0] for part in validation]
    return sum(loss * n for loss, n in zip(losses, rows, strict=True)) / sum(rows)
