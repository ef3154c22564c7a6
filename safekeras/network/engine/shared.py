"""What both compiled epoch runners need before their first epoch."""

from __future__ import annotations

import json
import warnings

__all__ = [
    "VALIDATION_CHUNK",
    "build_copied_state",
    "build_training_state",
    "chunks",
    "columns_of",
    "copied_variables",
    "epoch_batching",
    "keep_recent",
    "layout_function",
    "loss_config_keeps_settings",
    "loss_identity",
    "mean_loss",
    "optimizer_config",
    "recent_or_make",
    "state_variable_groups",
    "trace_key",
    "without_names_and_seeds",
]

# Validation rows per forward pass: one pass for typical splits, bounded
# memory for large ones. The loss is a weighted mean over rows either way.
VALIDATION_CHUNK = 8192


def build_training_state(network, x, y, sample_weight) -> None:
    """Create every variable training will touch before anything is compiled.

    Variables cannot be created inside a compiled loop, so the compiled loss
    (built by its first call) and the optimizer's slots are built here. The
    loss is built on zeros shaped like the network's declared output when it
    declares one (a built Sequential or functional network: its variables
    all exist already), else on one eager forward pass over a couple of rows
    in inference mode (no dropout draw, no batch-norm update), which also
    builds a network that builds on its first call. The value is discarded:
    only the variables it creates matter.
    """
    rows = slice(0, min(2, len(x)))
    weights = None if sample_weight is None else sample_weight[rows]
    y_pred = _declared_output_zeros(network, len(x[rows]))
    if y_pred is None:
        y_pred = network(x[rows], training=False)
    network.compute_loss(x[rows], y[rows], y_pred, weights, training=False)
    if not network.optimizer.built:  # a continued fit (partial_fit) keeps its optimizer
        network.optimizer.build(network.trainable_variables)


def _declared_output_zeros(network, n_rows: int):
    """Zeros shaped and typed like ``network``'s single declared output, or None.

    An eager forward pass is about 2 ms of the setup's 9 on TensorFlow (1 of
    5 on JAX) for the default MLP, measured, and the compiled loss needs only
    the output's structure, shape and dtype.
    """
    import keras

    if not network.built:
        return None
    try:
        outputs = network.outputs
    except (AttributeError, ValueError):  # a subclassed model declares none
        return None
    if not isinstance(outputs, list) or len(outputs) != 1:
        return None
    shape = tuple(outputs[0].shape)
    if len(shape) < 2 or any(dim is None for dim in shape[1:]):
        return None
    return keras.ops.zeros((n_rows, *shape[1:]), dtype=outputs[0].dtype)


