"""Grid-cell areas: the CF cell measure of a variable, or areas of a regular latitude/longitude grid.

Used for area weights wherever they are needed: sample weights of a fit
(``weights="cell_area"``) and area-weighted means and budgets of the analyses
(`xrann.evaluation` re-exports `find_cell_area`).
"""

from __future__ import annotations

from collections.abc import Hashable

import cf_xarray  # noqa: F401  (registers the .cf accessor)
import numpy as np
import xarray as xr
from cf_xarray.utils import parse_cell_methods_attr

__all__ = ["find_cell_area", "find_coordinate", "spherical_cell_area", "EARTH_RADIUS_M"]

EARTH_RADIUS_M = 6_371_000.0
_AREA_UNITS = {"m2": 1.0, "km2": 1e6}


def find_cell_area(ds: xr.Dataset, variable: Hashable | None = None) -> xr.DataArray | None:
    """The CF cell-area measure of ``variable`` (its ``cell_measures = "area: ..."``), or of the Dataset.

    Parameters
    ----------
    ds : xarray.Dataset
    variable : hashable, optional
        Variable whose ``cell_measures`` attribute is read first; without it,
        or when it names no area, the Dataset's single CF area measure is used.

    Returns
    -------
    xarray.DataArray or None
        Cell areas in m2 (converted from km2 when so labelled); ``None`` when
        the Dataset declares none.

    Raises
    ------
    ValueError
        A cell-measure attribute naming a missing variable, or area units other than m2 or km2.

    Examples
    --------
    >>> ds = xr.Dataset({"nee": ("x", [1.0], {"cell_measures": "area: cell_area"}),
    ...                  "cell_area": ("x", [2.0], {"units": "km2"})})
    >>> find_cell_area(ds, "nee").values
    array([2000000.])
    """
    name = None
    if variable is not None and "cell_measures" in ds[variable].attrs:
        name = parse_cell_methods_attr(ds[variable].attrs["cell_measures"]).get("area")
        if name is not None and name not in ds.variables:
            raise ValueError(
                f"{variable!r} has cell_measures {ds[variable].attrs['cell_measures']!r} but the Dataset has no "
                f"variable {name!r}; add it, or drop the attribute to weight by cos(latitude)."
            )
    if name is None:
        candidates = ds.cf.cell_measures.get("area", [])
        if len(candidates) != 1 or candidates[0] not in ds.variables:
            return None
        name = candidates[0]
    area = ds[name]
    units = str(area.attrs.get("units", "m2")).replace("^", "").replace("**", "").replace(" ", "")
    if units not in _AREA_UNITS:
        raise ValueError(f"cell area {name!r} has units {area.attrs['units']!r}; xrann reads m2 or km2.")
    return (area * _AREA_UNITS[units]).assign_attrs(units="m2", long_name="grid cell area", source=f"CF cell measure {name!r}")


def find_coordinate(data: xr.DataArray, key: str) -> xr.DataArray | None:
    """The coordinate cf-xarray finds for ``key`` ("latitude", "longitude"), guessing from names if need be.

    Parameters
    ----------
    data : xarray.DataArray
    key : str
        A CF coordinate key such as ``"latitude"``.

    Returns
    -------
    xarray.DataArray or None

    Examples
    --------
    >>> data = xr.DataArray([1.0, 1.0], dims="lat", coords={"lat": [0.0, 60.0]})
    >>> find_coordinate(data, "latitude").name, find_coordinate(data, "longitude") is None
    ('lat', True)
    """
    try:
        return data.cf.guess_coord_axis(verbose=False).cf[key]
    except KeyError:
        return None


def spherical_cell_area(data: xr.DataArray) -> xr.DataArray | None:
    """Cell areas of a regular 1-D latitude/longitude grid on a sphere, from the coordinates' bounds.

    Parameters
    ----------
    data : xarray.DataArray
        Supplies the latitude and longitude coordinates (found through cf-xarray).

    Returns
    -------
    xarray.DataArray or None
        Areas in m2 on the latitude and longitude dims; ``None`` without 1-D latitude and
        longitude coordinates of at least two points each.

    Examples
    --------
    >>> data = xr.DataArray(np.zeros((2, 2)), dims=("lat", "lon"), coords={"lat": [0.5, 60.5], "lon": [0.5, 1.5]})
    >>> area = spherical_cell_area(data)
    >>> area.dims, bool(area[1, 0] < area[0, 0])
    (('lat', 'lon'), True)
    """
    latitude, longitude = find_coordinate(data, "latitude"), find_coordinate(data, "longitude")
    if latitude is None or longitude is None:
        return None
    if latitude.ndim != 1 or longitude.ndim != 1 or latitude.size < 2 or longitude.size < 2:
        return None
    coords = xr.Dataset(coords={latitude.name: latitude, longitude.name: longitude})
    bounded = coords.cf.add_bounds([latitude.name, longitude.name])
    lat_bounds = np.deg2rad(np.clip(bounded.cf.get_bounds(latitude.name), -90, 90))
    lon_bounds = np.deg2rad(bounded.cf.get_bounds(longitude.name))
    bounds_dim = [d for d in lat_bounds.dims if d != latitude.dims[0]][0]
    band = abs(np.sin(lat_bounds).diff(bounds_dim)).squeeze(bounds_dim, drop=True)
    width = abs(lon_bounds.diff(bounds_dim)).squeeze(bounds_dim, drop=True)
    area = EARTH_RADIUS_M**2 * band * width
    return area.drop_vars([c for c in area.coords if c not in (latitude.name, longitude.name)]).assign_attrs(
        units="m2", long_name="grid cell area", source="estimated from latitude/longitude bounds on a sphere of radius 6371 km"
    )
