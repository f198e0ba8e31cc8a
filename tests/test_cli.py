"""The xrann command: fit / predict round trips, clear errors and exit codes, and the demo on the built-in data
(the acceptance test: held-out years 2007 and 2015 of the North America dataset)."""

import subprocess
import sys

import numpy as np
import pytest
import xarray as xr

import xrann
from xrann.cli import DEMO_DRIVERS, main
from xrann.evaluation import evaluate


@pytest.fixture
def data_file(grid, tmp_path):
    path = tmp_path / "data.nc"
    grid.drop_vars("region").to_netcdf(path)
    return path


def run(capsys, *argv):
    status = main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_fit_then_predict_round_trip(data_file, grid, tmp_path, capsys):
    model_path, prediction_path = tmp_path / "model.nc", tmp_path / "pred.nc"
    with pytest.warns(xrann.ConvergenceWarning, match="epochs=5"):  # 5 epochs are too few, and the user is told
        status, out, err = run(
            capsys, "fit", data_file, "--target", "nee", "--drivers", "t2m,swdown", "--out", model_path,
            "--epochs", "5", "--seed", "3", "--hidden", "4,4", "--validation-years", "2008", "--no-progress",
        )
    assert status == 0, err
    assert "trained ann model of nee from t2m, swdown on 540 samples (540 held out for validation)" in out
    assert "lm, 5 epochs, not converged (reached epochs=5)" in out
    model = xrann.open_model(model_path)
    assert model.drivers == ["t2m", "swdown"]
    assert model.hyperparameters["hidden"] == [4, 4]
    assert model.hyperparameters["seed"] == 3
    assert model.history.sizes["epoch"] == 5

    drivers_path = tmp_path / "drivers.nc"
    grid.drop_vars(["nee", "region"]).to_netcdf(drivers_path)
    status, out, err = run(capsys, "predict", model_path, drivers_path, "--out", prediction_path)
    assert status == 0, err
    assert f"to {prediction_path}" in out
    with xr.open_dataset(prediction_path) as written:
        expected = grid.drop_vars(["nee", "region"]).ann.predict(model)
        xr.testing.assert_allclose(written["nee_predicted"], expected)


def test_fit_linear_baseline_and_default_drivers(data_file, tmp_path, capsys):
    status, out, err = run(capsys, "fit", data_file, "--target", "nee", "--method", "linear", "--out", tmp_path / "m.nc")
    assert status == 0, err
    model = xrann.open_model(tmp_path / "m.nc")
    assert model.method == "linear"
    assert model.drivers == ["t2m", "swdown", "landcover"]
    # without --validation-years, validation is "auto": 10 % of the 1,080 samples, drawn per grid point
    assert model.hyperparameters["validation"] == "auto"
    assert 0.05 < model.sample_counts["validation"] / 1080 < 0.15
    assert "epochs" not in out


def test_fit_trains_until_converged_by_default(data_file, tmp_path, capsys):
    status, out, err = run(capsys, "fit", data_file, "--target", "nee", "--drivers", "t2m,swdown", "--out", tmp_path / "m.nc", "--no-progress")
    assert status == 0, err
    model = xrann.open_model(tmp_path / "m.nc")
    assert model.hyperparameters["resolved_optimizer"] == "lm" and model.history.attrs["converged"] == 1
    assert f"lm, {model.history.sizes['epoch']} epochs, converged (" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["fit", "{tmp}/absent.nc", "--target", "nee", "--out", "{tmp}/m.nc"], "no such file: '{tmp}/absent.nc'"),
        (["fit", "{data}", "--target", "gpp", "--out", "{tmp}/m.nc"], "target 'gpp' not found in the Dataset"),
        (["fit", "{data}", "--target", "nee", "--drivers", "t2m,vpd", "--out", "{tmp}/m.nc"], "driver 'vpd' not found"),
        (["fit", "{data}", "--target", "nee", "--validation-years", "1999", "--out", "{tmp}/m.nc"], r"years [1999] are not in dim 'time'"),
        (["fit", "{data}", "--target", "nee", "--out", "{tmp}/no/such/dir/m.nc"], "the directory '{tmp}/no/such/dir' does not exist"),
        (["fit", "{tmp}/not_netcdf.nc", "--target", "nee", "--out", "{tmp}/m.nc"], "cannot read '{tmp}/not_netcdf.nc' as netCDF"),
        (["predict", "{tmp}/absent.nc", "{data}", "--out", "{tmp}/p.nc"], "no such model file: '{tmp}/absent.nc'"),
        (["predict", "{data}", "{data}", "--out", "{tmp}/p.nc"], "this is not an xrann model file"),
        (["predict", "{tmp}/not_netcdf.nc", "{data}", "--out", "{tmp}/p.nc"], "cannot read '{tmp}/not_netcdf.nc' as a netCDF model file"),
        (["fit", "{data}", "--target", "nee", "--out", "{data}"], "--out '{data}' is an input file"),
        (["predict", "{tmp}/not_netcdf.nc", "{data}", "--out", "{data}"], "--out '{data}' is an input file"),
    ],
)
def test_data_problems_exit_1_with_one_line(argv, message, data_file, tmp_path, capsys):
    (tmp_path / "not_netcdf.nc").write_text("hello")
    substitute = lambda text: text.format(tmp=tmp_path, data=data_file)  # noqa: E731
    status, out, err = run(capsys, *map(substitute, argv))
    assert status == 1
    assert err.startswith("xrann: error: ")
    assert substitute(message) in err
    assert "Traceback" not in err
    assert err.count("\n") == 1


