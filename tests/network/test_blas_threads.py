"""One BLAS thread while a network fits, and BLAS as it was afterwards.

``safekeras.network.blas_threads.one_blas_thread`` limits every BLAS library
threadpoolctl finds to one thread inside its block and restores each one's own
count when the last block open in the process ends. Each test first widens BLAS
to more than one thread, so a limit that never applied (or never lifted) fails.
"""

import threading

import numpy as np
import pytest
from sklearn.datasets import make_classification
from threadpoolctl import threadpool_info, threadpool_limits

from safekeras import SafeKerasClassifier, SafeKerasRegressor
from safekeras.network import logistic_baseline
from safekeras.network.blas_threads import one_blas_thread

WIDE = 3


def blas_threads() -> list[int]:
    """The thread count of every BLAS library loaded in the process."""
    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


@pytest.fixture
def wide_blas():
    """BLAS at WIDE threads for the test, as before afterwards."""
    if not blas_threads():
        pytest.skip("no BLAS library threadpoolctl can limit")
    with threadpool_limits(limits=WIDE, user_api="blas"):
        assert set(blas_threads()) == {WIDE}
        yield


def test_the_block_runs_one_thread_and_restores_the_count(wide_blas):
    with one_blas_thread():
        assert set(blas_threads()) == {1}
    assert set(blas_threads()) == {WIDE}


def test_the_count_is_restored_when_the_block_raises(wide_blas):
    with pytest.raises(KeyError), one_blas_thread():
        raise KeyError("inside")
    assert set(blas_threads()) == {WIDE}


def test_a_nested_block_leaves_the_outer_limit_in_place(wide_blas):
    with one_blas_thread():
        with one_blas_thread():
            assert set(blas_threads()) == {1}
        assert set(blas_threads()) == {1}
    assert set(blas_threads()) == {WIDE}


def test_blocks_ending_out_of_order_restore_the_count(wide_blas):
    # First in, first out, as two fits in two threads may end: the order in which
    # per-block save-and-restore would leave the second block's saved count (1) behind.
    first, second = one_blas_thread(), one_blas_thread()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert set(blas_threads()) == {1}
    second.__exit__(None, None, None)
    assert set(blas_threads()) == {WIDE}


def test_a_block_in_another_thread_leaves_the_count_as_it_was(wide_blas):
    seen = []

    def fit_in_a_thread():
        with one_blas_thread():
            seen.append("inside")

    worker = threading.Thread(target=fit_in_a_thread)
    worker.start()
    worker.join(10)
    assert seen == ["inside"]
    assert set(blas_threads()) == {WIDE}


@pytest.mark.parametrize("estimator_class", [SafeKerasClassifier, SafeKerasRegressor])
def test_a_fit_solves_with_one_thread_and_leaves_blas_as_it_was(
    wide_blas, monkeypatch, estimator_class
):
    # The linear baseline's fit runs inside the estimator's fit: its BLAS calls see one thread.
    seen = []
    original = logistic_baseline.LogisticBaseline.fit

    def recording(self, *args, **kwargs):
        seen.append(set(blas_threads()))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(logistic_baseline.LogisticBaseline, "fit", recording)
    classifier = estimator_class is SafeKerasClassifier
    X, y = make_classification(120, 4, random_state=0)
    target = y if classifier else X[:, 0] + 0.1 * y
    estimator = estimator_class(
        hidden_layer_sizes=(4,),
        epochs=3,
        random_state=0,
        linear_baseline="logistic" if classifier else None,
    )
    estimator.fit(X, target)
    assert np.isfinite(estimator.predict(X).astype(float)).all()
    if classifier:
        assert seen == [{1}]
    assert set(blas_threads()) == {WIDE}
