"""Peak resident memory of one epoch of ``mode="stream"`` training on lazily generated 1 GB and 8 GB datasets.

Each size runs in its own subprocess (peak RSS from ``getrusage``, which
includes the interpreter and imported libraries). The data are generated
block by block by dask (`common.lazy_synthetic_dataset`: a target and six
(time, lat, lon) drivers in float64, plus a static map; 16 time steps =
2 million points = 112 MB per block), so nothing but the blocks in flight
needs memory. Two things are measured per size:

* ``train``: the streaming fit itself (`xrann.fit.plan.plan_samples`, the
  statistics pass, then `xrann.fit.stream.StreamSource` trained by
  `xrann.fit.training.train_network`: one epoch of mini-batch training,
  batch 256, float32, 10 % of the samples held out as ``validation="auto"``
  holds them out);
* ``fit``: the whole ``ds.ann.fit(mode="stream", epochs=1, batch_size=256)``,
  which also fits the model's extrapolation envelope
  (`xrann.fit.envelope.fit_envelope`).

Target: the 8 GB run peaks under 1.5 GB and within 1.3 x the 1 GB run.
(The built-in NEE generator is not used here: it produces a few MB/s, far too
slow for 8 GB; the synthetic generator makes ~150 MB/s on two cores.)
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time

from common import SYNTHETIC_DRIVERS, arguments, clean_environment, lazy_synthetic_dataset, n_time_for_bytes, report

CHUNK_TIME = 16


def child(size_gb: float, what: str) -> None:
    import numpy as np

    import xrann
    from xrann.fit.plan import plan_samples
    from xrann.fit.settings import AUTO_VALIDATION_FRACTION, FitSettings
    from xrann.fit.stream import StreamSource
    from xrann.fit.training import train_network

    ds = lazy_synthetic_dataset(n_time_for_bytes(size_gb * 1e9), CHUNK_TIME)
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    start = time.perf_counter()
    settings = dict(epochs=1, batch_size=256, dtype="float32", seed=0)
    if what == "train":
        fit_settings = FitSettings(**settings)
        fit_settings.validate()
        plan = plan_samples(
            ds, "y", SYNTHETIC_DRIVERS, ("time", "lat", "lon"), holdout=None, fraction=AUTO_VALIDATION_FRACTION,
            validation="auto", seed=0, target_range=fit_settings.target_range,
        )
        n_inputs = len(SYNTHETIC_DRIVERS)
        resolved = fit_settings.resolve(n_inputs, 1, plan.n_train, plan.n_validation > 0)
        source = StreamSource(
            plan, fit_settings.sizes(n_inputs, 1), bias=fit_settings.bias, dtype=fit_settings.dtype, loss=fit_settings.loss
        )
        train_network(source, fit_settings, resolved, n_inputs, 1, np.random.default_rng(0), progress=False)
        counts = plan.counts
    else:
        model = ds.ann.fit("y", SYNTHETIC_DRIVERS, mode="stream", progress=False, **settings)
        counts = model.sample_counts
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({
        "dataset_bytes": ds.nbytes, "peak": peak, "baseline": baseline, "seconds": time.perf_counter() - start,
        "training_samples": counts["training"], "xrann": xrann.__version__,
    }))


def measure(size_gb: float, what: str) -> dict:
    result = subprocess.run(
        [sys.executable, __file__, "--child", str(size_gb), what],
        capture_output=True, text=True, env=clean_environment(), check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"child run {size_gb} GB {what} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(float(sys.argv[2]), sys.argv[3])
        return
    args = arguments(__doc__.splitlines()[0])
    small, large = (0.125, 0.5) if args.quick else (1.0, 8.0)
    rows = []
    for what in ("train", "fit"):
        runs = {size: measure(size, what) for size in (small, large)}
        ratio = runs[large]["peak"] / runs[small]["peak"]
        met = runs[large]["peak"] < 1.5e9 and ratio <= 1.3
        rows.append({
            "benchmark": f"stream peak RSS ({what})",
            "measure": f"GB peak, {large:g} GB vs {small:g} GB data",
            "xrann": runs[large]["peak"] / 1e9,
            "reference": runs[small]["peak"] / 1e9,
            "ratio": ratio,
            "target": "< 1.5 GB and <= 1.3" if not args.quick else "(quick: sizes differ)",
            "met": met if not args.quick else None,
            "note": ", ".join(
                f"{size:g} GB: {runs[size]['dataset_bytes'] / 1e9:.2f} GB data, {runs[size]['training_samples']:,} samples, "
                f"{runs[size]['seconds']:.0f} s, RSS before fit {runs[size]['baseline'] / 1e9:.2f} GB"
                for size in (small, large)
            ),
        })
    report(rows, args.json)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    main()
