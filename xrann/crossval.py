"""Leave-groups-out cross-validation: one model per fold, scored on the groups it never saw.

Samples are grouped by year (``by="time.year"``), by any dim, by contiguous
spatial blocks (``by="space", block={"lat": 10, "lon": 10}``), by a map of
labels (biomes, regions), or by several of these at once (see `xrann.folds`).
Every combination of ``leave_out`` groups is held out once: with 9 years and
``leave_out=2`` that is 36 folds, as in the NEE study this package follows.
A fold's model is trained on the remaining samples only (minus a ``buffer``
around a held-out block); the held-out samples are used for scoring and
prediction, never for training or early stopping. ``keep_models=True`` also
returns the fold models as one ensemble model (the study's year-pair
ensemble with ``leave_out=2``).

Folds run in parallel on a `dask.distributed` cluster when a client is active
(``from dask.distributed import Client; client = Client()``), else one after
another in this process (the numpy training loop holds the GIL, so threads
would not help).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from .evaluation import area_weights, find_cell_area
from .core.progress import progress_bar_class, wants_progress
from .data.recipes import apply_recipes, check_recipes, driver_provenance, recipe_drivers, seasonal_climatology, split_drivers
from .data.variables import fit_targets, select_fit_variables, target_names
from .features import Anomaly, Recipe, SeasonalCycle
from .fit import fit_dataset
from .fit.ensemble import combine_models
from .fit.settings import FitSettings
from .folds import fold_groups, make_folds
from .model import Model
from .metrics import scores
from .predict import predict_dataset
from .targets import stack_targets

__all__ = [
    "cross_validate", "fold_groups", "fit_fold", "full_mask", "score_fold", "score_targets", "bare_arrays",
    "bare_targets", "run_folds", "fold_drivers", "FoldDrivers",
]


def full_mask(mask: np.ndarray | xr.DataArray, observed: xr.DataArray) -> np.ndarray:
    """A boolean mask as a numpy array on all of ``observed``'s dims, in its order.

    Parameters
    ----------
    mask : numpy.ndarray or xarray.DataArray
        A DataArray on some of the dims (broadcast), or an array already on all of them.
    observed : xarray.DataArray

    Returns
    -------
    numpy.ndarray

    Examples
    --------
    >>> full_mask(xr.DataArray([True, False], dims="x"), xr.DataArray(np.zeros((2, 3)), dims=("y", "x"))).shape
    Traceback (most recent call last):
    ...
    ValueError: the mask has 2 positions along 'x', the target 3.
    >>> int(full_mask(xr.DataArray([True, False, True], dims="x"), xr.DataArray(np.zeros((2, 3)), dims=("y", "x"))).sum())
    4
    """
    if not isinstance(mask, xr.DataArray):
        return np.asarray(mask, dtype=bool)
    for dim in mask.dims:
        if mask.sizes[dim] != observed.sizes.get(dim):
            raise ValueError(f"the mask has {mask.sizes[dim]} positions along {dim!r}, the target {observed.sizes.get(dim)}.")
    bare = xr.DataArray(mask.values, dims=mask.dims)
    shape = xr.DataArray(np.empty(observed.shape, dtype=bool), dims=observed.dims)
    return bare.broadcast_like(shape).transpose(*observed.dims).values


def _crop(mask: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per axis, the positions where ``mask`` has any True (the bounding index of a fold's samples)."""
    return tuple(
        np.flatnonzero(mask.any(axis=tuple(i for i in range(mask.ndim) if i != axis))) for axis in range(mask.ndim)
    )


