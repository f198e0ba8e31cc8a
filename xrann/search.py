"""Hyperparameter search on Datasets: every setting of a grid, scored on the same cross-validation folds.

``xrann.search(ds, "nee", drivers, grid={"hidden": [(4,), (8,), (8, 8)]}, by="time.year")``
is the xarray counterpart of scikit-learn's ``GridSearchCV``: every
combination of the grid's values is trained and scored on every fold (the
folds of `xrann.crossval.cross_validate`: years, spatial blocks, label maps),
the settings are ranked by their mean fold score, and the best one is
refitted on all the data. What GridSearchCV calls ``cv_results_``,
``best_params_``, ``best_score_`` and ``best_estimator_`` are
`SearchResult.scores`, `SearchResult.best_settings`, `SearchResult.best_score`
and `SearchResult.best_model`.

Every setting of the grid is checked (as `xrann.fit.settings.FitSettings`
checks a fit's settings) before any fold runs. Fits run on the active
`dask.distributed` client when there is one (the data are scattered once),
else one after another; only the scores of each fit are kept, so memory is
bounded by the data and one fit per worker.
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from .crossval import bare_targets, fit_fold, fold_drivers, run_folds, score_targets
from .data.variables import fit_targets
from .evaluation import area_weights, find_cell_area
from .fit import fit_dataset
from .fit.settings import FitSettings
from .folds import make_folds
from .model import Model

__all__ = ["search", "SearchResult", "SCORING"]

#: scores a search can rank by, and whether larger is better
SCORING = {"rmse": False, "mae": False, "r2": True, "pearson_r": True}


@dataclass
class SearchResult:
    """What `search` found: scores per setting and fold, the best setting and its model.

    Attributes
    ----------
    scores : xarray.Dataset
        Every score of `xrann.metrics.scores` over ``(setting, fold)``, plus
        ``mean_<scoring>``, ``std_<scoring>`` and ``rank`` per setting (rank 1
        is best); a coordinate per grid key (values as text, e.g. ``"(8, 8)"``)
        and ``settings`` (``"hidden=(8, 8), optimizer='adam'"``) on ``setting``.
    best_settings : dict
        The grid values of the best setting.
    best_score : float
        Its mean fold score.
    best_model : Model or None
        The best setting refitted on all the data (``None`` with ``refit=False``).
    scoring : str

    Examples
    --------
    >>> import xrann
    >>> ds = xrann.datasets.soil_toy(dry=True)
    >>> found = search(ds, "co2_flux", grid={"hidden": [(1,), (2,)]}, by="site", seed=0, epochs=5, progress=False)
    >>> found.scores["rmse"].dims, sorted(found.best_settings)
    (('setting', 'fold'), ['hidden'])
    """

    scores: xr.Dataset
    best_settings: dict[str, Any]
    best_score: float
    best_model: Model | None
    scoring: str


def _settings_grid(grid: Mapping[str, Sequence[Any]], fixed: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every combination of the grid, each checked together with the fixed settings."""
    if not isinstance(grid, Mapping) or not grid:
        raise ValueError(f"grid must map setting names to lists of values, e.g. {{'hidden': [(4,), (8,)]}}; got {grid!r}.")
    known = set(FitSettings.__dataclass_fields__)
    unknown = sorted(map(str, set(grid) - known))
    if unknown:
        raise TypeError(f"the search grid has unknown settings {unknown}; known settings are {sorted(known)}.")
    both = sorted(set(grid) & set(fixed))
    if both:
        raise ValueError(f"{both} are given both in the grid and as fixed settings; give each in one place.")
    for name, values in grid.items():
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or len(values) == 0:
            raise ValueError(
                f"grid[{name!r}] must be a non-empty list of values to try, e.g. grid={{{name!r}: [...]}}; got {values!r}."
            )
    unknown_fixed = sorted(set(fixed) - known - {"validation", "mode"})
    if unknown_fixed:
        raise TypeError(f"search() got unknown settings {unknown_fixed}; known settings are {sorted(known)}.")
    names = list(grid)
    combinations = [dict(zip(names, values)) for values in itertools.product(*(grid[name] for name in names))]
    for combination in combinations:
        settings = FitSettings(**{k: v for k, v in fixed.items() if k in known}, **combination)
        try:
            settings.validate()
        except (TypeError, ValueError) as error:
            raise type(error)(f"the search grid setting {_describe(combination)} is invalid: {error}") from None
    return combinations


def _describe(settings: Mapping[str, Any]) -> str:
    return ", ".join(f"{name}={value!r}" for name, value in settings.items())


def _score_setting(data, target, drivers, held_out, excluded, settings, observed, weights, names):
    """One setting on one fold: its scores (along a target dim for several targets, see `score_targets`)."""
    index, predicted, n_training, _ = fit_fold(data, target, drivers, held_out, excluded, settings, False)
    result = score_targets(observed, weights, index, predicted, names)
    result["n_training"] = n_training
    return result


