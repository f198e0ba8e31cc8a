"""Permutation importance of each driver: how much worse the model gets when a driver is shuffled.

For every driver, its values are permuted across the samples (breaking its
link to the target while keeping its distribution and the other drivers
intact) and the increase of the mean squared error over the unshuffled
baseline is recorded, ``n_repeats`` times. A driver the model ignores scores
about zero; one it depends on scores high. Importance can be computed
separately within groups (``dim="time.season"``) or on any selected region
(pass ``ds.sel(...)``).

Memory: the drivers and the target are loaded at the valid grid points only,
``n_samples x (n_drivers + 1)`` float64, plus one working copy of the drivers
of one group and its predictions. For dask-backed input only this matrix
(and one boolean per grid point) is computed; the numbers equal those for the
same data in numpy for the same seed. ``max_samples`` bounds the matrix by a
seeded random draw of grid points.
"""

from __future__ import annotations

import re
from collections.abc import Hashable
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from .data.extra_dims import extra_dims, map_over_extra_dims
from .data.extraction import draw_valid_samples
from .predict import check_model, derive_recipe_drivers, resolve_drivers_for_prediction
from .targets import per_target, resolve_target

if TYPE_CHECKING:  # pragma: no cover
    from .model import Model

__all__ = ["driver_importance"]

_GROUP_CODE = "__xrann_group_code__"


