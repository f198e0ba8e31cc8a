"""xrann.evaluation and ds.ann.evaluate: scores, series, maps, seasonal cycle, budgets, units, periods;
and the linear baseline through the same interface."""

import dask.array as da
import numpy as np
import pandas as pd
import pytest
import xarray as xr

import xrann
from xrann import metrics
from xrann.evaluation import (
    annual_budget,
    area_weights,
    carbon_flux_factor,
    evaluate,
    evaluate_predictions,
    find_cell_area,
    time_step_seconds,
)

DRIVERS = ["t2m", "swdown", "landcover"]
SECONDS_PER_DAY = 86400.0


def spherical_area(lat, lon, step=1.0):
    radius = 6_371_000.0
    south, north = np.deg2rad(lat - step / 2), np.deg2rad(lat + step / 2)
    band = np.sin(north) - np.sin(south)
    return radius**2 * np.deg2rad(step) * band[:, None] * np.ones(len(lon))[None, :]


@pytest.fixture
def gridded(grid):
    """The shared test grid with a CF cell-area measure (ocean cells keep their area)."""
    area = spherical_area(grid["lat"].values, grid["lon"].values)
    ds = grid.assign(cell_area=(("lat", "lon"), area, {"units": "m2", "standard_name": "cell_area", "long_name": "cell area"}))
    ds["nee"].attrs["cell_measures"] = "area: cell_area"
    return ds


@pytest.fixture
def fitted_gridded(gridded):
    model = gridded.ann.fit(target="nee", drivers=DRIVERS, seed=0, epochs=300, progress=False)
    return gridded, model


def test_evaluate_contents_attrs_and_dims(fitted_gridded):
    ds, model = fitted_gridded
    result = evaluate(ds, model)
    expected = {"r2", "rmse", "mae", "bias", "pearson_r", "n_samples", "regional_mean", "temporal_r",
                "seasonal_cycle", "mean_map", "spatial_r", "budget", "iav"}
    assert set(result.data_vars) == expected
    for name, variable in result.data_vars.items():
        assert variable.attrs.get("units"), name
        assert variable.attrs.get("long_name"), name
    assert result["source"].values.tolist() == ["observed", "predicted"]
    assert result["regional_mean"].dims == ("source", "time")
    assert result["seasonal_cycle"].dims == ("source", "month")
    assert result["month"].values.tolist() == list(range(1, 13))
    assert result["mean_map"].dims == ("source", "lat", "lon")
    assert result["budget"].dims == ("source", "year")
    assert result["year"].values.tolist() == [2007, 2008]
    assert result["iav"].dims == ("source",)
    assert result.attrs["weighting"] == "cell area"
    assert result["rmse"].attrs["weighting"] == "cell area"
    assert result.attrs["target"] == "nee" and result.attrs["method"] == "ann"
    assert result["budget"].attrs["units"] == "PgC yr-1"
    assert int(result["n_samples"]) == 24 * 45


def test_evaluate_values_match_hand_computation(fitted_gridded):
    ds, model = fitted_gridded
    result = evaluate(ds, model)
    obs, pred = ds["nee"], ds.ann.predict(model)
    area = ds["cell_area"]
    np.testing.assert_allclose(result["rmse"], metrics.rmse(obs, pred, weights=area))
    np.testing.assert_allclose(result["r2"], metrics.r2(obs, pred, weights=area))

    valid = np.isfinite(obs.values) & np.isfinite(pred.values)
    w = np.where(valid, area.values[None], 0.0)
    series_obs = np.nansum(np.where(valid, obs.values, 0) * w, axis=(1, 2)) / w.sum(axis=(1, 2))
    series_pred = np.nansum(np.where(valid, pred.values, 0) * w, axis=(1, 2)) / w.sum(axis=(1, 2))
    np.testing.assert_allclose(result["regional_mean"].sel(source="observed"), series_obs)
    np.testing.assert_allclose(result["temporal_r"], np.corrcoef(series_obs, series_pred)[0, 1])
    np.testing.assert_allclose(
        result["seasonal_cycle"].sel(source="predicted"), series_pred.reshape(2, 12).mean(axis=0)
    )

    map_obs = obs.where(valid).mean("time").values
    np.testing.assert_allclose(result["mean_map"].sel(source="observed"), map_obs)
    land = np.isfinite(map_obs)
    map_pred = pred.where(valid).mean("time").values
    np.testing.assert_allclose(
        result["spatial_r"],
        metrics.pearson_r(xr.DataArray(map_obs[land]), xr.DataArray(map_pred[land]), weights=xr.DataArray(area.values[land])),
    )

    days = ds["time"].dt.days_in_month.values
    grams = np.nansum(np.where(valid, obs.values, 0) * area.values[None], axis=(1, 2)) * days * SECONDS_PER_DAY * 12.011e-6
    expected = grams.reshape(2, 12).sum(axis=1) / 1e15
    np.testing.assert_allclose(result["budget"].sel(source="observed"), expected)
    np.testing.assert_allclose(result["iav"].sel(source="observed"), np.std(expected, ddof=1))


