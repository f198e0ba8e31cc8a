"""Min-max scaling fitted on training samples (numpy).

Sigmoid units live in ``(0, 1)``, so drivers are mapped to ``[0, 1]`` and the
target to a slightly narrower interval (``[0.1, 0.9]`` by default) that the
output layer can actually reach. Statistics come from training samples only
and are stored with the model.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["MinMaxScaler", "ConstantFeatureWarning"]


class ConstantFeatureWarning(UserWarning):
    """A driver or target is constant over the training samples.

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     _ = MinMaxScaler.fit(np.array([[1.0], [1.0]]), names=["elevation"])
    >>> caught[0].category.__name__, str(caught[0].message).split(";")[0]
    ('ConstantFeatureWarning', 'elevation is constant over the training samples (value [1.0])')
    """


def _is_constant(minimum: np.ndarray, maximum: np.ndarray) -> np.ndarray:
    """Columns whose range is zero or at the level of rounding error (dividing by it would overflow)."""
    magnitude = np.maximum(np.abs(minimum), np.abs(maximum))
    return (maximum - minimum) <= np.maximum(np.finfo(np.float64).tiny, 16 * np.finfo(np.float64).eps * magnitude)


@dataclass
class MinMaxScaler:
    """Affine map of each column from ``[minimum, maximum]`` to ``feature_range``.

    Parameters
    ----------
    minimum, maximum : numpy.ndarray
        Per-column training minimum and maximum.
    feature_range : tuple of float
        Interval the training range is mapped onto.

    Examples
    --------
    >>> scaler = MinMaxScaler.fit(np.array([[0.0, 10.0], [2.0, 30.0]]))
    >>> scaler.transform(np.array([[1.0, 20.0]]))
    array([[0.5, 0.5]])
    >>> scaler.inverse_transform(np.array([[0.5, 0.5]]))
    array([[ 1., 20.]])
    """

    minimum: np.ndarray
    maximum: np.ndarray
    feature_range: tuple[float, float] = (0.0, 1.0)

    @classmethod
    def fit(
        cls,
        samples: np.ndarray,
        feature_range: tuple[float, float] = (0.0, 1.0),
        names: Sequence[str] | None = None,
    ) -> "MinMaxScaler":
        """Learn per-column minimum and maximum from ``samples`` ``(n_samples, n_columns)``.

        A constant column triggers a `ConstantFeatureWarning` naming it; it is
        then mapped to the lower end of ``feature_range`` instead of dividing by zero.

        Parameters
        ----------
        samples : numpy.ndarray
            Finite training samples.
        feature_range : tuple of float, default (0, 1)
        names : sequence of str, optional
            Column names used in the warning.

        Returns
        -------
        MinMaxScaler
        """
        samples = np.asarray(samples)
        return cls.from_extremes(samples.min(axis=0), samples.max(axis=0), feature_range, names)

    @classmethod
    def from_extremes(
        cls,
        minimum: np.ndarray,
        maximum: np.ndarray,
        feature_range: tuple[float, float] = (0.0, 1.0),
        names: Sequence[str] | None = None,
    ) -> "MinMaxScaler":
        """Build a scaler from precomputed extremes (e.g. one lazy reduction pass over a dask array).

        Parameters
        ----------
        minimum, maximum : numpy.ndarray
            Per-column extremes of the training samples.
        feature_range : tuple of float, default (0, 1)
        names : sequence of str, optional
            Column names used in the constant-column warning.

        Returns
        -------
        MinMaxScaler
        """
        minimum = np.atleast_1d(np.asarray(minimum, dtype=np.float64))
        maximum = np.atleast_1d(np.asarray(maximum, dtype=np.float64))
        low, high = feature_range
        if not low < high:
            raise ValueError(f"feature_range must be increasing, got {feature_range}.")
        constant = _is_constant(minimum, maximum)
        if constant.any():
            labels = [names[i] if names is not None else f"column {i}" for i in np.flatnonzero(constant)]
            warnings.warn(
                f"{', '.join(map(str, labels))} is constant over the training samples "
                f"(value {minimum[constant].tolist()}); it carries no information and is scaled to {low}. "
                "Drop it from drivers or train on samples where it varies.",
                ConstantFeatureWarning,
                stacklevel=3,
            )
        return cls(minimum, maximum, (float(low), float(high)))

    @property
    def span(self) -> np.ndarray:
        """``maximum - minimum`` per column, 1 for constant columns (which scale to the range's low end)."""
        return np.where(_is_constant(self.minimum, self.maximum), 1.0, self.maximum - self.minimum)

    def transform(self, values: np.ndarray, dtype: np.dtype | str | None = None) -> np.ndarray:
        """Map ``values`` ``(n_samples, n_columns)`` into the scaled space."""
        low, high = self.feature_range
        factor = (high - low) / self.span
        result = (np.asarray(values, dtype=np.float64) - self.minimum) * factor + low
        return result if dtype is None else result.astype(dtype, copy=False)

    def inverse_transform(self, values: np.ndarray) -> np.ndarray:
        """Map scaled ``values`` back to the original units (float64)."""
        low, high = self.feature_range
        factor = self.span / (high - low)
        return (np.asarray(values, dtype=np.float64) - low) * factor + self.minimum
