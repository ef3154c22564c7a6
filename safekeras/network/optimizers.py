"""The optimizer a fit trains with: made fresh from the estimator's settings.

Every fit gets a new optimizer (its moments start at zero), made from the
estimator's ``optimizer`` (a Keras name or a template instance) at the rate
``learning_rate`` resolves to. A fit whose network is built later
(:mod:`.deferred`) needs only what the optimizer would be made from, an
:class:`OptimizerRecipe`, whose config is read once per setting in the
process: making a Keras optimizer creates its variables, about 2 ms a fit.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from ..exceptions import InputError
from .deferred import DeferredNetwork
from .engine.shared import optimizer_config, recent_or_make

__all__ = [
    "AUTO_LEARNING_RATE",
    "OptimizerRecipe",
    "fit_optimizer",
    "fit_optimizer_for",
    "fit_optimizer_recipe",
    "make_optimizer",
    "resolve_learning_rate",
]

# The default MLP's Adam rate ("auto"): 3x Adam's own 1e-3. It reaches the same held-out
# quality in 20 to 50 % fewer epochs on the real tables and default-path data of
# benchmarks/defaults_ablation.py (--sections learning-rate; docs/defaults.md).
AUTO_LEARNING_RATE = 3e-3


def resolve_learning_rate(learning_rate, optimizer, model):
    """The rate a fit's optimizer gets: a float, or None for the optimizer's own.

    ``"auto"`` is :data:`AUTO_LEARNING_RATE` for the default MLP (``model`` is
    None) trained with ``optimizer="adam"``, the setting it was measured on;
    any other network or optimizer keeps the optimizer's own rate, as None does.

    Parameters
    ----------
    learning_rate : "auto", float or None
        The estimator's ``learning_rate``.
    optimizer : str or keras.optimizers.Optimizer
        The estimator's ``optimizer``.
    model : None, keras.Model or callable
        The estimator's ``model`` (None: the default MLP).

    Returns
    -------
    float or None
    """
    if not (isinstance(learning_rate, str) and learning_rate == "auto"):
        return learning_rate
    default_adam = isinstance(optimizer, str) and optimizer.lower() == "adam"
    return AUTO_LEARNING_RATE if model is None and default_adam else None


def fit_optimizer(estimator):
    """A fresh optimizer for a fit of ``estimator``: its ``optimizer`` at its resolved rate.

    Parameters
    ----------
    estimator : SafeKerasClassifier or SafeKerasRegressor
        Read for ``optimizer``, ``learning_rate`` and ``model`` (see
        :func:`resolve_learning_rate`).

    Returns
    -------
    keras.optimizers.Optimizer
    """
    rate = resolve_learning_rate(estimator.learning_rate, estimator.optimizer, estimator.model)
    return make_optimizer(estimator.optimizer, rate)


def fit_optimizer_for(network, estimator):
    """What ``network.compile`` takes as the optimizer of ``estimator``'s fit.

    A :class:`~safekeras.network.deferred.DeferredNetwork` takes the
    :class:`OptimizerRecipe` (it makes the optimizer only if its network is
    built); any other network a fresh optimizer (:func:`fit_optimizer`).

    Parameters
    ----------
    network : keras.Model or DeferredNetwork
    estimator : SafeKerasClassifier or SafeKerasRegressor

    Returns
    -------
    keras.optimizers.Optimizer or OptimizerRecipe
    """
    if isinstance(network, DeferredNetwork):
        return fit_optimizer_recipe(estimator)
    return fit_optimizer(estimator)


def make_optimizer(optimizer, learning_rate):
    """A fresh Keras optimizer from a name or a template instance (never reused).

    The optimizer gets a fixed name (the given one, or the class's alias such as
    "adam"): Keras would otherwise number every new optimizer ("adam_57"), and
    TensorFlow keeps about 35 KB per distinct variable name for the life of the
    process, which made memory grow with every refit.
    """
    import keras

    if isinstance(optimizer, str):
        # One optimizer, made with its rate: each one made creates variables (about 1 ms).
        config = {"name": optimizer.lower()}
        if learning_rate is not None:
            config["learning_rate"] = float(learning_rate)
        try:
            return keras.optimizers.get({"class_name": optimizer, "config": config})
        except ValueError as exc:
            raise InputError(
                f"optimizer={optimizer!r} is not a Keras optimizer name; use e.g. 'adam', "
                "'sgd', 'rmsprop', 'adamw', or pass a keras.optimizers.Optimizer instance."
            ) from exc
    return type(optimizer).from_config(_template_config(optimizer, learning_rate))


def _template_config(template, learning_rate) -> dict:
    """A template optimizer's config, at ``learning_rate`` when one is given."""
    config = optimizer_config(template)
    if learning_rate is not None:
        config["learning_rate"] = float(learning_rate)
    return config


@dataclass(frozen=True)
class OptimizerRecipe:
    """What a fresh optimizer is made from: its class and its config.

    Attributes
    ----------
    optimizer_class : type
        A ``keras.optimizers.Optimizer`` subclass.
    config : tuple of (str, object)
        Its ``get_config()`` items, sorted by key (frozen, so a recipe can be
        shared between fits; :meth:`make` gives each its own dict).
    """

    optimizer_class: type
    config: tuple

    @classmethod
    def of(cls, optimizer, learning_rate=None) -> OptimizerRecipe:
        """The recipe of ``optimizer`` (a Keras optimizer), at ``learning_rate`` if given."""
        config = _template_config(optimizer, learning_rate)
        return cls(type(optimizer), tuple(sorted(config.items())))

    def make(self):
        """A fresh optimizer: ``optimizer_class.from_config(config)``.

        Returns
        -------
        keras.optimizers.Optimizer
        """
        return self.optimizer_class.from_config(dict(self.config))


# Recipes of optimizers given by name, per (name, rate): a handful per process.
_RECIPES_SIZE = 32
_recipes: OrderedDict = OrderedDict()
_recipes_lock = threading.Lock()


def fit_optimizer_recipe(estimator) -> OptimizerRecipe:
    """The recipe of the optimizer :func:`fit_optimizer` would make, without making one.

    For an optimizer given by name, the recipe is read from one optimizer
    made per name and rate in the process, then reused; a template
    instance's recipe is its config, at the resolved rate.

    Parameters
    ----------
    estimator : SafeKerasClassifier or SafeKerasRegressor
        Read for ``optimizer``, ``learning_rate`` and ``model``.

    Returns
    -------
    OptimizerRecipe

    Raises
    ------
    InputError
        ``optimizer`` is a name Keras does not know.
    """
    rate = resolve_learning_rate(estimator.learning_rate, estimator.optimizer, estimator.model)
    optimizer = estimator.optimizer
    if not isinstance(optimizer, str):
        return OptimizerRecipe.of(optimizer, rate)
    key = (optimizer, None if rate is None else float(rate))
    return recent_or_make(
        _recipes,
        _recipes_lock,
        key,
        lambda: OptimizerRecipe.of(make_optimizer(optimizer, rate)),
        _RECIPES_SIZE,
    )
