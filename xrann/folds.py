"""Cross-validation folds: which samples each fold holds out, and which it never trains on.

A fold is built from one or more *factors*, each a grouping of the target's
samples:

* a dim or a datetime component of one (``"time.year"``, ``"site"``);
* ``"space"``: contiguous spatial blocks of ``block={"lat": 10, "lon": 10}``
  (in the coordinates' units, degrees for latitude and longitude; or in grid
  cells with ``block_units="cells"``), on a 2-D grid or on a cell list whose
  cells carry latitude and longitude coordinates (`xrann.grid_to_cells`);
  blocks start at the outer edge of the first cell
  (the smallest coordinate value minus half a cell);
* a `xarray.DataArray` of labels on (some of) the target's dims: biomes,
  regions, ecoregions, also 2-D maps. Missing labels (NaN, ``None``, ``""``)
  belong to no group: such samples are never held out and always train.

With one factor, every combination of ``leave_out`` groups is a fold. With
several (``by=["space", "time.year"]``), a fold holds out the samples that
fall in its chosen groups of *every* factor (one block in one year) and
trains on the samples in *none* of them (no sample of that block, no sample
of that year), so a fold's model has seen neither the place nor the time it
is scored on.

``buffer`` also removes from training every cell within that distance of a
held-out cell of the spatial factor: great-circle distance between cell
centres in km (``buffer_units="km"``, needs latitude and longitude in
degrees) or in grid cells along each spatial dim (``buffer_units="cells"``,
a 2-D grid).
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

__all__ = ["Factor", "Folds", "fold_groups", "make_folds", "spatial_blocks", "EARTH_RADIUS_KM"]

#: mean Earth radius used for buffer distances
EARTH_RADIUS_KM = 6371.0
BLOCK_UNITS = ("coordinate", "cells")
BUFFER_UNITS = ("km", "cells")


def fold_groups(ds: xr.Dataset, by: str) -> xr.DataArray:
    """The group label of every position along one dim, e.g. the year of each time stamp.

    Parameters
    ----------
    ds : xarray.Dataset
    by : str
        A dim or 1-D coordinate name (``"site"``), or a datetime component of
        a dim (``"time.year"``, ``"time.month"``).

    Returns
    -------
    xarray.DataArray
        1-D labels along the grouped dim.

    Raises
    ------
    ValueError
        ``by`` names no dim or coordinate of ``ds``, or a coordinate that is not 1-D.

    Examples
    --------
    >>> import pandas as pd
    >>> ds = xr.Dataset(coords={"time": pd.date_range("2007-01-01", periods=24, freq="MS")})
    >>> np.unique(fold_groups(ds, "time.year")).tolist()
    [2007, 2008]
    """
    name = str(by).split(".")[0]
    if name not in ds.dims and name not in ds.coords:
        raise ValueError(
            f"by={by!r} names {name!r}, which is neither a dim nor a coordinate of the Dataset; "
            f"its dims are {tuple(map(str, ds.dims))}. Use e.g. by='time.year'."
        )
    try:
        labels = ds[by]
    except (KeyError, AttributeError, TypeError) as error:
        raise ValueError(f"by={by!r} cannot be computed from the Dataset ({error}); use e.g. by='time.year'.") from None
    if labels.ndim != 1:
        raise ValueError(
            f"by={by!r} has dims {labels.dims}; a name groups positions along a single dim. For a 2-D map of labels "
            f"pass the DataArray itself (by=ds[{by!r}]), for spatial blocks by='space' with block=."
        )
    return labels


@dataclass
class Factor:
    """One grouping of the samples: integer codes on some of the target's dims and the groups' names.

    Attributes
    ----------
    codes : xarray.DataArray
        Integer group code per position (``-1`` for no group), on a subset of
        the target's dims, without coordinates.
    names : list of str
        Name of each group, by code.
    values : list
        The original label of each group (years, region names, block numbers).
    spatial : bool
        Whether a buffer applies to this factor.

    Examples
    --------
    >>> factor = Factor(xr.DataArray([0, 0, 1], dims="x"), ["a", "b"], ["a", "b"])
    >>> factor.n_groups
    2
    """

    codes: xr.DataArray
    names: list[str]
    values: list[Any]
    spatial: bool = False

    @property
    def n_groups(self) -> int:
        """Number of groups."""
        return len(self.names)


def _factorize(labels: xr.DataArray, valid: xr.DataArray | None) -> Factor:
    values = labels.values
    flat = values.ravel()
    missing = np.array([item is None or (isinstance(item, (float, np.floating)) and np.isnan(item)) or item == "" for item in flat.tolist()])
    if valid is not None:
        # groups without any valid target sample would be empty folds
        present = valid.any([d for d in valid.dims if d not in labels.dims]).transpose(*labels.dims).values.ravel()
    else:
        present = np.ones(flat.size, dtype=bool)
    groups = sorted({item for item, skip, seen in zip(flat.tolist(), missing, present) if not skip and seen}, key=lambda v: (str(type(v)), v))
    lookup = {group: code for code, group in enumerate(groups)}
    codes = np.array([lookup.get(item, -1) if not skip else -1 for item, skip in zip(flat.tolist(), missing)], dtype=np.int64)
    return Factor(xr.DataArray(codes.reshape(values.shape), dims=labels.dims), [str(g) for g in groups], groups)


def _check_on_grid(labels: xr.DataArray, target: xr.DataArray) -> None:
    """Labels must lie on the target's grid: known dims, equal sizes and equal coordinates."""
    for dim in labels.dims:
        if dim not in target.dims:
            raise ValueError(
                f"the labels given as by= have dim {dim!r}, which the target {target.name!r} (dims {target.dims}) lacks; "
                "give labels on the target's grid (e.g. a biome map on its lat/lon dims)."
            )
        if labels.sizes[dim] != target.sizes[dim]:
            raise ValueError(
                f"the labels given as by= have {labels.sizes[dim]} positions along {dim!r}, the target {target.name!r} "
                f"has {target.sizes[dim]}; put the labels on the target's grid (e.g. labels.reindex_like(ds, method='nearest'))."
            )
        if dim in labels.coords and dim in target.coords:
            mine, theirs = labels[dim].values, target[dim].values
            same = mine.dtype.kind in "fc" and np.allclose(mine, theirs) if mine.dtype == theirs.dtype else False
            if not (same or np.array_equal(mine, theirs)):
                raise ValueError(
                    f"the labels given as by= are not on the target's grid: their {dim!r} coordinate differs from the "
                    f"target's ({mine[:3].tolist()}... vs {theirs[:3].tolist()}...); reindex them onto the grid first."
                )


