"""One BLAS thread while a fit trains: the matrices of a small network are too small to share.

A Levenberg-Marquardt step multiplies a Jacobian block of a few dozen
columns by its transpose; k-means of the envelope multiplies a few thousand
points by a few dozen centroids. Such products finish in a millisecond or
two on one core, while BLAS threads that wait for a busy core spin: on a
machine whose cores are taken by other work (two pytest processes, ensemble
members trained in parallel threads, a notebook beside a dask worker) a fit
with the default BLAS threads was measured 6-80 times slower. Fits therefore
run with one BLAS thread (through threadpoolctl), as dask.distributed
workers do; parallelism comes from dask (blocks, members, workers) instead.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator

from threadpoolctl import ThreadpoolController

__all__ = ["single_blas_thread"]


@contextlib.contextmanager
def single_blas_thread() -> Iterator[None]:
    """Limit BLAS to one thread inside the block (restored on exit).

    Returns
    -------
    contextlib.AbstractContextManager
        Use in a ``with`` statement.

    Examples
    --------
    >>> from threadpoolctl import threadpool_info
    >>> with single_blas_thread():
    ...     all(info["num_threads"] == 1 for info in threadpool_info() if info["user_api"] == "blas")
    True
    """
    with _controller().limit(limits=1, user_api="blas"):
        yield


@functools.cache
def _controller() -> ThreadpoolController:
    """The loaded thread pools, found once (scanning the loaded libraries takes milliseconds)."""
    return ThreadpoolController()
