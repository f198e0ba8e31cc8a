"""The xarray layer: variable lookup, broadcasting, masking, stacking, mapping back."""

import numpy as np
import pytest
import xarray as xr

from xrann.samples import (
    output_dims,
    predict_on_grid,
    resolve_variable,
    select_variables,
    selection_mask,
    stack_samples,
    valid_sample_mask,
)


def test_resolve_by_name_and_cf_standard_name(grid):
    assert resolve_variable(grid, "t2m") == "t2m"
    assert resolve_variable(grid, "air_temperature") == "t2m"
    with pytest.raises(KeyError, match=r"driver 'vpd' not found.*data variables: nee, t2m, swdown, landcover.*air_temperature"):
        resolve_variable(grid, "vpd", "driver")
    with pytest.raises(KeyError, match="is a coordinate, not a data variable"):
        resolve_variable(grid, "lat", "driver")
    twin = grid.assign(t2 = grid["t2m"])
    with pytest.raises(KeyError, match="ambiguous"):
        resolve_variable(twin, "air_temperature")


def test_drivers_none_takes_numeric_variables_on_the_target_grid(grid):
    extra = grid.assign(
        cell_area=(("lat", "lon"), np.ones((6, 8))),
        level_temp=(("time", "lat", "lon", "level"), np.zeros((24, 6, 8, 2))),
        label=("time", np.array(["a"] * 24)),
        scalar=((), 1.0),
    )
    extra["nee"].attrs["cell_measures"] = "area: cell_area"
    target, drivers = select_variables(extra, "nee", None)
    assert target == "nee"
    assert drivers == ["t2m", "swdown", "landcover"]


def test_valid_mask_and_stack_broadcast_static_maps(grid):
    samples = stack_samples(grid, ["t2m", "landcover"], "nee", ("time", "lat", "lon"))
    assert samples.valid.dims == ("time", "lat", "lon")
    assert samples.n_dropped == 3 * 24
    assert samples.drivers.shape == (24 * (48 - 3), 2)
    # the static map repeats once per time step, in row-major (time, lat, lon) order
    land = grid["landcover"].values.reshape(-1)
    land = land[np.isfinite(land)]
    np.testing.assert_array_equal(samples.drivers[: land.size, 1], land)
    np.testing.assert_array_equal(samples.drivers[land.size : 2 * land.size, 1], land)
    assert np.isfinite(samples.drivers).all() and np.isfinite(samples.target).all()


def test_inf_counts_as_missing(grid):
    broken = grid.copy(deep=True)
    broken["t2m"][0, 2, 2] = np.inf
    mask = valid_sample_mask(broken, ["nee", "t2m"], ("time", "lat", "lon"))
    assert not bool(mask[0, 2, 2])
    assert int((~mask).sum()) == 3 * 24 + 1


def test_selection_mask_years_slices_and_errors(grid):
    dims = ("time", "lat", "lon")
    by_year = selection_mask(grid, {"time": [2008]}, dims)
    assert by_year.dims == dims and int(by_year.isel(lat=0, lon=0).sum()) == 12
    by_slice = selection_mask(grid, {"time": slice("2007-03", "2007-05")}, dims)
    assert int(by_slice.isel(lat=0, lon=0).sum()) == 3
    both = selection_mask(grid, {"time": [2007], "lat": slice(31, 33)}, dims)
    assert int(both.sum()) == 12 * 2 * 8
    with pytest.raises(ValueError, match=r"years \[2015\] are not in dim 'time', which spans the years 2007-2008"):
        selection_mask(grid, {"time": [2015]}, dims)
    with pytest.raises(ValueError, match="dim 'depth', which the Dataset lacks"):
        selection_mask(grid, {"depth": [1]}, dims)


def test_output_dims_follow_training_order():
    ds = xr.Dataset({"a": (("lon", "time"), np.zeros((2, 3))), "b": (("lat",), np.zeros(4))})
    assert output_dims(ds, ["a", "b"], ("time", "lat", "lon")) == ("time", "lat", "lon")
    assert output_dims(ds, ["a"], ("time",)) == ("time", "lon")


def test_predict_on_grid_restores_grid_and_nan_mask(grid):
    result = predict_on_grid(
        grid, ["t2m", "landcover"], lambda m: m[:, 0] * m[:, 1],
        dims=("time", "lat", "lon"), name="p", attrs={"units": "K"}, like=grid["nee"],
    )
    expected = (grid["t2m"] * grid["landcover"]).transpose("time", "lat", "lon")
    np.testing.assert_allclose(result.values, expected.values)
    xr.testing.assert_identical(result.coords.to_dataset(), grid["nee"].coords.to_dataset())
    assert result.dims == grid["nee"].dims
    assert result.attrs == {"units": "K"} and result.name == "p"