@dataclass
class FoldDrivers:
    """The drivers every fold trains on: recipe drivers derived once, on the whole Dataset.

    Attributes
    ----------
    ds : xarray.Dataset
        A shallow copy of the user's Dataset with the recipe drivers added (the Dataset itself without recipes).
    drivers : list of hashable
        Plain driver names, then the recipes' driver names.
    recipes : tuple of Recipe
    climatologies : dict of str to xarray.DataArray
        Each anomaly or seasonal-cycle source's mean per month over the whole Dataset.
    provenance : dict
        What identifies each plain driver (see `xrann.data.recipes.driver_provenance`).

    Examples
    --------
    >>> ds = xr.Dataset({"a": ("x", [1.0, 2.0]), "y": ("x", [0.0, 1.0])})
    >>> found = fold_drivers(ds, ["y"], ["a"])
    >>> found.drivers, found.recipes, found.ds is ds
    (['a'], (), True)
    """

    ds: xr.Dataset
    drivers: list[Hashable]
    recipes: tuple[Recipe, ...] = ()
    climatologies: dict[str, xr.DataArray] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)

    def carried_by(self, model: Model) -> Model:
        """``model`` (made of fold models) with the recipes, so it recomputes them from raw drivers at prediction."""
        if not self.recipes:
            return model
        return dataclasses.replace(
            model, recipes=self.recipes, climatologies=self.climatologies, driver_provenance=self.provenance
        )


def fold_drivers(ds: xr.Dataset, targets: Sequence[Hashable], drivers: Sequence[Any] | None) -> FoldDrivers:
    """Resolve the drivers of cross-validation, deriving any recipe drivers once on the whole Dataset.

    Lags, windows and calendar encodings are derived as `predict` would, from
    the whole time series, so a fold's first held-out month has last month's
    value. The climatology of an anomaly or seasonal cycle is each cell's mean
    per month of the *driver* over the whole Dataset (no target enters it), the
    same for every fold, so the fold models can form one ensemble.

    Parameters
    ----------
    ds : xarray.Dataset
        Never modified.
    targets : sequence of hashable
        Resolved target names.
    drivers : sequence of hashable or Recipe, or None

    Returns
    -------
    FoldDrivers

    Raises
    ------
    ValueError
        A recipe that cannot be applied (see `xrann.data.recipes.check_recipes`).

    Examples
    --------
    >>> import pandas as pd
    >>> from xrann import features as F
    >>> time = pd.date_range("2000-01-01", periods=24, freq="MS")
    >>> ds = xr.Dataset({"p": ("time", np.arange(24.0)), "y": ("time", np.arange(24.0))}, coords={"time": time})
    >>> found = fold_drivers(ds, ["y"], [F.lag("p", 1)])
    >>> found.drivers, found.ds["p_lag1"].values[:2]
    (['p_lag1'], array([nan,  0.]))
    """
    plain, recipes = split_drivers(drivers)
    if not recipes:
        return FoldDrivers(ds, select_fit_variables(ds, list(targets), drivers)[1])
    plain_names = select_fit_variables(ds, list(targets), plain)[1] if plain else []
    for name in targets:
        check_recipes(ds, recipes, name, plain_names)
    climatologies = {
        recipe.source: seasonal_climatology(ds, recipe) for recipe in recipes if isinstance(recipe, (Anomaly, SeasonalCycle))
    }
    provenance = driver_provenance(ds, plain_names)
    derived = apply_recipes(ds, recipes, climatologies)
    return FoldDrivers(derived, [*plain_names, *recipe_drivers(recipes)], tuple(recipes), climatologies, provenance)


