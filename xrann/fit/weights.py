"""Sample weights of a fit: which array weighs each grid point's squared error, and how the model records it.

``weights=`` of `~xrann.fit.dataset.fit_dataset` is a variable name (e.g. of
``1 / se_nee**2``), a DataArray on (a subset of) the target's dims, or
``"cell_area"``: the target's CF cell measure, else a ``cell_area`` variable,
else areas computed from regular latitude/longitude bounds
(`xrann.data.areas`). The weights are normalised to mean 1 over the
training samples during the fit's data pass (`xrann.fit.plan`), so the loss
stays a (weighted) mean squared error; a grid point of weight 0 is not a
sample. Negative or NaN weights where the target is valid are an error of
that pass, before any training. The model records how the weights were
given (`describe_weights`), never the weights themselves.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import numpy as np
import xarray as xr

from ..data.areas import find_cell_area, spherical_cell_area

__all__ = ["resolve_weights", "describe_weights", "CELL_AREA", "NORMALISATION"]

#: the ``weights=`` value that weighs each sample by its grid cell's area
CELL_AREA = "cell_area"
#: how the weights are normalised, as recorded in the model
NORMALISATION = "divided by their mean over the training samples (mean 1); grid points of weight 0 are not samples"


def _cell_area(ds: xr.Dataset, target: Hashable) -> xr.DataArray:
    area = find_cell_area(ds, target)
    if area is None and CELL_AREA in ds.variables:
        area = ds[CELL_AREA]
    if area is None:
        area = spherical_cell_area(ds[target])
    if area is None:
        raise ValueError(
            f"weights='cell_area' found no cell areas for the target {target!r}: no CF cell_measures, no 'cell_area' "
            "variable, and no regular 1-D latitude/longitude coordinates to compute them from. Add a cell_area variable "
            "(m2), or pass the weights as a DataArray."
        )
    return area


def resolve_weights(ds: xr.Dataset, weights: Any, target: Hashable) -> xr.DataArray | None:
    """The sample weights ``weights`` refers to, checked against the target's grid (not yet normalised).

    Parameters
    ----------
    ds : xarray.Dataset
    weights : str, hashable, xarray.DataArray or None
        ``"cell_area"``, a variable name of ``ds``, or a DataArray on (a subset of) the target's dims.
    target : hashable
        The target's variable name.

    Returns
    -------
    xarray.DataArray or None
        Numeric, on a subset of the target's dims with the target's sizes (and coordinates, where
        both have them); ``None`` for ``weights=None``.

    Raises
    ------
    KeyError
        A variable name ``ds`` does not hold.
    ValueError
        Weights with a dim the target lacks, a size or coordinates that differ from the target's,
        or ``"cell_area"`` with no way to find cell areas.
    TypeError
        Non-numeric weights, or a ``weights`` of another type.

    Examples
    --------
    >>> ds = xr.Dataset({"nee": (("time", "x"), np.ones((2, 3))), "se": ("x", [1.0, 2.0, 4.0])})
    >>> resolve_weights(ds, "se", "nee").dims
    ('x',)
    >>> resolve_weights(ds, xr.DataArray(np.ones(2), dims="site"), "nee")
    Traceback (most recent call last):
    ...
    ValueError: weights have dim 'site' that the target 'nee' lacks (its dims are ('time', 'x')); ...
    """
    if weights is None:
        return None
    if isinstance(weights, xr.DataArray):
        array = weights
    elif isinstance(weights, str) and weights == CELL_AREA:
        array = _cell_area(ds, target)
    elif isinstance(weights, Hashable) and not isinstance(weights, (bool, int, float)):
        if weights not in ds.variables:
            raise KeyError(
                f"weights={weights!r} is not a variable of the Dataset; pass a variable name, a DataArray, or "
                f"'cell_area'. Data variables: {sorted(map(str, ds.data_vars))}."
            )
        array = ds[weights]
    else:
        raise TypeError(f"weights must be a variable name, a DataArray or 'cell_area', got {type(weights).__name__}.")
    if array.dtype.kind not in "biuf":
        raise TypeError(f"weights must be numeric, got dtype {array.dtype}.")
    target_dims = ds[target].dims
    for dim in array.dims:
        if dim not in target_dims:
            raise ValueError(
                f"weights have dim {dim!r} that the target {target!r} lacks (its dims are {target_dims}); weights must "
                "lie on (a subset of) the target's dims, e.g. select or reduce over the extra dim first."
            )
        if array.sizes[dim] != ds.sizes[dim]:
            raise ValueError(
                f"weights have {array.sizes[dim]} values along {dim!r} but the target {target!r} has {ds.sizes[dim]}; "
                "give weights on the target's grid."
            )
        if dim in array.indexes and dim in ds.indexes and not array.indexes[dim].equals(ds.indexes[dim]):
            raise ValueError(
                f"the weights' {dim!r} coordinate differs from the target {target!r}'s; reindex the weights onto the "
                f"target's grid, e.g. weights.reindex_like(ds[{target!r}]) (then fill the gaps)."
            )
    return array.reset_coords(drop=True).astype(np.float64, copy=False)


def describe_weights(weights: Any) -> str | None:
    """How ``weights`` were given, in words stored with the model (``None`` for an unweighted fit).

    Parameters
    ----------
    weights : str, hashable, xarray.DataArray or None

    Returns
    -------
    str or None

    Examples
    --------
    >>> describe_weights("cell_area"), describe_weights("w"), describe_weights(xr.DataArray([1.0], name="inv_var"))
    ('cell_area', 'w', "DataArray 'inv_var'")
    """
    if weights is None:
        return None
    if isinstance(weights, xr.DataArray):
        return "DataArray" if weights.name is None else f"DataArray {str(weights.name)!r}"
    return str(weights)
