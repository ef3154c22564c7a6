"""Whole epochs as one ``tf.function`` (TensorFlow backend).

One call shuffles the row indices with a stateless, seeded shuffle, then
loops over the batches in the graph: gather the batch, run the network with
``training=True`` under a ``GradientTape`` (a plain Sequential's Dropout
layers drawing their masks with 16 random bits a unit, see
:mod:`safekeras.network.dropout`), compute the loss exactly as
``model.fit`` does (``model.compute_loss``: the compiled loss with sample
weights plus the layers' regularisation losses, scaled by the optimizer for
mixed precision) and apply the optimizer. The last batch is the remainder,
as under ``model.fit``. Only public Keras 3 APIs are used: the network's
``__call__``, ``compute_loss`` and ``optimizer.apply``.

Tracing that function costs about 0.1-0.2 s, more than ten epochs of a small
network. So the traced functions are reused: they are kept, with the network
they were traced on (its "twin"), in a small cache keyed by what the trace
depends on (architecture without names or seeds, optimizer settings, loss,
batch size, column shapes and dtypes; not the row count, which the graph
reads at run time). A fit whose key is cached copies its freshly initialised
weights and optimizer state into the twin, trains the twin, and copies the
result back: the same arithmetic from the same starting point, without the
trace, and no graph or variables accumulate across refits. A twin is used
by one fit at a time; a concurrent fit of the same architecture traces its
own functions. Fits with callbacks train their own network, which is the
one callbacks see.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from ..dropout import training_forward
from ..inference import plan_forward
from .shared import (
    VALIDATION_CHUNK,
    build_copied_state,
    build_training_state,
    chunks,
    copied_variables,
    epoch_batching,
    keep_recent,
    layout_function,
    mean_loss,
    optimizer_config,
    trace_key,
)
from .tf_fit import trace_whole_fit
from .whole_fit import WholeFit, as_floats, run_whole_fit

__all__ = [
    "TensorFlowEpochs",
    "TwinStart",
    "borrow_cached_twin",
    "build_copied_state",
    "copied_variables",
    "train_twin_from",
    "twin_key_for",
]

# Twins kept for reuse: each holds a network and its traced graph (about 8 MB for the default
# MLP, measured), so few; but enough for the programs of a grid search over four candidates,
# each a network and its stacked threshold folds, to stay traced: with four, a second search
# (or the refit of an early candidate) traced all eight again, about 1.5 s each.
_CACHE_SIZE = 8
_twins: OrderedDict = OrderedDict()
_twins_lock = threading.Lock()


class TensorFlowEpochs:
    """Epoch runner for the TensorFlow backend.

    Parameters
    ----------
    network : keras.Model
        Compiled, built network; holds the trained weights afterwards.
    x, y : ndarray
        Training inputs and encoded targets.
    sample_weight : ndarray or None
        Training weights (None: all equal).
    validation : tuple (x, y, sample_weight or None) or None
        Split whose loss is measured after every epoch.
    batch_size : int
        Rows per optimizer step.
    shuffle_seed : int
        Seed of the per-epoch shuffles (epoch ``e`` uses ``(shuffle_seed, e)``).
    has_callbacks : bool, default=False
        Whether callbacks will run. Without them, a cached twin with already
        traced functions is trained when there is one (see the module
        docstring); with them, ``network`` itself, which callbacks see.
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
        self._network = network
        batch_size = self._take_rows(x, y, sample_weight, validation, batch_size, shuffle_seed)
        signature = _Signature.of(self._train, self._validation_rows)
        self._twin = None
        if not has_callbacks:
            key = _twin_key(network, batch_size, signature)
            self._twin = _borrow_twin(key, network, batch_size, signature, x, y, sample_weight)
        if self._twin is None:
            build_training_state(network, x, y, sample_weight)
            self._trainee = network
            self._functions = _trace(network, batch_size, signature)
        else:
            self._trainee = self._twin.network
            self._functions = self._twin.functions
            try:
                build_copied_state(network, x, y, sample_weight)
                self._twin.copy(network, self._trainee)
            except BaseException:
                self.close()
                raise

    @classmethod
    def on_twin(cls, twin, *, start, x, y, sample_weight, validation, batch_size, shuffle_seed):
        """A runner training ``twin`` (borrowed) from ``start``, for a network not built yet.

        What :mod:`~safekeras.network.deferred` trains. One graph call
        (:meth:`_Twin.fit_from`) loads the twin with the initial state,
        trains it and reads its state back, into :attr:`state`. There is no
        network to copy to, so ``to_network`` and ``from_network`` do
        nothing, and ``close`` gives the twin back. Whole fits only (no
        callbacks).

        Parameters
        ----------
        twin : _Twin
            Borrowed from the cache (:func:`borrow_cached_twin`).
        start : TwinStart
            Where training starts: the initial state's draw, its seeds, and
            the values the draw does not give.
        x, y, sample_weight, validation, batch_size, shuffle_seed
            As :class:`TensorFlowEpochs` takes them.
        """
        runner = cls.__new__(cls)
        runner._network = None
        # One call reads them: the arrays go in as they are, with no per-fit device copy.
        runner._take_rows(x, y, sample_weight, validation, batch_size, shuffle_seed, copy=False)
        runner._twin = twin
        runner._trainee = twin.network
        runner._functions = twin.functions
        runner._start = start
        return runner

    def _take_rows(
        self, x, y, sample_weight, validation, batch_size, shuffle_seed, copy=True
    ) -> int:
        """Keep the rows (tensors with ``copy``), the shuffle seed, the steps; the batch size."""
        self._seed = int(shuffle_seed)
        self._start = None
        self.state = None
        batch_size, self.steps_per_epoch = epoch_batching(len(x), batch_size)
        rows = _as_tensors if copy else _arrays
        self._train = rows(x, y, sample_weight)
        self._validation_rows = None if validation is None else rows(*validation)
        self._validation_chunks = None  # made on the first per-epoch validation loss
        return batch_size

    # -- the runner protocol (see loop.run_epochs) -------------------------------

    def train_epoch(self, epoch: int) -> float:
        """Run one epoch; its mean training loss, as ``model.fit`` logs it."""
        import tensorflow as tf

        seed = tf.constant([self._seed, epoch], tf.int64)
        return float(self._functions[0](*_present(self._train), seed))

    def validation_loss(self) -> float:
        """Loss on the validation split (weighted mean over its rows)."""
        if self._validation_chunks is None:
            self._validation_chunks = list(chunks(*self._validation_rows, size=VALIDATION_CHUNK))
        return mean_loss(lambda part: self._functions[1](*_present(part)), self._validation_chunks)

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
        import tensorflow as tf

        validation = () if self._validation_rows is None else (_present(self._validation_rows),)
        arguments = (
            _present(self._train),
            *validation,
            tf.constant(self._seed, tf.int64),
            tf.constant(epochs, tf.int32),
            tf.constant(patience, tf.int32),
            tf.constant(epochs_per_wait, tf.int32),
            tf.constant(bool(stops)),
            tf.constant(folds_left, tf.int32),
        )
        if self._start is None:
            losses, val_losses, best_epoch = self._functions[2](*arguments)
        else:
            start = self._start
            function = self._twin.fit_from(start.draw, start.given_state)
            losses, val_losses, best_epoch, state = function(
                start.seeds, start.given_state, *arguments
            )
            self.state = [np.array(value) for value in state]
        return WholeFit(
            losses=as_floats(losses.numpy()),
            val_losses=as_floats(val_losses.numpy()) if validation else None,
            best_epoch=int(best_epoch),
        )

    def snapshot(self) -> list:
        return self._trainee.get_weights()

    def restore(self, state: list) -> None:
        self._trainee.set_weights(state)

    def to_network(self) -> None:
        """Copy the twin's state into the network (nothing to do without a twin or network)."""
        if self._twin is not None and self._network is not None:
            self._twin.copy(self._trainee, self._network)

    def from_network(self) -> None:
        """Copy the network's state into the twin (nothing to do without a twin or network)."""
        if self._twin is not None and self._network is not None:
            self._twin.copy(self._network, self._trainee)

    def close(self) -> None:
        """Give the twin back to the cache."""
        if self._twin is not None:
            self._twin.in_use.release()
            self._twin = None


