"""Memory mode: every valid sample extracted once into arrays, trained on by `~xrann.core.arrays.ArraySource`.

The samples come out of the same block extraction as the other modes
(`xrann.data.extraction`), scaled and written once in the training dtype
with the bias column, so memory, stream and batch modes train on identical
numbers. Also the mode of ``method="linear"`` and of ensembles.
"""

from __future__ import annotations

import numpy as np

from ..core.arrays import ArraySource
from ..core.engine import TrainingHistory
from ..core.linear import LinearMap
from ..data.extraction import BlockSamples, concatenate_blocks
from .ensemble import train_members
from .envelope import envelope_of_samples
from .plan import SamplePlan
from .settings import FitResult, FitSettings
from .training import train_network

__all__ = ["extract_samples", "fit_in_memory", "fit_linear"]


def extract_samples(plan: SamplePlan, *, dtype: str, bias: bool) -> BlockSamples:
    """The scaled training and validation samples of every block, concatenated in block order.

    Parameters
    ----------
    plan : SamplePlan
    dtype : str
        Training dtype of the matrices.
    bias : bool
        Whether the driver matrices carry the ones column.

    Returns
    -------
    BlockSamples

    Examples
    --------
    >>> import xarray as xr
    >>> from xrann.fit.plan import plan_samples
    >>> ds = xr.Dataset({"y": ("x", [1.0, 2.0, np.nan, 4.0]), "a": ("x", [0.0, 1.0, 2.0, 3.0])})
    >>> plan = plan_samples(ds, "y", ["a"], ("x",), holdout=None, fraction=None, validation=None, seed=0, target_range=(0.1, 0.9))
    >>> samples = extract_samples(plan, dtype="float64", bias=True)
    >>> samples.inputs.round(3).tolist(), samples.val_inputs.shape
    ([[0.0, 1.0], [0.333, 1.0], [1.0, 1.0]], (0, 2))
    """
    positions = np.union1d(plan.blocks_with(2), plan.blocks_with(3))
    tasks = [plan.samples_task(int(p), dtype=dtype, bias=bias, keep_validation=1.0) for p in positions]
    return concatenate_blocks(*plan.compute(*tasks))


def fit_linear(plan: SamplePlan, settings: FitSettings) -> FitResult:
    """Least-squares baseline on the scaled drivers (``method="linear"``).

    Parameters
    ----------
    plan : SamplePlan
    settings : FitSettings
        Validated; ``dtype`` and ``seed`` are used.

    Returns
    -------
    FitResult
        A `~xrann.core.linear.LinearMap` core and a one-epoch history
        (``val_loss`` too when samples were held out); ``resolved`` is ``None``.

    Examples
    --------
    >>> import xarray as xr
    >>> from xrann.fit.plan import plan_samples
    >>> ds = xr.Dataset({"y": ("x", [1.0, 3.0, 5.0, 7.0]), "a": ("x", [0.0, 1.0, 2.0, 3.0])})
    >>> plan = plan_samples(ds, "y", ["a"], ("x",), holdout=None, fraction=None, validation=None, seed=0, target_range=(0.1, 0.9))
    >>> settings = FitSettings(method="linear", seed=0); settings.validate()
    >>> result = fit_linear(plan, settings)
    >>> result.core.coefficients.round(6).tolist(), result.history.stop_reason
    ([[0.8]], 'least squares solution')
    """
    samples = extract_samples(plan, dtype=settings.dtype, bias=False)
    core = LinearMap.fit(samples.inputs, samples.targets, samples.weights)
    history = TrainingHistory(
        loss=[_mean_squared_error(core, samples.inputs, samples.targets, samples.weights)], best_epoch=0, converged=True,
        stop_reason="least squares solution",
    )
    if len(samples.val_targets):
        history.val_loss.append(_mean_squared_error(core, samples.val_inputs, samples.val_targets, samples.val_weights))
    envelope = envelope_of_samples(samples.inputs, seed=settings.seed)
    return FitResult(core, plan.driver_scaler, plan.target_scaler, history, plan.counts, envelope=envelope)


def _mean_squared_error(core: LinearMap, inputs: np.ndarray, targets: np.ndarray, weights: np.ndarray | None) -> float:
    squared = (core.predict(inputs) - targets) ** 2
    if weights is None:
        return float(np.mean(squared))
    return float(np.sum(weights[:, None] * squared) / (np.sum(weights) * targets.shape[1]))


def fit_in_memory(
    plan: SamplePlan,
    settings: FitSettings,
    rng: np.random.Generator,
    *,
    progress: bool | None,
    members: int | None = None,
    ensemble: str = "bootstrap",
) -> FitResult:
    """Train one network (or an ensemble) on the samples of ``plan`` held in memory.

    Parameters
    ----------
    plan : SamplePlan
    settings : FitSettings
        Validated.
    rng : numpy.random.Generator
        Draws the initial weights and shuffles mini-batches.
    progress : bool or None
    members : int, optional
        Train an ensemble of this many members (see `xrann.fit.ensemble`).
    ensemble : {"bootstrap", "folds"}

    Returns
    -------
    FitResult

    Examples
    --------
    >>> import xarray as xr
    >>> from xrann.fit.plan import plan_samples
    >>> x = np.linspace(0.0, 1.0, 50)
    >>> ds = xr.Dataset({"y": ("x", np.sin(3 * x)), "a": ("x", x)})
    >>> plan = plan_samples(ds, "y", ["a"], ("x",), holdout=None, fraction=None, validation=None, seed=0, target_range=(0.1, 0.9))
    >>> settings = FitSettings(hidden=(3,), optimizer="lm", epochs=20, seed=0); settings.validate()
    >>> result = fit_in_memory(plan, settings, np.random.default_rng(0), progress=False)
    >>> result.resolved.optimizer, result.counts["training"], result.history.loss[-1] < result.history.loss[0]
    ('lm', 50, True)
    """
    if settings.method == "linear" and members is None:
        return fit_linear(plan, settings)
    samples = extract_samples(plan, dtype=settings.dtype, bias=settings.bias and settings.method != "linear")
    n_inputs, n_outputs = plan.grid.n_drivers, plan.grid.n_targets
    if members is not None:
        core, history, resolved = train_members(samples, settings, rng, n_inputs=n_inputs, members=members, kind=ensemble)
        envelope = envelope_of_samples(samples.inputs[:, :n_inputs], seed=settings.seed)
        return FitResult(core, plan.driver_scaler, plan.target_scaler, history, plan.counts, resolved, envelope)
    sizes = settings.sizes(n_inputs, n_outputs)
    source = ArraySource(
        sizes, samples.inputs, samples.targets, samples.val_inputs, samples.val_targets,
        bias=settings.bias, dtype=settings.dtype, loss=settings.loss, augmented=True,
        weights=samples.weights, val_weights=samples.val_weights,
    )
    resolved = settings.resolve(n_inputs, n_outputs, source.n_train, source.n_validation > 0)
    network, history = train_network(source, settings, resolved, n_inputs, n_outputs, rng, progress=progress)
    envelope = envelope_of_samples(samples.inputs[:, :n_inputs], seed=settings.seed)
    return FitResult(network, plan.driver_scaler, plan.target_scaler, history, plan.counts, resolved, envelope)
