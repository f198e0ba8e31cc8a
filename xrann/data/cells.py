"""Lists of land cells <-> regular latitude/longitude grids.

Inversion and predictor files often store only land cells: dims such as
``(time, x)`` with ``lat(x)`` and ``lon(x)`` beside the data. `cells_to_grid`
scatters such a list onto a regular ``(lat, lon)`` grid (NaN where there is
no cell); `grid_to_cells` gathers the cells of a grid that have data.

Latitude and longitude are found by CF attributes (``standard_name``,
``units``, ``_CoordinateAxisType``, ``long_name`` with cf-xarray's criteria,
and ``axis``) or by name (cf-xarray's patterns: ``lat``, ``latitude``,
``nav_lat``, ``LAT`` ...), or named explicitly with ``lat=`` / ``lon=``.

Conventions
-----------
* `grid_to_cells` orders cells row-major by value: ascending latitude, then
  ascending longitude, and remembers the grid's latitudes and longitudes in
  the ``encoding`` of the cells' coordinates (key ``"xrann_grid_values"``; it
  is not written to files).
* `cells_to_grid` rebuilds that remembered grid when it is there and holds
  every cell, so ``cells_to_grid(grid_to_cells(grid))`` is identical to
  ``grid`` when its all-missing cells are the ones left out (for example
  ocean) and it has no integer or boolean variables on the grid (those
  become float, as NaN needs). Otherwise (cells read from a file, say) it
  builds the regular grid that spans the cells, with ascending latitude and
  longitude, and a spacing inferred from the smallest gap between distinct
  values unless ``resolution`` is given; rows and columns holding a cell keep
  that cell's exact coordinate, the others are ``first + k * spacing``.
  ``grid_to_cells(cells_to_grid(cells))`` returns the same cells, in the
  order above.
* Both stay lazy for dask-backed data: each variable is converted block by
  block with `xarray.apply_ufunc`, over one chunk along the cell dim (or the
  grid dims) and the input's chunks along every other dim. Only the
  coordinates and, in `grid_to_cells` without ``mask``, the presence of data
  are computed.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import cf_xarray  # noqa: F401  (registers the .cf accessor)
import numpy as np
import xarray as xr
from cf_xarray.criteria import coordinate_criteria as _CF_CRITERIA
from cf_xarray.criteria import regex as _CF_NAME_PATTERNS

from .variables import auxiliary_variables

__all__ = ["cells_to_grid", "grid_to_cells", "find_latitude_longitude"]

_CF_ATTRS = {
    "latitude": {"standard_name": "latitude", "units": "degrees_north", "axis": "Y"},
    "longitude": {"standard_name": "longitude", "units": "degrees_east", "axis": "X"},
}
_AXES = {"latitude": "Y", "longitude": "X"}
#: how far (in grid steps) a coordinate may sit from the regular grid
GRID_TOLERANCE = 1e-6
#: encoding key under which `grid_to_cells` remembers the grid's coordinate values
GRID_ENCODING = "xrann_grid_values"
#: most rows or columns an inferred grid may have (guards against near-duplicate coordinates)
MAX_GRID_SIZE = 1_000_000


def _has_cf_attrs(variable: xr.Variable, key: str) -> bool:
    """Whether cf-xarray's criteria for ``key`` (or the CF ``axis``) match the variable's attributes."""
    attrs = variable.attrs
    if attrs.get("axis") == _AXES[key]:
        return True
    return any(attrs.get(attribute) in values for attribute, values in _CF_CRITERIA[key].items())


def _find_one(ds: xr.Dataset, key: str, dims: tuple[Hashable, ...] | None, given: Hashable | None, where: str) -> Hashable:
    """Name of the latitude or longitude variable with ``dims`` (any 1-D dim coordinate if ``None``)."""

    def fits(name: Hashable) -> bool:
        variable = ds.variables[name]
        if dims is None:
            return variable.dims == (name,)
        return variable.dims == dims

    if given is not None:
        if given not in ds.variables:
            raise KeyError(f"{key} variable {given!r} is not in the Dataset; it has variables {sorted(map(str, ds.variables))}.")
        if not fits(given):
            wanted = f"dims {dims}" if dims is not None else "to be a 1-D dimension coordinate"
            raise ValueError(f"{key} variable {given!r} has dims {ds[given].dims}; it needs {wanted} {where}.")
        return given
    candidates = [name for name in ds.variables if fits(name)]
    by_attrs = [name for name in candidates if _has_cf_attrs(ds.variables[name], key)]
    if len(by_attrs) == 1:
        return by_attrs[0]
    pattern = _CF_NAME_PATTERNS[key]
    by_name = [name for name in (by_attrs or candidates) if isinstance(name, str) and pattern.fullmatch(name.lower())]
    if len(by_name) == 1:
        return by_name[0]
    argument = "lat" if key == "latitude" else "lon"
    if len(by_attrs) > 1 or len(by_name) > 1:
        raise ValueError(
            f"several variables {where} look like {key}: {by_attrs if len(by_attrs) > 1 else by_name}; "
            f"name the right one with {argument}='...'."
        )
    looked_at = sorted(map(str, candidates)) or "none"
    raise KeyError(
        f"no {key} found {where}: looked for a variable with standard_name '{key}', units "
        f"'{_CF_ATTRS[key]['units']}' or axis '{_AXES[key]}', or named like lat/latitude/nav_lat "
        f"(lon/longitude/nav_lon); candidates were {looked_at}. Pass {argument}='name', or set "
        f"ds['name'].attrs['standard_name'] = '{key}'."
    )


def find_latitude_longitude(
    ds: xr.Dataset,
    cell_dim: Hashable | None = None,
    *,
    lat: Hashable | None = None,
    lon: Hashable | None = None,
) -> tuple[Hashable, Hashable]:
    """Names of the latitude and longitude variables of a cell list or a grid.

    Parameters
    ----------
    ds : xarray.Dataset
    cell_dim : hashable, optional
        For a cell list: latitude and longitude are variables (coordinates or
        data variables) with dims ``(cell_dim,)``. ``None`` looks for the
        1-D dimension coordinates of a grid instead.
    lat, lon : hashable, optional
        Names to use instead of searching.

    Returns
    -------
    tuple of hashable
        ``(latitude_name, longitude_name)``.

    Raises
    ------
    KeyError
        Nothing looks like latitude or longitude; the message says what was looked for.
    ValueError
        Several candidates, or a named variable with the wrong dims.

    Examples
    --------
    >>> cells = xr.Dataset({"nav_lat": ("x", [40.5]), "nav_lon": ("x", [-100.5])})
    >>> find_latitude_longitude(cells, "x")
    ('nav_lat', 'nav_lon')
    """
    if cell_dim is None:
        where, dims = "among the dimension coordinates", None
    else:
        where, dims = f"along cell dim {cell_dim!r}", (cell_dim,)
    return _find_one(ds, "latitude", dims, lat, where), _find_one(ds, "longitude", dims, lon, where)


def _cell_label(ds: xr.Dataset, cell_dim: Hashable, position: int) -> str:
    if cell_dim in ds.indexes:
        return f"{cell_dim}={position} (label {ds.indexes[cell_dim][position]!r})"
    return f"{cell_dim}={position}"


def _remembered_axis(values: np.ndarray, remembered: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """The grid axis `grid_to_cells` remembered and each value's index on it, if every value is on it."""
    try:
        axis = np.asarray(remembered, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    if axis.ndim != 1 or axis.size == 0 or not np.isfinite(axis).all():
        return None
    order = np.argsort(axis, kind="stable")
    ordered = axis[order]
    if ordered.size == 1:
        position = np.zeros(values.size, dtype=np.int64)
        tolerance = GRID_TOLERANCE
    else:
        gaps = np.diff(ordered)
        if (gaps <= 0).any():
            return None
        tolerance = GRID_TOLERANCE * gaps.min()
        right = np.clip(np.searchsorted(ordered, values), 1, ordered.size - 1)
        nearer_left = np.abs(values - ordered[right - 1]) <= np.abs(values - ordered[right])
        position = np.where(nearer_left, right - 1, right)
    if (np.abs(values - ordered[position]) > tolerance).any():
        return None
    return axis, order[position]


def _regular_axis(
    values: np.ndarray, name: Hashable, describe_cell, spacing: float | None, remembered: Any = None
) -> tuple[np.ndarray, np.ndarray]:
    """The grid axis for ``values`` (remembered, else regular and spanning them) and each value's index on it."""
    missing = np.flatnonzero(~np.isfinite(values))
    if missing.size:
        raise ValueError(f"cell {describe_cell(missing[0])} has {name}={float(values[missing[0]])!r}; every cell needs finite coordinates.")
    if remembered is not None and spacing is None:
        found = _remembered_axis(values, remembered)
        if found is not None:
            return found
    distinct = np.unique(values)
    if spacing is None:
        spacing = float(np.diff(distinct).min()) if distinct.size > 1 else 1.0
    elif not spacing > 0:
        raise ValueError(f"resolution for {name!r} must be positive, got {spacing!r}.")
    first = distinct[0]
    steps = (values - first) / spacing
    index = np.rint(steps).astype(np.int64)
    if index.max() >= MAX_GRID_SIZE:
        raise ValueError(
            f"the {name} spacing {spacing:g} gives a grid of {int(index.max()) + 1} rows or columns for {values.size} "
            "cells; some coordinates are probably near-duplicates. Round them, or pass resolution=..."
        )
    off = np.flatnonzero(np.abs(steps - index) > GRID_TOLERANCE)
    if off.size:
        cell = off[0]
        raise ValueError(
            f"cell {describe_cell(cell)} at {name}={float(values[cell])!r} is off the regular grid of {name} "
            f"(spacing {spacing:g} from {first:g}: it falls {steps[cell] - np.floor(steps[cell]):.3g} of a step "
            f"past a grid line); {off.size} cell(s) are off the grid. Regrid the cells first, or pass "
            "resolution=... if the spacing was inferred wrongly."
        )
    size = int(index.max()) + 1
    axis = first + spacing * np.arange(size, dtype=np.float64)
    distinct_index = np.rint((distinct - first) / spacing).astype(np.int64)
    axis[distinct_index] = distinct  # rows holding a cell keep its exact coordinate
    return axis, index


def _grid_attrs(variable: xr.Variable, key: str) -> dict[str, Any]:
    attrs = dict(variable.attrs)
    for attr, value in _CF_ATTRS[key].items():
        attrs.setdefault(attr, value)
    return attrs


def _as_dataset(data: xr.Dataset | xr.DataArray) -> tuple[xr.Dataset, Hashable | None]:
    if isinstance(data, xr.DataArray):
        name = data.name if data.name is not None else "__xrann_values__"
        return data.to_dataset(name=name), name
    if not isinstance(data, xr.Dataset):
        raise TypeError(f"expected an xarray Dataset or DataArray, got {type(data).__name__}.")
    return data, None


def _restore(result: xr.Dataset, name: Hashable | None, original: xr.Dataset | xr.DataArray):
    if name is None:
        return result
    array = result[name]
    array.name = original.name
    return array


def cells_to_grid(
    ds: xr.Dataset | xr.DataArray,
    cell_dim: Hashable = "x",
    *,
    lat: Hashable | None = None,
    lon: Hashable | None = None,
    resolution: float | tuple[float, float] | None = None,
) -> xr.Dataset | xr.DataArray:
    """Scatter a list of cells onto the regular latitude/longitude grid that spans them.

    Parameters
    ----------
    ds : xarray.Dataset or xarray.DataArray
        Cells along ``cell_dim``, with latitude and longitude as variables
        (coordinates or data variables) on ``(cell_dim,)``. Never modified.
    cell_dim : hashable, default "x"
        The dim that lists the cells.
    lat, lon : hashable, optional
        Names of the latitude and longitude variables; found by name or CF
        attributes when left out (see `find_latitude_longitude`).
    resolution : float or (float, float), optional
        Grid spacing in degrees, ``(dlat, dlon)`` or one value for both;
        inferred from the smallest gap between distinct values when left out.

    Returns
    -------
    xarray.Dataset or xarray.DataArray
        Every variable with ``cell_dim`` has it replaced, in place, by the
        latitude and longitude dims (named as the input's variables), NaN
        where no cell lies (integer and boolean variables become float). Other
        variables, attributes and the cells' coordinate attributes are kept;
        the new coordinates gain CF ``standard_name``, ``units`` and ``axis``
        where missing. The cell dim's own index (cell labels), if any, is dropped.

    Raises
    ------
    ValueError
        ``cell_dim`` missing, a cell off the regular grid, non-finite
        coordinates, or several cells in one grid cell (the message names them).
    KeyError
        Latitude or longitude not found; the message says what was looked for.

    Examples
    --------
    >>> cells = xr.Dataset(
    ...     {"nee": (("time", "x"), [[1.0, 2.0, 3.0, 4.0]])},
    ...     coords={"lat": ("x", [10.5, 10.5, 11.5, 13.5]), "lon": ("x", [-100.5, -99.5, -99.5, -100.5])},
    ... )
    >>> grid = cells_to_grid(cells)
    >>> grid["nee"].dims, grid["lat"].values.tolist()
    (('time', 'lat', 'lon'), [10.5, 11.5, 12.5, 13.5])
    >>> grid["nee"].isel(time=0).values
    array([[ 1.,  2.],
           [nan,  3.],
           [nan, nan],
           [ 4., nan]])
    """
    dataset, name = _as_dataset(ds)
    if cell_dim not in dataset.dims:
        raise ValueError(
            f"cell_dim={cell_dim!r} is not a dim of the data, whose dims are {tuple(dataset.dims)}; "
            "pass the dim that lists the cells, e.g. cell_dim='x'."
        )
    lat_name, lon_name = find_latitude_longitude(dataset, cell_dim, lat=lat, lon=lon)
    if lat_name == lon_name:
        raise ValueError(f"latitude and longitude are the same variable {lat_name!r}; pass lat= and lon= explicitly.")
    if isinstance(resolution, (tuple, list)):
        lat_spacing, lon_spacing = resolution
    else:
        lat_spacing = lon_spacing = resolution

    def describe(position: int) -> str:
        return _cell_label(dataset, cell_dim, int(position))

    lat_values = np.asarray(dataset[lat_name].values, dtype=np.float64)
    lon_values = np.asarray(dataset[lon_name].values, dtype=np.float64)
    lat_axis, rows = _regular_axis(lat_values, lat_name, describe, lat_spacing, dataset[lat_name].encoding.get(GRID_ENCODING))
    lon_axis, columns = _regular_axis(lon_values, lon_name, describe, lon_spacing, dataset[lon_name].encoding.get(GRID_ENCODING))

    flat = rows * lon_axis.size + columns
    occupied, first_cell, counts = np.unique(flat, return_index=True, return_counts=True)
    if (counts > 1).any():
        clashes = []
        for grid_cell in occupied[counts > 1][:3]:
            members = np.flatnonzero(flat == grid_cell)
            clashes.append(
                f"cells {[describe(m) for m in members]} at ({lat_name}={float(lat_values[members[0]])!r}, "
                f"{lon_name}={float(lon_values[members[0]])!r})"
            )
        raise ValueError(
            f"{int((counts > 1).sum())} grid cell(s) hold more than one cell: {'; '.join(clashes)}. "
            "Drop or average the duplicates first (e.g. ds.isel(x=unique_positions))."
        )
    lookup = np.zeros(lat_axis.size * lon_axis.size, dtype=np.int64)
    lookup[occupied] = first_cell
    present = np.zeros(lookup.size, dtype=bool)
    present[occupied] = True

    grid_sizes = {lat_name: lat_axis.size, lon_name: lon_axis.size}
    variables: dict[Hashable, xr.Variable] = {}
    for variable_name, variable in dataset.variables.items():
        if variable_name in (lat_name, lon_name, cell_dim):
            continue  # the cell coordinates become the grid's; cell labels are dropped
        if cell_dim in variable.dims:
            variable = _replace_core_dims(
                variable, [cell_dim], grid_sizes, _scatter_cells, lookup=lookup, present=present, grid_shape=tuple(grid_sizes.values())
            )
        variables[variable_name] = variable
    variables[lat_name] = xr.Variable(lat_name, lat_axis, _grid_attrs(dataset[lat_name].variable, "latitude"))
    variables[lon_name] = xr.Variable(lon_name, lon_axis, _grid_attrs(dataset[lon_name].variable, "longitude"))
    gridded = _rebuild(dataset, variables, coordinates=set(dataset.coords) | {lat_name, lon_name})
    return _restore(gridded, name, ds)


def grid_to_cells(
    ds: xr.Dataset | xr.DataArray,
    cell_dim: Hashable = "x",
    mask: xr.DataArray | np.ndarray | None = None,
    *,
    lat: Hashable | None = None,
    lon: Hashable | None = None,
) -> xr.Dataset | xr.DataArray:
    """Gather the grid cells that have data into a list of cells along ``cell_dim``.

    Parameters
    ----------
    ds : xarray.Dataset or xarray.DataArray
        Data on a latitude/longitude grid (1-D dimension coordinates, found by
        name or CF attributes). Never modified.
    cell_dim : hashable, default "x"
        Name of the new dim that lists the cells.
    mask : xarray.DataArray or numpy.ndarray, optional
        Boolean ``(lat, lon)`` map of the cells to keep. By default a cell is
        kept when any data variable on the grid (except CF cell measures and
        bounds such as ``cell_area``) has a non-missing value there.
    lat, lon : hashable, optional
        Names of the grid's latitude and longitude dims.

    Returns
    -------
    xarray.Dataset or xarray.DataArray
        Every variable with the latitude or longitude dim has them replaced,
        in place, by ``cell_dim``; latitude and longitude become coordinates on
        ``(cell_dim,)`` with their attributes. Cells are ordered by ascending
        latitude, then ascending longitude.

    Raises
    ------
    ValueError
        ``cell_dim`` already a dim, a mask of the wrong shape, or no data variable on the grid.
    KeyError
        Latitude or longitude dims not found.

    Examples
    --------
    >>> grid = xr.Dataset(
    ...     {"nee": (("lat", "lon"), [[1.0, np.nan], [np.nan, 4.0]])},
    ...     coords={"lat": [10.5, 11.5], "lon": [-100.5, -99.5]},
    ... )
    >>> cells = grid_to_cells(grid)
    >>> cells["nee"].values, cells["lat"].values, cells["lon"].values
    (array([1., 4.]), array([10.5, 11.5]), array([-100.5,  -99.5]))
    """
    dataset, name = _as_dataset(ds)
    if cell_dim in dataset.dims or cell_dim in dataset.variables:
        raise ValueError(f"cell_dim={cell_dim!r} already exists in the data; choose another name for the cell dim.")
    lat_name, lon_name = find_latitude_longitude(dataset, None, lat=lat, lon=lon)
    shape = (dataset.sizes[lat_name], dataset.sizes[lon_name])
    keep = _presence(dataset, lat_name, lon_name) if mask is None else _mask_values(mask, lat_name, lon_name, shape)
    rows, columns = np.nonzero(keep)
    lat_values = np.asarray(dataset[lat_name].values)
    lon_values = np.asarray(dataset[lon_name].values)
    order = np.lexsort((lon_values[columns], lat_values[rows]))
    rows, columns = rows[order], columns[order]
    flat = rows * shape[1] + columns
    variables: dict[Hashable, xr.Variable] = {}
    for variable_name, variable in dataset.variables.items():
        if lat_name in variable.dims and lon_name in variable.dims:
            variable = _replace_core_dims(variable, [lat_name, lon_name], {cell_dim: rows.size}, _gather_cells, flat=flat)
        elif lat_name in variable.dims:
            variable = variable.isel({lat_name: xr.Variable(cell_dim, rows)})
        elif lon_name in variable.dims:
            variable = variable.isel({lon_name: xr.Variable(cell_dim, columns)})
        variables[variable_name] = variable
    cells = _rebuild(dataset, variables, coordinates=set(dataset.coords))
    for coordinate, values in ((lat_name, lat_values), (lon_name, lon_values)):
        cells[coordinate].encoding = {**dataset[coordinate].encoding, GRID_ENCODING: values.copy()}
    return _restore(cells, name, ds)


def _output_dtype(dtype: np.dtype) -> tuple[np.dtype, Any]:
    """Dtype and fill value that can mark missing cells (as xarray's reindex does)."""
    if dtype.kind in "fc":
        return dtype, np.nan
    if dtype.kind in "mM":
        return dtype, np.datetime64("NaT") if dtype.kind == "M" else np.timedelta64("NaT")
    if dtype.kind in "iub":
        return np.dtype(np.float64), np.nan
    return np.dtype(object), np.nan


def _scatter_cells(values: np.ndarray, *, lookup, present, grid_shape, dtype, fill) -> np.ndarray:
    """Cells on the last axis -> ``grid_shape`` on the last two axes, ``fill`` where no cell lies."""
    gridded = np.take(values, lookup, axis=-1).astype(dtype, copy=False)
    gridded[..., ~present] = fill
    return gridded.reshape(values.shape[:-1] + grid_shape)


def _gather_cells(values: np.ndarray, *, flat, dtype, fill) -> np.ndarray:
    """Grid on the last two axes -> the cells at ``flat`` (row-major positions) on the last axis."""
    return values.reshape(values.shape[:-2] + (-1,))[..., flat]


def _replace_core_dims(variable: xr.Variable, core_dims: list[Hashable], new_sizes: dict[Hashable, int], function, **kwargs) -> xr.Variable:
    """Apply ``function`` over ``core_dims`` (one chunk each for dask), putting ``new_sizes`` dims where they were."""
    dtype, fill = _output_dtype(variable.dtype) if function is _scatter_cells else (variable.dtype, None)
    if variable.chunks is not None:
        # one chunk along the cell or grid dims; other dims keep their chunks
        variable = variable.chunk({dim: -1 for dim in core_dims})
    position = min(variable.dims.index(dim) for dim in core_dims)
    others = [dim for dim in variable.dims if dim not in core_dims]
    order = others[:position] + list(new_sizes) + others[position:]
    result = xr.apply_ufunc(
        function,
        variable,
        input_core_dims=[core_dims],
        output_core_dims=[list(new_sizes)],
        exclude_dims=set(core_dims) & set(new_sizes),
        kwargs={**kwargs, "dtype": dtype, "fill": fill},
        dask="parallelized",
        output_dtypes=[dtype],
        dask_gufunc_kwargs={"output_sizes": new_sizes},
        keep_attrs=True,
    )
    return result.transpose(*order)


def _rebuild(template: xr.Dataset, variables: dict[Hashable, xr.Variable], coordinates: set[Hashable]) -> xr.Dataset:
    """A Dataset of ``variables`` in the template's order, with its attributes."""
    coords = {name: variable for name, variable in variables.items() if name in coordinates}
    data_vars = {name: variable for name, variable in variables.items() if name not in coordinates}
    result = xr.Dataset(data_vars, coords=coords, attrs=template.attrs)
    result.encoding = dict(template.encoding)
    return result


def _mask_values(mask, lat_name: Hashable, lon_name: Hashable, shape: tuple[int, int]) -> np.ndarray:
    if isinstance(mask, xr.DataArray):
        if set(mask.dims) != {lat_name, lon_name}:
            raise ValueError(f"mask has dims {mask.dims}; it needs exactly the grid dims ({lat_name!r}, {lon_name!r}).")
        mask = mask.transpose(lat_name, lon_name).values
    values = np.asarray(mask)
    if values.shape != shape:
        raise ValueError(f"mask has shape {values.shape}; it needs the grid's shape {shape} ({lat_name}, {lon_name}).")
    if values.dtype != bool:
        raise ValueError(f"mask must be boolean (True = keep the cell), got dtype {values.dtype}.")
    return values


def _presence(dataset: xr.Dataset, lat_name: Hashable, lon_name: Hashable) -> np.ndarray:
    """``True`` where any data variable on the grid has a value (computed once for dask input)."""
    auxiliary = auxiliary_variables(dataset)
    gridded: Sequence[Hashable] = [
        variable_name
        for variable_name, variable in dataset.data_vars.items()
        if lat_name in variable.dims and lon_name in variable.dims and variable_name not in auxiliary
    ]
    if not gridded:
        raise ValueError(
            f"no data variable lies on the grid ({lat_name!r}, {lon_name!r}) to tell which cells have data; "
            "pass mask= (a boolean map of the cells to keep)."
        )
    combined = None
    for variable_name in gridded:
        variable = dataset[variable_name]
        has_data = variable.notnull().any([dim for dim in variable.dims if dim not in (lat_name, lon_name)])
        combined = has_data if combined is None else combined | has_data
    return np.asarray(combined.transpose(lat_name, lon_name).values, dtype=bool)
