"""Training on dask-backed Datasets block by block: out-of-core streaming and distributed full batch.

`xrann.fitting.fit_dataset` hands dask-backed input here (``mode="stream"``,
the default for dask, or ``mode="batch"``). Nothing is ever stacked globally:
the target's chunk grid defines *blocks*, every driver is rechunked onto it
(static maps such as ``(lat, lon)`` are broadcast over the other dims inside
each block), and each block becomes a small matrix of valid samples only when
it is needed.

How a fit proceeds
------------------
1. **Statistics, one lazy pass.** For every block a task counts its grid
   points, its valid samples (finite target and drivers) and their split into
   training and validation, and takes the minimum and maximum of every
   variable over its training samples. All blocks are computed in one
   ``dask.compute``; the scalers come from these extremes. Blocks without a
   training sample are never loaded again.
2. **Training.**

   * ``mode="stream"`` (out-of-core): each epoch visits the blocks in a
     seeded random order. A background thread loads the next block (its
     valid samples, masked, split and scaled by a dask task, on the cluster
     when a ``dask.distributed`` client is active) while the current block's
     samples are shuffled and trained on in mini-batches, so at most two
     blocks are in memory. With full-batch settings (``batch_size=None``, or
     ``optimizer="irprop+"``) the gradient is summed over the streamed blocks
     and one update is made per epoch.
   * ``mode="batch"`` (distributed full batch): the scaled samples of the
     blocks, merged into shards of at least half a million samples, are
     persisted once where they were computed (on the workers of an active
     client, spread evenly by samples over the worker threads, else in this
     process), and each epoch one task per worker thread (per shard locally)
     computes the partial loss gradients of its shards there; one task adds
     them in shard order and one full-batch update (Adam, iRprop+, ...) is
     made. Shards depend on the data only, and are added in the same order
     wherever they live, so a fit gives the same weights on any cluster.
     Tasks are pure and submitted with ``retries``, and persisted blocks keep
     their lineage, so a lost worker costs recomputation, not the fit.

Validation
----------
A ``{dim: labels}`` selection holds out exactly those samples. A fraction
``validation=0.2`` is drawn per sample from a hash of the sample's position
in the full grid (its flat C-order index) and the seed, so it is the same
whatever the chunking and whichever worker computes the block; the number of
validation samples is therefore close to, not exactly, 20 % (memory mode draws
exactly ``round(0.2 * n)``, so the two modes hold out different samples).
``mode="stream"`` keeps the validation samples in memory, collected during
the first epoch; when there are more than fit in the memory budget below, a
seeded uniform subsample of that size is kept and the validation loss is
estimated on it. ``mode="batch"`` evaluates every validation sample on the
workers each epoch. In ``mode="batch"`` the losses of epoch ``e`` describe
the weights before that epoch's update.

Memory budget
-------------
Streaming holds one block being trained on and one being loaded, and hands
the memory of each finished block back to the operating system (glibc's
``malloc_trim``, as dask.distributed does for its workers), so the resident
size does not creep up with the number of blocks. A block
whose target and drivers take more than the budget (512 MiB by default)
triggers a `LargeBlockWarning` that suggests a ``ds.chunk(...)`` call.
The budget is a dask configuration value::

    with dask.config.set({"xrann.max-block-bytes": "1GiB"}):
        model = ds.ann.fit(target="nee", ...)
"""

from __future__ import annotations

import ctypes
import math
import threading
import warnings
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import dask
import dask.array as da
import numpy as np
import xarray as xr
from dask.utils import format_bytes, parse_bytes

from .fitting import FitSettings, check_split_counts, no_valid_samples_error
from .network import GradientWorkspace, SigmoidNetwork, loss_scale
from .optimizers import OPTIMIZERS
from .progress import FitProgress, fit_progress
from .scaling import MinMaxScaler
from .training import EarlyStopping, TrainingHistory, check_finite_loss, check_full_batch, minibatch_epoch

__all__ = [
    "fit_lazy",
    "align_chunks",
    "block_grid",
    "BlockGrid",
    "BlockSamples",
    "LargeBlockWarning",
    "max_block_bytes",
    "validation_fraction_mask",
    "point_hashes",
    "DEFAULT_MAX_BLOCK_BYTES",
    "MAX_BLOCK_BYTES_KEY",
]

#: dask configuration key of the memory budget per block
MAX_BLOCK_BYTES_KEY = "xrann.max-block-bytes"
DEFAULT_MAX_BLOCK_BYTES = 512 * 2**20
#: retries of each task when a dask.distributed client runs the fit
TASK_RETRIES = 3
#: ``mode="batch"`` persists the blocks' samples merged into shards of at least this many
#: samples (whole blocks), so that small chunks make efficient gradient work; on a cluster
#: each worker thread sums the gradients of its shards in one task per epoch, and shards
#: small against a thread's share keep the threads' shares of samples even
SHARD_SAMPLES = 500_000
#: salts of the per-sample hashes: validation split, validation subsample
_SPLIT_SALT, _SUBSAMPLE_SALT = 0x5EED5, 0xA11CE


