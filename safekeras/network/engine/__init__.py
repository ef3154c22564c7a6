"""Training engines: what runs the epochs of a compiled Keras network.

Two engines train the same network to the same optimum:

``"compiled"``
    Each epoch is one compiled function that shuffles (seeded, in the graph),
    slices the batches and applies the optimizer: a ``tf.function`` looping
    over the batches on TensorFlow (:mod:`.tf_epochs`), a jitted
    ``lax.scan`` on JAX (:mod:`.jax_epochs`). Python runs once per epoch, not
    once per batch, which is where ``model.fit`` spends most of its time on
    small tabular data. The epoch loop around it (:mod:`.loop`) keeps
    ``model.fit``'s semantics: the loss Keras would report, validation loss,
    early stopping with the best weights restored, and the epoch hooks of
    the user's callbacks. Without callbacks and without ``verbose``, the
    whole fit is one compiled call instead (:mod:`.whole_fit`: a
    ``tf.while_loop`` or ``lax.while_loop`` over the epochs, early stopping
    and the best weights kept in the loop), with the same result.
``"keras"``
    Keras' own ``model.fit`` (:mod:`.keras_fit`), for the torch backend,
    networks that override ``train_step`` and callbacks with per-batch hooks.

:func:`resolve_engine` turns the estimator's ``engine`` parameter into one of
the two; ``"auto"`` picks ``"compiled"`` whenever it can train the network.
Both return a :class:`TrainingResult` and stop on a diverging loss with
:func:`check_finite_logs`, both in :mod:`.result` (re-exported here).
"""

from __future__ import annotations

from ...exceptions import ParameterError
from .result import DIVERGENCE_FIXES, TrainingResult, check_finite_logs

__all__ = [
    "COMPILED_BACKENDS",
    "DIVERGENCE_FIXES",
    "ENGINES",
    "TrainingResult",
    "check_finite_logs",
    "compiled_obstacles",
    "resolve_engine",
]

ENGINES = ("auto", "compiled", "keras")
# Backends with a compiled epoch function; others (torch) train with model.fit.
COMPILED_BACKENDS = ("tensorflow", "jax")
# Callback hooks that only model.fit calls: the compiled engine runs whole
# epochs in one call, so there is no Python between batches to call them from.
_PER_BATCH_HOOKS = (
    "on_batch_begin",
    "on_batch_end",
    "on_train_batch_begin",
    "on_train_batch_end",
    "on_test_begin",
    "on_test_end",
    "on_test_batch_begin",
    "on_test_batch_end",
)


def resolve_engine(engine: str, network, callbacks) -> str:
    """``"compiled"`` or ``"keras"``: the engine that will train ``network``.

    Parameters
    ----------
    engine : {"auto", "compiled", "keras"}
        The estimator's parameter.
    network : keras.Model
        The network about to be trained.
    callbacks : list of keras.callbacks.Callback or None
        The user's callbacks.

    Raises
    ------
    ParameterError
        ``engine="compiled"`` for a network or callbacks it cannot train,
        naming what stands in the way.
    """
    if engine == "keras":
        return "keras"
    obstacles = compiled_obstacles(network, callbacks)
    if not obstacles:
        return "compiled"
    if engine == "compiled":
        raise ParameterError(
            "engine='compiled' cannot train this network: "
            + "; ".join(obstacles)
            + ". Use engine='auto', which then trains with Keras' model.fit, or engine='keras'."
        )
    return "keras"


def compiled_obstacles(network, callbacks) -> list[str]:
    """Why the compiled engine cannot train ``network`` with ``callbacks`` (empty: it can)."""
    import keras

    obstacles = []
    backend = keras.backend.backend()
    if backend not in COMPILED_BACKENDS:
        obstacles.append(
            f"the Keras backend is {backend!r} (compiled epochs exist for "
            f"{' and '.join(COMPILED_BACKENDS)})"
        )
    if type(network).train_step is not keras.Model.train_step:
        obstacles.append(f"{type(network).__name__} overrides train_step")
    for callback in callbacks or ():
        hooks = _per_batch_hooks(callback)
        if hooks:
            obstacles.append(
                f"callback {type(callback).__name__} uses per-batch hooks ({', '.join(hooks)})"
            )
    return obstacles


def _per_batch_hooks(callback) -> list[str]:
    """The per-batch hooks ``callback`` implements (set on the instance or overridden)."""
    import keras

    if isinstance(callback, keras.callbacks.ModelCheckpoint) and callback.save_freq == "epoch":
        # Its batch hook only saves when save_freq counts batches.
        return []
    base = keras.callbacks.Callback
    return [
        hook
        for hook in _PER_BATCH_HOOKS
        if hook in vars(callback) or getattr(type(callback), hook) is not getattr(base, hook)
    ]
