"""Training seconds to reach a held-out R^2 within 0.01 of the best, per optimiser (adam, lm, lbfgs), on North America NEE.

Data: `xrann.datasets.north_america_nee()` (1 degree, monthly, 2007-2015;
3 degrees with --quick), loaded into memory; drivers t2m, precip, swdown,
vpd, soilm, sif, forest_fraction; training on every year but 2007 and 2015,
which are scored with ``ds.ann.evaluate(model, period=[2007, 2015])`` (the
area-weighted R^2).

Each optimiser is fitted with the public call, memory mode, on a geometric
ladder of epochs::

    train.ann.fit(target="nee", drivers=DRIVERS, optimizer=name, epochs=k, patience=None,
                  tolerance=0, validation=None, seed=0, progress=False)

so every fit runs exactly ``k`` epochs (unless the optimiser itself reports
that it cannot improve further) from the same seed: a fit of ``k`` epochs is
the first ``k`` epochs of a longer one, and its training loop seconds
(``model.history.attrs["training_seconds"]``) are the time to get there. The
ladders of the three optimisers are climbed in turns (one rung each), so that
a change of load on the machine hits all of them alike; an optimiser stops
climbing when it converged, when two rungs in a row improved its best R^2 by
less than 0.002, or when its fits have used up a time budget. The level is
the best R^2 any of them reached, minus 0.01; each optimiser's time is that
of its first rung at or above the level. No target: the table compares the
optimisers (ratio = seconds / the fastest optimiser's seconds).

Every rung is fitted twice, side by side in alternating order: with numpy's
BLAS threads as they are, and limited to one thread (threadpoolctl). On a
busy machine, multi-threaded BLAS on the small matrices of a 7-4-1 network
can be many times slower than one thread (threads wait for each other's
share of the cores); both are reported. R^2 is that of the default-threads
fit. With --quick the ladders are shorter.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
from common import arguments, blas_description, report
from threadpoolctl import threadpool_limits

import xrann

DRIVERS = ["t2m", "precip", "swdown", "vpd", "soilm", "sif", "forest_fraction"]
HELD_OUT = [2007, 2015]
LADDERS = {
    "adam": [1, 2, 4, 8, 16, 32, 64, 128, 256, 512],
    "lm": [2, 4, 8, 16, 32, 64, 128, 256, 512],
    "lbfgs": [4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048],
}
QUICK_LAST_RUNG = {"adam": 128, "lm": 64, "lbfgs": 512}
PLATEAU_GAIN = 0.002
PLATEAU_RUNGS = 2


class Ladder:
    """The rungs one optimiser has climbed.

    Each point: (epochs asked, epochs run, training seconds, held-out R^2, training seconds with one BLAS thread).
    """

    def __init__(self, optimizer: str, rungs: list[int], budget: float) -> None:
        self.optimizer, self.rungs, self.budget = optimizer, list(rungs), budget
        self.points: list[tuple[int, int, float, float, float]] = []
        self.spent = 0.0
        self.stopped = ""
        self.rungs_without_gain = 0

    @property
    def climbing(self) -> bool:
        return not self.stopped and len(self.points) < len(self.rungs)

    def _fit(self, train, epochs: int, threads: int | None):
        with threadpool_limits(limits=threads):
            return train.ann.fit(
                target="nee", drivers=DRIVERS, optimizer=self.optimizer, epochs=epochs, patience=None, tolerance=0,
                validation=None, seed=0, progress=False,
            )

    def climb(self, ds, train) -> None:
        epochs = self.rungs[len(self.points)]
        start = time.perf_counter()
        fits = {}
        for threads in ((None, 1) if len(self.points) % 2 == 0 else (1, None)):
            fits[threads] = self._fit(train, epochs, threads)
        self.spent += time.perf_counter() - start
        model = fits[None]
        r2 = float(ds.ann.evaluate(model, period=HELD_OUT, budgets=False)["r2"])
        ran = int(model.history.sizes["epoch"])
        best_before = max((point[3] for point in self.points), default=-np.inf)
        one_thread = float(fits[1].history.attrs["training_seconds"])
        self.points.append((epochs, ran, float(model.history.attrs["training_seconds"]), r2, one_thread))
        self.rungs_without_gain = self.rungs_without_gain + 1 if r2 < best_before + PLATEAU_GAIN else 0
        if ran < epochs:
            self.stopped = f"converged after {ran} epochs ({model.history.attrs.get('stop_reason')})"
        elif self.rungs_without_gain >= PLATEAU_RUNGS:
            self.stopped = f"plateau: {PLATEAU_RUNGS} rungs gained < {PLATEAU_GAIN} R^2"
        elif self.spent >= self.budget:
            self.stopped = f"time budget of {self.budget:.0f} s used"
        elif len(self.points) == len(self.rungs):
            self.stopped = "end of ladder"

    def time_to(self, level: float) -> tuple[float, float, int, float] | None:
        """(seconds, seconds with one BLAS thread, epochs, R^2) of the first rung at or above ``level``."""
        for _, ran, seconds, r2, one_thread in self.points:
            if r2 >= level:
                return seconds, one_thread, ran, r2
        return None

    def best(self) -> float:
        return max(point[3] for point in self.points)


def main() -> None:
    args = arguments(__doc__.splitlines()[0])
    warnings.simplefilter("ignore", xrann.ConvergenceWarning)
    resolution = 3.0 if args.quick else 1.0
    budget = 10.0 if args.quick else 300.0
    started = time.perf_counter()
    ds = xrann.datasets.north_america_nee(resolution=resolution).load()
    train = ds.sel(time=~ds.time.dt.year.isin(HELD_OUT))
    if args.quick:
        ladders = {
            name: Ladder(name, [k for k in rungs if k <= QUICK_LAST_RUNG[name]], budget) for name, rungs in LADDERS.items()
        }
    else:
        ladders = {name: Ladder(name, rungs, budget) for name, rungs in LADDERS.items()}
    while any(ladder.climbing for ladder in ladders.values()):
        for ladder in ladders.values():
            if ladder.climbing:
                ladder.climb(ds, train)
    best = max(ladder.best() for ladder in ladders.values())
    level = best - 0.01
    reached = {name: ladder.time_to(level) for name, ladder in ladders.items()}
    label = "time to held-out R^2 (NEE)" + (" (quick: 3 deg)" if args.quick else "")
    rows = []
    for column, threads in ((0, "BLAS threads as set"), (1, "1 BLAS thread")):
        fastest = min((hit[column] for hit in reached.values() if hit is not None), default=None)
        for name, ladder in ladders.items():
            hit = reached[name]
            row = {
                "benchmark": label,
                "measure": f"{name}, {threads}: training s to R^2 >= {level:.3f}",
                "xrann": None if hit is None else hit[column],
                "reference": fastest,
                "ratio": None if hit is None or not fastest else hit[column] / fastest,
                "target": None,
                "met": None,
            }
            if column == 0:
                curve = ", ".join(
                    f"{ran}: {r2:.3f} @ {seconds:.2f} s ({one:.2f} s)" for _, ran, seconds, r2, one in ladder.points
                )
                row["note"] = (
                    f"reached at {hit[2]} epochs, R^2 {hit[3]:.4f}; " if hit is not None else "never reached; "
                ) + (
                    f"best R^2 {ladder.best():.4f}; stopped climbing: {ladder.stopped}; "
                    f"epochs: R^2 @ training s (with 1 BLAS thread) = {curve}"
                )
            rows.append(row)
    counts = int(ds["nee"].sel(time=train.time).count())
    rows[-1]["note"] = (
        f"level = best R^2 of any ({best:.4f}) - 0.01; reference = the fastest optimiser's seconds; NEE "
        f"{resolution:g} deg, {counts:,} training samples; BLAS {blas_description()}; "
        f"whole script {time.perf_counter() - started:.0f} s"
    )
    report(rows, args.json)


if __name__ == "__main__":
    main()
