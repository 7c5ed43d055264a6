"""Where dense register blocks start to beat sums of nonzeros: the
measurement behind ``config.DENSE_SHARES`` and ``DENSE_TRAINING_SHARE``,
and by layer width (``--hidden``) behind ``kernels.cpu.SUMS_WIDE``.

Rows of a given share of nonzeros (uniform values, zeros at random
places; and MNIST frames, 42 % nonzero, when FASTDIGITS_DATA is set) go
through a 400-H-10 relu/softmax network (``--hidden``, 128) both ways, forced by the
network's ``dense_share`` (0: dense blocks, 2: nonzeros; the same bits
either way), side by side and interleaved:

- predict: ``kernels.cpu.forward`` of 10,000 rows;
- train: one ``kernels.cpu.train_range`` epoch of 20,000 rows, batch 128,
  SGD with momentum (both passes: the layer's rows and its gradient rows).

Prints the time of each and dense's speed-up; the crossover is the share
where it passes 1.  Training's blocks need a whole panel of NR columns
(``kernels._dense.NR``: 32 with AVX2, 64 with AVX-512): with fewer hidden
units both of its columns time the sums.

    FASTDIGITS_DATA=... python benchmarks/dense_crossover.py [--threads 2] [--repeats 5] [--hidden 128]
"""

from __future__ import annotations

import argparse
import os

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--shares", default="0.1,0.2,0.3,0.4,0.5,0.6,0.8,1.0")
    parser.add_argument("--hidden", type=int, default=128)
    args = parser.parse_args()
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[var] = str(args.threads)

    from fastdigits import bench
    from fastdigits.kernels import RELU, SGD, SOFTMAX, Data, Network, Optimizer, cpu, workspace
    from fastdigits.model import _Layout

    rng = np.random.default_rng(0)
    lay = _Layout.of([400, args.hidden, 10])
    params = (rng.standard_normal(lay.n_params) * 0.05).astype(np.float32)
    inputs = {f"{float(s):.0%} nonzero": float(s) for s in args.shares.split(",")}
    data = {}
    for name, share in inputs.items():
        x = rng.random((20_000, 400), dtype=np.float32)
        x[rng.random(x.shape) >= share] = 0
        data[name] = x
    if bench._mnist_folder() is not None:
        data["MNIST frames"] = np.ascontiguousarray(bench._data(20_000)[0][:20_000])
    y = rng.integers(0, 10, 20_000)
    print(f"machine: {bench.machine()}")
    print(f"threads {args.threads}; medians of {args.repeats} interleaved repeats; 400-{args.hidden}-10, float32")
    print(f"{'rows':<16} {'share':>6} {'predict: dense':>15} {'sparse':>8} {'speed-up':>9}"
          f" {'train: dense':>13} {'sparse':>8} {'speed-up':>9}")
    for name, x in data.items():
        nets = {way: Network(lay.sizes, lay.w_off, lay.b_off, RELU, SOFTMAX, share, share)
                for way, share in (("dense", 0.0), ("sparse", 2.0))}
        rows = x[:10_000]
        out = np.empty((len(rows), 10), np.float32)
        scratch = np.empty_like(params)

        def predict(net):
            return lambda: cpu.forward(rows, net, params, scratch, out, args.threads)

        def train(net):
            work = workspace(net, 128, np.float32, minibatches=True)
            order = rng.permutation(len(x)).astype(np.int64)
            p, s1 = params.copy(), np.zeros_like(params)
            opt = Optimizer(SGD, 0.01, 0.9, 0.9, 0.999, 1e-8, 0.0, 0)
            return lambda: cpu.train_range(Data(x, y, np.ones(len(x))), order, 128, net, p, (s1, s1), opt, work,
                                           args.threads)

        fwd = bench.interleaved_medians({way: predict(net) for way, net in nets.items()}, args.repeats)
        trn = bench.interleaved_medians({way: train(net) for way, net in nets.items()}, args.repeats)
        share = np.count_nonzero(x) / x.size
        print(f"{name:<16} {share:6.2f} {fwd['dense'] * 1e3:12.1f} ms {fwd['sparse'] * 1e3:5.1f} ms "
              f"{fwd['sparse'] / fwd['dense']:8.2f}x {trn['dense'] * 1e3:10.0f} ms {trn['sparse'] * 1e3:5.0f} ms "
              f"{trn['sparse'] / trn['dense']:8.2f}x", flush=True)


if __name__ == "__main__":
    main()
