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


def _check_ranges(
    minimum: np.ndarray, maximum: np.ndarray, feature_range: tuple[float, float], names: Sequence[str] | None
) -> None:
    """Raise `ValueError` for a column whose range float64 arithmetic cannot scale, naming it and its range.

    Caught here, before training, rather than as a training that "diverges"
    on NaN: non-finite extremes, a width ``maximum - minimum`` that overflows
    (values near ±1e308), and a scale factor that overflows or underflows in
    either direction, so that the scaled space's ends (the feature range,
    and ``[0, 1]`` which a sigmoid output can reach) would not map back to
    finite values. Ranges at rounding level (subnormal widths) are left to
    the constant-column rule.
    """
    low, high = feature_range
    width = high - low
    with np.errstate(over="ignore", invalid="ignore", under="ignore", divide="ignore"):
        finite = np.isfinite(minimum) & np.isfinite(maximum)
        span = maximum - minimum
        varying = finite & ~_is_constant(minimum, maximum)
        forward = width / span
        backward = span / width
        ends = np.array([min(low, 0.0), max(high, 1.0)])
        reach = (ends[:, None] - low) * backward + minimum
        fits = np.isfinite(span) & (forward > 0) & np.isfinite(forward) & np.isfinite(backward) & np.isfinite(reach).all(axis=0)
    for i in np.flatnonzero(~finite | (varying & ~fits)):
        label = names[i] if names is not None else f"column {i}"
        extent = f"[{minimum[i]:.6g}, {maximum[i]:.6g}]"
        if not finite[i]:
            raise ValueError(
                f"{label} has non-finite extremes {extent} over the training samples; the scaling needs finite "
                "values. Scale on finite samples only (fits leave out NaN; replace infinite values by NaN) or drop it."
            )
        problem = (
            "whose width overflows float64" if not np.isfinite(span[i])
            else f"too wide to map onto {feature_range} and back in float64 (the scale factor overflows)"
        )
        raise ValueError(
            f"{label} ranges over {extent}, {problem}; training on it would only produce NaN or infinite values. "
            "Rescale it to a smaller magnitude (e.g. change its units) before fitting, or drop it."
        )


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

        A constant column (also one whose range is at rounding level, such as
        a subnormal width) triggers a `ConstantFeatureWarning` naming it; it is
        then mapped to the lower end of ``feature_range`` instead of dividing by zero.

        Parameters
        ----------
        samples : numpy.ndarray
            Finite training samples.
        feature_range : tuple of float, default (0, 1)
        names : sequence of str, optional
            Column names used in the warning and in errors.

        Returns
        -------
        MinMaxScaler

        Raises
        ------
        ValueError
            A column whose range float64 cannot scale (non-finite extremes, a
            width that overflows, a scale factor that overflows), naming it and its range.

        Examples
        --------
        >>> MinMaxScaler.fit(np.array([[-1e308], [1e308]]), names=["driver 'x'"])
        Traceback (most recent call last):
        ...
        ValueError: driver 'x' ranges over [-1e+308, 1e+308], whose width overflows float64; ...
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
            Column names used in the constant-column warning and in errors.

        Returns
        -------
        MinMaxScaler

        Raises
        ------
        ValueError
            A column whose range float64 cannot scale, as for `MinMaxScaler.fit`.
        """
        minimum = np.atleast_1d(np.asarray(minimum, dtype=np.float64))
        maximum = np.atleast_1d(np.asarray(maximum, dtype=np.float64))
        low, high = feature_range
        if not (np.isfinite(low) and np.isfinite(high) and low < high):
            raise ValueError(f"feature_range must be increasing finite numbers (low, high), got {feature_range}.")
        _check_ranges(minimum, maximum, (float(low), float(high)), names)
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
