"""Every fit setting checked by type and value (xrann.fit.settings), numpy scalars accepted and stored plainly.

Wrong types raise `SettingTypeError` (a TypeError, and a ValueError for code written against older
versions); right types out of range raise a plain ValueError. Each message names the setting and what it
accepts.
"""

import numpy as np
import pytest

import xrann
from xrann.fit.settings import (
    FitSettings,
    SettingTypeError,
    check_ensemble_arguments,
    check_validation_argument,
    describe_validation,
)
from tests.conftest import make_grid_dataset

T, V = TypeError, ValueError
HIDDEN = r"hidden must (be a number of nodes or a sequence of them|hold integer numbers of nodes)"
INTEGER = "must be an integer, got {}; write {}"

# (settings, expected exception, message): the message names the setting and what it takes
BAD_SETTINGS = [
    # hidden: nodes per hidden layer
    ({"hidden": "abc"}, T, HIDDEN + r".*got 'abc' \(a string\)"),
    ({"hidden": 4.5}, T, HIDDEN + ".*got 4.5"),
    ({"hidden": (4.5,)}, T, HIDDEN + r".*got 4.5 in hidden=\(4.5,\)"),
    ({"hidden": (4.0,)}, T, HIDDEN + r".*got 4.0"),
    ({"hidden": None}, T, HIDDEN + ".*got None"),
    ({"hidden": True}, T, HIDDEN + ".*got True"),
    ({"hidden": [4, True]}, T, HIDDEN + ".*got True"),
    ({"hidden": [4, "8"]}, T, HIDDEN + r".*got '8' \(a string\)"),
    ({"hidden": {"layer": 4}}, T, HIDDEN),
    ({"hidden": 0}, V, r"every layer needs at least one node.*hidden=\(0,\)"),
    ({"hidden": (4, -1)}, V, r"every layer needs at least one node.*hidden=\(4, -1\)"),
    ({"hidden": ()}, V, r"hidden=\(\) gives a network without a hidden layer"),
    # bias: a boolean
    ({"bias": "False"}, T, r"bias must be True or False, got 'False' \(a string\)"),
    ({"bias": 1.0}, T, "bias must be True or False, got 1.0"),
    ({"bias": None}, T, "bias must be True or False, got None"),
    ({"bias": 1}, T, "bias must be True or False, got 1"),
    ({"bias": [True]}, T, r"bias must be True or False, got \[True\]"),
    # seed: a non-negative integer or None
    ({"seed": 1.5}, T, "seed must be a non-negative integer, or None to draw one, got 1.5"),
    ({"seed": 2.0}, T, INTEGER.format("2.0", "2").replace("must", "seed must")),
    ({"seed": "x"}, T, r"seed must be a non-negative integer.*got 'x' \(a string\)"),
    ({"seed": "3"}, T, r"seed must be a non-negative integer.*got '3' \(a string\); write seed=3 without quotes"),
    ({"seed": True}, T, "seed must be a non-negative integer.*got True"),
    ({"seed": [1]}, T, r"seed must be a non-negative integer.*got \[1\]"),
    ({"seed": -1}, V, "seed must be a non-negative integer, got -1"),
    # epochs: a positive integer or "auto"
    ({"epochs": "10"}, T, r"epochs must be a positive integer or 'auto', got '10' \(a string\); write epochs=10"),
    ({"epochs": "soon"}, V, r"epochs='soon' is not understood; pass a positive integer or 'auto'"),
    ({"epochs": 2.5}, T, "epochs must be a positive integer or 'auto', got 2.5"),
    ({"epochs": 2.0}, T, "epochs " + INTEGER.format("2.0", "2")),
    ({"epochs": None}, T, "epochs must be a positive integer or 'auto', got None"),
    ({"epochs": True}, T, "epochs must be a positive integer or 'auto', got True"),
    ({"epochs": [10]}, T, r"epochs must be a positive integer or 'auto', got \[10\]"),
    ({"epochs": 0}, V, "epochs must be a positive integer, got 0"),
    ({"epochs": -3}, V, "epochs must be a positive integer, got -3"),
    # batch_size: a positive integer, "auto" or None
    ({"batch_size": "big"}, V, r"batch_size='big' is not understood; pass a positive integer or 'auto' or None"),
    ({"batch_size": "64"}, T, r"batch_size must be a positive integer or 'auto' or None, got '64' \(a string\)"),
    ({"batch_size": 2.5}, T, "batch_size must be a positive integer or 'auto' or None, got 2.5"),
    ({"batch_size": True}, T, "batch_size must be a positive integer or 'auto' or None, got True"),
    ({"batch_size": [8]}, T, r"batch_size must be a positive integer or 'auto' or None, got \[8\]"),
    ({"batch_size": 0}, V, "batch_size must be a positive integer, got 0"),
    # patience: a positive integer, "auto" or None
    ({"patience": "soon"}, V, r"patience='soon' is not understood; pass a positive integer or 'auto' or None"),
    ({"patience": 1.5}, T, "patience must be a positive integer or 'auto' or None, got 1.5"),
    ({"patience": False}, T, "patience must be a positive integer or 'auto' or None, got False"),
    ({"patience": [3]}, T, r"patience must be a positive integer or 'auto' or None, got \[3\]"),
    ({"patience": -1}, V, "patience must be a positive integer, got -1"),
    # learning_rate: a positive number or None
    ({"learning_rate": "0.1"}, T, r"learning_rate must be a positive number.*got '0.1' \(a string\); write learning_rate=0.1"),
    ({"learning_rate": "fast"}, T, r"learning_rate must be a positive number.*got 'fast' \(a string\)"),
    ({"learning_rate": True}, T, "learning_rate must be a positive number.*got True"),
    ({"learning_rate": [0.1]}, T, r"learning_rate must be a positive number.*got \[0.1\]"),
    ({"learning_rate": -0.1}, V, "learning_rate must be a positive number, got -0.1"),
    ({"learning_rate": 0}, V, "learning_rate must be a positive number, got 0"),
    ({"learning_rate": float("inf")}, V, "learning_rate must be a positive number, got inf"),
    # tolerance: a number in [0, 1) or "auto"
    ({"tolerance": True}, T, r"tolerance must be a number in \[0, 1\).*or 'auto', got True"),
    ({"tolerance": None}, T, r"tolerance must be a number in \[0, 1\).*or 'auto', got None"),
    ({"tolerance": [0.1]}, T, r"tolerance must be a number in \[0, 1\).*got \[0.1\]"),
    ({"tolerance": "0.01"}, T, r"tolerance must be a number in \[0, 1\).*got '0.01' \(a string\); write tolerance=0.01"),
    ({"tolerance": "soon"}, V, r"tolerance='soon' is not understood; pass a number in \[0, 1\)"),
    ({"tolerance": 1.5}, V, r"tolerance must be in \[0, 1\).*got 1.5"),
    ({"tolerance": -0.1}, V, r"tolerance must be in \[0, 1\).*got -0.1"),
    ({"tolerance": float("nan")}, V, r"tolerance must be in \[0, 1\).*got nan"),
    # dtype: float64 or float32, by name or numpy dtype
    ({"dtype": 5}, T, "dtype must be 'float64' or 'float32'.*got 5"),
    ({"dtype": 1.5}, T, "dtype must be 'float64' or 'float32'.*got 1.5"),
    ({"dtype": None}, T, "dtype must be 'float64' or 'float32'.*got None"),
    ({"dtype": True}, T, "dtype must be 'float64' or 'float32'.*got True"),
    ({"dtype": ["float32"]}, T, r"dtype must be 'float64' or 'float32'.*got \['float32'\]"),
    ({"dtype": "float16"}, V, r"dtype='float16' is not supported; choose 'float64' or 'float32'"),
    ({"dtype": "abc"}, V, r"dtype='abc' is not supported; choose 'float64' or 'float32'"),
    ({"dtype": np.int32}, V, r"dtype=<class 'numpy.int32'> is not supported; choose 'float64' or 'float32'"),
    # init, loss, method: names
    *[
        (setting, T, rf"{name} must be a string, one of \(.*'{choice}'.*\); got {shown}")
        for name, choice in (("init", "xavier"), ("loss", "mse"), ("method", "ann"))
        for setting, shown in (
            ({name: 5}, "5"), ({name: 1.5}, "1.5"), ({name: None}, "None"), ({name: True}, "True"),
            ({name: [choice]}, rf"\['{choice}'\]"),
        )
    ],
    ({"init": "gauss"}, V, r"init='gauss' is not known; choose one of"),
    ({"loss": "mae"}, V, r"loss='mae' is not known; choose one of"),
    ({"method": "tree"}, V, r"method='tree' is not known; choose one of \('ann', 'linear'\)"),
    # target_range: two numbers 0 <= low < high <= 1
    ({"target_range": (0.1, 0.5, 0.9)}, V, r"target_range must be two numbers \(low, high\).*got 3 values \(0.1, 0.5, 0.9\)"),
    ({"target_range": (0.5,)}, V, r"target_range must be two numbers \(low, high\).*got 1 values"),
    ({"target_range": "ab"}, T, r"target_range must be two numbers \(low, high\).*got 'ab' \(a string\)"),
    ({"target_range": 0.5}, T, r"target_range must be two numbers \(low, high\).*got 0.5"),
    ({"target_range": None}, T, r"target_range must be two numbers \(low, high\).*got None"),
    ({"target_range": True}, T, r"target_range must be two numbers \(low, high\).*got True"),
    ({"target_range": ("a", 0.9)}, T, r"target_range must be two numbers \(low, high\).*got 'a' \(a string\)"),
    ({"target_range": (False, 0.9)}, T, r"target_range must be two numbers \(low, high\).*got False"),
    ({"target_range": (0.9, 0.1)}, V, r"target_range must satisfy 0 <= low < high <= 1.*got \(0.9, 0.1\)"),
    ({"target_range": (0, 2)}, V, r"target_range must satisfy 0 <= low < high <= 1.*got \(0.0, 2.0\)"),
    ({"target_range": (float("nan"), 0.9)}, V, r"target_range must satisfy 0 <= low < high <= 1"),
    # optimizer: a name
    ({"optimizer": 5}, T, r"optimizer must be a name such as 'auto', 'lm' or 'adam' \(a string\), got 5"),
    ({"optimizer": 1.5}, T, "optimizer must be a name .* got 1.5"),
    ({"optimizer": None}, T, "optimizer must be a name .* got None"),
    ({"optimizer": True}, T, "optimizer must be a name .* got True"),
    ({"optimizer": ["lm"]}, T, r"optimizer must be a name .* got \['lm'\]"),
    ({"optimizer": "bfgs"}, V, r"optimizer='bfgs' is not known; choose one of"),
    # optimizer_options: a dict of option names
    ({"optimizer": "lm", "optimizer_options": "damping"}, T, r"optimizer_options must be a dict such as \{'damping': 0.01\}, got 'damping'"),
    ({"optimizer": "lm", "optimizer_options": 0.1}, T, r"optimizer_options must be a dict such as \{'damping': 0.01\}, got 0.1"),
    ({"optimizer": "lm", "optimizer_options": True}, T, r"optimizer_options must be a dict .* got True"),
    ({"optimizer": "lm", "optimizer_options": [("damping", 0.1)]}, T, r"optimizer_options must be a dict .* got \[\('damping', 0.1\)\]"),
    ({"optimizer": "lm", "optimizer_options": {1: 0.1}}, T, r"optimizer_options must be a dict keyed by option names.*got keys \[1\]"),
    ({"optimizer": "lm", "optimizer_options": {"bogus": 1}}, V, r"optimizer_options=\{'bogus': 1\} has unknown keys \['bogus'\]"),
]


