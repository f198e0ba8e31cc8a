"""Dims beyond the model's sample dims (scenario, member, product) are kept as their own dims, never pooled.

Each test reproduces a symptom of the study at full size: per-scenario scores and budgets, per-member budgets,
the input's dim order, importance, response and extrapolation with an extra dim.
"""

import numpy as np
import pytest
import xarray as xr

import xrann
from xrann.evaluation import annual_budget, evaluate, evaluate_predictions, _spherical_cell_area
from xrann.importance import driver_importance
from xrann.predict import extrapolation_flags, predict_dataset
from xrann.response import response_curve

DRIVERS = ["t2m", "swdown", "landcover"]
OFFSETS = (0.0, 1.0, 2.0)


@pytest.fixture(scope="module")
def fitted_grid():
    from tests.conftest import make_grid_dataset

    ds = make_grid_dataset()
    model = ds.ann.fit(target="nee", drivers=DRIVERS, seed=0, epochs=200, progress=False)
    return ds, model


def with_scenarios(ds):
    """t2m warmed by 0, 1 and 2 K along a leading ``scenario`` dim; the observed nee stays (time, lat, lon)."""
    warmed = xr.concat([ds["t2m"] + k for k in OFFSETS], dim=xr.Variable("scenario", list(OFFSETS)))
    return ds.assign(t2m=warmed.assign_attrs(ds["t2m"].attrs))


def test_predictions_keep_the_drivers_dim_order_with_the_extra_dim_where_it_stands(fitted_grid):
    ds, model = fitted_grid
    scenarios = with_scenarios(ds)
    predicted = predict_dataset(scenarios, model)
    assert predicted.dims == ("scenario", "time", "lat", "lon")
    xr.testing.assert_identical(predicted["scenario"], scenarios["scenario"])
    for index, offset in enumerate(OFFSETS):
        single = predict_dataset(ds.assign(t2m=ds["t2m"] + offset), model)
        np.testing.assert_array_equal(predicted.isel(scenario=index).values, single.values)
    # dask input: lazy, same values
    lazy = predict_dataset(scenarios.chunk({"time": 12}), model)
    assert lazy.chunks is not None and lazy.dims == predicted.dims
    np.testing.assert_allclose(lazy.values, predicted.values, rtol=0, atol=1e-12)


def test_evaluate_gives_scores_and_budgets_per_scenario_equal_to_single_scenario_runs(fitted_grid):
    ds, model = fitted_grid
    result = evaluate(with_scenarios(ds), model)
    for name in ("r2", "rmse", "temporal_r", "spatial_r"):
        assert result[name].dims == ("scenario",), name
    assert result["budget"].sizes["scenario"] == 3
    for index, offset in enumerate(OFFSETS):
        single = evaluate(ds.assign(t2m=ds["t2m"] + offset), model)
        for name in ("r2", "rmse", "bias", "temporal_r", "spatial_r", "iav"):
            np.testing.assert_allclose(result[name].isel(scenario=index).values, single[name].values, rtol=1e-12, err_msg=name)
        np.testing.assert_allclose(
            result["budget"].isel(scenario=index).transpose(*single["budget"].dims).values, single["budget"].values, rtol=1e-12
        )
    # the observed budget is the truth for every scenario: never the sum over scenarios
    truth = evaluate(ds, model)["budget"].sel(source="observed")
    observed = result["budget"].sel(source="observed")
    np.testing.assert_allclose(observed.max("scenario").values, truth.values, rtol=1e-12)
    np.testing.assert_allclose(observed.min("scenario").values, truth.values, rtol=1e-12)


def test_annual_budget_of_member_predictions_is_per_member(fitted_grid):
    ds, _ = fitted_grid
    model = ds.ann.fit(target="nee", drivers=DRIVERS, seed=0, epochs=50, members=3, progress=False)
    members = predict_dataset(ds, model, members=True)
    area = _spherical_cell_area(ds["nee"])
    budget = annual_budget(members, area)
    assert set(budget.dims) == {"member", "year"}
    for member in range(3):
        np.testing.assert_allclose(
            budget.sel(member=member).values, annual_budget(members.sel(member=member), area).values, rtol=1e-12
        )


