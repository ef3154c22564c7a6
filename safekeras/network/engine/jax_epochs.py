"""Whole epochs as one jitted ``lax.scan`` (JAX backend).

The documented Keras 3 pattern for custom JAX training: the state (trainable,
non-trainable, metric and optimizer variables) lives in JAX arrays, each
step is ``model.compute_loss_and_updates`` (the forward pass through
``stateless_call`` with ``training=True``, the compiled loss with sample
weights, regularisation losses and loss scaling, exactly as ``model.fit``)
differentiated by ``jax.value_and_grad``, and ``optimizer.stateless_apply``.
An epoch is a ``lax.scan`` over the full batches of a seeded permutation,
followed by the remainder batch; everything is one XLA program.

The arrays are written back into the network's variables when training ends,
and between epochs when callbacks need to see (or change) them.

XLA compiles an epoch in about a second on CPU, far longer than a small
network's epoch takes. The functions are pure: the weights, optimizer slots
and learning rate all come in as arguments. So the jitted functions are kept
in a small cache keyed by what their trace depends on (the architecture
without layer names or seeds, the optimizer's settings, the loss, the batch
size and the row count), and a refit of the same architecture on data of the
same shape (a grid-search candidate, a cross-validation fold of equal size,
a repeated fit) reuses the compiled program with its own fresh weights.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from .jax_fit import whole_fit_function
from .shared import (
    VALIDATION_CHUNK,
    build_training_state,
    chunks,
    epoch_batching,
    mean_loss,
    recent_or_make,
    state_variable_groups,
    trace_key,
)
from .whole_fit import WholeFit, as_floats

__all__ = ["JaxEpochs", "compiled_functions"]

# Compiled (epoch, loss) function pairs kept for reuse. Each entry holds on to
# the network it was traced from, so the cache is small and least recently
# used entries are dropped.
_CACHE_SIZE = 8
_compiled_functions: OrderedDict = OrderedDict()
# Fits in threads (GridSearchCV(n_jobs) with a threading backend) share the cache: reordering
# and evicting entries of an OrderedDict from two threads at once can raise or lose entries.
_compiled_lock = threading.Lock()


class JaxEpochs:
    """Epoch runner for the JAX backend (same parameters as ``TensorFlowEpochs``).

    The compiled functions are reused whether or not there are callbacks:
    they train arrays, which are written into ``network`` itself whenever
    callbacks run.
    """

    def __init__(
        self,
        network,
        *,
        x,
        y,
        sample_weight,
        validation,
        batch_size,
        shuffle_seed,
        has_callbacks=False,
    ):
        build_training_state(network, x, y, sample_weight)
        self._network = network
        batch_size = self._take_rows(x, y, sample_weight, validation, batch_size, shuffle_seed)
        self.from_network()
        # The state is written into ``network`` for callbacks, so they need no own functions.
        del has_callbacks
        self._epoch_function, self._loss_function, self._fit_function = _compiled(
            network, len(x), batch_size
        )

    @classmethod
    def from_state(
        cls, functions, state, *, x, y, sample_weight, validation, batch_size, shuffle_seed
    ):
        """A runner training ``state`` with ``functions``, for a network not built yet.

        What :mod:`~safekeras.network.deferred` trains on JAX: the compiled
        functions of another network of the same layout (they are pure: the
        state comes in as arguments) and the initial state as arrays. There
        is no network to write to, so ``to_network`` does nothing; the
        trained state is :meth:`snapshot`. Whole fits only (no callbacks).

        Parameters
        ----------
        functions : tuple
            The (epoch, validation-loss, whole-fit) functions of the layout
            at these rows and batch size (:func:`compiled_functions`).
        state : tuple of four lists of arrays
            Trainable, non-trainable, metrics and optimizer variables' values,
            in :func:`~.shared.state_variable_groups` order.
        x, y, sample_weight, validation, batch_size, shuffle_seed
            As :class:`JaxEpochs` takes them.
        """
        runner = cls.__new__(cls)
        runner._network = None
        runner._take_rows(x, y, sample_weight, validation, batch_size, shuffle_seed)
        runner._state = state
        runner._epoch_function, runner._loss_function, runner._fit_function = functions
        return runner

    def _take_rows(self, x, y, sample_weight, validation, batch_size, shuffle_seed) -> int:
        """Keep the rows as JAX arrays, the shuffle key and the steps; return the batch size."""
        import jax
        import jax.numpy as jnp

        batch_size, self.steps_per_epoch = epoch_batching(len(x), batch_size)
        self._key = jax.random.key(int(shuffle_seed))
        self._train = tuple(None if a is None else jnp.asarray(a) for a in (x, y, sample_weight))
        self._validation = (
            []
            if validation is None
            else [
                tuple(None if a is None else jnp.asarray(a) for a in part)
                for part in chunks(*validation, size=VALIDATION_CHUNK)
            ]
        )
        return batch_size

    # -- the runner protocol (see loop.run_epochs) -------------------------------

    def train_epoch(self, epoch: int) -> float:
        import jax

        key = jax.random.fold_in(self._key, epoch)
        self._state, loss = self._epoch_function(self._state, key, *self._train)
        return float(loss)

    def validation_loss(self) -> float:
        trainable, non_trainable, metrics, _ = self._state
        return mean_loss(
            lambda part: self._loss_function(trainable, non_trainable, metrics, *part),
            self._validation,
        )

    def train_all(
        self,
        *,
        epochs: int,
        patience: int,
        epochs_per_wait: int = 0,
        stops: bool,
        folds_left: int = 0,
    ) -> WholeFit:
        """Run every epoch in one call (see :mod:`.whole_fit`); the best weights restored."""
        import jax.numpy as jnp
        import numpy as np

        self._state, losses, val_losses, best_epoch, epochs_run = self._fit_function(
            self._state,
            self._key,
            self._train,
            self._validation,
            jnp.asarray(patience, jnp.int32),
            jnp.asarray(epochs_per_wait, jnp.int32),
            jnp.asarray(bool(stops)),
            jnp.asarray(folds_left, jnp.int32),
            epochs=int(epochs),
        )
        epochs_run = int(epochs_run)
        return WholeFit(
            losses=as_floats(np.asarray(losses)[:epochs_run]),
            val_losses=as_floats(np.asarray(val_losses)[:epochs_run]) if self._validation else None,
            best_epoch=int(best_epoch),
        )

    def snapshot(self):
        return self._state  # JAX arrays are immutable: no copy needed

    def restore(self, state) -> None:
        trainable, non_trainable, _, _ = state
        _, _, metrics, optimizer = self._state
        self._state = (trainable, non_trainable, metrics, optimizer)

    def to_network(self) -> None:
        """Write the arrays into the network's (and optimizer's) variables (if it has one)."""
        if self._network is None:
            return
        groups = state_variable_groups(self._network)
        for variables, values in zip(groups, self._state, strict=True):
            for variable, value in zip(variables, values, strict=True):
                variable.assign(value)

    def from_network(self) -> None:
        """Read the state from the network's (and optimizer's) variables."""
        self._state = tuple(
            [variable.value for variable in variables]
            for variables in state_variable_groups(self._network)
        )

    def close(self) -> None:
        """Nothing to release: the cached functions are pure."""


def compiled_functions(network, n_rows: int, batch_size: int) -> tuple:
    """The jitted (epoch, validation-loss, whole-fit) functions of ``network``'s layout.

    Cached by the layout (:func:`~.shared.trace_key`), so any network of the
    same layout, rows and batch size gets the same functions; they are pure,
    so they train any state of that layout.

    Parameters
    ----------
    network : keras.Model
        Compiled, its training state built.
    n_rows, batch_size : int
        The training rows and the rows per step.

    Returns
    -------
    tuple of three callables
    """
    return _compiled(network, n_rows, epoch_batching(n_rows, batch_size)[0])


def _compiled(network, n_rows: int, batch_size: int):
    """The jitted epoch, validation-loss and whole-fit functions for ``network`` (cached)."""
    import jax

    def wrap():  # cheap: jax.jit compiles on the first call
        epoch_function = jax.jit(_epoch_function(network, n_rows, batch_size))
        loss_function = jax.jit(_loss_function(network))
        return epoch_function, loss_function, whole_fit_function(epoch_function, loss_function)

    key = trace_key(network, rows=n_rows, batch_size=batch_size)
    if key is None:
        return wrap()
    return recent_or_make(_compiled_functions, _compiled_lock, key, wrap, _CACHE_SIZE)


def _epoch_function(network, n_rows: int, batch_size: int):
    """The pure function of one epoch, for ``jax.jit``."""
    import jax

    n_full = n_rows // batch_size
    remainder = n_rows - n_full * batch_size
    gradient = jax.value_and_grad(network.compute_loss_and_updates, has_aux=True)

    def step(state, rows, x, y, sample_weight):
        trainable, non_trainable, metrics, optimizer_state = state
        weights = None if sample_weight is None else sample_weight[rows]
        (_, (loss, _, non_trainable, metrics)), grads = gradient(
            trainable,
            non_trainable,
            metrics,
            x[rows],
            y[rows],
            weights,
            training=True,
            optimizer_variables=optimizer_state,
        )
        trainable, optimizer_state = network.optimizer.stateless_apply(
            optimizer_state, grads, trainable
        )
        return (trainable, non_trainable, metrics, optimizer_state), loss

    def epoch(state, key, x, y, sample_weight):
        order = jax.random.permutation(key, n_rows)
        full = order[: n_full * batch_size].reshape(n_full, batch_size)
        state, losses = jax.lax.scan(
            lambda carry, rows: step(carry, rows, x, y, sample_weight), state, full
        )
        total = losses.sum() * batch_size
        if remainder:
            state, loss = step(state, order[n_full * batch_size :], x, y, sample_weight)
            total = total + loss * remainder
        return state, total / n_rows

    return epoch


def _loss_function(network):
    """The pure validation-loss function, for ``jax.jit``."""

    def loss(trainable, non_trainable, metrics, x, y, sample_weight):
        value, _ = network.compute_loss_and_updates(
            trainable, non_trainable, metrics, x, y, sample_weight, training=False
        )
        return value

    return loss
