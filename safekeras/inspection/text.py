"""Plain values and short lists: how findings and reports write numbers and labels."""

from __future__ import annotations

import math

import numpy as np

# Labels named in a message before "and N more".
_SHOWN = 5
# Items of a list shown in a report before "... (N more)".
_LIST_SHOWN = 10


def _is_auto(value) -> bool:
    return isinstance(value, str) and value == "auto"


def _shown(values) -> str:
    values = list(values)
    shown = ", ".join(repr(_plain(v)) for v in values[:_SHOWN])
    if len(values) > _SHOWN:
        shown += f" and {len(values) - _SHOWN} more"
    return shown


def _plain(value):
    """Plain Python values for JSON: numpy scalars and arrays unwrapped, NaN as None."""
    if isinstance(value, dict):
        return {str(_plain(k)): _plain(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _fmt(value) -> str:
    value = _plain(value)
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        if value and all(isinstance(v, str) and len(v) > 40 for v in value):
            return "".join(f"\n{' ' * 6}- {v}" for v in value)
        shown = [repr(v) if isinstance(v, str) else _fmt(v) for v in value[:_LIST_SHOWN]]
        if len(value) > _LIST_SHOWN:
            shown.append(f"... ({len(value) - _LIST_SHOWN} more)")
        return "[" + ", ".join(shown) + "]"
    return str(value)
