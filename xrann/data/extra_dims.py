"""Dims beyond a model's sample dims (``member``, ``scenario``, ``product``): found once, kept as their own dims.

A model is trained on samples over its sample dims (e.g. ``time``, ``lat``,
``lon``). Data given to an analysis may carry more dims: an ensemble's
``member``, a warming ``scenario``, a ``product``. Such a dim is never pooled
into the samples: an analysis runs once per label and the results are
stacked along the dim, with its coordinate.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence

import xarray as xr

__all__ = ["extra_dims", "map_over_extra_dims"]


def extra_dims(ds: xr.Dataset, names: Sequence[Hashable], sample_dims: Sequence[Hashable]) -> tuple[Hashable, ...]:
    """Dims of the variables ``names`` of ``ds`` beyond ``sample_dims``, in the order they appear.

    When the variables do not carry every sample dim (data on another layout,
    such as a cell list from `xrann.grid_to_cells` for a model trained on a
    grid), none of their dims can be told apart from sample dims, and none is
    extra.

    Parameters
    ----------
    ds : xarray.Dataset
    names : sequence of hashable
        Variables of ``ds`` (drivers, target).
    sample_dims : sequence of hashable
        The model's sample dims.

    Returns
    -------
    tuple of hashable

    Examples
    --------
    >>> import numpy as np
    >>> ds = xr.Dataset({"t2m": (("scenario", "time", "lat"), np.zeros((2, 3, 4)))})
    >>> extra_dims(ds, ["t2m"], ("time", "lat"))
    ('scenario',)
    >>> extra_dims(ds, ["t2m"], ("time", "cell"))
    ()
    """
    present: list[Hashable] = []
    for name in names:
        present.extend(dim for dim in ds[name].dims if dim not in present)
    if not set(sample_dims) <= set(present):
        return ()
    return tuple(dim for dim in present if dim not in sample_dims)


def map_over_extra_dims(
    ds: xr.Dataset, dims: Sequence[Hashable], function: Callable[[xr.Dataset], xr.Dataset | xr.DataArray]
) -> xr.Dataset | xr.DataArray:
    """Apply ``function`` to ``ds`` at each label of ``dims`` and stack the results along those dims.

    Parameters
    ----------
    ds : xarray.Dataset
    dims : sequence of hashable
        Dims of ``ds`` to loop over (see `extra_dims`); none calls ``function(ds)`` once.
    function : callable
        Maps a Dataset without ``dims`` to a Dataset or DataArray.

    Returns
    -------
    xarray.Dataset or xarray.DataArray
        The results along ``dims`` (outermost first), with ``ds``'s coordinates of those dims.

    Examples
    --------
    >>> import numpy as np
    >>> ds = xr.Dataset({"x": (("member", "time"), np.arange(6.0).reshape(2, 3))}, coords={"member": [10, 20]})
    >>> map_over_extra_dims(ds, ["member"], lambda part: part["x"].mean("time")).values
    array([1., 4.])
    """
    if not dims:
        return function(ds)
    dim, rest = dims[0], list(dims[1:])
    parts = [map_over_extra_dims(ds.isel({dim: index}), rest, function) for index in range(ds.sizes[dim])]
    parts = [part.drop_vars(dim, errors="ignore") for part in parts]
    stacked = xr.concat(parts, dim=dim, coords="minimal", compat="override", combine_attrs="override")
    if dim in ds.coords:
        stacked = stacked.assign_coords({dim: ds[dim].variable})
    return stacked
