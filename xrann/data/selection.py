"""Label selections (``{"time": [2007, 2015]}``) as boolean masks on the sample grid."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

__all__ = ["selection_mask"]


def _year_mask(coordinate: xr.DataArray, years: Sequence[int]) -> xr.DataArray:
    known = np.unique(coordinate.dt.year.values)
    unknown = sorted(set(int(y) for y in years) - set(known.tolist()))
    if unknown:
        raise ValueError(
            f"years {unknown} are not in dim {coordinate.name!r}, which spans the years "
            f"{known.min()}-{known.max()}; choose years that exist."
        )
    return coordinate.dt.year.isin(list(years))


def _check_unique_labels(coordinate: xr.DataArray, dim: Hashable) -> None:
    # xarray's .sel refuses a list of labels on a non-unique index (pandas' InvalidIndexError) and matches a
    # scalar to every copy; one rule for every selector is clearer: a label must name one position.
    labels = pd.Index(coordinate.values)
    if labels.is_unique:
        return
    duplicated = labels[labels.duplicated()].unique().tolist()
    shown = ", ".join(map(repr, duplicated[:5])) + (", ..." if len(duplicated) > 5 else "")
    raise ValueError(
        f"validation selects by label along dim {dim!r}, but its labels are not unique ({len(duplicated)} "
        f"repeated: {shown}), so a label does not name one position. Remove the duplicates first, e.g. "
        f"ds.drop_duplicates({dim!r}), or give {dim!r} unique labels; validation selects by label only, "
        "not by position."
    )


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
    _check_unique_labels(coordinate, dim)
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
        list of years. Several dims combine with "and". Labels select by
        value, never by position, so a dim selected by label needs unique labels.
    sample_dims : sequence of hashable

    Returns
    -------
    xarray.DataArray

    Raises
    ------
    ValueError
        A dim the Dataset lacks, labels that do not exist, years outside the data,
        or a label selection along a dim whose labels are not unique (a label
        must name one position; drop the duplicates with
        ``ds.drop_duplicates(dim)`` first).

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
