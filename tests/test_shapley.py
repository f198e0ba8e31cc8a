"""Shapley values on the grid (xrann.shapley): known truth, efficiency, backgrounds, dask, ensembles, bad input."""

from __future__ import annotations

import dataclasses
import itertools
import math

import dask
import numpy as np
import pandas as pd
import pytest
import xarray as xr

# short fits are intended here: the Shapley values of whatever model is fitted are checked
pytestmark = pytest.mark.filterwarnings("ignore::xrann.core.engine.ConvergenceWarning")

import xrann
from xrann.core.network import SigmoidNetwork
from xrann.core.scaling import MinMaxScaler
from xrann.shapley import shapley_values


def _raise_on_compute(*args, **kwargs):
    raise AssertionError("building the lazy result computed something")


def _additive_dataset(n_time: int = 12, n_lat: int = 10, n_lon: int = 12, seed: int = 0) -> xr.Dataset:
    """y = g1(x1) + g2(x2) + g3(x3); x4 is ignored by the target."""
    rng = np.random.default_rng(seed)
    shape = (n_time, n_lat, n_lon)
    x = {f"x{i}": rng.uniform(-1, 1, shape) for i in range(1, 5)}
    y = np.sin(2 * x["x1"]) + x["x2"] ** 2 + 0.8 * x["x3"]
    coords = {"time": pd.date_range("2001-01-01", periods=n_time, freq="MS"), "lat": np.arange(n_lat) + 30.5, "lon": np.arange(n_lon) - 100.5}
    data = {name: (("time", "lat", "lon"), values, {"units": "1"}) for name, values in x.items()}
    data["y"] = (("time", "lat", "lon"), y, {"units": "1"})
    return xr.Dataset(data, coords=coords)


@pytest.fixture(scope="module")
def additive():
    ds = _additive_dataset()
    model = ds.ann.fit(target="y", drivers=["x1", "x2", "x3", "x4"], hidden=(8,), seed=0, progress=False)
    return ds, model


