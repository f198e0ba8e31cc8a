"""Exact Shapley values of a model's prediction at every grid point (``ds.ann.shapley()``).

A driver's Shapley value at a grid point is its share of the difference
between the prediction there and a *base value*, the mean prediction over a
background: the model is evaluated with each coalition of drivers taken from
the point and the others replaced by background values (*interventional*
Shapley values), and the differences are averaged with Shapley's weights.
The values add up exactly: ``phi.sum("driver") + phi.base_value`` equals the
prediction (efficiency).

They describe the **model**, not nature: a driver the network leans on gets
credit even if the real cause is a correlated driver, and correlated drivers
share credit in ways that depend on the background.

Backgrounds
-----------
* ``None`` (default): a seeded random draw of at most ``max_background``
  training points (grid points where the target and every driver are finite;
  where the Dataset has no target, where every driver is finite).
* a Dataset, or a selection such as ``{"time": slice("2008", "2014")}`` of
  ``ds``: a seeded draw of at most ``max_background`` of its valid points.
* ``"climatology"``: each cell's mean seasonal cycle of the drivers over the
  Dataset's time axis, so a value says how much the prediction moves because
  this driver departs from its normal for that cell and calendar month.

Computation is exact (``2**p`` coalitions of ``p`` players, up to
`xrann.core.shapley.MAX_EXACT_PLAYERS`), walked in Gray-code order through the
network's linear first layer (see `xrann.core.shapley`); ``method="sampling"``
estimates the values by permutation sampling with antithetic pairs and
reports their standard error. Work is blockwise through `xarray.apply_ufunc`:
dask-backed input gives a lazy result chunked like the drivers (a drawn
background is computed when the call is made: at most ``max_background``
rows, drawn block by block). Memory per block: the block's drivers plus
``n_points x (2**p + background rows x hidden nodes x (p + 3))`` floats for
cache-sized groups of its points.

The base value is a coordinate, ``phi.base_value``, on the grid (NaN where
the prediction is): constant for a drawn or given background, the
prediction for the cell's normal state with ``"climatology"``; with
``members=True`` it has a ``member`` dim too.
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from .core.shapley import MAX_EXACT_PLAYERS, METHODS, interventional_shapley
from .data.blocks import align_chunks
from .data.extraction import draw_valid_samples, finite_rows
from .data.grid import output_dims
from .evaluation import find_time_dim
from .importance import check_positive_int
from .predict import check_model, derive_recipe_drivers, member_models, resolve_drivers_for_prediction
from .targets import per_target

if TYPE_CHECKING:  # pragma: no cover
    from .model import Model

__all__ = ["shapley_values", "shapley_on_grid", "resolve_players", "DEFAULT_MAX_BACKGROUND"]

#: background points drawn by default
DEFAULT_MAX_BACKGROUND = 100
_PLAYER = "__xrann_player__"
_BACKGROUND = "__xrann_background__"
_MEMBER = "__xrann_member__"


def resolve_players(model: "Model", groups: Mapping[Hashable, Sequence[Hashable]] | None) -> tuple[list[str], list[list[int]]]:
    """Player labels and the model columns of each player.

    Parameters
    ----------
    model : Model
    groups : mapping of label to driver names, optional
        Drivers that act as one player (e.g. features derived from one raw
        driver); drivers in no group are players of their own.

    Returns
    -------
    labels : list of str
    columns : list of list of int

    Raises
    ------
    ValueError
        A driver the model does not have, or one in two groups.

    Examples
    --------
    >>> import xrann
    >>> model = xrann.datasets.soil_toy().ann.fit(target="co2_flux", seed=0)
    >>> resolve_players(model, {"soil": ["soil_moisture", "grain_size"]})
    (['soil'], [[0, 1]])
    """
    if groups is None:
        return list(model.drivers), [[j] for j in range(len(model.drivers))]
    if not isinstance(groups, Mapping):
        raise TypeError(f"groups must map a player label to a list of drivers, e.g. {{'water': ['soilm', 'precip']}}; got {groups!r}.")
    labels: list[str] = []
    columns: list[list[int]] = []
    taken: set[str] = set()
    for label, members in groups.items():
        names = [members] if isinstance(members, str) else list(members)
        unknown = [name for name in names if name not in model.drivers]
        if unknown or not names:
            raise ValueError(f"groups[{label!r}] names {unknown or 'no drivers'}; each group lists some of the model's drivers {model.drivers}.")
        twice = taken.intersection(names)
        if twice:
            raise ValueError(f"drivers {sorted(twice)} are in more than one group; each driver can belong to one player only.")
        taken.update(names)
        labels.append(str(label))
        columns.append([model.drivers.index(name) for name in names])
    for j, name in enumerate(model.drivers):
        if name not in taken:
            labels.append(name)
            columns.append([j])
    return labels, columns


def _check_method(method: str, n_players: int, n_pairs: int) -> None:
    if method not in METHODS:
        raise ValueError(f"method={method!r} is not known; choose one of {METHODS}.")
    if method == "exact" and n_players > MAX_EXACT_PLAYERS:
        raise ValueError(
            f"method='exact' enumerates 2**{n_players} coalitions of {n_players} players, more than the "
            f"{MAX_EXACT_PLAYERS} allowed; pass method='sampling' (permutation sampling, with a standard error) "
            "or fewer players through groups=."
        )
    if method == "sampling" and (isinstance(n_pairs, bool) or not isinstance(n_pairs, (int, np.integer)) or n_pairs < 2):
        raise ValueError(f"n_pairs={n_pairs!r} must be an integer of at least 2 to estimate a standard error.")


def _shapley_block(*blocks: np.ndarray, n_drivers: int, cores: list, scalers: tuple, shared: np.ndarray | None,
                   columns: list[list[int]], method: str, n_pairs: int, seed: int) -> np.ndarray:
    """Values, base and (for sampling) standard errors of every point of one block: ``(..., member, output)``."""
    driver_scaler, target_scaler = scalers
    inputs = np.broadcast_arrays(*blocks[:n_drivers])
    shape = inputs[0].shape
    matrix = np.stack([np.asarray(a, dtype=np.float64).reshape(-1) for a in inputs], axis=1)
    valid = finite_rows(matrix)
    per_point = None
    if shared is None:
        # per-point background: each driver's block carries a trailing background axis
        background = np.broadcast_arrays(*[np.asarray(b, dtype=np.float64) for b in blocks[n_drivers:]])
        per_point = np.stack([b.reshape(-1, b.shape[-1]) for b in background], axis=2)  # (n, m, d)
        valid &= np.isfinite(per_point).all(axis=(1, 2))
    p = len(columns)
    n_outputs = 2 * p + 1 if method == "sampling" else p + 1
    result = np.full((matrix.shape[0], len(cores), n_outputs), np.nan)
    if valid.any():
        scaled = driver_scaler.transform(matrix[valid])
        if per_point is None:
            scaled_background = shared
        else:
            rows = per_point[valid]
            scaled_background = driver_scaler.transform(rows.reshape(-1, rows.shape[2])).reshape(rows.shape)
        low, high = target_scaler.feature_range
        factor = target_scaler.span[0] / (high - low)
        for index, core in enumerate(cores):
            model = core if hasattr(core, "weights") else (lambda m, core=core: core.predict(m)[:, 0])
            values, base, error = interventional_shapley(
                model, scaled, scaled_background, groups=columns, method=method, n_pairs=n_pairs, seed=seed
            )
            result[valid, index, :p] = values * factor
            result[valid, index, p] = target_scaler.inverse_transform(base[:, None])[:, 0]
            if error is not None:
                result[valid, index, p + 1 :] = error * factor
    return result.reshape(shape + result.shape[1:])


def shapley_on_grid(
    ds: xr.Dataset,
    model: "Model",
    drivers: Sequence[Hashable],
    *,
    background: np.ndarray | Sequence[xr.DataArray],
    background_dim: Hashable | None = None,
    groups: Mapping[Hashable, Sequence[Hashable]] | None = None,
    members: bool = False,
    method: str = "exact",
    n_pairs: int = 64,
    seed: int = 0,
) -> xr.DataArray:
    """Shapley values on the grid of ``ds`` for a shared or a per-point background (the engine of `shapley_values`).

    Parameters
    ----------
    ds : xarray.Dataset
    model : Model
    drivers : sequence of hashable
        Resolved driver names in ``ds``, in the model's column order.
    background : numpy.ndarray or sequence of xarray.DataArray
        ``(m, n_drivers)`` shared background in driver units, or one DataArray
        per driver on (a broadcastable part of) the grid plus ``background_dim``.
    background_dim : hashable, optional
        The dim along which per-point backgrounds list their rows.
    groups, members, method, n_pairs, seed
        As `shapley_values`.

    Returns
    -------
    xarray.DataArray
        See `shapley_values`.

    Examples
    --------
    >>> import xrann
    >>> ds = xrann.datasets.soil_toy()
    >>> model = ds.ann.fit(target="co2_flux", seed=0)
    >>> phi = shapley_on_grid(ds, model, model.drivers, background=np.array([[46.0, 0.8]]))
    >>> phi.dims, phi.driver.values.tolist()
    (('driver', 'site'), ['soil_moisture', 'grain_size'])
    """
    labels, columns = resolve_players(model, groups)
    _check_method(method, len(labels), n_pairs)
    cores = [member.core for member in member_models(model)] if model.ensemble is not None else [model.core]
    per_point = not isinstance(background, np.ndarray)
    arrays = [ds[name] for name in drivers]
    core_dims: list[list[Hashable]] = [[] for _ in drivers]
    shared = None
    if per_point:
        arrays += list(background)
        core_dims += [[background_dim] for _ in background]
    else:
        shared = model.driver_scaler.transform(np.asarray(background, dtype=np.float64))
    p = len(labels)
    n_outputs = 2 * p + 1 if method == "sampling" else p + 1
    result = xr.apply_ufunc(
        _shapley_block,
        *arrays,
        input_core_dims=core_dims,
        output_core_dims=[[_MEMBER, _PLAYER]],
        kwargs={
            "n_drivers": len(drivers), "cores": cores, "scalers": (model.driver_scaler, model.target_scaler),
            "shared": shared, "columns": columns, "method": method, "n_pairs": n_pairs, "seed": seed,
        },
        dask="parallelized",
        output_dtypes=[np.float64],
        dask_gufunc_kwargs={"output_sizes": {_MEMBER: len(cores), _PLAYER: n_outputs}, "allow_rechunk": True},
        keep_attrs=False,
    )
    grid_dims = output_dims(ds, drivers, model.sample_dims)
    result = result.transpose(_PLAYER, _MEMBER, *grid_dims)
    if not members and len(cores) == 1:
        result = result.isel({_MEMBER: 0}, drop=True)
    elif not members:
        result = result.mean(_MEMBER)  # Shapley values are linear in the model: the ensemble mean's are the members' mean
    else:
        result = result.rename({_MEMBER: "member"}).assign_coords(member=np.arange(len(cores)))
    values = result.isel({_PLAYER: slice(0, p)}).rename({_PLAYER: "driver"})
    values = values.assign_coords(driver=("driver", np.array(labels, dtype=object)))
    units = model.target_attrs.get("units")
    unit_attrs = {"units": units} if units else {}
    base = result.isel({_PLAYER: p}, drop=True).rename("base_value").assign_attrs(
        long_name=f"mean predicted {model.target} over the background (the Shapley base value)", **unit_attrs
    )
    coords: dict[Hashable, Any] = {"base_value": base}
    if method == "sampling":
        error = result.isel({_PLAYER: slice(p + 1, 2 * p + 1)}).rename({_PLAYER: "driver"})
        coords["standard_error"] = error.assign_coords(driver=values.driver).assign_attrs(
            long_name="standard error of the sampled Shapley value", **unit_attrs
        ).variable
    values = values.assign_coords(coords)
    source = ds.coords
    values = values.assign_coords({key: source[key].variable for key in source if set(source[key].dims) <= set(grid_dims)})
    values.name = f"{model.target}_shapley"
    values.attrs = {
        "long_name": f"Shapley value of each driver for the predicted {model.target} (interventional)",
        **unit_attrs,
        "method": method,
        "description": "phi.sum('driver') + phi.base_value equals the prediction; values describe the model, not causes",
    }
    return values


def _time_dim(ds: xr.Dataset, drivers: Sequence[Hashable]) -> Hashable:
    for name in drivers:
        dim = find_time_dim(ds[name])
        if dim is not None:
            return dim
    raise ValueError(
        "background='climatology' needs a datetime dim on the drivers to build each cell's mean seasonal cycle; "
        f"the drivers have dims {sorted({str(d) for n in drivers for d in ds[n].dims})}."
    )


def _climatology(ds: xr.Dataset, drivers: Sequence[Hashable]) -> list[xr.DataArray]:
    """Each driver's mean seasonal cycle per cell, placed on every time step, with a background dim of length 1."""
    time_dim = _time_dim(ds, drivers)
    month = ds[time_dim].dt.month
    result = []
    for name in drivers:
        data = ds[name]
        if time_dim not in data.dims:  # a static map is its own climatology
            result.append(data.expand_dims(_BACKGROUND, axis=-1))
            continue
        if data.chunks is None:
            normal = _monthly_normal(data, time_dim, month.values)
        else:  # lazy: xarray's groupby keeps it a graph
            normal = data.groupby(month).mean(time_dim).sel(month=month).drop_vars("month")
        result.append(normal.expand_dims(_BACKGROUND, axis=-1))
    return result


