"""Ensembles of networks: members that differ by seed and by the samples they learn from.

``ds.ann.fit(..., members=10)`` trains ten networks on the same scaled
training samples (one scaling for all, so they predict in the same units):

* ``ensemble="bootstrap"``: each member learns from its own bootstrap
  resample (as many draws, with replacement, as there are training samples)
  and stops early on the samples it did not draw (out of bag);
* ``ensemble="folds"``: the training samples are split into ``members``
  folds; each member leaves one fold out and stops early on it.

A validation selection given to ``fit`` replaces the out-of-bag samples or
left-out folds as every member's early-stopping set. Every member trains
through the same engine as a single fit (`xrann.fit.training`), on an
`~xrann.core.arrays.ArraySource` of its samples. Members are trained in
parallel through `dask.delayed`: on the active `distributed` client if there
is one, else on local threads. Each member's randomness comes from its own
`numpy.random.SeedSequence` child of the fit's seed, so results do not depend
on the scheduler. The training samples are held in memory once
(``n_samples x (n_drivers + 1)`` in the training dtype, shared by all members).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import dask
import numpy as np
import xarray as xr

from ..core.arrays import ArraySource
from ..core.engine import TrainingHistory
from ..core.ensemble import EnsembleCore
from ..core.envelope import Envelope
from ..core.linear import LinearMap
from ..core.network import SigmoidNetwork
from ..core.scaling import MinMaxScaler
from ..data.blocks import active_client
from ..data.extraction import BlockSamples
from ..model import Model
from .history import members_history
from .settings import FitSettings, ResolvedSettings, check_ensemble_arguments
from .training import train_network

__all__ = ["train_members", "combine_models"]


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


def _train_member(samples: BlockSamples, settings: FitSettings, member_rng, train_index, held_out, n_inputs: int):
    weights = samples.weights
    if len(samples.val_targets):
        val_inputs, val_targets, val_weights = samples.val_inputs, samples.val_targets, samples.val_weights
    else:
        val_inputs, val_targets = samples.inputs[held_out], samples.targets[held_out]
        val_weights = None if weights is None else weights[held_out]
    source = ArraySource(
        settings.sizes(n_inputs, samples.targets.shape[1]), samples.inputs[train_index], samples.targets[train_index], val_inputs, val_targets,
        bias=settings.bias, dtype=settings.dtype, loss=settings.loss, augmented=True,
        weights=None if weights is None else weights[train_index], val_weights=val_weights,
    )
    n_outputs = samples.targets.shape[1]
    resolved = settings.resolve(n_inputs, n_outputs, source.n_train, source.n_validation > 0)
    network, history = train_network(source, settings, resolved, n_inputs, n_outputs, member_rng, progress=False)
    return network, history, resolved


def train_members(
    samples: BlockSamples,
    settings: FitSettings,
    rng: np.random.Generator,
    *,
    n_inputs: int,
    members: int,
    kind: str,
) -> tuple[EnsembleCore, xr.Dataset, ResolvedSettings]:
    """Train an ensemble on scaled samples, members in parallel.

    Parameters
    ----------
    samples : BlockSamples
        Scaled training (and validation) samples; the driver matrices carry
        the bias column when ``settings.bias``.
    settings : FitSettings
        Validated settings; ``settings.seed`` seeds every member (through `numpy.random.SeedSequence.spawn`).
    rng : numpy.random.Generator
        Splits the samples into folds.
    n_inputs : int
        Number of drivers.
    members : int
    kind : {"bootstrap", "folds"}

    Returns
    -------
    core : EnsembleCore
    history : xarray.Dataset
        ``loss`` and ``val_loss`` over ``(member, epoch)`` (NaN after a member
        stopped), ``best_epoch``, ``stopped_early`` and ``converged`` per member.
    resolved : ResolvedSettings
        Of the first member.

    Raises
    ------
    ValueError
        Bad ``members`` or ``kind``, or fewer samples than folds.

    Examples
    --------
    >>> from xrann.core.workspace import augment_inputs
    >>> settings = FitSettings(hidden=(2,), seed=0, epochs=5); settings.validate()
    >>> x = np.linspace(0, 1, 20)[:, None]; empty = np.empty((0, 2))
    >>> samples = BlockSamples(augment_inputs(x), 0.5 * x, empty, empty[:, :1])
    >>> core, history, _ = train_members(samples, settings, np.random.default_rng(0), n_inputs=1, members=3, kind="folds")
    >>> len(core.members), history["loss"].dims
    (3, ('member', 'epoch'))
    """
    check_ensemble_arguments(members, kind)
    member_rngs = [np.random.default_rng(child) for child in np.random.SeedSequence(settings.seed).spawn(members)]
    splits = _member_samples(samples.targets.shape[0], kind, members, rng, member_rngs)
    if settings.method == "linear":
        cores = [LinearMap.fit(samples.inputs[train], samples.targets[train]) for train, _ in splits]
        histories = [
            TrainingHistory(
                loss=[float(np.mean((core.predict(samples.inputs[train]) - samples.targets[train]) ** 2))],
                best_epoch=0, converged=True, stop_reason="least squares solution",
            )
            for core, (train, _) in zip(cores, splits)
        ]
        return EnsembleCore(cores, kind), members_history(histories), None
    tasks = [
        dask.delayed(_train_member, pure=False)(samples, settings, member_rng, train_index, held_out, n_inputs)
        for member_rng, (train_index, held_out) in zip(member_rngs, splits)
    ]
    if active_client() is not None:
        results = dask.compute(*tasks)
    else:
        results = dask.compute(*tasks, scheduler="threads")  # inside fit_dataset's single BLAS thread
    cores, histories, resolved = zip(*results)
    return EnsembleCore(list(cores), kind), members_history(histories), resolved[0]


def _input_map(member: MinMaxScaler, common: MinMaxScaler) -> tuple[np.ndarray, np.ndarray]:
    """Slope and offset per driver taking a common-scaled driver to the member's scaled driver."""
    ends = common.inverse_transform(np.array([[0.0] * len(common.minimum), [1.0] * len(common.minimum)]))
    low, high = member.transform(ends, dtype="float64")
    return high - low, low


