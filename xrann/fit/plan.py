"""The data pass every fit starts with: blocks, the validation split, counts and scaling.

Whatever the mode, a fit first aligns the target and drivers onto one block
grid (`xrann.data.blocks`), decides which valid samples are for validation
(a ``{dim: labels}`` selection, or a seeded hash per grid point for a
fraction), and computes, for every block in one ``dask.compute``, its counts
and the extremes of every variable over its training samples. The scalers
come from these extremes. Blocks without a training or validation sample are
never loaded again. numpy-backed input is one block, computed in this thread
(never shipped to a user's global scheduler or cluster).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import dask
import numpy as np
import xarray as xr

from ..core.scaling import MinMaxScaler
from ..data.blocks import BlockGrid, block_grid, compute, numpy_grid, warn_large_blocks
from ..data.variables import target_names
from ..data.extraction import N_WEIGHT_STATISTICS, SplitRule, block_samples, block_statistics
from .settings import check_split_counts, no_valid_samples_error

__all__ = ["SamplePlan", "plan_samples", "check_target_extremes"]


@dataclass
class SamplePlan:
    """The blocks of a fit, how they split, their statistics and the scalers.

    Attributes
    ----------
    grid : BlockGrid
    rule : SplitRule
    lazy : bool
        Whether any variable is dask-backed (else tasks run in this thread).
    statistics : numpy.ndarray
        ``(n_blocks, 4 + 2 * n_variables)``: grid points, valid, training,
        validation, then the minima and maxima over training samples.
    driver_scaler, target_scaler : MinMaxScaler
    counts : dict
        ``grid_points``, ``dropped``, ``training``, ``validation``.
    target_points : list of int or None
        With several targets, per target the grid points where it and every driver have
        values: more than the valid samples where another target is missing.
    weight_scale : float or None
        ``1 / mean`` of the training samples' weights, which normalises them to mean 1; ``None``
        for an unweighted fit, and when every training sample has the same weight (the fit is
        then exactly the unweighted one).
    _delayed : list of numpy.ndarray
        The dask-delayed blocks of each array of ``grid`` (object arrays on
        the block grid), shared by every task so that blocks computed
        together share their common parents.

    Examples
    --------
    >>> ds = xr.Dataset({"y": ("x", [1.0, 2.0, np.nan, 4.0]), "a": ("x", [0.0, 1.0, 2.0, 3.0])})
    >>> plan = plan_samples(ds, "y", ["a"], ("x",), holdout=None, fraction=None, validation=None, seed=0, target_range=(0.1, 0.9))
    >>> plan.lazy, plan.n_train, plan.blocks_with(2).tolist()
    (False, 3, [0])
    >>> plan.compute(plan.samples_task(0, dtype="float64", bias=True, keep_validation=1.0))[0].targets.shape
    (3, 1)
    """

    grid: BlockGrid
    rule: SplitRule
    lazy: bool
    statistics: np.ndarray
    driver_scaler: MinMaxScaler
    target_scaler: MinMaxScaler
    counts: dict[str, int]
    _delayed: list[np.ndarray]
    weight_scale: float | None = None
    target_points: list[int] | None = None

    @property
    def indices(self) -> list[tuple[int, ...]]:
        """Every block's index, in C order."""
        return self.grid.block_indices()

    @property
    def n_train(self) -> int:
        return self.counts["training"]

    @property
    def n_validation(self) -> int:
        return self.counts["validation"]

    def task(self, function: Callable, position: int, **options: Any) -> Any:
        """A pure dask task applying ``function`` to the arrays of block ``position`` (a plain call for numpy input)."""
        if not self.lazy:
            return functools.partial(function, *self.grid.arrays, **_block_options(self.grid, self.rule, position), **options)
        return _block_task(self.grid, self._delayed, self.rule, function, position, **options)

    def samples_task(self, position: int, *, dtype: str, bias: bool, keep_validation: float) -> Any:
        """A task giving the scaled `~xrann.data.extraction.BlockSamples` of block ``position``."""
        return self.task(
            block_samples, position, driver_scaler=self.driver_scaler, target_scaler=self.target_scaler,
            dtype=dtype, bias=bias, keep_validation=keep_validation, weight_scale=self.weight_scale,
        )

    def compute(self, *tasks: Any) -> tuple:
        """Compute tasks: in this thread for numpy-backed input, else on the active scheduler (with retries on a cluster)."""
        if not self.lazy:
            return tuple(task() for task in tasks)
        return compute(*tasks)

    def blocks_with(self, column: int) -> np.ndarray:
        """Positions of the blocks with training (``column=2``) or validation (``column=3``) samples."""
        return np.flatnonzero(self.statistics[:, column] > 0)


