"""Fitting and predicting on a dask.distributed LocalCluster, including a worker lost mid-fit."""

import numpy as np
import pytest
import xarray as xr

import xrann.fit.batch as batch
import xrann.fit.training as training
from xrann.core.progress import FitProgress
from tests.conftest import make_grid_dataset

distributed = pytest.importorskip("distributed")

DRIVERS = ["t2m", "swdown", "landcover"]

# the fits are deliberately short
pytestmark = pytest.mark.filterwarnings("ignore::xrann.ConvergenceWarning")


@pytest.fixture(scope="module", autouse=True)
def small_shards():
    """Batch fits of these small grids use several shards (gradient tasks) instead of one."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(batch, "SHARD_SAMPLES", 600)
        yield


@pytest.fixture(scope="module")
def lazy():
    return make_grid_dataset(n_time=60).chunk({"time": 12, "lat": 3})


STREAM = dict(seed=0, epochs=4, batch_size=64, validation=0.2, progress=False)
BATCH = dict(seed=0, epochs=20, mode="batch", optimizer="irprop+", progress=False)


@pytest.fixture(scope="module")
def local_fits(lazy):
    """The same fits on dask's local threaded scheduler."""
    return {"stream": lazy.ann.fit("nee", DRIVERS, **STREAM), "batch": lazy.ann.fit("nee", DRIVERS, **BATCH)}


def _parameters(model):
    return np.concatenate([p.ravel() for p in model.core.parameters])


def test_fits_on_a_cluster_equal_local_fits_and_run_on_the_workers(lazy, local_fits, on_cluster):
    with on_cluster() as client, distributed.get_task_stream(client) as tasks:
        streamed = lazy.ann.fit("nee", DRIVERS, **STREAM)
        batched = lazy.ann.fit("nee", DRIVERS, **BATCH)
    ran = {str(entry["key"].split("-")[0] if isinstance(entry["key"], str) else entry["key"][0]) for entry in tasks.data}
    assert {"block_statistics", "block_samples", "concatenate_blocks", "_shard_terms", "_add_parts"} <= ran
    np.testing.assert_array_equal(_parameters(streamed), _parameters(local_fits["stream"]))
    np.testing.assert_array_equal(_parameters(batched), _parameters(local_fits["batch"]))
    assert streamed.sample_counts == local_fits["stream"].sample_counts
    xr.testing.assert_identical(
        batched.history.drop_attrs(), local_fits["batch"].history.drop_attrs()
    )


def test_batch_defaults_on_a_cluster_equal_batch_without_a_client(on_cluster):
    """lm with every default: shards spread over two workers, their sums added in shard order."""
    ds = make_grid_dataset().chunk({"time": 4})  # 6 blocks of 180 samples: shards of 4 and 2 blocks
    local = ds.ann.fit("nee", DRIVERS, seed=0, mode="batch", progress=False)
    with on_cluster() as client, distributed.get_task_stream(client) as tasks:
        assert len(client.nthreads()) == 2
        on_workers = ds.ann.fit("nee", DRIVERS, seed=0, mode="batch", progress=False)
    gradient_workers = {entry["worker"] for entry in tasks.data if str(entry["key"]).startswith("_shard_terms")}
    assert len(gradient_workers) == 2  # each worker sums its own shard
    assert local.hyperparameters["resolved_optimizer"] == "lm" and local.history.attrs["converged"] == 1
    np.testing.assert_array_equal(_parameters(on_workers), _parameters(local))
    np.testing.assert_array_equal(on_workers.history["val_loss"].values, local.history["val_loss"].values)


def test_prediction_on_a_cluster_is_lazy_and_equal(lazy, local_fits, on_cluster):
    model = local_fits["batch"]
    predicted = lazy.ann.predict(model)
    assert predicted.chunks == lazy["nee"].chunks
    with on_cluster() as client:
        on_cluster_values = client.compute(predicted).result()
    xr.testing.assert_allclose(on_cluster_values, lazy.ann.predict(model).compute(scheduler="threads"))


def test_thread_groups_balance_samples_and_shards_depend_on_the_data_only():
    groups = batch._thread_groups([500, 300, 300, 100], {"b": 1, "a": 1})
    assert groups == [("a", [0, 3]), ("b", [1, 2])]
    assert batch._shards(np.array([300, 0, 300, 500, 100, 50]), 600) == [[0, 2], [3, 4], [5]]


def test_a_worker_lost_mid_fit_does_not_lose_the_fit(lazy, local_fits, monkeypatch):
    """A worker process is killed and restarted during epoch 5 of a batch fit.

    Its persisted shards are recomputed from their lineage elsewhere and the
    gradient tasks are retried; the fit ends with exactly the weights of an
    undisturbed fit (the sum of the parts adds the same shards in the same order).
    """
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0", worker_dashboard_address=None
    ) as cluster, distributed.Client(cluster) as client:
        restarted = []

        class RestartAtEpochFive(FitProgress):
            shown = True

            def end_epoch(self, epoch, loss, val_loss):
                if epoch == 5:
                    worker = sorted(client.scheduler_info()["workers"])[0]
                    client.restart_workers([worker])
                    restarted.append(worker)

        monkeypatch.setattr(training, "fit_progress", lambda progress, total_epochs: RestartAtEpochFive(total_epochs))
        model = lazy.ann.fit("nee", DRIVERS, **BATCH)
    assert len(restarted) == 1
    np.testing.assert_array_equal(_parameters(model), _parameters(local_fits["batch"]))