def fit_fold(
    data: xr.Dataset,
    target: Hashable | list[Hashable],
    drivers: list[Hashable],
    held_out: np.ndarray | xr.DataArray,
    excluded: np.ndarray | xr.DataArray,
    settings: dict,
    keep_model: bool,
) -> tuple[tuple[np.ndarray, ...], np.ndarray, int, Model | None]:
    """Train one fold's model on the samples it keeps and predict the samples it holds out.

    Parameters
    ----------
    data : xarray.Dataset
        The target and drivers, in memory.
    target : hashable or list of hashable
        One target, or a list of several (one model with an output each).
    drivers : list of hashable
    held_out, excluded : numpy.ndarray or xarray.DataArray
        Boolean masks: samples to predict, samples not to train on. Arrays on
        the target's dims, or DataArrays on some of them
        (`xrann.folds.Folds.held_out`, `xrann.folds.Folds.excluded`; small to
        send to a worker, broadcast here).
    settings : dict
        Passed to `xrann.fit.fit_dataset`.
    keep_model : bool
        Return the model too.

    Returns
    -------
    index : tuple of numpy.ndarray
        Per dim of the target, the positions of the fold's bounding box.
    predicted : numpy.ndarray
        Predictions on that box, NaN outside the held-out samples (with a
        leading axis of one row per target for a list of targets).
    n_training : int
    model : Model or None

    Examples
    --------
    >>> ds = xr.Dataset({"y": ("x", np.linspace(0.0, 1.0, 6)), "a": ("x", np.linspace(0.0, 2.0, 6))})
    >>> held = np.array([False, False, True, True, False, False])
    >>> index, predicted, n, _ = fit_fold(ds, "y", ["a"], held, held, {"method": "linear"}, False)
    >>> index[0].tolist(), predicted.round(3).tolist(), n
    ([2, 3], [0.4, 0.6], 4)
    """
    targets = target_names(target)
    observed = data[targets[0]]
    dims = observed.dims
    held_out, excluded = full_mask(held_out, observed), full_mask(excluded, observed)
    training_index = _crop(~excluded)
    training = data.isel(dict(zip(dims, training_index)))
    keep = ~excluded[np.ix_(*training_index)]
    if not keep.all():
        training = training.assign({name: training[name].where(xr.DataArray(keep, dims=dims)) for name in targets})
    model = fit_dataset(training, target, drivers, progress=False, **settings)
    test_index = _crop(held_out)
    prediction = predict_dataset(data.isel(dict(zip(dims, test_index))), model)
    if isinstance(prediction, xr.Dataset):  # several targets: one row each
        predicted = np.stack([prediction[f"{name}_predicted"].transpose(*dims).values for name in targets])
    else:
        predicted = prediction.transpose(*dims).values
    predicted = np.where(held_out[np.ix_(*test_index)], predicted, np.nan)
    return test_index, predicted, model.sample_counts["training"], model if keep_model else None


def bare_arrays(observed: xr.DataArray, weights: xr.DataArray | None) -> tuple[xr.DataArray, xr.DataArray | None]:
    """The target and its weights without coordinates, for scoring many folds fast (nothing to align).

    Parameters
    ----------
    observed : xarray.DataArray
    weights : xarray.DataArray or None
        On some of the target's dims.

    Returns
    -------
    tuple of xarray.DataArray (or None for absent weights)

    Examples
    --------
    >>> bare, _ = bare_arrays(xr.DataArray([1.0], dims="x", coords={"x": [5]}), None)
    >>> list(bare.coords)
    []
    """
    bare = xr.DataArray(observed.values, dims=observed.dims, attrs=observed.attrs)
    return bare, None if weights is None else xr.DataArray(np.asarray(weights.values), dims=weights.dims)


def bare_targets(
    data: xr.Dataset, targets: Sequence[Hashable], weights: xr.DataArray | None
) -> tuple[list[xr.DataArray], xr.DataArray | None]:
    """Each target without coordinates, in the first target's dim order, and the weights (see `bare_arrays`).

    Parameters
    ----------
    data : xarray.Dataset
    targets : sequence of hashable
    weights : xarray.DataArray or None

    Returns
    -------
    list of xarray.DataArray, and xarray.DataArray or None

    Examples
    --------
    >>> ds = xr.Dataset({"y": (("x", "t"), np.zeros((2, 3))), "z": (("t", "x"), np.ones((3, 2)))})
    >>> [bare.dims for bare in bare_targets(ds, ["y", "z"], None)[0]]
    [('x', 't'), ('x', 't')]
    """
    dims = data[targets[0]].dims
    bare = [bare_arrays(data[name].transpose(*dims), None)[0] for name in targets]
    return bare, bare_arrays(data[targets[0]], weights)[1]


