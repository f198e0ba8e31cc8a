"""Evaluate gridded predictions the way carbon-cycle studies do.

`evaluate` (also ``ds.ann.evaluate``) predicts the model's target on a Dataset
and compares it with the observed target; `evaluate_predictions` does the same
for two DataArrays. The result is a Dataset with

* overall scores over every valid sample (``r2``, ``rmse``, ``mae``, ``bias``,
  ``pearson_r``), **area-weighted** (cell area, else cos(latitude)),
* ``regional_mean``: the area-weighted regional mean series, and
  ``temporal_r``, the correlation of the observed and predicted series,
* ``mean_map``: the long-term mean map, and ``spatial_r``, its area-weighted
  correlation,
* ``seasonal_cycle``: the mean seasonal cycle of the regional mean, by ``month``,
* ``budget``: annual regional budgets in PgC per year, by ``year``, and
  ``iav``, their interannual variability (standard deviation).

Observed and predicted values sit side by side along a ``source`` dim
(``"observed"``, ``"predicted"``). Only points where both are finite count, so
both sides always cover the same cells and months.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import cf_xarray  # noqa: F401  (registers the .cf accessor)
import numpy as np
import pandas as pd
import xarray as xr

from .data.areas import EARTH_RADIUS_M, find_cell_area
from .data.areas import find_coordinate as _coordinate
from .data.areas import spherical_cell_area as _spherical_cell_area
from .data.selection import selection_mask
from .metrics import pearson_r, scores
from .model import Model
from .predict import check_model, predict_dataset
from .regions import region_labels, split_by_region
from .targets import per_target, resolve_target

__all__ = [
    "evaluate",
    "evaluate_predictions",
    "find_cell_area",
    "area_weights",
    "time_step_seconds",
    "carbon_flux_factor",
    "annual_budget",
    "find_time_dim",
    "regional_mean",
    "static_map",
    "FLUX_UNITS",
]

#: grams of carbon per mole of CO2 (the molar mass of carbon)
GRAMS_CARBON_PER_MOLE = 12.011
GRAMS_PER_PETAGRAM = 1e15
SECONDS_PER_DAY = 86_400.0

#: flux units that `annual_budget` converts, and their factor to gC m-2 s-1
FLUX_UNITS: dict[str, float] = {
    "umol m-2 s-1": GRAMS_CARBON_PER_MOLE * 1e-6,
    "mol m-2 s-1": GRAMS_CARBON_PER_MOLE,
    "gC m-2 d-1": 1.0 / SECONDS_PER_DAY,
    "kgC m-2 s-1": 1e3,
}
SOURCES = ("observed", "predicted")


def _normalise_units(units: str) -> str:
    """Spelling-insensitive form: ``"µmol CO2 m^-2 s^-1"`` and ``"umol/m2/s"`` both give ``"umolm-2s-1"``."""
    text = str(units).replace("µ", "u").replace("μ", "u").replace("micromol", "umol")
    text = text.replace("CO2", "").replace("co2", "").replace("^", "").replace("**", "").replace(" ", "")
    text = text.replace("/m2", "m-2").replace("/s", "s-1").replace("/d", "d-1").replace("day-1", "d-1")
    return text.lower()


def carbon_flux_factor(units: str | None) -> float:
    """Factor that turns a CO2 or carbon flux in ``units`` into gC m-2 s-1.

    Parameters
    ----------
    units : str
        One of `FLUX_UNITS` (``"umol m-2 s-1"``, ``"µmol m-2 s-1"``,
        ``"mol m-2 s-1"``, ``"gC m-2 d-1"``, ``"kgC m-2 s-1"``), spelled with
        or without ``CO2``, ``^`` or slashes. Moles are moles of CO2, i.e. of carbon.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        Missing or unknown units.

    Examples
    --------
    >>> carbon_flux_factor("µmol m-2 s-1")
    1.2011e-05
    >>> carbon_flux_factor("W m-2")
    Traceback (most recent call last):
    ...
    ValueError: cannot convert a flux in units 'W m-2' to a carbon budget; ...
    """
    known = {_normalise_units(name): factor for name, factor in FLUX_UNITS.items()}
    factor = known.get(_normalise_units(units)) if units else None
    if factor is None:
        raise ValueError(
            f"cannot convert a flux in units {units!r} to a carbon budget; xrann converts {list(FLUX_UNITS)}. "
            "Set the target's units attribute to one of them (converting the values if needed)."
        )
    return factor


def area_weights(data: xr.DataArray, cell_area: xr.DataArray | None = None) -> xr.DataArray | None:
    """Weights for area-weighted means: ``cell_area`` when given, else cos(latitude), else ``None``.

    Parameters
    ----------
    data : xarray.DataArray
        Supplies the latitude coordinate (found through cf-xarray).
    cell_area : xarray.DataArray, optional

    Returns
    -------
    xarray.DataArray or None
        ``None`` when there is neither a cell area nor a latitude (unweighted).

    Examples
    --------
    >>> data = xr.DataArray([1.0, 1.0], dims="lat", coords={"lat": [0.0, 60.0]})
    >>> area_weights(data).values.round(3)
    array([1. , 0.5])
    """
    if cell_area is not None:
        return cell_area.fillna(0.0)
    latitude = _coordinate(data, "latitude")
    if latitude is None:
        return None
    return np.cos(np.deg2rad(latitude)).rename("weights").assign_attrs(units="1", long_name="cos(latitude)")


def find_time_dim(data: xr.DataArray) -> Hashable | None:
    """The first dim of ``data`` whose coordinate holds dates (numpy datetime64 or cftime), else ``None``.

    Parameters
    ----------
    data : xarray.DataArray

    Returns
    -------
    hashable or None

    Examples
    --------
    >>> find_time_dim(xr.DataArray([1.0, 2.0], dims="time", coords={"time": pd.date_range("2007", periods=2)}))
    'time'
    """
    for dim in data.dims:
        if dim in data.coords and (
            np.issubdtype(data[dim].dtype, np.datetime64) or (data[dim].dtype == object and hasattr(data[dim], "dt"))
        ):
            return dim
    return None


def time_step_seconds(time: xr.DataArray) -> xr.DataArray:
    """Length in seconds of the period each time stamp stands for.

    Monthly data (steps of 28-31 days) get the length of their own month from
    the calendar; yearly data (365-366 days) the length of their year; any
    other regular step its constant length.

    Parameters
    ----------
    time : xarray.DataArray
        A 1-D datetime coordinate (numpy or cftime) with at least two stamps.

    Returns
    -------
    xarray.DataArray
        Seconds per time stamp, on ``time``.

    Raises
    ------
    ValueError
        Fewer than two stamps, or an irregular step.

    Examples
    --------
    >>> time = xr.DataArray(pd.date_range("2008-01-01", periods=3, freq="MS"), dims="time", name="time")
    >>> (time_step_seconds(time) / 86400).values.tolist()
    [31.0, 29.0, 31.0]
    """
    name = time.dims[0]
    if time.size < 2:
        raise ValueError(f"cannot tell the time step of {name!r} from {time.size} stamp(s); budgets need at least two.")
    steps = pd.TimedeltaIndex(np.diff(time.values)).total_seconds().to_numpy() / SECONDS_PER_DAY
    if np.all((steps >= 28) & (steps <= 31)):
        days = time.dt.days_in_month
    elif np.all((steps >= 365) & (steps <= 366)):
        days = 365 + time.dt.is_leap_year.astype(int)
    elif np.allclose(steps, steps[0]):
        days = xr.full_like(time, steps[0], dtype=np.float64)
    else:
        raise ValueError(
            f"the time step of {name!r} is irregular (between {steps.min():g} and {steps.max():g} days); "
            "budgets need monthly, yearly or constant steps."
        )
    return (days * SECONDS_PER_DAY).astype(np.float64).rename("time_step").assign_attrs(units="s")


def annual_budget(
    flux: xr.DataArray,
    cell_area: xr.DataArray,
    step_seconds: xr.DataArray | None = None,
    units: str | None = None,
) -> xr.DataArray:
    """Regional carbon budget per calendar year, in PgC per year.

    ``sum over cells and time steps of flux * cell_area * step length``,
    converted from the flux ``units`` to grams of carbon, then to petagrams.
    Cells or steps where the flux is NaN add nothing; a year with no finite
    value is NaN. Each year sums the time steps present in it.

    Parameters
    ----------
    flux : xarray.DataArray
        A flux on ``(time, ...)`` in one of `FLUX_UNITS`.
    cell_area : xarray.DataArray
        Cell areas in m2 on the flux's spatial dims. The budget sums over
        the dims ``cell_area`` has; every other dim of ``flux`` except time
        (``member``, ``scenario``) is kept, one budget per label.
    step_seconds : xarray.DataArray, optional
        Seconds per time stamp; computed by `time_step_seconds` when ``None``.
    units : str, optional
        Flux units; ``flux.attrs["units"]`` when ``None``.

    Returns
    -------
    xarray.DataArray
        Dim ``year`` (plus any dim of ``flux`` beyond time and the cell
        area's dims), units ``PgC yr-1``; positive where the flux is positive
        (for NEE, a net source to the atmosphere).

    Raises
    ------
    ValueError
        Unknown flux units, no datetime dim, or an irregular time step.

    Examples
    --------
    >>> time = pd.date_range("2007-01-01", periods=24, freq="MS")
    >>> flux = xr.DataArray(np.ones((24, 1)), dims=("time", "cell"), coords={"time": time},
    ...                     attrs={"units": "umol m-2 s-1"})
    >>> area = xr.DataArray([1e12], dims="cell")   # a million km2
    >>> annual_budget(flux, area).values.round(4)   # 1 umol m-2 s-1 over 1e12 m2; 2008 is a leap year
    array([0.3788, 0.3798])
    """
    factor = carbon_flux_factor(units if units is not None else flux.attrs.get("units"))
    time_dim = find_time_dim(flux)
    if time_dim is None:
        raise ValueError(f"annual budgets need a datetime dim; the flux has dims {flux.dims}.")
    if step_seconds is None:
        step_seconds = time_step_seconds(flux[time_dim])
    # sum over the cells only: any other dim (member, scenario, region) keeps its own budgets
    spatial = [d for d in flux.dims if d != time_dim and d in cell_area.dims]
    valid = np.isfinite(flux)
    per_step = (flux.where(valid, 0.0) * cell_area.fillna(0.0)).sum(spatial)
    per_step = per_step.where(valid.any(spatial)) * step_seconds * factor / GRAMS_PER_PETAGRAM
    budget = per_step.groupby(flux[time_dim].dt.year.rename("year")).sum(min_count=1)
    return budget.rename("budget").drop_attrs(deep=False).assign_attrs(  # none of the flux's or time's attributes
        units="PgC yr-1",
        long_name="annual regional carbon budget (sum of flux x cell area x time step)",
    )


def _select_period(data: xr.DataArray, time_dim: Hashable | None, period: Any) -> xr.DataArray:
    if period is None:
        return data
    if time_dim is None:
        raise ValueError(f"period={period!r} selects times, but the data have no datetime dim (dims {data.dims}).")
    try:
        mask = selection_mask(xr.Dataset(coords={time_dim: data[time_dim]}), {time_dim: period}, (time_dim,))
    except ValueError as error:
        raise ValueError(f"period={period!r}: {error}") from None
    if not bool(mask.any()):
        raise ValueError(f"period={period!r} selects no time of {time_dim!r}; choose times inside the data.")
    return data.isel({time_dim: mask.values})


def _stack_sources(observed: xr.DataArray, predicted: xr.DataArray, name: str, **attrs: str) -> xr.DataArray:
    stacked = xr.concat([observed, predicted], dim=xr.Variable("source", np.array(SOURCES)), coords="minimal", compat="override")
    return stacked.rename(name).assign_attrs(attrs)


def evaluate_predictions(
    obs: xr.DataArray,
    pred: xr.DataArray,
    *,
    cell_area: xr.DataArray | None = None,
    period: Any = None,
    budgets: bool | None = None,
    sample_dims: Sequence[Hashable] | None = None,
    regions: Any = None,
    members: xr.DataArray | None = None,
) -> xr.Dataset:
    """Compare gridded predictions with observations: scores, series, maps, seasonal cycle, budgets.

    Scores, series, maps and budgets pool the samples over ``sample_dims``
    only: any other dim of ``obs`` or ``pred`` (an ensemble ``member``, a
    ``scenario``, a ``product``) is kept, one result per label.

    Parameters
    ----------
    obs, pred : xarray.DataArray
        Observed and predicted target on the same grid.
    cell_area : xarray.DataArray, optional
        Cell areas in m2; weights the means and gives the budgets. Without
        it, means are weighted by cos(latitude) and budgets use cell areas
        computed from regular latitude/longitude coordinates.
    period : slice, int or list of int, optional
        Times to evaluate: a label slice (``slice("2015-01", "2015-12")``) or
        years (``[2007, 2015]``).
    budgets : bool, optional
        Compute annual budgets; ``None`` computes them when the units are a
        known flux unit (see `FLUX_UNITS`) and cell areas are known, ``True``
        raises when they cannot be computed.
    sample_dims : sequence of hashable, optional
        The dims samples are pooled over (time and the spatial dims). By
        default the dims both ``obs`` and ``pred`` have, so predictions
        stacked along a dim the observations lack (``product``, ``scenario``)
        are scored per label.
    regions : xarray.DataArray or regionmask.Regions, optional
        Region labels on the grid (see `xrann.regions.region_labels`): adds
        ``regional_budget`` and ``regional_iav`` along a ``region`` dim, and
        ``budget_outside_regions`` for cells in no region, so regions and
        outside add up to ``budget`` (to rounding).
    members : xarray.DataArray, optional
        An ensemble's member predictions along a ``member`` dim, on ``pred``'s
        grid: adds the members' predicted budgets ``budget_members`` and the
        band ``budget_band`` (mean ± 2 standard deviations across members).

    Returns
    -------
    xarray.Dataset
        See the module description. Dataset attrs ``weighting`` say how means
        are weighted.

    Raises
    ------
    ValueError
        Misaligned grids, a period outside the data, or (``budgets=True``)
        unknown units or cell areas.

    Examples
    --------
    >>> time = pd.date_range("2007-01-01", periods=24, freq="MS")
    >>> obs = xr.DataArray(np.sin(np.arange(24.0))[:, None, None] * np.ones((2, 2)), dims=("time", "lat", "lon"),
    ...                    coords={"time": time, "lat": [40.0, 50.0], "lon": [-100.0, -90.0]},
    ...                    attrs={"units": "umol m-2 s-1"})
    >>> result = evaluate_predictions(obs, obs * 1.1, period=[2008])
    >>> float(result["temporal_r"]), result["budget"].sizes["year"]
    (1.0, 1)
    """
    sample_dims = _check_sample_dims(obs, pred, sample_dims)
    time_dim = find_time_dim(obs)
    if cell_area is not None and time_dim is not None:
        cell_area = static_map(cell_area, time_dim, "cell area")
    labels = region_labels(regions, obs) if regions is not None else None  # bad labels fail before any computation
    all_times = obs[time_dim] if time_dim is not None else None
    obs, pred = _select_period(obs, time_dim, period), _select_period(pred, time_dim, period)
    if members is not None:
        members = _select_period(members, time_dim, period)
    weights = area_weights(obs, cell_area)
    overall = scores(obs, pred, dim=list(sample_dims), weights=weights)
    weighting = "cell area" if cell_area is not None else "cos(latitude)" if weights is not None else "unweighted"
    for variable in overall.data_vars.values():
        if variable.name != "n_samples":
            variable.attrs["weighting"] = weighting
    result = overall
    units = obs.attrs.get("units", "1")
    if budgets and time_dim is None:
        raise ValueError(f"budgets=True needs a datetime dim; the observations have dims {obs.dims}.")
    if time_dim is not None:
        spatial = [dim for dim in sample_dims if dim != time_dim]
        result = result.merge(_temporal_and_spatial(obs, pred, time_dim, weights, units, spatial))
        area = cell_area if cell_area is not None else _spherical_cell_area(obs)
        result = result.merge(_budgets(obs, pred, time_dim, all_times, area, units, budgets))
        if "budget" in result and labels is not None:
            result = result.merge(_regional_budgets(obs, pred, time_dim, all_times, area, units, labels))
        if "budget" in result and members is not None:
            result = result.merge(_member_budgets(obs, members, time_dim, all_times, area, units))
        if "budget" in result:
            result.attrs["budget_area"] = area.attrs.get("source", "cell area")
    result.attrs.update(
        {
            "weighting": weighting,
            "period": "all times" if period is None else repr(period),
            "target_units": units,
            "description": "observed and predicted values compared where both are finite",
        }
    )
    return result


def _check_sample_dims(obs: xr.DataArray, pred: xr.DataArray, sample_dims: Sequence[Hashable] | None) -> tuple[Hashable, ...]:
    """The dims samples are pooled over: given, or those both ``obs`` and ``pred`` have."""
    if sample_dims is None:
        return tuple(dim for dim in obs.dims if dim in pred.dims)
    unknown = [dim for dim in sample_dims if dim not in obs.dims and dim not in pred.dims]
    if unknown:
        raise ValueError(
            f"sample_dims={tuple(sample_dims)!r} names {unknown}, which neither the observations (dims {obs.dims}) "
            f"nor the predictions (dims {pred.dims}) have."
        )
    return tuple(sample_dims)


def static_map(data: xr.DataArray, time_dim: Hashable, what: str) -> xr.DataArray:
    """``data`` without ``time_dim`` when it is identical at every time (a static map broadcast over time).

    ``xarray.open_mfdataset`` with its default options repeats a static map
    (cell area, land cover) along time; such a copy is taken as the static
    map it is.

    Parameters
    ----------
    data : xarray.DataArray
    time_dim : hashable
    what : str
        What ``data`` is, for the error message.

    Returns
    -------
    xarray.DataArray
        ``data`` itself when it has no ``time_dim``.

    Raises
    ------
    ValueError
        If ``data`` truly varies along ``time_dim``.

    Examples
    --------
    >>> area = xr.DataArray(np.ones((3, 2)), dims=("time", "cell"))
    >>> static_map(area, "time", "cell area").dims
    ('cell',)
    """
    if time_dim not in data.dims:
        return data
    first = data.isel({time_dim: 0}, drop=True)
    same = (data == first) | (np.isnan(data) & np.isnan(first))
    if not bool(same.all()):
        raise ValueError(
            f"the {what} {data.name!r} varies along {time_dim!r}, but it must be one static map; select one time "
            f"(e.g. ds[{str(data.name)!r}].isel({time_dim}=0)), or open the files with "
            "xr.open_mfdataset(..., data_vars='minimal', coords='minimal', compat='override') so static maps stay static."
        )
    return first


def _regional_budgets(
    obs: xr.DataArray, pred: xr.DataArray, time_dim: Hashable, all_times: xr.DataArray,
    area: xr.DataArray, units: str, labels: xr.DataArray,
) -> xr.Dataset:
    """Budgets and IAV per region (a split cell area), plus the budget of the cells in no region."""
    by_region, outside = split_by_region(area, labels)
    regional = _budgets(obs, pred, time_dim, all_times, by_region, units, True)
    remainder = _budgets(obs, pred, time_dim, all_times, outside, units, True)["budget"]
    return xr.Dataset({
        "regional_budget": regional["budget"].assign_attrs(long_name="annual carbon budget of each region"),
        "regional_iav": regional["iav"].assign_attrs(long_name="interannual variability of each region's budget"),
        "budget_outside_regions": remainder.fillna(0.0).assign_attrs(
            long_name="annual carbon budget of the cells in no region (regions plus this add up to budget)"
        ),
    })


def _member_budgets(
    obs: xr.DataArray, members: xr.DataArray, time_dim: Hashable, all_times: xr.DataArray, area: xr.DataArray, units: str
) -> xr.Dataset:
    """Each member's predicted budget (on the cells and months observed) and the band mean ± 2 sigma."""
    seconds = time_step_seconds(all_times).sel({time_dim: obs[time_dim]})
    valid = np.isfinite(obs) & np.isfinite(members)
    per_member = annual_budget(members.where(valid), area, seconds, units=units)
    mean, spread = per_member.mean("member"), per_member.std("member", ddof=1)
    band = xr.concat([mean - 2 * spread, mean + 2 * spread], dim=xr.Variable("bound", np.array(["lower", "upper"], dtype=object)))
    return xr.Dataset({
        "budget_members": per_member.assign_attrs(long_name="each ensemble member's predicted annual budget"),
        "budget_band": band.assign_attrs(
            units=per_member.attrs["units"], long_name="ensemble band of the predicted budget: mean ± 2 standard deviations across members (ddof=1)"
        ),
    })


def _budgets(
    obs: xr.DataArray, pred: xr.DataArray, time_dim: Hashable, all_times: xr.DataArray,
    area: xr.DataArray | None, units: str, budgets: bool | None,
) -> xr.Dataset:
    """Annual budgets of both sources and their IAV; empty when ``budgets=None`` and they cannot be computed."""
    try:
        if area is None:
            raise ValueError("budgets need cell areas: pass cell_area=..., or use latitude/longitude coordinates.")
        carbon_flux_factor(units)
        # step lengths come from the whole time axis: a selected period may have gaps between years
        seconds = time_step_seconds(all_times).sel({time_dim: obs[time_dim]})
    except ValueError:
        if budgets:
            raise
        return xr.Dataset()
    if budgets is False:
        return xr.Dataset()
    valid = np.isfinite(obs) & np.isfinite(pred)
    observed = annual_budget(obs.where(valid), area, seconds, units=units)
    predicted = annual_budget(pred.where(valid), area, seconds, units=units)
    budget = _stack_sources(observed, predicted, "budget", **observed.attrs)
    spread = budget.std("year", ddof=1) if budget.sizes["year"] > 1 else budget.isel(year=0, drop=True) * np.nan
    return xr.Dataset({
        "budget": budget,
        "iav": spread.drop_attrs(deep=False).assign_attrs(
            units="PgC yr-1", long_name="interannual variability (standard deviation of annual budgets, ddof=1)"
        ),
    })


def regional_mean(data: xr.DataArray, weights: xr.DataArray | None, spatial: Sequence[Hashable]) -> xr.DataArray:
    """Weighted mean over the ``spatial`` dims of the finite points of ``data`` (NaN where none is finite).

    Parameters
    ----------
    data : xarray.DataArray
    weights : xarray.DataArray or None
        Cell areas or other weights; ``None`` for an unweighted mean.
    spatial : sequence of hashable
        Dims to average over; ``data`` is returned unchanged when empty.

    Returns
    -------
    xarray.DataArray

    Examples
    --------
    >>> data = xr.DataArray([[1.0, 3.0, np.nan]], dims=("time", "lat"))
    >>> regional_mean(data, xr.DataArray([1.0, 3.0, 5.0], dims="lat"), ["lat"]).values
    array([2.5])
    """
    if not spatial:
        return data
    valid = np.isfinite(data)
    weight = valid.astype(np.float64) if weights is None else valid * weights
    return data.where(valid, 0.0).weighted(weight).mean(spatial)


def _temporal_and_spatial(
    obs: xr.DataArray, pred: xr.DataArray, time_dim: Hashable, weights: xr.DataArray | None, units: str,
    spatial: Sequence[Hashable],
) -> xr.Dataset:
    valid = np.isfinite(obs) & np.isfinite(pred)
    obs, pred = obs.where(valid), pred.where(valid)
    series = _stack_sources(
        regional_mean(obs, weights, spatial), regional_mean(pred, weights, spatial), "regional_mean",
        units=units, long_name="area-weighted regional mean",
    )
    observed_series, predicted_series = series.sel(source="observed", drop=True), series.sel(source="predicted", drop=True)
    result = {
        "regional_mean": series,
        "temporal_r": pearson_r(observed_series, predicted_series, time_dim).assign_attrs(
            long_name="correlation of the observed and predicted regional mean series"
        ),
        "seasonal_cycle": series.groupby(series[time_dim].dt.month.rename("month")).mean().assign_attrs(
            units=units, long_name="mean seasonal cycle of the regional mean"
        ),
    }
    if spatial:
        maps = _stack_sources(obs.mean(time_dim), pred.mean(time_dim), "mean_map", units=units, long_name="long-term mean")
        result["mean_map"] = maps
        result["spatial_r"] = pearson_r(
            maps.sel(source="observed", drop=True), maps.sel(source="predicted", drop=True), spatial, weights
        ).assign_attrs(long_name="area-weighted correlation of the observed and predicted long-term mean maps")
    result["seasonal_cycle"]["month"].attrs.update(long_name="month of the year", units="1")
    return xr.Dataset(result)


def _observed_target(ds: xr.Dataset, model: Model) -> Hashable:
    """The name of a single-target model's observed target in ``ds`` (by name or CF standard_name)."""
    return resolve_target(ds, model, "evaluate", fix="Use ds.ann.predict(model) to predict without it.")


def evaluate(
    ds: xr.Dataset, model: Model, period: Any = None, *, budgets: bool | None = None, regions: Any = None
) -> xr.Dataset:
    """Predict ``model``'s target on ``ds`` and compare it with the observed target there.

    Parameters
    ----------
    ds : xarray.Dataset
        Holds the model's drivers and its target (the observations); its CF
        cell-area measure, if any, weights the means and gives the budgets.
    model : Model
    period : slice, int or list of int, optional
        Times to evaluate, e.g. the held-out years ``[2007, 2015]``.
    budgets : bool, optional
        See `evaluate_predictions`.
    regions : xarray.DataArray or regionmask.Regions, optional
        Region labels on the grid: budgets and IAV per region (see `evaluate_predictions`).

    Returns
    -------
    xarray.Dataset
        See `evaluate_predictions`; attrs also name the target and the model
        method. Dims of the drivers or target beyond the model's sample dims
        (``scenario``, ``member``) are kept: one score and budget per label.
        For an ensemble model, ``budget_members`` and ``budget_band`` give
        the members' budgets and the band mean ± 2 sigma.

    Raises
    ------
    KeyError
        The target or a driver is missing from ``ds``.
    ValueError
        See `evaluate_predictions`.

    Examples
    --------
    >>> import xrann
    >>> ds = xrann.datasets.soil_toy(dry=True)
    >>> model = ds.ann.fit(target="co2_flux", seed=0)
    >>> sorted(evaluate(ds, model).data_vars)
    ['bias', 'mae', 'n_samples', 'pearson_r', 'r2', 'rmse']
    """
    check_model(model)  # a path or anything else fails here, with the fix
    if model.several_targets:  # scores and budgets per target along a "target" dim
        result = per_target(
            model, lambda single: evaluate(ds, single, period, budgets=budgets, regions=regions),
            check=lambda single: _observed_target(ds, single),
        )
        result.attrs.update({"target": ",".join(model.targets), "method": model.method})
        return result
    target = _observed_target(ds, model)
    observed = ds[target]
    if regions is not None:
        region_labels(regions, observed)  # bad labels fail before the prediction
    sample_dims = model.sample_dims if set(model.sample_dims) <= set(observed.dims) else observed.dims
    members = predict_dataset(ds, model, members=True) if model.ensemble is not None else None
    predicted = predict_dataset(ds, model)
    result = evaluate_predictions(
        observed, predicted, cell_area=find_cell_area(ds, target), period=period, budgets=budgets,
        sample_dims=sample_dims, regions=regions, members=members,
    )
    result.attrs.update({"target": str(target), "method": model.method})
    return result