def _id(row):
    settings = row[0] if isinstance(row, tuple) else row
    return ",".join(f"{key}={value!r}" for key, value in settings.items())


@pytest.mark.parametrize(("settings", "error", "message"), BAD_SETTINGS, ids=[_id(row) for row in BAD_SETTINGS])
def test_bad_setting_names_itself_and_what_it_takes(settings, error, message):
    with pytest.raises(error, match=message) as raised:
        FitSettings(**({"seed": 0} | settings)).validate()
    if error is TypeError:
        assert isinstance(raised.value, SettingTypeError)  # also a ValueError, as older versions raised
    else:
        assert not isinstance(raised.value, TypeError), "a wrong value is a ValueError, not a TypeError"


@pytest.mark.parametrize(
    ("validation", "error", "message"),
    [
        ([2007], T, r"validation=\[2007\] is not understood; pass a fraction in \(0, 1\).* or a selection such as"),
        (True, T, r"validation=True is not understood; pass a fraction in \(0, 1\)"),
        (np.array([0.2]), T, r"validation=array\(\[0.2\]\) \(of type ndarray\) is not understood"),
        ("all", V, r"validation='all' is not understood; pass a fraction in \(0, 1\) such as 0.2, 'auto', None"),
        (1.5, V, r"validation=1.5 is not understood"),
        (0, V, r"validation=0 is not understood"),
        (float("nan"), V, r"validation=nan is not understood"),
    ],
)
def test_bad_validation_argument(validation, error, message):
    with pytest.raises(error, match=message) as raised:
        check_validation_argument(validation)
    assert isinstance(raised.value, SettingTypeError) == (error is TypeError)


