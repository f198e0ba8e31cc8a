"""The gradient source of samples held in memory as arrays (numpy).

`ArraySource` is what memory-mode fits, ensemble members and the
scikit-learn estimator train on: scaled training (and validation) matrices
in the training dtype, with the bias column already appended, evaluated by
one `~xrann.core.workspace.GradientWorkspace`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .network import SigmoidNetwork, loss_scale
from .optimizers import Optimizer
from .workspace import GradientWorkspace, augment_inputs

__all__ = ["ArraySource", "loss_factor", "minibatch_pass", "random_split", "validation_mse"]


def loss_factor(n_samples: int, n_outputs: int, loss: str) -> float:
    """``c`` of the loss ``c * sum(residual ** 2)``: ``1 / (n_samples * n_outputs)`` for MSE, 1 for SSE.

    Parameters
    ----------
    n_samples : int
        Training samples the loss sums over.
    n_outputs : int
        Outputs of the network.
    loss : {"mse", "sse"}

    Returns
    -------
    float

    Examples
    --------
    >>> loss_factor(4, 1, "mse"), loss_factor(4, 1, "sse")
    (0.25, 1.0)
    """
    return loss_scale(n_samples, n_outputs, loss) / 2.0


def random_split(n_samples: int, fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Random, seeded training and validation row indices of a table, ``round(fraction * n)`` held out.

    Parameters
    ----------
    n_samples : int
    fraction : float
        Share of rows held out.
    rng : numpy.random.Generator

    Returns
    -------
    train_index, validation_index : numpy.ndarray
        Sorted row indices.

    Raises
    ------
    ValueError
        If either side would be empty.

    Examples
    --------
    >>> train, held_out = random_split(10, 0.2, np.random.default_rng(0))
    >>> len(train), len(held_out)
    (8, 2)
    """
    n_validation = int(round(fraction * n_samples))
    if n_validation < 1 or n_validation >= n_samples:
        raise ValueError(
            f"too few samples for validation_fraction={fraction}: {n_samples} samples give {n_validation} validation "
            f"and {n_samples - n_validation} training samples; use a larger fraction, more data, or no validation."
        )
    order = rng.permutation(n_samples)
    return np.sort(order[n_validation:]), np.sort(order[:n_validation])


def minibatch_pass(
    workspace: GradientWorkspace,
    optimizer: Optimizer,
    inputs: np.ndarray,
    targets: np.ndarray,
    *,
    batch_size: int,
    rng: np.random.Generator,
    loss: str,
    weights: np.ndarray | None = None,
) -> float:
    """Shuffled mini-batch updates of ``workspace.parameters`` over augmented ``inputs``; returns ``sum(batch_loss * batch_length)``.

    Parameters
    ----------
    workspace : GradientWorkspace
        Holds the parameters being trained (updated in place); its ``block_size`` is at least ``batch_size``.
    optimizer : Optimizer
        A first-order optimiser (`Optimizer.update`).
    inputs : numpy.ndarray
        Augmented scaled drivers ``(n, n_inputs + bias)``.
    targets : numpy.ndarray
        Scaled targets ``(n, n_outputs)``.
    batch_size : int
    rng : numpy.random.Generator
        Draws the order of the samples.
    loss : {"mse", "sse"}
    weights : numpy.ndarray, optional
        Sample weights ``(n,)`` (normalised to mean 1 over the training samples): each batch's loss is
        ``sum(weight * residual ** 2)`` over its terms, divided by their count for MSE.

    Returns
    -------
    float
        Divide by ``n`` for the mean loss; NaN or infinite as soon as a batch diverges (the pass stops there).

    Examples
    --------
    >>> from xrann.core.network import initialize
    >>> from xrann.core.optimizers import Adam
    >>> rng = np.random.default_rng(0)
    >>> workspace = GradientWorkspace((1, 3, 1), block_size=16); workspace.load(initialize((1, 3, 1), rng=rng))
    >>> x = augment_inputs(rng.random((40, 1))); y = 0.5 * x[:, :1]
    >>> optimizer = Adam(0.05)
    >>> first = minibatch_pass(workspace, optimizer, x, y, batch_size=16, rng=rng, loss="mse") / 40
    >>> for _ in range(200): last = minibatch_pass(workspace, optimizer, x, y, batch_size=16, rng=rng, loss="mse") / 40
    >>> last < first
    True
    """
    n_samples, n_outputs = targets.shape
    batch_size = min(batch_size, n_samples)
    order = rng.permutation(n_samples)
    batch_inputs = np.empty((batch_size, inputs.shape[1]), dtype=inputs.dtype)
    batch_targets = np.empty((batch_size, n_outputs), dtype=targets.dtype)
    batch_weights = None if weights is None else np.empty(batch_size, dtype=weights.dtype)
    w = None
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
        if batch_weights is not None:
            w = batch_weights[:length]
            np.take(weights, index, out=w)
        batch_loss = workspace.batch_gradient(x, y, scale, w) * to_loss
        if not math.isfinite(batch_loss):
            return batch_loss
        optimizer.update(parameters, gradients, loss=batch_loss)
        loss_sum += batch_loss * length
    return loss_sum


