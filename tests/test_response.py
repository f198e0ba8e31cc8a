"""Response curves (partial dependence): coordinates, values, 2-D surfaces, dask, errors, NEE shape."""

import numpy as np
import pytest
import xarray as xr

import xrann


@pytest.fixture(scope="module")
def moist_model():
    return xrann.datasets.soil_toy().ann.fit(target="co2_flux", seed=0, progress=False)


def test_curve_spans_the_training_range_with_driver_metadata(moist_model):
    ds = xrann.datasets.soil_toy()
    curve = ds.ann.response("soil_moisture", moist_model, n=7)
    assert curve.dims == ("soil_moisture",) and curve.name == "co2_flux_response"
    np.testing.assert_allclose(curve["soil_moisture"].values, np.linspace(34.0, 58.0, 7))
    assert curve["soil_moisture"].attrs["units"] == "%" and curve["soil_moisture"].attrs["long_name"] == "soil moisture"
    assert curve.attrs["units"] == "1" and "partial dependence of co2_flux on soil_moisture" in curve.attrs["long_name"]
    # the mean over the three sites, with each site's own grain size
    grain = ds["grain_size"].values
    expected = [np.mean(moist_model.predict_array(np.column_stack([np.full(3, value), grain]))) for value in curve["soil_moisture"].values]
    np.testing.assert_allclose(curve.values, expected, rtol=1e-12)


def test_two_drivers_give_the_moisture_by_grain_size_surface(moist_model):
    surface = xrann.datasets.soil_toy().ann.response(["soil_moisture", "grain_size"], moist_model, n=5)
    assert surface.dims == ("soil_moisture", "grain_size") and surface.shape == (5, 5)
    # with only these two drivers the surface is the prediction on the grid of their values
    moisture, grain = np.meshgrid(surface["soil_moisture"].values, surface["grain_size"].values, indexing="ij")
    grid = xr.Dataset(
        {"soil_moisture": (("m", "g"), moisture, {"units": "%"}), "grain_size": (("m", "g"), grain, {"units": "mm"})}
    )
    np.testing.assert_allclose(surface.values, grid.ann.predict(moist_model).values, rtol=1e-12)
    np.testing.assert_allclose(surface["grain_size"].values, np.linspace(0.3, 1.3, 5))


def test_dask_and_subsampling(fitted):
    grid, model = fitted
    curve = grid.ann.response("t2m", model, n=6, max_samples=100, seed=2)
    assert curve.attrs["long_name"].endswith("(mean prediction over 100 grid points, other drivers as observed)")
    xr.testing.assert_identical(grid.chunk({"time": 5}).ann.response("t2m", model, n=6, max_samples=100, seed=2), curve)
    every = grid.ann.response("t2m", model, n=6, max_samples=None)
    assert f"over {int(grid['nee'].count())} grid points" in every.attrs["long_name"]
    by_standard_name = grid.ann.response("air_temperature", model, n=6, max_samples=100, seed=2)
    xr.testing.assert_identical(by_standard_name, curve)


def test_errors(moist_model):
    ds = xrann.datasets.soil_toy()
    with pytest.raises(KeyError, match=r"driver 'clay' is not one of the model's drivers \['soil_moisture', 'grain_size'\]"):
        ds.ann.response("clay", moist_model)
    with pytest.raises(ValueError, match="give one driver for a curve or two different drivers"):
        ds.ann.response(["soil_moisture", "soil_moisture"], moist_model)
    with pytest.raises(ValueError, match="n=1 must be an integer of at least 2"):
        ds.ann.response("soil_moisture", moist_model, n=1)
    with pytest.raises(KeyError, match=r"\['grain_size'\] are missing"):
        ds.drop_vars("grain_size").ann.response("soil_moisture", moist_model)
    with pytest.raises(ValueError, match="no grid point of the Dataset has finite values"):
        (ds * np.nan).ann.response("soil_moisture", moist_model)


def test_nee_decreases_with_shortwave_radiation_in_summer():
    from xrann.datasets.north_america import north_america_nee

    ds = north_america_nee(resolution=3.0)  # 36,000 samples keep the default full-batch Levenberg-Marquardt fit quick
    drivers = ["t2m", "swdown", "vpd", "soilm", "forest_fraction", "precip", "rh", "stand_age"]
    model = ds.ann.fit(target="nee", drivers=drivers, seed=0, progress=False)
    curve = ds.sel(time=ds.time.dt.season == "JJA").ann.response("swdown", model, n=20)
    assert curve["swdown"].attrs["units"] == "W m-2"
    assert bool((curve.diff("swdown") < 0).all())
    assert float(curve[0] - curve[-1]) > 2.0
