"""The one valid-sample extraction (xrann.data.extraction): validity, splits, scaling, draws."""

import numpy as np
import pytest
import xarray as xr

from xrann.core.scaling import MinMaxScaler
from xrann.data.blocks import block_grid
from xrann.data.extraction import (
    BlockSamples,
    SplitRule,
    block_samples,
    block_statistics,
    concatenate_blocks,
    draw_valid_samples,
    finite_rows,
)
from xrann.data.selection import selection_mask

DIMS = ("time", "lat", "lon")
LAND = 45  # 6 x 8 cells, three ocean corners


def _identity(n_columns):
    return MinMaxScaler(np.zeros(n_columns), np.ones(n_columns))


def _blocks(ds, drivers, *, fraction=None, holdout=None, seed=0, bias=True, keep_validation=1.0):
    """Statistics and unscaled samples of every block of ``ds`` (target ``nee``), computed here block by block."""
    grid = block_grid(ds, "nee", drivers, DIMS, holdout)
    rule = SplitRule(grid.shape, fraction, seed)
    statistics, samples = [], []
    for index in grid.block_indices():
        arrays = [np.asarray(array.blocks[index]) for array in grid.arrays]
        where = dict(n_drivers=len(drivers), has_holdout=holdout is not None, starts=grid.block_starts(index), rule=rule)
        statistics.append(block_statistics(*arrays, **where))
        samples.append(block_samples(
            *arrays, **where, driver_scaler=_identity(len(drivers)), target_scaler=_identity(1),
            dtype="float64", bias=bias, keep_validation=keep_validation,
        ))
    return np.array(statistics), samples


def test_finite_rows_ignores_integer_matrices():
    assert finite_rows(np.array([[1.0, np.nan], [np.inf, 0.0], [1.0, 2.0]])).tolist() == [False, False, True]
    assert finite_rows(np.array([[1, 2], [3, 4]])).tolist() == [True, True]


def test_static_maps_broadcast_and_samples_come_in_grid_order(grid):
    statistics, (block,) = _blocks(grid, ["t2m", "landcover"], bias=False)
    assert statistics[0, :4].tolist() == [24 * 48, 24 * LAND, 24 * LAND, 0]
    assert block.inputs.shape == (24 * LAND, 2) and block.targets.shape == (24 * LAND, 1)
    # the static map repeats once per time step, in row-major (time, lat, lon) order
    land = grid["landcover"].values.reshape(-1)
    land = land[np.isfinite(land)]
    np.testing.assert_array_equal(block.inputs[: land.size, 1], land)
    np.testing.assert_array_equal(block.inputs[land.size : 2 * land.size, 1], land)
    np.testing.assert_array_equal(block.targets[:, 0], grid["nee"].values[np.isfinite(grid["nee"].values)])
    assert block.val_inputs.shape == (0, 2)


def test_inf_counts_as_missing_and_extremes_come_from_training_samples(grid):
    broken = grid.copy(deep=True)
    broken["t2m"][0, 2, 2] = np.inf
    statistics, (block,) = _blocks(broken, ["t2m"])
    assert statistics[0, 1] == 24 * LAND - 1
    assert len(block.targets) == 24 * LAND - 1
    finite = np.isfinite(broken["t2m"].values) & np.isfinite(broken["nee"].values)
    # columns: target, then drivers; minima then maxima
    assert statistics[0, 4:].tolist() == [
        broken["nee"].values[finite].min(), broken["t2m"].values[finite].min(),
        broken["nee"].values[finite].max(), broken["t2m"].values[finite].max(),
    ]


def test_bias_column_and_scaling():
    dims = ("time", "lat", "lon")
    ds = xr.Dataset({"nee": (dims, np.full((2, 1, 2), 3.0)), "t2m": (dims, np.arange(4.0).reshape(2, 1, 2))})
    grid = block_grid(ds, "nee", ["t2m"], DIMS)
    rule = SplitRule(grid.shape, None, 0)
    arrays = [np.asarray(a) for a in grid.arrays]
    block = block_samples(
        *arrays, n_drivers=1, has_holdout=False, starts=(0, 0, 0), rule=rule,
        driver_scaler=MinMaxScaler(np.array([0.0]), np.array([3.0])),
        target_scaler=MinMaxScaler(np.array([0.0]), np.array([6.0]), (0.1, 0.9)),
        dtype="float32", bias=True, keep_validation=1.0,
    )
    assert block.inputs.dtype == np.float32 and block.inputs.shape == (4, 2)
    np.testing.assert_allclose(block.inputs, [[0, 1], [1 / 3, 1], [2 / 3, 1], [1, 1]], rtol=1e-6)
    np.testing.assert_allclose(block.targets[:, 0], 0.5, rtol=1e-6)