def test_numpy_validation_fraction_is_accepted_and_recorded_as_a_float():
    check_validation_argument(np.float32(0.25))
    assert type(describe_validation(np.float32(0.25))) is float


@pytest.mark.parametrize(
    ("members", "kind", "error", "message"),
    [
        (2.5, "bootstrap", T, r"members=2.5 must be a positive integer \(e.g. members=10\)"),
        ("3", "bootstrap", T, r"members='3' must be a positive integer"),
        (True, "bootstrap", T, r"members=True must be a positive integer"),
        (0, "bootstrap", V, r"members=0 must be a positive integer"),
        (3, 5, T, r"ensemble must be a string, one of \('bootstrap'.*got 5"),
        (3, "bagging", V, r"ensemble='bagging' is not known; choose one of"),
    ],
)
def test_bad_ensemble_arguments(members, kind, error, message):
    with pytest.raises(error, match=message) as raised:
        check_ensemble_arguments(members, kind)
    assert isinstance(raised.value, SettingTypeError) == (error is TypeError)


def test_numpy_scalars_are_accepted_and_normalised():
    settings = FitSettings(
        hidden=(np.int64(3), np.int32(2)), bias=np.bool_(False), seed=np.uint32(7), optimizer="adam",
        epochs=np.int16(5), batch_size=np.int64(8), patience=np.uint8(3), learning_rate=np.float32(0.5),
        tolerance=np.float64(0.01), target_range=np.array([0.2, 0.8]), dtype=np.float32,
    )
    settings.validate()
    assert (settings.hidden, settings.bias, settings.seed, settings.dtype) == ((3, 2), False, 7, "float32")
    assert (settings.epochs, settings.batch_size, settings.patience) == (5, 8, 3)
    assert (settings.learning_rate, settings.tolerance, settings.target_range) == (0.5, 0.01, (0.2, 0.8))
    for value in settings.as_dict().values():
        assert type(value) in (bool, int, float, str, list, dict), value
    for dtype in (np.dtype("float64"), np.float64, "f4", float):
        settings = FitSettings(seed=0, dtype=dtype)
        settings.validate()
        assert settings.dtype in ("float64", "float32")