class LargeBlockWarning(UserWarning):
    """A block of the Dataset is larger than the streaming memory budget.

    Examples
    --------
    >>> issubclass(LargeBlockWarning, UserWarning)  # silence with warnings.simplefilter("ignore", LargeBlockWarning)
    True
    """


def max_block_bytes() -> int:
    """The memory budget per block, from dask config ``"xrann.max-block-bytes"`` (default 512 MiB).

    The config value may be a number of bytes or a string such as ``"1GiB"``.

    Returns
    -------
    int
        Bytes.

    Examples
    --------
    >>> import dask
    >>> with dask.config.set({"xrann.max-block-bytes": "64MiB"}):
    ...     max_block_bytes()
    67108864
    """
    value = dask.config.get(MAX_BLOCK_BYTES_KEY, DEFAULT_MAX_BLOCK_BYTES)
    return int(parse_bytes(value)) if isinstance(value, str) else int(value)


# ---------------------------------------------------------------------------
# the block grid


def _is_lazy(array: xr.DataArray) -> bool:
    return array.chunks is not None


def _reference_chunks(arrays: Sequence[xr.DataArray], dims: Sequence[Hashable], sizes: Mapping[Hashable, int]) -> dict:
    """Chunks per dim from the first dask-backed array having that dim, else one chunk."""
    chunks: dict[Hashable, tuple[int, ...]] = {}
    for dim in dims:
        for array in arrays:
            if _is_lazy(array) and dim in array.dims:
                chunks[dim] = tuple(array.variable.chunksizes[dim])
                break
        else:
            chunks[dim] = (int(sizes[dim]),)
    return chunks


def align_chunks(ds: xr.Dataset, names: Sequence[Hashable], like: Hashable | None = None) -> xr.Dataset:
    """Rechunk the named dask-backed variables onto one chunk grid (lazy, copy of ``ds``).

    The grid is that of ``like`` where it has the dim, else of the first named
    dask variable with the dim. Static maps chunked differently from the
    time-varying drivers, say, then line up with them, and block-wise
    prediction keeps the drivers' chunks instead of a common refinement.
    numpy-backed variables are left alone.

    Parameters
    ----------
    ds : xarray.Dataset
    names : sequence of hashable
    like : hashable, optional
        Variable whose chunks win.

    Returns
    -------
    xarray.Dataset

    Examples
    --------
    >>> ds = xr.Dataset({"t2m": (("time", "lat"), np.zeros((4, 6))), "soil": ("lat", np.zeros(6))})
    >>> ds = ds.chunk({"time": 2, "lat": 3}).assign(soil=ds.soil.chunk({"lat": 2}))
    >>> align_chunks(ds, ["t2m", "soil"])["soil"].chunks
    ((3, 3),)
    """
    order = ([like] if like is not None else []) + [name for name in names if name != like]
    arrays = [ds[name] for name in order]
    dims = list(dict.fromkeys(dim for array in arrays for dim in array.dims))
    chunks = _reference_chunks(arrays, dims, ds.sizes)
    changed = {}
    for name in names:
        array = ds[name]
        if _is_lazy(array):
            wanted = {dim: chunks[dim] for dim in array.dims}
            if any(tuple(array.variable.chunksizes[dim]) != wanted[dim] for dim in array.dims):
                changed[name] = array.variable.chunk(wanted)
    return ds.assign(changed) if changed else ds


def _essential_mask(mask: xr.DataArray) -> xr.DataArray:
    """Drop the dims along which a numpy mask is a broadcast (zero stride), e.g. a time selection."""
    data = np.asarray(mask.data)
    constant = [dim for dim, stride, size in zip(mask.dims, data.strides, data.shape) if stride == 0 or size == 1]
    return mask.isel({dim: 0 for dim in constant}, drop=True) if constant else mask


@dataclass
class BlockGrid:
    """The target's chunk grid, with every variable aligned to it as a dask array.

    Attributes
    ----------
    sample_dims : tuple of hashable
    shape : tuple of int
        Size of each sample dim.
    chunks : tuple of tuple of int
        Chunk sizes along each sample dim.
    arrays : list of dask.array.Array
        Target first, then the drivers, then (if any) the validation holdout
        mask, each broadcast to ``shape`` with ``chunks``.
    n_drivers : int
    has_holdout : bool
    itemsizes : tuple of int
        Bytes per value of the target and each driver.

    Examples
    --------
    >>> ds = xr.Dataset({"nee": (("time", "x"), np.zeros((6, 4))), "t2m": (("time", "x"), np.ones((6, 4)))})
    >>> grid = block_grid(ds.chunk({"time": 4}), "nee", ["t2m"], ("time", "x"))
    >>> grid.block_indices(), grid.block_starts((1, 0)), grid.block_shape((1, 0)), grid.largest_block_bytes()
    ([(0, 0), (1, 0)], (4, 0), (2, 4), 256)
    """

    sample_dims: tuple[Hashable, ...]
    shape: tuple[int, ...]
    chunks: tuple[tuple[int, ...], ...]
    arrays: list[da.Array]
    n_drivers: int
    has_holdout: bool
    itemsizes: tuple[int, ...]

    @property
    def numblocks(self) -> tuple[int, ...]:
        """Number of blocks along each dim."""
        return tuple(len(c) for c in self.chunks)

    def block_indices(self) -> list[tuple[int, ...]]:
        """Every block's index, in C order."""
        return [tuple(int(i) for i in index) for index in np.ndindex(*self.numblocks)]

    def block_starts(self, index: Sequence[int]) -> tuple[int, ...]:
        """Position of a block's first grid point along each dim."""
        return tuple(int(sum(c[:i])) for c, i in zip(self.chunks, index))

    def block_shape(self, index: Sequence[int]) -> tuple[int, ...]:
        """Shape of a block."""
        return tuple(c[i] for c, i in zip(self.chunks, index))

    def largest_block_bytes(self) -> int:
        """Bytes of the target and drivers of the largest block, as loaded."""
        points = math.prod(max(c) for c in self.chunks)
        return points * sum(self.itemsizes)


