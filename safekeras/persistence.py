"""Save and load fitted estimators safely (public path).

Implemented in the modules :mod:`safekeras.deploy.persistence` gathers; it
documents the file format and every check :func:`load` makes before it
deserialises anything.
"""

from __future__ import annotations

from .deploy.persistence import (
    FORMAT_NAME,
    FORMAT_VERSION,
    MIN_KERAS_VERSION,
    load,
    save,
)

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "MIN_KERAS_VERSION",
    "load",
    "save",
]
