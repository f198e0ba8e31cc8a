"""Apply a model's function at every grid point of a Dataset: drivers found and checked, result on the exact grid."""

from __future__ import annotations

import os
from collections.abc import Callable, Hashable, Mapping
from typing import Any

import numpy as np
import xarray as xr

from ..data.blocks import align_chunks
from ..data.grid import output_dims, predict_on_grid
from ..data.recipes import RECIPE_ATTR, apply_recipes, leading_nan_steps
from ..data.variables import check_numeric, check_units, resolve_variable, standard_name_matches
from ..model import Model

__all__ = ["resolve_drivers_for_prediction", "apply_to_grid", "check_model", "derive_recipe_drivers"]


def check_model(model: Any) -> None:
    """Raise `TypeError` unless ``model`` is a fitted `Model`, naming how to get one.

    Parameters
    ----------
    model : object
        What the user passed where a model belongs.

    Raises
    ------
    TypeError
        For a path (``str`` or ``os.PathLike``: open it with `xrann.open_model` first) or
        anything else that is not a `Model`.

    Examples
    --------
    >>> check_model("nee_ann.nc")
    Traceback (most recent call last):
    ...
    TypeError: expected a Model, got the path 'nee_ann.nc'; open it first: model = xrann.open_model('nee_ann.nc'), ...
    """
    if isinstance(model, Model):
        return
    if isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        raise TypeError(
            f"expected a Model, got the path {path!r}; open it first: model = xrann.open_model({path!r}), "
            "then pass the model, e.g. ds.ann.predict(model)."
        )
    raise TypeError(
        f"expected a Model, got {type(model).__name__}; pass the Model returned by ds.ann.fit(...) "
        "or xrann.open_model(path)."
    )


def _ambiguity_message(ambiguous: list[tuple[str, str, list[str]]], missing: list[str]) -> str:
    problems = "; ".join(
        f"driver {name!r} is not in the Dataset by name, and {len(names)} variables, {names}, carry its "
        f"CF standard_name {standard_name!r}"
        for name, standard_name, names in ambiguous
    )
    name, _, (first, second, *_) = ambiguous[0]
    fix = (
        f"so xrann cannot tell which one to use. Keep one: drop or rename the others (e.g. ds.drop_vars({second!r})), "
        f"or pass the driver under the model's name (e.g. ds.rename({{{first!r}: {name!r}}}))."
    )
    also = f" The drivers {missing} are missing altogether." if missing else ""
    return f"{problems}, {fix}{also}"


def derive_recipe_drivers(ds: xr.Dataset, model: Model) -> xr.Dataset:
    """``ds`` with the model's recipe drivers recomputed from its raw variables (a shallow copy; lazy for dask).

    Drivers made by a recipe are always recomputed, never taken from a
    variable of the same name the user computed, except those this function
    already derived (marked with the ``xrann_recipe`` attribute).

    Parameters
    ----------
    ds : xarray.Dataset
        Never modified.
    model : Model

    Returns
    -------
    xarray.Dataset
        ``ds`` itself for a model without recipes.

    Raises
    ------
    KeyError
        A raw variable a recipe needs is missing; the message names it and the driver it makes.
    ValueError
        An anomaly or seasonal cycle on another grid than the stored climatology.

    Examples
    --------
    >>> import pandas as pd, xrann
    >>> from xrann import features as F
    >>> time = pd.date_range("2000-01-01", periods=24, freq="MS")
    >>> ds = xr.Dataset({"p": ("time", np.arange(24.0)), "y": ("time", np.arange(24.0) ** 0.5)}, coords={"time": time})
    >>> model = ds.ann.fit(target="y", drivers=[F.lag("p", 1)], seed=0, progress=False)
    >>> derive_recipe_drivers(ds, model)["p_lag1"].values[:3]
    array([nan,  0.,  1.])
    """
    check_model(model)
    pending = [
        recipe for recipe in model.recipes
        if not all(name in ds.data_vars and ds[name].attrs.get(RECIPE_ATTR) == name for name in recipe.names)
    ]
    return apply_recipes(ds, pending, model.climatologies) if pending else ds


