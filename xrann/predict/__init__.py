"""Prediction: a model applied at every grid point, back on the exact grid; extrapolation flags; ensembles."""

from .dataset import member_models, predict_dataset, predict_ensemble
from .extrapolation import extrapolation_flags, mask_extrapolated
from .grid import apply_to_grid, check_model, derive_recipe_drivers, resolve_drivers_for_prediction

__all__ = [
    "predict_dataset",
    "predict_ensemble",
    "member_models",
    "extrapolation_flags",
    "mask_extrapolated",
    "apply_to_grid",
    "check_model",
    "resolve_drivers_for_prediction",
    "derive_recipe_drivers",
]
