"""Fitting and predicting on a dask.distributed LocalCluster, including a worker lost mid-fit."""

import numpy as np
import pytest
import xarray as xr

import xrann.streaming as streaming
from tests.conftest import make_grid_dataset

distributed = pytest.importorskip("distributed")

DRIVERS = ["t2m", "swdown", "landcover"]


@pytest.fixture(scope="module", autouse=True)
def small_shards():
    """Batch fits of these small grids use several shards (gradient tasks) instead of one."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(streaming, "SHARD_SAMPLES", 600)
        yield


@pytest.fixture(scope="module")
def lazy():
    return make_grid_dataset(n_time=60).chunk({"time": 12, "lat": 3})


@pytest.fixture(scope="module")
def local_fits(lazy):
    """The same fits on dask's local threaded scheduler."""
    return {
        "stream": lazy.ann.fit("nee", DRIVERS, seed=0, epochs=4, batch_size=64, validation=0.2, progress=False),
        "batch": lazy.ann.fit("nee", DRIVERS, seed=0, epochs=20, mode="batch", optimizer="irprop+", progress=False),
    }


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0"
    ) as cluster, distributed.Client(cluster) as client:
        yield client


def _parameters(model):
    return np.concatenate([p.ravel() for p in model.core.parameters])


def test_fits_on_a_cluster_equal_local_fits_and_run_on_the_workers(lazy, local_fits, client):
    with distributed.get_task_stream(client) as tasks:
        streamed = lazy.ann.fit("nee", DRIVERS, seed=0, epochs=4, batch_size=64, validation=0.2, progress=False)
        batch = lazy.ann.fit("nee", DRIVERS, seed=0, epochs=20, mode="batch", optimizer="irprop+", progress=False)
    ran = {entry["key"].split("-")[0] if isinstance(entry["key"], str) else entry["key"][0] for entry in tasks.data}
    assert {"_block_statistics", "_block_samples", "_block_gradient", "_add_parts"} <= {str(k) for k in ran}
    np.testing.assert_array_equal(_parameters(streamed), _parameters(local_fits["stream"]))
    np.testing.assert_array_equal(_parameters(batch), _parameters(local_fits["batch"]))
    assert streamed.sample_counts == local_fits["stream"].sample_counts
    xr.testing.assert_identical(batch.history, local_fits["batch"].history)


def test_prediction_on_a_cluster_is_lazy_and_equal(lazy, local_fits, client):
    model = local_fits["batch"]
    predicted = lazy.ann.predict(model)
    assert predicted.chunks == lazy["nee"].chunks
    on_cluster = client.compute(predicted).result()
    xr.testing.assert_allclose(on_cluster, lazy.ann.predict(model).compute(scheduler="threads"))


def test_a_worker_lost_mid_fit_does_not_lose_the_fit(lazy, local_fits, monkeypatch):
    """A worker process is killed and restarted during epoch 5 of a batch fit.

    Its persisted blocks are recomputed from their lineage elsewhere and the
    gradient tasks are retried; the fit ends with exactly the weights of an
    undisturbed fit (the sum of the parts adds the same blocks in the same order).
    """
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0", worker_dashboard_address=None
    ) as cluster, distributed.Client(cluster) as client:
        restarted = []

        class RestartAtEpochFive(streaming.FitProgress):
            def end_epoch(self, epoch, loss, val_loss):
                if epoch == 5:
                    worker = sorted(client.scheduler_info()["workers"])[0]
                    client.restart_workers([worker])
                    restarted.append(worker)

        monkeypatch.setattr(streaming, "fit_progress", lambda progress, total_epochs: RestartAtEpochFive(total_epochs))
        model = lazy.ann.fit("nee", DRIVERS, seed=0, epochs=20, mode="batch", optimizer="irprop+")
    assert len(restarted) == 1
    np.testing.assert_array_equal(_parameters(model), _parameters(local_fits["batch"]))
