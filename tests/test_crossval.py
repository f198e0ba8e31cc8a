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


# -- spatial, label and space-time folds ------------------------------------------

QUICK = {"seed": 0, "progress": False, "epochs": 5, "hidden": (2,), "validation": None}
pytestmark = pytest.mark.filterwarnings("ignore::xrann.ConvergenceWarning")


@pytest.fixture
def two_years():
    from tests.conftest import make_grid_dataset

    return make_grid_dataset(n_time=24)


def _great_circle_km(lat0, lon0, lat1, lon1):
    lat0, lon0, lat1, lon1 = map(np.deg2rad, (lat0, lon0, lat1, lon1))
    h = np.sin((lat1 - lat0) / 2) ** 2 + np.cos(lat0) * np.cos(lat1) * np.sin((lon1 - lon0) / 2) ** 2
    return 2 * 6371.0 * np.arcsin(np.sqrt(h))


def test_spatial_blocks_never_share_a_block_between_training_and_test(two_years):
    from xrann.folds import make_folds

    folds = make_folds(two_years, "nee", by="space", block={"lat": 3, "lon": 4})
    assert len(folds) == 4
    block_of = folds.factors[0].codes.values  # (lat, lon) block code of every cell
    assert block_of.tolist() == [[0] * 4 + [1] * 4] * 3 + [[2] * 4 + [3] * 4] * 3
    for fold in range(len(folds)):
        held, excluded = folds.held_out(fold).values, folds.excluded(fold).values
        trained_blocks = set(block_of[~excluded].tolist())
        assert set(block_of[held].tolist()) == {fold} and fold not in trained_blocks
        assert trained_blocks == {0, 1, 2, 3} - {fold}
    cv = cross_validate(two_years, "nee", DRIVERS, by="space", block={"lat": 3, "lon": 4}, **QUICK)
    land = np.isfinite(two_years["nee"].isel(time=0)).values
    in_block = [int(land[block_of == b].sum()) * 24 for b in range(4)]
    assert cv["n_samples"].values.tolist() == in_block
    assert cv["n_training"].values.tolist() == [sum(in_block) - n for n in in_block]
    assert cv["held_out"].values[0] == "lat [30, 33) lon [-101, -97)"
    # every land sample predicted once, by the fold that held its block out
    xr.testing.assert_equal(cv["n_folds"], np.isfinite(two_years["nee"]).astype(np.int64).rename("n_folds").assign_attrs(cv["n_folds"].attrs))


def test_blocks_in_cells_equal_blocks_in_degrees(two_years):
    from xrann.folds import make_folds

    in_cells = make_folds(two_years, "nee", by="space", block={"lat": 3, "lon": 4}, block_units="cells")
    in_degrees = make_folds(two_years, "nee", by="space", block={"lat": 3, "lon": 4})
    np.testing.assert_array_equal(in_cells.factors[0].codes, in_degrees.factors[0].codes)
    assert in_cells.label(0) == "lat [30.5, 32.5] lon [-100.5, -97.5]"


@pytest.mark.parametrize(("buffer", "units"), [(150.0, "km"), (1, "cells")])
def test_buffer_keeps_training_cells_away_from_the_test_block(two_years, buffer, units):
    from xrann.folds import make_folds

    folds = make_folds(two_years, "nee", by="space", block={"lat": 3, "lon": 4}, buffer=buffer, buffer_units=units)
    lat, lon = xr.broadcast(two_years["lat"], two_years["lon"])
    rows, cols = np.indices(lat.shape)
    for fold in range(len(folds)):
        held, excluded = folds.held_out(fold).values, folds.excluded(fold).values
        assert (excluded & held).sum() == held.sum()
        for i, j in zip(*np.nonzero(~excluded)):
            if units == "km":
                assert _great_circle_km(lat.values[i, j], lon.values[i, j], lat.values[held], lon.values[held]).min() > buffer
            else:
                assert np.maximum(abs(rows[held] - i), abs(cols[held] - j)).min() > buffer
        # the buffer excludes something beyond the block, and not everything
        assert excluded.sum() > held.sum() and (~excluded).sum() > 0
    cv = cross_validate(two_years, "nee", DRIVERS, by="space", block={"lat": 3, "lon": 4}, buffer=buffer, buffer_units=units, **QUICK)
    land = np.isfinite(two_years["nee"].isel(time=0)).values
    assert cv["n_training"].values.tolist() == [int((land & ~folds.excluded(f).values).sum()) * 24 for f in range(4)]
    assert cv.attrs["buffer"] == f"{buffer} {units}"


