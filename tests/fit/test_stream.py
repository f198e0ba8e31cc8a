"""Dask-backed Datasets: lazy prediction, out-of-core (stream) and full-batch (batch) training."""

import warnings

import dask
import numpy as np
import pytest
import xarray as xr
from dask.callbacks import Callback

import xrann
import xrann.streaming as streaming
from tests.conftest import make_grid_dataset

DRIVERS = ["t2m", "swdown", "landcover"]


class CountComputes(Callback):
    """Counts graph executions on dask's local schedulers."""

    def __init__(self):
        super().__init__()
        self.count = 0

    def _start(self, dsk):
        self.count += 1


def _refuse(*args, **kwargs):
    raise AssertionError("a dask graph was computed")


def _r2(model, ds):
    predicted = ds.ann.predict(model)
    observed = ds["nee"]
    return float(1 - ((predicted - observed) ** 2).sum() / ((observed - observed.mean()) ** 2).sum())


@pytest.fixture(scope="module")
def grid60():
    return make_grid_dataset(n_time=60)


@pytest.fixture(scope="module")
def model60(grid60):
    return grid60.ann.fit("nee", DRIVERS, seed=0, epochs=40, batch_size=64, progress=False)


# -- lazy prediction -----------------------------------------------------------------------------


def test_predict_is_lazy_and_matches_in_memory(grid60, model60):
    lazy = grid60.chunk({"time": 12, "lat": 3})
    with dask.config.set(scheduler=_refuse):
        predicted = lazy.ann.predict(model60)
    assert isinstance(predicted.data, dask.array.Array)
    assert predicted.chunks == ((12,) * 5, (3, 3), (8,))
    with CountComputes() as counter:
        values = predicted.compute()
    assert counter.count == 1
    xr.testing.assert_allclose(values, grid60.ann.predict(model60))
    xr.testing.assert_identical(values.coords.to_dataset(), grid60["nee"].coords.to_dataset())


@pytest.mark.parametrize("static", ["numpy", "other-chunks"])
def test_static_driver_broadcasts_blockwise_with_the_drivers_chunks(grid60, model60, static):
    lazy = grid60.chunk({"time": 20, "lat": 3, "lon": 4})
    landcover = grid60["landcover"] if static == "numpy" else grid60["landcover"].chunk({"lat": 2, "lon": 8})
    lazy = lazy.assign(landcover=landcover).drop_vars("nee")
    with dask.config.set(scheduler=_refuse):
        predicted = lazy.ann.predict(model60)
    assert predicted.dims == ("time", "lat", "lon")
    assert predicted.chunks == ((20, 20, 20), (3, 3), (4, 4))
    expected = grid60.drop_vars("nee").ann.predict(model60)
    xr.testing.assert_allclose(predicted.compute(), expected)


class LargestResult(Callback):
    """Records the largest array any task returns."""

    def __init__(self):
        super().__init__()
        self.nbytes = 0

    def _posttask(self, key, result, dsk, state, worker_id):
        self.nbytes = max(self.nbytes, getattr(result, "nbytes", 0))


def test_prediction_works_block_by_block(grid60, model60):
    lazy = grid60.chunk({"time": 6})
    predicted = lazy.ann.predict(model60)
    block_bytes = 6 * 6 * 8 * 8
    with LargestResult() as largest:
        total = float(predicted.sum().compute())
    # no task ever holds more than a block (the grid is 10 blocks)
    assert 0 < largest.nbytes <= block_bytes
    assert total == pytest.approx(float(grid60.ann.predict(model60).sum()))


# -- out-of-core training ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "settings"),
    [
        ("stream", {"epochs": 60, "batch_size": 64}),
        ("batch", {"epochs": 300, "learning_rate": 0.05}),
        ("batch", {"epochs": 300, "optimizer": "irprop+"}),
        ("stream", {"epochs": 300, "optimizer": "irprop+"}),
    ],
)
def test_lazy_fits_learn_the_known_function(grid60, mode, settings):
    lazy = grid60.chunk({"time": 30, "lat": 3})
    model = lazy.ann.fit("nee", DRIVERS, seed=0, mode=mode, progress=False, **settings)
    assert model.hyperparameters["mode"] == mode
    assert model.sample_counts == {"grid_points": 2880, "dropped": 180, "training": 2700, "validation": 0}
    assert _r2(model, grid60) > 0.95


def test_dask_input_streams_by_default_with_the_same_scaling_as_memory(grid60):
    lazy = grid60.chunk({"time": 12})
    streamed = lazy.ann.fit("nee", DRIVERS, seed=3, epochs=2, progress=False)
    in_memory = grid60.ann.fit("nee", DRIVERS, seed=3, epochs=2, progress=False)
    assert streamed.hyperparameters["mode"] == "stream"
    np.testing.assert_array_equal(streamed.driver_scaler.minimum, in_memory.driver_scaler.minimum)
    np.testing.assert_array_equal(streamed.driver_scaler.maximum, in_memory.driver_scaler.maximum)
    np.testing.assert_array_equal(streamed.target_scaler.maximum, in_memory.target_scaler.maximum)


