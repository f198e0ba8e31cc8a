"""Selections and lookups that cannot be resolved fail with a message naming the problem and the fix.

Duplicate labels in a ``validation`` selection (xrann.data.selection), a driver's CF standard_name
carried by two variables at predict time (xrann.predict.grid), and a path or other object passed
where a model belongs (xrann.predict.dataset and the accessor).
"""

import pathlib

import numpy as np
import pytest
import xarray as xr

import xrann
from xrann.data.selection import selection_mask
from xrann.predict.dataset import predict_dataset
from xrann.predict.grid import resolve_drivers_for_prediction

SAMPLE_DIMS = ("time", "lat", "lon")


def _duplicated_lat(grid: xr.Dataset) -> xr.Dataset:
    lat = grid["lat"].values.copy()
    lat[3] = lat[2]  # 32.5 twice
    return grid.assign_coords(lat=("lat", lat, grid["lat"].attrs))


# -- duplicate labels in a validation selection ----------------------------------------------------


@pytest.mark.parametrize("selector", [[40.5], [32.5], 32.5, slice(30.0, 33.0)], ids=["absent", "list", "scalar", "slice"])
def test_a_label_selection_on_duplicated_labels_names_the_dim_and_the_fix(grid, selector):
    duplicated = _duplicated_lat(grid)
    with pytest.raises(ValueError, match=r"along dim 'lat', but its labels are not unique \(1 repeated: 32.5\)") as error:
        selection_mask(duplicated, {"lat": selector}, SAMPLE_DIMS)
    message = str(error.value)
    assert "ds.drop_duplicates('lat')" in message
    assert "by label only, not by position" in message


def test_fit_fails_on_duplicated_labels_before_training(grid):
    duplicated = _duplicated_lat(grid)
    with pytest.raises(ValueError, match=r"ds.drop_duplicates\('lat'\)"):
        duplicated.ann.fit("nee", ["t2m", "swdown"], validation={"lat": [40.5]}, seed=0, progress=False)
    assert not duplicated.indexes["lat"].is_unique  # the user's Dataset is untouched: nothing dropped for them


def test_the_suggested_fix_works_and_other_dims_are_unaffected(grid):
    duplicated = _duplicated_lat(grid)
    fixed = selection_mask(duplicated.drop_duplicates("lat"), {"lat": [32.5]}, SAMPLE_DIMS)
    assert int(fixed.sum()) == grid.sizes["time"] * grid.sizes["lon"]
    # a selection along another dim (unique labels) and a year selection still work on the same Dataset
    assert int(selection_mask(duplicated, {"lon": [-100.5]}, SAMPLE_DIMS).sum()) == grid.sizes["time"] * grid.sizes["lat"]
    assert int(selection_mask(duplicated, {"time": [2008]}, SAMPLE_DIMS).sum()) == 12 * grid.sizes["lat"] * grid.sizes["lon"]


def test_duplicated_timestamps_still_select_by_year(grid):
    time = grid["time"].values.copy()
    time[1] = time[0]
    duplicated = grid.assign_coords(time=time)
    assert int(selection_mask(duplicated, {"time": [2007]}, SAMPLE_DIMS).sum()) == 12 * grid.sizes["lat"] * grid.sizes["lon"]
    with pytest.raises(ValueError, match="along dim 'time', but its labels are not unique"):
        selection_mask(duplicated, {"time": [time[0]]}, SAMPLE_DIMS)


# -- a driver's standard_name carried by two variables at predict time -----------------------------


def test_an_ambiguous_standard_name_names_both_candidates_and_the_fix(fitted):
    grid, model = fitted
    twice = grid.rename({"t2m": "tas"}).assign(tas_copy=lambda ds: ds["tas"] + 0)
    assert twice["tas_copy"].attrs["standard_name"] == "air_temperature"
    with pytest.raises(KeyError) as error:
        resolve_drivers_for_prediction(twice, model)
    message = str(error.value)
    assert "driver 't2m' is not in the Dataset by name" in message
    assert "2 variables, ['tas', 'tas_copy'], carry its CF standard_name 'air_temperature'" in message
    assert "ds.drop_vars('tas_copy')" in message
    assert "ds.rename({'tas': 't2m'})" in message
    assert "missing" not in message
    # the same message from prediction, and both suggested fixes resolve it
    with pytest.raises(KeyError, match=r"\['tas', 'tas_copy'\]"):
        twice.ann.predict(model)
    assert resolve_drivers_for_prediction(twice.drop_vars("tas_copy"), model) == ["tas", "swdown", "landcover"]
    assert resolve_drivers_for_prediction(twice.rename({"tas": "t2m"}), model) == ["t2m", "swdown", "landcover"]


