"""The one place that turns a block of the grid into samples: validity, the validation split, scaling.

A grid point is a *valid sample* when the target and every driver are finite
there (`finite_rows`). Every use of samples goes through here: the statistics
pass of a fit (counts and training extremes per block), the scaled training
and validation matrices of a block (written once, in the training dtype,
with the bias column), and seeded draws of valid points for the envelope,
importance and response curves. The functions are pure and run in dask
tasks, possibly on workers; numpy-backed input is a single block.

Validation
----------
A ``{dim: labels}`` selection holds out exactly those samples. A fraction
``validation=0.2`` is drawn per sample from a hash of the sample's position
in the full grid (`xrann.core.hashing`) and the seed, so it is the same
whatever the chunking, in every mode, and whichever worker computes the
block; the number of validation samples is therefore close to, not exactly,
20 %.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import dask
import numpy as np
import xarray as xr

from ..core.hashing import SUBSAMPLE_SALT, point_hashes, validation_fraction_mask
from ..core.scaling import MinMaxScaler
from .blocks import block_grid, release_freed_memory

__all__ = [
    "finite_rows",
    "SplitRule",
    "BlockSamples",
    "block_statistics",
    "block_samples",
    "draw_valid_samples",
    "concatenate_blocks",
    "N_WEIGHT_STATISTICS",
]


def finite_rows(matrix: np.ndarray) -> np.ndarray:
    """Which rows of a ``(n, n_columns)`` matrix are finite in every column (integer columns always are).

    Parameters
    ----------
    matrix : numpy.ndarray
        ``(n, n_columns)``.

    Returns
    -------
    numpy.ndarray
        ``(n,)`` boolean, ``True`` where every value of the row is finite.

    Examples
    --------
    >>> finite_rows(np.array([[1.0, 2.0], [np.nan, 1.0], [1.0, np.inf]])).tolist()
    [True, False, False]
    """
    if matrix.dtype.kind not in "fc":
        return np.ones(matrix.shape[0], dtype=bool)
    return np.isfinite(matrix).all(axis=1)


def _valid_points(arrays: Sequence[np.ndarray]) -> np.ndarray:
    """Flat mask of the points where every (broadcast) array is finite."""
    shape = np.broadcast_shapes(*(np.shape(a) for a in arrays))
    valid = np.ones(shape, dtype=bool)
    for values in arrays:
        values = np.asarray(values)
        if values.dtype.kind in "fc":
            valid &= np.isfinite(values)
    return valid.reshape(-1)


@dataclass(frozen=True)
class SplitRule:
    """How a block's valid samples divide into training and validation.

    A block with a holdout mask (a ``{dim: labels}`` selection) uses the
    mask; otherwise a ``fraction`` of the grid points is held out by a seeded
    hash of each point's position in the full grid
    (`xrann.core.hashing.validation_fraction_mask`).

    Parameters
    ----------
    grid_shape : tuple of int
        Shape of the full sample grid (the hashes depend on positions in it).
    fraction : float or None
        Share of the grid points held out by hash; ``None`` holds out none
        (or those of the holdout mask).
    seed : int
        Seeds the hash.

    Examples
    --------
    >>> rule = SplitRule(grid_shape=(12, 10), fraction=0.2, seed=0)
    >>> rule.fraction
    0.2
    """

    grid_shape: tuple[int, ...]
    fraction: float | None
    seed: int


def _block_masks(arrays, n_drivers: int, has_holdout: bool, starts, rule: SplitRule, has_weights: bool = False,
                 n_targets: int = 1):
    """Flat masks of a block: valid samples, and validation among the grid points (or None)."""
    shape = arrays[0].shape
    valid = _valid_points(arrays[: n_targets + n_drivers])
    if has_weights:  # a weight of zero (or, for a dropped sample, NaN) leaves the sample out
        weights = np.asarray(arrays[-1]).reshape(-1)
        valid &= weights > 0
    if has_holdout:
        held_out = np.asarray(arrays[n_targets + n_drivers], dtype=bool).reshape(-1)
    elif rule.fraction is not None:
        held_out = validation_fraction_mask(starts, shape, rule.grid_shape, rule.fraction, rule.seed)
    else:
        held_out = None
    return valid, held_out


#: statistics of the sample weights a block adds after the extremes (see `block_statistics`)
N_WEIGHT_STATISTICS = 5


def block_statistics(
    *arrays, n_drivers: int, has_holdout: bool, starts, rule: SplitRule, has_weights: bool = False, n_targets: int = 1
) -> np.ndarray:
    """``[grid points, valid, training, validation, minima..., maxima...]`` of one block (minima over training samples).

    The statistics pass of a fit runs this on every block; the counts add up
    to the fit's sample counts and the extremes give the scalers.

    Parameters
    ----------
    *arrays : numpy.ndarray
        The block of each target, of each driver, then (with ``has_holdout``)
        of the boolean holdout mask, then (with ``has_weights``) of the sample
        weights, all of the block's shape.
    n_drivers : int
    has_holdout : bool
        Whether the array after the drivers is a holdout mask (``True`` for validation).
    starts : tuple of int
        Position of the block's first grid point along each dim.
    rule : SplitRule
    has_weights : bool, default False
        Whether the last array holds sample weights. A grid point whose weight is 0 is not a
        sample (it counts as dropped).
    n_targets : int, default 1
        How many target arrays come first; a sample needs every target finite.

    Returns
    -------
    numpy.ndarray
        ``(4 + 2 * (n_targets + n_drivers),)`` float64: the number of grid points,
        valid, training and validation samples, then the minima and the
        maxima of each target and each driver over the training samples
        (``inf`` and ``-inf`` without training samples). With ``has_weights``,
        `N_WEIGHT_STATISTICS` more: the sum of the training and of the
        validation weights, the number of grid points where the target is
        finite and the weight is negative or NaN (an error of the fit), and
        the smallest and largest training weight. With several targets,
        ``n_targets`` more: per target, the grid points where it and every
        driver have values.

    Examples
    --------
    >>> target, driver = np.array([[1.0, np.nan, 3.0, 4.0]]), np.array([[0.0, 1.0, 2.0, 3.0]])
    >>> rule = SplitRule(grid_shape=(1, 4), fraction=None, seed=0)
    >>> block_statistics(target, driver, n_drivers=1, has_holdout=False, starts=(0, 0), rule=rule).tolist()
    [4.0, 3.0, 3.0, 0.0, 1.0, 0.0, 4.0, 3.0]
    """
    valid, held_out = _block_masks(arrays, n_drivers, has_holdout, starts, rule, has_weights, n_targets)
    training = valid if held_out is None else valid & ~held_out
    n_variables = n_targets + n_drivers
    coverage = n_targets if n_targets > 1 else 0
    result = np.empty(4 + 2 * n_variables + (N_WEIGHT_STATISTICS if has_weights else 0) + coverage)
    result[0] = valid.size
    result[1] = np.count_nonzero(valid)
    result[2] = np.count_nonzero(training)
    result[3] = result[1] - result[2]
    training = training.reshape(arrays[0].shape)
    has_training = result[2] > 0
    for column, values in enumerate(arrays[:n_variables]):
        if has_training:
            # a gather, then two plain reductions: about three times faster than reductions with where=
            picked = np.asarray(values)[training]
            result[4 + column] = picked.min()
            result[4 + n_variables + column] = picked.max()
        else:
            result[4 + column], result[4 + n_variables + column] = np.inf, -np.inf
    if has_weights:
        weights = np.asarray(arrays[-1], dtype=np.float64).reshape(-1)
        flat_training = training.reshape(-1)
        picked = weights[flat_training]
        target_valid = _valid_points(arrays[:n_targets])  # every target finite
        bad = target_valid & ~(weights >= 0)
        result[4 + 2 * n_variables : 4 + 2 * n_variables + N_WEIGHT_STATISTICS] = (
            picked.sum(),
            weights[valid & ~flat_training].sum(),
            np.count_nonzero(bad),
            picked.min() if has_training else np.inf,
            picked.max() if has_training else -np.inf,
        )
    if coverage:  # per target: points where it and every driver have values (a sample needs every target)
        usable = _valid_points(arrays[n_targets : n_targets + n_drivers])
        if has_weights:
            usable &= np.asarray(arrays[-1]).reshape(-1) > 0
        for k in range(n_targets):
            result[len(result) - coverage + k] = np.count_nonzero(usable & _valid_points(arrays[k : k + 1]))
    release_freed_memory()  # of the blocks done before this one
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
    weights, val_weights : numpy.ndarray or None
        Normalised sample weights ``(n,)`` of the training and validation samples, in the training
        dtype; ``None`` when the fit is unweighted.

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
    weights: np.ndarray | None = None
    val_weights: np.ndarray | None = None

    @property
    def nbytes(self) -> int:
        """Memory held by the arrays."""
        arrays = (self.inputs, self.targets, self.val_inputs, self.val_targets, self.weights, self.val_weights)
        return sum(a.nbytes for a in arrays if a is not None)

    def training_only(self) -> BlockSamples:
        """The same block without its validation samples (views, no copy)."""
        return BlockSamples(self.inputs, self.targets, self.inputs[:0], self.targets[:0], self.weights, None)


def _scaled_rows(columns, rows: np.ndarray, scaler: MinMaxScaler, dtype, bias: bool) -> np.ndarray:
    """Matrix of the selected rows of each column, scaled as ``scaler.transform`` would, plus a ones column when ``bias``.

    Written column by column straight into the matrix of the training dtype:
    no stacked copy of the block, and broadcast (static) columns are read
    through their views.
    """
    n_rows = int(np.count_nonzero(rows))
    matrix = np.empty((n_rows, len(columns) + bias), dtype=dtype)
    low = scaler.feature_range[0]
    factor = (scaler.feature_range[1] - low) / scaler.span
    scratch = np.empty(n_rows)
    selection = rows.reshape(np.shape(columns[0])) if columns else rows
    for j, values in enumerate(columns):
        # (values - minimum) * factor + low in float64, the operations of MinMaxScaler.transform
        np.subtract(values[selection], scaler.minimum[j], out=scratch)
        scratch *= factor[j]
        scratch += low
        matrix[:, j] = scratch
    if bias:
        matrix[:, -1] = 1.0
    return matrix

def block_samples(
    *arrays,
    n_drivers: int,
    has_holdout: bool,
    starts,
    rule: SplitRule,
    driver_scaler: MinMaxScaler,
    target_scaler: MinMaxScaler,
    dtype: str,
    bias: bool,
    keep_validation: float,
    has_weights: bool = False,
    weight_scale: float | None = None,
    n_targets: int = 1,
) -> BlockSamples:
    """The scaled training and (a ``keep_validation`` share of the) validation samples of one block.

    Parameters
    ----------
    *arrays : numpy.ndarray
        The block of each target, of each driver, then (with ``has_holdout``)
        of the boolean holdout mask, then (with ``has_weights``) of the
        sample weights, all of the block's shape.
    n_drivers : int
    has_holdout : bool
        Whether the array after the drivers is a holdout mask (``True`` for validation).
    starts : tuple of int
        Position of the block's first grid point along each dim.
    rule : SplitRule
    driver_scaler, target_scaler : MinMaxScaler
        The fit's scalers (from the extremes of `block_statistics`).
    dtype : str
        Training dtype of the matrices.
    bias : bool
        Whether the driver matrices carry a ones column.
    keep_validation : float
        Share of the validation samples kept (by a seeded hash per grid
        point); 1 keeps all, 0 none.
    has_weights : bool, default False
        Whether the last array holds sample weights (points of weight 0 are not samples).
    weight_scale : float, optional
        With ``has_weights``, the weights are multiplied by it (``1 / mean`` of the training
        weights normalises them) and returned; ``None`` leaves the samples unweighted.
    n_targets : int, default 1
        How many target arrays come first (one scaled column each).

    Returns
    -------
    BlockSamples

    Examples
    --------
    >>> target, driver = np.array([[1.0, np.nan, 3.0, 4.0]]), np.array([[0.0, 1.0, 2.0, 3.0]])
    >>> samples = block_samples(
    ...     target, driver, n_drivers=1, has_holdout=False, starts=(0, 0), rule=SplitRule((1, 4), None, 0),
    ...     driver_scaler=MinMaxScaler(np.array([0.0]), np.array([3.0])),
    ...     target_scaler=MinMaxScaler(np.array([1.0]), np.array([4.0]), (0.1, 0.9)),
    ...     dtype="float64", bias=True, keep_validation=1.0,
    ... )
    >>> samples.inputs.round(3).tolist(), samples.targets.round(3).tolist(), samples.val_targets.shape
    ([[0.0, 1.0], [0.667, 1.0], [1.0, 1.0]], [[0.1], [0.633], [0.9]], (0, 1))
    """
    valid, held_out = _block_masks(arrays, n_drivers, has_holdout, starts, rule, has_weights, n_targets)
    targets, drivers = arrays[:n_targets], arrays[n_targets : n_targets + n_drivers]
    if held_out is None:
        training, validation = valid, np.zeros_like(valid)
    else:
        training, validation = valid & ~held_out, valid & held_out
        if keep_validation <= 0:
            validation[...] = False
        elif keep_validation < 1 and validation.any():
            kept = point_hashes(starts, arrays[0].shape, rule.grid_shape, rule.seed, SUBSAMPLE_SALT)
            validation &= kept < keep_validation
    pieces = []
    for rows in (training, validation):
        pieces.append(_scaled_rows(drivers, rows, driver_scaler, dtype, bias))
        pieces.append(_scaled_rows(targets, rows, target_scaler, dtype, False))
    if has_weights and weight_scale is not None:
        weights = np.asarray(arrays[-1]).reshape(-1)
        for rows in (training, validation):
            pieces.append((weights[rows] * weight_scale).astype(dtype))
    return BlockSamples(*pieces)


def concatenate_blocks(*blocks: BlockSamples) -> BlockSamples:
    """One shard of samples from several blocks: each of the four arrays concatenated in block order.

    Parameters
    ----------
    *blocks : BlockSamples

    Returns
    -------
    BlockSamples
        The single block itself when only one is given (no copy).

    Examples
    --------
    >>> empty = np.empty((0, 1))
    >>> block = BlockSamples(np.ones((2, 3)), np.ones((2, 1)), np.empty((0, 3)), empty)
    >>> concatenate_blocks(block, block).inputs.shape
    (4, 3)
    """
    if len(blocks) == 1:
        return blocks[0]
    return BlockSamples(
        *(None if arrays[0] is None else np.concatenate(arrays) for arrays in zip(*(vars(block).values() for block in blocks)))
    )


def draw_valid_samples(
    ds: xr.Dataset,
    names: Sequence[Hashable],
    sample_dims: Sequence[Hashable],
    *,
    max_samples: int | None,
    seed: int,
    exclude: xr.DataArray | None = None,
) -> np.ndarray:
    """Values of ``names`` at (at most ``max_samples``) random grid points where all are finite.

    Works block by block on the chunk grid of the first variable (one block for
    numpy-backed data), so memory is bounded by a block and by the draw, not by
    the Dataset. Each grid point gets a seeded hash of its place in the full grid
    and the draw keeps the ``max_samples`` valid points with the smallest hashes:
    a uniform random draw that is the same for numpy- and dask-backed data and
    for any chunking. Points come back in grid (C) order.

    Parameters
    ----------
    ds : xarray.Dataset
    names : sequence of hashable
        Resolved variable names; the columns of the result.
    sample_dims : sequence of hashable
        Dims spanning the samples (static maps are broadcast over the others).
    max_samples : int or None
        ``None`` takes every valid point.
    seed : int
        Seeds the draw.
    exclude : xarray.DataArray, optional
        Boolean mask on ``sample_dims``; points where it is ``True`` are never drawn.

    Returns
    -------
    numpy.ndarray
        ``(n_drawn, len(names))`` float64.

    Examples
    --------
    >>> ds = xr.Dataset({"a": ("x", [1.0, np.nan, 3.0, 4.0]), "b": ("x", [5.0, 6.0, 7.0, 8.0])})
    >>> draw_valid_samples(ds, ["a", "b"], ("x",), max_samples=None, seed=0).tolist()
    [[1.0, 5.0], [3.0, 7.0], [4.0, 8.0]]
    >>> draw_valid_samples(ds, ["a", "b"], ("x",), max_samples=2, seed=0).shape
    (2, 2)
    """
    names = list(names)
    grid = block_grid(ds, names[0], names[1:], sample_dims, holdout=exclude)
    tasks = [
        dask.delayed(_draw_from_block)(
            *[array.blocks[index] for array in grid.arrays],
            starts=grid.block_starts(index), grid_shape=grid.shape, n_columns=len(names),
            has_exclude=exclude is not None, max_samples=max_samples, seed=seed,
        )
        for index in grid.block_indices()
    ]
    # numpy-backed input is drawn in this thread, never shipped to a user's global scheduler or cluster
    scheduler = None if any(ds[name].chunks is not None for name in names) else "sync"
    kept: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    # a few blocks at a time, merging as we go: memory holds a few blocks and the draw
    for start in range(0, len(tasks), DRAW_BLOCKS_AT_ONCE):
        parts = list(dask.compute(*tasks[start : start + DRAW_BLOCKS_AT_ONCE], scheduler=scheduler))
        if kept is not None:
            parts.insert(0, kept)
        kept = _smallest_hashes(
            np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
            np.concatenate([p[2] for p in parts]), max_samples,
        )
    order = np.argsort(kept[0], kind="stable")
    return kept[2][order]


#: blocks computed together by `draw_valid_samples` before their draws are merged
DRAW_BLOCKS_AT_ONCE = 8


def _smallest_hashes(flat, hashes, rows, max_samples):
    """Keep the ``max_samples`` entries with the smallest hashes (all when ``None``)."""
    if max_samples is None or flat.size <= max_samples:
        return flat, hashes, rows
    keep = np.argpartition(hashes, max_samples - 1)[:max_samples]
    return flat[keep], hashes[keep], rows[keep]


def _draw_from_block(*blocks, starts, grid_shape, n_columns, has_exclude, max_samples, seed):
    """Flat grid indices, hashes and values of the drawn valid points of one block."""
    columns = np.stack([np.asarray(block, dtype=np.float64).reshape(-1) for block in blocks[:n_columns]], axis=1)
    valid = _valid_points(blocks[:n_columns])
    if has_exclude:
        valid &= ~np.asarray(blocks[n_columns], dtype=bool).reshape(-1)
    shape = np.shape(blocks[0])
    hashes = point_hashes(starts, shape, grid_shape, seed)
    flat = np.flatnonzero(valid)
    strides = np.cumprod((1,) + tuple(grid_shape[::-1]))[:-1][::-1]
    positions = np.unravel_index(flat, shape)
    global_flat = sum((np.asarray(p) + s) * stride for p, s, stride in zip(positions, starts, strides))
    return _smallest_hashes(np.asarray(global_flat, dtype=np.int64), hashes[flat], columns[flat], max_samples)
