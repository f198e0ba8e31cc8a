"""Dataset <-> sample matrix: the one place where xarray meets the numpy core.

A *sample* is one grid point of the target (for example one ``(time, lat, lon)``
cell); its *features* are the drivers at that point. This module

* resolves variable names and CF keys (``standard_name``) through cf-xarray,
* checks that drivers fit the target's grid (static maps are broadcast),
* stacks valid samples into ``(n_samples, n_drivers)`` matrices, and
* maps predictions back onto the identical grid, lazily for dask-backed
  input (`predict_on_grid` works block by block through `xarray.apply_ufunc`).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import cf_xarray  # noqa: F401  (registers the .cf accessor)
import numpy as np
import pandas as pd
import xarray as xr

__all__ = [
    "SampleMatrix",
    "resolve_variable",
    "select_variables",
    "check_numeric",
    "check_driver_dims",
    "check_units",
    "valid_sample_mask",
    "stack_samples",
    "selection_mask",
    "predict_on_grid",
    "output_dims",
]


@dataclass
class SampleMatrix:
    """Valid samples of a Dataset as numpy arrays.

    Attributes
    ----------
    drivers : numpy.ndarray
        ``(n_valid, n_drivers)`` driver values in their own units.
    target : numpy.ndarray or None
        ``(n_valid,)`` target values, or ``None`` when stacking drivers only.
    valid : xarray.DataArray
        Boolean mask on the sample grid, ``True`` where a sample was kept.
    n_dropped : int
        Grid points dropped because the target or a driver was NaN or infinite.

    Examples
    --------
    >>> import xrann
    >>> samples = stack_samples(xrann.datasets.soil_toy(), ["soil_moisture", "grain_size"], "co2_flux", ("site",))
    >>> samples.drivers.shape, samples.target.tolist(), samples.n_dropped
    ((3, 2), [166.0, 100.0, 100.0], 0)
    """

    drivers: np.ndarray
    target: np.ndarray | None
    valid: xr.DataArray
    n_dropped: int


def _available(ds: xr.Dataset) -> str:
    names = ", ".join(map(str, ds.data_vars)) or "none"
    standard_names = sorted(ds.cf.standard_names) if ds.data_vars else []
    text = f"data variables: {names}"
    if standard_names:
        text += f"; CF standard_names: {', '.join(standard_names)}"
    return text


def resolve_variable(ds: xr.Dataset, key: Hashable, role: str = "variable") -> Hashable:
    """Name of the data variable that ``key`` refers to.

    ``key`` is a data variable name, or a CF key that cf-xarray resolves to
    exactly one data variable (a ``standard_name`` such as ``"air_temperature"``).

    Parameters
    ----------
    ds : xarray.Dataset
    key : hashable
        Variable name or CF standard name.
    role : str
        Word used in error messages ("target", "driver").

    Returns
    -------
    hashable
        The data variable's name in ``ds``.

    Raises
    ------
    KeyError
        If nothing, or more than one variable, matches; the message lists what exists.

    Examples
    --------
    >>> ds = xr.Dataset({"t2m": ("x", [280.0], {"standard_name": "air_temperature"})})
    >>> resolve_variable(ds, "air_temperature")
    't2m'
    """
    if key in ds.data_vars:
        return key
    matches = ds.cf.standard_names.get(key, []) if isinstance(key, str) else []
    matches = [name for name in matches if name in ds.data_vars]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise KeyError(
            f"{role} {key!r} is ambiguous: the CF standard_name matches variables {matches}; "
            "name the variable directly instead."
        )
    if key in ds.coords:
        raise KeyError(f"{role} {key!r} is a coordinate, not a data variable; {_available(ds)}.")
    raise KeyError(f"{role} {key!r} not found in the Dataset; {_available(ds)}.")


def check_numeric(ds: xr.Dataset, name: Hashable, role: str) -> None:
    """Raise `TypeError` if ``ds[name]`` is not a real numeric variable.

    Parameters
    ----------
    ds : xarray.Dataset
    name : hashable
        Variable to check.
    role : str
        What the variable is (``"driver"``, ``"target"``), used in the message.

    Raises
    ------
    TypeError
        If the dtype is not boolean, integer or float (strings, objects, complex, datetimes).

    Examples
    --------
    >>> check_numeric(xr.Dataset({"land": ("x", ["forest"])}), "land", "driver")
    Traceback (most recent call last):
    ...
    TypeError: driver 'land' has dtype <U6, which is not numeric; ...
    """
    dtype = ds[name].dtype
    if dtype.kind not in "biuf":
        raise TypeError(
            f"{role} {name!r} has dtype {dtype}, which is not numeric; xrann needs real numbers. "
            "Encode categories as numbers (e.g. fractions per class) or drop the variable."
        )


def auxiliary_variables(ds: xr.Dataset) -> set[Hashable]:
    """Variables that CF marks as cell measures or bounds of another variable.

    Parameters
    ----------
    ds : xarray.Dataset

    Returns
    -------
    set of hashable

    Examples
    --------
    >>> ds = xr.Dataset({"nee": ("x", [1.0], {"cell_measures": "area: cell_area"}), "cell_area": ("x", [1e9])})
    >>> auxiliary_variables(ds) == {"cell_area"}
    True
    """
    auxiliary: set[Hashable] = set()
    for variable in ds.variables.values():
        measures = variable.attrs.get("cell_measures", "")
        for part in str(measures).split(":")[1:]:
            name = part.split()[0] if part.split() else ""
            auxiliary.add(name)
        if "bounds" in variable.attrs:
            auxiliary.add(variable.attrs["bounds"])
    return auxiliary


def select_variables(
    ds: xr.Dataset,
    target: Hashable,
    drivers: Sequence[Hashable] | None,
) -> tuple[Hashable, list[Hashable]]:
    """Resolve and validate the target and driver names.

    Parameters
    ----------
    ds : xarray.Dataset
    target : hashable
        Name or CF standard name of the variable to predict.
    drivers : sequence of hashable or None
        Names or CF standard names; ``None`` selects every numeric data
        variable whose dims are a subset of the target's, except the target
        and CF cell measures or bounds.

    Returns
    -------
    target_name : hashable
    driver_names : list of hashable

    Raises
    ------
    KeyError
        Unknown target or driver.
    ValueError
        Target among the drivers, duplicate drivers, no drivers, or a driver
        with a dimension the target lacks.
    TypeError
        A non-numeric target or driver.

    Examples
    --------
    >>> ds = xr.Dataset({"nee": (("t", "x"), [[1.0]]), "t2m": (("t", "x"), [[280.0]]), "lc": ("x", [0.5])})
    >>> select_variables(ds, "nee", None)
    ('nee', ['t2m', 'lc'])
    """
    target_name = resolve_variable(ds, target, "target")
    check_numeric(ds, target_name, "target")
    target_dims = set(ds[target_name].dims)
    if drivers is None:
        auxiliary = auxiliary_variables(ds)
        driver_names = [
            name
            for name, variable in ds.data_vars.items()
            if name != target_name
            and name not in auxiliary
            and variable.ndim > 0
            and variable.dtype.kind in "biuf"
            and set(variable.dims) <= target_dims
        ]
        if not driver_names:
            raise ValueError(
                f"drivers=None found no numeric variable on the grid of target {target_name!r} "
                f"(dims {tuple(ds[target_name].dims)}); {_available(ds)}. Pass drivers=[...] explicitly."
            )
    else:
        if isinstance(drivers, (str, bytes)):
            drivers = [drivers]
        if len(drivers) == 0:
            raise ValueError("drivers=[] is empty; name at least one driver, or pass drivers=None for all.")
        driver_names = [resolve_variable(ds, key, "driver") for key in drivers]
        if target_name in driver_names:
            raise ValueError(
                f"target {target_name!r} is also listed among the drivers {list(drivers)}; "
                "a network cannot use the variable it predicts. Remove it from drivers."
            )
        duplicates = sorted({str(n) for n in driver_names if driver_names.count(n) > 1})
        if duplicates:
            raise ValueError(f"drivers {duplicates} are listed more than once; list each driver once.")
        for name in driver_names:
            check_numeric(ds, name, "driver")
    check_driver_dims(ds, driver_names, tuple(ds[target_name].dims), target_name)
    return target_name, driver_names


def check_driver_dims(
    ds: xr.Dataset,
    drivers: Sequence[Hashable],
    sample_dims: Sequence[Hashable],
    target: Hashable | None = None,
) -> None:
    """Raise `ValueError` if a driver has a dimension outside ``sample_dims``.

    Parameters
    ----------
    ds : xarray.Dataset
    drivers : sequence of hashable
        Driver variable names.
    sample_dims : sequence of hashable
        Dims of the target; drivers may have fewer (static maps), not others.
    target : hashable, optional
        Target name, used in the message.

    Raises
    ------
    ValueError
        Naming the first driver and dimension at fault and how to remove it.

    Examples
    --------
    >>> ds = xr.Dataset({"nee": ("x", [1.0]), "t2m": (("x", "level"), [[1.0, 2.0]])})
    >>> check_driver_dims(ds, ["t2m"], ("x",), "nee")
    Traceback (most recent call last):
    ...
    ValueError: driver 't2m' has dimension 'level', which target 'nee' (dims ('x',)) lacks; ...
    """
    for name in drivers:
        extra = [dim for dim in ds[name].dims if dim not in sample_dims]
        if extra:
            owner = f"target {target!r} (dims {tuple(sample_dims)})" if target is not None else f"the sample dims {tuple(sample_dims)}"
            raise ValueError(
                f"driver {name!r} has dimension {extra[0]!r}, which {owner} lacks; "
                f"select or reduce it first, e.g. ds[{name!r}].isel({extra[0]}=0) or .mean({extra[0]!r})."
            )


def check_units(ds: xr.Dataset, drivers: Sequence[Hashable], expected_units: Mapping[Hashable, str | None]) -> None:
    """Raise `ValueError` when a driver's ``units`` differ from those the model was trained with.

    Only checked when both the Dataset and the model record units.

    Parameters
    ----------
    ds : xarray.Dataset
    drivers : sequence of hashable
        Driver variable names in ``ds``.
    expected_units : mapping
        Training units per driver name (``None`` where unknown).

    Raises
    ------
    ValueError
        Naming the driver, both units and the conversion to make.

    Examples
    --------
    >>> ds = xr.Dataset({"t2m": ("x", [20.0], {"units": "degC"})})
    >>> check_units(ds, ["t2m"], {"t2m": "K"})
    Traceback (most recent call last):
    ...
    ValueError: driver 't2m' has units 'degC' but the model was trained with 'K'; ...
    """
    for name in drivers:
        expected = expected_units.get(name)
        actual = ds[name].attrs.get("units")
        if expected and actual and str(actual).strip() != str(expected).strip():
            raise ValueError(
                f"driver {name!r} has units {actual!r} but the model was trained with {expected!r}; "
                f"convert ds[{name!r}] to {expected!r} before predicting."
            )


def valid_sample_mask(ds: xr.Dataset, names: Sequence[Hashable], sample_dims: Sequence[Hashable]) -> xr.DataArray:
    """Boolean mask on the sample grid: ``True`` where every named variable is finite.

    Parameters
    ----------
    ds : xarray.Dataset
    names : sequence of hashable
        Variables that must all be finite for a sample to count.
    sample_dims : sequence of hashable
        Dims of the result, in this order.

    Returns
    -------
    xarray.DataArray
        Lazy when the input is dask-backed.

    Examples
    --------
    >>> ds = xr.Dataset({"a": ("x", [1.0, np.nan]), "b": ("x", [np.inf, 1.0])})
    >>> valid_sample_mask(ds, ["a"], ("x",)).values.tolist()
    [True, False]
    """
    masks = [np.isfinite(ds[name]) if ds[name].dtype.kind == "f" else xr.ones_like(ds[name], dtype=bool) for name in names]
    combined = masks[0]
    for mask in masks[1:]:
        combined = combined & mask
    return _broadcast_to_dims(combined, ds, sample_dims).transpose(*sample_dims)


def _broadcast_to_dims(array: xr.DataArray, ds: xr.Dataset, sample_dims: Sequence[Hashable]) -> xr.DataArray:
    """Add the ``sample_dims`` that ``array`` lacks (a static map gains time, say)."""
    missing = [dim for dim in sample_dims if dim not in array.dims]
    if missing:
        array = array.expand_dims({dim: ds.sizes[dim] for dim in missing})
        array = array.assign_coords({dim: ds[dim] for dim in missing if dim in ds.coords})
    return array


def stack_samples(
    ds: xr.Dataset,
    drivers: Sequence[Hashable],
    target: Hashable | None,
    sample_dims: Sequence[Hashable],
    dtype: np.dtype | str = "float64",
    extra_mask: xr.DataArray | None = None,
) -> SampleMatrix:
    """Stack the valid samples of ``ds`` into numpy matrices (loads the data).

    Parameters
    ----------
    ds : xarray.Dataset
    drivers : sequence of hashable
        Resolved driver names (see `select_variables`).
    target : hashable or None
        Resolved target name, or ``None`` to stack drivers only.
    sample_dims : sequence of hashable
        Dims spanning the samples, usually the target's dims.
    dtype : str or numpy.dtype, default "float64"
        Dtype of the driver matrix.
    extra_mask : xarray.DataArray, optional
        Boolean mask on ``sample_dims``; samples where it is ``False`` are left out
        (used to split training from validation samples).

    Returns
    -------
    SampleMatrix

    Examples
    --------
    >>> ds = xr.Dataset({"nee": ("x", [1.0, np.nan, 3.0]), "t2m": ("x", [10.0, 20.0, 30.0])})
    >>> samples = stack_samples(ds, ["t2m"], "nee", ("x",))
    >>> samples.drivers.ravel().tolist(), samples.target.tolist(), samples.n_dropped
    ([10.0, 30.0], [1.0, 3.0], 1)
    """
    names = list(drivers) + ([target] if target is not None else [])
    valid = valid_sample_mask(ds, names, sample_dims).compute()
    n_dropped = int(valid.size - valid.sum())
    selected = valid if extra_mask is None else valid & extra_mask.transpose(*sample_dims)
    flat_index = np.flatnonzero(selected.values.reshape(-1))
    columns = []
    for name in drivers:
        values = _broadcast_to_dims(ds[name], ds, sample_dims).transpose(*sample_dims)
        columns.append(np.asarray(values.values).reshape(-1)[flat_index])
    driver_matrix = np.stack(columns, axis=1).astype(dtype, copy=False) if columns else np.empty((len(flat_index), 0), dtype)
    target_values = None
    if target is not None:
        target_values = np.asarray(ds[target].transpose(*sample_dims).values).reshape(-1)[flat_index].astype(np.float64)
    return SampleMatrix(driver_matrix, target_values, valid, n_dropped)


def _year_mask(coordinate: xr.DataArray, years: Sequence[int]) -> xr.DataArray:
    known = np.unique(coordinate.dt.year.values)
    unknown = sorted(set(int(y) for y in years) - set(known.tolist()))
    if unknown:
        raise ValueError(
            f"years {unknown} are not in dim {coordinate.name!r}, which spans the years "
            f"{known.min()}-{known.max()}; choose years that exist."
        )
    return coordinate.dt.year.isin(list(years))


def _dim_selection_mask(ds: xr.Dataset, dim: Hashable, selector: Any) -> xr.DataArray:
    if dim not in ds.dims:
        raise ValueError(f"validation selects along dim {dim!r}, which the Dataset lacks; its dims are {tuple(ds.dims)}.")
    coordinate = ds[dim] if dim in ds.coords else xr.DataArray(np.arange(ds.sizes[dim]), dims=dim, name=dim)
    is_time = np.issubdtype(coordinate.dtype, np.datetime64) or coordinate.dtype == object and hasattr(coordinate, "dt")
    if is_time and isinstance(selector, (list, tuple, np.ndarray, pd.Index)) and all(
        isinstance(v, (int, np.integer)) for v in selector
    ):
        return _year_mask(coordinate, selector)
    if is_time and isinstance(selector, (int, np.integer)):
        return _year_mask(coordinate, [selector])
    positions = xr.DataArray(np.arange(ds.sizes[dim]), dims=dim, coords={dim: coordinate})
    try:
        chosen = positions.sel({dim: selector})
    except KeyError as error:
        raise ValueError(f"validation selection {selector!r} does not match labels of dim {dim!r}: {error}") from None
    mask = np.zeros(ds.sizes[dim], dtype=bool)
    mask[np.atleast_1d(chosen.values)] = True
    return xr.DataArray(mask, dims=dim, coords={dim: coordinate})


def selection_mask(ds: xr.Dataset, selection: Mapping[Hashable, Any], sample_dims: Sequence[Hashable]) -> xr.DataArray:
    """Boolean mask on the sample grid, ``True`` inside a label selection.

    Parameters
    ----------
    ds : xarray.Dataset
    selection : mapping
        ``{dim: selector}`` where a selector is anything `xarray.Dataset.sel`
        accepts (a label, list or slice), or, for a datetime dim, a year or
        list of years. Several dims combine with "and".
    sample_dims : sequence of hashable

    Returns
    -------
    xarray.DataArray

    Raises
    ------
    ValueError
        A dim the Dataset lacks, labels that do not exist, or years outside the data.

    Examples
    --------
    >>> ds = xr.Dataset(coords={"time": pd.date_range("2007-01-01", periods=36, freq="MS")})
    >>> int(selection_mask(ds, {"time": [2008]}, ("time",)).sum())
    12
    """
    combined = None
    for dim, selector in selection.items():
        if dim in ds.dims and dim not in sample_dims:
            raise ValueError(
                f"validation selects along dim {dim!r}, which the target lacks (its dims are {tuple(sample_dims)}); "
                f"select along one of {tuple(sample_dims)}."
            )
        mask = _dim_selection_mask(ds, dim, selector)
        combined = mask if combined is None else combined & mask
    if combined is None:
        raise ValueError("validation={} selects nothing; give at least one {dim: selection}.")
    missing = [dim for dim in sample_dims if dim not in combined.dims]
    if missing:
        combined = combined.expand_dims({dim: ds.sizes[dim] for dim in missing})
    return combined.transpose(*sample_dims).drop_vars(list(combined.coords), errors="ignore")


def output_dims(ds: xr.Dataset, drivers: Sequence[Hashable], preferred: Sequence[Hashable]) -> tuple[Hashable, ...]:
    """Dims of a prediction: ``preferred`` (the training sample dims) first, then any others.

    Parameters
    ----------
    ds : xarray.Dataset
    drivers : sequence of hashable
        Driver variable names in ``ds``.
    preferred : sequence of hashable
        Dim order to keep where those dims are present.

    Returns
    -------
    tuple of hashable
        Every dim of the drivers, ``preferred`` ones first in their order.

    Examples
    --------
    >>> ds = xr.Dataset({"t2m": (("lon", "lat", "time"), np.zeros((1, 1, 1)))})
    >>> output_dims(ds, ["t2m"], ("time", "lat", "lon"))
    ('time', 'lat', 'lon')
    """
    present: list[Hashable] = []
    for name in drivers:
        for dim in ds[name].dims:
            if dim not in present:
                present.append(dim)
    ordered = [dim for dim in preferred if dim in present]
    return tuple(ordered + [dim for dim in present if dim not in ordered])


def _predict_block(*blocks: np.ndarray, predict_matrix: Callable[[np.ndarray], np.ndarray], dtype) -> np.ndarray:
    """Predict every finite point of a block of broadcastable driver arrays."""
    arrays = np.broadcast_arrays(*blocks)
    shape = arrays[0].shape
    matrix = np.stack([np.asarray(a, dtype=dtype).reshape(-1) for a in arrays], axis=1)
    valid = np.isfinite(matrix).all(axis=1)
    result = np.full(matrix.shape[0], np.nan, dtype=np.float64)
    if valid.any():
        result[valid] = predict_matrix(matrix[valid])
    return result.reshape(shape)


def predict_on_grid(
    ds: xr.Dataset,
    drivers: Sequence[Hashable],
    predict_matrix: Callable[[np.ndarray], np.ndarray],
    *,
    dims: Sequence[Hashable],
    name: str,
    attrs: Mapping[str, Any],
    like: xr.DataArray | None = None,
    dtype: np.dtype | str = "float64",
) -> xr.DataArray:
    """Apply ``predict_matrix`` pointwise over the grid of ``ds``'s drivers.

    Each grid point whose drivers are all finite gets a prediction; every
    other point is NaN. Works block by block through `xarray.apply_ufunc`, so
    a dask-backed Dataset gives a lazy result chunked like its drivers, and
    nothing is stacked globally.

    Parameters
    ----------
    ds : xarray.Dataset
    drivers : sequence of hashable
        Resolved driver names, in the model's column order.
    predict_matrix : callable
        Maps ``(n, n_drivers)`` driver values in their own units to ``(n,)`` predictions.
    dims : sequence of hashable
        Dim order of the result (see `output_dims`).
    name : str
        Name of the result.
    attrs : mapping
        Attributes of the result.
    like : xarray.DataArray, optional
        The target on the same grid; the result is broadcast to it, so it
        has identical dims, order and coordinates.
    dtype : str or numpy.dtype
        Dtype in which drivers are handed to ``predict_matrix``.

    Returns
    -------
    xarray.DataArray

    Examples
    --------
    >>> ds = xr.Dataset({"t2m": ("x", [1.0, np.nan, 3.0])})
    >>> predict_on_grid(ds, ["t2m"], lambda m: 2 * m[:, 0], dims=("x",), name="y", attrs={}).values
    array([ 2., nan,  6.])
    """
    inputs = [ds[name_] for name_ in drivers]
    result = xr.apply_ufunc(
        _predict_block,
        *inputs,
        kwargs={"predict_matrix": predict_matrix, "dtype": np.dtype(dtype)},
        dask="parallelized",
        output_dtypes=[np.float64],
        keep_attrs=False,
    )
    if like is not None:
        result = result.broadcast_like(like).transpose(*like.dims)
        source = like.coords
    else:
        result = result.transpose(*dims)
        source = ds.coords
    # apply_ufunc drops coordinate attrs; restore the input's coordinate variables exactly
    result = result.assign_coords({key: source[key].variable for key in source if set(source[key].dims) <= set(result.dims)})
    result.name = name
    result.attrs = dict(attrs)
    return result
