"""The dense register blocks (``kernels._dense.rows_times``) against
OpenBLAS sgemm on one thread: how close the micro-kernel comes to the BLAS
limit, apart from threads, packing and the rest of a pass.

For each shape (rows x n_in @ n_in x n_out, float32, standard normal
values), the blocks multiply the rows three at a time through the packed
panels of the weights, and ``numpy.dot`` runs the same product with
OpenBLAS held to one thread; interleaved rounds, GFLOP/s of each (2 m n_in
n_out flops per product) and their ratio (> 1: the blocks faster).

    python benchmarks/gemm_parity.py [--rounds 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import os

os.environ["OPENBLAS_NUM_THREADS"] = "1"  # before NumPy loads OpenBLAS

import time  # noqa: E402

import numpy as np  # noqa: E402
from numba import njit  # noqa: E402

from _common import machine, write_json  # noqa: E402
from fastdigits.kernels._dense import MR, NR, as_panels, pack, rows_times  # noqa: E402

SHAPES = [(126, 400, 128), (126, 400, 512), (126, 784, 768), (510, 400, 128)]  # whole panels, also NR = 64


@njit
def _blocks(x, b_panels, n_in, n_panels, out, reps):
    spill = np.empty(MR * NR, x.dtype)
    for _ in range(reps):
        for i0 in range(0, x.shape[0] - MR + 1, MR):
            rows_times((x[i0], x[i0 + 1], x[i0 + 2]), MR, n_in, b_panels, True, n_panels, n_panels * NR,
                       (out[i0], out[i0 + 1], out[i0 + 2]), spill)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"machine: {machine()}; one thread; NR = {NR}")
    print(f"{'shape':>16} {'blocks GFLOP/s':>15} {'sgemm GFLOP/s':>14} {'blocks/sgemm':>13}")
    results = []
    for m, n_in, n_out in SHAPES:
        x = rng.standard_normal((m, n_in)).astype(np.float32)
        w = rng.standard_normal((n_in, n_out)).astype(np.float32)
        flat = np.zeros(n_in * n_out, np.float32)
        pack(w, flat)
        panels = as_panels(flat, n_in, n_out)
        out, buf = np.zeros((m, n_out), np.float32), np.zeros((m, n_out), np.float32)
        _blocks(x, panels, n_in, n_out // NR, out, 1)
        np.testing.assert_allclose(out, x @ w, rtol=1e-3, atol=1e-3)
        reps = max(1, int(2e9 / (2 * m * n_in * n_out)))
        flops = 2.0 * m * n_in * n_out * reps
        best = {"blocks": 0.0, "sgemm": 0.0}
        for _ in range(args.rounds):
            t = time.perf_counter()
            _blocks(x, panels, n_in, n_out // NR, out, reps)
            best["blocks"] = max(best["blocks"], flops / (time.perf_counter() - t) / 1e9)
            t = time.perf_counter()
            for _ in range(reps):
                np.dot(x, w, out=buf)
            best["sgemm"] = max(best["sgemm"], flops / (time.perf_counter() - t) / 1e9)
        ratio = best["blocks"] / best["sgemm"]
        print(f"{f'{m}x{n_in}x{n_out}':>16} {best['blocks']:15.1f} {best['sgemm']:14.1f} {ratio:13.2f}")
        results.append({"shape": [m, n_in, n_out], **best, "ratio": ratio})
    write_json(args.json, {"machine": machine(), "rounds": args.rounds, "results": results})


if __name__ == "__main__":
    main()
