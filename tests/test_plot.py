"""xrann.plot: every figure function returns a Figure with the expected panels, lines and labels, and saves a PNG."""

import os
import re
import subprocess
import sys

import numpy as np
import pytest
import xarray as xr

pytest.importorskip("matplotlib")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import xrann  # noqa: E402
from xrann import plot  # noqa: E402

DRIVERS = ["t2m", "swdown", "landcover"]


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture
def predicted(grid):
    model = grid.ann.fit(target="nee", drivers=DRIVERS, validation={"time": [2008]}, seed=0, progress=False)
    return grid, model, grid.ann.predict(model)


def _saved(figure: Figure, tmp_path, name: str) -> int:
    path = tmp_path / f"{name}.png"
    figure.savefig(path)
    with open(path, "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
    return path.stat().st_size


def test_plot_is_exported_lazily_and_uses_agg_without_a_display():
    assert xrann.plot is plot
    script = (
        "import sys, xarray as xr, xrann; p = xrann.plot; print('matplotlib' in sys.modules); "
        "p.scatter(xr.DataArray([1.0, 2.0]), xr.DataArray([1.0, 2.5])); import matplotlib; print(matplotlib.get_backend())"
    )
    environment = {key: value for key, value in os.environ.items() if key not in ("DISPLAY", "WAYLAND_DISPLAY", "MPLBACKEND")}
    output = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=environment, check=True).stdout
    assert output.split() == ["False", "Agg"]


def test_maps(predicted, tmp_path):
    grid, _, prediction = predicted
    figure = plot.maps(grid["nee"], prediction)
    assert isinstance(figure, Figure)
    panels = [axis for axis in figure.axes if axis.get_title()]
    assert [axis.get_title() for axis in panels] == ["observed", "predicted", "predicted - observed"]
    assert len(figure.axes) == 6  # three panels and three colour bars
    difference = panels[2].collections[0]
    low, high = difference.get_clim()
    assert low == pytest.approx(-high)
    assert difference.get_cmap().name == "RdBu_r"
    assert "time mean" in figure._suptitle.get_text()
    assert _saved(figure, tmp_path, "maps") > 5_000
    titled = plot.maps(grid["nee"].isel(time=0), prediction.isel(time=0), title="January 2007")
    assert titled._suptitle.get_text() == "January 2007"


def test_maps_rejects_fields_that_are_not_maps(predicted):
    grid, _, prediction = predicted
    with pytest.raises(ValueError, match=r"maps need 2-D fields .* got dims \('lat',\)"):
        plot.maps(grid["nee"].isel(time=0, lon=1), prediction.isel(time=0, lon=1))


def test_seasonal_cycle_from_evaluation_and_from_fields(predicted, tmp_path):
    grid, model, prediction = predicted
    figure = plot.seasonal_cycle(grid.ann.evaluate(model))
    axis = figure.axes[0]
    assert axis.get_legend_handles_labels()[1] == ["observed", "predicted"]
    observed_line = axis.get_legend_handles_labels()[0][0]
    assert observed_line.get_xdata().tolist() == list(range(1, 13))
    assert axis.get_ylabel() == "nee (umol m-2 s-1)"
    assert _saved(figure, tmp_path, "seasonal") > 5_000
    from_fields = plot.seasonal_cycle(grid["nee"], prediction)
    np.testing.assert_allclose(
        from_fields.axes[0].get_legend_handles_labels()[0][1].get_ydata(),
        grid.ann.evaluate(model)["seasonal_cycle"].sel(source="predicted").values,
        rtol=1e-3,  # cos(latitude) vs spherical cell areas: not the same weights
    )
    with pytest.raises(ValueError, match="needs the predicted field too"):
        plot.seasonal_cycle(grid["nee"])
    with pytest.raises(ValueError, match="has no 'seasonal_cycle'"):
        plot.seasonal_cycle(xr.Dataset())


def test_regional_series(predicted, tmp_path):
    grid, _, prediction = predicted
    figure = plot.regional_series(grid["nee"], prediction)
    axis = figure.axes[0]
    handles, labels = axis.get_legend_handles_labels()
    assert labels == ["observed", "predicted"]
    assert len(handles[0].get_xdata()) == 24
    title = re.fullmatch(r"area-weighted regional mean \(r = (-?\d\.\d{3})\)", axis.get_title())
    assert title is not None and 0.9 < float(title.group(1)) <= 1.0  # a well-fitted model (1.000 after rounding)
    assert _saved(figure, tmp_path, "series") > 5_000
    with pytest.raises(ValueError, match="needs a datetime dim"):
        plot.regional_series(grid["nee"].isel(time=0), prediction.isel(time=0))


