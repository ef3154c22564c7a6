"""The default MLP trained before its Keras object exists, which is built when first read.

A warm default fit spent more time building its network than most of its
other steps: the Keras layers and their variables (about 17 ms for the
default MLP), the optimizer's slots (about 7 ms), the compile, and two
copies of that state to and from the cached *twin* that actually trains
(:mod:`.engine.tf_epochs`). None of it is needed to train or to predict: the
twin holds the traced program and variables of the same layout, and
predictions are a numpy forward pass (:mod:`.inference`).

So a fit of the default MLP whose layout is known trains a
:class:`DeferredNetwork` instead, from the state the network would have
started from (:meth:`MLPRecipe.initial_state`: the same seeded Glorot draws,
zero biases, the Dropout seeds; the optimizer's fresh state). On TensorFlow
it loads the layout's cached twin with that state, trains it and reads the
state back as arrays; on JAX, whose compiled functions are pure, it passes
the state to the layout's jitted whole fit (:mod:`.engine.jax_layouts`).
Predictions read the trained arrays. The Keras network is built from them
the first time anything asks for ``model_`` (``save``, pickling,
``to_keras``, ``partial_fit``, user code), and then holds exactly the
weights, seed states and optimizer state a network built first would hold
(tested).

The first fit of each layout in a process (recipe without seeds, dtype,
optimizer and its settings, loss, batch size, column shapes) builds the
network and trains it the usual way (on TensorFlow through the twin it
creates). That fit also checks that the recipe's initial state equals the
built network's, and keeps the fresh optimizer's state; only a layout that
passed the check ever skips the build. TensorFlow and JAX only, and only the default MLP
without callbacks or ``verbose``: every other fit builds its network first, as before.

An ensemble of default MLPs (``ensemble_size`` > 1, :mod:`.ensemble`) trains its
members as a stack of their own and keeps their merged weights in one network
that is never trained. That network is deferred too, from its first fit on: it
holds the merged weights as arrays (:meth:`DeferredNetwork.set_weights`), read
by the forward plan of a reference network of its layout (built once per
layout, never trained), and is built when first read, holding exactly what a
network built first would hold (paired in one process, a default regressor's
fit on diabetes was 18.7 ms faster).
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import asdict, dataclass

import numpy as np

from .architecture import default_mlp, glorot_layers
from .engine.jax_layouts import JaxLayout, learn_layout, train_on_layout
from .engine.shared import (
    columns_of,
    keep_recent,
    layout_function,
    loss_identity,
    recent_or_make,
)
from .variable_names import stable_variable_names

__all__ = [
    "DeferredNetwork",
    "MLPRecipe",
    "can_defer",
    "default_mlp_deferred",
    "train_deferred",
]

# Layouts whose first fit was seen: key -> _Known, or None when the recipe's initial state
# did not match the built network's (those fits always build). A few per search.
_KNOWN_SIZE = 64
# Of which JAX layouts (each holds a reference network of its layout) at most:
_JAX_LAYOUTS = 8
_known: OrderedDict = OrderedDict()
_known_lock = threading.Lock()
_UNSEEN = object()
# Layout -> (forward plan, the variables it reads) of a reference network that is never
# trained, or None when Keras must predict: how an ensemble's merged weights are read.
_PLANS_SIZE = 16
_plans: OrderedDict = OrderedDict()
_plans_lock = threading.Lock()


@dataclass(frozen=True)
class MLPRecipe:
    """Everything that decides the default MLP of a fit, its seeds included.

    :func:`~safekeras.network.architecture.default_mlp` builds it; the seeds
    are drawn here, in the order it draws them, so that a recipe drawn from
    a fit's seed stream builds the network that fit would have built.
    """

    n_features: int
    n_outputs: int
    output_activation: str | None
    hidden_layer_sizes: tuple
    activation: str
    dropout: float
    l2: float
    seeds: tuple

    @classmethod
    def draw(cls, seeds: Iterator[int], **layout) -> MLPRecipe:
        """The recipe of a default MLP, its seeds drawn from ``seeds``.

        Parameters
        ----------
        seeds : iterator of int
            The fit's seed stream: as many seeds are drawn as building the
            network would draw.
        **layout
            :func:`~safekeras.network.architecture.default_mlp`'s keywords
            (``n_features`` included).

        Returns
        -------
        MLPRecipe
        """
        hidden = tuple(int(units) for units in layout.pop("hidden_layer_sizes"))
        count = len(hidden) * (2 if layout["dropout"] > 0 else 1) + 1
        drawn = tuple(int(next(seeds)) for _ in range(count))
        return cls(**layout, hidden_layer_sizes=hidden, seeds=drawn)

    def build(self):
        """The Keras network, uncompiled, with its initial weights.

        Returns
        -------
        keras.Sequential
        """
        return default_mlp(**self.layout(), seeds=iter(self.seeds))

    def layout(self) -> dict:
        """The recipe without its seeds: what the compiled program depends on."""
        layout = asdict(self)
        del layout["seeds"]
        return layout

    def initial_state(self, dtype: str) -> list:
        """The built network's trainable, then non-trainable, variables' values.

        Each layer's kernel as Keras's ``GlorotUniform(seed)`` draws it,
        zero biases, each Dropout layer's seed state ``[seed, 0]``: drawn in
        one graph call per recipe layout on TensorFlow (three eager draws took about 3.5
        ms, measured). Checked against a built network once per layout (see
        the module docstring).

        On JAX the draw is :func:`~.engine.jax_layouts.initial_state_function`'s.

        Parameters
        ----------
        dtype : str
            The network's variable dtype.

        Returns
        -------
        list of tensors (TensorFlow) or arrays (JAX)
        """
        import keras

        if keras.backend.backend() == "jax":
            import jax.numpy as jnp

            from .engine.jax_layouts import initial_state_function

            draw = initial_state_function(self.n_features, self.widths(), self.dropout > 0, dtype)
            return draw(jnp.asarray(self.seeds, jnp.uint32))
        import tensorflow as tf

        return self.state_function(dtype)(tf.constant(self.seeds, tf.int64))

    def state_function(self, dtype: str):
        """The ``tf.function`` of the seeds that :meth:`initial_state` calls (one per layout).

        Parameters
        ----------
        dtype : str
            The network's variable dtype.

        Returns
        -------
        tf.function
        """
        return _initial_state_function(self.n_features, self.widths(), self.dropout > 0, dtype)

    def widths(self) -> tuple:
        """Units of every Dense layer, the output layer last."""
        return (*self.hidden_layer_sizes, self.n_outputs)


# Graph functions drawing a layout's initial state from its seeds: one per layout, few.
_DRAWS_SIZE = 16
_draws: OrderedDict = OrderedDict()
_draws_lock = threading.Lock()


def _initial_state_function(n_features: int, widths: tuple, dropout: bool, dtype: str):
    """A ``tf.function`` of the seeds giving :meth:`MLPRecipe.initial_state`'s values.

    Keras's ``GlorotUniform(seed)`` on TensorFlow is a stateless uniform draw
    in ``[-limit, limit]``, ``limit = sqrt(3 / max(1, (fan_in + fan_out) / 2))``,
    with the seed pair ``[seed, 0]`` taken modulo ``2**31 - 2`` to int32; a
    Dropout seed state is the pair itself (int64).
    """
    import tensorflow as tf

    layers = glorot_layers(n_features, widths, dropout)

    def pair(seed):  # the seed pair [seed, 0] (int64), as Keras's draw_seed makes it
        return tf.stack([seed, tf.constant(0, tf.int64)])

    def draw(seeds):
        trainable, seed_states = [], []
        for layer in layers:
            seed = tf.cast(
                tf.math.floormod(pair(seeds[layer.kernel_seed]), tf.int32.max - 1), tf.int32
            )
            kernel = tf.random.stateless_uniform(
                (layer.fan_in, layer.units),
                minval=tf.cast(-layer.limit, dtype),
                maxval=tf.cast(layer.limit, dtype),
                dtype=dtype,
                seed=seed,
            )
            trainable += [kernel, tf.zeros((layer.units,), dtype)]
            if layer.dropout_seed is not None:
                seed_states.append(pair(seeds[layer.dropout_seed]))
        return [*trainable, *seed_states]

    key = (n_features, widths, dropout, dtype)
    return recent_or_make(_draws, _draws_lock, key, lambda: layout_function(draw), _DRAWS_SIZE)


class DeferredNetwork:
    """A default MLP in training: its recipe, then its trained state; Keras built on demand.

    It stands where a fit passes the network it trains: ``compile`` keeps
    the optimizer and loss, :func:`train_deferred` trains it, and
    :meth:`build_model` gives the Keras network.

    Parameters
    ----------
    recipe : MLPRecipe
    dtype : str
        Input and variable dtype (Keras's ``floatx``).

    Attributes
    ----------
    model : keras.Model or None
        The Keras network, when this fit had to build it (the first of its
        layout, or a twin in use): it then holds the trained state itself.
    state : list of ndarray or None
        Otherwise, after training: every variable a fit changes (the
        network's, then the optimizer's), in ``copied_variables`` order.
    weights : list of ndarray or None
        Or, for the merged members of an ensemble (:meth:`set_weights`): the
        weights alone, as ``get_weights()`` lists them; the optimizer was
        never built.
    forward : ForwardPlan or None
        The numpy forward pass reading ``state`` or ``weights``.
    """

    def __init__(self, recipe: MLPRecipe, dtype: str):
        self.recipe = recipe
        self.dtype = dtype
        self.optimizer = None
        self.loss = None
        self.model = None
        self.state = None
        self.weights = None
        self.forward = None

    def compile(self, *, optimizer, loss) -> None:
        """Keep the optimizer's recipe and the loss, as Keras's compile keeps them.

        Parameters
        ----------
        optimizer : OptimizerRecipe
            What the network's optimizer is made from, if it is built
            (:func:`~safekeras.network.optimizers.fit_optimizer_recipe`).
        loss : str, keras.losses.Loss or callable
        """
        self.optimizer, self.loss = optimizer, loss

    def set_weights(self, weights) -> None:
        """Hold ``weights`` as the trained network's, as Keras's ``set_weights`` would.

        The weights of an ensemble's members, merged into this network
        (:func:`~safekeras.network.ensemble.merge_members`): the members train
        as a stack of their own, so this network is never trained. Its
        predictions read ``weights`` through the forward plan of a reference
        network of the same layout (built once per layout and process, never
        trained); where Keras must predict, the network is built now.

        Parameters
        ----------
        weights : list of ndarray
            Kernel and bias of every layer, in ``get_weights()`` order.
        """
        self.weights = list(weights)
        planned = _reference_plan(self.recipe, self.dtype)
        if planned is None:
            self.model = self.build_model()
            return
        plan, variables = planned
        self.forward = plan.reading(variables, self.weights)

    def build_model(self):
        """The Keras network, compiled, holding the trained ``state`` or ``weights``.

        Returns
        -------
        keras.Model
        """
        from .engine.shared import copied_variables

        with stable_variable_names():
            network = self.recipe.build()
            network.compile(optimizer=self.optimizer.make(), loss=self.loss)
            if self.state is not None:
                network.optimizer.build(network.trainable_variables)
                variables = copied_variables(network)
                for variable, value in zip(variables, self.state, strict=True):
                    variable.assign(value)
            elif self.weights is not None:
                network.set_weights(self.weights)
        return network


def _reference_plan(recipe: MLPRecipe, dtype: str):
    """The forward plan of a never-trained network of ``recipe``'s layout, and its weights."""
    from .inference import plan_forward

    def make():
        with stable_variable_names():
            reference = recipe.build()
        plan = plan_forward(reference)
        return None if plan is None else (plan, list(reference.weights))

    key = json.dumps([recipe.layout(), dtype], sort_keys=True, default=str)
    return recent_or_make(_plans, _plans_lock, key, make, _PLANS_SIZE)


def default_mlp_deferred(
    estimator, spec, n_features: int, seeds, hidden_layer_sizes
) -> DeferredNetwork:
    """The default MLP of ``estimator``'s fit, deferred, its seeds drawn from ``seeds``.

    Parameters
    ----------
    estimator : SafeKerasClassifier or SafeKerasRegressor
        Read for its architecture parameters.
    spec : TargetSpec
        The target: the output layer's units and activation.
    n_features : int
        Width of the preprocessed input.
    seeds : iterator of int
        The fit's seed stream.
    hidden_layer_sizes : sequence of int
        The widths: ``estimator``'s own, or those of the one network an
        ensemble's members become (:func:`~safekeras.network.ensemble.wide_layer_sizes`).

    Returns
    -------
    DeferredNetwork
    """
    import keras

    recipe = MLPRecipe.draw(
        seeds,
        n_features=n_features,
        n_outputs=spec.n_outputs,
        output_activation=spec.activation,
        hidden_layer_sizes=hidden_layer_sizes,
        activation=estimator.activation,
        dropout=estimator.dropout,
        l2=estimator.l2,
    )
    return DeferredNetwork(recipe, keras.config.floatx())


def can_defer(estimator, *, kind: str, size: int, partial: bool) -> bool:
    """Whether a first fit of ``estimator`` may train a :class:`DeferredNetwork`.

    The default MLP, on a table, trained by the compiled TensorFlow or JAX
    engine in one call (no callbacks, no ``verbose``), outside a distribution
    strategy (or a JAX distribution) and with a plain dtype policy. With
    ``size`` > 1 it is the one network the ensemble's members become, which
    holds their merged weights (:meth:`DeferredNetwork.set_weights`).
    """
    import keras

    if estimator.model is not None or kind != "table" or partial:
        return False
    if estimator.callbacks or estimator.verbose or estimator.engine == "keras":
        return False
    backend = keras.backend.backend()
    if backend == "jax":
        if keras.distribution.distribution() is not None:
            return False
    elif backend == "tensorflow":
        import tensorflow as tf

        if tf.distribute.has_strategy():
            return False
    else:
        return False
    return keras.config.dtype_policy().name == keras.config.floatx()


def train_deferred(
    network: DeferredNetwork, *, train_built, x, y, sample_weight, validation, **options
):
    """Train ``network`` without building it when its layout is known, else built first.

    Known: on TensorFlow, the layout's cached twin (:mod:`.engine.tf_epochs`);
    on JAX, its compiled functions and fresh state (:mod:`.engine.jax_layouts`).

    Parameters
    ----------
    network : DeferredNetwork
        Compiled (``compile`` called).
    train_built : callable
        What trains a built Keras network, with the same keywords
        (:func:`~safekeras.network.training.train`).
    x, y, sample_weight, validation
        As :func:`~safekeras.network.training.train` takes them.
    **options
        The rest of :func:`~safekeras.network.training.train`'s keywords.

    Returns
    -------
    TrainingResult
    """
    arrays = dict(x=x, y=y, sample_weight=sample_weight, validation=validation)
    key = _layout_key(network, options["batch_size"], **arrays)
    with _known_lock:
        known = _known.get(key, _UNSEEN)
    if not options["callbacks"] and not options["verbose"]:
        if isinstance(known, _Known):
            result = _train_on_twin(network, known, **arrays, **options)
            if result is not None:
                return result
        elif isinstance(known, JaxLayout):
            return train_on_layout(network, known, **arrays, **options)
    model = network.build_model()
    fresh = None
    if known is _UNSEEN:
        fresh = _fresh_state(model, x, y, sample_weight)
    network.model = model
    result = train_built(model, **arrays, **options)
    if fresh is not None:
        _learn_layout(key, network, model, fresh, arrays, options["batch_size"])
    return result


@dataclass(frozen=True)
class _Known:
    twin_key: str
    optimizer_state: tuple  # a fresh optimizer's variables, built for the network


def _layout_key(network: DeferredNetwork, batch_size: int, *, x, y, sample_weight, validation):
    """What the twin a fit of ``network`` trains depends on (its seeds and row counts aside)."""
    import keras

    optimizer = network.optimizer
    parts = {
        "recipe": network.recipe.layout(),
        "dtype": [network.dtype, keras.config.dtype_policy().name],
        "optimizer": [optimizer.optimizer_class.__qualname__, dict(optimizer.config)],
        "loss": loss_identity(network.loss),
        "batch_size": min(int(batch_size), len(x)),
        "columns": [columns_of(a) for a in (x, y, sample_weight)],
        "validation": None if validation is None else [columns_of(a) for a in validation],
    }
    return json.dumps(parts, sort_keys=True, default=repr)


def _fresh_state(model, x, y, sample_weight) -> list:
    """The built network's variables before training, its optimizer's slots built."""
    from .engine.shared import build_copied_state, copied_variables
    from .inference import as_numpy

    build_copied_state(model, x, y, sample_weight)
    return [as_numpy(variable.value).copy() for variable in copied_variables(model)]


def _learn_layout(key, network, model, fresh, arrays, batch_size) -> None:
    """Remember how to train ``key``'s layout unbuilt, if its recipe draws the built state."""
    import keras

    n_network = len(model.trainable_variables) + len(model.non_trainable_variables)
    expected = [np.asarray(value) for value in network.recipe.initial_state(network.dtype)]
    matches = len(expected) == n_network and all(
        value.dtype == built.dtype and np.array_equal(value, built)
        for value, built in zip(expected, fresh[:n_network], strict=False)
    )
    known = None
    if matches and keras.backend.backend() == "jax":
        known = learn_layout(network, arrays)
    elif matches:
        known = _known_twin(model, fresh[n_network:], arrays, batch_size)
    with _known_lock:
        keep_recent(_known, key, known, _KNOWN_SIZE)
        # Each JAX layout holds a reference network: keep the most recent few.
        layouts = [k for k, value in _known.items() if isinstance(value, JaxLayout)]
        for old_key in layouts[:-_JAX_LAYOUTS]:
            del _known[old_key]


def _known_twin(model, optimizer_state, arrays, batch_size) -> _Known | None:
    """The cached twin of ``model``'s layout with the fresh optimizer's state, if it predicts."""
    import tensorflow as tf

    from .engine.tf_epochs import borrow_cached_twin, twin_key_for

    twin_key = twin_key_for(model, batch_size=batch_size, **arrays)
    twin = None if twin_key is None else borrow_cached_twin(twin_key)
    if twin is None:
        return None
    try:
        if twin.forward_plan() is None:
            return None
        # Tensors: converted once, not on every load.
        return _Known(twin_key, tuple(tf.convert_to_tensor(value) for value in optimizer_state))
    finally:
        twin.in_use.release()


def _train_on_twin(network, known: _Known, *, x, y, sample_weight, validation, **options):
    """Train the cached twin from ``network``'s initial state; None when the twin is not free."""
    import tensorflow as tf

    from .engine.tf_epochs import (
        TwinStart,
        borrow_cached_twin,
        copied_variables,
        train_twin_from,
    )

    twin = borrow_cached_twin(known.twin_key)
    if twin is None:
        return None
    try:
        plan = twin.forward_plan()
        recipe = network.recipe
        start = TwinStart(
            draw=recipe.state_function(network.dtype),
            seeds=tf.constant(recipe.seeds, tf.int64),
            given_state=known.optimizer_state,
        )
        result, network.state = train_twin_from(
            twin,
            start,
            x=x,
            y=y,
            sample_weight=sample_weight,
            validation=validation,
            batch_size=options["batch_size"],
            shuffle_seed=options["shuffle_seed"],
            epochs=options["epochs"],
            patience=options["patience"],
            epochs_per_wait=options["epochs_per_wait"],
            stops=validation is not None and options["early_stopping"],
        )
        network.forward = plan.reading(copied_variables(twin.network), network.state)
        return result
    finally:
        twin.in_use.release()
