"""Full-batch gradient throughput of the numpy core: samples per second, float32, one thread.

`xrann.core.network.GradientWorkspace.accumulate` (forward and backward over
cache-sized blocks, preallocated buffers) against the plain
`xrann.core.network.loss_and_gradients` on the same samples, for a 7-4-1 network.
BLAS is limited to one thread with threadpoolctl. Target: >= 30 million samples/s.
"""

from __future__ import annotations

import numpy as np
from common import arguments, blas_description, median_time, report
from threadpoolctl import threadpool_limits

from xrann.core.network import initialize, loss_and_gradients, loss_scale
from xrann.core.workspace import GradientWorkspace, augment_inputs


def main() -> None:
    args = arguments(__doc__.splitlines()[0])
    n = 500_000 if args.quick else 4_000_000
    repeats = 3 if args.quick else 7
    rng = np.random.default_rng(0)
    network = initialize((7, 4, 1), rng=rng, dtype="float32")
    x = rng.random((n, 7), dtype=np.float32)
    y = rng.random((n, 1), dtype=np.float32)
    inputs = augment_inputs(x)
    scale = loss_scale(n, 1)
    rows = []
    with threadpool_limits(limits=1):
        blas = blas_description()
        per_block = {}
        for block_size in (2048, 4096, 8192, 16384):
            workspace = GradientWorkspace(network.sizes, dtype="float32", block_size=block_size)
            workspace.load(network)
            per_block[block_size] = median_time(lambda: workspace.accumulate(inputs, y, scale), repeats)
        plain = median_time(lambda: loss_and_gradients(network, x, y), max(2, repeats // 2))
    best_block = min(per_block, key=per_block.get)
    for block_size, seconds in per_block.items():
        rows.append({
            "benchmark": "full-batch gradient, 1 thread",
            "measure": f"M samples/s, block {block_size}",
            "xrann": n / seconds / 1e6,
            "reference": n / plain / 1e6,
            "ratio": plain / seconds,
            "target": ">= 30" if block_size == best_block else None,
            "met": n / seconds / 1e6 >= 30 if block_size == best_block else None,
        })
    rows[-1]["note"] = (
        f"{n:,} samples, 7-4-1 float32; reference = plain loss_and_gradients (whole batch at once); "
        f"ratio = speed-up over it; target checked on the best block size ({best_block}); BLAS {blas}"
    )
    report(rows, args.json)


if __name__ == "__main__":
    main()