def check_positive_int(value: Any, name: str) -> int:
    """``value`` as an int, or `ValueError` naming ``name`` unless it is a positive integer.

    Examples
    --------
    >>> check_positive_int(5, "n_repeats")
    5
    >>> check_positive_int(0, "n_repeats")
    Traceback (most recent call last):
    ...
    ValueError: n_repeats=0 must be a positive integer, e.g. n_repeats=5.
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}={value!r} must be a positive integer, e.g. {name}=5.")
    return int(value)


def squared_units(units: str | None) -> str:
    """Units of a squared quantity (e.g. of a mean squared error), each factor's exponent doubled.

    Examples
    --------
    >>> squared_units("umol m-2 s-1")
    'umol2 m-4 s-2'
    >>> squared_units("K"), squared_units("1"), squared_units("W/m2")
    ('K2', '1', '(W/m2)^2')
    """
    if not units:
        return ""
    if units.strip() == "1":
        return "1"
    factors = []
    for token in units.split():
        match = re.fullmatch(r"([A-Za-z%]+)(-?\d+)?", token)
        if match is None:
            return f"({units})^2"
        factors.append(f"{match.group(1)}{2 * int(match.group(2) or 1)}")
    return " ".join(factors)


def _group_labels(ds: xr.Dataset, dim: Hashable, sample_dims: tuple[Hashable, ...]) -> xr.DataArray:
    try:
        labels = ds[dim]
    except (KeyError, AttributeError):
        raise KeyError(
            f"dim={dim!r} is neither a variable, a coordinate nor a virtual variable such as 'time.season' "
            f"of the Dataset; it has dims {tuple(map(str, ds.dims))} and coordinates {list(map(str, ds.coords))}."
        ) from None
    extra = [d for d in labels.dims if d not in sample_dims]
    if extra:
        raise ValueError(
            f"dim={dim!r} varies along {extra}, which the target (dims {sample_dims}) lacks; "
            "group by labels on the target's grid, e.g. 'time.season' or 'time.year'."
        )
    return labels


def _permutation_scores(
    model: "Model", drivers: np.ndarray, target: np.ndarray, n_repeats: int, rng: np.random.Generator
) -> tuple[np.ndarray, float]:
    """``(n_repeats, n_drivers)`` MSE increases and the baseline MSE for one group of samples."""
    n_samples, n_drivers = drivers.shape
    scores = np.full((n_repeats, n_drivers), np.nan)
    if n_samples == 0:
        return scores, float("nan")
    baseline = float(np.mean((model.predict_array(drivers) - target) ** 2))
    shuffled = drivers.copy()
    for repeat in range(n_repeats):
        for column in range(n_drivers):
            shuffled[:, column] = drivers[rng.permutation(n_samples), column]
            scores[repeat, column] = np.mean((model.predict_array(shuffled) - target) ** 2) - baseline
            shuffled[:, column] = drivers[:, column]
    return scores, baseline


def driver_importance(
    ds: xr.Dataset,
    model: "Model",
    *,
    n_repeats: int = 5,
    seed: int = 0,
    dim: Hashable | None = None,
    max_samples: int | None = None,
) -> xr.Dataset:
    """Permutation importance of each driver of ``model`` on the samples of ``ds``.

    Parameters
    ----------
    ds : xarray.Dataset
        Holds the model's drivers and observed target (select a region or
        period first to compute importance there). Never modified.
    model : Model
    n_repeats : int, default 5
        Shuffles per driver; the result reports their mean and standard deviation.
    seed : int, default 0
        Seeds the shuffles (and the draw of ``max_samples``).
    dim : hashable, optional
        Group samples by these labels and compute importance within each
        group, e.g. ``"time.season"`` (the result gains a ``season`` dim) or a
        coordinate such as ``"region"``.
    max_samples : int, optional
        Use at most this many (seeded, randomly drawn) valid grid points per call.

    Returns
    -------
    xarray.Dataset
        Dim ``driver`` (in the model's driver order), plus the group dim if
        ``dim`` is given, plus any dim of the data beyond the model's sample
        dims (``member``, ``scenario``: one importance per label): ``importance`` (mean MSE increase when the driver is
        shuffled, in squared target units), ``importance_std`` (standard
        deviation over repeats), ``baseline_mse`` and ``n_samples``.

    Raises
    ------
    ValueError
        ``n_repeats`` or ``max_samples`` below 1; grouping labels off the target's grid;
        driver units that differ from training.
    KeyError
        The target or a driver missing from ``ds``; an unknown ``dim``.

    Examples
    --------
    >>> import xrann
    >>> ds = xrann.datasets.soil_toy(dry=True)
    >>> model = ds.ann.fit(target="co2_flux", seed=0, epochs=200)
    >>> result = driver_importance(ds, model, n_repeats=3)
    >>> result["importance"].dims, result["importance"].attrs["units"]
    (('driver',), '1')
    """
    check_model(model)  # a path or anything else fails here, with the fix
    if model.several_targets:  # the importance for each target along a "target" dim
        options = dict(n_repeats=n_repeats, seed=seed, dim=dim, max_samples=max_samples)
        return per_target(
            model, lambda single: driver_importance(ds, single, **options),
            check=lambda single: resolve_target(ds, single, "importance"),
        )
    n_repeats = check_positive_int(n_repeats, "n_repeats")
    if max_samples is not None:
        max_samples = check_positive_int(max_samples, "max_samples")
    target = resolve_target(ds, model, "importance")
    ds = derive_recipe_drivers(ds, model)  # recipe drivers recomputed from the raw variables
    drivers = resolve_drivers_for_prediction(ds, model)
    extra = extra_dims(ds, [*drivers, target], model.sample_dims)
    if extra:  # one importance per member, scenario, ...: never pooled
        per_label = map_over_extra_dims(
            ds, extra,
            lambda part: driver_importance(part, model, n_repeats=n_repeats, seed=seed, dim=dim, max_samples=max_samples),
        )
        return per_label.transpose("driver", ...)
    sample_dims = tuple(ds[target].dims)
    names = list(drivers) + [target]
    work = ds
    group_values: np.ndarray | None = None
    group_name: Hashable | None = None
    if dim is not None:
        labels = _group_labels(ds, dim, sample_dims)
        group_values, codes = np.unique(np.asarray(labels.values), return_inverse=True)
        group_name = labels.name if labels.name is not None else dim
        work = ds.assign({_GROUP_CODE: (labels.dims, codes.reshape(labels.shape))})
        names.append(_GROUP_CODE)

    matrix = draw_valid_samples(work, names, sample_dims, max_samples=max_samples, seed=seed)
    driver_values, target_values = matrix[:, : len(drivers)], matrix[:, len(drivers)]
    group_codes = matrix[:, -1].astype(int) if group_values is not None else np.zeros(matrix.shape[0], dtype=int)
    rng = np.random.default_rng(seed)
    n_groups = 1 if group_values is None else len(group_values)
    scores = np.empty((n_groups, n_repeats, len(drivers)))
    baselines = np.empty(n_groups)
    counts = np.empty(n_groups, dtype=np.int64)
    for group in range(n_groups):
        in_group = group_codes == group
        counts[group] = int(in_group.sum())
        scores[group], baselines[group] = _permutation_scores(
            model, driver_values[in_group], target_values[in_group], n_repeats, rng
        )

    units = squared_units(model.target_attrs.get("units"))
    unit_attrs = {"units": units} if units else {}
    result = xr.Dataset(
        {
            "importance": (("group", "driver"), scores.mean(axis=1), {
                "long_name": f"increase of the mean squared error of {model.target} when the driver is shuffled",
                **unit_attrs,
            }),
            "importance_std": (("group", "driver"), scores.std(axis=1), {
                "long_name": f"standard deviation of the importance over {n_repeats} shuffles",
                **unit_attrs,
            }),
            "baseline_mse": ("group", baselines, {"long_name": f"mean squared error of {model.target}", **unit_attrs}),
            "n_samples": ("group", counts, {"long_name": "valid samples used"}),
        },
        coords={"driver": ("driver", np.array(model.drivers, dtype=object))},
        attrs={"n_repeats": n_repeats, "seed": seed, "method": "permutation importance"},
    )
    if group_values is None:
        return result.isel(group=0, drop=True)
    result = result.rename({"group": group_name}).assign_coords({group_name: group_values})
    return result.transpose("driver", group_name)
