"""Predictions back onto the identical grid (xrann.data.grid)."""

import dask.array
import numpy as np
import xarray as xr

from xrann.data.grid import output_dims, predict_on_grid


def test_output_dims_follow_the_input_and_the_target_order():
    ds = xr.Dataset({"a": (("lon", "time"), np.zeros((2, 3))), "b": (("lat",), np.zeros(4))})
    # the fullest driver's order first, dims only other drivers have after it
    assert output_dims(ds, ["b", "a"]) == ("lon", "time", "lat")
    # the target's order fills the positions of its dims
    assert output_dims(ds, ["a", "b"], ("time", "lat", "lon")) == ("time", "lat", "lon")
    assert output_dims(ds, ["a"], ("time",)) == ("lon", "time")
    # an extra dim stays where it stands among the drivers' dims
    scenario = xr.Dataset({"t2m": (("scenario", "time", "lat", "lon"), np.zeros((2, 1, 1, 1)))})
    assert output_dims(scenario, ["t2m"], ("time", "lat", "lon")) == ("scenario", "time", "lat", "lon")
    assert output_dims(scenario, ["t2m"], ("lon", "lat", "time")) == ("scenario", "lon", "lat", "time")


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


def test_predict_on_grid_is_lazy_for_dask_and_equal_to_numpy(grid):
    def product(matrix):
        return matrix[:, 0] * matrix[:, 1]

    options = dict(dims=("time", "lat", "lon"), name="p", attrs={})
    lazy = predict_on_grid(grid.chunk({"time": 5}), ["t2m", "landcover"], product, **options)
    assert isinstance(lazy.data, dask.array.Array)
    xr.testing.assert_identical(lazy.compute(), predict_on_grid(grid, ["t2m", "landcover"], product, **options))