def test_predict_with_missing_driver(data_file, grid, tmp_path, capsys):
    assert run(capsys, "fit", data_file, "--target", "nee", "--drivers", "t2m,swdown", "--out", tmp_path / "m.nc")[0] == 0
    grid[["t2m"]].to_netcdf(tmp_path / "only_t2m.nc")
    status, _, err = run(capsys, "predict", tmp_path / "m.nc", tmp_path / "only_t2m.nc", "--out", tmp_path / "p.nc")
    assert status == 1
    assert "['swdown'] are missing from the Dataset" in err


def test_validation_years_need_a_time_dim(tmp_path, capsys):
    xrann.datasets.soil_toy().to_netcdf(tmp_path / "soil.nc")
    status, _, err = run(capsys, "fit", tmp_path / "soil.nc", "--target", "co2_flux", "--validation-years", "2007", "--out", tmp_path / "m.nc")
    assert status == 1
    assert "--validation-years needs a datetime dim, but 'co2_flux' has dims ('site',)" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "the following arguments are required: {demo,fit,predict,evaluate}"),
        (["train"], "invalid choice: 'train'"),
        (["fit", "data.nc", "--out", "m.nc"], "the following arguments are required: --target"),
        (["fit", "data.nc", "--target", "nee", "--out", "m.nc", "--hidden", "4,x"], "argument --hidden: expected nodes per hidden layer as comma-separated positive integers"),
        (["fit", "data.nc", "--target", "nee", "--out", "m.nc", "--hidden", "0"], "hidden layer sizes must be positive"),
        (["fit", "data.nc", "--target", "nee", "--out", "m.nc", "--epochs", "0"], "argument --epochs: expected a positive integer, got '0'"),
        (["fit", "data.nc", "--target", "nee", "--out", "m.nc", "--seed", "-1"], "argument --seed: expected a non-negative integer"),
        (["fit", "data.nc", "--target", "nee", "--out", "m.nc", "--drivers", ","], "argument --drivers: expected comma-separated variable names"),
        (["fit", "data.nc", "--target", "nee", "--out", "m.nc", "--validation-years", "2007,x"], "argument --validation-years"),
        (["predict", "model.nc", "--out", "p.nc"], "the following arguments are required: drivers"),
        (["fit", "d.nc", "--target", "nee", "--out", "m.nc", "--hidden", "8x8"],
         "argument --hidden: expected nodes per hidden layer as comma-separated positive integers, e.g. --hidden 8 for one "
         "layer of 8 nodes or --hidden 8,8 for two, got '8x8'"),
        (["fit", "d.nc", "--target", "nee", "--out", "m.nc", "--chunks", "time=x"], "chunk size of 'time' must be an integer, -1 (whole dim) or auto, got 'x'"),
        (["fit", "d.nc", "--target", "nee", "--out", "m.nc", "--chunks", "12"], "expected 'auto' or dim=size pairs such as time=12,lat=60, got '12'"),
        (["evaluate", "m.nc", "d.nc", "--out", "budgets.txt"], "--out 'budgets.txt' must end in .nc (netCDF) or .csv"),
    ],
)
def test_usage_errors_exit_2(argv, message, capsys):
    status, _, err = run(capsys, *argv)
    assert status == 2
    assert err.startswith("xrann: error: ") and err.count("\n") == 1
    assert message in err
    assert ("such as 2007,2015" in err) == ("--validation-years" in argv)


def test_version_and_module_entry_point(capsys):
    status, out, _ = run(capsys, "--version")
    assert status == 0 and out.strip() == f"xrann {xrann.__version__}"
    result = subprocess.run([sys.executable, "-m", "xrann", "--help"], capture_output=True, text=True, check=False)
    assert result.returncode == 0
    assert "{demo,fit,predict,evaluate}" in result.stdout