def brute_force(model, points: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Shapley values from the definition, with the model's public predict_array."""
    d = points.shape[1]
    result = np.zeros_like(points)
    for row, x in enumerate(points):
        def value(subset):
            z = background.copy()
            z[:, list(subset)] = x[list(subset)]
            return model.predict_array(z).mean()
        for i in range(d):
            others = [j for j in range(d) if j != i]
            for size in range(d):
                weight = math.factorial(size) * math.factorial(d - size - 1) / math.factorial(d)
                for subset in itertools.combinations(others, size):
                    result[row, i] += weight * (value(subset + (i,)) - value(subset))
    return result


def test_tracks_the_additive_truth_and_ignores_the_dummy(additive):
    ds, model = additive
    background = ds.isel(time=slice(0, 2), lat=slice(0, 4))
    phi = shapley_values(ds, model, background=background, max_background=60)
    assert phi.dims == ("driver", "time", "lat", "lon")
    assert phi.name == "y_shapley" and phi.attrs["units"] == "1"
    truths = {"x1": np.sin(2 * ds["x1"]), "x2": ds["x2"] ** 2, "x3": 0.8 * ds["x3"]}
    for name, truth in truths.items():
        r = np.corrcoef(phi.sel(driver=name).values.ravel(), truth.values.ravel())[0, 1]
        assert r > 0.95, (name, r)
    spread = float(phi.sel(driver="x1").std())
    assert float(np.abs(phi.sel(driver="x4")).mean()) < 0.1 * spread


def test_efficiency_against_predict_and_coordinates_kept(additive):
    ds, model = additive
    original = ds.copy(deep=True)
    phi = shapley_values(ds, model, max_background=20)
    predicted = ds.ann.predict(model)
    np.testing.assert_allclose((phi.sum("driver") + phi.base_value).values, predicted.values, rtol=1e-8, atol=0)
    xr.testing.assert_identical(phi.sel(driver="x1", drop=True).drop_vars("base_value").coords.to_dataset(), predicted.coords.to_dataset())
    assert phi.base_value.attrs["units"] == "1"
    xr.testing.assert_identical(ds, original)  # never modified


def test_exact_agreement_with_brute_force_on_a_tiny_network():
    ds = _additive_dataset(n_time=2, n_lat=2, n_lon=3)
    model = ds.ann.fit(target="y", drivers=["x1", "x2", "x3"], hidden=(3,), seed=1, epochs=30, progress=False)
    background = ds.isel(time=[0])
    phi = shapley_values(ds, model, background=background, max_background=4)
    drawn = xrann.shapley._draw_background(background, model, 4, 0, "test")
    points = np.stack([ds[name].values.ravel() for name in model.drivers], axis=1)
    expected = brute_force(model, points, drawn)
    got = phi.transpose("time", "lat", "lon", "driver").values.reshape(-1, 3)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


def test_symmetric_drivers_get_equal_values(additive):
    ds, model = additive
    twin = ds.assign(x2=ds["x1"])  # x1 and x2 hold the same values
    weights = [np.array(w) for w in model.core.weights]
    weights[0][1] = weights[0][0]  # and enter the network alike
    scaler = MinMaxScaler(np.array([-1.0, -1.0, -1.0, -1.0]), np.array([1.0, 1.0, 1.0, 1.0]), model.driver_scaler.feature_range)
    symmetric = dataclasses.replace(model, core=SigmoidNetwork(weights, [np.array(b) for b in model.core.biases]), driver_scaler=scaler)
    phi = shapley_values(twin, symmetric, background="climatology")
    np.testing.assert_allclose(phi.sel(driver="x1").values, phi.sel(driver="x2").values, atol=1e-13)


def test_climatology_background_is_each_cells_seasonal_normal(additive):
    ds, model = additive
    doubled = xr.concat([ds, ds.assign_coords(time=pd.date_range("2002-01-01", periods=12, freq="MS"))], "time")
    phi = shapley_values(doubled, model, background="climatology")
    # both years are identical, so every point equals its normal: all values 0, base = prediction
    np.testing.assert_allclose(phi.values, 0.0, atol=1e-12)
    np.testing.assert_allclose(phi.base_value.values, doubled.ann.predict(model).values, rtol=1e-12)


def test_dask_is_lazy_and_equals_numpy_with_an_extra_dim(additive):
    ds, model = additive
    scenarios = xr.concat([ds, ds * 0.5], dim=pd.Index(["a", "b"], name="scenario"))
    eager = shapley_values(scenarios, model, background="climatology")
    assert eager.dims == ("driver", "scenario", "time", "lat", "lon")  # the extra dim stays where it stands
    single = shapley_values(ds * 0.5, model, background="climatology")
    np.testing.assert_allclose(eager.sel(scenario="b").values, single.values, rtol=1e-12)
    lazy_input = scenarios.chunk({"time": 5, "lat": 4})
    with dask.config.set(scheduler=_raise_on_compute):
        lazy = shapley_values(lazy_input, model, background="climatology")
    assert isinstance(lazy.data, dask.array.Array) and isinstance(lazy.base_value.data, dask.array.Array)
    xr.testing.assert_allclose(lazy.compute(), eager)


def test_groups_share_one_value(additive):
    ds, model = additive
    single = shapley_values(ds, model, max_background=10)
    grouped = shapley_values(ds, model, max_background=10, groups={"pair": ["x1", "x4"]})
    assert grouped.driver.values.tolist() == ["pair", "x2", "x3"]
    np.testing.assert_allclose(grouped.sum("driver").values, single.sum("driver").values, rtol=1e-10)


def test_sampling_reports_a_standard_error(additive):
    ds, model = additive
    small = ds.isel(time=slice(0, 2))
    exact = shapley_values(small, model, max_background=10)
    sampled = shapley_values(small, model, max_background=10, method="sampling", n_pairs=16)
    error = sampled.standard_error
    assert error.dims == sampled.dims and float(error.max()) > 0
    assert float((np.abs(sampled - exact) <= 4 * error + 1e-12).mean()) > 0.95
    np.testing.assert_allclose(sampled.sum("driver").values, exact.sum("driver").values, rtol=1e-10)


def test_ensembles_members_and_mean(additive):
    ds, _ = additive
    small = ds.isel(time=slice(0, 3))
    ensemble = small.ann.fit(target="y", drivers=["x1", "x2", "x3"], hidden=(4,), seed=0, members=2, epochs=20, progress=False)
    per_member = shapley_values(small, ensemble, members=True, max_background=10)
    assert per_member.dims == ("driver", "member", "time", "lat", "lon")
    mean = shapley_values(small, ensemble, max_background=10)
    np.testing.assert_allclose(mean.values, per_member.mean("member").values, rtol=1e-12)
    np.testing.assert_allclose((mean.sum("driver") + mean.base_value).values, small.ann.predict(ensemble).values, rtol=1e-8)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"background": "normal"}, ValueError, r"background='normal' is not known; pass 'climatology'"),
        ({"background": {"depth": 0}}, ValueError, r"names dims \['depth'\] that the Dataset lacks"),
        ({"background": 3}, TypeError, r"background must be None, 'climatology', a Dataset or a selection dict"),
        ({"method": "kernel"}, ValueError, r"method='kernel' is not known"),
        ({"members": True}, ValueError, r"members=True needs an ensemble"),
        ({"groups": {"g": ["nope"]}}, ValueError, r"groups\['g'\] names \['nope'\]"),
        ({"max_background": 0}, ValueError, r"max_background=0 must be a positive integer"),
    ],
)
def test_bad_arguments(additive, kwargs, error, match):
    ds, model = additive
    with pytest.raises(error, match=match):
        shapley_values(ds, model, **kwargs)


