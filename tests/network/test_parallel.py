"""Parallel search: TensorFlow's thread pools in worker processes, and the same results as serial.

``safekeras.network.parallel.limit_worker_threads`` sizes TensorFlow's pools to a
worker's ``OMP_NUM_THREADS`` share in joblib (loky) and Dask workers, and does
nothing in the user's own process. These tests read the pools where the fits
run: in the test process, in loky workers (``joblib.Parallel``,
``GridSearchCV(n_jobs=2)``) and in the workers of a real Dask ``LocalCluster``;
and they check that a search or ``cross_validate`` gives the same results in
parallel as in this process.

Each new worker process pays about 5 s to import TensorFlow, so the data are
tiny, the grid 2x2 with ``cv=2``, and new worker pools are started only where a
test needs a fresh worker environment. loky keeps its workers for the next call
with the same settings; :func:`fresh_loky_workers` shuts them down around the
tests that change the environment they inherit, so that no other test gets
such a worker.
"""

import logging
import os

import joblib
import numpy as np
import pytest
import tensorflow as tf
from joblib.externals.loky import get_reusable_executor
from sklearn.datasets import make_classification
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_validate

from safekeras import SafeKerasClassifier
from safekeras.network import parallel

THREAD_VARIABLES = ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")
BASE = dict(
    hidden_layer_sizes=(8,),
    learning_rate=0.01,
    epochs=5,
    batch_size=32,
    early_stopping=False,
    threshold=0.5,  # nothing to tune: one network per fit, on all its rows
    random_state=0,
)
PARAM_GRID = {"hidden_layer_sizes": [(4,), (8,)], "learning_rate": [0.003, 0.03]}
CV = StratifiedKFold(2, shuffle=True, random_state=0)


def fast_classifier(**params):
    return SafeKerasClassifier(**{**BASE, **params})


@pytest.fixture(scope="module")
def data():
    return make_classification(n_samples=120, n_features=6, weights=[0.7, 0.3], random_state=0)


def pools():
    """The thread settings of the process this runs in."""
    return {
        "pid": os.getpid(),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
        "TF_NUM_INTRAOP_THREADS": os.environ.get("TF_NUM_INTRAOP_THREADS"),
        "share": parallel.worker_thread_share(),
        "intra": tf.config.threading.get_intra_op_parallelism_threads(),
        "inter": tf.config.threading.get_inter_op_parallelism_threads(),
    }


def pools_after_fit(X, y):
    fast_classifier(epochs=1).fit(X, y)
    return pools()


def pools_on_arrival(fitted, X):
    """``pools()`` as a fitted estimator arrives, unpickled, before anything else runs here."""
    found = pools()
    fitted.predict_proba(X)
    return found


def in_two_workers(X, y):
    """``pools_after_fit`` in the loky workers of ``joblib.Parallel(n_jobs=2)``."""
    return joblib.Parallel(n_jobs=2)(joblib.delayed(pools_after_fit)(X, y) for _ in range(2))


def intra_op_threads(estimator, X, y):
    """A "scorer" reporting the intra-op pool of the process that fitted ``estimator``."""
    return tf.config.threading.get_intra_op_parallelism_threads()


