"""Ensembles: bootstrap and fold members, mean/member/spread predictions, persistence, laziness, errors."""

import numpy as np
import pytest
import xarray as xr

import xrann
from tests.conftest import make_grid_dataset
from xrann.core.ensemble import EnsembleCore
from xrann.fit.ensemble import _member_samples
from xrann.predict.dataset import member_models

DRIVERS = ["t2m", "swdown", "landcover"]

# most fits here are deliberately short
pytestmark = pytest.mark.filterwarnings("ignore::xrann.ConvergenceWarning")


@pytest.fixture(scope="module")
def grid_and_ensemble():
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
        assert raw.attrs["ensemble"] == "bootstrap" and raw.attrs["xrann_format_version"] >= 2  # ensembles came with version 2


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

NEE_DRIVERS = ["t2m", "swdown", "vpd", "soilm", "forest_fraction", "precip", "rh", "stand_age"]
#: documented anomalies of the held-out years that no training year (2008-2014) resembles:
#: summer heat with drought, where light, heat and dry soil come together
HELD_OUT_SUMMER_DROUGHTS = (
    "2007 record-warm western summer",
    "2007 southeast drought",
    "2015 Canadian Prairies spring-summer drought",
    "2015 Pacific Northwest summer drought and heat",
)


def _event_weight(ds, event):
    """The generator's weight of ``event`` at each monthly step and cell (1 at its peak and centre)."""
    months = (ds.time.dt.year - 1900) * 12 + ds.time.dt.month - 0.5  # mid-month, months since 1900-01
    in_time = np.exp(-(((months - event.peak) / event.duration) ** 2))
    return in_time * np.exp(-(((ds.lat - event.lat0) / event.lat_width) ** 2) - ((ds.lon - event.lon0) / event.lon_width) ** 2)


def test_nee_spread_is_larger_where_the_held_out_years_are_novel():
    """Fitted on 2008-2014 with 2007 and 2015 held out, the members disagree more in the held-out years'
    summer droughts than in the same cells and months of the training years, and more far from the
    training envelope than near it.

    Over the whole domain the spread is larger in the held-out years too, but only slightly
    (held-out / training 1.01-1.02 for data seeds 0-1 and fit seeds 0-1): month by month their
    documented anomalies are mostly no larger than ordinary weather, so 2008-2014 covers their
    drivers almost as well as its own (mean envelope distances within 1 %).
    """
    from xrann.datasets.north_america import EVENTS, north_america_nee

    ds = north_america_nee(resolution=2.0)
    held_out = ds.time.dt.year.isin([2007, 2015])
    model = ds.ann.fit(target="nee", drivers=NEE_DRIVERS, validation={"time": [2007, 2015]}, seed=0, members=5, progress=False)
    spread = ds.ann.predict(model, std=True)["nee_predicted_std"]

    droughts = [event for event in EVENTS if event.name in HELD_OUT_SUMMER_DROUGHTS]
    assert len(droughts) == len(HELD_OUT_SUMMER_DROUGHTS)
    in_drought = (sum(_event_weight(ds, event) for event in droughts) > 0.5) & held_out & np.isfinite(ds["nee"])
    same_cells_and_months = in_drought.groupby("time.month").any("time").sel(month=ds.time.dt.month).drop_vars("month") & ~held_out
    # 190 cell-months in 2007 and 2015 (two share a cell and calendar month), each in 7 training years
    assert int(in_drought.sum()) == 190 and int(same_cells_and_months.sum()) == 7 * 188
    assert float(spread.where(in_drought).mean()) > 1.3 * float(spread.where(same_cells_and_months).mean())

    distance = ds.ann.extrapolation(model)["envelope_distance"]
    assert float(spread.where(distance > 1).mean()) > 1.5 * float(spread.where(distance <= 1).mean())

    whole_domain = float(spread.where(held_out).mean()) / float(spread.where(~held_out).mean())
    assert 1.0 < whole_domain < 1.05
    assert 1.0 < float(distance.where(held_out).mean()) / float(distance.where(~held_out).mean()) < 1.05


