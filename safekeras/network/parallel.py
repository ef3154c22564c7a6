"""Thread pools in the worker processes of a parallel search.

``GridSearchCV(..., n_jobs=k)`` runs its fits in ``k`` worker processes
(joblib's loky backend), and a Dask cluster runs them in its workers. Both
schedulers cap the threads of every numeric library in those workers, through
``OMP_NUM_THREADS`` and its siblings: loky to its share of the cores
(``cpu_count() // n_jobs``, or ``inner_max_num_threads`` of
``joblib.parallel_config``), Dask's nanny to 1. TensorFlow does not read those
variables, so each worker would start thread pools as wide as the whole
machine and ``k`` workers would run ``k`` times too many threads.

:func:`limit_worker_threads` closes that gap: in such a worker, before
TensorFlow starts its runtime, it sizes TensorFlow's intra- and inter-op
pools to the worker's share. It changes nothing anywhere else:

- not in the user's own process (where TensorFlow keeps its defaults);
- not when TensorFlow has already started (its pools cannot be resized);
- not when the pools were configured already, by
  ``tf.config.threading`` or ``TF_NUM_INTRAOP_THREADS``/``TF_NUM_INTEROP_THREADS``.

TensorFlow's pools live as long as the process; a worker process belongs to
the scheduler that started it, which has already set the same limit for every
other library in it. PyTorch reads ``OMP_NUM_THREADS`` itself; XLA (the JAX
backend) sizes its pool from the cores, which ``XLA_FLAGS`` can override.
"""

from __future__ import annotations

import os
import sys
import threading

__all__ = ["limit_worker_threads", "worker_thread_share"]

_THREAD_VARIABLES = ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")
_lock = threading.Lock()
_settled = False  # decided once per process: TensorFlow's pools are sized once


def worker_thread_share() -> int | None:
    """Threads this process may use when a scheduler started it, else None.

    Returns the ``OMP_NUM_THREADS`` limit in a joblib (loky) worker process
    or a Dask worker, where those schedulers set it; None in any other
    process, or when the limit is missing or not a positive integer.
    """
    if not (_in_loky_worker() or _in_dask_worker()):
        return None
    try:
        threads = int(os.environ.get("OMP_NUM_THREADS", ""))
    except ValueError:
        return None
    return threads if threads > 0 else None


def limit_worker_threads() -> int | None:
    """Size TensorFlow's thread pools to this worker's share, once, if still possible.

    Call before anything runs a TensorFlow operation. Returns the number of
    threads set, or None when nothing was changed (see the module docstring
    for when that is).
    """
    global _settled
    if _settled:
        return None
    with _lock:
        if _settled:
            return None
        _settled = True
        threads = worker_thread_share()
        if threads is None or any(os.environ.get(name) for name in _THREAD_VARIABLES):
            return None
        if "tensorflow" not in sys.modules:
            import keras

            if keras.backend.backend() != "tensorflow":
                return None
        import tensorflow as tf

        threading_config = tf.config.threading
        if (
            threading_config.get_intra_op_parallelism_threads()
            or threading_config.get_inter_op_parallelism_threads()
        ):
            return None  # configured by the user's code
        try:
            threading_config.set_intra_op_parallelism_threads(threads)
            threading_config.set_inter_op_parallelism_threads(threads)
        except RuntimeError:  # the runtime has started: its pools are fixed
            return None
        return threads


def _in_loky_worker() -> bool:
    executor = sys.modules.get("joblib.externals.loky.process_executor")
    # loky records in each worker how deep it is in nested pools; 0 in the parent.
    return executor is not None and getattr(executor, "_CURRENT_DEPTH", 0) > 0


def _in_dask_worker() -> bool:
    distributed = sys.modules.get("distributed")
    if distributed is None:
        return False
    try:
        distributed.get_worker()
    except ValueError:
        return False
    return True
