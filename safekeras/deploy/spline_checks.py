"""Whether the SciPy B-splines a loaded estimator holds are ones SciPy can evaluate safely.

The skops payload of a regressor holds the ``bsplines_`` of its fitted
:class:`~sklearn.preprocessing.SplineTransformer` (the ``"auto"`` spline
embeddings), so :mod:`safekeras.deploy.allowlist` trusts SciPy's ``BSpline``.
skops restores one from the file's numbers without checking them, and SciPy
evaluates it in compiled code that trusts them: a degree in the billions
allocates its work arrays at the first ``predict``, and coefficients shorter
than the knots ask for are read past their end. :func:`check_spline_bases`
refuses such a file at load, with
:class:`~sklearn.preprocessing.SplineTransformer`'s own invariants, wherever in
the estimator a ``BSpline`` sits (a user's preprocessor may hold one too).
"""

from __future__ import annotations

import numbers

import numpy as np

from ..exceptions import PersistenceError

__all__ = ["MAX_SPLINE_DEGREE", "check_spline_bases"]

#: The highest B-spline degree a loaded file may hold (scikit-learn's default is 3).
MAX_SPLINE_DEGREE = 10
# Packages whose objects the walk does not enter: the network is Keras's, checked on its own.
_SKIPPED_PACKAGES = ("keras", "tensorflow", "jax", "torch")


def check_spline_bases(estimator, where: str) -> None:
    """Refuse a loaded estimator holding a SciPy ``BSpline`` that SciPy could not evaluate safely.

    Parameters
    ----------
    estimator : SafeKerasClassifier or SafeKerasRegressor
        As skops loaded it, before anything predicts with it.
    where : str
        The file's name, for messages.

    Raises
    ------
    PersistenceError
        A ``BSpline`` whose degree is not an integer from 0 to
        :data:`MAX_SPLINE_DEGREE`, whose knots are not a finite
        non-decreasing vector of at least ``2 * degree + 2`` values, or whose
        coefficients are fewer than the knots need or not finite.
    """
    from scipy.interpolate import BSpline

    for spline in _instances(estimator, BSpline):
        problem = _spline_problem(spline)
        if problem:
            raise PersistenceError(
                f"{where} is inconsistent: a B-spline of its preprocessing {problem}. The file "
                "was tampered with or corrupted."
            )


def _spline_problem(spline) -> str | None:
    state = vars(spline)
    k, t, c = state.get("k"), state.get("_t"), state.get("_c")
    if (
        isinstance(k, bool)
        or not isinstance(k, numbers.Integral)
        or not 0 <= k <= MAX_SPLINE_DEGREE
    ):
        return f"has degree {k!r}, not an integer from 0 to {MAX_SPLINE_DEGREE}"
    if not isinstance(t, np.ndarray) or t.ndim != 1 or t.dtype.kind != "f" or len(t) < 2 * k + 2:
        return f"has no vector of at least {2 * k + 2} knots"
    if not np.isfinite(t).all() or (np.diff(t) < 0).any():
        return "has knots that are not finite and non-decreasing"
    needed = len(t) - k - 1
    if not isinstance(c, np.ndarray) or c.ndim < 1 or c.dtype.kind != "f" or c.shape[0] < needed:
        return f"has fewer than the {needed} coefficients its knots need"
    if not np.isfinite(c).all():
        return "has coefficients that are not finite"
    if state.get("axis", 0) != 0 or not isinstance(state.get("extrapolate"), bool | str):
        return "has an axis or an extrapolation that scikit-learn never sets"
    return None


def _instances(root, cls) -> list:
    """The instances of ``cls`` reachable from ``root``'s attributes, lists, tuples and dicts."""
    found, seen, pending = [], set(), [root]
    while pending:
        obj = pending.pop()
        if id(obj) in seen or isinstance(obj, np.ndarray | str | bytes | numbers.Number):
            continue
        seen.add(id(obj))
        if isinstance(obj, cls):
            found.append(obj)
        elif isinstance(obj, dict):
            pending.extend(obj.values())
        elif isinstance(obj, list | tuple | set | frozenset):
            pending.extend(obj)
        elif hasattr(obj, "__dict__") and not isinstance(obj, type):
            if not type(obj).__module__.startswith(_SKIPPED_PACKAGES):
                pending.extend(vars(obj).values())
    return found
