"""The ``xrann`` command: ``xrann demo``, ``xrann fit``, ``xrann predict``, ``xrann evaluate``.

``fit``, ``predict`` and ``evaluate`` read one or more netCDF files, globs
(``'nee_*.nc'``) or Zarr stores, opened lazily and combined by their
coordinates; maps without the time dim (cell area, land cover) stay static.
``--chunks time=12,lat=60`` (or ``auto``) sets the dask chunks. Every file
written carries its provenance: the xrann version, the command line, the
inputs, the model and the date, appended to a CF ``history`` attribute.

``xrann demo [--out DIR]`` runs the whole North America NEE workflow on the
built-in synthetic dataset: train on 2008-2014 with 2007 and 2015 held out,
compare with a linear baseline on the held-out years, and write predictions,
models, the evaluation and figures into DIR.

Expected problems (missing files or variables, bad settings) print
``xrann: error: ...`` to stderr and exit with status 1 (2 for command-line
usage errors), without a traceback.
"""

from __future__ import annotations

import argparse
import datetime
import glob
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import xarray as xr

from . import plot
from ._version import __version__
from .evaluation import evaluate, find_cell_area, find_time_dim
from .core.engine import TrainingDivergedError
from .data.variables import resolve_variable
from .datasets.north_america import north_america_nee
from .fit import fit_dataset
from .model import Model, open_model
from .predict import predict_dataset

__all__ = ["main", "build_parser", "demo_table", "parse_chunks", "open_inputs", "provenance", "DEMO_DRIVERS", "DEMO_SETTINGS", "DEMO_VALIDATION_YEARS"]

#: drivers of the demo network, mirroring the NEE study (reanalysis climate, SIF, forest cover)
DEMO_DRIVERS = ["t2m", "precip", "swdown", "vpd", "soilm", "sif", "forest_fraction"]
#: held out from training: they choose the epoch (early stopping) and are evaluated
DEMO_VALIDATION_YEARS = [2007, 2015]
#: the defaults (one hidden layer of 4 nodes, Levenberg-Marquardt until converged), seeded
DEMO_SETTINGS: dict[str, Any] = {"seed": 0}
DEMO_FIGURES = ("maps", "seasonal_cycle", "regional_series", "scatter", "history")

#: errors that come from the user's data or settings: reported in one line, exit status 1
DATA_ERRORS = (FileNotFoundError, KeyError, ValueError, TypeError, OSError, TrainingDivergedError)


class CommandError(Exception):
    """A problem with the user's files or variables, reported as ``xrann: error: ...``."""


class UsageError(CommandError):
    """A misuse of the command line, reported as ``xrann: error: ...`` with exit status 2."""


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line, ``xrann: error: ...``, pointing to ``--help``."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"xrann: error: {message} (see '{self.prog} --help')\n")


def _say(message: str) -> None:
    print(message, flush=True)


