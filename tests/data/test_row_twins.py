"""row_twins: rows with identical features, kept on one side of every held-out split."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from safekeras.data.row_twins import grouped_slices, twin_groups

pytestmark = pytest.mark.core


def _same_rows(X, i, j) -> bool:
    left, right = np.asarray(X)[i], np.asarray(X)[j]
    return bool(np.all((left == right) | (np.isnan(left) & np.isnan(right))))


@settings(max_examples=60, deadline=None)
@given(
    arrays(
        np.float64,
        st.tuples(st.integers(2, 30), st.integers(1, 3)),
        elements=st.sampled_from([0.0, 1.0, 2.5, np.nan]),
    )
)
def test_rows_share_a_group_exactly_when_their_features_are_identical(X):
    groups = twin_groups(X)
    pairs = [(i, j) for i in range(len(X)) for j in range(i + 1, len(X))]
    if groups is None:
        assert not any(_same_rows(X, i, j) for i, j in pairs)
        return
    assert groups.shape == (len(X),) and set(groups) == set(range(groups.max() + 1))
    assert all((groups[i] == groups[j]) == _same_rows(X, i, j) for i, j in pairs)


def test_distinct_rows_have_no_groups_even_when_columns_repeat_values():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 3, size=(200, 6)).astype(float)
    X = np.unique(X, axis=0)  # every row distinct, every column full of ties
    assert twin_groups(X) is None
    assert twin_groups(rng.normal(size=(500, 4))) is None


def test_frames_and_object_arrays_compare_every_value():
    frame = pd.DataFrame({"a": [1, 1, 1, 2], "b": ["x", "x", "y", "x"], "c": [0.5, 0.5, 0.5, None]})
    groups = twin_groups(frame)
    assert groups[0] == groups[1] and len(set(groups[[1, 2, 3]])) == 3
    from_array = twin_groups(frame.to_numpy(dtype=object))  # the same partition (ids may differ)
    np.testing.assert_array_equal(
        from_array[:, None] == from_array[None, :], groups[:, None] == groups[None, :]
    )
    assert twin_groups(frame.iloc[1:]) is None


@pytest.mark.parametrize("n_rows, size, n_slices", [(40, 6, 3), (40, 15, 4), (12, 5, 3)])
def test_slices_hold_whole_groups_of_about_their_size(n_rows, size, n_slices):
    rng = np.random.default_rng(0)
    groups = rng.integers(0, n_rows // 2, size=n_rows)
    groups = np.unique(groups, return_inverse=True)[1]
    slices = grouped_slices(groups, size, n_slices, np.random.default_rng(1))
    assert len(slices) == n_slices
    for rows in slices:
        assert len(set(rows)) == len(rows) > 0
        held = set(groups[rows])
        # A group is held out whole, or not at all.
        np.testing.assert_array_equal(np.sort(rows), np.flatnonzero(np.isin(groups, list(held))))
    if n_slices * size <= n_rows:  # no wrap-around: the slices are disjoint
        together = np.concatenate(slices)
        assert len(set(together)) == len(together)
    sizes = [len(rows) for rows in slices]
    assert max(sizes) <= size + np.bincount(groups).max()


def test_slices_of_distinct_rows_are_the_plain_cyclic_slices():
    groups = np.arange(10)
    slices = grouped_slices(groups, 4, 3, np.random.default_rng(0))
    assert [len(rows) for rows in slices] == [4, 4, 4]
    assert set(slices[0]).isdisjoint(slices[1]) and len(set(slices[2]) & set(slices[0])) == 2
