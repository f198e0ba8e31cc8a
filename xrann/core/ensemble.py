"""The ensemble core: several networks (or linear maps) that predict their mean (numpy)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["EnsembleCore", "ENSEMBLE_KINDS"]

ENSEMBLE_KINDS = ("bootstrap", "folds")


@dataclass
class EnsembleCore:
    """Member cores whose mean is the ensemble's prediction (same interface as one core).

    Attributes
    ----------
    members : list
        One core (e.g. `xrann.core.network.SigmoidNetwork`) per member, all the same architecture.
    kind : str
        ``"bootstrap"`` or ``"folds"``.

    Examples
    --------
    >>> from xrann.core.linear import LinearMap
    >>> core = EnsembleCore([LinearMap(np.ones((1, 1)), np.zeros(1)), LinearMap(np.ones((1, 1)), np.ones(1))], "bootstrap")
    >>> core.predict(np.array([[1.0]]))
    array([[1.5]])
    >>> core.to_arrays()["intercept"].shape
    (2, 1)
    """

    members: list[Any]
    kind: str

    @property
    def sizes(self) -> tuple[int, ...] | None:
        """Nodes per layer of every member (``None`` for linear members)."""
        return getattr(self.members[0], "sizes", None)

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        """Mean of the members' scaled outputs ``(n_samples, n_outputs)``."""
        return np.mean([member.predict(inputs) for member in self.members], axis=0)

    def select_outputs(self, columns) -> "EnsembleCore":
        """The ensemble restricted to some output columns (each member's `select_outputs`).

        Examples
        --------
        >>> from xrann.core.linear import LinearMap
        >>> core = EnsembleCore([LinearMap(np.ones((1, 2)), np.array([0.0, 1.0]))] * 2, "bootstrap")
        >>> core.select_outputs([1]).predict(np.array([[1.0]]))
        array([[2.]])
        """
        return EnsembleCore([member.select_outputs(columns) for member in self.members], self.kind)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Each member's parameter arrays stacked along a leading member axis."""
        per_member = [member.to_arrays() for member in self.members]
        return {name: np.stack([arrays[name] for arrays in per_member]) for name in per_member[0]}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray], member_class: Any, kind: str) -> "EnsembleCore":
        """Rebuild from `to_arrays` output; ``member_class`` rebuilds each member (e.g. `SigmoidNetwork`)."""
        n_members = len(next(iter(arrays.values())))
        members = [member_class.from_arrays({name: array[i] for name, array in arrays.items()}) for i in range(n_members)]
        return cls(members, kind)
