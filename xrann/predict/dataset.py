"""`predict_dataset`: a model (single or ensemble) applied on the grid of a Dataset, lazily for dask input."""

from __future__ import annotations

import dataclasses

import numpy as np
import xarray as xr

from ..model import Model
from .extrapolation import mask_extrapolated, resolve_threshold
from .grid import apply_to_grid, check_model

__all__ = ["predict_dataset", "predict_ensemble", "member_models"]


def predict_dataset(
    ds: xr.Dataset,
    model: Model,
    *,
    members: bool = False,
    std: bool = False,
    mask_extrapolation: bool | float = False,
) -> xr.DataArray | xr.Dataset:
    """Predict ``model.target`` on the grid of ``ds`` (lazy for dask-backed input).

    Parameters
    ----------
    ds : xarray.Dataset
        Needs the model's drivers (the target is not needed). Never modified.
    model : Model
        A fitted model; a path must be opened with `xrann.open_model` first.
    members : bool, default False
        For an ensemble, every member's prediction along a new ``member`` dim
        (see `predict_ensemble`).
    std : bool, default False
        For an ensemble, a Dataset with the mean ``"<target>_predicted"`` and
        the members' spread ``"<target>_predicted_std"``.
    mask_extrapolation : bool or float, default False
        NaN where a driver is outside its training range or the envelope
        distance exceeds this threshold (``True``: 2); see `xrann.predict.extrapolation`.

    Returns
    -------
    xarray.DataArray or xarray.Dataset
        Named ``"<target>_predicted"``, with the target's ``units`` and
        ``long_name``; on the target's exact grid when ``ds`` has the target,
        else on the drivers' grid with the training dim order. NaN wherever a
        driver is NaN or infinite. An ensemble predicts its members' mean.
        A model of several targets gives a Dataset with one such variable per
        target (and their ``_std`` and ``_members`` where asked).

    Raises
    ------
    KeyError
        Drivers missing from ``ds``.
    ValueError
        Driver units that differ from the training units; ``members`` or
        ``std`` for a single model.
    TypeError
        ``model`` is not a `Model` (e.g. a path to a model file: open it with
        ``xrann.open_model(path)`` first); non-numeric drivers.

    Examples
    --------
    >>> import xrann
    >>> model = xrann.datasets.soil_toy().ann.fit(target="co2_flux", seed=0)
    >>> predict_dataset(xrann.datasets.soil_toy_sites(), model).dims
    ('site',)
    """
    check_model(model)  # a path or anything else fails here, naming xrann.open_model
    if mask_extrapolation is not False:
        resolve_threshold(mask_extrapolation)  # a bad value fails before any prediction runs
    if model.several_targets:  # one "<target>_predicted" (and _std, _members) per target, from its output node
        options = dict(members=members, std=std, mask_extrapolation=mask_extrapolation)
        parts = [predict_dataset(ds, model.for_target(name), **options) for name in model.targets]
        return xr.merge([part.to_dataset() if isinstance(part, xr.DataArray) else part for part in parts], join="exact")
    if members or std:
        return predict_ensemble(ds, model, members=members, std=std, mask_extrapolation=mask_extrapolation)
    attrs = {key: model.target_attrs[key] for key in ("units", "long_name") if key in model.target_attrs}
    prediction = apply_to_grid(ds, model, model.predict_array, name=f"{model.target}_predicted", attrs=attrs)
    if mask_extrapolation is not False:
        prediction = mask_extrapolated(prediction, ds, model, mask_extrapolation)
    return prediction


def member_models(model: Model) -> list[Model]:
    """Each member of an ensemble as a single `Model` (sharing scaling and metadata).

    Parameters
    ----------
    model : Model
        An ensemble.

    Returns
    -------
    list of Model

    Raises
    ------
    ValueError
        If ``model`` is a single model.

    Examples
    --------
    >>> import xrann
    >>> model = xrann.datasets.soil_toy().ann.fit(target="co2_flux", seed=0, epochs=10, members=3)
    >>> [member.n_members for member in member_models(model)]
    [1, 1, 1]
    """
    if model.ensemble is None:
        raise ValueError(
            "this model is a single network, not an ensemble, so it has no members; "
            "fit an ensemble with ds.ann.fit(..., members=10) to get members and their spread."
        )
    return [dataclasses.replace(model, core=core) for core in model.core.members]


def predict_ensemble(
    ds: xr.Dataset,
    model: Model,
    *,
    members: bool = False,
    std: bool = False,
    mask_extrapolation: bool | float = False,
) -> xr.DataArray | xr.Dataset:
    """Every member's prediction, or the ensemble mean and spread, on the grid of ``ds`` (lazy for dask input).

    Parameters
    ----------
    ds : xarray.Dataset
        Needs the model's drivers. Never modified.
    model : Model
        An ensemble.
    members : bool, default False
        Return each member's prediction along a leading ``member`` dim.
    std : bool, default False
        Return a Dataset with the mean ``"<target>_predicted"`` (identical to
        ``predict()``) and the members' standard deviation
        ``"<target>_predicted_std"`` (``ddof=1``); with ``members=True`` it also
        holds ``"<target>_predicted_members"``.
    mask_extrapolation : bool or float, default False
        See `xrann.predict.extrapolation.mask_extrapolated`.

    Returns
    -------
    xarray.DataArray or xarray.Dataset

    Raises
    ------
    ValueError
        If ``model`` is a single model.

    Examples
    --------
    >>> import xrann
    >>> model = xrann.datasets.soil_toy().ann.fit(target="co2_flux", seed=0, epochs=10, members=3)
    >>> sites = xrann.datasets.soil_toy_sites()
    >>> predict_ensemble(sites, model, members=True).dims
    ('member', 'site')
    >>> list(predict_ensemble(sites, model, std=True).data_vars)
    ['co2_flux_predicted', 'co2_flux_predicted_std']
    """
    per_member = [predict_dataset(ds, member) for member in member_models(model)]
    stacked = xr.concat(per_member, dim="member", combine_attrs="override")
    stacked = stacked.assign_coords(member=np.arange(len(per_member)))
    name = f"{model.target}_predicted"
    if std:
        # members are all NaN or all finite at a point, so NaN-skipping (which warns on all-NaN points) is not needed
        spread = stacked.std("member", ddof=1 if len(per_member) > 1 else 0, skipna=False, keep_attrs=True)
        spread.attrs["long_name"] = f"standard deviation of the {len(per_member)} ensemble members' {model.target}"
        result = xr.Dataset({name: predict_dataset(ds, model), f"{name}_std": spread})
        if members:
            result[f"{name}_members"] = stacked
    else:
        result = stacked
    if mask_extrapolation is not False:
        result = mask_extrapolated(result, ds, model, mask_extrapolation)
    return result
