"""Prediction throughput on a dask-backed grid vs the same grid in memory.

A model is fitted once; then ``ds.ann.predict(model)`` is timed on the NEE
dataset held in numpy arrays and on the same values as dask arrays already in
memory (``.chunk(...).persist()``), so that only prediction is timed, not data
generation or disk reads. The dask result is computed with the threaded
scheduler. Target: dask throughput >= 0.8 x in-memory throughput.
"""

from __future__ import annotations

import warnings

import dask
from common import arguments, blas_description, median_time, report

import xrann

DRIVERS = ["t2m", "swdown", "vpd", "soilm", "forest_fraction", "precip", "rh"]


def main() -> None:
    args = arguments(__doc__.splitlines()[0])
    ds = xrann.datasets.north_america_nee(resolution=1.0 if args.quick else 0.5, end="2010-12" if args.quick else "2015-12")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", xrann.ConvergenceWarning)  # a short fit is intended: prediction is timed
        model = ds.isel(time=slice(0, 24)).ann.fit("nee", DRIVERS, seed=0, epochs=5, dtype="float32", progress=False)
    chunks = {"time": 12}
    lazy = ds.chunk(chunks).persist()
    repeats = 3 if args.quick else 5
    in_memory = median_time(lambda: ds.ann.predict(model).values, repeats)
    with dask.config.set(scheduler="threads"):
        on_dask = median_time(lambda: lazy.ann.predict(model).compute(), repeats)
    points = ds["nee"].size
    report([{
        "benchmark": "prediction, dask vs memory",
        "measure": "M grid points/s",
        "xrann": points / on_dask / 1e6,
        "reference": points / in_memory / 1e6,
        "ratio": in_memory / on_dask,
        "target": ">= 0.8",
        "met": in_memory / on_dask >= 0.8,
        "note": f"NEE {dict(ds['nee'].sizes)} ({points:,} points, {int(ds['nee'].count()):,} land), chunks {chunks}, "
                f"7 drivers, float32 model; xrann column = dask-backed, reference = numpy-backed; BLAS {blas_description()}",
    }], args.json)


if __name__ == "__main__":
    main()
