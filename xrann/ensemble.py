"""Ensembles of networks: members that differ by seed and by the samples they learn from.

``ds.ann.fit(..., members=10)`` trains ten networks on the same scaled
training samples (one scaling for all, so they predict in the same units):

* ``ensemble="bootstrap"``: each member learns from its own bootstrap
  resample (as many draws, with replacement, as there are training samples)
  and stops early on the samples it did not draw (out of bag);
* ``ensemble="folds"``: the training samples are split into ``members``
  folds; each member leaves one fold out and stops early on it.

A validation selection given to ``fit`` replaces the out-of-bag samples or
left-out folds as every member's early-stopping set. Members are trained in
parallel through `dask.delayed`: on the active `distributed` client if there
is one, else on local threads. Each member's randomness comes from its own
`numpy.random.SeedSequence` child of the fit's seed, so results do not depend
on the scheduler. The training samples are loaded into memory
(``n_samples x (n_drivers + 1)`` float64, shared by all members).

The ensemble predicts its members' mean; ``predict(members=True)`` and
``predict(std=True)`` give each member and their spread.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from .fitting import FitSettings, history_to_dataset, predict_dataset, train_core
from .model import Model

__all__ = [
    "ENSEMBLE_KINDS",
    "EnsembleCore",
    "train_members",
    "member_models",
    "predict_ensemble",
]

ENSEMBLE_KINDS = ("bootstrap", "folds")


def check_ensemble_arguments(members: Any, kind: Any) -> None:
    """Raise `ValueError` for a member count below 1 or an unknown ensemble kind.

    Parameters
    ----------
    members : int
    kind : str

    Raises
    ------
    ValueError
        ``members < 1``, an unknown ``kind``, or ``"folds"`` with one member.

    Examples
    --------
    >>> check_ensemble_arguments(10, "bootstrap")
    >>> check_ensemble_arguments(0, "bootstrap")
    Traceback (most recent call last):
    ...
    ValueError: members=0 must be a positive integer ...
    """
    if isinstance(members, bool) or not isinstance(members, (int, np.integer)) or members < 1:
        raise ValueError(f"members={members!r} must be a positive integer (e.g. members=10), or None for a single model.")
    if kind not in ENSEMBLE_KINDS:
        raise ValueError(f"ensemble={kind!r} is not known; choose one of {ENSEMBLE_KINDS}.")
    if kind == "folds" and members < 2:
        raise ValueError(
            "ensemble='folds' with members=1 would leave the only fold out; use members >= 2 (one member per fold)."
        )


@dataclass
class EnsembleCore:
    """Member cores whose mean is the ensemble's prediction (same interface as one core).

    Attributes
    ----------
    members : list
        One core (e.g. `xrann.network.SigmoidNetwork`) per member, all the same architecture.
    kind : str
        ``"bootstrap"`` or ``"folds"``.

    Examples
    --------
    >>> from xrann.linear import LinearMap
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


