"""The block grid: every variable of a fit aligned onto one chunk grid (lazy), and the memory budget.

Nothing is ever stacked globally: the target's chunk grid defines *blocks*,
every driver is rechunked onto it (static maps such as ``(lat, lon)`` are
broadcast over the other dims inside each block), and a block becomes a
small matrix of valid samples (`xrann.data.extraction`) only when it is
needed. numpy-backed input is one block.

Memory budget
-------------
Streaming holds one block being trained on and one being loaded, and hands
the memory of each finished block back to the operating system (glibc's
``malloc_trim``, as dask.distributed does for its workers), so the resident
size does not creep up with the number of blocks. A block whose target and
drivers take more than the budget (512 MiB by default) triggers a
`LargeBlockWarning` that suggests a ``ds.chunk(...)`` call. The budget is a
dask configuration value::

    with dask.config.set({"xrann.max-block-bytes": "1GiB"}):
        model = ds.ann.fit(target="nee", ...)
"""

from __future__ import annotations

import ctypes
import math
import warnings
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

import dask
import dask.array as da
import numpy as np
import xarray as xr
from dask.utils import format_bytes, parse_bytes

from .variables import target_names

__all__ = [
    "align_chunks",
    "block_grid",
    "numpy_grid",
    "BlockGrid",
    "LargeBlockWarning",
    "max_block_bytes",
    "warn_large_blocks",
    "release_freed_memory",
    "active_client",
    "compute",
    "DEFAULT_MAX_BLOCK_BYTES",
    "MAX_BLOCK_BYTES_KEY",
    "TASK_RETRIES",
]

#: dask configuration key of the memory budget per block
MAX_BLOCK_BYTES_KEY = "xrann.max-block-bytes"


DEFAULT_MAX_BLOCK_BYTES = 512 * 2**20


#: retries of each task when a dask.distributed client runs the fit
TASK_RETRIES = 3


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
        The targets first, then the drivers, then (if any) the validation holdout
        mask, then (if any) the sample weights, each broadcast to ``shape`` with ``chunks``.
    n_drivers : int
    has_holdout : bool
    itemsizes : tuple of int
        Bytes per value of each target and each driver.
    has_weights : bool, default False
        Whether the last array holds sample weights.
    n_targets : int, default 1
        How many target arrays come first.

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
    has_weights: bool = False
    n_targets: int = 1

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


def numpy_grid(
    ds: xr.Dataset,
    target: Hashable | Sequence[Hashable],
    drivers: Sequence[Hashable],
    sample_dims: Sequence[Hashable],
    holdout: xr.DataArray | None = None,
    weights: xr.DataArray | None = None,
) -> BlockGrid:
    """The one-block grid of numpy-backed variables: each a (broadcast, never copied) numpy view on ``sample_dims``.

    The counterpart of `block_grid` without dask: numpy-backed fits skip
    building and running task graphs, and go through the same per-block
    functions on the single block.

    Parameters
    ----------
    ds : xarray.Dataset
        numpy-backed.
    target : hashable or list of hashable
        One target, or several (sharing the sample dims).
    drivers : sequence of hashable
    sample_dims : sequence of hashable
    holdout : xarray.DataArray, optional
        Boolean on (a subset of) ``sample_dims``.
    weights : xarray.DataArray, optional
        Sample weights on (a subset of) ``sample_dims``, broadcast (never copied) like the drivers.

    Returns
    -------
    BlockGrid
        With numpy ``arrays`` and a single block.

    Examples
    --------
    >>> ds = xr.Dataset({"nee": (("time", "lat"), np.zeros((4, 6))), "soil": ("lat", np.ones(6))})
    >>> grid = numpy_grid(ds, "nee", ["soil"], ("time", "lat"))
    >>> grid.numblocks, grid.arrays[1].shape, grid.arrays[1].strides[0]
    ((1, 1), (4, 6), 0)
    """
    sample_dims = tuple(sample_dims)
    shape = tuple(int(ds.sizes[dim]) for dim in sample_dims)
    targets = target_names(target)
    variables = [ds[name] for name in targets] + [ds[name] for name in drivers]
    if holdout is not None:
        variables.append(holdout.astype(bool))
    if weights is not None:
        variables.append(weights)
    arrays = []
    for variable in variables:
        own = [dim for dim in sample_dims if dim in variable.dims]
        data = np.asarray(variable.transpose(*own).data)
        data = data[tuple(slice(None) if dim in own else None for dim in sample_dims)]
        arrays.append(np.broadcast_to(data, shape))
    return BlockGrid(
        sample_dims=sample_dims,
        shape=shape,
        chunks=tuple((size,) for size in shape),
        arrays=arrays,
        n_drivers=len(drivers),
        has_holdout=holdout is not None,
        itemsizes=tuple(variable.dtype.itemsize for variable in variables),
        has_weights=weights is not None,
        n_targets=len(targets),
    )


