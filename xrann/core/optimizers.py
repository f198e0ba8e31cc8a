"""Optimisers as small classes in a registry: first-order ones with one ``update`` method, all with ``step``.

Every optimiser can make a full-batch *step* on an `Objective` (the loss of
all training samples as a function of the flat parameter vector), which is
how the epoch engine (`xrann.core.engine`) drives it in every mode. First-
order methods also take mini-batch gradients through ``update``. What an
optimiser can do is declared on its class (`Optimizer.minibatch`,
`Optimizer.needs_gauss_newton`, `Optimizer.max_parameters`), so the layers
above read capabilities instead of naming optimisers. Adding an optimiser
touches only this module (or `xrann.core.second_order`): write a class and
register it in `OPTIMIZERS`.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import numpy as np

__all__ = [
    "Objective",
    "StepResult",
    "Optimizer",
    "SGD",
    "Momentum",
    "Adam",
    "IRpropPlus",
    "OPTIMIZERS",
    "register",
    "optimizer_class",
    "make_optimizer",
    "check_positive",
    "check_fraction",
]


class Objective(Protocol):
    """The full-batch training loss as a function of the flat parameter vector.

    Each mode of training supplies one (arrays in memory, streamed blocks,
    shards on workers); every method sums over all training samples.

    For the Gauss-Newton terms, with residuals ``r`` (prediction minus
    target) and their Jacobian ``J`` with respect to the parameters, the loss
    is ``c * r @ r`` with ``c = 1 / n_terms`` for ``loss="mse"`` and ``1`` for
    ``"sse"``; `gauss_newton` returns ``c * J.T @ J`` and ``c * J.T @ r``, so
    the gradient is ``2 * c * J.T @ r``.

    Examples
    --------
    A least-squares line ``y = p[0] + p[1] * x`` as an objective (SSE, ``c = 1``):

    >>> class Line:
    ...     x, y = np.array([0.0, 1.0, 2.0]), np.array([1.0, 3.0, 5.0])
    ...     def residuals(self, p):
    ...         return p[0] + p[1] * self.x - self.y
    ...     def loss(self, p):
    ...         return float(self.residuals(p) @ self.residuals(p))
    ...     def loss_and_gradient(self, p):
    ...         jacobian = np.stack([np.ones(3), self.x], axis=1)
    ...         return self.loss(p), 2 * jacobian.T @ self.residuals(p)
    ...     def gauss_newton(self, p):
    ...         jacobian = np.stack([np.ones(3), self.x], axis=1)
    ...         return self.loss(p), jacobian.T @ jacobian, jacobian.T @ self.residuals(p)
    >>> objective: Objective = Line()
    >>> loss, jtj, jtr = objective.gauss_newton(np.zeros(2))
    >>> (np.zeros(2) - np.linalg.solve(jtj, jtr)).tolist()  # one Gauss-Newton step solves it
    [1.0, 2.0]
    """

    def loss(self, parameters: np.ndarray) -> float:
        """The training loss at ``parameters`` (forward passes only)."""

    def loss_and_gradient(self, parameters: np.ndarray) -> tuple[float, np.ndarray]:
        """The training loss and its gradient (a new flat vector, parameters' dtype)."""

    def gauss_newton(self, parameters: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """The loss, ``c * J.T @ J`` (p x p, float64) and ``c * J.T @ r`` (p, float64)."""


@dataclass(frozen=True)
class StepResult:
    """What one full-batch step reports to the engine.

    Attributes
    ----------
    loss : float
        Training loss at the parameters the step started from.
    converged : str or None
        Why the method can make no further progress (e.g. no step reduces
        the loss); ``None`` while it can.

    Examples
    --------
    >>> StepResult(0.25).converged is None
    True
    """

    loss: float
    converged: str | None = None


def check_positive(value: Any, name: str) -> float:
    """``value`` as a float, or a `ValueError` naming ``name`` if it is not a finite positive number.

    Parameters
    ----------
    value : object
        An optimiser option as the user gave it.
    name : str
        The option's name, for the message.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        Not a number, not finite, not positive, or a bool.

    Examples
    --------
    >>> check_positive(2, "damping")
    2.0
    """
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a positive number, got {value!r}.") from None
    if isinstance(value, bool) or not math.isfinite(number) or number <= 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}.")
    return number


def check_fraction(value: Any, name: str, *, closed_low: bool = True) -> float:
    """``value`` as a float in ``[0, 1)`` (``(0, 1)`` with ``closed_low=False``), else a `ValueError`.

    Parameters
    ----------
    value : object
        An optimiser option as the user gave it.
    name : str
        The option's name, for the message.
    closed_low : bool, default True
        Whether 0 is allowed.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        Not a number in the interval, or a bool.

    Examples
    --------
    >>> check_fraction(0.9, "beta1")
    0.9
    """
    low = "[0" if closed_low else "(0"
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number in {low}, 1), got {value!r}.") from None
    inside = (0 <= number < 1) if closed_low else (0 < number < 1)
    if isinstance(value, bool) or not inside:
        raise ValueError(f"{name} must be a number in {low}, 1), got {value!r}.")
    return number


