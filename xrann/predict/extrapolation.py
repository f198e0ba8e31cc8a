"""Where a model extrapolates: driver values outside the training range or the training envelope.

A network is only trustworthy where it has seen data. Two flags describe how
far a grid point's drivers are from the training samples:

* ``outside_range``: some driver lies outside its training minimum-maximum
  (``model.driver_ranges``), which is exactly what the min-max scaling records;
* ``envelope_distance``: distance, in scaled driver space, to the nearest
  centroid of the model's training envelope (`xrann.core.envelope`), in units
  of the training samples' 95th percentile distance. Values above 1 are unusual.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from ..core.envelope import ENVELOPE_QUANTILE
from ..model import Model
from .grid import apply_to_grid, check_model

__all__ = ["extrapolation_flags", "mask_extrapolated", "resolve_threshold", "DEFAULT_DISTANCE_THRESHOLD"]

#: envelope distance above which ``predict(mask_extrapolation=True)`` masks a grid point
DEFAULT_DISTANCE_THRESHOLD = 2.0


def _outside_range(drivers: np.ndarray, minimum: np.ndarray, maximum: np.ndarray) -> np.ndarray:
    return ((drivers < minimum) | (drivers > maximum)).any(axis=1).astype(np.float64)


def _envelope_distance(drivers: np.ndarray, model: Model) -> np.ndarray:
    if model.envelope is None:
        return np.full(drivers.shape[0], np.nan)
    return model.envelope.distance(model.driver_scaler.transform(drivers))


def extrapolation_flags(ds: xr.Dataset, model: Model) -> xr.Dataset:
    """Flag the grid points of ``ds`` where ``model`` extrapolates (lazy for dask-backed input).

    Parameters
    ----------
    ds : xarray.Dataset
        Needs the model's drivers (looked up by name or CF standard_name). Never modified.
    model : Model

    Returns
    -------
    xarray.Dataset
        On the grid a prediction would have: boolean ``outside_range`` (some
        driver outside its training range; ``False`` where a driver is missing)
        and float ``envelope_distance`` (distance to the training envelope in
        units of the training samples' 95th percentile distance; above 1 is
        unusual; NaN where a driver is missing, and everywhere for models saved
        without an envelope, i.e. by xrann before format version 2).

    Raises
    ------
    KeyError
        The model's drivers are missing from ``ds``.
    ValueError
        Driver units differ from training.

    Examples
    --------
    >>> import xrann
    >>> model = xrann.datasets.soil_toy().ann.fit(target="co2_flux", seed=0)
    >>> extrapolation_flags(xrann.datasets.soil_toy_sites(), model)["outside_range"].values
    array([ True,  True, False,  True,  True,  True])
    """
    check_model(model)  # a path or anything else fails here, with the fix
    minimum, maximum = model.driver_scaler.minimum, model.driver_scaler.maximum
    outside = apply_to_grid(
        ds, model, lambda drivers: _outside_range(drivers, minimum, maximum), name="outside_range", attrs={}
    )
    distance = apply_to_grid(
        ds,
        model,
        lambda drivers: _envelope_distance(drivers, model),
        name="envelope_distance",
        attrs={
            "long_name": "distance to the training envelope",
            "units": "1",
            "description": (
                "distance in scaled driver space to the nearest k-means centroid of the training samples, "
                f"divided by the {ENVELOPE_QUANTILE:.0%} quantile of the training samples' distances; above 1 is unusual"
            ),
        },
    )
    outside = (outside > 0.5).rename("outside_range")
    outside.attrs = {"long_name": "some driver outside its training range"}
    return xr.Dataset({"outside_range": outside, "envelope_distance": distance})


def resolve_threshold(threshold: Any) -> float:
    """The envelope distance above which ``mask_extrapolation`` masks a prediction.

    Parameters
    ----------
    threshold : True or positive float
        ``True`` means `DEFAULT_DISTANCE_THRESHOLD`.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        Anything but ``True`` or a positive number.

    Examples
    --------
    >>> resolve_threshold(True), resolve_threshold(1.5)
    (2.0, 1.5)
    """
    if threshold is True:
        return DEFAULT_DISTANCE_THRESHOLD
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.floating, np.integer)) or not threshold > 0:
        raise ValueError(
            f"mask_extrapolation={threshold!r} is not understood; pass True (envelope distance threshold "
            f"{DEFAULT_DISTANCE_THRESHOLD}) or a positive envelope distance such as 1.5."
        )
    return float(threshold)


def mask_extrapolated(prediction: Any, ds: xr.Dataset, model: Model, threshold: bool | float = True) -> Any:
    """Set a prediction to NaN where the drivers lie outside the training range or envelope.

    Parameters
    ----------
    prediction : xarray.DataArray or xarray.Dataset
        Predictions of ``model`` on the grid of ``ds``.
    ds : xarray.Dataset
        The Dataset the prediction was made on.
    model : Model
    threshold : True or float
        Envelope distance above which a point is masked; ``True`` uses
        `DEFAULT_DISTANCE_THRESHOLD`. Points outside the training range are always masked.

    Returns
    -------
    xarray.DataArray or xarray.Dataset
        Same type, lazy when ``prediction`` is.

    Raises
    ------
    ValueError
        A threshold that is not positive.

    Examples
    --------
    >>> import xrann
    >>> model = xrann.datasets.soil_toy().ann.fit(target="co2_flux", seed=0)
    >>> sites = xrann.datasets.soil_toy_sites()
    >>> int(mask_extrapolated(sites.ann.predict(model), sites, model).count())
    1
    """
    limit = resolve_threshold(threshold)
    flags = extrapolation_flags(ds, model)
    keep = ~flags["outside_range"] & ~(flags["envelope_distance"] > limit)
    masked = prediction.where(keep)
    if isinstance(masked, xr.DataArray):
        masked.attrs = dict(prediction.attrs)
    return masked
