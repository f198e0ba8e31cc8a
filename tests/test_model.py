"""Model files: netCDF round trips through xarray, bit-identical predictions, format errors."""

import numpy as np
import pytest
import xarray as xr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import xrann
from xrann.model import FORMAT_VERSION, ModelFormatError


def test_round_trip_gives_bit_identical_predictions(fitted, tmp_path):
    grid, model = fitted
    path = tmp_path / "nee_ann.nc"
    model.to_netcdf(path)
    loaded = xrann.open_model(path)
    np.testing.assert_array_equal(grid.ann.predict(loaded).values, grid.ann.predict(model).values)
    assert loaded.drivers == model.drivers and loaded.target == "nee"
    assert loaded.driver_units == {"t2m": "K", "swdown": "W m-2", "landcover": "1"}
    assert loaded.sample_dims == ("time", "lat", "lon")
    assert loaded.hyperparameters == model.hyperparameters
    assert loaded.sample_counts == model.sample_counts
    xr.testing.assert_identical(loaded.history, model.history)
    assert loaded.version == xrann.__version__


def test_file_is_plain_netcdf_with_documented_layout(fitted, tmp_path):
    _, model = fitted
    path = tmp_path / "m.nc"
    model.to_netcdf(path)
    with xr.open_dataset(path) as raw:
        assert raw.attrs["xrann_format"] == "xrann-model"
        assert raw.attrs["xrann_format_version"] == FORMAT_VERSION
        assert list(raw["driver"].values) == ["t2m", "swdown", "landcover"]
        assert raw["core_weight_0"].shape == (3, 4)
        assert raw["core_bias_1"].shape == (1,)
        assert "history_loss" in raw


@pytest.mark.filterwarnings("ignore::xrann.ConvergenceWarning")  # 3 epochs: only the file round trip matters here
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    hidden=st.lists(st.integers(1, 5), min_size=1, max_size=3),
    bias=st.booleans(),
    dtype=st.sampled_from(["float32", "float64"]),
    seed=st.integers(0, 2**31),
)
def test_hypothesis_round_trip_any_architecture(tmp_path_factory, hidden, bias, dtype, seed):
    ds = xrann.datasets.soil_toy(dry=True)
    model = ds.ann.fit(target="co2_flux", hidden=tuple(hidden), bias=bias, dtype=dtype, seed=seed, epochs=3, progress=False)
    path = tmp_path_factory.mktemp("models") / "m.nc"
    model.to_netcdf(path)
    loaded = xrann.open_model(path)
    sites = xrann.datasets.soil_toy_sites()
    np.testing.assert_array_equal(sites.ann.predict(loaded).values, sites.ann.predict(model).values)
    assert loaded.core.sizes == (2, *hidden, 1)
    assert (loaded.core.biases is None) == (not bias)
    assert loaded.dtype == dtype


def test_linear_model_round_trip(grid, tmp_path):
    model = grid.ann.fit(target="nee", drivers=["t2m", "swdown"], method="linear")
    model.to_netcdf(tmp_path / "lin.nc")
    loaded = xrann.open_model(tmp_path / "lin.nc")
    assert loaded.method == "linear"
    np.testing.assert_array_equal(grid.ann.predict(loaded).values, grid.ann.predict(model).values)


def test_not_a_model_and_newer_format(fitted, tmp_path):
    grid, model = fitted
    grid.to_netcdf(tmp_path / "data.nc")
    with pytest.raises(ModelFormatError, match="not an xrann model file"):
        xrann.open_model(tmp_path / "data.nc")
    newer = model.to_dataset()
    newer.attrs["xrann_format_version"] = FORMAT_VERSION + 1
    newer.to_netcdf(tmp_path / "newer.nc")
    with pytest.raises(ModelFormatError, match=f"format version {FORMAT_VERSION + 1}.*upgrade xrann"):
        xrann.open_model(tmp_path / "newer.nc")
    with pytest.raises(FileNotFoundError, match="no model file"):
        xrann.open_model(tmp_path / "missing.nc")


def test_repr_is_short_and_informative(fitted):
    _, model = fitted
    text = repr(model)
    assert "nee ~ t2m, swdown, landcover" in text and "3 -> 4 -> 1" in text
    assert "\n" not in text


def test_a_file_that_is_not_netcdf(tmp_path):
    path = tmp_path / "garbage.nc"
    path.write_text("not a netCDF file")
    with pytest.raises(ModelFormatError, match=r"cannot read '.*garbage.nc' as a netCDF model file"):
        xrann.open_model(path)


def test_version_2_file_still_reads(fitted, tmp_path):
    _, model = fitted
    old = model.to_dataset()
    old.attrs["xrann_format_version"] = 2
    old.to_netcdf(tmp_path / "v2.nc")
    loaded = xrann.open_model(tmp_path / "v2.nc")
    assert "weights" not in loaded.hyperparameters
    for ours, theirs in zip(loaded.core.parameters, model.core.parameters):
        np.testing.assert_array_equal(ours, theirs)