class Optimizer:
    """Base class: first-order subclasses implement `update`; full-batch methods override `step`.

    Parameters
    ----------
    learning_rate : float, optional
        Step size; must be positive. Defaults to the class's `default_learning_rate`.

    Examples
    --------
    >>> class Halve(Optimizer):
    ...     def update(self, parameters, gradients, loss=None):
    ...         for parameter in parameters:
    ...             parameter *= 0.5
    >>> p = [np.array([4.0])]; Halve(0.1).update(p, [np.array([1.0])]); p
    [array([2.])]
    """

    #: registry name, set by `register`
    name: ClassVar[str] = ""
    #: default learning rate when the user gives none (``None``: the method has none)
    default_learning_rate: ClassVar[float | None] = 0.01
    #: whether the method can take mini-batch gradients (else only full-batch steps)
    minibatch: ClassVar[bool] = True
    #: whether `step` needs `Objective.gauss_newton` (Jacobian products)
    needs_gauss_newton: ClassVar[bool] = False
    #: largest network (number of parameters) the method handles, ``None`` for any
    max_parameters: ClassVar[int | None] = None
    #: what to use instead when the network is larger than `max_parameters`
    larger_network_advice: ClassVar[str] = ""
    #: what ``epochs="auto"`` resolves to (``None``: about 100,000 parameter updates, see `xrann.fit.settings`)
    auto_epochs: ClassVar[int | None] = None
    #: what ``patience="auto"`` resolves to (``None``: ``max(10, epochs // 20)``)
    auto_patience: ClassVar[int | None] = None
    #: what ``tolerance="auto"`` resolves to (``None``: `xrann.core.engine.DEFAULT_TOLERANCE`, 1e-3)
    auto_tolerance: ClassVar[float | None] = None

    def __init__(self, learning_rate: float | None = None) -> None:
        if learning_rate is None:
            learning_rate = self.default_learning_rate
        self.learning_rate = None if learning_rate is None else check_positive(learning_rate, "learning_rate")
        # per-parameter work arrays, allocated on the first update and reused
        self._scratch: list[np.ndarray] | None = None

    @classmethod
    def option_names(cls) -> list[str]:
        """Names of the options (``optimizer_options``) the method takes besides the learning rate."""
        parameters = inspect.signature(cls.__init__).parameters
        return [name for name in parameters if name not in ("self", "learning_rate")]

    def options(self) -> dict[str, Any]:
        """The method's options as set (plain Python values, for the model file)."""
        return {name: getattr(self, name) for name in self.option_names()}

    @classmethod
    def check_size(cls, n_parameters: int) -> None:
        """Raise `ValueError` if a network of ``n_parameters`` is too large for the method."""
        if cls.max_parameters is not None and n_parameters > cls.max_parameters:
            raise ValueError(
                f"optimizer={cls.name!r} handles networks of up to {cls.max_parameters:,} parameters, "
                f"but this network has {n_parameters:,}; {cls.larger_network_advice}"
            )

    def update(self, parameters: Sequence[np.ndarray], gradients: Sequence[np.ndarray], loss: float | None = None) -> None:
        """Move ``parameters`` in place against ``gradients`` (first-order methods).

        Parameters
        ----------
        parameters : sequence of numpy.ndarray
            Updated in place.
        gradients : sequence of numpy.ndarray
            Gradients of the loss, same shapes as ``parameters``.
        loss : float, optional
            Current loss; used by methods with weight backtracking (iRprop+).
        """
        raise NotImplementedError(f"{type(self).__name__} makes full-batch steps only; call step().")

    def step(self, parameters: np.ndarray, objective: Objective) -> StepResult:
        """One full-batch step: move the flat ``parameters`` in place to lower ``objective``.

        First-order methods take the full-batch gradient and make one `update`.

        Parameters
        ----------
        parameters : numpy.ndarray
            Flat parameter vector, updated in place.
        objective : Objective

        Returns
        -------
        StepResult
            With the loss before the step; a non-finite loss leaves the
            parameters unchanged (the engine reports the divergence).
        """
        loss, gradient = objective.loss_and_gradient(parameters)
        if math.isfinite(loss):
            self.update([parameters], [gradient], loss=loss)
        return StepResult(loss)


