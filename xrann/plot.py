"""Figures for checking a model: maps, seasonal cycle, regional series, scatter, training history.

Needs matplotlib (``pip install "xrann[plot]"``); it is imported only when a
function here is called, and the non-interactive Agg backend is chosen when
there is no display. Every function returns the `matplotlib.figure.Figure`,
so ``fig.savefig("maps.png")`` writes it to a file.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

from .evaluation import area_weights, find_time_dim, regional_mean
from .metrics import pearson_r

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from .model import Model

__all__ = ["maps", "seasonal_cycle", "regional_series", "scatter", "history", "regional_budgets"]


def _pyplot():
    """matplotlib.pyplot, on the Agg backend when no display is available."""
    try:
        import matplotlib
    except ImportError:
        raise ImportError(
            'xrann.plot needs matplotlib; install it with: python3 -m pip install "xrann[plot]"'
        ) from None
    interactive = bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) or sys.platform in ("darwin", "win32")
    if not interactive and "matplotlib.pyplot" not in sys.modules and "ipykernel" not in sys.modules:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _label(data: xr.DataArray, name: object = None) -> str:
    """``"nee (umol m-2 s-1)"``: a short name (the variable's, unless given) and the units."""
    name = name if name is not None else data.name if data.name is not None else "value"
    units = data.attrs.get("units")
    return f"{name} ({units})" if units else str(name)


#: tick and axis label size of the 3-panel maps (points), readable at page width
_FONT_SIZE = 11


def _axis_name(field: xr.DataArray, position: int) -> str:
    """The short name of a map axis: ``"lon"``, ``"lat"`` (units are in the tick labels)."""
    return str(field.dims[position])


def _plot_times(time: xr.DataArray) -> np.ndarray:
    """Time values matplotlib can draw: numpy datetimes as they are; cftime dates (noleap, 360_day, ...)
    through nc-time-axis (the ``plot`` extra), else as decimal years."""
    values = time.values
    if values.dtype.kind != "O":
        return values
    try:
        import nc_time_axis  # noqa: F401  (registers matplotlib converters for cftime dates)
    except ImportError:
        days = time.dt.dayofyear - 1 + time.dt.hour / 24
        return (time.dt.year + days / time.dt.days_in_year).values
    return values


def _shade_held_out(axis, time: xr.DataArray, plotted: np.ndarray, held_out) -> None:
    """Shade each held-out year, from its first time step to the next year's first (or one step past its last)."""
    if not held_out:
        return
    years = time.dt.year.values
    for number, year in enumerate(sorted(set(map(int, held_out)))):
        inside = np.flatnonzero(years == year)
        if inside.size == 0:
            continue
        after = inside[-1] + 1
        if after < plotted.size:
            end = plotted[after]
        elif plotted.size > 1:  # the series' last year: as wide as the others, one step past its last point
            end = plotted[-1] + (plotted[-1] - plotted[-2])
        else:
            end = plotted[-1]
        axis.axvspan(plotted[inside[0]], end, color="tab:blue", alpha=0.12, linewidth=0,
                     label="held-out years" if number == 0 else None)


def _one_target(data: xr.DataArray | xr.Dataset, argument: str) -> None:
    """Refuse the output of a model of several targets (a Dataset of predictions, or a ``target`` dim), naming the fix."""
    predictions = [str(name) for name in data.data_vars if str(name).endswith("_predicted")] if isinstance(data, xr.Dataset) else []
    if predictions:
        names = [str(name) for name in data.data_vars]
        raise TypeError(
            f"{argument} is a Dataset of {names}, e.g. the predictions of a model of several targets; "
            f"plot one variable at a time, e.g. {argument}[{predictions[0]!r}]."
        )
    if "target" in data.dims:
        labels = [str(label) for label in data["target"].values] if "target" in data.coords else []
        first = labels[0] if labels else 0
        raise ValueError(
            f"{argument} has a target dim ({labels}), the result of a model of several targets; plot one target at a time, "
            f"e.g. {argument}.sel(target={first!r})."
        )


def _map_2d(data: xr.DataArray) -> xr.DataArray:
    time_dim = find_time_dim(data)
    if time_dim is not None:
        data = data.mean(time_dim, keep_attrs=True)
    if "member" in data.dims:  # an ensemble's members: their mean
        data = data.mean("member", keep_attrs=True)
    if data.ndim != 2:
        raise ValueError(f"maps need 2-D fields (after averaging over time); got dims {data.dims}.")
    return data


def maps(obs: xr.DataArray, pred: xr.DataArray, *, cmap: str = "viridis", title: str | None = None) -> "Figure":
    """Observed, predicted and difference maps in one row of three panels.

    A time dim is averaged away first. The difference (prediction minus
    observation) uses a diverging colour map centred on zero; truth and model
    share one colour scale.

    Parameters
    ----------
    obs, pred : xarray.DataArray
        Fields on the same (lat, lon) grid, optionally with a time dim (and,
        for ``pred``, a ``member`` dim: the members' mean is mapped).
    cmap : str, default "viridis"
        Colour map of the first two panels.
    title : str, optional
        Figure title; the observations' long name (or name) and units by default.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        Fields that are not 2-D after averaging over time.
    ImportError
        matplotlib is not installed.

    Examples
    --------
    >>> field = xr.DataArray(np.arange(6.0).reshape(2, 3), dims=("lat", "lon"), name="nee")
    >>> len(maps(field, field + 1).axes)   # three panels and their colour bars
    6
    """
    _one_target(obs, "obs")
    _one_target(pred, "pred")
    plt = _pyplot()
    observed, predicted = _map_2d(obs), _map_2d(pred)
    difference = predicted - observed
    low = float(min(observed.min(), predicted.min()))
    high = float(max(observed.max(), predicted.max()))
    limit = float(abs(difference).max()) or 1.0
    # sized so that, shrunk to the width of a page or a notebook, the labels stay readable
    figure, axes = plt.subplots(1, 3, figsize=(11, 3.4), constrained_layout=True, sharey=True)
    units = obs.attrs.get("units", "")
    panels = [
        (observed, "observed", dict(cmap=cmap, vmin=low, vmax=high)),
        (predicted, "predicted", dict(cmap=cmap, vmin=low, vmax=high)),
        (difference, "predicted - observed", dict(cmap="RdBu_r", vmin=-limit, vmax=limit)),
    ]
    for index, (axis, (field, panel_title, style)) in enumerate(zip(axes, panels)):
        image = field.plot(ax=axis, cbar_kwargs={"label": units}, **style)
        image.colorbar.ax.tick_params(labelsize=_FONT_SIZE)
        image.colorbar.set_label(units, fontsize=_FONT_SIZE)
        axis.set_title(panel_title, fontsize=_FONT_SIZE + 1)
        axis.tick_params(labelsize=_FONT_SIZE)
        axis.set_xlabel(_axis_name(field, -1), fontsize=_FONT_SIZE)
        axis.set_ylabel(_axis_name(field, 0) if index == 0 else "", fontsize=_FONT_SIZE)
    if title is None:
        title = _label(obs, obs.attrs.get("long_name")) + (", time mean" if find_time_dim(obs) is not None else "")
    figure.suptitle(title, fontsize=_FONT_SIZE + 1)
    return figure


def seasonal_cycle(evaluation_or_obs: xr.Dataset | xr.DataArray, pred: xr.DataArray | None = None) -> "Figure":
    """Mean seasonal cycle of the regional mean, observed and predicted.

    Parameters
    ----------
    evaluation_or_obs : xarray.Dataset or xarray.DataArray
        An evaluation Dataset (from ``ds.ann.evaluate()``, which holds
        ``seasonal_cycle``), or the observed field (then pass ``pred``).
    pred : xarray.DataArray, optional
        The predicted field, when the first argument is the observed one.

    Returns
    -------
    matplotlib.figure.Figure
        One axes with two lines (observed, predicted) over months 1-12.

    Raises
    ------
    ValueError
        A Dataset without ``seasonal_cycle``, or a DataArray without ``pred``
        or without a datetime dim.

    Examples
    --------
    >>> import pandas as pd
    >>> time = pd.date_range("2007-01-01", periods=24, freq="MS")
    >>> obs = xr.DataArray(np.cos(np.arange(24.0)), dims="time", coords={"time": time})
    >>> seasonal_cycle(obs, obs * 0.9).axes[0].get_legend_handles_labels()[1]
    ['observed', 'predicted']
    """
    _one_target(evaluation_or_obs, "evaluation_or_obs")
    if pred is not None:
        _one_target(pred, "pred")
    if isinstance(evaluation_or_obs, xr.Dataset):
        if "seasonal_cycle" not in evaluation_or_obs:
            raise ValueError("the Dataset has no 'seasonal_cycle'; pass ds.ann.evaluate() output, or obs and pred fields.")
        cycle = evaluation_or_obs["seasonal_cycle"]
        observed, predicted = cycle.sel(source="observed"), cycle.sel(source="predicted")
        name = evaluation_or_obs.attrs.get("target", "regional mean")
    else:
        if pred is None:
            raise ValueError("seasonal_cycle(obs, pred) needs the predicted field too (or an evaluation Dataset).")
        observed_series, predicted_series = _regional_series_pair(evaluation_or_obs, pred, None)
        time_dim = find_time_dim(observed_series)
        observed = observed_series.groupby(observed_series[time_dim].dt.month).mean()
        predicted = predicted_series.groupby(predicted_series[time_dim].dt.month).mean()
        observed.attrs = evaluation_or_obs.attrs
        name = evaluation_or_obs.name if evaluation_or_obs.name is not None else "regional mean"
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(7, 4), constrained_layout=True)
    axis.plot(observed["month"], observed, "o-", color="black", label="observed")
    axis.plot(predicted["month"], predicted, "s--", color="tab:orange", label="predicted")
    axis.axhline(0, color="grey", linewidth=0.5)
    axis.set_xticks(range(1, 13))
    axis.set_xlabel("month")
    axis.set_ylabel(_label(observed, name))
    axis.set_title("mean seasonal cycle of the area-weighted regional mean")
    axis.legend()
    return figure


