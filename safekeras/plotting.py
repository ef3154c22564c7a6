"""The diagnosis plot (public path): :class:`DiagnosisDisplay`, implemented in
:mod:`safekeras.inspection.plotting`.
"""

from __future__ import annotations

from .inspection.plotting import (
    DiagnosisDisplay,
)

__all__ = [
    "DiagnosisDisplay",
]
