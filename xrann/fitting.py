"""Fit and predict on Datasets: validation of settings, sample selection, training, the `Model`.

This module joins the xarray layer (`xrann.samples`) to the numpy core
(`xrann.network`, `xrann.training`, `xrann.scaling`). The accessor calls
`fit_dataset` and `predict_dataset`; so can users who prefer functions.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import xarray as xr

from .linear import LinearMap
from .model import Model
from .network import LOSSES, WEIGHT_INITS, initialize, layer_sizes
from .optimizers import OPTIMIZERS, make_optimizer
from .samples import (
    check_driver_dims,
    check_numeric,
    check_units,
    output_dims,
    predict_on_grid,
    resolve_variable,
    select_variables,
    selection_mask,
    stack_samples,
    valid_sample_mask,
)
from .scaling import MinMaxScaler
from .training import TrainingHistory, resolve_schedule, train

__all__ = ["FitSettings", "fit_dataset", "predict_dataset", "resolve_drivers_for_prediction", "METHODS", "MODES"]

METHODS = ("ann", "linear")
MODES = ("memory", "stream", "batch")

Validation = float | Mapping[Hashable, Any] | None


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
        if isinstance(self.hidden, (int, np.integer)):
            self.hidden = (int(self.hidden),)
        self.hidden = tuple(self.hidden)
        layer_sizes(1, self.hidden)
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
        elif isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}.")

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


def _split_fraction(n_samples: int, fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    n_validation = int(round(fraction * n_samples))
    if n_validation < 1 or n_samples - n_validation < 1:
        raise ValueError(
            f"too few samples for validation={fraction}: {n_samples} valid samples give {n_validation} validation "
            f"and {n_samples - n_validation} training samples; use a larger fraction, more data, or validation=None."
        )
    order = rng.permutation(n_samples)
    return np.sort(order[n_validation:]), np.sort(order[:n_validation])


def _resolve_mode(ds: xr.Dataset, names: Sequence[Hashable], mode: str | None) -> str:
    if mode is None:
        lazy = any(ds[name].chunks is not None for name in names)
        return "stream" if lazy and _streaming_available() else "memory"
    if mode not in MODES:
        raise ValueError(f"mode={mode!r} is not known; choose one of {MODES} (or None to choose by the data).")
    return mode


def _streaming_available() -> bool:
    try:
        from . import streaming  # noqa: F401
    except ImportError:
        return False
    return True


def fit_dataset(
    ds: xr.Dataset,
    target: Hashable,
    drivers: Sequence[Hashable] | None = None,
    *,
    validation: Validation = None,
    mode: str | None = None,
    progress: bool | None = None,
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

    target_name, driver_names = select_variables(ds, target, drivers)
    sample_dims = tuple(ds[target_name].dims)
    names = list(driver_names) + [target_name]
    resolved_mode = _resolve_mode(ds, names, mode)
    holdout = selection_mask(ds, validation, sample_dims) if isinstance(validation, Mapping) else None
    rng = np.random.default_rng(fit_settings.seed)

    if resolved_mode == "memory" or fit_settings.method == "linear":
        result = _fit_in_memory(ds, target_name, driver_names, sample_dims, fit_settings, validation, holdout, rng, progress)
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
        history=history_to_dataset(history),
        sample_counts=counts,
        method=fit_settings.method,
        dtype=fit_settings.dtype,
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


def _fit_in_memory(ds, target_name, driver_names, sample_dims, settings: FitSettings, validation, holdout, rng, progress):
    samples = stack_samples(ds, driver_names, target_name, sample_dims, dtype=np.float64)
    n_valid = samples.target.size
    if n_valid == 0:
        raise ValueError(
            f"no valid samples: every grid point has a NaN or infinite value in target {target_name!r} or one of "
            f"the drivers {list(driver_names)}; check the variables' overlap (e.g. ds[{target_name!r}].count())."
        )
    if holdout is not None:
        in_holdout = holdout.transpose(*sample_dims).values.reshape(-1)[np.flatnonzero(samples.valid.values.reshape(-1))]
        train_index, validation_index = np.flatnonzero(~in_holdout), np.flatnonzero(in_holdout)
        if train_index.size == 0:
            raise ValueError(
                f"validation={dict(validation)} holds out all {n_valid} valid samples, leaving none for training; "
                "hold out fewer labels."
            )
        if validation_index.size == 0:
            raise ValueError(f"validation={dict(validation)} selects no valid sample; choose labels where the target has data.")
    elif validation is not None:
        train_index, validation_index = _split_fraction(n_valid, float(validation), rng)
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

    if settings.method == "linear":
        core = LinearMap.fit(scaled_inputs, scaled_targets)
        history = TrainingHistory(loss=[float(np.mean((core.predict(scaled_inputs) - scaled_targets) ** 2))], best_epoch=0)
        if validation_pair is not None:
            history.val_loss.append(float(np.mean((core.predict(validation_pair[0]) - validation_pair[1]) ** 2)))
    else:
        core = initialize(
            layer_sizes(len(driver_names), settings.hidden),
            rng=rng,
            bias=settings.bias,
            init=settings.init,
            dtype=settings.dtype,
        )
        schedule = resolve_schedule(
            train_index.size,
            batch_size=settings.batch_size,
            epochs=settings.epochs,
            patience=settings.patience,
            has_validation=validation_pair is not None,
        )
        optimizer = make_optimizer(settings.optimizer, settings.learning_rate)
        callback, close = _progress_callback(progress, schedule.epochs)
        try:
            # overflow on the way to a diverged fit is reported by TrainingDivergedError, not by warnings
            with np.errstate(over="ignore", invalid="ignore"):
                history = train(
                    core, scaled_inputs, scaled_targets,
                    optimizer=optimizer, schedule=schedule, rng=rng,
                    validation=validation_pair, loss=settings.loss, progress=callback,
                )
        finally:
            close()
        settings.extra.update(
            {"resolved_batch_size": schedule.batch_size, "resolved_epochs": schedule.epochs,
             "resolved_patience": schedule.patience, "resolved_learning_rate": optimizer.learning_rate}
        )
    counts = {
        "grid_points": int(samples.valid.size),
        "dropped": int(samples.n_dropped),
        "training": int(train_index.size),
        "validation": int(validation_index.size),
    }
    return core, driver_scaler, target_scaler, history, counts


def _progress_callback(progress: bool | None, total_epochs: int):
    """A per-epoch callback and a closer; a progress bar when asked for or interactive."""
    from .progress import epoch_progress

    return epoch_progress(progress, total_epochs)


def resolve_drivers_for_prediction(ds: xr.Dataset, model: Model) -> list[Hashable]:
    """Find the model's drivers in ``ds`` by name, else by the CF standard_name they had.

    Raises
    ------
    KeyError
        If any driver is missing; the message names all missing ones and what exists.
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
    return found


