"""Where a model extrapolates: driver values outside the training range or the training envelope.

A network is only trustworthy where it has seen data. Two flags describe how
far a grid point's drivers are from the training samples:

* ``outside_range``: some driver lies outside its training minimum-maximum
  (``model.driver_ranges``), which is exactly what the min-max scaling records;
* ``envelope_distance``: distance, in scaled driver space (every driver scaled
  by its training range), from the point to the nearest of a few k-means
  centroids of the training samples, divided by the 95th percentile of the
  training samples' own distances. Values above 1 are unusual; combinations of
  drivers that never occurred together score high even when each driver is
  inside its range.

The centroids (an `Envelope`) are computed at fit time from at most
`ENVELOPE_MAX_SAMPLES` randomly drawn training samples and stored in the model file.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

if TYPE_CHECKING:  # pragma: no cover
    from .model import Model
    from .scaling import MinMaxScaler

__all__ = [
    "Envelope",
    "kmeans",
    "draw_valid_samples",
    "fit_envelope",
    "extrapolation_flags",
    "mask_extrapolated",
    "DEFAULT_DISTANCE_THRESHOLD",
    "ENVELOPE_MAX_SAMPLES",
    "ENVELOPE_MAX_CLUSTERS",
]

#: envelope distance above which ``predict(mask_extrapolation=True)`` masks a grid point
DEFAULT_DISTANCE_THRESHOLD = 2.0
#: training samples drawn (seeded) to describe the training envelope
ENVELOPE_MAX_SAMPLES = 20_000
#: most k-means centroids in an envelope (fewer for small data: one per 10 samples)
ENVELOPE_MAX_CLUSTERS = 32
#: quantile of the training distances used as the reference scale
ENVELOPE_QUANTILE = 0.95


def _squared_distances(points: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """``(n_points, n_centroids)`` squared Euclidean distances, never negative."""
    squared = (
        np.einsum("ij,ij->i", points, points)[:, None]
        - 2.0 * points @ centroids.T
        + np.einsum("ij,ij->i", centroids, centroids)[None, :]
    )
    return np.maximum(squared, 0.0)


def kmeans(points: np.ndarray, n_clusters: int, rng: np.random.Generator, max_iterations: int = 100) -> np.ndarray:
    """Centroids of ``points`` by Lloyd's k-means with k-means++ seeding (numpy).

    Parameters
    ----------
    points : numpy.ndarray
        ``(n_points, n_features)``.
    n_clusters : int
        At most ``n_points``.
    rng : numpy.random.Generator
        Seeds the initial centroids; the same seed gives the same centroids.
    max_iterations : int, default 100

    Returns
    -------
    numpy.ndarray
        ``(n_clusters, n_features)``.

    Raises
    ------
    ValueError
        If ``n_clusters`` is not between 1 and the number of points.

    Examples
    --------
    >>> points = np.array([[0.0], [0.1], [10.0], [10.2]])
    >>> np.sort(kmeans(points, 2, np.random.default_rng(0)), axis=0)
    array([[ 0.05],
           [10.1 ]])
    """
    points = np.asarray(points, dtype=np.float64)
    n_points = points.shape[0]
    if not 1 <= n_clusters <= n_points:
        raise ValueError(f"n_clusters must be between 1 and the number of points ({n_points}), got {n_clusters}.")
    centroids = np.empty((n_clusters, points.shape[1]))
    centroids[0] = points[rng.integers(n_points)]
    nearest = _squared_distances(points, centroids[:1])[:, 0]
    for index in range(1, n_clusters):
        total = nearest.sum()
        chosen = rng.choice(n_points, p=nearest / total) if total > 0 else rng.integers(n_points)
        centroids[index] = points[chosen]
        nearest = np.minimum(nearest, _squared_distances(points, centroids[index : index + 1])[:, 0])
    for _ in range(max_iterations):
        distances = _squared_distances(points, centroids)
        labels = distances.argmin(axis=1)
        counts = np.bincount(labels, minlength=n_clusters)
        sums = np.zeros_like(centroids)
        np.add.at(sums, labels, points)
        updated = centroids.copy()
        filled = counts > 0
        updated[filled] = sums[filled] / counts[filled, None]
        if not filled.all():
            # an empty cluster restarts at the point farthest from its centroid
            farthest = np.argsort(distances[np.arange(n_points), labels])[::-1]
            updated[~filled] = points[farthest[: int((~filled).sum())]]
        if np.allclose(updated, centroids, rtol=0.0, atol=1e-10):
            centroids = updated
            break
        centroids = updated
    return centroids


@dataclass
class Envelope:
    """A compact description of the training samples in scaled driver space.

    Attributes
    ----------
    centroids : numpy.ndarray
        ``(n_clusters, n_drivers)`` k-means centroids of the scaled training drivers.
    reference_distance : float
        The `quantile` of the training samples' distances to their nearest centroid.
    quantile : float
        Which quantile ``reference_distance`` is (0.95).

    Examples
    --------
    >>> scaled = np.random.default_rng(0).random((200, 2))
    >>> envelope = Envelope.fit(scaled, seed=0)
    >>> envelope.centroids.shape
    (20, 2)
    >>> envelope.distance(np.array([[0.5, 0.5], [3.0, 3.0]])) > 1
    array([False,  True])
    """

    centroids: np.ndarray
    reference_distance: float
    quantile: float = ENVELOPE_QUANTILE

    @classmethod
    def fit(cls, scaled_drivers: np.ndarray, seed: int, n_clusters: int | None = None) -> "Envelope":
        """Cluster scaled training drivers ``(n_samples, n_drivers)``.

        Parameters
        ----------
        scaled_drivers : numpy.ndarray
            Training drivers scaled by the model's driver scaler.
        seed : int
            Seeds k-means.
        n_clusters : int, optional
            Defaults to one centroid per 10 samples, between 1 and `ENVELOPE_MAX_CLUSTERS`.

        Returns
        -------
        Envelope

        Raises
        ------
        ValueError
            Without samples.
        """
        scaled_drivers = np.asarray(scaled_drivers, dtype=np.float64)
        n_samples = scaled_drivers.shape[0]
        if n_samples == 0:
            raise ValueError("the training envelope needs at least one sample.")
        if n_clusters is None:
            n_clusters = min(ENVELOPE_MAX_CLUSTERS, max(1, n_samples // 10))
        centroids = kmeans(scaled_drivers, min(n_clusters, n_samples), np.random.default_rng(seed))
        distances = np.sqrt(_squared_distances(scaled_drivers, centroids).min(axis=1))
        reference = float(np.quantile(distances, ENVELOPE_QUANTILE))
        return cls(centroids, max(reference, float(np.finfo(np.float64).eps)), ENVELOPE_QUANTILE)

    def distance(self, scaled_drivers: np.ndarray) -> np.ndarray:
        """Distance to the nearest centroid over `reference_distance`, ``(n_samples,)``; above 1 is unusual."""
        squared = _squared_distances(np.asarray(scaled_drivers, dtype=np.float64), self.centroids)
        return np.sqrt(squared.min(axis=1)) / self.reference_distance


def draw_valid_samples(
    ds: xr.Dataset,
    names: Sequence[Hashable],
    sample_dims: Sequence[Hashable],
    *,
    max_samples: int | None,
    seed: int,
    exclude: xr.DataArray | None = None,
) -> np.ndarray:
    """Values of ``names`` at (at most ``max_samples``) random grid points where all are finite.

    Works block by block on the chunk grid of the first variable (one block for
    numpy-backed data), so memory is bounded by a block and by the draw, not by
    the Dataset. Each grid point gets a seeded hash of its place in the full grid
    and the draw keeps the ``max_samples`` valid points with the smallest hashes:
    a uniform random draw that is the same for numpy- and dask-backed data and
    for any chunking. Points come back in grid (C) order.

    Parameters
    ----------
    ds : xarray.Dataset
    names : sequence of hashable
        Resolved variable names; the columns of the result.
    sample_dims : sequence of hashable
        Dims spanning the samples (static maps are broadcast over the others).
    max_samples : int or None
        ``None`` takes every valid point.
    seed : int
        Seeds the draw.
    exclude : xarray.DataArray, optional
        Boolean mask on ``sample_dims``; points where it is ``True`` are never drawn.

    Returns
    -------
    numpy.ndarray
        ``(n_drawn, len(names))`` float64.

    Examples
    --------
    >>> ds = xr.Dataset({"a": ("x", [1.0, np.nan, 3.0, 4.0]), "b": ("x", [5.0, 6.0, 7.0, 8.0])})
    >>> draw_valid_samples(ds, ["a", "b"], ("x",), max_samples=None, seed=0).tolist()
    [[1.0, 5.0], [3.0, 7.0], [4.0, 8.0]]
    >>> draw_valid_samples(ds, ["a", "b"], ("x",), max_samples=2, seed=0).shape
    (2, 2)
    """
    import dask

    from .streaming import block_grid

    names = list(names)
    grid = block_grid(ds, names[0], names[1:], sample_dims, holdout=exclude)
    tasks = [
        dask.delayed(_draw_from_block)(
            *[array.blocks[index] for array in grid.arrays],
            starts=grid.block_starts(index), grid_shape=grid.shape, n_columns=len(names),
            has_exclude=exclude is not None, max_samples=max_samples, seed=seed,
        )
        for index in grid.block_indices()
    ]
    # numpy-backed input is drawn in this thread, never shipped to a user's global scheduler or cluster
    scheduler = None if any(ds[name].chunks is not None for name in names) else "sync"
    kept: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    # a few blocks at a time, merging as we go: memory holds a few blocks and the draw
    for start in range(0, len(tasks), DRAW_BLOCKS_AT_ONCE):
        parts = list(dask.compute(*tasks[start : start + DRAW_BLOCKS_AT_ONCE], scheduler=scheduler))
        if kept is not None:
            parts.insert(0, kept)
        kept = _smallest_hashes(
            np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
            np.concatenate([p[2] for p in parts]), max_samples,
        )
    order = np.argsort(kept[0], kind="stable")
    return kept[2][order]


#: blocks computed together by `draw_valid_samples` before their draws are merged
DRAW_BLOCKS_AT_ONCE = 8


def _smallest_hashes(flat, hashes, rows, max_samples):
    """Keep the ``max_samples`` entries with the smallest hashes (all when ``None``)."""
    if max_samples is None or flat.size <= max_samples:
        return flat, hashes, rows
    keep = np.argpartition(hashes, max_samples - 1)[:max_samples]
    return flat[keep], hashes[keep], rows[keep]


def _draw_from_block(*blocks, starts, grid_shape, n_columns, has_exclude, max_samples, seed):
    """Flat grid indices, hashes and values of the drawn valid points of one block."""
    from .streaming import point_hashes

    columns = np.stack([np.asarray(block, dtype=np.float64).reshape(-1) for block in blocks[:n_columns]], axis=1)
    valid = np.isfinite(columns).all(axis=1)
    if has_exclude:
        valid &= ~np.asarray(blocks[n_columns], dtype=bool).reshape(-1)
    shape = np.shape(blocks[0])
    hashes = point_hashes(starts, shape, grid_shape, seed)
    flat = np.flatnonzero(valid)
    strides = np.cumprod((1,) + tuple(grid_shape[::-1]))[:-1][::-1]
    positions = np.unravel_index(flat, shape)
    global_flat = sum((np.asarray(p) + s) * stride for p, s, stride in zip(positions, starts, strides))
    return _smallest_hashes(np.asarray(global_flat, dtype=np.int64), hashes[flat], columns[flat], max_samples)


def fit_envelope(
    ds: xr.Dataset,
    drivers: Sequence[Hashable],
    target: Hashable,
    sample_dims: Sequence[Hashable],
    driver_scaler: "MinMaxScaler",
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
    target : hashable
        Resolved target name; only points where it is finite count.
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
    >>> model = ds.ann.fit(target="co2_flux", seed=0, epochs=10)
    >>> fit_envelope(ds, model.drivers, "co2_flux", ("site",), model.driver_scaler, seed=0).centroids.shape
    (1, 2)
    """
    names = list(drivers) + [target]
    matrix = draw_valid_samples(ds, names, sample_dims, max_samples=ENVELOPE_MAX_SAMPLES, seed=seed, exclude=exclude)
    return Envelope.fit(driver_scaler.transform(matrix[:, : len(drivers)]), seed=seed)


