"""safekeras: Keras networks as safe, first-class scikit-learn estimators.

``import safekeras`` is cheap: it imports neither scikit-learn nor TensorFlow.
Each public name is imported from its module the first time it is used
(``safekeras.SafeKerasClassifier`` loads scikit-learn; TensorFlow or Keras are
loaded the first time a network is built or loaded), so a process that only
checks a version or an exception class pays for neither.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from ._version import __version__

# Public name -> the submodule that defines it.
_EXPORTS = {
    "SafeKerasClassifier": "estimators",
    "SafeKerasRegressor": "estimators",
    "Diagnosis": "inspection.report",
    "Finding": "inspection.report",
    "load": "deploy.persistence",
    "skops_trusted_types": "deploy.trusted_types",
    **{
        name: "exceptions"
        for name in (
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
        )
    },
}
_SUBMODULES = ("metrics",)

__all__ = [
    "Diagnosis",
    "DiagnosisError",
    "DriftError",
    "DriftWarning",
    "ExportError",
    "Finding",
    "InputError",
    "InputTypeError",
    "MissingDependencyError",
    "ModelSpecError",
    "NotFittedError",
    "ParameterError",
    "PersistenceError",
    "SafeKerasClassifier",
    "SafeKerasError",
    "SafeKerasRegressor",
    "SafeKerasWarning",
    "TargetError",
    "ThresholdWarning",
    "TrainingError",
    "UnsafeFileError",
    "ValidationSplitWarning",
    "VersionMismatchWarning",
    "__version__",
    "load",
    "metrics",
    "skops_trusted_types",
]


def __getattr__(name: str):
    if name in _SUBMODULES:
        value = importlib.import_module(f".{name}", __name__)
    elif name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # static analysers and IDEs see the names eagerly
    from . import metrics
    from .deploy.persistence import load
    from .deploy.trusted_types import skops_trusted_types
    from .estimators import SafeKerasClassifier, SafeKerasRegressor
    from .exceptions import (
        DiagnosisError,
        DriftError,
        DriftWarning,
        ExportError,
        InputError,
        InputTypeError,
        MissingDependencyError,
        ModelSpecError,
        NotFittedError,
        ParameterError,
        PersistenceError,
        SafeKerasError,
        SafeKerasWarning,
        TargetError,
        ThresholdWarning,
        TrainingError,
        UnsafeFileError,
        ValidationSplitWarning,
        VersionMismatchWarning,
    )
    from .inspection.report import Diagnosis, Finding
