"""The decision threshold search (public path).

Implemented in :mod:`safekeras.decision.thresholds`; a fitted classifier's
``threshold_search_`` is a :class:`ThresholdSearch`.
"""

from __future__ import annotations

from .decision.thresholds import (
    ThresholdSearch,
)

__all__ = [
    "ThresholdSearch",
]
