"""xrann: small from-scratch sigmoid neural networks for gridded xarray Datasets.

Importing the package registers the ``.ann`` accessor on `xarray.Dataset`::

    import xarray as xr, xrann
    model = ds.ann.fit(target="nee", drivers=["t2m", "swdown", "vpd", "soilm"])
    nee_hat = ds.ann.predict()
"""

from . import datasets, metrics
from . import features
from ._version import __version__
from .accessor import AnnAccessor
from .attribution import anomaly_attribution
from .core.engine import ConvergenceWarning, TrainingDivergedError
from .crossval import cross_validate
from .data.cells import cells_to_grid, grid_to_cells
from .fit import fit_dataset
from .importance import driver_importance
from .model import Model, ModelFormatError, open_model
from .predict import extrapolation_flags, predict_dataset, predict_ensemble
from .response import response_curve
from .shapley import shapley_values
from .search import search

__all__ = [
    "__version__",
    "AnnAccessor",
    "cells_to_grid",
    "grid_to_cells",
    "cross_validate",
    "metrics",
    "plot",
    "SigmoidNetRegressor",
    "driver_importance",
    "extrapolation_flags",
    "predict_ensemble",
    "response_curve",
    "shapley_values",
    "anomaly_attribution",
    "Model",
    "ModelFormatError",
    "TrainingDivergedError",
    "ConvergenceWarning",
    "datasets",
    "fit_dataset",
    "open_model",
    "predict_dataset",
    "search",
]


def __getattr__(name: str):
    # scikit-learn is optional: import the estimator only when it is asked for
    if name == "SigmoidNetRegressor":
        from .sklearn import SigmoidNetRegressor

        return SigmoidNetRegressor
    # the plotting module is loaded on first use (matplotlib itself only inside its functions)
    if name == "plot":
        import importlib

        return importlib.import_module(".plot", __name__)
    raise AttributeError(f"module 'xrann' has no attribute {name!r}")