def _regional_series_pair(
    obs: xr.DataArray, pred: xr.DataArray, weights: xr.DataArray | None
) -> tuple[xr.DataArray, xr.DataArray]:
    time_dim = find_time_dim(obs)
    if time_dim is None:
        raise ValueError(f"a regional series needs a datetime dim; the field has dims {obs.dims}.")
    valid = np.isfinite(obs) & np.isfinite(pred)
    weights = area_weights(obs) if weights is None else weights
    spatial = [d for d in obs.dims if d != time_dim]
    observed = regional_mean(obs.where(valid), weights, spatial)
    # dims only the predictions have (an ensemble's members share one valid mask): one observed series
    observed = observed.isel({dim: 0 for dim in observed.dims if dim not in obs.dims}, drop=True)
    return observed, regional_mean(pred.where(valid), weights, spatial)


def regional_series(
    obs: xr.DataArray, pred: xr.DataArray, weights: xr.DataArray | None = None, *, held_out: Sequence[int] | None = None
) -> "Figure":
    """Area-weighted regional mean time series, observed and predicted, with their correlation.

    Any calendar works: numpy datetimes, or cftime dates (``noleap``,
    ``360_day``, ...) drawn through nc-time-axis (in the ``plot`` extra).

    Parameters
    ----------
    obs, pred : xarray.DataArray
        Fields on ``(time, ...)``; only points where both are finite count.
        ``pred`` may hold an ensemble's members along ``member``
        (``predict(members=True)``): the members' mean is drawn with a band
        of ± 2 standard deviations.
    weights : xarray.DataArray, optional
        Cell areas or other weights; cos(latitude) when ``None``.
    held_out : sequence of int, optional
        Years held out from training (e.g. ``[2007, 2015]``), shaded.

    Returns
    -------
    matplotlib.figure.Figure
        One axes with two lines.

    Raises
    ------
    ValueError
        No datetime dim.

    Examples
    --------
    >>> import pandas as pd
    >>> time = pd.date_range("2007-01-01", periods=24, freq="MS")
    >>> obs = xr.DataArray(np.cos(np.arange(24.0))[:, None], dims=("time", "lat"),
    ...                    coords={"time": time, "lat": [45.0]})
    >>> regional_series(obs, obs + 0.1, held_out=[2008]).axes[0].get_legend_handles_labels()[1]
    ['held-out years', 'observed', 'predicted']
    """
    _one_target(obs, "obs")
    _one_target(pred, "pred")
    observed, predicted = _regional_series_pair(obs, pred, weights)
    time_dim = find_time_dim(observed)
    band = None
    if "member" in predicted.dims:  # an ensemble: the members' mean, and their band of ± 2 sigma
        spread = predicted.std("member", ddof=1)
        predicted = predicted.mean("member")
        band = (predicted - 2 * spread, predicted + 2 * spread)
    extra = [dim for dim in predicted.dims if dim != time_dim]
    if extra:
        raise ValueError(
            f"the predictions have extra dims {extra}: plot one label at a time, e.g. pred.isel({extra[0]}=0)."
        )
    correlation = float(pearson_r(observed, predicted, time_dim))
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(10, 4), constrained_layout=True)
    times = _plot_times(observed[time_dim])
    _shade_held_out(axis, observed[time_dim], times, held_out)
    axis.plot(times, observed.values, color="black", label="observed")
    axis.plot(times, predicted.values, "--", color="tab:orange", label="predicted" if band is None else "predicted (ensemble mean)")
    if band is not None:
        axis.fill_between(times, band[0].values, band[1].values, color="tab:orange", alpha=0.25, label="ensemble ±2σ")
    axis.axhline(0, color="grey", linewidth=0.5)
    axis.set_ylabel(_label(obs))
    axis.set_title(f"area-weighted regional mean (r = {correlation:.3f})")
    axis.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))  # outside: the curves fill the axes
    return figure