def score_targets(
    observed: Sequence[xr.DataArray],
    weights: xr.DataArray | None,
    index: tuple[np.ndarray, ...],
    predicted: np.ndarray,
    names: Sequence[str] | None = None,
) -> xr.Dataset:
    """`score_fold` of each target: one target's scores, or several stacked along a ``target`` dim.

    Parameters
    ----------
    observed : sequence of xarray.DataArray
        From `bare_targets`.
    weights : xarray.DataArray or None
    index : tuple of numpy.ndarray
    predicted : numpy.ndarray
        From `fit_fold`: one target's predictions, or one row per target.
    names : sequence of str, optional
        The target names of a model of several targets (``None`` for one target).

    Returns
    -------
    xarray.Dataset

    Examples
    --------
    >>> observed = [xr.DataArray([1.0, 2.0], dims="x", attrs={"units": "g"}), xr.DataArray([3.0, 4.0], dims="x")]
    >>> scored = score_targets(observed, None, (np.array([0, 1]),), np.array([[1.0, 2.0], [3.0, 5.0]]), ["y", "z"])
    >>> scored["rmse"].values.round(3).tolist(), scored["target_units"].values.tolist()
    ([0.0, 0.707], ['g', ''])
    """
    if names is None:
        return score_fold(observed[0], weights, index, predicted)
    parts = [score_fold(target, weights, index, rows) for target, rows in zip(observed, predicted)]
    return stack_targets(parts, list(names), units=[str(target.attrs.get("units", "")) for target in observed])


def score_fold(
    observed: xr.DataArray, weights: xr.DataArray | None, index: tuple[np.ndarray, ...], predicted: np.ndarray
) -> xr.Dataset:
    """Scores (`xrann.metrics.scores`) of one fold's held-out predictions, from `fit_fold` output.

    Parameters
    ----------
    observed, weights : xarray.DataArray
        From `bare_arrays`.
    index : tuple of numpy.ndarray
        The fold's bounding positions per dim of ``observed``.
    predicted : numpy.ndarray
        Predictions on that box, NaN where not held out.

    Returns
    -------
    xarray.Dataset

    Examples
    --------
    >>> observed = xr.DataArray([1.0, 2.0, 3.0, 4.0], dims="x")
    >>> float(score_fold(observed, None, (np.array([1, 2]),), np.array([2.0, 4.0]))["rmse"])
    0.7071067811865476
    """
    held_obs = observed.isel(dict(zip(observed.dims, index))).where(np.isfinite(predicted))
    held_weights = None
    if weights is not None:
        held_weights = weights.isel({dim: positions for dim, positions in zip(observed.dims, index) if dim in weights.dims})
    return scores(held_obs, held_obs.copy(data=predicted), weights=held_weights)


def _active_client():
    try:
        from distributed import default_client
    except ImportError:
        return None
    try:
        return default_client()
    except ValueError:
        return None


def run_folds(
    function: Callable[..., Any],
    data: xr.Dataset,
    tasks: Sequence[tuple],
    *,
    progress: bool | None,
    description: str = "xrann cross-validation",
) -> Iterator[tuple[int, Any]]:
    """Run ``function(data, *task)`` for every task, on the active dask.distributed client if any, with a bar.

    Results are yielded as ``(task index, result)`` in the order they finish,
    so a caller can reduce them as they come (memory bounded by what it keeps).

    Parameters
    ----------
    function : callable
        Called as ``function(data, *task)``; on a cluster it must be importable.
    data : xarray.Dataset
        Shared by every task (scattered to the workers once).
    tasks : sequence of tuple
    progress : bool or None
        A bar over the tasks with the elapsed time and an estimate of the time
        left; ``None`` shows it only in interactive sessions (see
        `xrann.core.progress.wants_progress`).
    description : str
        The bar's label.

    Yields
    ------
    tuple of (int, object)

    Examples
    --------
    >>> ds = xr.Dataset({"a": ("x", [1.0, 2.0])})
    >>> sorted(run_folds(lambda data, k: float(data["a"].sum()) * k, ds, [(1,), (2,)], progress=False))
    [(0, 3.0), (1, 6.0)]
    """
    tqdm = progress_bar_class() if wants_progress(progress) else None
    # a fold takes seconds: print every one (tqdm's default 0.1 s throttle would hide quick folds)
    bar = None if tqdm is None else tqdm(total=len(tasks), desc=description, unit="fold", leave=False, mininterval=0)
    client = _active_client()
    try:
        if client is None:
            for index, task in enumerate(tasks):
                yield index, function(data, *task)
                if bar is not None:
                    bar.update(1)
            return
        from distributed import as_completed

        shared = client.scatter(data, broadcast=True)
        futures = {client.submit(function, shared, *task, pure=False): index for index, task in enumerate(tasks)}
        for future in as_completed(list(futures)):
            yield futures[future], future.result()
            future.release()
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()


