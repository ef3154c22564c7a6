"""Training: the early-stopping validation split, optimisation and its history.

The epochs themselves are run by an engine (:mod:`safekeras.engine`).
Randomness is local. The validation split uses a numpy ``RandomState`` built
from the estimator's seed; per-epoch shuffling is seeded explicitly (a
stateless shuffle in the compiled engine, a ``tf.data`` shuffle with an
operation seed under ``model.fit``); the network's initialisers and dropout
layers were seeded when it was built (see :mod:`safekeras.architecture`). Nothing calls
``keras.utils.set_random_seed`` or ``tf.random.set_seed``, so no global
random state, determinism flag or float precision is changed by a fit.
"""

from __future__ import annotations

import copy
import math
import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import ShuffleSplit, StratifiedShuffleSplit

from .engine import TrainingResult, resolve_engine
from .engine.keras_fit import fit_with_keras
from .engine.loop import run_epochs
from .exceptions import InputError, ValidationSplitWarning, external_stacklevel

__all__ = [
    "TrainingResult",
    "ValidationSplit",
    "loss_in_dtype",
    "make_optimizer",
    "normalise_weights",
    "train",
    "unequal_or_none",
]


@dataclass(frozen=True)
class ValidationSplit:
    """Hold out a (stratified) fraction of the training data for early stopping.

    Parameters
    ----------
    fraction : float
        Share of the samples held out, rounded up to at least one sample.
    stratify : bool
        Keep class proportions in both parts. Falls back to a plain shuffled
        split, with a :class:`~safekeras.exceptions.ValidationSplitWarning`,
        when a class is too small to appear on both sides.
    """

    fraction: float
    stratify: bool = True

    def split(self, n_samples: int, labels, random_state) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(train_indices, validation_indices)``."""
        if n_samples < 2:
            raise InputError(
                f"n_samples={n_samples}: early stopping needs at least 2 samples to hold "
                "some out for validation. Pass more data or early_stopping=False."
            )
        n_validation = min(max(1, math.ceil(self.fraction * n_samples)), n_samples - 1)
        X_dummy = np.zeros((n_samples, 1))
        if self.stratify and labels is not None:
            counts = np.unique(labels, return_counts=True)[1]
            n_classes = len(counts)
            if (
                counts.min() >= 2
                and n_validation >= n_classes
                and n_samples - n_validation >= n_classes
            ):
                splitter = StratifiedShuffleSplit(
                    n_splits=1, test_size=n_validation, random_state=random_state
                )
                return next(splitter.split(X_dummy, labels))
            warnings.warn(
                f"The validation split ({n_validation} of {n_samples} "
                f"samples) cannot be stratified: the smallest class has {counts.min()} "
                "sample(s). Using a plain shuffled split; some classes may be missing from "
                "validation. Pass more data or a larger validation_fraction.",
                ValidationSplitWarning,
                stacklevel=external_stacklevel(),
            )
        splitter = ShuffleSplit(n_splits=1, test_size=n_validation, random_state=random_state)
        return next(splitter.split(X_dummy))


def normalise_weights(sample_weight: np.ndarray, dtype="float32") -> np.ndarray | None:
    """Rescale weights to mean 1, in the network's dtype; None when they are all equal.

    The loss is then a weighted *mean*: multiplying every weight by a constant
    changes nothing, and integer weights train like repeated rows. Equal
    weights are the same as no weights, and no weights spare Keras the
    weighted-loss work on every batch.
    """
    if unequal_or_none(sample_weight) is None:
        return None
    return (sample_weight * (len(sample_weight) / sample_weight.sum())).astype(dtype)


def unequal_or_none(sample_weight: np.ndarray) -> np.ndarray | None:
    """The weights, or None when they are all equal (which is the same as no weights)."""
    if np.all(sample_weight == sample_weight[0]):
        return None
    return sample_weight


def make_optimizer(optimizer, learning_rate):
    """A fresh Keras optimizer from a name or a template instance (never reused).

    The optimizer gets a fixed name (the given one, or the class's alias such as
    "adam"): Keras would otherwise number every new optimizer ("adam_57"), and
    TensorFlow keeps about 35 KB per distinct variable name for the life of the
    process, which made memory grow with every refit.
    """
    import keras

    if isinstance(optimizer, str):
        identifier = {"class_name": optimizer, "config": {"name": optimizer.lower()}}
        try:
            template = keras.optimizers.get(identifier)
        except ValueError as exc:
            raise InputError(
                f"optimizer={optimizer!r} is not a Keras optimizer name; use e.g. 'adam', "
                "'sgd', 'rmsprop', 'adamw', or pass a keras.optimizers.Optimizer instance."
            ) from exc
        if learning_rate is None:
            return template
    else:
        template = optimizer
    config = template.get_config()
    if learning_rate is not None:
        config["learning_rate"] = float(learning_rate)
    return template.__class__.from_config(config)


def loss_in_dtype(loss, dtype: str):
    """The loss computing in ``dtype``, when Keras can be told so.

    Keras losses compute in ``keras.config.floatx()`` unless told otherwise,
    which would throw away the precision of a float64 network. Loss names and
    ``keras.losses.Loss`` instances are re-created with ``dtype``; a plain
    function is left as it is.
    """
    import keras

    if dtype == keras.config.floatx():
        return loss
    if isinstance(loss, keras.losses.Loss):
        config = loss.get_config()
        config["dtype"] = dtype
        return loss.__class__.from_config(config)
    if isinstance(loss, str):
        class_name = "".join(part.capitalize() for part in loss.split("_"))
        try:
            return keras.losses.get({"class_name": class_name, "config": {"dtype": dtype}})
        except (TypeError, ValueError):
            return loss
    return loss


def train(
    network,
    *,
    engine: str,
    x: np.ndarray,
    y: np.ndarray,
    sample_weight: np.ndarray,
    validation: tuple | None,
    epochs: int,
    batch_size: int,
    patience: int,
    callbacks,
    shuffle_seed: int,
    verbose,
) -> TrainingResult:
    """Fit a compiled network, with early stopping when ``validation`` is given.

    Parameters
    ----------
    network : keras.Model
        Compiled network.
    engine : {"auto", "compiled", "keras"}
        Which engine trains it (see :mod:`safekeras.engine`).
    x, y : ndarray
        Training split (preprocessed and encoded).
    sample_weight : ndarray or None
        Training weights (None: all equal).
    validation : tuple (x, y, sample_weight or None) or None
        Early-stopping split; None trains all ``epochs``.
    callbacks : list or None
        The user's callbacks; deep-copied here so that no state is shared
        between fits or clones.
    shuffle_seed : int
        Seed of the per-epoch shuffle.

    Raises
    ------
    TrainingError
        If the training or validation loss becomes NaN or infinite.
    ParameterError
        If ``engine="compiled"`` cannot train this network or these callbacks.
    """
    callbacks = list(copy.deepcopy(callbacks)) if callbacks else []
    options = dict(
        x=x,
        y=y,
        sample_weight=sample_weight,
        validation=validation,
        batch_size=batch_size,
        shuffle_seed=shuffle_seed,
    )
    if resolve_engine(engine, network, callbacks) == "keras":
        return fit_with_keras(
            network,
            epochs=epochs,
            patience=patience,
            callbacks=callbacks,
            verbose=verbose,
            **options,
        )
    runner = _epoch_runner()(network, has_callbacks=bool(callbacks), **options)
    return run_epochs(
        runner,
        network,
        epochs=epochs,
        patience=patience,
        validate=validation is not None,
        callbacks=callbacks,
        verbose=verbose,
    )


def _epoch_runner():
    import keras

    if keras.backend.backend() == "jax":
        from .engine.jax_epochs import JaxEpochs

        return JaxEpochs
    from .engine.tf_epochs import TensorFlowEpochs

    return TensorFlowEpochs
