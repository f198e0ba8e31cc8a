"""The ``.ann`` Dataset accessor: argument hand-off and delegation only.

Importing `xrann` registers it, so every `xarray.Dataset` gains ``ds.ann``.
All work happens in plain functions (`xrann.fit`, `xrann.predict`, ...) that can be used and
tested without the accessor.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import xarray as xr

from .attribution import anomaly_attribution
from .evaluation import evaluate
from .fit import fit_dataset
from .fit.settings import Validation
from .importance import driver_importance
from .model import Model
from .predict import extrapolation_flags, predict_dataset
from .predict.grid import check_model
from .response import RESPONSE_MAX_SAMPLES, response_curve
from .shapley import DEFAULT_MAX_BACKGROUND, shapley_values

__all__ = ["AnnAccessor"]


@xr.register_dataset_accessor("ann")
class AnnAccessor:
    """Fit and apply small sigmoid networks on a Dataset's grid.

    The accessor remembers the last model fitted through it, so
    ``ds.ann.fit(...)`` followed by ``ds.ann.predict()`` works on the same
    Dataset object. The Dataset itself is never modified.

    Parameters
    ----------
    dataset : xarray.Dataset
        The Dataset the accessor belongs to; xarray passes it when you write ``ds.ann``.

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
        """The last model fitted through this accessor, or ``None``.

        Returns
        -------
        Model or None

        Examples
        --------
        >>> import xrann
        >>> ds = xrann.datasets.soil_toy()
        >>> ds.ann.model is None
        True
        >>> model = ds.ann.fit(target="co2_flux", seed=0)
        >>> ds.ann.model is model
        True
        """
        return self._model

    def fit(
        self,
        target: Hashable | Sequence[Hashable],
        drivers: Sequence[Hashable] | None = None,
        *,
        validation: Validation = "auto",
        mode: str | None = None,
        progress: bool | None = None,
        **settings: Any,
    ) -> Model:
        """Train a model predicting ``target`` from ``drivers``; see `xrann.fit.fit_dataset`.

        Parameters
        ----------
        target : hashable or list of hashable
            Variable name or CF standard name; a list (``["nee", "gpp", "reco"]``) trains one
            network with an output per target (see `xrann.fit.fit_dataset`).
        drivers : sequence of hashable, optional
            Names or CF standard names; ``None`` uses every numeric variable on the target's grid.
        validation : "auto", float, mapping or None, default "auto"
            Samples held out to stop on: ``"auto"`` (10 % with at least 1,000
            valid samples), a fraction, or ``{dim: labels}``; see `xrann.fit.fit_dataset`.
        mode : {"memory", "stream", "batch"}, optional
        progress : bool, optional
        **settings
            ``hidden``, ``bias``, ``optimizer``, ``learning_rate``, ``optimizer_options``,
            ``epochs``, ``batch_size``, ``patience``, ``tolerance``, ``seed``, ``dtype``,
            ``init``, ``loss``, ``target_range``, ``method`` (see `xrann.fit.settings.FitSettings`);
            ``members`` and ``ensemble`` for an ensemble (see `xrann.fit.ensemble`).

        Returns
        -------
        Model
            Also remembered for `predict`.

        Raises
        ------
        KeyError, ValueError, TypeError
            Bad arguments, raised before training starts.

        Examples
        --------
        >>> import xrann
        >>> ds = xrann.datasets.soil_toy(dry=True)
        >>> model = ds.ann.fit(target="co2_flux", drivers=["soil_moisture", "grain_size"], seed=0, progress=False)
        >>> model.sample_counts["training"], model.hyperparameters["resolved_optimizer"], bool(model.history.attrs["converged"])
        (5, 'lm', True)

        Five sites are too few for ``validation="auto"`` to hold any out, so training
        stopped on the training loss. To stop on held-out samples, name them:

        >>> model = ds.ann.fit(target="co2_flux", seed=0, validation={"site": [4]}, progress=False)
        >>> model.sample_counts["training"], model.sample_counts["validation"]
        (4, 1)
        """
        self._model = fit_dataset(
            self._dataset, target, drivers, validation=validation, mode=mode, progress=progress, **settings
        )
        return self._model

    def _resolve_model(self, model: Model | None) -> Model:
        if model is not None:
            check_model(model)  # a path fails here for every method, naming xrann.open_model
            return model
        if self._model is None:
            raise ValueError(
                "no model: pass one, e.g. ds.ann.predict(model) or ds.ann.predict(xrann.open_model(path)), "
                "or call ds.ann.fit(...) on this Dataset first."
            )
        return self._model

    def predict(
        self,
        model: Model | None = None,
        *,
        members: bool = False,
        std: bool = False,
        mask_extrapolation: bool | float = False,
    ) -> xr.DataArray | xr.Dataset:
        """Predict the model's target on this Dataset's grid; see `xrann.predict.predict_dataset`.

        Parameters
        ----------
        model : Model, optional
            Defaults to the model last fitted through this accessor.
        members : bool, default False
            Ensembles only: every member's prediction along a ``member`` dim.
        std : bool, default False
            Ensembles only: a Dataset with the mean and ``"<target>_predicted_std"``.
        mask_extrapolation : bool or float, default False
            NaN outside the training range or beyond this envelope distance (``True``: 2).

        Returns
        -------
        xarray.DataArray or xarray.Dataset
            ``"<target>_predicted"`` on the Dataset's grid, NaN where drivers are missing;
            lazy when the drivers are dask-backed. A model of several targets gives a
            Dataset with one ``"<target>_predicted"`` per target.

        Raises
        ------
        ValueError
            No model given and none fitted; driver units differ from training;
            ``members`` or ``std`` for a single model.
        KeyError
            The model's drivers are missing.
        TypeError
            ``model`` is not a `Model`, e.g. a path: open it with ``xrann.open_model(path)`` first.

        Examples
        --------
        >>> import xrann
        >>> ds = xrann.datasets.soil_toy()
        >>> model = ds.ann.fit(target="co2_flux", seed=0, epochs=20, members=3)
        >>> sites = xrann.datasets.soil_toy_sites()
        >>> sites.ann.predict(model, members=True).sizes["member"]
        3
        >>> int(sites.ann.predict(model, mask_extrapolation=True).count())
        1
        """
        return predict_dataset(
            self._dataset, self._resolve_model(model), members=members, std=std, mask_extrapolation=mask_extrapolation
        )

    def evaluate(
        self, model: Model | None = None, period: Any = None, *, budgets: bool | None = None, regions: Any = None
    ) -> xr.Dataset:
        """Compare the model's predictions with the observed target; see `xrann.evaluation.evaluate`.

        Parameters
        ----------
        model : Model, optional
            Defaults to the model last fitted through this accessor.
        period : slice, int or list of int, optional
            Times to evaluate, e.g. the held-out years ``[2007, 2015]``.
        budgets : bool, optional
            Annual budgets in PgC per year; ``None`` computes them when the target's units allow.
        regions : xarray.DataArray or regionmask.Regions, optional
            Region labels on the grid: budgets and IAV per region along a ``region`` dim.

        Returns
        -------
        xarray.Dataset
            Area-weighted scores, regional series and ``temporal_r``, mean maps and
            ``spatial_r``, the seasonal cycle, annual budgets and their variability;
            one of each per label of any dim beyond the model's sample dims.
            For a model of several targets, one per target along a ``target`` dim.

        Raises
        ------
        KeyError
            The target or a driver is missing.
        ValueError
            No model; a period outside the data; unconvertible units with ``budgets=True``.

        Examples
        --------
        >>> import xrann
        >>> ds = xrann.datasets.soil_toy(dry=True)
        >>> _ = ds.ann.fit(target="co2_flux", seed=0, progress=False)
        >>> float(ds.ann.evaluate()["r2"]) <= 1
        True
        """
        return evaluate(self._dataset, self._resolve_model(model), period, budgets=budgets, regions=regions)

    def importance(
        self, model: Model | None = None, *, n_repeats: int = 5, seed: int = 0, dim: Hashable | None = None,
        max_samples: int | None = None,
    ) -> xr.Dataset:
        """Permutation importance of each driver; see `xrann.importance.driver_importance`.

        Parameters
        ----------
        model : Model, optional
            Defaults to the model last fitted through this accessor.
        n_repeats : int, default 5
        seed : int, default 0
        dim : hashable, optional
            Compute within groups, e.g. ``"time.season"``.
        max_samples : int, optional

        Returns
        -------
        xarray.Dataset
            ``importance``, ``importance_std``, ``baseline_mse`` over ``driver``.
            For a model of several targets, one per target along a ``target`` dim.

        Raises
        ------
        KeyError
            The target or a driver is missing.
        ValueError
            ``n_repeats < 1`` and other bad arguments.

        Examples
        --------
        >>> import xrann
        >>> ds = xrann.datasets.soil_toy(dry=True)
        >>> model = ds.ann.fit(target="co2_flux", seed=0, epochs=100)
        >>> ds.ann.importance(n_repeats=2)["importance"].dims
        ('driver',)
        """
        return driver_importance(
            self._dataset, self._resolve_model(model), n_repeats=n_repeats, seed=seed, dim=dim, max_samples=max_samples
        )

    def response(
        self, driver: Hashable | Sequence[Hashable], model: Model | None = None, *, n: int = 50,
        max_samples: int | None = RESPONSE_MAX_SAMPLES, seed: int = 0,
    ) -> xr.DataArray:
        """Response curve (partial dependence) on one driver, or a surface on two; see `xrann.response.response_curve`.

        Parameters
        ----------
        driver : hashable or sequence of two hashables
        model : Model, optional
            Defaults to the model last fitted through this accessor.
        n : int, default 50
        max_samples : int or None, default 2000
        seed : int, default 0

        Returns
        -------
        xarray.DataArray
            Over the driver's training range, dim named after the driver.
            For a model of several targets, one per target along a ``target`` dim.

        Raises
        ------
        KeyError
            A driver the model does not have, or drivers missing from the Dataset.

        Examples
        --------
        >>> import xrann
        >>> ds = xrann.datasets.soil_toy()
        >>> model = ds.ann.fit(target="co2_flux", seed=0, epochs=100)
        >>> ds.ann.response("grain_size", n=10).dims
        ('grain_size',)
        """
        return response_curve(self._dataset, self._resolve_model(model), driver, n=n, max_samples=max_samples, seed=seed)

    def extrapolation(self, model: Model | None = None) -> xr.Dataset:
        """Where the model extrapolates; see `xrann.predict.extrapolation_flags`.

        Parameters
        ----------
        model : Model, optional
            Defaults to the model last fitted through this accessor.

        Returns
        -------
        xarray.Dataset
            Boolean ``outside_range`` and float ``envelope_distance`` on the grid (lazy for dask).

        Raises
        ------
        KeyError
            The model's drivers are missing.

        Examples
        --------
        >>> import xrann
        >>> model = xrann.datasets.soil_toy().ann.fit(target="co2_flux", seed=0)
        >>> xrann.datasets.soil_toy_sites().ann.extrapolation(model)["outside_range"].data.tolist()
        [True, True, False, True, True, True]
        """
        return extrapolation_flags(self._dataset, self._resolve_model(model))

    def shapley(
        self, model: Model | None = None, *, background: Any = None, groups: Any = None, members: bool = False,
        method: str = "exact", max_background: int = DEFAULT_MAX_BACKGROUND, n_pairs: int = 64, seed: int = 0,
    ) -> xr.DataArray:
        """Shapley values of each driver at every grid point; see `xrann.shapley.shapley_values`.

        Parameters
        ----------
        model : Model, optional
            Defaults to the model last fitted through this accessor.
        background : None, "climatology", xarray.Dataset or dict
        groups : mapping of label to list of drivers, optional
        members : bool, default False
        method : {"exact", "sampling"}
        max_background : int, default 100
        n_pairs : int, default 64
        seed : int, default 0

        Returns
        -------
        xarray.DataArray
            ``"<target>_shapley"`` with a ``driver`` dim and a ``base_value`` coordinate.
            For a model of several targets, one per target along a ``target`` dim.

        Raises
        ------
        KeyError, ValueError, TypeError
            As `xrann.shapley.shapley_values`.

        Examples
        --------
        >>> import xrann
        >>> ds = xrann.datasets.soil_toy()
        >>> model = ds.ann.fit(target="co2_flux", seed=0)
        >>> ds.ann.shapley().dims
        ('driver', 'site')
        """
        return shapley_values(
            self._dataset, self._resolve_model(model), background=background, groups=groups, members=members,
            method=method, max_background=max_background, n_pairs=n_pairs, seed=seed,
        )

    def anomaly_attribution(
        self, period: Any, reference: Any, model: Model | None = None, *, regions: xr.DataArray | None = None,
        cell_area: xr.DataArray | None = None, groups: Any = None, members: bool = False,
    ) -> xr.Dataset:
        """A predicted budget anomaly split exactly among the drivers; see `xrann.attribution.anomaly_attribution`.

        Parameters
        ----------
        period : int or sequence of int
        reference : sequence of int
        model : Model, optional
            Defaults to the model last fitted through this accessor.
        regions : xarray.DataArray, optional
        cell_area : xarray.DataArray, optional
        groups : mapping, optional
        members : bool, default False

        Returns
        -------
        xarray.Dataset
            ``contribution`` per driver (PgC yr-1), ``total``, ``anomaly``, ``map`` and more.
            For a model of several targets, one per target along a ``target`` dim.

        Raises
        ------
        KeyError, ValueError
            As `xrann.attribution.anomaly_attribution`.

        Examples
        --------
        >>> import xrann
        >>> ds = xrann.datasets.north_america_nee(resolution=10.0, start="2010-01", end="2012-12")
        >>> model = ds.ann.fit(target="nee", drivers=["t2m", "soilm"], seed=0, progress=False)
        >>> ds.ann.anomaly_attribution(period=2012, reference=[2010, 2011])["contribution"].dims
        ('driver',)
        """
        return anomaly_attribution(
            self._dataset, self._resolve_model(model), period, reference, regions=regions, cell_area=cell_area,
            groups=groups, members=members,
        )