def test_accessor_evaluate_delegates(fitted_gridded):
    ds, model = fitted_gridded
    xr.testing.assert_identical(ds.ann.evaluate(model, period=[2008]), evaluate(ds, model, period=[2008]))
    fresh = ds.copy()
    fresh.ann.fit(target="nee", drivers=DRIVERS, seed=0, progress=False)
    assert float(fresh.ann.evaluate()["r2"]) <= 1
    with pytest.raises(ValueError, match="no model"):
        ds.copy().ann.evaluate()


def test_period_years_and_slices(fitted_gridded):
    ds, model = fitted_gridded
    by_year = evaluate(ds, model, period=[2008])
    assert by_year["year"].values.tolist() == [2008]
    assert by_year.sizes["time"] == 12
    assert int(by_year["n_samples"]) == 12 * 45
    assert np.isnan(float(by_year["iav"].sel(source="observed")))
    by_slice = evaluate(ds, model, period=slice("2008-01", "2008-12"))
    xr.testing.assert_allclose(by_slice.drop_attrs(), by_year.drop_attrs())
    single = evaluate(ds, model, period=2007)
    assert single["year"].values.tolist() == [2007]


def test_bad_period_raises(fitted_gridded):
    ds, model = fitted_gridded
    with pytest.raises(ValueError, match=r"period=\[1999\]: years \[1999\] are not in dim 'time'"):
        evaluate(ds, model, period=[1999])
    with pytest.raises(ValueError, match="selects no time"):
        evaluate(ds, model, period=slice("1990-01", "1990-12"))


def test_evaluate_needs_the_target(fitted_gridded):
    ds, model = fitted_gridded
    with pytest.raises(KeyError, match="evaluate needs the observed target 'nee'"):
        evaluate(ds.drop_vars("nee"), model)


def test_cos_latitude_and_estimated_area_without_cell_measure(fitted_gridded):
    ds, model = fitted_gridded
    plain = ds.drop_vars("cell_area")
    del plain["nee"].attrs["cell_measures"]
    result = evaluate(plain, model)
    assert result.attrs["weighting"] == "cos(latitude)"
    assert "sphere" in result.attrs["budget_area"]
    with_area = evaluate(ds, model)
    # cos(latitude) and spherical cell areas are nearly proportional on a 1-degree grid
    np.testing.assert_allclose(result["rmse"], with_area["rmse"], rtol=1e-3)
    # the estimated areas reproduce the cell-area budgets (same spherical formula)
    np.testing.assert_allclose(result["budget"], with_area["budget"], rtol=1e-9)


def test_flux_units_convert_to_the_same_budget():
    time = pd.date_range("2007-01-01", periods=24, freq="MS")
    area = xr.DataArray([1e12, 3e12], dims="cell")
    umol = xr.DataArray(np.full((24, 2), 2.0), dims=("time", "cell"), coords={"time": time})
    expected = annual_budget(umol, area, units="umol m-2 s-1")
    # 2 umol m-2 s-1 over 4e12 m2: 12.011e-6 * 2 * 4e12 * seconds of the year / 1e15
    np.testing.assert_allclose(expected, [12.011e-6 * 8e12 * 365 * 86400 / 1e15, 12.011e-6 * 8e12 * 366 * 86400 / 1e15])
    gc_per_m2_s = 2.0 * 12.011e-6
    equivalents = {
        "µmol m-2 s-1": 2.0,
        "umol CO2 m-2 s-1": 2.0,
        "umol/m2/s": 2.0,
        "mol m-2 s-1": 2e-6,
        "gC m-2 d-1": gc_per_m2_s * 86400,
        "g C m-2 day-1": gc_per_m2_s * 86400,
        "kgC m-2 s-1": gc_per_m2_s / 1000,
    }
    for units, value in equivalents.items():
        np.testing.assert_allclose(annual_budget(umol * 0 + value, area, units=units), expected, rtol=1e-12, err_msg=units)
    assert expected.attrs["units"] == "PgC yr-1"