def scatter(obs: xr.DataArray, pred: xr.DataArray, *, max_points: int = 20_000, seed: int = 0) -> "Figure":
    """Predicted against observed values with the 1:1 line, r and both means annotated.

    Parameters
    ----------
    obs, pred : xarray.DataArray
        Same grid; only points where both are finite are drawn.
    max_points : int, default 20000
        At most this many points are drawn (a random subset); r and the means use all.
    seed : int, default 0
        Seed of that subset.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        No point where both are finite.

    Examples
    --------
    >>> obs = xr.DataArray([1.0, 2.0, 3.0, np.nan])
    >>> figure = scatter(obs, obs * 1.1)
    >>> "r = 1.000" in figure.axes[0].texts[0].get_text()
    True
    """
    _one_target(obs, "obs")
    _one_target(pred, "pred")
    observed, predicted = xr.broadcast(obs, pred)
    valid = np.isfinite(observed) & np.isfinite(predicted)
    x = observed.values[valid.values]
    y = predicted.values[valid.values]
    if x.size == 0:
        raise ValueError("scatter needs at least one point where both obs and pred are finite.")
    correlation = float(np.corrcoef(x, y)[0, 1]) if x.size > 1 and x.std() > 0 and y.std() > 0 else float("nan")
    if x.size > max_points:
        chosen = np.random.default_rng(seed).choice(x.size, max_points, replace=False)
        x_drawn, y_drawn = x[chosen], y[chosen]
    else:
        x_drawn, y_drawn = x, y
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(5, 5), constrained_layout=True)
    axis.scatter(x_drawn, y_drawn, s=3, alpha=0.3, color="tab:blue", rasterized=True)
    low, high = float(min(x.min(), y.min())), float(max(x.max(), y.max()))
    axis.plot([low, high], [low, high], color="black", linewidth=1, label="1:1")
    units = obs.attrs.get("units", "")
    axis.text(
        0.03, 0.97,
        f"r = {correlation:.3f}\nmean observed = {x.mean():.3g} {units}\nmean predicted = {y.mean():.3g} {units}\nn = {x.size}",
        transform=axis.transAxes, va="top", fontsize=9,
        bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none"},
    )
    axis.set_xlabel("observed " + _label(obs))
    axis.set_ylabel("predicted " + _label(obs))
    axis.legend(loc="lower right")
    return figure


