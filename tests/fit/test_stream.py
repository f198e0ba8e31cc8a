"""Dask-backed Datasets: out-of-core (stream) and full-batch (batch) training."""

import warnings

import dask
import numpy as np
import pytest
import xarray as xr

import xrann
import xrann.fit.batch as batch
import xrann.fit.plan as plan
from xrann.data.blocks import LargeBlockWarning, max_block_bytes
from tests.conftest import make_grid_dataset

DRIVERS = ["t2m", "swdown", "landcover"]

# most fits here are deliberately short; tests/fit/test_defaults.py checks the ConvergenceWarning itself
pytestmark = pytest.mark.filterwarnings("ignore::xrann.ConvergenceWarning")


def _r2(model, ds):
    predicted = ds.ann.predict(model)
    observed = ds["nee"]
    return float(1 - ((predicted - observed) ** 2).sum() / ((observed - observed.mean()) ** 2).sum())


@pytest.fixture(scope="module")
def grid60():
    return make_grid_dataset(n_time=60)


# -- out-of-core training ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "settings", "optimizer"),
    [
        ("stream", {"epochs": 15}, "lm"),  # lm learns this within 10 epochs (the defaults train until converged)
        ("batch", {"epochs": 15}, "lm"),
        ("stream", {"epochs": 30, "batch_size": 64}, "adam"),
        ("batch", {"optimizer": "lbfgs"}, "lbfgs"),
    ],
)
def test_lazy_fits_learn_the_known_function(grid60, mode, settings, optimizer):
    lazy = grid60.chunk({"time": 30, "lat": 3})
    model = lazy.ann.fit("nee", DRIVERS, seed=0, mode=mode, progress=False, **settings)
    assert model.hyperparameters["mode"] == mode
    assert model.hyperparameters["resolved_optimizer"] == optimizer
    assert model.hyperparameters["resolved_batch_size"] == (64 if "batch_size" in settings else None)
    counts = model.sample_counts
    assert (counts["grid_points"], counts["dropped"], counts["training"] + counts["validation"]) == (2880, 180, 2700)
    assert model.hyperparameters["resolved_validation_fraction"] == 0.1  # validation="auto" with >= 1,000 samples
    assert 0.05 < counts["validation"] / 2700 < 0.15
    assert _r2(model, grid60) > 0.95


def test_batch_mode_trains_first_order_methods_full_batch(grid60):
    lazy = grid60.chunk({"time": 30})
    # more than 2,048 training samples would make batch_size="auto" mini-batches of 256 elsewhere
    model = lazy.ann.fit("nee", DRIVERS, seed=0, learning_rate=0.05, epochs=2, mode="batch", progress=False)
    assert model.hyperparameters["resolved_optimizer"] == "adam"
    assert model.hyperparameters["batch_size"] == "auto" and model.hyperparameters["resolved_batch_size"] is None
    assert model.hyperparameters["resolved_epochs"] == 2


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
    original = plan.compute
    record = lambda *c: calls.append(len(c)) or original(*c)  # noqa: E731
    monkeypatch.setattr(plan, "compute", record)
    monkeypatch.setattr(batch, "compute", record)
    lazy.ann.fit("nee", DRIVERS, seed=0, epochs=2, optimizer="irprop+", validation=None, mode="batch", progress=False)
    # statistics of all 10 blocks in one compute, then one gradient compute per epoch (persist is separate)
    assert calls == [10, 1, 1]


def test_same_seed_same_weights_other_seed_other_weights(grid60):
    lazy = grid60.chunk({"time": 12, "lat": 3})

    def weights(seed):
        model = lazy.ann.fit("nee", DRIVERS, seed=seed, epochs=3, batch_size=32, mode="stream", progress=False)
        assert model.hyperparameters["resolved_optimizer"] == "adam"  # an integer batch_size chooses adam
        return np.concatenate([p.ravel() for p in model.core.parameters])

    first, again, other = weights(5), weights(5), weights(6)
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)


def test_blocks_are_visited_in_a_seeded_random_order(grid60, monkeypatch):
    lazy = grid60.chunk({"time": 12})
    visits = []
    original = plan.block_samples
    monkeypatch.setattr(plan, "block_samples", lambda *a, **k: visits.append(k["starts"][0]) or original(*a, **k))
    # a memory budget too small to keep any block: every pass loads every block again
    with dask.config.set({"xrann.max-block-bytes": 1}), warnings.catch_warnings():
        warnings.simplefilter("ignore", LargeBlockWarning)
        lazy.ann.fit("nee", DRIVERS, seed=1, epochs=2, batch_size=64, validation=None, mode="stream", progress=False)
    first, second = visits[:5], visits[5:]
    assert sorted(first) == sorted(second) == [0, 12, 24, 36, 48]
    assert first != second or first != sorted(first)