def _aligned(variable: xr.DataArray, sample_dims: Sequence[Hashable], chunks: Mapping, shape: tuple[int, ...]) -> da.Array:
    own = [dim for dim in sample_dims if dim in variable.dims]
    data = variable.transpose(*own).data
    own_chunks = tuple(chunks[dim] for dim in own)
    if isinstance(data, da.Array):
        data = data.rechunk(own_chunks)
    else:
        data = da.from_array(np.asarray(data), chunks=own_chunks, name=False)
    data = data[tuple(slice(None) if dim in own else None for dim in sample_dims)]
    return da.broadcast_to(data, shape, chunks=tuple(chunks[dim] for dim in sample_dims))


def block_grid(
    ds: xr.Dataset,
    target: Hashable,
    drivers: Sequence[Hashable],
    sample_dims: Sequence[Hashable],
    holdout: xr.DataArray | None = None,
) -> BlockGrid:
    """Align the target, the drivers and a holdout mask onto the target's chunk grid (lazy).

    The grid follows the target's chunks; dims the target has as numpy take
    the chunks of the first dask-backed driver with that dim.

    Parameters
    ----------
    ds : xarray.Dataset
    target : hashable
    drivers : sequence of hashable
    sample_dims : sequence of hashable
    holdout : xarray.DataArray, optional
        Boolean on (a subset of) ``sample_dims``, ``True`` for validation samples.

    Returns
    -------
    BlockGrid

    Examples
    --------
    >>> ds = xr.Dataset({"nee": (("time", "lat"), np.zeros((4, 6))), "soil": ("lat", np.ones(6))}).chunk({"time": 2})
    >>> grid = block_grid(ds, "nee", ["soil"], ("time", "lat"))
    >>> grid.numblocks, grid.arrays[1].shape
    ((2, 1), (4, 6))
    """
    sample_dims = tuple(sample_dims)
    variables = [ds[target]] + [ds[name] for name in drivers]
    chunks = _reference_chunks(variables, sample_dims, ds.sizes)
    shape = tuple(int(ds.sizes[dim]) for dim in sample_dims)
    arrays = [_aligned(variable, sample_dims, chunks, shape) for variable in variables]
    if holdout is not None:
        mask = holdout if _is_lazy(holdout) else _essential_mask(holdout)
        arrays.append(_aligned(mask.astype(bool), sample_dims, chunks, shape))
    return BlockGrid(
        sample_dims=sample_dims,
        shape=shape,
        chunks=tuple(chunks[dim] for dim in sample_dims),
        arrays=arrays,
        n_drivers=len(drivers),
        has_holdout=holdout is not None,
        itemsizes=tuple(variable.dtype.itemsize for variable in variables),
    )


def _warn_large_blocks(grid: BlockGrid) -> None:
    budget = max_block_bytes()
    size = grid.largest_block_bytes()
    if size <= budget:
        return
    # suggest shrinking the first dim with more than one point per chunk
    suggestion = {}
    for dim, dim_chunks in zip(grid.sample_dims, grid.chunks):
        largest = max(dim_chunks)
        if largest > 1:
            suggestion[dim] = max(1, int(largest * budget / size))
            break
    fix = ", ".join(f"{dim!r}: {n}" for dim, n in suggestion.items())
    warnings.warn(
        f"the largest block of the Dataset holds {format_bytes(size)} of target and drivers, more than the "
        f"streaming memory budget of {format_bytes(budget)}; training holds two blocks at a time. "
        f"Use smaller chunks, e.g. ds = ds.chunk({{{fix}}}), or raise the budget with "
        f"dask.config.set({{'{MAX_BLOCK_BYTES_KEY}': '2GiB'}}).",
        LargeBlockWarning,
        stacklevel=5,  # the user's ds.ann.fit(...) line
    )


# ---------------------------------------------------------------------------
# per-block work (pure functions: they run in dask tasks, possibly on workers)