def history(model: "Model") -> "Figure":
    """Training and validation loss per epoch on a log scale, with the kept epoch marked.

    Parameters
    ----------
    model : Model
        A fitted model (its ``history``).

    Returns
    -------
    matplotlib.figure.Figure
        One axes: ``loss`` and, when there was validation, ``val_loss``.

    Raises
    ------
    ValueError
        A model without a loss history.

    Examples
    --------
    >>> import xrann
    >>> model = xrann.datasets.soil_toy().ann.fit(target="co2_flux", seed=0, epochs=20, progress=False)
    >>> [line.get_label() for line in history(model).axes[0].lines]
    ['loss', 'kept epoch']
    """
    losses = model.history
    if "loss" not in losses or losses["loss"].size == 0:
        raise ValueError("the model has no loss history to plot.")
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(7, 4), constrained_layout=True)
    epochs = np.arange(1, losses["loss"].size + 1)
    axis.plot(epochs, losses["loss"].values, color="tab:blue", label="loss")
    if "val_loss" in losses:
        axis.plot(epochs, losses["val_loss"].values, color="tab:orange", label="val_loss")
    best = int(losses.attrs.get("best_epoch", -1))
    if 0 <= best < epochs.size:
        axis.axvline(best + 1, color="grey", linestyle=":", linewidth=1, label="kept epoch")
    axis.set_yscale("log")
    axis.set_xlabel("epoch")
    axis.set_ylabel("loss (MSE of the scaled target)")
    axis.set_title(f"training history ({model.method}: {', '.join(model.targets)})")
    axis.legend()
    return figure


