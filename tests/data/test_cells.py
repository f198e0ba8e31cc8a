"""Tests for cell lists <-> regular grids (xrann.data.cells)."""

from __future__ import annotations

import dask
import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

import xrann
from xrann import cells_to_grid, grid_to_cells
from xrann.data.cells import GRID_ENCODING, find_latitude_longitude
from xrann.datasets import north_america_nee

LAT_ATTRS = {"standard_name": "latitude", "units": "degrees_north", "axis": "Y"}
LON_ATTRS = {"standard_name": "longitude", "units": "degrees_east", "axis": "X"}


def _raise_on_compute(*args, **kwargs):
    raise AssertionError("something was computed")


def make_cells(transpose: bool = False) -> xr.Dataset:
    """Four cells on a 1° grid with one empty row, a time dim and attributes."""
    nee = np.arange(8.0).reshape(2, 4)
    cells = xr.Dataset(
        {
            "nee": (("time", "x"), nee, {"units": "umol m-2 s-1", "long_name": "NEE"}),
            "forest": ("x", [0.1, 0.2, 0.3, 0.4], {"units": "1"}),
            "co2": ("time", [400.0, 401.0], {"units": "ppm"}),
        },
        coords={
            "time": ("time", np.array(["2007-01-01", "2007-02-01"], dtype="datetime64[ns]")),
            "lat": ("x", [10.5, 10.5, 11.5, 13.5], {**LAT_ATTRS, "long_name": "cell latitude"}),
            "lon": ("x", [-100.5, -99.5, -99.5, -100.5], LON_ATTRS),
        },
        attrs={"title": "inversion"},
    )
    return cells.transpose("x", "time") if transpose else cells


# ----------------------------------------------------------------------------- cells -> grid


def test_cells_to_grid_values_dims_and_attrs():
    grid = cells_to_grid(make_cells())
    assert grid["nee"].dims == ("time", "lat", "lon")
    assert grid["forest"].dims == ("lat", "lon")
    np.testing.assert_array_equal(grid["lat"].values, [10.5, 11.5, 12.5, 13.5])
    np.testing.assert_array_equal(grid["lon"].values, [-100.5, -99.5])
    np.testing.assert_array_equal(
        grid["nee"].isel(time=1).values, [[4.0, 5.0], [np.nan, 6.0], [np.nan, np.nan], [7.0, np.nan]]
    )
    xr.testing.assert_identical(grid["co2"], make_cells()["co2"])
    assert grid["nee"].attrs == {"units": "umol m-2 s-1", "long_name": "NEE"}
    assert grid["lat"].attrs == {**LAT_ATTRS, "long_name": "cell latitude"}
    assert grid.attrs == {"title": "inversion"}
    assert set(grid.coords) == {"time", "lat", "lon"} and list(grid.data_vars) == ["nee", "forest", "co2"]


def test_cells_to_grid_keeps_dim_order_with_cells_first():
    grid = cells_to_grid(make_cells(transpose=True))
    assert grid["nee"].dims == ("lat", "lon", "time")
    xr.testing.assert_identical(grid.transpose("time", "lat", "lon"), cells_to_grid(make_cells()).transpose("time", "lat", "lon"))


def test_cells_to_grid_adds_cf_attrs_and_finds_other_names():
    cells = make_cells().rename(lat="LAT", lon="LON")
    cells["LAT"].attrs, cells["LON"].attrs = {}, {}
    cells = cells.reset_coords(["LAT", "LON"])  # latitude and longitude as data variables
    grid = cells_to_grid(cells)
    assert grid["nee"].dims == ("time", "LAT", "LON")
    assert grid["LAT"].attrs == LAT_ATTRS and grid["LON"].attrs == LON_ATTRS
    assert "LAT" in grid.coords
    by_standard_name = make_cells().rename(lat="y_centre", lon="x_centre")
    assert cells_to_grid(by_standard_name)["nee"].dims == ("time", "y_centre", "x_centre")
    nav = make_cells().rename(lat="nav_lat", lon="nav_lon")
    nav["nav_lat"].attrs, nav["nav_lon"].attrs = {}, {}
    assert find_latitude_longitude(nav, "x") == ("nav_lat", "nav_lon")
    by_units = make_cells().rename(lat="a", lon="b")
    by_units["a"].attrs, by_units["b"].attrs = {"units": "degrees_north"}, {"units": "degree_east"}
    assert cells_to_grid(by_units)["nee"].dims == ("time", "a", "b")
    named = make_cells().rename(lat="p", lon="q")
    named["p"].attrs, named["q"].attrs = {}, {}
    assert cells_to_grid(named, lat="p", lon="q")["nee"].dims == ("time", "p", "q")


