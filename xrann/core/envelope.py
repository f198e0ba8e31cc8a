"""The training envelope: k-means centroids of the scaled training drivers, and distances to them (numpy).

A network is only trustworthy where it has seen data. `Envelope` describes
the training samples in scaled driver space (every driver scaled by its
training range) by a few k-means centroids; `Envelope.distance` is the
distance from a point to the nearest centroid, divided by the 95th
percentile of the training samples' own distances, so values above 1 are
unusual: combinations of drivers that never occurred together score high
even when each driver is inside its range.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Envelope", "kmeans", "ENVELOPE_MAX_CLUSTERS", "ENVELOPE_QUANTILE"]

#: most k-means centroids in an envelope (fewer for small data: one per 10 samples)
ENVELOPE_MAX_CLUSTERS = 32


#: quantile of the training distances used as the reference scale
ENVELOPE_QUANTILE = 0.95
#: most Lloyd iterations of `kmeans`
KMEANS_MAX_ITERATIONS = 10


def _squared_distances(points: np.ndarray, centroids: np.ndarray, point_norms: np.ndarray | None = None) -> np.ndarray:
    """``(n_points, n_centroids)`` squared Euclidean distances (one BLAS product), never negative.

    ``point_norms`` are the points' squared norms, when the caller computed them already.
    """
    if point_norms is None:
        point_norms = np.einsum("ij,ij->i", points, points)
    squared = points @ centroids.T
    squared *= -2.0
    squared += point_norms[:, None]
    squared += np.einsum("ij,ij->i", centroids, centroids)[None, :]
    return np.maximum(squared, 0.0, out=squared)


def kmeans(points: np.ndarray, n_clusters: int, rng: np.random.Generator, max_iterations: int = KMEANS_MAX_ITERATIONS) -> np.ndarray:
    """Centroids of ``points`` by Lloyd's k-means with k-means++ seeding (numpy).

    Parameters
    ----------
    points : numpy.ndarray
        ``(n_points, n_features)``.
    n_clusters : int
        At most ``n_points``.
    rng : numpy.random.Generator
        Seeds the initial centroids; the same seed gives the same centroids.
    max_iterations : int, default 10
        Lloyd iterations at most (the envelope needs a description of the samples, not the optimum).

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
        difference = points - centroids[index]
        np.minimum(nearest, np.einsum("ij,ij->i", difference, difference), out=nearest)
    point_norms = np.einsum("ij,ij->i", points, points)
    columns = np.arange(n_points)
    one_hot = np.zeros((n_clusters, n_points))
    for _ in range(max_iterations):
        distances = _squared_distances(points, centroids, point_norms)
        labels = distances.argmin(axis=1)
        counts = np.bincount(labels, minlength=n_clusters)
        # sums per cluster as one BLAS product with the one-hot assignment (np.add.at is slow)
        one_hot[...] = 0.0
        one_hot[labels, columns] = 1.0
        sums = one_hot @ points
        updated = centroids.copy()
        filled = counts > 0
        updated[filled] = sums[filled] / counts[filled, None]
        if not filled.all():
            # an empty cluster restarts at the point farthest from its centroid
            farthest = np.argsort(distances[np.arange(n_points), labels])[::-1]
            updated[~filled] = points[farthest[: int((~filled).sum())]]
        if np.abs(updated - centroids).max() <= 1e-10:
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