def _monthly_normal(data: xr.DataArray, time_dim: Hashable, months: np.ndarray) -> xr.DataArray:
    """The mean of ``data`` over the time steps of each month of year, placed on every time step (numpy).

    The same values as ``data.groupby(month).mean(time_dim).sel(month=month)``: one NaN-skipping
    mean per month over the same steps, without a groupby's per-group overhead.
    """
    ordered = data.transpose(time_dim, ...)
    values = np.asarray(ordered.values)
    if values.dtype.kind != "f":
        values = values.astype(np.float64)  # as a groupby mean of integers gives
    normal = np.empty_like(values)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a cell without data in a month: NaN, as groupby gives
        for month in np.unique(months):
            steps = months == month
            normal[steps] = np.nanmean(values[steps], axis=0)
    return ordered.copy(data=normal).transpose(*data.dims)


def _draw_background(source: xr.Dataset, model: "Model", max_background: int, seed: int, what: str) -> np.ndarray:
    drivers = resolve_drivers_for_prediction(source, model)  # names the missing drivers
    names = list(drivers)
    if model.target in source.data_vars and all(set(source[d].dims) <= set(source[model.target].dims) for d in drivers):
        names.append(model.target)  # training points: where the target was observed too
    dims = output_dims(source, names, model.sample_dims)
    drawn = draw_valid_samples(source, names, dims, max_samples=max_background, seed=seed)
    if drawn.shape[0] == 0:
        raise ValueError(
            f"the background ({what}) has no point where every driver {model.drivers} is finite; "
            "pass a background with valid data (a Dataset, a selection of ds, or 'climatology')."
        )
    return drawn[:, : len(drivers)]


