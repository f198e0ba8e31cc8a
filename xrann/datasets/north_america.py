"""Synthetic North America NEE: gridded drivers and a known process-model truth.

`north_america_nee` builds a CF-compliant Dataset with the shape, metadata
and physics of an atmospheric-inversion / reanalysis study of net ecosystem
exchange (NEE) over North America, whose true relation between drivers and
NEE is known because it is written down here. Real inversion and reanalysis
files cannot be shipped; this generator can, for any resolution, period and
time step, eagerly or lazily through dask.

Grid and mask
-------------
Regular latitude/longitude cells over 10°N-80°N, 170°W-50°W (cell centres
10.5 ... 79.5 and -169.5 ... -50.5 at 1°). A cell is land when most of 9
sub-points (a 3 x 3 lattice inside it) are land in the 1 km `global-land-mask`;
every variable except ``cell_area`` is NaN over sea. At 1° there are 3,119
land cells (2°: 776, 0.25°: about 50,000). ``cell_area`` is exact for a sphere
of radius R = 6,371,007.2 m:
``R**2 * radians(dlon) * (sin(lat_north) - sin(lat_south))``.

Drivers
-------
All fields are analytic functions of latitude, longitude and time:

* ``t2m``: annual mean falls with latitude and elevation (a Cordillera and a
  Greenland ice dome); the seasonal half-range grows with latitude and with
  continentality (a smoothed, westerly-upwind land fraction), so the west
  coast is maritime and the interior has cold winters.
* ``precip``: a humid east with a wet Gulf coast, wet-winter Pacific
  Northwest and California, a spring-summer maximum over the Great Plains, a
  dry Great Basin and southwest, the North American monsoon (July-September
  over northwest Mexico and Arizona), a summer rainy season in southern
  Mexico, and dry Arctic summers.
* ``swdown``: daily-mean top-of-atmosphere insolation for the latitude and
  day of year times a clear-sky transmissivity, reduced by cloud, which
  grows with precipitation.
* ``rh``: from precipitation, distance to sea, cold and the deserts of the
  southwest (which also heat up in summer); ``vpd`` from ``t2m`` and ``rh``
  with the Tetens formula.
* ``soilm`` (0-1 m layer): a bucket-like response to water supply minus
  demand, ``theta = 0.06 + 0.36 * s(B + 1.2)`` m3 m-3 (``s`` the logistic
  function), where ``B`` is ``P - PET`` (mm/day) averaged over the current
  and seven previous months with exponentially decaying weights (e-folding
  2.5 months), and ``PET = 0.022 * swdown * clip(0.41 + 0.0127 T, 0.2, 0.85)
  * s(T / 2)`` is a Priestley-Taylor-like demand that vanishes in frost.
  The lag is a closed-form sum over analytic fields, so any block of time
  can be computed on its own, without recursion over the time axis.
* ``forest_fraction``: high where it is warm and wet enough, low in the
  Great Plains crop and grass belt, the dry southwest and the tundra.
  ``stand_age``: a smooth random map, older in the north-west.
* Weather: month-to-month anomaly fields (random-phase sinusoids in
  latitude and longitude, seeded by ``seed``, the year and the month, linearly
  interpolated between mid-month knots) and year-to-year anomaly fields
  (knots in mid-year). Hot anomalies come with dry ones in summer.

Warming trend and documented anomalies
--------------------------------------
On top of the weather, temperature rises by 0.3 K per decade everywhere
(``+0.03 K`` times the years since 1 July 2011, the middle of 2007-2015), and
the period's documented regional anomalies are added (``EVENTS``; places,
seasons and rounded magnitudes after NOAA NCEI's monthly U.S. and global
climate reports and Environment Canada's seasonal summaries). Each is a
Gaussian in time (e-folding ``duration`` months around its ``peak``, exactly 0
beyond five e-foldings) times a Gaussian in latitude and longitude around its
centre; at the peak and centre it adds ``temperature`` K and multiplies
precipitation by ``exp(log_precip)``. Through the formulas above, soil
moisture, ``rh``, ``vpd``, cloud, ``swdown`` and NEE respond as to any other
weather. At the peak and centre:

==============  ===============================================  ============  ====  ======
peak            event                                            centre        K     precip
==============  ===============================================  ============  ====  ======
mid-Mar 2007    record-warm March, central and eastern US        37°N 88°W     +2.5
early Apr 2007  the April ("Easter") freeze after it             37°N 88°W     -3.5
mid-Jul 2007    record-warm western summer                       41°N 114°W    +2.0  x 0.74
Aug 2007        southeast drought (spring to early winter)       34°N 85°W     +0.8  x 0.55
mid-Aug 2007    heat wave, southeast and Ohio valley             36°N 86°W     +2.5
mid-Oct 2007    warm Arctic autumn (record-low sea ice)          70°N 125°W    +3.0
mid-Jul 2012    central US drought and heat wave (May-Sep)       40°N 96°W     +3.5  x 0.30
mid-Feb 2015    warm winter and spring, the west and British     46°N 120°W    +3.0
                Columbia (the northeast Pacific warm "blob")
mid-Mar 2015    warm winter to early summer, Alaska              64°N 150°W    +4.0
mid-Feb 2015    record-cold February, northeast                  46°N 75°W     -6.0
mid-Feb 2015    California drought, record-low snowpack          37.5°N 120°W  +1.0  x 0.50
mid-May 2015    record-wet May, southern Plains                  32°N 98°W     -1.0  x 2.7
mid-Jun 2015    Canadian Prairies drought                        52°N 110°W    +1.0  x 0.55
Jul 2015        Pacific Northwest drought and heat               48°N 121°W    +2.5  x 0.50
mid-Dec 2015    El Niño: record-warm December, east and central  45°N 80°W     +5.0
Dec 2015        El Niño: wet Gulf coast and southern Plains      31°N 93°W           x 1.8
==============  ===============================================  ============  ====  ======

So 2007 and 2015 are warmer and more anomalous than the years in between,
and the 2012 summer is the driest in the central US. At monthly scale most of
these anomalies are no larger than ordinary weather elsewhere or in other
years; the summer heat and droughts (2007 southeast and west, 2015 Pacific
Northwest and Prairies, 2012 central US) are the combinations of heat, light
and dry soil that the other years lack.

Process model of NEE (the truth)
--------------------------------
With ``T = t2m - 273.15`` (°C), ``theta = soilm / 1000`` (m3 m-3),
``veg = 0.3 + 0.7 * forest_fraction`` and ``s(x) = 1 / (1 + exp(-x))``::

    GPP  = 0.022 * 2.05 * swdown                      # light use efficiency x PAR photons
           * s((T - 5) / 2.5)                         # temperature-driven phenology
           * exp(-((T - 22) / 14)**2)                 # temperature optimum
           * 1 / (1 + (vpd / 2500)**2)                # stomatal closure at high VPD
           * s((theta - 0.15) / 0.025)                # water stress
           * veg
    Reco = 2.5 * (0.5 + 0.8 * forest_fraction)        # reference respiration at 15 °C
           * 2.0 ** ((T - 15) / 10)                   # Q10 = 2
           * (0.3 + 0.7 * s((theta - 0.1) / 0.03))    # dry soils respire less
    NEE  = Reco - GPP + noise                         # umol m-2 s-1, positive = source

``noise`` is a spatially correlated anomaly field (smooth in space, new each
month) with a standard deviation of 0.15 umol m-2 s-1 times ``0.5 + veg``.

**Exactly these variables enter NEE: t2m, swdown, vpd, soilm and
forest_fraction.** ``precip`` acts only through ``soilm`` (and through cloud on
``swdown``), ``rh`` only through ``vpd``; ``stand_age`` is not used at all.
``sif`` is derived from GPP (``0.1 * GPP`` with 15 % multiplicative and
0.05 mW m-2 sr-1 nm-1 additive smooth noise), so it is an informative but
noisy proxy, not a cause.
"""

