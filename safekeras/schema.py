"""The fitted input schema and the predict-time drift report (public path).

Implemented in :mod:`safekeras.data.schema` (the schema and its column
profiles) and :mod:`safekeras.data.drift` (the report and its findings);
:attr:`SafeKerasClassifier.input_schema_` holds an :class:`InputSchema`.
"""

from __future__ import annotations

from .data.drift import DriftFinding, DriftReport
from .data.schema import ColumnProfile, InputSchema

__all__ = [
    "ColumnProfile",
    "DriftFinding",
    "DriftReport",
    "InputSchema",
]
