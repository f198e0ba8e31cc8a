"""Seeded uniform numbers per grid point, fixed by the point's place in the full grid (numpy).

Random choices that must not depend on how a Dataset is chunked (validation
splits, subsamples for the envelope, importance and response curves) draw a
number for every grid point from a hash of its flat C-order index, a seed and
a salt: the splitmix64 finaliser. Any block of the grid can compute its own
numbers, in any process, and they agree with those of the whole grid.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["point_hashes", "validation_fraction_mask", "SPLIT_SALT", "SUBSAMPLE_SALT"]

#: salts of the per-point hashes: validation split, subsamples
SPLIT_SALT, SUBSAMPLE_SALT = 0x5EED5, 0xA11CE


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
    starts: Sequence[int], block_shape: Sequence[int], grid_shape: Sequence[int], seed: int, salt: int = SUBSAMPLE_SALT
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
    return point_hashes(starts, block_shape, grid_shape, seed, SPLIT_SALT) < fraction