def _hash_uniform(index: np.ndarray, seed: int, salt: int) -> np.ndarray:
    """Uniform numbers in [0, 1) from uint64 indices: the splitmix64 finaliser of index, seed and salt."""
    key = np.uint64((seed * 0x9E3779B97F4A7C15 + salt * 0xD1B54A32D192ED03) % 2**64)
    z = index.astype(np.uint64) + key
    z ^= z >> np.uint64(30)
    z *= np.uint64(0xBF58476D1CE4E5B9)
    z ^= z >> np.uint64(27)
    z *= np.uint64(0x94D049BB133111EB)
    z ^= z >> np.uint64(31)
    return (z >> np.uint64(11)).astype(np.float64) * 2.0**-53


def _flat_grid_index(starts: Sequence[int], block_shape: Sequence[int], grid_shape: Sequence[int]) -> np.ndarray:
    """C-order index in the full grid of every point of a block, flattened."""
    index = np.zeros(block_shape, dtype=np.uint64)
    stride = 1
    for axis in range(len(grid_shape) - 1, -1, -1):
        positions = np.arange(starts[axis], starts[axis] + block_shape[axis], dtype=np.uint64) * np.uint64(stride)
        index += positions.reshape([-1 if a == axis else 1 for a in range(len(grid_shape))])
        stride *= grid_shape[axis]
    return index.reshape(-1)


def point_hashes(
    starts: Sequence[int], block_shape: Sequence[int], grid_shape: Sequence[int], seed: int, salt: int = _SUBSAMPLE_SALT
) -> np.ndarray:
    """A uniform number in [0, 1) for every point of a block, fixed by its place in the full grid and ``seed``.

    Whatever the chunking, a grid point gets the same number, so selections by
    threshold (``point_hashes(...) < fraction``) or by rank (the ``k`` smallest)
    are the same for numpy- and dask-backed data.

    Parameters
    ----------
    starts : sequence of int
        Position of the block's first point along each dim.
    block_shape : sequence of int
    grid_shape : sequence of int
        Shape of the full sample grid.
    seed : int
    salt : int, optional
        Separates independent uses of the same seed.

    Returns
    -------
    numpy.ndarray
        float64, ``prod(block_shape)`` values in C order.

    Examples
    --------
    >>> whole = point_hashes((0, 0), (4, 6), (4, 6), seed=3)
    >>> part = point_hashes((2, 0), (2, 6), (4, 6), seed=3)
    >>> bool((whole[12:] == part).all()), bool(((whole >= 0) & (whole < 1)).all())
    (True, True)
    """
    return _hash_uniform(_flat_grid_index(starts, block_shape, grid_shape), seed, salt)


def validation_fraction_mask(
    starts: Sequence[int], block_shape: Sequence[int], grid_shape: Sequence[int], fraction: float, seed: int
) -> np.ndarray:
    """Which points of a block are validation samples for ``validation=fraction`` (flat, C order).

    Each grid point is held out when a hash of its flat index in the full
    grid and ``seed`` falls below ``fraction``: the split does not depend on
    the chunking, the order blocks are visited in, or where they are computed.

    Parameters
    ----------
    starts : sequence of int
        Position of the block's first point along each dim.
    block_shape : sequence of int
    grid_shape : sequence of int
        Shape of the full sample grid.
    fraction : float
        Expected share of validation samples.
    seed : int

    Returns
    -------
    numpy.ndarray
        Boolean, ``prod(block_shape)`` values in C order.

    Examples
    --------
    >>> whole = validation_fraction_mask((0,), (1000,), (1000,), 0.2, seed=1)
    >>> halves = np.concatenate([validation_fraction_mask((s,), (500,), (1000,), 0.2, seed=1) for s in (0, 500)])
    >>> bool((whole == halves).all()), 150 < int(whole.sum()) < 250
    (True, True)
    """
    return point_hashes(starts, block_shape, grid_shape, seed, _SPLIT_SALT) < fraction


@dataclass(frozen=True)
class _SplitRule:
    """How a block's valid samples divide into training and validation."""

    grid_shape: tuple[int, ...]
    fraction: float | None
    seed: int


def _block_masks(arrays, n_drivers: int, has_holdout: bool, starts, rule: _SplitRule):
    """Flat masks of a block: valid samples, and validation among the grid points (or None)."""
    target, drivers = arrays[0], arrays[1 : 1 + n_drivers]
    shape = target.shape
    valid = np.ones(shape, dtype=bool)
    for values in (target, *drivers):
        if values.dtype.kind in "fc":
            valid &= np.isfinite(values)
    valid = valid.reshape(-1)
    if has_holdout:
        held_out = np.asarray(arrays[1 + n_drivers], dtype=bool).reshape(-1)
    elif rule.fraction is not None:
        held_out = validation_fraction_mask(starts, shape, rule.grid_shape, rule.fraction, rule.seed)
    else:
        held_out = None
    return valid, held_out