# -- tracing -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Signature:
    """Column shapes and dtypes of the training and validation tensors (rows left open)."""

    train: tuple
    validation: tuple | None

    @classmethod
    def of(cls, train, validation) -> _Signature:
        return cls(_specs(train), None if validation is None else _specs(validation))


def _specs(tensors) -> tuple:
    import tensorflow as tf

    # Tensors or the numpy arrays they are made from (same dtype): see twin_key_for.
    return tuple(
        tf.TensorSpec([None, *tensor.shape[1:]], tf.as_dtype(tensor.dtype))
        for tensor in tensors
        if tensor is not None
    )


def twin_key_for(network, *, x, y, sample_weight, validation, batch_size) -> str | None:
    """The key of the twin a fit of ``network`` on these arrays trains (None: no twin).

    The same key :class:`TensorFlowEpochs` looks its twin up by, from the
    numpy arrays instead of the tensors made from them.
    """
    batch_size, _ = epoch_batching(len(x), batch_size)
    return _twin_key(network, batch_size, _Signature.of((x, y, sample_weight), validation))


def _twin_key(network, batch_size: int, signature: _Signature) -> str | None:
    """The one form of a twin's key (:class:`TensorFlowEpochs` and :func:`twin_key_for`)."""
    return trace_key(network, batch_size=batch_size, signature=repr(signature))