def test_cell_lists_from_grid_to_cells(two_years):
    cells = xrann.grid_to_cells(two_years)
    on_cells = cross_validate(cells, "nee", DRIVERS, by="space", block={"lat": 3, "lon": 4}, **QUICK)
    on_grid = cross_validate(two_years, "nee", DRIVERS, by="space", block={"lat": 3, "lon": 4}, **QUICK)
    assert on_cells["held_out"].values.tolist() == on_grid["held_out"].values.tolist()
    assert on_cells["n_training"].values.tolist() == on_grid["n_training"].values.tolist()
    assert on_cells["nee_predicted"].dims == cells["nee"].dims
    xr.testing.assert_identical(on_cells["nee"], cells["nee"])
    np.testing.assert_allclose(on_cells["rmse"], on_grid["rmse"], rtol=1e-6)
    # year folds on the cell list (the AlignmentError of issue 13)
    years = cross_validate(cells, "nee", DRIVERS, by="time.year", **QUICK)
    assert years["held_out"].values.tolist() == ["2007", "2008"]


def test_two_dimensional_labels(two_years):
    cv = cross_validate(two_years, "nee", DRIVERS, by=two_years["region"], **QUICK)
    assert cv["held_out"].values.tolist() == ["north", "south"]
    north = (two_years["region"] == "north") & np.isfinite(two_years["nee"])
    south = (two_years["region"] == "south") & np.isfinite(two_years["nee"])
    assert cv["n_samples"].values.tolist() == [int(north.sum()), int(south.sum())]
    assert cv["n_training"].values.tolist() == [int(south.sum()), int(north.sum())]
    # a missing label belongs to no group: never held out, always trained on
    labels = two_years["region"].where(two_years["lon"] > -100, "")
    partial = cross_validate(two_years, "nee", DRIVERS, by=labels, **QUICK)
    assert partial["n_folds"].isel(lon=0).sum() == 0
    unlabelled = int((np.isfinite(two_years["nee"]) & (labels == "")).sum())
    labelled_north, labelled_south = int((north & (labels != "")).sum()), int((south & (labels != "")).sum())
    assert partial["n_samples"].values.tolist() == [labelled_north, labelled_south]
    assert partial["n_training"].values.tolist() == [labelled_south + unlabelled, labelled_north + unlabelled]


def test_space_time_folds_train_on_neither_the_block_nor_the_year(two_years):
    cv = cross_validate(two_years, "nee", DRIVERS, by=["space", "time.year"], block={"lat": 3, "lon": 4}, **QUICK)
    assert cv.sizes["fold"] == 8
    assert cv["held_out"].values[1] == "lat [30, 33) lon [-101, -97) & 2008"
    land = np.isfinite(two_years["nee"].isel(time=0)).values
    cells = [int(land[:3, :4].sum()), int(land[:3, 4:].sum()), int(land[3:, :4].sum()), int(land[3:, 4:].sum())]
    assert cv["n_samples"].values.tolist() == [12 * n for n in cells for _ in range(2)]
    assert cv["n_training"].values.tolist() == [12 * (sum(cells) - n) for n in cells for _ in range(2)]


