"""Shared pieces of the benchmark scripts: data, timing, the result format, the environment.

Each benchmark script prints one JSON line per measurement when run with
``--json`` (`run_all.py` collects them into a table), or a small table of its
own otherwise. Timings on a shared machine are noisy: every comparison is a
ratio of two things measured side by side in the same process and run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable

import numpy as np

#: OpenBLAS tuning variables that may be set on this machine; a benchmark run
#: may drop both together (in its own subprocess only), see `clean_environment`
OPENBLAS_TUNING = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def clean_environment(environ: dict | None = None) -> dict:
    """A copy of the environment without the OpenBLAS tuning variables (both or neither)."""
    environ = dict(os.environ if environ is None else environ)
    for name in OPENBLAS_TUNING:
        environ.pop(name, None)
    return environ


def blas_description() -> str:
    """The BLAS library numpy uses, its kernel and thread count (threadpoolctl)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown (threadpoolctl missing)"
    blas = [info for info in threadpool_info() if info.get("user_api") == "blas"]
    if not blas:
        return "none found"
    return "; ".join(
        f"{info.get('internal_api')} {info.get('version')} kernel={info.get('architecture')} threads={info.get('num_threads')}"
        for info in blas
    )


def arguments(description: str) -> argparse.Namespace:
    """``--quick`` (smaller sizes) and ``--json`` (machine-readable lines)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="smaller data, fewer repeats (a smoke run)")
    parser.add_argument("--json", action="store_true", help="print one JSON object per result line")
    return parser.parse_args()


def median_time(function: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``repeats`` calls, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def report(rows: list[dict], as_json: bool) -> None:
    """Print result rows: JSON lines, or an aligned table.

    Each row has ``benchmark``, ``measure``, ``xrann``, ``reference``,
    ``ratio``, ``target`` and ``met`` (bool or None), and optionally ``note``.
    """
    if as_json:
        for row in rows:
            print(json.dumps(row), flush=True)
        return
    print_table(rows)


def print_table(rows: list[dict]) -> None:
    """Aligned text table of result rows."""
    columns = ["benchmark", "measure", "xrann", "reference", "ratio", "target", "met"]
    cells = [[_cell(row.get(column)) for column in columns] for row in rows]
    widths = [max(len(column), *(len(row[i]) for row in cells)) for i, column in enumerate(columns)]
    print("  ".join(column.ljust(width) for column, width in zip(columns, widths)))
    print("  ".join("-" * width for width in widths))
    for row, source in zip(cells, rows):
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)))
        if source.get("note"):
            print(f"    note: {source['note']}")
    sys.stdout.flush()


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


# -- a lazily generated dataset --------------------------------------------------------------------

N_TIME_DRIVERS = 6
GRID = (250, 500)


def _synthetic_block(times: np.ndarray, *, n_lat: int, n_lon: int, seed: int, static: np.ndarray, ocean: np.ndarray) -> np.ndarray:
    """Target and time-varying drivers of the time steps ``times``; the same numbers whatever the chunking of other dims."""
    out = np.empty((1 + N_TIME_DRIVERS, len(times), n_lat, n_lon))
    for position, step in enumerate(times):
        rng = np.random.default_rng([seed, int(step)])
        for variable in range(1, 1 + N_TIME_DRIVERS):
            rng.random(out=out[variable, position])
    x = out[1:]
    target = out[0]
    np.sin(3.0 * x[0], out=target)
    target *= x[1]
    target += 0.5 * x[2] ** 2 - 0.3 * x[3] * static + 0.2 * np.tanh(2.0 * (x[4] - x[5]))
    out[:, :, ocean] = np.nan
    return out


def lazy_synthetic_dataset(n_time: int, chunk_time: int, grid: tuple[int, int] = GRID, seed: int = 0):
    """A dask-backed Dataset generated block by block: ``y`` from six (time, lat, lon) drivers and one static map.

    ``y = sin(3 x0) x1 + 0.5 x2^2 - 0.3 x3 s + 0.2 tanh(2 (x4 - x5))`` with
    uniform random drivers; a quarter of the cells are "ocean" (NaN). Every
    time step is generated from its own seed, so any block can be computed on
    its own, anywhere, and nothing is held in memory until it is asked for.
    """
    import dask.array as da
    import xarray as xr

    n_lat, n_lon = grid
    rng = np.random.default_rng(seed)
    static = rng.random((n_lat, n_lon))
    ocean = rng.random((n_lat, n_lon)) < 0.25
    steps = da.arange(n_time, chunks=chunk_time)
    stacked = da.map_blocks(
        _synthetic_block,
        steps,
        new_axis=[0, 2, 3],
        chunks=((1 + N_TIME_DRIVERS,), steps.chunks[0], (n_lat,), (n_lon,)),
        dtype=np.float64,
        n_lat=n_lat,
        n_lon=n_lon,
        seed=seed,
        static=static,
        ocean=ocean,
        meta=np.empty((0, 0, 0, 0)),
    )
    dims = ("time", "lat", "lon")
    data_vars = {"y": (dims, stacked[0])}
    data_vars.update({f"x{i}": (dims, stacked[1 + i]) for i in range(N_TIME_DRIVERS)})
    data_vars["s"] = (("lat", "lon"), np.where(ocean, np.nan, static))
    return xr.Dataset(data_vars, coords={"time": np.arange(n_time), "lat": np.arange(n_lat), "lon": np.arange(n_lon)})


SYNTHETIC_DRIVERS = [f"x{i}" for i in range(N_TIME_DRIVERS)] + ["s"]


def n_time_for_bytes(n_bytes: float, grid: tuple[int, int] = GRID) -> int:
    """Time steps for a synthetic dataset of about ``n_bytes`` (target and time-varying drivers, float64)."""
    return max(1, round(n_bytes / ((1 + N_TIME_DRIVERS) * 8 * grid[0] * grid[1])))
