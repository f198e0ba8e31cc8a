"""Label selections as boolean masks on the sample grid (xrann.data.selection)."""

import numpy as np
import pytest

from xrann.data.selection import selection_mask

DIMS = ("time", "lat", "lon")


def test_selection_mask_years_slices_and_errors(grid):
    by_year = selection_mask(grid, {"time": [2008]}, DIMS)
    assert by_year.dims == DIMS and int(by_year.isel(lat=0, lon=0).sum()) == 12
    by_slice = selection_mask(grid, {"time": slice("2007-03", "2007-05")}, DIMS)
    assert int(by_slice.isel(lat=0, lon=0).sum()) == 3
    both = selection_mask(grid, {"time": [2007], "lat": slice(31, 33)}, DIMS)
    assert int(both.sum()) == 12 * 2 * 8
    with pytest.raises(ValueError, match=r"years \[2015\] are not in dim 'time', which spans the years 2007-2008"):
        selection_mask(grid, {"time": [2015]}, DIMS)
    with pytest.raises(ValueError, match="dim 'depth', which the Dataset lacks"):
        selection_mask(grid, {"depth": [1]}, DIMS)


def test_selection_mask_is_boolean_on_the_sample_dims_without_coordinates(grid):
    mask = selection_mask(grid, {"lat": [30.5]}, DIMS)
    assert mask.dtype == bool and mask.dims == DIMS and not mask.coords
    np.testing.assert_array_equal(mask.values.sum(axis=(0, 2)), [24 * 8, 0, 0, 0, 0, 0])
    with pytest.raises(ValueError, match=r"validation=\{\} selects nothing"):
        selection_mask(grid, {}, DIMS)
