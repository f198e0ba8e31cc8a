"""Driver recipes end to end: known truth, modes and input kinds agree, files, the standard-name fallback, bad input."""

import dataclasses
import json

import dask
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

import xrann
from xrann import features as F
from xrann.model import FORMAT_VERSION, Model, ModelFormatError

NT, NY, NX = 120, 3, 4  # ten years of months on 12 cells
TRAIN = slice("2000", "2007")
TEST = slice("2008", "2009")
pytestmark = pytest.mark.filterwarnings("ignore:training stopped at its limit")  # short fits where only files matter


def _r2(predicted, observed):
    predicted, observed = np.asarray(predicted).ravel(), np.asarray(observed).ravel()
    keep = np.isfinite(predicted) & np.isfinite(observed)
    residual = observed[keep] - predicted[keep]
    return 1 - residual.var() / observed[keep].var()


@pytest.fixture(scope="module")
def ds():
    rng = np.random.default_rng(1)
    time = pd.date_range("2000-01-01", periods=NT, freq="MS")
    month = time.month.values[:, None, None]
    precip = rng.gamma(1.5, 1.0, (NT, NY, NX))
    t2m = 285 + 10 * np.cos(2 * np.pi * (month - 7) / 12) + rng.normal(0, 2, (NT, NY, NX)) + np.arange(NX)
    ds = xr.Dataset(
        {
            "precip": (("time", "y", "x"), precip, {"units": "mm d-1", "standard_name": "precipitation_flux"}),
            "t2m": (("time", "y", "x"), t2m, {"units": "K", "standard_name": "air_temperature"}),
        },
        coords={"time": time, "y": np.arange(NY), "x": np.arange(NX)},
    )
    lag1 = ds["precip"].shift(time=1)
    sum3 = ds["precip"].rolling(time=3).sum()
    ds["flux"] = np.tanh(0.9 * lag1 - 0.35 * sum3 + 0.5).drop_attrs().assign_attrs(units="umol m-2 s-1")
    ds["seasonal"] = (0.5 * np.sin(2 * np.pi * (ds["time"].dt.month - 1) / 12) + 0.3 * np.cos(2 * np.pi * (ds["time"].dt.month - 1) / 12)).broadcast_like(ds["precip"]).copy()
    return ds


@pytest.fixture(scope="module")
def recipe_model(ds):
    recipes = [F.lag("precip", 1), F.rolling("precip", 3, how="sum")]
    return ds.sel(time=TRAIN).ann.fit(target="flux", drivers=recipes, seed=0, progress=False)


def test_antecedent_precipitation_is_learned_with_recipes_only(ds, recipe_model):
    original = ds.copy(deep=True)
    held_out = ds.sel(time=TEST)
    predicted = ds.ann.predict(recipe_model).sel(time=TEST)
    with_recipes = _r2(predicted, held_out["flux"])
    without = ds.sel(time=TRAIN).ann.fit(target="flux", drivers=["precip"], seed=0, progress=False)
    without_recipes = _r2(ds.ann.predict(without).sel(time=TEST), held_out["flux"])
    assert with_recipes > 0.95
    assert without_recipes < 0.6
    xr.testing.assert_identical(ds, original)
    assert recipe_model.drivers == ["precip_lag1", "precip_rolling3_sum"]
    assert recipe_model.driver_units == {"precip_lag1": "mm d-1", "precip_rolling3_sum": "mm d-1"}
    counts = recipe_model.sample_counts
    assert counts["recipe_warmup"] == 2 * NY * NX and counts["dropped"] == 2 * NY * NX
    assert counts["training"] + counts["validation"] == (96 - 2) * NY * NX
    full = ds.ann.predict(recipe_model)
    assert full.isel(time=slice(0, 2)).isnull().all() and full.isel(time=slice(2, None)).notnull().all()
    xr.testing.assert_identical(full["time"], ds["time"])


def test_a_target_of_the_month_alone_is_learned_through_sin_and_cos(ds):
    model = ds.sel(time=TRAIN).ann.fit(target="seasonal", drivers=[F.cyclic("time.month")], seed=0, progress=False)
    assert model.drivers == ["month_sin", "month_cos"]
    assert _r2(ds.ann.predict(model).sel(time=TEST), ds["seasonal"].sel(time=TEST)) > 0.99


