"""Ensembles: bootstrap and fold members, mean/member/spread predictions, persistence, laziness, errors."""

import numpy as np
import pytest
import xarray as xr

import xrann
from xrann.ensemble import EnsembleCore, _member_samples, member_models

DRIVERS = ["t2m", "swdown", "landcover"]


@pytest.fixture(scope="module")
def grid_and_ensemble():
    from .conftest import make_grid_dataset

    grid = make_grid_dataset()
    model = grid.ann.fit(target="nee", drivers=DRIVERS, seed=0, epochs=60, members=4, progress=False)
    return grid, model


def test_ensemble_predicts_the_mean_of_its_members(grid_and_ensemble):
    grid, model = grid_and_ensemble
    assert model.ensemble == "bootstrap" and model.n_members == 4 and isinstance(model.core, EnsembleCore)
    assert model.hyperparameters["members"] == 4 and model.hyperparameters["ensemble"] == "bootstrap"
    mean = grid.ann.predict(model)
    members = grid.ann.predict(model, members=True)
    assert members.dims == ("member", "time", "lat", "lon") and members.name == "nee_predicted"
    np.testing.assert_array_equal(members["member"].values, np.arange(4))
    xr.testing.assert_identical(members.isel(member=0, drop=True).coords.to_dataset(), mean.coords.to_dataset())
    np.testing.assert_allclose(members.mean("member").values, mean.values, rtol=1e-12, atol=1e-12)
    assert members.attrs == mean.attrs
    # members differ (seed and resample), and NaN stays where drivers are missing
    assert float(abs(members.isel(member=0) - members.isel(member=1)).max()) > 1e-3
    np.testing.assert_array_equal(members.isnull().any("member").values, np.isnan(grid["nee"].values))


def test_std_dataset(grid_and_ensemble):
    grid, model = grid_and_ensemble
    result = grid.ann.predict(model, std=True)
    assert list(result.data_vars) == ["nee_predicted", "nee_predicted_std"]
    xr.testing.assert_identical(result["nee_predicted"], grid.ann.predict(model))
    members = grid.ann.predict(model, members=True)
    np.testing.assert_allclose(result["nee_predicted_std"].values, members.std("member", ddof=1).values)
    assert result["nee_predicted_std"].attrs["units"] == "umol m-2 s-1"
    both = grid.ann.predict(model, std=True, members=True)
    xr.testing.assert_identical(both["nee_predicted_members"], members.rename("nee_predicted_members"))


def test_folds_leave_one_fold_out_and_bootstrap_resamples():
    rng = np.random.default_rng(0)
    member_rngs = [np.random.default_rng(i) for i in range(4)]
    folds = _member_samples(10, "folds", 4, rng, member_rngs)
    held_out = np.concatenate([left_out for _, left_out in folds])
    np.testing.assert_array_equal(np.sort(held_out), np.arange(10))
    for train_index, left_out in folds:
        assert np.intersect1d(train_index, left_out).size == 0
        assert train_index.size + left_out.size == 10
    for drawn, out_of_bag in _member_samples(50, "bootstrap", 4, rng, member_rngs):
        assert drawn.size == 50 and np.setdiff1d(np.arange(50), drawn).tolist() == out_of_bag.tolist()


def test_folds_ensemble_fits_and_histories_per_member(grid):
    model = grid.ann.fit(target="nee", drivers=DRIVERS, seed=1, epochs=20, members=3, ensemble="folds", progress=False)
    assert model.ensemble == "folds" and model.n_members == 3
    assert model.history["loss"].dims == ("member", "epoch")
    assert model.history["val_loss"].sizes["member"] == 3
    assert model.history["best_epoch"].dims == ("member",)
    assert "ensemble of 3 (folds)" in repr(model)


def test_same_seed_same_ensemble(grid_and_ensemble):
    grid, model = grid_and_ensemble
    again = grid.ann.fit(target="nee", drivers=DRIVERS, seed=0, epochs=60, members=4, progress=False)
    np.testing.assert_array_equal(grid.ann.predict(again, members=True).values, grid.ann.predict(model, members=True).values)


def test_round_trip_is_bit_identical(grid_and_ensemble, tmp_path):
    grid, model = grid_and_ensemble
    model.to_netcdf(tmp_path / "ensemble.nc")
    loaded = xrann.open_model(tmp_path / "ensemble.nc")
    assert loaded.ensemble == "bootstrap" and loaded.n_members == 4
    np.testing.assert_array_equal(grid.ann.predict(loaded).values, grid.ann.predict(model).values)
    np.testing.assert_array_equal(grid.ann.predict(loaded, members=True).values, grid.ann.predict(model, members=True).values)
    xr.testing.assert_identical(loaded.history, model.history)
    with xr.open_dataset(tmp_path / "ensemble.nc") as raw:
        assert raw["core_weight_0"].dims[0] == "member" and raw.sizes["member"] == 4
        assert raw.attrs["ensemble"] == "bootstrap" and raw.attrs["xrann_format_version"] == 2


