"""Gradient-based optimisers as small classes with one ``update`` method.

Each optimiser updates a list of parameter arrays in place from a list of
gradient arrays of the same shapes. Adding an optimiser touches only this
file: write a class and register it in `OPTIMIZERS`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["Optimizer", "SGD", "Momentum", "Adam", "IRpropPlus", "OPTIMIZERS", "make_optimizer"]


class Optimizer:
    """Base class: subclasses implement `update`.

    Parameters
    ----------
    learning_rate : float
        Step size; must be positive.

    Examples
    --------
    >>> class Halve(Optimizer):
    ...     def update(self, parameters, gradients, loss=None):
    ...         for parameter in parameters:
    ...             parameter *= 0.5
    >>> p = [np.array([4.0])]; Halve(0.1).update(p, [np.array([1.0])]); p
    [array([2.])]
    """

    #: default learning rate when the user gives none
    default_learning_rate: float = 0.01
    #: whether the method only makes sense with full-batch gradients
    full_batch_only: bool = False

    def __init__(self, learning_rate: float | None = None) -> None:
        learning_rate = self.default_learning_rate if learning_rate is None else float(learning_rate)
        if not np.isfinite(learning_rate) or learning_rate <= 0:
            raise ValueError(f"learning_rate must be a positive number, got {learning_rate}.")
        self.learning_rate = learning_rate
        # per-parameter work arrays, allocated on the first update and reused
        self._scratch: list[np.ndarray] | None = None

    def update(self, parameters: Sequence[np.ndarray], gradients: Sequence[np.ndarray], loss: float | None = None) -> None:
        """Move ``parameters`` in place against ``gradients``.

        Parameters
        ----------
        parameters : sequence of numpy.ndarray
            Updated in place.
        gradients : sequence of numpy.ndarray
            Gradients of the loss, same shapes as ``parameters``.
        loss : float, optional
            Current loss; used by methods with weight backtracking (iRprop+).
        """
        raise NotImplementedError


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
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}.")
        self.momentum = momentum
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
        if not (0 <= beta1 < 1 and 0 <= beta2 < 1):
            raise ValueError(f"beta1 and beta2 must be in [0, 1), got {beta1} and {beta2}.")
        self.beta1, self.beta2, self.epsilon = beta1, beta2, epsilon
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
    full_batch_only = True

    def __init__(
        self,
        learning_rate: float | None = None,
        increase: float = 1.2,
        decrease: float = 0.5,
        min_step: float = 1e-8,
        max_step: float = 1.0,
    ) -> None:
        super().__init__(learning_rate)
        if not (increase > 1 and 0 < decrease < 1):
            raise ValueError(f"need increase > 1 and 0 < decrease < 1, got {increase} and {decrease}.")
        self.increase, self.decrease = increase, decrease
        self.min_step, self.max_step = min_step, max_step
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


OPTIMIZERS: dict[str, type[Optimizer]] = {
    "sgd": SGD,
    "momentum": Momentum,
    "adam": Adam,
    "irprop+": IRpropPlus,
}


def make_optimizer(name: str, learning_rate: float | None = None) -> Optimizer:
    """Build an optimiser by name.

    Parameters
    ----------
    name : {"sgd", "momentum", "adam", "irprop+"}
    learning_rate : float, optional
        Defaults to the optimiser's own default.

    Returns
    -------
    Optimizer

    Raises
    ------
    ValueError
        For an unknown name or a non-positive learning rate.

    Examples
    --------
    >>> make_optimizer("adam").learning_rate
    0.01
    """
    key = str(name).lower()
    if key not in OPTIMIZERS:
        raise ValueError(f"optimizer={name!r} is not known; choose one of {sorted(OPTIMIZERS)}.")
    return OPTIMIZERS[key](learning_rate)
