"""Ways to write the input layer's products in Numba, timed beside NumPy.

The evidence behind the kernels' design and the speed targets: which loop
forms reach OpenBLAS's rate on fastdigits' shapes (400 inputs, 128 or 512
hidden units, batches of 128 and 10,000 normalised MNIST rows); what the
register-tile kernel costs per nonzero input when its weights sit in L1
or in L2, aligned to cache lines or not; the output error sent back whole
or through its listed nonzeros; the whole forward pass on one and two
threads; the NaN check beside NumPy's; what a parallel loop costs after
the process has been idle; and what happens when BLAS is called from
inside Numba (needs SciPy; skipped without it).

    FASTDIGITS_DATA=... python benchmarks/kernel_forms.py
"""

from __future__ import annotations

import importlib.util
import time

import numba
import numpy as np
from numba import njit, prange

from fastdigits import MLPClassifier, bench, load_mnist
from fastdigits.kernels import RELU, SOFTMAX, _sparse, aligned_empty, cpu
from fastdigits.kernels import network as kernels_network
from fastdigits.model import _Layout


@njit(parallel=True)
def heap_tile(a, w, b, out):
    """4 rows x 16 columns per tile, the accumulator an array (lives on the heap)."""
    m, n_in = a.shape
    for blk in prange(m // 4):
        i0 = blk * 4
        for j0 in range(0, w.shape[1] - w.shape[1] % 16, 16):
            acc = np.zeros((4, 16), np.float32)
            for k in range(n_in):
                for r in range(4):
                    x = a[i0 + r, k]
                    for jj in range(16):
                        acc[r, jj] += x * w[k, j0 + jj]
            for r in range(4):
                for jj in range(16):
                    out[i0 + r, j0 + jj] = max(acc[r, jj] + b[j0 + jj], 0)


@njit(parallel=True, fastmath={"reassoc", "contract"})
def dot4(a, wT, b, out):
    """Weights transposed: 4 rows' dot products share each weight load."""
    m, n_in = a.shape
    for blk in prange(m // 4):
        i0 = blk * 4
        a0, a1, a2, a3 = a[i0], a[i0 + 1], a[i0 + 2], a[i0 + 3]
        for j in range(wT.shape[0]):
            wj = wT[j]
            s0 = s1 = s2 = s3 = np.float32(0)
            for k in range(n_in):
                s0 += wj[k] * a0[k]
                s1 += wj[k] * a1[k]
                s2 += wj[k] * a2[k]
                s3 += wj[k] * a3[k]
            out[i0, j] = max(s0 + b[j], 0)
            out[i0 + 1, j] = max(s1 + b[j], 0)
            out[i0 + 2, j] = max(s2 + b[j], 0)
            out[i0 + 3, j] = max(s3 + b[j], 0)


def scalar_tile():
    """4 x 16 tile with 64 scalar accumulators, generated source (LLVM may
    keep scalars in registers where it cannot keep an array)."""
    lines = ["def tile(a, w, b, out):", "    for blk in prange(a.shape[0] // 4):", "        i0 = blk * 4",
             "        for j0 in range(0, w.shape[1] - w.shape[1] % 16, 16):"]
    lines += [f"            s{r}_{c} = np.float32(0)" for r in range(4) for c in range(16)]
    lines.append("            for k in range(a.shape[1]):")
    lines += [f"                x{r} = a[i0 + {r}, k]" for r in range(4)]
    lines += [f"                w{c} = w[k, j0 + {c}]" for c in range(16)]
    lines += [f"                s{r}_{c} += x{r} * w{c}" for r in range(4) for c in range(16)]
    lines += [f"            out[i0 + {r}, j0 + {c}] = max(s{r}_{c} + b[j0 + {c}], 0)" for r in range(4) for c in range(16)]
    namespace = {"np": np, "prange": prange}
    exec("\n".join(lines), namespace)
    return njit(parallel=True, fastmath={"contract"})(namespace["tile"])


@njit(parallel=True)
def gradient_rows(a, delta, gw):
    """Row k of a.T @ delta as the weights pass computes it: the nonzeros of
    column k, then a register-tile sum of the delta rows they pick."""
    for k in prange(a.shape[1]):
        idx = np.empty(a.shape[0] + cpu.SLACK, np.int32)
        val = np.empty(a.shape[0] + cpu.SLACK, a.dtype)
        n = _sparse.nonzeros(a[:, k], idx, val)
        _sparse.gather_rows_sum(delta, idx, val, n, gw[k])


@njit
def gradient_rows_serial(at, delta, gw, pairs):
    """a.T @ delta on one thread from at = a.T (as the weights pass reads
    xt): a row at a time, or with ``pairs`` two rows sharing each delta row
    loaded where either input is nonzero."""
    idx = np.empty(at.shape[1] + cpu.SLACK, np.int32)
    val = np.empty(at.shape[1] + cpu.SLACK, at.dtype)
    val2 = np.empty(at.shape[1] + cpu.SLACK, at.dtype)
    step = 2 if pairs else 1
    for k in range(0, at.shape[0] - at.shape[0] % step, step):
        if pairs:
            n = _sparse.nonzeros(at[k], idx, val, at[k + 1], val2)
            _sparse.gather_rows_range(delta, idx, val, 0, n, gw[k], False, val2, gw[k + 1])
        else:
            n = _sparse.nonzeros(at[k], idx, val)
            _sparse.gather_rows_sum(delta, idx, val, n, gw[k])


@njit
def tiles_only(a, w, out, repeats):
    """The register-tile sum alone, on one thread, over dense rows."""
    idx = np.empty(a.shape[1] + cpu.SLACK, np.int32)
    val = np.empty(a.shape[1] + cpu.SLACK, a.dtype)
    n = _sparse.nonzeros(a[0], idx, val)
    for _ in range(repeats):
        for i in range(a.shape[0]):
            _sparse.gather_rows_sum(w, idx, val, n, out[i])


@njit
def output_errors_back(delta, w_t, out, whole, repeats):
    """Each row of delta (m, 10) sent back through a 128-10 layer (w_t: its
    transpose), taken whole or through its listed nonzeros."""
    idx = np.empty(delta.shape[1] + cpu.SLACK, np.int32)
    val = np.empty(delta.shape[1] + cpu.SLACK, delta.dtype)
    iota = np.arange(delta.shape[1]).astype(np.int32)
    for _ in range(repeats):
        for i in range(delta.shape[0]):
            if whole:
                _sparse.gather_rows_range(w_t, iota, delta[i], 0, delta.shape[1], out[i], False)
            else:
                n = _sparse.nonzeros(delta[i], idx, val)
                _sparse.gather_rows_sum(w_t, idx, val, n, out[i])


def us(fn, rows: int) -> float:
    return 1e6 * bench.median_seconds(fn, repeats=5 if rows > 1000 else 200)


def main() -> None:
    X = MLPClassifier().prepare(load_mnist().train_images)
    rng = np.random.default_rng(0)
    tile = scalar_tile()
    print(f"machine: {bench.machine()}\nforward, relu(x @ W + b), microseconds (median):")
    for hidden in (128, 512):
        w = (rng.standard_normal((400, hidden)) * 0.05).astype(np.float32)
        wT, b = np.ascontiguousarray(w.T), np.zeros(hidden, np.float32)
        for rows in (128, 10_000):
            a = np.ascontiguousarray(X[:rows])
            out = np.empty((rows, hidden), np.float32)
            forms = {
                "fastdigits dense_forward": lambda: cpu.dense_forward(a, w, b, RELU, out, numba.get_num_threads()),
                "heap-array 4x16 tile": lambda: heap_tile(a, w, b, out),
                "scalar 4x16 tile": lambda: tile(a, w, b, out),
                "transposed-dot, 4 rows": lambda: dot4(a, wT, b, out),
                "numpy relu(a @ w + b)": lambda: np.maximum(a @ w + b, 0),
                "sgemm alone": lambda: np.matmul(a, w, out=out),
            }
            cells = ", ".join(f"{name} {us(fn, rows):,.0f}" for name, fn in forms.items())
            print(f"  400-{hidden}, {rows} rows: {cells}")

    print("input-layer weight gradient a.T @ delta, 400-128, batch 128, microseconds:")
    a = np.ascontiguousarray(X[:128])
    delta = rng.standard_normal((128, 128)).astype(np.float32)
    gw = np.empty((400, 128), np.float32)
    print(f"  register tiles over each column's nonzeros {us(lambda: gradient_rows(a, delta, gw), 128):,.0f}, "
          f"numpy {us(lambda: a.T @ delta, 128):,.0f}")
    at, delta_al = np.ascontiguousarray(a.T), aligned_empty(delta.shape, np.float32)
    delta_al[...] = delta
    cells = ", ".join(f"{name} {us(lambda p=pairs: gradient_rows_serial(at, delta_al, gw, p), 128):,.0f}"
                      for name, pairs in (("a row at a time", False), ("two rows at a time", True)))
    nonzero = at != 0
    loads = f"{nonzero.sum():,} and {(nonzero[0::2] | nonzero[1::2]).sum():,} delta rows loaded"
    print(f"  the same on one thread from a.T: {cells} ({loads})")

    print("register tile (128 columns) alone, one thread, nanoseconds per nonzero input (8 AVX-512 FMAs):")
    for n_in in (64, 400):
        dense = rng.random((128, n_in), dtype=np.float32) + np.float32(0.1)
        out = aligned_empty((128, 128), np.float32)
        cells = []
        for shift in (0, 4):  # floats past a cache line: each 64-byte row load then straddles two
            w = aligned_empty(n_in * 128 + shift, np.float32)[shift:].reshape(n_in, 128)
            w[...] = rng.random((n_in, 128), dtype=np.float32)
            ns = 1e9 * bench.median_seconds(lambda w=w: tiles_only(dense, w, out, 10), repeats=7) / (10 * 128 * n_in)
            cells.append(f"{'aligned' if shift == 0 else f'{4 * shift} bytes off a line'} {ns:.2f} ns")
        print(f"  weights {n_in * 128 * 4 // 1024} KB ({'L1' if n_in * 128 * 4 <= 32768 else 'L2'}): "
              + ", ".join(cells))

    delta = rng.standard_normal((128, 10)).astype(np.float32)
    w_t, back = aligned_empty((10, 128), np.float32), aligned_empty((128, 128), np.float32)
    w_t[...] = rng.standard_normal((10, 128))

    def per_row_ns(whole: bool) -> float:  # 10 repeats of 128 rows
        return 1e3 * us(lambda: output_errors_back(delta, w_t, back, whole, 10), 128) / 1280

    cells = ", ".join(f"{name} {per_row_ns(whole):.0f}" for name, whole in (("whole", True), ("listed", False)))
    print(f"output error (10 classes) sent back through 128-10 whole or its nonzeros listed, one thread, "
          f"nanoseconds per row: {cells}")

    threads = numba.get_num_threads()
    lay = _Layout.of([400, 128, 10])
    params = aligned_empty(lay.n_params, np.float32)  # as MLPClassifier allocates them
    params[:] = rng.standard_normal(lay.n_params) * 0.05
    rows10k, proba = np.ascontiguousarray(X[:10_000]), np.empty((10_000, 10), np.float32)
    params_t = aligned_empty(params.shape, np.float32)

    def forward(t: int) -> None:
        cpu.forward(rows10k, kernels_network(lay.sizes, lay.w_off, lay.b_off, RELU, SOFTMAX), params, params_t, proba, t)

    cells = ", ".join(f"{t} thread(s) {us(lambda t=t: forward(t), 10_000):,.0f}" for t in sorted({1, threads}))
    print(f"forward through 400-128-10, 10,000 rows, microseconds: {cells}")
    for rows in (10_000, 60_000):
        batch = np.ascontiguousarray(X[:rows])
        print(f"NaN/inf check of {rows:,} rows, microseconds: all_finite on {threads} threads "
              f"{us(lambda: cpu.all_finite(batch, threads), 10_000):,.0f}, numpy isfinite().all() "
              f"{us(lambda: np.isfinite(batch).all(), 10_000):,.0f}")

    cells = []
    for pause in (0.002, 0.3):
        times = []
        for _ in range(20):  # the slow case sets in after a few pauses
            time.sleep(pause)
            start = time.perf_counter()
            cpu.all_finite(rows10k, threads)
            times.append(time.perf_counter() - start)
        cells.append(f"after {pause} s {1e6 * float(np.median(times)):,.0f}")
    print(f"one short parallel loop (all_finite, 10,000 rows) after a pause, microseconds, median of 20: "
          f"{', '.join(cells)}")

    if importlib.util.find_spec("scipy") is None:
        print("BLAS inside numba: skipped (numba's np.dot needs SciPy)")
        return

    @njit(parallel=True)
    def relu_parallel(out, b):
        for i in prange(out.shape[0]):
            for j in range(out.shape[1]):
                out[i, j] = max(out[i, j] + b[j], 0)

    @njit
    def blas_then_parallel(a, w, b, out):
        np.dot(a, w, out)
        relu_parallel(out, b)

    @njit
    def blas_then_serial(a, w, b, out):
        np.dot(a, w, out)
        for i in range(out.shape[0]):
            for j in range(out.shape[1]):
                out[i, j] = max(out[i, j] + b[j], 0)

    w = (rng.standard_normal((400, 128)) * 0.05).astype(np.float32)
    b, out = np.zeros(128, np.float32), np.empty((128, 128), np.float32)
    print(f"BLAS inside numba, 400-128, batch 128, microseconds: np.dot + parallel epilogue "
          f"{us(lambda: blas_then_parallel(a, w, b, out), 128):,.0f}, np.dot + serial epilogue "
          f"{us(lambda: blas_then_serial(a, w, b, out), 128):,.0f}, numpy {us(lambda: np.maximum(a @ w + b, 0), 128):,.0f}")


if __name__ == "__main__":
    main()
