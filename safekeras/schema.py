"""The fitted input schema and the predict-time drift report (public path).

Implemented in :mod:`safekeras.data.schema`; :attr:`SafeKerasClassifier.input_schema_`
holds an :class:`InputSchema`.
"""

from __future__ import annotations

from .data.schema import (
    ColumnProfile,
    DriftFinding,
    DriftReport,
    InputSchema,
)

__all__ = [
    "ColumnProfile",
    "DriftFinding",
    "DriftReport",
    "InputSchema",
]
