"""xrann.cross_validate: folds, held-out coordinates, per-fold scores, out-of-fold predictions, parallel runs, bad input."""

import numpy as np
import pytest
import xarray as xr

import xrann
from xrann import metrics
from xrann.crossval import cross_validate, fold_groups

DRIVERS = ["t2m", "swdown", "landcover"]
SETTINGS = {"seed": 0, "progress": False}  # Levenberg-Marquardt until converged: a few dozen steps here
LAND_CELLS = 45


@pytest.fixture
def three_years():
    from tests.conftest import make_grid_dataset

    return make_grid_dataset(n_time=36)


def test_leave_one_year_out(three_years):
    # validation=None: every sample of the kept years trains (the default "auto" would hold out ~10 % of them)
    cv = cross_validate(three_years, "nee", DRIVERS, by="time.year", leave_out=1, validation=None, **SETTINGS)
    assert cv.sizes["fold"] == 3
    assert cv["held_out"].values.tolist() == ["2007", "2008", "2009"]
    assert cv["held_out_groups"].dims == ("fold", "k")
    assert cv["held_out_groups"].values.tolist() == [[2007], [2008], [2009]]
    assert cv["n_samples"].values.tolist() == [12 * LAND_CELLS] * 3
    assert cv["n_training"].values.tolist() == [24 * LAND_CELLS] * 3
    # every land sample is predicted by exactly the one fold that held its year out
    land = np.isfinite(three_years["nee"])
    xr.testing.assert_equal(cv["n_folds"], land.astype(np.int64).rename("n_folds").assign_attrs(cv["n_folds"].attrs))
    xr.testing.assert_identical(cv["nee"], three_years["nee"])
    assert cv["nee_predicted"].dims == three_years["nee"].dims
    xr.testing.assert_equal(np.isnan(cv["nee_predicted"]), ~land)


def test_out_of_fold_prediction_comes_from_the_fold_that_held_it_out(three_years):
    cv = cross_validate(three_years, "nee", DRIVERS, leave_out=1, **SETTINGS)
    training = three_years.sel(time=three_years["time"].dt.year != 2008)
    model = training.ann.fit(target="nee", drivers=DRIVERS, **SETTINGS)
    expected = three_years.sel(time="2008").ann.predict(model)
    np.testing.assert_allclose(cv["nee_predicted"].sel(time="2008"), expected)
    # the fold score is the area-weighted (cos latitude) score on the held-out year
    weights = np.cos(np.deg2rad(three_years["lat"]))
    np.testing.assert_allclose(
        cv["rmse"].sel(fold=1), metrics.rmse(three_years["nee"].sel(time="2008"), expected, weights=weights)
    )


def test_leave_two_out_averages_the_folds_that_held_a_sample_out(three_years):
    cv = cross_validate(three_years, "nee", DRIVERS, leave_out=2, **SETTINGS)
    assert cv["held_out"].values.tolist() == ["2007,2008", "2007,2009", "2008,2009"]
    assert cv["held_out_groups"].values.tolist() == [[2007, 2008], [2007, 2009], [2008, 2009]]
    assert cv["n_samples"].values.tolist() == [24 * LAND_CELLS] * 3
    land = np.isfinite(three_years["nee"])
    assert set(np.unique(cv["n_folds"].values[land.values])) == {2}
    # 2009 is held out by folds 1 (2007, 2009) and 2 (2008, 2009): its prediction is their mean
    predictions = []
    for kept in (2008, 2007):
        model = three_years.sel(time=str(kept)).ann.fit(target="nee", drivers=DRIVERS, **SETTINGS)
        predictions.append(three_years.sel(time="2009").ann.predict(model))
    np.testing.assert_allclose(cv["nee_predicted"].sel(time="2009"), (predictions[0] + predictions[1]) / 2)
    assert "mean over the folds" in cv["nee_predicted"].attrs["description"]
    assert cv.attrs["leave_out"] == 2 and cv.attrs["n_groups"] == 3