def test_scatter_annotates_r_and_means(predicted, tmp_path):
    grid, _, prediction = predicted
    figure = plot.scatter(grid["nee"], prediction, max_points=100)
    axis = figure.axes[0]
    text = axis.texts[0].get_text()
    valid = np.isfinite(grid["nee"].values) & np.isfinite(prediction.values)
    r = np.corrcoef(grid["nee"].values[valid], prediction.values[valid])[0, 1]
    assert f"r = {r:.3f}" in text
    assert f"mean observed = {grid['nee'].values[valid].mean():.3g}" in text
    assert f"n = {valid.sum()}" in text
    assert len(axis.collections[0].get_offsets()) == 100
    assert axis.get_xlabel() == "observed nee (umol m-2 s-1)"
    assert _saved(figure, tmp_path, "scatter") > 5_000
    with pytest.raises(ValueError, match="at least one point"):
        plot.scatter(grid["nee"] * np.nan, prediction)


def test_history(predicted, tmp_path):
    _, model, _ = predicted
    figure = plot.history(model)
    axis = figure.axes[0]
    assert axis.get_yscale() == "log"
    assert axis.get_legend_handles_labels()[1] == ["loss", "val_loss", "kept epoch"]
    assert len(axis.lines[0].get_xdata()) == model.history.sizes["epoch"]
    assert _saved(figure, tmp_path, "history") > 5_000


@pytest.mark.parametrize("calendar", ["noleap", "360_day"])
def test_regional_series_on_cftime_calendars_shades_held_out_years(predicted, calendar, tmp_path):
    pytest.importorskip("nc_time_axis")
    grid, _, prediction = predicted
    observed = grid["nee"].convert_calendar(calendar, use_cftime=True, align_on="year" if calendar == "360_day" else None)
    modelled = prediction.convert_calendar(calendar, use_cftime=True, align_on="year" if calendar == "360_day" else None)
    figure = plot.regional_series(observed, modelled, held_out=[2008])
    axis = figure.axes[0]
    assert axis.get_legend_handles_labels()[1] == ["held-out years", "observed", "predicted"]
    (span,) = [patch for patch in axis.patches if patch.get_label() == "held-out years"]
    times = observed["time"].values
    as_numbers = axis.xaxis.convert_units  # nc-time-axis converts the cftime dates
    assert span.get_x() == pytest.approx(as_numbers(times[12]))  # January 2008 ...
    # ... to one step past the last month of 2008 (the series ends there): as wide as a whole year
    last, step = as_numbers(times[-1]), as_numbers(times[-1]) - as_numbers(times[-2])
    assert span.get_x() + span.get_width() == pytest.approx(last + step)
    assert _saved(figure, tmp_path, f"series_{calendar}") > 10_000


def test_regional_series_on_cftime_without_nc_time_axis_uses_decimal_years(predicted, monkeypatch):
    grid, _, prediction = predicted
    monkeypatch.setitem(sys.modules, "nc_time_axis", None)  # not installed
    observed, modelled = (field.convert_calendar("noleap", use_cftime=True) for field in (grid["nee"], prediction))
    figure = plot.regional_series(observed, modelled, held_out=[2007])
    line = figure.axes[0].lines[0]
    x = np.asarray(line.get_xdata(), dtype=float)
    np.testing.assert_allclose(x[:2], [2007.0, 2007 + 31 / 365])
    (span,) = figure.axes[0].patches
    np.testing.assert_allclose([span.get_x(), span.get_x() + span.get_width()], [2007.0, 2008.0])


def test_regional_series_shades_only_years_in_the_series(predicted):
    grid, _, prediction = predicted
    figure = plot.regional_series(grid["nee"], prediction, held_out=[2007, 2030])
    assert [patch.get_label() for patch in figure.axes[0].patches] == ["held-out years"]
    assert len(plot.regional_series(grid["nee"], prediction).axes[0].patches) == 0


def test_maps_labels_are_legible_at_page_width(predicted):
    grid, _, prediction = predicted
    figure = plot.maps(grid["nee"], prediction)
    assert figure.get_size_inches()[0] <= 11  # shrunk less on a page about 7 inches wide
    panels = figure.axes[:3]
    for axis in figure.axes:
        assert all(label.get_fontsize() >= 11 for label in axis.get_yticklabels() + axis.get_xticklabels())
    assert [axis.get_xlabel() for axis in panels] == ["lon", "lon", "lon"]
    assert [axis.get_ylabel() for axis in panels] == ["lat", "", ""]
