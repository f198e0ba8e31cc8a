"""Regions on a grid: labels for regional and biome budgets.

`region_labels` turns what a user passes as ``regions=`` into one label per
grid cell: a DataArray of integer or string labels on the grid (biomes,
countries, ecoregions), or a `regionmask.Regions` object (polygons; the
optional ``regions`` extra installs regionmask). `split_by_region` then splits a
per-cell field (a cell area) into one copy per region, along a ``region`` dim.
"""

from __future__ import annotations

from collections.abc import Hashable
import warnings
from typing import Any

import numpy as np
import xarray as xr

__all__ = ["region_labels", "split_by_region"]

#: a cell outside every region: NaN for numeric labels, "" or None for strings
_UNLABELLED_STRINGS = ("", "nan", "None")


def _grid_coordinate(like: xr.DataArray, names: tuple[str, ...]) -> xr.DataArray | None:
    for name in names:
        if name in like.coords:
            return like.coords[name]
    return None


def _from_regionmask(regions: Any, like: xr.DataArray) -> xr.DataArray:
    latitude = _grid_coordinate(like, ("lat", "latitude"))
    longitude = _grid_coordinate(like, ("lon", "longitude"))
    if latitude is None or longitude is None:
        raise ValueError(
            "a regionmask.Regions object needs latitude and longitude coordinates ('lat'/'latitude', "
            f"'lon'/'longitude') on the data; it has coordinates {list(map(str, like.coords))}. "
            "Pass regions= as a DataArray of labels on the grid instead."
        )
    with warnings.catch_warnings():
        # regionmask warns when no point is in a region; region_labels raises its own error for that
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        if latitude.ndim == 1 and longitude.ndim == 1 and latitude.dims != longitude.dims:
            numbers = regions.mask(longitude, latitude)
        else:
            # a cell list (lat and lon on one dim) or a curvilinear grid: test each point against the polygons
            import shapely  # a dependency of regionmask

            lon2d, lat2d = xr.broadcast(longitude, latitude)
            flat = np.full(lon2d.size, np.nan)
            for number, polygon in zip(regions.numbers, regions.polygons):
                inside = shapely.contains_xy(polygon, lon2d.values.reshape(-1), lat2d.values.reshape(-1))
                flat[inside & np.isnan(flat)] = number
            numbers = xr.DataArray(flat.reshape(lon2d.shape), dims=lon2d.dims)
    abbrevs = dict(zip(regions.numbers, regions.abbrevs))
    values = np.asarray(numbers.values, dtype=float)
    labels = np.array([abbrevs.get(int(v), "") if np.isfinite(v) else "" for v in values.ravel()], dtype=object)
    return xr.DataArray(labels.reshape(values.shape), dims=numbers.dims, coords={d: like[d] for d in numbers.dims if d in like.coords}, name="region")


