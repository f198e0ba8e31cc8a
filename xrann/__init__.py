"""xrann: small from-scratch sigmoid neural networks for gridded xarray Datasets.

Importing the package registers the ``.ann`` accessor on `xarray.Dataset`::

    import xarray as xr, xrann
    model = ds.ann.fit(target="nee", drivers=["t2m", "swdown", "vpd", "soilm"])
    nee_hat = ds.ann.predict()
"""

from . import datasets
from ._version import __version__
from .accessor import AnnAccessor
from .fitting import fit_dataset, predict_dataset
from .model import Model, ModelFormatError, open_model
from .training import TrainingDivergedError

__all__ = [
    "__version__",
    "AnnAccessor",
    "Model",
    "ModelFormatError",
    "TrainingDivergedError",
    "datasets",
    "fit_dataset",
    "open_model",
    "predict_dataset",
]