def block_grid(
    ds: xr.Dataset,
    target: Hashable | Sequence[Hashable],
    drivers: Sequence[Hashable],
    sample_dims: Sequence[Hashable],
    holdout: xr.DataArray | None = None,
    weights: xr.DataArray | None = None,
) -> BlockGrid:
    """Align the target, the drivers and a holdout mask onto the target's chunk grid (lazy).

    The grid follows the target's chunks; dims the target has as numpy take
    the chunks of the first dask-backed driver with that dim.

    Parameters
    ----------
    ds : xarray.Dataset
    target : hashable or list of hashable
        One target, or several (sharing the sample dims).
    drivers : sequence of hashable
    sample_dims : sequence of hashable
    holdout : xarray.DataArray, optional
        Boolean on (a subset of) ``sample_dims``, ``True`` for validation samples.
    weights : xarray.DataArray, optional
        Sample weights on (a subset of) ``sample_dims``.

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
    targets = target_names(target)
    variables = [ds[name] for name in targets] + [ds[name] for name in drivers]
    chunks = _reference_chunks(variables, sample_dims, ds.sizes)
    shape = tuple(int(ds.sizes[dim]) for dim in sample_dims)
    arrays = [_aligned(variable, sample_dims, chunks, shape) for variable in variables]
    if holdout is not None:
        mask = holdout if _is_lazy(holdout) else _essential_mask(holdout)
        arrays.append(_aligned(mask.astype(bool), sample_dims, chunks, shape))
    if weights is not None:
        arrays.append(_aligned(weights, sample_dims, chunks, shape))
    return BlockGrid(
        sample_dims=sample_dims,
        shape=shape,
        chunks=tuple(chunks[dim] for dim in sample_dims),
        arrays=arrays,
        n_drivers=len(drivers),
        has_holdout=holdout is not None,
        itemsizes=tuple(variable.dtype.itemsize for variable in variables),
        has_weights=weights is not None,
        n_targets=len(targets),
    )


def warn_large_blocks(grid: BlockGrid) -> None:
    """Warn with a `LargeBlockWarning` when the largest block exceeds `max_block_bytes`.

    The warning suggests a ``ds.chunk(...)`` call that shrinks the first dim
    with more than one point per chunk enough to fit the budget.

    Parameters
    ----------
    grid : BlockGrid

    Warns
    -----
    LargeBlockWarning
        The target and drivers of the largest block take more than the budget.

    Examples
    --------
    >>> import warnings
    >>> ds = xr.Dataset({"nee": (("time", "x"), np.zeros((6, 4))), "t2m": (("time", "x"), np.ones((6, 4)))})
    >>> grid = block_grid(ds.chunk({"time": 4}), "nee", ["t2m"], ("time", "x"))
    >>> with dask.config.set({"xrann.max-block-bytes": 100}), warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warn_large_blocks(grid)
    >>> print(caught[0].message)  # doctest: +ELLIPSIS
    the largest block of the Dataset holds 256 B ... e.g. ds = ds.chunk({'time': 1}), ...
    """
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


def _find_malloc_trim():
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc (macOS, Windows, musl): nothing to do
        return None


_MALLOC_TRIM = _find_malloc_trim()


def release_freed_memory() -> None:
    """Hand memory freed by the previous block back to the OS (glibc ``malloc_trim``).

    Blocks allocate and free many arrays of a few MB in several threads; glibc
    keeps such freed memory in its heaps, and over thousands of blocks the
    resident size creeps up with the size of the dataset. Trimming after each
    block (as dask.distributed does for its workers) keeps it flat. Elsewhere
    than glibc (macOS, Windows, musl) it does nothing.

    Examples
    --------
    >>> release_freed_memory()
    """
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def active_client():
    """The active dask.distributed client, or None (local schedulers, or distributed not installed).

    Returns
    -------
    distributed.Client or None

    Examples
    --------
    >>> active_client() is None  # no client started in this session
    True
    """
    try:
        from distributed import get_client
    except ImportError:
        return None
    try:
        return get_client()
    except ValueError:
        return None


def compute(*collections):
    """`dask.compute` with task retries when a distributed client runs it.

    Parameters
    ----------
    *collections : dask collections or delayed objects
        Computed together, sharing their common tasks.

    Returns
    -------
    tuple
        The computed results, one per collection.

    Examples
    --------
    >>> total, length = compute(da.ones(4, chunks=2).sum(), dask.delayed(len)([1, 2]))
    >>> float(total), length
    (4.0, 2)
    """
    options = {"retries": TASK_RETRIES} if active_client() is not None else {}
    return dask.compute(*collections, **options)
