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

    FASTDIGITS_DATA=... python benchmarks/batch_phases.py [--hidden 128] [--batch 32]
"""

from __future__ import annotations

import argparse

import numba
import numpy as np
from numba import njit

from fastdigits import MLPClassifier, bench, load_mnist
from fastdigits.kernels import RELU, SOFTMAX, aligned_empty, aligned_zeros, cpu
from fastdigits.model import _Layout

PHASES = ["transpose", "+ rows pass", "+ weights pass", "+ narrow step"]


@njit
def _epoch(phases, batches, m, chunks, x, y, order, xbuf, xtbuf, acts, deltas, params, params_t, velocity,
           loss_rows, right_rows, sizes, w_off, b_off):
    n_in = x.shape[1]
    xt = xtbuf[: n_in * m].reshape((n_in, m))
    out = cpu._block(acts, sizes, m, sizes.shape[0] - 2)
    for b in range(batches):
        pos = (b * m) % (x.shape[0] - m)
        cpu._transpose_weights(sizes, w_off, params, params_t, True)
        if phases >= 2:
            cpu._backprop_pass(x, order, pos, m, True, xbuf, xt, y, sizes, w_off, b_off, RELU, SOFTMAX, params,
                               params_t, 1.0 / m, acts, deltas, out, loss_rows, right_rows, chunks)
        if phases >= 3:
            cpu._weights_pass(xbuf, xt, True, m, sizes, w_off, b_off, params, params_t, acts, deltas, 0.0, cpu.SGD,
                              velocity, velocity, velocity, 0.0, 0.9, 0.9, 0.999, 1e-8, chunks)
        else:
            xt[...] = 0.0  # as the weights pass leaves it
        if phases >= 4:
            cpu._step_narrow(sizes, w_off, params, params_t, 0.0, cpu.SGD, velocity, velocity, velocity, 0.0, 0.9, 0.9,
                             0.999, 1e-8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    data = load_mnist()
    x = np.ascontiguousarray(MLPClassifier().prepare(data.train_images), dtype=np.float32)
    y = data.train_labels.astype(np.int64)
    m, lay = args.batch, _Layout.of([400, args.hidden, 10])
    rng = np.random.default_rng(0)
    params = aligned_empty(lay.n_params, np.float32)  # as MLPClassifier allocates them
    params[:] = rng.standard_normal(lay.n_params) * 0.05
    width = int(lay.sizes[1:].sum())
    buffers = (x, y, rng.permutation(len(x)).astype(np.int64), aligned_empty((m, 400), np.float32),
               aligned_zeros(400 * m, np.float32), aligned_empty(m * width, np.float32),
               aligned_empty(m * width, np.float32), params, aligned_empty(params.shape, np.float32),
               aligned_zeros(params.shape, np.float32), np.empty(m), np.empty(m, np.int64),
               lay.sizes, lay.w_off, lay.b_off)
    batches = len(x) // m
    print(f"machine: {bench.machine()}")
    print(f"400-{args.hidden}-10, batch {m}, microseconds per batch (median of {args.repeats} epochs):")
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
