"""Continuing to train a fitted estimator: ``warm_start=True`` and ``partial_fit``.

A continued fit trains the fitted network further on new rows and keeps
everything else ``fit`` learnt: the input schema, the fitted preprocessing
(scaling stays frozen), the classes and the target scaling. That is only
sound when the estimator still describes the same network and the same
inputs, so this module records what must not change between fits
(:func:`structure_of`) and refuses a continuation when it did
(:func:`check_same_structure`). Training in place is made transactional by
:func:`training_checkpoint`: a continued fit that fails leaves the network's
weights and optimizer exactly as they were.
"""

from __future__ import annotations

import contextlib
import functools
from numbers import Real

import numpy as np

from ..exceptions import ParameterError
from .inference import as_numpy

__all__ = ["check_same_structure", "structure_of", "training_checkpoint"]

# Parameters that decide the network's layers and inputs, and how labels are
# read: changing one of them makes the fitted network, preprocessing or
# decision rule a different model, which continuing cannot produce.
_STRUCTURAL = (
    "model",
    "hidden_layer_sizes",
    "activation",
    "dropout",
    "l2",
    "add_head",
    "preprocessor",
    "numeric_embeddings",  # the preprocessing's width: a warm start keeps the fitted one
    "pos_label",
    "target_transform",  # the regressor's: a warm start keeps the fitted one
    "linear_baseline",  # the regressor's: a warm start keeps the fitted ridge
)


def structure_of(estimator) -> dict:
    """A comparable record of ``estimator``'s structural parameters.

    Numbers, strings, None and sequences of them are recorded as values;
    scikit-learn estimators (a custom preprocessor) by their ``repr``, which
    shows every non-default parameter; anything else (a Keras model, a
    function) by its type, since it cannot be compared reliably after
    pickling.
    """
    # The parameters' names, read once per class: get_params inspects the __init__
    # signature on every call, which a fit would pay for each record.
    names = _parameter_names(type(estimator))
    return {name: _token(getattr(estimator, name)) for name in _STRUCTURAL if name in names}


@functools.cache
def _parameter_names(estimator_class) -> frozenset:
    return frozenset(estimator_class._get_param_names())


def check_same_structure(estimator, recorded: dict, how: str) -> None:
    """Raise :class:`ParameterError` when a structural parameter changed since ``fit``.

    Parameters
    ----------
    estimator : SafeKerasClassifier or SafeKerasRegressor
        The fitted estimator about to continue training.
    recorded : dict
        :func:`structure_of` of the estimator when it was fitted.
    how : str
        What continues ("warm_start=True", "partial_fit"), for the message.
    """
    current = structure_of(estimator)
    changed = sorted(name for name in current if current[name] != recorded.get(name))
    if changed:
        raise ParameterError(
            f"{how} continues training the fitted network, but {', '.join(changed)} "
            f"changed since it was fitted ({_describe(recorded, current, changed)}), which "
            "would make it a different network. Refit from scratch: set warm_start=False "
            "(or call fit on a clone), or restore the previous value."
        )


@contextlib.contextmanager
def training_checkpoint(network):
    """Put ``network``'s weights, optimizer and loss back as they were if the block raises.

    A continued fit trains the fitted network in place (recompiling it with a
    fresh optimizer for ``warm_start``); when that fails, e.g. because the
    loss diverges, the estimator must still predict as before the call.
    """
    weights = network.get_weights()
    compiled = bool(getattr(network, "compiled", False))
    optimizer = getattr(network, "optimizer", None) if compiled else None
    loss = getattr(network, "loss", None) if compiled else None
    # Copies: a variable's numpy view would follow the training that may fail.
    optimizer_state = (
        [np.array(as_numpy(variable.value)) for variable in optimizer.variables]
        if optimizer is not None
        else []
    )
    try:
        yield
    except BaseException:
        if optimizer is not None:
            if network.optimizer is not optimizer:
                network.compile(optimizer=optimizer, loss=loss)
            for variable, value in zip(optimizer.variables, optimizer_state, strict=False):
                variable.assign(value)
        network.set_weights(weights)
        raise


def _token(value):
    if value is None or isinstance(value, (str, bool, Real)):
        return value
    if isinstance(value, (list, tuple)) and all(
        item is None or isinstance(item, (str, bool, Real)) for item in value
    ):
        return tuple(value)
    if hasattr(value, "get_params") and hasattr(value, "fit"):
        return repr(value)
    return f"<{type(value).__module__}.{type(value).__qualname__}>"


def _describe(recorded, current, names) -> str:
    return "; ".join(f"{name}: {recorded.get(name)!r} -> {current[name]!r}" for name in names)
