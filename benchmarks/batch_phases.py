"""Where a training batch's time goes: each phase of ``cpu._batch`` timed
apart, on one thread and on all, inside one compiled loop over an epoch's
batches (so no Python between them), and what launching an empty parallel
loop costs.

Phases, cumulative: transposing the narrow layers' weights; + the pass over
the batch's rows (forward, deltas); + the pass over the weights' rows
(gradients, optimiser step); + the narrow layers' optimiser step.  (Until
the weights pass is in, the loop clears the transposed batch itself, as
that pass would.)  The learning rate is 0, so every batch sees the same
weights.

With ``--rows dense``, 60,000 standard normal rows (``bench.dense_rows``)
replace MNIST's frames (no zeros: the layer's products go by dense
register blocks; no data set needed).

    FASTDIGITS_DATA=... python benchmarks/batch_phases.py [--hidden 128] [--batch 32] [--rows dense]
"""

from __future__ import annotations

import argparse

import numba
import numpy as np
from numba import njit

from fastdigits import MLPClassifier, bench, load_mnist
from fastdigits.kernels import (RELU, SGD, SOFTMAX, Data, Optimizer, aligned_empty, aligned_zeros, cpu,
                                workspace)
from fastdigits.kernels import network as kernels_network
from fastdigits.model import _Layout

PHASES = ["transpose", "+ rows pass", "+ weights pass", "+ narrow step"]


@njit
def _epoch(phases, batches, m, threads, data, order, network, params, state, opt, work):
    transposed = cpu._transposes(data, order, network)
    cpu._pack_weights(network, params, work.panels)  # as train_range does (the learning rate is 0: once is enough)
    for b in range(batches):
        pos = (b * m) % (data.x.shape[0] - m)
        rows = order[pos : pos + m]
        cpu._transpose_weights(network, params, work.params_t, True)
        if phases >= 2:
            cpu._backprop_pass(data, rows, transposed, network, params, work, threads)
        xt = cpu._xt(work, network, m, transposed)
        if phases >= 3:
            cpu._weights_pass(work.xbuf[:m], xt, network, params, state, opt, work, threads)
        else:
            xt[...] = 0.0  # as the weights pass leaves it
        if phases >= 4:
            cpu._step_narrow(network, params, work.grads_t, opt, state)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rows", choices=["mnist", "dense"], default="mnist")
    args = parser.parse_args()
    m, lay = args.batch, _Layout.of([400, args.hidden, 10])
    rng = np.random.default_rng(0)
    if args.rows == "dense":  # MNIST's shape, no data set needed
        x, y = bench.dense_rows(60_000, 400), rng.integers(0, 10, 60_000)
    else:
        data = load_mnist()
        x = np.ascontiguousarray(MLPClassifier().prepare(data.train_images), dtype=np.float32)
        y = data.train_labels.astype(np.int64)
    params = aligned_empty(lay.n_params, np.float32)  # as MLPClassifier allocates them
    params[:] = rng.standard_normal(lay.n_params) * 0.05
    network = kernels_network(lay.sizes, lay.w_off, lay.b_off, RELU, SOFTMAX)
    velocity = aligned_zeros(params.shape, np.float32)
    buffers = (Data(x, y, np.ones(len(x))), rng.permutation(len(x)).astype(np.int64), network, params,
               (velocity, velocity), Optimizer(SGD, 0.0, 0.9, 0.9, 0.999, 1e-8, 0.0, 0),
               workspace(network, m, np.float32, minibatches=True))
    batches = len(x) // m
    print(f"machine: {bench.machine()}")
    print(f"400-{args.hidden}-10, {args.rows} rows, batch {m}, microseconds per batch (median of {args.repeats} "
          "epochs):")
    for threads in sorted({1, numba.get_num_threads()}):
        cells = []
        for phases, name in enumerate(PHASES, 1):
            _epoch(phases, 2, m, threads, *buffers)
            seconds = bench.median_seconds(lambda: _epoch(phases, batches, m, threads, *buffers),  # noqa: B023
                                           repeats=args.repeats, warmup=0)
            cells.append(f"{name} {1e6 * seconds / batches:.1f}")
        print(f"  {threads} thread(s): " + ", ".join(cells))
    print(f"an empty parallel loop on {numba.get_num_threads()} threads, back to back: "
          f"{bench.launch_microseconds(numba.get_num_threads(), 100_000):.2f} us")


if __name__ == "__main__":
    main()