def test_progress_bar_shows_folds_and_time_left(two_years, capsys):
    cross_validate(two_years, "nee", DRIVERS, leave_out=1, **(QUICK | {"progress": True}))
    err = capsys.readouterr().err
    # every fold is printed, with elapsed<remaining
    assert "xrann cross-validation" in err and "1/2 [" in err and "2/2 [" in err and "<" in err and "fold/s" in err


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"by": "space", "block": {"lat": 20, "lon": 4}}, ValueError, r"block 'lat'=20 degrees is larger than the domain, which spans 6 degrees"),
        ({"by": "space", "block": {"lat": 7}, "block_units": "cells"}, ValueError, r"block 'lat'=7 cells is larger than the domain, which has 6 cells"),
        ({"by": "space", "block": {"lat": 6, "lon": 8}}, ValueError, r"cuts the domain into 1 block"),
        ({"by": "space"}, ValueError, r"by='space' needs block="),
        ({"by": "space", "block": {"depth": 2}}, ValueError, r"block=\{'depth': ...\} names 'depth'"),
        ({"block": {"lat": 2}}, ValueError, r"block= is given but by= has no 'space'"),
        ({"buffer": 100}, ValueError, r"buffer= excludes cells around a held-out spatial block"),
        ({"by": "space", "block": {"lat": 3}, "buffer": 2000}, ValueError, r"fold 0 \(held out: lat \[30, 33\)\) keeps no training sample with buffer=2000 km"),
        ({"by": "space", "block": {"lat": 3}, "buffer_units": "miles"}, ValueError, r"buffer_units='miles' is not known"),
        ({"keep_models": True, "members": 3}, ValueError, r"keep_models=True makes an ensemble of the fold models"),
        ({"hiden": (3,)}, TypeError, r"unknown settings \['hiden'\]"),
        ({"hidden": (0,)}, ValueError, r"hidden"),
    ],
)
def test_bad_folds_fail_before_any_fold_runs(two_years, kwargs, error, message, monkeypatch):
    monkeypatch.setattr(xrann.crossval, "fit_dataset", lambda *a, **k: pytest.fail("a fold ran"))
    with pytest.raises(error, match=message):
        cross_validate(two_years, "nee", DRIVERS, **({"progress": False} | kwargs))


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (lambda ds: ds["region"].rename(lat="y"), r"labels given as by= have dim 'y', which the target 'nee'"),
        (lambda ds: ds["region"].isel(lat=slice(0, 4)), r"have 4 positions along 'lat', the target 'nee' has 6"),
        (lambda ds: ds["region"].assign_coords(lat=ds["lat"] + 10), r"not on the target's grid: their 'lat' coordinate differs"),
    ],
)
def test_labels_not_on_the_grid(two_years, labels, message):
    with pytest.raises(ValueError, match=message):
        cross_validate(two_years, "nee", DRIVERS, by=labels(two_years), progress=False)


def test_cells_units_on_a_cell_list(two_years):
    with pytest.raises(ValueError, match=r"block_units='cells' counts cells along a dim, but 'lat' is a coordinate on dim"):
        cross_validate(xrann.grid_to_cells(two_years), "nee", DRIVERS, by="space", block={"lat": 2}, block_units="cells")


# -- keep_models: the year-pair ensemble ----------------------------------------

@pytest.fixture(scope="module")
def nine_years():
    from tests.conftest import make_grid_dataset

    return make_grid_dataset(n_time=108, n_lat=2, n_lon=3)


def test_year_pair_ensemble_has_36_members_and_reproduces(nine_years, tmp_path):
    settings = {"seed": 3, "epochs": 3, "hidden": (2,), "progress": False}
    cv, model = cross_validate(nine_years, "nee", DRIVERS, leave_out=2, keep_models=True, **settings)
    assert cv.sizes["fold"] == 36 and model.n_members == 36 and model.ensemble == "folds"
    assert model.hyperparameters["cross_validation"]["held_out"][0] == "2007,2008"
    assert model.history["loss"].sizes["member"] == 36
    _, again = cross_validate(nine_years, "nee", DRIVERS, leave_out=2, keep_models=True, **settings)
    for mine, theirs in zip(model.core.members, again.core.members):
        for a, b in zip(mine.weights + mine.biases, theirs.weights + theirs.biases):
            np.testing.assert_array_equal(a, b)
    members = nine_years.ann.predict(model, members=True)
    assert members.sizes["member"] == 36
    # each member is its fold's model: the out-of-fold prediction of 2015 is the mean of the 8 members holding it out
    holding = [i for i, label in enumerate(cv["held_out"].values) if "2015" in label.split(",")]
    assert len(holding) == 8
    np.testing.assert_allclose(
        members.isel(member=holding).mean("member").sel(time="2015"), cv["nee_predicted"].sel(time="2015"), rtol=1e-9
    )
    first_year = nine_years.isel(time=slice(0, 12))
    std = first_year.ann.predict(model, std=True)
    np.testing.assert_allclose(std["nee_predicted_std"], members.isel(time=slice(0, 12)).std("member", ddof=1))
    model.to_netcdf(tmp_path / "pairs.nc")
    loaded = xrann.open_model(tmp_path / "pairs.nc")
    assert loaded.n_members == 36
    np.testing.assert_array_equal(first_year.ann.predict(loaded, members=True).values, members.isel(time=slice(0, 12)).values)