def region_labels(regions: Any, like: xr.DataArray) -> xr.DataArray:
    """One region label per grid cell of ``like``, from a DataArray of labels or a `regionmask.Regions`.

    Parameters
    ----------
    regions : xarray.DataArray or regionmask.Regions
        Integer or string labels on (some of) the dims of ``like``, with
        matching coordinates (NaN, ``""`` or ``None`` for a cell in no region);
        or polygons, whose abbreviations become the labels.
    like : xarray.DataArray
        Data on the grid (a flux, a cell area).

    Returns
    -------
    xarray.DataArray
        Labels named ``region`` on dims of ``like``; unlabelled cells are ``""``
        (string labels) or NaN (numeric labels).

    Raises
    ------
    TypeError
        ``regions`` is neither.
    ValueError
        Labels on a dim the data lack, coordinates that differ from the data's,
        or regions that cover no cell of the grid.

    Examples
    --------
    >>> flux = xr.DataArray(np.ones((2, 3)), dims=("lat", "lon"), coords={"lat": [40.0, 50.0], "lon": [0.0, 1.0, 2.0]})
    >>> biome = xr.DataArray([["forest", "forest", "grass"], ["grass", "", "grass"]], dims=("lat", "lon"),
    ...                      coords=flux.coords)
    >>> region_labels(biome, flux).values.tolist()
    [['forest', 'forest', 'grass'], ['grass', '', 'grass']]
    """
    if isinstance(regions, xr.DataArray):
        stray = [dim for dim in regions.dims if dim not in like.dims]
        if stray:
            raise ValueError(
                f"the region labels have dims {regions.dims} but the data have dims {like.dims}: {stray} is not on the "
                "grid. Give labels on the grid's spatial dims (e.g. ('lat', 'lon'), or 'cell' for a cell list)."
            )
        for dim in regions.dims:
            if dim in regions.coords and dim in like.coords:
                ours, theirs = regions[dim].values, like[dim].values
                if ours.shape != theirs.shape or not np.array_equal(ours, theirs):
                    raise ValueError(
                        f"the region labels' {dim!r} coordinate differs from the data's; put the labels on the same grid, "
                        f"e.g. labels.reindex_like(ds, method='nearest') or labels.interp_like(ds, method='nearest')."
                    )
            elif regions.sizes[dim] != like.sizes[dim]:
                raise ValueError(
                    f"the region labels have {regions.sizes[dim]} entries along {dim!r} but the data have {like.sizes[dim]}."
                )
        labels = regions.rename("region")
        labels = labels.drop_vars([c for c in labels.coords if c not in labels.dims])
    elif hasattr(regions, "mask") and hasattr(regions, "abbrevs") and hasattr(regions, "numbers"):
        labels = _from_regionmask(regions, like)
    else:
        raise TypeError(
            f"regions= must be a DataArray of region labels on the grid or a regionmask.Regions object, "
            f"not {type(regions).__name__}."
        )
    if not _labelled(labels).any():
        raise ValueError(
            "the regions cover no cell of the grid: check that the labels (or the polygons' coordinates, "
            "e.g. longitudes in -180..180 against 0..360) match the data."
        )
    return labels


def _labelled(labels: xr.DataArray) -> np.ndarray:
    values = np.asarray(labels.values)
    if values.dtype.kind in "fc":
        return np.isfinite(values)
    return np.array([value is not None and str(value) not in _UNLABELLED_STRINGS for value in values.ravel()]).reshape(values.shape)


def _region_names(labels: xr.DataArray) -> list[Hashable]:
    values = np.asarray(labels.values)[_labelled(labels)]
    if values.dtype.kind in "fc" and np.all(values == np.round(values)):
        return sorted({int(v) for v in values})
    return sorted(set(values.tolist()), key=str)


def split_by_region(field: xr.DataArray, labels: xr.DataArray) -> tuple[xr.DataArray, xr.DataArray]:
    """``field`` within each region along a new ``region`` dim, and ``field`` over the cells in no region.

    Summing a split cell area reuses every budget computation per region:
    `xrann.evaluation.annual_budget` sums over the cell area's own dims, so a
    cell area with a ``region`` dim gives one budget per region.

    Parameters
    ----------
    field : xarray.DataArray
        A per-cell quantity (a cell area, a flux) on the labels' dims and any others.
    labels : xarray.DataArray
        From `region_labels`.

    Returns
    -------
    by_region : xarray.DataArray
        ``field`` where the cell is in the region, NaN elsewhere; dim ``region``
        holds the labels, sorted.
    outside : xarray.DataArray
        ``field`` on the cells in no region (NaN elsewhere), so the regions and
        ``outside`` together cover every cell exactly once.

    Examples
    --------
    >>> field = xr.DataArray([1.0, 2.0, 4.0, 8.0], dims="cell")
    >>> labels = xr.DataArray(["a", "b", "a", ""], dims="cell")
    >>> by_region, outside = split_by_region(field, labels)
    >>> by_region.sum("cell").values.tolist(), float(outside.sum())
    ([5.0, 2.0], 8.0)
    """
    names = _region_names(labels)
    dtype = object if names and isinstance(names[0], str) else None
    by_region = xr.concat([field.where(labels == name) for name in names], dim=xr.Variable("region", np.array(names, dtype=dtype)))
    outside = field.where(~xr.DataArray(_labelled(labels), dims=labels.dims))
    return by_region, outside
