"""Run every xrann benchmark and print one table.

    python benchmarks/run_all.py            # full sizes (about 40 minutes on 2 busy cores)
    python benchmarks/run_all.py --quick    # small sizes, a smoke run (about 3-4 minutes)
    python benchmarks/run_all.py --only fit defaults

Each benchmark runs in its own subprocess, whose environment drops the
OpenBLAS tuning variables OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE (both
together) if they are set, so that numpy's BLAS picks its kernel itself; the
kernel in use is printed. Comparisons are ratios of two things measured side
by side in the same run; absolute timings depend on the machine and its load
(the load average is printed before and after). A target that is not met is
shown as "NO"; these are benchmarks, not tests.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import blas_description, clean_environment, print_table  # noqa: E402

BENCHMARKS = {
    "fit": "bench_fit.py",
    "defaults": "bench_nee_defaults.py",
    "epoch": "bench_epoch.py",
    "accuracy": "bench_time_to_accuracy.py",
    "gradient": "bench_gradient.py",
    "predict": "bench_predict.py",
    "memory": "bench_memory.py",
    "distributed": "bench_distributed.py",
    "shapley": "bench_shapley.py",
    "crossval": "bench_crossval.py",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--only", nargs="+", choices=sorted(BENCHMARKS), help="run only these benchmarks")
    args = parser.parse_args()
    environment = clean_environment()
    print(f"python {sys.version.split()[0]} on {os.cpu_count()} CPUs; load average {os.getloadavg()}")
    removed = [name for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if name in os.environ]
    print(f"benchmark subprocesses run without {removed or 'no OpenBLAS tuning variables (none set)'}")
    probe = subprocess.run(
        [sys.executable, "-c", "import numpy, sys; sys.path.insert(0, sys.argv[1]); from common import blas_description; "
         "print(blas_description())", str(HERE)],
        capture_output=True, text=True, env=environment, check=False,
    )
    print(f"BLAS in the benchmarks: {probe.stdout.strip() or probe.stderr.strip()[-300:]}")
    print(f"(BLAS in this process: {blas_description()})\n")
    rows = []
    for name in args.only or BENCHMARKS:
        command = [sys.executable, str(HERE / BENCHMARKS[name]), "--json"] + (["--quick"] if args.quick else [])
        start = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True, env=environment, check=False)
        seconds = time.perf_counter() - start
        lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
        if result.returncode != 0 or not lines:
            rows.append({"benchmark": name, "measure": "FAILED", "note": result.stderr.strip()[-800:]})
        else:
            rows.extend(json.loads(line) for line in lines)
        print(f"  {name}: {seconds:.0f} s", flush=True)
    print(f"\nload average after: {os.getloadavg()}\n")
    print_table(rows)


if __name__ == "__main__":
    main()