def test_unknown_units_skip_budgets_or_raise(fitted_gridded):
    ds, model = fitted_gridded
    odd = ds.copy()
    odd["nee"] = odd["nee"].assign_attrs(units="W m-2")
    result = evaluate(odd, model)
    assert "budget" not in result and "iav" not in result
    assert "rmse" in result
    with pytest.raises(ValueError, match=r"cannot convert a flux in units 'W m-2' to a carbon budget; xrann converts"):
        evaluate(odd, model, budgets=True)
    with pytest.raises(ValueError, match="cannot convert a flux in units None"):
        carbon_flux_factor(None)


def test_budgets_are_skipped_or_refused_when_they_cannot_be_computed():
    irregular = pd.to_datetime(["2007-01-01", "2007-01-02", "2007-03-01", "2007-03-05"])
    obs = xr.DataArray(np.arange(8.0).reshape(4, 2), dims=("time", "lat"), coords={"time": irregular, "lat": [10.0, 20.0]},
                       attrs={"units": "umol m-2 s-1"})
    result = evaluate_predictions(obs, obs + 1, cell_area=xr.DataArray([1.0, 1.0], dims="lat"))
    assert "budget" not in result and "temporal_r" in result
    with pytest.raises(ValueError, match="the time step of 'time' is irregular"):
        evaluate_predictions(obs, obs + 1, cell_area=xr.DataArray([1.0, 1.0], dims="lat"), budgets=True)
    regular = obs.assign_coords(time=pd.date_range("2007-01-01", periods=4, freq="MS"))
    assert "budget" not in evaluate_predictions(regular, regular, budgets=False)
    with pytest.raises(ValueError, match="budgets need cell areas"):
        evaluate_predictions(regular, regular, budgets=True)  # one longitude: no cell area to estimate
    with pytest.raises(ValueError, match="budgets=True needs a datetime dim"):
        evaluate_predictions(obs.isel(time=0), obs.isel(time=0), budgets=True)


def test_time_step_seconds():
    monthly = xr.DataArray(pd.date_range("2008-01-01", periods=3, freq="MS"), dims="time")
    assert (time_step_seconds(monthly) / SECONDS_PER_DAY).values.tolist() == [31, 29, 31]
    mid_month = xr.DataArray(pd.to_datetime(["2007-01-16", "2007-02-15", "2007-03-16"]), dims="time")
    assert (time_step_seconds(mid_month) / SECONDS_PER_DAY).values.tolist() == [31, 28, 31]
    noleap = xr.DataArray(xr.date_range("2008-01-01", periods=3, freq="MS", calendar="noleap", use_cftime=True), dims="time")
    assert (time_step_seconds(noleap) / SECONDS_PER_DAY).values.tolist() == [31, 28, 31]
    daily = xr.DataArray(pd.date_range("2008-01-01", periods=4, freq="D"), dims="time")
    assert time_step_seconds(daily).values.tolist() == [86400.0] * 4
    yearly = xr.DataArray(pd.date_range("2007-01-01", periods=2, freq="YS"), dims="time")
    assert (time_step_seconds(yearly) / SECONDS_PER_DAY).values.tolist() == [365, 366]
    irregular = xr.DataArray(pd.to_datetime(["2007-01-01", "2007-01-02", "2007-03-01"]), dims="time")
    with pytest.raises(ValueError, match="the time step of 'time' is irregular"):
        time_step_seconds(irregular)
    with pytest.raises(ValueError, match="from 1 stamp"):
        time_step_seconds(monthly[:1])


def test_find_cell_area():
    ds = xr.Dataset(
        {
            "nee": ("x", [1.0, 2.0], {"cell_measures": "area: areacella"}),
            "areacella": ("x", [1.0, 2.0], {"units": "km2"}),
        }
    )
    np.testing.assert_array_equal(find_cell_area(ds, "nee"), [1e6, 2e6])
    assert find_cell_area(ds, "nee").attrs["units"] == "m2"
    assert find_cell_area(xr.Dataset({"nee": ("x", [1.0])}), "nee") is None
    with pytest.raises(ValueError, match="has no variable 'areacella'"):
        find_cell_area(ds.drop_vars("areacella"), "nee")
    with pytest.raises(ValueError, match="has units 'acres'"):
        find_cell_area(ds.assign(areacella=ds["areacella"].assign_attrs(units="acres")), "nee")


