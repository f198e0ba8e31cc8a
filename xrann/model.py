"""The fitted model: a core (network or linear map) + scaling + metadata, saved as netCDF.

A `Model` knows how to turn driver values in their own units into target
values in the target's units (`Model.predict_array`). It also carries what is
needed to use it on another Dataset: driver names, units and CF standard names,
the sample dims it was trained on, the training history and the sample counts.

Files are written and read through xarray (`Model.to_netcdf`, `open_model`);
the layout is described in the documentation page "Model file format".
"""

from __future__ import annotations

import json
import os
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import xarray as xr

from ._version import __version__
from .core.ensemble import EnsembleCore
from .core.envelope import Envelope
from .core.linear import LinearMap
from .core.network import SigmoidNetwork
from .core.scaling import MinMaxScaler
from .repr import model_html, model_text

__all__ = ["Model", "Core", "open_model", "ModelFormatError", "FORMAT_NAME", "FORMAT_VERSION", "CORES"]

FORMAT_NAME = "xrann-model"
#: bumped whenever a file written by this version cannot be read by an older one;
#: 2 added ensembles (core arrays with a leading ``member`` dim) and the training envelope
FORMAT_VERSION = 2


class ModelFormatError(ValueError):
    """A file is not an xrann model, or was written by an incompatible version.

    Examples
    --------
    >>> Model.from_dataset(xr.Dataset())
    Traceback (most recent call last):
    ...
    xrann.model.ModelFormatError: this is not an xrann model file ...
    """


class Core(Protocol):
    """What a model's predictive core provides: predictions on scaled drivers and a flat array view.

    Examples
    --------
    >>> core = CORES["linear"](np.array([[2.0]]), np.array([0.5]))
    >>> core.predict(np.array([[1.0]])), sorted(core.to_arrays())
    (array([[2.5]]), ['coefficients', 'intercept'])
    """

    def predict(self, inputs: np.ndarray) -> np.ndarray:  # pragma: no cover - protocol
        """Scaled targets ``(n, 1)`` for scaled drivers ``(n, n_drivers)``."""

    def to_arrays(self) -> dict[str, np.ndarray]:  # pragma: no cover - protocol
        """Named parameter arrays to store in the model file."""

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> "Core":  # pragma: no cover - protocol
        """Rebuild the core from `to_arrays` output."""


#: cores by the ``method`` name stored in model files
CORES: dict[str, Any] = {"ann": SigmoidNetwork, "linear": LinearMap}


