"""Sample weights of a fit: uniform weights change nothing, weights pull the fit towards where they are,
``"cell_area"`` is found the CF way, the model records how the weights were given, and bad weights fail
before training with a message naming the fix."""

import numpy as np
import pytest
import xarray as xr

import xrann
from xrann.data.areas import spherical_cell_area
from tests.conftest import make_grid_dataset
from xrann.fit.weights import NORMALISATION

DRIVERS = ["t2m", "swdown", "landcover"]
pytestmark = pytest.mark.filterwarnings("ignore::xrann.ConvergenceWarning")


@pytest.fixture(scope="module")
def data():
    return make_grid_dataset()


def _parameters(model):
    return np.concatenate([p.ravel() for p in model.core.parameters])


@pytest.mark.parametrize(
    "settings",
    [dict(optimizer="lm", epochs=5), dict(optimizer="lbfgs", epochs=5), dict(optimizer="adam", epochs=3, batch_size=64),
     dict(optimizer="irprop+", epochs=5), dict(optimizer="sgd", epochs=3, batch_size=64, learning_rate=0.1)],
)
def test_uniform_weights_give_the_unweighted_fit_exactly(data, settings):
    reference = data.ann.fit("nee", DRIVERS, seed=0, progress=False, **settings)
    uniform = xr.full_like(data["landcover"], 0.3).fillna(0.3)
    for mode, ds in (("memory", data), ("stream", data.chunk({"time": 12}))):
        if mode == "stream" and "batch_size" in settings:
            continue  # stream mini-batches visit blocks in their own order
        weighted = ds.ann.fit("nee", DRIVERS, seed=0, progress=False, weights=uniform, mode=mode, **settings)
        unweighted = ds.ann.fit("nee", DRIVERS, seed=0, progress=False, mode=mode, **settings)
        np.testing.assert_array_equal(_parameters(weighted), _parameters(unweighted))
        np.testing.assert_array_equal(weighted.history["loss"].values, unweighted.history["loss"].values)
        assert weighted.hyperparameters["weights_normalisation"] == NORMALISATION
    np.testing.assert_array_equal(
        _parameters(data.ann.fit("nee", DRIVERS, seed=0, progress=False, weights=uniform, **settings)), _parameters(reference)
    )


def test_weights_concentrated_on_a_region_lower_its_error(data):
    north = (data["lat"] > data["lat"].mean()).broadcast_like(data["lon"]).transpose("lat", "lon")
    weights = xr.where(north, 1.0, 0.01)
    settings = dict(seed=0, hidden=(2,), optimizer="lm", epochs=40, progress=False, validation=None)
    plain = data.ann.fit("nee", DRIVERS, **settings)
    weighted = data.ann.fit("nee", DRIVERS, weights=weights, **settings)

    def north_error(model):
        error = (data.ann.predict(model) - data["nee"]) ** 2
        return float(error.where(north).mean())

    assert north_error(weighted) < 0.8 * north_error(plain)
    assert weighted.hyperparameters["weights"].startswith("DataArray")


def test_weights_from_a_variable_and_zero_weights_leave_samples_out(data):
    ds = data.assign(inverse_variance=xr.where(data["lat"] > 33, 0.0, 2.0).broadcast_like(data["nee"]))
    model = ds.ann.fit("nee", DRIVERS, seed=0, epochs=3, progress=False, validation=None, weights="inverse_variance")
    south = int(data["nee"].where(data["lat"] <= 33).count())
    assert model.sample_counts["training"] == south
    assert model.hyperparameters["weights"] == "inverse_variance"
    assert "inverse_variance" not in model.drivers
    xr.testing.assert_identical(ds, data.assign(inverse_variance=ds["inverse_variance"]))  # never modified


def test_cell_area_is_found_through_cell_measures_a_variable_or_the_bounds(data):
    computed = spherical_cell_area(data["nee"])
    settings = dict(seed=0, epochs=3, progress=False, validation=None)
    from_bounds = data.ann.fit("nee", DRIVERS, weights="cell_area", **settings)
    assert from_bounds.hyperparameters["weights"] == "cell_area"
    as_variable = data.assign(cell_area=computed)
    same = as_variable.ann.fit("nee", DRIVERS, weights="cell_area", **settings)
    np.testing.assert_array_equal(_parameters(same), _parameters(from_bounds))
    # a CF cell measure wins over the bounds: here uniform areas, so the unweighted fit exactly
    measured = data.assign(areacella=xr.ones_like(computed).assign_attrs(units="km2"))
    measured["nee"].attrs["cell_measures"] = "area: areacella"
    uniform = measured.ann.fit("nee", DRIVERS, weights="cell_area", **settings)
    np.testing.assert_array_equal(_parameters(uniform), _parameters(data.ann.fit("nee", DRIVERS, **settings)))
    assert not np.array_equal(_parameters(uniform), _parameters(from_bounds))