# -- argument types -------------------------------------------------------------------------------
def _integer_at_least(minimum: int, description: str):
    """An argparse type: an integer >= ``minimum``, else a usage error naming ``description``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected {description}, got {text!r}")
        return value

    return parse


def _int_list(text: str) -> list[int]:
    items = [item.strip() for item in text.split(",") if item.strip()]
    try:
        values = [int(item) for item in items]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers such as 2007,2015, got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers such as 2007,2015, got {text!r}")
    return values


def _hidden(text: str) -> tuple[int, ...]:
    syntax = "nodes per hidden layer as comma-separated positive integers, e.g. --hidden 8 for one layer of 8 nodes or --hidden 8,8 for two"
    try:
        values = [int(item) for item in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {syntax}, got {text!r}") from None
    if any(value < 1 for value in values):
        raise argparse.ArgumentTypeError(f"hidden layer sizes must be positive: expected {syntax}, got {text!r}")
    return tuple(values)


def parse_chunks(text: str) -> dict[str, int | str] | str:
    """Parse ``--chunks``: ``auto``, or ``dim=size`` pairs such as ``time=12,lat=60``.

    Parameters
    ----------
    text : str

    Returns
    -------
    dict or str
        ``"auto"``, or sizes by dim (``-1`` or ``auto`` allowed as a size).

    Raises
    ------
    argparse.ArgumentTypeError
        The text is neither ``auto`` nor ``dim=size`` pairs.

    Examples
    --------
    >>> parse_chunks("time=12,lat=60"), parse_chunks("auto")
    ({'time': 12, 'lat': 60}, 'auto')
    """
    if text.strip() == "auto":
        return "auto"
    chunks: dict[str, int | str] = {}
    for item in text.split(","):
        dim, _, size = item.partition("=")
        dim, size = dim.strip(), size.strip()
        if not dim or not size:
            raise argparse.ArgumentTypeError(f"expected 'auto' or dim=size pairs such as time=12,lat=60, got {text!r}")
        if size == "auto":
            chunks[dim] = "auto"
            continue
        try:
            chunks[dim] = int(size)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"chunk size of {dim!r} must be an integer, -1 (whole dim) or auto, got {size!r} in {text!r}"
            ) from None
        if chunks[dim] == 0 or chunks[dim] < -1:  # type: ignore[operator]
            raise argparse.ArgumentTypeError(f"chunk size of {dim!r} must be positive, -1 or auto, got {size!r}")
    return chunks


def _name_list(text: str) -> list[str]:
    names = [item.strip() for item in text.split(",") if item.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"expected comma-separated variable names such as t2m,swdown, got {text!r}")
    return names


def _target_argument(text: str) -> str | list[str]:
    """``--target``: one name, or comma-separated names for a model of several targets."""
    names = _name_list(text)
    return names[0] if len(names) == 1 else names


def _score_tables(evaluation: xr.Dataset, model: Model, ds: xr.Dataset) -> str:
    """The score table of a model: one per target (headed by its name) for several targets."""
    if not model.several_targets:
        return demo_table({"model": evaluation}, ds[model.target].attrs.get("units", ""))
    tables = []
    for name in model.targets:
        table = demo_table({"model": evaluation.sel(target=name)}, model.attrs_of_target(name).get("units", ""))
        tables.append(f"{name}:\n{table}")
    return "\n".join(tables)


def build_parser() -> argparse.ArgumentParser:
    """The ``xrann`` argument parser with its ``demo``, ``fit`` and ``predict`` sub-commands.

    Returns
    -------
    argparse.ArgumentParser

    Examples
    --------
    >>> build_parser().parse_args(["fit", "data.nc", "--target", "nee", "--out", "m.nc"]).hidden
    (4,)
    """
    parser = _Parser(
        prog="xrann", description="Small sigmoid neural networks for gridded xarray data (NEE from climate drivers)."
    )
    parser.add_argument("--version", action="version", version=f"xrann {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="{demo,fit,predict,evaluate}")
    commands.required = True

    demo = commands.add_parser(
        "demo",
        help="train and evaluate on the built-in North America NEE data",
        description="Generate the built-in North America NEE dataset (1 degree, monthly 2007-2015), train a network "
        "on 2008-2014 with 2007 and 2015 held out (early stopping and evaluation), compare it with a linear "
        "baseline, and write predictions, models, the evaluation and figures.",
    )
    demo.add_argument("--out", default="xrann_demo", type=Path, help="output directory (default: ./xrann_demo)")
    demo.add_argument("--overwrite", action="store_true", help="replace --out if it exists as a file")
    demo.add_argument("--no-progress", action="store_true", help="never show a progress bar")

    chunks_help = "dask chunks for lazy reading, e.g. time=12,lat=60 or auto (default: one file is read into memory, several are chunked per file)"
    fit = commands.add_parser("fit", help="train a model on netCDF files or Zarr stores and save it", description="Train a model on netCDF files or Zarr stores.")
    fit.add_argument("data", nargs="+", help="netCDF files, globs such as 'nee_*.nc' (quoted) or Zarr stores, combined by their coordinates, with the target and the drivers")
    fit.add_argument("--chunks", type=parse_chunks, default=None, help=chunks_help)
    fit.add_argument(
        "--target", required=True, type=_target_argument,
        help="variable to predict (name or CF standard_name), or several comma-separated (nee,gpp,reco) for one network with an output each",
    )
    fit.add_argument("--drivers", type=_name_list, default=None, help="comma-separated drivers (default: every other variable on the target's grid)")
    fit.add_argument("--out", required=True, type=Path, help="model file to write (netCDF)")
    fit.add_argument("--method", choices=("ann", "linear"), default="ann", help="network or linear baseline (default: ann)")
    fit.add_argument("--hidden", type=_hidden, default=(4,), help="nodes per hidden layer, e.g. 8,8 (default: 4)")
    fit.add_argument("--epochs", type=_integer_at_least(1, "a positive integer"), default=None, help="training epochs (default: auto)")
    fit.add_argument("--seed", type=_integer_at_least(0, "a non-negative integer"), default=0, help="random seed (default: 0)")
    fit.add_argument("--validation-years", type=_int_list, default=None, help="years held out for early stopping, e.g. 2007,2015 (default: with at least 1,000 samples, 10%% of them, drawn per grid point)")
    fit.add_argument("--no-progress", action="store_true", help="never show a progress bar")

    predict = commands.add_parser("predict", help="apply a saved model to netCDF files or Zarr stores", description="Apply a saved model to the drivers in netCDF files or Zarr stores.")
    predict.add_argument("model", type=Path, help="model file written by 'xrann fit' or Model.to_netcdf")
    predict.add_argument("drivers", nargs="+", help="netCDF files, globs such as 'nee_*.nc' (quoted) or Zarr stores, combined by their coordinates, with the model's drivers")
    predict.add_argument("--out", required=True, type=Path, help="netCDF file to write the prediction to")
    predict.add_argument("--chunks", type=parse_chunks, default=None, help=chunks_help)

    evaluate_ = commands.add_parser(
        "evaluate", help="score a saved model against observations",
        description="Predict with a saved model and compare with the observed target: print the scores and, "
        "with a cell area, the annual budgets; --out writes the budgets to netCDF (.nc) or CSV (.csv).",
    )
    evaluate_.add_argument("model", type=Path, help="model file written by 'xrann fit' or Model.to_netcdf")
    evaluate_.add_argument("data", nargs="+", help="netCDF files, globs such as 'nee_*.nc' (quoted) or Zarr stores, combined by their coordinates, with the drivers and the observed target")
    evaluate_.add_argument("--years", type=_int_list, default=None, help="evaluate only these years, e.g. 2007,2015 (default: all times)")
    evaluate_.add_argument("--out", type=Path, default=None, help="write the evaluation (scores and budgets) to a .nc file, or the budgets to a .csv file")
    evaluate_.add_argument("--chunks", type=parse_chunks, default=None, help=chunks_help)
    return parser


# -- helpers ---------------------------------------------------------------------------------------
def _expand(inputs: Sequence[str | Path]) -> list[Path]:
    """Files and Zarr stores named by ``inputs``; a glob must match something, a path must exist."""
    paths: list[Path] = []
    for item in map(str, inputs):
        if glob.has_magic(item):
            matches = sorted(glob.glob(item))
            if not matches:
                raise CommandError(f"no files match the pattern {item!r}")
            paths.extend(map(Path, matches))
        elif not Path(item).exists():
            raise CommandError(f"no such file: {item!r}")
        else:
            paths.append(Path(item))
    return list(dict.fromkeys(paths))


def _open_one(path: Path, chunks: Any) -> xr.Dataset:
    zarr = path.is_dir() or path.suffix == ".zarr"
    try:
        return xr.open_dataset(path, engine="zarr" if zarr else None, chunks=chunks)
    except (OSError, ValueError, ImportError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        kind = "a Zarr store" if zarr else "netCDF"
        raise CommandError(f"cannot read {str(path)!r} as {kind}: {first_line}") from None


def open_inputs(inputs: Sequence[str | Path], chunks: Any = None) -> tuple[xr.Dataset, list[Path]]:
    """Open netCDF files, globs and Zarr stores as one Dataset, the way ``open_mfdataset`` does.

    Files are combined by their coordinates with ``data_vars="minimal"``,
    ``coords="minimal"`` and ``compat="override"``, so a variable without the
    concatenated dim (a cell-area or land-cover map) stays static instead of
    being repeated along time.

    Parameters
    ----------
    inputs : sequence of str or path
        Paths, globs (``"nee_*.nc"``) or Zarr stores (directories or ``*.zarr``).
    chunks : dict, "auto" or None
        dask chunks. ``None``: a single input is read into memory, several are
        opened lazily with one chunk per file.

    Returns
    -------
    xarray.Dataset
    list of pathlib.Path
        The files and stores read, in order.

    Raises
    ------
    CommandError
        A pattern matches nothing, a path does not exist or cannot be read.

    Examples
    --------
    >>> import os, tempfile, xrann
    >>> folder = tempfile.mkdtemp()
    >>> ds = xrann.datasets.north_america_nee(resolution=10.0, start="2007-01", end="2008-12")
    >>> for year in (2007, 2008):
    ...     ds.sel(time=str(year)).to_netcdf(os.path.join(folder, f"nee_{year}.nc"))
    >>> combined, paths = open_inputs([os.path.join(folder, "nee_*.nc")], chunks={"time": 6})
    >>> len(paths), combined.sizes["time"], combined["cell_area"].dims, combined["nee"].chunks[0]
    (2, 24, ('lat', 'lon'), (6, 6, 6, 6))
    """
    paths = _expand(inputs)
    if len(paths) == 1 and chunks is None:
        with _open_one(paths[0], None) as ds:
            return ds.load(), paths
    parts = [_open_one(path, {} if chunks is None else chunks) for path in paths]
    if len(parts) == 1:
        return parts[0], paths
    try:
        combined = xr.combine_by_coords(
            parts, data_vars="minimal", coords="minimal", compat="override", combine_attrs="drop_conflicts", join="outer"
        )
    except (ValueError, KeyError) as error:
        raise CommandError(f"cannot combine {len(paths)} inputs by their coordinates: {_message(error)}") from None
    if chunks is not None:
        combined = combined.chunk(chunks)
    return combined, paths


def provenance(attrs: dict[str, Any], inputs: Sequence[Path], model: Path | None = None) -> dict[str, Any]:
    """Global attributes for a file xrann writes: the version, command line, inputs, model and date.

    The command is appended to the ``history`` attribute (CF style: one
    ``date: command`` line per program that changed the data).

    Parameters
    ----------
    attrs : dict
        The attributes so far (an existing ``history`` is kept, first).
    inputs : sequence of path
    model : path, optional

    Returns
    -------
    dict

    Examples
    --------
    >>> attrs = provenance({"history": "2020-01-01: made"}, [Path("in.nc")])
    >>> attrs["history"].splitlines()[0], attrs["xrann_inputs"]
    ('2020-01-01: made', 'in.nc')
    """
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()
    command = shlex.join(["xrann", *_ARGV])
    result = dict(attrs)
    result["history"] = "\n".join(filter(None, [str(attrs.get("history", "")).rstrip(), f"{now}: {command}"]))
    result.update({"xrann_version": __version__, "xrann_command": command, "xrann_inputs": ", ".join(map(str, inputs)), "date_created": now})
    if model is not None:
        result["xrann_model"] = str(model)
    return result


#: the arguments of the running command (``main``'s argv), for provenance
_ARGV: list[str] = []


def _output_path(path: Path, *inputs: str | Path) -> Path:
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise CommandError(f"cannot write {str(path)!r}: the directory {str(parent)!r} does not exist")
    for source in inputs:
        if glob.has_magic(str(source)):
            same = any(path.resolve() == Path(match).resolve() for match in glob.glob(str(source)))
        else:
            same = path.resolve() == Path(source).resolve()
        if same:
            raise CommandError(f"--out {str(path)!r} is an input file; write the result to another path")
    return path


def _message(error: BaseException) -> str:
    # KeyError's str() wraps the message in quotes; show the message itself
    return str(error.args[0]) if isinstance(error, KeyError) and error.args else str(error)


# -- fit and predict -------------------------------------------------------------------------------
def _write_model(model: Model, out: Path, inputs: Sequence[Path]) -> None:
    model_ds = model.to_dataset()
    model_ds.attrs = provenance(model_ds.attrs, inputs)
    model_ds.to_netcdf(out)


def _fit_command(args: argparse.Namespace) -> int:
    """``xrann fit``: train on netCDF files or Zarr stores and write the model."""
    out = _output_path(args.out, *args.data)
    ds, paths = open_inputs(args.data, args.chunks)
    validation: Any = "auto"
    if args.validation_years is not None:
        first = args.target[0] if isinstance(args.target, list) else args.target
        target = resolve_variable(ds, first, "target")
        time_dim = find_time_dim(ds[target])
        if time_dim is None:
            raise CommandError(f"--validation-years needs a datetime dim, but {target!r} has dims {ds[target].dims}")
        validation = {time_dim: args.validation_years}
    settings: dict[str, Any] = {"hidden": args.hidden, "seed": args.seed, "method": args.method}
    if args.epochs is not None:
        settings["epochs"] = args.epochs
    model = fit_dataset(
        ds, args.target, args.drivers, validation=validation, progress=False if args.no_progress else None, **settings
    )
    _write_model(model, out, paths)
    counts = model.sample_counts
    _say(
        f"trained {model.method} model of {', '.join(model.targets)} from {', '.join(model.drivers)} on {counts['training']} samples"
        + (f" ({counts['validation']} held out for validation)" if counts.get("validation") else "")
    )
    if model.method != "linear":
        history = model.history
        _say(
            f"{model.hyperparameters.get('resolved_optimizer')}, {history.sizes['epoch']} epochs, "
            f"{'converged' if history.attrs.get('converged') else 'not converged'} ({history.attrs.get('stop_reason')})"
        )
    if args.validation_years is not None:
        held_out = evaluate(ds, model, period=args.validation_years).compute()
        years = ", ".join(map(str, args.validation_years))
        _say(f"held-out skill on {years}:")
        _say(_score_tables(held_out, model, ds))
    _say(f"wrote {out}")
    return 0


def _open_model_file(path: Path) -> Model:
    if not path.exists():
        raise CommandError(f"no such model file: {str(path)!r}")
    return open_model(path)


def _predict_command(args: argparse.Namespace) -> int:
    """``xrann predict``: apply a saved model and write the prediction."""
    out = _output_path(args.out, args.model, *args.drivers)
    ds, paths = open_inputs(args.drivers, args.chunks)
    model = _open_model_file(args.model)
    predicted = predict_dataset(ds, model)
    result = predicted if isinstance(predicted, xr.Dataset) else predicted.to_dataset()  # several targets: a Dataset
    result.attrs = provenance(ds.attrs, paths, args.model)
    result.to_netcdf(out)
    names = ", ".join(map(str, result.data_vars))
    dims = tuple(map(str, result[next(iter(result.data_vars))].dims))
    _say(f"wrote {names} on dims {dims} to {out}")
    return 0


def _evaluate_command(args: argparse.Namespace) -> int:
    """``xrann evaluate``: print the scores (and budgets) of a saved model; write them with ``--out``."""
    if args.out is not None:
        if args.out.suffix not in (".nc", ".csv"):
            raise UsageError(f"--out {str(args.out)!r} must end in .nc (netCDF) or .csv (budgets as a table)")
        _output_path(args.out, args.model, *args.data)
    ds, paths = open_inputs(args.data, args.chunks)
    model = _open_model_file(args.model)
    evaluation = evaluate(ds, model, period=args.years).compute()
    _say(_score_tables(evaluation, model, ds))
    if args.out is None:
        return 0
    attrs = provenance({**ds.attrs, **evaluation.attrs}, paths, args.model)
    if args.out.suffix == ".nc":
        evaluation.assign_attrs(attrs).to_netcdf(args.out)
    else:
        if "budget" not in evaluation:
            raise CommandError(
                f"there are no budgets to write to {str(args.out)!r}: they need a cell area (a CF cell_measures 'area' "
                "or a cell_area variable) and a time dim; write the scores with --out evaluation.nc instead"
            )
        table = evaluation["budget"].to_series().unstack("source")
        with open(args.out, "w", encoding="utf-8") as stream:
            for name in ("history", "xrann_version", "xrann_inputs", "xrann_model"):
                for line in str(attrs[name]).splitlines():
                    stream.write(f"# {name}: {line}\n")
            stream.write(f"# budget units: {evaluation['budget'].attrs.get('units', 'PgC yr-1')}\n")
            table.to_csv(stream)
    _say(f"wrote {args.out}")
    return 0


# -- demo ------------------------------------------------------------------------------------------
def _score(evaluation: xr.Dataset, name: str, source: str | None = None) -> float:
    value = evaluation[name]
    if source is not None:
        value = value.sel(source=source)
    return float(value)


def demo_table(evaluations: dict[str, xr.Dataset], units: str) -> str:
    """The demo's comparison table: one column per model, plus observed budgets.

    Parameters
    ----------
    evaluations : dict of str to xarray.Dataset
        `xrann.evaluation.evaluate` output by column title ("network", "linear").
    units : str
        Units of the target.

    Returns
    -------
    str

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from xrann.evaluation import evaluate_predictions
    >>> time = pd.date_range("2007-01-01", periods=24, freq="MS")
    >>> obs = xr.DataArray(np.cos(np.arange(24.0))[:, None, None] * np.ones((1, 2, 2)), dims=("time", "lat", "lon"),
    ...                    coords={"time": time, "lat": [40.0, 41.0], "lon": [-100.0, -99.0]})
    >>> print(demo_table({"network": evaluate_predictions(obs, obs * 0.9)}, "1"))
                                           network  observed
    RMSE (1)                                 0.072
    R2                                       0.990
    temporal r (regional monthly mean)       1.000
    spatial r (long-term mean map)             nan
    """
    names = list(evaluations)
    first = evaluations[names[0]]
    rows: list[tuple[str, list[str], str]] = [
        (f"RMSE ({units})", [f"{_score(e, 'rmse'):.3f}" for e in evaluations.values()], ""),
        ("R2", [f"{_score(e, 'r2'):.3f}" for e in evaluations.values()], ""),
        ("temporal r (regional monthly mean)", [f"{_score(e, 'temporal_r'):.3f}" for e in evaluations.values()], ""),
        ("spatial r (long-term mean map)", [f"{_score(e, 'spatial_r'):.3f}" for e in evaluations.values()], ""),
    ]
    if "budget" in first:
        for year in first["year"].values:
            rows.append(
                (
                    f"budget {int(year)} (PgC yr-1)",
                    [f"{float(e['budget'].sel(source='predicted', year=year)):+.3f}" for e in evaluations.values()],
                    f"{float(first['budget'].sel(source='observed', year=year)):+.3f}",
                )
            )
        rows.append(
            (
                "IAV, std of budgets (PgC yr-1)",
                [f"{_score(e, 'iav', 'predicted'):.3f}" for e in evaluations.values()],
                f"{_score(first, 'iav', 'observed'):.3f}",
            )
        )
    width = max(len(label) for label, _, _ in rows) + 2
    header = "".ljust(width) + "".join(name.rjust(10) for name in names) + "observed".rjust(10)
    lines = [header] + [
        (label.ljust(width) + "".join(v.rjust(10) for v in values) + observed.rjust(10)).rstrip()
        for label, values, observed in rows
    ]
    return "\n".join(lines)


def _draw_demo_figures(out: Path, ds: xr.Dataset, network: Model, predicted: xr.DataArray, evaluation: xr.Dataset) -> list[Path]:
    """Write the demo's PNG figures into ``out``; without matplotlib, say how to get it and write none.

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        _say('      matplotlib is not installed, so no figures were drawn; install it with: python3 -m pip install "xrann[plot]"')
        return []
    held_out = ds["time"].dt.year.isin(DEMO_VALIDATION_YEARS)
    years = " and ".join(map(str, DEMO_VALIDATION_YEARS))
    observed = ds[network.target]
    figures = {
        "maps": lambda: plot.maps(
            observed.isel(time=held_out), predicted.isel(time=held_out),
            title=f"NEE ({observed.attrs.get('units', '')}), mean of the held-out years {years}",
        ),
        "seasonal_cycle": lambda: plot.seasonal_cycle(evaluation),
        "regional_series": lambda: plot.regional_series(
            observed, predicted, find_cell_area(ds, network.target), held_out=DEMO_VALIDATION_YEARS
        ),
        "scatter": lambda: plot.scatter(observed.isel(time=held_out), predicted.isel(time=held_out)),
        "history": lambda: plot.history(network),
    }
    written = []
    for name in DEMO_FIGURES:
        figure = figures[name]()
        path = out / f"{name}.png"
        figure.savefig(path, dpi=100)
        plt.close(figure)
        written.append(path)
    return written