def test_bad_backgrounds(additive):
    ds, model = additive
    with pytest.raises(KeyError, match=r"needs drivers .* \['x4'\] are missing"):
        shapley_values(ds, model, background=ds.drop_vars("x4"))
    with pytest.raises(ValueError, match=r"background \(the given Dataset\) has no point where every driver"):
        shapley_values(ds, model, background=ds.where(ds.x1 > 5))
    with pytest.raises(ValueError, match="has no point where every driver"):
        shapley_values(ds, model, background={"time": slice("1990", "1991")})
    with pytest.raises(ValueError, match="needs a datetime dim"):
        shapley_values(ds.isel(time=0), model, background="climatology")


def test_too_many_drivers_for_exact_enumeration():
    rng = np.random.default_rng(0)
    names = [f"d{i}" for i in range(15)]
    ds = xr.Dataset({name: ("x", rng.random(30)) for name in names + ["y"]})
    model = ds.ann.fit(target="y", drivers=names, hidden=(2,), epochs=2, seed=0, progress=False)
    with pytest.raises(ValueError, match=r"method='exact' enumerates 2\*\*15 coalitions .* pass method='sampling'"):
        shapley_values(ds, model)
    phi = shapley_values(ds.isel(x=slice(0, 3)), model, method="sampling", n_pairs=2, max_background=5)
    assert phi.sizes["driver"] == 15 and "standard_error" in phi.coords


def test_a_model_with_recipe_drivers_is_explained_from_the_raw_variables():
    from xrann import features as F

    ds = xrann.datasets.north_america_nee(resolution=10.0, start="2009-01", end="2011-12")
    drivers = ["t2m", "swdown", F.lag("precip", 1), F.anomaly("soilm")]
    model = ds.ann.fit(target="nee", drivers=drivers, seed=0, epochs=20, progress=False)
    assert model.drivers == ["t2m", "swdown", "precip_lag1", "soilm_anomaly"]
    predicted = ds.ann.predict(model)
    for background in (None, "climatology", ds.sel(time="2010")):
        phi = shapley_values(ds, model, background=background, max_background=20)
        assert phi.driver.values.tolist() == model.drivers
        total = phi.sum("driver", skipna=False) + phi.base_value
        np.testing.assert_allclose(total.values, predicted.values, rtol=1e-8, atol=1e-10)  # NaN where the lag has no value
    attribution = xrann.anomaly_attribution(ds, model, period=2011, reference=[2009, 2010])
    np.testing.assert_allclose(float(attribution["contribution"].sum("driver")), float(attribution["anomaly"]), rtol=1e-8)
    assert "precip_lag1" not in ds  # the user's Dataset is left alone