def test_weights_are_described_in_the_model_file_not_stored(data, tmp_path):
    model = data.ann.fit("nee", DRIVERS, seed=0, epochs=3, progress=False, weights="cell_area")
    path = tmp_path / "m.nc"
    model.to_netcdf(path)
    loaded = xrann.open_model(path)
    assert loaded.hyperparameters["weights"] == "cell_area"
    assert loaded.hyperparameters["weights_normalisation"] == NORMALISATION
    with xr.open_dataset(path) as stored:
        assert stored.attrs["xrann_format_version"] == 4
        assert not any("weight" in str(name) and "core" not in str(name) for name in stored.variables)


@pytest.mark.parametrize(
    "weights, error, message",
    [
        ("missing", KeyError, "weights='missing' is not a variable of the Dataset"),
        (xr.DataArray(np.ones(3), dims="site"), ValueError, "weights have dim 'site' that the target 'nee' lacks"),
        (xr.DataArray(np.ones(5), dims="lat"), ValueError, "weights have 5 values along 'lat' but the target 'nee' has 6"),
        (3.0, TypeError, "weights must be a variable name, a DataArray or 'cell_area'"),
        (xr.DataArray(np.array(["a"] * 6), dims="lat"), TypeError, "weights must be numeric"),
    ],
)
def test_bad_weights_are_refused_before_training(data, weights, error, message):
    with pytest.raises(error, match=message):
        data.ann.fit("nee", DRIVERS, seed=0, progress=False, weights=weights)


@pytest.mark.parametrize("bad", [-1.0, np.nan])
@pytest.mark.parametrize("chunked", [False, True])
def test_negative_or_nan_weights_where_the_target_is_valid_are_errors(data, bad, chunked):
    clean = xr.ones_like(data["landcover"]) + data["lat"] / 100
    weights = clean.copy()
    weights[2, 3] = bad
    ds = data.chunk({"time": 12}) if chunked else data
    with pytest.raises(ValueError, match=r"the weights \(DataArray\) are negative or NaN at 24 grid points where the target 'nee' is valid"):
        ds.ann.fit("nee", DRIVERS, seed=0, progress=False, weights=weights)
    ocean = clean.copy()
    ocean[0, 0] = bad  # an ocean cell: the target has no value there
    ds.ann.fit("nee", DRIVERS, seed=0, epochs=2, progress=False, weights=ocean)


def test_cell_area_that_cannot_be_found_is_an_error():
    ds = xr.Dataset({"y": ("x", np.arange(5.0)), "a": ("x", np.linspace(0, 1, 5))})
    with pytest.raises(ValueError, match="weights='cell_area' found no cell areas for the target 'y'"):
        ds.ann.fit("y", ["a"], seed=0, weights="cell_area")


def test_shifted_coordinates_are_an_error(data):
    weights = xr.ones_like(data["landcover"]).assign_coords(lat=data["lat"] + 0.25)
    with pytest.raises(ValueError, match="the weights' 'lat' coordinate differs"):
        data.ann.fit("nee", DRIVERS, seed=0, weights=weights)


def test_linear_baseline_and_ensembles_are_weighted(data):
    weights = data["landcover"].fillna(0.0) + 0.1
    for settings in (dict(method="linear"), dict(members=2, epochs=3)):
        plain = data.ann.fit("nee", DRIVERS, seed=0, progress=False, **settings)
        weighted = data.ann.fit("nee", DRIVERS, seed=0, progress=False, weights=weights, **settings)
        assert not np.allclose(data.ann.predict(weighted), data.ann.predict(plain), equal_nan=True)
        uniform = data.ann.fit("nee", DRIVERS, seed=0, progress=False, weights=weights * 0 + 2.0, **settings)
        xr.testing.assert_identical(data.ann.predict(uniform), data.ann.predict(plain))
