"""Export a fitted estimator as one Keras model (public path).

Implemented in :mod:`safekeras.deploy.export`, the layers in
:mod:`safekeras.deploy.export_layers` and :mod:`safekeras.deploy.spline_basis`.
Importing this module registers the export layers with Keras, so
``keras.saving.load_model`` (safe mode on) can read an exported ``.keras`` file.
"""

from __future__ import annotations

from .deploy.export import (
    Cast,
    ChannelScale,
    ClassProbabilities,
    LinearShortcut,
    LogisticAverage,
    NumericPreprocess,
    OneHotColumns,
    SplineBasis,
    TargetUnscale,
    keras_inputs,
    to_keras,
)

__all__ = [
    "Cast",
    "ChannelScale",
    "ClassProbabilities",
    "LinearShortcut",
    "LogisticAverage",
    "NumericPreprocess",
    "OneHotColumns",
    "SplineBasis",
    "TargetUnscale",
    "keras_inputs",
    "to_keras",
]