class SGD(Optimizer):
    """Plain gradient descent: ``p -= learning_rate * g``.

    Examples
    --------
    >>> p = [np.array([1.0])]; SGD(0.5).update(p, [np.array([2.0])]); p
    [array([0.])]
    """

    default_learning_rate = 0.1

    def update(self, parameters, gradients, loss=None):  # noqa: D102 (documented on the base class)
        if self._scratch is None:
            self._scratch = [np.empty_like(p) for p in parameters]
        for parameter, gradient, scratch in zip(parameters, gradients, self._scratch, strict=True):
            np.multiply(gradient, self.learning_rate, out=scratch)
            parameter -= scratch


class Momentum(Optimizer):
    """Gradient descent with (heavy-ball) momentum.

    Parameters
    ----------
    learning_rate : float, default 0.05
    momentum : float, default 0.9
        Fraction of the previous step carried into the next, in ``[0, 1)``.

    Examples
    --------
    >>> p = [np.array([1.0])]; opt = Momentum(0.1, momentum=0.5)
    >>> opt.update(p, [np.array([1.0])]); opt.update(p, [np.array([1.0])]); p
    [array([0.75])]
    """

    default_learning_rate = 0.05

    def __init__(self, learning_rate: float | None = None, momentum: float = 0.9) -> None:
        super().__init__(learning_rate)
        self.momentum = check_fraction(momentum, "momentum")
        self._velocity: list[np.ndarray] | None = None

    def update(self, parameters, gradients, loss=None):  # noqa: D102
        if self._velocity is None:
            self._velocity = [np.zeros_like(p) for p in parameters]
            self._scratch = [np.empty_like(p) for p in parameters]
        for parameter, gradient, velocity, scratch in zip(parameters, gradients, self._velocity, self._scratch, strict=True):
            velocity *= self.momentum
            np.multiply(gradient, self.learning_rate, out=scratch)
            velocity -= scratch
            parameter += velocity


