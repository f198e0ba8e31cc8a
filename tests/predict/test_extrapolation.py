"""Extrapolation flags: training range, k-means training envelope, masking predictions, persistence."""

import numpy as np
import pytest
import xarray as xr

import xrann
from xrann.core.envelope import Envelope, kmeans
from xrann.predict.extrapolation import DEFAULT_DISTANCE_THRESHOLD, resolve_threshold


@pytest.fixture(scope="module")
def moist_model():
    return xrann.datasets.soil_toy().ann.fit(target="co2_flux", seed=0, progress=False)


def test_moist_only_model_flags_dry_and_coarse_sites(moist_model):
    sites = xrann.datasets.soil_toy_sites()
    flags = sites.ann.extrapolation(moist_model)
    at = {(m, g): i for i, (m, g) in enumerate(zip(sites.soil_moisture.values, sites.grain_size.values))}
    for site in [(15.0, 0.1), (2.0, 0.1), (80.0, 2.3)]:
        assert bool(flags["outside_range"][at[site]]), site
        assert float(flags["envelope_distance"][at[site]]) > 1, site
    # training range: moisture 34-58 %, grain size 0.3-1.3 mm; only (40, 0.3) lies inside it
    np.testing.assert_array_equal(flags["outside_range"].values, [True, True, False, True, True, True])
    assert flags["outside_range"].dtype == bool
    xr.testing.assert_identical(flags["site"], sites["site"])
    assert flags["envelope_distance"].attrs["units"] == "1"


def test_training_samples_are_inside_and_mostly_within_the_envelope(fitted):
    grid, model = fitted
    flags = grid.ann.extrapolation(model)
    valid = grid["nee"].notnull()
    assert not bool(flags["outside_range"].where(valid, False).any())
    distance = flags["envelope_distance"].where(valid)
    # the reference is the 95th percentile of the training distances
    assert float((distance <= 1).sum() / valid.sum()) == pytest.approx(0.95, abs=0.01)
    assert flags["envelope_distance"].dims == grid["nee"].dims
    assert bool(flags["envelope_distance"].isnull().equals(~valid))


def test_lazy_on_dask_and_equal_to_numpy(fitted):
    grid, model = fitted
    lazy = grid.chunk({"time": 5}).ann.extrapolation(model)
    assert lazy["envelope_distance"].chunks is not None and lazy["outside_range"].chunks is not None
    xr.testing.assert_identical(lazy.compute(), grid.ann.extrapolation(model))


def test_shifted_drivers_are_flagged(fitted):
    grid, model = fitted
    hot = grid.assign(t2m=grid["t2m"] + 40.0)
    hot["t2m"].attrs = grid["t2m"].attrs
    flags = hot.ann.extrapolation(model)
    valid = grid["nee"].notnull()
    assert bool(flags["outside_range"].where(valid, True).all())
    assert float(flags["envelope_distance"].where(valid).min()) > 1


def test_mask_extrapolation_sets_flagged_cells_to_nan(moist_model):
    sites = xrann.datasets.soil_toy_sites()
    plain = sites.ann.predict(moist_model)
    masked = sites.ann.predict(moist_model, mask_extrapolation=True)
    np.testing.assert_array_equal(masked.isnull().values, [True, True, False, True, True, True])
    assert float(masked[2]) == float(plain[2])
    assert masked.name == plain.name and masked.attrs == plain.attrs
    distance = float(sites.ann.extrapolation(moist_model)["envelope_distance"][2])
    strict = sites.ann.predict(moist_model, mask_extrapolation=distance / 2)
    assert int(strict.count()) == 0


@pytest.mark.parametrize("threshold", [-1.0, 0, "yes", False])
def test_bad_threshold(moist_model, threshold):
    with pytest.raises(ValueError, match="mask_extrapolation=.* is not understood"):
        resolve_threshold(threshold)
    if threshold is not False:  # False means no masking to predict()
        with pytest.raises(ValueError, match="mask_extrapolation=.* is not understood"):
            xrann.datasets.soil_toy_sites().ann.predict(moist_model, mask_extrapolation=threshold)


def test_threshold_true_is_the_default_distance():
    assert resolve_threshold(True) == DEFAULT_DISTANCE_THRESHOLD == 2.0
    assert resolve_threshold(np.float32(1.5)) == 1.5


def test_missing_driver_is_a_clear_error(moist_model):
    sites = xrann.datasets.soil_toy_sites().drop_vars("grain_size")
    with pytest.raises(KeyError, match=r"\['grain_size'\] are missing"):
        sites.ann.extrapolation(moist_model)


def test_envelope_is_saved_with_the_model(fitted, tmp_path):
    grid, model = fitted
    model.to_netcdf(tmp_path / "m.nc")
    loaded = xrann.open_model(tmp_path / "m.nc")
    np.testing.assert_array_equal(loaded.envelope.centroids, model.envelope.centroids)
    assert loaded.envelope.reference_distance == model.envelope.reference_distance
    xr.testing.assert_identical(grid.ann.extrapolation(loaded), grid.ann.extrapolation(model))
    with xr.open_dataset(tmp_path / "m.nc") as raw:
        assert raw["envelope_centroid"].dims == ("envelope_cluster", "driver")
        assert raw.sizes["envelope_cluster"] == 32


def test_version_1_file_without_envelope_still_reads(fitted, tmp_path):
    grid, model = fitted
    old = model.to_dataset().drop_vars("envelope_centroid")
    old.attrs["xrann_format_version"] = 1
    for key in ("envelope_reference_distance", "envelope_quantile"):
        del old.attrs[key]
    old.to_netcdf(tmp_path / "v1.nc")
    loaded = xrann.open_model(tmp_path / "v1.nc")
    assert loaded.envelope is None
    flags = grid.ann.extrapolation(loaded)
    assert bool(flags["envelope_distance"].isnull().all())
    xr.testing.assert_identical(flags["outside_range"], grid.ann.extrapolation(model)["outside_range"])
    np.testing.assert_array_equal(grid.ann.predict(loaded).values, grid.ann.predict(model).values)


def test_kmeans_is_seeded_and_finds_separated_clusters():
    rng = np.random.default_rng(1)
    centres = np.array([[0.0, 0.0], [5.0, 5.0], [0.0, 5.0]])
    points = np.concatenate([centre + 0.1 * rng.standard_normal((50, 2)) for centre in centres])
    found = kmeans(points, 3, np.random.default_rng(0))
    nearest = np.sqrt(((found[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2))
    assert sorted(nearest.argmin(axis=1)) == [0, 1, 2] and nearest.min(axis=1).max() < 0.05
    np.testing.assert_array_equal(found, kmeans(points, 3, np.random.default_rng(0)))
    with pytest.raises(ValueError, match="n_clusters must be between 1 and the number of points"):
        kmeans(points, 0, np.random.default_rng(0))


def test_envelope_of_identical_samples_and_of_few_samples():
    envelope = Envelope.fit(np.full((5, 2), 0.5), seed=0)
    assert envelope.centroids.shape == (1, 2)
    assert envelope.distance(np.array([[0.5, 0.5]]))[0] == 0
    assert envelope.distance(np.array([[0.6, 0.5]]))[0] > 1e6
    with pytest.raises(ValueError, match="at least one sample"):
        Envelope.fit(np.empty((0, 2)), seed=0)
