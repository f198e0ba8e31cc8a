"""Training seconds per epoch: xrann's numpy core vs scikit-learn's MLPRegressor, same architecture.

7 drivers -> 4 logistic hidden nodes -> 1 output, mini-batches of 256, Adam,
on the same in-memory samples (1,000,000; 100,000 with --quick). xrann's
epoch is one `xrann.core.arrays.ArraySource.minibatch_epoch` (the mini-batch
pass the engine runs in memory mode, without validation or history);
scikit-learn's is one ``MLPRegressor.partial_fit``. xrann's output node is a
sigmoid; scikit-learn's MLPRegressor has an identity output (it cannot be
changed), which costs it slightly less per batch. Both shuffle every epoch.
Target: xrann at most 1/3 of scikit-learn's time. (`bench_fit.py` times the
whole ``ds.ann.fit`` call against ``MLPRegressor.fit``.)
"""

from __future__ import annotations

import time
import warnings

import numpy as np
from common import arguments, blas_description, median_time, report

from xrann.core.arrays import ArraySource
from xrann.core.network import initialize
from xrann.core.optimizers import Adam


def samples(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Scaled drivers in [0, 1] and a non-linear target in [0.1, 0.9]."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, 7))
    y = 0.5 + 0.4 * np.sin(2.0 * x[:, :1] + x[:, 1:2] * x[:, 2:3] - x[:, 3:4] ** 2) * (0.5 + 0.5 * x[:, 4:5]) * x[:, 5:6] ** 0.5
    return x, y


def xrann_epoch(x: np.ndarray, y: np.ndarray, dtype: str, repeats: int) -> float:
    rng = np.random.default_rng(0)
    network = initialize((7, 4, 1), rng=rng, dtype=dtype)
    source = ArraySource(network.sizes, x.astype(dtype), y.astype(dtype), dtype=dtype)
    parameters = source.flatten(network)
    optimizer = Adam(0.001)
    epochs = iter(range(10**6))
    return median_time(lambda: source.minibatch_epoch(parameters, optimizer, 256, rng, next(epochs)), repeats)


def sklearn_epoch(x: np.ndarray, y: np.ndarray, dtype: str, repeats: int) -> float:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPRegressor

    model = MLPRegressor(
        hidden_layer_sizes=(4,), activation="logistic", solver="adam", batch_size=256,
        learning_rate_init=0.001, max_iter=1, shuffle=True, random_state=0, tol=0.0,
    )
    x, target = x.astype(dtype), y[:, 0].astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(x, target)  # allocate and warm up
        return median_time(lambda: model.partial_fit(x, target), repeats)


def main() -> None:
    args = arguments(__doc__.splitlines()[0])
    n = 100_000 if args.quick else 1_000_000
    repeats = 3 if args.quick else 5
    x, y = samples(n)
    start = time.perf_counter()
    times = {}
    # interleave the two libraries so that load changes on the machine hit both
    for round_ in range(2):
        for name, function in (("xrann", xrann_epoch), ("sklearn", sklearn_epoch)):
            for dtype in ("float32", "float64"):
                key = (name, dtype)
                measured = function(x, y, dtype, repeats)
                times[key] = min(times.get(key, np.inf), measured)
    xrann_best = min(times[("xrann", "float32")], times[("xrann", "float64")])
    sklearn_best = min(times[("sklearn", "float32")], times[("sklearn", "float64")])
    rows = [
        {
            "benchmark": "epoch time, 1M samples" if not args.quick else "epoch time, 100k samples",
            "measure": f"s/epoch {dtype}",
            "xrann": times[("xrann", dtype)],
            "reference": times[("sklearn", dtype)],
            "ratio": times[("xrann", dtype)] / times[("sklearn", dtype)],
            "target": None,
            "met": None,
        }
        for dtype in ("float32", "float64")
    ]
    rows.append({
        "benchmark": rows[0]["benchmark"],
        "measure": "s/epoch, best dtype each",
        "xrann": xrann_best,
        "reference": sklearn_best,
        "ratio": xrann_best / sklearn_best,
        "target": "<= 0.333",
        "met": xrann_best / sklearn_best <= 1 / 3,
        "note": f"7-4-1 sigmoid net, batch 256, Adam; sklearn MLPRegressor output is identity; BLAS {blas_description()}; "
                f"{time.perf_counter() - start:.0f} s",
    })
    report(rows, args.json)


if __name__ == "__main__":
    main()