def _block_statistics(*arrays, n_drivers: int, has_holdout: bool, starts, rule: _SplitRule) -> np.ndarray:
    """``[grid points, valid, training, validation, minima..., maxima...]`` of one block (minima over training samples)."""
    valid, held_out = _block_masks(arrays, n_drivers, has_holdout, starts, rule)
    training = valid if held_out is None else valid & ~held_out
    n_variables = 1 + n_drivers
    result = np.empty(4 + 2 * n_variables)
    result[0] = valid.size
    result[1] = np.count_nonzero(valid)
    result[2] = np.count_nonzero(training)
    result[3] = result[1] - result[2]
    training = training.reshape(arrays[0].shape)
    for column, values in enumerate(arrays[:n_variables]):
        # reductions with where= read broadcast (static) blocks without materialising them;
        # integer and boolean blocks need initial values of their own type (np.inf does not fit)
        values = np.asarray(values)
        if values.dtype.kind in "iub":
            values = values.astype(np.float64) if values.dtype.kind == "b" else values
            low, high = (np.iinfo(values.dtype).max, np.iinfo(values.dtype).min) if values.dtype.kind in "iu" else (np.inf, -np.inf)
        else:
            low, high = np.inf, -np.inf
        result[4 + column] = np.min(values, where=training, initial=low) if training.any() else np.inf
        result[4 + n_variables + column] = np.max(values, where=training, initial=high) if training.any() else -np.inf
    _release_freed_memory()  # of the blocks done before this one
    return result


@dataclass
class BlockSamples:
    """Scaled samples of one block.

    Attributes
    ----------
    inputs : numpy.ndarray
        Augmented scaled drivers of the training samples ``(n, n_drivers + bias)``.
    targets : numpy.ndarray
        Scaled targets ``(n, 1)``.
    val_inputs, val_targets : numpy.ndarray
        The same for the block's validation samples (possibly none).

    Examples
    --------
    >>> empty = np.empty((0, 1))
    >>> BlockSamples(np.ones((2, 3)), np.ones((2, 1)), empty, empty).nbytes
    64
    """

    inputs: np.ndarray
    targets: np.ndarray
    val_inputs: np.ndarray
    val_targets: np.ndarray

    @property
    def nbytes(self) -> int:
        """Memory held by the four arrays."""
        return sum(a.nbytes for a in (self.inputs, self.targets, self.val_inputs, self.val_targets))


def _column_scaler(scaler: MinMaxScaler, column: int) -> MinMaxScaler:
    return MinMaxScaler(scaler.minimum[column : column + 1], scaler.maximum[column : column + 1], scaler.feature_range)


def _scaled_rows(columns, rows: np.ndarray, scalers, dtype, bias: bool) -> np.ndarray:
    """Matrix of the selected rows of each column, each scaled, plus a ones column when ``bias``."""
    n_rows = int(np.count_nonzero(rows))
    matrix = np.empty((n_rows, len(columns) + bias), dtype=dtype)
    for j, (values, scaler) in enumerate(zip(columns, scalers)):
        picked = values[rows.reshape(values.shape)]
        matrix[:, j] = scaler.transform(picked[:, None], dtype=dtype)[:, 0]
    if bias:
        matrix[:, -1] = 1.0
    return matrix


def _block_samples(
    *arrays,
    n_drivers: int,
    has_holdout: bool,
    starts,
    rule: _SplitRule,
    driver_scaler: MinMaxScaler,
    target_scaler: MinMaxScaler,
    dtype: str,
    bias: bool,
    keep_validation: float,
) -> BlockSamples:
    """The scaled training and (a ``keep_validation`` share of the) validation samples of one block."""
    valid, held_out = _block_masks(arrays, n_drivers, has_holdout, starts, rule)
    drivers = arrays[1 : 1 + n_drivers]
    driver_scalers = [_column_scaler(driver_scaler, j) for j in range(n_drivers)]
    if held_out is None:
        training, validation = valid, np.zeros_like(valid)
    else:
        training, validation = valid & ~held_out, valid & held_out
        if keep_validation <= 0:
            validation[...] = False
        elif keep_validation < 1 and validation.any():
            kept = point_hashes(starts, arrays[0].shape, rule.grid_shape, rule.seed, _SUBSAMPLE_SALT)
            validation &= kept < keep_validation
    pieces = []
    for rows in (training, validation):
        pieces.append(_scaled_rows(drivers, rows, driver_scalers, dtype, bias))
        pieces.append(_scaled_rows([arrays[0]], rows, [target_scaler], dtype, False))
    return BlockSamples(*pieces)


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


def _block_gradient(
    block: BlockSamples, parameters: np.ndarray, sizes: tuple[int, ...], bias: bool, scale: float, *more: BlockSamples
) -> list[tuple[float, np.ndarray, float]]:
    """``(training SSE, summed gradient, validation SSE)`` of each persisted block (``block``, then ``more``) at ``parameters``."""
    workspace = _workspace(sizes, bias, str(parameters.dtype))
    workspace.parameters[...] = parameters
    parts = []
    for shard in (block, *more):
        gradient = np.zeros_like(parameters)
        sse = workspace.accumulate(shard.inputs, shard.targets, scale, out=gradient) if len(shard.targets) else 0.0
        val_sse = workspace.sum_squared_error(shard.val_inputs, shard.val_targets) if len(shard.val_targets) else 0.0
        parts.append((sse, gradient, val_sse))
    return parts


def _concatenate_blocks(*blocks: BlockSamples) -> BlockSamples:
    """One shard of samples from several blocks."""
    if len(blocks) == 1:
        return blocks[0]
    return BlockSamples(*(np.concatenate(arrays) for arrays in zip(*(vars(block).values() for block in blocks))))


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


