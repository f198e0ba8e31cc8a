"""The training loop: epochs, mini-batches, early stopping, history (numpy).

`train` works on in-memory sample matrices that are already scaled. It knows
nothing of xarray or dask; the layers above hand it numpy arrays.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .network import SigmoidNetwork, loss_and_gradients
from .optimizers import Optimizer

__all__ = [
    "TrainingDivergedError",
    "TrainingHistory",
    "Schedule",
    "resolve_schedule",
    "train",
    "check_finite_loss",
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
    """The loss became NaN or infinite during training."""


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
    """

    loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    best_epoch: int = -1
    stopped_early: bool = False


@dataclass(frozen=True)
class Schedule:
    """Resolved batch size (``None`` = full batch), epochs and early-stopping patience."""

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
    if schedule.batch_size is not None and optimizer.full_batch_only and schedule.batch_size < n_samples:
        raise ValueError(
            f"{type(optimizer).__name__} uses only the sign of full-batch gradients; "
            "pass batch_size=None or choose optimizer='adam'."
        )
    history = TrainingHistory()
    parameters = network.parameters
    best_loss = np.inf
    best_parameters = [p.copy() for p in parameters]
    epochs_without_improvement = 0
    batch_size = n_samples if schedule.batch_size is None else min(schedule.batch_size, n_samples)

    for epoch in range(schedule.epochs):
        if batch_size >= n_samples:
            epoch_loss, gradients = loss_and_gradients(network, inputs, targets, loss=loss)
            check_finite_loss(epoch_loss, epoch, optimizer.learning_rate)
            optimizer.update(parameters, gradients, loss=epoch_loss)
        else:
            order = rng.permutation(n_samples)
            weighted_sum = 0.0
            for start in range(0, n_samples, batch_size):
                batch = order[start : start + batch_size]
                batch_loss, gradients = loss_and_gradients(network, inputs[batch], targets[batch], loss=loss)
                check_finite_loss(batch_loss, epoch, optimizer.learning_rate)
                optimizer.update(parameters, gradients, loss=batch_loss)
                weighted_sum += batch_loss * len(batch)
            epoch_loss = weighted_sum / n_samples
        history.loss.append(epoch_loss)

        if validation is not None:
            val_inputs, val_targets = validation
            residual = network.predict(val_inputs) - val_targets
            val_loss = float(np.mean(residual * residual))
            history.val_loss.append(val_loss)
            if val_loss < best_loss:
                best_loss, history.best_epoch = val_loss, epoch
                for kept, current in zip(best_parameters, parameters):
                    kept[...] = current
                epochs_without_improvement = 0
            else:
                epochs_without_improvement += 1
        else:
            val_loss = None
            history.best_epoch = epoch
        if progress is not None:
            progress(epoch, epoch_loss, val_loss)
        if schedule.patience is not None and epochs_without_improvement >= schedule.patience:
            history.stopped_early = epoch + 1 < schedule.epochs
            break

    if validation is not None:
        network.set_parameters(best_parameters)
    return history
