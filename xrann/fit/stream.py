"""Stream mode: out-of-core training on a dask-backed Dataset, blocks loaded in the background.

Each pass over the data visits the blocks that hold training samples; a
background thread loads the next block (its valid samples, masked, split and
scaled by a dask task, on the cluster when a dask.distributed client is
active) while the current one is used, so at most two blocks are in memory.
A full-batch step (lm, lbfgs, irprop+, or any optimiser with
``batch_size=None``) sums the loss, gradient or Gauss-Newton terms over the
blocks in a fixed order; a mini-batch epoch visits them in a seeded random
order and shuffles each block's samples into mini-batches.

Blocks are kept in memory after their first load while their samples fit in
the memory budget (`xrann.data.blocks.max_block_bytes`, 512 MiB by default),
so data that fits is read once, and only the rest is read again each pass.

The validation samples are kept in memory, collected during the first pass;
when there are more than fit in the memory budget (`xrann.data.blocks`), a
seeded uniform subsample of that size is kept and the validation loss is
estimated on it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from ..core.arrays import loss_factor, minibatch_pass, validation_mse
from ..core.optimizers import Optimizer
from ..core.progress import FitProgress
from ..core.workspace import GradientWorkspace
from ..data.blocks import max_block_bytes, release_freed_memory
from ..data.extraction import BlockSamples
from .plan import SamplePlan

__all__ = ["StreamSource"]


def _prefetched(load: Callable[[Any], BlockSamples], keys: Sequence) -> Iterator[BlockSamples]:
    """Yield ``load(key)`` for each key, loading the next one in a background thread meanwhile."""
    if not keys:
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="xrann-prefetch") as pool:
        pending = pool.submit(load, keys[0])
        for position in range(len(keys)):
            block = pending.result()
            if position + 1 < len(keys):
                pending = pool.submit(load, keys[position + 1])
            yield block
            del block


def _validation_keep_fraction(n_validation: int, n_columns: int, itemsize: int) -> float:
    budget_rows = max_block_bytes() // (n_columns * itemsize)
    return 1.0 if n_validation <= budget_rows else budget_rows / n_validation



class StreamSource:
    """Blocks of a dask-backed Dataset streamed from the scheduler, as a gradient source for the engine.

    Parameters
    ----------
    plan : SamplePlan
        Blocks, split and scalers of the fit.
    sizes : tuple of int
        Layer sizes of the network.
    bias : bool
    dtype : str
        Training dtype.
    loss : {"mse", "sse"}

    Examples
    --------
    >>> import xrann
    >>> ds = xrann.datasets.soil_toy().chunk({"site": 2})
    >>> model = ds.ann.fit(target="co2_flux", seed=0, mode="stream")
    >>> model.sample_counts["training"], model.hyperparameters["mode"]
    (3, 'stream')
    """

    def __init__(self, plan: SamplePlan, sizes: tuple[int, ...], *, bias: bool, dtype: str, loss: str) -> None:
        self.plan, self.sizes, self.bias, self.dtype, self.loss_name = plan, tuple(sizes), bool(bias), np.dtype(dtype), loss
        self.n_train, self.n_validation = plan.n_train, plan.n_validation
        self.factor = loss_factor(self.n_train, self.sizes[-1], loss)
        self.training_blocks = plan.blocks_with(2)
        self.validation_blocks = plan.blocks_with(3)
        self.keep_validation = _validation_keep_fraction(self.n_validation, self.sizes[0] + self.bias + 1, self.dtype.itemsize)
        self.workspace = GradientWorkspace(self.sizes, bias=self.bias, dtype=self.dtype)
        self._minibatch_workspace: GradientWorkspace | None = None
        self._validation: tuple[np.ndarray, np.ndarray, np.ndarray | None] | None = None
        #: progress bars of the fit (`xrann.core.progress.FitProgress`): a block bar per pass
        self.bars: FitProgress | None = None
        # blocks kept after their first load, while they fit in the memory budget
        self._cache: dict[int, BlockSamples] = {}
        self._cache_budget = max_block_bytes()

    def _load(self, position: int, keep_validation: float) -> BlockSamples:
        task = self.plan.samples_task(int(position), dtype=self.dtype.name, bias=self.bias, keep_validation=keep_validation)
        return self.plan.compute(task)[0]

    def _block(self, position: int, keep_validation: float) -> BlockSamples:
        """A block's samples: from the cache, else loaded (and cached while the budget allows)."""
        cached = self._cache.get(int(position))
        if cached is not None:
            return cached
        block = self._load(position, keep_validation)
        training_only = block.training_only()
        if training_only.nbytes <= self._cache_budget:
            self._cache[int(position)] = training_only
            self._cache_budget -= training_only.nbytes
        return block

    def _pass(self, order: Sequence[int], work: Callable[[BlockSamples], None]) -> None:
        """Apply ``work`` to the training samples of the blocks in ``order``; collect validation samples on the first pass."""
        collecting = self.n_validation > 0 and self._validation is None
        visit = list(order)
        if collecting:
            visit += [int(p) for p in self.validation_blocks if p not in set(visit)]
        keep = self.keep_validation if collecting else 0.0
        collected: list[BlockSamples] = []
        if self.bars is not None:
            self.bars.start_epoch(len(visit))
        for block in _prefetched(lambda position: self._block(position, keep), visit):
            if len(self._cache) < len(visit):
                release_freed_memory()
            if self.bars is not None:
                self.bars.block()
            if collecting and len(block.val_targets):
                collected.append(block)
            if len(block.targets):
                work(block)
        if collecting:
            if collected:
                self._validation = (
                    np.concatenate([b.val_inputs for b in collected]), np.concatenate([b.val_targets for b in collected]),
                    None if collected[0].val_weights is None else np.concatenate([b.val_weights for b in collected]),
                )
            else:  # a subsample can miss every validation sample; keep at least an empty set
                self._validation = (
                    np.empty((0, self.sizes[0] + self.bias), self.dtype), np.empty((0, self.sizes[-1]), self.dtype), None
                )

    def loss(self, parameters: np.ndarray) -> float:
        """Training loss at ``parameters`` (one streamed pass, forward only)."""
        self.workspace.parameters[...] = parameters
        total = [0.0]

        def work(block: BlockSamples) -> None:
            total[0] += self.workspace.sum_squared_error(block.inputs, block.targets, block.weights)

        self._pass(self.training_blocks, work)
        return total[0] * self.factor

    def loss_and_gradient(self, parameters: np.ndarray) -> tuple[float, np.ndarray]:
        """Training loss and gradient, summed over the blocks in a fixed order."""
        self.workspace.parameters[...] = parameters
        gradient = np.zeros_like(self.workspace.parameters)
        total = [0.0]

        def work(block: BlockSamples) -> None:
            total[0] += self.workspace.accumulate(block.inputs, block.targets, 2.0 * self.factor, out=gradient, weights=block.weights)

        self._pass(self.training_blocks, work)
        return total[0] * self.factor, gradient

    def gauss_newton(self, parameters: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """Training loss, ``c * J.T @ J`` and ``c * J.T @ r``, accumulated block by block."""
        self.workspace.parameters[...] = parameters
        n_parameters = parameters.size
        jtj, jtr = np.zeros((n_parameters, n_parameters)), np.zeros(n_parameters)
        total = [0.0]

        def work(block: BlockSamples) -> None:
            total[0] += self.workspace.gauss_newton(block.inputs, block.targets, self.factor, jtj, jtr, block.weights)

        self._pass(self.training_blocks, work)
        return total[0] * self.factor, jtj, jtr

    def minibatch_epoch(
        self, parameters: np.ndarray, optimizer: Optimizer, batch_size: int, rng: np.random.Generator, epoch: int
    ) -> float:
        """Blocks in a seeded random order, each block's samples shuffled into mini-batches."""
        workspace = self._minibatch_workspace
        if workspace is None or workspace.block_size < batch_size:
            workspace = self._minibatch_workspace = GradientWorkspace(self.sizes, bias=self.bias, dtype=self.dtype, block_size=batch_size)
        workspace.parameters[...] = parameters
        total = [0.0]

        def work(block: BlockSamples) -> None:
            if np.isfinite(total[0]):
                total[0] += minibatch_pass(
                    workspace, optimizer, block.inputs, block.targets, batch_size=batch_size, rng=rng, loss=self.loss_name,
                    weights=block.weights,
                )

        order = self.training_blocks[rng.permutation(len(self.training_blocks))]
        self._pass(order, work)
        parameters[...] = workspace.parameters
        return total[0] / self.n_train

    def validation_loss(self, parameters: np.ndarray) -> float:
        """(Weighted) MSE of the scaled target over the (kept) validation samples, held in memory."""
        if self._validation is None:
            self._pass([], lambda block: None)
        inputs, targets, weights = self._validation
        if not len(targets):
            return float("nan")
        self.workspace.parameters[...] = parameters
        return validation_mse(self.workspace, inputs, targets, weights)
