"""Fit settings: checked before any data is read, then resolved (``"auto"``) once the data's size is known.

`FitSettings` holds what the user asked for; `FitSettings.choose_optimizer`
(once the drivers are known) and `FitSettings.resolve` (once the number of
training samples is known) turn every ``"auto"`` into numbers, the same way
in every mode of training. What ``"auto"`` resolves to:

``optimizer="auto"``
    ``"lm"`` (Levenberg-Marquardt, the classic for small flux-upscaling
    networks) when the network has at most
    `~xrann.core.second_order.LevenbergMarquardt.max_parameters` parameters,
    else ``"lbfgs"``; ``"adam"`` when a ``learning_rate`` or an integer
    ``batch_size`` is given (those belong to first-order methods).
``batch_size="auto"``
    Full batch for optimisers that take only full-batch steps (lm, lbfgs,
    irprop+) and for up to 2,048 samples, else mini-batches of 256.
``epochs="auto"``
    The optimiser's own limit (`Optimizer.auto_epochs`: 1,000 steps for lm,
    2,000 for lbfgs), else about 100,000 parameter updates (between 10 and
    5,000 epochs).
``patience="auto"``
    The optimiser's own (`Optimizer.auto_patience`: 5 for lm, 10 for lbfgs),
    else ``max(10, epochs // 20)``.
``tolerance="auto"``
    The relative improvement of the monitored loss that counts as progress:
    the optimiser's own (`Optimizer.auto_tolerance`: 5e-3 for lm, whose
    steps move far), else 1e-3.
``validation="auto"`` (of `xrann.fit.fit_dataset`)
    With at least 1,000 valid samples, 10 % of them (drawn per grid point by
    a seeded hash, so the same in every mode and for any chunking) are held
    out to stop on; fewer samples train on all and stop on the training loss.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..core.engine import DEFAULT_TOLERANCE, Schedule, TrainingHistory
from ..core.ensemble import ENSEMBLE_KINDS
from ..core.envelope import Envelope
from ..core.network import LOSSES, WEIGHT_INITS, initialize, layer_sizes
from ..core.optimizers import Optimizer, make_optimizer, optimizer_class
from ..core.scaling import MinMaxScaler
from ..core.second_order import LevenbergMarquardt

__all__ = [
    "FitSettings",
    "SettingTypeError",
    "ResolvedSettings",
    "FitResult",
    "check_ensemble_arguments",
    "check_split_counts",
    "no_valid_samples_error",
    "describe_validation",
    "check_validation_argument",
    "n_parameters",
    "METHODS",
    "MODES",
    "AUTO_VALIDATION_FRACTION",
    "AUTO_VALIDATION_MIN_SAMPLES",
]

METHODS = ("ann", "linear")
MODES = ("memory", "stream", "batch")
#: share of the valid samples held out by ``validation="auto"``
AUTO_VALIDATION_FRACTION = 0.1
#: fewest valid samples for which ``validation="auto"`` holds some out
AUTO_VALIDATION_MIN_SAMPLES = 1_000
#: largest sample count trained full-batch when ``batch_size="auto"``
AUTO_FULL_BATCH_LIMIT = 2_048
AUTO_BATCH_SIZE = 256
#: number of parameter updates aimed for by ``epochs="auto"`` (first-order methods)
AUTO_UPDATES = 100_000
AUTO_MIN_EPOCHS = 10
AUTO_MAX_EPOCHS = 5_000
AUTO_MIN_PATIENCE = 10

Validation = float | Mapping[Hashable, Any] | str | None


def n_parameters(sizes: tuple[int, ...], bias: bool) -> int:
    """Number of weights and biases of a network with these layer sizes.

    Parameters
    ----------
    sizes : tuple of int
        Layer sizes, inputs first and outputs last.
    bias : bool
        Whether layers have bias terms.

    Returns
    -------
    int

    Examples
    --------
    >>> n_parameters((7, 4, 1), True)
    37
    """
    return sum((n_in + int(bias)) * n_out for n_in, n_out in zip(sizes[:-1], sizes[1:]))


class SettingTypeError(TypeError, ValueError):
    """A fit setting of the wrong type, such as ``hidden="abc"``, ``seed=1.5`` or ``bias="False"``.

    A `TypeError`, and also a `ValueError` because xrann raised `ValueError`
    for some of these settings before, so code that catches it keeps working
    (scikit-learn's ``InvalidParameterError`` is both for the same reason).

    Examples
    --------
    >>> issubclass(SettingTypeError, TypeError), issubclass(SettingTypeError, ValueError)
    (True, True)
    """


def _is_boolean(value: Any) -> bool:
    return isinstance(value, (bool, np.bool_))


def _is_integer(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not _is_boolean(value)


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not _is_boolean(value)


def _got(value: Any) -> str:
    """How a wrong value is shown: its repr, and its type when the repr hides it (``'10'`` is a string)."""
    if isinstance(value, str):
        return f"{value!r} (a string)"
    if value is None or isinstance(value, (bool, int, float, list, tuple, dict)):
        return repr(value)
    return f"{value!r} (of type {type(value).__name__})"


def _number_in_string(name: str, value: Any, expected: str) -> None:
    """Raise `SettingTypeError` for a number written as a string, e.g. ``epochs="10"``."""
    try:
        number = float(value)
    except ValueError:
        return
    written = int(number) if number.is_integer() and "." not in value and "e" not in value.lower() else number
    raise SettingTypeError(f"{name} must be {expected}, got {_got(value)}; write {name}={written!r} without quotes.")


def _integer(value: Any, name: str, expected: str) -> int:
    """``value`` as a Python int, for Python and numpy integers; `SettingTypeError` naming ``expected`` otherwise."""
    if _is_integer(value):
        return int(value)
    if isinstance(value, (float, np.floating)) and math.isfinite(value) and float(value).is_integer():
        raise SettingTypeError(f"{name} must be an integer, got {value!r}; write {int(value)}.")
    if isinstance(value, str):
        _number_in_string(name, value, expected)
    raise SettingTypeError(f"{name} must be {expected}, got {_got(value)}.")


def _real(value: Any, name: str, expected: str) -> float:
    """``value`` as a Python float, for Python and numpy real numbers (not booleans); `SettingTypeError` otherwise."""
    if _is_real(value):
        return float(value)
    if isinstance(value, str):
        _number_in_string(name, value, expected)
    raise SettingTypeError(f"{name} must be {expected}, got {_got(value)}.")


def _name(value: Any, name: str, choices: Sequence[str]) -> str:
    """``value`` if it is a string (checked against ``choices`` by the caller); `SettingTypeError` otherwise."""
    if not isinstance(value, str):
        raise SettingTypeError(f"{name} must be a string, one of {tuple(choices)}; got {_got(value)}.")
    return value


def _float_dtype(value: Any) -> str:
    """``"float64"`` or ``"float32"`` from a name, a numpy dtype or a scalar type such as ``np.float32``."""
    if not isinstance(value, (str, np.dtype, type)):
        raise SettingTypeError(f"dtype must be 'float64' or 'float32' (a name or numpy dtype), got {_got(value)}.")
    try:
        dtype = np.dtype(value)
    except (TypeError, ValueError):
        dtype = None
    if dtype is None or dtype not in (np.dtype(np.float64), np.dtype(np.float32)):
        raise ValueError(f"dtype={value!r} is not supported; choose 'float64' or 'float32'.")
    return dtype.name


def check_ensemble_arguments(members: Any, kind: Any) -> None:
    """Raise `ValueError` for a member count below 1 or an unknown ensemble kind.

    Parameters
    ----------
    members : int
    kind : str

    Raises
    ------
    SettingTypeError
        ``members`` not an integer, ``kind`` not a string.
    ValueError
        ``members < 1``, an unknown ``kind``, or ``"folds"`` with one member.

    Examples
    --------
    >>> check_ensemble_arguments(10, "bootstrap")
    >>> check_ensemble_arguments(0, "bootstrap")
    Traceback (most recent call last):
    ...
    ValueError: members=0 must be a positive integer ...
    """
    if not _is_integer(members):
        raise SettingTypeError(
            f"members={members!r} must be a positive integer (e.g. members=10), or None for a single model."
        )
    if members < 1:
        raise ValueError(f"members={members!r} must be a positive integer (e.g. members=10), or None for a single model.")
    if not isinstance(kind, str):
        raise SettingTypeError(f"ensemble must be a string, one of {ENSEMBLE_KINDS}; got {_got(kind)}.")
    if kind not in ENSEMBLE_KINDS:
        raise ValueError(f"ensemble={kind!r} is not known; choose one of {ENSEMBLE_KINDS}.")
    if kind == "folds" and members < 2:
        raise ValueError(
            "ensemble='folds' with members=1 would leave the only fold out; use members >= 2 (one member per fold)."
        )


def check_validation_argument(validation: Validation) -> None:
    """Raise unless ``validation`` is None, "auto", a fraction in (0, 1) or a selection.

    Parameters
    ----------
    validation : float, dict, "auto" or None
        The ``validation`` argument of a fit.

    Raises
    ------
    SettingTypeError
        A value of another type (a list, a boolean, an array, ...), with the forms that are understood.
    ValueError
        A fraction outside (0, 1) or a string other than "auto", with the forms that are understood.

    Examples
    --------
    >>> check_validation_argument({"time": [2007]})
    >>> check_validation_argument(1.5)
    Traceback (most recent call last):
    ...
    ValueError: validation=1.5 is not understood; ...
    """
    if validation is None or isinstance(validation, Mapping):
        return
    if isinstance(validation, str) and validation == "auto":
        return
    forms = (
        "pass a fraction in (0, 1) such as 0.2, 'auto', None, "
        "or a selection such as {'time': [2007, 2015]} or {'time': slice('2015-01', '2015-12')}."
    )
    if not (_is_real(validation) or isinstance(validation, str)):
        raise SettingTypeError(f"validation={_got(validation)} is not understood; {forms}")
    if isinstance(validation, str) or not 0 < validation < 1:
        raise ValueError(f"validation={validation!r} is not understood; {forms}")


def no_valid_samples_error(target_name: Hashable, driver_names: Sequence[Hashable]) -> ValueError:
    """The error for a fit where no grid point has finite values in the target and every driver.

    Parameters
    ----------
    target_name : hashable
    driver_names : sequence of hashable

    Returns
    -------
    ValueError
        To be raised; its message names the variables and how to check their overlap.

    Examples
    --------
    >>> print(no_valid_samples_error("nee", ["t2m"]))  # doctest: +ELLIPSIS
    no valid samples: every grid point has a NaN or infinite value in target 'nee' or one of the drivers ['t2m']; ...
    """
    return ValueError(
        f"no valid samples: every grid point has a NaN or infinite value in target {target_name!r} or one of "
        f"the drivers {list(driver_names)}; check the variables' overlap (e.g. ds[{target_name!r}].count())."
    )


def check_split_counts(validation: Validation, n_valid: int, n_train: int, n_validation: int) -> None:
    """Raise `ValueError` when a validation split leaves the training or the validation side empty.

    ``validation=None`` and ``"auto"`` never raise (``"auto"`` holds out
    samples only when there are enough).

    Parameters
    ----------
    validation : float, dict, "auto" or None
        The user's argument, named in the message.
    n_valid : int
        Valid samples of the fit.
    n_train, n_validation : int
        How they split.

    Raises
    ------
    ValueError
        An empty training or validation side.

    Examples
    --------
    >>> check_split_counts(0.2, n_valid=100, n_train=81, n_validation=19)
    >>> check_split_counts({"time": [2007]}, n_valid=100, n_train=100, n_validation=0)
    Traceback (most recent call last):
    ...
    ValueError: validation={'time': [2007]} selects no valid sample; choose labels where the target has data.
    """
    if isinstance(validation, Mapping):
        if n_train == 0:
            raise ValueError(
                f"validation={dict(validation)} holds out all {n_valid} valid samples, leaving none for training; "
                "hold out fewer labels."
            )
        if n_validation == 0:
            raise ValueError(f"validation={dict(validation)} selects no valid sample; choose labels where the target has data.")
    elif validation not in (None, "auto") and (n_train < 1 or n_validation < 1):
        raise ValueError(
            f"too few samples for validation={validation}: {n_valid} valid samples give {n_validation} validation "
            f"and {n_train} training samples; use a larger fraction, more data, or validation=None."
        )


def describe_validation(validation: Validation) -> Any:
    """The validation argument as plain values for the model file.

    Parameters
    ----------
    validation : float, dict, "auto" or None

    Returns
    -------
    float, str, dict of str to str, or None
        A selection becomes ``{dim: repr(labels)}``; other values pass through.

    Examples
    --------
    >>> describe_validation({"time": [2007, 2015]}), describe_validation(0.2)
    ({'time': '[2007, 2015]'}, 0.2)
    """
    if validation is None or isinstance(validation, str):
        return validation
    if _is_real(validation):
        return float(validation)
    return {str(dim): repr(selector) for dim, selector in validation.items()}


@dataclass(frozen=True)
class ResolvedSettings:
    """What the ``"auto"`` settings of a fit became, recorded in the model file.

    Attributes
    ----------
    optimizer : str
    optimizer_options : dict
        Every option of the optimiser, defaults included.
    learning_rate : float or None
        ``None`` for methods that choose their own steps.
    batch_size : int or None
        ``None`` is full batch.
    epochs, patience : int
    tolerance : float

    Examples
    --------
    >>> ResolvedSettings("lm", {}, None, None, 1000, 10, 1e-3).as_hyperparameters()["resolved_optimizer"]
    'lm'
    """

    optimizer: str
    optimizer_options: dict[str, Any]
    learning_rate: float | None
    batch_size: int | None
    epochs: int
    patience: int | None
    tolerance: float

    @property
    def schedule(self) -> Schedule:
        """The engine's `~xrann.core.engine.Schedule`."""
        return Schedule(self.batch_size, self.epochs, self.patience, self.tolerance)

    def as_hyperparameters(self) -> dict[str, Any]:
        """``resolved_<name>`` entries for the model's hyperparameters."""
        return {f"resolved_{key}": value for key, value in asdict(self).items()}


@dataclass
class FitResult:
    """What a fit in any mode hands back: the trained core, its scaling and how training went.

    Attributes
    ----------
    core : SigmoidNetwork, LinearMap or EnsembleCore
    driver_scaler, target_scaler : MinMaxScaler
    history : TrainingHistory or xarray.Dataset
        A Dataset over ``(member, epoch)`` for ensembles.
    counts : dict
        ``grid_points``, ``dropped``, ``training``, ``validation``.
    resolved : ResolvedSettings or None
        ``None`` for ``method="linear"``.
    envelope : Envelope or None
        The k-means envelope of the training drivers (scaled), for
        extrapolation flags.

    Examples
    --------
    >>> from xrann.core.linear import LinearMap
    >>> scaler = MinMaxScaler(np.array([0.0]), np.array([1.0]))
    >>> result = FitResult(LinearMap(np.array([[1.0]]), np.array([0.0])), scaler, scaler, TrainingHistory(loss=[0.1]), {"training": 10})
    >>> result.resolved is None, result.envelope is None
    (True, True)
    """

    core: Any
    driver_scaler: MinMaxScaler
    target_scaler: MinMaxScaler
    history: Any
    counts: dict[str, int]
    resolved: ResolvedSettings | None = None
    envelope: Envelope | None = None


@dataclass
class FitSettings:
    """Training settings, checked before any data is touched.

    Parameters
    ----------
    hidden : tuple of int, default (4,)
        Nodes per hidden layer.
    bias : bool, default True
        Whether layers have bias terms.
    optimizer : {"auto", "lm", "lbfgs", "adam", "sgd", "momentum", "irprop+"}, default "auto"
        See the module documentation for what ``"auto"`` chooses.
    learning_rate : float, optional
        First-order methods only; defaults to the optimiser's own (Adam 0.01, SGD 0.1).
    optimizer_options : dict, optional
        Options of the optimiser, e.g. ``{"damping": 0.01}`` for lm,
        ``{"history": 20}`` for lbfgs, ``{"beta1": 0.8}`` for adam; stored in the model.
    epochs : int or "auto"
        Most epochs (full-batch steps, or passes of mini-batches).
    batch_size : int, "auto" or None
        ``None`` is full batch.
    patience : int, "auto" or None
        Epochs without progress of the monitored loss before stopping; ``None`` never stops early.
    tolerance : float or "auto"
        Relative improvement that counts as progress (``"auto"``: 5e-3 for lm, else 1e-3).
    seed : int, optional
        Seeds weights, shuffling and validation splits. ``None`` draws
        a seed, which is stored in the model so the fit can be repeated.
    dtype : {"float64", "float32"}
    init : {"xavier", "uniform"}
        ``"uniform"`` draws weights from ``U(0, 1)`` as the original recipe did.
    loss : {"mse", "sse"}
    target_range : tuple of float, default (0.1, 0.9)
        Interval the training range of the target is scaled onto (inside the sigmoid's ``(0, 1)``).
    method : {"ann", "linear"}
        ``"linear"`` fits a least-squares baseline on the same scaled drivers.

    Examples
    --------
    >>> settings = FitSettings(hidden=8, optimizer="SGD")
    >>> settings.validate()
    >>> settings.hidden, settings.optimizer
    ((8,), 'sgd')
    >>> settings.resolve(n_inputs=3, n_outputs=1, n_train=100_000, has_validation=True).batch_size
    256
    """

    hidden: tuple[int, ...] = (4,)
    bias: bool = True
    optimizer: str = "auto"
    learning_rate: float | None = None
    optimizer_options: dict[str, Any] | None = None
    epochs: int | str = "auto"
    batch_size: int | str | None = "auto"
    patience: int | str | None = "auto"
    tolerance: float | str = "auto"
    seed: int | None = None
    dtype: str = "float64"
    init: str = "xavier"
    loss: str = "mse"
    target_range: tuple[float, float] = (0.1, 0.9)
    method: str = "ann"

    def validate(self) -> None:
        """Check every setting by type and value, and store numpy scalars as plain Python values.

        Numpy integers (``np.int64(4)``) and booleans (``np.bool_``) count as
        integers and booleans; whole-number floats, strings and other types do
        not (``hidden=(4.5,)`` must not quietly become 4 nodes).

        Raises
        ------
        SettingTypeError
            A setting of the wrong type (a `TypeError`, and also a `ValueError`).
        ValueError
            A setting of the right type but out of range or unknown, naming what is accepted.

        Examples
        --------
        >>> settings = FitSettings(hidden=np.array([8, 4]), bias=np.bool_(False), seed=np.int64(0), dtype=np.float32)
        >>> settings.validate()
        >>> settings.hidden, settings.bias, settings.seed, settings.dtype
        ((8, 4), False, 0, 'float32')
        >>> FitSettings(hidden=(4.5,)).validate()
        Traceback (most recent call last):
        ...
        xrann.fit.settings.SettingTypeError: hidden must hold integer numbers of nodes per layer, e.g. hidden=(8, 4); got 4.5 in hidden=(4.5,).
        """
        hidden = self.hidden.tolist() if isinstance(self.hidden, np.ndarray) else self.hidden
        if _is_integer(hidden):
            hidden = (hidden,)
        if isinstance(hidden, (str, bytes)) or not isinstance(hidden, Sequence):
            raise SettingTypeError(
                f"hidden must be a number of nodes or a sequence of them per layer, e.g. hidden=4 or hidden=(8, 4); "
                f"got {_got(hidden)}."
            )
        for size in hidden:
            if not _is_integer(size):
                raise SettingTypeError(
                    f"hidden must hold integer numbers of nodes per layer, e.g. hidden=(8, 4); got {_got(size)} in hidden={self.hidden!r}."
                )
        self.hidden = tuple(int(size) for size in hidden)
        layer_sizes(1, self.hidden)
        self.bias = self._boolean("bias", self.bias)
        if self.seed is not None:
            self.seed = _integer(self.seed, "seed", "a non-negative integer, or None to draw one")
            if self.seed < 0:
                raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}.")
        for name, none_allowed in (("epochs", False), ("batch_size", True), ("patience", True)):
            value = getattr(self, name)
            expected = "a positive integer or 'auto'" + (" or None" if none_allowed else "")
            if (value is None and none_allowed) or (isinstance(value, str) and value == "auto"):
                continue
            if isinstance(value, str):
                _number_in_string(name, value, expected)
                raise ValueError(f"{name}={value!r} is not understood; pass {expected}.")
            value = _integer(value, name, expected)
            if value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}.")
            setattr(self, name, value)
        if self.learning_rate is not None:
            self.learning_rate = _real(self.learning_rate, "learning_rate", "a positive number, or None for the optimiser's own")
            if not (math.isfinite(self.learning_rate) and self.learning_rate > 0):
                raise ValueError(f"learning_rate must be a positive number, got {self.learning_rate!r}.")
        if not (isinstance(self.tolerance, str) and self.tolerance == "auto"):
            expected = "a number in [0, 1) (a relative improvement such as 1e-3) or 'auto'"
            if isinstance(self.tolerance, str):
                _number_in_string("tolerance", self.tolerance, expected)
                raise ValueError(f"tolerance={self.tolerance!r} is not understood; pass {expected}.")
            self.tolerance = _real(self.tolerance, "tolerance", expected)
            if not 0 <= self.tolerance < 1:
                raise ValueError(f"tolerance must be in [0, 1) (a relative improvement such as 1e-3), got {self.tolerance}.")
        self.target_range = self._target_range(self.target_range)
        if _name(self.method, "method", METHODS) not in METHODS:
            raise ValueError(f"method={self.method!r} is not known; choose one of {METHODS}.")
        self.dtype = _float_dtype(self.dtype)
        if _name(self.init, "init", WEIGHT_INITS) not in WEIGHT_INITS:
            raise ValueError(f"init={self.init!r} is not known; choose one of {WEIGHT_INITS}.")
        if _name(self.loss, "loss", LOSSES) not in LOSSES:
            raise ValueError(f"loss={self.loss!r} is not known; choose one of {LOSSES}.")
        if not isinstance(self.optimizer, str):
            raise SettingTypeError(f"optimizer must be a name such as 'auto', 'lm' or 'adam' (a string), got {_got(self.optimizer)}.")
        self.optimizer = self.optimizer.lower()
        if self.optimizer_options is not None:
            if not isinstance(self.optimizer_options, Mapping):
                raise SettingTypeError(
                    f"optimizer_options must be a dict such as {{'damping': 0.01}}, got {_got(self.optimizer_options)}."
                )
            bad_keys = [key for key in self.optimizer_options if not isinstance(key, str)]
            if bad_keys:
                raise SettingTypeError(
                    f"optimizer_options must be a dict keyed by option names (strings) such as {{'damping': 0.01}}, "
                    f"got keys {bad_keys}."
                )
            self.optimizer_options = dict(self.optimizer_options)
        if self.optimizer == "auto":
            if self.optimizer_options:
                raise ValueError(
                    f"optimizer_options={self.optimizer_options} needs an optimizer to apply to; "
                    "pass optimizer= as well, e.g. optimizer='lm'."
                )
        else:
            cls = optimizer_class(self.optimizer)
            make_optimizer(self.optimizer, self.learning_rate, self.optimizer_options)  # checks the options
            if not cls.minibatch and isinstance(self.batch_size, int):
                raise ValueError(
                    f"optimizer={self.optimizer!r} makes full-batch steps only, but batch_size={self.batch_size} was given; "
                    "drop batch_size (or pass batch_size=None), or choose optimizer='adam' for mini-batches."
                )
        if self.seed is None:
            self.seed = int(np.random.SeedSequence().generate_state(1)[0])

    @staticmethod
    def _boolean(name: str, value: Any) -> bool:
        if not _is_boolean(value):
            raise SettingTypeError(f"{name} must be True or False, got {_got(value)}.")
        return bool(value)

    @staticmethod
    def _target_range(value: Any) -> tuple[float, float]:
        expected = "two numbers (low, high) with 0 <= low < high <= 1, such as (0.1, 0.9)"
        values = value.tolist() if isinstance(value, np.ndarray) else value
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
            raise SettingTypeError(f"target_range must be {expected}; got {_got(value)}.")
        if len(values) != 2:
            raise ValueError(f"target_range must be {expected}; got {len(values)} values {value!r}.")
        low, high = (_real(end, "target_range", expected) for end in values)
        if not 0 <= low < high <= 1:
            raise ValueError(f"target_range must satisfy 0 <= low < high <= 1 (the sigmoid's range), got {(low, high)}.")
        return low, high

    def sizes(self, n_inputs: int, n_outputs: int = 1) -> tuple[int, ...]:
        """Layer sizes of the network for ``n_inputs`` drivers."""
        return layer_sizes(n_inputs, self.hidden, n_outputs)

    def choose_optimizer(self, n_inputs: int, n_outputs: int = 1) -> type[Optimizer]:
        """The optimiser class for a network on ``n_inputs`` drivers, its size checked (before data is read).

        Raises
        ------
        ValueError
            A network too large for the chosen optimiser (e.g. Levenberg-Marquardt's JᵀJ).
        """
        count = n_parameters(self.sizes(n_inputs, n_outputs), self.bias)
        if self.optimizer != "auto":
            cls = optimizer_class(self.optimizer)
        elif self.learning_rate is not None or isinstance(self.batch_size, int):
            cls = optimizer_class("adam")
        elif count <= LevenbergMarquardt.max_parameters:
            cls = optimizer_class("lm")
        else:
            cls = optimizer_class("lbfgs")
        cls.check_size(count)
        return cls

    def resolve(self, n_inputs: int, n_outputs: int, n_train: int, has_validation: bool) -> ResolvedSettings:
        """Every ``"auto"`` as a number, for ``n_train`` training samples.

        Examples
        --------
        >>> settings = FitSettings(seed=0); settings.validate()
        >>> resolved = settings.resolve(n_inputs=7, n_outputs=1, n_train=262_000, has_validation=True)
        >>> resolved.optimizer, resolved.batch_size, resolved.epochs, resolved.patience
        ('lm', None, 1000, 5)
        """
        cls = self.choose_optimizer(n_inputs, n_outputs)
        optimizer = make_optimizer(cls.name, self.learning_rate, self.optimizer_options if self.optimizer != "auto" else None)
        batch_size = self.batch_size
        if batch_size == "auto":
            batch_size = None if not cls.minibatch or n_train <= AUTO_FULL_BATCH_LIMIT else AUTO_BATCH_SIZE
        if batch_size is not None and batch_size >= n_train:
            batch_size = None
        epochs = self.epochs
        if epochs == "auto":
            if cls.auto_epochs is not None:
                epochs = cls.auto_epochs
            else:
                updates_per_epoch = 1 if batch_size is None else math.ceil(n_train / batch_size)
                epochs = min(AUTO_MAX_EPOCHS, max(AUTO_MIN_EPOCHS, math.ceil(AUTO_UPDATES / updates_per_epoch)))
        patience = self.patience
        if patience == "auto":
            patience = cls.auto_patience if cls.auto_patience is not None else max(AUTO_MIN_PATIENCE, epochs // 20)
        if self.tolerance == "auto":
            tolerance = cls.auto_tolerance if cls.auto_tolerance is not None else DEFAULT_TOLERANCE
        else:
            tolerance = float(self.tolerance)
        return ResolvedSettings(
            optimizer=cls.name,
            optimizer_options=optimizer.options(),
            learning_rate=optimizer.learning_rate,
            batch_size=batch_size,
            epochs=int(epochs),
            patience=patience,
            tolerance=tolerance,
        )

    def initial_network(self, n_inputs: int, n_outputs: int, rng: np.random.Generator):
        """Initial weights of a network with these settings (``hidden``, ``bias``, ``init``, ``dtype``)."""
        return initialize(self.sizes(n_inputs, n_outputs), rng=rng, bias=self.bias, init=self.init, dtype=self.dtype)

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable settings for the model file."""
        settings = asdict(self)
        settings["hidden"] = list(self.hidden)
        settings["target_range"] = list(self.target_range)
        settings["optimizer_options"] = dict(self.optimizer_options or {})
        return settings


def history_attrs(history: TrainingHistory) -> dict[str, Any]:
    """How training ended, as attributes of the history Dataset.

    Examples
    --------
    >>> history_attrs(TrainingHistory(best_epoch=3, converged=True, stop_reason="done"))["converged"]
    1
    """
    return {
        "best_epoch": int(history.best_epoch),
        "stopped_early": int(history.stopped_early),
        "converged": int(history.converged),
        "stop_reason": history.stop_reason,
        "training_seconds": float(history.seconds),
    }
