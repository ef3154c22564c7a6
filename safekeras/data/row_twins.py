"""Rows that share every feature, so that rows held out for early stopping have no twin in training.

A panel table repeats a unit's features on each of its rows (a person's
yearly visits, a shop's days) with a different target each time. Split at
random, a person's rows land on both sides of the validation split: the
validation loss then scores rows whose twins the network trains on, keeps
falling while the network memorises people, and early stopping trains too
long. Measured on randhie (20 190 rows, 2 760 distinct, cross-validated over
people, seed 0): R² 0.053 with a random split, 0.066 with the split grouped
by identical rows (a tuned ridge: 0.066), in fits that stop sooner
(``docs/training.md``). The classifier's split stays stratified by class.

:func:`twin_groups` finds the groups (None when every row is distinct, the
common case, which then splits exactly as before); :func:`grouped_slices`
cuts a group-respecting order of rows into held-out slices, for the
regressor's cross-fitted members (:func:`safekeras.network.ensemble.member_rows`).
"""

from __future__ import annotations

import numpy as np

from .preprocessing import is_dataframe

__all__ = ["grouped_slices", "twin_groups"]


def twin_groups(X) -> np.ndarray | None:
    """One group id per row of ``X``, equal for rows with identical features; None if all differ.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features) or DataFrame
        Validated training features: numbers are compared bit for bit, a
        DataFrame's rows by pandas' row hashes, an object array's by value.

    Returns
    -------
    ndarray of shape (n_samples,), int, or None
        Ids ``0 .. n_groups - 1``; None when no two rows are identical.
    """
    keys = _row_keys(X)
    if keys is None:
        return None
    _, groups, counts = np.unique(keys, return_inverse=True, return_counts=True)
    return groups.ravel() if counts.max() > 1 else None


def _row_keys(X):
    """A value per row, equal for identical rows; None when rows are certainly all distinct."""
    if is_dataframe(X):  # a frame's columns keep their own types: pandas hashes its rows
        return _frame_hashes(X)
    values = np.asarray(X)
    values = values.reshape(len(values), -1)
    if values.dtype.kind not in "biuf":  # object arrays: the rows' values themselves
        ids: dict = {}
        return np.array([ids.setdefault(tuple(row), len(ids)) for row in values.tolist()])
    values = np.ascontiguousarray(values, dtype=np.float64)
    # Identical rows project to the same value, so all-distinct projections prove the rows
    # distinct: one matrix-vector product and a sort of floats, instead of comparing rows.
    direction = np.random.default_rng(0).standard_normal(values.shape[1])
    projected = values @ direction
    if len(np.unique(projected)) == len(projected) and not np.isnan(projected).any():
        return None
    return values.view(np.dtype((np.void, values.dtype.itemsize * values.shape[1]))).ravel()


def _frame_hashes(frame) -> np.ndarray:
    """pandas' 64-bit hash of each row of a DataFrame: equal for identical rows.

    Two distinct rows sharing a hash (odds near n² / 2⁶⁴) would only be held out
    together, which the split allows.
    """
    import pandas as pd  # a DataFrame was given, so pandas is installed

    return pd.util.hash_pandas_object(frame, index=False).to_numpy()


def grouped_slices(groups: np.ndarray, size: int, n_slices: int, rng) -> list[np.ndarray]:
    """``n_slices`` held-out slices of about ``size`` rows each, no group split between slices.

    The rows are laid out group after group, groups in a random order; slice
    ``k`` covers positions ``k * size`` to ``(k + 1) * size`` of that layout
    (wrapping around past the last row, as the members' slices do without
    groups) and holds the groups whose first row falls in it, whole.

    Parameters
    ----------
    groups : ndarray of shape (n_rows,), int
        From :func:`twin_groups`.
    size : int
        Rows per slice (at least 1).
    n_slices : int
    rng : numpy.random.Generator

    Returns
    -------
    list of ndarray of int
        The rows of each slice, in random order within it.
    """
    n_rows, n_groups = len(groups), int(groups.max()) + 1
    order = np.argsort(rng.permutation(n_groups)[groups], kind="stable")
    position = np.empty(n_rows, dtype=np.intp)
    position[order] = np.arange(n_rows)
    first = np.full(n_groups, n_rows, dtype=np.intp)
    np.minimum.at(first, groups, position)  # where each group starts in the layout
    start = first[groups]  # each row's group's start
    slices = []
    for index in range(n_slices):
        offset = (start - index * size) % n_rows
        rows = np.flatnonzero(offset < size)
        slices.append(rows[rng.permutation(len(rows))])
    return slices