def _outside_range(drivers: np.ndarray, minimum: np.ndarray, maximum: np.ndarray) -> np.ndarray:
    return ((drivers < minimum) | (drivers > maximum)).any(axis=1).astype(np.float64)


def _envelope_distance(drivers: np.ndarray, model: "Model") -> np.ndarray:
    if model.envelope is None:
        return np.full(drivers.shape[0], np.nan)
    return model.envelope.distance(model.driver_scaler.transform(drivers))


def extrapolation_flags(ds: xr.Dataset, model: "Model") -> xr.Dataset:
    """Flag the grid points of ``ds`` where ``model`` extrapolates (lazy for dask-backed input).

    Parameters
    ----------
    ds : xarray.Dataset
        Needs the model's drivers (looked up by name or CF standard_name). Never modified.
    model : Model

    Returns
    -------
    xarray.Dataset
        On the grid a prediction would have: boolean ``outside_range`` (some
        driver outside its training range; ``False`` where a driver is missing)
        and float ``envelope_distance`` (distance to the training envelope in
        units of the training samples' 95th percentile distance; above 1 is
        unusual; NaN where a driver is missing, and everywhere for models saved
        without an envelope, i.e. by xrann before format version 2).

    Raises
    ------
    KeyError
        The model's drivers are missing from ``ds``.
    ValueError
        Driver units differ from training.

    Examples
    --------
    >>> import xrann
    >>> model = xrann.datasets.soil_toy().ann.fit(target="co2_flux", seed=0, epochs=10)
    >>> extrapolation_flags(xrann.datasets.soil_toy_sites(), model)["outside_range"].values
    array([ True,  True, False,  True,  True,  True])
    """
    from .fitting import apply_to_grid

    minimum, maximum = model.driver_scaler.minimum, model.driver_scaler.maximum
    outside = apply_to_grid(
        ds, model, lambda drivers: _outside_range(drivers, minimum, maximum), name="outside_range", attrs={}
    )
    distance = apply_to_grid(
        ds,
        model,
        lambda drivers: _envelope_distance(drivers, model),
        name="envelope_distance",
        attrs={
            "long_name": "distance to the training envelope",
            "units": "1",
            "description": (
                "distance in scaled driver space to the nearest k-means centroid of the training samples, "
                f"divided by the {ENVELOPE_QUANTILE:.0%} quantile of the training samples' distances; above 1 is unusual"
            ),
        },
    )
    outside = (outside > 0.5).rename("outside_range")
    outside.attrs = {"long_name": "some driver outside its training range"}
    return xr.Dataset({"outside_range": outside, "envelope_distance": distance})