def _block_options(grid: BlockGrid, rule: SplitRule, position: int) -> dict[str, Any]:
    index = grid.block_indices()[position]
    options = dict(n_drivers=grid.n_drivers, has_holdout=grid.has_holdout, starts=grid.block_starts(index), rule=rule)
    if grid.has_weights:
        options["has_weights"] = True
    if grid.n_targets != 1:
        options["n_targets"] = grid.n_targets
    return options


def _block_task(grid: BlockGrid, delayed_blocks, rule: SplitRule, function: Callable, position: int, **options) -> Any:
    index = grid.block_indices()[position]
    return dask.delayed(function, pure=True)(
        *[delayed[index] for delayed in delayed_blocks], **_block_options(grid, rule, position), **options
    )


def plan_samples(
    ds: xr.Dataset,
    target: Hashable | Sequence[Hashable],
    drivers: Sequence[Hashable],
    sample_dims: Sequence[Hashable],
    *,
    holdout: xr.DataArray | None,
    fraction: float | None,
    validation: Any,
    seed: int,
    target_range: tuple[float, float],
    weights: xr.DataArray | None = None,
    weights_name: str | None = None,
    target_extremes: tuple[Sequence[float], Sequence[float]] | None = None,
) -> SamplePlan:
    """Align the variables onto blocks, split, count and scale: the first pass of every fit.

    Parameters
    ----------
    ds : xarray.Dataset
    target : hashable or list of hashable
        One target, or several (one scaled column each; a sample needs every target).
    drivers : sequence of hashable
    sample_dims : sequence of hashable
    holdout : xarray.DataArray or None
        Boolean on the sample dims, ``True`` for validation samples (a selection).
    fraction : float or None
        Share of samples held out by hash (when ``holdout`` is None).
    validation : object
        The user's argument, for error messages.
    seed : int
    target_range : tuple of float
    weights : xarray.DataArray, optional
        Sample weights on (a subset of) the sample dims (see `xrann.fit.weights`); normalised to
        mean 1 over the training samples. Points of weight 0 are not samples.
    weights_name : str, optional
        How the weights were given, for error messages.
    target_extremes : tuple of sequences of float, optional
        ``(minima, maxima)`` per target to scale over instead of the training samples' extremes
        (which they must contain): models fitted on different samples then share one target
        scaling, as an ensemble of them needs.

    Returns
    -------
    SamplePlan

    Raises
    ------
    ValueError
        No valid samples, an empty side of the validation split, or weights that are negative or
        NaN where the target is valid.

    Warns
    -----
    LargeBlockWarning
        A block larger than the memory budget.

    Examples
    --------
    >>> ds = xr.Dataset({"y": ("x", np.arange(8.0)), "a": ("x", np.linspace(0.0, 1.0, 8))}).chunk({"x": 4})
    >>> plan = plan_samples(ds, "y", ["a"], ("x",), holdout=None, fraction=None, validation=None, seed=0, target_range=(0.1, 0.9))
    >>> plan.counts, len(plan.indices)
    ({'grid_points': 8, 'dropped': 0, 'training': 8, 'validation': 0}, 2)
    >>> plan.target_scaler.minimum.tolist(), plan.target_scaler.maximum.tolist()
    ([0.0], [7.0])
    """
    targets = target_names(target)
    arrays = [*(ds[name] for name in targets), *(ds[name] for name in drivers), holdout, weights]
    lazy = any(array.chunks is not None for array in arrays if array is not None)
    rule_fraction = fraction if holdout is None else None
    if lazy:
        grid = block_grid(ds, target, drivers, sample_dims, holdout, weights)
        warn_large_blocks(grid)
        rule = SplitRule(grid.shape, rule_fraction, int(seed))
        # one graph per array, unoptimised, so that blocks computed together share their common parents
        delayed_blocks = [array.to_delayed(optimize_graph=False) for array in grid.arrays]
        tasks = [_block_task(grid, delayed_blocks, rule, block_statistics, p) for p in range(len(grid.block_indices()))]
        computed = compute(*tasks)
    else:  # one block of numpy views: no task graph at all
        grid = numpy_grid(ds, target, drivers, sample_dims, holdout, weights)
        rule = SplitRule(grid.shape, rule_fraction, int(seed))
        delayed_blocks = []
        computed = [block_statistics(*grid.arrays, **_block_options(grid, rule, 0))]
    statistics = np.array(computed).reshape(len(computed), -1)

    n_targets = len(targets)
    n_variables = n_targets + len(drivers)
    n_points, n_valid, n_train, n_validation = (int(v) for v in statistics[:, :4].sum(axis=0))
    weight_scale = None
    if weights is not None:
        weight_statistics = statistics[:, 4 + 2 * n_variables : 4 + 2 * n_variables + N_WEIGHT_STATISTICS]
        weight_scale = _weight_scale(weight_statistics, n_train, target, weights_name)
    if n_valid == 0:
        raise no_valid_samples_error(target, drivers)
    check_split_counts(validation, n_valid, n_train, n_validation)
    minimum = statistics[:, 4 : 4 + n_variables].min(axis=0)
    maximum = statistics[:, 4 + n_variables : 4 + 2 * n_variables].max(axis=0)
    driver_scaler = MinMaxScaler.from_extremes(
        minimum[n_targets:], maximum[n_targets:], (0.0, 1.0), names=[f"driver {n!r}" for n in drivers]
    )
    target_minimum, target_maximum = minimum[:n_targets], maximum[:n_targets]
    if target_extremes is not None:
        given = np.asarray(target_extremes[0], dtype=np.float64), np.asarray(target_extremes[1], dtype=np.float64)
        if not (np.all(given[0] <= target_minimum) and np.all(given[1] >= target_maximum)):
            raise ValueError(
                f"target_extremes {given[0].tolist()}..{given[1].tolist()} must contain the training targets' range "
                f"{target_minimum.tolist()}..{target_maximum.tolist()}."
            )
        target_minimum, target_maximum = given
    target_scaler = MinMaxScaler.from_extremes(
        target_minimum, target_maximum, target_range, names=[f"target {n!r}" for n in targets]
    )
    counts = {"grid_points": n_points, "dropped": n_points - n_valid, "training": n_train, "validation": n_validation}
    target_points = [int(v) for v in statistics[:, -n_targets:].sum(axis=0)] if n_targets > 1 else None
    return SamplePlan(
        grid, rule, lazy, statistics, driver_scaler, target_scaler, counts, delayed_blocks, weight_scale, target_points
    )