def _run_demo(out: Path | str = "xrann_demo", progress: bool | None = None) -> dict[str, xr.Dataset]:
    """The ``xrann demo`` workflow; prints progress and the evaluation table.

    Parameters
    ----------
    out : path, default "xrann_demo"
        Directory for the outputs (created if needed): ``predictions.nc``,
        ``model_network.nc``, ``model_linear.nc``, ``evaluation.nc`` and, with
        matplotlib installed, ``maps.png``, ``seasonal_cycle.png``,
        ``regional_series.png``, ``scatter.png`` and ``history.png``.
    progress : bool, optional
        Training progress bar; ``None`` shows one only in interactive sessions.

    Returns
    -------
    dict of str to xarray.Dataset
        The held-out evaluation of the ``"network"`` and the ``"linear"`` baseline.
    """
    started = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    years = " and ".join(map(str, DEMO_VALIDATION_YEARS))
    steps = 6

    _say(f"[1/{steps}] Generating the built-in North America NEE dataset (1 degree, monthly 2007-2015) ...")
    ds = north_america_nee()
    validation = {"time": DEMO_VALIDATION_YEARS}

    hidden = " x ".join(map(str, DEMO_SETTINGS.get("hidden", (4,))))
    _say(
        f"[2/{steps}] Training the network ({len(DEMO_DRIVERS)} drivers -> {hidden} sigmoid nodes -> nee) on 2008-2014; "
        f"{years} are held out (early stopping and evaluation) ..."
    )
    network = fit_dataset(ds, "nee", DEMO_DRIVERS, validation=validation, progress=progress, **DEMO_SETTINGS)
    counts = network.sample_counts
    _say(
        f"      {counts['training']} training and {counts['validation']} held-out samples; "
        f"kept epoch {network.history.attrs['best_epoch'] + 1} of {network.history.sizes['epoch']} "
        f"({network.hyperparameters['resolved_optimizer']}; {network.history.attrs['stop_reason']})"
    )

    _say(f"[3/{steps}] Fitting the linear baseline on the same drivers and years ...")
    linear = fit_dataset(ds, "nee", DEMO_DRIVERS, validation=validation, method="linear", seed=DEMO_SETTINGS["seed"])

    _say(f"[4/{steps}] Evaluating both on the held-out years {years} (area-weighted) ...")
    evaluations = {
        name: evaluate(ds, model, period=DEMO_VALIDATION_YEARS).compute()
        for name, model in (("network", network), ("linear", linear))
    }
    units = ds["nee"].attrs.get("units", "")
    _say("")
    _say(demo_table(evaluations, units))
    reduction = 1 - _score(evaluations["network"], "rmse") / _score(evaluations["linear"], "rmse")
    _say(f"\nThe network's RMSE on {years} is {100 * reduction:.0f}% below the linear baseline's.\n")

    _say(f"[5/{steps}] Writing predictions, models and the evaluation (netCDF) to {out}/ ...")
    predicted = predict_dataset(ds, network)
    predictions = xr.Dataset(
        {
            "nee": ds["nee"],
            "nee_predicted": predicted.assign_attrs(long_name="NEE predicted by the network"),
            "nee_predicted_linear": predict_dataset(ds, linear).assign_attrs(long_name="NEE predicted by the linear baseline"),
            "cell_area": ds["cell_area"],
        },
        attrs={
            "title": "xrann demo: North America NEE, observed and predicted",
            "held_out_years": ",".join(map(str, DEMO_VALIDATION_YEARS)),
        },
    )
    source = [Path("xrann.datasets.north_america_nee()")]
    predictions.attrs = provenance(predictions.attrs, source, out / "model_network.nc")
    predictions.to_netcdf(out / "predictions.nc")
    _write_model(network, out / "model_network.nc", source)
    _write_model(linear, out / "model_linear.nc", source)
    combined = xr.concat(list(evaluations.values()), dim=xr.Variable("model", list(evaluations)), coords="minimal", compat="override")
    combined.assign_attrs(provenance(combined.attrs, source, out / "model_network.nc")).to_netcdf(out / "evaluation.nc")

    _say(f"[6/{steps}] Drawing figures ...")
    for path in _draw_demo_figures(out, ds, network, predicted, evaluations["network"]):
        _say(f"      {path}")
    _say(f"Done in {time.perf_counter() - started:.0f} s; outputs are in {out}/")
    return evaluations