def _trace(network, batch_size: int, signature: _Signature):
    """The epoch, validation-loss and whole-fit ``tf.function``s of ``network``.

    Each is traced on its first call: a fit runs either the first two, once
    per epoch, or the third, once (see :mod:`.whole_fit`).
    """
    import tensorflow as tf

    weighted = len(signature.train) == 3
    run_epoch = _epoch_body(network, batch_size)

    def epoch(x, y, *rest):
        sample_weight, seed = (rest[0], rest[1]) if weighted else (None, rest[0])
        return run_epoch(x, y, sample_weight, seed)

    def loss(x, y, *weights):
        sample_weight = weights[0] if weights else None
        y_pred = network(x, training=False)
        return network.compute_loss(x, y, y_pred, sample_weight, training=False)

    seed_spec = tf.TensorSpec([2], tf.int64)
    epoch_function = layout_function(epoch, input_signature=[*signature.train, seed_spec])
    loss_function = (
        None
        if signature.validation is None
        else layout_function(loss, input_signature=list(signature.validation))
    )
    fit_function = trace_whole_fit(network, run_epoch, loss, signature.train, signature.validation)
    return epoch_function, loss_function, fit_function


def _epoch_body(network, batch_size: int):
    """One epoch in the graph: seeded shuffle, the batches, their mean loss (float64)."""
    import tensorflow as tf

    optimizer = network.optimizer
    forward = training_forward(network)  # network(x, training=True), cheaper dropout masks

    def run_epoch(x, y, sample_weight, seed):
        n_rows = tf.shape(x, out_type=tf.int64)[0]
        order = tf.random.experimental.stateless_shuffle(tf.range(n_rows), seed=seed)
        size = tf.constant(batch_size, tf.int64)
        total = tf.constant(0.0, tf.float64)
        for step in tf.range((n_rows + size - 1) // size):
            rows = order[step * size : tf.minimum((step + 1) * size, n_rows)]
            x_batch, y_batch = tf.gather(x, rows), tf.gather(y, rows)
            w_batch = None if sample_weight is None else tf.gather(sample_weight, rows)
            with tf.GradientTape() as tape:
                y_pred = forward(x_batch)
                loss = network.compute_loss(x_batch, y_batch, y_pred, w_batch, training=True)
                scaled = optimizer.scale_loss(loss)
            variables = network.trainable_variables
            _apply_gradients(optimizer, tape.gradient(scaled, variables), variables)
            total += tf.cast(loss, tf.float64) * tf.cast(tf.shape(rows)[0], tf.float64)
        return total / tf.cast(n_rows, tf.float64)

    return run_epoch


def _apply_gradients(optimizer, gradients, variables) -> None:
    """``optimizer.apply(gradients, variables)``, traced without a leak.

    Keras's TensorFlow optimizer all-reduces the gradients across replicas
    through a ``tf.custom_gradient``, which registers a new gradient function,
    holding the traced graph, in a process-wide registry on every trace: about
    0.8 MB per traced architecture, never freed (measured). Without a
    distribution strategy the all-reduce is the identity, and Keras skips it in
    a cross-replica context, which ``merge_call`` enters for the call only.
    """
    import tensorflow as tf

    if tf.distribute.has_strategy():  # the user's strategy: Keras's own path
        optimizer.apply(gradients, variables)
        return
    tf.distribute.get_replica_context().merge_call(
        lambda _strategy, grads: optimizer.apply(grads, variables), args=(gradients,)
    )


# -- twins ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TwinStart:
    """Where a twin's training starts, for a network not built yet (see :meth:`_Twin.fit_from`).

    Attributes
    ----------
    draw : tf.function
        ``draw(seeds)``: the network's initial variables (trainable, then
        non-trainable), as a network built from those seeds holds them.
    seeds : tf.Tensor
        The seeds, int64.
    given_state : tuple of tf.Tensor or ndarray
        The values of the copied variables after those ``draw`` gives: a
        fresh optimizer's variables, built for the network; or all of them,
        for a draw that gives none (a stack's values, computed outside:
        :mod:`~safekeras.network.deferred_stack`).
    """

    draw: object
    seeds: object
    given_state: tuple


@dataclass
class _Twin:
    network: object
    functions: tuple
    in_use: threading.Lock = field(default_factory=threading.Lock)
    _copy_function: object = None
    _fits_from: OrderedDict = field(default_factory=OrderedDict)  # draw -> tf.function
    _plan: tuple = ()  # (plan,) once planned; the plan may be None

    def fit_from(self, draw, given_state):
        """The whole fit from a drawn initial state, as one ``tf.function`` (traced once per draw).

        ``fit(seeds, given_state, *whole_fit_arguments)`` assigns
        ``draw(seeds)`` and ``given_state`` to the copied variables (see
        :func:`copied_variables`), runs the whole-fit function with the
        remaining arguments, and returns its results and then the copied
        variables' values: one graph call where a load, the fit and a read
        took three (and a draw a fourth), about 2 ms of dispatch a fit.

        Parameters
        ----------
        draw : tf.function
            See :class:`TwinStart`.
        given_state : tuple of tf.Tensor or ndarray
            Their shapes and dtypes fix the function's signature.

        Returns
        -------
        tf.function
        """
        function = self._fits_from.get(draw)
        if function is None:
            function = _fit_from_function(self, draw, given_state)
            keep_recent(self._fits_from, draw, function, 2)
        return function

    def forward_plan(self):
        """The numpy forward pass of the twin's network (None: Keras must predict), planned once."""
        if not self._plan:
            self._plan = (plan_forward(self.network),)
        return self._plan[0]

    def copy(self, source, target) -> None:
        """Assign ``source``'s copied variables (see :func:`copied_variables`) to ``target``'s.

        One graph call per copy: the variables are its arguments, so the one
        trace serves every network of the twin's layout, in both directions
        (24 eager assigns took about 2 ms for the default MLP, measured).
        """
        sources, targets = copied_variables(source), copied_variables(target)
        raw_sources = [variable.value for variable in sources]
        raw_targets = [variable.value for variable in targets]
        if not _all_tf_variables(raw_sources + raw_targets):
            _copy_eagerly(sources, targets)
            return
        if self._copy_function is None:
            self._copy_function = _graph_copy()
        self._copy_function(raw_sources, raw_targets)


def _fit_from_function(twin, draw, given_state):
    """See :meth:`_Twin.fit_from`."""
    import tensorflow as tf

    whole_fit = twin.functions[2]
    variables = [variable.value for variable in copied_variables(twin.network)]

    def fit(seeds, given_state, *arguments):
        for variable, value in zip(variables, [*draw(seeds), *given_state], strict=True):
            variable.assign(value)
        # Automatic control dependencies order the assigns, the fit and the reads.
        results = whole_fit(*arguments)
        return (*results, [variable.read_value() for variable in variables])

    seeds_spec = tf.TensorSpec([None], tf.int64)
    state_specs = tuple(tf.TensorSpec(value.shape, value.dtype) for value in given_state)
    signature = [seeds_spec, state_specs, *whole_fit.input_signature]
    return layout_function(fit, input_signature=signature)


def train_twin_from(
    twin, start, *, x, y, sample_weight, validation, batch_size, shuffle_seed, **fit
):
    """Train a borrowed ``twin`` from ``start`` in one whole fit; the caller gives it back.

    What trains a network, or an ensemble's stack, that is not built
    (:mod:`~safekeras.network.deferred`, :mod:`~safekeras.network.deferred_stack`).

    Parameters
    ----------
    twin : _Twin
    start : TwinStart
    x, y, sample_weight, validation, batch_size, shuffle_seed
        As :meth:`TensorFlowEpochs.on_twin` takes them.
    **fit
        :func:`~.whole_fit.run_whole_fit`'s keywords (``epochs``, ``patience``, ...).

    Returns
    -------
    result : TrainingResult
    state : list of ndarray
        The twin's copied variables after training.
    """
    rows = dict(x=x, y=y, sample_weight=sample_weight, validation=validation)
    runner = TensorFlowEpochs.on_twin(
        twin, start=start, batch_size=batch_size, shuffle_seed=shuffle_seed, **rows
    )
    return run_whole_fit(runner, **fit), runner.state


def borrow_cached_twin(key):
    """The cached twin under ``key``, reserved for the caller (who releases ``in_use``).

    Returns
    -------
    _Twin or None
        None when there is none under ``key`` or another fit is training it.
    """
    with _twins_lock:
        twin = _twins.get(key)
        if twin is None or not twin.in_use.acquire(blocking=False):
            return None
        _twins.move_to_end(key)
        return twin


def _borrow_twin(key, network, batch_size, signature, x, y, sample_weight):
    """A cached twin of ``network``, reserved for this fit; None when there is none to use."""
    if key is None:
        return None
    with _twins_lock:
        twin = _twins.get(key)
        if twin is not None:
            if not twin.in_use.acquire(blocking=False):
                return None  # another fit is training it
            _twins.move_to_end(key)
            return twin
    twin_network = _clone_for_training(network, x, y, sample_weight)
    if twin_network is None:
        return None
    twin = _Twin(twin_network, _trace(twin_network, batch_size, signature))
    twin.in_use.acquire()
    with _twins_lock:
        keep_recent(_twins, key, twin, _CACHE_SIZE)
    return twin


def _clone_for_training(network, x, y, sample_weight):
    """A compiled copy of ``network`` with the same variables layout, or None."""
    import keras

    try:
        twin = keras.models.clone_model(network)
        optimizer = type(network.optimizer).from_config(optimizer_config(network.optimizer))
        twin.compile(optimizer=optimizer, loss=network.loss)
        build_training_state(twin, x, y, sample_weight)
        build_copied_state(network, x, y, sample_weight)
    except (NotImplementedError, TypeError, ValueError):
        return None
    layout = [(tuple(v.shape), v.dtype) for v in copied_variables(network)]
    if layout != [(tuple(v.shape), v.dtype) for v in copied_variables(twin)]:
        return None
    return twin


def _all_tf_variables(values) -> bool:
    import tensorflow as tf

    return all(isinstance(value, tf.Variable) for value in values)


def _graph_copy():
    """A ``tf.function`` assigning each source variable to its target (both arguments)."""

    def copy(sources, targets):
        for source, target in zip(sources, targets, strict=True):
            target.assign(source)

    return layout_function(copy)


def _copy_eagerly(sources, targets) -> None:
    for source, target in zip(sources, targets, strict=True):
        target.assign(source.value)


def _arrays(x, y, sample_weight):
    return x, y, sample_weight


def _present(tensors) -> tuple:
    return tuple(tensor for tensor in tensors if tensor is not None)


def _as_tensors(x, y, sample_weight):
    """The arrays as tensors on the default device, copied there once per fit, not per epoch."""
    import tensorflow as tf

    def on_device(array):
        return None if array is None else tf.identity(tf.convert_to_tensor(array))

    return on_device(x), on_device(y), on_device(sample_weight)
