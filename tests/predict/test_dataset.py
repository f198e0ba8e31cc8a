"""predict_dataset, predict_ensemble and member_models (xrann.predict.dataset): the model on the grid of a Dataset."""

import dask.array
import numpy as np
import pytest
import xarray as xr

import xrann
from xrann.predict.dataset import member_models, predict_dataset, predict_ensemble


def test_predict_dataset_is_what_the_accessor_returns(fitted):
    grid, model = fitted
    predicted = predict_dataset(grid, model)
    xr.testing.assert_identical(predicted, grid.ann.predict(model))
    assert predicted.name == "nee_predicted" and predicted.attrs["units"] == "umol m-2 s-1"
    lazy = predict_dataset(grid.chunk({"time": 6}), model)
    assert isinstance(lazy.data, dask.array.Array)
    xr.testing.assert_identical(lazy.compute(), predicted)


def test_masked_prediction_is_nan_outside_the_envelope_only(fitted):
    grid, model = fitted
    hot = grid.assign(t2m=(grid["t2m"] + 40.0).assign_attrs(grid["t2m"].attrs))
    assert int(predict_dataset(hot, model, mask_extrapolation=True).count()) == 0
    masked = predict_dataset(grid, model, mask_extrapolation=True)
    plain = predict_dataset(grid, model)
    kept = masked.notnull()
    assert 0.9 * int(plain.count()) < int(kept.sum()) <= int(plain.count())
    xr.testing.assert_identical(masked.where(kept), plain.where(kept))


def test_a_single_model_has_no_members(fitted):
    grid, model = fitted
    with pytest.raises(ValueError, match="single network, not an ensemble"):
        member_models(model)
    with pytest.raises(ValueError, match="single network, not an ensemble"):
        predict_ensemble(grid, model, std=True)


def test_one_member_ensemble_has_zero_spread(grid):
    model = grid.ann.fit(target="nee", drivers=["t2m", "landcover"], seed=0, epochs=3, members=1, progress=False)
    result = predict_ensemble(grid, model, std=True, members=True)
    assert result["nee_predicted_members"].sizes["member"] == 1
    np.testing.assert_array_equal(result["nee_predicted_std"].values[np.isfinite(result["nee_predicted"].values)], 0.0)


def test_predict_without_target_and_on_another_dataset(fitted):
    grid, model = fitted
    future = grid.drop_vars("nee").isel(time=slice(0, 6))
    predicted = future.ann.predict(model)
    assert predicted.dims == ("time", "lat", "lon")
    np.testing.assert_allclose(predicted.values, grid.ann.predict(model).isel(time=slice(0, 6)).values)
    # drivers may be renamed as long as the CF standard_name matches
    renamed = future.rename({"t2m": "tas"})
    np.testing.assert_allclose(renamed.ann.predict(model).values, predicted.values)


def test_nan_exactly_where_drivers_missing_even_if_target_present(fitted):
    grid, model = fitted
    gappy = grid.copy(deep=True)
    gappy["swdown"][3, 2, 2] = np.nan
    gappy["nee"][4, 2, 2] = np.nan  # a gap in the target does not stop prediction
    predicted = gappy.ann.predict(model)
    assert np.isnan(predicted[3, 2, 2])
    assert np.isfinite(predicted[4, 2, 2])


def test_static_driver_broadcast_matches_explicit_broadcast(fitted):
    grid, model = fitted
    explicit = grid.assign(landcover=grid["landcover"].broadcast_like(grid["nee"]))
    np.testing.assert_allclose(explicit.ann.predict(model).values, grid.ann.predict(model).values)


def test_predict_with_missing_drivers_or_other_units(fitted):
    grid, model = fitted
    with pytest.raises(KeyError, match=r"\['swdown'\] are missing from the Dataset"):
        grid.drop_vars("swdown").ann.predict(model)
    celsius = grid.assign(t2m=(grid["t2m"] - 273.15).assign_attrs(units="degC", standard_name="air_temperature"))
    with pytest.raises(ValueError, match="driver 't2m' has units 'degC' but the model was trained with 'K'"):
        celsius.ann.predict(model)


def test_predict_without_any_model():
    with pytest.raises(ValueError, match=r"no model: pass one, e.g. ds.ann.predict\(model\)"):
        xrann.datasets.soil_toy().ann.predict()


def test_bad_extrapolation_threshold_fails_before_predicting(fitted, monkeypatch):
    grid, model = fitted
    calls = []
    monkeypatch.setattr(model, "predict_array", lambda matrix: calls.append(matrix) or matrix[:, 0])
    with pytest.raises(ValueError, match="mask_extrapolation=-1 is not understood"):
        grid.ann.predict(model, mask_extrapolation=-1)
    assert calls == []