from __future__ import annotations

import functools
import importlib.util
import io
import numbers
import os
import struct
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

__all__ = ["north_america_nee", "land_mask", "is_land", "EARTH_RADIUS", "DOMAIN"]

#: radius (m) of the spherical Earth used for ``cell_area``
EARTH_RADIUS = 6371007.2
#: south, north, west, east edges of the domain (degrees)
DOMAIN = (10.0, 80.0, -170.0, -50.0)

_MONTHS_PER_YEAR = 12.0
_SOLAR_CONSTANT = 1361.0
_WARMING_PER_YEAR = 0.03  # K: +0.3 K per decade
_TREND_REFERENCE_MONTH = (2011 - 1900) * 12 + 6.0  # 1 July 2011, the middle of 2007-2015
_SOIL_LAGS = 8
_SOIL_EFOLDING = 2.5
_TIME_DIMS = ("time", "lat", "lon")
_STATIC_DIMS = ("lat", "lon")

# streams of random fields; each (seed, stream, knot) triple has its own generator
_STREAMS = {
    "t2m_month": 1, "t2m_year": 2, "precip_month": 3, "precip_year": 4, "rh_month": 5,
    "nee_noise": 6, "sif_gain": 7, "sif_offset": 8, "forest": 9, "stand_age": 10,
}

_GRIDDED = {"cell_measures": "area: cell_area"}
VARIABLE_ATTRS: dict[str, dict[str, str]] = {
    "t2m": {"standard_name": "air_temperature", "long_name": "2 m air temperature", "units": "K", **_GRIDDED},
    "precip": {"standard_name": "precipitation_flux", "long_name": "precipitation", "units": "kg m-2 s-1", **_GRIDDED},
    "swdown": {
        "standard_name": "surface_downwelling_shortwave_flux_in_air",
        "long_name": "surface downwelling shortwave radiation",
        "units": "W m-2",
        **_GRIDDED,
    },
    "vpd": {
        "standard_name": "water_vapor_saturation_deficit_in_air",
        "long_name": "vapour pressure deficit",
        "units": "Pa",
        **_GRIDDED,
    },
    "rh": {"standard_name": "relative_humidity", "long_name": "2 m relative humidity", "units": "%", **_GRIDDED},
    "soilm": {
        "standard_name": "mass_content_of_water_in_soil_layer",
        "long_name": "soil moisture, 0-1 m layer",
        "units": "kg m-2",
        **_GRIDDED,
    },
    "sif": {
        "long_name": "solar-induced chlorophyll fluorescence at 740 nm",
        "units": "mW m-2 sr-1 nm-1",
        "comment": "CF has no standard_name for SIF",
        **_GRIDDED,
    },
    "nee": {
        "standard_name": "surface_upward_mole_flux_of_carbon_dioxide",
        "long_name": "net ecosystem exchange of CO2 (positive = source to the atmosphere)",
        "units": "umol m-2 s-1",
        **_GRIDDED,
    },
    "gpp": {
        "long_name": "gross primary production (CO2 uptake by photosynthesis, positive)",
        "units": "umol m-2 s-1",
        "comment": "the process model's uptake term: nee = reco - gpp + noise; CF has no mole-flux standard_name for it",
        **_GRIDDED,
    },
    "reco": {
        "long_name": "ecosystem respiration (CO2 release, positive)",
        "units": "umol m-2 s-1",
        "comment": "the process model's respiration term: nee = reco - gpp + noise; CF has no mole-flux standard_name for it",
        **_GRIDDED,
    },
    "forest_fraction": {
        "standard_name": "area_fraction",
        "long_name": "forest cover fraction",
        "units": "1",
        "comment": "area_type: tree",
        **_GRIDDED,
    },
    "stand_age": {
        "long_name": "mean forest stand age",
        "units": "years",
        "comment": "CF has no standard_name for stand age; not used by the NEE process model",
        **_GRIDDED,
    },
    "cell_area": {"standard_name": "cell_area", "long_name": "area of the grid cell", "units": "m2"},
}
TIME_VARIABLES = ("t2m", "precip", "swdown", "vpd", "rh", "soilm", "sif", "nee")
STATIC_VARIABLES = ("forest_fraction", "stand_age", "cell_area")
#: the two terms of NEE, returned with ``components=True``
COMPONENT_VARIABLES = ("gpp", "reco")


# ----------------------------------------------------------------------------- helpers


def _logistic(x):
    return 1.0 / (1.0 + np.exp(-x))


def _bump(lat, lon, lat0, lon0, lat_width, lon_width):
    return np.exp(-(((lat - lat0) / lat_width) ** 2) - ((lon - lon0) / lon_width) ** 2)


def _seasonal_peak(phase, peak, sharpness):
    """1 at ``peak`` (fraction of the year), ``exp(-2 * sharpness)`` half a year later."""
    return np.exp(sharpness * (np.cos(2.0 * np.pi * (phase - peak)) - 1.0))