def _refuse_stand_in(ds: xr.Dataset, model: Model, name: str, stand_in: Hashable, standard_name: str) -> None:
    """Raise if binding ``stand_in`` (found by ``standard_name``) for the driver ``name`` could be silently wrong."""
    provenance = model.driver_provenance.get(name, {})
    shared = provenance.get("standard_name_shared_with", [])
    trained_steps = provenance.get("leading_nan_steps", 0)
    variable = ds[stand_in]
    steps = None
    if "time" in variable.dims and variable.chunks is None and np.asarray(variable).dtype.kind == "f":
        steps = leading_nan_steps(variable)
    why = None
    if shared:
        why = (
            f"at training, {shared} carried that standard_name too, so it does not identify {name!r} "
            "(a variable made with shift or rolling keeps its source's standard_name)"
        )
    elif trained_steps and steps is not None and steps != trained_steps:
        why = (
            f"{name!r} began with {trained_steps} all-NaN time steps at training (the mark of shift or rolling) "
            f"and {str(stand_in)!r} begins with {steps}, so it is likely the raw, unlagged variable"
        )
    if why:
        raise KeyError(
            f"driver {name!r} is not in the Dataset by name and {str(stand_in)!r} carries its CF standard_name "
            f"{standard_name!r}, but {why}. Refusing to substitute it: compute {name!r} as at training and pass it "
            f"under that name, or refit with a recipe (xrann.features.lag / rolling) that predict recomputes itself."
        )


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

    Drivers made by a recipe are looked up by name only, as
    `derive_recipe_drivers` makes them; a plain driver is never replaced by a
    variable that only shares its standard_name when the model's
    ``driver_provenance`` shows the two may differ (a hand-made lag).

    Raises
    ------
    KeyError
        If any driver is missing; the message names all missing ones and what exists.
        A raw variable a recipe needs is missing. A stand-in found by
        standard_name that may be the raw source of a lagged or windowed driver.
        If a driver is absent by name and several variables carry its CF
        standard_name; the message names them and how to keep one.
    TypeError
        ``model`` is not a `Model` (a path: open it with `xrann.open_model`);
        a driver that is not numeric.
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
    check_model(model)
    ds = derive_recipe_drivers(ds, model)  # a missing raw source fails here, naming it
    made_by_recipes = {name for recipe in model.recipes for name in recipe.names}
    found: list[Hashable] = []
    missing: list[str] = []
    ambiguous: list[tuple[str, str, list[str]]] = []  # (driver, standard_name, the variables carrying it)
    for name in model.drivers:
        standard_name = model.driver_attrs.get(name, {}).get("standard_name")
        keys = [name] + ([standard_name] if standard_name and name not in made_by_recipes else [])
        for key in keys:
            try:
                variable = resolve_variable(ds, key, "driver")
            except KeyError:
                continue
            if key != name:
                _refuse_stand_in(ds, model, name, variable, str(standard_name))
            found.append(variable)
            break
        else:
            matches = [(key, [str(n) for n in standard_name_matches(ds, key)]) for key in keys]
            matches = [(key, names) for key, names in matches if len(names) > 1]
            if matches:
                ambiguous.append((name, *matches[0]))
            else:
                missing.append(name)
    if ambiguous:
        raise KeyError(_ambiguity_message(ambiguous, missing))
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
    ds = derive_recipe_drivers(ds, model)
    drivers = resolve_drivers_for_prediction(ds, model)
    if any(ds[driver].chunks is not None for driver in drivers):
        ds = align_chunks(ds, drivers)  # one chunk grid: blocks (and the result) follow the drivers' chunks
    like = None
    present = next((name for name in model.targets if name in ds.data_vars), None)  # the grid of (the first) target
    if present is not None:
        candidate = ds[present]
        if all(set(ds[driver].dims) <= set(candidate.dims) for driver in drivers):
            like = candidate
    return predict_on_grid(
        ds,
        drivers,
        function,
        dims=output_dims(ds, drivers, ds[present].dims if present is not None else ()),
        name=name,
        attrs=attrs,
        like=like,
    )
