"""Tests for the synthetic North America NEE dataset (xrann.datasets.north_america)."""

from __future__ import annotations

import dask
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from dask.callbacks import Callback

import xrann
from xrann.datasets import north_america_nee
from xrann.datasets.north_america import EARTH_RADIUS, STATIC_VARIABLES, TIME_VARIABLES, VARIABLE_ATTRS

SMALL = {"resolution": 2.0, "start": "2010-01", "end": "2013-12"}


@pytest.fixture(scope="module")
def default():
    return north_america_nee()


@pytest.fixture(scope="module")
def small():
    return north_america_nee(**SMALL)


def _raise_on_compute(*args, **kwargs):
    raise AssertionError("building the lazy dataset computed something")


class _CountTasks(Callback):
    def __init__(self):
        super().__init__()
        self.keys = []

    def _pretask(self, key, dsk, state):
        self.keys.append(key)


def _land(ds):
    return np.isfinite(ds["forest_fraction"])


# ----------------------------------------------------------------------------- layout and metadata


def test_default_grid_dims_and_coordinates(default):
    assert dict(default.sizes) == {"time": 108, "lat": 70, "lon": 120}
    np.testing.assert_allclose(default["lat"].values, np.arange(10.5, 80.0, 1.0))
    np.testing.assert_allclose(default["lon"].values, np.arange(-169.5, -50.0, 1.0))
    expected_time = pd.date_range("2007-01-01", "2015-12-01", freq="MS")
    xr.testing.assert_equal(default["time"].reset_coords(drop=True), xr.DataArray(expected_time, dims="time", coords={"time": expected_time}).rename("time"))
    for name in TIME_VARIABLES:
        assert default[name].dims == ("time", "lat", "lon"), name
    for name in STATIC_VARIABLES:
        assert default[name].dims == ("lat", "lon"), name
    assert set(default.data_vars) == set(TIME_VARIABLES) | set(STATIC_VARIABLES)


def test_cf_attributes(default):
    assert default["lat"].attrs == {"standard_name": "latitude", "long_name": "latitude", "units": "degrees_north", "axis": "Y"}
    assert default["lon"].attrs["units"] == "degrees_east" and default["lon"].attrs["axis"] == "X"
    assert default["time"].attrs["standard_name"] == "time" and default["time"].attrs["axis"] == "T"
    assert default["time"].encoding["units"].startswith("days since")
    assert default.cf["latitude"].name == "lat" and default.cf["longitude"].name == "lon" and default.cf["T"].name == "time"
    for name, variable in default.data_vars.items():
        assert variable.attrs == VARIABLE_ATTRS[name]
        assert variable.attrs["units"] and variable.attrs["long_name"]
        if name not in ("sif", "stand_age"):
            assert variable.attrs["standard_name"], name
        if name != "cell_area":
            assert variable.attrs["cell_measures"] == "area: cell_area"
    assert "standard_name" not in default["sif"].attrs
    assert default["nee"].attrs["units"] == "umol m-2 s-1"
    assert default["t2m"].attrs == {**VARIABLE_ATTRS["t2m"], "units": "K", "standard_name": "air_temperature"}
    assert default.cf.standard_names["precipitation_flux"] == ["precip"]
    assert default.attrs["Conventions"] == "CF-1.8"
    assert "synthetic" in default.attrs["source"] and default.attrs["title"]
    assert "north_america_nee(resolution=1.0" in default.attrs["history"]


def test_netcdf_round_trip(tmp_path):
    ds = north_america_nee(resolution=5.0, start="2012-01", end="2012-03")
    path = tmp_path / "na.nc"
    ds.to_netcdf(path)
    with xr.open_dataset(path) as reopened:
        xr.testing.assert_identical(reopened.load(), ds)


# ----------------------------------------------------------------------------- mask and area


def test_land_cell_count_and_consistent_ocean_nan(default):
    land = _land(default)
    assert 2000 <= int(land.sum()) <= 3500
    assert int(land.sum()) == 3119
    for name in TIME_VARIABLES + ("stand_age",):
        finite = np.isfinite(default[name])
        expected = land.broadcast_like(finite).transpose(*finite.dims)
        xr.testing.assert_equal(finite.reset_coords(drop=True), expected.reset_coords(drop=True))
    assert bool(np.isfinite(default["cell_area"]).all())
    # land where expected, sea where expected
    assert bool(land.sel(lat=40.5, lon=-100.5)) and bool(land.sel(lat=60.5, lon=-110.5))
    assert not bool(land.sel(lat=40.5, lon=-140.5)) and not bool(land.sel(lat=25.5, lon=-90.5))