def test_area_weights_fallbacks():
    data = xr.DataArray(np.ones((2, 3)), dims=("lat", "lon"), coords={"lat": [0.0, 60.0], "lon": [0.0, 1.0, 2.0]})
    np.testing.assert_allclose(area_weights(data), [1.0, 0.5])
    assert area_weights(xr.DataArray([1.0], dims="site")) is None
    area = xr.DataArray([[1.0, np.nan, 2.0]] * 2, dims=("lat", "lon"))
    np.testing.assert_array_equal(area_weights(data, area), [[1.0, 0.0, 2.0]] * 2)


def test_evaluate_predictions_without_time_gives_overall_scores_only():
    obs = xr.DataArray([1.0, 2.0, 3.0], dims="site")
    result = evaluate_predictions(obs, obs + 1)
    assert set(result.data_vars) == {"r2", "rmse", "mae", "bias", "pearson_r", "n_samples"}
    assert result.attrs["weighting"] == "unweighted"
    assert float(result["bias"]) == 1.0


def test_dask_backed_input_stays_lazy(fitted_gridded):
    ds, model = fitted_gridded
    lazy = ds.chunk({"time": 6})
    result = evaluate(lazy, model)
    assert isinstance(result["rmse"].data, da.Array)
    assert isinstance(result["budget"].data, da.Array)
    xr.testing.assert_allclose(result.compute(), evaluate(ds, model))


def test_user_dataset_is_not_modified(fitted_gridded):
    ds, model = fitted_gridded
    before = ds.copy(deep=True)
    evaluate(ds, model, period=[2008])
    xr.testing.assert_identical(ds, before)


# -- the linear baseline: same interface as the network ------------------------------------------
def test_linear_baseline_evaluates_round_trips_and_differs(fitted_gridded, tmp_path):
    ds, network = fitted_gridded
    linear = ds.ann.fit(target="nee", drivers=DRIVERS, method="linear", validation={"time": [2008]}, progress=False)
    assert linear.method == "linear"
    result = ds.ann.evaluate(linear, period=[2008])
    assert result.attrs["method"] == "linear"
    assert np.isfinite(float(result["rmse"])) and np.isfinite(float(result["temporal_r"]))

    path = tmp_path / "linear.nc"
    linear.to_netcdf(path)
    reopened = xrann.open_model(path)
    assert reopened.method == "linear"
    xr.testing.assert_identical(ds.ann.predict(reopened), ds.ann.predict(linear))

    linear_prediction = ds.ann.predict(linear)
    network_prediction = ds.ann.predict(network)
    xr.testing.assert_equal(np.isnan(linear_prediction), np.isnan(network_prediction))
    assert float(abs(linear_prediction - network_prediction).max()) > 0.05
    # the target is non-linear in the drivers: the network beats the least-squares plane
    assert float(evaluate(ds, network)["rmse"]) < float(evaluate(ds, linear)["rmse"])


def test_counts_and_budgets_do_not_inherit_the_flux_or_time_attributes():
    ds = xrann.datasets.north_america_nee(resolution=10.0, start="2009-01", end="2011-12")
    model = ds.ann.fit("nee", ["t2m", "swdown", "soilm"], seed=0, epochs=5, progress=False)
    result = ds.ann.evaluate(model)
    assert result["n_samples"].attrs == {"long_name": "number of points where observation and prediction are both finite", "units": "1"}
    for name in ("budget", "iav"):  # not the time coordinate's standard_name and axis, nor the flux's cell_measures
        assert set(result[name].attrs) == {"units", "long_name"} and result[name].attrs["units"] == "PgC yr-1"


def test_the_observed_target_is_found_by_its_cf_standard_name_as_drivers_are():
    ds = xrann.datasets.north_america_nee(resolution=10.0, start="2009-01", end="2010-12")
    model = ds.ann.fit("nee", ["t2m", "swdown", "soilm"], seed=0, epochs=5, progress=False)
    renamed = ds.rename(nee="co2_flux")  # keeps standard_name surface_upward_mole_flux_of_carbon_dioxide
    expected = ds.ann.evaluate(model)
    found = renamed.ann.evaluate(model)
    np.testing.assert_allclose(found["r2"], expected["r2"], rtol=1e-12)
    assert found.attrs["target"] == "co2_flux"
    with pytest.raises(KeyError, match=r"evaluate needs the observed target 'nee'.*by CF standard_name.*Use ds.ann.predict"):
        ds.drop_vars("nee").ann.evaluate(model)