def default_loky_share(n_jobs):
    # joblib's rule for its workers' OMP_NUM_THREADS when inner_max_num_threads is not set.
    return int(os.environ.get("OMP_NUM_THREADS", max(joblib.cpu_count() // n_jobs, 1)))


def shut_down_loky_workers():
    # reuse=True hands back the executor joblib is using, whatever it was started with. Its
    # workers are idle between tests; killing them spares the seconds TensorFlow takes to exit.
    get_reusable_executor(reuse=True).shutdown(wait=True, kill_workers=True)


@pytest.fixture
def fresh_loky_workers(monkeypatch):
    """New loky workers for the test, started from this environment; shut down after it.

    Workers copy the parent's environment when they start, and loky reuses them
    across calls with the same settings: without this, a test would get workers
    started by an earlier one, and leave its own to later tests.
    """
    for name in THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    shut_down_loky_workers()
    yield monkeypatch
    shut_down_loky_workers()


def grid_search(X, y, n_jobs=None):
    search = GridSearchCV(
        fast_classifier(),
        PARAM_GRID,
        cv=CV,
        scoring={"log_loss": "neg_log_loss", "intra_op_threads": intra_op_threads},
        refit="log_loss",
        n_jobs=n_jobs,
        error_score="raise",
    )
    return search.fit(X, y)


@pytest.fixture(scope="module")
def serial_search(data):
    return grid_search(*data, n_jobs=1)


def assert_same_search(search, reference):
    assert search.best_params_ == reference.best_params_
    assert search.cv_results_["params"] == reference.cv_results_["params"]
    # Measured: equal to the last bit, whichever process or thread count ran the fits.
    np.testing.assert_array_equal(
        search.cv_results_["mean_test_log_loss"], reference.cv_results_["mean_test_log_loss"]
    )


# -- this process ----------------------------------------------------------------------


def test_no_share_in_this_process(monkeypatch):
    # OMP_NUM_THREADS alone does not make a worker: the user set it for their own process.
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert parallel.worker_thread_share() is None


def test_limit_changes_nothing_in_this_process(monkeypatch, data):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    # As if no fit had run in this process yet: the decision is taken once per process.
    monkeypatch.setattr(parallel, "_settled", False)
    assert parallel.limit_worker_threads() is None
    assert parallel.limit_worker_threads() is None
    found = pools_after_fit(*data)
    # 0 is TensorFlow's "not configured": it sizes its pools from the machine.
    assert (found["intra"], found["inter"]) == (0, 0)


# -- loky workers ------------------------------------------------------------------------


@pytest.mark.slow
def test_grid_search_in_loky_workers_matches_serial(data, serial_search):
    search = grid_search(*data, n_jobs=2)
    assert_same_search(search, serial_search)
    # The fits ran in workers, each with its share of the cores, not in this process.
    assert (serial_search.cv_results_["mean_test_intra_op_threads"] == 0).all()
    assert (search.cv_results_["mean_test_intra_op_threads"] == default_loky_share(2)).all()
    np.testing.assert_array_equal(
        search.best_estimator_.predict_proba(data[0]),
        serial_search.best_estimator_.predict_proba(data[0]),
    )


@pytest.mark.slow
def test_fit_in_loky_worker_uses_its_share(data):
    expected = default_loky_share(n_jobs=2)
    for found in in_two_workers(*data):
        assert found["pid"] != os.getpid()
        assert found["OMP_NUM_THREADS"] == str(expected)
        assert found["share"] == expected
        assert (found["intra"], found["inter"]) == (expected, expected), found


@pytest.mark.slow
def test_inner_max_num_threads_is_honoured(fresh_loky_workers, data):
    # A value the default rule would not give, so that the test tells them apart.
    threads = 2 if default_loky_share(n_jobs=2) == 1 else 1
    X, y = data
    fitted = fast_classifier().fit(X, y)
    # Sent fitted, the network is unpickled in a new worker before any fit there: that
    # unpickling is what sizes the pools.
    with joblib.parallel_config(backend="loky", inner_max_num_threads=threads):
        results = joblib.Parallel(n_jobs=2)(
            joblib.delayed(pools_on_arrival)(fitted, X) for _ in range(2)
        )
    for found in results:
        assert found["pid"] != os.getpid()
        assert found["OMP_NUM_THREADS"] == str(threads)
        assert found["share"] == threads
        assert (found["intra"], found["inter"]) == (threads, threads), found


@pytest.mark.slow
def test_explicit_tensorflow_threads_are_left_alone(fresh_loky_workers, data):
    # TensorFlow reads this variable itself when its runtime starts; safekeras steps aside.
    fresh_loky_workers.setenv("TF_NUM_INTRAOP_THREADS", "3")
    for found in in_two_workers(*data):
        assert found["TF_NUM_INTRAOP_THREADS"] == "3"
        assert found["share"] == default_loky_share(n_jobs=2)
        assert (found["intra"], found["inter"]) == (0, 0), found


# -- Dask ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dask_client():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.ERROR,
    )
    with cluster, distributed.Client(cluster) as client:
        yield client


@pytest.mark.slow
def test_grid_search_on_dask_matches_serial(dask_client, data, serial_search):
    with joblib.parallel_config(backend="dask"):
        search = grid_search(*data)
    assert_same_search(search, serial_search)
    # Dask's nanny gives each worker OMP_NUM_THREADS=1; the fits ran with that.
    assert (search.cv_results_["mean_test_intra_op_threads"] == 1).all()


@pytest.mark.slow
def test_cross_validate_on_dask_returns_the_same_fits(dask_client, data):
    X, y = data
    scoring = {"log_loss": "neg_log_loss", "roc_auc": "roc_auc", "threads": intra_op_threads}
    kwargs = dict(cv=CV, scoring=scoring, return_estimator=True)
    local = cross_validate(fast_classifier(), X, y, n_jobs=1, **kwargs)
    with joblib.parallel_config(backend="dask"):
        remote = cross_validate(fast_classifier(), X, y, **kwargs)
    for name in ("test_log_loss", "test_roc_auc"):
        np.testing.assert_array_equal(remote[name], local[name])
    # Fitted and scored in the workers (one thread each), not in this process.
    assert (remote["test_threads"] == 1).all() and (local["test_threads"] == 0).all()
    # The fitted estimators came back from the workers pickled, network and all.
    for there, here in zip(remote["estimator"], local["estimator"], strict=True):
        np.testing.assert_array_equal(there.predict_proba(X), here.predict_proba(X))
        np.testing.assert_array_equal(there.predict(X), here.predict(X))
