"""Fit settings (xrann.fit.settings): what "auto" resolves to, and bad settings failing before any data is read."""

import dask
import dask.array as da
import pytest

from xrann.core.optimizers import optimizer_class
from xrann.core.second_order import LevenbergMarquardt
from xrann.fit.settings import (
    AUTO_BATCH_SIZE,
    AUTO_FULL_BATCH_LIMIT,
    FitSettings,
    ResolvedSettings,
    n_parameters,
)
from tests.conftest import make_grid_dataset

SEVEN_DRIVERS = ["t2m", "swdown", "landcover", "a", "b", "c", "d"]


def _settings(**values):
    settings = FitSettings(seed=0, **values)
    settings.validate()
    return settings


# -- what "auto" becomes -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "n_inputs", "expected"),
    [
        ({}, 7, "lm"),  # 37 parameters
        ({"hidden": (64, 64)}, 7, "lbfgs"),  # 4,737 parameters: too many for lm's JᵀJ
        ({"learning_rate": 0.01}, 7, "adam"),
        ({"batch_size": 128}, 7, "adam"),
        ({"optimizer": "irprop+"}, 7, "irprop+"),
    ],
)
def test_auto_optimizer(values, n_inputs, expected):
    assert _settings(**values).choose_optimizer(n_inputs).name == expected


def test_auto_optimizer_switches_at_lms_size_limit():
    limit = LevenbergMarquardt.max_parameters
    largest = max(h for h in range(1, 400) if n_parameters((7, h, 1), True) <= limit)
    assert _settings(hidden=largest).choose_optimizer(7).name == "lm"
    assert _settings(hidden=largest + 1).choose_optimizer(7).name == "lbfgs"


@pytest.mark.parametrize("name", ["lm", "lbfgs"])
def test_second_order_methods_bring_their_own_epochs_and_patience(name):
    resolved = _settings(optimizer=name).resolve(n_inputs=3, n_outputs=1, n_train=50_000, has_validation=True)
    cls = optimizer_class(name)
    assert (resolved.optimizer, resolved.batch_size, resolved.learning_rate) == (name, None, None)
    assert (resolved.epochs, resolved.patience) == (cls.auto_epochs, cls.auto_patience)
    assert resolved.tolerance == (cls.auto_tolerance if cls.auto_tolerance is not None else 1e-3)
    assert resolved.optimizer_options == cls().options()


def test_first_order_epochs_aim_at_a_number_of_updates():
    settings = _settings(optimizer="adam")
    small = settings.resolve(3, 1, n_train=AUTO_FULL_BATCH_LIMIT, has_validation=False)
    assert small.batch_size is None and small.epochs == 5_000 and small.patience == 250 and small.learning_rate == 0.01
    large = settings.resolve(3, 1, n_train=256_000, has_validation=True)
    assert large.batch_size == AUTO_BATCH_SIZE and large.epochs == 100 and large.patience == 10
    # a batch as large as the training set is full batch
    assert _settings(batch_size=500).resolve(3, 1, n_train=400, has_validation=False).batch_size is None


def test_explicit_settings_are_kept_and_recorded():
    settings = _settings(optimizer="lm", optimizer_options={"damping": 0.1}, epochs=7, patience=None, tolerance=0.0)
    resolved = settings.resolve(3, 1, n_train=100, has_validation=False)
    assert (resolved.epochs, resolved.patience, resolved.tolerance) == (7, None, 0.0)
    assert resolved.optimizer_options["damping"] == 0.1
    hyperparameters = resolved.as_hyperparameters()
    assert set(hyperparameters) == {
        "resolved_optimizer", "resolved_optimizer_options", "resolved_learning_rate", "resolved_batch_size",
        "resolved_epochs", "resolved_patience", "resolved_tolerance",
    }
    assert settings.as_dict()["optimizer_options"] == {"damping": 0.1}
    again = ResolvedSettings(**{key.removeprefix("resolved_"): value for key, value in hyperparameters.items()})
    assert again == resolved and again.schedule.epochs == 7


# -- bad settings fail before any data is read ---------------------------------------------------


def _explode(*args):
    raise AssertionError("the data was read")


@pytest.fixture(scope="module")
def unreadable():
    """A Dataset with seven drivers on the test grid, whose every data access fails."""
    ds = make_grid_dataset(n_time=12)
    ds = ds.assign(a=ds["t2m"] * 2, b=ds["t2m"] * 3, c=ds["swdown"] * 2, d=ds["swdown"] * 3)
    return ds.assign({
        name: (variable.dims, da.from_delayed(dask.delayed(_explode)(name), variable.shape, variable.dtype), variable.attrs)
        for name, variable in ds.data_vars.items()
    })


def test_the_unreadable_dataset_fails_when_read(unreadable):
    with pytest.raises(AssertionError, match="the data was read"):
        unreadable.ann.fit(target="nee", drivers=["t2m"], seed=0, epochs=1, progress=False)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"optimizer": "lm", "optimizer_options": {"bogus": 1}},
            r"optimizer_options=\{'bogus': 1\} has unknown keys \['bogus'\] for optimizer='lm'; "
            r"it takes \['damping', 'damping_increase', 'damping_decrease', 'max_damping'\]",
        ),
        ({"optimizer": "lm", "optimizer_options": {"damping": -1}}, r"damping must be a positive number, got -1"),
        ({"optimizer": "lbfgs", "optimizer_options": {"history": 0}}, r"history must be a positive integer, got 0"),
        (
            {"optimizer": "lm", "batch_size": 256},
            r"optimizer='lm' makes full-batch steps only, but batch_size=256 was given; .*optimizer='adam' for mini-batches",
        ),
        (
            {"optimizer": "lm", "hidden": (64, 64)},
            r"optimizer='lm' handles networks of up to 2,000 parameters, but this network has 4,737; "
            r"use optimizer='lbfgs'",
        ),
        (
            {"optimizer_options": {"damping": 0.1}},
            r"optimizer_options=\{'damping': 0.1\} needs an optimizer to apply to; pass optimizer= as well",
        ),
        ({"optimizer": "lm", "learning_rate": 0.1}, r"optimizer='lm' chooses its own step sizes and takes no learning_rate"),
        ({"optimizer": "lbfgs", "learning_rate": 0.1}, r"optimizer='lbfgs' chooses its own step sizes"),
        ({"learning_rate": -0.1}, r"learning_rate must be a positive number, got -0.1"),  # "auto" would choose adam
        ({"mode": "batch", "batch_size": 64}, r"mode='batch' trains on full-batch steps, but batch_size=64 .*mode='stream'"),
        ({"tolerance": 1.5}, r"tolerance must be in \[0, 1\)"),
        ({"patience": "soon"}, r"patience='soon' is not understood"),
    ],
)
def test_bad_settings_fail_before_the_data_is_read(unreadable, settings, message):
    with pytest.raises(ValueError, match=message):
        unreadable.ann.fit(target="nee", drivers=SEVEN_DRIVERS, seed=0, progress=False, **settings)
