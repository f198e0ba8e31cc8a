"""Skill scores of predictions against observations, on DataArrays.

Every score takes ``(obs, pred, dim=None, weights=None)``:

* only points where both ``obs`` and ``pred`` are finite count (and, with
  ``weights``, where the weight is finite; a NaN weight counts as zero),
* ``dim`` names the dims to reduce (all dims when ``None``),
* ``weights`` (for example cell areas) make every mean a weighted mean,
* dask-backed input stays lazy: the scores are built from xarray's
  weighted reductions, so nothing is computed until you ask.

The result is a DataArray over the dims that were not reduced, named after
the score, with ``units`` and ``long_name``. A score with no valid point
(or a correlation of a constant series) is NaN, without a warning.

Examples
--------
>>> import xarray as xr
>>> obs = xr.DataArray([1.0, 2.0, 3.0, np.nan], dims="time")
>>> pred = xr.DataArray([1.5, 2.0, 2.5, 4.0], dims="time")
>>> float(rmse(obs, pred)), float(bias(obs, pred))
(0.408..., 0.0)
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence

import numpy as np
import xarray as xr

__all__ = ["r2", "rmse", "mae", "bias", "pearson_r", "scores", "SCORES"]

Dims = Hashable | Sequence[Hashable] | None


def _paired(
    obs: xr.DataArray, pred: xr.DataArray, dim: Dims, weights: xr.DataArray | None
) -> tuple[xr.DataArray, xr.DataArray, Callable[[xr.DataArray], xr.DataArray]]:
    """Observations and predictions zeroed outside their joint valid points, and a weighted mean over ``dim``."""
    for name, array in (("obs", obs), ("pred", pred), ("weights", weights)):
        if array is not None and not isinstance(array, xr.DataArray):
            raise TypeError(f"{name} must be an xarray.DataArray, got {type(array).__name__}.")
    try:
        obs, pred = xr.align(obs, pred, join="exact")
    except ValueError:
        raise ValueError(
            "obs and pred have different coordinates along a shared dim; put the prediction on the observations' "
            "grid first (ds.ann.predict() does), or align them, e.g. xr.align(obs, pred, join='inner')."
        ) from None
    valid = np.isfinite(obs) & np.isfinite(pred)
    weight = valid.astype(np.float64)
    if weights is not None:
        weight = weight * weights.where(np.isfinite(weights), 0.0)
    all_dims = list(dict.fromkeys(list(obs.dims) + list(pred.dims) + list(weight.dims)))
    if dim is None:
        dims = all_dims
    else:
        dims = _as_list(dim)
        missing = [d for d in dims if d not in all_dims]
        if missing:
            raise ValueError(f"dim {missing[0]!r} is not a dim of obs, pred or weights, which have dims {tuple(all_dims)}.")
    total = _positive(weight.sum(dims))

    def weighted_mean(values: xr.DataArray) -> xr.DataArray:
        return (values * weight).sum(dims, skipna=False) / total

    return obs.where(valid, 0.0), pred.where(valid, 0.0), weighted_mean


def _as_list(dim: Hashable | Sequence[Hashable]) -> list[Hashable]:
    return [dim] if isinstance(dim, str) or not isinstance(dim, Sequence) else list(dim)


def _positive(values: xr.DataArray) -> xr.DataArray:
    """NaN where ``values`` is not positive, so that dividing by it never warns."""
    return values.where(values > 0)


def _bias(obs: xr.DataArray, pred: xr.DataArray, mean: Callable) -> xr.DataArray:
    return mean(pred - obs)


def _rmse(obs: xr.DataArray, pred: xr.DataArray, mean: Callable) -> xr.DataArray:
    return np.sqrt(mean((pred - obs) ** 2))


def _mae(obs: xr.DataArray, pred: xr.DataArray, mean: Callable) -> xr.DataArray:
    return mean(abs(pred - obs))


def _r2(obs: xr.DataArray, pred: xr.DataArray, mean: Callable) -> xr.DataArray:
    variance = mean((obs - mean(obs)) ** 2)
    return 1 - mean((pred - obs) ** 2) / _positive(variance)


def _pearson_r(obs: xr.DataArray, pred: xr.DataArray, mean: Callable) -> xr.DataArray:
    obs_anomaly, pred_anomaly = obs - mean(obs), pred - mean(pred)
    covariance = mean(obs_anomaly * pred_anomaly)
    return covariance / np.sqrt(_positive(mean(obs_anomaly**2)) * _positive(mean(pred_anomaly**2)))


#: per score: how it is computed from paired data and a weighted mean, its long name, and whether it has the obs units
_DEFINITIONS: dict[str, tuple[Callable, str, bool]] = {
    "r2": (_r2, "coefficient of determination", False),
    "rmse": (_rmse, "root-mean-square error", True),
    "mae": (_mae, "mean absolute error", True),
    "bias": (_bias, "mean bias (prediction - observation)", True),
    "pearson_r": (_pearson_r, "Pearson correlation coefficient", False),
}


def _score(name: str, obs: xr.DataArray, pred: xr.DataArray, dim: Dims, weights: xr.DataArray | None) -> xr.DataArray:
    paired_obs, paired_pred, mean = _paired(obs, pred, dim, weights)
    return _finish(name, paired_obs, paired_pred, mean, obs.attrs.get("units"))


def _finish(name: str, obs: xr.DataArray, pred: xr.DataArray, mean: Callable, units: str | None) -> xr.DataArray:
    compute, long_name, has_units = _DEFINITIONS[name]
    score = compute(obs, pred, mean).rename(name)
    score.attrs = {"long_name": long_name, "units": (units or "1") if has_units else "1"}
    return score


def bias(obs: xr.DataArray, pred: xr.DataArray, dim: Dims = None, weights: xr.DataArray | None = None) -> xr.DataArray:
    """Mean error ``mean(pred - obs)``: positive when the prediction is too high.

    Parameters
    ----------
    obs, pred : xarray.DataArray
        Observations and predictions on the same grid.
    dim : hashable or sequence of hashable, optional
        Dims to reduce; all dims when ``None``.
    weights : xarray.DataArray, optional
        Non-negative weights broadcastable to ``obs`` (e.g. cell area).

    Returns
    -------
    xarray.DataArray
        In the units of ``obs``.

    Raises
    ------
    ValueError
        Coordinates that differ between ``obs`` and ``pred``, or an unknown ``dim``.
    TypeError
        Inputs that are not DataArrays.

    Examples
    --------
    >>> import xarray as xr
    >>> float(bias(xr.DataArray([1.0, 2.0]), xr.DataArray([2.0, 4.0])))
    1.5
    """
    return _score("bias", obs, pred, dim, weights)


def rmse(obs: xr.DataArray, pred: xr.DataArray, dim: Dims = None, weights: xr.DataArray | None = None) -> xr.DataArray:
    """Root-mean-square error ``sqrt(mean((pred - obs)**2))``.

    Parameters
    ----------
    obs, pred : xarray.DataArray
    dim : hashable or sequence of hashable, optional
    weights : xarray.DataArray, optional

    Returns
    -------
    xarray.DataArray
        In the units of ``obs``.

    Raises
    ------
    ValueError, TypeError
        As for `bias`.

    Examples
    --------
    >>> import xarray as xr
    >>> float(rmse(xr.DataArray([0.0, 0.0]), xr.DataArray([3.0, -3.0])))
    3.0
    """
    return _score("rmse", obs, pred, dim, weights)


def mae(obs: xr.DataArray, pred: xr.DataArray, dim: Dims = None, weights: xr.DataArray | None = None) -> xr.DataArray:
    """Mean absolute error ``mean(|pred - obs|)``.

    Parameters
    ----------
    obs, pred : xarray.DataArray
    dim : hashable or sequence of hashable, optional
    weights : xarray.DataArray, optional

    Returns
    -------
    xarray.DataArray
        In the units of ``obs``.

    Raises
    ------
    ValueError, TypeError
        As for `bias`.

    Examples
    --------
    >>> import xarray as xr
    >>> float(mae(xr.DataArray([0.0, 0.0]), xr.DataArray([1.0, -3.0])))
    2.0
    """
    return _score("mae", obs, pred, dim, weights)


def r2(obs: xr.DataArray, pred: xr.DataArray, dim: Dims = None, weights: xr.DataArray | None = None) -> xr.DataArray:
    """Coefficient of determination ``1 - SSE / SST`` (not the squared correlation).

    ``SSE`` sums ``(pred - obs)**2`` and ``SST`` sums ``(obs - mean(obs))**2``
    (weighted when ``weights`` is given). 1 is perfect, 0 is no better than
    the observed mean, and it is negative for worse predictions.

    Parameters
    ----------
    obs, pred : xarray.DataArray
    dim : hashable or sequence of hashable, optional
    weights : xarray.DataArray, optional

    Returns
    -------
    xarray.DataArray
        Dimensionless; NaN where ``obs`` is constant.

    Raises
    ------
    ValueError, TypeError
        As for `bias`.

    Examples
    --------
    >>> import xarray as xr
    >>> float(r2(xr.DataArray([1.0, 2.0, 3.0]), xr.DataArray([1.0, 2.0, 4.0])))
    0.5
    """
    return _score("r2", obs, pred, dim, weights)


def pearson_r(obs: xr.DataArray, pred: xr.DataArray, dim: Dims = None, weights: xr.DataArray | None = None) -> xr.DataArray:
    """Pearson correlation of ``obs`` and ``pred`` (weighted when ``weights`` is given).

    Parameters
    ----------
    obs, pred : xarray.DataArray
    dim : hashable or sequence of hashable, optional
    weights : xarray.DataArray, optional

    Returns
    -------
    xarray.DataArray
        Dimensionless, in ``[-1, 1]``; NaN where either series is constant.

    Raises
    ------
    ValueError, TypeError
        As for `bias`.

    Examples
    --------
    >>> import xarray as xr
    >>> float(pearson_r(xr.DataArray([1.0, 2.0, 3.0]), xr.DataArray([2.0, 4.0, 6.5])))
    0.998...
    """
    return _score("pearson_r", obs, pred, dim, weights)


#: the scores by name, in the order `scores` returns them
SCORES: dict[str, Callable[..., xr.DataArray]] = {"r2": r2, "rmse": rmse, "mae": mae, "bias": bias, "pearson_r": pearson_r}


def scores(obs: xr.DataArray, pred: xr.DataArray, dim: Dims = None, weights: xr.DataArray | None = None) -> xr.Dataset:
    """All scores (`r2`, `rmse`, `mae`, `bias`, `pearson_r`) and the number of valid points, as a Dataset.

    Parameters
    ----------
    obs, pred : xarray.DataArray
    dim : hashable or sequence of hashable, optional
    weights : xarray.DataArray, optional

    Returns
    -------
    xarray.Dataset
        One variable per score plus ``n_samples`` (points where both are finite).

    Raises
    ------
    ValueError, TypeError
        As for `bias`.

    Examples
    --------
    >>> import xarray as xr
    >>> result = scores(xr.DataArray([1.0, 2.0, 3.0]), xr.DataArray([1.0, 2.0, 4.0]))
    >>> sorted(result.data_vars)
    ['bias', 'mae', 'n_samples', 'pearson_r', 'r2', 'rmse']
    >>> int(result["n_samples"])
    3
    """
    paired_obs, paired_pred, mean = _paired(obs, pred, dim, weights)
    results = {name: _finish(name, paired_obs, paired_pred, mean, obs.attrs.get("units")) for name in SCORES}
    valid = np.isfinite(obs) & np.isfinite(pred)
    reduce_dims = list(valid.dims) if dim is None else [d for d in _as_list(dim) if d in valid.dims]
    results["n_samples"] = valid.sum(reduce_dims).rename("n_samples").drop_attrs(deep=False).assign_attrs(
        long_name="number of points where observation and prediction are both finite", units="1"
    )
    return xr.Dataset(results)