def test_demo_figures_are_skipped_with_a_clear_message_without_matplotlib(grid, tmp_path, capsys, monkeypatch):
    from xrann.cli import _draw_demo_figures

    model = grid.ann.fit(target="nee", drivers=["t2m", "swdown"], seed=0, progress=False)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    assert _draw_demo_figures(tmp_path, grid, model, grid.ann.predict(model), grid.ann.evaluate(model)) == []
    assert 'matplotlib is not installed, so no figures were drawn; install it with: python3 -m pip install "xrann[plot]"' in capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []


def test_demo_acceptance_on_the_built_in_north_america_data(tmp_path, capsys):
    """The issue's promise, on held-out 2007 and 2015: temporal r >= 0.98, spatial r >= 0.90,
    RMSE at least 20 % below the linear baseline's; and every output of the demo is written."""
    out = tmp_path / "demo"
    status, printed, err = run(capsys, "demo", "--out", out, "--no-progress")
    assert status == 0, err
    for step in range(1, 7):
        assert f"[{step}/6]" in printed
    assert "RMSE (umol m-2 s-1)" in printed and "IAV, std of budgets (PgC yr-1)" in printed
    assert "budget 2007 (PgC yr-1)" in printed and "budget 2015 (PgC yr-1)" in printed

    with xr.open_dataset(out / "evaluation.nc") as evaluation:
        evaluation = evaluation.load()
    assert evaluation["model"].values.tolist() == ["network", "linear"]
    assert evaluation["year"].values.tolist() == [2007, 2015]
    network, linear = evaluation.sel(model="network"), evaluation.sel(model="linear")
    assert float(network["temporal_r"]) >= 0.98
    assert float(network["spatial_r"]) >= 0.90
    assert float(network["rmse"]) <= 0.8 * float(linear["rmse"])
    # the budgets in the file are the ones printed
    assert f"{float(network['budget'].sel(source='predicted', year=2015)):+.3f}" in printed

    with xr.open_dataset(out / "predictions.nc") as predictions:
        assert {"nee", "nee_predicted", "nee_predicted_linear", "cell_area"} <= set(predictions.data_vars)
        assert predictions["nee_predicted"].dims == ("time", "lat", "lon")
        xr.testing.assert_equal(np.isnan(predictions["nee_predicted"]), np.isnan(predictions["nee"]))
    network_model = xrann.open_model(out / "model_network.nc")
    assert network_model.drivers == DEMO_DRIVERS
    assert network_model.hyperparameters["validation"] == {"time": "[2007, 2015]"}
    assert xrann.open_model(out / "model_linear.nc").method == "linear"
    for name in ("maps", "seasonal_cycle", "regional_series", "scatter", "history"):
        assert (out / f"{name}.png").stat().st_size > 10_000


def xrann_command(*argv, cwd=None):
    """Run ``python -m xrann ARGV`` as a user would, in a subprocess."""
    return subprocess.run([sys.executable, "-m", "xrann", *map(str, argv)], capture_output=True, text=True, check=False, cwd=cwd)


@pytest.fixture
def split_files(grid, tmp_path):
    """The test grid as one netCDF file per year plus the static land-cover map alone, and a Zarr store."""
    ds = grid.drop_vars("region")
    for year in (2007, 2008):
        ds.drop_vars("landcover").sel(time=str(year)).to_netcdf(tmp_path / f"nee_{year}.nc")
    ds[["landcover"]].to_netcdf(tmp_path / "static.nc")
    ds.drop_vars("nee").to_zarr(tmp_path / "drivers.zarr", zarr_format=2)
    return ds


def test_open_inputs_combines_globs_and_keeps_static_maps_static(split_files, tmp_path):
    from xrann.cli import open_inputs

    combined, paths = open_inputs([tmp_path / "nee_*.nc", tmp_path / "static.nc"], chunks={"time": 12, "lat": 3})
    assert [path.name for path in paths] == ["nee_2007.nc", "nee_2008.nc", "static.nc"]
    assert combined["landcover"].dims == ("lat", "lon")  # not broadcast over time
    assert combined["nee"].chunks == ((12, 12), (3, 3), (8,))  # lazy, with the chunks asked for
    xr.testing.assert_identical(combined.compute(), split_files[list(combined.data_vars)].assign_attrs(combined.attrs))
    store, _ = open_inputs([tmp_path / "drivers.zarr"], chunks="auto")
    assert store["t2m"].chunks is not None
    xr.testing.assert_equal(store["t2m"].compute(), split_files["t2m"])


