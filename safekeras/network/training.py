"""Training: the early-stopping validation split, optimisation and its history.

The epochs themselves are run by an engine (:mod:`safekeras.network.engine`).
Randomness is local. The validation split uses a numpy ``RandomState`` built
from the estimator's seed; per-epoch shuffling is seeded explicitly (a
stateless shuffle in the compiled engine, a ``tf.data`` shuffle with an
operation seed under ``model.fit``); the network's initialisers and dropout
layers were seeded when it was built (see :mod:`safekeras.network.architecture`). Nothing calls
``keras.utils.set_random_seed`` or ``tf.random.set_seed``, so no global
random state, determinism flag or float precision is changed by a fit.
"""

from __future__ import annotations

import copy
import math
import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import GroupShuffleSplit, ShuffleSplit, StratifiedShuffleSplit

from ..data.input_validation import unequal_or_none
from ..exceptions import InputError, TrainingError, ValidationSplitWarning, external_stacklevel
from .deferred import DeferredNetwork, train_deferred
from .engine import DIVERGENCE_FIXES, TrainingResult, resolve_engine
from .engine.keras_fit import fit_with_keras
from .engine.loop import run_epochs

__all__ = [
    "TrainingResult",
    "ValidationSplit",
    "check_training_outcome",
    "loss_in_dtype",
    "normalise_weights",
    "prior_loss",
    "split_rows",
    "train",
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


def split_rows(spec, y_encoded, kept, rng, *, fraction: float, holdout: bool, twins=None):
    """Train/validation indices into the original rows (zero weights excluded).

    ``kept`` are the rows with a positive weight; without ``holdout`` all of
    them train and there is no validation split. Binary and multiclass
    targets are split stratified (see :class:`ValidationSplit`). A continuous
    target whose rows have ``twins`` (group ids of the kept rows with
    identical features, :func:`safekeras.data.row_twins.twin_groups`) is split
    by group: ``fraction`` of the groups is held out, so no validation row has
    a twin in training (:mod:`safekeras.data.row_twins` says why).
    """
    if not holdout:
        return kept, None
    labels = None
    if spec.target_type in ("binary", "multiclass"):
        labels = y_encoded[kept]
    if twins is not None and labels is None and twins.max() >= 1:
        splitter = GroupShuffleSplit(n_splits=1, test_size=fraction, random_state=rng)
        train_pos, val_pos = next(splitter.split(np.zeros((len(kept), 1)), groups=twins))
    else:
        splitter = ValidationSplit(fraction, stratify=labels is not None)
        train_pos, val_pos = splitter.split(len(kept), labels, rng)
    return kept[np.sort(train_pos)], kept[np.sort(val_pos)]


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


def loss_in_dtype(loss, dtype: str):
    """The loss computing in ``dtype``, when Keras can be told so.

    Keras losses compute in ``keras.config.floatx()`` unless told otherwise,
    which would throw away the precision of a float64 network. Loss names and
    ``keras.losses.Loss`` instances are re-created with ``dtype``; a plain
    function is left as it is.
    """
    import keras

    from .losses import keras_loss

    # The regressor's "poisson" is the deviance (:mod:`.losses`), not Keras's Poisson.
    loss = keras_loss(loss, dtype)
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
    early_stopping: bool = True,
    epochs: int,
    batch_size: int,
    patience: int,
    epochs_per_wait: int = 0,
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
        Which engine trains it (see :mod:`safekeras.network.engine`).
    x, y : ndarray
        Training split (preprocessed and encoded).
    sample_weight : ndarray or None
        Training weights (None: all equal).
    validation : tuple (x, y, sample_weight or None) or None
        Validation split, whose loss is recorded each epoch; None trains all
        ``epochs`` and records none.
    early_stopping : bool, default=True
        Whether the validation loss stops training (after ``patience`` epochs
        without improvement) and restores the best epoch's weights. False
        only records it, so that ``diagnose`` can read over-fitting from it.
    epochs, batch_size, patience : int
        Epoch budget, rows per step, and epochs without improvement before stopping.
    epochs_per_wait : int, default=0
        The wait grows by one epoch for every ``epochs_per_wait`` epochs up to
        the best one (see :func:`~safekeras.network.budget.required_wait`); 0
        waits ``patience`` epochs only.
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
    if isinstance(network, DeferredNetwork):  # the default MLP, built only if it must be
        return train_deferred(
            network,
            train_built=train,
            engine=engine,
            x=x,
            y=y,
            sample_weight=sample_weight,
            validation=validation,
            early_stopping=early_stopping,
            epochs=epochs,
            batch_size=batch_size,
            patience=patience,
            epochs_per_wait=epochs_per_wait,
            callbacks=callbacks,
            shuffle_seed=shuffle_seed,
            verbose=verbose,
        )
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
            early_stopping=early_stopping,
            epochs=epochs,
            patience=patience,
            epochs_per_wait=epochs_per_wait,
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
        epochs_per_wait=epochs_per_wait,
        validate=validation is not None,
        early_stopping=early_stopping,
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


# -- the trained network against the baseline ------------------------------------------

# A trained network whose loss on its own training rows is over this many times the
# reference loss (the larger of the baseline, predicting the training class frequencies
# or mean, and the loss of an uninformed prediction, see _reference_losses) has made the
# model far worse than not training at all. Ten is far from any fit that learnt
# something: for a balanced binary target it is 6.9 nats per row (the true class gets a
# probability of 1/1000 on geometric average), for regression a mean squared error ten
# times the variance of the standardised target (3.2 standard deviations off on
# average); a diverged fit is orders of magnitude above it.
LOSS_MARGIN = 10.0
# "Nearly all rows": the share of training rows whose every output is within the
# network's float precision of 0 or 1 for the outputs to count as stuck there.
SATURATED_SHARE = 0.9
# A saturated output claims its answer with probability 1 - eps (1 - 1e-7 in float32).
# Training towards the cross-entropy optimum does not produce such claims where they are
# wrong: wherever the training labels disagree, the optimum is a finite logit, so a
# confident and right fit (a separable problem trained long) has next to no wrong
# saturated rows. Wrong claims on over this share of the rows mean the outputs were
# thrown there, not learnt. (The cross-entropy alone cannot tell: clipped at float
# precision, a saturated wrong row costs only about 16 nats.)
WRONG_CLAIMS_SHARE = 0.01
# At most this many training rows are checked (evenly spaced): the check runs after
# every fit, so its cost is bounded by one forward pass over this many rows, and a share
# measured on them is within 0.15 % (one standard error) of the share of all rows near
# WRONG_CLAIMS_SHARE, within 0.5 % near SATURATED_SHARE.
OUTCOME_ROWS = 5_000


def check_training_outcome(
    predict,
    x,
    y,
    sample_weight,
    *,
    activation: str,
    logits: bool,
    dtype,
    continued: bool = False,
) -> None:
    """Raise :class:`TrainingError` when the trained network is far worse than a constant.

    Two signs of training that blew up without the loss becoming NaN (which the
    engines already stop on), both measured on the training rows with the
    weights training ends with:

    - the loss (cross-entropy for a classifier, squared error of the
      standardised predictions for a regressor, whatever loss was trained) is
      over ``LOSS_MARGIN`` times the reference loss;
    - the sigmoid or softmax outputs are saturated (within float precision of
      0 or 1) for nearly all rows *and* wrong: the cross-entropy is above the
      baseline, that of predicting the training class frequencies, or over
      ``WRONG_CLAIMS_SHARE`` of the rows are saturated at the wrong answer.
      Saturation alone is no failure: a separable problem trained long is
      confident and right, and its loss is near 0. Confidently wrong is what no
      gradient step towards the optimum leads to.

    Parameters
    ----------
    predict : callable
        Maps network inputs to the network's outputs, as float arrays of shape
        (n_rows, n_outputs).
    x : ndarray
        Training inputs, as the network was trained on them.
    y : ndarray
        Encoded training targets (class column, indices, one-hot or indicator
        matrix, or the standardised target).
    sample_weight : ndarray or None
        Training weights (None: all equal).
    activation : {"sigmoid", "softmax", "linear", "exponential"}
        What turns the outputs into probabilities; "linear" for regression,
        "exponential" for the regressor's Poisson head (judged as "linear").
    logits : bool
        Whether the outputs are logits (the loss was computed ``from_logits``):
        the loss is then computed exactly from them, as Keras does, rather than
        from probabilities clipped at float precision.
    dtype : str or numpy dtype
        The dtype the network computes in, which sets the precision of "saturated"
        and where probabilities are clipped.
    continued : bool, default=False
        Whether training continued a fitted network (``warm_start``, ``partial_fit``),
        for the message.

    Raises
    ------
    TrainingError
        Naming what was measured, the baseline and what to change.
    """
    if activation == "exponential":  # a Poisson head's outputs are means in y's (scaled) units
        activation = "linear"  # so judged by their squared error, as a linear head's
    rows = slice(None, None, max(1, -(-len(x) // OUTCOME_ROWS)))
    outputs = np.asarray(predict(x[rows]), dtype=np.float64)
    if not np.all(np.isfinite(outputs)):
        _raise_not_trained("the network's outputs on the training rows are not finite", continued)
    targets = _target_matrix(np.asarray(y)[rows], outputs.shape[1], activation)
    weights = np.ones(len(outputs)) if sample_weight is None else sample_weight[rows]
    weights = np.asarray(weights, dtype=np.float64)
    dtype = np.dtype(dtype) if np.dtype(dtype).kind == "f" else np.dtype(np.float32)
    eps = float(np.finfo(dtype).eps)
    baseline, reference = _reference_losses(targets, weights, activation, eps)
    if activation == "linear":
        loss = _weighted_mean(np.mean((outputs - targets) ** 2, axis=1), weights)
        _check_margin("mean squared error", loss, reference, activation, continued)
        return
    log_p = _log_probabilities(outputs, activation, logits, eps)
    loss = _weighted_mean(_cross_entropy(log_p, targets, activation), weights)
    _check_margin("cross-entropy", loss, reference, activation, continued)
    p = np.exp(log_p[0])
    saturated = np.all((p <= eps) | (p >= 1.0 - eps), axis=1)
    share = _weighted_mean(saturated, weights)
    wrong = _weighted_mean(saturated & _wrong_answers(p, targets, activation), weights)
    if share >= SATURATED_SHARE and (loss > baseline or wrong > WRONG_CLAIMS_SHARE):
        _raise_not_trained(
            f"{share:.0%} of the training rows get probabilities within {dtype.name} "
            f"precision of 0 or 1, {wrong:.1%} of the rows at the wrong answer, and the "
            f"cross-entropy is {loss:.4g} (predicting the training class frequencies: "
            f"{baseline:.4g}): the outputs are stuck at 0 or 1, not learnt",
            continued,
        )


def _check_margin(name: str, loss: float, reference: float, activation: str, continued: bool):
    if loss > LOSS_MARGIN * reference:
        constant = (
            "predicting the training mean"
            if activation == "linear"
            else "predicting the class frequencies or equal probabilities"
        )
        _raise_not_trained(
            f"the {name} on the training rows is {loss:.4g}, over {LOSS_MARGIN:g} times "
            f"{reference:.4g}, the loss of {constant}",
            continued,
        )


def _target_matrix(y: np.ndarray, n_columns: int, activation: str) -> np.ndarray:
    """The encoded target as a float matrix shaped like the network's outputs."""
    if y.ndim == 1 and activation == "softmax":
        return np.eye(n_columns)[y.astype(np.intp)]
    return y.reshape(len(y), -1).astype(np.float64)


def _wrong_answers(p, targets, activation: str) -> np.ndarray:
    """Rows whose most likely answer is wrong (in any output, for sigmoid outputs)."""
    if activation == "softmax":
        return p.argmax(axis=1) != targets.argmax(axis=1)
    return np.any((p >= 0.5) != (targets >= 0.5), axis=1)


def _log_probabilities(outputs, activation: str, logits: bool, eps: float):
    """``(log p, log(1 - p))`` of the outputs (the second None for softmax).

    From logits they are exact (a logit of 1e8 on the wrong side costs 1e8
    nats, as under Keras' ``from_logits`` loss). From probabilities they are
    clipped at the float precision, as Keras' cross-entropy clips them, which
    bounds a row's loss (about 16 nats in float32).
    """
    if logits and activation == "softmax":
        shifted = outputs - outputs.max(axis=1, keepdims=True)
        return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True)), None
    if logits:
        return -np.logaddexp(0.0, -outputs), -np.logaddexp(0.0, outputs)
    p = np.clip(outputs, eps, 1.0 - eps)
    return np.log(p), None if activation == "softmax" else np.log1p(-p)


def _cross_entropy(log_p, targets, activation: str) -> np.ndarray:
    """Per-row cross-entropy: categorical for softmax, mean binary over sigmoid outputs."""
    log_yes, log_no = log_p
    if activation == "softmax":
        return -np.sum(targets * log_yes, axis=1)
    return -np.mean(targets * log_yes + (1.0 - targets) * log_no, axis=1)


def _reference_losses(targets, weights, activation: str, eps: float) -> tuple[float, float]:
    """``(baseline, reference)`` losses of constant predictions on these rows.

    The baseline predicts the rows' (weighted) class frequencies, or their mean.
    The reference is at least the baseline and at least the loss of an
    uninformed prediction: 0.5 per sigmoid output or uniform softmax (what an
    untrained network starts near), and for regression the training mean (0 in
    standardised units, which a continued fit's new rows may be far from) or the
    variance of the standardised training target (1). Without that floor a
    heavily imbalanced or constant chunk of rows would have a baseline near 0,
    and any loss would look "far above" it.
    """
    baseline = prior_loss(targets, weights, activation, eps)
    if activation == "linear":
        uninformed = max(_weighted_mean(np.mean(targets**2, axis=1), weights), 1.0)
    else:
        uninformed = math.log(targets.shape[1] if activation == "softmax" else 2.0)
    return baseline, max(baseline, uninformed)


def prior_loss(targets, weights, activation: str, eps: float) -> float:
    """Loss of predicting the rows' (weighted) class frequencies, or their mean, for every row.

    What a network that learnt nothing from the inputs reaches: the training
    outcome check compares the trained loss with it, and ``diagnose()`` reports it
    as the baseline loss (:func:`safekeras.inspection.profile.baseline_loss`).

    Parameters
    ----------
    targets : ndarray of shape (n_rows, n_outputs)
        The encoded target as a float matrix shaped like the network's outputs
        (one-hot for softmax, see :func:`_target_matrix`).
    weights : ndarray of shape (n_rows,)
        Row weights (any positive scale).
    activation : {"sigmoid", "softmax", "linear"}
        The output activation: cross-entropy for the first two, mean squared
        error for "linear".
    eps : float
        Probabilities are clipped this far from 0 and 1, as Keras clips them.

    Returns
    -------
    float
        The weighted mean of the per-row loss.
    """
    centre = np.average(targets, axis=0, weights=weights)
    if activation == "linear":
        return _weighted_mean(np.mean((targets - centre) ** 2, axis=1), weights)
    # The cross-entropy of a constant prediction is linear in the targets, so its weighted
    # mean over the rows is the cross-entropy of the weighted mean target: one row's work.
    mean_target = centre[np.newaxis, :]
    log_p = _log_probabilities(mean_target, activation, False, eps)
    return float(_cross_entropy(log_p, mean_target, activation)[0])


def _weighted_mean(values, weights) -> float:
    return float(np.average(values, weights=weights))


def _raise_not_trained(cause: str, continued: bool) -> None:
    continuation = (
        " A continued fit (warm_start=True, partial_fit) may also meet rows that contradict "
        "what the network learnt: refit from scratch on all the data."
        if continued
        else ""
    )
    raise TrainingError(
        f"Training failed: {cause}. The optimisation overshot (typically a learning_rate "
        f"far too large for the optimizer). {DIVERGENCE_FIXES}{continuation} The estimator "
        "keeps its previous fit, if it had one."
    )
