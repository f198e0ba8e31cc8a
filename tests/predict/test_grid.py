"""Finding a model's drivers in a Dataset and applying a function at every grid point (xrann.predict.grid)."""

import dask
import numpy as np
import pytest
import xarray as xr
from dask.callbacks import Callback

from tests.conftest import make_grid_dataset
from xrann.predict.grid import apply_to_grid, resolve_drivers_for_prediction

DRIVERS = ["t2m", "swdown", "landcover"]


class CountComputes(Callback):
    """Counts graph executions on dask's local schedulers."""

    def __init__(self):
        super().__init__()
        self.count = 0

    def _start(self, dsk):
        self.count += 1


def _refuse(*args, **kwargs):
    raise AssertionError("a dask graph was computed")


@pytest.fixture(scope="module")
def grid60():
    return make_grid_dataset(n_time=60)


@pytest.fixture(scope="module")
def model60(grid60):
    return grid60.ann.fit("nee", DRIVERS, seed=0, progress=False)


def test_drivers_are_found_by_name_then_by_standard_name(fitted):
    grid, model = fitted
    assert resolve_drivers_for_prediction(grid, model) == ["t2m", "swdown", "landcover"]
    renamed = grid.rename({"t2m": "tas"})
    assert resolve_drivers_for_prediction(renamed, model) == ["tas", "swdown", "landcover"]
    anonymous = renamed.assign(tas=renamed["tas"].drop_attrs())
    with pytest.raises(KeyError, match=r"\['t2m'\] are missing from the Dataset \(looked up by name and by CF standard_name\)"):
        resolve_drivers_for_prediction(anonymous, model)


def test_driver_types_and_units_are_checked(fitted):
    grid, model = fitted
    with pytest.raises(TypeError, match="driver 'swdown' has dtype <U1, which is not numeric"):
        resolve_drivers_for_prediction(grid.assign(swdown=grid["swdown"].astype(str).str[:1]), model)
    with pytest.raises(ValueError, match="driver 'swdown' has units 'kW m-2'"):
        resolve_drivers_for_prediction(grid.assign(swdown=grid["swdown"].assign_attrs(units="kW m-2")), model)


def test_apply_to_grid_follows_the_target_grid_or_the_drivers_dim_order(fitted):
    grid, model = fitted
    first = apply_to_grid(grid, model, lambda drivers: drivers[:, 0], name="t", attrs={"units": "K"})
    xr.testing.assert_identical(first.coords.to_dataset(), grid["nee"].coords.to_dataset())
    np.testing.assert_array_equal(first.values, grid["t2m"].where(grid["nee"].notnull()).values)
    # without the target, on the drivers' grid in the input's own dim order (not the training order)
    transposed = grid.drop_vars("nee").transpose("lon", "lat", "time")
    assert apply_to_grid(transposed, model, lambda d: d[:, 2], name="f", attrs={}).dims == ("lon", "lat", "time")


def test_apply_to_grid_aligns_differently_chunked_drivers(fitted):
    grid, model = fitted
    lazy = grid.chunk({"time": 6, "lat": 3}).assign(landcover=grid["landcover"].chunk({"lat": 2, "lon": 4}))

    def landcover(drivers):
        return drivers[:, 2]

    result = apply_to_grid(lazy, model, landcover, name="f", attrs={})
    assert result.chunks == ((6, 6, 6, 6), (3, 3), (8,))
    np.testing.assert_array_equal(result.compute().values, apply_to_grid(grid, model, landcover, name="f", attrs={}).values)


# -- lazy prediction on dask-backed Datasets ------------------------------------------------------


def test_predict_is_lazy_and_matches_in_memory(grid60, model60):
    lazy = grid60.chunk({"time": 12, "lat": 3})
    with dask.config.set(scheduler=_refuse):
        predicted = lazy.ann.predict(model60)
    assert isinstance(predicted.data, dask.array.Array)
    assert predicted.chunks == ((12,) * 5, (3, 3), (8,))
    with CountComputes() as counter:
        values = predicted.compute()
    assert counter.count == 1
    xr.testing.assert_allclose(values, grid60.ann.predict(model60))
    xr.testing.assert_identical(values.coords.to_dataset(), grid60["nee"].coords.to_dataset())


@pytest.mark.parametrize("static", ["numpy", "other-chunks"])
def test_static_driver_broadcasts_blockwise_with_the_drivers_chunks(grid60, model60, static):
    lazy = grid60.chunk({"time": 20, "lat": 3, "lon": 4})
    landcover = grid60["landcover"] if static == "numpy" else grid60["landcover"].chunk({"lat": 2, "lon": 8})
    lazy = lazy.assign(landcover=landcover).drop_vars("nee")
    with dask.config.set(scheduler=_refuse):
        predicted = lazy.ann.predict(model60)
    assert predicted.dims == ("time", "lat", "lon")
    assert predicted.chunks == ((20, 20, 20), (3, 3), (4, 4))
    expected = grid60.drop_vars("nee").ann.predict(model60)
    xr.testing.assert_allclose(predicted.compute(), expected)


class LargestResult(Callback):
    """Records the largest array any task returns."""

    def __init__(self):
        super().__init__()
        self.nbytes = 0

    def _posttask(self, key, result, dsk, state, worker_id):
        self.nbytes = max(self.nbytes, getattr(result, "nbytes", 0))


def test_prediction_works_block_by_block(grid60, model60):
    lazy = grid60.chunk({"time": 6})
    predicted = lazy.ann.predict(model60)
    block_bytes = 6 * 6 * 8 * 8
    with LargestResult() as largest:
        total = float(predicted.sum().compute())
    # no task ever holds more than a block (the grid is 10 blocks)
    assert 0 < largest.nbytes <= block_bytes
    assert total == pytest.approx(float(grid60.ann.predict(model60).sum()))