def _member_samples(
    n_samples: int, kind: str, members: int, rng: np.random.Generator, member_rngs: Sequence[np.random.Generator]
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Training and held-out sample indices of each member."""
    if kind == "bootstrap":
        splits = []
        for member_rng in member_rngs:
            drawn = member_rng.integers(0, n_samples, size=n_samples)
            out_of_bag = np.flatnonzero(np.bincount(drawn, minlength=n_samples) == 0)
            splits.append((drawn, out_of_bag))
        return splits
    if n_samples < members:
        raise ValueError(
            f"ensemble='folds' with members={members} needs at least {members} training samples, got {n_samples}; "
            "use fewer members or ensemble='bootstrap'."
        )
    folds = np.array_split(rng.permutation(n_samples), members)
    return [
        (np.sort(np.concatenate([fold for j, fold in enumerate(folds) if j != left_out])), np.sort(folds[left_out]))
        for left_out in range(members)
    ]


def _train_member(inputs, targets, settings, member_rng, train_index, held_out, validation):
    if validation is None and held_out.size:
        validation = (inputs[held_out], targets[held_out])
    return train_core(inputs[train_index], targets[train_index], settings, member_rng, validation=validation, progress=False)


def _scheduler() -> str | None:
    """``None`` (use the active distributed client) if there is one, else local threads."""
    try:
        from distributed import default_client

        default_client()
    except (ImportError, ValueError):
        return "threads"
    return None


def _histories_to_dataset(histories) -> xr.Dataset:
    per_member = []
    for history in histories:
        member = history_to_dataset(history)
        for key in ("best_epoch", "stopped_early"):
            member[key] = ((), int(member.attrs.pop(key)))
        per_member.append(member)
    combined = xr.concat(per_member, dim="member", join="outer", combine_attrs="drop")
    return combined.assign_coords(member=np.arange(len(per_member)))


def train_members(
    scaled_inputs: np.ndarray,
    scaled_targets: np.ndarray,
    settings: FitSettings,
    rng: np.random.Generator,
    *,
    validation: tuple[np.ndarray, np.ndarray] | None,
    members: int,
    kind: str,
) -> tuple[EnsembleCore, xr.Dataset, dict[str, Any]]:
    """Train an ensemble on scaled samples, members in parallel.

    Parameters
    ----------
    scaled_inputs, scaled_targets : numpy.ndarray
        ``(n_samples, n_drivers)`` and ``(n_samples, 1)``.
    settings : FitSettings
        Validated settings; ``settings.seed`` seeds every member (through `numpy.random.SeedSequence.spawn`).
    rng : numpy.random.Generator
        Splits the samples into folds.
    validation : tuple of numpy.ndarray or None
        Shared early-stopping samples; ``None`` uses each member's held-out samples.
    members : int
    kind : {"bootstrap", "folds"}

    Returns
    -------
    core : EnsembleCore
    history : xarray.Dataset
        ``loss`` and ``val_loss`` over ``(member, epoch)`` (NaN after a member
        stopped), ``best_epoch`` and ``stopped_early`` per member.
    resolved : dict
        Schedule settings resolved for the first member.

    Raises
    ------
    ValueError
        Bad ``members`` or ``kind``, or fewer samples than folds.

    Examples
    --------
    >>> settings = FitSettings(hidden=(2,), seed=0, epochs=5); settings.validate()
    >>> x = np.linspace(0, 1, 20)[:, None]
    >>> core, history, _ = train_members(x, 0.5 * x, settings, np.random.default_rng(0), validation=None, members=3, kind="folds")
    >>> len(core.members), history["loss"].dims
    (3, ('member', 'epoch'))
    """
    check_ensemble_arguments(members, kind)
    import dask

    member_rngs = [np.random.default_rng(child) for child in np.random.SeedSequence(settings.seed).spawn(members)]
    splits = _member_samples(scaled_inputs.shape[0], kind, members, rng, member_rngs)
    tasks = [
        dask.delayed(_train_member, pure=False)(scaled_inputs, scaled_targets, settings, member_rng, train_index, held_out, validation)
        for member_rng, (train_index, held_out) in zip(member_rngs, splits)
    ]
    results = dask.compute(*tasks, scheduler=_scheduler())
    cores, histories, resolved = zip(*results)
    return EnsembleCore(list(cores), kind), _histories_to_dataset(histories), dict(resolved[0])


def member_models(model: Model) -> list[Model]:
    """Each member of an ensemble as a single `Model` (sharing scaling and metadata).

    Parameters
    ----------
    model : Model
        An ensemble.

    Returns
    -------
    list of Model

    Raises
    ------
    ValueError
        If ``model`` is a single model.

    Examples
    --------
    >>> import xrann
    >>> model = xrann.datasets.soil_toy().ann.fit(target="co2_flux", seed=0, epochs=10, members=3)
    >>> [member.n_members for member in member_models(model)]
    [1, 1, 1]
    """
    if model.ensemble is None:
        raise ValueError(
            "this model is a single network, not an ensemble, so it has no members; "
            "fit an ensemble with ds.ann.fit(..., members=10) to get members and their spread."
        )
    return [dataclasses.replace(model, core=core) for core in model.core.members]


def predict_ensemble(
    ds: xr.Dataset,
    model: Model,
    *,
    members: bool = False,
    std: bool = False,
    mask_extrapolation: bool | float = False,
) -> xr.DataArray | xr.Dataset:
    """Every member's prediction, or the ensemble mean and spread, on the grid of ``ds`` (lazy for dask input).

    Parameters
    ----------
    ds : xarray.Dataset
        Needs the model's drivers. Never modified.
    model : Model
        An ensemble.
    members : bool, default False
        Return each member's prediction along a leading ``member`` dim.
    std : bool, default False
        Return a Dataset with the mean ``"<target>_predicted"`` (identical to
        ``predict()``) and the members' standard deviation
        ``"<target>_predicted_std"`` (``ddof=1``); with ``members=True`` it also
        holds ``"<target>_predicted_members"``.
    mask_extrapolation : bool or float, default False
        See `xrann.extrapolation.mask_extrapolated`.

    Returns
    -------
    xarray.DataArray or xarray.Dataset

    Raises
    ------
    ValueError
        If ``model`` is a single model.

    Examples
    --------
    >>> import xrann
    >>> model = xrann.datasets.soil_toy().ann.fit(target="co2_flux", seed=0, epochs=10, members=3)
    >>> sites = xrann.datasets.soil_toy_sites()
    >>> predict_ensemble(sites, model, members=True).dims
    ('member', 'site')
    >>> list(predict_ensemble(sites, model, std=True).data_vars)
    ['co2_flux_predicted', 'co2_flux_predicted_std']
    """
    per_member = [predict_dataset(ds, member) for member in member_models(model)]
    stacked = xr.concat(per_member, dim="member", combine_attrs="override")
    stacked = stacked.assign_coords(member=np.arange(len(per_member)))
    name = f"{model.target}_predicted"
    if std:
        # members are all NaN or all finite at a point, so NaN-skipping (which warns on all-NaN points) is not needed
        spread = stacked.std("member", ddof=1 if len(per_member) > 1 else 0, skipna=False, keep_attrs=True)
        spread.attrs["long_name"] = f"standard deviation of the {len(per_member)} ensemble members' {model.target}"
        result = xr.Dataset({name: predict_dataset(ds, model), f"{name}_std": spread})
        if members:
            result[f"{name}_members"] = stacked
    else:
        result = stacked
    if mask_extrapolation is not False:
        from .extrapolation import mask_extrapolated

        result = mask_extrapolated(result, ds, model, mask_extrapolation)
    return result
