"""The ``.ann`` Dataset accessor: argument hand-off and delegation only.

Importing `xrann` registers it, so every `xarray.Dataset` gains ``ds.ann``.
All work happens in plain functions (`xrann.fitting`) that can be used and
tested without the accessor.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import xarray as xr

from .fitting import Validation, fit_dataset, predict_dataset
from .model import Model

__all__ = ["AnnAccessor"]


@xr.register_dataset_accessor("ann")
class AnnAccessor:
    """Fit and apply small sigmoid networks on a Dataset's grid.

    The accessor remembers the last model fitted through it, so
    ``ds.ann.fit(...)`` followed by ``ds.ann.predict()`` works on the same
    Dataset object. The Dataset itself is never modified.

    Examples
    --------
    >>> import xrann
    >>> ds = xrann.datasets.soil_toy()
    >>> model = ds.ann.fit(target="co2_flux", drivers=["soil_moisture", "grain_size"], seed=0)
    >>> ds.ann.predict().name
    'co2_flux_predicted'
    """

    def __init__(self, dataset: xr.Dataset) -> None:
        self._dataset = dataset
        self._model: Model | None = None

    @property
    def model(self) -> Model | None:
        """The last model fitted through this accessor, or ``None``."""
        return self._model

    def fit(
        self,
        target: Hashable,
        drivers: Sequence[Hashable] | None = None,
        *,
        validation: Validation = None,
        mode: str | None = None,
        progress: bool | None = None,
        **settings: Any,
    ) -> Model:
        """Train a model predicting ``target`` from ``drivers``; see `xrann.fitting.fit_dataset`.

        Parameters
        ----------
        target : hashable
            Variable name or CF standard name.
        drivers : sequence of hashable, optional
            Names or CF standard names; ``None`` uses every numeric variable on the target's grid.
        validation : float or mapping, optional
            Fraction or ``{dim: labels}`` held out for early stopping.
        mode : {"memory", "stream", "batch"}, optional
        progress : bool, optional
        **settings
            ``hidden``, ``bias``, ``optimizer``, ``learning_rate``, ``epochs``,
            ``batch_size``, ``patience``, ``seed``, ``dtype``, ``init``, ``loss``,
            ``target_range``, ``method``.

        Returns
        -------
        Model
            Also remembered for `predict`.

        Raises
        ------
        KeyError, ValueError, TypeError
            Bad arguments, raised before training starts.
        """
        self._model = fit_dataset(
            self._dataset, target, drivers, validation=validation, mode=mode, progress=progress, **settings
        )
        return self._model

    def _resolve_model(self, model: Model | None) -> Model:
        if model is not None:
            return model
        if self._model is None:
            raise ValueError(
                "no model: pass one, e.g. ds.ann.predict(model) or ds.ann.predict(xrann.open_model(path)), "
                "or call ds.ann.fit(...) on this Dataset first."
            )
        return self._model

    def predict(self, model: Model | None = None) -> xr.DataArray:
        """Predict the model's target on this Dataset's grid; see `xrann.fitting.predict_dataset`.

        Parameters
        ----------
        model : Model, optional
            Defaults to the model last fitted through this accessor.

        Returns
        -------
        xarray.DataArray
            ``"<target>_predicted"`` on the Dataset's grid, NaN where drivers are missing;
            lazy when the drivers are dask-backed.

        Raises
        ------
        ValueError
            No model given and none fitted; driver units differ from training.
        KeyError
            The model's drivers are missing.
        """
        return predict_dataset(self._dataset, self._resolve_model(model))
