"""xrann.metrics: values against numpy, NaN handling, weights, dims, dask laziness, bad input."""

import warnings

import dask.array as da
import numpy as np
import pytest
import xarray as xr

from xrann import metrics


@pytest.fixture
def pair():
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(5, 4))
    pred = obs + rng.normal(scale=0.5, size=(5, 4))
    obs[0, 0] = np.nan
    pred[1, 2] = np.inf
    coords = {"time": np.arange(5), "lat": [10.0, 20.0, 30.0, 40.0]}
    return (
        xr.DataArray(obs, dims=("time", "lat"), coords=coords, attrs={"units": "umol m-2 s-1"}),
        xr.DataArray(pred, dims=("time", "lat"), coords=coords),
    )


def _valid(obs, pred):
    mask = np.isfinite(obs.values) & np.isfinite(pred.values)
    return obs.values[mask], pred.values[mask]


def test_scores_match_numpy_on_joint_valid_points(pair):
    obs, pred = pair
    o, p = _valid(obs, pred)
    assert o.size == 18
    np.testing.assert_allclose(metrics.rmse(obs, pred), np.sqrt(np.mean((p - o) ** 2)))
    np.testing.assert_allclose(metrics.mae(obs, pred), np.mean(np.abs(p - o)))
    np.testing.assert_allclose(metrics.bias(obs, pred), np.mean(p - o))
    np.testing.assert_allclose(metrics.r2(obs, pred), 1 - np.sum((p - o) ** 2) / np.sum((o - o.mean()) ** 2))
    np.testing.assert_allclose(metrics.pearson_r(obs, pred), np.corrcoef(o, p)[0, 1])


def test_result_names_units_and_long_names(pair):
    obs, pred = pair
    for name, function in metrics.SCORES.items():
        result = function(obs, pred)
        assert result.name == name
        assert result.dims == ()
        assert result.attrs["long_name"]
    assert metrics.rmse(obs, pred).attrs["units"] == "umol m-2 s-1"
    assert metrics.bias(obs, pred).attrs["units"] == "umol m-2 s-1"
    assert metrics.r2(obs, pred).attrs["units"] == "1"
    assert metrics.pearson_r(obs, pred).attrs["units"] == "1"


def test_reduce_over_one_dim_keeps_the_other(pair):
    obs, pred = pair
    result = metrics.rmse(obs, pred, dim="time")
    assert result.dims == ("lat",)
    xr.testing.assert_equal(result["lat"], obs["lat"])
    for j in range(4):
        o, p = _valid(obs.isel(lat=j), pred.isel(lat=j))
        np.testing.assert_allclose(result.values[j], np.sqrt(np.mean((p - o) ** 2)))
    per_lat = metrics.pearson_r(obs, pred, dim=["time"])
    o, p = _valid(obs.isel(lat=3), pred.isel(lat=3))
    np.testing.assert_allclose(per_lat.values[3], np.corrcoef(o, p)[0, 1])


def test_weights_give_weighted_means(pair):
    obs, pred = pair
    weights = xr.DataArray([1.0, 2.0, 0.0, np.nan], dims="lat", coords={"lat": obs["lat"]})
    w = np.broadcast_to(np.nan_to_num(weights.values), obs.shape)
    mask = np.isfinite(obs.values) & np.isfinite(pred.values)
    o, p, w = obs.values[mask], pred.values[mask], w[mask]
    np.testing.assert_allclose(metrics.bias(obs, pred, weights=weights), np.sum(w * (p - o)) / np.sum(w))
    mean_o, mean_p = np.sum(w * o) / w.sum(), np.sum(w * p) / w.sum()
    covariance = np.sum(w * (o - mean_o) * (p - mean_p))
    expected_r = covariance / np.sqrt(np.sum(w * (o - mean_o) ** 2) * np.sum(w * (p - mean_p) ** 2))
    np.testing.assert_allclose(metrics.pearson_r(obs, pred, weights=weights), expected_r)
    expected_r2 = 1 - np.sum(w * (p - o) ** 2) / np.sum(w * (o - mean_o) ** 2)
    np.testing.assert_allclose(metrics.r2(obs, pred, weights=weights), expected_r2)


def test_perfect_prediction():
    obs = xr.DataArray([1.0, 2.0, 4.0])
    assert float(metrics.r2(obs, obs)) == 1.0
    assert float(metrics.rmse(obs, obs)) == 0.0
    np.testing.assert_allclose(metrics.pearson_r(obs, obs), 1.0)


def test_no_valid_point_or_constant_series_is_nan_without_warning():
    obs = xr.DataArray([np.nan, 1.0, 2.0])
    pred = xr.DataArray([1.0, np.nan, np.nan])
    constant = xr.DataArray([3.0, 3.0, 3.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for function in metrics.SCORES.values():
            assert np.isnan(float(function(obs, pred)))
        assert np.isnan(float(metrics.pearson_r(constant, xr.DataArray([1.0, 2.0, 3.0]))))
        assert np.isnan(float(metrics.r2(constant, xr.DataArray([1.0, 2.0, 3.0]))))


def test_dask_input_stays_lazy_and_matches(pair):
    obs, pred = pair
    lazy_obs = obs.copy(data=da.from_array(obs.values, chunks=(2, 2)))
    lazy_pred = pred.copy(data=da.from_array(pred.values, chunks=(2, 2)))
    for function in metrics.SCORES.values():
        result = function(lazy_obs, lazy_pred, dim="time")
        assert isinstance(result.data, da.Array), function.__name__
        np.testing.assert_allclose(result.compute().values, function(obs, pred, dim="time").values)


def test_scores_dataset(pair):
    obs, pred = pair
    result = metrics.scores(obs, pred, dim="lat")
    assert sorted(result.data_vars) == ["bias", "mae", "n_samples", "pearson_r", "r2", "rmse"]
    assert result["n_samples"].values.tolist() == [3, 3, 4, 4, 4]
    xr.testing.assert_allclose(result["rmse"], metrics.rmse(obs, pred, dim="lat"))


def test_misaligned_coordinates_raise(pair):
    obs, pred = pair
    shifted = pred.assign_coords(lat=pred["lat"] + 0.5)
    with pytest.raises(ValueError, match="obs and pred have different coordinates"):
        metrics.rmse(obs, shifted)


def test_unknown_dim_and_wrong_types_raise(pair):
    obs, pred = pair
    with pytest.raises(ValueError, match=r"dim 'lon' is not a dim of obs, pred or weights"):
        metrics.r2(obs, pred, dim="lon")
    with pytest.raises(TypeError, match="pred must be an xarray.DataArray, got ndarray"):
        metrics.rmse(obs, pred.values)
