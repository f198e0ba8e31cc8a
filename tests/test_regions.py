"""Regional and biome budgets: labels on the grid or regionmask polygons; regions add up to the domain."""

import numpy as np
import pytest
import regionmask
import xarray as xr

from xrann.evaluation import evaluate
from xrann.regions import region_labels, split_by_region


@pytest.fixture(scope="module")
def fitted_grid():
    from tests.conftest import make_grid_dataset

    ds = make_grid_dataset()
    model = ds.ann.fit(target="nee", drivers=["t2m", "swdown", "landcover"], seed=0, epochs=100, progress=False)
    return ds, model


def biomes(ds, fill=""):
    """Three string biomes by longitude; the first row unlabelled when ``fill`` is given."""
    lon = ds["lon"].values
    names = np.where(lon < -97, "grass", np.where(lon < -95, "forest", "crop"))
    labels = np.broadcast_to(names, (ds.sizes["lat"], ds.sizes["lon"])).astype(object).copy()
    labels[0, :] = fill
    return xr.DataArray(labels, dims=("lat", "lon"), coords={"lat": ds["lat"], "lon": ds["lon"]})


def assert_regions_add_up(result):
    total = result["regional_budget"].sum("region") + result["budget_outside_regions"]
    np.testing.assert_allclose(total.transpose(*result["budget"].dims).values, result["budget"].values, rtol=1e-12)


def test_string_labels_give_budgets_per_region_adding_up_to_the_domain(fitted_grid):
    ds, model = fitted_grid
    result = evaluate(ds, model, regions=biomes(ds))
    assert result["region"].values.tolist() == ["crop", "forest", "grass"]
    assert set(result["regional_budget"].dims) == {"source", "region", "year"}
    assert set(result["regional_iav"].dims) == {"source", "region"}
    assert_regions_add_up(result)
    # the row without a label is outside every region: its budget is the remainder, not lost
    assert float(abs(result["budget_outside_regions"]).sum()) > 0
    # one region alone equals the domain budget of the data masked to that region
    forest = biomes(ds) == "forest"
    masked = evaluate(ds.where(forest), model)
    np.testing.assert_allclose(
        result["regional_budget"].sel(region="forest").transpose(*masked["budget"].dims).values, masked["budget"].values, rtol=1e-12
    )


def test_integer_labels_covering_every_cell_sum_to_the_domain_exactly(fitted_grid):
    ds, model = fitted_grid
    codes = xr.DataArray((ds["lat"] > ds["lat"].mean()).astype(int) + 2 * (ds["lon"] > ds["lon"].mean()).astype(int))
    result = evaluate(ds, model, regions=codes.transpose("lat", "lon"))
    assert result["region"].values.tolist() == [0, 1, 2, 3]
    np.testing.assert_array_equal(result["budget_outside_regions"].values, 0.0)
    assert_regions_add_up(result)


def test_regionmask_polygons_become_labels(fitted_grid):
    ds, model = fitted_grid
    west = [[-102, 28], [-97, 28], [-97, 40], [-102, 40]]
    east = [[-97, 28], [-90, 28], [-90, 40], [-97, 40]]
    regions = regionmask.Regions([west, east], names=["west", "east"], abbrevs=["W", "E"])
    labels = region_labels(regions, ds["nee"])
    expected = np.where(ds["lon"].values < -97, "W", "E")
    assert (labels.values == expected[None, :]).all()
    result = evaluate(ds, model, regions=regions)
    assert result["region"].values.tolist() == ["E", "W"]
    assert_regions_add_up(result)


def test_split_by_region_covers_every_cell_once():
    field = xr.DataArray(np.arange(6.0).reshape(2, 3), dims=("lat", "lon"))
    labels = xr.DataArray([[1.0, 2.0, np.nan], [2.0, 2.0, 1.0]], dims=("lat", "lon"))
    by_region, outside = split_by_region(field, labels)
    assert by_region["region"].values.tolist() == [1, 2]
    np.testing.assert_array_equal(by_region.sum(["lat", "lon"]).values, [0.0 + 5.0, 1.0 + 3.0 + 4.0])
    assert float(outside.sum()) == 2.0


def test_bad_regions_fail_before_any_computation(fitted_grid):
    ds, model = fitted_grid
    with pytest.raises(ValueError, match=r"dims \('x',\).*\['x'\] is not on the grid"):
        evaluate(ds, model, regions=xr.DataArray([1, 2], dims="x"))
    shifted = biomes(ds).assign_coords(lon=ds["lon"] + 0.25)
    with pytest.raises(ValueError, match=r"'lon' coordinate differs from the data's.*reindex_like"):
        evaluate(ds, model, regions=shifted)
    with pytest.raises(ValueError, match="the regions cover no cell of the grid"):
        evaluate(ds, model, regions=xr.full_like(biomes(ds), np.nan, dtype=float))
    with pytest.raises(TypeError, match="regions= must be a DataArray of region labels"):
        evaluate(ds, model, regions={"west": [1, 2]})
    far = regionmask.Regions([[[10, 10], [20, 10], [20, 20], [10, 20]]], names=["far"], abbrevs=["F"])
    with pytest.raises(ValueError, match="the regions cover no cell of the grid"):
        evaluate(ds, model, regions=far)


def test_regions_on_a_cell_list_match_the_grid(fitted_grid):
    from xrann import grid_to_cells

    ds, model = fitted_grid
    west = [[-102, 28], [-97, 28], [-97, 40], [-102, 40]]
    regions = regionmask.Regions([west], names=["west"], abbrevs=["W"])
    cells = grid_to_cells(ds)
    labels = region_labels(regions, cells["nee"])
    assert labels.dims == cells["lat"].dims
    np.testing.assert_array_equal(labels.values == "W", cells["lon"].values < -97)
    result = evaluate(cells, model, regions=regions)
    assert_regions_add_up(result)