def test_scaling_statistics_come_from_one_compute(grid60, monkeypatch):
    lazy = grid60.chunk({"time": 12, "lat": 3})
    calls = []
    original = streaming._compute
    monkeypatch.setattr(streaming, "_compute", lambda *c: calls.append(len(c)) or original(*c))
    lazy.ann.fit("nee", DRIVERS, seed=0, epochs=1, mode="batch", progress=False)
    # statistics of all 10 blocks in one compute, then one compute per epoch (persist is separate)
    assert calls == [10, 1]


def test_same_seed_same_weights_other_seed_other_weights(grid60):
    lazy = grid60.chunk({"time": 12, "lat": 3})

    def weights(seed):
        model = lazy.ann.fit("nee", DRIVERS, seed=seed, epochs=3, batch_size=32, mode="stream", progress=False)
        return np.concatenate([p.ravel() for p in model.core.parameters])

    first, again, other = weights(5), weights(5), weights(6)
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)


def test_blocks_are_visited_in_a_seeded_random_order(grid60, monkeypatch):
    lazy = grid60.chunk({"time": 12})
    visits = []
    original = streaming._block_samples
    monkeypatch.setattr(streaming, "_block_samples", lambda *a, **k: visits.append(k["starts"][0]) or original(*a, **k))
    lazy.ann.fit("nee", DRIVERS, seed=1, epochs=2, batch_size=64, mode="stream", progress=False)
    first, second = visits[:5], visits[5:]
    assert sorted(first) == sorted(second) == [0, 12, 24, 36, 48]
    assert first != second or first != sorted(first)


def test_empty_blocks_after_masking_are_skipped(grid60, monkeypatch):
    ds = grid60.copy()
    ds["nee"] = ds["nee"].where(ds["time"].dt.year != 2008)  # the second 12-month block has no target
    lazy = ds.chunk({"time": 12})
    visits = []
    original = streaming._block_samples
    monkeypatch.setattr(streaming, "_block_samples", lambda *a, **k: visits.append(k["starts"][0]) or original(*a, **k))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = lazy.ann.fit("nee", DRIVERS, seed=0, epochs=2, batch_size=64, mode="stream", progress=False)
    assert sorted(set(visits)) == [0, 24, 36, 48]
    assert model.sample_counts["dropped"] == 180 + 12 * 45


def test_holdout_years_match_memory_counts_and_are_visited_for_validation(grid60):
    lazy = grid60.chunk({"time": 12})
    validation = {"time": [2008]}
    streamed = lazy.ann.fit("nee", DRIVERS, seed=0, epochs=5, batch_size=64, validation=validation, progress=False)
    in_memory = grid60.ann.fit("nee", DRIVERS, seed=0, epochs=5, batch_size=64, validation=validation, progress=False)
    assert streamed.sample_counts == in_memory.sample_counts == {
        "grid_points": 2880, "dropped": 180, "training": 2160, "validation": 540,
    }
    val_loss = streamed.history["val_loss"].values
    assert val_loss.shape == (5,) and np.isfinite(val_loss).all()
    assert streamed.history.attrs["best_epoch"] == int(np.argmin(val_loss))


def test_fraction_split_is_per_sample_hash_independent_of_chunks(grid60):
    fits = [
        grid60.chunk(chunks).ann.fit("nee", DRIVERS, seed=4, epochs=1, validation=0.25, mode=mode, progress=False)
        for chunks, mode in [({"time": 12}, "stream"), ({"time": 7, "lon": 3}, "stream"), ({"time": 60}, "batch")]
    ]
    counts = [fit.sample_counts for fit in fits]
    assert counts[0] == counts[1] == counts[2]
    assert 0.2 < counts[0]["validation"] / 2700 < 0.3
    assert counts[0]["training"] + counts[0]["validation"] == 2700


def test_validation_fraction_mask_is_a_function_of_the_grid_position():
    whole = streaming.validation_fraction_mask((0, 0), (10, 30), (10, 30), 0.5, seed=2)
    parts = [streaming.validation_fraction_mask((s, 0), (5, 30), (10, 30), 0.5, seed=2) for s in (0, 5)]
    np.testing.assert_array_equal(whole, np.concatenate(parts))
    assert not np.array_equal(whole, streaming.validation_fraction_mask((0, 0), (10, 30), (10, 30), 0.5, seed=3))


def test_large_blocks_warn_with_a_chunk_suggestion(grid60):
    lazy = grid60.chunk({"time": 60})
    with dask.config.set({"xrann.max-block-bytes": "20kB"}):
        assert streaming.max_block_bytes() == 20_000
        with pytest.warns(streaming.LargeBlockWarning, match=r"ds = ds\.chunk\(\{'time': \d+\}\).*xrann\.max-block-bytes"):
            model = lazy.ann.fit("nee", DRIVERS, seed=0, epochs=2, validation=0.2, progress=False)
    # the validation set was larger than the budget too: a subsample of it was kept
    assert np.isfinite(model.history["val_loss"].values).all()