def epoch_batching(n_rows: int, batch_size: int) -> tuple[int, int]:
    """The batch size used (at most ``n_rows``) and the steps per epoch, the last one partial."""
    batch_size = int(min(batch_size, n_rows))
    return batch_size, -(-n_rows // batch_size)


def state_variable_groups(network) -> tuple:
    """Every variable training reads or writes, in a fixed order.

    Four groups: trainable, non-trainable (batch-norm statistics, seed
    states), metrics (the compiled loss trackers) and the optimizer's.
    """
    return (
        network.trainable_variables,
        network.non_trainable_variables,
        network.metrics_variables,
        network.optimizer.variables,
    )


def build_copied_state(network, x, y, sample_weight) -> None:
    """Create the variables of ``network`` that :func:`copied_variables` lists.

    The optimizer's slots, not the compiled loss: a TensorFlow twin computes
    the loss, and the loss trackers are not copied (nothing reads them: an
    epoch sums its own loss). A network not built yet gets the whole training
    state. Also what a deferred network's first fit reads its fresh state
    from, on either backend (:mod:`~safekeras.network.deferred`).
    """
    if not network.built:
        build_training_state(network, x, y, sample_weight)
    elif not network.optimizer.built:  # a continued fit (partial_fit) keeps its optimizer
        network.optimizer.build(network.trainable_variables)


def copied_variables(network) -> list:
    """Every variable training changes: trainable, non-trainable, the optimizer's.

    What a fit moves between a network and its TensorFlow twin, and what a
    deferred network's ``state`` holds (:mod:`~safekeras.network.deferred`).
    The loss trackers are left out: nothing reads them after a fit (an epoch
    sums its own loss).
    """
    trainable, non_trainable, _, optimizer = state_variable_groups(network)
    return [*trainable, *non_trainable, *optimizer]


def mean_loss(loss_of_chunk, parts) -> float:
    """The mean over rows of a loss computed as a mean per chunk of rows."""
    total, rows = 0.0, 0
    for part in parts:
        n_rows = int(part[0].shape[0])
        total += float(loss_of_chunk(part)) * n_rows
        rows += n_rows
    return total / rows


def chunks(x, y, sample_weight, *, size: int):
    """``(x, y, sample_weight)`` in consecutive row blocks of at most ``size``."""
    for start in range(0, len(x), size):
        rows = slice(start, start + size)
        yield x[rows], y[rows], None if sample_weight is None else sample_weight[rows]


def trace_key(network, **data) -> str | None:
    """What a compiled epoch of ``network`` depends on, or None when it cannot be told.

    Two networks with equal keys compile to the same program, so one's
    compiled functions can train the other's weights. The key holds the
    architecture, the optimizer's settings, the loss and ``data`` (shapes,
    dtypes, batch size). Layer names and seeds are left out: names differ
    between otherwise equal networks, and seeds only set initial values (the
    dropout seed state is a variable). A float learning rate is a variable
    too; a learning-rate schedule is part of the program.
    """

    try:
        optimizer = optimizer_config(network.optimizer)
        if isinstance(optimizer.get("learning_rate"), float):
            del optimizer["learning_rate"]
        parts = {
            "network": (type(network).__module__, type(network).__qualname__),
            "config": network.get_config(),
            "optimizer": (type(network.optimizer).__qualname__, optimizer),
            "loss": loss_identity(network.loss),
            "data": data,
        }
        return json.dumps(without_names_and_seeds(parts), sort_keys=True, default=repr)
    except (NotImplementedError, TypeError, ValueError):
        return None


def loss_identity(loss):
    """What ``loss`` computes, as far as it can be told: its config and its settings.

    A loss's config is not enough: Keras's ``Huber`` leaves ``delta`` out of
    it (Keras 3.15), so ``Huber(delta=0.1)`` and ``Huber()`` serialise alike
    and one's trace would train the other's fits. A loss object's attributes
    hold such settings (``LossFunctionWrapper`` keeps them in its function's
    keyword arguments); a function is told apart by its identity, so two
    lambdas never share a trace.

    Parameters
    ----------
    loss : str, keras.losses.Loss, callable or None
        A compiled network's ``loss``.

    Returns
    -------
    JSON-able description; equal descriptions compute the same loss.
    """
    import keras

    if loss is None or isinstance(loss, str):
        return loss
    if not isinstance(loss, keras.losses.Loss):  # a function: its identity
        return _setting_identity(loss)
    return [keras.saving.serialize_keras_object(loss), _setting_identity(vars(loss))]


def loss_config_keeps_settings(loss) -> bool:
    """Whether ``loss`` rebuilt from its Keras config computes what it computes.

    Keras's ``Huber`` loses ``delta`` on the way (Keras 3.15): a network
    rebuilt from config, or a file loaded, would train or score another loss.

    Parameters
    ----------
    loss : keras.losses.Loss

    Returns
    -------
    bool
        False also when Keras cannot serialise or rebuild it.
    """
    import keras

    try:
        rebuilt = keras.losses.deserialize(keras.losses.serialize(loss))
    except (TypeError, ValueError):
        return False
    return loss_identity(rebuilt) == loss_identity(loss)


def _setting_identity(value):
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, dict):
        return {str(key): _setting_identity(item) for key, item in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return [_setting_identity(item) for item in value]
    if callable(value):
        name = getattr(value, "__qualname__", type(value).__qualname__)
        return f"{getattr(value, '__module__', '')}.{name}@{id(value)}"
    return repr(value)


def optimizer_config(optimizer) -> dict:
    """``optimizer.get_config()``, without the NumPy warning Keras raises reading it on JAX.

    Keras reads a variable learning rate as ``float(variable.numpy())``; on JAX
    that goes through an ``__array__`` without NumPy 2's ``copy`` keyword, and
    NumPy emits a DeprecationWarning on every call. It is about Keras's code,
    not the user's, and it fired on every fit (each reads its trace key), so
    this call, and only this call, ignores it.

    Parameters
    ----------
    optimizer : keras.optimizers.Optimizer

    Returns
    -------
    dict
        A copy of the optimizer's config.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore",
            message="__array__ implementation doesn't accept a copy keyword",
            category=DeprecationWarning,
        )
        return dict(optimizer.get_config())


def columns_of(array):
    """An array's shape past its rows and its dtype (None for None): part of a layout's key."""
    return None if array is None else [list(array.shape[1:]), str(array.dtype)]


def keep_recent(cache, key, value, size: int) -> None:
    """Store ``value`` under ``key`` in the LRU ``cache``, dropping the oldest beyond ``size``.

    ``cache`` is an ``OrderedDict`` whose last entries are the most recently
    used; the caller holds the lock that guards it.
    """
    cache[key] = value
    while len(cache) > size:
        cache.popitem(last=False)


def recent_or_make(cache, lock, key, make, size: int):
    """The value the LRU ``cache`` holds for ``key``, else ``make()``, stored there.

    ``cache`` is an ``OrderedDict`` guarded by ``lock``; a hit becomes the
    most recent entry, and :func:`keep_recent` drops the oldest beyond
    ``size``. ``make`` runs without the lock held (a trace or a build can take
    long), so two threads may both make a value for a new key: either is kept,
    as the values of one key are interchangeable.
    """
    with lock:
        if key in cache:
            cache.move_to_end(key)
            return cache[key]
    value = make()
    with lock:
        keep_recent(cache, key, value, size)
    return value


def layout_function(python_function, **options):
    """``tf.function(python_function, **options)``, one of many made from the same code.

    safekeras makes a new ``tf.function`` from one Python function for each
    network layout it meets (an input width, the hidden widths, a dtype) and
    keeps it in a bounded cache, so each of those functions traces once. But
    TensorFlow counts traces per Python code object, across every
    ``tf.function`` made from it, and logs "5 out of the last 5 calls to ...
    triggered tf.function retracing" once five in a row have traced: fitting
    datasets of five widths in one process, ordinary work, would log it. The
    function is marked as TensorFlow marks the functions it restores from a
    SavedModel, whose traces that detector leaves out (a private attribute:
    were it gone, the log line would return, nothing else).

    Parameters
    ----------
    python_function : callable
        What to trace.
    **options
        Passed to ``tf.function`` (``input_signature``, ...).

    Returns
    -------
    tf.function
    """
    import tensorflow as tf

    function = tf.function(python_function, **options)
    function._omit_frequent_tracing_warning = True
    return function


def without_names_and_seeds(value):
    """``value`` (a config: nested dicts and lists) without its "name" and "seed" entries."""
    if isinstance(value, dict):
        return {
            key: without_names_and_seeds(item)
            for key, item in value.items()
            if key not in ("name", "seed")
        }
    if isinstance(value, (list, tuple)):
        return [without_names_and_seeds(item) for item in value]
    return value
