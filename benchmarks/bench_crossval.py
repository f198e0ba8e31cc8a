"""The study's 36 year-pair folds on the built-in NEE data: serially, and on a 2-worker LocalCluster.

Data: `xrann.datasets.north_america_nee()` (1 degree, monthly, 2007-2015;
3 degrees with --quick), loaded into memory; drivers t2m, precip, swdown,
vpd, soilm, sif, forest_fraction; default fit settings with ``seed=0``::

    cv = xrann.cross_validate(ds, "nee", DRIVERS, by="time.year", leave_out=2, seed=0, progress=False)

36 folds (every pair of the 9 years held out once). Timed in the same run:

* serially in this process (no dask.distributed client);
* on a ``distributed.LocalCluster`` of two single-threaded worker processes
  (cluster start-up not timed; the data are scattered once, inside the timing).

Targets: the cluster run gives the same fold scores (to 1e-10) and takes at
most 0.75 x the serial time (two workers, so ideally 0.5 x). On a machine whose
two cores are shared with other work, the ratio says more than either time.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
from common import arguments, blas_description, report

import xrann

DRIVERS = ["t2m", "precip", "swdown", "vpd", "soilm", "sif", "forest_fraction"]


def year_pairs(ds):
    return xrann.cross_validate(ds, "nee", DRIVERS, by="time.year", leave_out=2, seed=0, progress=False)


def timed(function, *args):
    start = time.perf_counter()
    result = function(*args)
    return time.perf_counter() - start, result


def main() -> None:
    args = arguments(__doc__.splitlines()[0])
    warnings.simplefilter("ignore")
    started = time.perf_counter()
    ds = xrann.datasets.north_america_nee(resolution=3.0 if args.quick else 1.0).load()
    serial_seconds, serial = timed(year_pairs, ds)

    from distributed import Client, LocalCluster

    start = time.perf_counter()
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0", worker_dashboard_address=None
    ) as cluster, Client(cluster) as client:
        client.wait_for_workers(2)
        startup = time.perf_counter() - start
        cluster_seconds, on_cluster = timed(year_pairs, ds)
    same = bool(np.allclose(on_cluster["r2"], serial["r2"], rtol=0, atol=1e-10))
    size = f"{ds.sizes['time']} months x {ds.sizes['lat']} x {ds.sizes['lon']} cells"
    rows = [
        {
            "benchmark": "crossval", "measure": "36 year-pair folds, serial (s)", "xrann": serial_seconds,
            "reference": None, "ratio": None, "target": None, "met": None,
            "note": f"{size}; median fold R^2 {float(serial['r2'].median()):.3f}; "
                    f"{serial_seconds / serial.sizes['fold']:.2f} s per fold",
        },
        {
            "benchmark": "crossval", "measure": "36 folds, 2-worker LocalCluster (s) vs serial", "xrann": cluster_seconds,
            "reference": serial_seconds, "ratio": cluster_seconds / serial_seconds, "target": "<= 0.75",
            "met": cluster_seconds / serial_seconds <= 0.75,
            "note": f"LocalCluster(n_workers=2, threads_per_worker=1), start-up {startup:.1f} s not timed",
        },
        {
            "benchmark": "crossval", "measure": "cluster fold scores equal serial", "xrann": same,
            "reference": None, "ratio": None, "target": "True", "met": same,
            "note": f"BLAS {blas_description()}; whole script {time.perf_counter() - started:.0f} s",
        },
    ]
    report(rows, args.json)


if __name__ == "__main__":
    main()
