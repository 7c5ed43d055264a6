"""Batches of a few rows through the public ``predict_proba``, both ways:
the compiled pass (``ext/_forward.pyx``, single-threaded, no fixed cost)
and the Numba kernels (the weights read in place below
``kernels.cpu.PACK_ROWS`` rows, the thread pool from
``kernels.cpu.POOL_WORK`` multiply-adds), beside NumPy's three-line
forward pass (``bench.NumpyMLP``, its BLAS on ``--threads`` threads too);
the measurement behind ``config.COMPILED_ROWS`` and ``COMPILED_WORK``.

The way is forced (``model.compiled_forward()``: the compiled pass;
outside it, ``COMPILED_ROWS`` and ``COMPILED_WORK`` 0: the kernels),
interleaved, best of ``--rounds`` rounds, µs per call, for 400-H-10 networks (``--hidden``; one epoch on 2,000
rows) on MNIST frames (FASTDIGITS_DATA set; random rows with their share
of zeros otherwise) and on dense rows.

    python benchmarks/few_rows.py [--rows 17 32 40 48 64 96 128] [--hidden 128 800] [--rounds 3] [--threads 2]
                                  [--json out.json]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import timeit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[17, 32, 40, 48, 64, 96, 128])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--hidden", type=int, nargs="+", default=[128, 800], help="hidden widths (400-H-10)")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[var] = str(args.threads)  # NumPy's BLAS on as many threads as the kernels, set before it loads

    import numpy as np

    from _common import machine, write_json
    from fastdigits import MLPClassifier, bench, config
    from fastdigits.model import compiled_forward

    X, y, _, source = bench._data(4000)
    data = {"frames": X, "dense": bench.dense_rows(max(args.rows), X.shape[1])}
    print(f"machine: {machine()}\ndata: {source}; threads {args.threads}; COMPILED_ROWS {config.COMPILED_ROWS}, "
          f"COMPILED_WORK {config.COMPILED_WORK:,}")
    print(f"{'network':>11} {'rows':>6} {'kind':>6} {'compiled us':>12} {'kernels us':>11} {'numpy us':>9} "
          f"{'kernels/compiled':>17} {'multiply-adds':>14}")
    results = []
    saved = config.COMPILED_ROWS, config.COMPILED_WORK
    ways = {"compiled": compiled_forward, "kernels": contextlib.nullcontext}
    config.COMPILED_ROWS = config.COMPILED_WORK = 0  # outside compiled_forward() every call goes to the kernels
    try:
        for hidden in args.hidden:
            model = MLPClassifier((hidden,), max_iter=1, threads=args.threads, random_state=0).fit(X[:2000], y[:2000])
            ref = bench.NumpyMLP(X.shape[1], hidden, 128)
            ref.params = [model.coefs_[0], model.intercepts_[0], model.coefs_[1], model.intercepts_[1]]
            for kind, rows in data.items():
                for n in args.rows:
                    x = np.ascontiguousarray(rows[:n])
                    best = {}
                    for _ in range(args.rounds):
                        for way, context in ways.items():
                            with context():
                                model.predict_proba(x)
                                t = min(timeit.repeat(lambda: model.predict_proba(x), number=50, repeat=3)) / 50
                            best[way] = min(best.get(way, np.inf), t * 1e6)
                        t = min(timeit.repeat(lambda: ref.forward(x), number=50, repeat=3)) / 50
                        best["numpy"] = min(best.get("numpy", np.inf), t * 1e6)
                    work = n * model.params_.size
                    print(f"{f'400-{hidden}-10':>11} {n:6d} {kind:>6} {best['compiled']:12.0f} {best['kernels']:11.0f} "
                          f"{best['numpy']:9.0f} {best['kernels'] / best['compiled']:17.2f} {work:14,}")
                    results.append({"network": [400, hidden, 10], "rows": n, "kind": kind, "multiply_adds": work,
                                    **best})
    finally:
        config.COMPILED_ROWS, config.COMPILED_WORK = saved
    write_json(args.json, {"machine": machine(), "data": source, "threads": args.threads, "results": results})


if __name__ == "__main__":
    main()
