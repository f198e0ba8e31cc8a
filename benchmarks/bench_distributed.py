"""``mode="batch"`` (distributed full batch) on a LocalCluster: 2 single-threaded workers vs 1.

A lazily generated dataset with about 20 million valid samples (5 million with
--quick; `common.lazy_synthetic_dataset`) is fitted with ``mode="batch"``,
the default optimiser (Levenberg-Marquardt, full batch), float32, on a
cluster with one worker process of one thread and on one with two
(alternately, twice each, best run of each kept). The scaled samples are
persisted on the workers while the fit starts, spread evenly by samples over
the worker threads; the time per epoch after that (one Gauss-Newton task per
worker thread over its shards and one task adding the parts in shard order,
plus the loss evaluations of the damping search) is the median gap between
epochs, taken from the progress hook of `xrann.fit.training`. Worker
processes run BLAS single-threaded (dask's nanny sets
OMP/OPENBLAS_NUM_THREADS=1).
Target: two workers >= 1.6 x faster per epoch.

On a shared two-core machine the ceiling is what two processes can get: the
script also measures, side by side, how much faster two processes do a fixed
amount of the same numpy work (full-batch gradients, one BLAS thread each)
than one process does, and prints it as the machine's parallel ceiling.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
from common import SYNTHETIC_DRIVERS, arguments, lazy_synthetic_dataset, report

import xrann
import xrann.fit.training as training
from xrann.core.progress import FitProgress
from xrann.fit.batch import SHARD_SAMPLES

CHUNK_TIME = 8


def _gradient_work(repeats: int) -> float:
    """A fixed amount of single-threaded gradient work; returns its wall time."""
    from threadpoolctl import threadpool_limits

    from xrann.core.network import initialize, loss_scale
    from xrann.core.workspace import GradientWorkspace, augment_inputs

    rng = np.random.default_rng(0)
    workspace = GradientWorkspace((7, 4, 1), dtype="float32")
    workspace.load(initialize((7, 4, 1), rng=rng, dtype="float32"))
    inputs = augment_inputs(rng.random((1_000_000, 7), dtype=np.float32))
    targets = rng.random((1_000_000, 1), dtype=np.float32)
    with threadpool_limits(limits=1):
        start = time.perf_counter()
        for _ in range(repeats):
            workspace.accumulate(inputs, targets, loss_scale(1_000_000, 1))
        return time.perf_counter() - start


def parallel_ceiling(repeats: int = 20) -> float:
    """How much faster two processes finish two equal shares of work than one process finishes one share twice."""
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=2) as pool:
        pool.submit(_gradient_work, 1).result()  # start up both
        pool.submit(_gradient_work, 1).result()
        start = time.perf_counter()
        pool.submit(_gradient_work, repeats).result()
        pool.submit(_gradient_work, repeats).result()
        serial = time.perf_counter() - start
        start = time.perf_counter()
        futures = [pool.submit(_gradient_work, repeats) for _ in range(2)]
        for future in futures:
            future.result()
        parallel = time.perf_counter() - start
    return serial / parallel


class EpochClock(FitProgress):
    """Records when each epoch ends (the progress hook of the training loop); draws nothing."""

    ends: list[float] = []

    @property
    def shown(self) -> bool:
        return True  # so that the training loop calls end_epoch

    def end_epoch(self, epoch, loss, val_loss):
        EpochClock.ends.append(time.perf_counter())


def seconds_per_epoch(ds, n_workers: int, epochs: int) -> tuple[float, float]:
    from distributed import Client, LocalCluster

    with LocalCluster(
        n_workers=n_workers, threads_per_worker=1, processes=True, memory_limit="6GB",
        dashboard_address=":0", worker_dashboard_address=None,
    ) as cluster, Client(cluster):
        EpochClock.ends = []
        start = time.perf_counter()
        model = ds.ann.fit("y", SYNTHETIC_DRIVERS, mode="batch", epochs=epochs, dtype="float32", seed=0, progress=False)
        total = time.perf_counter() - start
    gaps = np.diff(EpochClock.ends)
    if not len(gaps):
        raise RuntimeError(f"no epoch times recorded ({model.history.sizes['epoch']} epochs): the progress hook moved")
    return float(np.median(gaps)), total


def main() -> None:
    args = arguments(__doc__.splitlines()[0])
    warnings.simplefilter("ignore", xrann.ConvergenceWarning)  # a fixed number of epochs is intended
    samples = 5e6 if args.quick else 20e6
    # a quarter of the grid is "ocean": generate 4/3 as many points as samples wanted
    n_time = int(round(samples / 0.75 / (250 * 500)))
    ds = lazy_synthetic_dataset(n_time, CHUNK_TIME)
    epochs = 6 if args.quick else 8
    original = training.fit_progress
    training.fit_progress = lambda progress, total_epochs: EpochClock(total_epochs)
    measured: dict[int, list[tuple[float, float]]] = {1: [], 2: []}
    try:
        # alternate, and keep the best of two runs each, so that load from elsewhere hits both alike
        ceilings = []
        for n_workers in (1, 2, 1, 2):
            measured[n_workers].append(seconds_per_epoch(ds, n_workers, epochs))
            ceilings.append(parallel_ceiling(5 if args.quick else 20))
        (one, one_total), (two, two_total) = (min(measured[n]) for n in (1, 2))
    finally:
        training.fit_progress = original
    n_valid = int(ds["y"].notnull().sum().compute())
    report([{
        "benchmark": "batch mode, LocalCluster",
        "measure": "s/epoch, 2 workers vs 1",
        "xrann": two,
        "reference": one,
        "ratio": one / two,
        "target": ">= 1.6",
        "met": one / two >= 1.6,
        "note": f"machine's parallel ceiling (2 processes vs 1, same numpy work, measured between the fits): "
                f"{', '.join(f'{c:.2f}' for c in ceilings)} x; "
                f"{n_valid:,} samples in {len(ds['y'].chunks[0])} blocks, persisted as shards of "
                f"~{SHARD_SAMPLES:,} samples; {epochs} epochs; whole fit incl. statistics pass and "
                f"persist: {one_total:.0f} s with 1 worker, {two_total:.0f} s with 2; ratio = speed-up",
    }], args.json)


if __name__ == "__main__":
    main()