def _add_parts(positions: Sequence[int], *groups: list) -> tuple[float, np.ndarray, float]:
    """Sum the ``(sse, gradient, val_sse)`` parts of `_block_gradient` in shard order.

    ``groups`` are lists of parts; ``positions`` gives the shard of each part,
    in the order the groups list them. Adding in shard order, whichever
    worker computed which shard, gives the same sums on any cluster.
    """
    parts = [part for group in groups for part in group]
    ordered = [parts[i] for i in np.argsort(positions, kind="stable")]
    gradient = ordered[0][1].copy()
    for part in ordered[1:]:
        gradient += part[1]
    return sum(part[0] for part in ordered), gradient, sum(part[2] for part in ordered)


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


# ---------------------------------------------------------------------------
# schedulers and memory


def _find_malloc_trim():
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc (macOS, Windows, musl): nothing to do
        return None


_MALLOC_TRIM = _find_malloc_trim()


def _release_freed_memory() -> None:
    """Hand memory freed by the previous block back to the OS (glibc ``malloc_trim``).

    Blocks allocate and free many arrays of a few MB in several threads; glibc
    keeps such freed memory in its heaps, and over thousands of blocks the
    resident size creeps up with the size of the dataset. Trimming after each
    block (as dask.distributed does for its workers) keeps it flat.
    """
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)



def _client():
    """The active dask.distributed client, or None (local schedulers)."""
    try:
        from distributed import get_client
    except ImportError:
        return None
    try:
        return get_client()
    except ValueError:
        return None


def _compute(*collections):
    """`dask.compute` with task retries when a distributed client runs it."""
    options = {"retries": TASK_RETRIES} if _client() is not None else {}
    return dask.compute(*collections, **options)


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


# ---------------------------------------------------------------------------
# the fit


@dataclass
class _Plan:
    """The blocks of a fit: their dask pieces, the split rule and (after the first pass) their statistics."""

    grid: BlockGrid
    rule: _SplitRule
    indices: list[tuple[int, ...]]
    delayed_blocks: list[np.ndarray]
    statistics: np.ndarray | None = None  # (n_blocks, 4 + 2 * n_variables), see _block_statistics

    @classmethod
    def of(cls, grid: BlockGrid, rule: _SplitRule) -> "_Plan":
        # one graph per array, unoptimised, so that blocks computed together share their common parents
        delayed_blocks = [array.to_delayed(optimize_graph=False) for array in grid.arrays]
        return cls(grid, rule, grid.block_indices(), delayed_blocks)

    def task(self, function: Callable, position: int, **options) -> Any:
        """A pure dask task applying ``function`` to the arrays of block ``position``."""
        index = self.indices[position]
        return dask.delayed(function, pure=True)(
            *[delayed[index] for delayed in self.delayed_blocks],
            n_drivers=self.grid.n_drivers,
            has_holdout=self.grid.has_holdout,
            starts=self.grid.block_starts(index),
            rule=self.rule,
            **options,
        )

    def compute_statistics(self) -> np.ndarray:
        """Counts and training extremes of every block, in one ``dask.compute``."""
        tasks = [self.task(_block_statistics, position) for position in range(len(self.indices))]
        self.statistics = np.array(_compute(*tasks)).reshape(len(self.indices), -1)
        return self.statistics


