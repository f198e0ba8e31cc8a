"""fit / predict through the accessor: grids, coordinates, masks, validation, bad input."""

import numpy as np
import pytest
import xarray as xr

import xrann
from xrann.core.scaling import ConstantFeatureWarning

# most fits here are deliberately short; tests/fit/test_defaults.py checks the ConvergenceWarning itself
pytestmark = pytest.mark.filterwarnings("ignore::xrann.ConvergenceWarning")


def _r2(obs, pred):
    obs, pred = np.asarray(obs).ravel(), np.asarray(pred).ravel()
    ok = np.isfinite(obs) & np.isfinite(pred)
    return 1 - np.sum((obs[ok] - pred[ok]) ** 2) / np.sum((obs[ok] - obs[ok].mean()) ** 2)


def test_fit_predict_keeps_dims_coords_attrs_and_ocean_mask(fitted):
    grid, model = fitted
    predicted = grid.ann.predict()
    assert predicted.name == "nee_predicted"
    assert predicted.dims == ("time", "lat", "lon")
    xr.testing.assert_identical(predicted.coords.to_dataset(), grid["nee"].coords.to_dataset())
    assert predicted.attrs == {"units": "umol m-2 s-1", "long_name": "net ecosystem exchange"}
    np.testing.assert_array_equal(np.isnan(predicted.values), np.isnan(grid["nee"].values))
    assert _r2(grid["nee"], predicted) > 0.8


def test_transposed_dataset_keeps_its_own_dim_order(grid):
    transposed = grid.transpose("lon", "lat", "time")
    transposed.ann.fit(target="nee", drivers=["t2m", "landcover"], seed=0, epochs=5, progress=False)
    predicted = transposed.ann.predict()
    assert predicted.dims == ("lon", "lat", "time")
    xr.testing.assert_identical(predicted.coords.to_dataset(), transposed["nee"].coords.to_dataset())


def test_cf_standard_name_lookup_for_target_and_drivers(grid):
    grid["nee"].attrs["standard_name"] = "surface_upward_mole_flux_of_carbon_dioxide"
    model = grid.ann.fit(target="surface_upward_mole_flux_of_carbon_dioxide", drivers=["air_temperature", "swdown"],
                         seed=0, epochs=3, progress=False)
    assert model.target == "nee" and model.drivers == ["t2m", "swdown"]


def test_input_dataset_is_unchanged_after_fit_and_predict(grid):
    before = grid.copy(deep=True)
    grid.ann.fit(target="nee", validation=0.2, seed=1, epochs=5, progress=False)
    grid.ann.predict()
    xr.testing.assert_identical(grid, before)


def test_same_seed_identical_weights_other_seed_different(grid):
    kwargs = dict(target="nee", drivers=["t2m", "swdown"], epochs=5, progress=False, validation=0.25)
    a = grid.ann.fit(seed=3, **kwargs)
    b = grid.ann.fit(seed=3, **kwargs)
    c = grid.ann.fit(seed=4, **kwargs)
    for wa, wb, wc in zip(a.core.weights, b.core.weights, c.core.weights):
        np.testing.assert_array_equal(wa, wb)
        assert not np.array_equal(wa, wc)


def test_validation_fraction_and_selection_counts(grid):
    model = grid.ann.fit(target="nee", validation=0.25, seed=0, epochs=5, progress=False)
    counts = model.sample_counts
    n_valid = 24 * 45
    # a fraction is drawn per grid point by a seeded hash: about, not exactly, 25 %
    assert counts["grid_points"] == 24 * 48 and counts["dropped"] == 72
    assert counts["training"] + counts["validation"] == n_valid
    assert abs(counts["validation"] - 0.25 * n_valid) < 0.05 * n_valid
    assert model.hyperparameters["resolved_validation_fraction"] == 0.25
    assert set(model.history.data_vars) == {"loss", "val_loss"}
    by_year = grid.ann.fit(target="nee", validation={"time": [2008]}, seed=0, epochs=5, progress=False)
    assert by_year.sample_counts["validation"] == 12 * 45
    sliced = grid.ann.fit(target="nee", validation={"time": slice("2008-06", "2008-12")}, seed=0, epochs=5, progress=False)
    assert sliced.sample_counts["validation"] == 7 * 45


def test_float32_model(grid):
    model = grid.ann.fit(target="nee", drivers=["t2m", "swdown"], seed=0, epochs=3, dtype="float32", progress=False)
    assert all(w.dtype == np.float32 for w in model.core.weights)
    assert grid.ann.predict().dtype == np.float64


def test_linear_method_has_the_same_interface(grid):
    model = grid.ann.fit(target="nee", drivers=["t2m", "swdown", "landcover"], method="linear")
    predicted = grid.ann.predict(model)
    assert predicted.dims == ("time", "lat", "lon")
    assert 0.3 < _r2(grid["nee"], predicted) < 0.95


def test_constant_driver_warns_and_keeps_going(grid):
    flat = grid.assign(const=grid["t2m"] * 0 + 1.0)
    with pytest.warns(ConstantFeatureWarning, match="driver 'const' is constant"):
        model = flat.ann.fit(target="nee", drivers=["t2m", "const"], seed=0, epochs=3, progress=False)
    assert np.isfinite(flat.ann.predict(model).values[np.isfinite(flat["t2m"].values)]).all()


