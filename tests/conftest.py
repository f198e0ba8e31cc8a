"""Shared fixtures: small gridded Datasets with an ocean mask and CF metadata."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import xrann  # noqa: F401  (registers the accessor)


def make_grid_dataset(n_time: int = 24, n_lat: int = 6, n_lon: int = 8, seed: int = 0) -> xr.Dataset:
    """A (time, lat, lon) Dataset whose target is a known smooth non-linear function of the drivers.

    The corner cells are ocean (NaN in every gridded variable), ``landcover`` is a
    static (lat, lon) map, and ``t2m`` carries a CF standard_name.
    """
    rng = np.random.default_rng(seed)
    time = pd.date_range("2007-01-01", periods=n_time, freq="MS")
    lat = np.linspace(30.5, 30.5 + n_lat - 1, n_lat)
    lon = np.linspace(-100.5, -100.5 + n_lon - 1, n_lon)
    shape = (n_time, n_lat, n_lon)
    season = np.cos(2 * np.pi * (time.month.values - 7) / 12)[:, None, None]
    t2m = 285 + 10 * season - 0.5 * (lat[None, :, None] - lat.mean()) + rng.normal(0, 1, shape)
    swdown = 200 + 100 * season + rng.normal(0, 10, shape)
    landcover = rng.random((n_lat, n_lon))
    ocean = np.zeros((n_lat, n_lon), dtype=bool)
    ocean[0, 0] = ocean[-1, -1] = ocean[0, -1] = True
    scaled_t = (t2m - 285) / 10
    scaled_sw = (swdown - 200) / 100
    nee = np.tanh(scaled_t) * (1 + landcover) - 0.5 * scaled_sw**2 * landcover
    t2m[:, ocean] = np.nan
    swdown[:, ocean] = np.nan
    nee[:, ocean] = np.nan
    landcover = np.where(ocean, np.nan, landcover)
    coords = {
        "time": ("time", time, {"standard_name": "time"}),
        "lat": ("lat", lat, {"standard_name": "latitude", "units": "degrees_north"}),
        "lon": ("lon", lon, {"standard_name": "longitude", "units": "degrees_east"}),
        "region": (("lat", "lon"), np.where(lat[:, None] > lat.mean(), "north", "south").repeat(n_lon, axis=1)),
    }
    return xr.Dataset(
        {
            "nee": (("time", "lat", "lon"), nee, {"units": "umol m-2 s-1", "long_name": "net ecosystem exchange"}),
            "t2m": (("time", "lat", "lon"), t2m, {"units": "K", "standard_name": "air_temperature", "long_name": "2 m air temperature"}),
            "swdown": (("time", "lat", "lon"), swdown, {"units": "W m-2", "long_name": "shortwave down"}),
            "landcover": (("lat", "lon"), landcover, {"units": "1", "long_name": "forest fraction"}),
        },
        coords=coords,
        attrs={"title": "xrann test grid"},
    )


@pytest.fixture
def grid() -> xr.Dataset:
    """A small (time, lat, lon) Dataset with an ocean mask (see `make_grid_dataset`)."""
    return make_grid_dataset()


@pytest.fixture
def fitted(grid):
    """A quickly fitted model on `grid` with every driver."""
    model = grid.ann.fit(target="nee", drivers=["t2m", "swdown", "landcover"], seed=0, epochs=200, progress=False)
    return grid, model
