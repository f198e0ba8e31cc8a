"""Shared by the tests of the fit modes: one BLAS thread per test process, and a dask.distributed LocalCluster.

The cluster (two single-threaded in-process workers) starts once per module.
Fits run on it only inside ``with on_cluster():``, which opens a client and makes
it the default, so one test can compare fits with and without a client.
"""

import pytest


@pytest.fixture(scope="session", autouse=True)
def one_blas_thread():
    """``pytest -n 2`` runs two test processes on two cores: one BLAS thread each, not two.

    OpenBLAS threads waiting for a busy core spin; with more BLAS threads than
    free cores (two test processes, or ensemble members trained in parallel
    threads) Levenberg-Marquardt fits run many times slower.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0"
    ) as cluster:
        yield cluster


@pytest.fixture
def on_cluster(cluster):
    """``on_cluster()`` is a context manager: a client of `cluster`, active inside the block."""
    import distributed

    return lambda: distributed.Client(cluster)
