"""The measurements behind ``forward``'s two choices for a call of a few
rows (``fastdigits.kernels.cpu``): whether the register blocks read packed
weights (packing them first, as from ``PACK_ROWS`` rows) or read them in
place, and whether the rows go to the thread pool (from ``POOL_WORK``
multiply-adds) or stay on the calling thread.

For each network and row count, on dense rows (no zeros: every wide layer
goes by register blocks), µs per call, best of five timed turns:

- ``pack+blocks`` / ``in place``: back to back on the calling thread, the
  weights packed on each call then read as panels, against read where
  they are;
- ``2 threads``: back to back, the rows shared out in tiles
  (``_tile_rows``), the weights in place;
- ``after idle``: the same two, each call after 0.3 s asleep (the pool's
  threads asleep too), the median of ``--idle`` calls.

    python benchmarks/forward_choices.py [--networks 400-128-10 400-800-10 784-768-10]
                                         [--rows 17 32 64 128 256 512 1024] [--idle 9]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import timeit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", nargs="+", default=["400-128-10", "400-800-10", "784-768-10"])
    parser.add_argument("--rows", type=int, nargs="+", default=[17, 32, 64, 128, 256, 512, 1024])
    parser.add_argument("--idle", type=int, default=9, help="calls after a pause, per way (0: none)")
    args = parser.parse_args()
    os.environ.setdefault("NUMBA_NUM_THREADS", "2")

    import numpy as np

    from _common import machine
    from fastdigits import MLPClassifier, bench, training
    from fastdigits.kernels import cpu

    print(f"machine: {machine()}\nµs per call on dense rows; PACK_ROWS {cpu.PACK_ROWS}, POOL_WORK {cpu.POOL_WORK:,}")
    print(f"{'network':>11} {'rows':>5} {'multiply-adds':>14} {'pack+blocks':>12} {'in place':>9} "
          f"{'2 threads':>10} {'after idle 1 / 2':>17}")
    for spec in args.networks:
        sizes = [int(v) for v in spec.split("-")]
        rng = np.random.default_rng(0)
        model = MLPClassifier.from_weights(
            [rng.standard_normal((a, b)) * 0.05 for a, b in zip(sizes, sizes[1:])], [np.zeros(b) for b in sizes[1:]])
        net, params = training.network(model), model.params_
        params_t = np.empty_like(params)
        cpu._transpose_weights(net, params, params_t, False)
        x_all = bench.dense_rows(max(args.rows), sizes[0])
        for n in args.rows:
            x = np.ascontiguousarray(x_all[:n])
            out = np.empty((n, sizes[-1]), np.float32)
            one, two = cpu._tile_rows(n, 1), cpu._tile_rows(n, 2)

            def packed():
                cpu._pack_weights(net, params, params_t)
                cpu._forward_rows(x, np.zeros(1, np.int64), one, net, params, params_t, (params_t, True), out)

            ways = {
                "packed": packed,
                "in place": lambda: cpu._forward_rows(x, np.zeros(1, np.int64), one, net, params, params_t,
                                                      (params_t[:0], True), out),
                "two": lambda: cpu._forward_parallel(x, two, net, params, params_t, (params_t[:0], True), out, 2),
            }
            calls = max(3, 20_000 // n)
            t = {}
            for name, fn in ways.items():
                fn()
                t[name] = min(timeit.repeat(fn, number=calls, repeat=5)) / calls * 1e6
            idle = {}
            for name in ("in place", "two") if args.idle else ():
                samples = []
                for _ in range(args.idle):
                    time.sleep(0.3)
                    start = time.perf_counter()
                    ways[name]()
                    samples.append((time.perf_counter() - start) * 1e6)
                idle[name] = statistics.median(samples)
            after = f"{idle['in place']:7.0f} / {idle['two']:<7.0f}" if idle else "-"
            print(f"{spec:>11} {n:5d} {n * params.size:14,} {t['packed']:12.0f} {t['in place']:9.0f} "
                  f"{t['two']:10.0f} {after:>17}", flush=True)


if __name__ == "__main__":
    main()