class ArraySource:
    """Training and validation samples in memory, as a gradient source for `xrann.core.engine.train`.

    Parameters
    ----------
    sizes : sequence of int
        Layer sizes of the network.
    inputs, targets : numpy.ndarray
        Scaled training drivers ``(n, n_inputs)`` (or already augmented with
        the bias column, ``(n, n_inputs + 1)``, when ``augmented=True``) and
        targets ``(n, n_outputs)``. Converted once to ``dtype``.
    val_inputs, val_targets : numpy.ndarray, optional
        The same for the validation samples.
    bias : bool, default True
    dtype : str or numpy.dtype, default "float64"
    loss : {"mse", "sse"}, default "mse"
    augmented : bool, default False
        Whether the inputs already carry the bias column (as `xrann.data`
        writes them), so that no copy is made.
    weights, val_weights : numpy.ndarray, optional
        Sample weights ``(n,)`` of the training (validation) samples, non-negative: the loss becomes
        ``c * sum(weight * residual ** 2)``. Training weights are expected normalised to mean 1 (so
        the loss keeps the scale of an MSE); the validation loss is the weighted mean
        ``sum(w r**2) / (sum(w) * n_outputs)``. ``None`` weighs every sample 1.

    Examples
    --------
    >>> from xrann.core.network import initialize, loss_and_gradients
    >>> net = initialize((2, 3, 1), rng=np.random.default_rng(0))
    >>> x, y = np.random.default_rng(1).random((10, 2)), np.zeros((10, 1))
    >>> source = ArraySource(net.sizes, x, y)
    >>> loss, gradient = source.loss_and_gradient(source.flatten(net))
    >>> bool(np.isclose(loss, loss_and_gradients(net, x, y)[0]))
    True
    """

    def __init__(
        self,
        sizes: Sequence[int],
        inputs: np.ndarray,
        targets: np.ndarray,
        val_inputs: np.ndarray | None = None,
        val_targets: np.ndarray | None = None,
        *,
        bias: bool = True,
        dtype: np.dtype | str = "float64",
        loss: str = "mse",
        augmented: bool = False,
        weights: np.ndarray | None = None,
        val_weights: np.ndarray | None = None,
    ) -> None:
        self.sizes, self.bias, self.dtype, self.loss_name = tuple(sizes), bool(bias), np.dtype(dtype), loss
        self.inputs = self._prepared(inputs, augmented)
        self.targets = np.ascontiguousarray(targets, dtype=self.dtype)
        self.n_train = int(self.targets.shape[0])
        if val_targets is not None and len(val_targets):
            self.val_inputs = self._prepared(val_inputs, augmented)
            self.val_targets = np.ascontiguousarray(val_targets, dtype=self.dtype)
        else:
            self.val_inputs = self.val_targets = None
        self.n_validation = 0 if self.val_targets is None else int(self.val_targets.shape[0])
        self.weights = None if weights is None else np.ascontiguousarray(weights, dtype=self.dtype).reshape(-1)
        self.val_weights = None
        if val_weights is not None and self.val_targets is not None:
            self.val_weights = np.ascontiguousarray(val_weights, dtype=self.dtype).reshape(-1)
        self.factor = loss_factor(self.n_train, self.sizes[-1], loss)
        self.workspace = GradientWorkspace(self.sizes, bias=self.bias, dtype=self.dtype)
        self._minibatch_workspace: GradientWorkspace | None = None

    def _prepared(self, inputs: np.ndarray, augmented: bool) -> np.ndarray:
        if augmented:
            return np.ascontiguousarray(inputs, dtype=self.dtype)
        return augment_inputs(inputs, bias=self.bias, dtype=self.dtype)

    def flatten(self, network: SigmoidNetwork) -> np.ndarray:
        """``network``'s parameters as a new flat vector in the workspace layout (and dtype)."""
        self.workspace.load(network)
        return self.workspace.parameters.copy()

    def _at(self, parameters: np.ndarray) -> GradientWorkspace:
        self.workspace.parameters[...] = parameters
        return self.workspace

    def loss(self, parameters: np.ndarray) -> float:
        """Training loss at ``parameters`` (forward passes only)."""
        return self._at(parameters).sum_squared_error(self.inputs, self.targets, self.weights) * self.factor

    def loss_and_gradient(self, parameters: np.ndarray) -> tuple[float, np.ndarray]:
        """Training loss and its gradient at ``parameters``."""
        workspace = self._at(parameters)
        sse = workspace.accumulate(self.inputs, self.targets, 2.0 * self.factor, weights=self.weights)
        return sse * self.factor, workspace.gradient.copy()

    def gauss_newton(self, parameters: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """Training loss, ``c * J.T @ J`` and ``c * J.T @ r`` at ``parameters`` (block by block)."""
        workspace = self._at(parameters)
        n_parameters = parameters.size
        jtj, jtr = np.zeros((n_parameters, n_parameters)), np.zeros(n_parameters)
        sse = workspace.gauss_newton(self.inputs, self.targets, self.factor, jtj, jtr, self.weights)
        return sse * self.factor, jtj, jtr

    def minibatch_epoch(
        self, parameters: np.ndarray, optimizer: Optimizer, batch_size: int, rng: np.random.Generator, epoch: int
    ) -> float:
        """One shuffled pass of mini-batch updates over all training samples; the mean batch loss."""
        batch_size = min(batch_size, self.n_train)
        workspace = self._minibatch_workspace
        if workspace is None or workspace.block_size < batch_size:
            workspace = self._minibatch_workspace = GradientWorkspace(
                self.sizes, bias=self.bias, dtype=self.dtype, block_size=batch_size
            )
        workspace.parameters[...] = parameters
        total = minibatch_pass(
            workspace, optimizer, self.inputs, self.targets, batch_size=batch_size, rng=rng, loss=self.loss_name,
            weights=self.weights,
        )
        parameters[...] = workspace.parameters
        return total / self.n_train

    def validation_loss(self, parameters: np.ndarray) -> float:
        """(Weighted) MSE of the scaled target over the validation samples."""
        if self.val_targets is None:
            return float("nan")
        return validation_mse(self._at(parameters), self.val_inputs, self.val_targets, self.val_weights)


def validation_mse(workspace: GradientWorkspace, inputs: np.ndarray, targets: np.ndarray, weights: np.ndarray | None) -> float:
    """Mean squared error of augmented ``inputs`` against ``targets`` at the workspace's parameters, weighted when ``weights`` are given.

    Parameters
    ----------
    workspace : GradientWorkspace
    inputs : numpy.ndarray
        Augmented scaled drivers ``(n, n_inputs + bias)``.
    targets : numpy.ndarray
        Scaled targets ``(n, n_outputs)``.
    weights : numpy.ndarray or None
        Sample weights ``(n,)``: the result is ``sum(w * r ** 2) / (sum(w) * n_outputs)``.

    Returns
    -------
    float

    Examples
    --------
    >>> workspace = GradientWorkspace((1, 1))
    >>> x, y = augment_inputs(np.zeros((2, 1))), np.array([[0.5], [1.5]])  # the output is 0.5
    >>> validation_mse(workspace, x, y, None), validation_mse(workspace, x, y, np.array([3.0, 1.0]))
    (0.5, 0.25)
    """
    sse = workspace.sum_squared_error(inputs, targets, weights)
    if weights is None:
        return sse / targets.size
    return sse / (float(np.sum(weights, dtype=np.float64)) * targets.shape[1])
