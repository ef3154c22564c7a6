"""Exceptions and warnings raised by safekeras.

Every error subclasses :class:`SafeKerasError` *and* the built-in or
scikit-learn error a caller would already catch (``ValueError``, ``TypeError``,
:class:`sklearn.exceptions.NotFittedError`), so ``except ValueError`` keeps
working while ``except SafeKerasError`` catches everything safekeras raises on
purpose. Messages say what was wrong and how to fix it.
"""

import functools
import os
import sys

from sklearn.exceptions import NotFittedError as _SklearnNotFittedError
from sklearn.utils._param_validation import InvalidParameterError

__all__ = [
    "DiagnosisError",
    "DriftError",
    "DriftWarning",
    "ExportError",
    "InputError",
    "InputTypeError",
    "MissingDependencyError",
    "ModelSpecError",
    "NotFittedError",
    "ParameterError",
    "PersistenceError",
    "SafeKerasError",
    "SafeKerasWarning",
    "TargetError",
    "ThresholdWarning",
    "TrainingError",
    "UnsafeFileError",
    "ValidationSplitWarning",
    "VersionMismatchWarning",
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


class DriftError(InputError):
    """The features given to ``predict`` do not look like the training data.

    Raised instead of :class:`DriftWarning` when the estimator's
    ``on_drift="raise"``. The message names the columns, the evidence and the
    likely cause; ``report`` holds the :class:`~safekeras.schema.DriftReport`.
    """

    def __init__(self, message, report=None):
        super().__init__(message)
        self.report = report


class ParameterError(SafeKerasError, InvalidParameterError):
    """A constructor parameter has an invalid type or value, or one the fit cannot honour."""


class InputTypeError(SafeKerasError, TypeError):
    """The features ``X`` are of a type safekeras does not accept (e.g. sparse)."""


class NotFittedError(SafeKerasError, _SklearnNotFittedError):
    """A method that needs a fitted estimator was called before ``fit``."""


class TrainingError(SafeKerasError, RuntimeError):
    """Training diverged (e.g. the loss became NaN or infinite)."""


class DiagnosisError(SafeKerasError, ValueError):
    """A diagnosis was asked for an unknown pitfall, or to plot on the wrong number of Axes."""


class MissingDependencyError(SafeKerasError, ImportError):
    """An optional dependency (e.g. matplotlib for plots) is not installed."""


class PersistenceError(SafeKerasError, ValueError):
    """An estimator cannot be saved, or a file cannot be loaded.

    Raised by ``save`` for an object it cannot store, and by ``load`` for a
    file that is not a safekeras file, is truncated or corrupted. Nothing is
    returned half-loaded; the message says what was wrong.
    """


class UnsafeFileError(PersistenceError):
    """A saved file was refused because loading it could run code.

    Raised before anything in the file is deserialised: for a type or Keras
    object outside safekeras's allow-list (pass it in ``trusted=`` only if you
    trust the file's author), an HDF5 model, or a config that tries to turn
    Keras's safe mode off.
    """


class ExportError(SafeKerasError, ValueError):
    """The fitted estimator cannot be exported to a Keras model as asked.

    Raised by ``to_keras`` for a part of the fitted pipeline that has no Keras
    equivalent (e.g. an arbitrary user transformer); the message names it.
    """


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


class DriftWarning(SafeKerasWarning):
    """The features given to ``predict`` do not look like the training data.

    Emitted when the estimator's ``on_drift="warn"`` (the default) and a batch
    has values far outside the training range (e.g. 0-255 pixels for a model
    trained on 0-1), a column whose spread changed by an order of magnitude,
    categories never seen in training, or a column suddenly missing. The
    message names the columns, the numbers and the likely cause; ``report``
    holds the :class:`~safekeras.schema.DriftReport`.
    """

    def __init__(self, message, report=None):
        super().__init__(message)
        self.report = report


class VersionMismatchWarning(SafeKerasWarning):
    """A saved estimator is loaded under other library versions than it was saved with.

    The message names each package with the version that saved the file and the
    version now installed; predictions may differ if those versions changed
    behaviour.
    """


def external_stacklevel() -> int:
    """The ``stacklevel`` that points a warning at the code that called safekeras.

    That is the caller of the *outermost* safekeras frame, above
    scikit-learn's ``_fit_context`` wrapper around ``fit`` if there is one,
    so that a warning raised deep inside ``fit`` names the user's line. Call
    it from the function that calls :func:`warnings.warn`.
    """
    package = os.path.dirname(os.path.abspath(__file__))
    frame = sys._getframe(1)
    level = 1
    outermost = 1
    while frame is not None:
        if os.path.abspath(frame.f_code.co_filename).startswith(package):
            outermost = level
            while frame.f_back is not None and frame.f_back.f_code is _fit_context_code():
                frame = frame.f_back
                level += 1
                outermost = level
        frame = frame.f_back
        level += 1
    return outermost + 1


@functools.cache
def _fit_context_code():
    """The code object of the wrapper sklearn's ``_fit_context`` puts around ``fit``."""
    from sklearn.base import _fit_context

    return _fit_context(prefer_skip_nested_validation=True)(lambda: None).__code__