def fit_lazy(
    ds: xr.Dataset,
    target_name: Hashable,
    driver_names: Sequence[Hashable],
    sample_dims: Sequence[Hashable],
    settings: FitSettings,
    holdout: xr.DataArray | None,
    validation: float | Mapping | None,
    rng: np.random.Generator,
    *,
    mode: str = "stream",
    progress: bool | None = None,
) -> tuple[SigmoidNetwork, MinMaxScaler, MinMaxScaler, TrainingHistory, dict[str, int]]:
    """Train on a (dask-backed) Dataset block by block; the counterpart of the in-memory fit.

    Called by `xrann.fitting.fit_dataset` for ``mode="stream"`` and
    ``mode="batch"``; see the module documentation for how each works.

    Parameters
    ----------
    ds : xarray.Dataset
    target_name : hashable
        Resolved target name.
    driver_names : sequence of hashable
        Resolved driver names.
    sample_dims : sequence of hashable
        The target's dims.
    settings : FitSettings
        Validated settings.
    holdout : xarray.DataArray or None
        Boolean on the sample dims, ``True`` for validation samples.
    validation : float, mapping or None
        The user's validation argument (a fraction is split per sample by hash).
    rng : numpy.random.Generator
        Draws initial weights, block orders and mini-batches.
    mode : {"stream", "batch"}
    progress : bool, optional
        Show progress bars (``None``: only in interactive sessions).

    Returns
    -------
    core : SigmoidNetwork
    driver_scaler, target_scaler : MinMaxScaler
    history : TrainingHistory
    counts : dict
        ``grid_points``, ``dropped``, ``training``, ``validation``.

    Raises
    ------
    ValueError
        No valid samples, an empty side of the validation split, or
        ``mode="batch"`` with a mini-batch size.
    TrainingDivergedError
        If the loss becomes NaN or infinite.

    Warns
    -----
    LargeBlockWarning
        A block is larger than the memory budget (`max_block_bytes`).

    Examples
    --------
    >>> import xrann
    >>> ds = xrann.datasets.soil_toy().chunk({"site": 2})
    >>> model = ds.ann.fit(target="co2_flux", seed=0, epochs=5, mode="stream")
    >>> model.sample_counts["training"], model.hyperparameters["mode"]
    (3, 'stream')
    """
    if mode not in ("stream", "batch"):
        raise ValueError(f"mode={mode!r} is not a lazy mode; choose 'stream' or 'batch'.")
    if mode == "batch" and settings.batch_size not in (None, "auto"):
        raise ValueError(
            f"mode='batch' trains on full-batch gradients, but batch_size={settings.batch_size!r} was given; "
            "drop batch_size (or pass batch_size=None), or use mode='stream' for mini-batches."
        )
    grid = block_grid(ds, target_name, driver_names, sample_dims, holdout)
    _warn_large_blocks(grid)
    fraction = float(validation) if validation is not None and not isinstance(validation, Mapping) else None
    rule = _SplitRule(grid.shape, fraction, int(settings.seed))
    plan = _Plan.of(grid, rule)
    statistics = plan.compute_statistics()

    n_variables = 1 + len(driver_names)
    totals = statistics[:, :4].sum(axis=0).astype(np.int64)
    n_points, n_valid, n_train, n_validation = (int(v) for v in totals)
    if n_valid == 0:
        raise no_valid_samples_error(target_name, driver_names)
    check_split_counts(validation, n_valid, n_train, n_validation)
    minimum = statistics[:, 4 : 4 + n_variables].min(axis=0)
    maximum = statistics[:, 4 + n_variables :].max(axis=0)
    driver_scaler = MinMaxScaler.from_extremes(minimum[1:], maximum[1:], (0.0, 1.0), names=[f"driver {n!r}" for n in driver_names])
    target_scaler = MinMaxScaler.from_extremes(minimum[:1], maximum[:1], settings.target_range, names=[f"target {target_name!r}"])
    counts = {"grid_points": n_points, "dropped": n_points - n_valid, "training": n_train, "validation": n_validation}

    core = settings.initial_network(len(driver_names), 1, rng)
    has_validation = n_validation > 0
    schedule, optimizer = settings.training_plan(
        n_train, has_validation, full_batch=mode == "batch" or _full_batch_only(settings)
    )
    options = dict(driver_scaler=driver_scaler, target_scaler=target_scaler, dtype=settings.dtype, bias=settings.bias)
    bars = fit_progress(progress, schedule.epochs)
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            if mode == "batch":
                history = _train_batch(core, plan, options, optimizer, schedule, settings.loss, n_train, bars)
            else:
                history = _train_stream(core, plan, options, optimizer, schedule, settings.loss, n_train, rng, bars)
    finally:
        bars.close()
    settings.extra.update(settings.resolved(schedule, optimizer))
    return core, driver_scaler, target_scaler, history, counts


def _full_batch_only(settings: FitSettings) -> bool:
    """Whether ``batch_size="auto"`` means full batch: for full-batch-only optimisers such as iRprop+."""
    return OPTIMIZERS[settings.optimizer].full_batch_only


def _validation_keep_fraction(n_validation: int, n_columns: int, itemsize: int) -> float:
    budget_rows = max_block_bytes() // (n_columns * itemsize)
    return 1.0 if n_validation <= budget_rows else budget_rows / n_validation


