"""Exceptions and warnings raised by safekeras.

Every error subclasses :class:`SafeKerasError` *and* the built-in or
scikit-learn error a caller would already catch (``ValueError``, ``TypeError``,
:class:`sklearn.exceptions.NotFittedError`), so ``except ValueError`` keeps
working while ``except SafeKerasError`` catches everything safekeras raises on
purpose. Messages say what was wrong and how to fix it.
"""

from sklearn.exceptions import NotFittedError as _SklearnNotFittedError

__all__ = [
    "InputError",
    "InputTypeError",
    "ModelSpecError",
    "NotFittedError",
    "SafeKerasError",
    "SafeKerasWarning",
    "TargetError",
    "ThresholdWarning",
    "TrainingError",
    "ValidationSplitWarning",
]


class SafeKerasError(Exception):
    """Base class of every error raised by safekeras."""


class TargetError(SafeKerasError, ValueError):
    """The target ``y`` cannot be learnt as given.

    Raised for continuous ``y`` given to a classifier, a single class, missing
    values, a length that does not match ``X``, or a loss that contradicts the
    type of the target.
    """


class ModelSpecError(SafeKerasError, ValueError):
    """The Keras model does not fit the target or the data.

    Raised when the model's last layer has the wrong number of units or the
    wrong activation for the target (sigmoid with several exclusive classes,
    softmax with one unit, a linear output with a probabilistic loss), when its
    input size does not match the preprocessed data, or when it cannot be
    cloned.
    """


class InputError(SafeKerasError, ValueError):
    """The features ``X`` are not usable as given."""


class InputTypeError(SafeKerasError, TypeError):
    """The features ``X`` are of a type safekeras does not accept (e.g. sparse)."""


class NotFittedError(SafeKerasError, _SklearnNotFittedError):
    """A method that needs a fitted estimator was called before ``fit``."""


class TrainingError(SafeKerasError, RuntimeError):
    """Training diverged (e.g. the loss became NaN or infinite)."""


class SafeKerasWarning(UserWarning):
    """Base class of every warning emitted by safekeras."""


class ValidationSplitWarning(SafeKerasWarning):
    """The early-stopping validation split could not be stratified as asked."""


class ThresholdWarning(SafeKerasWarning):
    """A tuned decision threshold rests on thin evidence or moves many predictions.

    Emitted by ``fit`` with the counts behind the threshold, when the held-out
    data has few positive or negative rows, when the tuned threshold flips a
    large share of predictions versus 0.5, or when the threshold could not be
    tuned at all.
    """