@pytest.mark.parametrize("resolution, south, north, width", [(1.0, 10.0, 80.0, 120.0), (2.0, 10.0, 80.0, 120.0), (1.5, 10.0, 79.0, 120.0)])
def test_cell_area_sums_to_the_spherical_box(resolution, south, north, width):
    ds = north_america_nee(resolution=resolution, start="2010-01", end="2010-01")
    box = EARTH_RADIUS**2 * np.radians(width) * (np.sin(np.radians(north)) - np.sin(np.radians(south)))
    np.testing.assert_allclose(float(ds["cell_area"].sum()), box, rtol=1e-12)
    assert ds["cell_area"].attrs["units"] == "m2"
    # cells shrink towards the pole
    assert bool((ds["cell_area"].isel(lon=0).diff("lat") < 0).all())


# ----------------------------------------------------------------------------- determinism and laziness


def test_same_seed_identical_other_seed_different(small):
    xr.testing.assert_identical(north_america_nee(**SMALL), small)
    other = north_america_nee(**SMALL, seed=1)
    xr.testing.assert_identical(other["cell_area"], small["cell_area"])
    xr.testing.assert_equal(_land(other), _land(small))
    difference = np.abs(other["nee"] - small["nee"])
    assert float(difference.mean()) > 0.05
    assert float(np.abs(other["t2m"] - small["t2m"]).mean()) > 0.3


@pytest.mark.parametrize(
    "settings, chunks",
    [
        ({"resolution": 2.0, "start": "2011-11", "end": "2013-02"}, {"time": 5, "lat": 13, "lon": 23}),
        ({"resolution": 5.0, "start": "2012-06-20", "end": "2012-08-10", "freq": "D"}, {"time": 17, "lat": 5, "lon": 9}),
        ({"resolution": 4.0, "start": "2011-01", "end": "2011-12", "freq": "7D", "seed": 3}, "auto"),
    ],
)
def test_lazy_values_equal_eager_values(settings, chunks):
    eager = north_america_nee(**settings)
    lazy = north_america_nee(**settings, chunks=chunks)
    assert all(variable.chunks is not None for variable in lazy.data_vars.values())
    if isinstance(chunks, dict):
        assert lazy["nee"].chunks[0][0] == chunks["time"] and lazy["forest_fraction"].chunks[1][0] == chunks["lon"]
    with dask.config.set(scheduler="synchronous"):
        xr.testing.assert_identical(lazy.compute(), eager)


def test_building_lazily_computes_nothing_and_one_chunk_computes_one_chunk():
    with dask.config.set(scheduler=_raise_on_compute):
        big = north_america_nee(
            resolution=0.25, freq="D", start="1990-01", end="2019-12", chunks={"time": 365, "lat": 40, "lon": 40}
        )
    assert dict(big.sizes) == {"time": 10957, "lat": 280, "lon": 480}
    assert big["nee"].nbytes > 10e9
    assert big["nee"].chunks[1] == (40,) * 7
    counter = _CountTasks()
    piece = big["nee"].isel(time=slice(370, 372), lat=slice(121, 123), lon=slice(280, 283)).data
    with counter:
        (value,) = dask.compute(piece, scheduler="synchronous", optimize_graph=False)
    assert value.shape == (2, 2, 3) and np.isfinite(value).all()  # Great Plains: land
    generated = [key for key in counter.keys if isinstance(key, tuple) and "north_america_nee-" in str(key[0])]
    assert [key[1:] for key in generated] == [(1, 3, 7)] and "-nee-" in generated[0][0]


# ----------------------------------------------------------------------------- physics


def test_geography_and_seasons(small):
    summer = small.time.dt.month.isin([6, 7, 8])
    winter = small.time.dt.month.isin([12, 1, 2])
    north = small.sel(lat=slice(50, 70))
    assert float(north["t2m"].where(summer).mean() - north["t2m"].where(winter).mean()) > 20.0
    coast, inland = small["t2m"].sel(lat=49, lon=-125, method="nearest"), small["t2m"].sel(lat=49, lon=-97, method="nearest")
    assert float(inland.max() - inland.min()) > 1.5 * float(coast.max() - coast.min())
    assert float(small["t2m"].sel(lat=slice(15, 25)).mean()) > float(small["t2m"].sel(lat=slice(60, 75)).mean()) + 20
    southwest = small["precip"].sel(lat=slice(28, 40), lon=slice(-120, -105)).mean()
    southeast = small["precip"].sel(lat=slice(28, 38), lon=slice(-92, -78)).mean()
    assert float(southeast) > 2.5 * float(southwest)
    monsoon = small["precip"].sel(lat=slice(22, 34), lon=slice(-112, -104))
    assert float(monsoon.where(small.time.dt.month.isin([7, 8])).mean()) > 2.0 * float(monsoon.where(small.time.dt.month.isin([4, 5])).mean())
    assert float(small["swdown"].sel(lat=slice(40, 50)).where(summer).mean()) > 2.5 * float(small["swdown"].sel(lat=slice(40, 50)).where(winter).mean())
    vpd_southwest = small["vpd"].sel(lat=slice(28, 40), lon=slice(-120, -105)).where(summer).mean()
    vpd_southeast = small["vpd"].sel(lat=slice(28, 38), lon=slice(-92, -78)).where(summer).mean()
    assert float(vpd_southwest) > 1500.0 and float(vpd_southwest) > 1.5 * float(vpd_southeast)


