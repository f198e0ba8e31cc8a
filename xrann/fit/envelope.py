"""The training envelope of a fit: k-means of a seeded, bounded draw of its scaled training drivers.

At most `ENVELOPE_MAX_SAMPLES` training samples describe the envelope, so
its cost does not grow with the data. Memory-mode fits draw them from the
scaled training matrix they already hold (no second pass over the data);
stream and batch fits draw them block by block from the Dataset
(`xrann.data.extraction.draw_valid_samples`).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np
import xarray as xr

from ..core.envelope import Envelope
from ..core.scaling import MinMaxScaler
from ..data.extraction import draw_valid_samples
from ..data.variables import target_names

__all__ = ["fit_envelope", "envelope_of_samples", "ENVELOPE_MAX_SAMPLES"]

#: training samples drawn (seeded) to describe the training envelope
ENVELOPE_MAX_SAMPLES = 1_000


def fit_envelope(
    ds: xr.Dataset,
    drivers: Sequence[Hashable],
    target: Hashable | Sequence[Hashable],
    sample_dims: Sequence[Hashable],
    driver_scaler: MinMaxScaler,
    *,
    seed: int,
    exclude: xr.DataArray | None = None,
) -> Envelope:
    """The training envelope of a fit: k-means of (a seeded draw of) its scaled training drivers.

    Parameters
    ----------
    ds : xarray.Dataset
        The training Dataset.
    drivers : sequence of hashable
        Resolved driver names, in the model's column order.
    target : hashable or list of hashable
        Resolved target name (or names); only points where every target is finite count.
    sample_dims : sequence of hashable
    driver_scaler : MinMaxScaler
        The model's driver scaling.
    seed : int
        Seeds the draw and k-means.
    exclude : xarray.DataArray, optional
        A validation selection to leave out.

    Returns
    -------
    Envelope

    Examples
    --------
    >>> import xrann
    >>> ds = xrann.datasets.soil_toy()
    >>> model = ds.ann.fit(target="co2_flux", seed=0)
    >>> fit_envelope(ds, model.drivers, "co2_flux", ("site",), model.driver_scaler, seed=0).centroids.shape
    (1, 2)
    """
    names = list(drivers) + target_names(target)
    matrix = draw_valid_samples(ds, names, sample_dims, max_samples=ENVELOPE_MAX_SAMPLES, seed=seed, exclude=exclude)
    return Envelope.fit(driver_scaler.transform(matrix[:, : len(drivers)]), seed=seed)


def envelope_of_samples(scaled_drivers: np.ndarray, *, seed: int) -> Envelope:
    """The envelope of scaled training drivers held in memory: k-means of a seeded draw of at most `ENVELOPE_MAX_SAMPLES` rows.

    Parameters
    ----------
    scaled_drivers : numpy.ndarray
        ``(n_samples, n_drivers)`` scaled training drivers (extra columns, such as the bias column, are not passed).
    seed : int
        Seeds the draw and k-means.

    Returns
    -------
    Envelope

    Examples
    --------
    >>> envelope = envelope_of_samples(np.random.default_rng(0).random((50_000, 3)), seed=0)
    >>> envelope.centroids.shape
    (32, 3)
    """
    n_samples = scaled_drivers.shape[0]
    rng = np.random.default_rng(seed)
    if n_samples > ENVELOPE_MAX_SAMPLES:
        rows = np.sort(rng.choice(n_samples, ENVELOPE_MAX_SAMPLES, replace=False))
        scaled_drivers = scaled_drivers[rows]
    return Envelope.fit(np.asarray(scaled_drivers, dtype=np.float64), seed=seed)
