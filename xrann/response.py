"""Response curves (partial dependence): the predicted target along one or two drivers.

The chosen driver is swept across its training range (``model.driver_ranges``)
while every other driver keeps its observed values; the predictions are
averaged over the valid grid points of the Dataset (a seeded random draw of
at most ``max_samples`` of them, so big and dask-backed data cost a bounded
amount). Select a season or region first to get its curve, e.g.
``ds.sel(time=ds.time.dt.season == "JJA").ann.response("swdown")``.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

from .data.extraction import draw_valid_samples
from .data.extra_dims import extra_dims, map_over_extra_dims
from .data.grid import output_dims
from .importance import check_positive_int
from .predict import check_model, derive_recipe_drivers, resolve_drivers_for_prediction
from .targets import per_target

if TYPE_CHECKING:  # pragma: no cover
    from .model import Model

__all__ = ["response_curve", "RESPONSE_MAX_SAMPLES"]

#: default number of grid points the predictions are averaged over
RESPONSE_MAX_SAMPLES = 2_000
#: rows handed to the network at once
_ROWS_PER_BATCH = 200_000


def _model_driver(model: "Model", key: Hashable) -> str:
    if key in model.drivers:
        return str(key)
    by_standard_name = [name for name in model.drivers if model.driver_attrs.get(name, {}).get("standard_name") == key]
    if len(by_standard_name) == 1:
        return by_standard_name[0]
    raise KeyError(f"driver {key!r} is not one of the model's drivers {model.drivers}; choose one of those.")


def response_curve(
    ds: xr.Dataset,
    model: "Model",
    driver: Hashable | Sequence[Hashable],
    *,
    n: int = 50,
    max_samples: int | None = RESPONSE_MAX_SAMPLES,
    seed: int = 0,
) -> xr.DataArray:
    """Partial dependence of the predicted target on one driver (a curve) or two (a surface).

    Parameters
    ----------
    ds : xarray.Dataset
        Supplies the other drivers' observed values (the target is not needed). Never modified.
    model : Model
    driver : hashable or sequence of two hashables
        Model driver name(s) (or their CF standard_name).
    n : int, default 50
        Values per driver, evenly spaced over its training range.
    max_samples : int or None, default 2000
        Average over at most this many randomly drawn (seeded) valid grid
        points; ``None`` uses them all.
    seed : int, default 0

    Returns
    -------
    xarray.DataArray
        ``"<target>_response"`` in the target's units, with one dim per chosen
        driver, named after it, whose coordinate holds the driver's values
        with its ``units`` and ``long_name``; plus any dim of the drivers
        beyond the model's sample dims (``scenario``, ``member``), one curve
        per label.

    Raises
    ------
    KeyError
        A driver the model does not have, or model drivers missing from ``ds``.
    ValueError
        More than two drivers, ``n`` below 2, no valid grid point in ``ds``,
        driver units that differ from training.

    Examples
    --------
    >>> import xrann
    >>> ds = xrann.datasets.soil_toy()
    >>> model = ds.ann.fit(target="co2_flux", seed=0)
    >>> curve = response_curve(ds, model, "soil_moisture", n=5)
    >>> curve.dims, curve["soil_moisture"].values.tolist(), curve["soil_moisture"].attrs["units"]
    (('soil_moisture',), [34.0, 40.0, 46.0, 52.0, 58.0], '%')
    >>> response_curve(ds, model, ["soil_moisture", "grain_size"], n=3).shape
    (3, 3)
    """
    check_model(model)  # a path or anything else fails here, with the fix
    if model.several_targets:  # one curve per target along a "target" dim
        options = dict(n=n, max_samples=max_samples, seed=seed)
        return per_target(model, lambda single: response_curve(ds, single, driver, **options), name="response")
    keys = [driver] if isinstance(driver, (str, bytes)) or not isinstance(driver, Sequence) else list(driver)
    chosen = [_model_driver(model, key) for key in keys]
    if not 1 <= len(chosen) <= 2 or len(set(chosen)) != len(chosen):
        raise ValueError(f"driver={driver!r}: give one driver for a curve or two different drivers for a surface.")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise ValueError(f"n={n!r} must be an integer of at least 2 (values per driver).")
    if max_samples is not None:
        max_samples = check_positive_int(max_samples, "max_samples")
    ds = derive_recipe_drivers(ds, model)  # recipe drivers recomputed from the raw variables
    found = resolve_drivers_for_prediction(ds, model)
    extra = extra_dims(ds, found, model.sample_dims)
    if extra:  # one curve per member, scenario, ...: never pooled
        return map_over_extra_dims(
            ds, extra, lambda part: response_curve(part, model, driver, n=n, max_samples=max_samples, seed=seed)
        ).transpose(*chosen, ...)
    observed = draw_valid_samples(ds, found, output_dims(ds, found), max_samples=max_samples, seed=seed)
    if observed.shape[0] == 0:
        raise ValueError(
            f"no grid point of the Dataset has finite values of every driver {model.drivers}; "
            "the response is averaged over observed driver values, so select data where they exist."
        )

    columns = [model.drivers.index(name) for name in chosen]
    axes = [np.linspace(*model.driver_ranges[name], n) for name in chosen]
    settings = np.stack([grid.ravel() for grid in np.meshgrid(*axes, indexing="ij")], axis=1)
    n_observed = observed.shape[0]
    per_batch = max(1, _ROWS_PER_BATCH // n_observed)
    mean = np.empty(settings.shape[0])
    for start in range(0, settings.shape[0], per_batch):
        batch = settings[start : start + per_batch]
        matrix = np.tile(observed, (batch.shape[0], 1))
        for position, column in enumerate(columns):
            matrix[:, column] = np.repeat(batch[:, position], n_observed)
        mean[start : start + batch.shape[0]] = model.predict_array(matrix).reshape(batch.shape[0], n_observed).mean(axis=1)

    coords = {
        name: (name, axis, {key: value for key, value in model.driver_attrs.get(name, {}).items()})
        for name, axis in zip(chosen, axes)
    }
    attrs = {key: model.target_attrs[key] for key in ("units",) if key in model.target_attrs}
    attrs["long_name"] = (
        f"partial dependence of {model.target} on {' and '.join(chosen)} "
        f"(mean prediction over {n_observed} grid points, other drivers as observed)"
    )
    return xr.DataArray(mean.reshape([n] * len(chosen)), dims=chosen, coords=coords, name=f"{model.target}_response", attrs=attrs)