@pytest.mark.filterwarnings("ignore::xrann.ConvergenceWarning")  # 2 epochs per fold: only the folds matter here
def test_nine_years_leave_two_out_gives_36_folds():
    from tests.conftest import make_grid_dataset

    tiny = make_grid_dataset(n_time=108, n_lat=2, n_lon=2)
    cv = cross_validate(tiny, "nee", ["t2m", "swdown"], leave_out=2, seed=0, epochs=2, progress=False)
    assert cv.sizes["fold"] == 36
    assert cv["held_out"].values[0] == "2007,2008" and cv["held_out"].values[-1] == "2014,2015"
    land = np.isfinite(tiny["nee"]).values
    assert set(np.unique(cv["n_folds"].values[land])) == {8}


def test_fold_validation_comes_from_the_training_groups(three_years):
    cv = cross_validate(three_years, "nee", DRIVERS, leave_out=1, validation=0.25, **SETTINGS)
    # a fraction is drawn per grid point by a seeded hash: about, not exactly, 25 % of the kept years
    kept = 24 * LAND_CELLS
    assert all(abs(n - 0.75 * kept) <= 0.05 * kept for n in cv["n_training"].values.tolist())
    # the held-out year is only scored, never split for validation
    assert cv["n_samples"].values.tolist() == [12 * LAND_CELLS] * 3


def test_cell_area_weights_the_fold_scores(three_years):
    area = xr.DataArray(np.arange(1.0, 49.0).reshape(6, 8), dims=("lat", "lon"), attrs={"units": "m2"})
    ds = three_years.assign(cell_area=area)
    ds["nee"].attrs["cell_measures"] = "area: cell_area"
    cv = cross_validate(ds, "nee", DRIVERS, leave_out=1, **SETTINGS)
    held = cv["nee"].sel(time="2007"), cv["nee_predicted"].sel(time="2007")
    np.testing.assert_allclose(cv["r2"].sel(fold=0), metrics.r2(*held, weights=ds["cell_area"]))


def test_groups_along_another_dim():
    ds = xrann.datasets.soil_toy(dry=True)
    cv = xrann.cross_validate(ds, "co2_flux", by="site", leave_out=1, seed=0, progress=False)
    assert cv.sizes["fold"] == 5
    assert cv["n_folds"].values.tolist() == [1] * 5
    assert np.isfinite(cv["co2_flux_predicted"]).all()


def test_distributed_client_runs_the_folds(three_years):
    distributed = pytest.importorskip("distributed")
    sequential = cross_validate(three_years, "nee", DRIVERS, leave_out=1, **SETTINGS)
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None):
        parallel = cross_validate(three_years, "nee", DRIVERS, leave_out=1, **SETTINGS)
    xr.testing.assert_allclose(parallel, sequential)


def test_fold_groups():
    from tests.conftest import make_grid_dataset

    ds = make_grid_dataset(n_time=24)
    assert fold_groups(ds, "time.year").values.tolist() == [2007] * 12 + [2008] * 12
    assert fold_groups(ds, "time.month").values.tolist() == list(range(1, 13)) * 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"by": "year"}, r"by='year' names 'year', which is neither a dim nor a coordinate.*its dims are \('time', 'lat', 'lon'\)"),
        ({"by": "depth.year"}, r"by='depth.year' names 'depth'"),
        ({"by": "lat.year"}, r"by='lat.year' cannot be computed"),
        ({"by": "region"}, r"by='region' has dims \('lat', 'lon'\)"),
        ({"leave_out": 3}, r"leave_out=3 must be smaller than the number of groups \(3 from by='time.year': \[2007, 2008, 2009\]\)"),
        ({"leave_out": 0}, r"leave_out must be a positive integer .* got 0"),
        ({"leave_out": 1.5}, r"leave_out must be a positive integer .* got 1.5"),
    ],
)
def test_bad_arguments(three_years, kwargs, message):
    with pytest.raises(ValueError, match=message):
        cross_validate(three_years, "nee", DRIVERS, **({"leave_out": 1} | kwargs), **SETTINGS)


def test_grouping_dim_the_target_lacks(three_years):
    ds = three_years.assign(profile=("depth", [1.0, 2.0]))
    with pytest.raises(ValueError, match=r"groups along dim 'depth', which target 'nee'"):
        cross_validate(ds, "nee", DRIVERS, by="depth", **SETTINGS)


def test_user_dataset_is_not_modified(three_years):
    lazy = three_years.chunk({"time": 12})
    before = lazy.copy()
    cross_validate(lazy, "nee", DRIVERS, leave_out=1, **SETTINGS)
    xr.testing.assert_identical(lazy, before)
    assert lazy["nee"].chunks is not None
