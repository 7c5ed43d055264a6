"""Prediction of a few rows: the forward pass compiled at install
(``ext/_forward.pyx``, what ``predict_proba`` runs for few rows:
``model._kernel_rows``) beside the Numba kernel it replaced there
(``kernels.cpu.forward`` on one thread) and NumPy's matrix product (BLAS),
side by side in one process, interleaved, best of 3 rounds.

Rows are MNIST test frames when FASTDIGITS_DATA is set (random rows with
MNIST's share of zeros otherwise), through a 400-H-10 relu/softmax network.

    python benchmarks/bench_forward.py [--hidden 128 800] [--rows 1 8 64 512] [--json out.json]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from _common import machine, write_json
from fastdigits import MLPClassifier, _forward, training
from fastdigits.kernels import RELU, SOFTMAX, cpu


def frames(n: int, rng) -> np.ndarray:
    try:
        from fastdigits import load_mnist

        d = load_mnist()
        return MLPClassifier().prepare(d.test_images[:n])
    except Exception:  # no MNIST: rows with its share of zeros (about 80 %)
        x = rng.random((n, 400), dtype=np.float32)
        x[x < 0.8] = 0
        return x


def numpy_forward(x, weights, biases):
    h = np.maximum(x @ weights[0] + biases[0], 0)
    z = h @ weights[1] + biases[1]
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, nargs="+", default=[128, 800])
    parser.add_argument("--rows", type=int, nargs="+", default=[1, 8, 64, 512])
    parser.add_argument("--json")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    X = frames(max(args.rows) + 2000, rng)
    print(f"machine: {machine()}")
    print(f"{'network':>12} {'rows':>5} {'compiled us':>12} {'numba us':>9} {'numpy us':>9} {'compiled/numba':>15}")
    results = []
    for hidden in args.hidden:
        model = MLPClassifier((hidden,), max_iter=1, random_state=0).fit(X[-2000:], np.arange(2000) % 10)
        lay = model._layout
        weights, biases = lay.views(model.params_)
        for rows in args.rows:
            x = np.ascontiguousarray(X[:rows])
            out = np.empty((rows, 10), np.float32)
            scratch = np.empty_like(model.params_)
            fns = {
                "compiled": lambda: _forward.forward_rows(x, model.params_, lay.sizes, RELU, SOFTMAX, out),
                "numba": lambda: cpu.forward(x, training.network(model), model.params_, scratch, out, 1),
                "numpy": lambda: numpy_forward(x, weights, biases),
            }
            for f in fns.values():
                f()
            calls = max(20, 20000 // (rows * max(1, hidden // 128)))
            best = {name: float("inf") for name in fns}
            for _ in range(3):
                for name, f in fns.items():
                    t0 = time.perf_counter()
                    for _ in range(calls):
                        f()
                    best[name] = min(best[name], (time.perf_counter() - t0) / calls * 1e6)
            ratio = best["compiled"] / best["numba"]
            print(f"{f'400-{hidden}-10':>12} {rows:>5} {best['compiled']:12.1f} {best['numba']:9.1f} "
                  f"{best['numpy']:9.1f} {ratio:15.2f}")
            results.append({"hidden": hidden, "rows": rows, "us": best, "compiled_over_numba": ratio})
    write_json(args.json, {"machine": machine(), "results": results})


if __name__ == "__main__":
    main()
