"""Full-batch optimisers that use curvature: Levenberg-Marquardt and L-BFGS (numpy).

Both make one `Optimizer.step` per epoch on an `xrann.core.optimizers.Objective`
(the loss of all training samples as a function of the flat parameter vector)
and choose their own step sizes, so neither takes a learning rate.

* `LevenbergMarquardt` (``optimizer="lm"``) solves the damped Gauss-Newton
  system ``(J.T J + mu I) delta = -J.T r`` each epoch, as MATLAB's ``trainlm``
  does. It converges in few epochs on small networks, but ``J.T J`` is
  ``p x p``, so it is limited to networks of `LevenbergMarquardt.max_parameters`.
* `LBFGS` (``optimizer="lbfgs"``) needs only gradients and a short history of
  steps, so it scales to any network size.

Both register themselves in `xrann.core.optimizers.OPTIMIZERS` on import.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .optimizers import Objective, Optimizer, StepResult, check_fraction, check_positive, register

__all__ = ["LevenbergMarquardt", "LBFGS"]

#: the damping never drops below this, so ``J.T J + mu I`` stays numerically positive definite
_MIN_DAMPING = 1e-20
#: L-BFGS stops when no gradient component exceeds this (times the loss, if above 1)
_ZERO_GRADIENT = 1e-12
#: rows of the triangular factor solved at once in `_cholesky_solve`
_SOLVE_BLOCK = 64


def _positive_integer(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    return int(value)


def _cholesky_solve(lower: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Solve ``L L.T x = rhs`` for a lower-triangular Cholesky factor ``L``.

    numpy has no triangular solver, so both substitutions run over blocks of
    `_SOLVE_BLOCK` rows: ``O(p**2)`` work instead of the ``O(p**3)`` of
    refactorising with `numpy.linalg.solve`.
    """
    n = rhs.shape[0]
    forward = np.empty(n)
    for start in range(0, n, _SOLVE_BLOCK):
        stop = min(start + _SOLVE_BLOCK, n)
        known = rhs[start:stop] - lower[start:stop, :start] @ forward[:start]
        forward[start:stop] = np.linalg.solve(lower[start:stop, start:stop], known)
    solution = np.empty(n)
    for stop in range(n, 0, -_SOLVE_BLOCK):
        start = max(0, stop - _SOLVE_BLOCK)
        known = forward[start:stop] - lower[stop:, start:stop].T @ solution[stop:]
        solution[start:stop] = np.linalg.solve(lower[start:stop, start:stop].T, known)
    return solution


