"""Several targets in one network (``target=["nee", "gpp"]``): one output node per target, each scaled over its own
training extremes; predictions, the model file, ensembles, the analyses, cross-validation, search and the command
line all handle a tuple of targets, and bad target lists fail before training with a message naming the fix."""

import copy
import warnings
import subprocess
import sys

import dask
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import xrann
from tests.conftest import make_grid_dataset
from xrann import features as F
from xrann.model import FORMAT_VERSION, Model, ModelFormatError
from xrann.predict import member_models

DRIVERS = ["t2m", "swdown", "landcover"]
TARGETS = ["nee", "gpp"]
#: the North America targets: nee = reco - gpp + noise
FLUXES = ["nee", "gpp", "reco"]
FLUX_UNITS = "umol m-2 s-1"
# most fits here are deliberately short
pytestmark = [
    pytest.mark.filterwarnings("ignore::xrann.ConvergenceWarning"),
    # the test grid's gpp lacks one row on purpose; the warning itself is tested below
    pytest.mark.filterwarnings("ignore:a sample needs every target:UserWarning"),
]


def with_gpp(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` with a second target ``gpp``: another smooth function of the drivers, on another range than nee.

    One row of one month is NaN in gpp only, so there nee has a value but the grid point is no sample.
    """
    scaled_t = (ds["t2m"].values - 285) / 10
    scaled_sw = (ds["swdown"].values - 200) / 100
    gpp = 4 + 2 * np.cos(2 * scaled_t) * ds["landcover"].values + scaled_sw
    gpp[5, 2, :] = np.nan
    attrs = {"units": FLUX_UNITS, "long_name": "gross primary production"}
    return ds.assign(gpp=(ds["nee"].dims, gpp, attrs))


def _parameters(model):
    return np.concatenate([p.ravel() for p in model.core.parameters])


def _refuse(*args, **kwargs):
    raise AssertionError("something computed")


def _valid(ds, names, exclude=None):
    """Where every one of ``names`` is finite (and not held out), on nee's grid: with the targets and drivers, the samples of a fit."""
    valid = xr.ones_like(ds["nee"], dtype=bool)
    for name in names:
        valid = valid & np.isfinite(ds[name])
    if exclude is not None:
        valid = valid & ~exclude
    return valid.transpose(*ds["nee"].dims)


@pytest.fixture(scope="module")
def data():
    return with_gpp(make_grid_dataset())


@pytest.fixture(scope="module")
def three_years():
    return with_gpp(make_grid_dataset(n_time=36))


@pytest.fixture(scope="module")
def model(data):
    """nee and gpp, trained until converged, stopping on 2008."""
    return data.ann.fit(TARGETS, DRIVERS, seed=0, hidden=(8,), validation={"time": [2008]}, progress=False)


@pytest.fixture(scope="module")
def north_america():
    return xrann.datasets.north_america_nee(resolution=6.0, start="2008-01", end="2010-12", components=True)


@pytest.fixture(scope="module")
def flux_model(north_america):
    """nee, gpp and reco of the North America data from three drivers (short training)."""
    return north_america.ann.fit(FLUXES, ["t2m", "swdown", "soilm"], seed=0, hidden=(4,), epochs=20, progress=False)


# -- the fit: one network, one output per target -----------------------------------------------
def test_each_target_is_fitted_to_its_own_truth_on_a_held_out_year(data, model):
    assert model.target == ("nee", "gpp") and model.targets == ("nee", "gpp") and model.several_targets
    assert model.core.weights[-1].shape == (8, 2) and model.target_scaler.minimum.shape == (2,)
    predicted = data.ann.predict(model)
    assert isinstance(predicted, xr.Dataset)
    assert list(predicted.data_vars) == ["nee_predicted", "gpp_predicted"]
    held_out = data.sel(time="2008")
    for name in TARGETS:
        result = predicted[f"{name}_predicted"]
        assert result.dims == data[name].dims
        assert result.attrs["units"] == data[name].attrs["units"]
        assert result.attrs["long_name"] == data[name].attrs["long_name"]
        observed = held_out[name]
        error = ((result.sel(time="2008") - observed) ** 2).sum()
        spread = ((observed - observed.mean()) ** 2).sum()
        assert float(1 - error / spread) > 0.95, name
    # predicted wherever the drivers are, also where only gpp is missing; NaN where a driver is
    drivers_valid = _valid(data, DRIVERS)
    for name in TARGETS:
        np.testing.assert_array_equal(predicted[f"{name}_predicted"].notnull().values, drivers_valid.values)
    assert np.isfinite(predicted["gpp_predicted"].values[5, 2, :]).all()


def test_each_target_is_scaled_over_its_own_training_extremes(data, model):
    held_out = (data["time"].dt.year == 2008).broadcast_like(data["nee"])
    training = _valid(data, TARGETS + DRIVERS, exclude=held_out)
    valid = _valid(data, TARGETS + DRIVERS)
    expected_min = [float(data[name].where(training).min()) for name in TARGETS]
    expected_max = [float(data[name].where(training).max()) for name in TARGETS]
    np.testing.assert_array_equal(model.target_scaler.minimum, expected_min)
    np.testing.assert_array_equal(model.target_scaler.maximum, expected_max)
    assert expected_min[1] > expected_max[0]  # the targets' ranges do not overlap: one scaling would not do
    # a sample needs every target: the row where only gpp is missing is dropped
    assert model.sample_counts == {
        "grid_points": data["nee"].size,
        "dropped": int((~valid).sum()),
        "training": int(training.sum()),
        "validation": int((valid & held_out).sum()),
    }
    assert int((~valid).sum()) > int(data["nee"].isnull().sum())


def test_for_target_is_the_network_with_only_that_output(data, model):
    predicted = data.ann.predict(model)
    for column, name in enumerate(TARGETS):
        single = model.for_target(name)
        assert single.target == name and single.targets == (name,) and not single.several_targets
        assert single.drivers == model.drivers and single.sample_dims == model.sample_dims
        assert single.target_attrs == model.attrs_of_target(name) == {"units": FLUX_UNITS, "long_name": data[name].attrs["long_name"]}
        assert single.target_scaler.minimum.tolist() == [model.target_scaler.minimum[column]]
        assert single.target_scaler.maximum.tolist() == [model.target_scaler.maximum[column]]
        np.testing.assert_array_equal(single.core.weights[0], model.core.weights[0])
        np.testing.assert_array_equal(single.core.weights[-1], model.core.weights[-1][:, [column]])
        xr.testing.assert_identical(data.ann.predict(single), predicted[f"{name}_predicted"])
        assert single.for_target(name) is single


def test_for_target_predicts_the_models_column_to_rounding(data, model):
    drivers = np.stack([data[name].broadcast_like(data["nee"]).values.ravel() for name in DRIVERS], axis=1)
    drivers = drivers[np.isfinite(drivers).all(axis=1)]
    both = model.predict_array(drivers)
    assert both.shape == (len(drivers), 2)
    for column, name in enumerate(TARGETS):
        # Model.for_target: that column of predict_array to rounding (the last matrix product has another shape)
        np.testing.assert_allclose(model.for_target(name).predict_array(drivers), both[:, column], rtol=1e-12, atol=1e-12)


def test_drivers_none_and_cf_names_leave_every_target_out(north_america):
    # nee is found by its CF standard_name; drivers=None takes every other numeric variable but the targets
    model = north_america[["nee", "gpp", "reco", "t2m", "soilm"]].ann.fit(
        ["surface_upward_mole_flux_of_carbon_dioxide", "gpp", "reco"], None, seed=0, epochs=2, progress=False
    )
    assert model.target == ("nee", "gpp", "reco")
    assert model.drivers == ["t2m", "soilm"]
    with pytest.raises(ValueError, match=r"targets \['nee'\] are listed more than once"):
        north_america.ann.fit(["nee", "surface_upward_mole_flux_of_carbon_dioxide"], ["t2m"], seed=0, progress=False)


@pytest.mark.parametrize("names", [np.array(TARGETS), pd.Index(TARGETS)], ids=["array", "index"])
def test_target_names_in_an_array_or_index_are_taken_as_drivers_are(data, names):
    model = data.ann.fit(names, DRIVERS, seed=0, epochs=2, progress=False)
    assert model.target == ("nee", "gpp")
    reference = data.ann.fit(TARGETS, DRIVERS, seed=0, epochs=2, progress=False)
    np.testing.assert_array_equal(_parameters(model), _parameters(reference))


def test_linear_fit_of_several_targets_equals_separate_linear_fits(data):
    multi = data.ann.fit(TARGETS, DRIVERS, method="linear", validation=None, progress=False)
    assert multi.core.coefficients.shape == (3, 2)
    predicted = data.ann.predict(multi)
    same_samples = data.assign(nee=data["nee"].where(data["gpp"].notnull()))  # a sample needs every target
    for column, name in enumerate(TARGETS):
        single = same_samples.ann.fit(name, DRIVERS, method="linear", validation=None, progress=False)
        np.testing.assert_allclose(multi.core.coefficients[:, column], single.core.coefficients[:, 0], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(predicted[f"{name}_predicted"], data.ann.predict(single), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("optimizer", ["lm", "adam"])
def test_uniform_weights_give_the_unweighted_fit_exactly(data, optimizer):
    uniform = xr.full_like(data["landcover"], 0.3).fillna(0.3)
    settings = dict(seed=0, optimizer=optimizer, epochs=4, batch_size=None, progress=False)
    for ds in (data, data.chunk({"time": 12})):
        weighted = ds.ann.fit(TARGETS, DRIVERS, weights=uniform, **settings)
        unweighted = ds.ann.fit(TARGETS, DRIVERS, **settings)
        np.testing.assert_array_equal(_parameters(weighted), _parameters(unweighted))
        np.testing.assert_array_equal(weighted.history["loss"].values, unweighted.history["loss"].values)
    uneven = data.ann.fit(TARGETS, DRIVERS, weights=data["landcover"].fillna(0.0) + 0.1, **settings)
    assert not np.allclose(_parameters(uneven), _parameters(unweighted))


# -- the model file -----------------------------------------------------------------------------
def test_model_file_round_trip_with_recipes_is_bit_identical(north_america, tmp_path):
    drivers = ["t2m", "swdown", F.lag("precip", 1), F.anomaly("soilm")]
    model = north_america.ann.fit(FLUXES, drivers, seed=0, hidden=(4,), epochs=10, progress=False)
    assert model.drivers == ["t2m", "swdown", "precip_lag1", "soilm_anomaly"]
    path = tmp_path / "fluxes.nc"
    model.to_netcdf(path)
    with xr.open_dataset(path) as stored:
        assert stored.attrs["xrann_format_version"] == FORMAT_VERSION == 4
        assert stored.attrs["several_targets"] == 1
        assert stored.attrs["target"] == '["nee", "gpp", "reco"]'
        assert stored["target"].values.tolist() == FLUXES
        assert stored["target_min"].dims == stored["target_max"].dims == ("target",)
        np.testing.assert_array_equal(stored["target_min"].values, model.target_scaler.minimum)
        np.testing.assert_array_equal(stored["target_max"].values, model.target_scaler.maximum)
        assert stored["core_weight_1"].shape == (4, 3)
    loaded = xrann.open_model(path)
    assert loaded.target == ("nee", "gpp", "reco") and loaded.several_targets
    assert loaded.recipes == model.recipes and loaded.target_attrs == model.target_attrs
    xr.testing.assert_equal(loaded.climatologies["soilm"], model.climatologies["soilm"])
    xr.testing.assert_identical(loaded.to_dataset(), model.to_dataset())
    xr.testing.assert_identical(north_america.ann.predict(loaded), north_america.ann.predict(model))
    for name in FLUXES:
        xr.testing.assert_identical(north_america.ann.predict(loaded.for_target(name)), north_america.ann.predict(model.for_target(name)))


#: target names of any script (netCDF stores them as UTF-8 text)
TARGET_NAME = st.text(alphabet=st.characters(categories=("L", "Nd")), min_size=1, max_size=6)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    names=st.lists(TARGET_NAME, min_size=1, max_size=3, unique=True),
    as_list=st.booleans(),
    hidden=st.lists(st.integers(1, 4), min_size=1, max_size=2),
    bias=st.booleans(),
    dtype=st.sampled_from(["float64", "float32"]),
    method=st.sampled_from(["ann", "linear"]),
    members=st.sampled_from([None, 2]),
    seed=st.integers(0, 1000),
)
def test_any_small_model_of_any_targets_round_trips_bit_identically(tmp_path_factory, names, as_list, hidden, bias, dtype, method, members, seed):
    assume(not set(names) & {"a", "b", "s"})
    rng = np.random.default_rng(seed)
    a, b = np.linspace(0.0, 1.0, 30), rng.random(30)
    targets = {name: ("s", np.sin(3 * a * (k + 1)) + rng.normal() * b) for k, name in enumerate(names)}
    ds = xr.Dataset({"a": ("s", a), "b": ("s", b), **targets})
    target = list(names) if as_list or len(names) > 1 else names[0]
    network = dict(hidden=tuple(hidden), bias=bias, dtype=dtype, epochs=2) if method == "ann" else {}
    model = ds.ann.fit(target, ["a", "b"], method=method, members=members, seed=seed, validation=None, progress=False, **network)
    assert model.several_targets == isinstance(target, list)
    assert model.targets == tuple(names)
    path = tmp_path_factory.mktemp("round_trip") / "model.nc"
    model.to_netcdf(path)
    for loaded in (xrann.open_model(path), Model.from_dataset(model.to_dataset())):
        assert loaded.target == model.target
        xr.testing.assert_identical(loaded.to_dataset(), model.to_dataset())
        xr.testing.assert_identical(ds.ann.predict(loaded), ds.ann.predict(model))
        for name in names:
            np.testing.assert_array_equal(loaded.for_target(name).target_scaler.minimum, model.for_target(name).target_scaler.minimum)
            xr.testing.assert_identical(ds.ann.predict(loaded.for_target(name)), ds.ann.predict(model.for_target(name)))


def _differing_coordinate(model_ds):
    return model_ds.assign_coords(target=["gpp", "nee"])


def _one_output_column(model_ds):
    return model_ds.isel(core_weight_1_dim1=[0], core_bias_1_dim0=[0])


def _three_output_columns(model_ds):
    weight = model_ds["core_weight_1"]
    bias = model_ds["core_bias_1"]
    wider = xr.concat([weight, weight.isel(core_weight_1_dim1=[0])], dim="core_weight_1_dim1")
    return model_ds.drop_vars(["core_weight_1", "core_bias_1"]).assign(
        core_weight_1=wider, core_bias_1=xr.concat([bias, bias.isel(core_bias_1_dim0=[0])], dim="core_bias_1_dim0")
    )


def _version_3(model_ds):
    return model_ds.assign_attrs(xrann_format_version=3)


def _duplicated_names(model_ds):
    return model_ds.assign_attrs(target='["nee", "nee"]').assign_coords(target=["nee", "nee"])


def _no_target_coordinate(model_ds):
    return model_ds.drop_vars("target")


def _scalar_target_min(model_ds):
    return model_ds.assign(target_min=((), 0.0))


def _a_target_among_the_drivers(model_ds):
    return model_ds.assign_attrs(target='["nee", "t2m"]').assign_coords(target=["nee", "t2m"])


@pytest.mark.parametrize(
    "corrupt, message",
    [
        (_differing_coordinate, r"the coordinate target \['gpp', 'nee'\] differs from the global attribute target \['nee', 'gpp'\]"),
        (_one_output_column, r"the output layer core_weight_1 has 1 columns, but the model predicts 2 targets \(expected shape \(8, 2\)\)"),
        (_three_output_columns, r"the output layer core_weight_1 has 3 columns, but the model predicts 2 targets"),
        (_version_3, r"the file has format version 3 but several targets, which came with version 4"),
        (_duplicated_names, r"the global attribute target must list distinct, non-empty target names, got \['nee', 'nee'\]"),
        (_no_target_coordinate, r"the coordinate target \(the target names of a model of several targets\) is missing"),
        (_scalar_target_min, r"the variable target_min has dims \(\), expected \('target',\)"),
        (_a_target_among_the_drivers, r"the target 't2m' is also listed as a driver"),
        (lambda m: m.assign_attrs(several_targets=0), r"the global attribute several_targets must be the integer 1 .*got 0"),
        (lambda m: m.assign_attrs(several_targets="yes"), r"several_targets must be the integer 1 .*got 'yes'"),
        (lambda m: m.assign_attrs(target_attrs='{"units": "umol m-2 s-1"}'),
         r"target_attrs must have one entry per target \['nee', 'gpp'\], got keys \['units'\]"),
        (lambda m: m.assign_attrs(target_attrs='{"nee": {"units": 5}, "gpp": {}}'),
         r"target_attrs\['nee'\] must map some of \['units', 'standard_name', 'long_name'\] to text, got \{'units': 5\}"),
        (lambda m: m.assign_attrs(target_attrs='{"nee": {"colour": "red"}, "gpp": {}}'), r"target_attrs\['nee'\] must map some of"),
    ],
)
def test_corrupt_files_of_several_targets_are_refused_naming_the_problem(model, tmp_path, corrupt, message):
    model_ds = model.to_dataset()
    assert Model.from_dataset(model_ds).target == model.target  # the unaltered file loads
    broken = corrupt(model_ds)
    with pytest.raises(ModelFormatError, match=message):
        Model.from_dataset(broken)
    path = tmp_path / "broken.nc"
    broken.to_netcdf(path)
    with pytest.raises(ModelFormatError, match=message):
        xrann.open_model(path)


# -- prediction ---------------------------------------------------------------------------------
@pytest.mark.parametrize("with_targets", [True, False])
def test_dask_input_predicts_the_same_and_stays_lazy(data, model, with_targets):
    ds = data if with_targets else data.drop_vars(TARGETS)
    lazy = ds.chunk({"time": 6, "lat": 3})
    with dask.config.set(scheduler=_refuse):
        predicted = lazy.ann.predict(model)
    assert list(predicted.data_vars) == ["nee_predicted", "gpp_predicted"]
    for name in predicted.data_vars:
        assert predicted[name].chunks is not None
        assert predicted[name].chunks[0] == (6, 6, 6, 6)
    expected = ds.ann.predict(model)
    computed = predicted.compute()
    # the same values to rounding (BLAS sums rows of blocks of other sizes in another order), the same metadata
    xr.testing.assert_allclose(computed, expected, rtol=1e-12, atol=0)
    xr.testing.assert_identical(computed.coords.to_dataset(), expected.coords.to_dataset())
    assert {n: v.attrs for n, v in computed.data_vars.items()} == {n: v.attrs for n, v in expected.data_vars.items()}


def test_an_ensemble_predicts_mean_and_spread_per_target(data, tmp_path):
    ensemble = data.ann.fit(TARGETS, DRIVERS, seed=0, hidden=(3,), epochs=5, members=3, progress=False)
    assert ensemble.n_members == 3 and ensemble.targets == ("nee", "gpp")
    spread = data.ann.predict(ensemble, std=True)
    assert list(spread.data_vars) == ["nee_predicted", "nee_predicted_std", "gpp_predicted", "gpp_predicted_std"]
    xr.testing.assert_identical(spread[["nee_predicted", "gpp_predicted"]], data.ann.predict(ensemble))
    members = data.ann.predict(ensemble, members=True)
    assert list(members.data_vars) == ["nee_predicted", "gpp_predicted"]
    singles = member_models(ensemble)
    for name in TARGETS:
        each = members[f"{name}_predicted"]
        assert each.dims == ("member", "time", "lat", "lon") and each.sizes["member"] == 3
        np.testing.assert_allclose(spread[f"{name}_predicted"], each.mean("member"), rtol=1e-12)
        np.testing.assert_allclose(spread[f"{name}_predicted_std"], each.std("member", ddof=1), rtol=1e-10, atol=1e-15)
        assert float(spread[f"{name}_predicted_std"].max()) > 0
        for i, single in enumerate(singles):
            assert single.several_targets
            xr.testing.assert_identical(data.ann.predict(single)[f"{name}_predicted"], each.isel(member=i, drop=True))
    everything = data.ann.predict(ensemble, members=True, std=True)
    assert sorted(everything.data_vars) == sorted(f"{t}_predicted{s}" for t in TARGETS for s in ("", "_std", "_members"))
    ensemble.to_netcdf(tmp_path / "ensemble.nc")
    xr.testing.assert_identical(data.ann.predict(xrann.open_model(tmp_path / "ensemble.nc"), std=True), spread)


# -- the analyses: one result per target along a target dim ----------------------------------------
ANALYSES = {
    "evaluate": lambda ds, model: ds.ann.evaluate(model, period=[2010]),
    "importance": lambda ds, model: ds.ann.importance(model, n_repeats=2),
    "response": lambda ds, model: ds.ann.response("t2m", model, n=10),
    "response surface": lambda ds, model: ds.ann.response(["t2m", "soilm"], model, n=4),
    "shapley": lambda ds, model: ds.ann.shapley(model, max_background=20),
    "anomaly_attribution": lambda ds, model: ds.ann.anomaly_attribution(2010, [2008, 2009], model),
}


@pytest.mark.parametrize("analysis", ANALYSES)
def test_analyses_give_each_target_its_own_result_along_a_target_dim(north_america, flux_model, analysis):
    result = ANALYSES[analysis](north_america, flux_model)
    assert result["target"].dims == ("target",)
    assert result["target"].values.tolist() == FLUXES
    assert result["target_units"].values.tolist() == [FLUX_UNITS] * 3
    arrays = result.data_vars.values() if isinstance(result, xr.Dataset) else [result]
    assert all(array.dims[0] == "target" for array in arrays)
    for name in FLUXES:
        single = ANALYSES[analysis](north_america, flux_model.for_target(name))
        xr.testing.assert_equal(result.sel(target=name, drop=True), single)


def test_shapley_values_add_up_to_each_targets_prediction(north_america, flux_model):
    phi = north_america.ann.shapley(flux_model, max_background=20)
    assert phi.name == "shapley"
    assert phi["base_value"].dims[0] == "target"
    predicted = north_america.ann.predict(flux_model)
    for name in FLUXES:
        part = phi.sel(target=name)
        total = (part.sum("driver", skipna=False) + part["base_value"]).transpose(*predicted[f"{name}_predicted"].dims)
        np.testing.assert_allclose(total.values, predicted[f"{name}_predicted"].values, rtol=1e-8, atol=1e-12)


def test_attribution_of_several_targets_adds_up_per_target(north_america, flux_model):
    attribution = north_america.ann.anomaly_attribution(2010, [2008, 2009], flux_model)
    assert attribution["contribution"].dims == ("target", "driver")
    np.testing.assert_allclose(
        attribution["contribution"].sum("driver").values, attribution["anomaly"].values, rtol=1e-8, atol=1e-12
    )


# -- cross-validation and search ------------------------------------------------------------------
CV_SETTINGS = dict(seed=0, epochs=8, validation=None, progress=False)


def test_cross_validation_of_two_targets_scores_each_and_keeps_one_ensemble(three_years):
    cv, ensemble = xrann.cross_validate(three_years, TARGETS, DRIVERS, by="time.year", keep_models=True, hidden=(3,), **CV_SETTINGS)
    for score in ("r2", "rmse", "mae", "bias", "pearson_r", "n_samples"):
        assert cv[score].dims == ("fold", "target")
    assert cv["target"].values.tolist() == TARGETS and cv["target_units"].values.tolist() == [FLUX_UNITS] * 2
    assert cv.attrs["target"] == "nee,gpp"
    assert cv["held_out"].values.tolist() == ["2007", "2008", "2009"]
    assert (cv["r2"] > 0).all()
    for name in TARGETS:
        xr.testing.assert_identical(cv[name], three_years[name])
        assert cv[f"{name}_predicted"].dims == three_years[name].dims
    # one ensemble of the fold models, every member scaling each target over the whole Dataset's extremes
    assert ensemble.ensemble == "folds" and ensemble.n_members == 3 and ensemble.targets == ("nee", "gpp")
    valid = _valid(three_years, TARGETS + DRIVERS)
    np.testing.assert_array_equal(ensemble.target_scaler.minimum, [float(three_years[n].where(valid).min()) for n in TARGETS])
    np.testing.assert_array_equal(ensemble.target_scaler.maximum, [float(three_years[n].where(valid).max()) for n in TARGETS])
    # member k never saw fold k's year, and its prediction there is the out-of-fold prediction
    members = three_years.ann.predict(ensemble, members=True)
    for fold, year in enumerate(cv["held_out"].values):
        for name in TARGETS:
            np.testing.assert_allclose(
                cv[f"{name}_predicted"].sel(time=year).values,
                members[f"{name}_predicted"].isel(member=fold).sel(time=year).values,
                rtol=1e-12, atol=1e-14,
            )


def test_search_over_two_targets_ranks_by_the_mean_score_over_targets(three_years):
    grid = {"hidden": [(1,), (4,)]}
    found = xrann.search(three_years, TARGETS, DRIVERS, grid=grid, scoring="r2", by="time.year", **CV_SETTINGS)
    scores = found.scores
    assert scores["r2"].dims == ("setting", "fold", "target")
    assert scores["mean_r2_per_target"].dims == ("setting", "target")
    np.testing.assert_allclose(scores["mean_r2_per_target"], scores["r2"].mean("fold"), rtol=1e-12)
    np.testing.assert_allclose(scores["mean_r2"], scores["r2"].mean("fold").mean("target"), rtol=1e-12)
    # the spread over folds is of the score the settings are ranked by (each fold's mean over targets)
    assert scores["std_r2"].dims == ("setting",) and scores["std_r2_per_target"].dims == ("setting", "target")
    np.testing.assert_allclose(scores["std_r2"], scores["r2"].mean("target").std("fold"), rtol=1e-12)
    best = int(np.argmax(scores["mean_r2"].values))
    assert scores["rank"].values[best] == 1
    assert found.best_settings == {"hidden": grid["hidden"][best]}
    assert found.best_score == pytest.approx(float(scores["mean_r2"][best]), rel=1e-12)
    # each setting is scored as cross-validation scores it
    for setting, hidden in enumerate(grid["hidden"]):
        cv = xrann.cross_validate(three_years, TARGETS, DRIVERS, by="time.year", **(CV_SETTINGS | {"hidden": hidden}))
        np.testing.assert_allclose(scores["r2"].isel(setting=setting).values, cv["r2"].values, rtol=1e-12)
    # the best setting refitted on all the data
    assert found.best_model.targets == ("nee", "gpp")
    refit = three_years.ann.fit(TARGETS, DRIVERS, **(CV_SETTINGS | found.best_settings))
    np.testing.assert_array_equal(_parameters(found.best_model), _parameters(refit))


@pytest.mark.parametrize("analysis", ["cross_validate", "search"])
def test_targets_with_their_dims_in_another_order_are_scored_the_same(three_years, analysis):
    transposed = three_years.assign(gpp=three_years["gpp"].transpose("lon", "time", "lat"))
    # the fit itself does not depend on the order
    np.testing.assert_array_equal(
        _parameters(transposed.ann.fit(TARGETS, DRIVERS, **CV_SETTINGS)), _parameters(three_years.ann.fit(TARGETS, DRIVERS, **CV_SETTINGS))
    )
    if analysis == "cross_validate":
        run = lambda ds: xrann.cross_validate(ds, TARGETS, DRIVERS, **CV_SETTINGS)  # noqa: E731
    else:
        run = lambda ds: xrann.search(ds, TARGETS, DRIVERS, grid={"hidden": [(2,)]}, refit=False, **CV_SETTINGS).scores  # noqa: E731
    expected, result = run(three_years), run(transposed)
    np.testing.assert_allclose(result["r2"].values, expected["r2"].values, rtol=1e-12)


# -- the command line -----------------------------------------------------------------------------
def xrann_command(*argv, cwd=None):
    """Run ``python -m xrann ARGV`` as a user would, in a subprocess."""
    return subprocess.run([sys.executable, "-m", "xrann", *map(str, argv)], capture_output=True, text=True, check=False, cwd=cwd)


def test_command_line_fits_predicts_and_evaluates_two_targets(data, tmp_path):
    data_path, drivers_path = tmp_path / "data.nc", tmp_path / "drivers.nc"
    data.drop_vars("region").to_netcdf(data_path)
    data.drop_vars(["region", *TARGETS]).to_netcdf(drivers_path)
    model_path = tmp_path / "model.nc"
    done = xrann_command(
        "fit", data_path, "--target", "nee,gpp", "--drivers", ",".join(DRIVERS), "--out", model_path,
        "--hidden", "4", "--epochs", "5", "--validation-years", "2008", "--no-progress",
    )
    assert done.returncode == 0, done.stderr
    model = xrann.open_model(model_path)
    assert model.target == ("nee", "gpp") and model.drivers == DRIVERS and model.hyperparameters["hidden"] == [4]
    assert f"trained ann model of nee, gpp from t2m, swdown, landcover on {model.sample_counts['training']} samples" in done.stdout
    assert "held-out skill on 2008:" in done.stdout and "nee:" in done.stdout and "gpp:" in done.stdout

    prediction_path = tmp_path / "prediction.nc"
    done = xrann_command("predict", model_path, drivers_path, "--out", prediction_path)
    assert done.returncode == 0, done.stderr
    assert "nee_predicted, gpp_predicted" in done.stdout
    expected = data.drop_vars(["region", *TARGETS]).ann.predict(model)
    with xr.open_dataset(prediction_path) as written:
        for name in TARGETS:
            xr.testing.assert_allclose(written[f"{name}_predicted"], expected[f"{name}_predicted"])

    evaluation_path = tmp_path / "evaluation.csv"
    done = xrann_command("evaluate", model_path, data_path, "--years", "2008", "--out", evaluation_path)
    assert done.returncode == 0, done.stderr
    skill = xrann.evaluation.evaluate(data.drop_vars("region"), model, period=[2008])
    for name in TARGETS:
        assert f"{name}:" in done.stdout
        assert f"{float(skill['r2'].sel(target=name)):.3f}" in done.stdout
    table = pd.read_csv(evaluation_path, comment="#")
    assert table.columns.tolist() == ["target", "year", "observed", "predicted"]
    assert table["target"].tolist() == TARGETS and table["year"].tolist() == [2008, 2008]
    for source in ("observed", "predicted"):
        np.testing.assert_allclose(table[source], skill["budget"].sel(source=source, year=2008).values, rtol=1e-12)


# -- bad input ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "target, drivers, error, message",
    [
        ([], DRIVERS, ValueError, r"target=\[\] is empty; name the variable to predict"),
        (["nee", "gpp", "nee"], DRIVERS, ValueError, r"targets \['nee'\] are listed more than once in target=\['nee', 'gpp', 'nee'\]"),
        (["nee", "gpp"], ["t2m", "gpp"], ValueError, r"target 'gpp' is also listed among the drivers \['t2m', 'gpp'\]"),
        (["nee", "gpp"], ["t2m", "nee"], ValueError, r"target 'nee' is also listed among the drivers"),
        (["nee", "gpp"], ["t2m", F.lag("gpp", 1)], ValueError, r"the target 'gpp' feeds the recipe Lag\(source='gpp'"),
        (["nee", "gpp"], ["t2m", F.lag("nee", 1)], ValueError, r"the target 'nee' feeds the recipe Lag\(source='nee'"),
        (["nee", "gpp_map"], DRIVERS, ValueError, r"the targets of one model share their grid, but 'gpp_map' has dims \('lat', 'lon'\)"),
        (["nee", "missing"], DRIVERS, KeyError, r"target 'missing' not found in the Dataset"),
        (["nee", "cover_class"], DRIVERS, TypeError, r"target 'cover_class' has dtype <U6, which is not numeric"),
        ({"nee", "gpp"}, DRIVERS, TypeError, r"target"),  # no order: which output is which?
    ],
    ids=[
        "empty", "listed twice", "second target a driver", "first target a driver", "second target feeds a recipe",
        "first target feeds a recipe", "different dims", "missing", "not numeric", "a set",
    ],
)
def test_bad_target_lists_are_refused_before_training(data, target, drivers, error, message):
    ds = data.assign(gpp_map=data["gpp"].mean("time"), cover_class=(("lat", "lon"), np.full((6, 8), "forest")))
    with pytest.raises(error, match=message):
        ds.ann.fit(target, drivers, seed=0, epochs=2, progress=False)
    if not any(isinstance(d, F.Recipe) for d in drivers):
        with pytest.raises(error, match=message):
            xrann.cross_validate(ds, target, drivers, seed=0, epochs=2, progress=False)
        with pytest.raises(error, match=message):
            xrann.search(ds, target, drivers, grid={"hidden": [(2,)]}, seed=0, epochs=2, progress=False)


def test_an_unknown_target_of_a_model_is_a_key_error_listing_its_targets(model):
    with pytest.raises(KeyError, match=r"'unknown' is not a target of this model; its targets are \['nee', 'gpp'\]"):
        model.for_target("unknown")
    with pytest.raises(KeyError, match=r"'unknown' is not a target of this model"):
        model.attrs_of_target("unknown")


@pytest.mark.parametrize(
    "target, extremes",
    [(TARGETS, ([-10.0], [10.0])), (TARGETS, ([-10.0] * 3, [10.0] * 3)), ("nee", ([-10.0, -10.0], [10.0, 10.0]))],
    ids=["one for two targets", "three for two targets", "two for one target"],
)
def test_target_extremes_of_the_wrong_length_are_refused_before_training(data, target, extremes):
    with pytest.raises(ValueError, match="target_extremes"):
        data.ann.fit(target, DRIVERS, target_extremes=extremes, seed=0, epochs=2, progress=False)


def test_the_users_dataset_is_never_modified(data, north_america):
    grid_before, fluxes_before = copy.deepcopy(data), copy.deepcopy(north_america)
    weights = data["landcover"].fillna(0.0) + 0.1
    model = data.ann.fit(TARGETS, DRIVERS, seed=0, epochs=3, weights=weights, progress=False)
    data.ann.predict(model)
    data.ann.evaluate(model)
    xrann.cross_validate(data, TARGETS, DRIVERS, seed=0, epochs=2, keep_models=True, progress=False)
    lazy = data.chunk({"time": 12})
    lazy.ann.fit(TARGETS, DRIVERS, seed=0, epochs=2, progress=False)
    recipes = north_america.ann.fit(FLUXES, ["t2m", F.lag("precip", 1), F.anomaly("soilm")], seed=0, epochs=2, progress=False)
    north_america.ann.predict(recipes)
    north_america.ann.importance(recipes, n_repeats=1)
    xr.testing.assert_identical(data, grid_before)
    xr.testing.assert_identical(north_america, fluxes_before)
    xr.testing.assert_identical(lazy.compute(), grid_before)


def test_a_target_with_gaps_warns_that_the_others_lose_samples():
    ds = xrann.datasets.north_america_nee(resolution=6.0, start="2008-01", end="2010-12", components=True)
    drivers = ["t2m", "swdown", "vpd", "soilm", "forest_fraction"]
    gappy = ds.assign(gpp=ds["gpp"].where(ds["lat"] < 50))
    alone = gappy.ann.fit("nee", drivers, seed=0, epochs=2, validation=None, progress=False)
    lost = alone.sample_counts["training"] - int((gappy["gpp"].notnull() & gappy["nee"].notnull()).sum())
    for data in (gappy, gappy.chunk({"time": 12})):
        with pytest.warns(UserWarning, match=rf"a sample needs every target.*'nee' {lost:,} of {alone.sample_counts['training']:,} \(55%\) are left out"):
            both = data.ann.fit(["nee", "gpp"], drivers, seed=0, epochs=2, validation=None, progress=False)
        assert both.sample_counts["training"] == alone.sample_counts["training"] - lost
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        warnings.simplefilter("ignore", xrann.ConvergenceWarning)
        ds.ann.fit(["nee", "gpp"], drivers, seed=0, epochs=2, validation=None, progress=False)  # full coverage: no warning


def test_plots_name_the_fix_for_the_output_of_several_targets(north_america):
    pytest.importorskip("matplotlib")
    from xrann import plot

    ds = north_america
    model = ds.ann.fit(["nee", "gpp"], ["t2m", "swdown", "soilm"], seed=0, epochs=3, progress=False)
    predicted, evaluation = ds.ann.predict(model), ds.ann.evaluate(model)
    dataset = r"pred is a Dataset of \['nee_predicted', 'gpp_predicted'\].*e.g. pred\['nee_predicted'\]"
    for draw in (plot.maps, plot.scatter, plot.regional_series):
        with pytest.raises(TypeError, match=dataset):
            draw(ds["nee"], predicted)
    target_dim = r"has a target dim \(\['nee', 'gpp'\]\).*\.sel\(target='nee'\)"
    with pytest.raises(ValueError, match="evaluation_or_obs " + target_dim):
        plot.seasonal_cycle(evaluation)
    with pytest.raises(ValueError, match="phi " + target_dim):
        plot.dominant_driver(ds.ann.shapley(model, background="climatology"))
    with pytest.raises(ValueError, match="result " + target_dim):
        plot.attribution(ds.ann.anomaly_attribution(2010, [2008, 2009], model))
    plot.maps(ds["nee"], predicted["nee_predicted"])  # one target at a time works
    plot.seasonal_cycle(evaluation.sel(target="gpp"))


def test_analyses_check_every_target_before_computing_any(north_america, monkeypatch):
    ds = north_america.assign(le=(north_america["reco"] * 20).assign_attrs(units="W m-2"))
    model = ds.ann.fit(["nee", "le"], ["t2m", "swdown", "soilm"], seed=0, epochs=3, progress=False)
    calls = []
    original = xrann.shapley.shapley_on_grid
    monkeypatch.setattr(xrann.attribution, "shapley_on_grid", lambda *a, **k: calls.append(1) or original(*a, **k))
    with pytest.raises(ValueError, match=r"for the target 'le' of this model of several targets: cannot convert a flux in units 'W m-2'.*model.for_target"):
        ds.ann.anomaly_attribution(2010, [2008, 2009], model)
    assert calls == []  # nee's attribution was not computed first
    without = ds.drop_vars("le")
    with pytest.raises(KeyError, match=r"for the target 'le'.*importance needs the observed target 'le'"):
        without.ann.importance(model)
    with pytest.raises(KeyError, match=r"for the target 'le'.*evaluate needs the observed target 'le'"):
        without.ann.evaluate(model)
    nee = ds.ann.anomaly_attribution(2010, [2008, 2009], model.for_target("nee"))  # the fix the message names
    assert float(nee["anomaly"]) == pytest.approx(float(nee["contribution"].sum("driver")), rel=1e-8)


@pytest.mark.parametrize(
    "target, message",
    [
        ([["nee", "gpp"]], r"must be one variable name or a flat list of names such as \['nee', 'gpp'\]; \['nee', 'gpp'\] is not a name"),
        ([{"nee": 1}], r"must be one variable name or a flat list of names"),
    ],
    ids=["nested list", "a dict in the list"],
)
def test_target_lists_of_non_names_are_refused(data, target, message):
    with pytest.raises(TypeError, match=message):
        data.ann.fit(target, DRIVERS, seed=0, epochs=2, progress=False)


def test_a_generator_of_target_names_is_taken_as_a_list(data):
    model = data.ann.fit((name for name in TARGETS), DRIVERS, seed=0, epochs=2, progress=False)
    assert model.target == ("nee", "gpp")
