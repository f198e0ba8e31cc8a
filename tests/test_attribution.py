"""Anomaly attribution (xrann.attribution): the parts add up to the predicted budget anomaly; regions; known truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

# short fits are intended here: the Shapley values of whatever model is fitted are checked
pytestmark = pytest.mark.filterwarnings("ignore::xrann.core.engine.ConvergenceWarning")

from xrann.attribution import anomaly_attribution
from xrann.datasets import north_america_nee
from xrann.evaluation import annual_budget, find_cell_area, time_step_seconds

DRIVERS = ["t2m", "swdown", "vpd", "soilm", "precip", "rh", "stand_age"]
USED = ["t2m", "swdown", "vpd", "soilm"]  # the process model's drivers among these (see xrann.datasets.north_america)
UNUSED = ["precip", "rh", "stand_age"]


@pytest.fixture(scope="module")
def nee():
    ds = north_america_nee(resolution=4.0, start="2009-01", end="2013-12")
    model = ds.ann.fit(target="nee", drivers=DRIVERS, seed=0, progress=False)
    return ds, model


@pytest.fixture(scope="module")
def attribution_2012(nee):
    ds, model = nee
    regions = xr.where(ds["lon"] < -100, "west", "east").where(np.isfinite(ds["cell_area"]))
    return anomaly_attribution(ds, model, 2012, range(2009, 2012), regions=regions)


def test_parts_add_up_to_the_independently_computed_anomaly(nee, attribution_2012):
    ds, model = nee
    a = attribution_2012
    predicted = ds.ann.predict(model)
    year = predicted.sel(time="2012")
    reference = xr.concat([predicted.sel(time=str(y)).assign_coords(time=year.time) for y in (2009, 2010, 2011)], "ref").mean("ref")
    seconds = time_step_seconds(ds["time"]).sel(time=year.time)
    expected = annual_budget(year - reference, find_cell_area(ds, "nee"), seconds).item()
    assert a["anomaly"].attrs["units"] == "PgC yr-1"
    np.testing.assert_allclose(float(a["anomaly"]), expected, rtol=1e-10)
    np.testing.assert_allclose(float(a["contribution"].sum("driver")), expected, rtol=1e-10)
    np.testing.assert_allclose(float(a["total"]), expected, rtol=1e-10)
    np.testing.assert_allclose(float(a["predicted_budget"] - a["reference_budget"]), expected, rtol=1e-10)
    assert a["map"].dims == ("driver", "lat", "lon") and a["map"].attrs["units"] == "gC m-2 yr-1"
    # the maps, weighted by cell area, add up to the contributions
    per_driver = (a["map"] * find_cell_area(ds, "nee")).sum(("lat", "lon")) / 1e15
    np.testing.assert_allclose(per_driver.values, a["contribution"].values, rtol=1e-9, atol=1e-12)
    assert "observed_anomaly" in a and np.isfinite(float(a["observed_anomaly"]))


def test_regions_add_up_to_the_domain(attribution_2012):
    a = attribution_2012
    assert sorted(a["region"].values.tolist()) == ["east", "west"]
    np.testing.assert_allclose(a["region_contribution"].sum("region").values, a["contribution"].values, atol=1e-12)
    np.testing.assert_allclose(float(a["region_anomaly"].sum()), float(a["anomaly"]), rtol=1e-12)
    np.testing.assert_allclose(a["region_contribution"].sum("driver").values, a["region_anomaly"].values, atol=1e-12)


def test_2012_ranks_the_process_drivers_above_the_others(attribution_2012):
    size = np.abs(attribution_2012["contribution"])
    assert float(size.sel(driver=USED).min()) > float(size.sel(driver=UNUSED).max())
    assert float(size.sel(driver="stand_age")) < 1e-12  # a static map does not change between years


def test_multi_year_period_is_the_mean_of_its_years_and_extra_dims_are_kept(nee):
    ds, model = nee
    small = ds.isel(lat=slice(5, 10), lon=slice(10, 16))
    both = anomaly_attribution(small, model, [2012, 2013], [2009, 2010])
    each = [anomaly_attribution(small, model, year, [2009, 2010]) for year in (2012, 2013)]
    np.testing.assert_allclose(both["contribution"].values, (each[0]["contribution"] + each[1]["contribution"]).values / 2, rtol=1e-12)
    scenarios = xr.concat([small, small.assign(t2m=small["t2m"] + 1.0)], dim=pd.Index(["now", "warmer"], name="scenario"))
    scenarios["cell_area"] = small["cell_area"]
    by_scenario = anomaly_attribution(scenarios, model, 2012, [2009, 2010])
    assert by_scenario["contribution"].dims == ("driver", "scenario")
    np.testing.assert_allclose(by_scenario["contribution"].sel(scenario="now").values, each[0]["contribution"].values, rtol=1e-10)
    np.testing.assert_allclose(by_scenario["contribution"].sum("driver").values, by_scenario["anomaly"].values, rtol=1e-10)


@pytest.mark.parametrize(
    "period, reference, match",
    [
        (2020, [2009, 2010], r"period years \[2020\] select no data; 'time' covers the years 2009-2013"),
        (2012, [2001], r"reference years \[2001\] select no data"),
        (2012, [2011, 2012], r"period and reference overlap in \[2012\]"),
        ("2012", [2011], r"period='2012' must be a year or a sequence of years"),
        (2012, [], r"reference=\[\] must be a year or a sequence of years"),
    ],
)
def test_bad_periods(nee, period, reference, match):
    ds, model = nee
    with pytest.raises(ValueError, match=match):
        anomaly_attribution(ds, model, period, reference)


def test_bad_units_regions_and_areas(nee):
    ds, model = nee
    original = ds.copy(deep=True)
    with pytest.raises(ValueError, match=r"the region labels have dims \('x',\).*\['x'\] is not on the grid"):
        anomaly_attribution(ds, model, 2012, [2011], regions=xr.DataArray([1, 2], dims="x"))
    with pytest.raises(ValueError, match="budgets need cell areas"):
        anomaly_attribution(ds.drop_vars("cell_area").assign(nee=ds["nee"].drop_attrs()), model, 2012, [2011])
    daily = north_america_nee(resolution=10.0, start="2012-01-01", end="2012-02-28", freq="D")
    with pytest.raises(ValueError, match="is not monthly"):
        anomaly_attribution(daily, model, 2012, [2011])
    xr.testing.assert_identical(ds, original)


# ----------------------------------------------------------------------------- plots

def test_plots_of_the_attribution_and_the_shapley_values(nee, attribution_2012, tmp_path):
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    from xrann import plot

    ds, model = nee
    figure = plot.attribution(attribution_2012)
    bars = figure.axes[0].patches
    assert len(bars) == len(DRIVERS) + 2  # drivers, predicted and observed anomaly
    np.testing.assert_allclose([b.get_width() for b in bars[: len(DRIVERS)]], attribution_2012["contribution"].values)
    np.testing.assert_allclose(bars[len(DRIVERS)].get_width(), float(attribution_2012["anomaly"]))
    figure.savefig(tmp_path / "bars.png")
    phi = ds.ann.shapley(model, background="climatology").sel(time="2012-07")
    figure = plot.dominant_driver(phi)
    mesh = figure.axes[0].collections[0]
    field = phi.squeeze("time")
    expected = np.abs(field).fillna(-1.0).argmax("driver").where(np.isfinite(field).all("driver"))
    np.testing.assert_array_equal(np.ma.filled(mesh.get_array(), np.nan).ravel(), expected.values.ravel())
    figure = plot.contribution_map(attribution_2012["map"], ["soilm", "t2m"])
    assert [axis.get_title() for axis in figure.axes[:2]] == ["soilm", "t2m"]
    with pytest.raises(ValueError, match=r"'contribution' over 'driver' only"):
        plot.attribution(xr.Dataset())
    with pytest.raises(KeyError, match=r"drivers \['sif'\] are not in the contributions"):
        plot.contribution_map(attribution_2012["map"], "sif")
    with pytest.raises(ValueError, match=r"dims \('driver', lat, lon\)"):
        plot.dominant_driver(attribution_2012["map"].isel(lat=0))
    plt.close("all")


def test_ensemble_members_are_attributed_apart(nee):
    ds, _ = nee
    small = ds.isel(lat=slice(5, 10), lon=slice(10, 16))
    ensemble = small.ann.fit(target="nee", drivers=["t2m", "soilm"], seed=0, members=2, epochs=15, progress=False)
    per_member = anomaly_attribution(small, ensemble, 2012, [2010, 2011], members=True)
    mean = anomaly_attribution(small, ensemble, 2012, [2010, 2011])
    assert per_member["contribution"].dims == ("driver", "member")
    np.testing.assert_allclose(per_member["contribution"].mean("member").values, mean["contribution"].values, rtol=1e-10)
    np.testing.assert_allclose(per_member["contribution"].sum("driver").values, per_member["anomaly"].values, rtol=1e-10)


def test_every_result_carries_its_own_units_and_long_name_only(attribution_2012):
    # nothing leaks from the inputs (the time coordinate's standard_name and axis, Shapley's method)
    for name, variable in attribution_2012.data_vars.items():
        assert set(variable.attrs) == {"units", "long_name"}, (name, variable.attrs)
        assert variable.attrs["units"] in ("PgC yr-1", "gC m-2 yr-1")