def search(
    ds: xr.Dataset,
    target: Hashable,
    drivers: Sequence[Hashable] | None = None,
    *,
    grid: Mapping[str, Sequence[Any]],
    by: Any = "time.year",
    leave_out: int | Sequence[int] = 1,
    block: Mapping[Hashable, float] | None = None,
    block_units: str = "coordinate",
    buffer: float | None = None,
    buffer_units: str = "km",
    scoring: str = "rmse",
    refit: bool = True,
    progress: bool | None = None,
    **fit_kwargs: Any,
) -> SearchResult:
    """Score every setting of ``grid`` on the same folds; refit the best on all the data.

    Parameters
    ----------
    ds : xarray.Dataset
        Never modified; the target and drivers are loaded into memory once.
    target : hashable or list of hashable
        One target, or several (one network with an output each; scores then have a
        ``target`` dim and settings are ranked by the mean of ``scoring`` over the targets,
        so prefer ``"r2"`` when the targets' scales differ).
    drivers : sequence of hashable, optional
    grid : mapping of str to list
        Settings of `xrann.fit.fit_dataset` and the values to try, e.g.
        ``{"hidden": [(4,), (8,), (8, 8)], "optimizer": ["lm", "adam"]}``;
        every combination is one setting.
    by, leave_out, block, block_units, buffer, buffer_units
        The folds, as for `xrann.crossval.cross_validate`.
    scoring : {"rmse", "mae", "r2", "pearson_r"}, default "rmse"
        The fold score settings are ranked by (mean over the folds; lower is
        better for rmse and mae, higher for r2 and pearson_r).
    refit : bool, default True
        Refit the best setting on all the data (`SearchResult.best_model`).
    progress : bool, optional
        A bar over all fits with an estimate of the time left.
    **fit_kwargs
        Settings shared by every fit (``seed``, ``epochs``, ``validation``, ...).

    Returns
    -------
    SearchResult

    Raises
    ------
    TypeError
        An unknown setting in ``grid`` or ``fit_kwargs``.
    ValueError
        An invalid value in the grid (naming the setting), an empty list, a
        setting given twice, an unknown ``scoring``, or bad folds (as for
        `xrann.crossval.cross_validate`): all before any fold runs.

    Examples
    --------
    >>> import xrann
    >>> ds = xrann.datasets.soil_toy(dry=True)
    >>> found = search(ds, "co2_flux", grid={"method": ["linear", "ann"]}, by="site", seed=0, epochs=20, progress=False)
    >>> found.scores.sizes["setting"], found.scores["settings"].values.tolist()
    (2, ["method='linear'", "method='ann'"])
    """
    if scoring not in SCORING:
        raise ValueError(f"scoring={scoring!r} is not known; choose one of {tuple(SCORING)}.")
    if fit_kwargs.get("members") is not None:
        raise ValueError("search scores single networks; drop members= (refit the best setting as an ensemble afterwards).")
    combinations = _settings_grid(grid, fit_kwargs)
    targets, fitted = fit_targets(ds, target)
    several = isinstance(fitted, list)
    original, given_drivers = ds, drivers
    found = fold_drivers(ds, targets, drivers)  # recipe drivers derived once on the whole Dataset
    ds, driver_names, target_name = found.ds, found.drivers, targets[0]
    folds = make_folds(
        ds, target_name, by=by, leave_out=leave_out, block=block, block_units=block_units, buffer=buffer,
        buffer_units=buffer_units,
    )
    cell_area = find_cell_area(ds, target_name)
    data = ds[[*targets, *driver_names]].compute()
    observed = data[target_name]
    bare, bare_weights = bare_targets(data, targets, area_weights(observed, cell_area))
    names = [str(name) for name in targets] if several else None
    # masks on the groupings' dims only, built once per fold and shared by every setting
    masks = [(folds.held_out(i), folds.excluded(i)) for i in range(len(folds))]
    tasks = [
        (fitted, driver_names, held, excluded, dict(fit_kwargs) | combination, bare, bare_weights, names)
        for combination in combinations
        for held, excluded in masks
    ]
    results: list[Any] = [None] * len(tasks)
    for position, result in run_folds(_score_setting, data, tasks, progress=progress, description="xrann search"):
        results[position] = result

    n_folds = len(folds)
    per_setting = [xr.concat(results[i * n_folds : (i + 1) * n_folds], dim="fold") for i in range(len(combinations))]
    table = xr.concat(per_setting, dim="setting")
    values = table[scoring]
    per_target = values
    if several:  # one ranking over all targets: each fold's mean over the targets
        values = values.mean("target")
    mean = values.mean("fold")
    order = np.argsort(-mean.values if SCORING[scoring] else mean.values, kind="stable")
    rank = np.empty(len(combinations), dtype=np.int64)
    rank[order] = np.arange(1, len(combinations) + 1)
    table[f"mean_{scoring}"] = mean.assign_attrs(long_name=f"mean {scoring} over the folds")
    table[f"std_{scoring}"] = values.std("fold").assign_attrs(long_name=f"standard deviation of {scoring} over the folds")
    if several:
        table[f"mean_{scoring}_per_target"] = per_target.mean("fold").assign_attrs(long_name=f"mean {scoring} over the folds, per target")
        table[f"std_{scoring}_per_target"] = per_target.std("fold").assign_attrs(
            long_name=f"standard deviation of {scoring} over the folds, per target")
    table["rank"] = ("setting", rank, {"long_name": f"rank by mean {scoring} (1 is best)"})
    coords = {name: ("setting", np.array([str(c[name]) for c in combinations])) for name in grid}
    table = table.assign_coords(
        setting=("setting", np.arange(len(combinations))),
        fold=("fold", np.arange(n_folds), {"long_name": "cross-validation fold"}),
        held_out=("fold", np.array([folds.label(i) for i in range(n_folds)])),
        settings=("setting", np.array([_describe(c) for c in combinations])),
        **coords,
    )
    table.attrs = {"scoring": scoring, "target": ",".join(map(str, targets)), "drivers": ",".join(map(str, driver_names))}
    best = combinations[int(order[0])]
    best_model = None
    if refit:
        best_model = fit_dataset(original, fitted, given_drivers, progress=progress, **fit_kwargs, **best)
    return SearchResult(table, dict(best), float(mean.values[order[0]]), best_model, scoring)