def _spatial_coordinate(ds: xr.Dataset, target: xr.DataArray, key: Hashable) -> xr.DataArray:
    if key not in ds.variables:
        raise ValueError(
            f"block={{{key!r}: ...}} names {key!r}, which is neither a dim nor a coordinate of the Dataset; "
            f"its coordinates are {sorted(map(str, ds.coords))}. Use e.g. block={{'lat': 10, 'lon': 10}}."
        )
    coordinate = ds[key]
    if coordinate.ndim != 1 or coordinate.dims[0] not in target.dims:
        raise ValueError(
            f"block key {key!r} has dims {coordinate.dims}; spatial blocks need a 1-D coordinate along one of the "
            f"target's dims {target.dims}."
        )
    return coordinate


def _is_degrees(coordinate: xr.DataArray) -> bool:
    units = str(coordinate.attrs.get("units", "")).lower()
    return units.startswith("degree") or str(coordinate.name).lower() in ("lat", "lon", "latitude", "longitude")


def spatial_blocks(ds: xr.Dataset, target: Hashable, block: Mapping[Hashable, float], block_units: str = "coordinate") -> Factor:
    """Contiguous spatial blocks as a `Factor`: one code per cell, named by its bounds.

    Parameters
    ----------
    ds : xarray.Dataset
    target : hashable
        Variable whose grid is cut into blocks.
    block : mapping of hashable to number
        Block size per dim or 1-D coordinate: ``{"lat": 10, "lon": 10}`` in the
        coordinate's units (degrees for latitude and longitude), or in grid
        cells along a dim with ``block_units="cells"``. Blocks start at the
        outer edge of the first cell.
    block_units : {"coordinate", "cells"}, default "coordinate"

    Returns
    -------
    Factor

    Raises
    ------
    ValueError
        Unknown key, a key that is not a 1-D coordinate on the target's dims,
        a non-positive size, a block larger than the domain along a key, or a
        tiling that gives a single block.

    Examples
    --------
    >>> ds = xr.Dataset({"y": (("lat", "lon"), np.zeros((4, 6)))}, coords={"lat": [0.5, 1.5, 2.5, 3.5], "lon": np.arange(6) + 0.5})
    >>> factor = spatial_blocks(ds, "y", {"lat": 2, "lon": 3})
    >>> factor.codes.values.tolist()
    [[0, 0, 0, 1, 1, 1], [0, 0, 0, 1, 1, 1], [2, 2, 2, 3, 3, 3], [2, 2, 2, 3, 3, 3]]
    >>> factor.names[1]
    'lat [0, 2) lon [3, 6)'
    """
    if block_units not in BLOCK_UNITS:
        raise ValueError(f"block_units={block_units!r} is not known; choose one of {BLOCK_UNITS}.")
    if not isinstance(block, Mapping) or not block:
        raise ValueError(
            f"by='space' needs block= as a mapping of coordinate to block size, e.g. block={{'lat': 10, 'lon': 10}} "
            f"(degrees) or block={{'lat': 5, 'lon': 5}} with block_units='cells'; got {block!r}."
        )
    variable = ds[target]
    indices, bounds = [], []
    for key, size in block.items():
        if isinstance(size, bool) or not isinstance(size, (int, float, np.integer, np.floating)) or not size > 0:
            raise ValueError(f"block size of {key!r} must be a positive number, got {size!r}.")
        coordinate = _spatial_coordinate(ds, variable, key)
        dim = coordinate.dims[0]
        if block_units == "cells":
            if key != dim:
                raise ValueError(
                    f"block_units='cells' counts cells along a dim, but {key!r} is a coordinate on dim {dim!r} (a cell list?); "
                    "give the block in the coordinate's units (block_units='coordinate'), e.g. degrees."
                )
            n = coordinate.size
            if size > n:
                raise ValueError(
                    f"block {key!r}={size} cells is larger than the domain, which has {n} cells along {key!r}; "
                    f"use at most {n} (and fewer to get more than one block)."
                )
            index = np.arange(n) // int(size)
            edges = coordinate.values if coordinate.dtype.kind in "iuf" else np.arange(n)
            starts = [edges[i * int(size)] for i in range(index.max() + 1)]
            ends = [edges[min((i + 1) * int(size), n) - 1] for i in range(index.max() + 1)]
            bounds.append([f"{key} [{low:g}, {high:g}]" for low, high in zip(starts, ends)])
        else:
            values = np.asarray(coordinate.values, dtype=np.float64)
            unique = np.unique(values)
            spacing = float(np.median(np.diff(unique))) if unique.size > 1 else 0.0
            low = unique[0] - spacing / 2
            extent = unique[-1] - unique[0] + spacing
            units = "degrees" if _is_degrees(coordinate) else str(coordinate.attrs.get("units", "coordinate units"))
            if size > extent + 1e-9 * max(1.0, abs(extent)):
                raise ValueError(
                    f"block {key!r}={size} {units} is larger than the domain, which spans {extent:g} {units} along {key!r} "
                    f"({unique[0]:g} to {unique[-1]:g}); use a smaller block, or block_units='cells' to count cells."
                )
            index = np.floor((values - low) / size + 1e-9).astype(np.int64)
            bounds.append([f"{key} [{low + i * size:g}, {low + (i + 1) * size:g})" for i in range(index.max() + 1)])
        indices.append(xr.DataArray(index, dims=dim))
    combined = indices[0] * 0
    stride = 1
    for index, names in zip(reversed(indices), reversed(bounds)):
        combined = combined + index * stride
        stride *= len(names)
    combined = combined.transpose(*[d for d in variable.dims if d in combined.dims])
    valid = variable.notnull()
    factor = _factorize(combined, valid)
    names = []
    for code in factor.values:
        parts, rest = [], int(code)
        for names_of_key in reversed(bounds):
            parts.append(names_of_key[rest % len(names_of_key)])
            rest //= len(names_of_key)
        names.append(" ".join(reversed(parts)))
    if factor.n_groups < 2:
        raise ValueError(
            f"block={dict(block)} cuts the domain into {factor.n_groups} block with data: the block is as large as the "
            "domain, so no fold would keep cells to train on. Use smaller blocks."
        )
    return Factor(factor.codes, names, list(range(factor.n_groups)), spatial=True)


