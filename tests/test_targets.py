"""`xrann.targets`: analyses of several targets stacked along a target dim, every target checked first."""

import numpy as np
import pytest
import xarray as xr

import xrann
from xrann.targets import TARGET_DIM, per_target, stack_targets


@pytest.fixture(scope="module")
def model():
    x = np.linspace(0.0, 1.0, 60)
    ds = xr.Dataset({"a": ("s", x), "y": ("s", x**2, {"units": "g"}), "z": ("s", 1 - x, {"units": "kg"})})
    return ds.ann.fit(target=["y", "z"], drivers=["a"], seed=0, epochs=5, progress=False)


def test_stack_targets_labels_the_dim_and_keeps_each_targets_units():
    parts = [xr.Dataset({"r2": ((), 0.5)}, attrs={"method": "m", "period": 1}),
             xr.Dataset({"r2": ((), 0.7)}, attrs={"method": "m", "period": 2})]
    stacked = stack_targets(parts, ["nee", "gpp"], units=["umol m-2 s-1", "W m-2"])
    assert stacked["r2"].dims == (TARGET_DIM,)
    assert stacked[TARGET_DIM].values.tolist() == ["nee", "gpp"] and stacked[TARGET_DIM].dtype == object
    assert stacked["target_units"].values.tolist() == ["umol m-2 s-1", "W m-2"]
    assert stacked.attrs == {"method": "m"}  # attributes the targets do not share are dropped


def test_per_target_runs_each_single_target_model(model):
    seen = []
    result = per_target(model, lambda single: seen.append(single.target) or xr.DataArray(float(single.target_scaler.maximum[0])),
                        name="largest")
    assert seen == ["y", "z"] and result.name == "largest"
    np.testing.assert_allclose(result.values, [1.0, 1.0])
    assert result["target_units"].values.tolist() == ["g", "kg"]
    single = model.for_target("y")
    assert per_target(single, lambda m: m.target) == "y"  # a single-target model: the analysis itself


def test_per_target_checks_every_target_before_any_analysis(model):
    ran = []

    def check(single):
        if single.target == "z":
            raise KeyError("no observations of 'z'")

    with pytest.raises(KeyError, match=r"for the target 'z' of this model of several targets: no observations of 'z'.*model.for_target"):
        per_target(model, lambda single: ran.append(single.target), check=check)
    assert ran == []
