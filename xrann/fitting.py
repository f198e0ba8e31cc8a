"""Fit and predict on Datasets: validation of settings, sample selection, training, the `Model`.

This module joins the xarray layer (`xrann.samples`) to the numpy core
(`xrann.network`, `xrann.training`, `xrann.scaling`). The accessor calls
`fit_dataset` and `predict_dataset`; so can users who prefer functions.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import xarray as xr

from .linear import LinearMap
from .model import Model
from .network import LOSSES, WEIGHT_INITS, initialize, layer_sizes
from .optimizers import make_optimizer
from .progress import epoch_progress
from .samples import (
    check_numeric,
    check_units,
    output_dims,
    predict_on_grid,
    resolve_variable,
    select_variables,
    selection_mask,
    stack_samples,
)
from .scaling import MinMaxScaler
from .training import TrainingHistory, resolve_schedule, train

__all__ = [
    "FitSettings", "fit_dataset", "predict_dataset", "resolve_drivers_for_prediction", "apply_to_grid", "train_core",
    "METHODS", "MODES",
]

METHODS = ("ann", "linear")
MODES = ("memory", "stream", "batch")

Validation = float | Mapping[Hashable, Any] | None


def _plain_integer(value: Any, name: str) -> Any:
    """``value`` as a Python int when it is an integral number; other values pass through for later checks."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be an integer, got {value!r}.")
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        raise ValueError(f"{name} must be an integer, got {value!r}; write {int(value)}.")
    return value


def _plain_float(value: Any, name: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}.") from None