def _space_dims(factor: Factor) -> tuple[Hashable, ...]:
    return tuple(factor.codes.dims)


@dataclass
class Folds:
    """The folds of a cross-validation: each a choice of groups per factor, plus the buffer rule.

    Use `make_folds` to build one; `held_out` and `excluded` give a fold's
    boolean masks (on a subset of the target's dims, broadcastable to it).

    Parameters
    ----------
    factors : list of Factor
    choices : list of tuple
        Per fold, one tuple of group codes per factor.
    buffer : float or None
    buffer_units : str
    positions : xarray.Dataset or None
        Latitude and longitude (degrees) of every spatial position, for km buffers.

    Examples
    --------
    >>> ds = xr.Dataset({"y": ("x", np.arange(4.0))}, coords={"g": ("x", ["a", "a", "b", "c"])})
    >>> folds = make_folds(ds, "y", by=ds["g"], leave_out=1)
    >>> len(folds), folds.held_out(0).values.tolist(), folds.label(2)
    (3, [True, True, False, False], 'c')
    """

    factors: list[Factor]
    choices: list[tuple[tuple[int, ...], ...]]
    buffer: float | None = None
    buffer_units: str = "km"
    positions: xr.Dataset | None = None

    def __len__(self) -> int:
        return len(self.choices)

    def label(self, fold: int) -> str:
        """The held-out groups of a fold as text: ``"2007,2015"``, ``"lat [30, 40) lon [-100, -90) & 2007"``."""
        return " & ".join(
            ",".join(factor.names[code] for code in codes) for factor, codes in zip(self.factors, self.choices[fold])
        )

    def groups(self, fold: int) -> list[Any]:
        """The held-out groups' original labels, factor after factor."""
        return [factor.values[code] for factor, codes in zip(self.factors, self.choices[fold]) for code in codes]

    def held_out(self, fold: int) -> xr.DataArray:
        """Samples the fold is scored on: in its chosen groups of every factor."""
        masks = [factor.codes.isin(list(codes)) for factor, codes in zip(self.factors, self.choices[fold])]
        result = masks[0]
        for mask in masks[1:]:
            result = result & mask
        return result

    def excluded(self, fold: int) -> xr.DataArray:
        """Samples the fold never trains on: in any of its chosen groups, or within the buffer of its spatial block."""
        result = None
        for factor, codes in zip(self.factors, self.choices[fold]):
            mask = factor.codes.isin(list(codes))
            if factor.spatial and self.buffer:
                mask = mask | self._buffer_zone(factor, mask)
            result = mask if result is None else result | mask
        return result

    def _buffer_zone(self, factor: Factor, held: xr.DataArray) -> xr.DataArray:
        if self.buffer_units == "cells":
            reach = int(self.buffer)
            zone = held
            for dim in held.dims:
                zone = zone.rolling({dim: 2 * reach + 1}, center=True, min_periods=1).max().astype(bool)
            return zone
        latitude = np.deg2rad(self.positions["latitude"].transpose(*held.dims).values.ravel())
        longitude = np.deg2rad(self.positions["longitude"].transpose(*held.dims).values.ravel())
        inside = held.values.ravel()
        near = np.zeros(inside.size, dtype=bool)
        for lat0, lon0 in zip(latitude[inside], longitude[inside]):
            haversine = np.sin((latitude - lat0) / 2) ** 2 + np.cos(lat0) * np.cos(latitude) * np.sin((longitude - lon0) / 2) ** 2
            near |= 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(haversine, 0.0, 1.0))) <= self.buffer
        return held.copy(data=near.reshape(held.shape))


