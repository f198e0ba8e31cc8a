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

from collections.abc import Sequence

import dask
import numpy as np
import xarray as xr

from ..core.arrays import ArraySource
from ..core.engine import TrainingHistory
from ..core.ensemble import EnsembleCore
from ..core.linear import LinearMap
from ..data.blocks import active_client
from ..data.extraction import BlockSamples
from .history import members_history
from .settings import FitSettings, ResolvedSettings, check_ensemble_arguments
from .training import train_network

__all__ = ["train_members"]


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
        settings.sizes(n_inputs, 1), samples.inputs[train_index], samples.targets[train_index], val_inputs, val_targets,
        bias=settings.bias, dtype=settings.dtype, loss=settings.loss, augmented=True,
        weights=None if weights is None else weights[train_index], val_weights=val_weights,
    )
    resolved = settings.resolve(n_inputs, 1, source.n_train, source.n_validation > 0)
    network, history = train_network(source, settings, resolved, n_inputs, 1, member_rng, progress=False)
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