class LevenbergMarquardt(Optimizer):
    """Levenberg-Marquardt (Hagan and Menhaj 1994; MATLAB's ``trainlm``) for small networks.

    Each step computes the loss, ``A = c J.T J`` and ``g = c J.T r`` at the
    current parameters ``w`` (see `xrann.core.optimizers.Objective`), then
    solves ``(A + mu I) delta = -g`` and tries ``w + delta``. If the loss
    drops, the step is taken and ``mu`` shrinks by ``damping_decrease``
    (towards Gauss-Newton); otherwise ``mu`` grows by ``damping_increase``
    (towards a short gradient-descent step) and the system is solved again.
    When ``mu`` exceeds ``max_damping`` no step lowers the loss: the
    parameters are left unchanged and the step reports convergence. ``mu``
    carries over from one step to the next.

    The system is solved in float64 by Cholesky factorisation, falling back
    to least squares if it is not numerically positive definite.

    Networks are limited to `max_parameters` = 2,000 parameters ``p``. ``J.T J``
    is a dense ``p x p`` float64 matrix (32 MB at 2,000); forming it costs
    ``n_samples * n_outputs * p**2`` operations per epoch (about a second per
    20,000 samples on two cores at 2,000 parameters) and each trial of ``mu``
    factorises it (``p**3 / 3``, a tenth of a second). Both grow with ``p**2``
    and ``p**3``: at 10,000 parameters an epoch would cost 25 times more and
    the matrix 800 MB, while an L-BFGS epoch costs about one gradient
    (``n_samples * p``) at any size. MATLAB documents the same trade-off for
    ``trainlm`` (fastest for networks of up to a few hundred weights).

    Parameters
    ----------
    learning_rate : None
        Not used: the damping sets the step. Must be ``None``.
    damping : float, default 1e-3
        Initial ``mu``.
    damping_increase : float, default 10.0
        Factor (``> 1``) applied to ``mu`` after a rejected trial.
    damping_decrease : float, default 0.1
        Factor (in ``(0, 1)``) applied to ``mu`` after an accepted step.
    max_damping : float, default 1e10
        Largest ``mu`` tried (``> damping``) before the fit counts as converged.

    Attributes
    ----------
    current_damping : float
        ``mu`` the next step starts from.

    Raises
    ------
    ValueError
        For a learning rate or a nonsense option value.

    Examples
    --------
    Fit ``y = x**2`` on five points with a (1, 3, 1) network, in a few epochs:

    >>> from xrann.core.network import initialize
    >>> from xrann.core.workspace import GradientWorkspace, augment_inputs
    >>> x = np.linspace(0, 1, 5)[:, None]; y = 0.1 + 0.8 * x**2
    >>> workspace = GradientWorkspace((1, 3, 1), block_size=8)
    >>> workspace.load(initialize((1, 3, 1), rng=np.random.default_rng(0)))
    >>> inputs = augment_inputs(x)
    >>> class Toy:
    ...     def loss(self, w):
    ...         workspace.parameters[...] = w
    ...         return workspace.sum_squared_error(inputs, y) / y.size
    ...     def gauss_newton(self, w):
    ...         workspace.parameters[...] = w
    ...         p = w.size; jtj, jtr = np.zeros((p, p)), np.zeros(p)
    ...         sse = workspace.gauss_newton(inputs, y, 1 / y.size, jtj, jtr)
    ...         return sse / y.size, jtj, jtr
    >>> lm, w = LevenbergMarquardt(), workspace.parameters.copy()
    >>> losses = [lm.step(w, Toy()).loss for _ in range(30)]
    >>> bool(losses[-1] < 1e-4 < losses[0])
    True
    """

    default_learning_rate = None
    minibatch = False
    needs_gauss_newton = True
    max_parameters = 2000
    larger_network_advice = "use optimizer='lbfgs', which needs only gradients."
    auto_epochs = 1000
    auto_patience = 5
    #: each step moves far, so 0.5 % in 5 steps is the end of the useful descent
    auto_tolerance = 5e-3

    def __init__(
        self,
        learning_rate: float | None = None,
        damping: float = 1e-3,
        damping_increase: float = 10.0,
        damping_decrease: float = 0.1,
        max_damping: float = 1e10,
    ) -> None:
        if learning_rate is not None:
            raise ValueError(f"optimizer='lm' chooses its own step sizes and takes no learning_rate, got {learning_rate!r}; drop it.")
        super().__init__(None)
        self.damping = check_positive(damping, "damping")
        self.damping_increase = check_positive(damping_increase, "damping_increase")
        if self.damping_increase <= 1:
            raise ValueError(f"damping_increase must be greater than 1, got {damping_increase!r}.")
        self.damping_decrease = check_fraction(damping_decrease, "damping_decrease", closed_low=False)
        self.max_damping = check_positive(max_damping, "max_damping")
        if self.max_damping <= self.damping:
            raise ValueError(f"max_damping must be greater than damping, got max_damping={max_damping!r} and damping={damping!r}.")
        self.current_damping = self.damping

    def step(self, parameters: np.ndarray, objective: Objective) -> StepResult:
        """One Levenberg-Marquardt epoch: the first damped Gauss-Newton step that lowers the loss.

        Parameters
        ----------
        parameters : numpy.ndarray
            Flat parameter vector, updated in place only when a step is accepted.
        objective : Objective
            Needs ``gauss_newton`` and ``loss``.

        Returns
        -------
        StepResult
            The loss at the starting parameters; ``converged`` says why when no
            damping up to ``max_damping`` lowers the loss.
        """
        loss, jtj, jtr = objective.gauss_newton(parameters)
        if not math.isfinite(loss):
            return StepResult(loss)
        start = parameters.astype(np.float64)
        system = np.array(jtj, dtype=np.float64)
        diagonal = np.einsum("ii->i", system)  # a writable view of the diagonal
        curvature = diagonal.copy()
        gradient = -np.asarray(jtr, dtype=np.float64)
        mu = max(min(self.current_damping, self.max_damping), _MIN_DAMPING)
        while True:
            np.add(curvature, mu, out=diagonal)
            try:
                delta = _cholesky_solve(np.linalg.cholesky(system), gradient)
            except np.linalg.LinAlgError:
                delta = np.linalg.lstsq(system, gradient, rcond=None)[0]
            trial = (start + delta).astype(parameters.dtype)
            trial_loss = objective.loss(trial)
            if math.isfinite(trial_loss) and trial_loss < loss:
                parameters[...] = trial
                self.current_damping = max(mu * self.damping_decrease, _MIN_DAMPING)
                return StepResult(loss)
            mu *= self.damping_increase
            if mu > self.max_damping:
                self.current_damping = mu
                return StepResult(
                    loss,
                    converged=(
                        f"Levenberg-Marquardt: no step lowers the training loss even with damping {self.max_damping:g}; "
                        "the fit has converged"
                    ),
                )


