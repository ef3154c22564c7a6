"""An ensemble's stack trained on its layout's cached twin, never built (TensorFlow).

The members of an ensemble train as one
:class:`~safekeras.network.fold_layers.FoldStack` (:mod:`.stacked`). A stack
built for each fit costs a Keras model's construction (its layers and
variables), its optimizer's slots (built only to be copied, as zeros, into
the cached twin that trains it: :mod:`.engine.tf_epochs`) and that copy.
From the second fit of a layout on, none of it happens: the stack's initial
values (the members' kernels and zero biases, stacked; its dropout layers'
seed states; a fresh optimizer's slots) go straight into the twin, in the
graph call that trains it (:meth:`~.engine.tf_epochs._Twin.fit_from`), and
the members' trained weights are read from the values that call returns.

The first fit of a layout builds the stack and checks that the values this
module would load are the built stack's own, variable by variable (as does
any later fit that builds: a twin dropped from its cache is learned again);
a layout where one differs (a Keras version that seeds its dropout
otherwise) is never deferred. On other backends, under a ``tf.distribute`` strategy, or
when the twin is busy or gone, the stack is built as before. Either way the
members train to the same bits (tested).
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from . import stacked
from .engine.shared import columns_of, keep_recent

__all__ = ["train_stacked_members"]

# Layouts whose stacks train on their twin without being built: (architecture, optimizer,
# batch size, column shapes). A grid search holds a few; the twins themselves are fewer.
_KNOWN_SIZE = 16
_known: OrderedDict = OrderedDict()
_known_lock = threading.Lock()


@dataclass(frozen=True)
class _KnownStack:
    twin_key: str
    roles: tuple  # what each of the twin's copied variables is, in their order
    optimizer_state: tuple  # a fresh optimizer's variables, as tensors


def train_stacked_members(
    members,
    *,
    dropout_seeds,
    architecture: dict,
    optimizer,
    train,
    validation,
    widths,
    **training,
):
    """Train ``members`` as one stack; each member's trained weights and the training record.

    Parameters
    ----------
    members : list of list of ndarray
        Each member's initial weights (:func:`~.stacked.initial_fold_weights`).
    dropout_seeds : list of int
        The stack's dropout seeds.
    architecture : dict
        :func:`~.stacked.stack_weights`'s keywords other than these two:
        ``width``, ``hidden_units``, ``activation``, ``dropout``, ``l2``,
        ``output_activation``, ``loss``.
    optimizer : OptimizerRecipe
        The fit's optimizer (made only if the stack is built).
    train, validation
        From :func:`~.stacked.stack_rows` (validation may be None).
    widths : list of int
        Each member's own input width.
    **training
        :func:`~.stacked.train_stack`'s other keywords: ``batch_size``,
        ``epochs``, ``patience``, ``epochs_per_wait``, ``shuffle_seed``,
        ``stops``, ``folds_left``.

    Returns
    -------
    trained : list of list of ndarray
        Each member's trained weights.
    result : TrainingResult

    Raises
    ------
    TrainingError
        If a member's training or validation loss becomes NaN or infinite.
    """
    key = _layout_key(members, architecture, optimizer, train, validation, training)
    known = None
    if key is not None:
        with _known_lock:
            known = _known.get(key)
    if known is not None:
        done = _train_on_twin(
            known, members, dropout_seeds, architecture, train, validation, widths, training
        )
        if done is not None:
            return done
    stack = stacked.stack_weights(members, dropout_seeds=dropout_seeds, **architecture)
    stack.compile(optimizer=optimizer.make(), loss=None)
    # Learned (again) at every fit that builds: a twin dropped from its cache comes back.
    checked = None
    if key is not None:
        checked = _checked_start(stack, members, dropout_seeds, architecture, train)
    result = stacked.train_stack(stack, train=train, validation=validation, **training)
    trained = stacked.fold_weights(stack, widths)
    if checked is not None:
        _learn(key, stack, *checked, train, validation, training["batch_size"])
    return trained, result


def _layout_key(members, architecture, optimizer, train, validation, training) -> str | None:
    """What the twin a stack trains on depends on (seeds aside); None: never deferred."""
    import keras

    if keras.backend.backend() != "tensorflow":
        return None
    import tensorflow as tf

    if tf.distribute.has_strategy():
        return None
    parts = {
        "architecture": architecture,
        "members": len(members),
        "dtype": [str(members[0][0].dtype), keras.config.dtype_policy().name],
        "optimizer": [optimizer.optimizer_class.__qualname__, dict(optimizer.config)],
        "batch_size": min(int(training["batch_size"]), len(train[0])),
        "train": [columns_of(array) for array in train],
        "validation": None if validation is None else [columns_of(a) for a in validation],
    }
    return json.dumps(parts, sort_keys=True, default=repr)


def _roles(stack) -> tuple | None:
    """What each copied variable of ``stack`` is, in order; None when one is not known."""
    from .engine.shared import copied_variables

    named = {}
    for depth, layer in enumerate([*stack.hidden, stack.head]):
        named[id(layer.kernel)] = ("kernel", depth)
        named[id(layer.bias)] = ("bias", depth)
    for number, layer in enumerate(stack.drops):
        state = layer.seed_generator.state
        named[id(state)] = ("seed", number, str(state.dtype))
    for index, variable in enumerate(stack.optimizer.variables):
        named[id(variable)] = ("optimizer", index)
    roles = tuple(named.get(id(variable)) for variable in copied_variables(stack))
    return None if None in roles else roles


def _initial_values(roles, members, dropout_seeds, width, optimizer_state) -> list:
    """The copied variables' values a stack of ``members`` starts from, in ``roles``' order."""
    layers = stacked.stacked_arrays(members, width)
    values = []
    for role in roles:
        if role[0] == "kernel":
            values.append(layers[role[1]][0])
        elif role[0] == "bias":
            values.append(layers[role[1]][1])
        elif role[0] == "seed":  # a Keras SeedGenerator starts at [seed, 0]
            values.append(np.array([dropout_seeds[role[1]], 0], dtype=role[2]))
        else:
            values.append(optimizer_state[role[1]])
    return values


def _checked_start(stack, members, dropout_seeds, architecture, train) -> tuple | None:
    """``stack``'s roles and fresh optimizer state if this module would load its own values.

    None when a value would differ (or a variable's role is unknown). Builds
    the optimizer's slots, which the engine would build first thing.
    """
    from .engine.shared import build_copied_state, copied_variables
    from .inference import as_numpy

    build_copied_state(stack, *train)
    roles = _roles(stack)
    if roles is None:
        return None
    built = [as_numpy(variable.value) for variable in copied_variables(stack)]
    fresh = [as_numpy(variable.value).copy() for variable in stack.optimizer.variables]
    loaded = _initial_values(roles, members, dropout_seeds, architecture["width"], fresh)
    same = all(
        a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)
        for a, b in zip(loaded, built, strict=True)
    )
    return (roles, fresh) if same else None


def _learn(key, stack, roles, fresh, train, validation, batch_size) -> None:
    """Remember ``key``'s layout when the fit left its twin in the cache."""
    import tensorflow as tf

    from .engine.tf_epochs import borrow_cached_twin, twin_key_for

    x, y, sample_weight = train
    twin_key = twin_key_for(
        stack, x=x, y=y, sample_weight=sample_weight, validation=validation, batch_size=batch_size
    )
    twin = None if twin_key is None else borrow_cached_twin(twin_key)
    if twin is None:
        return
    twin.in_use.release()
    known = _KnownStack(twin_key, roles, tuple(tf.convert_to_tensor(value) for value in fresh))
    with _known_lock:
        keep_recent(_known, key, known, _KNOWN_SIZE)


def _nothing_drawn(seeds):
    """The twin's draw for a stack: every initial value is given, none drawn."""
    return []


def _train_on_twin(
    known, members, dropout_seeds, architecture, train, validation, widths, training
):
    """Train the layout's twin from the stack's initial values; None when it is not free."""
    import tensorflow as tf

    from .engine.tf_epochs import TwinStart, borrow_cached_twin, train_twin_from

    twin = borrow_cached_twin(known.twin_key)
    if twin is None:
        return None
    try:
        values = _initial_values(
            known.roles, members, dropout_seeds, architecture["width"], known.optimizer_state
        )
        start = TwinStart(
            draw=_nothing_drawn, seeds=tf.zeros([0], tf.int64), given_state=tuple(values)
        )
        x, y, sample_weight = train
        rows = dict(batch_size=training["batch_size"], shuffle_seed=training["shuffle_seed"])
        fit = {name: value for name, value in training.items() if name not in rows}
        result, state = train_twin_from(
            twin,
            start,
            x=x,
            y=y,
            sample_weight=sample_weight,
            validation=validation,
            **rows,
            **stacked.whole_fit_options(validation, **fit),
        )
        trained = dict(zip(known.roles, state, strict=True))
        layers = [
            (trained[("kernel", depth)], trained[("bias", depth)])
            for depth in range(len(members[0]) // 2)
        ]
        return stacked.unstacked_weights(layers, widths), result
    finally:
        twin.in_use.release()