def check_target_extremes(target_extremes: Any, n_targets: int) -> None:
    """Raise `ValueError` unless ``target_extremes`` is ``(minima, maxima)`` with one finite, increasing pair per target.

    Parameters
    ----------
    target_extremes : object
        What was passed as ``target_extremes=``.
    n_targets : int

    Raises
    ------
    ValueError
        The wrong number of values, non-finite values or a minimum above its maximum.

    Examples
    --------
    >>> check_target_extremes(([0.0], [1.0, 2.0]), 1)
    Traceback (most recent call last):
    ...
    ValueError: target_extremes must be (minima, maxima) with 1 value each (one per target), got ([0.0], [1.0, 2.0]).
    """
    try:
        minima, maxima = (np.asarray(values, dtype=np.float64) for values in target_extremes)
    except (TypeError, ValueError):
        minima = maxima = None
    if minima is None or minima.shape != (n_targets,) or maxima.shape != (n_targets,):
        raise ValueError(
            f"target_extremes must be (minima, maxima) with {n_targets} value{'s' if n_targets > 1 else ''} each "
            f"(one per target), got {target_extremes!r}."
        )
    if not (np.isfinite(minima).all() and np.isfinite(maxima).all() and (minima <= maxima).all()):
        raise ValueError(f"target_extremes must be finite with each minimum <= its maximum, got {target_extremes!r}.")


def _weight_scale(statistics: np.ndarray, n_train: int, target: Hashable, weights_name: str | None) -> float | None:
    """``1 / mean`` of the training weights from the blocks' weight statistics; ``None`` when they are all equal."""
    total, bad = statistics[:, 0].sum(), statistics[:, 2].sum()
    smallest, largest = statistics[:, 3].min(), statistics[:, 4].max()
    if bad:
        raise ValueError(
            f"the weights ({weights_name}) are negative or NaN at {int(bad)} grid points where the target {target!r} is valid; "
            "weights must be >= 0 wherever the target has a value (use 0 to leave a sample out, e.g. weights.fillna(0))."
        )
    if n_train == 0 or not np.isfinite(total) or total <= 0:
        return None
    if smallest == largest:  # uniform: exactly the unweighted fit
        return None
    return float(n_train / total)