class Adam(Optimizer):
    """Adam (Kingma and Ba 2015) with bias-corrected moment estimates.

    Parameters
    ----------
    learning_rate : float, default 0.01
    beta1, beta2 : float
        Decay rates of the first and second moment estimates.
    epsilon : float
        Guards the division by the second-moment root.

    Examples
    --------
    >>> p = [np.array([1.0])]; Adam(0.1).update(p, [np.array([3.0])]); p
    [array([0.9])]
    """

    default_learning_rate = 0.01

    def __init__(
        self,
        learning_rate: float | None = None,
        beta1: float = 0.9,
        beta2: float = 0.999,
        epsilon: float = 1e-8,
    ) -> None:
        super().__init__(learning_rate)
        self.beta1, self.beta2 = check_fraction(beta1, "beta1"), check_fraction(beta2, "beta2")
        self.epsilon = check_positive(epsilon, "epsilon")
        self._step = 0
        self._first: list[np.ndarray] | None = None
        self._second: list[np.ndarray] | None = None

    def update(self, parameters, gradients, loss=None):  # noqa: D102
        if self._first is None:
            self._first = [np.zeros_like(p) for p in parameters]
            self._second = [np.zeros_like(p) for p in parameters]
            self._scratch = [np.empty_like(p) for p in parameters]
            # 0-d constants in the parameters' dtype: no upcasting of float32, and
            # cheaper for numpy than Python floats in this once-per-batch loop
            dtype = parameters[0].dtype
            self._constants = tuple(np.array(v, dtype=dtype) for v in (1 - self.beta1, 1 - self.beta2, self.epsilon, 0.0))
        self._step += 1
        keep_first, keep_second, epsilon, step_size = self._constants
        step_size[...] = self.learning_rate * math.sqrt(1 - self.beta2**self._step) / (1 - self.beta1**self._step)
        subtract, multiply = np.subtract, np.multiply
        for parameter, gradient, first, second, scratch in zip(
            parameters, gradients, self._first, self._second, self._scratch, strict=True
        ):
            # first += (1 - beta1) (g - first); second += (1 - beta2) (g^2 - second); in place
            subtract(gradient, first, scratch)
            multiply(scratch, keep_first, scratch)
            np.add(first, scratch, first)
            multiply(gradient, gradient, scratch)
            subtract(scratch, second, scratch)
            multiply(scratch, keep_second, scratch)
            np.add(second, scratch, second)
            # parameter -= step_size * first / (sqrt(second) + epsilon)
            np.sqrt(second, scratch)
            np.add(scratch, epsilon, scratch)
            np.divide(first, scratch, scratch)
            multiply(scratch, step_size, scratch)
            subtract(parameter, scratch, parameter)


class IRpropPlus(Optimizer):
    """iRprop+ (Igel and Huesken 2000): resilient backpropagation with weight backtracking.

    Each parameter has its own step size, grown by ``increase`` while the sign
    of its gradient is stable and shrunk by ``decrease`` when the sign flips;
    on a flip after a loss increase the previous step is undone. Only the sign
    of the gradient is used, so it needs full-batch gradients.

    Parameters
    ----------
    learning_rate : float, default 0.01
        Initial step size of every parameter.
    increase, decrease : float
        Step size factors (``> 1`` and in ``(0, 1)``).
    min_step, max_step : float
        Bounds on the step sizes.

    Examples
    --------
    >>> p = [np.array([1.0])]; opt = IRpropPlus(0.1)
    >>> opt.update(p, [np.array([2.0])], loss=1.0); p
    [array([0.9])]
    """

    default_learning_rate = 0.01
    minibatch = False

    def __init__(
        self,
        learning_rate: float | None = None,
        increase: float = 1.2,
        decrease: float = 0.5,
        min_step: float = 1e-8,
        max_step: float = 1.0,
    ) -> None:
        super().__init__(learning_rate)
        self.increase, self.decrease = check_positive(increase, "increase"), check_fraction(decrease, "decrease", closed_low=False)
        if self.increase <= 1:
            raise ValueError(f"increase must be greater than 1, got {increase!r}.")
        self.min_step, self.max_step = check_positive(min_step, "min_step"), check_positive(max_step, "max_step")
        if self.min_step >= self.max_step:
            raise ValueError(f"min_step must be smaller than max_step, got {min_step!r} and {max_step!r}.")
        self._steps: list[np.ndarray] | None = None
        self._previous_gradients: list[np.ndarray] | None = None
        self._previous_updates: list[np.ndarray] | None = None
        self._previous_loss = np.inf

    def update(self, parameters, gradients, loss=None):  # noqa: D102
        if self._steps is None:
            self._steps = [np.full_like(p, self.learning_rate) for p in parameters]
            self._previous_gradients = [np.zeros_like(p) for p in parameters]
            self._previous_updates = [np.zeros_like(p) for p in parameters]
        loss_increased = loss is not None and loss > self._previous_loss
        for parameter, gradient, step, previous_gradient, previous_update in zip(
            parameters, gradients, self._steps, self._previous_gradients, self._previous_updates, strict=True
        ):
            agreement = gradient * previous_gradient
            grow = agreement > 0
            flip = agreement < 0
            step[grow] = np.minimum(step[grow] * self.increase, self.max_step)
            step[flip] = np.maximum(step[flip] * self.decrease, self.min_step)
            update = -np.sign(gradient) * step
            if loss_increased:
                update[flip] = -previous_update[flip]
            else:
                update[flip] = 0.0
            parameter += update
            effective_gradient = gradient.copy()
            effective_gradient[flip] = 0.0
            previous_gradient[...] = effective_gradient
            previous_update[...] = update
        if loss is not None:
            self._previous_loss = loss


