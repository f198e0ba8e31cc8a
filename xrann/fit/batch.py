"""Batch mode: distributed full-batch training on samples persisted as shards on dask.distributed workers.

The scaled samples of the blocks, merged into shards of at least half a
million samples (whole blocks), are persisted once where they were computed
(on the workers of an active client, spread evenly by samples over the
worker threads, else in this process). Every evaluation the optimiser asks
for (loss, gradient, Gauss-Newton terms ``JᵀJ`` and ``Jᵀr``, validation loss)
is one task per worker thread (per shard locally) computing the partial sums
of its shards where they live, and one task adding them in shard order.
Shards depend on the data only, and are added in the same order wherever
they live, so a fit gives the same weights on any cluster. Tasks are pure and
submitted with ``retries``, and persisted blocks keep their lineage, so a
lost worker costs recomputation, not the fit.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

import dask
import numpy as np

from ..core.arrays import loss_factor
from ..core.optimizers import Optimizer
from ..core.workspace import GradientWorkspace
from ..data.blocks import TASK_RETRIES, active_client, compute
from ..data.extraction import BlockSamples, concatenate_blocks
from .plan import SamplePlan

__all__ = ["ShardSource", "SHARD_SAMPLES"]

#: ``mode="batch"`` persists the blocks' samples merged into shards of at least this many
#: samples (whole blocks), so that small chunks make efficient gradient work; on a cluster
#: each worker thread sums the gradients of its shards in one task per epoch, and shards
#: small against a thread's share keep the threads' shares of samples even
SHARD_SAMPLES = 500_000


# thread-local workspaces: gradient tasks of one shape reuse their buffers
_LOCAL = threading.local()


def _workspace(sizes: tuple[int, ...], bias: bool, dtype: str) -> GradientWorkspace:
    cache = getattr(_LOCAL, "workspaces", None)
    if cache is None:
        cache = _LOCAL.workspaces = {}
    key = (sizes, bias, dtype)
    if key not in cache:
        cache[key] = GradientWorkspace(sizes, bias=bias, dtype=dtype)
    return cache[key]



def _shard_terms(kind: str, parameters: np.ndarray, sizes: tuple[int, ...], bias: bool, factor: float, *shards: BlockSamples) -> list[tuple]:
    """The partial sums ``kind`` asks for, of each shard, at ``parameters`` (runs where the shards live).

    ``"loss"``: ``(sse,)``; ``"gradient"``: ``(sse, gradient)``; ``"gauss_newton"``:
    ``(sse, c JᵀJ, c Jᵀr)``; ``"validation"``: ``(validation sse, validation weight)``, the weight
    being the sum of the sample weights (the number of samples terms when unweighted). Every sum of
    squares is weighted by the shard's sample weights, if any.
    """
    workspace = _workspace(sizes, bias, str(parameters.dtype))
    workspace.parameters[...] = parameters
    n_parameters = parameters.size
    parts = []
    for shard in shards:
        has_training = len(shard.targets) > 0
        if kind == "loss":
            parts.append((workspace.sum_squared_error(shard.inputs, shard.targets, shard.weights) if has_training else 0.0,))
        elif kind == "gradient":
            gradient = np.zeros_like(parameters)
            sse = workspace.accumulate(shard.inputs, shard.targets, 2.0 * factor, out=gradient, weights=shard.weights) if has_training else 0.0
            parts.append((sse, gradient))
        elif kind == "gauss_newton":
            jtj, jtr = np.zeros((n_parameters, n_parameters)), np.zeros(n_parameters)
            sse = workspace.gauss_newton(shard.inputs, shard.targets, factor, jtj, jtr, shard.weights) if has_training else 0.0
            parts.append((sse, jtj, jtr))
        else:
            has_validation = len(shard.val_targets) > 0
            sse = workspace.sum_squared_error(shard.val_inputs, shard.val_targets, shard.val_weights) if has_validation else 0.0
            if shard.val_weights is None:
                parts.append((sse, float(shard.val_targets.size)))
            else:
                parts.append((sse, float(np.sum(shard.val_weights, dtype=np.float64)) * sizes[-1]))
    return parts


def _add_parts(positions: Sequence[int], *groups: list) -> tuple:
    """Sum the parts of `_shard_terms` term by term, in shard order.

    ``groups`` are lists of parts; ``positions`` gives the shard of each part,
    in the order the groups list them. Adding in shard order, whichever
    worker computed which shard, gives the same sums on any cluster.
    """
    parts = [part for group in groups for part in group]
    ordered = [parts[i] for i in np.argsort(positions, kind="stable")]
    totals = [term.copy() if isinstance(term, np.ndarray) else term for term in ordered[0]]
    for part in ordered[1:]:
        for index, term in enumerate(part):
            if isinstance(term, np.ndarray):
                totals[index] += term
            else:
                totals[index] = totals[index] + term
    return tuple(totals)


def _shards(sample_counts: np.ndarray, shard_samples: int) -> list[list[int]]:
    """Group consecutive blocks (positions with samples) into shards of at least ``shard_samples`` samples.

    Depends on the data only, not on the cluster, so fits are reproducible everywhere.
    """
    shards, current, size = [], [], 0
    for position in np.flatnonzero(sample_counts > 0):
        current.append(int(position))
        size += int(sample_counts[position])
        if size >= shard_samples:
            shards.append(current)
            current, size = [], 0
    if current:
        shards.append(current)
    return shards


def _thread_groups(sample_counts: Sequence[int], threads: Mapping[str, int]) -> list[tuple[str, list[int]]]:
    """Shards (positions) for each worker thread, balanced by samples: the largest shard goes to the least loaded.

    Returns ``(worker address, positions)`` for every thread that has shards.
    """
    slots = [(address, [], [0]) for address in sorted(threads) for _ in range(max(int(threads[address]), 1))]
    for position in sorted(range(len(sample_counts)), key=lambda p: (-int(sample_counts[p]), p)):
        address, positions, load = min(slots, key=lambda slot: slot[2][0])
        positions.append(position)
        load[0] += int(sample_counts[position])
    return [(address, sorted(positions)) for address, positions, _ in slots if positions]



class ShardSource:
    """Samples persisted as shards (on dask.distributed workers when a client is active), as a gradient source.

    Parameters
    ----------
    plan : SamplePlan
    sizes : tuple of int
        Layer sizes of the network.
    bias : bool
    dtype : str
    loss : {"mse", "sse"}

    Call `close` (or use it as a context manager) to release the shards.

    Examples
    --------
    Without a dask.distributed client the shards are persisted in this process:

    >>> import xarray as xr
    >>> from xrann.fit.plan import plan_samples
    >>> ds = xr.Dataset({"y": ("x", np.linspace(0.0, 1.0, 20)), "a": ("x", np.linspace(0.0, 1.0, 20))})
    >>> plan = plan_samples(ds, "y", ["a"], ("x",), holdout=None, fraction=0.25, validation=0.25, seed=0, target_range=(0.1, 0.9))
    >>> with ShardSource(plan, (1, 2, 1), bias=True, dtype="float64", loss="mse") as source:
    ...     loss, gradient = source.loss_and_gradient(np.zeros(7))  # 7 weights and biases
    >>> source.n_train + source.n_validation, gradient.shape
    (20, (7,))
    """

    def __init__(self, plan: SamplePlan, sizes: tuple[int, ...], *, bias: bool, dtype: str, loss: str) -> None:
        self.sizes, self.bias, self.dtype = tuple(sizes), bool(bias), np.dtype(dtype)
        self.n_train, self.n_validation = plan.n_train, plan.n_validation
        self.factor = loss_factor(self.n_train, self.sizes[-1], loss)
        self.weighted = plan.weight_scale is not None
        statistics = plan.statistics
        samples = statistics[:, 2] + statistics[:, 3]
        grouping = _shards(samples, SHARD_SAMPLES)
        self._lazy = plan.lazy
        self._client = active_client() if plan.lazy else None
        self._groups: list[tuple[str | None, list[int]]] = []
        if not plan.lazy:  # numpy-backed input: the shards are arrays in this process, summed without dask
            self._persisted: list[Any] = [
                concatenate_blocks(*plan.compute(*[self._samples_task(plan, position) for position in shard]))
                for shard in grouping
            ]
            self._positions = list(range(len(self._persisted)))
            return
        shards = [
            dask.delayed(concatenate_blocks, pure=True)(*[self._samples_task(plan, position) for position in shard])
            for shard in grouping
        ]
        if self._client is None:
            self._persisted = list(dask.persist(*shards))
            self._positions = list(range(len(self._persisted)))
        else:
            # Each worker thread is given shards of about equal samples in all, computes them where it
            # will use them, and each evaluation is one task per thread and one sum, submitted on
            # futures without building a graph. Restrictions are loose, so a lost worker's shards and
            # tasks are recomputed elsewhere.
            threads = self._client.nthreads() or {None: 1}  # no worker up yet: one group, placed by the scheduler
            self._groups = _thread_groups([int(sum(samples[p] for p in shard)) for shard in grouping], threads)
            self._persisted, self._positions = [], []
            for address, group in self._groups:
                where = dict(workers=[address], allow_other_workers=True) if address is not None else {}
                self._persisted.append(self._client.compute([shards[p] for p in group], retries=TASK_RETRIES, **where))
                self._positions.extend(group)

    def _samples_task(self, plan: SamplePlan, position: int) -> Any:
        return plan.samples_task(position, dtype=self.dtype.name, bias=self.bias, keep_validation=1.0)

    def _evaluate(self, kind: str, parameters: np.ndarray) -> tuple:
        parameters = np.array(parameters, copy=True)
        arguments = (kind, parameters, self.sizes, self.bias, self.factor)
        if not self._lazy:
            return _add_parts(self._positions, *[_shard_terms(*arguments, shard) for shard in self._persisted])
        if self._client is None:
            parts = [dask.delayed(_shard_terms, pure=True)(*arguments, shard) for shard in self._persisted]
            return compute(dask.delayed(_add_parts, pure=True)(self._positions, *parts))[0]
        parts = [
            self._client.submit(
                _shard_terms, *arguments, *futures, retries=TASK_RETRIES,
                **(dict(workers=[address], allow_other_workers=True) if address is not None else {}),
            )
            for (address, _), futures in zip(self._groups, self._persisted)
        ]
        return self._client.submit(_add_parts, self._positions, *parts, retries=TASK_RETRIES).result()

    def loss(self, parameters: np.ndarray) -> float:
        """Training loss, forward passes on the workers."""
        return self._evaluate("loss", parameters)[0] * self.factor

    def loss_and_gradient(self, parameters: np.ndarray) -> tuple[float, np.ndarray]:
        """Training loss and gradient, summed over the shards in shard order."""
        sse, gradient = self._evaluate("gradient", parameters)
        return sse * self.factor, gradient

    def gauss_newton(self, parameters: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """Training loss and the Gauss-Newton terms, each worker summing ``JᵀJ`` and ``Jᵀr`` of its shards."""
        sse, jtj, jtr = self._evaluate("gauss_newton", parameters)
        return sse * self.factor, jtj, jtr

    def minibatch_epoch(self, parameters, optimizer: Optimizer, batch_size, rng, epoch) -> float:
        """Batch mode trains on full-batch steps only."""
        raise ValueError(
            "mode='batch' trains on full-batch steps; drop batch_size (or pass batch_size=None), "
            "or use mode='stream' for mini-batches."
        )

    def validation_loss(self, parameters: np.ndarray) -> float:
        """(Weighted) MSE of the scaled target over every validation sample, on the workers."""
        sse, weight = self._evaluate("validation", parameters)
        if self.weighted:
            return sse / weight
        return sse / (self.n_validation * self.sizes[-1])

    def close(self) -> None:
        """Release the persisted shards."""
        self._persisted = []

    def __enter__(self) -> "ShardSource":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
