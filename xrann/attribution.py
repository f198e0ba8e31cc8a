"""Why did the budget change? A predicted carbon-budget anomaly split exactly among the drivers.

`anomaly_attribution` (also ``ds.ann.anomaly_attribution``) compares a period
(one or more years) with a reference period, cell by cell and calendar month by
calendar month:

* the *reference state* of a cell in a calendar month is the set of its
  driver values in that month of each reference year;
* for a period year ``y``, the drivers of the cell in that month are explained
  with Shapley values (`xrann.shapley.shapley_on_grid`) against the reference
  states as background, so the values sum exactly to
  ``f(state in y) - mean over reference years of f(reference state)``: the
  predicted flux anomaly of the cell and month;
* these flux anomalies are summed with the budget's weights (cell area times
  the length of each month of ``y`` from its calendar, converted to carbon,
  `xrann.evaluation.annual_budget`) into PgC yr-1 per driver, and into
  gC m-2 yr-1 per cell for the maps.

What is split is therefore the *predicted* budget anomaly measured on the
period's calendar: ``budget(f(period)) - budget(mean reference f)``, where
both budgets use the period year's month lengths. A multi-year period gives
the mean of its years' attributions. Because Shapley values distribute the
interactions among drivers, nothing is left over: the contributions add up
to the anomaly to rounding (``total``). With ``regions=``, each region's
parts add up to the region's anomaly and, for regions that cover the domain,
to the domain total.

Shapley values describe the **model**: correlated drivers (temperature and
VPD, precipitation and soil moisture) share credit, and a driver the model
uses as a proxy gets credit for what it stands for.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from .evaluation import annual_budget, carbon_flux_factor, find_cell_area, find_time_dim, time_step_seconds
from .predict import check_model, derive_recipe_drivers, predict_dataset, resolve_drivers_for_prediction
from .regions import region_labels, split_by_region
from .shapley import resolve_players, shapley_on_grid
from .targets import per_target, resolve_target

if TYPE_CHECKING:  # pragma: no cover
    from .model import Model

__all__ = ["anomaly_attribution"]

_REFERENCE = "__xrann_reference_year__"


def _years(value: Any, name: str) -> list[int]:
    values = [value] if isinstance(value, (int, np.integer)) else list(value) if isinstance(value, Iterable) else None
    if values is None or not values or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
        raise ValueError(f"{name}={value!r} must be a year or a sequence of years, e.g. {name}=2012 or range(2008, 2015).")
    return sorted({int(v) for v in values})


def _region_parts(data: xr.DataArray, regions: Any, budget) -> xr.DataArray:
    """``budget(data)`` per region along a ``region`` dim, regions resolved as `xrann.evaluation.evaluate` does."""
    by_region, _ = split_by_region(data, region_labels(regions, data))
    return budget(by_region)


def anomaly_attribution(
    ds: xr.Dataset,
    model: "Model",
    period: int | Sequence[int],
    reference: Sequence[int],
    *,
    regions: xr.DataArray | None = None,
    cell_area: xr.DataArray | None = None,
    groups: Mapping[Hashable, Sequence[Hashable]] | None = None,
    members: bool = False,
) -> xr.Dataset:
    """Split the predicted carbon-budget anomaly of ``period`` against ``reference`` exactly among the drivers.

    Parameters
    ----------
    ds : xarray.Dataset
        Monthly drivers on ``(time, lat, lon)`` (other dims, e.g. ``scenario``,
        are carried through). Never modified.
    model : Model
        Predicts a carbon flux in one of `xrann.evaluation.FLUX_UNITS`.
    period : int or sequence of int
        Year(s) to explain.
    reference : sequence of int
        Reference years (must not overlap ``period``), e.g. ``range(2008, 2015)``.
    regions : xarray.DataArray, optional
        Integer or string label per cell (NaN or ``""`` for none): adds
        per-region results along a ``region`` dim.
    cell_area : xarray.DataArray, optional
        Cell areas in m2; by default the target's CF cell measure.
    groups : mapping, optional
        Drivers that share one contribution (see `xrann.shapley.shapley_values`).
    members : bool, default False
        For an ensemble, each member's attribution along ``member``.

    Returns
    -------
    xarray.Dataset
        ``contribution`` (PgC yr-1, per ``driver``), ``total`` (their sum)
        and ``anomaly`` (the predicted budget anomaly, equal to ``total`` to
        rounding), ``map`` (gC m-2 yr-1 per driver and cell),
        ``predicted_budget`` and ``reference_budget`` (the two budgets whose
        difference is ``anomaly``), ``observed_anomaly`` when ``ds`` has the
        target (period budget minus the mean of the reference years'
        budgets, each on its own calendar), and with ``regions``:
        ``region_contribution`` and ``region_anomaly``.

    Raises
    ------
    ValueError
        Years that select no data, overlapping period and reference, a
        non-monthly time axis, unknown flux units, no cell areas, regions off the grid.
    KeyError
        Drivers missing from ``ds``.

    Examples
    --------
    >>> import xrann
    >>> ds = xrann.datasets.north_america_nee(resolution=10.0, start="2010-01", end="2012-12")
    >>> model = ds.ann.fit(target="nee", drivers=["t2m", "swdown", "soilm"], seed=0, progress=False)
    >>> a = anomaly_attribution(ds, model, period=2012, reference=[2010, 2011])
    >>> a["contribution"].dims, bool(np.isclose(a["contribution"].sum("driver"), a["anomaly"]))
    (('driver',), True)
    """
    check_model(model)
    if model.several_targets:  # each target's attribution along a "target" dim
        options = dict(regions=regions, cell_area=cell_area, groups=groups, members=members)
        return per_target(
            model, lambda single: anomaly_attribution(ds, single, period, reference, **options),
            check=lambda single: carbon_flux_factor(single.target_attrs.get("units")),
        )
    ds = derive_recipe_drivers(ds, model)  # recipe drivers recomputed from the raw variables
    drivers = resolve_drivers_for_prediction(ds, model)
    resolve_players(model, groups)
    period_years = _years(period, "period")
    reference_years = _years(reference, "reference")
    overlap = sorted(set(period_years) & set(reference_years))
    if overlap:
        raise ValueError(f"period and reference overlap in {overlap}; an anomaly compares a period with other years.")
    time_dim = next((find_time_dim(ds[name]) for name in drivers if find_time_dim(ds[name]) is not None), None)
    if time_dim is None:
        raise ValueError(f"anomaly attribution needs a datetime dim on the drivers; they have dims {sorted({str(d) for n in drivers for d in ds[n].dims})}.")
    time = ds[time_dim]
    step_seconds = time_step_seconds(time)  # raises for irregular steps
    if not bool(((step_seconds >= 28 * 86400) & (step_seconds <= 31 * 86400)).all()):
        raise ValueError(f"anomaly attribution compares calendar months; {time_dim!r} is not monthly. Resample to monthly means first.")
    available = sorted(set(time.dt.year.values.tolist()))
    for name, years in (("period", period_years), ("reference", reference_years)):
        absent = [year for year in years if year not in available]
        if absent:
            raise ValueError(f"{name} years {absent} select no data; {time_dim!r} covers the years {available[0]}-{available[-1]}.")
    units = model.target_attrs.get("units")
    carbon_flux_factor(units)  # unknown flux units fail here
    target = model.target if model.target in ds.data_vars else None
    if target is None:
        try:
            target = resolve_target(ds, model, "anomaly attribution")
        except KeyError:
            target = None
    if cell_area is None:
        cell_area = find_cell_area(ds, target)
    if cell_area is None:
        raise ValueError("budgets need cell areas: pass cell_area=... (m2), or give the target a CF cell_measures 'area: <variable>'.")
    if regions is not None:  # bad labels fail before any Shapley value is computed
        region_labels(regions, next(ds[name] for name in drivers if time_dim in ds[name].dims))

    month = time.dt.month
    per_year_contribution, per_year_map, per_year_anomaly, per_year_region, per_year_region_anomaly = [], [], [], [], []
    predicted_budgets, reference_budgets = [], []
    factor = carbon_flux_factor(units)
    for year in period_years:
        in_year = time.dt.year == year
        state = ds.isel({time_dim: np.flatnonzero(in_year.values)})
        months = state[time_dim].dt.month
        background = []
        for name in drivers:
            data = ds[name]
            if time_dim not in data.dims:
                background.append(data.expand_dims({_REFERENCE: len(reference_years)}, axis=-1))
                continue
            rows = []
            for ref in reference_years:
                part = data.isel({time_dim: np.flatnonzero((time.dt.year == ref).values)})
                rows.append(part.assign_coords({time_dim: part[time_dim].dt.month.values}).rename({time_dim: "month"}).drop_vars([c for c in part.coords if c != time_dim and time_dim in part[c].dims]))
            stacked = xr.concat(rows, dim=_REFERENCE, coords="minimal", compat="override").reindex(month=months.values)
            stacked = stacked.rename({"month": time_dim}).assign_coords({time_dim: state[time_dim]})
            background.append(stacked.transpose(..., _REFERENCE))
        phi = shapley_on_grid(state, model, drivers, background=background, background_dim=_REFERENCE,
                              groups=groups, members=members)
        seconds = step_seconds.isel({time_dim: np.flatnonzero(in_year.values)})
        flux_anomaly = phi.sum("driver", skipna=False)
        valid = np.isfinite(flux_anomaly)

        def budget(data: xr.DataArray, seconds=seconds, valid=valid) -> xr.DataArray:
            return annual_budget(data.where(valid), cell_area, seconds, units=units).isel(year=0, drop=True)

        contributions = xr.concat([budget(phi.sel(driver=label)) for label in phi.driver.values], dim="driver", coords="minimal", compat="override")
        per_year_contribution.append(contributions.assign_coords(driver=phi.driver))
        per_year_anomaly.append(budget(flux_anomaly))
        predicted = flux_anomaly + phi.base_value
        predicted_budgets.append(budget(predicted))
        reference_budgets.append(budget(phi.base_value.where(valid)))
        per_year_map.append((phi * seconds * factor).sum(time_dim, min_count=1))
        if regions is not None:
            per_year_region.append(xr.concat([_region_parts(phi.sel(driver=label), regions, budget) for label in phi.driver.values], dim="driver", coords="minimal", compat="override").assign_coords(driver=phi.driver))
            per_year_region_anomaly.append(_region_parts(flux_anomaly, regions, budget))

    def mean(parts: list[xr.DataArray]) -> xr.DataArray:  # attributes are set below, none inherited from the inputs
        return xr.concat(parts, dim="__year__", coords="minimal", compat="override").mean("__year__").drop_attrs(deep=False)

    budget_attrs = {"units": "PgC yr-1"}
    described = f"{period_years} vs reference {reference_years}"
    contribution = mean(per_year_contribution).rename("contribution").assign_attrs(
        long_name=f"contribution of each driver to the predicted budget anomaly of {described}", **budget_attrs)
    result = xr.Dataset({
        "contribution": contribution,
        "total": contribution.sum("driver").drop_attrs(deep=False).assign_attrs(long_name="sum of the contributions (interactions are shared, none left over)", **budget_attrs),
        "anomaly": mean(per_year_anomaly).assign_attrs(long_name=f"predicted budget anomaly of {described}", **budget_attrs),
        "predicted_budget": mean(predicted_budgets).assign_attrs(long_name="predicted budget of the period", **budget_attrs),
        "reference_budget": mean(reference_budgets).assign_attrs(
            long_name="budget of the mean reference prediction on the period's calendar", **budget_attrs),
        "map": mean(per_year_map).assign_attrs(units="gC m-2 yr-1", long_name=f"contribution of each driver per cell, {described}"),
    })
    if target is not None:
        observed = ds[target]
        seconds_all = step_seconds
        valid_obs = np.isfinite(observed)
        observed_budget = annual_budget(observed.where(valid_obs), cell_area, seconds_all, units=units)
        observed_anomaly = observed_budget.sel(year=period_years).mean("year") - observed_budget.sel(year=reference_years).mean("year")
        result["observed_anomaly"] = observed_anomaly.drop_attrs(deep=False).assign_attrs(
            long_name=f"observed budget anomaly of {described} (each year on its own calendar)", **budget_attrs)
    if regions is not None:
        result["region_contribution"] = mean(per_year_region).assign_attrs(long_name="contribution per region", **budget_attrs)
        result["region_anomaly"] = mean(per_year_region_anomaly).assign_attrs(long_name="predicted budget anomaly per region", **budget_attrs)
    result.attrs = {"period": period_years, "reference": reference_years, "target": model.target,
                    "method": "exact interventional Shapley values against each cell's reference-year states of the same calendar month"}
    return result