def test_linear_ensemble_round_trip(grid, tmp_path):
    model = grid.ann.fit(target="nee", drivers=DRIVERS, method="linear", members=3, seed=0)
    model.to_netcdf(tmp_path / "linear.nc")
    loaded = xrann.open_model(tmp_path / "linear.nc")
    np.testing.assert_array_equal(grid.ann.predict(loaded, members=True).values, grid.ann.predict(model, members=True).values)


def test_dask_input_stays_lazy_and_equal(grid_and_ensemble):
    grid, model = grid_and_ensemble
    lazy = grid.chunk({"time": 6})
    members = lazy.ann.predict(model, members=True)
    result = lazy.ann.predict(model, std=True, mask_extrapolation=True)
    assert members.chunks is not None
    assert all(variable.chunks is not None for variable in result.data_vars.values())
    xr.testing.assert_identical(members.compute(), grid.ann.predict(model, members=True))
    xr.testing.assert_allclose(result.compute(), grid.ann.predict(model, std=True, mask_extrapolation=True))


def test_fit_on_dask_input_equals_numpy(grid):
    settings = dict(target="nee", drivers=DRIVERS, seed=2, epochs=10, members=2, progress=False)
    lazy_model = grid.chunk({"time": 6}).ann.fit(**settings)
    np.testing.assert_array_equal(grid.ann.predict(lazy_model).values, grid.ann.predict(grid.ann.fit(**settings)).values)
    assert lazy_model.hyperparameters["mode"] == "memory"


def test_distributed_client_trains_the_same_members(grid):
    distributed = pytest.importorskip("distributed")
    settings = dict(target="nee", drivers=DRIVERS, seed=3, epochs=10, members=2, progress=False)
    local = grid.ann.fit(**settings)
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None):
        on_client = grid.ann.fit(**settings)
    np.testing.assert_array_equal(grid.ann.predict(on_client, members=True).values, grid.ann.predict(local, members=True).values)


def test_member_models_share_scaling(grid_and_ensemble):
    _, model = grid_and_ensemble
    members = member_models(model)
    assert [m.n_members for m in members] == [1, 1, 1, 1]
    assert all(m.driver_scaler is model.driver_scaler for m in members)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"members": 0}, r"members=0 must be a positive integer"),
        ({"members": 2.5}, r"members=2.5 must be a positive integer"),
        ({"members": 3, "ensemble": "jackknife"}, r"ensemble='jackknife' is not known; choose one of \('bootstrap', 'folds'\)"),
        ({"members": 1, "ensemble": "folds"}, r"ensemble='folds' with members=1"),
    ],
)
def test_bad_ensemble_arguments(grid, settings, message):
    with pytest.raises(ValueError, match=message):
        grid.ann.fit(target="nee", drivers=DRIVERS, **settings)


def test_more_folds_than_samples():
    with pytest.raises(ValueError, match="needs at least 5 training samples, got 3"):
        xrann.datasets.soil_toy().ann.fit(target="co2_flux", members=5, ensemble="folds", epochs=5)


def test_members_or_std_of_a_single_model(fitted):
    grid, model = fitted
    for option in ({"members": True}, {"std": True}):
        with pytest.raises(ValueError, match=r"single network, not an ensemble.*members=10"):
            grid.ann.predict(model, **option)


# -- the North America NEE data ------------------------------------------------


def test_nee_spread_grows_where_the_model_extrapolates():
    """Members disagree most on rare driver combinations: far from the training envelope, and in the 2012 drought summer.

    The years 2007 and 2015 are climatically ordinary in this data (their envelope distances
    match the training years'), so holding them out does not raise the spread there; the hot,
    dry central-US summer of 2012 (held out here) is rare, and the spread peaks there.
    """
    from xrann.datasets.north_america import north_america_nee

    ds = north_america_nee(resolution=2.0)
    drivers = ["t2m", "swdown", "vpd", "soilm", "forest_fraction", "precip", "rh", "stand_age"]
    model = ds.sel(time=ds.time.dt.year != 2012).ann.fit(target="nee", drivers=drivers, seed=0, members=5, progress=False)
    spread = ds.ann.predict(model, std=True)["nee_predicted_std"]
    central_us_summer = (ds.lat > 34) & (ds.lat < 46) & (ds.lon > -104) & (ds.lon < -84) & (ds.time.dt.season == "JJA")
    by_year = spread.where(central_us_summer).groupby("time.year").mean(...)
    training_years = by_year.sel(year=by_year.year != 2012)
    assert int(by_year.idxmax()) == 2012
    assert float(by_year.sel(year=2012)) > 1.1 * float(training_years.mean())
    distance = ds.ann.extrapolation(model)["envelope_distance"]
    assert float(spread.where(distance > 1).mean()) > 1.5 * float(spread.where(distance <= 1).mean())
