"""One BLAS thread while a network fits: the fit's small solves without thread stalls.

A fit runs small linear algebra between and after its compiled training calls:
the classifier's logistic regression (scipy's L-BFGS and numpy's products), the
regressor's ridge, the forward passes of the outcome check and the threshold
search. None of it is large enough to gain from several BLAS threads, and on a
machine whose cores the deep-learning runtime's thread pool (TensorFlow's Eigen
pool, XLA's) has just been using, OpenBLAS's worker threads wait for a core: at
3000 x 10 on 2 cores, over 20 warm default fits, the logistic regression took
about 2.5 ms in most and 48 to 74 ms in 6, all of it inside the solver's BLAS
calls, and never above 3.4 ms with one BLAS thread (``benchmarks/fit_overhead.py``
reports the stages). The training itself does not use OpenBLAS, so it is
unaffected.

:func:`one_blas_thread` sets the BLAS libraries loaded in the process to one
thread for the length of a fit, through scikit-learn's own dependency
threadpoolctl (as scikit-learn does around its own small solvers), and restores
them afterwards. Fits running at the same time in several threads share one
limit: the first to start sets it and the last to finish restores it, so no
interleaving of their starts and ends can leave the process limited.
threadpoolctl is designed for BLAS called from the main thread (its README says
so): from another thread, OpenBLAS may keep its count, which costs only the
stalls this avoids.
"""

from __future__ import annotations

import contextlib
import threading

__all__ = ["one_blas_thread"]

_lock = threading.Lock()
_state = {"controller": None, "limiter": None, "fits": 0}


def _controller():
    """The process's threadpoolctl controller, made once (finding the libraries takes ms)."""
    if _state["controller"] is None:
        from threadpoolctl import ThreadpoolController

        _state["controller"] = ThreadpoolController()
    return _state["controller"]


@contextlib.contextmanager
def one_blas_thread():
    """Within the block, BLAS (OpenBLAS, MKL, BLIS) runs one thread; then as before.

    Yields
    ------
    None

    Examples
    --------
    >>> with one_blas_thread():
    ...     pass  # small solves here run without BLAS worker threads
    """
    with _lock:
        if _state["fits"] == 0:
            _state["limiter"] = _controller().limit(limits=1, user_api="blas")
        _state["fits"] += 1
    try:
        yield
    finally:
        with _lock:
            _state["fits"] -= 1
            if _state["fits"] == 0:
                limiter, _state["limiter"] = _state["limiter"], None
                limiter.restore_original_limits()
