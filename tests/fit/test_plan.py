"""The data pass of every fit (xrann.fit.plan) and the samples memory mode extracts from it (xrann.fit.memory)."""

import dask
import numpy as np
import pytest

import xrann.fit.plan as plan_module
from xrann.data.selection import selection_mask
from xrann.fit.memory import extract_samples
from xrann.fit.plan import plan_samples

DRIVERS = ["t2m", "swdown", "landcover"]
DIMS = ("time", "lat", "lon")
LAND = 45


def _plan(ds, validation=None, fraction=None, seed=0):
    holdout = selection_mask(ds, validation, DIMS) if validation is not None else None
    return plan_samples(
        ds, "nee", DRIVERS, DIMS, holdout=holdout, fraction=fraction, validation=validation or fraction,
        seed=seed, target_range=(0.1, 0.9),
    )


def test_counts_and_scalers_come_from_the_training_samples(grid):
    plan = _plan(grid, validation={"time": [2008]})
    assert plan.counts == {"grid_points": 24 * 48, "dropped": 3 * 24, "training": 12 * LAND, "validation": 12 * LAND}
    training = grid.sel(time="2007")
    np.testing.assert_array_equal(plan.driver_scaler.minimum, [float(training[name].min()) for name in DRIVERS])
    np.testing.assert_array_equal(plan.target_scaler.maximum, [float(training["nee"].max())])
    assert plan.target_scaler.feature_range == (0.1, 0.9) and not plan.lazy


def test_numpy_input_is_one_block_computed_in_this_thread(grid):
    def refuse(*args, **kwargs):
        raise AssertionError("numpy-backed input must not go to the global scheduler")

    with dask.config.set(scheduler=refuse):
        plan = _plan(grid, fraction=0.2)
        samples = extract_samples(plan, dtype="float32", bias=True)
    assert plan.indices == [(0, 0, 0)]
    assert samples.inputs.shape == (plan.n_train, len(DRIVERS) + 1) and samples.inputs.dtype == np.float32
    assert (samples.inputs[:, -1] == 1).all() and samples.val_targets.shape == (plan.n_validation, 1)
    # scaled with the training extremes: the training samples span [0, 1] and the target [0.1, 0.9]
    np.testing.assert_allclose(samples.inputs[:, :-1].min(axis=0), 0, atol=1e-6)
    np.testing.assert_allclose(samples.inputs[:, :-1].max(axis=0), 1, rtol=1e-6)
    np.testing.assert_allclose([samples.targets.min(), samples.targets.max()], [0.1, 0.9], rtol=1e-6)


def test_blocks_without_samples_are_never_loaded(grid, monkeypatch):
    loaded = []
    original = plan_module.block_samples
    monkeypatch.setattr(plan_module, "block_samples", lambda *a, **k: loaded.append(k["starts"][0]) or original(*a, **k))
    ds = grid.assign(nee=grid["nee"].where(grid["time"].dt.year == 2007))
    plan = _plan(ds.chunk({"time": 6}), validation={"time": slice("2007-01", "2007-03")})
    assert plan.lazy and len(plan.indices) == 4
    np.testing.assert_array_equal(plan.blocks_with(2), [0, 1])  # training: 2007-04 to 2007-12
    np.testing.assert_array_equal(plan.blocks_with(3), [0])  # validation: 2007-01 to 2007-03
    samples = extract_samples(plan, dtype="float64", bias=False)
    assert len(samples.targets) == 9 * LAND and len(samples.val_targets) == 3 * LAND
    assert sorted(loaded) == [0, 6]


def test_samples_are_the_same_for_numpy_and_one_chunk_of_dask(grid):
    eager = extract_samples(_plan(grid, fraction=0.3, seed=2), dtype="float64", bias=True)
    lazy = extract_samples(_plan(grid.chunk(-1), fraction=0.3, seed=2), dtype="float64", bias=True)
    for name in ("inputs", "targets", "val_inputs", "val_targets"):
        np.testing.assert_array_equal(getattr(lazy, name), getattr(eager, name))


def test_an_empty_side_of_the_split_is_an_error_naming_the_fix(grid):
    with pytest.raises(ValueError, match="leaving none for training"):
        _plan(grid, validation={"time": [2007, 2008]})
    with pytest.raises(ValueError, match="no valid samples"):
        _plan(grid.assign(nee=grid["nee"] * np.nan))
