"""Predictions back onto the identical grid: pointwise over the drivers, block by block.

`predict_on_grid` applies a function of the driver matrix at every grid
point through `xarray.apply_ufunc`, so a dask-backed Dataset gives a lazy
result chunked like its drivers, nothing is stacked globally, and the result
carries the input's coordinate variables exactly, with NaN wherever a driver
is missing.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from .extraction import finite_rows

__all__ = ["predict_on_grid", "output_dims"]


def output_dims(ds: xr.Dataset, drivers: Sequence[Hashable], target_dims: Sequence[Hashable] = ()) -> tuple[Hashable, ...]:
    """Dims of a prediction: the input's own order, never the training order imposed on it.

    The order starts from the driver with the most dims (the dims only other
    drivers have follow, in the order they appear); where ``target_dims`` are
    given, the positions of those dims are filled in the target's order, so a
    prediction has the target's order and any extra dim (``member``,
    ``scenario``) stays where it stands among the drivers' dims.

    Parameters
    ----------
    ds : xarray.Dataset
    drivers : sequence of hashable
        Driver variable names in ``ds``.
    target_dims : sequence of hashable, optional
        Dims of the observed target on the same grid, if there is one.

    Returns
    -------
    tuple of hashable
        Every dim of the drivers.

    Examples
    --------
    >>> ds = xr.Dataset({"t2m": (("scenario", "time", "lat", "lon"), np.zeros((2, 1, 1, 1))),
    ...                  "cover": (("lat", "lon"), np.zeros((1, 1)))})
    >>> output_dims(ds, ["cover", "t2m"])
    ('scenario', 'time', 'lat', 'lon')
    >>> output_dims(ds, ["cover", "t2m"], target_dims=("time", "lon", "lat"))
    ('scenario', 'time', 'lon', 'lat')
    """
    ordered_drivers = sorted(drivers, key=lambda name: -len(ds[name].dims))  # stable: ties keep their order
    present: list[Hashable] = []
    for name in ordered_drivers:
        for dim in ds[name].dims:
            if dim not in present:
                present.append(dim)
    in_target = [dim for dim in target_dims if dim in present]
    refill = iter(in_target)
    return tuple(next(refill) if dim in in_target else dim for dim in present)


def _predict_block(*blocks: np.ndarray, predict_matrix: Callable[[np.ndarray], np.ndarray], dtype) -> np.ndarray:
    """Predict every finite point of a block of broadcastable driver arrays."""
    arrays = np.broadcast_arrays(*blocks)
    shape = arrays[0].shape
    matrix = np.stack([np.asarray(a, dtype=dtype).reshape(-1) for a in arrays], axis=1)
    valid = finite_rows(matrix)
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
