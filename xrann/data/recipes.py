"""Apply driver recipes (`xrann.features`) to a Dataset: checked first, derived lazily, the user's Dataset untouched.

Lags and rolling windows use xarray's ``shift`` and ``rolling``, which stay
lazy and blockwise on dask arrays (each block reads the halo of its
neighbour it needs; the time axis is never gathered into one chunk).
Anomalies and seasonal cycles subtract or broadcast a stored climatology
(per cell and month of year) through a groupby over the month, also lazy.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from ..features import Anomaly, Cyclic, Lag, Recipe, Rolling, SeasonalCycle
from .variables import resolve_variable, standard_name_matches

__all__ = [
    "split_drivers",
    "check_recipes",
    "seasonal_climatology",
    "apply_recipes",
    "recipe_drivers",
    "driver_provenance",
    "warmup_points",
    "leading_nan_steps",
    "RECIPE_ATTR",
    "MONTH_DIM",
]

#: attribute marking a variable derived by a recipe (its value: the driver name)
RECIPE_ATTR = "xrann_recipe"
#: the month-of-year dim of a stored climatology
MONTH_DIM = "month"
_TIME = "time"


def split_drivers(drivers: Sequence[Any] | None) -> tuple[Any, list[Recipe]]:
    """Separate plain driver names from recipes.

    Parameters
    ----------
    drivers : sequence or None
        Names and `~xrann.features.Recipe` objects, as passed to ``fit``.

    Returns
    -------
    plain : sequence or None
        The names (``drivers`` itself when it holds no recipe).
    recipes : list of Recipe

    Examples
    --------
    >>> from xrann import features as F
    >>> split_drivers(["t2m", F.lag("precip", 1)])
    (['t2m'], [Lag(source='precip', steps=1, dim='time')])
    """
    if drivers is None or isinstance(drivers, (str, bytes, Recipe)) or not isinstance(drivers, (list, tuple)):
        if isinstance(drivers, Recipe):
            return [], [drivers]
        return drivers, []
    recipes = [d for d in drivers if isinstance(d, Recipe)]
    if not recipes:
        return drivers, []
    return [d for d in drivers if not isinstance(d, Recipe)], recipes


def recipe_drivers(recipes: Sequence[Recipe]) -> list[str]:
    """The driver names the recipes make, in order.

    Parameters
    ----------
    recipes : sequence of Recipe

    Returns
    -------
    list of str

    Examples
    --------
    >>> from xrann import features as F
    >>> recipe_drivers([F.lag("precip", 1), F.cyclic("time.month")])
    ['precip_lag1', 'month_sin', 'month_cos']
    """
    return [name for recipe in recipes for name in recipe.names]


def _source(ds: xr.Dataset, recipe: Recipe) -> Hashable:
    try:
        return resolve_variable(ds, recipe.source, "driver")
    except KeyError as error:
        raise KeyError(
            f"the driver {recipe.names[0]!r} is computed by the recipe {recipe!r} from the raw variable "
            f"{recipe.source!r}, which is missing: {error.args[0]}"
        ) from None


def check_recipes(ds: xr.Dataset, recipes: Sequence[Recipe], target: Hashable, plain: Sequence[Hashable]) -> None:
    """Raise a clear error for recipes that cannot be applied to ``ds`` for ``target``, before any training.

    Parameters
    ----------
    ds : xarray.Dataset
    recipes : sequence of Recipe
    target : hashable
        The target's variable name (its dims are the sample dims).
    plain : sequence of hashable
        The plain drivers' variable names (a recipe driver must not repeat one).

    Raises
    ------
    KeyError
        A raw source missing from ``ds``.
    ValueError
        The target feeding a recipe; a lag or window along a dim the target
        lacks or longer than it; an anomaly or seasonal cycle without a time
        dim or with less than one full year; a driver name made twice.

    Examples
    --------
    >>> from xrann import features as F
    >>> ds = xr.Dataset({"y": ("x", [1.0, 2.0]), "p": ("x", [0.0, 1.0])})
    >>> check_recipes(ds, [F.lag("p", 1)], "y", [])
    Traceback (most recent call last):
    ...
    ValueError: the recipe Lag(source='p', steps=1, dim='time') works along dim 'time', but the target 'y' has dims ('x',); pass dim= one of them.
    """
    sizes = dict(ds[target].sizes)
    names = [str(n) for n in plain] + recipe_drivers(recipes)
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ValueError(f"drivers {duplicated} are listed more than once (plain or made by a recipe); list each once.")
    for recipe in recipes:
        if isinstance(recipe, Cyclic):
            dim = recipe.source
        else:
            source = _source(ds, recipe)
            if source == target:
                raise ValueError(
                    f"the target {str(target)!r} feeds the recipe {recipe!r}; a network cannot use the variable it "
                    "predicts, even lagged or averaged. Remove that recipe."
                )
            dim = getattr(recipe, "dim", _TIME)
        if dim not in sizes:
            raise ValueError(
                f"the recipe {recipe!r} works along dim {dim!r}, but the target {str(target)!r} has dims "
                f"{tuple(map(str, sizes))}; pass dim= one of them."
            )
        if recipe.warmup >= sizes[dim]:
            raise ValueError(
                f"the recipe {recipe!r} needs {recipe.warmup + 1} steps along {dim!r}, but it has {sizes[dim]}."
            )
        if isinstance(recipe, (Anomaly, SeasonalCycle)):
            if dim not in ds[source].dims:
                raise ValueError(
                    f"the recipe {recipe!r} needs {recipe.source!r} to vary along {dim!r}, but it has dims "
                    f"{tuple(map(str, ds[source].dims))}."
                )
            months = np.unique(ds[dim].dt.month.values)
            if len(months) < 12:
                raise ValueError(
                    f"the recipe {recipe!r} needs at least one full year along {dim!r} to compute a mean seasonal "
                    f"cycle, but the data cover the months {months.tolist()}."
                )
        if isinstance(recipe, Cyclic) and not hasattr(ds[dim], "dt"):
            raise ValueError(f"the recipe {recipe!r} needs {dim!r} to hold dates or datetimes.")


def seasonal_climatology(ds: xr.Dataset, recipe: Recipe, exclude: xr.DataArray | None = None) -> xr.DataArray:
    """Each cell's mean of the recipe's source per month of year, over the samples not excluded (computed now).

    Parameters
    ----------
    ds : xarray.Dataset
    recipe : Anomaly or SeasonalCycle
    exclude : xarray.DataArray, optional
        Boolean, ``True`` for samples to leave out (the validation period).

    Returns
    -------
    xarray.DataArray
        On ``("month", <the source's other dims>)``, months 1 to 12, float64, in
        memory; NaN in every month for a cell lacking a sample in any month.

    Raises
    ------
    ValueError
        A month without any training sample.

    Examples
    --------
    >>> import pandas as pd
    >>> from xrann import features as F
    >>> time = pd.date_range("2000-01-01", periods=24, freq="MS")
    >>> ds = xr.Dataset({"t": ("time", np.tile(np.arange(12.0), 2))}, coords={"time": time})
    >>> seasonal_climatology(ds, F.anomaly("t")).values[:3]
    array([0., 1., 2.])
    """
    source = ds[_source(ds, recipe)]
    if exclude is not None:
        source = source.where(~exclude)
    climatology = source.groupby(f"{_TIME}.month").mean(_TIME).astype("float64").compute()
    climatology = climatology.reindex({MONTH_DIM: np.arange(1, 13)})
    empty = [int(m) for m in climatology[MONTH_DIM].values if climatology.sel({MONTH_DIM: m}).isnull().all()]
    if empty:
        raise ValueError(
            f"the recipe {recipe!r} has no training sample of {recipe.source!r} in months {empty}; "
            "train on at least one full year outside the validation period."
        )
    # a cell without a sample in some month has no seasonal cycle: NaN in every month (its samples drop out)
    climatology = climatology.where(climatology.notnull().all(MONTH_DIM))
    climatology.attrs = {}
    return climatology.rename(recipe.source)


def _cyclic(ds: xr.Dataset, recipe: Cyclic) -> tuple[xr.DataArray, xr.DataArray]:
    time = ds[recipe.source]
    if recipe.component == "month":
        turn = (time.dt.month - 1) / 12.0
    elif recipe.component == "hour":
        turn = (time.dt.hour + time.dt.minute / 60.0) / 24.0
    else:  # the year's own length: 365/366, or 365 for noleap and 360 for 360_day cftime calendars
        turn = (time.dt.dayofyear - 1) / time.dt.days_in_year
    angle = 2 * np.pi * turn.astype("float64")
    return np.sin(angle).drop_attrs(deep=False), np.cos(angle).drop_attrs(deep=False)


def _derived_attrs(source: xr.DataArray, recipe: Recipe, name: str, description: str) -> dict[str, str]:
    # no standard_name: a derived variable must never stand in for its source by CF lookup
    attrs = {"long_name": description, RECIPE_ATTR: name}
    if "units" in source.attrs and not isinstance(recipe, Cyclic):
        attrs["units"] = str(source.attrs["units"])
    return attrs


def _check_climatology_grid(source: xr.DataArray, climatology: xr.DataArray, recipe: Recipe) -> None:
    for dim in climatology.dims:
        if dim == MONTH_DIM:
            continue
        if dim not in source.dims or source.sizes[dim] != climatology.sizes[dim] or (
            dim in source.coords and dim in climatology.coords and not source[dim].equals(climatology[dim])
        ):
            raise ValueError(
                f"the recipe {recipe!r} subtracts the stored climatology of {recipe.source!r}, which is on the "
                f"training grid along {str(dim)!r}; this Dataset's {str(dim)!r} differs. Predict on the training grid "
                "(or select it), or fit without this recipe."
            )


def _pick_month(month: np.ndarray, climatology: np.ndarray) -> np.ndarray:
    """``climatology[..., month - 1]`` per element, ``month`` broadcast against the climatology's cells."""
    shape = np.broadcast_shapes(month.shape, climatology.shape[:-1])
    index = np.broadcast_to(month - 1, shape)[..., None]
    return np.take_along_axis(np.broadcast_to(climatology, shape + climatology.shape[-1:]), index, axis=-1)[..., 0]


def _seasonal_field(source: xr.DataArray, climatology: xr.DataArray) -> xr.DataArray:
    """The climatology's value for the month of every time step, block by block on ``source``'s chunks (lazy for dask)."""
    month = source[_TIME].dt.month.drop_vars(_TIME).assign_coords({_TIME: source[_TIME]})
    if source.chunks is not None:  # each block reads its own time steps and cells: never the whole time axis
        month = month.chunk({_TIME: source.chunksizes[_TIME]})
        climatology = climatology.chunk({MONTH_DIM: -1, **{d: source.chunksizes[d] for d in climatology.dims if d != MONTH_DIM}})
    cycle = xr.apply_ufunc(
        _pick_month, month, climatology,
        input_core_dims=[[], [MONTH_DIM]], dask="parallelized", output_dtypes=[np.float64],
    )
    return cycle.broadcast_like(source)


def _check_evenly_spaced(ds: xr.Dataset, recipe: Lag | Rolling) -> None:
    """A lag or window counts steps: along dates, the steps must be regular (no gap between selected years)."""
    if recipe.dim not in ds.coords or ds.sizes[recipe.dim] < 3 or not hasattr(ds[recipe.dim], "dt"):
        return
    if xr.infer_freq(ds[recipe.dim]) is None:
        raise ValueError(
            f"the recipe {recipe!r} counts steps along {recipe.dim!r}, but its dates are not evenly spaced "
            f"(a gap, e.g. years selected apart), so a step back would cross the gap. Apply it to a contiguous "
            f"period, e.g. predict on the whole record and select the years afterwards."
        )


def apply_recipes(
    ds: xr.Dataset, recipes: Sequence[Recipe], climatologies: Mapping[str, xr.DataArray] | None = None
) -> xr.Dataset:
    """A shallow copy of ``ds`` with every recipe's drivers added (lazy for dask input), ``ds`` untouched.

    Parameters
    ----------
    ds : xarray.Dataset
    recipes : sequence of Recipe
    climatologies : mapping of str to xarray.DataArray, optional
        Per source, the `seasonal_climatology` anomalies and seasonal cycles use.

    Returns
    -------
    xarray.Dataset
        ``ds``'s variables plus one per recipe driver, each with the attribute
        ``xrann_recipe`` and no ``standard_name``.

    Raises
    ------
    KeyError
        A raw source missing from ``ds``, naming the recipe and the driver it makes.
    ValueError
        A climatology on another grid than ``ds``; a lag or window along dates
        that are not evenly spaced.

    Examples
    --------
    >>> from xrann import features as F
    >>> ds = xr.Dataset({"p": ("time", [1.0, 2.0, 3.0, 4.0])})
    >>> apply_recipes(ds, [F.lag("p", 1), F.rolling("p", 2, how="sum")])["p_rolling2_sum"].values
    array([nan,  3.,  5.,  7.])
    """
    derived = ds.copy(deep=False)
    climatologies = climatologies or {}
    for recipe in recipes:
        if isinstance(recipe, Cyclic):
            sin, cos = _cyclic(ds, recipe)
            for name, function, values in zip(recipe.names, ("sine", "cosine"), (sin, cos)):
                long_name = f"{function} of the {recipe.component} on the calendar's cycle"
                derived[name] = values.assign_attrs(long_name=long_name, **{RECIPE_ATTR: name})
            continue
        source = ds[_source(ds, recipe)]
        (name,) = recipe.names
        if isinstance(recipe, (Lag, Rolling)):
            _check_evenly_spaced(ds, recipe)
        if isinstance(recipe, Lag):
            values = source.shift({recipe.dim: recipe.steps})
            description = f"{recipe.source} {recipe.steps} steps earlier along {recipe.dim}"
        elif isinstance(recipe, Rolling):
            window = source.rolling({recipe.dim: recipe.window}, min_periods=recipe.window)
            values = getattr(window, recipe.how)()
            if source.chunks is not None:  # dask's overlap leaves its own block sizes: back to the source's
                values = values.chunk(source.chunksizes)
            description = f"{recipe.how} of {recipe.source} over the last {recipe.window} steps along {recipe.dim}"
        else:
            if recipe.source not in climatologies:
                raise ValueError(f"the recipe {recipe!r} needs the climatology of {recipe.source!r}, which is not given.")
            climatology = climatologies[recipe.source]
            _check_climatology_grid(source, climatology, recipe)
            cycle = _seasonal_field(source, climatology)
            values = (source - cycle) if isinstance(recipe, Anomaly) else cycle
            values = values.transpose(*source.dims)
            description = (
                f"{recipe.source} minus its mean seasonal cycle" if isinstance(recipe, Anomaly)
                else f"mean seasonal cycle of {recipe.source}"
            )
        derived[name] = values.drop_attrs(deep=False).assign_attrs(_derived_attrs(source, recipe, name, description))
    return derived


def warmup_points(target: xr.DataArray, recipes: Sequence[Recipe]) -> int:
    """Grid points of ``target`` in the leading steps that a lag or window leaves without a value.

    Parameters
    ----------
    target : xarray.DataArray
        Its dims are the sample dims.
    recipes : sequence of Recipe

    Returns
    -------
    int

    Examples
    --------
    >>> from xrann import features as F
    >>> target = xr.DataArray(np.zeros((10, 3)), dims=("time", "x"))
    >>> warmup_points(target, [F.lag("p", 1), F.rolling("p", 3)])
    6
    """
    lost = {dim: 0 for dim in target.dims}
    for recipe in recipes:
        dim = getattr(recipe, "dim", None)
        if dim in lost:
            lost[dim] = max(lost[dim], recipe.warmup)
    kept = int(np.prod([max(target.sizes[dim] - lost[dim], 0) for dim in target.dims]))
    return int(target.size) - kept


def leading_nan_steps(variable: xr.DataArray) -> int:
    """Number of leading ``time`` steps at which ``variable`` is NaN everywhere (loads it: numpy input only).

    Parameters
    ----------
    variable : xarray.DataArray
        With a ``time`` dim.

    Returns
    -------
    int

    Examples
    --------
    >>> leading_nan_steps(xr.DataArray([np.nan, np.nan, 1.0], dims="time"))
    2
    """
    values = np.asarray(variable.transpose(_TIME, ...).values).reshape(variable.sizes[_TIME], -1)
    empty = np.isnan(values).all(axis=1) if values.dtype.kind == "f" else np.zeros(len(values), bool)
    return int(np.argmin(empty)) if not empty.all() else int(len(empty))


def driver_provenance(ds: xr.Dataset, drivers: Sequence[Hashable]) -> dict[str, dict[str, Any]]:
    """What tells each plain driver apart from a raw stand-in that shares its CF standard_name.

    xarray's ``shift`` and ``rolling`` keep the source's attributes, so a
    driver a user lagged by hand carries the raw variable's standard_name.
    Recorded per driver with a standard_name: the other variables of ``ds``
    carrying it, and (numpy-backed drivers along ``time``) the number of
    leading all-NaN time steps, the mark a lag or window leaves.

    Parameters
    ----------
    ds : xarray.Dataset
    drivers : sequence of hashable

    Returns
    -------
    dict
        ``{driver: {"standard_name_shared_with": [...], "leading_nan_steps": int}}``.

    Examples
    --------
    >>> ds = xr.Dataset({"p": ("time", [1.0, 2.0, 3.0], {"standard_name": "precipitation_flux"})})
    >>> ds["p_lag1"] = ds["p"].shift(time=1)
    >>> driver_provenance(ds, ["p_lag1"])
    {'p_lag1': {'standard_name_shared_with': ['p'], 'leading_nan_steps': 1}}
    """
    provenance = {}
    for name in drivers:
        variable = ds[name]
        standard_name = variable.attrs.get("standard_name")
        if not isinstance(standard_name, str) or not standard_name:
            continue
        shared = [str(other) for other in standard_name_matches(ds, standard_name) if other != name]
        lazy = variable.chunks is not None
        steps = leading_nan_steps(variable) if _TIME in variable.dims and not lazy else 0
        provenance[str(name)] = {"standard_name_shared_with": shared, "leading_nan_steps": steps}
    return provenance