def test_cells_to_grid_promotes_integers_and_keeps_datetimes():
    cells = make_cells().assign(
        count=("x", np.array([1, 2, 3, 4], dtype=np.int32)),
        flag=("x", np.array([True, False, True, True])),
        last_fire=("x", np.array(["2001-01-01", "2002-01-01", "2003-01-01", "2004-01-01"], dtype="datetime64[ns]")),
        small=("x", np.ones(4, dtype=np.float32)),
    )
    grid = cells_to_grid(cells)
    assert grid["count"].dtype == np.float64 and grid["flag"].dtype == np.float64 and grid["small"].dtype == np.float32
    np.testing.assert_array_equal(grid["count"].values, [[1, 2], [np.nan, 3], [np.nan, np.nan], [4, np.nan]])
    assert grid["last_fire"].dtype.kind == "M" and bool(np.isnat(grid["last_fire"].isel(lat=2)).all())


def test_cells_to_grid_resolution_and_inferred_spacing():
    cells = make_cells()
    assert cells_to_grid(cells, resolution=0.5).sizes == {"time": 2, "lat": 7, "lon": 3}
    coarse = cells.isel(x=[0, 3])  # latitudes 10.5 and 13.5 only: spacing inferred as 3
    np.testing.assert_array_equal(cells_to_grid(coarse)["lat"].values, [10.5, 13.5])
    np.testing.assert_array_equal(cells_to_grid(coarse, resolution=(1.0, 1.0))["lat"].values, [10.5, 11.5, 12.5, 13.5])


def test_gaps_that_are_not_multiples_of_the_smallest_need_the_resolution():
    cells = xr.Dataset(coords={"lat": ("x", [0.5, 0.5, 0.5], LAT_ATTRS), "lon": ("x", [0.0, 3.0, 5.0], LON_ATTRS)})
    with pytest.raises(ValueError, match=r"cell x=1 at lon=3\.0 is off the regular grid of lon \(spacing 2 from 0.*pass resolution="):
        cells_to_grid(cells)
    assert cells_to_grid(cells, resolution=1.0)["lon"].values.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]


def test_cells_to_grid_drops_cell_labels_and_accepts_a_dataarray():
    cells = make_cells().assign_coords(x=["a", "b", "c", "d"])
    grid = cells_to_grid(cells)
    assert "x" not in grid.coords and "x" not in grid.dims
    nee = cells_to_grid(make_cells()["nee"])
    assert isinstance(nee, xr.DataArray) and nee.name == "nee" and nee.dims == ("time", "lat", "lon")
    unnamed = cells_to_grid(make_cells()["nee"].rename(None))
    assert unnamed.name is None


@pytest.mark.parametrize(
    "change, error, match",
    [
        (lambda c: c.assign_coords(lat=("x", [10.5, 10.5, 11.5, 13.2], LAT_ATTRS)), ValueError,
         r"cell x=3 at lat=13\.2 is off the regular grid of lat \(spacing 1 from 10\.5"),
        (lambda c: c.assign_coords(lat=("x", [10.5, 10.5, 10.5, 13.5], LAT_ATTRS), lon=("x", [-100.5, -99.5, -100.5, -100.5], LON_ATTRS)),
         ValueError, r"1 grid cell\(s\) hold more than one cell: cells \['x=0', 'x=2'\] at \(lat=10\.5, lon=-100\.5\)"),
        (lambda c: c.assign_coords(lat=("x", [10.5, np.nan, 11.5, 13.5], LAT_ATTRS)), ValueError, r"cell x=1 has lat=nan"),
        (lambda c: c.drop_vars("lat"), KeyError,
         r"no latitude found along cell dim 'x': looked for a variable with standard_name 'latitude', units 'degrees_north'.*Pass lat='name'"),
        (lambda c: c.assign_coords(lat2=c["lat"]), ValueError, r"several variables along cell dim 'x' look like latitude: \['lat', 'lat2'\]"),
        (lambda c: c.assign_coords(lat=("x", [10.5, 10.5, 10.5 + 1e-9, 13.5], LAT_ATTRS)), ValueError,
         r"the lat spacing 1e-09 gives a grid of \d+ rows or columns for 4 cells; .*near-duplicates"),
    ],
)
def test_cells_to_grid_errors(change, error, match):
    with pytest.raises(error, match=match):
        cells_to_grid(change(make_cells()))