@dataclass
class FitSettings:
    """Training settings, checked before any data is touched.

    Parameters
    ----------
    hidden : tuple of int, default (4,)
        Nodes per hidden layer.
    bias : bool, default True
        Whether layers have bias terms.
    optimizer : {"adam", "sgd", "momentum", "irprop+"}, default "adam"
    learning_rate : float, optional
        Defaults to the optimiser's own default (Adam 0.01, SGD 0.1).
    epochs : int or "auto"
        ``"auto"`` aims for about 20,000 parameter updates.
    batch_size : int, "auto" or None
        ``None`` is full batch; ``"auto"`` is full batch up to 2,048 samples, else 256.
    patience : int, "auto" or None
        Epochs without validation improvement before stopping.
    seed : int, optional
        Seeds weights, shuffling and random validation splits. ``None`` draws
        a seed, which is stored in the model so the fit can be repeated.
    dtype : {"float64", "float32"}
    init : {"xavier", "uniform"}
        ``"uniform"`` draws weights from ``U(0, 1)`` as the original recipe did.
    loss : {"mse", "sse"}
    target_range : tuple of float, default (0.1, 0.9)
        Interval the training range of the target is scaled onto (inside the sigmoid's ``(0, 1)``).
    method : {"ann", "linear"}
        ``"linear"`` fits a least-squares baseline on the same scaled drivers.
    extra : dict
        Not a user setting: filled during fitting with the resolved ``"auto"``
        values (``resolved_epochs``, ``resolved_batch_size``, ...) stored in the model.

    Examples
    --------
    >>> settings = FitSettings(hidden=8, optimizer="SGD")
    >>> settings.validate()
    >>> settings.hidden, settings.optimizer
    ((8,), 'sgd')
    """

    hidden: tuple[int, ...] = (4,)
    bias: bool = True
    optimizer: str = "adam"
    learning_rate: float | None = None
    epochs: int | str = "auto"
    batch_size: int | str | None = "auto"
    patience: int | str | None = "auto"
    seed: int | None = None
    dtype: str = "float64"
    init: str = "xavier"
    loss: str = "mse"
    target_range: tuple[float, float] = (0.1, 0.9)
    method: str = "ann"
    extra: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        """Raise `ValueError` or `TypeError` for nonsense settings, naming the fix."""
        # numpy scalars (from arrays or parameter sweeps) become plain Python numbers for the model file
        if isinstance(self.hidden, (int, np.integer)):
            self.hidden = (self.hidden,)
        self.hidden = tuple(_plain_integer(size, "hidden layer size") for size in self.hidden)
        layer_sizes(1, self.hidden)
        self.seed = None if self.seed is None else _plain_integer(self.seed, "seed")
        for name in ("epochs", "batch_size", "patience"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                setattr(self, name, _plain_integer(value, name))
        if self.learning_rate is not None:
            self.learning_rate = _plain_float(self.learning_rate, "learning_rate")
        self.target_range = tuple(_plain_float(value, "target_range") for value in self.target_range)
        if self.method not in METHODS:
            raise ValueError(f"method={self.method!r} is not known; choose one of {METHODS}.")
        make_optimizer(self.optimizer, self.learning_rate)
        self.optimizer = str(self.optimizer).lower()
        if self.dtype not in ("float64", "float32"):
            raise ValueError(f"dtype={self.dtype!r} is not supported; choose 'float64' or 'float32'.")
        if self.init not in WEIGHT_INITS:
            raise ValueError(f"init={self.init!r} is not known; choose one of {WEIGHT_INITS}.")
        if self.loss not in LOSSES:
            raise ValueError(f"loss={self.loss!r} is not known; choose one of {LOSSES}.")
        low, high = self.target_range
        if not 0 <= low < high <= 1:
            raise ValueError(f"target_range must satisfy 0 <= low < high <= 1 (the sigmoid's range), got {self.target_range}.")
        resolve_schedule(10, batch_size=self.batch_size, epochs=self.epochs, patience=self.patience, has_validation=True)
        if self.optimizer == "irprop+" and self.batch_size not in (None, "auto"):
            raise ValueError("optimizer='irprop+' needs full-batch gradients; pass batch_size=None.")
        if self.seed is None:
            self.seed = int(np.random.SeedSequence().generate_state(1)[0])
        elif self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}.")

    def initial_network(self, n_inputs: int, n_outputs: int, rng: np.random.Generator):
        """Initial weights of a network with these settings (``hidden``, ``bias``, ``init``, ``dtype``)."""
        return initialize(layer_sizes(n_inputs, self.hidden, n_outputs), rng=rng, bias=self.bias, init=self.init, dtype=self.dtype)

    def training_plan(self, n_samples: int, has_validation: bool, *, full_batch: bool = False):
        """The resolved `Schedule` and a fresh optimiser for ``n_samples`` training samples.

        ``full_batch=True`` turns ``batch_size="auto"`` into full batch (used
        by full-batch-only optimisers and by distributed batch training).
        """
        batch_size = None if full_batch and self.batch_size == "auto" else self.batch_size
        schedule = resolve_schedule(
            n_samples, batch_size=batch_size, epochs=self.epochs, patience=self.patience, has_validation=has_validation
        )
        return schedule, make_optimizer(self.optimizer, self.learning_rate)

    @staticmethod
    def resolved(schedule, optimizer) -> dict[str, Any]:
        """The numbers ``"auto"`` settings became, recorded in the model's hyperparameters."""
        return {
            "resolved_batch_size": schedule.batch_size, "resolved_epochs": schedule.epochs,
            "resolved_patience": schedule.patience, "resolved_learning_rate": optimizer.learning_rate,
        }

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable settings for the model file."""
        settings = asdict(self)
        settings["hidden"] = list(self.hidden)
        settings["target_range"] = list(self.target_range)
        settings.update(settings.pop("extra"))
        return settings


def _check_validation_argument(validation: Validation) -> None:
    if validation is None or isinstance(validation, Mapping):
        return
    if isinstance(validation, bool) or not isinstance(validation, (float, int)) or not 0 < validation < 1:
        raise ValueError(
            f"validation={validation!r} is not understood; pass a fraction in (0, 1) such as 0.2, "
            "or a selection such as {'time': [2007, 2015]} or {'time': slice('2015-01', '2015-12')}."
        )


def _attrs_of(variable: xr.DataArray) -> dict[str, str]:
    return {key: str(variable.attrs[key]) for key in ("units", "standard_name", "long_name") if key in variable.attrs}


def no_valid_samples_error(target_name: Hashable, driver_names: Sequence[Hashable]) -> ValueError:
    """The error for a fit where no grid point has finite values in the target and every driver."""
    return ValueError(
        f"no valid samples: every grid point has a NaN or infinite value in target {target_name!r} or one of "
        f"the drivers {list(driver_names)}; check the variables' overlap (e.g. ds[{target_name!r}].count())."
    )


def check_split_counts(validation: Validation, n_valid: int, n_train: int, n_validation: int) -> None:
    """Raise `ValueError` when a validation split leaves the training or the validation side empty."""
    if isinstance(validation, Mapping):
        if n_train == 0:
            raise ValueError(
                f"validation={dict(validation)} holds out all {n_valid} valid samples, leaving none for training; "
                "hold out fewer labels."
            )
        if n_validation == 0:
            raise ValueError(f"validation={dict(validation)} selects no valid sample; choose labels where the target has data.")
    elif validation is not None and (n_train < 1 or n_validation < 1):
        raise ValueError(
            f"too few samples for validation={validation}: {n_valid} valid samples give {n_validation} validation "
            f"and {n_train} training samples; use a larger fraction, more data, or validation=None."
        )


def split_fraction(n_samples: int, fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Random, seeded training and validation indices for ``validation=fraction``.

    Parameters
    ----------
    n_samples : int
    fraction : float
        Share of samples held out, rounded to a whole number.
    rng : numpy.random.Generator

    Returns
    -------
    train_index, validation_index : numpy.ndarray
        Sorted sample indices.

    Raises
    ------
    ValueError
        If either side would be empty.

    Examples
    --------
    >>> train, held_out = split_fraction(10, 0.2, np.random.default_rng(0))
    >>> len(train), len(held_out)
    (8, 2)
    """
    n_validation = int(round(fraction * n_samples))
    check_split_counts(fraction, n_samples, n_samples - n_validation, n_validation)
    order = rng.permutation(n_samples)
    return np.sort(order[n_validation:]), np.sort(order[:n_validation])