def test_nee_growing_season_sink_in_the_forested_east(small):
    east = small.sel(lat=slice(35, 50), lon=slice(-90, -65))
    growing = small.time.dt.month.isin([5, 6, 7, 8, 9])
    winter = small.time.dt.month.isin([12, 1, 2])
    assert float(east["forest_fraction"].mean()) > 0.5
    assert float(east["nee"].where(growing).mean()) < -0.8
    assert float(east["nee"].where(winter).mean()) > 0.2
    peak = float(east["nee"].where(small.time.dt.month == 7).mean())
    assert -3.5 < peak < -1.0


def test_2012_central_us_drought():
    ds = north_america_nee(**SMALL)
    central = ds.sel(lat=slice(35, 45), lon=slice(-105, -85))
    summer = central.time.dt.month.isin([6, 7, 8])
    drought = summer & (central.time.dt.year == 2012)
    normal = summer & (central.time.dt.year != 2012)
    assert float(central["t2m"].where(drought).mean() - central["t2m"].where(normal).mean()) > 0.5
    assert float(central["precip"].where(drought).mean()) < 0.75 * float(central["precip"].where(normal).mean())
    assert float(central["soilm"].where(drought).mean() - central["soilm"].where(normal).mean()) < -50
    assert float(central["nee"].where(drought).mean() - central["nee"].where(normal).mean()) > 0.5


def test_warming_trend_of_three_tenths_of_a_kelvin_per_decade():
    ds = north_america_nee(resolution=5.0, start="1980-01", end="2019-12")
    annual = ds["t2m"].weighted(np.cos(np.radians(ds["lat"]))).mean(("lat", "lon")).groupby("time.year").mean()
    per_decade = 10 * np.polyfit(annual["year"].values, annual.values, 1)[0]
    assert 0.2 < per_decade < 0.4


@pytest.fixture(scope="module")
def decade():
    return north_america_nee(resolution=2.0)


def _anomaly(ds, name, year, months, lat, lon, relative=False):
    """Mean of ``name`` over a box and calendar months in ``year`` minus (or over) that of 2008-2014."""
    box = ds[name].sel(lat=slice(*lat), lon=slice(*lon))
    by_year = box.where(box.time.dt.month.isin(months)).groupby("time.year").mean(...)
    usual = by_year.sel(year=slice(2008, 2014)).mean()
    return float(by_year.sel(year=year) / usual) if relative else float(by_year.sel(year=year) - usual)


def test_documented_2007_and_2015_anomalies(decade):
    """The events listed in the module docstring, against the same months of 2008-2014."""
    assert _anomaly(decade, "t2m", 2015, [12], (38, 52), (-95, -65)) > 2.5  # El Nino: record-warm December
    assert _anomaly(decade, "t2m", 2015, [2], (40, 50), (-82, -68)) < -4.0  # record-cold February, northeast
    assert _anomaly(decade, "t2m", 2015, [1, 2, 3], (60, 70), (-160, -140)) > 2.0  # warm Alaska
    assert _anomaly(decade, "precip", 2015, [5], (28, 36), (-103, -93), relative=True) > 1.5  # wet southern Plains
    pacific_northwest = {"year": 2015, "months": [6, 7, 8], "lat": (44, 52), "lon": (-125, -116)}
    assert _anomaly(decade, "t2m", **pacific_northwest) > 1.5
    assert _anomaly(decade, "precip", **pacific_northwest, relative=True) < 0.75
    assert _anomaly(decade, "soilm", **pacific_northwest) < -40
    southeast = {"year": 2007, "months": [8], "lat": (31, 37), "lon": (-90, -80)}
    assert _anomaly(decade, "t2m", **southeast) > 2.0
    assert _anomaly(decade, "soilm", **southeast) < -60
    assert _anomaly(decade, "nee", **southeast) > 1.0  # drought and heat weaken the summer sink
    annual = decade["t2m"].weighted(np.cos(np.radians(decade["lat"]))).mean(("lat", "lon")).groupby("time.year").mean()
    assert int(annual.idxmax()) == 2015


