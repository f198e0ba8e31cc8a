"""The one epoch engine: epochs, stopping, history and divergence checks for every mode of training (numpy).

`train` drives an optimiser over a *gradient source*: an object that knows
where the samples are (arrays in memory, blocks streamed from a dask-backed
Dataset, shards persisted on dask.distributed workers) and supplies the
full-batch `~xrann.core.optimizers.Objective` (loss, gradient and, for
second-order methods, Gauss-Newton terms), a mini-batch epoch for first-order
methods, and the validation loss. Everything else lives here, once:

Each epoch
    1. the training pass: one full-batch step of the optimiser
       (`Optimizer.step`), or one shuffled pass of mini-batch updates;
    2. the validation loss at the weights the epoch ended with;
    3. history, early stopping and the progress callback.

``loss[e]`` is the training loss met during epoch ``e`` (for a full-batch
step, at the weights the epoch started from); ``val_loss[e]`` is measured on
the weights epoch ``e`` ended with, and those are the weights kept when it is
the lowest. Both use the scaled target.

Stopping
    Training stops when the monitored loss (validation, else training) has
    not improved by more than ``tolerance`` (relative) for ``patience``
    epochs, when the optimiser reports that it can make no further progress
    (e.g. Levenberg-Marquardt finds no step that lowers the loss), or after
    ``epochs``. `TrainingHistory` records which, and whether the fit
    converged.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from .optimizers import Objective, Optimizer

__all__ = [
    "TrainingDivergedError",
    "ConvergenceWarning",
    "TrainingHistory",
    "Schedule",
    "GradientSource",
    "EarlyStopping",
    "check_finite_loss",
    "still_improving",
    "train",
    "DEFAULT_TOLERANCE",
    "ABSOLUTE_TOLERANCE",
]

#: relative improvement of the monitored loss that counts as progress
DEFAULT_TOLERANCE = 1e-3
#: smallest absolute improvement (MSE of the scaled target, whose range is about 1) that counts as
#: progress: a near-exact fit otherwise keeps making relative progress on rounding-level losses
ABSOLUTE_TOLERANCE = 1e-9

ProgressCallback = Callable[[int, float, float | None], None]


class TrainingDivergedError(FloatingPointError):
    """The loss became NaN or infinite during training.

    Examples
    --------
    >>> issubclass(TrainingDivergedError, FloatingPointError)
    True
    """


class ConvergenceWarning(UserWarning):
    """Training ended at its epoch limit while the loss was still improving.

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", ConvergenceWarning)  # silence it where a short fit is intended
    """


@dataclass
class TrainingHistory:
    """Loss per epoch, where the kept weights came from, and why training stopped.

    Attributes
    ----------
    loss : list of float
        Training loss of each epoch (scaled units).
    val_loss : list of float
        Validation loss (MSE of the scaled target) after each epoch; empty without a validation set.
    best_epoch : int
        Zero-based epoch whose weights were kept.
    stopped_early : bool
        Whether training ended before ``epochs``.
    converged : bool
        Whether it ended because the loss stopped improving or the optimiser
        could make no further progress (not because ``epochs`` ran out).
    stop_reason : str
        Why training ended, in words.
    seconds : float
        Wall time of the training loop.

    Examples
    --------
    >>> TrainingHistory(loss=[0.2, 0.1], best_epoch=1).loss[-1]
    0.1
    """

    loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    best_epoch: int = -1
    stopped_early: bool = False
    converged: bool = False
    stop_reason: str = ""
    seconds: float = 0.0


@dataclass(frozen=True)
class Schedule:
    """Resolved batch size (``None`` = full batch), epochs, patience and tolerance of a fit.

    Attributes
    ----------
    batch_size : int or None
    epochs : int
        Most epochs (full-batch steps or passes of mini-batches).
    patience : int or None
        Epochs without improvement before stopping; ``None`` never stops early.
    tolerance : float
        Relative improvement of the monitored loss that counts as progress.

    Examples
    --------
    >>> Schedule(batch_size=None, epochs=100, patience=10).tolerance
    0.001
    """

    batch_size: int | None
    epochs: int
    patience: int | None
    tolerance: float = DEFAULT_TOLERANCE


class GradientSource(Objective, Protocol):
    """Where the training samples are: one implementation per mode of training.

    Besides the full-batch `~xrann.core.optimizers.Objective` methods, a
    source reports its sample counts, makes a mini-batch epoch for
    first-order optimisers, and measures the validation loss.

    Examples
    --------
    The in-memory source of `xrann.core.arrays` is one:

    >>> from xrann.core.arrays import ArraySource
    >>> from xrann.core.network import initialize
    >>> net = initialize((2, 3, 1), rng=np.random.default_rng(0))
    >>> x, y = np.random.default_rng(1).random((10, 2)), np.zeros((10, 1))
    >>> source: GradientSource = ArraySource(net.sizes, x[:8], y[:8], x[8:], y[8:])
    >>> source.n_train, source.n_validation, source.validation_loss(source.flatten(net)) > 0
    (8, 2, True)
    """

    n_train: int
    n_validation: int

    def minibatch_epoch(
        self, parameters: np.ndarray, optimizer: Optimizer, batch_size: int, rng: np.random.Generator, epoch: int
    ) -> float:
        """One shuffled pass of mini-batch updates of ``parameters`` (in place); returns the mean training loss."""

    def validation_loss(self, parameters: np.ndarray) -> float:
        """MSE of the scaled target over the validation samples at ``parameters``."""


def check_finite_loss(loss: float, epoch: int, optimizer: Optimizer) -> None:
    """Raise `TrainingDivergedError` if ``loss`` is NaN or infinite, with a fix that fits the optimiser.

    Parameters
    ----------
    loss : float
    epoch : int
        Reported in the message.
    optimizer : Optimizer
        Its learning rate (if it has one) is reported, with a ten times smaller suggestion.

    Raises
    ------
    TrainingDivergedError

    Examples
    --------
    >>> from xrann.core.optimizers import SGD
    >>> check_finite_loss(0.1, 0, SGD(0.01))
    >>> check_finite_loss(float("nan"), 3, SGD(10.0))
    Traceback (most recent call last):
    ...
    xrann.core.engine.TrainingDivergedError: the training loss became nan at epoch 3 with learning_rate=10.0; ... learning_rate=1.
    """
    if math.isfinite(loss):
        return
    if optimizer.learning_rate is not None:
        rate = optimizer.learning_rate
        raise TrainingDivergedError(
            f"the training loss became {loss} at epoch {epoch} with learning_rate={rate}; training diverged. "
            f"Try a lower learning rate, e.g. learning_rate={rate / 10:g}."
        )
    raise TrainingDivergedError(
        f"the training loss became {loss} at epoch {epoch} with optimizer={optimizer.name!r}; training diverged. "
        "Check the drivers and target for extreme values, or try a first-order optimizer such as optimizer='adam'."
    )


class EarlyStopping:
    """Keeps the weights with the lowest monitored loss and says when to stop.

    The monitored loss is the validation loss when there is a validation set,
    else the training loss (and the last weights are kept). A validation loss
    lower than the best so far keeps its weights; a monitored loss
    counts as *progress* (resetting the patience) only when it is lower by
    more than ``tolerance`` relative to the last progress, and by more than
    `ABSOLUTE_TOLERANCE`.

    Parameters
    ----------
    parameters : numpy.ndarray
        The flat parameter vector being trained (read, never written, except by `restore`).
    patience : int or None
        Epochs without progress before stopping; ``None`` never stops.
    has_validation : bool
    epochs : int
        Planned epochs.
    tolerance : float, default 1e-3

    Examples
    --------
    >>> weights = np.array([1.0]); stopping = EarlyStopping(weights, patience=1, has_validation=True, epochs=5)
    >>> history = TrainingHistory()
    >>> stopping.record(history, 0, loss=0.5, val_loss=0.4)
    False
    >>> weights[0] = 2.0; stopping.record(history, 1, loss=0.3, val_loss=0.6)
    True
    >>> stopping.restore(weights); weights, history.best_epoch, history.stopped_early, history.converged
    (array([1.]), 0, True, True)
    """

    def __init__(
        self, parameters: np.ndarray, patience: int | None, has_validation: bool, epochs: int, tolerance: float = DEFAULT_TOLERANCE
    ) -> None:
        self.parameters = parameters
        self.epochs = epochs
        self.patience = patience
        self.has_validation = has_validation
        self.tolerance = tolerance
        self.best_loss = np.inf
        self.reference_loss = np.inf
        self.best_parameters = parameters.copy()
        self.epochs_without_progress = 0

    def record(self, history: TrainingHistory, epoch: int, loss: float, val_loss: float | None) -> bool:
        """Append the epoch to ``history``; keep the weights if they are the best so far; ``True`` means stop."""
        history.loss.append(loss)
        if self.has_validation:
            history.val_loss.append(val_loss)
            monitored = val_loss
        else:
            monitored = loss
        if not self.has_validation:
            history.best_epoch = epoch  # without validation the last weights are kept
        elif monitored < self.best_loss:
            self.best_loss, history.best_epoch = monitored, epoch
            self.best_parameters[...] = self.parameters
        threshold = min(self.reference_loss * (1.0 - self.tolerance), self.reference_loss - ABSOLUTE_TOLERANCE)
        if monitored < threshold or not math.isfinite(self.reference_loss):
            self.reference_loss = monitored
            self.epochs_without_progress = 0
        else:
            self.epochs_without_progress += 1
        stop = self.patience is not None and self.epochs_without_progress >= self.patience
        if stop:
            which = "validation" if self.has_validation else "training"
            history.stopped_early = epoch + 1 < self.epochs
            history.converged = True
            history.stop_reason = (
                f"the {which} loss improved by less than {self.tolerance:g} (relative) for {self.patience} epochs"
            )
        return stop

    def restore(self, parameters: np.ndarray) -> None:
        """Write the kept weights into ``parameters`` (with validation; else the last weights stay)."""
        if self.has_validation:
            parameters[...] = self.best_parameters


def still_improving(history: TrainingHistory, window: int, tolerance: float = DEFAULT_TOLERANCE) -> float:
    """Relative improvement of the monitored loss over the last ``window`` epochs, if above ``tolerance``, else 0.

    Parameters
    ----------
    history : TrainingHistory
    window : int
    tolerance : float

    Returns
    -------
    float
        ``(before - last) / before`` with ``before`` the best loss up to ``window`` epochs ago; 0 when
        the improvement is below ``tolerance`` or there are too few epochs.

    Examples
    --------
    >>> still_improving(TrainingHistory(loss=[1.0, 0.5, 0.25]), window=2)
    0.75
    >>> still_improving(TrainingHistory(loss=[1.0, 1.0, 1.0]), window=2)
    0.0
    """
    monitored = history.val_loss if history.val_loss else history.loss
    if len(monitored) <= window:
        window = len(monitored) - 1
    if window < 1:
        return 0.0
    before, last = min(monitored[:-window]), min(monitored[-window:])
    if not (math.isfinite(before) and before > 0):
        return 0.0
    improvement = (before - last) / before
    return float(improvement) if improvement > tolerance else 0.0


def train(
    source: GradientSource,
    parameters: np.ndarray,
    optimizer: Optimizer,
    schedule: Schedule,
    *,
    rng: np.random.Generator,
    progress: ProgressCallback | None = None,
) -> TrainingHistory:
    """Train the flat ``parameters`` in place on ``source``; on return they hold the kept weights.

    Parameters
    ----------
    source : GradientSource
        The samples of one mode of training.
    parameters : numpy.ndarray
        Flat parameter vector in the layout of `xrann.core.workspace.GradientWorkspace`.
    optimizer : Optimizer
    schedule : Schedule
        ``batch_size=None`` makes one full-batch step per epoch; an integer
        makes mini-batch epochs (first-order optimisers only).
    rng : numpy.random.Generator
        Shuffles the mini-batches.
    progress : callable, optional
        Called as ``progress(epoch, loss, val_loss)`` after each epoch.

    Returns
    -------
    TrainingHistory

    Raises
    ------
    TrainingDivergedError
        If the training loss becomes NaN or infinite.
    ValueError
        Mini-batches for an optimiser that takes only full-batch steps.

    Examples
    --------
    >>> from xrann.core.arrays import ArraySource
    >>> from xrann.core.network import initialize
    >>> from xrann.core.optimizers import make_optimizer
    >>> rng = np.random.default_rng(0)
    >>> x = rng.random((200, 1)); y = 0.2 + 0.6 * x ** 2 + rng.normal(0, 0.01, x.shape)
    >>> source = ArraySource((1, 4, 1), x, y)
    >>> parameters = source.flatten(initialize((1, 4, 1), rng=rng))
    >>> history = train(source, parameters, make_optimizer("lm"), Schedule(None, 200, 10), rng=rng)
    >>> history.loss[-1] < 2e-4, history.converged  # the noise variance is 1e-4
    (True, True)
    """
    if schedule.batch_size is not None and not optimizer.minibatch:
        raise ValueError(
            f"optimizer={optimizer.name!r} makes full-batch steps only, but batch_size={schedule.batch_size} was given; "
            "pass batch_size=None, or choose a first-order optimizer such as 'adam' for mini-batches."
        )
    has_validation = source.n_validation > 0
    history = TrainingHistory()
    stopping = EarlyStopping(parameters, schedule.patience, has_validation, schedule.epochs, schedule.tolerance)
    started = time.perf_counter()
    for epoch in range(schedule.epochs):
        converged = None
        if schedule.batch_size is None:
            result = optimizer.step(parameters, source)
            epoch_loss, converged = result.loss, result.converged
        else:
            epoch_loss = source.minibatch_epoch(parameters, optimizer, schedule.batch_size, rng, epoch)
        check_finite_loss(epoch_loss, epoch, optimizer)
        val_loss = source.validation_loss(parameters) if has_validation else None
        stop = stopping.record(history, epoch, epoch_loss, val_loss)
        if progress is not None:
            progress(epoch, epoch_loss, val_loss)
        if converged is not None:
            history.converged, history.stop_reason = True, converged
            history.stopped_early = epoch + 1 < schedule.epochs
            break
        if stop:
            break
    else:
        history.stop_reason = f"reached epochs={schedule.epochs}"
    stopping.restore(parameters)
    history.seconds = time.perf_counter() - started
    return history
