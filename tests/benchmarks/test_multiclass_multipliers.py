"""``benchmarks/multiclass_multipliers.py``: multipliers tuned on held-out probabilities."""

import numpy as np
from sklearn.metrics import balanced_accuracy_score

from benchmarks.multiclass_multipliers import tune_multipliers


def test_tuning_finds_multipliers_that_recover_the_rare_class():
    # Class 2's rows have its probability at 0.3, below the others': argmax never predicts it.
    proba = np.array([[0.6, 0.1, 0.3]] * 4 + [[0.1, 0.6, 0.3]] * 4 + [[0.35, 0.35, 0.3]] * 2)
    y = np.array([0] * 4 + [1] * 4 + [2] * 2)
    assert balanced_accuracy_score(y, proba.argmax(axis=1)) < 0.7
    tuned = tune_multipliers(proba, y, np.ones(3))
    assert balanced_accuracy_score(y, np.argmax(proba * tuned, axis=1)) == 1.0


def test_a_flat_surface_keeps_the_start():
    proba = np.array([[0.9, 0.05, 0.05], [0.05, 0.9, 0.05], [0.05, 0.05, 0.9]])
    start = np.array([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(tune_multipliers(proba, np.arange(3), start), start)