def test_anomaly_and_seasonal_cycle_use_the_training_climatology(ds):
    recipes = [F.anomaly("t2m"), F.seasonal_cycle("t2m")]
    model = ds.ann.fit(target="flux", drivers=["precip", *recipes], validation={"time": [2009]}, seed=0, epochs=3, progress=False)
    training = ds["t2m"].sel(time=slice("2000", "2008"))
    np.testing.assert_allclose(model.climatologies["t2m"].values, training.groupby("time.month").mean().values, rtol=1e-12)
    assert model.sample_counts["recipe_warmup"] == 0
    # at prediction the stored climatology is used, not one of the Dataset at hand
    derived = xrann.predict.derive_recipe_drivers(ds.sel(time=TEST), model)
    months = ds["time"].sel(time=TEST).dt.month.values
    expected = model.climatologies["t2m"].values[months - 1]
    np.testing.assert_allclose(derived["t2m_seasonal_cycle"].values, expected, rtol=1e-12)
    np.testing.assert_allclose(derived["t2m_anomaly"].values, ds["t2m"].sel(time=TEST).values - expected, rtol=1e-12)
    response = ds.ann.response("t2m_anomaly", model, n=5)
    assert response.sizes["t2m_anomaly"] == 5
    importance = ds.ann.importance(model, n_repeats=1)
    assert importance["driver"].values.tolist() == ["precip", "t2m_anomaly", "t2m_seasonal_cycle"]


@pytest.mark.parametrize("mode", ["stream", "batch"])
def test_every_mode_and_input_kind_agree(ds, recipe_model, mode):
    lazy = ds.sel(time=TRAIN).chunk(time=24, y=2)
    model = lazy.ann.fit(target="flux", drivers=list(recipe_model.recipes), seed=0, mode=mode, progress=False)
    assert model.sample_counts == recipe_model.sample_counts
    np.testing.assert_allclose(model.predict_array(np.array([[1.0, 3.0]])), recipe_model.predict_array(np.array([[1.0, 3.0]])), rtol=1e-6)


def _refuse(*args, **kwargs):
    raise AssertionError("something computed")


def test_dask_input_predicts_the_same_and_stays_lazy(ds, recipe_model):
    lazy = ds.drop_vars("flux").chunk(time=12, x=2)
    with dask.config.set(scheduler=_refuse):
        predicted = lazy.ann.predict(recipe_model)
        flags = lazy.ann.extrapolation(recipe_model)
    assert predicted.chunks is not None and max(predicted.chunks[0]) == 12
    xr.testing.assert_identical(predicted.compute(), ds.drop_vars("flux").ann.predict(recipe_model))
    xr.testing.assert_identical(flags.compute(), ds.drop_vars("flux").ann.extrapolation(recipe_model))


def test_model_file_round_trip_is_bit_identical(ds, recipe_model, tmp_path):
    model = ds.ann.fit(
        target="flux", drivers=[F.lag("precip", 1), F.anomaly("t2m"), F.cyclic("time.month")], seed=0, epochs=3, progress=False
    )
    path = tmp_path / "recipes.nc"
    model.to_netcdf(path)
    loaded = xrann.open_model(path)
    assert loaded.recipes == model.recipes and loaded.driver_provenance == model.driver_provenance
    xr.testing.assert_identical(loaded.climatologies["t2m"], model.climatologies["t2m"])
    xr.testing.assert_identical(loaded.to_dataset(), model.to_dataset())
    assert model.to_dataset().attrs["xrann_format_version"] == FORMAT_VERSION == 4
    xr.testing.assert_identical(ds.ann.predict(loaded), ds.ann.predict(model))


@st.composite
def recipe_lists(draw):
    sources = st.sampled_from(["precip", "t2m"])
    pool = st.one_of(
        st.builds(F.lag, sources, st.integers(1, 5)),
        st.builds(F.rolling, sources, st.integers(1, 5), st.sampled_from(F.ROLLING_REDUCTIONS)),
        st.builds(F.anomaly, sources),
        st.builds(F.seasonal_cycle, sources),
        st.builds(F.cyclic, st.sampled_from(list(F.CYCLIC_COMPONENTS))),
    )
    recipes = draw(st.lists(pool, min_size=1, max_size=4, unique_by=lambda r: r.names))
    names = [n for r in recipes for n in r.names]
    if len(set(names)) < len(names):
        recipes = recipes[:1]
    return recipes


