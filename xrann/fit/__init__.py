"""Fitting: settings, the data pass, one gradient source per mode (memory, stream, batch), ensembles, the envelope."""

from .dataset import fit_dataset
from .settings import FitSettings

__all__ = ["fit_dataset", "FitSettings"]
