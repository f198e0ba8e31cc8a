"""Held-out years and other label selections as validation: what is held out, what trains, bad selections."""

import numpy as np
import pytest
import xarray as xr

DRIVERS = ["t2m", "swdown", "landcover"]
LAND_CELLS = 45  # the shared test grid is 6 x 8 with three ocean corners

# some fits here are deliberately short; tests/fit/test_defaults.py checks the ConvergenceWarning itself
pytestmark = pytest.mark.filterwarnings("ignore::xrann.ConvergenceWarning")


def fit(ds, validation, **settings):
    arguments = {"seed": 0, "progress": False} | settings
    return ds.ann.fit(target="nee", drivers=DRIVERS, validation=validation, **arguments)


@pytest.fixture
def three_years():
    from tests.conftest import make_grid_dataset

    return make_grid_dataset(n_time=36)


def test_year_list_holds_out_exactly_those_years(three_years):
    model = fit(three_years, {"time": [2007, 2009]})
    assert model.sample_counts["validation"] == 2 * 12 * LAND_CELLS
    assert model.sample_counts["training"] == 12 * LAND_CELLS
    assert model.hyperparameters["validation"] == {"time": "[2007, 2009]"}


def test_held_out_years_do_not_train_the_scalers(three_years):
    extreme = three_years.copy()
    extreme["nee"] = xr.where(extreme["time"].dt.year == 2007, extreme["nee"] + 100.0, extreme["nee"])
    model = fit(extreme, {"time": [2007]})
    training_max = float(extreme["nee"].sel(time=slice("2008", "2009")).max())
    np.testing.assert_allclose(model.target_scaler.maximum, [training_max])
    assert float(model.target_scaler.maximum[0]) < 50


def test_early_stopping_scores_the_held_out_years(three_years):
    model = fit(three_years, {"time": [2009]})  # the defaults: lm until the held-out loss stops improving
    assert model.history.attrs["converged"] == 1
    held_out = three_years.sel(time="2009")
    predicted = held_out.ann.predict(model)
    scaled = lambda values: model.target_scaler.transform(values.values.reshape(-1, 1)[np.isfinite(values.values.reshape(-1))])  # noqa: E731
    mse = float(np.mean((scaled(predicted) - scaled(held_out["nee"])) ** 2))
    best = model.history.attrs["best_epoch"]
    np.testing.assert_allclose(model.history["val_loss"].values[best], mse, rtol=1e-9)
    assert model.history["val_loss"].values[best] == model.history["val_loss"].min()


def test_single_year_and_slices(three_years):
    assert fit(three_years, {"time": 2008}).sample_counts["validation"] == 12 * LAND_CELLS
    sliced = fit(three_years, {"time": slice("2008-03", "2009-02")})
    assert sliced.sample_counts["validation"] == 12 * LAND_CELLS
    labels = fit(three_years, {"time": three_years["time"].values[:5]})
    assert labels.sample_counts["validation"] == 5 * LAND_CELLS


def test_several_dims_combine_with_and(three_years):
    # lat rows 30.5 and 31.5: the first row has two ocean corners, so 6 + 8 land cells
    model = fit(three_years, {"time": [2008], "lat": slice(30, 32)})
    assert model.sample_counts["validation"] == 12 * 14
    assert model.sample_counts["training"] == 36 * LAND_CELLS - 12 * 14


def test_dask_backed_input_holds_out_the_same_samples(three_years):
    in_memory = fit(three_years, {"time": [2007, 2009]}, epochs=3)
    lazy = fit(three_years.chunk({"time": 12}), {"time": [2007, 2009]}, epochs=3)
    assert lazy.sample_counts["validation"] == in_memory.sample_counts["validation"]
    assert lazy.sample_counts["training"] == in_memory.sample_counts["training"]
    np.testing.assert_allclose(lazy.history["val_loss"].values, in_memory.history["val_loss"].values, rtol=1e-10)


@pytest.mark.parametrize(
    ("validation", "message"),
    [
        ({"time": [1999, 2008]}, r"years \[1999\] are not in dim 'time', which spans the years 2007-2009"),
        ({"time": [2007, 2008, 2009]}, r"holds out all 1620 valid samples, leaving none for training"),
        ({"depth": [1]}, r"validation selects along dim 'depth', which the Dataset lacks"),
        ({"lat": [99.0]}, r"validation selection \[99.0\] does not match labels of dim 'lat'"),
        ({"lat": [30.5], "lon": [-100.5]}, r"selects no valid sample"),
        ({}, r"validation=\{\} selects nothing"),
    ],
)
def test_bad_selections_raise_before_training(three_years, validation, message):
    with pytest.raises(ValueError, match=message):
        fit(three_years, validation)
