"""Diagnose a fitted estimator for the pitfalls of training a network (public path).

Implemented in :mod:`safekeras.inspection`; ``estimator.diagnose(...)`` returns
a :class:`Diagnosis` of :class:`Finding` objects.
"""

from __future__ import annotations

from .inspection.diagnostics import (
    Diagnosis,
    Finding,
    diagnose,
)

__all__ = [
    "Diagnosis",
    "Finding",
    "diagnose",
]
