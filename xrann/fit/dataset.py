"""`fit_dataset`: settings checked, variables found, the data pass, one mode's gradient source, the engine, the `Model`.

Memory mode (`xrann.fit.memory`), stream mode (`xrann.fit.stream`) and
batch mode (`xrann.fit.batch`) differ only in where the samples are; they
share the data pass (`xrann.fit.plan`), the resolved settings
(`xrann.fit.settings`) and the training step (`xrann.fit.training`), so the
same data and settings train the same way in every mode.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from ..core.optimizers import make_optimizer
from ..data.recipes import apply_recipes, check_recipes, driver_provenance, recipe_drivers, seasonal_climatology, split_drivers, warmup_points
from ..data.selection import selection_mask
from ..data.variables import fit_targets, select_fit_variables
from ..features import Anomaly, SeasonalCycle
from ..model import Model
from .batch import ShardSource
from .envelope import fit_envelope
from .history import history_to_dataset
from .memory import fit_in_memory
from .plan import SamplePlan, check_target_extremes, plan_samples
from .weights import NORMALISATION, describe_weights, resolve_weights
from .settings import (
    AUTO_VALIDATION_FRACTION,
    AUTO_VALIDATION_MIN_SAMPLES,
    MODES,
    FitResult,
    FitSettings,
    Validation,
    check_ensemble_arguments,
    check_validation_argument,
    describe_validation,
)
from .stream import StreamSource
from .threads import single_blas_thread
from .training import train_network, warn_if_not_converged

__all__ = ["fit_dataset"]


def _attrs_of(variable: xr.DataArray) -> dict[str, str]:
    return {key: str(variable.attrs[key]) for key in ("units", "standard_name", "long_name") if key in variable.attrs}


def _warn_uneven_coverage(targets: Sequence[Hashable], target_points: Sequence[int], n_valid: int) -> None:
    """Warn when a target's samples are left out because another target is missing there."""
    lost = [
        f"{str(name)!r} {points - n_valid:,} of {points:,} ({(points - n_valid) / points:.0%})"
        for name, points in zip(targets, target_points) if points > n_valid
    ]
    if not lost:
        return
    warnings.warn(
        "a sample needs every target, so grid points where another target is missing are not trained on: "
        f"of the grid points where a target and every driver have values, {', '.join(lost)} are left out. "
        "Fit targets with different coverage "
        "separately (one model each), or select the region and period where all of them have values.",
        UserWarning,
        stacklevel=4,
    )


def _resolve_mode(ds: xr.Dataset, names: Sequence[Hashable], mode: str | None) -> str:
    if mode is None:
        lazy = any(ds[name].chunks is not None for name in names)
        return "stream" if lazy else "memory"
    return mode


def _fit_lazy(plan: SamplePlan, settings: FitSettings, rng: np.random.Generator, mode: str, progress: bool | None) -> FitResult:
    n_inputs, n_outputs = plan.grid.n_drivers, plan.grid.n_targets
    sizes = settings.sizes(n_inputs, n_outputs)
    if mode == "batch" and settings.batch_size == "auto":
        settings = dataclasses.replace(settings, batch_size=None)  # batch mode makes full-batch steps only
    resolved = settings.resolve(n_inputs, n_outputs, plan.n_train, plan.n_validation > 0)
    options = dict(bias=settings.bias, dtype=settings.dtype, loss=settings.loss)
    if mode == "stream":
        source = StreamSource(plan, sizes, **options)
        network, history = train_network(source, settings, resolved, n_inputs, n_outputs, rng, progress=progress)
    else:
        with ShardSource(plan, sizes, **options) as source:
            network, history = train_network(source, settings, resolved, n_inputs, n_outputs, rng, progress=progress)
    return FitResult(network, plan.driver_scaler, plan.target_scaler, history, plan.counts, resolved)


