"""Shapley values on the 1 degree NEE grid vs one prediction of the same grid.

A network with the seven drivers of the NEE example is fitted on 2008-2014;
then, side by side in one run, the public calls are timed on the full 1 degree
grid (108 months, 70 x 120 cells, 3,119 land cells):

* ``ds.ann.predict(model)`` (the reference),
* ``ds.ann.shapley(model, background="climatology")`` (one background state per
  cell and month: 2**7 coalitions per point), target <= 10 x the prediction,
* ``ds.ann.shapley(model)`` with the default background of 100 drawn training
  points (2**7 x 100 network evaluations per point), target <= 30 x the prediction.

Both Shapley calls are exact. ``--quick`` uses 2009-2010 only.
"""

from __future__ import annotations

import warnings

from common import arguments, blas_description, median_time, report

import xrann

DRIVERS = ["t2m", "precip", "swdown", "vpd", "soilm", "sif", "forest_fraction"]


def main() -> None:
    args = arguments(__doc__.splitlines()[0])
    ds = xrann.datasets.north_america_nee(start="2009-01" if args.quick else "2007-01", end="2010-12" if args.quick else "2015-12")
    ds = ds.load()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", xrann.ConvergenceWarning)
        model = ds.ann.fit("nee", DRIVERS, validation={"time": [2007, 2015]} if not args.quick else "auto", seed=0, progress=False)
    repeats = 3
    predict = median_time(lambda: ds.ann.predict(model).values, repeats)
    climatology = median_time(lambda: ds.ann.shapley(model, background="climatology").values, repeats)
    drawn = median_time(lambda: ds.ann.shapley(model).values, 1)
    land = int(ds["nee"].count())
    note = (f"NEE {dict(ds['nee'].sizes)} ({land:,} land points), 7 drivers, hidden {model.core.sizes[1:-1]}; "
            f"predict {predict:.3f} s; BLAS {blas_description()}")
    report([
        {"benchmark": "Shapley, climatology background", "measure": "s", "xrann": climatology, "reference": predict,
         "ratio": climatology / predict, "target": "<= 10", "met": climatology / predict <= 10, "note": note},
        {"benchmark": "Shapley, 100 background points", "measure": "s", "xrann": drawn, "reference": predict,
         "ratio": drawn / predict, "target": "<= 30", "met": drawn / predict <= 30, "note": note},
    ], args.json)


if __name__ == "__main__":
    main()
