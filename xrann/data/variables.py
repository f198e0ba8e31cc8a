"""Find a Dataset's variables by name or CF key, and check that they fit together.

Targets and drivers are looked up by variable name, else through cf-xarray
by CF ``standard_name`` (one lookup path for every use); drivers must be
numeric, lie on the target's grid (static maps are broadcast), and carry the
units a model was trained with.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any

import cf_xarray  # noqa: F401  (registers the .cf accessor)
import numpy as np
import pandas as pd
import xarray as xr

__all__ = [
    "resolve_variable",
    "standard_name_matches",
    "select_variables",
    "select_targets",
    "target_argument",
    "target_names",
    "fit_targets",
    "select_fit_variables",
    "check_numeric",
    "check_driver_dims",
    "check_units",
    "auxiliary_variables",
]


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
    matches = standard_name_matches(ds, key)
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


def standard_name_matches(ds: xr.Dataset, key: Hashable) -> list[Hashable]:
    """The data variables whose CF ``standard_name`` is ``key`` (through cf-xarray).

    Parameters
    ----------
    ds : xarray.Dataset
    key : hashable
        A CF standard name; anything that is not a string matches nothing.

    Returns
    -------
    list of hashable
        Data variable names; coordinates are left out.

    Examples
    --------
    >>> ds = xr.Dataset({"tas": ("x", [280.0], {"standard_name": "air_temperature"}),
    ...                  "tas_copy": ("x", [281.0], {"standard_name": "air_temperature"})})
    >>> standard_name_matches(ds, "air_temperature")
    ['tas', 'tas_copy']
    """
    matches = ds.cf.standard_names.get(key, []) if isinstance(key, str) else []
    return [name for name in matches if name in ds.data_vars]


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
        ``drivers`` not a list of names (e.g. ``drivers=5``), or a non-numeric target or driver.

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
        if isinstance(drivers, np.ndarray):
            drivers = drivers.tolist()
        if isinstance(drivers, (Mapping, set, frozenset)) or not isinstance(drivers, (Sequence, pd.Index)):
            raise TypeError(
                f"drivers must be a list of variable names (or CF standard names) such as ['t2m', 'swdown'], "
                f"or None for every numeric variable on the target's grid; got {drivers!r} ({type(drivers).__name__})."
            )
        unhashable = [key for key in drivers if not isinstance(key, Hashable)]
        if unhashable:
            raise TypeError(
                f"drivers must be a list of variable names such as ['t2m', 'swdown'], got {unhashable[0]!r} in drivers={drivers!r}."
            )
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


def target_argument(target: Any) -> Any:
    """A ``target=`` argument as given: one name, or several as a list (arrays and indexes become lists).

    Parameters
    ----------
    target : hashable, list, tuple, numpy.ndarray or pandas.Index

    Returns
    -------
    hashable or list

    Raises
    ------
    TypeError
        A set or mapping: the targets' order sets the order of the network's outputs.

    Examples
    --------
    >>> target_argument(np.array(["nee", "gpp"]))
    ['nee', 'gpp']
    """
    if isinstance(target, (np.ndarray, pd.Index)):
        target = target.tolist()
    if isinstance(target, (set, frozenset, Mapping)):
        raise TypeError(
            f"target={target!r} has no order, but the targets' order is the order of the network's outputs; "
            "pass a list such as ['nee', 'gpp']."
        )
    if isinstance(target, (list, tuple)):
        names = list(target)
    elif not isinstance(target, (str, bytes)) and isinstance(target, Iterable):  # a generator, a map ...
        target = names = list(target)
    else:
        return target
    unusable = [name for name in names if not isinstance(name, Hashable) or isinstance(name, (list, tuple))]
    if unusable:
        raise TypeError(
            f"target={target!r} must be one variable name or a flat list of names such as ['nee', 'gpp']; "
            f"{unusable[0]!r} is not a name."
        )
    return target


def target_names(target: Hashable | Sequence[Hashable]) -> list[Hashable]:
    """The target names of a fit: one name, or each of a list or tuple of names.

    Parameters
    ----------
    target : hashable or sequence of hashable

    Returns
    -------
    list of hashable

    Examples
    --------
    >>> target_names("nee"), target_names(["nee", "gpp"])
    (['nee'], ['nee', 'gpp'])
    """
    return list(target) if isinstance(target, (list, tuple)) else [target]


def fit_targets(ds: xr.Dataset, target: Any) -> tuple[list[Hashable], Hashable | list[Hashable]]:
    """The resolved targets of a ``target=`` argument, and what to fit: the one name, or the list of names.

    Parameters
    ----------
    ds : xarray.Dataset
    target : hashable or list of hashable
        As given by the user (see `target_argument` and `select_targets`).

    Returns
    -------
    targets : list of hashable
        The variable names.
    fitted : hashable or list of hashable
        ``targets[0]`` for one target, ``targets`` for a list (a model of several targets).

    Examples
    --------
    >>> ds = xr.Dataset({"nee": ("x", [1.0]), "gpp": ("x", [2.0])})
    >>> fit_targets(ds, "nee"), fit_targets(ds, ["nee", "gpp"])
    ((['nee'], 'nee'), (['nee', 'gpp'], ['nee', 'gpp']))
    """
    target = target_argument(target)
    targets = select_targets(ds, target)
    return targets, (targets if isinstance(target, (list, tuple)) else targets[0])


def select_targets(ds: xr.Dataset, target: Hashable | Sequence[Hashable]) -> list[Hashable]:
    """Resolve one target, or a list of several that share their dims, to variable names.

    Parameters
    ----------
    ds : xarray.Dataset
    target : hashable or list of hashable
        A name or CF standard name; a list or tuple of them for a model of several targets.

    Returns
    -------
    list of hashable
        The variable names, in the given order.

    Raises
    ------
    KeyError
        An unknown target.
    ValueError
        An empty list, a target listed twice, or targets on different dims.
    TypeError
        A non-numeric target.

    Examples
    --------
    >>> ds = xr.Dataset({"nee": ("x", [1.0]), "gpp": ("x", [2.0])})
    >>> select_targets(ds, ["nee", "gpp"])
    ['nee', 'gpp']
    """
    target = target_argument(target)
    if not isinstance(target, (list, tuple)):
        name = resolve_variable(ds, target, "target")
        check_numeric(ds, name, "target")
        return [name]
    if len(target) == 0:
        raise ValueError("target=[] is empty; name the variable to predict, or a list of several such as ['nee', 'gpp'].")
    names = [resolve_variable(ds, key, "target") for key in target]
    repeated = sorted({str(name) for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"targets {repeated} are listed more than once in target={list(target)}; list each target once.")
    for name in names:
        check_numeric(ds, name, "target")
    first = names[0]
    for name in names[1:]:
        if set(ds[name].dims) != set(ds[first].dims):
            raise ValueError(
                f"the targets of one model share their grid, but {str(name)!r} has dims {tuple(ds[name].dims)} and "
                f"{str(first)!r} has {tuple(ds[first].dims)}; fit them separately or bring them onto one grid "
                "(e.g. with broadcast_like or interp_like)."
            )
    return names


def select_fit_variables(
    ds: xr.Dataset, targets: Sequence[Hashable], drivers: Sequence[Hashable] | None
) -> tuple[Hashable, list[Hashable]]:
    """The first of the resolved ``targets`` and the drivers, checked against every target.

    Parameters
    ----------
    ds : xarray.Dataset
    targets : sequence of hashable
        Resolved target names (see `select_targets`).
    drivers : sequence of hashable or None
        As `select_variables`; ``None`` selects every numeric variable on the
        targets' grid except the targets.

    Returns
    -------
    target_name : hashable
        The first target.
    driver_names : list of hashable

    Raises
    ------
    ValueError
        A target listed among the drivers; see also `select_variables`.

    Examples
    --------
    >>> ds = xr.Dataset({"nee": ("x", [1.0]), "gpp": ("x", [2.0]), "t2m": ("x", [3.0])})
    >>> select_fit_variables(ds, ["nee", "gpp"], None)
    ('nee', ['t2m'])
    """
    target_name, driver_names = select_variables(ds, targets[0], drivers)
    if drivers is None:
        return target_name, [name for name in driver_names if name not in targets]
    listed = [name for name in targets[1:] if name in driver_names]
    if listed:
        raise ValueError(
            f"target {str(listed[0])!r} is also listed among the drivers {list(map(str, drivers))}; "
            "a network cannot use a variable it predicts. Remove it from drivers."
        )
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
