"""A linear least-squares baseline with the same core interface as the network (numpy).

It maps scaled drivers to the scaled target with ``y = X @ coefficients + intercept``,
fitted by ordinary least squares, so users can show what the network adds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

__all__ = ["LinearMap"]


@dataclass
class LinearMap:
    """Coefficients and intercept of a least-squares fit on scaled drivers.

    Parameters
    ----------
    coefficients : numpy.ndarray
        ``(n_drivers, n_outputs)`` slopes on the scaled drivers.
    intercept : numpy.ndarray
        ``(n_outputs,)`` scaled prediction where every scaled driver is zero.

    Examples
    --------
    >>> x = np.array([[0.0], [0.5], [1.0]]); y = 0.2 + 0.4 * x
    >>> LinearMap.fit(x, y).predict(np.array([[0.25]]))
    array([[0.3]])
    """

    coefficients: np.ndarray
    intercept: np.ndarray

    @classmethod
    def fit(cls, inputs: np.ndarray, targets: np.ndarray, weights: np.ndarray | None = None) -> "LinearMap":
        """Ordinary (or, with ``weights``, weighted) least squares of ``targets`` ``(n, n_outputs)`` on ``inputs`` ``(n, n_drivers)``.

        Parameters
        ----------
        inputs : numpy.ndarray
        targets : numpy.ndarray
        weights : numpy.ndarray, optional
            Non-negative sample weights ``(n,)``: minimises ``sum(weights * residual ** 2)``.

        Returns
        -------
        LinearMap
        """
        inputs = np.asarray(inputs, dtype=np.float64)
        design = np.hstack([inputs, np.ones((inputs.shape[0], 1))])
        targets = np.asarray(targets, dtype=np.float64)
        if weights is not None:  # rows times sqrt(w): the weighted problem as an ordinary one
            root = np.sqrt(np.asarray(weights, dtype=np.float64)).reshape(-1, 1)
            design, targets = design * root, targets * root
        solution, *_ = np.linalg.lstsq(design, targets, rcond=None)
        return cls(solution[:-1], solution[-1])

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        """Scaled predictions ``(n, n_outputs)``."""
        return np.asarray(inputs, dtype=np.float64) @ self.coefficients + self.intercept

    def select_outputs(self, columns) -> "LinearMap":
        """The map restricted to some output columns.

        Examples
        --------
        >>> LinearMap(np.ones((2, 3)), np.arange(3.0)).select_outputs([2]).intercept
        array([2.])
        """
        columns = list(columns)
        return LinearMap(self.coefficients[:, columns], self.intercept[columns])

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Parameters by name for storage."""
        return {"coefficients": self.coefficients, "intercept": self.intercept}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> "LinearMap":
        """Rebuild from `to_arrays` output."""
        return cls(np.asarray(arrays["coefficients"]), np.asarray(arrays["intercept"]))