def _resolve_mode(ds: xr.Dataset, names: Sequence[Hashable], mode: str | None) -> str:
    if mode is None:
        lazy = any(ds[name].chunks is not None for name in names)
        return "stream" if lazy else "memory"
    if mode not in MODES:
        raise ValueError(f"mode={mode!r} is not known; choose one of {MODES} (or None to choose by the data).")
    return mode


def fit_dataset(
    ds: xr.Dataset,
    target: Hashable,
    drivers: Sequence[Hashable] | None = None,
    *,
    validation: Validation = None,
    mode: str | None = None,
    progress: bool | None = None,
    members: int | None = None,
    ensemble: str = "bootstrap",
    **settings: Any,
) -> Model:
    """Train a model that predicts ``target`` from ``drivers`` on every valid grid point of ``ds``.

    Parameters
    ----------
    ds : xarray.Dataset
        Never modified.
    target : hashable
        Variable name or CF standard name of the variable to predict. Its dims
        are the sample dims.
    drivers : sequence of hashable, optional
        Variable names or CF standard names; ``None`` uses every numeric
        variable on the target's grid except the target (static maps included).
    validation : float or mapping, optional
        Samples held out for early stopping: a fraction (random, seeded) or a
        selection ``{dim: labels}`` such as ``{"time": [2007, 2015]}`` (years
        of a datetime dim), ``{"time": slice("2015-01", "2015-12")}``.
    mode : {"memory", "stream", "batch"}, optional
        How data reaches the network; ``None`` picks "memory" for numpy-backed
        and "stream" for dask-backed input.
    progress : bool, optional
        Show a progress bar; ``None`` shows one only in interactive sessions.
    members : int, optional
        Train an ensemble of this many members instead of one network (see
        `xrann.ensemble`); the training samples are then loaded into memory.
    ensemble : {"bootstrap", "folds"}, default "bootstrap"
        How members differ besides their seed: a bootstrap resample each, or
        one left-out fold each of ``members`` cross-validation folds.
    **settings
        See `FitSettings` (``hidden``, ``bias``, ``optimizer``,
        ``learning_rate``, ``epochs``, ``batch_size``, ``patience``, ``seed``,
        ``dtype``, ``init``, ``loss``, ``target_range``, ``method``).

    Returns
    -------
    Model

    Raises
    ------
    KeyError
        Unknown target or driver.
    ValueError
        Bad settings, driver dims the target lacks, no valid samples, a
        validation split that leaves either side empty.
    TypeError
        Non-numeric variables or unknown settings.

    Examples
    --------
    >>> import xrann
    >>> ds = xrann.datasets.soil_toy()
    >>> model = fit_dataset(ds, "co2_flux", ["soil_moisture", "grain_size"], seed=0)
    >>> model.sample_counts["training"]
    3
    """
    known = {f.name for f in FitSettings.__dataclass_fields__.values()} - {"extra"}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise TypeError(f"fit() got unknown settings {unknown}; known settings are {sorted(known)}.")
    fit_settings = FitSettings(**settings)
    fit_settings.validate()
    _check_validation_argument(validation)
    if members is not None:
        from .ensemble import check_ensemble_arguments

        check_ensemble_arguments(members, ensemble)
    if mode is not None and mode not in MODES:
        raise ValueError(f"mode={mode!r} is not known; choose one of {MODES} (or None to choose by the data).")
    in_memory_only = "members=" if members is not None else "method='linear'" if fit_settings.method == "linear" else None
    if mode in ("stream", "batch") and in_memory_only:
        raise ValueError(
            f"mode={mode!r} is not available with {in_memory_only}: it trains on samples loaded into memory. "
            "Pass mode=None or mode='memory' (or fit a single network to stream the data)."
        )
    if settings.get("patience") not in (None, "auto") and validation is None:
        warnings.warn(
            f"patience={settings['patience']} has no effect without a validation set; pass validation= "
            "(a fraction or a selection such as {'time': [2015]}) to stop early.",
            UserWarning,
            stacklevel=3,
        )

    target_name, driver_names = select_variables(ds, target, drivers)
    sample_dims = tuple(ds[target_name].dims)
    names = list(driver_names) + [target_name]
    resolved_mode = "memory" if in_memory_only else _resolve_mode(ds, names, mode)
    holdout = selection_mask(ds, validation, sample_dims) if isinstance(validation, Mapping) else None
    rng = np.random.default_rng(fit_settings.seed)

    if resolved_mode == "memory":
        result = _fit_in_memory(
            ds, target_name, driver_names, sample_dims, fit_settings, validation, holdout, rng, progress,
            members=members, ensemble_kind=ensemble,
        )
    else:
        from . import streaming

        result = streaming.fit_lazy(
            ds, target_name, driver_names, sample_dims, fit_settings, holdout, validation, rng,
            mode=resolved_mode, progress=progress,
        )
    core, driver_scaler, target_scaler, history, counts = result

    hyperparameters = fit_settings.as_dict()
    hyperparameters["mode"] = resolved_mode
    hyperparameters["validation"] = _describe_validation(validation)
    if members is not None:
        hyperparameters.update(members=int(members), ensemble=ensemble)
    from .extrapolation import fit_envelope

    envelope = fit_envelope(ds, driver_names, target_name, sample_dims, driver_scaler, seed=fit_settings.seed, exclude=holdout)
    return Model(
        core=core,
        driver_scaler=driver_scaler,
        target_scaler=target_scaler,
        target=str(target_name),
        drivers=[str(name) for name in driver_names],
        sample_dims=tuple(str(d) for d in sample_dims),
        driver_attrs={str(name): _attrs_of(ds[name]) for name in driver_names},
        target_attrs=_attrs_of(ds[target_name]),
        hyperparameters=hyperparameters,
        history=history if isinstance(history, xr.Dataset) else history_to_dataset(history),
        sample_counts=counts,
        method=fit_settings.method,
        dtype=fit_settings.dtype,
        envelope=envelope,
    )