def test_an_ambiguous_driver_is_reported_with_the_missing_ones(fitted):
    grid, model = fitted
    twice = grid.rename({"t2m": "tas"}).assign(tas_copy=lambda ds: ds["tas"] + 0).drop_vars("landcover")
    with pytest.raises(KeyError, match=r"\['tas', 'tas_copy'\].*The drivers \['landcover'\] are missing altogether"):
        resolve_drivers_for_prediction(twice, model)


def test_the_driver_under_its_own_name_wins_over_standard_name_copies(fitted):
    grid, model = fitted
    with_copy = grid.assign(tas=grid["t2m"] + 0)  # two carry air_temperature, but 't2m' is there by name
    assert resolve_drivers_for_prediction(with_copy, model) == ["t2m", "swdown", "landcover"]


# -- a path, or anything else, where a model belongs -----------------------------------------------


@pytest.mark.parametrize("path", ["model.nc", pathlib.Path("model.nc")], ids=["str", "PathLike"])
def test_a_path_instead_of_a_model_says_to_open_it(grid, path):
    for call in (lambda: grid.ann.predict(path), lambda: predict_dataset(grid, path)):
        with pytest.raises(TypeError, match=r"got the path 'model.nc'; open it first: model = xrann.open_model\('model.nc'\)"):
            call()


@pytest.mark.parametrize("not_a_model", [{"target": "nee"}, 3, xr.Dataset()], ids=["dict", "int", "Dataset"])
def test_anything_else_instead_of_a_model_is_a_type_error(grid, not_a_model):
    with pytest.raises(TypeError, match=rf"expected a Model, got {type(not_a_model).__name__}; .*xrann.open_model\(path\)"):
        grid.ann.predict(not_a_model)


def test_every_accessor_method_that_takes_a_model_says_to_open_a_path(grid):
    calls = {
        "evaluate": lambda: grid.ann.evaluate("model.nc"),
        "importance": lambda: grid.ann.importance("model.nc"),
        "response": lambda: grid.ann.response("t2m", "model.nc"),
        "extrapolation": lambda: grid.ann.extrapolation("model.nc"),
    }
    for name, call in calls.items():
        with pytest.raises(TypeError, match=r"xrann.open_model\('model.nc'\)"):
            call()


def test_the_type_is_checked_before_other_arguments(grid):
    with pytest.raises(TypeError, match="open_model"):
        predict_dataset(grid, "model.nc", mask_extrapolation="bad", members=True)


def test_an_opened_model_file_predicts_like_the_model(fitted, tmp_path):
    grid, model = fitted
    path = tmp_path / "model.nc"
    model.to_netcdf(path)
    xr.testing.assert_identical(grid.ann.predict(xrann.open_model(path)), grid.ann.predict(model))
    np.testing.assert_array_equal(np.isnan(grid.ann.predict(model).values), np.isnan(grid["nee"].values))


@pytest.mark.parametrize(
    "call",
    [
        lambda ds, path: xrann.evaluation.evaluate(ds, path),
        lambda ds, path: xrann.driver_importance(ds, path),
        lambda ds, path: xrann.response_curve(ds, path, "soil_moisture"),
        lambda ds, path: xrann.extrapolation_flags(ds, path),
        lambda ds, path: xrann.predict_dataset(ds, path),
    ],
    ids=["evaluate", "driver_importance", "response_curve", "extrapolation_flags", "predict_dataset"],
)
def test_every_function_that_applies_a_model_says_how_to_open_a_path(call):
    ds = xrann.datasets.soil_toy()
    with pytest.raises(TypeError, match=r"open it first: model = xrann\.open_model\('model\.nc'\)"):
        call(ds, "model.nc")