def _demo_command(args: argparse.Namespace) -> int:
    """``xrann demo``: run `_run_demo`."""
    if args.out.exists() and not args.out.is_dir():
        if not args.overwrite:
            raise UsageError(
                f"--out {str(args.out)!r} exists and is a file; the demo writes several files into a directory: "
                "give a new directory, or add --overwrite to replace the file by one"
            )
        args.out.unlink()
    _run_demo(args.out, progress=False if args.no_progress else None)
    return 0


COMMANDS = {"demo": _demo_command, "fit": _fit_command, "predict": _predict_command, "evaluate": _evaluate_command}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``xrann`` command line; returns the exit status.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name; ``sys.argv[1:]`` when ``None``.

    Returns
    -------
    int
        0 on success, 1 for problems with files, variables or settings, 2 for usage errors
        (each reported in one line, ``xrann: error: ...``).

    Examples
    --------
    >>> main(["predict", "missing_model.nc", "drivers.nc", "--out", "p.nc"])
    1
    """
    parser = build_parser()
    _ARGV[:] = list(sys.argv[1:] if argv is None else argv)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    try:
        return COMMANDS[args.command](args)
    except CommandError as error:
        print(f"xrann: error: {error}", file=sys.stderr)
        return 2 if isinstance(error, UsageError) else 1
    except DATA_ERRORS as error:
        print(f"xrann: error: {_message(error)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("xrann: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
