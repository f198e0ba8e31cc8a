"""Apply a model's function at every grid point of a Dataset: drivers found and checked, result on the exact grid."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from typing import Any

import numpy as np
import xarray as xr

from ..data.blocks import align_chunks
from ..data.grid import output_dims, predict_on_grid
from ..data.variables import check_numeric, check_units, resolve_variable
from ..model import Model

__all__ = ["resolve_drivers_for_prediction", "apply_to_grid"]


def resolve_drivers_for_prediction(ds: xr.Dataset, model: Model) -> list[Hashable]:
    """Find the model's drivers in ``ds`` by name, else by the CF standard_name they had, and check them.

    Every function that applies a model to a Dataset (prediction, importance,
    response curves) goes through here, so the checks are the same everywhere.

    Parameters
    ----------
    ds : xarray.Dataset
        Holds the drivers, possibly under other names.
    model : Model

    Returns
    -------
    list of hashable
        The variable names in ``ds``, in the model's driver order.

    Raises
    ------
    KeyError
        If any driver is missing; the message names all missing ones and what exists.
    TypeError
        A driver that is not numeric.
    ValueError
        A driver whose ``units`` differ from those the model was trained with.

    Examples
    --------
    >>> import xrann
    >>> model = xrann.datasets.soil_toy().ann.fit(target="co2_flux", seed=0)
    >>> sites = xrann.datasets.soil_toy_sites().rename(soil_moisture="theta")  # keeps its standard_name
    >>> resolve_drivers_for_prediction(sites, model)
    ['theta', 'grain_size']
    """
    found: list[Hashable] = []
    missing: list[str] = []
    for name in model.drivers:
        standard_name = model.driver_attrs.get(name, {}).get("standard_name")
        try:
            found.append(resolve_variable(ds, name, "driver"))
            continue
        except KeyError:
            pass
        try:
            if standard_name:
                found.append(resolve_variable(ds, standard_name, "driver"))
                continue
        except KeyError:
            pass
        missing.append(name)
    if missing:
        raise KeyError(
            f"the model needs drivers {model.drivers} but {missing} are missing from the Dataset "
            f"(looked up by name and by CF standard_name); it has data variables {list(map(str, ds.data_vars))}."
        )
    for driver in found:
        check_numeric(ds, driver, "driver")
    check_units(ds, found, {name_in_ds: model.driver_units[name] for name_in_ds, name in zip(found, model.drivers)})
    return found


def apply_to_grid(
    ds: xr.Dataset,
    model: Model,
    function: Callable[[np.ndarray], np.ndarray],
    *,
    name: str,
    attrs: Mapping[str, Any],
) -> xr.DataArray:
    """Apply ``function`` to the model's drivers at every grid point of ``ds``, as a prediction would be.

    Finds the drivers (by name or CF standard_name), checks their type and
    units, and places the result on the grid `predict_dataset` uses (lazy for
    dask-backed input).

    Parameters
    ----------
    ds : xarray.Dataset
    model : Model
    function : callable
        Maps ``(n, n_drivers)`` driver values, columns in ``model.drivers`` order, to ``(n,)`` floats.
    name : str
    attrs : mapping

    Returns
    -------
    xarray.DataArray
        NaN wherever a driver is NaN or infinite.

    Raises
    ------
    KeyError, ValueError, TypeError
        As `predict_dataset`.

    Examples
    --------
    >>> import xrann
    >>> model = xrann.datasets.soil_toy().ann.fit(target="co2_flux", seed=0)
    >>> apply_to_grid(xrann.datasets.soil_toy(), model, lambda m: m[:, 0], name="m", attrs={}).values
    array([58., 34., 58.])
    """
    drivers = resolve_drivers_for_prediction(ds, model)
    if any(ds[driver].chunks is not None for driver in drivers):
        ds = align_chunks(ds, drivers)  # one chunk grid: blocks (and the result) follow the drivers' chunks
    like = None
    if model.target in ds.data_vars:
        candidate = ds[model.target]
        if all(set(ds[driver].dims) <= set(candidate.dims) for driver in drivers):
            like = candidate
    return predict_on_grid(
        ds,
        drivers,
        function,
        dims=output_dims(ds, drivers, model.sample_dims),
        name=name,
        attrs=attrs,
        like=like,
    )