def _positions(ds: xr.Dataset, factor: Factor, target_dims: tuple[Hashable, ...]) -> tuple[xr.Dataset, Factor]:
    """Latitude and longitude of every spatial position, and the factor spread over their dims."""
    found = {}
    for key, names in (("latitude", ("lat", "latitude")), ("longitude", ("lon", "longitude"))):
        candidates = [
            name for name in ds.coords
            if str(ds[name].attrs.get("standard_name", "")) == key or str(name).lower() in names
        ]
        usable = [name for name in candidates if set(ds[name].dims) <= set(target_dims) and ds[name].ndim > 0]
        if not usable:
            raise ValueError(
                f"buffer in km needs the {key} (degrees) of every cell on the target's dims {target_dims}, and the Dataset "
                f"has none; add lat/lon coordinates or give the buffer in cells (buffer_units='cells')."
            )
        found[key] = xr.DataArray(ds[usable[0]].values, dims=ds[usable[0]].dims)
    positions = xr.Dataset(found).broadcast_like(factor.codes)
    dims = [d for d in target_dims if d in positions.dims]
    codes = factor.codes.broadcast_like(positions).transpose(*dims)
    return positions.transpose(*dims), Factor(codes, factor.names, factor.values, spatial=True)


def make_folds(
    ds: xr.Dataset,
    target: Hashable,
    *,
    by: Any = "time.year",
    leave_out: int | Sequence[int] = 1,
    block: Mapping[Hashable, float] | None = None,
    block_units: str = "coordinate",
    buffer: float | None = None,
    buffer_units: str = "km",
) -> Folds:
    """Build the folds of a cross-validation (see the module description), checking everything first.

    Parameters
    ----------
    ds : xarray.Dataset
    target : hashable
        Name of the target variable (its dims are the sample dims).
    by : str, xarray.DataArray or sequence of them, default "time.year"
        ``"time.year"`` (or any dim or datetime component), ``"space"``, or a
        DataArray of labels on the target's grid; a list combines factors.
    leave_out : int or sequence of int, default 1
        Groups held out per fold, for each factor.
    block : mapping, optional
        Block sizes for ``"space"``.
    block_units : {"coordinate", "cells"}, default "coordinate"
    buffer : float, optional
        Distance around a held-out spatial block excluded from training.
    buffer_units : {"km", "cells"}, default "km"

    Returns
    -------
    Folds

    Raises
    ------
    ValueError
        Any bad argument: an unknown ``by``, labels not on the grid, blocks
        larger than the domain, ``leave_out`` not below the number of groups,
        a buffer without a spatial factor or one that leaves a fold no
        training sample.

    Examples
    --------
    >>> import pandas as pd
    >>> ds = xr.Dataset({"y": ("time", np.ones(36))}, coords={"time": pd.date_range("2007-01-01", periods=36, freq="MS")})
    >>> folds = make_folds(ds, "y", by="time.year", leave_out=2)
    >>> [folds.label(i) for i in range(len(folds))]
    ['2007,2008', '2007,2009', '2008,2009']
    """
    variable = ds[target]
    factor_specs = list(by) if isinstance(by, (list, tuple)) else [by]
    if not factor_specs:
        raise ValueError("by= needs at least one grouping, e.g. by='time.year'.")
    leave_outs = list(leave_out) if isinstance(leave_out, (list, tuple)) else [leave_out] * len(factor_specs)
    if len(leave_outs) != len(factor_specs):
        raise ValueError(f"leave_out={leave_out!r} gives {len(leave_outs)} counts for {len(factor_specs)} groupings in by=.")
    for count in leave_outs:
        if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 1:
            raise ValueError(f"leave_out must be a positive integer (groups held out per fold), got {count!r}.")
    if buffer_units not in BUFFER_UNITS:
        raise ValueError(f"buffer_units={buffer_units!r} is not known; choose one of {BUFFER_UNITS}.")
    if buffer is not None and (isinstance(buffer, bool) or not isinstance(buffer, (int, float, np.integer, np.floating)) or buffer < 0):
        raise ValueError(f"buffer must be a non-negative distance ({buffer_units}), got {buffer!r}.")
    valid = variable.notnull()

    factors = []
    for spec in factor_specs:
        if isinstance(spec, xr.DataArray):
            _check_on_grid(spec, variable)
            factors.append(_factorize(xr.DataArray(spec.values, dims=spec.dims), valid))
        elif isinstance(spec, str) and spec == "space":
            factors.append(spatial_blocks(ds, target, block or {}, block_units))
        elif isinstance(spec, str):
            labels = fold_groups(ds, spec)
            dim = labels.dims[0]
            if dim not in variable.dims:
                raise ValueError(f"by={spec!r} groups along dim {dim!r}, which target {target!r} (dims {variable.dims}) lacks.")
            factor = _factorize(xr.DataArray(labels.values, dims=labels.dims), valid)
            factors.append(factor)
        else:
            raise ValueError(
                f"by={spec!r} is not a grouping; use a name ('time.year', 'site'), 'space' with block=, or a DataArray of labels."
            )
    if block is not None and not any(factor.spatial for factor in factors):
        raise ValueError("block= is given but by= has no 'space'; use by='space' (or by=['space', 'time.year']).")
    spatial = [factor for factor in factors if factor.spatial]
    if buffer and not spatial:
        raise ValueError("buffer= excludes cells around a held-out spatial block, so by= needs 'space'.")
    for spec, factor, count in zip(factor_specs, factors, leave_outs):
        if count >= factor.n_groups:
            shown = spec if isinstance(spec, str) else "labels"
            raise ValueError(
                f"leave_out={count} must be smaller than the number of groups ({factor.n_groups} from by={shown!r}: "
                f"{factor.values if len(factor.values) <= 12 else factor.names[:12]}), so that every fold keeps groups to train on."
            )
    choices = list(itertools.product(*[itertools.combinations(range(f.n_groups), c) for f, c in zip(factors, leave_outs)]))
    positions = None
    if buffer and buffer_units == "km":
        positions, spread = _positions(ds, spatial[0], variable.dims)
        factors[factors.index(spatial[0])] = spread
    folds = Folds(factors, choices, float(buffer) if buffer else None, buffer_units, positions)
    for fold in range(len(folds)):
        trains = (valid & ~folds.excluded(fold)).any()
        if not bool(trains):
            raise ValueError(
                f"fold {fold} (held out: {folds.label(fold)}) keeps no training sample"
                + (f" with buffer={buffer} {buffer_units}" if buffer else "")
                + "; use a smaller buffer or block, or fewer groups per fold."
            )
        if not bool((valid & folds.held_out(fold)).any()):
            raise ValueError(
                f"fold {fold} (held out: {folds.label(fold)}) has no valid target sample to score; "
                "combine groupings that overlap in the data."
            )
    return folds