def fit_dataset(
    ds: xr.Dataset,
    target: Hashable | Sequence[Hashable],
    drivers: Sequence[Hashable] | None = None,
    *,
    validation: Validation = "auto",
    mode: str | None = None,
    progress: bool | None = None,
    members: int | None = None,
    ensemble: str = "bootstrap",
    weights: Any = None,
    target_extremes: tuple[Sequence[float], Sequence[float]] | None = None,
    **settings: Any,
) -> Model:
    """Train a model that predicts ``target`` from ``drivers`` on every valid grid point of ``ds``.

    With only ``seed=`` given, the fit trains until it has converged: see
    `xrann.fit.settings` for what every ``"auto"`` resolves to.

    Parameters
    ----------
    ds : xarray.Dataset
        Never modified.
    target : hashable or list of hashable
        Variable name or CF standard name of the variable to predict. Its dims
        are the sample dims. A list (``["nee", "gpp", "reco"]``, on one grid)
        trains one network with one output per target, each scaled
        separately; a sample then needs every target (a warning says how many
        samples another target's gaps leave out). See `xrann.model.Model.targets`.
    drivers : sequence of hashable, optional
        Variable names or CF standard names; ``None`` uses every numeric
        variable on the target's grid except the target (static maps included).
    validation : "auto", float, mapping or None, default "auto"
        Samples held out to stop on: ``"auto"`` (10 % drawn per grid point
        with at least 1,000 valid samples, else none), a fraction (drawn per
        grid point by a seeded hash, the same in every mode and chunking), or
        a selection ``{dim: labels}`` such as ``{"time": [2007, 2015]}``
        (years of a datetime dim), ``{"time": slice("2015-01", "2015-12")}``;
        ``None`` trains on every sample and stops on the training loss. With
        ``members=``, ``"auto"`` holds nothing out: each member stops on its
        out-of-bag samples or left-out fold.
    mode : {"memory", "stream", "batch"}, optional
        Where the samples are while training: in memory; streamed block by
        block from a dask-backed Dataset; or persisted as shards on the
        dask.distributed workers, which compute every full-batch step. ``None``
        picks "memory" for numpy-backed and "stream" for dask-backed input.
    progress : bool, optional
        Show a progress bar; ``None`` shows one only in interactive sessions.
    members : int, optional
        Train an ensemble of this many members instead of one network (see
        `xrann.fit.ensemble`); the training samples are then loaded into memory.
    ensemble : {"bootstrap", "folds"}, default "bootstrap"
        How members differ besides their seed: a bootstrap resample each, or
        one left-out fold each of ``members`` cross-validation folds.
    weights : str, xarray.DataArray or None, optional
        Sample weights of the loss (training and validation): a variable name (e.g. of
        ``1 / se_nee**2``), a DataArray on (a subset of) the target's dims, or ``"cell_area"``
        (the CF cell measure, a ``cell_area`` variable, or areas from regular latitude/longitude
        bounds). Normalised to mean 1 over the training samples; a grid point of weight 0 is not a
        sample. The model records how they were given (``hyperparameters["weights"]``), not the
        values. See `xrann.fit.weights`.
    target_extremes : tuple of sequences of float, optional
        ``(minima, maxima)`` per target over which to scale the targets instead of the training
        samples' extremes: models fitted on different samples (cross-validation folds) then share
        one target scaling and can be combined into an ensemble.
    **settings
        See `FitSettings` (``hidden``, ``bias``, ``optimizer``,
        ``learning_rate``, ``optimizer_options``, ``epochs``, ``batch_size``,
        ``patience``, ``tolerance``, ``seed``, ``dtype``, ``init``, ``loss``,
        ``target_range``, ``method``).

    Returns
    -------
    Model

    Raises
    ------
    KeyError
        Unknown target or driver.
    ValueError
        Bad settings, a network too large for the optimiser, driver dims the
        target lacks, no valid samples, a validation split that leaves either
        side empty, weights with a dim the target lacks, or negative or NaN
        where the target is valid.
    TypeError
        Non-numeric variables or unknown settings.

    Warns
    -----
    ConvergenceWarning
        Training ended at its epoch limit while the loss was still improving.

    Examples
    --------
    >>> import xrann
    >>> ds = xrann.datasets.soil_toy()
    >>> model = fit_dataset(ds, "co2_flux", ["soil_moisture", "grain_size"], seed=0)
    >>> model.sample_counts["training"], model.hyperparameters["resolved_optimizer"]
    (3, 'lm')
    """
    known = set(FitSettings.__dataclass_fields__)
    unknown = sorted(set(settings) - known)
    if unknown:
        raise TypeError(f"fit() got unknown settings {unknown}; known settings are {sorted(known)}.")
    fit_settings = FitSettings(**settings)
    fit_settings.validate()
    check_validation_argument(validation)
    if members is not None:
        check_ensemble_arguments(members, ensemble)
    if mode is not None and mode not in MODES:
        raise ValueError(f"mode={mode!r} is not known; choose one of {MODES} (or None to choose by the data).")
    in_memory_only = "members=" if members is not None else "method='linear'" if fit_settings.method == "linear" else None
    if mode in ("stream", "batch") and in_memory_only:
        raise ValueError(
            f"mode={mode!r} is not available with {in_memory_only}: it trains on samples loaded into memory. "
            "Pass mode=None or mode='memory' (or fit a single network to stream the data)."
        )
    if mode == "batch" and isinstance(fit_settings.batch_size, int):
        raise ValueError(
            f"mode='batch' trains on full-batch steps, but batch_size={fit_settings.batch_size!r} was given; "
            "drop batch_size (or pass batch_size=None), or use mode='stream' for mini-batches."
        )
    if settings.get("patience") not in (None, "auto") and validation is None:
        warnings.warn(
            f"patience={settings['patience']} has no effect on the validation loss without a validation set; "
            "it stops on the training loss instead. Pass validation= (a fraction or a selection such as "
            "{'time': [2015]}) to stop on held-out samples.",
            UserWarning,
            stacklevel=3,
        )

    plain, recipes = split_drivers(drivers)
    targets, fitted = fit_targets(ds, target)
    several = isinstance(fitted, list)
    if target_extremes is not None:
        check_target_extremes(target_extremes, len(targets))
    climatologies: dict[str, xr.DataArray] = {}
    holdout = None
    if recipes:  # checked, then derived on a shallow copy (lazy for dask input); ds itself is never modified
        target_name = targets[0]
        plain_names = select_fit_variables(ds, targets, plain)[1] if plain else []
        for name in targets:
            check_recipes(ds, recipes, name, plain_names)
        if isinstance(validation, Mapping):
            holdout = selection_mask(ds, validation, tuple(ds[target_name].dims))
        for recipe in recipes:  # the climatologies come from the training period, before the main pass
            if isinstance(recipe, (Anomaly, SeasonalCycle)) and recipe.source not in climatologies:
                climatologies[recipe.source] = seasonal_climatology(ds, recipe, exclude=holdout)
        provenance = driver_provenance(ds, plain_names)
        ds = apply_recipes(ds, recipes, climatologies)
        drivers = [*plain_names, *recipe_drivers(recipes)]
    target_name, driver_names = select_fit_variables(ds, targets, drivers)
    if not recipes:
        provenance = driver_provenance(ds, driver_names)
    sample_dims = tuple(ds[target_name].dims)
    weight_array = resolve_weights(ds, weights, target_name)
    if fit_settings.method == "ann":
        # a network too large for the optimiser, or a learning_rate it cannot take, fails before data is read
        chosen = fit_settings.choose_optimizer(len(driver_names), len(targets))
        make_optimizer(chosen.name, fit_settings.learning_rate, fit_settings.optimizer_options)
    names = list(driver_names) + list(targets)
    resolved_mode = "memory" if in_memory_only else _resolve_mode(ds, names, mode)
    if holdout is None and isinstance(validation, Mapping):
        holdout = selection_mask(ds, validation, sample_dims)
    fraction = None
    if validation == "auto" and members is None:  # ensemble members stop on their out-of-bag samples or left-out fold
        n_points = int(np.prod([ds.sizes[dim] for dim in sample_dims]))
        fraction = AUTO_VALIDATION_FRACTION if n_points >= AUTO_VALIDATION_MIN_SAMPLES else None
    elif isinstance(validation, (int, float)):
        fraction = float(validation)
    plan_options = dict(
        holdout=holdout, validation=validation, seed=fit_settings.seed, target_range=fit_settings.target_range,
        weights=weight_array, weights_name=describe_weights(weights), target_extremes=target_extremes,
    )
    plan = plan_samples(ds, fitted, driver_names, sample_dims, fraction=fraction, **plan_options)
    n_valid = plan.counts["grid_points"] - plan.counts["dropped"]
    if validation == "auto" and fraction is not None and n_valid < AUTO_VALIDATION_MIN_SAMPLES:
        fraction = None  # too few valid samples to hold some out
        plan = plan_samples(ds, fitted, driver_names, sample_dims, fraction=None, **plan_options)
    if plan.target_points is not None:
        _warn_uneven_coverage(targets, plan.target_points, n_valid)
    rng = np.random.default_rng(fit_settings.seed)

    with single_blas_thread():
        if resolved_mode == "memory":
            result = fit_in_memory(plan, fit_settings, rng, progress=progress, members=members, ensemble=ensemble)
        else:
            result = _fit_lazy(plan, fit_settings, rng, resolved_mode, progress)
    if result.resolved is not None and members is None:
        warn_if_not_converged(result.history, result.resolved, stacklevel=4)

    hyperparameters = fit_settings.as_dict()
    if result.resolved is not None:
        hyperparameters.update(result.resolved.as_hyperparameters())
    hyperparameters["mode"] = resolved_mode
    hyperparameters["validation"] = describe_validation(validation)
    hyperparameters["resolved_validation_fraction"] = fraction
    if members is not None:
        hyperparameters.update(members=int(members), ensemble=ensemble)
    if weights is not None:
        hyperparameters.update(weights=describe_weights(weights), weights_normalisation=NORMALISATION)
    envelope = result.envelope
    if envelope is None:  # stream and batch modes: a bounded draw, block by block
        with single_blas_thread():
            envelope = fit_envelope(
                ds, driver_names, targets, sample_dims, plan.driver_scaler, seed=fit_settings.seed, exclude=holdout
            )
    history = result.history if isinstance(result.history, xr.Dataset) else history_to_dataset(result.history)
    counts = dict(result.counts)
    if recipes:  # grid points in the leading steps a lag or window leaves without a value (part of "dropped")
        counts["recipe_warmup"] = warmup_points(ds[target_name], recipes)
    return Model(
        core=result.core,
        driver_scaler=result.driver_scaler,
        target_scaler=result.target_scaler,
        target=tuple(str(name) for name in targets) if several else str(target_name),
        drivers=[str(name) for name in driver_names],
        sample_dims=tuple(str(d) for d in sample_dims),
        driver_attrs={str(name): _attrs_of(ds[name]) for name in driver_names},
        target_attrs={str(name): _attrs_of(ds[name]) for name in targets} if several else _attrs_of(ds[target_name]),
        hyperparameters=hyperparameters,
        history=history,
        sample_counts=counts,
        method=fit_settings.method,
        dtype=fit_settings.dtype,
        envelope=envelope,
        recipes=tuple(recipes),
        climatologies=climatologies,
        driver_provenance=provenance,
    )
