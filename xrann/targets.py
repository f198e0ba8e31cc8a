"""Analyses of a model of several targets: one single-target analysis per target, stacked along a ``target`` dim.

A model fitted with ``target=["nee", "gpp", "reco"]`` has one output node
per target; `xrann.model.Model.for_target` gives the single-target model of
one of them (the same network with only that output). Evaluation,
importance, response curves and Shapley values run on each of these in turn
and `per_target` stacks the results along a ``target`` dim whose labels are
the target names, with each target's ``units`` as the ``target_units``
coordinate (attributes the targets do not share are dropped).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import TypeVar

import numpy as np
import xarray as xr

from .data.variables import resolve_variable
from .model import Model

__all__ = ["per_target", "stack_targets", "resolve_target", "TARGET_DIM"]

#: the dim along which the analyses of several targets are stacked
TARGET_DIM = "target"

Result = TypeVar("Result", xr.DataArray, xr.Dataset)


def stack_targets(
    parts: Sequence[Result], names: Sequence[str], *, units: Sequence[str] | None = None, name: str | None = None
) -> Result:
    """Stack one result per target along a ``target`` dim labelled with the target names.

    Parameters
    ----------
    parts : sequence of xarray.DataArray or xarray.Dataset
        One per target, on the same dims.
    names : sequence of str
        The target names, in the order of ``parts``.
    units : sequence of str, optional
        Each target's units; by default the ``units`` attribute of each part.
    name : str, optional
        Name of the stacked DataArray (the parts' names differ by target).

    Returns
    -------
    xarray.DataArray or xarray.Dataset
        With a leading ``target`` dim and a ``target_units`` coordinate.

    Examples
    --------
    >>> a = xr.DataArray([1.0, 2.0], dims="x", name="y_response", attrs={"units": "g"})
    >>> b = xr.DataArray([3.0, 4.0], dims="x", name="z_response", attrs={"units": "g"})
    >>> stacked = stack_targets([a, b], ["y", "z"], name="response")
    >>> stacked.dims, stacked.target_units.values.tolist(), stacked.attrs
    (('target', 'x'), ['g', 'g'], {'units': 'g'})
    """
    if units is None:
        units = [str(part.attrs.get("units", "")) for part in parts]
    if name is not None:
        parts = [part.rename(name) for part in parts]
    stacked = xr.concat(list(parts), dim=TARGET_DIM, coords="different", compat="equals", combine_attrs="drop_conflicts")
    labels = np.array([str(name) for name in names], dtype=object)
    return stacked.assign_coords({TARGET_DIM: (TARGET_DIM, labels), "target_units": (TARGET_DIM, np.array(list(units), dtype=object))})


def per_target(
    model: Model,
    analysis: Callable[[Model], Result],
    *,
    name: str | None = None,
    check: Callable[[Model], object] | None = None,
) -> Result:
    """``analysis(model)``, or for a model of several targets each target's analysis stacked by `stack_targets`.

    With ``check``, every target's single-target model is checked before any
    analysis runs, so bad input for the last target fails before the first
    target's analysis is computed.

    Parameters
    ----------
    model : Model
    analysis : callable
        Runs a single-target analysis of a model.
    name : str, optional
        Name of a stacked DataArray.
    check : callable, optional
        Raises ``KeyError``, ``ValueError`` or ``TypeError`` for a single-target model the
        analysis cannot run on; the error is re-raised naming the target.

    Returns
    -------
    xarray.DataArray or xarray.Dataset

    Examples
    --------
    >>> import numpy as np, xrann
    >>> x = np.linspace(0.0, 1.0, 30)
    >>> ds = xr.Dataset({"a": ("s", x), "y": ("s", x), "z": ("s", 1 - x)})
    >>> model = ds.ann.fit(target=["y", "z"], drivers=["a"], seed=0, progress=False)
    >>> per_target(model, lambda m: xr.DataArray(m.target_scaler.maximum[0]), name="largest").values.round(3).tolist()
    [1.0, 1.0]
    """
    if not model.several_targets:
        return analysis(model)
    singles = [model.for_target(target) for target in model.targets]
    if check is not None:
        for single in singles:
            try:
                check(single)
            except (KeyError, ValueError, TypeError) as error:
                message = error.args[0] if error.args else str(error)
                raise type(error)(
                    f"for the target {single.target!r} of this model of several targets: {message} "
                    f"(model.for_target(name) gives the model of one target, to analyse the others alone)"
                ) from None
    parts = [analysis(single) for single in singles]
    units = [model.attrs_of_target(target).get("units", "") for target in model.targets]
    return stack_targets(parts, model.targets, units=list(units), name=name)


def resolve_target(ds: xr.Dataset, model: Model, purpose: str, fix: str | None = None) -> Hashable:
    """Name of a single-target model's observed target in ``ds`` (by name, else its CF standard_name).

    Parameters
    ----------
    ds : xarray.Dataset
    model : Model
    purpose : str
        What needs the target, for the message (``"evaluate"``, ``"importance"``).
    fix : str, optional
        What to do instead, for the message (default: pass a Dataset that holds it).

    Returns
    -------
    hashable

    Raises
    ------
    KeyError
        If ``ds`` lacks the target; the message says what ``purpose`` needs it for.

    Examples
    --------
    >>> import xrann
    >>> model = xrann.datasets.soil_toy().ann.fit(target="co2_flux", seed=0)
    >>> resolve_target(xrann.datasets.soil_toy_sites(), model, "importance")
    Traceback (most recent call last):
    ...
    KeyError: "importance needs the observed target 'co2_flux' in the Dataset ...
    """
    for key in (model.target, model.target_attrs.get("standard_name")):
        if key:
            try:
                return resolve_variable(ds, key, "target")
            except KeyError:
                pass
    fix = fix or f"Pass a Dataset that holds {model.target!r}."
    raise KeyError(
        f"{purpose} needs the observed target {model.target!r} in the Dataset to compare predictions with "
        f"(looked up by name and by CF standard_name), but it has only {list(map(str, ds.data_vars))}. {fix}"
    )
