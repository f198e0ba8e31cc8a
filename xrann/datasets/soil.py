"""The soil-moisture / grain-size toy of the teaching notebook.

Three moist training sites, two extra dry ones, six sites to predict, and a
regular grid for mapping the response surface. Fluxes are in arbitrary units.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

__all__ = ["soil_toy", "soil_toy_sites", "soil_grid"]

_MOIST_SITES = [(58.0, 1.3, 166.0), (34.0, 1.3, 100.0), (58.0, 0.3, 100.0)]
_DRY_SITES = [(15.0, 0.1, 5.0), (87.0, 0.2, 12.0)]
_PREDICTION_SITES = [(22.0, 0.7), (80.0, 2.3), (40.0, 0.3), (15.0, 0.1), (2.0, 0.1), (80.0, 0.3)]

_MOISTURE_ATTRS = {"units": "%", "long_name": "soil moisture", "standard_name": "volume_fraction_of_condensed_water_in_soil"}
_GRAIN_ATTRS = {"units": "mm", "long_name": "soil grain size"}
_FLUX_ATTRS = {"units": "1", "long_name": "CO2 flux (arbitrary units)"}


def _sites_dataset(moisture, grain, flux=None, description="") -> xr.Dataset:
    site = np.arange(len(moisture))
    data_vars = {
        "soil_moisture": ("site", np.asarray(moisture, dtype=float), _MOISTURE_ATTRS),
        "grain_size": ("site", np.asarray(grain, dtype=float), _GRAIN_ATTRS),
    }
    if flux is not None:
        data_vars["co2_flux"] = ("site", np.asarray(flux, dtype=float), _FLUX_ATTRS)
    return xr.Dataset(data_vars, coords={"site": site}, attrs={"title": "xrann soil toy", "description": description})


def soil_toy(dry: bool = False) -> xr.Dataset:
    """Training sites of the soil toy: CO2 flux from soil moisture and grain size.

    Parameters
    ----------
    dry : bool, default False
        Add the two dry sites (15 %, 0.1 mm) -> 5 and (87 %, 0.2 mm) -> 12 to
        the three moist ones.

    Returns
    -------
    xarray.Dataset
        Dim ``site``; variables ``soil_moisture`` (%), ``grain_size`` (mm) and ``co2_flux``.

    Examples
    --------
    >>> soil_toy()["co2_flux"].values.tolist()
    [166.0, 100.0, 100.0]
    >>> soil_toy(dry=True).sizes["site"]
    5
    """
    rows = _MOIST_SITES + (_DRY_SITES if dry else [])
    moisture, grain, flux = zip(*rows)
    kind = "moist and dry" if dry else "moist only"
    return _sites_dataset(moisture, grain, flux, f"soil toy training sites ({kind})")


def soil_toy_sites() -> xr.Dataset:
    """The six sites to predict, without flux.

    Returns
    -------
    xarray.Dataset
        Dim ``site``; ``soil_moisture`` and ``grain_size`` at (22, 0.7), (80, 2.3),
        (40, 0.3), (15, 0.1), (2, 0.1) and (80, 0.3).

    Examples
    --------
    >>> soil_toy_sites()["soil_moisture"].values.tolist()
    [22.0, 80.0, 40.0, 15.0, 2.0, 80.0]
    """
    moisture, grain = zip(*_PREDICTION_SITES)
    return _sites_dataset(moisture, grain, description="soil toy prediction sites")


def soil_grid(n_moisture: int = 51, n_grain: int = 26) -> xr.Dataset:
    """A regular grid over soil moisture 0-100 % x grain size 0-2.5 mm, for response-surface maps.

    Parameters
    ----------
    n_moisture, n_grain : int
        Grid points along each axis.

    Returns
    -------
    xarray.Dataset
        Dims ``(moisture, grain)`` with coordinates in % and mm, and the drivers
        ``soil_moisture`` and ``grain_size`` broadcast over the grid.

    Examples
    --------
    >>> soil_grid(3, 2)["soil_moisture"].dims
    ('moisture', 'grain')
    """
    moisture = np.linspace(0.0, 100.0, n_moisture)
    grain = np.linspace(0.0, 2.5, n_grain)
    coords = {
        "moisture": ("moisture", moisture, {"units": "%", "long_name": "soil moisture"}),
        "grain": ("grain", grain, {"units": "mm", "long_name": "soil grain size"}),
    }
    moisture_2d, grain_2d = np.meshgrid(moisture, grain, indexing="ij")
    return xr.Dataset(
        {
            "soil_moisture": (("moisture", "grain"), moisture_2d, _MOISTURE_ATTRS),
            "grain_size": (("moisture", "grain"), grain_2d, _GRAIN_ATTRS),
        },
        coords=coords,
        attrs={"title": "xrann soil toy response-surface grid"},
    )
