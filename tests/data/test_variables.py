"""Finding variables by name or CF standard name, and which variables are drivers (xrann.data.variables)."""

import numpy as np
import pytest

from xrann.data.variables import check_driver_dims, check_units, resolve_variable, select_variables


def test_resolve_by_name_and_cf_standard_name(grid):
    assert resolve_variable(grid, "t2m") == "t2m"
    assert resolve_variable(grid, "air_temperature") == "t2m"
    with pytest.raises(KeyError, match=r"driver 'vpd' not found.*data variables: nee, t2m, swdown, landcover.*air_temperature"):
        resolve_variable(grid, "vpd", "driver")
    with pytest.raises(KeyError, match="is a coordinate, not a data variable"):
        resolve_variable(grid, "lat", "driver")
    twin = grid.assign(t2 = grid["t2m"])
    with pytest.raises(KeyError, match="ambiguous"):
        resolve_variable(twin, "air_temperature")


def test_drivers_none_takes_numeric_variables_on_the_target_grid(grid):
    extra = grid.assign(
        cell_area=(("lat", "lon"), np.ones((6, 8))),
        level_temp=(("time", "lat", "lon", "level"), np.zeros((24, 6, 8, 2))),
        label=("time", np.array(["a"] * 24)),
        scalar=((), 1.0),
    )
    extra["nee"].attrs["cell_measures"] = "area: cell_area"
    target, drivers = select_variables(extra, "nee", None)
    assert target == "nee"
    assert drivers == ["t2m", "swdown", "landcover"]


def test_driver_list_errors_name_the_fix(grid):
    with pytest.raises(ValueError, match=r"drivers=\[\] is empty"):
        select_variables(grid, "nee", [])
    with pytest.raises(ValueError, match=r"drivers \['t2m'\] are listed more than once"):
        select_variables(grid, "nee", ["t2m", "air_temperature"])
    assert select_variables(grid, "nee", "t2m") == ("nee", ["t2m"])
    lonely = grid[["nee"]].assign(label=("time", np.array(["a"] * 24)))
    with pytest.raises(ValueError, match="drivers=None found no numeric variable"):
        select_variables(lonely, "nee", None)


def test_driver_dims_and_units_checks(grid):
    profile = grid.assign(profile=(("time", "lat", "lon", "level"), np.zeros((24, 6, 8, 2))))
    with pytest.raises(ValueError, match=r"driver 'profile' has dimension 'level'.*isel\(level=0\)"):
        check_driver_dims(profile, ["profile"], ("time", "lat", "lon"), "nee")
    check_driver_dims(grid, ["landcover"], ("time", "lat", "lon"))  # a static map is fine
    check_units(grid, ["t2m", "swdown"], {"t2m": "K", "swdown": None})
    with pytest.raises(ValueError, match="driver 't2m' has units 'K' but the model was trained with 'degC'"):
        check_units(grid, ["t2m"], {"t2m": "degC"})