def test_members_stop_on_their_out_of_bag_samples_unless_validation_is_given(grid):
    settings = dict(target="nee", drivers=DRIVERS, seed=0, epochs=5, members=2, progress=False)
    out_of_bag = grid.ann.fit(**settings)  # validation="auto" holds nothing out for an ensemble
    assert out_of_bag.sample_counts["validation"] == 0 and out_of_bag.sample_counts["training"] == 24 * 45
    assert out_of_bag.hyperparameters["resolved_validation_fraction"] is None
    assert out_of_bag.hyperparameters["resolved_optimizer"] == "lm"
    assert np.isfinite(out_of_bag.history["val_loss"].values).all()
    shared = grid.ann.fit(validation=0.2, **settings)
    assert 0.15 < shared.sample_counts["validation"] / (24 * 45) < 0.25
    assert shared.history["val_loss"].sizes == {"member": 2, "epoch": 5}


# -- combine_models: fitted models as one ensemble --------------------------------

def test_combined_members_predict_what_their_models_predicted(grid):
    from xrann.fit.ensemble import combine_models

    # different training years: different driver scalings, the same target scaling through target_range
    first = grid.isel(time=slice(0, 12))
    second = grid.isel(time=slice(12, 24))
    settings = dict(target="nee", drivers=DRIVERS, seed=0, epochs=5, progress=False, validation=None)
    low, high = float(second["nee"].min()), float(second["nee"].max())
    lo1, hi1 = float(first["nee"].min()), float(first["nee"].max())
    total_low, total_high = min(low, lo1), max(high, hi1)
    width = total_high - total_low

    def target_range(lo, hi):
        return (0.1 + 0.8 * (lo - total_low) / width, 0.1 + 0.8 * (hi - total_low) / width)

    one = first.ann.fit(**settings, target_range=target_range(lo1, hi1))
    two = second.ann.fit(**(settings | {"seed": 1}), target_range=target_range(low, high))
    assert not np.array_equal(one.driver_scaler.minimum, two.driver_scaler.minimum)
    ensemble = combine_models([one, two])
    assert ensemble.n_members == 2 and ensemble.ensemble == "folds" and ensemble.hyperparameters["members"] == 2
    members = grid.ann.predict(ensemble, members=True)
    np.testing.assert_allclose(members.isel(member=0, drop=True), grid.ann.predict(one), rtol=1e-10)
    np.testing.assert_allclose(members.isel(member=1, drop=True), grid.ann.predict(two), rtol=1e-10)
    np.testing.assert_allclose(ensemble.driver_scaler.minimum, np.minimum(one.driver_scaler.minimum, two.driver_scaler.minimum))
    assert ensemble.history["loss"].dims == ("member", "epoch")
    assert ensemble.envelope.centroids.shape[0] == one.envelope.centroids.shape[0] + two.envelope.centroids.shape[0]
    # extrapolation flags work on the combined envelope
    assert "envelope_distance" in grid.ann.extrapolation(ensemble)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"drivers": ["t2m", "swdown"]}, r"model 1 has drivers=\['t2m', 'swdown'\] but model 0 has"),
        ({"hidden": (3,)}, r"model 1 has layer sizes \(3, 3, 1\) but model 0 has \(3, 4, 1\)"),
        ({"target_range": (0.2, 0.8)}, r"model 1 scales the target 'nee' differently from model 0"),
    ],
)
def test_combine_models_rejects_models_that_differ(grid, change, message):
    from xrann.fit.ensemble import combine_models

    settings = dict(target="nee", drivers=DRIVERS, seed=0, epochs=2, progress=False)
    with pytest.raises(ValueError, match=message):
        combine_models([grid.ann.fit(**settings), grid.ann.fit(**(settings | change))])


def test_combine_models_rejects_ensembles_and_empty_lists(grid_and_ensemble):
    from xrann.fit.ensemble import combine_models

    with pytest.raises(ValueError, match="at least one fitted model"):
        combine_models([])
    with pytest.raises(ValueError, match=r"one is an ensemble of 4 \(bootstrap\)"):
        combine_models([grid_and_ensemble[1]])
    with pytest.raises(TypeError, match="combines xrann Models, got str"):
        combine_models(["model.nc"])