def test_cells_to_grid_error_names_cell_labels_and_bad_dims():
    cells = make_cells().assign_coords(x=["a", "b", "c", "d"], lat=("x", [10.5, 10.5, 11.5, 13.2], LAT_ATTRS))
    with pytest.raises(ValueError, match=r"cell x=3 \(label 'd'\) at lat=13\.2"):
        cells_to_grid(cells)
    with pytest.raises(ValueError, match=r"cell_dim='cell' is not a dim of the data, whose dims are \('time', 'x'\)"):
        cells_to_grid(make_cells(), cell_dim="cell")
    with pytest.raises(ValueError, match=r"latitude variable 'co2' has dims \('time',\); it needs dims \('x',\) along cell dim 'x'"):
        cells_to_grid(make_cells(), lat="co2")
    with pytest.raises(KeyError, match=r"latitude variable 'nope' is not in the Dataset"):
        cells_to_grid(make_cells(), lat="nope")
    with pytest.raises(TypeError, match="expected an xarray Dataset or DataArray, got list"):
        cells_to_grid([1, 2])


# ----------------------------------------------------------------------------- grid -> cells


def test_grid_to_cells_orders_by_latitude_then_longitude_and_keeps_cells_with_data():
    grid = cells_to_grid(make_cells())
    descending = grid.isel(lat=slice(None, None, -1), lon=slice(None, None, -1))
    for source in (grid, descending):
        cells = grid_to_cells(source)
        np.testing.assert_array_equal(cells["lat"].values, [10.5, 10.5, 11.5, 13.5])
        np.testing.assert_array_equal(cells["lon"].values, [-100.5, -99.5, -99.5, -100.5])
        np.testing.assert_array_equal(cells["nee"].values, make_cells()["nee"].values)
        assert cells["nee"].dims == ("time", "x") and cells["co2"].dims == ("time",)
        assert cells["lat"].attrs == {**LAT_ATTRS, "long_name": "cell latitude"}
    xr.testing.assert_identical(grid_to_cells(grid), make_cells())


def test_grid_to_cells_mask_and_errors():
    grid = cells_to_grid(make_cells())
    mask = xr.DataArray(np.zeros((4, 2), dtype=bool), dims=("lat", "lon"))
    mask[2, 1] = True
    cells = grid_to_cells(grid, mask=mask)
    assert cells.sizes["x"] == 1 and cells["lat"].values.tolist() == [12.5] and bool(cells["nee"].isnull().all())
    np.testing.assert_array_equal(grid_to_cells(grid, mask=mask.values.T.T)["lon"].values, [-99.5])
    with pytest.raises(ValueError, match=r"mask has shape \(2, 4\); it needs the grid's shape \(4, 2\)"):
        grid_to_cells(grid, mask=mask.values.T)
    with pytest.raises(ValueError, match="mask must be boolean"):
        grid_to_cells(grid, mask=mask.values.astype(int))
    with pytest.raises(ValueError, match=r"mask has dims \('lat',\)"):
        grid_to_cells(grid, mask=mask.isel(lon=0))
    with pytest.raises(ValueError, match="cell_dim='time' already exists"):
        grid_to_cells(grid, cell_dim="time")
    with pytest.raises(ValueError, match=r"no data variable lies on the grid \('lat', 'lon'\).*pass mask="):
        grid_to_cells(grid[["co2"]].assign_coords(lat=grid["lat"], lon=grid["lon"]))
    with pytest.raises(KeyError, match="no latitude found among the dimension coordinates"):
        grid_to_cells(grid.rename(lat="rows").drop_vars("rows"))


def test_grid_to_cells_keeps_variables_on_one_grid_dim():
    grid = cells_to_grid(make_cells()).assign(zonal=("lat", [1.0, 2.0, 3.0, 4.0]))
    cells = grid_to_cells(grid)
    np.testing.assert_array_equal(cells["zonal"].values, [1.0, 1.0, 2.0, 4.0])
    assert cells["zonal"].dims == ("x",)


# ----------------------------------------------------------------------------- round trips on the NEE dataset


@pytest.fixture(scope="module")
def nee_grid():
    return north_america_nee(resolution=2.0, start="2012-01", end="2012-12")


def test_round_trip_of_the_nee_dataset_is_identical(nee_grid):
    grid = nee_grid.drop_vars("cell_area")  # cell_area is defined over sea too
    cells = grid_to_cells(grid)
    assert dict(cells.sizes) == {"time": 12, "x": int(np.isfinite(grid["forest_fraction"]).sum())}
    assert cells["lat"].dims == ("x",) and cells["nee"].dims == ("time", "x")
    assert bool(np.isfinite(cells["nee"]).all())
    xr.testing.assert_identical(cells_to_grid(cells), grid)
    # cell_area is a cell measure: it does not make sea cells count as data
    with_area = grid_to_cells(nee_grid)
    assert with_area.sizes["x"] == cells.sizes["x"]
    np.testing.assert_array_equal(
        with_area["cell_area"].values, nee_grid["cell_area"].sel(lat=cells["lat"], lon=cells["lon"]).values
    )