def _evaporative_demand(temperature, shortwave):
    """Priestley-Taylor-like potential evaporation (mm/day) from °C and W m-2; none when frozen."""
    slope_share = np.clip(0.41 + 0.0127 * temperature, 0.2, 0.85)
    return 0.022 * shortwave * slope_share * _logistic(temperature / 2.0)


def _random_field(lat, lon, seed, stream, knot, n_modes=8, shortest=9.0, longest=60.0):
    """Unit-variance smooth field: a sum of random-phase plane waves in (lat, lon).

    Computed as outer products of 1-D sines and cosines, so a value depends
    only on its own coordinates and the (seed, stream, knot) generator.
    """
    rng = np.random.default_rng([seed, stream, knot & 0xFFFFFFFF, 0 if knot >= 0 else 1])
    wavelength = np.exp(rng.uniform(np.log(shortest), np.log(longest), n_modes))
    direction = rng.uniform(0.0, np.pi, n_modes)
    phase = rng.uniform(0.0, 2.0 * np.pi, n_modes)
    amplitude = np.sqrt(2.0 / n_modes)
    k_lat = 2.0 * np.pi * np.sin(direction) / wavelength
    k_lon = 2.0 * np.pi * np.cos(direction) / wavelength
    field = np.zeros((lat.size, lon.size))
    for mode in range(n_modes):
        along_lon = k_lon[mode] * lon + phase[mode]
        along_lat = k_lat[mode] * lat
        field += amplitude * (
            np.cos(along_lat)[:, None] * np.cos(along_lon)[None, :]
            - np.sin(along_lat)[:, None] * np.sin(along_lon)[None, :]
        )
    return field


def _month(year: int, month: float) -> float:
    """Months since 1900-01-01 of day 1 of ``month`` in ``year``, fractional months allowed (7.5: mid-July)."""
    return (year - 1900) * 12.0 + month - 1.0


@dataclass(frozen=True)
class _Event:
    """A documented regional climate anomaly: a Gaussian in time times a Gaussian in space.

    At months ``m`` (since 1900-01) and cell ``(lat, lon)`` it adds
    ``weight * temperature`` K to the temperature and multiplies precipitation
    by ``exp(weight * log_precip)``, with
    ``weight = exp(-((m - peak) / duration)**2 - ((lat - lat0) / lat_width)**2 - ((lon - lon0) / lon_width)**2)``,
    set to exactly 0 more than ``5 * duration`` months from the peak.
    """

    name: str
    peak: float
    duration: float
    lat0: float
    lon0: float
    lat_width: float
    lon_width: float
    temperature: float
    log_precip: float

    def time_weight(self, months: np.ndarray) -> np.ndarray:
        offset = (months - self.peak) / self.duration
        return np.where(np.abs(offset) <= 5.0, np.exp(-(offset**2)), 0.0)


#: Interannual anomalies of the period 2007-2015: places, seasons and rounded magnitudes after
#: NOAA NCEI's monthly US and global climate reports and Environment Canada's seasonal summaries.
EVENTS = (
    # 2007
    _Event("2007 record-warm March, central and eastern US", _month(2007, 3.5), 0.6, 37.0, -88.0, 6.0, 10.0, 2.5, 0.0),
    _Event("2007 April (Easter) freeze after the warm March", _month(2007, 4.3), 0.5, 37.0, -88.0, 6.0, 10.0, -3.5, 0.0),
    _Event("2007 record-warm western summer", _month(2007, 7.5), 1.3, 41.0, -114.0, 7.0, 9.0, 2.0, -0.3),
    _Event("2007 southeast drought", _month(2007, 8.0), 3.0, 34.0, -85.0, 4.5, 6.0, 0.8, -0.6),
    _Event("2007 August heat wave, southeast and Ohio valley", _month(2007, 8.5), 0.7, 36.0, -86.0, 5.0, 9.0, 2.5, 0.0),
    _Event("2007 warm Arctic autumn (record-low sea ice)", _month(2007, 10.5), 1.3, 70.0, -125.0, 6.0, 22.0, 3.0, 0.0),
    # 2012
    _Event("2012 central US drought and heat wave", _month(2012, 7.5), 2.5, 40.0, -96.0, 6.0, 11.0, 3.5, -1.2),
    # 2015 (the northeast Pacific warm 'blob', then the strong 2015-16 El Nino)
    _Event("2015 warm winter and spring, the west and British Columbia", _month(2015, 2.5), 2.0, 46.0, -120.0, 10.0, 10.0, 3.0, 0.0),
    _Event("2015 warm winter, spring and early summer, Alaska", _month(2015, 3.5), 2.5, 64.0, -150.0, 6.0, 14.0, 4.0, 0.0),
    _Event("2015 record-cold February, northeast", _month(2015, 2.5), 0.7, 46.0, -75.0, 7.0, 12.0, -6.0, 0.0),
    _Event("2015 California drought (record-low snowpack)", _month(2015, 2.5), 2.0, 37.5, -120.0, 5.0, 4.0, 1.0, -0.7),
    _Event("2015 record-wet May, southern Plains", _month(2015, 5.5), 0.8, 32.0, -98.0, 5.0, 6.0, -1.0, 1.0),
    _Event("2015 Canadian Prairies spring-summer drought", _month(2015, 6.5), 1.5, 52.0, -110.0, 5.0, 8.0, 1.0, -0.6),
    _Event("2015 Pacific Northwest summer drought and heat", _month(2015, 7.0), 1.5, 48.0, -121.0, 6.0, 8.0, 2.5, -0.7),
    _Event("2015 El Nino: record-warm December, east and central", _month(2015, 12.5), 1.2, 45.0, -80.0, 10.0, 18.0, 5.0, 0.0),
    _Event("2015 El Nino: wet Gulf coast and southern Plains", _month(2015, 12.0), 1.5, 31.0, -93.0, 5.0, 10.0, 0.0, 0.6),
)