@settings(max_examples=15, deadline=None)
@given(recipes=recipe_lists(), values=st.lists(st.floats(-1e6, 1e6), min_size=12, max_size=12))
def test_any_recipes_and_climatologies_round_trip_bit_identically(recipe_model, recipes, values):
    """The recipes and climatologies of any model survive to_dataset/from_dataset exactly (a plain-data file)."""
    drivers = [name for recipe in recipes for name in recipe.names]
    n = len(drivers)
    core = xrann.model.CORES["linear"](np.arange(n, dtype=float).reshape(n, 1) / 7.0, np.array([0.25]))
    scaler = dataclasses.replace(recipe_model.driver_scaler, minimum=np.zeros(n), maximum=np.arange(1.0, n + 1))
    climatology = xr.DataArray(np.add.outer(np.array(values), np.arange(NX, dtype=float)), dims=("month", "x"), coords={"month": np.arange(1, 13), "x": np.arange(NX)})
    sources = {r.source for r in recipes if isinstance(r, (F.Anomaly, F.SeasonalCycle))}
    model = dataclasses.replace(
        recipe_model, core=core, method="linear", drivers=drivers, driver_scaler=scaler, driver_attrs={},
        recipes=tuple(recipes), climatologies={s: climatology.rename(s) for s in sources}, driver_provenance={},
        envelope=None, hyperparameters={},
    )
    loaded = Model.from_dataset(model.to_dataset())
    assert loaded.recipes == model.recipes
    for source in sources:
        xr.testing.assert_identical(loaded.climatologies[source], model.climatologies[source])
    xr.testing.assert_identical(loaded.to_dataset(), model.to_dataset())
    assert json.loads(model.to_dataset().attrs["recipes"]) == [r.to_dict() for r in recipes]


def test_predict_without_a_raw_driver_names_it(ds, recipe_model):
    with pytest.raises(KeyError, match=r"'precip_lag1' is computed by the recipe Lag\(source='precip'.*raw variable 'precip', which is missing"):
        ds.drop_vars("precip").ann.predict(recipe_model)
    # a user's own variable named like a recipe driver is ignored: recipes are recomputed from the raw source
    wrong = ds.assign(precip_lag1=ds["precip"] * 0)
    xr.testing.assert_identical(wrong.ann.predict(recipe_model), ds.ann.predict(recipe_model))


def test_the_silent_standard_name_fallback_now_refuses_a_raw_stand_in(ds):
    """Issue 12: a hand-made lag keeps the source's standard_name; predict used to bind the raw variable silently."""
    hand_made = ds.assign(precip_lag1=ds["precip"].shift(time=1), precip_sum3=ds["precip"].rolling(time=3).sum())
    assert hand_made["precip_lag1"].attrs["standard_name"] == "precipitation_flux"
    model = hand_made.sel(time=TRAIN).ann.fit(target="flux", drivers=["precip_lag1", "precip_sum3"], seed=0, progress=False)
    future = ds.sel(time=TEST).assign(precip_sum3=ds["precip"].rolling(time=3).sum().sel(time=TEST).drop_attrs())
    # what the old fallback computed: the raw precipitation in place of last month's
    silently = future.assign(precip_lag1=future["precip"]).ann.predict(model)
    correct = hand_made.sel(time=TEST).ann.predict(model)
    assert float(abs(silently - correct).max()) > 0.3  # the kind of silent difference the issue reports
    with pytest.raises(KeyError, match=r"driver 'precip_lag1' is not in the Dataset by name and 'precip' carries its CF standard_name 'precipitation_flux', but at training, \['precip', 'precip_sum3'\] carried that standard_name too"):
        future.ann.predict(model)
    with pytest.raises(KeyError, match="2 variables, .* carry its CF standard_name 'precipitation_flux'"):
        future.assign(precip_sum3=future["precip_sum3"].assign_attrs(hand_made["precip"].attrs)).ann.predict(model)
    # trained without the raw variable in the Dataset: the leading NaN steps of the lag give it away
    alone = hand_made.drop_vars("precip").sel(time=TRAIN)
    alone["precip_sum3"] = alone["precip_sum3"].drop_attrs()
    model = alone.ann.fit(target="flux", drivers=["precip_lag1", "precip_sum3"], seed=0, epochs=3, progress=False)
    assert model.driver_provenance["precip_lag1"] == {"standard_name_shared_with": [], "leading_nan_steps": 1}
    with pytest.raises(KeyError, match=r"began with 1 all-NaN time steps at training .* and 'precip' begins with 0"):
        ds.assign(precip_sum3=hand_made["precip_sum3"].drop_attrs()).ann.predict(model)
    # a plain rename still falls back as before
    renamed = hand_made.rename(t2m="tair")
    model = hand_made.ann.fit(target="flux", drivers=["t2m", "precip_lag1"], seed=0, epochs=3, progress=False)
    xr.testing.assert_allclose(renamed.ann.predict(model), hand_made.ann.predict(model))


