"""Memory, stream and batch modes, numpy or dask input, with or without a cluster, one target or several: the same fit.

The three modes share the data pass (`xrann.fit.plan`) and the epoch engine
(`xrann.core.engine`) and differ only in where the samples are, so on one
chunk, where every mode sums the same samples in the same order, they give the
same losses and weights to rounding. On several chunks the sums are grouped
differently (per block, per shard), so they agree to rounding of the sums.
"""

import numpy as np
import pytest
import xarray as xr

import xrann.fit.batch as batch
from tests.conftest import make_grid_dataset

DRIVERS = ["t2m", "swdown", "landcover"]
#: a few epochs of each optimiser, none converged (adam full-batch, as the others)
EPOCHS = {"lm": 4, "lbfgs": 6, "irprop+": 8, "adam": 8}
SPLITS = {"fraction": 0.2, "years": {"time": [2008]}}

# the fits are deliberately short
pytestmark = pytest.mark.filterwarnings("ignore::xrann.ConvergenceWarning")


@pytest.fixture(scope="module")
def data():
    return make_grid_dataset()


def _fit(ds, optimizer, validation, mode, target="nee", **settings):
    arguments = dict(seed=0, optimizer=optimizer, epochs=EPOCHS[optimizer], batch_size=None, progress=False) | settings
    return ds.ann.fit(target, DRIVERS, validation=validation, mode=mode, **arguments)


def _weights(model):
    return np.concatenate([p.ravel() for p in model.core.parameters])


def _assert_same_fit(model, reference, rtol, atol=0.0):
    assert model.sample_counts == reference.sample_counts
    for name in ("loss", "val_loss"):
        np.testing.assert_allclose(model.history[name].values, reference.history[name].values, rtol=rtol, atol=atol)
    np.testing.assert_allclose(_weights(model), _weights(reference), rtol=rtol, atol=atol)
    assert model.history.attrs["best_epoch"] == reference.history.attrs["best_epoch"]
    resolved = {key: value for key, value in reference.hyperparameters.items() if key.startswith("resolved_")}
    assert {key: model.hyperparameters[key] for key in resolved} == resolved


@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize("optimizer", EPOCHS)
def test_every_mode_trains_the_same_network_on_one_chunk(data, on_cluster, optimizer, split):
    validation = SPLITS[split]
    reference = _fit(data, optimizer, validation, "memory")
    assert len(reference.history["loss"]) == EPOCHS[optimizer]
    assert reference.hyperparameters["resolved_optimizer"] == optimizer
    one_chunk = data.chunk(-1)
    fits = {mode: _fit(one_chunk, optimizer, validation, mode) for mode in ("memory", "stream", "batch")}
    with on_cluster():
        fits["batch on a cluster"] = _fit(one_chunk, optimizer, validation, "batch")
    for where, model in fits.items():
        assert model.hyperparameters["mode"] == where.split()[0]
        _assert_same_fit(model, reference, rtol=1e-10)


def test_numpy_and_dask_input_predict_the_same(data):
    model = _fit(data, "lm", 0.2, None)
    assert model.hyperparameters["mode"] == "memory"
    # fitted from dask input in memory: on one chunk the same samples in the same order, on several
    # chunks in block order (sums in another order)
    np.testing.assert_array_equal(_weights(_fit(data.chunk(-1), "lm", 0.2, "memory")), _weights(model))
    lazy = data.chunk({"time": 5, "lat": 4})
    np.testing.assert_allclose(_weights(_fit(lazy, "lm", 0.2, "memory")), _weights(model), rtol=1e-10)
    predicted = lazy.ann.predict(model)
    assert predicted.chunks is not None
    xr.testing.assert_identical(predicted.compute(), data.ann.predict(model))
    xr.testing.assert_identical(lazy.ann.extrapolation(model).compute(), data.ann.extrapolation(model))