def _describe_validation(validation: Validation) -> Any:
    if validation is None or isinstance(validation, float):
        return validation
    return {str(dim): repr(selector) for dim, selector in validation.items()}


def history_to_dataset(history: TrainingHistory) -> xr.Dataset:
    """The loss history as a Dataset with dim ``epoch``.

    Examples
    --------
    >>> from xrann.training import TrainingHistory
    >>> history_to_dataset(TrainingHistory(loss=[0.3, 0.2], val_loss=[0.4, 0.3], best_epoch=1))["val_loss"].values
    array([0.4, 0.3])
    """
    epochs = np.arange(len(history.loss))
    data_vars = {"loss": ("epoch", np.asarray(history.loss, dtype=np.float64), {"long_name": "training loss (MSE of scaled target)"})}
    if history.val_loss:
        data_vars["val_loss"] = ("epoch", np.asarray(history.val_loss, dtype=np.float64), {"long_name": "validation loss (MSE of scaled target)"})
    return xr.Dataset(
        data_vars,
        coords={"epoch": epochs},
        attrs={"best_epoch": int(history.best_epoch), "stopped_early": int(history.stopped_early)},
    )


def _fit_in_memory(
    ds, target_name, driver_names, sample_dims, settings: FitSettings, validation, holdout, rng, progress,
    members=None, ensemble_kind="bootstrap",
):
    samples = stack_samples(ds, driver_names, target_name, sample_dims, dtype=np.float64)
    n_valid = samples.target.size
    if n_valid == 0:
        raise no_valid_samples_error(target_name, driver_names)
    if holdout is not None:
        in_holdout = holdout.transpose(*sample_dims).values.reshape(-1)[np.flatnonzero(samples.valid.values.reshape(-1))]
        train_index, validation_index = np.flatnonzero(~in_holdout), np.flatnonzero(in_holdout)
        check_split_counts(validation, n_valid, train_index.size, validation_index.size)
    elif validation is not None:
        train_index, validation_index = split_fraction(n_valid, float(validation), rng)
    else:
        train_index, validation_index = np.arange(n_valid), np.empty(0, dtype=int)

    train_drivers, train_target = samples.drivers[train_index], samples.target[train_index, None]
    driver_scaler = MinMaxScaler.fit(train_drivers, (0.0, 1.0), names=[f"driver {n!r}" for n in driver_names])
    target_scaler = MinMaxScaler.fit(train_target, settings.target_range, names=[f"target {target_name!r}"])
    scaled_inputs = driver_scaler.transform(train_drivers, dtype=settings.dtype)
    scaled_targets = target_scaler.transform(train_target, dtype=settings.dtype)
    validation_pair = None
    if validation_index.size:
        validation_pair = (
            driver_scaler.transform(samples.drivers[validation_index], dtype=settings.dtype),
            target_scaler.transform(samples.target[validation_index, None], dtype=settings.dtype),
        )

    if members is None:
        core, history, resolved = train_core(scaled_inputs, scaled_targets, settings, rng, validation=validation_pair, progress=progress)
    else:
        from .ensemble import train_members

        core, history, resolved = train_members(
            scaled_inputs, scaled_targets, settings, rng, validation=validation_pair, members=members, kind=ensemble_kind
        )
    settings.extra.update(resolved)
    counts = {
        "grid_points": int(samples.valid.size),
        "dropped": int(samples.n_dropped),
        "training": int(train_index.size),
        "validation": int(validation_index.size),
    }
    return core, driver_scaler, target_scaler, history, counts