def test_evaluate_of_an_ensemble_gives_member_budgets_and_a_two_sigma_band(fitted_grid):
    ds, _ = fitted_grid
    model = ds.ann.fit(target="nee", drivers=DRIVERS, seed=0, epochs=50, members=4, progress=False)
    result = evaluate(ds, model)
    per_member = result["budget_members"]
    assert per_member.sizes["member"] == 4 and "year" in per_member.dims
    mean, spread = per_member.mean("member"), per_member.std("member", ddof=1)
    np.testing.assert_allclose(result["budget_band"].sel(bound="lower").values, (mean - 2 * spread).values, rtol=1e-12)
    np.testing.assert_allclose(result["budget_band"].sel(bound="upper").values, (mean + 2 * spread).values, rtol=1e-12)
    assert result["budget_band"].attrs["units"] == "PgC yr-1"
    # the members' mean budget is the ensemble's predicted budget (the ensemble predicts the members' mean)
    np.testing.assert_allclose(mean.values, result["budget"].sel(source="predicted").values, rtol=1e-9)


def test_products_stacked_along_a_dim_are_compared_per_product(fitted_grid):
    ds, model = fitted_grid
    predicted = predict_dataset(ds, model)
    products = xr.concat([predicted, predicted * 0.5, ds["nee"]], dim=xr.Variable("product", ["ann", "half", "perfect"]))
    result = evaluate_predictions(ds["nee"], products)
    assert result["r2"].dims == ("product",)
    assert float(result["r2"].sel(product="perfect")) == pytest.approx(1.0)
    assert float(result["r2"].sel(product="half")) < float(result["r2"].sel(product="ann"))
    np.testing.assert_allclose(
        result["budget"].sel(product="half", source="predicted").values,
        0.5 * result["budget"].sel(product="ann", source="predicted").values, rtol=1e-12,
    )


def test_importance_and_response_per_member_label(fitted_grid):
    ds, model = fitted_grid
    ensemble_drivers = xr.concat([ds["t2m"], ds["t2m"] + 3.0], dim=xr.Variable("member", [0, 1]))
    data = ds.assign(t2m=ensemble_drivers.assign_attrs(ds["t2m"].attrs))
    importance = driver_importance(data, model, n_repeats=2)
    assert importance["importance"].dims == ("driver", "member")
    single = driver_importance(ds.assign(t2m=ds["t2m"] + 3.0), model, n_repeats=2)
    np.testing.assert_allclose(importance["importance"].sel(member=1).values, single["importance"].values, rtol=1e-12)
    curve = response_curve(data, model, "swdown", n=5)
    assert curve.dims == ("swdown", "member")
    np.testing.assert_allclose(curve.sel(member=0).values, response_curve(ds, model, "swdown", n=5).values, rtol=1e-12)


def test_extrapolation_flags_carry_the_extra_dim(fitted_grid):
    ds, model = fitted_grid
    flags = extrapolation_flags(with_scenarios(ds), model)
    assert flags["outside_range"].dims == ("scenario", "time", "lat", "lon")
    # warming pushes more points outside the training range
    outside = flags["outside_range"].sum(["time", "lat", "lon"]).values
    assert outside[0] <= outside[1] <= outside[2] and outside[2] > outside[0]


def test_a_static_cell_area_repeated_along_time_stays_static_and_a_varying_one_is_an_error(fitted_grid):
    ds, model = fitted_grid
    area = _spherical_cell_area(ds["nee"]).assign_attrs(units="m2")
    static = ds.assign(cell_area=area)
    static["nee"].attrs["cell_measures"] = "area: cell_area"
    repeated = static.assign(cell_area=area.expand_dims(time=ds["time"]).transpose("time", ...))
    expected = evaluate(static, model)
    result = evaluate(repeated, model)
    assert result["spatial_r"].dims == ()
    np.testing.assert_allclose(float(result["spatial_r"]), float(expected["spatial_r"]), rtol=1e-12)
    np.testing.assert_allclose(result["budget"].values, expected["budget"].values, rtol=1e-12)
    varying = repeated.assign(cell_area=repeated["cell_area"] * (1 + 0.01 * np.arange(ds.sizes["time"]))[:, None, None])
    with pytest.raises(ValueError, match=r"cell area 'cell_area' varies along 'time'.*static"):
        evaluate(varying, model)


def test_plots_take_an_ensembles_member_dim(fitted_grid):
    pytest.importorskip("matplotlib")
    import xrann.plot

    ds, _ = fitted_grid
    model = ds.ann.fit(target="nee", drivers=DRIVERS, seed=0, epochs=30, members=3, progress=False)
    members = predict_dataset(ds, model, members=True)
    figure = xrann.plot.regional_series(ds["nee"], members)
    labels = figure.axes[0].get_legend_handles_labels()[1]
    assert labels == ["observed", "predicted (ensemble mean)", "ensemble ±2σ"]
    figure = xrann.plot.maps(ds["nee"], members)
    assert len(figure.axes) >= 3
    with pytest.raises(ValueError, match=r"extra dims \['scenario'\]: plot one label at a time"):
        xrann.plot.regional_series(ds["nee"], predict_dataset(with_scenarios(ds), model))