def _rescaled_core(core: Any, slope: np.ndarray, offset: np.ndarray) -> Any:
    """The same function of the drivers, taking inputs scaled by the common scaler (absorbed into the first layer)."""
    if isinstance(core, LinearMap):
        coefficients = np.asarray(core.coefficients, dtype=np.float64)
        return LinearMap(slope[:, None] * coefficients, offset @ coefficients + np.asarray(core.intercept))
    weights = [np.array(w) for w in core.weights]
    biases = [np.array(b) for b in core.biases]
    biases[0] = (offset.astype(weights[0].dtype) @ weights[0]) + biases[0]
    weights[0] = slope.astype(weights[0].dtype)[:, None] * weights[0]
    return SigmoidNetwork(weights, biases)


def _same_target_scaling(first: MinMaxScaler, other: MinMaxScaler) -> bool:
    probe = np.array([[0.0], [1.0]])
    return bool(np.allclose(first.inverse_transform(probe), other.inverse_transform(probe), rtol=1e-9, atol=0.0))


def combine_models(models: Sequence[Model], *, kind: str = "folds", hyperparameters: Mapping[str, Any] | None = None) -> Model:
    """One ensemble `~xrann.model.Model` whose members are the given fitted models.

    The models must predict the same target from the same drivers with the
    same architecture (``hidden``, ``bias``, ``method``, ``dtype``). Each
    model's driver scaling is absorbed exactly into its first layer, so the
    ensemble scales drivers once, over the union of the models' ranges; their
    target scalings must agree (as they do for the fold models of
    `xrann.crossval.cross_validate` with ``keep_models=True``, which gives
    every fold the same target scaling), since a sigmoid output cannot absorb
    a different one. Every member predicts exactly what its model predicted
    (up to rounding). The ensemble predicts with ``members=True`` and
    ``std=True``, and saves and loads like any model.

    Parameters
    ----------
    models : sequence of Model
        At least one single (non-ensemble) model.
    kind : {"folds", "bootstrap"}, default "folds"
        How the members differ, stored as the model's ``ensemble``.
    hyperparameters : mapping, optional
        Extra JSON-serialisable entries for the ensemble's hyperparameters
        (e.g. which groups each member held out).

    Returns
    -------
    Model
        ``n_members == len(models)``; hyperparameters of the first model plus
        ``members`` and ``ensemble``; ``history`` over ``(member, epoch)``;
        ``sample_counts`` the largest of the members';
        the training envelope is every member's centroids in the common
        scaling (reference distance: the largest of the members').

    Raises
    ------
    ValueError
        No models, an ensemble among them, different targets, drivers,
        methods, dtypes or layer sizes, networks without biases, or
        different target scalings.
    TypeError
        Something that is not a `Model`.

    Examples
    --------
    >>> import xrann
    >>> ds = xrann.datasets.soil_toy()
    >>> fits = [ds.ann.fit(target="co2_flux", seed=seed, epochs=20) for seed in (0, 1)]
    >>> ensemble = combine_models(fits)
    >>> ensemble.n_members, ensemble.ensemble
    (2, 'folds')
    >>> bool(np.allclose(ds.ann.predict(ensemble, members=True)[1], ds.ann.predict(fits[1])))
    True
    """
    models = list(models)
    if not models:
        raise ValueError("combine_models needs at least one fitted model, got none.")
    for model in models:
        if not isinstance(model, Model):
            raise TypeError(f"combine_models combines xrann Models, got {type(model).__name__}.")
        if model.ensemble is not None:
            raise ValueError(
                f"combine_models combines single models, but one is an ensemble of {model.n_members} ({model.ensemble}); "
                "pass its members (xrann.predict.dataset.member_models) instead."
            )
    check_ensemble_arguments(len(models), kind)
    first = models[0]
    for i, model in enumerate(models[1:], start=1):
        for attribute in ("target", "drivers", "method", "dtype"):
            if getattr(model, attribute) != getattr(first, attribute):
                raise ValueError(
                    f"model {i} has {attribute}={getattr(model, attribute)!r} but model 0 has {getattr(first, attribute)!r}; "
                    "an ensemble combines models of the same target, drivers, method and dtype."
                )
        if getattr(model.core, "sizes", None) != getattr(first.core, "sizes", None):
            raise ValueError(
                f"model {i} has layer sizes {model.core.sizes} but model 0 has {first.core.sizes}; "
                "an ensemble combines networks of the same architecture (hidden=)."
            )
        if not _same_target_scaling(first.target_scaler, model.target_scaler):
            raise ValueError(
                f"model {i} scales the target {model.target!r} differently from model 0 "
                f"(range {model.target_scaler.minimum.tolist()}..{model.target_scaler.maximum.tolist()} onto "
                f"{model.target_scaler.feature_range} vs {first.target_scaler.minimum.tolist()}..{first.target_scaler.maximum.tolist()} "
                f"onto {first.target_scaler.feature_range}); fit the members with one target scaling: pass the same "
                "target_extremes=(minima, maxima) to every fit, or use xrann.cross_validate(..., keep_models=True)."
            )
    if first.method == "ann" and any(model.core.biases is None for model in models):
        raise ValueError("combine_models needs networks with biases (bias=True) to absorb each member's driver scaling.")

    minimum = np.min([model.driver_scaler.minimum for model in models], axis=0)
    maximum = np.max([model.driver_scaler.maximum for model in models], axis=0)
    driver_scaler = MinMaxScaler(minimum, maximum, tuple(first.driver_scaler.feature_range))
    cores, centroids, distances = [], [], []
    for model in models:
        slope, offset = _input_map(model.driver_scaler, driver_scaler)
        cores.append(_rescaled_core(model.core, slope, offset))
        if model.envelope is not None:
            physical = model.driver_scaler.inverse_transform(np.asarray(model.envelope.centroids, dtype=np.float64))
            centroids.append(driver_scaler.transform(physical, dtype="float64"))
            distances.append(model.envelope.reference_distance)
    envelope = None
    if len(centroids) == len(models):
        envelope = Envelope(np.concatenate(centroids), float(max(distances)), first.envelope.quantile)

    histories = []
    for model in models:
        member = model.history.copy()
        for key in ("best_epoch", "stopped_early", "converged", "training_seconds"):
            if key in member.attrs:
                member[key] = ((), member.attrs.pop(key))
        member.attrs = {}
        histories.append(member)
    history = xr.concat(histories, dim="member", join="outer", combine_attrs="drop").assign_coords(member=np.arange(len(models)))

    combined = dict(first.hyperparameters)
    combined.update(members=len(models), ensemble=kind)
    combined.update(dict(hyperparameters or {}))
    counts = {key: int(np.max([model.sample_counts.get(key, 0) for model in models])) for key in first.sample_counts}
    return Model(
        core=EnsembleCore(cores, kind),
        driver_scaler=driver_scaler,
        target_scaler=first.target_scaler,
        target=first.target,
        drivers=list(first.drivers),
        sample_dims=first.sample_dims,
        driver_attrs=dict(first.driver_attrs),
        target_attrs=dict(first.target_attrs),
        hyperparameters=combined,
        history=history,
        sample_counts=counts,
        method=first.method,
        dtype=first.dtype,
        envelope=envelope,
    )