def _train_stream(core, plan: _Plan, options, optimizer, schedule, loss, n_train, rng, bars: FitProgress) -> TrainingHistory:
    statistics = plan.statistics
    training_blocks = np.flatnonzero(statistics[:, 2] > 0)
    validation_blocks = np.flatnonzero(statistics[:, 3] > 0)
    n_validation = int(statistics[:, 3].sum())
    has_validation = n_validation > 0
    dtype = np.dtype(options["dtype"])
    keep = _validation_keep_fraction(n_validation, core.sizes[0] + options["bias"] + 1, dtype.itemsize)
    full_batch = schedule.batch_size is None or schedule.batch_size >= n_train
    check_full_batch(optimizer, None if full_batch else schedule.batch_size, n_train)
    workspace = GradientWorkspace(core.sizes, bias=options["bias"], dtype=dtype, block_size=8192 if full_batch else schedule.batch_size)
    workspace.load(core)
    stopping = EarlyStopping(workspace.parameters, schedule.patience, has_validation, schedule.epochs)
    history = TrainingHistory()
    scale = loss_scale(n_train, 1, loss)
    total_gradient = np.zeros_like(workspace.parameters)
    val_inputs = val_targets = None

    for epoch in range(schedule.epochs):
        collecting = has_validation and val_inputs is None
        visit = training_blocks if not collecting else np.union1d(training_blocks, validation_blocks)
        order = visit[rng.permutation(len(visit))]
        block_options = dict(options, keep_validation=keep if collecting else 0.0)

        def load(position, block_options=block_options):
            return _compute(plan.task(_block_samples, int(position), **block_options))[0]

        bars.start_epoch(len(order))
        collected: list[tuple[np.ndarray, np.ndarray]] = []
        loss_sum, sse = 0.0, 0.0
        total_gradient[...] = 0.0
        for block in _prefetched(load, list(order)):
            _release_freed_memory()
            if collecting and len(block.val_targets):
                collected.append((block.val_inputs, block.val_targets))
            if len(block.targets):
                if full_batch:
                    sse += workspace.accumulate(block.inputs, block.targets, scale, out=total_gradient)
                else:
                    loss_sum += minibatch_epoch(
                        workspace, optimizer, block.inputs, block.targets,
                        batch_size=schedule.batch_size, rng=rng, loss=loss, epoch=epoch,
                    )
            bars.block()
        if full_batch:
            epoch_loss = sse / n_train if loss == "mse" else sse
            check_finite_loss(epoch_loss, epoch, optimizer.learning_rate)
            workspace.gradient[...] = total_gradient
        else:
            epoch_loss = loss_sum / n_train
        if collecting:
            val_inputs = np.concatenate([c[0] for c in collected])
            val_targets = np.concatenate([c[1] for c in collected])
            collected.clear()
        val_loss = None
        if has_validation:
            val_loss = workspace.sum_squared_error(val_inputs, val_targets) / max(val_targets.size, 1)
        stop = stopping.record(history, epoch, epoch_loss, val_loss)
        if full_batch:
            # the losses above belong to the weights before this update (as in memory full batch);
            # with validation the kept weights are those evaluated, so update after recording
            optimizer.update([workspace.parameters], [workspace.gradient], loss=epoch_loss)
        bars.end_epoch(epoch, epoch_loss, val_loss)
        if stop:
            break

    stopping.restore(workspace.parameters)
    workspace.store(core)
    return history


def _train_batch(core, plan: _Plan, options, optimizer, schedule, loss, n_train, bars: FitProgress) -> TrainingHistory:
    statistics = plan.statistics
    n_validation = int(statistics[:, 3].sum())
    has_validation = n_validation > 0
    samples = statistics[:, 2] + statistics[:, 3]
    grouping = _shards(samples, SHARD_SAMPLES)
    shards = [
        dask.delayed(_concatenate_blocks, pure=True)(
            *[plan.task(_block_samples, position, keep_validation=1.0, **options) for position in shard]
        )
        for shard in grouping
    ]
    client = _client()
    sizes, bias = core.sizes, options["bias"]
    scale = loss_scale(n_train, 1, loss)
    if client is None:
        persisted = list(dask.persist(*shards))
        positions = list(range(len(persisted)))

        def epoch_sums(parameters):
            parts = [dask.delayed(_block_gradient, pure=True)(shard, parameters, sizes, bias, scale) for shard in persisted]
            return _compute(dask.delayed(_add_parts, pure=True)(positions, *parts))[0]
    else:
        # Each worker thread is given shards of about equal samples in all, computes them where it
        # will use them, and each epoch one task per thread sums its shards' gradients there: an
        # epoch is a task per thread and one sum, submitted on futures without building a graph.
        # Restrictions are loose, so a lost worker's shards and tasks are recomputed elsewhere.
        threads = client.nthreads() or {None: 1}  # no worker up yet: one group, placed by the scheduler
        groups = _thread_groups([int(sum(samples[p] for p in shard)) for shard in grouping], threads)
        persisted, positions = [], []
        for address, group in groups:
            where = dict(workers=[address], allow_other_workers=True) if address is not None else {}
            persisted.append(client.compute([shards[p] for p in group], retries=TASK_RETRIES, **where))
            positions.extend(group)

        def epoch_sums(parameters):
            parts = [
                client.submit(
                    _block_gradient, *futures[:1], parameters, sizes, bias, scale, *futures[1:],
                    retries=TASK_RETRIES, **(dict(workers=[address], allow_other_workers=True) if address is not None else {}),
                )
                for (address, _), futures in zip(groups, persisted)
            ]
            return client.submit(_add_parts, positions, *parts, retries=TASK_RETRIES).result()

    workspace = GradientWorkspace(sizes, bias=bias, dtype=options["dtype"])
    workspace.load(core)
    stopping = EarlyStopping(workspace.parameters, schedule.patience, has_validation, schedule.epochs)
    history = TrainingHistory()
    try:
        for epoch in range(schedule.epochs):
            sse, gradient, val_sse = epoch_sums(workspace.parameters.copy())
            epoch_loss = sse / n_train if loss == "mse" else sse
            check_finite_loss(epoch_loss, epoch, optimizer.learning_rate)
            val_loss = val_sse / n_validation if has_validation else None
            stop = stopping.record(history, epoch, epoch_loss, val_loss)
            workspace.gradient[...] = gradient
            optimizer.update([workspace.parameters], [workspace.gradient], loss=epoch_loss)
            bars.end_epoch(epoch, epoch_loss, val_loss)
            if stop:
                break
    finally:
        del persisted
    stopping.restore(workspace.parameters)
    workspace.store(core)
    return history
