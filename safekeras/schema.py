"""The fitted input schema and the predict-time drift report (public path).

Implemented in :mod:`safekeras.data.schema` (tables: the schema and its column
profiles), :mod:`safekeras.data.tensor_schema` (images, series and token ids)
and :mod:`safekeras.data.drift` (the report and its findings).
:attr:`SafeKerasClassifier.input_schema_` holds an :class:`InputSchema` for a
table, a :class:`TensorSchema` or a :class:`TokenSchema` otherwise.
"""

from __future__ import annotations

from .data.drift import DriftFinding, DriftReport
from .data.schema import ColumnProfile, InputSchema
from .data.tensor_schema import TensorSchema, TokenSchema

__all__ = [
    "ColumnProfile",
    "DriftFinding",
    "DriftReport",
    "InputSchema",
    "TensorSchema",
    "TokenSchema",
]