class LBFGS(Optimizer):
    """Limited-memory BFGS (Nocedal 1980; Liu and Nocedal 1989) with a backtracking line search.

    The direction comes from the two-loop recursion over the last ``history``
    pairs of steps ``s`` and gradient changes ``y``, starting from the scaled
    identity ``(s.y / y.y) I``. The first direction (and the first after a
    reset) is the negative gradient with step length ``min(1, 1 / |g|_1)``.
    The step is halved until the Armijo condition ``loss(w + t d) <= loss(w)
    + armijo * t * g.d`` holds, for at most ``max_line_search`` trials. A pair
    is kept only when ``s.y > 1e-10 |s| |y|`` (positive curvature), and the
    memory is dropped when its direction is not a descent direction or its
    line search fails (then the negative gradient is tried). Each trial
    computes the loss and gradient together, so the accepted point's gradient
    is cached and the next step, from the same parameters, evaluates nothing
    extra. The cache assumes the objective is the same from one step to the
    next (as in the epoch engine); it is dropped when the parameters handed
    in differ from those the last step left.

    Work is in float64; parameters are written back in their own dtype.

    Parameters
    ----------
    learning_rate : None
        Not used: the line search sets the step. Must be ``None``.
    history : int, default 10
        Number of ``(s, y)`` pairs kept.
    max_line_search : int, default 20
        Most trial points per step.
    armijo : float, default 1e-4
        Sufficient-decrease constant in ``(0, 1)``.

    Raises
    ------
    ValueError
        For a learning rate or a nonsense option value.

    Examples
    --------
    Minimise the Rosenbrock function from (-1.2, 1):

    >>> class Rosenbrock:
    ...     def loss_and_gradient(self, w):
    ...         a, b = w
    ...         gradient = np.array([-2 * (1 - a) - 400 * a * (b - a**2), 200 * (b - a**2)])
    ...         return (1 - a) ** 2 + 100 * (b - a**2) ** 2, gradient
    >>> optimizer, w = LBFGS(), np.array([-1.2, 1.0])
    >>> results = [optimizer.step(w, Rosenbrock()) for _ in range(100)]
    >>> np.round(w, 4)
    array([1., 1.])
    """

    default_learning_rate = None
    minibatch = False
    auto_epochs = 2000
    auto_patience = 10

    def __init__(
        self,
        learning_rate: float | None = None,
        history: int = 10,
        max_line_search: int = 20,
        armijo: float = 1e-4,
    ) -> None:
        if learning_rate is not None:
            raise ValueError(f"optimizer='lbfgs' chooses its own step sizes and takes no learning_rate, got {learning_rate!r}; drop it.")
        super().__init__(None)
        self.history = _positive_integer(history, "history")
        self.max_line_search = _positive_integer(max_line_search, "max_line_search")
        self.armijo = check_fraction(armijo, "armijo", closed_low=False)
        self._steps: list[np.ndarray] = []
        self._gradient_changes: list[np.ndarray] = []
        self._cache: tuple[np.ndarray, float, np.ndarray] | None = None

    @property
    def n_pairs(self) -> int:
        """Number of ``(s, y)`` pairs in memory."""
        return len(self._steps)

    def reset(self) -> None:
        """Forget the stored pairs and the cached gradient."""
        self._steps.clear()
        self._gradient_changes.clear()
        self._cache = None

    def _direction(self, gradient: np.ndarray) -> np.ndarray:
        """``-H g`` by the two-loop recursion, or the scaled negative gradient without memory."""
        if not self._steps:
            return -gradient * min(1.0, 1.0 / float(np.abs(gradient).sum()))
        direction = gradient.copy()
        alphas = []
        for s, y in zip(reversed(self._steps), reversed(self._gradient_changes)):
            alpha = float(s @ direction) / float(s @ y)
            direction -= alpha * y
            alphas.append(alpha)
        s, y = self._steps[-1], self._gradient_changes[-1]
        direction *= float(s @ y) / float(y @ y)
        for s, y, alpha in zip(self._steps, self._gradient_changes, reversed(alphas)):
            beta = float(y @ direction) / float(s @ y)
            direction += (alpha - beta) * s
        return -direction

    def _line_search(self, start, loss, gradient, direction, objective, dtype):
        """Backtrack from step length 1 to an Armijo point: ``(trial, loss, gradient)`` or ``None``."""
        slope = float(gradient @ direction)
        length = 1.0
        for _ in range(self.max_line_search):
            trial = (start + length * direction).astype(dtype)
            trial_loss, trial_gradient = objective.loss_and_gradient(trial)
            if math.isfinite(trial_loss) and trial_loss <= loss + self.armijo * length * slope:
                return trial, trial_loss, np.asarray(trial_gradient, dtype=np.float64)
            length *= 0.5
        return None

    def step(self, parameters: np.ndarray, objective: Objective) -> StepResult:
        """One L-BFGS epoch: a quasi-Newton direction and a backtracking line search along it.

        Parameters
        ----------
        parameters : numpy.ndarray
            Flat parameter vector, updated in place when a step is accepted.
        objective : Objective
            Needs ``loss_and_gradient``.

        Returns
        -------
        StepResult
            The loss at the starting parameters; ``converged`` says why when the
            gradient vanishes or no step along the negative gradient lowers the loss.
        """
        if self._cache is not None and self._cache[0].dtype == parameters.dtype and np.array_equal(self._cache[0], parameters):
            _, loss, gradient = self._cache
        else:
            loss, gradient = objective.loss_and_gradient(parameters)
            gradient = np.asarray(gradient, dtype=np.float64)
        self._cache = None
        if not math.isfinite(loss):
            return StepResult(loss)
        if not np.all(np.isfinite(gradient)):
            self.reset()
            return StepResult(loss, converged="L-BFGS: the gradient is not finite at a finite loss; the fit cannot continue")
        largest = float(np.max(np.abs(gradient)))
        if largest <= _ZERO_GRADIENT * max(1.0, abs(loss)):
            return StepResult(loss, converged=f"L-BFGS: the gradient is zero to rounding (largest component {largest:.1e}); the fit has converged")
        start = parameters.astype(np.float64)
        direction = self._direction(gradient)
        if self._steps and not float(gradient @ direction) < 0:
            self.reset()
            direction = self._direction(gradient)
        accepted = self._line_search(start, loss, gradient, direction, objective, parameters.dtype)
        if accepted is None and self._steps:
            self.reset()
            accepted = self._line_search(start, loss, gradient, self._direction(gradient), objective, parameters.dtype)
        if accepted is None:
            return StepResult(
                loss,
                converged=(
                    f"L-BFGS: the line search found no step lowering the training loss in {self.max_line_search} trials "
                    "along the negative gradient; the fit has converged"
                ),
            )
        trial, trial_loss, trial_gradient = accepted
        step = trial.astype(np.float64) - start
        change = trial_gradient - gradient
        curvature = float(step @ change)
        if curvature > 1e-10 * float(np.linalg.norm(step)) * float(np.linalg.norm(change)):
            self._steps.append(step)
            self._gradient_changes.append(change)
            if len(self._steps) > self.history:
                del self._steps[0], self._gradient_changes[0]
        parameters[...] = trial
        self._cache = (parameters.copy(), trial_loss, trial_gradient)
        return StepResult(loss)


register("lm", LevenbergMarquardt)
register("lbfgs", LBFGS)