@dataclass
class Model:
    """A fitted xrann model.

    Usually made by ``ds.ann.fit(...)`` or `open_model`, not by hand.

    Attributes
    ----------
    core : SigmoidNetwork or other `Core`
        Maps scaled drivers to the scaled target.
    driver_scaler, target_scaler : MinMaxScaler
        Scaling fitted on the training samples.
    target : str
        Name of the predicted variable.
    drivers : list of str
        Driver variable names, in column order.
    sample_dims : tuple of str
        Dims of the target the model was trained on.
    driver_attrs : dict
        Per driver, its ``units``, ``standard_name`` and ``long_name`` where known.
    target_attrs : dict
        The target's ``units``, ``standard_name`` and ``long_name`` where known.
    hyperparameters : dict
        Settings used for training (JSON-serialisable).
    history : xarray.Dataset
        ``loss`` and ``val_loss`` per ``epoch`` (scaled units).
    sample_counts : dict
        ``grid_points``, ``dropped`` (NaN/inf in target or a driver), ``training``, ``validation``.
    method : str
        ``"ann"`` for the sigmoid network.
    dtype : str
        Floating dtype the core computes in.
    envelope : xrann.core.envelope.Envelope or None
        k-means centroids of the scaled training drivers, for extrapolation
        flags (``None`` for files written before format version 2).
    version : str
        Version of xrann that fitted the model (or wrote its file).

    Examples
    --------
    >>> import xrann
    >>> model = xrann.datasets.soil_toy().ann.fit(target="co2_flux", seed=0)
    >>> model.target, model.drivers, model.sample_dims
    ('co2_flux', ['soil_moisture', 'grain_size'], ('site',))
    """

    core: Any
    driver_scaler: MinMaxScaler
    target_scaler: MinMaxScaler
    target: str
    drivers: list[str]
    sample_dims: tuple[str, ...]
    driver_attrs: dict[str, dict[str, str]] = field(default_factory=dict)
    target_attrs: dict[str, str] = field(default_factory=dict)
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    history: xr.Dataset = field(default_factory=xr.Dataset)
    sample_counts: dict[str, int] = field(default_factory=dict)
    method: str = "ann"
    dtype: str = "float64"
    version: str = __version__
    envelope: Any = None

    # -- prediction -----------------------------------------------------
    def predict_array(self, drivers: np.ndarray) -> np.ndarray:
        """Predict the target, in its units, from a ``(n_samples, n_drivers)`` driver matrix.

        Parameters
        ----------
        drivers : numpy.ndarray
            Finite driver values in the units the model was trained with, columns
            in the order of `drivers`.

        Returns
        -------
        numpy.ndarray
            ``(n_samples,)`` float64 predictions.

        Raises
        ------
        ValueError
            If the number of columns differs from the number of drivers.

        Examples
        --------
        >>> import xrann
        >>> model = xrann.datasets.soil_toy().ann.fit(target="co2_flux", seed=0)
        >>> model.predict_array(np.array([[58.0, 1.3], [34.0, 1.3]])).round()
        array([166., 100.])
        """
        drivers = np.asarray(drivers)
        if drivers.ndim != 2 or drivers.shape[1] != len(self.drivers):
            raise ValueError(
                f"expected a (n_samples, {len(self.drivers)}) matrix with columns {self.drivers}, got shape {drivers.shape}."
            )
        scaled = self.driver_scaler.transform(drivers, dtype=self.dtype)
        output = self.core.predict(scaled)
        return self.target_scaler.inverse_transform(output)[:, 0]

    @property
    def driver_units(self) -> dict[str, str | None]:
        """Units of each driver at training time (``None`` where unknown).

        Returns
        -------
        dict of str to str or None

        Examples
        --------
        >>> import xrann
        >>> xrann.datasets.soil_toy().ann.fit(target="co2_flux", seed=0).driver_units
        {'soil_moisture': '%', 'grain_size': 'mm'}
        """
        return {name: self.driver_attrs.get(name, {}).get("units") for name in self.drivers}

    @property
    def driver_ranges(self) -> dict[str, tuple[float, float]]:
        """Training minimum and maximum of each driver, in its units.

        Returns
        -------
        dict of str to (float, float)

        Examples
        --------
        >>> import xrann
        >>> xrann.datasets.soil_toy().ann.fit(target="co2_flux", seed=0).driver_ranges
        {'soil_moisture': (34.0, 58.0), 'grain_size': (0.3, 1.3)}
        """
        return {
            name: (float(low), float(high))
            for name, low, high in zip(self.drivers, self.driver_scaler.minimum, self.driver_scaler.maximum)
        }

    @property
    def ensemble(self) -> str | None:
        """How the members of an ensemble differ, or ``None`` for a single model.

        Returns
        -------
        str or None
            ``"bootstrap"`` or ``"folds"`` for an ensemble (see `xrann.fit.ensemble`).

        Examples
        --------
        >>> import xrann
        >>> ds = xrann.datasets.soil_toy()
        >>> ds.ann.fit(target="co2_flux", seed=0, members=2).ensemble
        'bootstrap'
        """
        return getattr(self.core, "kind", None)

    @property
    def n_members(self) -> int:
        """Number of ensemble members (1 for a single model).

        Returns
        -------
        int

        Examples
        --------
        >>> import xrann
        >>> xrann.datasets.soil_toy().ann.fit(target="co2_flux", seed=0, members=3).n_members
        3
        """
        return len(getattr(self.core, "members", [self.core]))

    def __repr__(self) -> str:
        return model_text(self)

    def _repr_html_(self) -> str:
        return model_html(self)

    # -- persistence ----------------------------------------------------
    def to_dataset(self) -> xr.Dataset:
        """The model as an `xarray.Dataset` in the xrann model file layout.

        Returns
        -------
        xarray.Dataset
            Every variable and attribute is described on the documentation page
            "Model file format".

        Examples
        --------
        >>> import xrann
        >>> model_ds = xrann.datasets.soil_toy().ann.fit(target="co2_flux", seed=0).to_dataset()
        >>> model_ds.attrs["xrann_format"], model_ds["core_weight_0"].shape
        ('xrann-model', (2, 4))
        """
        drivers = np.array(self.drivers, dtype=object)
        data_vars: dict[Hashable, Any] = {
            "driver_min": ("driver", self.driver_scaler.minimum),
            "driver_max": ("driver", self.driver_scaler.maximum),
            "target_min": ((), float(self.target_scaler.minimum[0])),
            "target_max": ((), float(self.target_scaler.maximum[0])),
        }
        for key in ("units", "standard_name", "long_name"):
            values = [self.driver_attrs.get(name, {}).get(key, "") or "" for name in self.drivers]
            data_vars[f"driver_{key}"] = ("driver", np.array(values, dtype=object))
        for name, array in self.core.to_arrays().items():
            array = np.asarray(array)
            dims = [f"core_{name}_dim{i}" for i in range(array.ndim)]
            if self.ensemble is not None:
                dims[0] = "member"
            data_vars[f"core_{name}"] = (dims, array)
        if self.envelope is not None:
            data_vars["envelope_centroid"] = (("envelope_cluster", "driver"), self.envelope.centroids)
        model_ds = xr.Dataset(data_vars, coords={"driver": drivers})
        for name, variable in self.history.data_vars.items():
            model_ds[f"history_{name}"] = variable.rename({d: f"history_{d}" for d in variable.dims})
        model_ds.attrs = {
            "xrann_format": FORMAT_NAME,
            "xrann_format_version": FORMAT_VERSION,
            "xrann_version": self.version,
            "method": self.method,
            "dtype": self.dtype,
            "target": self.target,
            "target_attrs": json.dumps(self.target_attrs),
            "sample_dims": json.dumps(list(self.sample_dims)),
            "driver_feature_range": list(self.driver_scaler.feature_range),
            "target_feature_range": list(self.target_scaler.feature_range),
            "hyperparameters": json.dumps(self.hyperparameters),
            "sample_counts": json.dumps(self.sample_counts),
            "history_attrs": json.dumps(self.history.attrs, default=int),
            "title": f"xrann {self.method} model of {self.target}",
        }
        if self.ensemble is not None:
            model_ds.attrs["ensemble"] = self.ensemble
        if self.envelope is not None:
            model_ds.attrs["envelope_reference_distance"] = float(self.envelope.reference_distance)
            model_ds.attrs["envelope_quantile"] = float(self.envelope.quantile)
        return model_ds

    def to_netcdf(self, path: str | os.PathLike, **kwargs: Any) -> None:
        """Write the model to a netCDF file through xarray.

        Parameters
        ----------
        path : str or path-like
        **kwargs
            Passed on to `xarray.Dataset.to_netcdf`.

        Examples
        --------
        >>> import os, tempfile, xrann
        >>> model = xrann.datasets.soil_toy().ann.fit(target="co2_flux", seed=0)
        >>> path = os.path.join(tempfile.mkdtemp(), "soil_model.nc")
        >>> model.to_netcdf(path)
        >>> xr.open_dataset(path).attrs["target"]
        'co2_flux'
        """
        self.to_dataset().to_netcdf(path, **kwargs)

    @classmethod
    def from_dataset(cls, model_ds: xr.Dataset) -> "Model":
        """Rebuild a model from `to_dataset` output.

        Parameters
        ----------
        model_ds : xarray.Dataset
            A model in the file layout, e.g. ``xarray.open_dataset(path)``.

        Returns
        -------
        Model

        Raises
        ------
        ModelFormatError
            If ``model_ds`` is not an xrann model or has a newer format version.

        Examples
        --------
        >>> import xrann
        >>> model = xrann.datasets.soil_toy().ann.fit(target="co2_flux", seed=0)
        >>> Model.from_dataset(model.to_dataset()).drivers
        ['soil_moisture', 'grain_size']
        """
        if model_ds.attrs.get("xrann_format") != FORMAT_NAME:
            raise ModelFormatError(
                "this is not an xrann model file (no global attribute xrann_format='xrann-model'); "
                "open models written by Model.to_netcdf, or data files with xarray.open_dataset."
            )
        version = int(model_ds.attrs.get("xrann_format_version", -1))
        if version > FORMAT_VERSION or version < 1:
            raise ModelFormatError(
                f"the model file has format version {version}, but this xrann ({__version__}) reads "
                f"versions 1 to {FORMAT_VERSION}; upgrade xrann (it was written by xrann "
                f"{model_ds.attrs.get('xrann_version', '?')})."
            )
        method = model_ds.attrs["method"]
        if method not in CORES:
            raise ModelFormatError(f"unknown model method {method!r}; this xrann knows {sorted(CORES)}.")
        arrays = {
            str(name)[len("core_") :]: model_ds[name].values for name in model_ds.data_vars if str(name).startswith("core_")
        }
        if "ensemble" in model_ds.attrs:
            core = EnsembleCore.from_arrays(arrays, CORES[method], kind=str(model_ds.attrs["ensemble"]))
        else:
            core = CORES[method].from_arrays(arrays)
        envelope = None
        if "envelope_centroid" in model_ds:
            envelope = Envelope(
                model_ds["envelope_centroid"].values.astype(np.float64),
                float(model_ds.attrs["envelope_reference_distance"]),
                float(model_ds.attrs["envelope_quantile"]),
            )
        drivers = [str(d) for d in model_ds["driver"].values]
        driver_attrs = {
            name: {
                key: str(model_ds[f"driver_{key}"].values[i])
                for key in ("units", "standard_name", "long_name")
                if str(model_ds[f"driver_{key}"].values[i])
            }
            for i, name in enumerate(drivers)
        }
        history = xr.Dataset(
            {
                str(name)[len("history_") :]: model_ds[name].rename(
                    {d: str(d)[len("history_") :] for d in model_ds[name].dims}
                )
                for name in model_ds.data_vars
                if str(name).startswith("history_")
            }
        )
        history = history.drop_vars([c for c in history.coords if str(c).startswith("history_")], errors="ignore")
        history.attrs = json.loads(model_ds.attrs.get("history_attrs", "{}"))
        return cls(
            core=core,
            driver_scaler=MinMaxScaler(
                model_ds["driver_min"].values.astype(np.float64),
                model_ds["driver_max"].values.astype(np.float64),
                tuple(float(v) for v in np.atleast_1d(model_ds.attrs["driver_feature_range"])),
            ),
            target_scaler=MinMaxScaler(
                np.atleast_1d(model_ds["target_min"].values.astype(np.float64)),
                np.atleast_1d(model_ds["target_max"].values.astype(np.float64)),
                tuple(float(v) for v in np.atleast_1d(model_ds.attrs["target_feature_range"])),
            ),
            target=str(model_ds.attrs["target"]),
            drivers=drivers,
            sample_dims=tuple(json.loads(model_ds.attrs["sample_dims"])),
            driver_attrs=driver_attrs,
            target_attrs=json.loads(model_ds.attrs["target_attrs"]),
            hyperparameters=json.loads(model_ds.attrs["hyperparameters"]),
            history=history,
            sample_counts=json.loads(model_ds.attrs["sample_counts"]),
            method=method,
            dtype=str(model_ds.attrs["dtype"]),
            envelope=envelope,
            version=str(model_ds.attrs.get("xrann_version", "")),
        )


def open_model(path: str | os.PathLike) -> Model:
    """Read a model written by `Model.to_netcdf`.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    Model

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ModelFormatError
        If the file is not an xrann model or has a newer format version.

    Examples
    --------
    >>> import xrann, tempfile, os
    >>> ds = xrann.datasets.soil_toy()
    >>> model = ds.ann.fit(target="co2_flux", seed=0)
    >>> path = os.path.join(tempfile.mkdtemp(), "model.nc")
    >>> model.to_netcdf(path)
    >>> open_model(path).drivers
    ['soil_moisture', 'grain_size']
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f"no model file at {os.fspath(path)!r}.")
    try:
        model_file = xr.open_dataset(path)
    except (OSError, ValueError) as error:
        raise ModelFormatError(
            f"cannot read {os.fspath(path)!r} as a netCDF model file ({type(error).__name__}: {str(error).splitlines()[0]}); "
            "open models written by Model.to_netcdf."
        ) from error
    with model_file as model_ds:
        return Model.from_dataset(model_ds.load())