def train_core(
    scaled_inputs: np.ndarray,
    scaled_targets: np.ndarray,
    settings: FitSettings,
    rng: np.random.Generator,
    *,
    validation: tuple[np.ndarray, np.ndarray] | None = None,
    progress: bool | None = False,
) -> tuple[Any, TrainingHistory, dict[str, Any]]:
    """Fit one core (network or linear map) to scaled samples, as `settings` say.

    Parameters
    ----------
    scaled_inputs : numpy.ndarray
        Scaled drivers ``(n_samples, n_drivers)``.
    scaled_targets : numpy.ndarray
        Scaled targets ``(n_samples, n_outputs)``.
    settings : FitSettings
        Validated settings.
    rng : numpy.random.Generator
        Draws the initial weights and shuffles mini-batches.
    validation : tuple of numpy.ndarray, optional
        Scaled ``(inputs, targets)`` for early stopping.
    progress : bool, optional
        Show a progress bar (``None``: only in interactive sessions).

    Returns
    -------
    core : SigmoidNetwork or LinearMap
    history : TrainingHistory
    resolved : dict
        The batch size, epochs, patience and learning rate actually used (empty for ``method="linear"``).

    Raises
    ------
    TrainingDivergedError
        If the loss becomes NaN or infinite.

    Examples
    --------
    >>> settings = FitSettings(hidden=(3,), seed=0, epochs=5); settings.validate()
    >>> core, history, resolved = train_core(np.zeros((4, 2)), np.full((4, 1), 0.5), settings, np.random.default_rng(0))
    >>> core.sizes, len(history.loss), resolved["resolved_epochs"]
    ((2, 3, 1), 5, 5)
    """
    if settings.method == "linear":
        core = LinearMap.fit(scaled_inputs, scaled_targets)
        history = TrainingHistory(loss=[float(np.mean((core.predict(scaled_inputs) - scaled_targets) ** 2))], best_epoch=0)
        if validation is not None:
            history.val_loss.append(float(np.mean((core.predict(validation[0]) - validation[1]) ** 2)))
        return core, history, {}
    core = settings.initial_network(scaled_inputs.shape[1], scaled_targets.shape[1], rng)
    schedule, optimizer = settings.training_plan(scaled_inputs.shape[0], validation is not None)
    callback, close = epoch_progress(progress, schedule.epochs)
    try:
        # overflow on the way to a diverged fit is reported by TrainingDivergedError, not by warnings
        with np.errstate(over="ignore", invalid="ignore"):
            history = train(
                core, scaled_inputs, scaled_targets,
                optimizer=optimizer, schedule=schedule, rng=rng,
                validation=validation, loss=settings.loss, progress=callback,
            )
    finally:
        close()
    return core, history, settings.resolved(schedule, optimizer)


