"""The training loop: epochs, mini-batches, early stopping, history (numpy).

`train` works on in-memory sample matrices that are already scaled. It knows
nothing of xarray or dask; the layers above hand it numpy arrays. The pieces
of an epoch (`minibatch_epoch`, `full_batch_step`, `EarlyStopping`) are also
used by the out-of-core loops in `xrann.streaming`, which feed them one block
of samples at a time.

The hot loop runs in a `xrann.network.GradientWorkspace`: parameters and
gradients are flat vectors, so an optimiser updates the whole network with a
few in-place vector operations, and no array is allocated per mini-batch.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .network import GradientWorkspace, SigmoidNetwork, augment_inputs, loss_scale
from .optimizers import Optimizer

__all__ = [
    "TrainingDivergedError",
    "TrainingHistory",
    "Schedule",
    "resolve_schedule",
    "train",
    "check_finite_loss",
    "EarlyStopping",
    "minibatch_epoch",
    "full_batch_step",
    "check_full_batch",
]

#: number of parameter updates aimed for when ``epochs="auto"``
AUTO_UPDATES = 20_000
#: largest sample count trained full-batch when ``batch_size="auto"``
AUTO_FULL_BATCH_LIMIT = 2_048
AUTO_BATCH_SIZE = 256
AUTO_MAX_EPOCHS = 5_000
AUTO_MIN_EPOCHS = 10

ProgressCallback = Callable[[int, float, float | None], None]


class TrainingDivergedError(FloatingPointError):
    """The loss became NaN or infinite during training.

    Examples
    --------
    >>> issubclass(TrainingDivergedError, FloatingPointError)
    True
    """


@dataclass
class TrainingHistory:
    """Loss per epoch, and where the kept weights came from.

    Attributes
    ----------
    loss : list of float
        Mean training loss of each epoch (scaled units).
    val_loss : list of float
        Validation loss after each epoch; empty without a validation set.
    best_epoch : int
        Zero-based epoch whose weights were kept.
    stopped_early : bool
        Whether early stopping ended training before ``epochs``.

    Examples
    --------
    >>> TrainingHistory(loss=[0.2, 0.1], best_epoch=1).loss[-1]
    0.1
    """

    loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    best_epoch: int = -1
    stopped_early: bool = False


@dataclass(frozen=True)
class Schedule:
    """Resolved batch size (``None`` = full batch), epochs and early-stopping patience.

    Attributes
    ----------
    batch_size : int or None
    epochs : int
    patience : int or None

    Examples
    --------
    >>> Schedule(batch_size=None, epochs=100, patience=None).epochs
    100
    """

    batch_size: int | None
    epochs: int
    patience: int | None


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    return int(value)


def resolve_schedule(
    n_samples: int,
    *,
    batch_size: int | str | None = "auto",
    epochs: int | str = "auto",
    patience: int | str | None = "auto",
    has_validation: bool = False,
) -> Schedule:
    """Turn ``"auto"`` settings into numbers that work without tuning.

    Small sample sets (at most 2,048) train full-batch, larger ones in
    mini-batches of 256. ``epochs="auto"`` aims for about 20,000 parameter
    updates (between 10 and 5,000 epochs). ``patience="auto"`` stops after
    ``max(20, epochs // 20)`` epochs without validation improvement.

    Parameters
    ----------
    n_samples : int
        Number of training samples.
    batch_size : int, "auto" or None
        ``None`` means full batch.
    epochs : int or "auto"
    patience : int, "auto" or None
        ``None`` disables early stopping (the best validation weights are still kept).
    has_validation : bool
        Whether a validation set exists; patience only applies then.

    Returns
    -------
    Schedule

    Raises
    ------
    ValueError
        For zero or negative epochs, batch size or patience.

    Examples
    --------
    >>> resolve_schedule(100_000)
    Schedule(batch_size=256, epochs=52, patience=None)
    >>> resolve_schedule(3).batch_size is None
    True
    """
    if batch_size == "auto":
        batch_size = None if n_samples <= AUTO_FULL_BATCH_LIMIT else AUTO_BATCH_SIZE
    elif batch_size is not None:
        batch_size = _positive_int(batch_size, "batch_size")
    effective_batch = n_samples if batch_size is None else min(batch_size, n_samples)
    if epochs == "auto":
        updates_per_epoch = math.ceil(n_samples / max(effective_batch, 1))
        epochs = min(AUTO_MAX_EPOCHS, max(AUTO_MIN_EPOCHS, math.ceil(AUTO_UPDATES / updates_per_epoch)))
    else:
        epochs = _positive_int(epochs, "epochs")
    if not has_validation:
        patience = None
    elif patience == "auto":
        patience = max(20, epochs // 20)
    elif patience is not None:
        patience = _positive_int(patience, "patience")
    return Schedule(batch_size, epochs, patience)


def check_finite_loss(loss: float, epoch: int, learning_rate: float) -> None:
    """Raise `TrainingDivergedError` if ``loss`` is NaN or infinite.

    Parameters
    ----------
    loss : float
    epoch : int
        Reported in the message.
    learning_rate : float
        Reported in the message, with a ten times smaller suggestion.

    Raises
    ------
    TrainingDivergedError

    Examples
    --------
    >>> check_finite_loss(0.1, 0, 0.01)
    >>> check_finite_loss(float("nan"), 3, 10.0)
    Traceback (most recent call last):
    ...
    xrann.training.TrainingDivergedError: the training loss became nan at epoch 3 ...
    """
    if not math.isfinite(loss):
        raise TrainingDivergedError(
            f"the training loss became {loss} at epoch {epoch} with learning_rate={learning_rate}; "
            f"training diverged. Try a lower learning rate, e.g. learning_rate={learning_rate / 10:g}."
        )


class EarlyStopping:
    """Keeps the weights with the lowest validation loss and says when to stop.

    Parameters
    ----------
    parameters : numpy.ndarray
        The flat parameter vector being trained (read, never written, except by `restore`).
    patience : int or None
        Epochs without validation improvement before stopping; ``None`` never stops.
    has_validation : bool
        Without validation the last weights are kept and training never stops early.
    epochs : int, optional
        Planned epochs; a stop before the last one sets ``history.stopped_early``.

    Examples
    --------
    >>> weights = np.array([1.0]); stopping = EarlyStopping(weights, patience=1, has_validation=True, epochs=5)
    >>> history = TrainingHistory()
    >>> stopping.record(history, 0, loss=0.5, val_loss=0.4)
    False
    >>> weights[0] = 2.0; stopping.record(history, 1, loss=0.3, val_loss=0.6)
    True
    >>> stopping.restore(weights); weights, history.best_epoch, history.stopped_early
    (array([1.]), 0, True)
    """

    def __init__(self, parameters: np.ndarray, patience: int | None, has_validation: bool, epochs: int | None = None) -> None:
        self.parameters = parameters
        self.epochs = epochs
        self.patience = patience if has_validation else None
        self.has_validation = has_validation
        self.best_loss = np.inf
        self.best_parameters = parameters.copy()
        self.epochs_without_improvement = 0

    def record(self, history: TrainingHistory, epoch: int, loss: float, val_loss: float | None) -> bool:
        """Append the epoch to ``history``; keep the weights if they are the best so far; ``True`` means stop."""
        history.loss.append(loss)
        if not self.has_validation:
            history.best_epoch = epoch
            return False
        history.val_loss.append(val_loss)
        if val_loss < self.best_loss:
            self.best_loss, history.best_epoch = val_loss, epoch
            self.best_parameters[...] = self.parameters
            self.epochs_without_improvement = 0
        else:
            self.epochs_without_improvement += 1
        stop = self.patience is not None and self.epochs_without_improvement >= self.patience
        if stop:
            history.stopped_early = self.epochs is None or epoch + 1 < self.epochs
        return stop

    def restore(self, parameters: np.ndarray) -> None:
        """Write the kept weights into ``parameters`` (only with validation; else the last weights stay)."""
        if self.has_validation:
            parameters[...] = self.best_parameters


def check_full_batch(optimizer: Optimizer, batch_size: int | None, n_samples: int) -> None:
    """Raise `ValueError` when a full-batch-only optimiser (iRprop+) is given mini-batches.

    Parameters
    ----------
    optimizer : Optimizer
    batch_size : int or None
        ``None`` is full batch.
    n_samples : int

    Raises
    ------
    ValueError

    Examples
    --------
    >>> from xrann.optimizers import IRpropPlus
    >>> check_full_batch(IRpropPlus(), 10, 50)
    Traceback (most recent call last):
    ...
    ValueError: IRpropPlus uses only the sign of full-batch gradients; pass batch_size=None or choose optimizer='adam'.
    """
    if batch_size is not None and optimizer.full_batch_only and batch_size < n_samples:
        raise ValueError(
            f"{type(optimizer).__name__} uses only the sign of full-batch gradients; "
            "pass batch_size=None or choose optimizer='adam'."
        )


def minibatch_epoch(
    workspace: GradientWorkspace,
    optimizer: Optimizer,
    inputs: np.ndarray,
    targets: np.ndarray,
    *,
    batch_size: int,
    rng: np.random.Generator,
    loss: str = "mse",
    epoch: int = 0,
) -> float:
    """One pass of shuffled mini-batch updates over ``inputs``; returns the sum of batch losses times batch sizes.

    Parameters
    ----------
    workspace : GradientWorkspace
        Holds the parameters being trained (updated in place) and the buffers;
        its ``block_size`` must be at least ``batch_size``.
    optimizer : Optimizer
    inputs : numpy.ndarray
        Augmented scaled drivers ``(n, n_inputs + bias)`` (see `xrann.network.augment_inputs`).
    targets : numpy.ndarray
        Scaled targets ``(n, n_outputs)``, same dtype.
    batch_size : int
    rng : numpy.random.Generator
        Draws the order of the samples.
    loss : {"mse", "sse"}
    epoch : int
        Reported if the loss diverges.

    Returns
    -------
    float
        ``sum(batch_loss * batch_length)``; divide by ``n`` for the epoch's mean loss.

    Raises
    ------
    TrainingDivergedError
        If a batch loss is NaN or infinite.

    Examples
    --------
    >>> from xrann.network import initialize
    >>> from xrann.optimizers import Adam
    >>> rng = np.random.default_rng(0)
    >>> workspace = GradientWorkspace((1, 3, 1), block_size=16); workspace.load(initialize((1, 3, 1), rng=rng))
    >>> x = augment_inputs(rng.random((40, 1))); y = 0.5 * x[:, :1]
    >>> first = minibatch_epoch(workspace, Adam(0.05), x, y, batch_size=16, rng=rng) / 40
    >>> for _ in range(200): last = minibatch_epoch(workspace, Adam(0.05), x, y, batch_size=16, rng=rng) / 40
    >>> last < first
    True
    """
    n_samples, n_outputs = targets.shape
    batch_size = min(batch_size, n_samples)
    order = rng.permutation(n_samples)
    batch_inputs = np.empty((batch_size, inputs.shape[1]), dtype=inputs.dtype)
    batch_targets = np.empty((batch_size, n_outputs), dtype=targets.dtype)
    parameters, gradients = [workspace.parameters], [workspace.gradient]
    full_scale = loss_scale(batch_size, n_outputs, loss)
    per_term = 1.0 / (batch_size * n_outputs) if loss == "mse" else 1.0
    loss_sum = 0.0
    for start in range(0, n_samples, batch_size):
        index = order[start : start + batch_size]
        length = index.shape[0]
        if length == batch_size:
            x, y, scale, to_loss = batch_inputs, batch_targets, full_scale, per_term
        else:
            x, y = batch_inputs[:length], batch_targets[:length]
            scale = loss_scale(length, n_outputs, loss)
            to_loss = 1.0 / (length * n_outputs) if loss == "mse" else 1.0
        np.take(inputs, index, axis=0, out=x)
        np.take(targets, index, axis=0, out=y)
        batch_loss = workspace.batch_gradient(x, y, scale) * to_loss
        if not math.isfinite(batch_loss):
            check_finite_loss(batch_loss, epoch, optimizer.learning_rate)
        optimizer.update(parameters, gradients, loss=batch_loss)
        loss_sum += batch_loss * length
    return loss_sum


def full_batch_step(
    workspace: GradientWorkspace,
    optimizer: Optimizer,
    inputs: np.ndarray,
    targets: np.ndarray,
    *,
    loss: str = "mse",
    epoch: int = 0,
) -> float:
    """One full-batch update; returns the loss before it.

    The gradient is accumulated over cache-sized blocks (`GradientWorkspace.accumulate`).

    Parameters
    ----------
    workspace : GradientWorkspace
    optimizer : Optimizer
    inputs : numpy.ndarray
        Augmented scaled drivers ``(n, n_inputs + bias)``.
    targets : numpy.ndarray
        Scaled targets ``(n, n_outputs)``.
    loss : {"mse", "sse"}
    epoch : int

    Returns
    -------
    float

    Raises
    ------
    TrainingDivergedError
        If the loss is NaN or infinite.

    Examples
    --------
    >>> from xrann.network import initialize
    >>> from xrann.optimizers import IRpropPlus
    >>> rng = np.random.default_rng(0)
    >>> workspace = GradientWorkspace((1, 3, 1)); workspace.load(initialize((1, 3, 1), rng=rng))
    >>> x = augment_inputs(rng.random((50, 1))); y = 0.2 + 0.5 * x[:, :1]
    >>> optimizer = IRpropPlus()
    >>> losses = [full_batch_step(workspace, optimizer, x, y, epoch=e) for e in range(100)]
    >>> losses[-1] < losses[0] / 10
    True
    """
    n_samples, n_outputs = targets.shape
    sse = workspace.accumulate(inputs, targets, loss_scale(n_samples, n_outputs, loss))
    epoch_loss = sse / (n_samples * n_outputs) if loss == "mse" else sse
    check_finite_loss(epoch_loss, epoch, optimizer.learning_rate)
    optimizer.update([workspace.parameters], [workspace.gradient], loss=epoch_loss)
    return epoch_loss


def train(
    network: SigmoidNetwork,
    inputs: np.ndarray,
    targets: np.ndarray,
    *,
    optimizer: Optimizer,
    schedule: Schedule,
    rng: np.random.Generator,
    validation: tuple[np.ndarray, np.ndarray] | None = None,
    loss: str = "mse",
    progress: ProgressCallback | None = None,
) -> TrainingHistory:
    """Fit ``network`` in place to scaled samples and return the loss history.

    Parameters
    ----------
    network : SigmoidNetwork
        Updated in place; on return it holds the best weights (lowest
        validation loss when ``validation`` is given, else the last ones).
    inputs : numpy.ndarray
        Scaled drivers ``(n_samples, n_inputs)``.
    targets : numpy.ndarray
        Scaled targets ``(n_samples, n_outputs)``.
    optimizer : Optimizer
    schedule : Schedule
        From `resolve_schedule`.
    rng : numpy.random.Generator
        Shuffles the mini-batches.
    validation : tuple of numpy.ndarray, optional
        Scaled ``(inputs, targets)`` for early stopping.
    loss : {"mse", "sse"}
    progress : callable, optional
        Called as ``progress(epoch, loss, val_loss)`` after each epoch.

    Returns
    -------
    TrainingHistory

    Raises
    ------
    TrainingDivergedError
        If the loss becomes NaN or infinite.

    Examples
    --------
    >>> from xrann.network import initialize
    >>> from xrann.optimizers import Adam
    >>> rng = np.random.default_rng(0)
    >>> x = rng.random((200, 1)); y = 0.2 + 0.6 * x ** 2
    >>> net = initialize((1, 4, 1), rng=rng)
    >>> history = train(net, x, y, optimizer=Adam(0.05), schedule=resolve_schedule(200), rng=rng)
    >>> history.loss[-1] < 1e-4
    True
    """
    n_samples = inputs.shape[0]
    check_full_batch(optimizer, schedule.batch_size, n_samples)
    batch_size = n_samples if schedule.batch_size is None else min(schedule.batch_size, n_samples)
    bias = network.biases is not None
    workspace = GradientWorkspace(network.sizes, bias=bias, dtype=network.dtype, block_size=min(batch_size, 8192) if batch_size >= n_samples else batch_size)
    workspace.load(network)
    dtype = network.dtype
    inputs = augment_inputs(inputs, bias=bias, dtype=dtype)
    targets = np.ascontiguousarray(targets, dtype=dtype)
    if validation is not None:
        val_inputs = augment_inputs(validation[0], bias=bias, dtype=dtype)
        val_targets = np.ascontiguousarray(validation[1], dtype=dtype)
    history = TrainingHistory()
    stopping = EarlyStopping(workspace.parameters, schedule.patience, validation is not None, schedule.epochs)

    for epoch in range(schedule.epochs):
        if batch_size >= n_samples:
            epoch_loss = full_batch_step(workspace, optimizer, inputs, targets, loss=loss, epoch=epoch)
        else:
            epoch_loss = minibatch_epoch(
                workspace, optimizer, inputs, targets, batch_size=batch_size, rng=rng, loss=loss, epoch=epoch
            ) / n_samples
        val_loss = None
        if validation is not None:
            val_loss = workspace.sum_squared_error(val_inputs, val_targets) / val_targets.size
        stop = stopping.record(history, epoch, epoch_loss, val_loss)
        if progress is not None:
            progress(epoch, epoch_loss, val_loss)
        if stop:
            break

    stopping.restore(workspace.parameters)
    workspace.store(network)
    return history