def _plain(value):
    if isinstance(value, (list, tuple)):
        return all(_plain(item) for item in value)
    if isinstance(value, dict):
        return all(isinstance(key, str) and _plain(item) for key, item in value.items())
    return value is None or type(value) in (bool, int, float, str)


@pytest.mark.filterwarnings("ignore::xrann.ConvergenceWarning")  # four epochs are too few, on purpose
def test_numpy_settings_are_stored_as_plain_python_values_in_the_model():
    ds = xrann.datasets.soil_toy()
    model = ds.ann.fit(
        target="co2_flux", hidden=np.array([3, 2]), bias=np.bool_(True), seed=np.int64(1), epochs=np.int32(4),
        patience=None, tolerance=np.float32(0.001), target_range=(np.float32(0.1), np.float64(0.9)),
        dtype=np.dtype("float32"), optimizer="lm", progress=False,
    )
    hyperparameters = model.hyperparameters
    assert hyperparameters["hidden"] == [3, 2] and type(hyperparameters["bias"]) is bool
    assert type(hyperparameters["seed"]) is int and type(hyperparameters["epochs"]) is int
    assert hyperparameters["dtype"] == "float32" and type(hyperparameters["tolerance"]) is float
    assert all(type(end) is float for end in hyperparameters["target_range"])
    assert _plain(hyperparameters), hyperparameters


@pytest.mark.parametrize(
    ("drivers", "message"),
    [
        (5, r"drivers must be a list of variable names .* such as \['t2m', 'swdown'\].*got 5 \(int\)"),
        ({"t2m"}, r"drivers must be a list of variable names.*got \{'t2m'\} \(set\)"),
        ({"t2m": 1}, r"drivers must be a list of variable names.*\(dict\)"),
        ([["t2m"]], r"drivers must be a list of variable names .*got \['t2m'\] in drivers="),
    ],
)
def test_drivers_must_be_a_list_of_names(grid, drivers, message):
    with pytest.raises(TypeError, match=message):
        grid.ann.fit(target="nee", drivers=drivers, epochs=2, progress=False)


def test_drivers_may_be_a_tuple_or_an_array_of_names(grid):
    for drivers in (("t2m", "swdown"), np.array(["t2m", "swdown"])):
        model = grid.ann.fit(target="nee", drivers=drivers, method="linear", progress=False)
        assert list(model.drivers) == ["t2m", "swdown"]


def test_a_driver_whose_range_overflows_fails_in_the_scaler_before_training(monkeypatch):
    ds = make_grid_dataset(n_time=12)
    sign = np.where(np.arange(ds["t2m"].size).reshape(ds["t2m"].shape) % 2, 1.0, -1.0)
    ds = ds.assign(huge=ds["t2m"].copy(data=sign * 1e308))

    def no_training(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr(FitSettings, "initial_network", no_training)
    with pytest.raises(ValueError, match=r"driver 'huge' ranges over \[-1e\+308, 1e\+308\], whose width overflows float64"):
        ds.ann.fit(target="nee", drivers=["t2m", "huge"], seed=0, epochs=5, progress=False)
