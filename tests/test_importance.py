"""Permutation importance: values, grouping, regions, dask, errors, and the ranking on the NEE data."""

import numpy as np
import pytest
import xarray as xr

import xrann
from xrann.importance import squared_units

from .conftest import make_grid_dataset


@pytest.fixture(scope="module")
def with_noise():
    """The test grid plus a driver the target does not depend on, and a model using all four."""
    grid = make_grid_dataset()
    noise = np.random.default_rng(5).normal(size=grid["t2m"].shape)
    grid["noise"] = grid["t2m"].copy(data=np.where(np.isnan(grid["t2m"].values), np.nan, noise))
    grid["noise"].attrs = {"units": "1", "long_name": "unrelated noise"}
    model = grid.ann.fit(target="nee", drivers=["t2m", "swdown", "landcover", "noise"], seed=0, epochs=300, progress=False)
    return grid, model


def _mse_with(model, grid, column=None, order=None):
    """MSE on the valid samples, optionally with one driver column permuted by ``order``."""
    valid = np.isfinite(grid["nee"].values)
    columns = [np.broadcast_to(grid[name].values, grid["nee"].shape)[valid] for name in model.drivers]
    matrix = np.stack(columns, axis=1)
    if column is not None:
        matrix[:, column] = matrix[order, column]
    return float(np.mean((model.predict_array(matrix) - grid["nee"].values[valid]) ** 2))


def test_importance_values_and_layout(with_noise):
    grid, model = with_noise
    result = grid.ann.importance(model, n_repeats=4, seed=1)
    assert result["importance"].dims == ("driver",) and list(result["driver"].values) == model.drivers
    assert set(result.data_vars) == {"importance", "importance_std", "baseline_mse", "n_samples"}
    assert result["importance"].attrs["units"] == "umol2 m-4 s-2"
    assert int(result["n_samples"]) == int(grid["nee"].count())
    assert float(result["baseline_mse"]) == pytest.approx(_mse_with(model, grid))
    # the first shuffle of the first driver, reproduced by hand with the same generator
    rng = np.random.default_rng(1)
    first = _mse_with(model, grid, 0, rng.permutation(int(result["n_samples"]))) - _mse_with(model, grid)
    again = grid.ann.importance(model, n_repeats=1, seed=1)
    assert float(again["importance"].sel(driver="t2m")) == pytest.approx(first)
    assert float(again["importance_std"].sel(driver="t2m")) == 0
    importance = result["importance"].to_series()
    assert importance["noise"] < 0.05 * importance.drop("noise").min()
    assert (result["importance_std"] >= 0).all()


def test_same_numbers_on_dask(with_noise):
    grid, model = with_noise
    lazy = grid.chunk({"time": 5, "lat": 3})
    xr.testing.assert_identical(lazy.ann.importance(model, n_repeats=2), grid.ann.importance(model, n_repeats=2))
    xr.testing.assert_identical(
        lazy.ann.importance(model, n_repeats=2, max_samples=300, dim="time.season"),
        grid.ann.importance(model, n_repeats=2, max_samples=300, dim="time.season"),
    )


def test_grouped_by_season(with_noise):
    grid, model = with_noise
    result = grid.ann.importance(model, n_repeats=2, dim="time.season")
    assert result["importance"].dims == ("driver", "season")
    np.testing.assert_array_equal(result["season"].values, ["DJF", "JJA", "MAM", "SON"])
    assert int(result["n_samples"].sum()) == int(grid["nee"].count())
    summer = grid.sel(time=grid.time.dt.season == "JJA")
    assert float(result["baseline_mse"].sel(season="JJA")) == pytest.approx(_mse_with(model, summer))


def test_grouped_by_a_coordinate_and_on_a_region(with_noise):
    grid, model = with_noise
    by_region = grid.ann.importance(model, n_repeats=2, dim="region")
    np.testing.assert_array_equal(by_region["region"].values, ["north", "south"])
    north = grid.where(grid["region"] == "north")
    on_region = north.ann.importance(model, n_repeats=2)
    assert int(on_region["n_samples"]) == int(by_region["n_samples"].sel(region="north"))
    assert float(on_region["baseline_mse"]) == pytest.approx(float(by_region["baseline_mse"].sel(region="north")))


def test_max_samples_draws_a_seeded_subset(with_noise):
    grid, model = with_noise
    result = grid.ann.importance(model, n_repeats=2, max_samples=200, seed=4)
    assert int(result["n_samples"]) == 200
    xr.testing.assert_identical(result, grid.ann.importance(model, n_repeats=2, max_samples=200, seed=4))


def test_errors(with_noise):
    grid, model = with_noise
    with pytest.raises(KeyError, match="importance needs the observed target 'nee'"):
        grid.drop_vars("nee").ann.importance(model)
    with pytest.raises(ValueError, match="n_repeats=0 must be a positive integer"):
        grid.ann.importance(model, n_repeats=0)
    with pytest.raises(KeyError, match=r"\['noise'\] are missing"):
        grid.drop_vars("noise").ann.importance(model)
    with pytest.raises(KeyError, match="dim='time.weekday_of_doom' is neither"):
        grid.ann.importance(model, dim="time.weekday_of_doom")
    with pytest.raises(ValueError, match="no model"):
        xrann.datasets.soil_toy().ann.importance()


def test_squared_units():
    assert squared_units("gC m-2 d-1") == "gC2 m-4 d-2"
    assert squared_units("") == "" and squared_units(None) == ""
    assert squared_units("kg/m2") == "(kg/m2)^2"


# -- the North America NEE data ------------------------------------------------

#: the drivers the generator's process model uses, and two it does not use directly
NEE_USED = ["t2m", "swdown", "vpd", "soilm", "forest_fraction"]
NEE_UNUSED = ["precip", "stand_age"]  # precip acts only through soilm and cloud; stand_age not at all


def _nee_importance(drivers):
    from xrann.datasets.north_america import north_america_nee

    # 3 degrees (36,000 samples) keeps the default full-batch Levenberg-Marquardt fit to seconds
    ds = north_america_nee(resolution=3.0)
    # 8 hidden nodes: the default 4 underfit the process model and, depending on the seed, lean on
    # precip as a stand-in for soil moisture and cloud (it then ranks close to forest_fraction)
    model = ds.ann.fit(target="nee", drivers=drivers, hidden=(8,), seed=0, progress=False)
    importance = ds.ann.importance(model, n_repeats=3, max_samples=20_000)["importance"].to_series()
    return importance.sort_values(ascending=False)


def test_nee_ranking_puts_the_process_model_drivers_first_and_stand_age_near_zero():
    importance = _nee_importance(NEE_USED + NEE_UNUSED)
    assert set(importance.index[: len(NEE_USED)]) == set(NEE_USED)
    assert importance[NEE_USED].min() > 20 * importance[NEE_UNUSED].max()
    assert importance["stand_age"] < 0.01 * importance.iloc[0]
    assert importance.index[0] == "t2m"


def test_nee_ranking_with_a_driver_correlated_with_a_used_one():
    """rh enters NEE only through vpd (Tetens, with t2m), so with rh, t2m and vpd all given the network
    may take the vpd effect partly from rh: rh then ranks above some used drivers, but stays below
    vpd and t2m; the drivers that play no part stay near zero."""
    importance = _nee_importance(NEE_USED + NEE_UNUSED + ["rh"])
    assert importance["rh"] < importance["vpd"] and importance["rh"] < importance["t2m"]
    assert importance[NEE_USED + ["rh"]].min() > 10 * importance[NEE_UNUSED].max()
    assert importance["stand_age"] < 0.01 * importance.iloc[0]