def test_blocks_that_fit_the_budget_are_loaded_once(grid60, monkeypatch):
    lazy = grid60.chunk({"time": 12})
    visits = []
    original = plan.block_samples
    monkeypatch.setattr(plan, "block_samples", lambda *a, **k: visits.append(k["starts"][0]) or original(*a, **k))
    model = lazy.ann.fit("nee", DRIVERS, seed=1, epochs=4, optimizer="lm", validation=None, mode="stream", progress=False)
    assert model.history.sizes["epoch"] >= 2  # several passes (each lm epoch is two or more)
    assert sorted(visits) == [0, 12, 24, 36, 48]


def test_empty_blocks_after_masking_are_skipped(grid60, monkeypatch):
    ds = grid60.copy()
    ds["nee"] = ds["nee"].where(ds["time"].dt.year != 2008)  # the second 12-month block has no target
    lazy = ds.chunk({"time": 12})
    visits = []
    original = plan.block_samples
    monkeypatch.setattr(plan, "block_samples", lambda *a, **k: visits.append(k["starts"][0]) or original(*a, **k))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", xrann.ConvergenceWarning)
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
    fits.append(grid60.ann.fit("nee", DRIVERS, seed=4, epochs=1, validation=0.25, progress=False))
    counts = [fit.sample_counts for fit in fits]
    assert counts[0] == counts[1] == counts[2] == counts[3]  # memory mode draws the same per-point hash
    assert 0.2 < counts[0]["validation"] / 2700 < 0.3
    assert counts[0]["training"] + counts[0]["validation"] == 2700


def test_large_blocks_warn_with_a_chunk_suggestion(grid60):
    lazy = grid60.chunk({"time": 60})
    with dask.config.set({"xrann.max-block-bytes": "20kB"}):
        assert max_block_bytes() == 20_000
        with pytest.warns(LargeBlockWarning, match=r"ds = ds\.chunk\(\{'time': \d+\}\).*xrann\.max-block-bytes") as caught:
            model = lazy.ann.fit("nee", DRIVERS, seed=0, epochs=2, validation=0.2, progress=False)
    assert caught[0].filename == __file__  # points at the user's fit call
    # the validation set was larger than the budget too: a subsample of it was kept
    assert np.isfinite(model.history["val_loss"].values).all()


def test_validation_subsample_respects_the_budget(grid60, monkeypatch):
    kept = []
    original = plan.block_samples
    monkeypatch.setattr(plan, "block_samples", lambda *a, **k: kept.append(len((b := original(*a, **k)).val_targets)) or b)
    lazy = grid60.chunk({"time": 12})
    budget = 100 * (3 + 1 + 1) * 8  # 100 float64 validation rows of 3 drivers, bias and target
    with dask.config.set({"xrann.max-block-bytes": budget}), warnings.catch_warnings():
        warnings.simplefilter("ignore", LargeBlockWarning)
        lazy.ann.fit("nee", DRIVERS, seed=0, epochs=2, batch_size=64, validation=0.5, progress=False)
    assert 50 < sum(kept) < 150  # about 100 of ~1350 validation samples, collected in the first epoch only


def test_float32_stays_float32(grid60, monkeypatch):
    seen = []
    original = plan.block_samples
    monkeypatch.setattr(plan, "block_samples", lambda *a, **k: seen.append(b := original(*a, **k)) or b)
    lazy = grid60.chunk({"time": 30})
    for mode in ("stream", "batch"):
        model = lazy.ann.fit("nee", DRIVERS, seed=0, epochs=2, dtype="float32", validation=0.2, mode=mode, progress=False)
        assert {p.dtype for p in model.core.parameters} == {np.dtype("float32")}
        assert model.dtype == "float32"
    assert {a.dtype for block in seen for a in (block.inputs, block.targets, block.val_inputs)} == {np.dtype("float32")}


def test_lazy_errors_name_the_problem(grid60):
    lazy = grid60.chunk({"time": 12})
    with pytest.raises(ValueError, match="mode='batch' trains on full-batch steps, but batch_size=64 was given.*mode='stream'"):
        lazy.ann.fit("nee", DRIVERS, mode="batch", batch_size=64)
    empty = lazy.assign(nee=lazy["nee"] * np.nan)
    with pytest.raises(ValueError, match="no valid samples"):
        empty.ann.fit("nee", DRIVERS, seed=0)
    with pytest.raises(ValueError, match="holds out all"):
        lazy.ann.fit("nee", DRIVERS, seed=0, validation={"time": slice(None)})


def test_batch_mode_shards_group_whole_blocks_and_sum_to_the_same_gradient(grid60, monkeypatch):
    assert batch._shards(np.array([300, 0, 300, 500, 100, 50]), 600) == [[0, 2], [3, 4], [5]]
    lazy = grid60.chunk({"time": 12, "lat": 3})
    settings = dict(seed=0, epochs=5, optimizer="irprop+", validation=None, mode="batch", progress=False)
    one_shard = lazy.ann.fit("nee", DRIVERS, **settings)
    monkeypatch.setattr(batch, "SHARD_SAMPLES", 500)
    calls = []
    original = batch._shard_terms
    monkeypatch.setattr(batch, "_shard_terms", lambda *a: calls.append(len(a[-1].targets)) or original(*a))
    five_shards = lazy.ann.fit("nee", DRIVERS, **settings)
    # one gradient task per shard and epoch
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
