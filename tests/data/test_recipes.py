"""Recipes applied to a Dataset: values by hand, lazy and blockwise on dask, calendars, climatologies, checks."""

import cftime
import dask
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from dask.callbacks import Callback

from xrann import features as F
from xrann.data.recipes import (
    RECIPE_ATTR,
    apply_recipes,
    check_recipes,
    driver_provenance,
    seasonal_climatology,
    split_drivers,
    warmup_points,
)

NT, NY, NX = 48, 4, 5


@pytest.fixture(scope="module")
def ds():
    rng = np.random.default_rng(0)
    time = pd.date_range("2000-01-01", periods=NT, freq="MS")
    precip = rng.gamma(2.0, 1.0, (NT, NY, NX))
    return xr.Dataset(
        {
            "p": (("time", "y", "x"), precip, {"units": "mm", "standard_name": "precipitation_flux"}),
            "target": (("time", "y", "x"), rng.normal(size=(NT, NY, NX))),
            "static": (("y", "x"), rng.normal(size=(NY, NX))),
        },
        coords={"time": time, "y": np.arange(NY), "x": np.arange(NX)},
    )


ALL = [
    F.lag("p", 2),
    F.rolling("p", 3, how="mean"),
    F.rolling("p", 3, how="sum"),
    F.rolling("p", 4, how="min"),
    F.rolling("p", 2, how="max"),
    F.anomaly("p"),
    F.seasonal_cycle("p"),
    F.cyclic("time.month"),
]


def test_values_by_hand(ds):
    original = ds.copy(deep=True)
    climatology = {"p": seasonal_climatology(ds, F.anomaly("p"))}
    out = apply_recipes(ds, ALL, climatology)
    xr.testing.assert_identical(ds, original)  # never modified
    p = ds["p"].values
    np.testing.assert_array_equal(out["p_lag2"].values[2:], p[:-2])
    assert np.isnan(out["p_lag2"].values[:2]).all()
    for name, width, reduce in [("p_rolling3_mean", 3, np.mean), ("p_rolling3_sum", 3, np.sum), ("p_rolling4_min", 4, np.min), ("p_rolling2_max", 2, np.max)]:
        expected = np.stack([reduce(p[t - width + 1 : t + 1], axis=0) for t in range(width - 1, NT)])
        np.testing.assert_allclose(out[name].values[width - 1 :], expected, rtol=1e-12)
        assert np.isnan(out[name].values[: width - 1]).all()
    months = ds["time"].dt.month.values
    by_hand = np.stack([p[months == m].mean(axis=0) for m in range(1, 13)])
    np.testing.assert_allclose(climatology["p"].values, by_hand, rtol=1e-12)
    np.testing.assert_allclose(out["p_seasonal_cycle"].values, by_hand[months - 1], rtol=1e-12)
    np.testing.assert_allclose(out["p_anomaly"].values, p - by_hand[months - 1], rtol=1e-12)
    np.testing.assert_allclose(out["month_sin"].values, np.sin(2 * np.pi * (months - 1) / 12))
    np.testing.assert_allclose(out["month_cos"].values, np.cos(2 * np.pi * (months - 1) / 12))
    for name in F.cyclic("time.month").names + F.lag("p", 2).names:
        assert "standard_name" not in out[name].attrs and out[name].attrs[RECIPE_ATTR] == name
    assert out["p_lag2"].attrs["units"] == "mm"
    for name in out.data_vars:
        if "time" in out[name].dims:
            xr.testing.assert_identical(out[name]["time"], ds["time"])


class _Watch(Callback):
    """Records the largest time length of any array a task produced (but the final concatenation of the result)."""

    def __init__(self):
        super().__init__()
        self.longest = 0

    def _posttask(self, key, result, dsk, state, worker_id):
        if isinstance(result, np.ndarray) and result.ndim == 3 and not str(key).startswith("finalize"):
            self.longest = max(self.longest, result.shape[0])


def _refuse(*args, **kwargs):
    raise AssertionError("something computed")


def test_dask_input_stays_lazy_blockwise_and_equal(ds):
    climatology = {"p": seasonal_climatology(ds, F.anomaly("p"))}
    chunked = ds.chunk(time=12, y=2)
    with dask.config.set(scheduler=_refuse):
        out = apply_recipes(chunked, ALL, climatology)
    for recipe in ALL[:-1]:
        (name,) = recipe.names
        assert out[name].chunks == chunked["p"].chunks, name  # same blocks as the source
    expected = apply_recipes(ds, ALL, climatology)
    with _Watch() as watch:
        computed = out.compute(scheduler="sync")
    assert 0 < watch.longest < NT  # no task ever held the whole time axis: halos, not one chunk
    xr.testing.assert_allclose(computed, expected)