class _Knots:
    """Random fields at knots in time, linearly interpolated in between (cached per block)."""

    def __init__(self, lat, lon, seed):
        self.lat, self.lon, self.seed = lat, lon, seed
        self._cache: dict[tuple[str, int], np.ndarray] = {}

    def _field(self, stream, knot):
        key = (stream, knot)
        if key not in self._cache:
            self._cache[key] = _random_field(self.lat, self.lon, self.seed, _STREAMS[stream], knot)
        return self._cache[key]

    def monthly(self, stream, months):
        """Field interpolated between mid-month knots at ``months`` (n,) since 1900-01: (n, lat, lon)."""
        return self._interpolate(stream, months - 0.5)

    def yearly(self, stream, months):
        """Field interpolated between mid-year knots: (n, lat, lon)."""
        return self._interpolate(stream, (months - 6.0) / _MONTHS_PER_YEAR)

    def _interpolate(self, stream, position):
        # a step exactly on a knot (monthly data) gets that knot's field exactly: weight 0
        lower = np.floor(position)
        weight = (position - lower)[:, None, None]
        below = np.stack([self._field(stream, int(k)) for k in lower])
        above = np.stack([self._field(stream, int(k) + 1) for k in lower])
        return (1.0 - weight) * below + weight * above


@functools.lru_cache(maxsize=1)
def _land_rows() -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The northern half of global-land-mask's 1 km mask, bit-packed (about 58 MB).

    ``globe`` itself decompresses the whole 930 MB global mask on import
    (about 3 s); only the rows north of the equator are needed here, so they
    are streamed from the package's data file instead. ``None`` if that file
    is not laid out as expected (then `globe.is_land` is used).
    """
    # find the data file without importing the package, whose import loads the whole globe
    spec = importlib.util.find_spec("global_land_mask")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = os.path.join(list(spec.submodule_search_locations)[0], "globe_combined_mask_compressed.npz")
    try:
        with zipfile.ZipFile(path) as archive:
            lat = np.load(archive.open("lat.npy"))
            lon = np.load(archive.open("lon.npy"))
            member = archive.getinfo("mask.npy")
        if member.compress_type != zipfile.ZIP_DEFLATED:
            return None
        # zlib on the raw deflate stream is several times faster than ZipExtFile.read
        with open(path, "rb") as file:
            file.seek(member.header_offset)
            local_header = file.read(30)
            name_length, extra_length = struct.unpack("<HH", local_header[26:30])
            file.seek(member.header_offset + 30 + name_length + extra_length)
            compressed = file.read(member.compress_size)
        decompressor = zlib.decompressobj(-zlib.MAX_WBITS)
        prefix = io.BytesIO(decompressor.decompress(compressed, 4096))
        version = np.lib.format.read_magic(prefix)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran_order, dtype = read_header(prefix)
        if fortran_order or dtype != np.bool_ or shape != (lat.size, lon.size) or not lat[0] > lat[-1]:
            return None
        pending = prefix.read()
        n_rows = int(np.count_nonzero(lat >= 0.0))
        packed = np.empty((n_rows, (shape[1] + 7) // 8), dtype=np.uint8)
        for first in range(0, n_rows, 480):
            count = min(480, n_rows - first)
            wanted = count * shape[1]
            data = pending + decompressor.decompress(decompressor.unconsumed_tail, wanted - len(pending))
            pending = b""
            if len(data) != wanted:
                return None
            packed[first : first + count] = np.packbits(np.frombuffer(data, dtype=bool).reshape(count, shape[1]), axis=1)
    except (OSError, KeyError, ValueError, struct.error, zlib.error, zipfile.BadZipFile):
        return None
    return lat, lon, packed


def is_land(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """`global_land_mask.globe.is_land` for points north of the equator, without loading the whole globe.

    Parameters
    ----------
    lat, lon : numpy.ndarray
        Broadcastable coordinates in degrees; ``0 <= lat <= 90``, ``-180 <= lon <= 180``.

    Returns
    -------
    numpy.ndarray
        Boolean, ``True`` on land (most lakes count as land), the same as ``globe.is_land``.

    Examples
    --------
    >>> is_land(np.array([40.0, 40.0]), np.array([-100.0, -140.0])).tolist()
    [True, False]
    """
    lat, lon = np.broadcast_arrays(np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64))
    rows = _land_rows()
    if rows is None or np.any(lat < 0):
        from global_land_mask import globe

        return globe.is_land(lat, lon)
    mask_lat, mask_lon, packed = rows
    # the same index arithmetic as globe.lat_to_index / lon_to_index
    row = ((np.clip(lat, mask_lat.min(), mask_lat.max()) - mask_lat[0]) / (mask_lat[1] - mask_lat[0])).astype("int")
    column = ((np.clip(lon, mask_lon.min(), mask_lon.max()) - mask_lon[0]) / (mask_lon[1] - mask_lon[0])).astype("int")
    ocean = (packed[row, column >> 3] >> (7 - (column & 7))) & 1
    return ocean == 0


@functools.lru_cache(maxsize=1)
def _continentality_reference():
    """Continentality on a fixed 0.5° reference grid (independent of the requested grid).

    A mix of the land fraction smoothed around each point (sigma 4°) and of the
    land fraction upwind (to the west, e-folding 10°), so the west coast is
    maritime and the east coast fairly continental.
    """
    step = 0.5
    lat = np.arange(0.0, 90.0 + step / 2, step)
    lon = np.arange(-215.0, -5.0 + step / 2, step)
    land = is_land(lat[:, None], ((lon + 180.0) % 360.0 - 180.0)[None, :]).astype(float)
    offsets = np.arange(-16, 17)
    gauss = np.exp(-0.5 * (offsets * step / 4.0) ** 2)
    gauss /= gauss.sum()
    smooth = np.apply_along_axis(np.convolve, 0, land, gauss, mode="same")
    smooth = np.apply_along_axis(np.convolve, 1, smooth, gauss, mode="same")
    upwind_offsets = np.arange(0, 61)  # cells to the west, 0-30°
    upwind_kernel = np.exp(-upwind_offsets * step / 10.0)
    upwind_kernel /= upwind_kernel.sum()
    # np.convolve flips the kernel: placing it on the right-hand half looks west (lower index)
    kernel = np.concatenate([np.zeros(upwind_offsets.size - 1), upwind_kernel])
    upwind = np.apply_along_axis(np.convolve, 1, smooth, kernel, mode="same")
    continentality = np.clip((0.4 * smooth + 0.6 * upwind - 0.25) / 0.65, 0.0, 1.0)
    return lat, lon, continentality


def _bilinear(reference, lat, lon):
    """Bilinear interpolation of a reference-grid map at the points (lat[:, None], lon[None, :])."""
    ref_lat, ref_lon, values = reference
    step = ref_lat[1] - ref_lat[0]
    y = (lat - ref_lat[0]) / step
    x = (lon - ref_lon[0]) / step
    y0 = np.clip(np.floor(y).astype(int), 0, ref_lat.size - 2)
    x0 = np.clip(np.floor(x).astype(int), 0, ref_lon.size - 2)
    wy = (y - y0)[:, None]
    wx = (x - x0)[None, :]
    v00 = values[y0[:, None], x0[None, :]]
    v01 = values[y0[:, None], x0[None, :] + 1]
    v10 = values[y0[:, None] + 1, x0[None, :]]
    v11 = values[y0[:, None] + 1, x0[None, :] + 1]
    return (1 - wy) * ((1 - wx) * v00 + wx * v01) + wy * ((1 - wx) * v10 + wx * v11)


def land_mask(lat: np.ndarray, lon: np.ndarray, resolution: float) -> np.ndarray:
    """``True`` for cells whose 3 x 3 sub-points are mostly land (global-land-mask, 1 km).

    Parameters
    ----------
    lat, lon : numpy.ndarray
        1-D cell centres (degrees north, degrees east).
    resolution : float
        Cell size in degrees.

    Returns
    -------
    numpy.ndarray
        Boolean ``(lat.size, lon.size)``.

    Examples
    --------
    >>> land_mask(np.array([40.5]), np.array([-100.5, -140.5]), 1.0).tolist()
    [[True, False]]
    """
    offsets = np.array([-1.0, 0.0, 1.0]) * resolution / 3.0
    votes = np.zeros((lat.size, lon.size), dtype=np.int64)
    for d_lat in offsets:
        for d_lon in offsets:
            votes += is_land(np.clip(lat + d_lat, 0.0, 90.0)[:, None], ((lon + d_lon + 180.0) % 360.0 - 180.0)[None, :])
    return votes >= 5


# ----------------------------------------------------------------------------- the fields


class _Fields:
    """Every variable on one block ``(months, lat, lon)``; each computed at most once.

    Values depend only on each point's coordinates, the resolution and the
    seed, so any block gives the same numbers as the whole grid.
    """

    def __init__(self, months, lat, lon, resolution, seed):
        self.months = np.asarray(months, dtype=np.float64)
        self.lat1d = np.asarray(lat, dtype=np.float64)
        self.lon1d = np.asarray(lon, dtype=np.float64)
        self.lat = self.lat1d[:, None]
        self.lon = self.lon1d[None, :]
        self.resolution = float(resolution)
        self.seed = int(seed)
        self.knots = _Knots(self.lat1d, self.lon1d, self.seed)
        self._cache: dict[str, np.ndarray] = {}

    def get(self, name: str) -> np.ndarray:
        if name not in self._cache:
            self._cache[name] = getattr(self, "_" + name)()
        return self._cache[name]

    def masked(self, name: str) -> np.ndarray:
        """The variable with NaN over sea (``cell_area`` is kept everywhere)."""
        values = self.get(name)
        if name == "cell_area":
            return values
        return np.where(self.get("land"), values, np.nan)

    # static maps ------------------------------------------------------------
    def _land(self):
        return land_mask(self.lat1d, self.lon1d, self.resolution)

    def _continentality(self):
        return _bilinear(_continentality_reference(), self.lat1d, self.lon1d)

    def _elevation(self):
        """km: the Cordillera along a curved ridge, the Mexican plateau, Appalachians, Greenland."""
        lat, lon = self.lat, self.lon
        ridge = -106.0 - 0.55 * (lat - 35.0) - 0.01 * (lat - 35.0) ** 2
        cordillera = 2.0 * np.exp(-(((lon - ridge) / 5.0) ** 2)) * _logistic((lat - 15.0) / 2.0) * _logistic((66.0 - lat) / 3.0)
        appalachians = 0.6 * np.exp(-(((lon + 80.0 - 0.9 * (lat - 38.0)) / 2.5) ** 2)) * _bump(lat, 0.0, 40.0, 0.0, 7.0, 1e9)
        greenland = 2.5 * _bump(lat, lon, 73.0, -40.0, 7.0, 11.0)
        return cordillera + appalachians + greenland

    def _desert(self):
        """Weight of the hot, dry desert southwest (Sonoran, Mojave, Chihuahuan)."""
        return _bump(self.lat, self.lon, 32.0, -111.0, 5.0, 7.0)

    def _annual_temperature(self):
        lat = self.lat
        north = np.clip((lat - 35.0) / 20.0, 0.0, 1.0)
        return 27.0 - 0.5 * (lat - 15.0) - 0.0035 * (lat - 15.0) ** 2 - 6.5 * self.get("elevation") - 2.0 * self.get("continentality") * north

    def _forest_fraction(self):
        lat, lon = self.lat, self.lon
        phases = (np.arange(12) + 0.5) / _MONTHS_PER_YEAR
        annual_precip = np.mean([self._precip_climatology(p) for p in phases], axis=0)
        annual_temperature = self.get("annual_temperature")
        warm = _logistic((annual_temperature + 7.0) / 2.0)
        wet = _logistic((annual_precip - 0.5 - 0.08 * np.clip(annual_temperature, 0.0, None)) / 0.25)
        plains = 1.0 - 0.85 * _bump(lat, lon, 44.0, -98.0, 8.0, 9.0)
        texture = 0.85 + 0.15 * _random_field(self.lat1d, self.lon1d, self.seed, _STREAMS["forest"], 0)
        return np.clip(0.95 * warm * wet * plains * texture, 0.0, 1.0)

    def _stand_age(self):
        field = _random_field(self.lat1d, self.lon1d, self.seed, _STREAMS["stand_age"], 0, n_modes=10, shortest=8.0, longest=40.0)
        northwest = _logistic((self.lat - 50.0) / 6.0) * _logistic((-100.0 - self.lon) / 10.0)
        return 15.0 + 130.0 * _logistic(1.5 * field + 0.8 * northwest - 0.3)

    def _cell_area(self):
        half = np.radians(self.resolution) / 2.0
        lat = np.radians(self.lat1d)
        band = EARTH_RADIUS**2 * np.radians(self.resolution) * (np.sin(lat + half) - np.sin(lat - half))
        return np.broadcast_to(band[:, None], (self.lat1d.size, self.lon1d.size)).copy()

    # climate at arbitrary times (soil moisture evaluates these at lagged times) --------
    def _precip_climatology(self, phase):
        """mm/day; ``phase`` is the fraction of the year (scalar or (n, 1, 1))."""
        lat, lon = self.lat, self.lon
        arid = 1.0 - 0.75 * _bump(lat, lon, 36.0, -114.0, 7.0, 8.0)
        east = _logistic((lon + 98.0) / 4.0) * (0.55 + 0.45 * _logistic((52.0 - lat) / 4.0))
        humid_east = 2.3 * east * (1.0 + 0.2 * np.cos(2 * np.pi * (phase - 0.55)))
        gulf = 1.6 * _bump(lat, lon, 30.0, -87.0, 6.0, 12.0) * (1.0 + 0.3 * np.cos(2 * np.pi * (phase - 0.6)))
        plains = 1.2 * _bump(lat, lon, 42.0, -100.0, 9.0, 10.0) * _seasonal_peak(phase, 0.45, 1.5)
        pacific = 6.0 * _bump(lat, lon, 50.0, -128.0, 8.0, 4.5) * _seasonal_peak(phase, 0.0, 1.0)
        alaska = 4.5 * _bump(lat, lon, 58.0, -137.0, 3.0, 6.0) * _seasonal_peak(phase, 0.8, 0.6)
        california = 3.5 * _bump(lat, lon, 38.5, -122.0, 4.0, 3.0) * _seasonal_peak(phase, 0.03, 1.6)
        monsoon = 3.2 * _bump(lat, lon, 25.0, -106.0, 5.5, 6.0) * _seasonal_peak(phase, 0.58, 2.5)
        tropics = 6.5 * _logistic((20.0 - lat) / 2.0) * _seasonal_peak(phase, 0.66, 1.3)
        boreal = 1.2 * _logistic((lat - 48.0) / 4.0) * _logistic((68.0 - lat) / 4.0) * _seasonal_peak(phase, 0.58, 0.8)
        base = 0.3 + 0.2 * _logistic((60.0 - lat) / 5.0)
        return base + arid * (humid_east + gulf + plains + boreal) + pacific + alaska + california + monsoon + tropics

    def _events(self, months):
        """Temperature (K) and log-precipitation anomalies of `EVENTS` and the trend at months (n,): (n, lat, lon) each.

        An event entirely outside the block's months adds exactly 0 and is skipped,
        so every block gives the whole grid's values bit for bit.
        """
        temperature = _WARMING_PER_YEAR * (months[:, None, None] - _TREND_REFERENCE_MONTH) / _MONTHS_PER_YEAR
        temperature = np.broadcast_to(temperature, (months.size, self.lat1d.size, self.lon1d.size))
        log_precip = np.zeros_like(temperature)
        for event in EVENTS:
            in_time = event.time_weight(months)
            if not in_time.any():
                continue
            weight = in_time[:, None, None] * _bump(self.lat, self.lon, event.lat0, event.lon0, event.lat_width, event.lon_width)
            temperature = temperature + event.temperature * weight
            log_precip = log_precip + event.log_precip * weight
        return temperature, log_precip

    def _climate(self, months):
        """Temperature (°C), precipitation (mm/day) and shortwave (W m-2) at months (n,)."""
        lat, cont = self.lat, self.get("continentality")
        m = months[:, None, None]
        phase = m / _MONTHS_PER_YEAR
        summer = _seasonal_peak(phase, 0.55, 1.5) * _logistic((lat - 25.0) / 5.0)

        precip_anomaly = 0.45 * self.knots.monthly("precip_month", months) + 0.25 * self.knots.yearly("precip_year", months)
        event_temperature, event_log_precip = self._events(months)
        precip = self._precip_climatology(phase) * np.exp(precip_anomaly - 0.13 + event_log_precip)

        amplitude = (2.0 + 0.42 * np.clip(lat - 15.0, 0.0, 35.0)) * (0.4 + 0.7 * cont)
        peak = (200.0 + 20.0 * (1.0 - cont)) / 365.25
        winter_spread = 1.0 + 1.5 * _logistic((lat - 45.0) / 8.0) * (1.0 - summer)
        temperature_anomaly = (
            1.0 * winter_spread * self.knots.monthly("t2m_month", months)
            + 0.6 * self.knots.yearly("t2m_year", months)
            - 1.2 * summer * precip_anomaly
            + event_temperature
        )
        desert_heat = self.get("desert") * (3.0 + 4.0 * _seasonal_peak(phase, 0.5, 1.5))
        temperature = self.get("annual_temperature") + amplitude * np.cos(2 * np.pi * (phase - peak)) + desert_heat + temperature_anomaly

        declination = 0.4093 * np.sin(2 * np.pi * (phase - 0.2218))
        latitude = np.radians(lat)
        hour_angle = np.arccos(np.clip(-np.tan(latitude) * np.tan(declination), -1.0, 1.0))
        distance = 1.0 + 0.033 * np.cos(2 * np.pi * phase)
        top = (_SOLAR_CONSTANT / np.pi) * distance * (
            hour_angle * np.sin(latitude) * np.sin(declination) + np.cos(latitude) * np.cos(declination) * np.sin(hour_angle)
        )
        cloud = 1.0 - np.exp(-precip / 2.5)
        shortwave = top * (0.74 + 0.03 * self.get("elevation")) * (1.0 - 0.45 * cloud)
        return temperature, precip, shortwave

    def _climate_now(self):
        return self._climate(self.months)

    # time-varying variables --------------------------------------------------
    def _temperature(self):
        return self.get("climate_now")[0]

    def _t2m(self):
        return self.get("temperature") + 273.15

    def _precip(self):
        return self.get("climate_now")[1] / 86400.0

    def _swdown(self):
        return self.get("climate_now")[2]

    def _rh(self):
        temperature, precip, _ = self.get("climate_now")
        wetness = 1.0 - np.exp(-precip / 2.0)
        cold = 0.06 * np.clip(-temperature, 0.0, 25.0)
        z = -1.9 + 2.6 * wetness + 0.9 * (1.0 - self.get("continentality")) + cold - 0.8 * self.get("desert")
        z = z + 0.3 * self.knots.monthly("rh_month", self.months)
        return 100.0 * _logistic(z)

    def _vpd(self):
        temperature = self.get("temperature")
        saturation = 610.78 * np.exp(17.27 * temperature / (temperature + 237.3))
        return saturation * (1.0 - self.get("rh") / 100.0)

    def _soilm(self):
        weights = np.exp(-np.arange(_SOIL_LAGS) / _SOIL_EFOLDING)
        weights /= weights.sum()
        balance = 0.0
        for lag, weight in enumerate(weights):
            temperature, precip, shortwave = self.get("climate_now") if lag == 0 else self._climate(self.months - lag)
            demand = _evaporative_demand(temperature, shortwave)
            balance = balance + weight * (precip - demand)
        theta = 0.06 + 0.36 * _logistic((balance + 1.2) / 1.0)
        return 1000.0 * theta

    def _vegetation(self):
        return 0.3 + 0.7 * self.get("forest_fraction")

    def _gpp(self):
        temperature = self.get("temperature")
        theta = self.get("soilm") / 1000.0
        return (
            0.022 * 2.05 * self.get("swdown")
            * _logistic((temperature - 5.0) / 2.5)
            * np.exp(-(((temperature - 22.0) / 14.0) ** 2))
            / (1.0 + (self.get("vpd") / 2500.0) ** 2)
            * _logistic((theta - 0.15) / 0.025)
            * self.get("vegetation")
        )

    def _reco(self):
        theta = self.get("soilm") / 1000.0
        return (
            2.5 * (0.5 + 0.8 * self.get("forest_fraction"))
            * 2.0 ** ((self.get("temperature") - 15.0) / 10.0)
            * (0.3 + 0.7 * _logistic((theta - 0.1) / 0.03))
        )

    def _nee(self):
        noise = 0.15 * (0.5 + self.get("vegetation")) * self.knots.monthly("nee_noise", self.months)
        return self.get("reco") - self.get("gpp") + noise

    def _sif(self):
        gain = 1.0 + 0.15 * self.knots.monthly("sif_gain", self.months)
        offset = 0.05 * self.knots.monthly("sif_offset", self.months)
        return 0.1 * self.get("gpp") * gain + offset


def _time_block(months, lat, lon, *, name, resolution, seed):
    return _Fields(months, lat, lon, resolution, seed).masked(name)


def _static_block(lat, lon, *, name, resolution, seed):
    return _Fields(np.empty(0), lat, lon, resolution, seed).masked(name)


# ----------------------------------------------------------------------------- arguments


def _check_resolution(resolution) -> float:
    if isinstance(resolution, bool) or not isinstance(resolution, numbers.Real) or not np.isfinite(resolution):
        raise ValueError(f"resolution must be a number of degrees, got {resolution!r}; e.g. resolution=1.0.")
    south, north, west, east = DOMAIN
    if not 0 < resolution <= north - south:
        raise ValueError(
            f"resolution={resolution!r} degrees is out of range; it must be > 0 and at most {north - south:g} "
            "(the domain's latitude span), e.g. 1.0, 0.5 or 0.25."
        )
    return float(resolution)


def _time_axis(start, end, freq) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """Time stamps and the mid-period position of each step in months since 1900-01."""
    try:
        offset = pd.tseries.frequencies.to_offset(freq)
    except (ValueError, TypeError):
        raise ValueError(
            f"freq={freq!r} is not a pandas frequency; use e.g. 'MS' (monthly), 'D' (daily) or '7D'."
        ) from None
    try:
        first = pd.Timestamp(start)
        last = pd.Period(end).end_time if isinstance(end, str) else pd.Timestamp(end)
    except (ValueError, TypeError) as error:
        raise ValueError(f"start={start!r} / end={end!r} are not dates ({error}); use e.g. start='2007-01', end='2015-12'.") from None
    if last < first:
        raise ValueError(f"end={end!r} is before start={start!r}; give an end date after the start date.")
    times = pd.date_range(first, last, freq=offset)
    if times.size == 0:
        raise ValueError(
            f"start={start!r}, end={end!r} and freq={freq!r} give no time step; widen the period or use a finer freq."
        )
    edges = pd.DatetimeIndex(list(times) + [times[-1] + offset])
    seconds = (edges - edges.normalize()).total_seconds().to_numpy()
    position = (
        (edges.year.to_numpy() - 1900) * 12.0
        + edges.month.to_numpy() - 1.0
        + (edges.day.to_numpy() - 1.0 + seconds / 86400.0) / edges.days_in_month.to_numpy()
    )
    return times, 0.5 * (position[:-1] + position[1:])


def _grid(resolution: float) -> tuple[np.ndarray, np.ndarray]:
    south, north, west, east = DOMAIN
    n_lat = int(np.floor((north - south) / resolution + 1e-9))
    n_lon = int(np.floor((east - west) / resolution + 1e-9))
    lat = south + resolution * (np.arange(n_lat) + 0.5)
    lon = west + resolution * (np.arange(n_lon) + 0.5)
    return lat, lon


def _resolve_chunks(chunks, shape: tuple[int, int, int]) -> tuple[tuple[int, ...], ...]:
    from dask.array.core import normalize_chunks

    if isinstance(chunks, str):
        if chunks != "auto":
            raise ValueError(f"chunks={chunks!r} is not understood; pass 'auto' or a dict such as {{'time': 12, 'lat': 30, 'lon': 30}}.")
        wanted: tuple[Any, ...] = ("auto", "auto", "auto")
    elif isinstance(chunks, numbers.Integral) and not isinstance(chunks, bool):
        wanted = (chunks,) * 3
    elif isinstance(chunks, Mapping):
        unknown = sorted(str(k) for k in chunks if k not in _TIME_DIMS)
        if unknown:
            raise ValueError(f"chunks names dims {unknown}, which the dataset lacks; its dims are {_TIME_DIMS}.")
        wanted = tuple(chunks.get(dim, -1) for dim in _TIME_DIMS)
    else:
        raise ValueError(f"chunks={chunks!r} is not understood; pass None, 'auto' or a dict such as {{'time': 12, 'lat': 30, 'lon': 30}}.")
    try:
        return normalize_chunks(wanted, shape, dtype=np.float64)
    except (ValueError, TypeError) as error:
        raise ValueError(f"chunks={chunks!r} do not fit the shape {dict(zip(_TIME_DIMS, shape))}: {error}") from None


# ----------------------------------------------------------------------------- public


def north_america_nee(
    resolution: float = 1.0,
    start: str = "2007-01",
    end: str = "2015-12",
    freq: str = "MS",
    seed: int = 0,
    chunks: Mapping[str, Any] | str | int | None = None,
    components: bool = False,
) -> xr.Dataset:
    """Synthetic monthly (or daily, ...) NEE and drivers over North America, with a known truth.

    The generating process model is written in the module docstring
    (`xrann.datasets.north_america`): NEE depends on exactly ``t2m``,
    ``swdown``, ``vpd``, ``soilm`` and ``forest_fraction``; ``precip``, ``rh``,
    ``sif`` and ``stand_age`` are not among its causes.

    Parameters
    ----------
    resolution : float, default 1.0
        Cell size in degrees. The grid covers 10°N-80°N, 170°W-50°W
        (fewer cells when the span is not a multiple of the resolution).
    start, end : str or datetime-like, default "2007-01", "2015-12"
        First and last period; a string ``end`` includes the whole period
        it names (``"2015-12"`` includes every day of December 2015).
    freq : str, default "MS"
        Any pandas frequency: ``"MS"`` monthly, ``"D"`` daily, ``"7D"`` ...
        Values are means over each step (evaluated at its middle).
    seed : int, default 0
        Seeds weather anomalies, noise, forest texture and stand age; the
        same seed gives identical values for any chunking.
    chunks : dict, "auto" or int, optional
        Build every variable lazily with dask, block by block, e.g.
        ``{"time": 12, "lat": 30, "lon": 30}`` (dims left out are one chunk).
        Values are identical to the eager ones.
    components : bool, default False
        Also return the process model's two terms of NEE, ``gpp`` (gross
        uptake) and ``reco`` (respiration), with ``nee = reco - gpp + noise``:
        targets for a model of several fluxes, ``target=["nee", "gpp", "reco"]``.

    Returns
    -------
    xarray.Dataset
        Dims ``(time, lat, lon)``; variables ``t2m``, ``precip``, ``swdown``,
        ``vpd``, ``rh``, ``soilm``, ``sif``, ``nee`` on the full grid and the
        static maps ``forest_fraction``, ``stand_age`` and ``cell_area`` on
        ``(lat, lon)``. NaN over sea except ``cell_area``.

    Raises
    ------
    ValueError
        A resolution <= 0 or larger than the domain, unparseable dates, an
        end before the start, an unknown ``freq`` or bad ``chunks``.

    Examples
    --------
    >>> ds = north_america_nee(resolution=5.0, start="2012-01", end="2012-12")
    >>> dict(ds.sizes)
    {'time': 12, 'lat': 14, 'lon': 24}
    >>> ds["nee"].attrs["units"]
    'umol m-2 s-1'
    >>> lazy = north_america_nee(resolution=5.0, start="2012-01", end="2012-12", chunks={"time": 5})
    >>> lazy["nee"].chunks[0]
    (5, 5, 2)
    """
    resolution = _check_resolution(resolution)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}.")
    seed = int(seed)
    times, months = _time_axis(start, end, freq)
    lat, lon = _grid(resolution)
    shape = (times.size, lat.size, lon.size)
    time_variables = TIME_VARIABLES + (COMPONENT_VARIABLES if components else ())

    if chunks is None:
        fields = _Fields(months, lat, lon, resolution, seed)
        data = {name: fields.masked(name) for name in time_variables + STATIC_VARIABLES}
    else:
        data = _lazy_variables(months, lat, lon, resolution, seed, _resolve_chunks(chunks, shape), time_variables)

    coords = {
        "time": ("time", times, {"standard_name": "time", "long_name": "time", "axis": "T"}),
        "lat": ("lat", lat, {"standard_name": "latitude", "long_name": "latitude", "units": "degrees_north", "axis": "Y"}),
        "lon": ("lon", lon, {"standard_name": "longitude", "long_name": "longitude", "units": "degrees_east", "axis": "X"}),
    }
    data_vars = {
        name: (_TIME_DIMS if name in time_variables else _STATIC_DIMS, data[name], dict(VARIABLE_ATTRS[name]))
        for name in time_variables + STATIC_VARIABLES
    }
    ds = xr.Dataset(
        data_vars,
        coords=coords,
        attrs={
            "title": "Synthetic North America net ecosystem exchange and drivers",
            "Conventions": "CF-1.8",
            "source": "synthetic: xrann.datasets.north_america_nee process model (not observations)",
            "description": (
                "Drivers follow North American geography and seasons; NEE = Reco - GPP + noise from the process "
                "model documented in xrann.datasets.north_america. Only t2m, swdown, vpd, soilm and "
                "forest_fraction enter NEE; rh, precip (except through soilm and cloud), sif and stand_age do not."
            ),
            "history": (
                f"generated by xrann.datasets.north_america_nee(resolution={resolution!r}, start={str(start)!r}, "
                f"end={str(end)!r}, freq={str(freq)!r}, seed={seed}"
                + (", components=True)" if components else ")")
            ),
        },
    )
    ds["time"].encoding.update({"units": "days since 1900-01-01 00:00:00", "calendar": "proleptic_gregorian"})
    return ds


def _lazy_variables(months, lat, lon, resolution, seed, chunks, time_variables=TIME_VARIABLES) -> dict[str, Any]:
    import dask.array as da
    from dask.base import tokenize

    time_chunks, lat_chunks, lon_chunks = chunks
    months_blocks = da.from_array(months, chunks=(time_chunks,), name=False)
    lat_blocks = da.from_array(lat, chunks=(lat_chunks,), name=False)
    lon_blocks = da.from_array(lon, chunks=(lon_chunks,), name=False)
    token = tokenize(months, lat, lon, resolution, seed, chunks)
    data = {}
    for name in time_variables:
        data[name] = _blockwise(da, _time_block, "tyx", (months_blocks, "t", lat_blocks, "y", lon_blocks, "x"), name, token, resolution, seed)
    for name in STATIC_VARIABLES:
        data[name] = _blockwise(da, _static_block, "yx", (lat_blocks, "y", lon_blocks, "x"), name, token, resolution, seed)
    return data


def _blockwise(da, function, index, arguments, name, token, resolution, seed):
    return da.blockwise(
        functools.partial(function, name=name, resolution=resolution, seed=seed),
        index,
        *arguments,
        dtype=np.float64,
        name=f"north_america_nee-{name}-{token}",
        meta=np.empty((0,) * len(index)),
        align_arrays=False,  # each index has one input, already chunked as wanted
    )