def test_fit_predict_evaluate_on_globs_and_zarr_with_provenance(split_files, tmp_path):
    """The pangeo workflow as subprocesses: globs, --chunks, a Zarr store, held-out skill, budgets and provenance."""
    model = tmp_path / "model.nc"
    done = xrann_command(
        "fit", tmp_path / "nee_*.nc", tmp_path / "static.nc", "--target", "nee", "--drivers", "t2m,swdown,landcover",
        "--method", "linear", "--validation-years", "2008", "--chunks", "time=12,lat=3", "--no-progress", "--out", model,
    )
    assert done.returncode == 0, done.stderr
    assert "on 540 samples (540 held out for validation)" in done.stdout
    assert "held-out skill on 2008:" in done.stdout
    skill = evaluate(split_files, xrann.open_model(model), period=[2008])
    assert f"R2 {float(skill['r2']):.3f}".split()[1] in done.stdout
    with xr.open_dataset(model) as written:
        assert written.attrs["xrann_version"] == xrann.__version__
        assert written.attrs["history"].endswith(f"xrann fit '{tmp_path}/nee_*.nc' {tmp_path}/static.nc --target nee "
                                                 "--drivers t2m,swdown,landcover --method linear --validation-years 2008 --chunks time=12,lat=3 "
                                                 f"--no-progress --out {model}")
        assert written.attrs["xrann_inputs"] == f"{tmp_path}/nee_2007.nc, {tmp_path}/nee_2008.nc, {tmp_path}/static.nc"

    done = xrann_command("predict", model, tmp_path / "drivers.zarr", "--chunks", "auto", "--out", tmp_path / "pred.nc")
    assert done.returncode == 0, done.stderr
    with xr.open_dataset(tmp_path / "pred.nc") as predicted:
        xr.testing.assert_allclose(predicted["nee_predicted"], split_files.ann.predict(xrann.open_model(model)))
        assert predicted.attrs["xrann_model"] == str(model)
        assert predicted.attrs["xrann_inputs"] == str(tmp_path / "drivers.zarr")
        assert predicted.attrs["title"] == "xrann test grid"  # the input's attributes are kept
        assert "xrann predict" in predicted.attrs["history"] and predicted.attrs["date_created"][:2] == "20"

    done = xrann_command("evaluate", model, tmp_path / "nee_*.nc", tmp_path / "static.nc", "--years", "2008", "--out", tmp_path / "scores.nc")
    assert done.returncode == 0, done.stderr
    assert "RMSE (umol m-2 s-1)" in done.stdout and f"wrote {tmp_path / 'scores.nc'}" in done.stdout
    with xr.open_dataset(tmp_path / "scores.nc") as scores:
        assert float(scores["rmse"]) == pytest.approx(float(skill["rmse"]), rel=1e-6)
        assert "xrann evaluate" in scores.attrs["history"]


def test_evaluate_writes_budgets_to_csv(tmp_path):
    ds = xrann.datasets.north_america_nee(resolution=10.0, start="2007-01", end="2008-12")
    ds.to_netcdf(tmp_path / "na.nc")
    model = ds.ann.fit(target="nee", drivers=["t2m", "swdown"], method="linear")
    model.to_netcdf(tmp_path / "m.nc")
    done = xrann_command("evaluate", tmp_path / "m.nc", tmp_path / "na.nc", "--out", tmp_path / "budgets.csv")
    assert done.returncode == 0, done.stderr
    assert "budget 2007 (PgC yr-1)" in done.stdout
    text = (tmp_path / "budgets.csv").read_text()
    assert "# xrann_version: " + xrann.__version__ in text and "# history: " in text
    import pandas as pd

    table = pd.read_csv(tmp_path / "budgets.csv", comment="#", index_col="year")
    expected = evaluate(ds, model)["budget"]
    np.testing.assert_allclose(table["predicted"].to_numpy(), expected.sel(source="predicted").values)
    np.testing.assert_allclose(table["observed"].to_numpy(), expected.sel(source="observed").values)


@pytest.mark.parametrize(
    ("argv", "status", "message"),
    [
        (["predict", "{tmp}/m.nc", "{tmp}/nee_*.nc", "--out", "{tmp}/p.nc"], 1, "xrann: error: no files match the pattern '{tmp}/nee_*.nc'"),
        (["fit", "{tmp}/absent_*.nc", "--target", "nee", "--out", "{tmp}/m.nc"], 1, "xrann: error: no files match the pattern '{tmp}/absent_*.nc'"),
        (["fit", "d.nc", "--target", "nee", "--out", "m.nc", "--hidden", "8x8"], 2, "--hidden 8,8 for two, got '8x8'"),
        (["demo", "--out", "{tmp}/existing.nc"], 2, "xrann: error: --out '{tmp}/existing.nc' exists and is a file; the demo writes several "
         "files into a directory: give a new directory, or add --overwrite to replace the file by one"),
    ],
)
def test_misuse_as_a_subprocess_is_one_line_without_traceback(argv, status, message, tmp_path):
    (tmp_path / "existing.nc").write_text("keep me")
    (tmp_path / "m.nc").write_text("not reached")
    done = xrann_command(*(arg.format(tmp=tmp_path) for arg in argv))
    assert done.returncode == status
    assert message.format(tmp=tmp_path) in done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert (tmp_path / "existing.nc").read_text() == "keep me"
