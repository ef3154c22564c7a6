"""A default MLP's layout on JAX, learnt once: its compiled functions, fresh state and forward plan.

The JAX side of :mod:`~safekeras.network.deferred`. On TensorFlow a deferred
fit trains a cached *twin* (:mod:`.tf_epochs`), a network whose variables
the compiled program updates. The JAX engine (:mod:`.jax_epochs`) needs no
twin: its jitted functions are pure, the weights, optimizer slots and loss
trackers come in as arrays and go out as arrays. So once a layout has been
seen, a later fit of it needs only:

- its initial state, drawn from the recipe's seeds by one jitted function
  per layout (:func:`initial_state_function`): Keras's ``GlorotUniform(seed)``
  on JAX is ``jax.random.uniform`` on the raw key ``[seed, 0]`` (uint32), the
  biases are zeros and a Dropout layer's seed state is ``[seed, 0]``;
- the fresh loss trackers and optimizer slots, which do not depend on the
  seeds (kept as arrays: JAX arrays are immutable, fits share them);
- the compiled functions of the layout at the fit's row count;
- the numpy forward pass of the layout (:class:`~safekeras.network.inference.ForwardPlan`),
  re-pointed at the trained arrays.

:class:`JaxLayout` keeps those, with a private *reference* network of the
layout that is built once, never trained and never handed out: the functions
are traced from it when a row count is new, and the forward plan reads its
variables' positions. The first fit of a layout builds its own network and
checks that the recipe's draw equals that network's initial state, bit for
bit; a layout that fails always builds (see :mod:`~safekeras.network.deferred`).
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

from ..architecture import glorot_layers
from ..inference import plan_forward
from . import whole_fit
from .jax_epochs import JaxEpochs, compiled_functions
from .shared import (
    build_training_state,
    copied_variables,
    epoch_batching,
    recent_or_make,
    state_variable_groups,
)

__all__ = ["JaxLayout", "initial_state_function", "learn_layout", "train_on_layout"]

# Jitted draws of a layout's initial state, and a layout's functions per row count: few each.
_DRAWS_SIZE = 16
_draws: OrderedDict = OrderedDict()
_draws_lock = threading.Lock()
_ROW_COUNTS = 8


def initial_state_function(n_features: int, widths: tuple, dropout: bool, dtype: str):
    """A jitted function of the seeds (uint32) giving a default MLP's initial variables.

    The trainable variables (each Dense layer's kernel, then its bias), then
    the non-trainable ones (each hidden layer's Dropout seed state), as
    :class:`~safekeras.network.deferred.MLPRecipe` lays its seeds out: a
    kernel's seed, then its Dropout's, layer by layer.

    Parameters
    ----------
    n_features : int
        Width of the network's input.
    widths : tuple of int
        Units of every Dense layer, the output layer last.
    dropout : bool
        Whether a Dropout layer follows each hidden layer.
    dtype : str
        The variables' float dtype.

    Returns
    -------
    callable
        ``draw(seeds) -> list of jax arrays``.
    """
    import jax
    import jax.numpy as jnp

    layers = glorot_layers(n_features, widths, dropout)

    def pair(seed):  # the raw key [seed, 0] (uint32), as Keras's draw_seed makes it
        return jnp.stack([seed, jnp.uint32(0)])

    def draw(seeds):
        kernels_and_biases, seed_states = [], []
        for layer in layers:
            kernel = jax.random.uniform(
                pair(seeds[layer.kernel_seed]),
                shape=(layer.fan_in, layer.units),
                dtype=dtype,
                minval=-layer.limit,
                maxval=layer.limit,
            )
            kernels_and_biases += [kernel, jnp.zeros((layer.units,), dtype)]
            if layer.dropout_seed is not None:
                seed_states.append(pair(seeds[layer.dropout_seed]))
        return [*kernels_and_biases, *seed_states]

    key = (n_features, widths, dropout, dtype)
    return recent_or_make(_draws, _draws_lock, key, lambda: jax.jit(draw), _DRAWS_SIZE)


class JaxLayout:
    """What a deferred fit of one layout needs on JAX (see the module docstring).

    Parameters
    ----------
    reference : keras.Model
        A network of the layout, compiled, its training state built; never
        trained, never handed out.
    plan : ForwardPlan
        The numpy forward pass of ``reference``.
    """

    def __init__(self, reference, plan):
        import jax.numpy as jnp

        self.reference = reference
        self.plan = plan
        _, _, metrics, optimizer = state_variable_groups(reference)
        self.fresh_metrics = tuple(jnp.asarray(variable.value) for variable in metrics)
        self.fresh_optimizer = tuple(jnp.asarray(variable.value) for variable in optimizer)
        self.n_trainable = len(reference.trainable_variables)
        self._functions: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def functions(self, n_rows: int, batch_size: int) -> tuple:
        """The layout's compiled (epoch, loss, whole-fit) functions for ``n_rows`` rows.

        Parameters
        ----------
        n_rows, batch_size : int

        Returns
        -------
        tuple of three callables
        """
        key = (n_rows, epoch_batching(n_rows, batch_size)[0])
        # A new row count's functions are traced from the reference.
        return recent_or_make(
            self._functions,
            self._lock,
            key,
            lambda: compiled_functions(self.reference, n_rows, batch_size),
            _ROW_COUNTS,
        )


def learn_layout(network, arrays: dict) -> JaxLayout | None:
    """The :class:`JaxLayout` of a deferred network's layout, or None when Keras must predict.

    Parameters
    ----------
    network : DeferredNetwork
        Compiled; its recipe's initial state already checked against a built
        network of the layout.
    arrays : dict
        The fit's ``x``, ``y`` and ``sample_weight``: their first rows build
        the reference's loss trackers and optimizer slots.

    Returns
    -------
    JaxLayout or None
    """
    reference = network.build_model()  # not trained yet: the recipe's fresh network
    plan = plan_forward(reference)
    if plan is None:
        return None
    build_training_state(reference, arrays["x"], arrays["y"], arrays["sample_weight"])
    return JaxLayout(reference, plan)


def train_on_layout(network, layout: JaxLayout, *, x, y, sample_weight, validation, **options):
    """Train ``network`` from its recipe's initial state with ``layout``'s functions.

    Parameters
    ----------
    network : DeferredNetwork
        Compiled; its ``state`` and ``forward`` are set here.
    layout : JaxLayout
    x, y, sample_weight, validation
        As :func:`~safekeras.network.training.train` takes them.
    **options
        The rest of :func:`~safekeras.network.training.train`'s keywords.

    Returns
    -------
    TrainingResult

    Raises
    ------
    TrainingError
        If a loss becomes NaN or infinite (see :func:`~.whole_fit.run_whole_fit`).
    """
    drawn = network.recipe.initial_state(network.dtype)
    state = (
        list(drawn[: layout.n_trainable]),
        list(drawn[layout.n_trainable :]),
        list(layout.fresh_metrics),
        list(layout.fresh_optimizer),
    )
    runner = JaxEpochs.from_state(
        layout.functions(len(x), options["batch_size"]),
        state,
        x=x,
        y=y,
        sample_weight=sample_weight,
        validation=validation,
        batch_size=options["batch_size"],
        shuffle_seed=options["shuffle_seed"],
    )
    result = whole_fit.run_whole_fit(
        runner,
        epochs=options["epochs"],
        patience=options["patience"],
        epochs_per_wait=options["epochs_per_wait"],
        stops=validation is not None and options["early_stopping"],
    )
    trainable, non_trainable, _, optimizer = runner.snapshot()
    network.state = [np.asarray(value) for value in (*trainable, *non_trainable, *optimizer)]
    network.forward = layout.plan.reading(copied_variables(layout.reference), network.state)
    return result