def predict_dataset(ds: xr.Dataset, model: Model) -> xr.DataArray:
    """Predict ``model.target`` on the grid of ``ds`` (lazy for dask-backed input).

    Parameters
    ----------
    ds : xarray.Dataset
        Needs the model's drivers (the target is not needed). Never modified.
    model : Model

    Returns
    -------
    xarray.DataArray
        Named ``"<target>_predicted"``, with the target's ``units`` and
        ``long_name``; on the target's exact grid when ``ds`` has the target,
        else on the drivers' grid with the training dim order. NaN wherever a
        driver is NaN or infinite.

    Raises
    ------
    KeyError
        Drivers missing from ``ds``.
    ValueError
        Driver units that differ from the training units.
    TypeError
        Non-numeric drivers.

    Examples
    --------
    >>> import xrann
    >>> model = xrann.datasets.soil_toy().ann.fit(target="co2_flux", seed=0)
    >>> predict_dataset(xrann.datasets.soil_toy_sites(), model).dims
    ('site',)
    """
    drivers = resolve_drivers_for_prediction(ds, model)
    for name in drivers:
        check_numeric(ds, name, "driver")
    check_units(ds, drivers, {found: model.driver_units[name] for found, name in zip(drivers, model.drivers)})
    like = None
    if model.target in ds.data_vars:
        candidate = ds[model.target]
        if all(set(ds[name].dims) <= set(candidate.dims) for name in drivers):
            like = candidate
    attrs = {key: model.target_attrs[key] for key in ("units", "long_name") if key in model.target_attrs}
    return predict_on_grid(
        ds,
        drivers,
        model.predict_array,
        dims=output_dims(ds, drivers, model.sample_dims),
        name=f"{model.target}_predicted",
        attrs=attrs,
        like=like,
    )