def _target_extremes(data: xr.Dataset, targets: list[Hashable], drivers: list[Hashable]) -> tuple[list[float], list[float]]:
    """Each target's extremes over the valid samples of the whole Dataset: the one scaling every kept fold model shares."""
    valid = np.ones(data[targets[0]].shape, dtype=bool)
    dims = data[targets[0]].dims
    for name in [*targets, *drivers]:
        valid &= np.isfinite(data[name]).broadcast_like(data[targets[0]]).transpose(*dims).values
    values = [data[name].transpose(*dims).values[valid] for name in targets]
    return [float(v.min()) for v in values], [float(v.max()) for v in values]


def cross_validate(
    ds: xr.Dataset,
    target: Hashable | Sequence[Hashable],
    drivers: Sequence[Hashable] | None = None,
    *,
    by: Any = "time.year",
    leave_out: int | Sequence[int] = 1,
    block: Mapping[Hashable, float] | None = None,
    block_units: str = "coordinate",
    buffer: float | None = None,
    buffer_units: str = "km",
    keep_models: bool = False,
    progress: bool | None = None,
    **fit_kwargs: Any,
) -> xr.Dataset | tuple[xr.Dataset, Model]:
    """Train one model per fold, each holding out ``leave_out`` groups, and score it on them.

    Parameters
    ----------
    ds : xarray.Dataset
        Never modified; the target and drivers are loaded into memory once.
        A grid, or a cell list from `xrann.grid_to_cells`.
    target : hashable or list of hashable
        Variable name or CF standard name of the variable to predict; a list
        trains one network with an output per target in each fold, and the
        scores get a ``target`` dim.
    drivers : sequence of hashable, optional
        As for `xrann.fit.fit_dataset`.
    by : str, xarray.DataArray or list of them, default "time.year"
        How samples are grouped (see `xrann.folds`): a dim or datetime
        component (``"time.year"``, ``"site"``); ``"space"`` for contiguous
        spatial blocks of size ``block``; a DataArray of labels on the
        target's grid (biomes, regions; 1-D or 2-D); or a list such as
        ``["space", "time.year"]`` for space-time folds, which are scored on
        one block in one year and train on neither that block nor that year.
    leave_out : int or sequence of int, default 1
        Groups held out per fold (per grouping of ``by``); every combination
        is one fold (``leave_out=2`` with 9 years gives 36 folds).
    block : mapping, optional
        Block size per spatial coordinate for ``by="space"``, e.g.
        ``{"lat": 10, "lon": 10}``: in the coordinate's units (degrees for
        latitude/longitude), or in grid cells with ``block_units="cells"``.
    block_units : {"coordinate", "cells"}, default "coordinate"
    buffer : float, optional
        Also never train on cells within this distance of the held-out block:
        great-circle km between cell centres (``buffer_units="km"``) or grid
        cells (``buffer_units="cells"``).
    buffer_units : {"km", "cells"}, default "km"
    keep_models : bool, default False
        Also return the fold models as one ensemble `~xrann.model.Model` (one
        member per fold, ``ensemble="folds"``; see
        `xrann.fit.ensemble.combine_models`). So that the members share one
        target scaling, every fold then scales the target over the whole
        Dataset's range (only the range, never a held-out value's relation to
        the drivers, comes from the held-out groups), which changes the fold
        scores slightly.
    progress : bool, optional
        A bar over the folds with an estimate of the time left; ``None`` shows
        one only in interactive sessions.
    **fit_kwargs
        Passed to `xrann.fit.fit_dataset` for every fold (``hidden``,
        ``epochs``, ``seed``, ...). A ``validation`` given here is split from
        the fold's *training* samples (e.g. ``validation=0.2`` for early
        stopping); the held-out samples are only ever scored.

    Returns
    -------
    xarray.Dataset
        * per fold (dim ``fold``): ``r2``, ``rmse``, ``mae``, ``bias``,
          ``pearson_r`` and ``n_samples`` on the held-out samples
          (area-weighted as in `xrann.evaluation`), and ``n_training``;
        * coordinates ``held_out`` (fold; strings such as ``"2007,2015"``) and
          ``held_out_groups`` (fold, k) naming each fold's held-out groups;
        * on the target's grid: the observed target, ``<target>_predicted``, the
          out-of-fold prediction (each sample's prediction averaged over the
          folds that held it out, so with ``leave_out=2`` over several models),
          and ``n_folds``, how many folds predicted each sample.
    Model
        Only with ``keep_models=True``: the ensemble of the fold models,
        returned as ``(scores, model)``.

    Raises
    ------
    ValueError
        Before any fold runs: ``by`` naming no dim or coordinate, labels not on
        the grid, blocks larger than the domain, ``leave_out`` below 1 or not
        below the number of groups, a buffer that leaves a fold no training
        sample, or ``keep_models`` with ``members=``.
    KeyError, TypeError
        As for `xrann.fit.fit_dataset` (unknown settings fail before any fold runs).

    Notes
    -----
    Folds run on the active `dask.distributed` client when there is one (the
    data are scattered to the workers once), else one after another here.
    With ``seed`` given, every fold starts from the same seed, so the same
    call gives the same models. Scores and out-of-fold predictions of a fold
    cover only its held-out samples; pass the result's target and prediction
    to `xrann.evaluation.evaluate_predictions` for series, maps and budgets.

    Examples
    --------
    >>> import xrann
    >>> ds = xrann.datasets.soil_toy(dry=True)
    >>> cv = cross_validate(ds, "co2_flux", by="site", leave_out=1, seed=0, epochs=20, progress=False)
    >>> cv.sizes["fold"], cv["held_out"].values.tolist()[:2]
    (5, ['0', '1'])
    >>> cv, ensemble = cross_validate(ds, "co2_flux", by="site", seed=0, epochs=20, keep_models=True, progress=False)
    >>> ensemble.n_members, ds.ann.predict(ensemble, members=True).dims
    (5, ('member', 'site'))
    """
    if not isinstance(keep_models, bool):
        raise ValueError(f"keep_models must be True or False, got {keep_models!r}.")
    if keep_models and fit_kwargs.get("members") is not None:
        raise ValueError(
            "keep_models=True makes an ensemble of the fold models, so members= cannot be combined with it; "
            "drop members= (each fold trains one network)."
        )
    known = set(FitSettings.__dataclass_fields__) | {"validation", "mode", "members", "ensemble"}
    unknown = sorted(set(fit_kwargs) - known)
    if unknown:
        raise TypeError(f"cross_validate() got unknown settings {unknown}; known settings are {sorted(known)}.")
    checked = FitSettings(**{k: v for k, v in fit_kwargs.items() if k in FitSettings.__dataclass_fields__})
    checked.validate()
    targets, fitted = fit_targets(ds, target)
    several = isinstance(fitted, list)
    found = fold_drivers(ds, targets, drivers)
    ds, driver_names, target_name = found.ds, found.drivers, targets[0]
    folds = make_folds(
        ds, target_name, by=by, leave_out=leave_out, block=block, block_units=block_units, buffer=buffer,
        buffer_units=buffer_units,
    )
    cell_area = find_cell_area(ds, target_name)
    data = ds[[*targets, *driver_names]].compute()
    observed = data[target_name]
    dims = observed.dims

    # masks on the groupings' dims only (a year fold's is 1-D): small to keep and to send to workers
    settings = dict(fit_kwargs)
    if keep_models:  # every fold scales the targets over the whole Dataset, so the fold models combine
        settings["target_extremes"] = _target_extremes(data, targets, driver_names)
    tasks = [(fitted, driver_names, folds.held_out(i), folds.excluded(i), settings, keep_models) for i in range(len(folds))]

    weights = area_weights(observed, cell_area)
    bare, bare_weights = bare_targets(data, targets, weights)
    names = [str(name) for name in targets] if several else None
    total = np.zeros((len(targets), *observed.shape))
    count = np.zeros((len(targets), *observed.shape), dtype=np.int64)
    fold_scores: list[Any] = [None] * len(folds)
    n_training = np.zeros(len(folds), dtype=np.int64)
    models: list[Any] = [None] * len(folds)
    for fold, (index, predicted, n_train, model) in run_folds(fit_fold, data, tasks, progress=progress):
        fold_scores[fold] = score_targets(bare, bare_weights, index, predicted, names)
        rows = predicted if several else predicted[None]
        for k in range(len(targets)):
            total[(k, *np.ix_(*index))] += np.nan_to_num(rows[k])
            count[(k, *np.ix_(*index))] += np.isfinite(rows[k])
        n_training[fold] = n_train
        models[fold] = model

    labels = [folds.label(i) for i in range(len(folds))]
    groups = [folds.groups(i) for i in range(len(folds))]
    if len(folds.factors) > 1:
        groups = [[str(group) for group in fold] for fold in groups]
    described = by if isinstance(by, str) else "+".join(b if isinstance(b, str) else str(b.name or "labels") for b in (by if isinstance(by, (list, tuple)) else [by]))
    result = xr.concat(fold_scores, dim="fold")
    result["n_training"] = ("fold", n_training, {"long_name": "training samples", "units": "1"})
    result = result.assign_coords(
        fold=("fold", np.arange(len(folds)), {"long_name": "cross-validation fold"}),
        held_out=("fold", np.array(labels), {"long_name": f"held-out groups ({described})"}),
        held_out_groups=(("fold", "k"), np.array(groups), {"long_name": f"held-out groups ({described})"}),
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    for k, name in enumerate(targets):
        attrs = {key: data[name].attrs[key] for key in ("units", "long_name") if key in data[name].attrs}
        attrs["description"] = "out-of-fold prediction: mean over the folds that held the sample out"
        result[name] = data[name]
        result[f"{name}_predicted"] = data[name].transpose(*dims).copy(data=mean[k]).assign_attrs(attrs).transpose(*data[name].dims)
    result["n_folds"] = observed.copy(data=count[0]).assign_attrs(  # every target is predicted where the drivers are
        long_name="number of folds whose held-out prediction is averaged", units="1"
    )
    result.attrs = {
        "by": described,
        "leave_out": str(leave_out) if not isinstance(leave_out, (int, np.integer)) else int(leave_out),
        "n_groups": int(np.prod([factor.n_groups for factor in folds.factors])),
        "target": ",".join(map(str, targets)),
        "drivers": ",".join(map(str, driver_names)),
        "description": "each fold trains on the samples it keeps and is scored on the samples it holds out",
    }
    if block is not None:
        result.attrs["block"] = json.dumps({str(k): v for k, v in block.items()}) + f" ({block_units})"
    if buffer:
        result.attrs["buffer"] = f"{buffer} {buffer_units}"
    if not keep_models:
        return result
    ensemble = combine_models(
        models,
        kind="folds",
        hyperparameters={
            "cross_validation": {"by": described, "leave_out": str(leave_out), "held_out": labels},
        },
    )
    return result, found.carried_by(ensemble)  # recipe drivers: recomputed from the raw variables at prediction
