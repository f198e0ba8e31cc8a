"""The fitted model: a core (network or linear map) + scaling + metadata, saved as netCDF.

A `Model` knows how to turn driver values in their own units into target
values in the target's units (`Model.predict_array`). It also carries what is
needed to use it on another Dataset: driver names, units and CF standard names,
the sample dims it was trained on, the training history and the sample counts.

Files are written and read through xarray (`Model.to_netcdf`, `open_model`);
the layout is described in the documentation page "Model file format".
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import xarray as xr

from ._version import __version__
from .core.ensemble import ENSEMBLE_KINDS, EnsembleCore
from .core.envelope import Envelope
from .core.linear import LinearMap
from .core.network import SigmoidNetwork
from .core.scaling import MinMaxScaler
from .features import Anomaly, Recipe, SeasonalCycle, recipe_from_dict
from .repr import model_html, model_text

__all__ = ["Model", "Core", "open_model", "ModelFormatError", "FORMAT_NAME", "FORMAT_VERSION", "CORES"]

FORMAT_NAME = "xrann-model"
#: bumped whenever a file written by this version cannot be read by an older one;
#: 2 added ensembles (core arrays with a leading ``member`` dim) and the training envelope;
#: 3 added driver recipes (the ``recipes`` attribute, ``climatology_*`` variables), ``driver_provenance``
#: and the description of sample weights in ``hyperparameters``
FORMAT_VERSION = 4


class ModelFormatError(ValueError):
    """A file is not an xrann model, was written by an incompatible version, or fails a check on load.

    The message names the variable or attribute at fault and what to do about it.

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

    The arrays a model holds (core weights and biases, scaling statistics, envelope
    centroids) are private read-only copies made when the model is built, so neither
    the code that built it nor a caller can change its predictions through them;
    `to_dataset` returns copies. For a changed model, use `dataclasses.replace`.

    Attributes
    ----------
    core : SigmoidNetwork or other `Core`
        Maps scaled drivers to the scaled target (one output per target).
    driver_scaler, target_scaler : MinMaxScaler
        Scaling fitted on the training samples (the target scaler has one column per target).
    target : str or tuple of str
        Name of the predicted variable; a tuple of names for a model of several
        targets (fitted with ``target=[...]``), see `targets` and `for_target`.
    drivers : list of str
        Driver variable names, in column order.
    sample_dims : tuple of str
        Dims of the target the model was trained on.
    driver_attrs : dict
        Per driver, its ``units``, ``standard_name`` and ``long_name`` where known.
    target_attrs : dict
        The target's ``units``, ``standard_name`` and ``long_name`` where known; for several
        targets, these per target name (see `attrs_of_target`).
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
    recipes : tuple of xrann.features.Recipe
        The recipes that made some of the drivers (recomputed from raw variables at prediction).
    climatologies : dict of str to xarray.DataArray
        Per raw source of an `~xrann.features.anomaly` or `~xrann.features.seasonal_cycle`
        recipe, its training mean per ``month`` and cell.
    driver_provenance : dict
        Per plain driver, what tells a stand-in apart from it at prediction:
        ``standard_name_shared_with`` (other training variables carrying its
        standard_name) and ``leading_nan_steps`` (all-NaN leading time steps,
        the mark of ``shift``/``rolling``).

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
    target: str | tuple[str, ...]
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
    recipes: tuple[Recipe, ...] = ()
    climatologies: dict[str, xr.DataArray] = field(default_factory=dict)
    driver_provenance: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.target, list):
            self.target = tuple(self.target)
        # own read-only copies, so nothing outside the model can write to its arrays; parts that are
        # already frozen (``dataclasses.replace`` of a model, ensemble members) are kept, not copied
        if not all(_is_frozen(array) for array in _core_parameters(self.core)):
            self.core = _frozen_core(self.core)
        for name in ("driver_scaler", "target_scaler"):
            scaler = getattr(self, name)
            if not (_is_frozen(scaler.minimum) and _is_frozen(scaler.maximum)):
                setattr(self, name, MinMaxScaler(_frozen(scaler.minimum), _frozen(scaler.maximum), tuple(scaler.feature_range)))
        if self.envelope is not None and not _is_frozen(self.envelope.centroids):
            self.envelope = Envelope(_frozen(self.envelope.centroids), self.envelope.reference_distance, self.envelope.quantile)

    # -- targets --------------------------------------------------------
    @property
    def targets(self) -> tuple[str, ...]:
        """The names of the predicted variables, in output order (one for a single-target model).

        Returns
        -------
        tuple of str

        Examples
        --------
        >>> import xrann
        >>> xrann.datasets.soil_toy().ann.fit(target="co2_flux", seed=0).targets
        ('co2_flux',)
        """
        return self.target if isinstance(self.target, tuple) else (self.target,)

    @property
    def several_targets(self) -> bool:
        """Whether the model was fitted with a list of targets (its predictions are then Datasets).

        Returns
        -------
        bool

        Examples
        --------
        >>> import xrann
        >>> xrann.datasets.soil_toy().ann.fit(target="co2_flux", seed=0).several_targets
        False
        """
        return isinstance(self.target, tuple)

    def attrs_of_target(self, name: str) -> dict[str, str]:
        """The ``units``, ``standard_name`` and ``long_name`` of one target (where known).

        Parameters
        ----------
        name : str
            One of `targets`.

        Returns
        -------
        dict

        Raises
        ------
        KeyError
            ``name`` is not a target of the model.

        Examples
        --------
        >>> import xrann
        >>> xrann.datasets.soil_toy().ann.fit(target="co2_flux", seed=0).attrs_of_target("co2_flux")["units"]
        '1'
        """
        self._target_position(name)
        return dict(self.target_attrs.get(name, {})) if self.several_targets else dict(self.target_attrs)

    def _target_position(self, name: str) -> int:
        if name not in self.targets:
            raise KeyError(f"{name!r} is not a target of this model; its targets are {list(self.targets)}.")
        return self.targets.index(name)

    def for_target(self, name: str) -> "Model":
        """The single-target model of one of several targets: same drivers, hidden layers and scaling.

        Its network is this network with only that target's output node, so its
        predictions are that column of this model's `predict_array` (to rounding:
        the matrix products differ in shape) and exactly the ``<target>_predicted``
        of ``predict``, which computes each target through it; importance,
        response curves, Shapley values and evaluation use it per target.

        Parameters
        ----------
        name : str
            One of `targets`.

        Returns
        -------
        Model
            ``self`` for a single-target model asked for its target.

        Raises
        ------
        KeyError
            ``name`` is not a target of the model.

        Examples
        --------
        >>> import numpy as np, xarray as xr
        >>> x = np.linspace(0.0, 1.0, 40)
        >>> ds = xr.Dataset({"a": ("s", x), "y": ("s", x**2), "z": ("s", 1 - x)})
        >>> model = ds.ann.fit(target=["y", "z"], drivers=["a"], seed=0, progress=False)
        >>> model.for_target("z").target, np.allclose(model.for_target("z").predict_array(x[:, None]), model.predict_array(x[:, None])[:, 1])
        ('z', True)
        """
        column = self._target_position(name)
        if not self.several_targets:
            return self
        scaler = self.target_scaler
        return dataclasses.replace(
            self,
            core=self.core.select_outputs([column]),
            target_scaler=MinMaxScaler(scaler.minimum[[column]], scaler.maximum[[column]], tuple(scaler.feature_range)),
            target=name,
            target_attrs=self.attrs_of_target(name),
        )

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
            ``(n_samples,)`` float64 predictions; ``(n_samples, n_targets)`` for a model of
            several targets, columns in the order of `targets`.

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
        unscaled = self.target_scaler.inverse_transform(output)
        return unscaled if self.several_targets else unscaled[:, 0]

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
            "Model file format". Its arrays are copies: editing them does not change
            the model.

        Examples
        --------
        >>> import xrann
        >>> model_ds = xrann.datasets.soil_toy().ann.fit(target="co2_flux", seed=0).to_dataset()
        >>> model_ds.attrs["xrann_format"], model_ds["core_weight_0"].shape
        ('xrann-model', (2, 4))
        """
        drivers = np.array(self.drivers, dtype=object)
        data_vars: dict[Hashable, Any] = {
            "driver_min": ("driver", np.array(self.driver_scaler.minimum)),
            "driver_max": ("driver", np.array(self.driver_scaler.maximum)),
        }
        if self.several_targets:
            data_vars["target_min"] = ("target", np.array(self.target_scaler.minimum, dtype=np.float64))
            data_vars["target_max"] = ("target", np.array(self.target_scaler.maximum, dtype=np.float64))
        else:
            data_vars["target_min"] = ((), float(self.target_scaler.minimum[0]))
            data_vars["target_max"] = ((), float(self.target_scaler.maximum[0]))
        made_by = {name: recipe.kind for recipe in self.recipes for name in recipe.names}
        data_vars["driver_recipe"] = ("driver", np.array([made_by.get(name, "") for name in self.drivers], dtype=object))
        for key in ("units", "standard_name", "long_name"):
            values = [self.driver_attrs.get(name, {}).get(key, "") or "" for name in self.drivers]
            data_vars[f"driver_{key}"] = ("driver", np.array(values, dtype=object))
        for name, array in self.core.to_arrays().items():
            array = np.array(array)  # a writable copy: editing the Dataset leaves the model alone
            dims = [f"core_{name}_dim{i}" for i in range(array.ndim)]
            if self.ensemble is not None:
                dims[0] = "member"
            data_vars[f"core_{name}"] = (dims, array)
        if self.envelope is not None:
            data_vars["envelope_centroid"] = (("envelope_cluster", "driver"), np.array(self.envelope.centroids))
        coords = {"driver": drivers}
        if self.several_targets:
            coords["target"] = np.array(self.targets, dtype=object)
        model_ds = xr.Dataset(data_vars, coords=coords)
        for source, climatology in self.climatologies.items():
            stored = climatology.rename({dim: f"{_CLIMATOLOGY}_{dim}" for dim in climatology.dims}).copy(deep=True)
            model_ds[f"{_CLIMATOLOGY}_{source}"] = stored.drop_attrs().rename(None)
        for name, variable in self.history.data_vars.items():
            model_ds[f"history_{name}"] = variable.rename({d: f"history_{d}" for d in variable.dims}).copy(deep=True)
        model_ds.attrs = {
            "xrann_format": FORMAT_NAME,
            "xrann_format_version": FORMAT_VERSION,
            "xrann_version": self.version,
            "method": self.method,
            "dtype": self.dtype,
            "target": json.dumps(list(self.targets)) if self.several_targets else self.target,
            "target_attrs": json.dumps(self.target_attrs),
            "sample_dims": json.dumps(list(self.sample_dims)),
            "driver_feature_range": list(self.driver_scaler.feature_range),
            "target_feature_range": list(self.target_scaler.feature_range),
            "hyperparameters": json.dumps(self.hyperparameters),
            "sample_counts": json.dumps(self.sample_counts),
            "history_attrs": json.dumps(self.history.attrs, default=int),
            "title": f"xrann {self.method} model of {', '.join(self.targets)}",
        }
        if self.ensemble is not None:
            model_ds.attrs["ensemble"] = self.ensemble
        if self.several_targets:
            model_ds.attrs["several_targets"] = 1
        if self.recipes:
            model_ds.attrs["recipes"] = json.dumps([recipe.to_dict() for recipe in self.recipes])
        if self.driver_provenance:
            model_ds.attrs["driver_provenance"] = json.dumps(self.driver_provenance)
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
        """Rebuild a model from `to_dataset` output, checking the whole file first.

        Every variable and attribute the model needs is checked before anything is
        built (see "Validation on load" on the documentation page "Model file
        format"): presence, types, shapes chained from the drivers to one output,
        finite weights and scaling statistics, unique driver names and
        hyperparameters that agree with the arrays. The arrays are copied, so the
        model shares no memory with ``model_ds``.

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
            If ``model_ds`` is not an xrann model, has a newer format version, or
            anything in it is missing, of the wrong type or shape, or not finite;
            the message names the variable or attribute at fault.
        TypeError
            If ``model_ds`` is not an `xarray.Dataset`.

        Examples
        --------
        >>> import xrann
        >>> model = xrann.datasets.soil_toy().ann.fit(target="co2_flux", seed=0)
        >>> Model.from_dataset(model.to_dataset()).drivers
        ['soil_moisture', 'grain_size']
        >>> Model.from_dataset(model.to_dataset().drop_vars("core_weight_1"))
        Traceback (most recent call last):
        ...
        xrann.model.ModelFormatError: invalid xrann model: core_weight_1 is missing ...
        """
        return cls(**_read_model_dataset(model_ds))


# -- reading and checking a model file ---------------------------------------------------------------
#: what to do about a file that fails a check below
_CORRUPT = (
    "the file is corrupt or was edited outside xrann; re-save the model with xrann "
    "(Model.to_netcdf) or fit it again"
)
_STRING_KINDS = ("U", "S", "O")
_REAL_KINDS = ("f", "i", "u")
_DTYPES = ("float32", "float64")


def _invalid(problem: str, fix: str = _CORRUPT) -> ModelFormatError:
    return ModelFormatError(f"invalid xrann model: {problem}; {fix}.")


def _variable(model_ds: xr.Dataset, name: str, dims: tuple[str, ...], kind: str = "real") -> np.ndarray:
    """Values of a required variable with exactly ``dims``, real-valued and finite (or strings)."""
    if name not in model_ds.variables:
        raise _invalid(f"the variable {name} is missing")
    variable = model_ds.variables[name]
    if variable.dims != dims:
        raise _invalid(f"the variable {name} has dims {variable.dims}, expected {dims}")
    values = np.asarray(variable.values)
    if kind == "string":
        if values.dtype.kind not in _STRING_KINDS or not all(isinstance(v, (str, bytes)) for v in values.ravel()):
            raise _invalid(f"the variable {name} must hold strings, got dtype {values.dtype}")
        return np.array([v.decode() if isinstance(v, bytes) else v for v in values.ravel()], dtype=object).reshape(values.shape)
    return _real_values(values, name)


def _real_values(values: np.ndarray, name: str) -> np.ndarray:
    """``values`` as float64 if real-valued and finite, else a `ModelFormatError` naming ``name``."""
    if values.dtype.kind not in _REAL_KINDS:
        raise _invalid(f"{name} must hold real numbers, got dtype {values.dtype}")
    values = values.astype(np.float64)
    if not np.isfinite(values).all():
        bad = np.argwhere(~np.isfinite(values))
        raise _invalid(f"{name} holds {len(bad)} non-finite value(s) (NaN or inf), first at index {tuple(bad[0].tolist())}")
    return values


def _attribute(model_ds: xr.Dataset, name: str, required: bool = True) -> Any:
    if name not in model_ds.attrs:
        if required:
            raise _invalid(f"the global attribute {name} is missing")
        return None
    return model_ds.attrs[name]


def _string_attribute(model_ds: xr.Dataset, name: str, choices: tuple[str, ...] | None = None) -> str:
    value = _attribute(model_ds, name)
    if not isinstance(value, str) or not value:
        raise _invalid(f"the global attribute {name} must be a non-empty string, got {value!r}")
    if choices is not None and value not in choices:
        raise _invalid(f"the global attribute {name}={value!r} is not one of {list(choices)}")
    return value


def _json_attribute(model_ds: xr.Dataset, name: str, expected: type, required: bool = True) -> Any:
    text = _attribute(model_ds, name, required)
    if text is None:
        return expected()
    try:
        value = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        value = None
    if not isinstance(value, expected):
        raise _invalid(f"the global attribute {name} must be a JSON {expected.__name__} (text), got {text!r}")
    return value


def _number(value: Any, name: str) -> float:
    """A finite real number (Python or numpy scalar, not bool)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise _invalid(f"the global attribute {name} must be a number, got {value!r}")
    if not np.isfinite(value):
        raise _invalid(f"the global attribute {name} must be finite, got {value!r}")
    return float(value)


def _feature_range(model_ds: xr.Dataset, name: str) -> tuple[float, float]:
    value = _attribute(model_ds, name)
    items = list(value) if isinstance(value, (list, tuple, np.ndarray)) else [value]
    if len(items) != 2:
        raise _invalid(f"the global attribute {name} must be 2 numbers [low, high], got {value!r}")
    low, high = (_number(item, name) for item in items)
    if not low < high:
        raise _invalid(f"the global attribute {name}={[low, high]} must be increasing")
    return low, high


def _format_version(model_ds: xr.Dataset) -> int:
    version = _attribute(model_ds, "xrann_format_version")
    if isinstance(version, np.ndarray) and version.shape in ((), (1,)):
        version = version.reshape(())[()]
    if isinstance(version, (bool, np.bool_)) or not isinstance(version, (int, np.integer)):
        raise _invalid(f"the global attribute xrann_format_version must be an integer, got {version!r}")
    if not 1 <= version <= FORMAT_VERSION:
        raise ModelFormatError(
            f"the model file has format version {int(version)}, but this xrann ({__version__}) reads "
            f"versions 1 to {FORMAT_VERSION}; upgrade xrann (it was written by xrann "
            f"{model_ds.attrs.get('xrann_version', '?')})."
        )
    return int(version)


def _drivers(model_ds: xr.Dataset) -> list[str]:
    if "driver" not in model_ds.coords:
        raise _invalid("the coordinate driver (the driver names) is missing")
    names = [str(name) for name in _variable(model_ds, "driver", ("driver",), kind="string")]
    if not names or not all(names):
        raise _invalid(f"the coordinate driver must hold at least one non-empty driver name, got {names}")
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise _invalid(f"the coordinate driver names {duplicated} more than once (drivers {names})")
    return names


def _scaler(model_ds: xr.Dataset, prefix: str, dims: tuple[str, ...], feature_range: str) -> MinMaxScaler:
    minimum = _variable(model_ds, f"{prefix}_min", dims)
    maximum = _variable(model_ds, f"{prefix}_max", dims)
    if (minimum > maximum).any():
        raise _invalid(f"{prefix}_min exceeds {prefix}_max ({minimum.tolist()} > {maximum.tolist()})")
    return MinMaxScaler(np.atleast_1d(minimum), np.atleast_1d(maximum), _feature_range(model_ds, feature_range))


def _core_arrays(model_ds: xr.Dataset, ensemble: str | None) -> dict[str, np.ndarray]:
    """Every ``core_`` variable by its array name, real-valued and finite, with the member axis first."""
    arrays = {}
    for name in model_ds.data_vars:
        name = str(name)
        if not name.startswith("core_"):
            continue
        variable = model_ds[name].variable
        if ensemble is not None and (not variable.dims or variable.dims[0] != "member"):
            raise _invalid(f"{name} of an ensemble needs a leading member dim, got dims {variable.dims}")
        if ensemble is None and "member" in variable.dims:
            raise _invalid(f"{name} has a member dim but the global attribute ensemble is missing")
        arrays[name[len("core_") :]] = _real_values(np.asarray(variable.values), name)
    if ensemble is not None and arrays and next(iter(arrays.values())).shape[0] < 1:
        raise _invalid("the ensemble has no members (member dim of length 0)")
    return arrays


def _check_shape(arrays: Mapping[str, np.ndarray], name: str, shape: tuple[int, ...], ensemble: str | None, why: str) -> None:
    if name not in arrays:
        raise _invalid(f"core_{name} is missing ({why})")
    found = arrays[name].shape[1:] if ensemble is not None else arrays[name].shape
    if found != shape:
        raise _invalid(f"core_{name} has shape {found}, expected {shape} ({why})")


def _network_sizes(
    arrays: Mapping[str, np.ndarray], n_drivers: int, ensemble: str | None, n_targets: int = 1
) -> tuple[tuple[int, ...], bool]:
    """Layer sizes chained through ``core_weight_<i>`` from ``n_drivers`` to one output per target, and whether biases are present."""
    indices: dict[str, list[int]] = {"weight": [], "bias": []}
    for name in arrays:
        match = re.fullmatch(r"(weight|bias)_(0|[1-9][0-9]*)", name)
        if match is None:
            raise _invalid(f"core_{name} is not a parameter of an ann model (core_weight_<i>, core_bias_<i>)")
        indices[match.group(1)].append(int(match.group(2)))
    n_layers = max(indices["weight"], default=-1) + 1
    for i in range(max(n_layers, 2)):
        if i not in indices["weight"]:
            raise _invalid(
                f"core_weight_{i} is missing (an ann model has weights core_weight_0 to core_weight_<n>, one per layer)"
            )
    sizes = [n_drivers]
    for i in range(n_layers):
        name = f"weight_{i}"
        ndim = arrays[name].ndim - (ensemble is not None)
        if ndim != 2:
            raise _invalid(f"core_{name} must be a matrix (n_inputs, n_outputs), got shape {arrays[name].shape}")
        n_in, n_out = arrays[name].shape[-2:]
        if n_in != sizes[-1]:
            source = f"{n_drivers} drivers" if i == 0 else f"core_weight_{i - 1} has {sizes[-1]} outputs"
            raise _invalid(f"core_{name} has shape {(n_in, n_out)} but takes {sizes[-1]} inputs ({source})")
        if n_out < 1:
            raise _invalid(f"core_{name} has shape {(n_in, n_out)}: a layer without nodes")
        sizes.append(n_out)
    if sizes[-1] != n_targets:
        what = "one target" if n_targets == 1 else f"{n_targets} targets"
        raise _invalid(
            f"the output layer core_weight_{n_layers - 1} has {sizes[-1]} columns, but the model predicts {what} "
            f"(expected shape ({sizes[-2]}, {n_targets}))"
        )
    has_bias = bool(indices["bias"])
    if has_bias:
        for i in range(n_layers):
            why = f"the bias of core_weight_{i}; biases come for every layer or none"
            _check_shape(arrays, f"bias_{i}", (sizes[i + 1],), ensemble, why)
        extra = sorted(set(indices["bias"]) - set(range(n_layers)))
        if extra:
            raise _invalid(f"core_bias_{extra[0]} has no weight matrix core_weight_{extra[0]}")
    return tuple(sizes), has_bias


def _core(
    model_ds: xr.Dataset, method: str, dtype: str, n_drivers: int, hyperparameters: Mapping[str, Any], n_targets: int = 1
) -> Any:
    ensemble = model_ds.attrs.get("ensemble")
    if ensemble is not None and ensemble not in ENSEMBLE_KINDS:
        raise _invalid(f"the global attribute ensemble={ensemble!r} is not one of {list(ENSEMBLE_KINDS)}")
    arrays = _core_arrays(model_ds, ensemble)
    if method == "ann":
        sizes, has_bias = _network_sizes(arrays, n_drivers, ensemble, n_targets)
        hidden = hyperparameters.get("hidden", list(sizes[1:-1]))
        if not isinstance(hidden, list) or hidden != list(sizes[1:-1]):
            raise _invalid(f"the hyperparameters say hidden={hidden!r} but the weights have hidden layers {list(sizes[1:-1])}")
        bias = hyperparameters.get("bias", has_bias)
        if not isinstance(bias, bool) or bias != has_bias:
            holds = "holds" if has_bias else "has no"
            raise _invalid(f"the hyperparameters say bias={bias!r} but the file {holds} core_bias_ variables")
        arrays = {name: array.astype(dtype) for name, array in arrays.items()}
    else:
        unknown = sorted(set(arrays) - {"coefficients", "intercept"})
        if unknown:
            raise _invalid(f"core_{unknown[0]} is not a parameter of a linear model (core_coefficients, core_intercept)")
        why = f"one slope per driver and target, {n_drivers} drivers and {n_targets} targets"
        _check_shape(arrays, "coefficients", (n_drivers, n_targets), ensemble, why)
        _check_shape(arrays, "intercept", (n_targets,), ensemble, "one intercept per target")
    members = hyperparameters.get("members")
    n_members = next(iter(arrays.values())).shape[0] if ensemble is not None else None
    if "members" in hyperparameters and members != n_members:
        raise _invalid(f"the hyperparameters say members={members!r} but the core arrays hold {n_members or 'no'} members")
    for key, value in (("dtype", dtype), ("method", method)):
        if key in hyperparameters and hyperparameters[key] != value:
            raise _invalid(f"the hyperparameters say {key}={hyperparameters[key]!r} but the global attribute {key} is {value!r}")
    if ensemble is not None:
        return EnsembleCore.from_arrays(arrays, CORES[method], kind=str(ensemble))
    return CORES[method].from_arrays(arrays)


def _envelope(model_ds: xr.Dataset) -> Envelope | None:
    parts = (
        "envelope_centroid" in model_ds.variables,
        "envelope_reference_distance" in model_ds.attrs,
        "envelope_quantile" in model_ds.attrs,
    )
    if not any(parts):
        return None  # format version 1, or a model built without one
    if not all(parts):
        raise _invalid(
            "the training envelope is incomplete: it needs the variable envelope_centroid and the global attributes "
            "envelope_reference_distance and envelope_quantile together"
        )
    centroids = _variable(model_ds, "envelope_centroid", ("envelope_cluster", "driver"))
    if centroids.shape[0] < 1:
        raise _invalid("envelope_centroid has no clusters")
    reference = _number(model_ds.attrs["envelope_reference_distance"], "envelope_reference_distance")
    quantile = _number(model_ds.attrs["envelope_quantile"], "envelope_quantile")
    if reference <= 0 or not 0 < quantile <= 1:
        raise _invalid(
            f"envelope_reference_distance={reference} must be positive and envelope_quantile={quantile} within (0, 1]"
        )
    return Envelope(centroids, reference, quantile)


def _history(model_ds: xr.Dataset) -> xr.Dataset:
    variables = {}
    for name in model_ds.data_vars:
        if not str(name).startswith("history_"):
            continue
        variable = model_ds[name]
        if variable.dtype.kind not in _REAL_KINDS + ("b",) or not all(str(d).startswith("history_") for d in variable.dims):
            raise _invalid(
                f"the training history variable {name} must be numeric on history_ dims, "
                f"got {variable.dtype} on {variable.dims}"
            )
        variables[str(name)[len("history_") :]] = variable.rename({d: str(d)[len("history_") :] for d in variable.dims})
    try:
        history = xr.Dataset(variables)
    except ValueError as error:
        raise _invalid(f"the training history variables do not fit together ({error})") from error
    history = history.drop_vars([c for c in history.coords if str(c).startswith("history_")], errors="ignore")
    history.attrs = _json_attribute(model_ds, "history_attrs", dict, required=False)
    return history.copy(deep=True)


#: prefix of the stored climatologies and their dims
_CLIMATOLOGY = "climatology"


def _recipes(model_ds: xr.Dataset, drivers: list[str], targets: tuple[str, ...], version: int) -> tuple[Recipe, ...]:
    items = _json_attribute(model_ds, "recipes", list, required=False)
    if items and version < 3:
        raise _invalid(f"the file has format version {version} but holds recipes, which came with version 3")
    recipes = []
    for item in items:
        try:
            recipes.append(recipe_from_dict(item))
        except (ValueError, TypeError) as error:
            raise _invalid(f"the global attribute recipes holds a bad recipe ({error})") from None
    for recipe in recipes:
        missing = [name for name in recipe.names if name not in drivers]
        if missing:
            raise _invalid(f"the recipe {recipe!r} makes drivers {missing} that are not in the coordinate driver {drivers}")
        if recipe.source in targets:
            raise _invalid(f"the target {recipe.source!r} feeds the recipe {recipe!r}")
    made = [name for recipe in recipes for name in recipe.names]
    if len(set(made)) < len(made):
        raise _invalid(f"the recipes make some drivers more than once ({made})")
    if version >= 3:  # each driver's recipe kind ("" for plain drivers) must agree with the recipe list
        kinds = [str(kind) for kind in _variable(model_ds, "driver_recipe", ("driver",), kind="string")]
        made_by = {name: recipe.kind for recipe in recipes for name in recipe.names}
        expected = [made_by.get(name, "") for name in drivers]
        if kinds != expected:
            raise _invalid(f"the variable driver_recipe says {kinds} but the global attribute recipes makes {expected}")
    return tuple(recipes)


def _climatologies(model_ds: xr.Dataset, recipes: tuple[Recipe, ...], sample_dims: list[str]) -> dict[str, xr.DataArray]:
    needed = sorted({recipe.source for recipe in recipes if isinstance(recipe, (Anomaly, SeasonalCycle))})
    prefix = f"{_CLIMATOLOGY}_"
    stored = sorted(str(name)[len(prefix) :] for name in model_ds.data_vars if str(name).startswith(prefix))
    if stored != needed:
        raise _invalid(
            f"the file stores climatologies of {stored} but its anomaly and seasonal_cycle recipes need {needed}"
        )
    climatologies = {}
    for source in needed:
        name = prefix + source
        variable = model_ds[name]
        month = f"{prefix}month"
        if not variable.dims or variable.dims[0] != month or not all(str(d).startswith(prefix) for d in variable.dims):
            raise _invalid(f"the variable {name} must be on ({month}, <{prefix}dims>), got {variable.dims}")
        if variable.dtype.kind != "f" or np.isinf(variable.values).any():
            raise _invalid(f"the variable {name} must hold floats (NaN where a cell has no data, never inf), got {variable.dtype}")
        if month not in variable.coords or variable[month].values.tolist() != list(range(1, 13)):
            raise _invalid(f"the variable {name} must have the months 1 to 12 as coordinate {month}")
        grid_dims = [str(d)[len(prefix) :] for d in variable.dims[1:]]
        if not set(grid_dims) <= set(sample_dims):
            raise _invalid(f"the variable {name} has dims {variable.dims}, but the model's sample dims are {sample_dims}")
        complete = np.isfinite(variable.values)
        if not (complete.all(axis=0) | ~complete.any(axis=0)).all():
            raise _invalid(f"the variable {name} must be NaN in all 12 months of a cell or in none")
        restored = variable.rename({dim: str(dim)[len(prefix) :] for dim in variable.dims}).copy(deep=True)
        restored = restored.drop_vars([c for c in restored.coords if c not in restored.dims and str(c).startswith(prefix)])
        climatologies[source] = restored.rename(source)
    return climatologies


def _provenance(model_ds: xr.Dataset, drivers: list[str]) -> dict[str, dict[str, Any]]:
    provenance = _json_attribute(model_ds, "driver_provenance", dict, required=False)
    for name, entry in provenance.items():
        shared = entry.get("standard_name_shared_with", []) if isinstance(entry, dict) else None
        steps = entry.get("leading_nan_steps", 0) if isinstance(entry, dict) else None
        if (
            name not in drivers
            or not isinstance(shared, list)
            or not all(isinstance(n, str) for n in shared)
            or isinstance(steps, bool)
            or not isinstance(steps, int)
            or steps < 0
            or set(entry) - {"standard_name_shared_with", "leading_nan_steps"}
        ):
            raise _invalid(f"the global attribute driver_provenance has a bad entry {name!r}: {entry!r}")
    return provenance


def _targets(model_ds: xr.Dataset, version: int) -> str | tuple[str, ...]:
    """The target name, or (``several_targets``, format version 4) the tuple of names, checked against the ``target`` coordinate."""
    several = model_ds.attrs.get("several_targets")
    if several is None:
        return _string_attribute(model_ds, "target")
    if isinstance(several, np.ndarray) and several.shape in ((), (1,)):
        several = several.reshape(())[()]
    if isinstance(several, (bool, np.bool_)) or not isinstance(several, (int, np.integer)) or several != 1:
        shown = several.item() if isinstance(several, np.generic) else several
        raise _invalid(f"the global attribute several_targets must be the integer 1 (absent for one target), got {shown!r}")
    if version < 4:
        raise _invalid(f"the file has format version {version} but several targets, which came with version 4")
    names = _json_attribute(model_ds, "target", list)
    if not names or not all(isinstance(name, str) and name for name in names) or len(set(names)) < len(names):
        raise _invalid(f"the global attribute target must list distinct, non-empty target names, got {names!r}")
    if "target" not in model_ds.coords:
        raise _invalid("the coordinate target (the target names of a model of several targets) is missing")
    stored = [str(name) for name in _variable(model_ds, "target", ("target",), kind="string")]
    if stored != names:
        raise _invalid(f"the coordinate target {stored} differs from the global attribute target {names}")
    return tuple(names)


#: the attributes of a target a model keeps (and copies onto its predictions)
_TARGET_ATTRS = ("units", "standard_name", "long_name")


def _target_attrs(model_ds: xr.Dataset, several: tuple[str, ...] | None) -> dict[str, Any]:
    """``target_attrs``: text values of known keys; for several targets, one such mapping per target name."""
    stored = _json_attribute(model_ds, "target_attrs", dict)

    def check(attrs: Any, where: str) -> None:
        if not isinstance(attrs, dict) or set(attrs) - set(_TARGET_ATTRS) or not all(isinstance(v, str) for v in attrs.values()):
            raise _invalid(f"the global attribute target_attrs{where} must map some of {list(_TARGET_ATTRS)} to text, got {attrs!r}")

    if several is None:
        check(stored, "")
    else:
        if sorted(stored) != sorted(several):
            raise _invalid(f"the global attribute target_attrs must have one entry per target {list(several)}, got keys {sorted(stored)}")
        for name in several:
            check(stored[name], f"[{name!r}]")
    return stored


def _read_model_dataset(model_ds: xr.Dataset) -> dict[str, Any]:
    """The `Model` fields of a model file, every part checked (the arguments of ``Model(...)``)."""
    if not isinstance(model_ds, xr.Dataset):
        raise TypeError(
            f"expected the model file as an xarray.Dataset, got {type(model_ds).__name__}; "
            "to read a file from disk use xrann.open_model(path)."
        )
    file_format = model_ds.attrs.get("xrann_format")
    if not isinstance(file_format, str) or file_format != FORMAT_NAME:
        raise ModelFormatError(
            "this is not an xrann model file (no global attribute xrann_format='xrann-model'); "
            "open models written by Model.to_netcdf, or data files with xarray.open_dataset."
        )
    version = _format_version(model_ds)
    method = _string_attribute(model_ds, "method", tuple(CORES))
    dtype = _string_attribute(model_ds, "dtype", _DTYPES)
    target = _targets(model_ds, version)
    targets = target if isinstance(target, tuple) else (target,)
    drivers = _drivers(model_ds)
    overlap = [name for name in targets if name in drivers]
    if overlap:
        raise _invalid(f"the target {overlap[0]!r} is also listed as a driver ({drivers})")
    driver_scaler = _scaler(model_ds, "driver", ("driver",), "driver_feature_range")
    target_scaler = _scaler(model_ds, "target", ("target",) if isinstance(target, tuple) else (), "target_feature_range")
    metadata = {
        key: _variable(model_ds, f"driver_{key}", ("driver",), kind="string") for key in ("units", "standard_name", "long_name")
    }
    driver_attrs = {
        name: {key: str(values[i]) for key, values in metadata.items() if str(values[i])} for i, name in enumerate(drivers)
    }
    sample_dims = _json_attribute(model_ds, "sample_dims", list)
    if not sample_dims or not all(isinstance(d, str) and d for d in sample_dims) or len(set(sample_dims)) < len(sample_dims):
        raise _invalid(f"the global attribute sample_dims must list distinct dim names, got {sample_dims!r}")
    target_attrs = _target_attrs(model_ds, targets if isinstance(target, tuple) else None)
    hyperparameters = _json_attribute(model_ds, "hyperparameters", dict)
    recipes = _recipes(model_ds, drivers, targets, version)
    target_range = hyperparameters.get("target_range")
    if target_range is not None and target_range != list(target_scaler.feature_range):
        raise _invalid(
            f"the hyperparameters say target_range={target_range!r} but the global attribute target_feature_range "
            f"is {list(target_scaler.feature_range)}"
        )
    return dict(
        core=_core(model_ds, method, dtype, len(drivers), hyperparameters, len(targets)),
        driver_scaler=driver_scaler,
        target_scaler=target_scaler,
        target=target,
        drivers=drivers,
        sample_dims=tuple(sample_dims),
        driver_attrs=driver_attrs,
        target_attrs=target_attrs,
        hyperparameters=hyperparameters,
        history=_history(model_ds),
        sample_counts=_json_attribute(model_ds, "sample_counts", dict),
        method=method,
        dtype=dtype,
        envelope=_envelope(model_ds),
        version=str(model_ds.attrs.get("xrann_version", "")),
        recipes=recipes,
        climatologies=_climatologies(model_ds, recipes, sample_dims),
        driver_provenance=_provenance(model_ds, drivers),
    )


def _frozen(array: Any) -> np.ndarray:
    """A read-only copy of ``array`` that shares memory with nothing."""
    array = np.array(array, copy=True)
    array.flags.writeable = False
    return array


def _is_frozen(array: Any) -> bool:
    """Whether ``array`` is read-only and owns its memory (no writable array shares it)."""
    return isinstance(array, np.ndarray) and not array.flags.writeable and array.base is None


def _core_parameters(core: Any) -> list[Any]:
    members = core.members if isinstance(core, EnsembleCore) else [core]
    return [array for member in members for array in member.to_arrays().values()]


def _frozen_core(core: Any) -> Any:
    """The same core rebuilt on read-only copies of its arrays."""
    if isinstance(core, EnsembleCore):
        return EnsembleCore([_frozen_core(member) for member in core.members], core.kind)
    return type(core).from_arrays({name: _frozen(array) for name, array in core.to_arrays().items()})


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
        If the file is not netCDF, not an xrann model, has a newer format version or
        fails a check of `Model.from_dataset`.

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