def resolve_threshold(threshold: Any) -> float:
    """The envelope distance above which ``mask_extrapolation`` masks a prediction.

    Parameters
    ----------
    threshold : True or positive float
        ``True`` means `DEFAULT_DISTANCE_THRESHOLD`.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        Anything but ``True`` or a positive number.

    Examples
    --------
    >>> resolve_threshold(True), resolve_threshold(1.5)
    (2.0, 1.5)
    """
    if threshold is True:
        return DEFAULT_DISTANCE_THRESHOLD
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.floating, np.integer)) or not threshold > 0:
        raise ValueError(
            f"mask_extrapolation={threshold!r} is not understood; pass True (envelope distance threshold "
            f"{DEFAULT_DISTANCE_THRESHOLD}) or a positive envelope distance such as 1.5."
        )
    return float(threshold)


def mask_extrapolated(prediction: Any, ds: xr.Dataset, model: "Model", threshold: bool | float = True) -> Any:
    """Set a prediction to NaN where the drivers lie outside the training range or envelope.

    Parameters
    ----------
    prediction : xarray.DataArray or xarray.Dataset
        Predictions of ``model`` on the grid of ``ds``.
    ds : xarray.Dataset
        The Dataset the prediction was made on.
    model : Model
    threshold : True or float
        Envelope distance above which a point is masked; ``True`` uses
        `DEFAULT_DISTANCE_THRESHOLD`. Points outside the training range are always masked.

    Returns
    -------
    xarray.DataArray or xarray.Dataset
        Same type, lazy when ``prediction`` is.

    Raises
    ------
    ValueError
        A threshold that is not positive.

    Examples
    --------
    >>> import xrann
    >>> model = xrann.datasets.soil_toy().ann.fit(target="co2_flux", seed=0, epochs=10)
    >>> sites = xrann.datasets.soil_toy_sites()
    >>> int(mask_extrapolated(sites.ann.predict(model), sites, model).count())
    1
    """
    limit = resolve_threshold(threshold)
    flags = extrapolation_flags(ds, model)
    keep = ~flags["outside_range"] & ~(flags["envelope_distance"] > limit)
    masked = prediction.where(keep)
    if isinstance(masked, xr.DataArray):
        masked.attrs = dict(prediction.attrs)
    return masked