OPTIMIZERS: dict[str, type[Optimizer]] = {}


def register(name: str, cls: type[Optimizer]) -> type[Optimizer]:
    """Add an optimiser class to `OPTIMIZERS` under ``name`` (lower case).

    Parameters
    ----------
    name : str
        The registry name (what ``optimizer=`` takes); also set as ``cls.name``.
    cls : type
        A subclass of `Optimizer`.

    Returns
    -------
    type
        ``cls`` itself.

    Examples
    --------
    >>> register("plain-sgd", SGD) is SGD and "plain-sgd" in OPTIMIZERS
    True
    >>> del OPTIMIZERS["plain-sgd"]; SGD.name = "sgd"
    """
    cls.name = name
    OPTIMIZERS[name] = cls
    return cls


for _name, _cls in (("sgd", SGD), ("momentum", Momentum), ("adam", Adam), ("irprop+", IRpropPlus)):
    register(_name, _cls)


def optimizer_class(name: str) -> type[Optimizer]:
    """The registered class for ``name`` (case-insensitive), or a `ValueError` listing the known names.

    Parameters
    ----------
    name : str

    Returns
    -------
    type
        A subclass of `Optimizer`.

    Raises
    ------
    ValueError
        An unknown name.

    Examples
    --------
    >>> optimizer_class("Adam").minibatch
    True
    """
    key = str(name).lower()
    if key not in OPTIMIZERS:
        raise ValueError(f"optimizer={name!r} is not known; choose one of {sorted(OPTIMIZERS)}.")
    return OPTIMIZERS[key]


def make_optimizer(name: str, learning_rate: float | None = None, options: Mapping[str, Any] | None = None) -> Optimizer:
    """Build an optimiser by name, with its options checked.

    Parameters
    ----------
    name : str
        A key of `OPTIMIZERS`.
    learning_rate : float, optional
        Defaults to the optimiser's own default.
    options : mapping, optional
        Keyword options of the optimiser class (``optimizer_options`` of a fit),
        such as ``{"beta1": 0.8}`` for Adam or ``{"damping": 0.01}`` for LM.

    Returns
    -------
    Optimizer

    Raises
    ------
    ValueError
        For an unknown name, an unknown option, or a nonsense value.
    TypeError
        If ``options`` is not a mapping.

    Examples
    --------
    >>> make_optimizer("adam").learning_rate
    0.01
    >>> make_optimizer("adam", options={"beta3": 1})
    Traceback (most recent call last):
    ...
    ValueError: optimizer_options={'beta3': 1} has unknown keys ['beta3'] for optimizer='adam'; it takes ['beta1', 'beta2', 'epsilon'].
    """
    cls = optimizer_class(name)
    options = {} if options is None else options
    if not isinstance(options, Mapping):
        raise TypeError(f"optimizer_options must be a dict such as {{'damping': 0.01}}, got {options!r}.")
    known = cls.option_names()
    unknown = sorted(str(key) for key in options if key not in known)
    if unknown:
        raise ValueError(
            f"optimizer_options={dict(options)} has unknown keys {unknown} for optimizer={cls.name!r}; "
            f"it takes {known}."
        )
    if learning_rate is not None and cls.default_learning_rate is None:
        raise ValueError(
            f"optimizer={cls.name!r} chooses its own step sizes and takes no learning_rate; drop learning_rate "
            f"(its options are {known})."
        )
    return cls(learning_rate, **options)
