"""Diagnose a fitted estimator for the pitfalls of training a network (public path).

Implemented in :mod:`safekeras.inspection`; ``estimator.diagnose(...)`` returns
a :class:`Diagnosis` of :class:`Finding` objects. The thresholds each check
compares with (:data:`VAL_RISE`, :data:`MINORITY_SHARE`, ...) are named here.
"""

from __future__ import annotations

# The public names are exactly those of the implementation (its ``__all__``), kept in one list.
from .inspection.diagnostics import *  # noqa: F403
from .inspection.diagnostics import __all__  # noqa: F401