def test_modes_agree_on_several_chunks(data, monkeypatch):
    monkeypatch.setattr(batch, "SHARD_SAMPLES", 300)  # several shards, each of whole blocks
    reference = _fit(data, "lm", 0.2, "memory")
    lazy = data.chunk({"time": 8, "lat": 3})  # 6 blocks of 180 to 192 samples: 3 shards
    for mode in ("memory", "stream", "batch"):
        _assert_same_fit(_fit(lazy, "lm", 0.2, mode), reference, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("optimizer", EPOCHS)
def test_every_mode_trains_the_same_weighted_network(data, on_cluster, optimizer):
    weights = data["landcover"].fillna(0.0) + 0.1  # static (lat, lon) weights, far from uniform
    reference = _fit(data, optimizer, 0.2, "memory", weights=weights)
    assert reference.hyperparameters["weights"] == "DataArray 'landcover'"
    unweighted = _fit(data, optimizer, 0.2, "memory")
    assert not np.allclose(_weights(reference), _weights(unweighted))
    one_chunk = data.chunk(-1)
    fits = {mode: _fit(one_chunk, optimizer, 0.2, mode, weights=weights) for mode in ("memory", "stream", "batch")}
    with on_cluster():
        fits["batch"] = _fit(one_chunk, optimizer, 0.2, "batch", weights=weights.chunk())
    for model in fits.values():
        _assert_same_fit(model, reference, rtol=1e-10)


def test_weighted_modes_agree_on_several_chunks(data, monkeypatch):
    monkeypatch.setattr(batch, "SHARD_SAMPLES", 300)
    weights = data["landcover"].fillna(0.0) + 0.1
    reference = _fit(data, "lm", 0.2, "memory", weights=weights)
    lazy = data.chunk({"time": 8, "lat": 3})
    for mode in ("memory", "stream", "batch"):
        _assert_same_fit(_fit(lazy, "lm", 0.2, mode, weights=weights), reference, rtol=1e-6, atol=1e-9)


@pytest.fixture(scope="module")
def two_targets(data):
    """`data` with a second target, gpp, on another range; one row of one month is NaN in gpp only (no sample there)."""
    scaled_t, scaled_sw = (data["t2m"].values - 285) / 10, (data["swdown"].values - 200) / 100
    gpp = 4 + 2 * np.cos(2 * scaled_t) * data["landcover"].values + scaled_sw
    gpp[5, 2, :] = np.nan
    return data.assign(gpp=(data["nee"].dims, gpp, {"units": "umol m-2 s-1"}))


@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize("optimizer", EPOCHS)
def test_every_mode_trains_the_same_network_of_several_targets_on_one_chunk(two_targets, on_cluster, optimizer, split):
    validation = SPLITS[split]
    targets = ["nee", "gpp"]
    reference = _fit(two_targets, optimizer, validation, "memory", target=targets)
    assert reference.targets == ("nee", "gpp") and reference.core.weights[-1].shape[-1] == 2
    n_valid = int((two_targets["nee"].notnull() & two_targets["gpp"].notnull()).sum())
    assert reference.sample_counts["training"] + reference.sample_counts["validation"] == n_valid
    one_chunk = two_targets.chunk(-1)
    fits = {mode: _fit(one_chunk, optimizer, validation, mode, target=targets) for mode in ("memory", "stream", "batch")}
    with on_cluster():
        fits["batch on a cluster"] = _fit(one_chunk, optimizer, validation, "batch", target=targets)
    for where, model in fits.items():
        assert model.hyperparameters["mode"] == where.split()[0]
        assert model.target == reference.target
        np.testing.assert_array_equal(model.target_scaler.minimum, reference.target_scaler.minimum)
        np.testing.assert_array_equal(model.target_scaler.maximum, reference.target_scaler.maximum)
        _assert_same_fit(model, reference, rtol=1e-10)


def test_modes_agree_on_several_targets_on_several_chunks(two_targets, monkeypatch):
    monkeypatch.setattr(batch, "SHARD_SAMPLES", 300)
    targets = ["nee", "gpp"]
    reference = _fit(two_targets, "lm", 0.2, "memory", target=targets)
    lazy = two_targets.chunk({"time": 8, "lat": 3})
    for mode in ("memory", "stream", "batch"):
        model = _fit(lazy, "lm", 0.2, mode, target=targets)
        np.testing.assert_array_equal(model.target_scaler.minimum, reference.target_scaler.minimum)
        _assert_same_fit(model, reference, rtol=1e-6, atol=1e-9)