def test_validation_subsample_respects_the_budget(grid60, monkeypatch):
    kept = []
    original = streaming._block_samples
    monkeypatch.setattr(streaming, "_block_samples", lambda *a, **k: kept.append(len((b := original(*a, **k)).val_targets)) or b)
    lazy = grid60.chunk({"time": 12})
    budget = 100 * (3 + 1 + 1) * 8  # 100 float64 validation rows of 3 drivers, bias and target
    with dask.config.set({"xrann.max-block-bytes": budget}), warnings.catch_warnings():
        warnings.simplefilter("ignore", streaming.LargeBlockWarning)
        lazy.ann.fit("nee", DRIVERS, seed=0, epochs=2, batch_size=64, validation=0.5, progress=False)
    assert 50 < sum(kept) < 150  # about 100 of ~1350 validation samples, collected in the first epoch only


def test_float32_stays_float32(grid60, monkeypatch):
    seen = []
    original = streaming._block_samples
    monkeypatch.setattr(streaming, "_block_samples", lambda *a, **k: seen.append(b := original(*a, **k)) or b)
    lazy = grid60.chunk({"time": 30})
    for mode in ("stream", "batch"):
        model = lazy.ann.fit("nee", DRIVERS, seed=0, epochs=2, dtype="float32", validation=0.2, mode=mode, progress=False)
        assert {p.dtype for p in model.core.parameters} == {np.dtype("float32")}
        assert model.dtype == "float32"
    assert {a.dtype for block in seen for a in (block.inputs, block.targets, block.val_inputs)} == {np.dtype("float32")}


def test_lazy_errors_name_the_problem(grid60):
    lazy = grid60.chunk({"time": 12})
    with pytest.raises(ValueError, match="mode='batch' trains on full-batch gradients.*mode='stream'"):
        lazy.ann.fit("nee", DRIVERS, mode="batch", batch_size=64)
    empty = lazy.assign(nee=lazy["nee"] * np.nan)
    with pytest.raises(ValueError, match="no valid samples"):
        empty.ann.fit("nee", DRIVERS, seed=0)
    with pytest.raises(ValueError, match="holds out all"):
        lazy.ann.fit("nee", DRIVERS, seed=0, validation={"time": slice(None)})


def test_block_grid_aligns_drivers_to_the_target_chunks():
    ds = make_grid_dataset(n_time=12)
    lazy = ds.chunk({"time": 4, "lat": 3}).assign(t2m=ds["t2m"].chunk({"time": 6}), landcover=ds["landcover"])
    grid = streaming.block_grid(lazy, "nee", DRIVERS, ("time", "lat", "lon"))
    assert grid.numblocks == (3, 2, 1)
    assert all(array.chunks == ((4, 4, 4), (3, 3), (8,)) for array in grid.arrays)
    np.testing.assert_array_equal(grid.arrays[3][5].compute(), ds["landcover"].values)


def test_batch_mode_shards_group_whole_blocks_and_sum_to_the_same_gradient(grid60, monkeypatch):
    assert streaming._shards(np.array([300, 0, 300, 500, 100, 50]), 600) == [[0, 2], [3, 4], [5]]
    lazy = grid60.chunk({"time": 12, "lat": 3})
    one_shard = lazy.ann.fit("nee", DRIVERS, seed=0, epochs=5, mode="batch", progress=False)
    monkeypatch.setattr(streaming, "SHARD_SAMPLES", 500)
    calls = []
    original = streaming._block_gradient
    monkeypatch.setattr(streaming, "_block_gradient", lambda shard, *a: calls.append(len(shard.targets)) or original(shard, *a))
    five_shards = lazy.ann.fit("nee", DRIVERS, seed=0, epochs=5, mode="batch", progress=False)
    assert len(calls) == 5 * 5 and sum(calls) == 5 * 2700
    for a, b in zip(one_shard.core.parameters, five_shards.core.parameters):
        np.testing.assert_allclose(a, b, rtol=1e-10)


@pytest.mark.parametrize("mode", ["stream", "batch"])
def test_integer_and_boolean_drivers_stream_like_in_memory(mode):
    rng = np.random.default_rng(0)
    ds = xr.Dataset({
        "y": ("x", rng.normal(size=40)),
        "a": ("x", rng.normal(size=40)),
        "k": ("x", rng.integers(0, 5, 40).astype("int16")),
        "b": ("x", rng.integers(0, 2, 40).astype(bool)),
    })
    lazy = ds.chunk({"x": 10}).ann.fit(target="y", drivers=["a", "k", "b"], seed=0, epochs=2, mode=mode, progress=False)
    eager = ds.ann.fit(target="y", drivers=["a", "k", "b"], seed=0, epochs=2, progress=False)
    assert lazy.driver_ranges == eager.driver_ranges
    assert lazy.driver_ranges["k"] == (float(ds["k"].min()), float(ds["k"].max()))