def test_cells_from_a_file_span_the_cells(nee_grid, tmp_path):
    cells = grid_to_cells(nee_grid.drop_vars("cell_area"))
    path = tmp_path / "cells.nc"
    cells.to_netcdf(path)
    with xr.open_dataset(path) as reopened:
        assert GRID_ENCODING not in reopened["lat"].encoding
        grid = cells_to_grid(reopened.load())
    spanned = nee_grid.drop_vars("cell_area").sel(lat=slice(grid["lat"].min(), grid["lat"].max()), lon=slice(grid["lon"].min(), grid["lon"].max()))
    xr.testing.assert_identical(grid, spanned)
    xr.testing.assert_identical(grid_to_cells(grid).drop_encoding(), cells.drop_encoding())


def test_dask_input_stays_lazy(nee_grid):
    grid = nee_grid.drop_vars("cell_area")
    land = np.isfinite(grid["forest_fraction"])
    lazy_grid = grid.chunk({"time": 5, "lat": 10, "lon": 25})
    with dask.config.set(scheduler=_raise_on_compute):
        lazy_cells = grid_to_cells(lazy_grid, mask=land)
        lazy_back = cells_to_grid(lazy_cells)
    assert lazy_cells["nee"].chunks == ((5, 5, 2), (int(land.sum()),))
    assert lazy_back["nee"].chunks == ((5, 5, 2), (grid.sizes["lat"],), (grid.sizes["lon"],))
    with dask.config.set(scheduler="synchronous"):
        xr.testing.assert_identical(lazy_cells.compute(), grid_to_cells(grid))
        xr.testing.assert_identical(lazy_back.compute(), grid)
        # without a mask, only the presence of data is computed
        xr.testing.assert_identical(grid_to_cells(lazy_grid).compute(), grid_to_cells(grid))


def test_exported():
    assert xrann.cells_to_grid is cells_to_grid and xrann.grid_to_cells is grid_to_cells


# ----------------------------------------------------------------------------- property-based round trips


@st.composite
def subsets_of_a_regular_grid(draw):
    n_lat = draw(st.integers(1, 7))
    n_lon = draw(st.integers(1, 7))
    lat_step = draw(st.floats(0.01, 10.0, allow_nan=False))
    lon_step = draw(st.floats(0.01, 10.0, allow_nan=False))
    lat0 = draw(st.floats(-90.0, 90.0 - lat_step * n_lat, allow_nan=False)) if lat_step * n_lat < 180 else -90.0
    lon0 = draw(st.floats(-180.0, 180.0, allow_nan=False))
    keep = np.array(draw(st.lists(st.booleans(), min_size=n_lat * n_lon, max_size=n_lat * n_lon))).reshape(n_lat, n_lon)
    if not keep.any():
        keep[draw(st.integers(0, n_lat - 1)), draw(st.integers(0, n_lon - 1))] = True
    permutation_seed = draw(st.integers(0, 2**32 - 1))
    return lat0 + lat_step * np.arange(n_lat), lon0 + lon_step * np.arange(n_lon), keep, permutation_seed, (lat_step, lon_step)


@settings(max_examples=60, deadline=None)
@given(subsets_of_a_regular_grid())
def test_round_trips_on_random_grids(case):
    lat, lon, keep, permutation_seed, resolution = case
    rng = np.random.default_rng(permutation_seed)
    values = rng.normal(size=(3,) + keep.shape)
    grid = xr.Dataset(
        {"y": (("t", "lat", "lon"), np.where(keep, values, np.nan), {"units": "1"}), "z": ("t", [1.0, 2.0, 3.0])},
        coords={"lat": ("lat", lat, LAT_ATTRS), "lon": ("lon", lon, LON_ATTRS)},
    )
    cells = grid_to_cells(grid)
    assert cells.sizes["x"] == int(keep.sum())
    xr.testing.assert_identical(cells_to_grid(cells), grid)

    # cells in any order, without the remembered grid (as read from a file); the spacing
    # cannot be inferred from any subset (columns 0, 3 and 5 look like a spacing of 2), so give it
    shuffled = cells.isel(x=rng.permutation(cells.sizes["x"])).drop_encoding()
    spanned = cells_to_grid(shuffled, resolution=resolution)
    xr.testing.assert_identical(grid_to_cells(spanned).drop_encoding(), cells.drop_encoding())
    rows = np.searchsorted(spanned["lat"].values, cells["lat"].values)
    columns = np.searchsorted(spanned["lon"].values, cells["lon"].values)
    np.testing.assert_array_equal(spanned["lat"].values[rows], cells["lat"].values)
    np.testing.assert_array_equal(spanned["y"].values[:, rows, columns], cells["y"].values)
    assert int(np.isfinite(spanned["y"].isel(t=0)).sum()) == cells.sizes["x"]
