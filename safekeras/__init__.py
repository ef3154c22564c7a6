"""safekeras: Keras networks as safe, first-class scikit-learn estimators.

Importing safekeras does not import TensorFlow or Keras; they are loaded the
first time a network is built or loaded.
"""

from . import metrics
from ._version import __version__
from .diagnostics import Diagnosis, Finding
from .estimators import SafeKerasClassifier, SafeKerasRegressor
from .exceptions import (
    DiagnosisError,
    DriftError,
    DriftWarning,
    InputError,
    InputTypeError,
    MissingDependencyError,
    ModelSpecError,
    NotFittedError,
    ParameterError,
    SafeKerasError,
    SafeKerasWarning,
    TargetError,
    ThresholdWarning,
    TrainingError,
    ValidationSplitWarning,
)

__all__ = [
    "Diagnosis",
    "DiagnosisError",
    "DriftError",
    "DriftWarning",
    "Finding",
    "InputError",
    "InputTypeError",
    "MissingDependencyError",
    "ModelSpecError",
    "NotFittedError",
    "ParameterError",
    "SafeKerasClassifier",
    "SafeKerasError",
    "SafeKerasRegressor",
    "SafeKerasWarning",
    "TargetError",
    "ThresholdWarning",
    "TrainingError",
    "ValidationSplitWarning",
    "__version__",
    "metrics",
]
