"""Shared data of the network tests."""

import numpy as np
import pytest


@pytest.fixture(scope="module")
def data():
    """200 rows, 5 columns, a binary target of two of them (what the training tests fit)."""
    rng = np.random.RandomState(0)
    X = rng.normal(size=(200, 5))
    y = (X[:, 0] - X[:, 1] + 0.3 * rng.normal(size=200) > 0).astype(int)
    return X, y
