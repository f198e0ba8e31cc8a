"""The defaults train until converged; a fit stopped by its epoch limit says so; what "auto" became is recorded."""

import warnings

import numpy as np
import pytest

import xrann
from xrann.core.optimizers import optimizer_class
from tests.conftest import make_grid_dataset

DRIVERS = ["t2m", "swdown", "landcover"]


def _r2(model, ds):
    predicted, observed = ds.ann.predict(model), ds["nee"]
    return float(1 - ((predicted - observed) ** 2).sum() / ((observed - observed.mean()) ** 2).sum())


@pytest.fixture(scope="module")
def default_fit():
    ds = make_grid_dataset()
    with warnings.catch_warnings():
        warnings.simplefilter("error", xrann.ConvergenceWarning)  # the defaults converge: no warning
        model = ds.ann.fit(target="nee", drivers=DRIVERS, seed=0)
    return ds, model


def test_seed_alone_fits_with_levenberg_marquardt_until_converged(default_fit):
    ds, model = default_fit
    lm = optimizer_class("lm")
    assert model.hyperparameters["optimizer"] == "auto" and model.hyperparameters["resolved_optimizer"] == "lm"
    assert model.hyperparameters["resolved_epochs"] == lm.auto_epochs
    assert model.hyperparameters["resolved_patience"] == lm.auto_patience
    attrs = model.history.attrs
    assert attrs["converged"] == 1 and attrs["stopped_early"] == 1
    assert "validation loss" in attrs["stop_reason"] and attrs["training_seconds"] > 0
    assert model.history.sizes["epoch"] < lm.auto_epochs
    # validation="auto": 1,080 valid samples, so about 10 % held out to stop on
    assert model.hyperparameters["resolved_validation_fraction"] == 0.1
    assert 0.05 < model.sample_counts["validation"] / 1080 < 0.15
    assert attrs["best_epoch"] == int(np.argmin(model.history["val_loss"].values))


def test_the_default_fit_predicts_held_out_data_well(default_fit):
    _, model = default_fit
    # another draw of the same function: other noise, other forest fractions
    held_out = make_grid_dataset(seed=1)
    assert _r2(model, held_out) > 0.98


def test_a_fit_stopped_while_improving_warns_with_the_fix():
    ds = make_grid_dataset()
    message = r"limit of epochs=3 while the validation loss was still improving.*pass epochs=6"
    with pytest.warns(xrann.ConvergenceWarning, match=message) as caught:
        model = ds.ann.fit(target="nee", drivers=DRIVERS, seed=0, optimizer="adam", epochs=3, progress=False)
    assert caught[0].filename == __file__  # points at the fit call
    assert model.history.attrs["converged"] == 0 and model.history.attrs["stop_reason"] == "reached epochs=3"


def test_a_converged_short_fit_does_not_warn():
    ds = xrann.datasets.soil_toy()  # three samples: lm fits them within a few steps
    with warnings.catch_warnings():
        warnings.simplefilter("error", xrann.ConvergenceWarning)
        model = ds.ann.fit(target="co2_flux", seed=0, progress=False)
    assert model.history.attrs["converged"] == 1


@pytest.mark.parametrize(
    ("settings", "optimizer"),
    [({}, "lm"), ({"optimizer": "lbfgs", "optimizer_options": {"history": 5}}, "lbfgs"), ({"learning_rate": 0.02}, "adam")],
)
def test_resolved_settings_survive_the_model_file(tmp_path, settings, optimizer):
    ds = make_grid_dataset(n_time=12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", xrann.ConvergenceWarning)
        model = ds.ann.fit(target="nee", drivers=DRIVERS, seed=0, epochs="auto", patience="auto", progress=False, **settings)
    cls = optimizer_class(optimizer)
    hyperparameters = model.hyperparameters
    assert hyperparameters["epochs"] == "auto" and hyperparameters["patience"] == "auto"
    assert hyperparameters["resolved_optimizer"] == optimizer
    assert hyperparameters["resolved_optimizer_options"] == cls(**settings.get("optimizer_options", {})).options()
    assert isinstance(hyperparameters["resolved_epochs"], int) and isinstance(hyperparameters["resolved_patience"], int)
    if cls.auto_epochs is not None:
        assert (hyperparameters["resolved_epochs"], hyperparameters["resolved_patience"]) == (cls.auto_epochs, cls.auto_patience)
    else:  # 540 samples, full batch: the cap of 5,000 epochs
        assert hyperparameters["resolved_batch_size"] is None
        assert (hyperparameters["resolved_epochs"], hyperparameters["resolved_patience"]) == (5_000, 250)
        assert hyperparameters["resolved_learning_rate"] == 0.02
    model.to_netcdf(tmp_path / "model.nc")
    loaded = xrann.open_model(tmp_path / "model.nc")
    assert loaded.hyperparameters == hyperparameters
    assert loaded.history.attrs["converged"] == model.history.attrs["converged"]
    assert loaded.history.attrs["stop_reason"] == model.history.attrs["stop_reason"]
    np.testing.assert_array_equal(ds.ann.predict(loaded).values, ds.ann.predict(model).values)
