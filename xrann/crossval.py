"""Leave-groups-out cross-validation: one model per fold, scored on the groups it never saw.

Samples are grouped along one dim (``by="time.year"`` groups months by year).
Every combination of ``leave_out`` groups is held out once: with 9 years and
``leave_out=2`` that is 36 folds, as in the NEE study this package follows.
A fold's model is trained on the remaining groups only; the held-out groups
are used for scoring and prediction, never for training or early stopping.

Folds run in parallel on a `dask.distributed` cluster when a client is active
(``from dask.distributed import Client; client = Client()``), else one after
another in this process (the numpy training loop holds the GIL, so threads
would not help).
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np
import xarray as xr

from .evaluation import area_weights, find_cell_area
from .core.progress import progress_bar_class, wants_progress
from .data.variables import select_variables
from .fit import fit_dataset
from .metrics import scores
from .predict import predict_dataset

__all__ = ["cross_validate", "fold_groups"]


def fold_groups(ds: xr.Dataset, by: str) -> xr.DataArray:
    """The group label of every position along one dim, e.g. the year of each time stamp.

    Parameters
    ----------
    ds : xarray.Dataset
    by : str
        A dim or 1-D coordinate name (``"site"``), or a datetime component of
        a dim (``"time.year"``, ``"time.month"``).

    Returns
    -------
    xarray.DataArray
        1-D labels along the grouped dim.

    Raises
    ------
    ValueError
        ``by`` names no dim or coordinate of ``ds``, or a coordinate that is not 1-D.

    Examples
    --------
    >>> import pandas as pd
    >>> ds = xr.Dataset(coords={"time": pd.date_range("2007-01-01", periods=24, freq="MS")})
    >>> np.unique(fold_groups(ds, "time.year")).tolist()
    [2007, 2008]
    """
    name = str(by).split(".")[0]
    if name not in ds.dims and name not in ds.coords:
        raise ValueError(
            f"by={by!r} names {name!r}, which is neither a dim nor a coordinate of the Dataset; "
            f"its dims are {tuple(map(str, ds.dims))}. Use e.g. by='time.year'."
        )
    try:
        labels = ds[by]
    except (KeyError, AttributeError, TypeError) as error:
        raise ValueError(f"by={by!r} cannot be computed from the Dataset ({error}); use e.g. by='time.year'.") from None
    if labels.ndim != 1:
        raise ValueError(f"by={by!r} has dims {labels.dims}; cross-validation groups positions along a single dim.")
    return labels


def _fit_fold(
    data: xr.Dataset, target: Hashable, drivers: list[Hashable], dim: Hashable, held_out: np.ndarray, settings: dict
) -> tuple[xr.DataArray, int]:
    """Train on the positions of ``dim`` not held out; predict the held-out ones."""
    model = fit_dataset(data.isel({dim: ~held_out}), target, drivers, progress=False, **settings)
    return predict_dataset(data.isel({dim: held_out}), model).compute(), model.sample_counts["training"]


def _active_client():
    try:
        from distributed import default_client
    except ImportError:
        return None
    try:
        return default_client()
    except ValueError:
        return None


def _run_folds(data, target, drivers, dim, masks, settings, progress):
    tqdm = progress_bar_class() if wants_progress(progress) else None
    bar = None if tqdm is None else tqdm(total=len(masks), desc="xrann cross-validation", unit="fold", leave=False)
    client = _active_client()
    try:
        if client is None:
            results = []
            for held_out in masks:
                results.append(_fit_fold(data, target, drivers, dim, held_out, settings))
                if bar is not None:
                    bar.update(1)
            return results
        from distributed import as_completed

        shared = client.scatter(data, broadcast=True)
        futures = [
            client.submit(_fit_fold, shared, target, drivers, dim, held_out, settings, pure=False) for held_out in masks
        ]
        for _ in as_completed(futures):
            if bar is not None:
                bar.update(1)
        return client.gather(futures)
    finally:
        if bar is not None:
            bar.close()


def cross_validate(
    ds: xr.Dataset,
    target: Hashable,
    drivers: Sequence[Hashable] | None = None,
    *,
    by: str = "time.year",
    leave_out: int = 1,
    progress: bool | None = None,
    **fit_kwargs: Any,
) -> xr.Dataset:
    """Train one model per fold, each holding out ``leave_out`` groups, and score it on them.

    Parameters
    ----------
    ds : xarray.Dataset
        Never modified; the target and drivers are loaded into memory once.
    target : hashable
        Variable name or CF standard name of the variable to predict.
    drivers : sequence of hashable, optional
        As for `xrann.fit.fit_dataset`.
    by : str, default "time.year"
        How samples are grouped (see `fold_groups`).
    leave_out : int, default 1
        Groups held out per fold; every combination of ``leave_out`` groups is
        one fold (``leave_out=2`` with 9 years gives 36 folds).
    progress : bool, optional
        A bar over the folds; ``None`` shows one only in interactive sessions.
    **fit_kwargs
        Passed to `xrann.fit.fit_dataset` for every fold (``hidden``,
        ``epochs``, ``seed``, ...). A ``validation`` given here is split from
        the fold's *training* groups (e.g. ``validation=0.2`` for early
        stopping); the held-out groups are only ever scored.

    Returns
    -------
    xarray.Dataset
        * per fold (dim ``fold``): ``r2``, ``rmse``, ``mae``, ``bias``,
          ``pearson_r`` and ``n_samples`` on the held-out groups (area-weighted
          as in `xrann.evaluation`), and ``n_training``;
        * coordinates ``held_out`` (fold; strings such as ``"2007,2015"``) and
          ``held_out_groups`` (fold, k) naming each fold's held-out groups;
        * on the target's grid: the observed target, ``<target>_predicted``, the
          out-of-fold prediction (each sample's prediction averaged over the
          folds that held it out, so with ``leave_out=2`` over several models),
          and ``n_folds``, how many folds predicted each sample.

    Raises
    ------
    ValueError
        ``by`` naming no dim or coordinate, or a dim the target lacks;
        ``leave_out`` below 1 or not below the number of groups.
    KeyError, TypeError
        As for `xrann.fit.fit_dataset`.

    Notes
    -----
    Folds run on the active `dask.distributed` client when there is one (the
    data are scattered to the workers once), else one after another here.
    With ``seed`` given, every fold starts from the same seed. Scores and
    out-of-fold predictions of a fold cover only its held-out groups; pass
    the result's target and prediction to
    `xrann.evaluation.evaluate_predictions` for series, maps and budgets.

    Examples
    --------
    >>> import xrann
    >>> ds = xrann.datasets.soil_toy(dry=True)
    >>> cv = cross_validate(ds, "co2_flux", by="site", leave_out=1, seed=0, epochs=20, progress=False)
    >>> cv.sizes["fold"], cv["held_out"].values.tolist()[:2]
    (5, ['0', '1'])
    """
    if isinstance(leave_out, bool) or not isinstance(leave_out, (int, np.integer)) or leave_out < 1:
        raise ValueError(f"leave_out must be a positive integer (groups held out per fold), got {leave_out!r}.")
    target_name, driver_names = select_variables(ds, target, drivers)
    labels = fold_groups(ds, by)
    dim = labels.dims[0]
    if dim not in ds[target_name].dims:
        raise ValueError(
            f"by={by!r} groups along dim {dim!r}, which target {target_name!r} (dims {ds[target_name].dims}) lacks."
        )
    groups = np.unique(labels.values)
    if leave_out >= groups.size:
        raise ValueError(
            f"leave_out={leave_out} must be smaller than the number of groups ({groups.size} from by={by!r}: "
            f"{groups.tolist()}), so that every fold keeps groups to train on."
        )
    folds = list(itertools.combinations(groups.tolist(), leave_out))
    masks = [np.isin(labels.values, fold) for fold in folds]

    cell_area = find_cell_area(ds, target_name)
    data = ds[[target_name, *driver_names]].compute()
    results = _run_folds(data, target_name, driver_names, dim, masks, fit_kwargs, progress)

    observed = data[target_name]
    weights = area_weights(observed, cell_area)
    axis = observed.dims.index(dim)
    total = np.zeros(observed.shape)
    count = np.zeros(observed.shape, dtype=np.int64)
    fold_scores = []
    for held_out, (predicted, _) in zip(masks, results):
        held_obs = observed.isel({dim: held_out})
        fold_scores.append(scores(held_obs, predicted, weights=weights))
        values = predicted.transpose(*observed.dims).values
        positions = np.flatnonzero(held_out)
        np.moveaxis(total, axis, 0)[positions] += np.moveaxis(np.nan_to_num(values), axis, 0)
        np.moveaxis(count, axis, 0)[positions] += np.moveaxis(np.isfinite(values), axis, 0)

    result = xr.concat(fold_scores, dim="fold")
    result["n_training"] = ("fold", np.array([n for _, n in results]), {"long_name": "training samples", "units": "1"})
    result = result.assign_coords(
        fold=("fold", np.arange(len(folds)), {"long_name": "cross-validation fold"}),
        held_out=("fold", np.array([",".join(map(str, fold)) for fold in folds]), {"long_name": f"held-out groups ({by})"}),
        held_out_groups=(("fold", "k"), np.array(folds), {"long_name": f"held-out groups ({by})"}),
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    attrs = {key: observed.attrs[key] for key in ("units", "long_name") if key in observed.attrs}
    attrs["description"] = "out-of-fold prediction: mean over the folds that held the sample out"
    result[target_name] = observed
    result[f"{target_name}_predicted"] = observed.copy(data=mean).assign_attrs(attrs)
    result["n_folds"] = observed.copy(data=count).assign_attrs(
        long_name="number of folds whose held-out prediction is averaged", units="1"
    )
    result.attrs = {
        "by": str(by),
        "leave_out": int(leave_out),
        "n_groups": int(groups.size),
        "target": str(target_name),
        "drivers": ",".join(map(str, driver_names)),
        "description": "each fold trains on the groups it keeps and is scored on the groups it holds out",
    }
    return result
