"""North America NEE: train on some years, test on others, compare with a linear baseline.

The workflow of the NEE study this package follows, on the built-in synthetic
dataset (1 degree, monthly 2007-2015; NEE in umol m-2 s-1, positive = source):

1. train a network on 2008-2014 with 2007 and 2015 held out,
2. evaluate it on the held-out years: scores, regional series, maps, budgets,
3. fit a linear baseline with the same drivers and compare,
4. draw maps and the seasonal cycle (needs matplotlib: pip install "xrann[plot]"),
5. cross-validate by leaving years out (on a coarser grid, to stay quick).

Run: ``python examples/north_america_nee.py`` (about a minute). ``xrann demo``
runs the same workflow and also writes netCDF files.
"""

from pathlib import Path

import xrann

# Drivers as in the study: reanalysis climate, solar-induced fluorescence (SIF)
# and forest cover. NEE is the target.
DRIVERS = ["t2m", "precip", "swdown", "vpd", "soilm", "sif", "forest_fraction"]
HELD_OUT = [2007, 2015]


def main() -> None:
    # 1. The data: a CF Dataset on (time, lat, lon), NaN over the ocean, with a
    #    cell_area variable that nee names in its cell_measures attribute.
    ds = xrann.datasets.north_america_nee()
    print(f"{ds.sizes['time']} months x {ds.sizes['lat']} x {ds.sizes['lon']} cells; drivers {DRIVERS}")

    # 2. Train on 2008-2014. validation={"time": [2007, 2015]} holds those
    #    years out of training; they only choose the epoch with the lowest
    #    validation loss (early stopping) and are evaluated below.
    network = ds.ann.fit(
        target="nee", drivers=DRIVERS, validation={"time": HELD_OUT},
        seed=0,  # the defaults: Levenberg-Marquardt until the validation loss stops improving
    )
    print(network)

    # 3. Evaluate on the held-out years only. Means are weighted by cell area.
    scores = ds.ann.evaluate(network, period=HELD_OUT)
    print(f"\nNetwork on {HELD_OUT}: RMSE {float(scores['rmse']):.3f} {ds['nee'].attrs['units']}, "
          f"R2 {float(scores['r2']):.3f}")
    print(f"  temporal r of the regional monthly mean: {float(scores['temporal_r']):.3f}")
    print(f"  spatial r of the long-term mean map:     {float(scores['spatial_r']):.3f}")

    # 4. The linear baseline: same drivers, same years, least squares.
    linear = ds.ann.fit(target="nee", drivers=DRIVERS, validation={"time": HELD_OUT}, method="linear")
    baseline = ds.ann.evaluate(linear, period=HELD_OUT)
    print(f"Linear baseline: RMSE {float(baseline['rmse']):.3f}, R2 {float(baseline['r2']):.3f}, "
          f"spatial r {float(baseline['spatial_r']):.3f}")

    # 5. Annual budgets: NEE x cell area x seconds of each month, in PgC per year.
    print("\nAnnual budget (PgC yr-1)   observed   network    linear")
    for year in scores["year"].values:
        observed = float(scores["budget"].sel(source="observed", year=year))
        by_network = float(scores["budget"].sel(source="predicted", year=year))
        by_linear = float(baseline["budget"].sel(source="predicted", year=year))
        print(f"  {year}                     {observed:+.3f}    {by_network:+.3f}    {by_linear:+.3f}")

    # 6. Figures: truth / model / difference maps of the held-out years, and the seasonal cycle.
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print('\nmatplotlib is not installed: python3 -m pip install "xrann[plot]" to draw the figures.')
    else:
        out = Path("north_america_nee_figures")
        out.mkdir(exist_ok=True)
        held_out = ds["time"].dt.year.isin(HELD_OUT)
        predicted = ds.ann.predict(network)
        xrann.plot.maps(ds["nee"].isel(time=held_out), predicted.isel(time=held_out)).savefig(out / "maps.png")
        xrann.plot.seasonal_cycle(scores).savefig(out / "seasonal_cycle.png")
        print(f"\nFigures written to {out}/")

    # 7. Cross-validation: one model per left-out year (leave_out=2 gives the
    #    study's 36 pairs of years). On a 2-degree grid with fewer epochs to stay
    #    quick; with a dask.distributed Client active the folds run in parallel.
    coarse = xrann.datasets.north_america_nee(resolution=2.0)
    cv = xrann.cross_validate(coarse, "nee", DRIVERS, by="time.year", leave_out=1, seed=0)
    print("\nLeave-one-year-out RMSE by held-out year:")
    for held, rmse in zip(cv["held_out"].values, cv["rmse"].values):
        print(f"  {held}: {rmse:.3f}")


if __name__ == "__main__":
    main()