def resolve_drivers_for_prediction(ds: xr.Dataset, model: Model) -> list[Hashable]:
    """Find the model's drivers in ``ds`` by name, else by the CF standard_name they had, and check them.

    Every function that applies a model to a Dataset (prediction, importance,
    response curves) goes through here, so the checks are the same everywhere.

    Parameters
    ----------
    ds : xarray.Dataset
        Holds the drivers, possibly under other names.
    model : Model

    Returns
    -------
    list of hashable
        The variable names in ``ds``, in the model's driver order.

    Raises
    ------
    KeyError
        If any driver is missing; the message names all missing ones and what exists.
    TypeError
        A driver that is not numeric.
    ValueError
        A driver whose ``units`` differ from those the model was trained with.

    Examples
    --------
    >>> import xrann
    >>> model = xrann.datasets.soil_toy().ann.fit(target="co2_flux", seed=0, epochs=5)
    >>> sites = xrann.datasets.soil_toy_sites().rename(soil_moisture="theta")  # keeps its standard_name
    >>> resolve_drivers_for_prediction(sites, model)
    ['theta', 'grain_size']
    """
    found: list[Hashable] = []
    missing: list[str] = []
    for name in model.drivers:
        standard_name = model.driver_attrs.get(name, {}).get("standard_name")
        try:
            found.append(resolve_variable(ds, name, "driver"))
            continue
        except KeyError:
            pass
        try:
            if standard_name:
                found.append(resolve_variable(ds, standard_name, "driver"))
                continue
        except KeyError:
            pass
        missing.append(name)
    if missing:
        raise KeyError(
            f"the model needs drivers {model.drivers} but {missing} are missing from the Dataset "
            f"(looked up by name and by CF standard_name); it has data variables {list(map(str, ds.data_vars))}."
        )
    for driver in found:
        check_numeric(ds, driver, "driver")
    check_units(ds, found, {name_in_ds: model.driver_units[name] for name_in_ds, name in zip(found, model.drivers)})
    return found


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
    members : bool, default False
        For an ensemble, every member's prediction along a new ``member`` dim
        (see `xrann.ensemble.predict_ensemble`).
    std : bool, default False
        For an ensemble, a Dataset with the mean ``"<target>_predicted"`` and
        the members' spread ``"<target>_predicted_std"``.
    mask_extrapolation : bool or float, default False
        NaN where a driver is outside its training range or the envelope
        distance exceeds this threshold (``True``: 2); see `xrann.extrapolation`.

    Returns
    -------
    xarray.DataArray or xarray.Dataset
        Named ``"<target>_predicted"``, with the target's ``units`` and
        ``long_name``; on the target's exact grid when ``ds`` has the target,
        else on the drivers' grid with the training dim order. NaN wherever a
        driver is NaN or infinite. An ensemble predicts its members' mean.

    Raises
    ------
    KeyError
        Drivers missing from ``ds``.
    ValueError
        Driver units that differ from the training units; ``members`` or
        ``std`` for a single model.
    TypeError
        Non-numeric drivers.

    Examples
    --------
    >>> import xrann
    >>> model = xrann.datasets.soil_toy().ann.fit(target="co2_flux", seed=0)
    >>> predict_dataset(xrann.datasets.soil_toy_sites(), model).dims
    ('site',)
    """
    if mask_extrapolation is not False:
        from .extrapolation import resolve_threshold

        resolve_threshold(mask_extrapolation)  # a bad value fails before any prediction runs
    if members or std:
        from .ensemble import predict_ensemble

        return predict_ensemble(ds, model, members=members, std=std, mask_extrapolation=mask_extrapolation)
    attrs = {key: model.target_attrs[key] for key in ("units", "long_name") if key in model.target_attrs}
    prediction = apply_to_grid(ds, model, model.predict_array, name=f"{model.target}_predicted", attrs=attrs)
    if mask_extrapolation is not False:
        from .extrapolation import mask_extrapolated

        prediction = mask_extrapolated(prediction, ds, model, mask_extrapolation)
    return prediction


def apply_to_grid(
    ds: xr.Dataset,
    model: Model,
    function: Callable[[np.ndarray], np.ndarray],
    *,
    name: str,
    attrs: Mapping[str, Any],
) -> xr.DataArray:
    """Apply ``function`` to the model's drivers at every grid point of ``ds``, as a prediction would be.

    Finds the drivers (by name or CF standard_name), checks their type and
    units, and places the result on the grid `predict_dataset` uses (lazy for
    dask-backed input).

    Parameters
    ----------
    ds : xarray.Dataset
    model : Model
    function : callable
        Maps ``(n, n_drivers)`` driver values, columns in ``model.drivers`` order, to ``(n,)`` floats.
    name : str
    attrs : mapping

    Returns
    -------
    xarray.DataArray
        NaN wherever a driver is NaN or infinite.

    Raises
    ------
    KeyError, ValueError, TypeError
        As `predict_dataset`.

    Examples
    --------
    >>> import xrann
    >>> model = xrann.datasets.soil_toy().ann.fit(target="co2_flux", seed=0, epochs=10)
    >>> apply_to_grid(xrann.datasets.soil_toy(), model, lambda m: m[:, 0], name="m", attrs={}).values
    array([58., 34., 58.])
    """
    drivers = resolve_drivers_for_prediction(ds, model)
    if any(ds[driver].chunks is not None for driver in drivers):
        from .streaming import align_chunks

        ds = align_chunks(ds, drivers)  # one chunk grid: blocks (and the result) follow the drivers' chunks
    like = None
    if model.target in ds.data_vars:
        candidate = ds[model.target]
        if all(set(ds[driver].dims) <= set(candidate.dims) for driver in drivers):
            like = candidate
    return predict_on_grid(
        ds,
        drivers,
        function,
        dims=output_dims(ds, drivers, model.sample_dims),
        name=name,
        attrs=attrs,
        like=like,
    )