def test_documented_process_model_reproduces_nee(small):
    """The module docstring's formulas, applied to the dataset's variables, give NEE up to the noise."""
    temperature = small["t2m"] - 273.15
    theta = small["soilm"] / 1000.0
    forest = small["forest_fraction"]
    veg = 0.3 + 0.7 * forest

    def s(x):
        return 1.0 / (1.0 + np.exp(-x))

    gpp = (
        0.022 * 2.05 * small["swdown"] * s((temperature - 5) / 2.5) * np.exp(-(((temperature - 22) / 14) ** 2))
        / (1 + (small["vpd"] / 2500) ** 2) * s((theta - 0.15) / 0.025) * veg
    )
    reco = 2.5 * (0.5 + 0.8 * forest) * 2.0 ** ((temperature - 15) / 10) * (0.3 + 0.7 * s((theta - 0.1) / 0.03))
    noise = small["nee"] - (reco - gpp)
    assert abs(float(noise.mean())) < 0.05
    assert 0.05 < float((noise / (0.5 + veg)).std()) < 0.25
    assert float((small["nee"] - (reco - gpp) - noise).std()) == 0.0
    # stand_age is not a cause: the noise is unrelated to it
    stand_age = small["stand_age"].broadcast_like(noise)
    valid = np.isfinite(noise.values)
    assert abs(np.corrcoef(noise.values[valid], stand_age.values[valid])[0, 1]) < 0.1
    # more light, more uptake in the growing season: 10 % more swdown lowers NEE wherever plants grow
    july = small.time.dt.month == 7
    brighter = (reco - 1.1 * gpp).where(july)
    assert bool((brighter <= (reco - gpp).where(july)).sum() == july.sum() * np.isfinite(forest).sum())
    assert float(((reco - gpp) - brighter).where(july).mean()) > 0.2


def test_sif_tracks_gpp_and_values_are_physical(small):
    growing = small.where(small.time.dt.month.isin([6, 7, 8]))
    sif, nee = growing["sif"].values.ravel(), growing["nee"].values.ravel()
    valid = np.isfinite(sif)
    assert np.corrcoef(sif[valid], nee[valid])[0, 1] < -0.6
    assert 150 < float(small["t2m"].min()) and float(small["t2m"].max()) < 320
    assert float(small["precip"].min()) > 0 and float(small["swdown"].min()) >= 0
    assert 0 < float(small["rh"].min()) and float(small["rh"].max()) < 100
    assert float(small["vpd"].min()) > 0
    assert 50 < float(small["soilm"].min()) and float(small["soilm"].max()) < 420
    assert 0 <= float(small["forest_fraction"].min()) and float(small["forest_fraction"].max()) <= 1
    assert 10 < float(small["stand_age"].min()) and float(small["stand_age"].max()) < 200


def test_daily_data_follow_the_day_of_year():
    ds = north_america_nee(resolution=5.0, start="2013-01", end="2013-12", freq="D")
    assert ds.sizes["time"] == 365
    series = ds["t2m"].sel(lat=47.5, lon=-97.5)
    warmest = int(series.rolling(time=31, center=True).mean().idxmax().dt.dayofyear)
    assert 180 < warmest < 230
    assert float(np.abs(series.diff("time")).max()) < 3.0  # smooth, no monthly jumps


def test_fit_runs_on_the_dataset_with_unused_drivers():
    ds = north_america_nee(resolution=4.0, start="2010-01", end="2011-12")
    model = ds.ann.fit(target="nee", drivers=["t2m", "swdown", "vpd", "soilm", "forest_fraction", "rh", "stand_age"], seed=0, progress=False)
    predicted = ds.ann.predict(model)
    assert predicted.dims == ("time", "lat", "lon")
    xr.testing.assert_equal(np.isfinite(predicted), np.isfinite(ds["nee"]))


# ----------------------------------------------------------------------------- arguments


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"resolution": 0}, r"resolution=0 degrees is out of range; it must be > 0"),
        ({"resolution": -1.0}, r"resolution=-1.0 degrees is out of range"),
        ({"resolution": 100}, r"at most 70"),
        ({"resolution": "fine"}, r"resolution must be a number of degrees"),
        ({"start": "2015-01", "end": "2014-12"}, r"end='2014-12' is before start='2015-01'"),
        ({"start": "not a date"}, r"are not dates"),
        ({"freq": "fortnightly"}, r"freq='fortnightly' is not a pandas frequency; use e.g. 'MS'"),
        ({"seed": -1}, r"seed must be a non-negative integer"),
        ({"chunks": {"depth": 3}}, r"chunks names dims \['depth'\], which the dataset lacks"),
        ({"chunks": "big"}, r"chunks='big' is not understood"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        north_america_nee(**kwargs)


def test_exported():
    assert xrann.datasets.north_america_nee is north_america_nee