def test_kept_models_share_the_target_scaling_with_validation(nine_years):
    # with 10 % validation drawn per fold, a fold's extremes may be held out of its scaling: it is refitted to match
    cv, model = cross_validate(
        nine_years, "nee", DRIVERS, by="time.year", leave_out=1, validation=0.3, seed=0, epochs=2, hidden=(2,),
        keep_models=True, progress=False,
    )
    valid = nine_years["nee"].values[np.isfinite(nine_years["nee"].values)]
    # the ensemble maps the target range of the whole Dataset onto the default target_range (0.1, 0.9)
    np.testing.assert_allclose(model.target_scaler.inverse_transform(np.array([[0.1], [0.9]]))[:, 0], [valid.min(), valid.max()])
    assert model.n_members == cv.sizes["fold"] == 9


def test_keep_models_with_the_linear_baseline(nine_years):
    cv, model = cross_validate(nine_years, "nee", DRIVERS, leave_out=1, method="linear", keep_models=True, progress=False)
    members = nine_years.ann.predict(model, members=True)
    for fold in range(9):
        year = str(2007 + fold)
        np.testing.assert_allclose(members.isel(member=fold).sel(time=year), cv["nee_predicted"].sel(time=year), rtol=1e-9)


def test_recipe_drivers_are_derived_once_on_the_whole_dataset_and_kept_with_the_ensemble(tmp_path):
    from xrann import features as F

    ds = xrann.datasets.north_america_nee(resolution=10.0, start="2009-01", end="2011-12")
    before = ds.copy(deep=True)
    drivers = ["t2m", "swdown", F.lag("precip", 1), F.anomaly("soilm")]
    cv, ensemble = xrann.cross_validate(ds, "nee", drivers, seed=0, epochs=5, progress=False, keep_models=True)
    xr.testing.assert_identical(ds, before)  # the recipe drivers went onto a copy
    # a held-out year's January has last December's rain: every sample but the series' first month is predicted
    land = ds["nee"].notnull()
    assert int(cv["n_folds"].isel(time=0).sum()) == 0
    assert bool((cv["n_folds"].isel(time=slice(1, None)) == 1).where(land.isel(time=slice(1, None)), True).all())
    # the ensemble recomputes the recipes from the raw variables, with the whole Dataset's climatology
    assert ensemble.recipes == (F.lag("precip", 1), F.anomaly("soilm"))
    assert ensemble.drivers == ["t2m", "swdown", "precip_lag1", "soilm_anomaly"]
    expected = ds["soilm"].groupby("time.month").mean("time")
    np.testing.assert_allclose(ensemble.climatologies["soilm"].values, expected.values, rtol=1e-12, equal_nan=True)
    members = ds.ann.predict(ensemble, members=True)
    np.testing.assert_allclose(ds.ann.predict(ensemble).values, members.mean("member").values, rtol=1e-12, equal_nan=True)
    path = tmp_path / "folds.nc"
    ensemble.to_netcdf(path)
    xr.testing.assert_identical(ds.ann.predict(xrann.open_model(path)), ds.ann.predict(ensemble))
    found = xrann.search(ds, "nee", drivers, grid={"hidden": [(2,), (3,)]}, seed=0, epochs=5, progress=False)
    assert found.best_model.recipes == ensemble.recipes  # refitted with the recipes, on the raw variables