def shapley_values(
    ds: xr.Dataset,
    model: "Model",
    *,
    background: None | str | xr.Dataset | Mapping[Hashable, Any] = None,
    groups: Mapping[Hashable, Sequence[Hashable]] | None = None,
    members: bool = False,
    method: str = "exact",
    max_background: int = DEFAULT_MAX_BACKGROUND,
    n_pairs: int = 64,
    seed: int = 0,
) -> xr.DataArray:
    """Interventional Shapley values of ``model``'s prediction at every grid point of ``ds``.

    Parameters
    ----------
    ds : xarray.Dataset
        Holds the model's drivers (numpy or dask). Never modified.
    model : Model
        A single model or an ensemble.
    background : None, "climatology", xarray.Dataset or dict
        What absent drivers are replaced by (see the module docs): a seeded
        draw of training points (default), ``"climatology"``, a Dataset, or a
        selection of ``ds`` such as ``{"time": slice("2008", "2014")}``.
    groups : mapping of label to list of drivers, optional
        Drivers that share one value, e.g. ``{"water": ["soilm", "precip"]}``.
    members : bool, default False
        For an ensemble, each member's values along a ``member`` dim; by
        default the ensemble mean's values (the mean of the members').
    method : {"exact", "sampling"}, default "exact"
        ``"exact"`` enumerates all coalitions (up to 14 players);
        ``"sampling"`` uses ``n_pairs`` antithetic pairs of random player
        orders and adds a ``standard_error`` coordinate.
    max_background : int, default 100
        Points drawn for a drawn background.
    n_pairs : int, default 64
    seed : int, default 0
        Seeds the background draw and the sampled orders.

    Returns
    -------
    xarray.DataArray
        ``"<target>_shapley"`` in the target's units, dims ``("driver",
        [member,] *grid dims)``; coordinate ``base_value`` (the mean prediction
        over the background, per grid point) so that
        ``phi.sum("driver") + phi.base_value`` is the prediction. NaN where a
        driver is missing. Lazy for dask-backed drivers.

    Raises
    ------
    KeyError
        Drivers missing from ``ds`` or from the background Dataset.
    ValueError
        An empty or all-NaN background, an unknown ``background`` string or
        ``method``, more players than exact enumeration allows, bad ``groups``,
        ``members=True`` for a single model, a climatology without a time dim.
    TypeError
        ``model`` is not a `Model`; a ``background`` of the wrong type.

    Examples
    --------
    >>> import xrann
    >>> ds = xrann.datasets.soil_toy()
    >>> model = ds.ann.fit(target="co2_flux", seed=0)
    >>> phi = shapley_values(ds, model)
    >>> bool(np.allclose(phi.sum("driver") + phi.base_value, ds.ann.predict(model)))
    True
    """
    check_model(model)
    if model.several_targets:  # each target's values (and base value) along a "target" dim
        options = dict(background=background, groups=groups, members=members, method=method,
                       max_background=max_background, n_pairs=n_pairs, seed=seed)
        return per_target(model, lambda single: shapley_values(ds, single, **options), name="shapley")
    ds = derive_recipe_drivers(ds, model)  # recipe drivers (lags, windows, anomalies) recomputed from the raw variables
    drivers = resolve_drivers_for_prediction(ds, model)
    labels, _ = resolve_players(model, groups)
    _check_method(method, len(labels), n_pairs)
    max_background = check_positive_int(max_background, "max_background")
    if members and model.ensemble is None:
        raise ValueError("members=True needs an ensemble; this model is a single network (fit with members=10 for one).")
    if any(ds[name].chunks is not None for name in drivers):
        ds = align_chunks(ds, drivers)
    if isinstance(background, str):
        if background != "climatology":
            raise ValueError(f"background={background!r} is not known; pass 'climatology', a Dataset, a selection dict or None.")
        per_point = _climatology(ds, drivers)
        for name, normal in zip(drivers, per_point):
            if normal.chunks is None and not np.isfinite(normal.values).any():
                raise ValueError(f"the climatology of driver {name!r} is all NaN; it needs finite values on some cells.")
        return shapley_on_grid(ds, model, drivers, background=per_point, background_dim=_BACKGROUND, groups=groups,
                               members=members, method=method, n_pairs=n_pairs, seed=seed)
    if background is None:
        source, what = ds, "the Dataset's training points"
    elif isinstance(background, xr.Dataset):
        source, what = derive_recipe_drivers(background, model), "the given Dataset"
    elif isinstance(background, Mapping):
        unknown = [dim for dim in background if dim not in ds.dims]
        if unknown:
            raise ValueError(f"background selection {dict(background)!r} names dims {unknown} that the Dataset lacks; it has dims {tuple(map(str, ds.dims))}.")
        source, what = ds.sel(dict(background)), f"selection {dict(background)!r}"
    else:
        raise TypeError(f"background must be None, 'climatology', a Dataset or a selection dict; got {type(background).__name__}.")
    matrix = _draw_background(source, model, max_background, seed, what)
    return shapley_on_grid(ds, model, drivers, background=matrix, groups=groups, members=members, method=method,
                           n_pairs=n_pairs, seed=seed)