def test_divergence_error_names_learning_rate(grid):
    with pytest.raises(xrann.TrainingDivergedError, match="lower learning rate"):
        # an absurd learning rate sends the weights to inf within a few steps
        grid.ann.fit(target="nee", drivers=["t2m"], optimizer="sgd", learning_rate=1e308, epochs=50, seed=0,
                     loss="sse", progress=False)


# --- bad input: each raises a clear error before training --------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"target": "gpp"}, KeyError, r"target 'gpp' not found.*data variables: nee, t2m"),
        ({"drivers": ["t2m", "vpd"]}, KeyError, r"driver 'vpd' not found.*data variables"),
        ({"drivers": ["t2m", "nee"]}, ValueError, "target 'nee' is also listed among the drivers"),
        ({"drivers": ["label"]}, TypeError, "driver 'label' has dtype <U1, which is not numeric"),
        ({"drivers": ["profile"]}, ValueError, "driver 'profile' has dimension 'level', which target 'nee'"),
        ({"learning_rate": -0.1}, ValueError, "learning_rate must be a positive number, got -0.1"),
        ({"hidden": ()}, ValueError, "without a hidden layer"),
        ({"epochs": 0}, ValueError, "epochs must be a positive integer, got 0"),
        ({"validation": 1.5}, ValueError, r"validation=1.5 is not understood"),
        ({"validation": {"time": [1999]}}, ValueError, r"years \[1999\] are not in dim 'time'"),
        ({"validation": {"time": [2007, 2008]}}, ValueError, "leaving none for training"),
        ({"optimizer": "bfgs"}, ValueError, r"optimizer='bfgs' is not known; choose one of \['adam', 'irprop\+', 'lbfgs', 'lm'"),
        ({"dtype": "float16"}, ValueError, "dtype='float16' is not supported"),
        ({"n_hidden": 3}, TypeError, r"unknown settings \['n_hidden'\]"),
    ],
)
def test_bad_input_is_rejected_with_a_clear_message(grid, kwargs, error, message):
    ds = grid.assign(
        label=("time", np.array(["a"] * 24)),
        profile=(("time", "lat", "lon", "level"), np.zeros((24, 6, 8, 2))),
    )
    arguments = {"target": "nee", "drivers": ["t2m"], "epochs": 2, "progress": False} | kwargs
    with pytest.raises(error, match=message):
        ds.ann.fit(**arguments)


def test_no_valid_samples(grid):
    empty = grid.assign(swdown=grid["swdown"] * np.nan)
    with pytest.raises(ValueError, match=r"no valid samples.*'nee'.*\['t2m', 'swdown'\]"):
        empty.ann.fit(target="nee", drivers=["t2m", "swdown"], epochs=2)


def test_too_few_samples_for_validation_split():
    tiny = xrann.datasets.soil_toy()
    with pytest.raises(ValueError, match=r"too few samples for validation=0.1: 3 valid samples give 0 validation"):
        tiny.ann.fit(target="co2_flux", validation=0.1, seed=0)


def test_numpy_typed_settings_are_stored_as_plain_numbers(tmp_path):
    ds = xrann.datasets.soil_toy()
    model = ds.ann.fit(target="co2_flux", seed=np.int64(0), hidden=np.array([3, 2]), epochs=np.int64(5),
                       learning_rate=np.float32(0.01), target_range=(np.float32(0.1), 0.9), progress=False)
    model.to_netcdf(tmp_path / "m.nc")
    loaded = xrann.open_model(tmp_path / "m.nc")
    assert loaded.hyperparameters["hidden"] == [3, 2] and loaded.hyperparameters["seed"] == 0
    assert loaded.hyperparameters["epochs"] == 5 and loaded.hyperparameters["learning_rate"] == pytest.approx(0.01)
    with pytest.raises(ValueError, match="epochs must be an integer, got 2.0; write 2"):
        ds.ann.fit(target="co2_flux", epochs=2.0)


def test_mode_is_checked_and_recorded_as_used(grid):
    lazy = grid.chunk({"time": 12})
    with pytest.raises(ValueError, match="mode='bogus' is not known"):
        grid.ann.fit(target="nee", members=2, mode="bogus")
    with pytest.raises(ValueError, match="mode='stream' is not available with method='linear'"):
        lazy.ann.fit(target="nee", method="linear", mode="stream")
    with pytest.raises(ValueError, match="mode='batch' is not available with members="):
        lazy.ann.fit(target="nee", members=2, mode="batch")
    assert lazy.ann.fit(target="nee", method="linear").hyperparameters["mode"] == "memory"


def test_patience_without_validation_warns(grid):
    with pytest.warns(UserWarning, match="patience=5 has no effect on the validation loss without a validation set"):
        grid.ann.fit(target="nee", drivers=["t2m"], patience=5, epochs=2, validation=None, progress=False)


def test_validation_along_a_dim_the_target_lacks(grid):
    ds = grid.assign(bounds=(("time", "nv"), np.zeros((24, 2))))
    with pytest.raises(ValueError, match=r"validation selects along dim 'nv', which the target lacks \(its dims are \('time', 'lat', 'lon'\)\)"):
        ds.ann.fit(target="nee", drivers=["t2m"], validation={"nv": 0})


def test_numpy_fit_never_uses_the_global_dask_scheduler(grid):
    import dask

    def refuse(*args, **kwargs):
        raise AssertionError("a numpy-backed fit must not run on the global dask scheduler")

    with dask.config.set(scheduler=refuse):
        model = grid.ann.fit(target="nee", drivers=["t2m", "landcover"], seed=0, epochs=2, progress=False)
        grid.ann.predict(model)
