"""The block grid every fit works on, chunk alignment and the memory budget (xrann.data.blocks)."""

import dask
import numpy as np
import pytest

from xrann.data.blocks import (
    DEFAULT_MAX_BLOCK_BYTES,
    LargeBlockWarning,
    active_client,
    align_chunks,
    block_grid,
    max_block_bytes,
    warn_large_blocks,
)
from xrann.data.selection import selection_mask
from tests.conftest import make_grid_dataset

DRIVERS = ["t2m", "swdown", "landcover"]
DIMS = ("time", "lat", "lon")


def test_block_grid_aligns_drivers_to_the_target_chunks():
    ds = make_grid_dataset(n_time=12)
    lazy = ds.chunk({"time": 4, "lat": 3}).assign(t2m=ds["t2m"].chunk({"time": 6}), landcover=ds["landcover"])
    grid = block_grid(lazy, "nee", DRIVERS, DIMS)
    assert grid.numblocks == (3, 2, 1)
    assert all(array.chunks == ((4, 4, 4), (3, 3), (8,)) for array in grid.arrays)
    np.testing.assert_array_equal(grid.arrays[3][5].compute(), ds["landcover"].values)
    assert grid.block_starts((2, 1, 0)) == (8, 3, 0) and grid.block_shape((2, 1, 0)) == (4, 3, 8)
    assert grid.largest_block_bytes() == 4 * 3 * 8 * 4 * 8


def test_numpy_input_is_one_block_and_a_holdout_mask_comes_last(grid):
    holdout = selection_mask(grid, {"time": [2008]}, DIMS)
    blocks = block_grid(grid, "nee", ["t2m"], DIMS, holdout)
    assert blocks.numblocks == (1, 1, 1) and blocks.has_holdout and len(blocks.arrays) == 3
    np.testing.assert_array_equal(blocks.arrays[2].compute(), holdout.values)


def test_align_chunks_follows_the_first_named_variable(grid):
    lazy = grid.chunk({"time": 6, "lat": 3}).assign(landcover=grid["landcover"].chunk({"lat": 2, "lon": 4}))
    aligned = align_chunks(lazy, ["t2m", "landcover"])
    assert aligned["landcover"].chunks == ((3, 3), (8,))
    assert lazy["landcover"].chunks == ((2, 2, 2), (4, 4))  # the user's Dataset is not changed
    like = align_chunks(lazy, ["t2m", "landcover"], like="landcover")
    assert like["t2m"].chunks == ((6, 6, 6, 6), (2, 2, 2), (4, 4))


def test_memory_budget_from_dask_config_and_the_warning_suggests_chunks(grid):
    assert max_block_bytes() == DEFAULT_MAX_BLOCK_BYTES
    blocks = block_grid(grid.chunk({"time": 24}), "nee", DRIVERS, DIMS)
    with dask.config.set({"xrann.max-block-bytes": "10kB"}):
        assert max_block_bytes() == 10_000
        with pytest.warns(LargeBlockWarning, match=r"ds = ds\.chunk\(\{'time': 6\}\)"):
            warn_large_blocks(blocks)  # 24 x 48 points x 4 float64 variables = 36,864 bytes
    with dask.config.set({"xrann.max-block-bytes": 10**6}):
        warn_large_blocks(blocks)  # within the budget: silent


def test_no_client_outside_a_cluster():
    assert active_client() is None