@pytest.mark.parametrize(
    "calendar, year_length", [("noleap", 365), ("360_day", 360), ("standard", 366)]
)
def test_cyclic_day_of_year_follows_the_calendar(calendar, year_length):
    # 2000 is a leap year in the standard calendar
    times = xr.date_range("2000-01-01", periods=year_length, freq="D", calendar=calendar, use_cftime=calendar != "standard")
    ds = xr.Dataset({"y": ("time", np.zeros(year_length))}, coords={"time": times})
    out = apply_recipes(ds, [F.cyclic("time.dayofyear")])
    angle = 2 * np.pi * np.arange(year_length) / year_length
    np.testing.assert_allclose(out["dayofyear_sin"].values, np.sin(angle), atol=1e-12)
    np.testing.assert_allclose(out["dayofyear_cos"].values, np.cos(angle), atol=1e-12)


def test_cyclic_month_on_a_cftime_calendar_and_hour():
    times = xr.date_range("2001-01-01", periods=24, freq="MS", calendar="360_day", use_cftime=True)
    assert isinstance(times[0], cftime.Datetime360Day)
    out = apply_recipes(xr.Dataset(coords={"time": times}), [F.cyclic("time.month")])
    np.testing.assert_allclose(out["month_sin"].values, np.sin(2 * np.pi * (np.arange(24) % 12) / 12), atol=1e-12)
    hours = xr.Dataset(coords={"time": pd.date_range("2001-01-01", periods=48, freq="h")})
    out = apply_recipes(hours, [F.cyclic("time.hour")])
    np.testing.assert_allclose(out["hour_cos"].values, np.cos(2 * np.pi * (np.arange(48) % 24) / 24), atol=1e-12)


def test_climatology_leaves_out_the_validation_period_and_incomplete_cells(ds):
    holdout = (ds["time"].dt.year == 2003).broadcast_like(ds["p"])
    climatology = seasonal_climatology(ds, F.anomaly("p"), exclude=holdout)
    training = ds["p"].sel(time=ds["time"].dt.year < 2003)
    np.testing.assert_allclose(climatology.values, training.groupby("time.month").mean().values, rtol=1e-12)
    gappy = ds.copy()
    gappy["p"] = ds["p"].where(~((ds["time"].dt.month == 5) & (ds["x"] == 0)))
    climatology = seasonal_climatology(gappy, F.anomaly("p"))
    assert climatology.isel(x=0).isnull().all() and climatology.isel(x=slice(1, None)).notnull().all()
    with pytest.raises(ValueError, match=r"no training sample of 'p' in months \[5\]"):
        seasonal_climatology(ds, F.anomaly("p"), exclude=(ds["time"].dt.month == 5).broadcast_like(ds["p"]))


def test_counts_splitting_and_provenance(ds):
    assert split_drivers(["a", F.lag("p", 1)]) == (["a"], [F.lag("p", 1)])
    assert split_drivers(["a"]) == (["a"], []) and split_drivers(None) == (None, [])
    assert warmup_points(ds["target"], [F.lag("p", 2), F.rolling("p", 4)]) == 3 * NY * NX
    assert warmup_points(ds["target"], [F.anomaly("p")]) == 0
    work = ds.assign(p_lag1=ds["p"].shift(time=1))  # keeps the standard_name, as xarray does
    assert driver_provenance(work, ["p_lag1", "static"]) == {
        "p_lag1": {"standard_name_shared_with": ["p"], "leading_nan_steps": 1}
    }


@pytest.mark.parametrize(
    "recipe, message",
    [
        (F.lag("p", 1, dim="depth"), r"works along dim 'depth', but the target 'target' has dims \('time', 'y', 'x'\)"),
        (F.rolling("p", NT + 1), f"needs {NT + 1} steps along 'time', but it has {NT}"),
        (F.lag("target", 1), "the target 'target' feeds the recipe"),
        (F.anomaly("static"), r"needs 'static' to vary along 'time', but it has dims \('y', 'x'\)"),
        (F.lag("rain", 1), "computed by the recipe .* from the raw variable 'rain', which is missing"),
    ],
)
def test_bad_recipes_fail_clearly(ds, recipe, message):
    with pytest.raises((ValueError, KeyError), match=message):
        check_recipes(ds, [recipe], "target", [])


def test_less_than_a_year_and_duplicates_fail(ds):
    with pytest.raises(ValueError, match=r"at least one full year along 'time'.*months \[1, 2, 3, 4, 5, 6\]"):
        check_recipes(ds.isel(time=slice(0, 6)), [F.anomaly("p")], "target", [])
    with pytest.raises(ValueError, match=r"drivers \['p_lag1'\] are listed more than once"):
        check_recipes(ds, [F.lag("p", 1), F.lag("p", 1)], "target", [])
    no_time = ds.isel(time=0, drop=True).expand_dims(site=[1, 2])
    with pytest.raises(ValueError, match="works along dim 'time'"):
        check_recipes(no_time, [F.anomaly("p")], "target", [])


def test_a_lag_across_a_gap_in_the_dates_is_refused(ds):
    gappy = ds.sel(time=ds["time"].dt.year.isin([2000, 2002]))
    with pytest.raises(ValueError, match="its dates are not evenly spaced .* predict on the whole record and select the years afterwards"):
        apply_recipes(gappy, [F.lag("p", 1)])
    apply_recipes(gappy, [F.cyclic("time.month")])  # needs no neighbour