@pytest.mark.parametrize("chunks", [{"time": 5}, {"time": 7, "lon": 3}, {"lat": 2}])
def test_fraction_split_is_a_function_of_the_grid_position_not_the_chunks(grid, chunks):
    whole_statistics, (whole,) = _blocks(grid, ["t2m", "landcover"], fraction=0.3, seed=4)
    statistics, blocks = _blocks(grid.chunk(chunks), ["t2m", "landcover"], fraction=0.3, seed=4)
    np.testing.assert_array_equal(statistics[:, :4].sum(axis=0), whole_statistics[0, :4])
    n_validation = int(whole_statistics[0, 3])
    assert 0.2 < n_validation / (24 * LAND) < 0.4  # a per-point hash: close to, not exactly, 30 %
    # the same samples on each side (block order differs from grid order, so compare as sets of rows)
    parts = concatenate_blocks(*blocks)
    for side in ("inputs", "val_inputs"):
        assert sorted(map(tuple, getattr(parts, side))) == sorted(map(tuple, getattr(whole, side)))
    _, (other_seed,) = _blocks(grid, ["t2m", "landcover"], fraction=0.3, seed=5)
    assert not np.array_equal(other_seed.val_targets, whole.val_targets)


def test_holdout_selection_is_held_out_exactly(grid):
    holdout = selection_mask(grid, {"time": [2008]}, DIMS)
    statistics, blocks = _blocks(grid.chunk({"time": 5}), ["t2m"], holdout=holdout)
    assert statistics[:, :4].sum(axis=0).tolist() == [24 * 48, 24 * LAND, 12 * LAND, 12 * LAND]
    samples = concatenate_blocks(*blocks)
    in_2008 = grid["nee"].sel(time="2008").values
    np.testing.assert_array_equal(np.sort(samples.val_targets[:, 0]), np.sort(in_2008[np.isfinite(in_2008)]))
    # blocks without training samples report infinite extremes, so they never move the scaling
    empty = statistics[:, 2] == 0
    assert empty.any() and np.isinf(statistics[empty, 4:]).all()


def test_keep_validation_subsamples_validation_samples_only(grid):
    _, (full,) = _blocks(grid, ["t2m"], fraction=0.5, seed=1)
    _, (kept,) = _blocks(grid, ["t2m"], fraction=0.5, seed=1, keep_validation=0.25)
    _, (none,) = _blocks(grid, ["t2m"], fraction=0.5, seed=1, keep_validation=0.0)
    np.testing.assert_array_equal(kept.inputs, full.inputs)
    assert 0.15 < len(kept.val_targets) / len(full.val_targets) < 0.35
    assert len(none.val_targets) == 0 and len(none.targets) == len(full.targets)


def test_concatenate_blocks_keeps_block_order():
    first = BlockSamples(np.ones((2, 2)), np.ones((2, 1)), np.zeros((1, 2)), np.zeros((1, 1)))
    second = BlockSamples(2 * np.ones((1, 2)), 2 * np.ones((1, 1)), np.zeros((0, 2)), np.zeros((0, 1)))
    joined = concatenate_blocks(first, second)
    assert joined.targets[:, 0].tolist() == [1, 1, 2] and joined.val_targets.shape == (1, 1)
    assert concatenate_blocks(first) is first
    assert joined.nbytes == sum(a.nbytes for a in (joined.inputs, joined.targets, joined.val_inputs, joined.val_targets))


def test_draw_valid_samples_matches_for_numpy_and_dask(grid):
    names = ["t2m", "landcover", "nee"]
    few = draw_valid_samples(grid, names, DIMS, max_samples=50, seed=3)
    assert few.shape == (50, 3) and np.isfinite(few).all()
    np.testing.assert_array_equal(few, draw_valid_samples(grid.chunk({"time": 7}), names, DIMS, max_samples=50, seed=3))
    every = draw_valid_samples(grid, names, DIMS, max_samples=None, seed=0)
    assert every.shape[0] == int(grid["nee"].count())
    np.testing.assert_array_equal(every[:, 0], grid["t2m"].values[np.isfinite(grid["nee"].values)])


def test_draw_valid_samples_never_draws_excluded_points(grid):
    exclude = selection_mask(grid, {"time": [2007]}, DIMS)
    drawn = draw_valid_samples(grid, ["nee"], DIMS, max_samples=None, seed=0, exclude=exclude)
    in_2008 = grid["nee"].sel(time="2008").values
    np.testing.assert_array_equal(drawn[:, 0], in_2008[np.isfinite(in_2008)])