@pytest.mark.parametrize(
    "drivers, error, message",
    [
        ([F.lag("precip", 1, dim="depth")], ValueError, "works along dim 'depth', but the target 'flux' has dims"),
        ([F.rolling("precip", 500)], ValueError, "needs 500 steps along 'time', but it has 120"),
        ([F.lag("flux", 1)], ValueError, "the target 'flux' feeds the recipe"),
        (["precip", F.lag("rain", 1)], KeyError, "raw variable 'rain', which is missing"),
        (["precip_lag1", F.lag("precip", 1)], KeyError, "driver 'precip_lag1' not found"),
    ],
)
def test_bad_recipes_fail_before_training(ds, drivers, error, message):
    with pytest.raises(error, match=message):
        ds.ann.fit(target="flux", drivers=drivers, seed=0)


def test_bad_recipe_parameters_and_short_records_fail_before_training(ds):
    with pytest.raises(ValueError, match="steps=0 must be at least 1"):
        F.lag("precip", 0)
    with pytest.raises(ValueError, match="window=-2 must be at least 1"):
        F.rolling("precip", -2)
    with pytest.raises(ValueError, match=r"how='median' is not known; choose one of \('mean', 'sum', 'min', 'max'\)"):
        F.rolling("precip", 3, how="median")
    with pytest.raises(TypeError, match="unexpected keyword argument 'lenght'"):
        F.rolling("precip", 3, lenght=2)
    with pytest.raises(ValueError, match="component='week' is not known"):
        F.cyclic("time.week")
    with pytest.raises(ValueError, match=r"unknown parameters \['window'\] for a lag recipe"):
        F.recipe_from_dict({"kind": "lag", "source": "precip", "steps": 1, "window": 3})
    with pytest.raises(ValueError, match="at least one full year along 'time'"):
        ds.isel(time=slice(0, 8)).ann.fit(target="flux", drivers=[F.anomaly("t2m")], seed=0)
    static = ds.isel(time=0, drop=True)
    with pytest.raises(ValueError, match="works along dim 'time', but the target 'flux' has dims"):
        static.ann.fit(target="flux", drivers=[F.anomaly("t2m")], seed=0)


def test_recipe_files_are_checked_on_load(ds, recipe_model):
    saved = ds.ann.fit(target="flux", drivers=[F.lag("precip", 1), F.anomaly("t2m")], seed=0, epochs=2, progress=False).to_dataset()
    cases = {
        "recipes dropped": (saved.copy(), "driver_recipe says"),
        "bad recipe": (saved.copy(), "holds a bad recipe"),
        "version 2": (saved.copy(), "holds recipes, which came with version 3"),
        "climatology dropped": (saved.drop_vars("climatology_t2m"), r"stores climatologies of \[\] but"),
        "half-NaN cell": (saved.copy(deep=True), "NaN in all 12 months of a cell or in none"),
    }
    del cases["recipes dropped"][0].attrs["recipes"]
    cases["bad recipe"][0].attrs["recipes"] = json.dumps([{"kind": "lag", "source": "precip", "step": 1}])
    cases["version 2"][0].attrs["xrann_format_version"] = 2
    cases["half-NaN cell"][0]["climatology_t2m"].values[0, 0, 0] = np.nan
    for name, (broken, message) in cases.items():
        with pytest.raises(ModelFormatError, match=message):
            Model.from_dataset(broken)


def test_predictions_of_a_recipe_model_keep_the_coordinates_attributes():
    ds = xrann.datasets.north_america_nee(resolution=10.0, start="2009-01", end="2011-12")
    drivers = ["t2m", F.lag("precip", 1), F.cyclic("time.month"), F.anomaly("soilm")]
    model = ds.ann.fit(target="nee", drivers=drivers, seed=0, epochs=5, progress=False)
    predicted = ds.ann.predict(model)
    for name in ("time", "lat", "lon"):
        xr.testing.assert_identical(predicted[name], ds[name])  # attrs included (standard_name, units, axis)