def regional_budgets(evaluation: xr.Dataset, *, columns: int = 3) -> "Figure":
    """Annual budgets per region and for the whole domain, observed and predicted, from `xrann.evaluation.evaluate`.

    Parameters
    ----------
    evaluation : xarray.Dataset
        The result of ``evaluate(..., regions=...)`` (``regional_budget`` and
        ``budget``); without regions, the domain panel alone. An ensemble's
        ``budget_band`` (mean ± 2 sigma across members) is shaded in the
        domain panel.
    columns : int, default 3
        Panels per row.

    Returns
    -------
    matplotlib.figure.Figure
        One panel per region plus one for the domain, sharing the budget axis.

    Raises
    ------
    ValueError
        ``evaluation`` has no budgets, or an extra dim (``scenario``) left in
        them: select one label first.

    Examples
    --------
    >>> budget = xr.DataArray([[-1.0, -1.2], [-0.9, -1.1]], dims=("source", "year"),
    ...                       coords={"source": ["observed", "predicted"], "year": [2007, 2008]}, attrs={"units": "PgC yr-1"})
    >>> regional = xr.concat([budget * 0.25, budget * 0.75], dim=xr.Variable("region", ["west", "east"]))
    >>> figure = regional_budgets(xr.Dataset({"budget": budget, "regional_budget": regional}))
    >>> [axis.get_title() for axis in figure.axes if axis.get_visible()]
    ['domain', 'west', 'east']
    """
    if "budget" not in evaluation:
        raise ValueError(
            "regional_budgets needs annual budgets: evaluate with known flux units and cell areas "
            "(e.g. ds.ann.evaluate(regions=labels, budgets=True))."
        )
    panels = [("domain", evaluation["budget"])]
    if "regional_budget" in evaluation:
        regional = evaluation["regional_budget"]
        panels += [(str(label), regional.sel(region=label, drop=True)) for label in regional["region"].values]
    for title, budget in panels:
        extra = [dim for dim in budget.dims if dim not in ("source", "year")]
        if extra:
            raise ValueError(
                f"the budgets have extra dims {extra}: plot one label at a time, e.g. "
                f"regional_budgets(evaluation.isel({extra[0]}=0))."
            )
    _one_target(evaluation, "evaluation")
    plt = _pyplot()
    rows = -(-len(panels) // columns)
    width = min(columns, len(panels))
    figure, axes = plt.subplots(rows, width, figsize=(4 * width, 3 * rows), sharey=True, squeeze=False, constrained_layout=True)
    for axis, (title, budget) in zip(axes.ravel(), panels):
        years = budget["year"].values
        axis.plot(years, budget.sel(source="observed").values, "o-", color="black", label="observed")
        axis.plot(years, budget.sel(source="predicted").values, "s--", color="tab:orange", label="predicted")
        if title == "domain" and "budget_band" in evaluation:
            band = evaluation["budget_band"]
            axis.fill_between(years, band.sel(bound="lower").values, band.sel(bound="upper").values,
                              color="tab:orange", alpha=0.25, label="ensemble ±2σ")
        axis.axhline(0, color="grey", linewidth=0.5)
        axis.set_title(title)
        axis.set_xlabel("year")
    for axis in axes[:, 0]:
        axis.set_ylabel(f"budget ({evaluation['budget'].attrs.get('units', 'PgC yr-1')})")
    for axis in axes.ravel()[len(panels):]:
        axis.set_visible(False)
    axes[0, 0].legend(fontsize="small")
    return figure



# ----------------------------------------------------------------------------- Shapley values and anomaly attribution

__all__ += ["attribution", "dominant_driver", "contribution_map"]


def attribution(result: xr.Dataset, *, title: str | None = None) -> "Figure":
    """Bars of each driver's contribution to a budget anomaly, with the predicted (and observed) anomaly.

    Parameters
    ----------
    result : xarray.Dataset
        From `xrann.attribution.anomaly_attribution`; ``contribution`` must be
        1-D over ``driver`` (select a ``member`` or ``scenario`` first).
    title : str, optional
        By default the period and the reference years.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        A result without ``contribution`` over ``driver`` alone.

    Examples
    --------
    >>> result = xr.Dataset({"contribution": ("driver", [0.2, -0.05], {"units": "PgC yr-1"}), "anomaly": 0.15},
    ...                     coords={"driver": ["soilm", "t2m"]})
    >>> len(attribution(result).axes[0].patches)   # two drivers and the total
    3
    """
    _one_target(result, "result")
    if "contribution" not in result or result["contribution"].dims != ("driver",):
        dims = result["contribution"].dims if "contribution" in result else None
        raise ValueError(
            f"attribution plots need a 'contribution' over 'driver' only; got dims {dims}. "
            "Pass the result of anomaly_attribution, selecting one member or scenario first (e.g. a.sel(scenario=...))."
        )
    plt = _pyplot()
    contribution = result["contribution"]
    labels = [str(label) for label in contribution["driver"].values]
    values = [float(v) for v in contribution.values]
    colours = ["tab:red" if v > 0 else "tab:blue" for v in values]
    total = float(result["anomaly"]) if "anomaly" in result else float(contribution.sum())
    labels.append("predicted anomaly")
    values.append(total)
    colours.append("0.3")
    if "observed_anomaly" in result:
        labels.append("observed anomaly")
        values.append(float(result["observed_anomaly"]))
        colours.append("0.6")
    figure, axis = plt.subplots(figsize=(7, 0.45 * len(labels) + 1.5), constrained_layout=True)
    positions = np.arange(len(labels))[::-1]
    axis.barh(positions, values, color=colours)
    axis.set_yticks(positions, labels)
    axis.axvline(0.0, color="k", linewidth=0.8)
    axis.axhline(positions[len(contribution)] + 0.5, color="0.5", linewidth=0.6, linestyle=":")
    axis.set_xlabel(_label(contribution, "contribution to the budget anomaly"))
    if title is None:
        period, reference = result.attrs.get("period"), result.attrs.get("reference")
        title = f"{period} vs {reference}" if period is not None else "attribution of the budget anomaly"
    axis.set_title(title)
    return figure


def _mean_field(data: xr.DataArray) -> xr.DataArray:
    """A (driver, y, x) field: time averaged away, other dims refused."""
    time_dim = find_time_dim(data)
    if time_dim is not None:
        data = data.mean(time_dim, keep_attrs=True)
    if "driver" not in data.dims or data.ndim != 3:
        raise ValueError(
            f"expected Shapley values or contribution maps with dims ('driver', lat, lon) after averaging over time; got {data.dims}. "
            "Select a member, scenario or month first (e.g. phi.sel(time='2012-07'))."
        )
    return data.transpose("driver", ...)


def dominant_driver(phi: xr.DataArray, *, title: str | None = None) -> "Figure":
    """Map of the driver with the largest absolute contribution at each cell.

    Parameters
    ----------
    phi : xarray.DataArray
        Shapley values (`xrann.shapley.shapley_values`) or an attribution's
        ``map``, dims ``("driver", lat, lon)`` plus optionally time (averaged away).
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        Not a (driver, lat, lon) field after averaging over time.

    Examples
    --------
    >>> phi = xr.DataArray(np.array([[[1.0, -3.0], [0.0, 1.0]], [[2.0, 0.5], [1.0, 0.0]]]), dims=("driver", "lat", "lon"),
    ...                    coords={"driver": ["a", "b"], "lat": [0.0, 1.0], "lon": [0.0, 1.0]})
    >>> len(dominant_driver(phi).axes)
    1
    """
    _one_target(phi, "phi")
    plt = _pyplot()
    from matplotlib.colors import BoundaryNorm, ListedColormap
    from matplotlib.patches import Patch

    field = _mean_field(phi)
    size = np.abs(field)
    defined = size.notnull().any("driver")
    index = size.fillna(-1.0).argmax("driver").where(defined)
    labels = [str(label) for label in field["driver"].values]
    colours = plt.get_cmap("tab10" if len(labels) <= 10 else "tab20").colors[: len(labels)]
    cmap = ListedColormap(colours)
    figure, axis = plt.subplots(figsize=(8, 4.5), constrained_layout=True)
    index.plot.pcolormesh(ax=axis, cmap=cmap, norm=BoundaryNorm(np.arange(len(labels) + 1) - 0.5, len(labels)), add_colorbar=False)
    axis.legend(handles=[Patch(color=c, label=label) for c, label in zip(colours, labels)], loc="lower left", fontsize="small")
    axis.set_title(title if title is not None else "driver with the largest |contribution|")
    return figure


def contribution_map(phi: xr.DataArray, driver: object | None = None, *, title: str | None = None) -> "Figure":
    """Maps of each driver's contribution (or of one driver), on one diverging colour scale centred on zero.

    Parameters
    ----------
    phi : xarray.DataArray
        Shapley values or an attribution's ``map`` (time averaged away if present).
    driver : label or list of labels, optional
        The driver(s) to draw; all by default.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        Not a (driver, lat, lon) field after averaging over time.
    KeyError
        A driver that is not in ``phi``.

    Examples
    --------
    >>> phi = xr.DataArray(np.arange(8.0).reshape(2, 2, 2), dims=("driver", "lat", "lon"),
    ...                    coords={"driver": ["a", "b"], "lat": [0.0, 1.0], "lon": [0.0, 1.0]}, attrs={"units": "gC m-2 yr-1"})
    >>> len(contribution_map(phi, "b").axes)   # the map and its colour bar
    2
    """
    _one_target(phi, "phi")
    plt = _pyplot()
    field = _mean_field(phi)
    if driver is not None:
        chosen = [driver] if np.ndim(driver) == 0 else list(driver)
        missing = [d for d in chosen if d not in field["driver"].values]
        if missing:
            raise KeyError(f"drivers {missing} are not in the contributions; they hold {field['driver'].values.tolist()}.")
        field = field.sel(driver=chosen)
    n = field.sizes["driver"]
    columns = min(n, 3)
    rows = int(np.ceil(n / columns))
    limit = float(np.abs(field).max()) or 1.0
    figure, axes = plt.subplots(rows, columns, figsize=(5 * columns, 3.4 * rows), constrained_layout=True, squeeze=False)
    for axis, label in zip(axes.ravel(), field["driver"].values):
        field.sel(driver=label).plot.pcolormesh(ax=axis, cmap="RdBu_r", vmin=-limit, vmax=limit, cbar_kwargs={"label": phi.attrs.get("units", "")})
        axis.set_title(str(label))
    for axis in axes.ravel()[n:]:
        axis.remove()
    if title is not None:
        figure.suptitle(title)
    return figure
