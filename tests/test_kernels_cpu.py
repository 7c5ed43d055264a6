"""Every CPU kernel (``fastdigits.kernels.cpu`` and the helpers it is built
from) against the float64 textbook reference in naive.py."""

from __future__ import annotations

import numpy as np
import pytest

import naive
from fastdigits.kernels import (ADAM, GRADIENT, HIDDEN_ACTIVATIONS, NESTEROV, OUTPUTS, SGD, SOFTMAX, Data, Optimizer,
                                _dense, _jit, _sparse, cpu, workspace)
from kernel_cases import OPTIMIZERS, check_batch_grad, network, random_network, reference_training

AWKWARD = [1, 7, 33]
TOL = {np.float64: dict(rtol=1e-12, atol=1e-12), np.float32: dict(rtol=2e-5, atol=2e-6)}
ACT = {**HIDDEN_ACTIVATIONS, "softmax": SOFTMAX}


def _layer_inputs(rng, m, n_in, n_out, dtype):
    a = rng.standard_normal((m, n_in)).astype(dtype)
    a[a < -0.5] = 0  # exercise the zero-skipping path
    w = (rng.standard_normal((n_in, n_out)) / np.sqrt(n_in)).astype(dtype)
    b = rng.standard_normal(n_out).astype(dtype)
    return a, w, b


# Output widths that take every path: the narrow (dot-product) form below
# cpu.NARROW, single columns, the 8/16/32/64-wide tiles and the widest tile
# (200: with AVX-512 a tile of 64 after one of 128).
WIDTHS = [1, 7, 9, 25, 31, 32, 33, 56, 64, 129, 200, 300]


@pytest.mark.parametrize("chunks", [1, 2, 3])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("act", ["sigmoid", "tanh", "relu", "identity", "softmax"])
@pytest.mark.parametrize("m, n_in, n_out", [(1, 1, 1), (7, 33, 1), (33, 7, 33), (5, 400, 25), (9, 20, 129),
                                            (70, 300, 64)])
def test_dense_forward(rng, dtype, act, m, n_in, n_out, chunks):
    a, w, b = _layer_inputs(rng, m, n_in, n_out, dtype)
    out = np.full((m, n_out), np.nan, dtype)
    cpu.dense_forward(a, w, b, ACT[act], out, chunks)
    z = a.astype(float) @ w.astype(float) + b.astype(float)
    want = naive.softmax(z) if act == "softmax" else naive.ACTIVATIONS[act][0](z)
    np.testing.assert_allclose(out, want, **TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_out", WIDTHS)
def test_dense_forward_every_tile_width(rng, dtype, n_out):
    a, w, b = _layer_inputs(rng, 6, 50, n_out, dtype)
    a[2] = 0  # a row with no nonzero input at all
    out = np.full((6, n_out), np.nan, dtype)
    cpu.dense_forward(a, w, b, ACT["identity"], out, 2)
    np.testing.assert_allclose(out, a.astype(float) @ w.astype(float) + b.astype(float), **TOL[dtype])


@pytest.mark.parametrize("chunks", [1, 2])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("m, n_in, n_out", [(70, 300, 64), (77, 517, 129), (80, 401, 300), (2 * cpu.MIN_GROUP + 3, 300, 64),
                                            (2 * cpu.FORWARD_TILE + 5, 300, 64)])
def test_cache_blocked_forward(rng, dtype, m, n_in, n_out, chunks):
    """A first layer too big for L1, rows in groups: ``_layer_rows_blocked``
    (blocks of w whose rows' count is not a multiple of the vector width,
    and a last group of fewer rows)."""
    assert cpu._blocked(n_in, n_out, np.dtype(dtype).itemsize, m // chunks)
    lay, params = random_network(rng, [n_in, n_out, 10], dtype)
    x = rng.random((m, n_in)).astype(dtype)
    x[x < 0.6] = 0
    x[3] = 0
    out = np.empty((m, 10), dtype)
    cpu.forward(x, network(lay, "relu", "softmax"), params, np.empty_like(params), out, chunks)
    ws, bs = (list(map(lambda t: t.astype(float), v)) for v in lay.views(params))
    np.testing.assert_allclose(out, naive.forward(x.astype(float), ws, bs, "relu", "softmax")[-1], **TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_out", WIDTHS)
def test_gather_rows_sum_is_sparse_vector_times_matrix(rng, dtype, n_out):
    v = rng.standard_normal(40).astype(dtype)
    v[rng.random(40) < 0.6] = 0
    w = rng.standard_normal((40, n_out)).astype(dtype)
    idx, val = np.empty(40 + cpu.SLACK, np.int32), np.empty(40 + cpu.SLACK, dtype)
    n = _sparse.nonzeros(v, idx, val)
    assert n == np.count_nonzero(v)
    np.testing.assert_array_equal(idx[:n], np.flatnonzero(v))
    out = np.full(n_out, np.nan, dtype)
    _sparse.gather_rows_sum(w, idx, val, n, out)
    np.testing.assert_allclose(out, v.astype(float) @ w.astype(float), **TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shift", [0, 8, 3])
def test_nonzeros_of_every_pattern_of_eight_lanes(rng, dtype, shift):
    """Every one of the 256 patterns of zeros in 8 consecutive entries, at
    each place of the vector steps (``shift``), with -0.0 (a zero) and NaN
    (not one), listed in order alone, as a pair and in blocks."""
    v = (rng.random(256 * 8 + shift) + 0.5).astype(dtype)
    v[shift:] *= (np.arange(256)[:, None] >> np.arange(8) & 1).ravel()
    v[shift + 1 :: 24] = -0.0
    v[shift + 5 :: 40] = np.nan
    v2 = np.zeros_like(v)
    v2[::7] = 1
    want = np.flatnonzero(~(v == 0))  # NaN == 0 is False: kept
    either = np.flatnonzero(~(v == 0) | (v2 != 0))
    idx, ends = np.empty(len(v) + cpu.SLACK, np.int32), np.empty(-(-len(v) // 16) + 1, np.int64)
    val, val2 = np.empty(len(v) + cpu.SLACK, dtype), np.empty(len(v) + cpu.SLACK, dtype)
    n = _sparse.nonzeros(v, idx, val)
    assert n == len(want)
    np.testing.assert_array_equal(idx[:n], want)
    np.testing.assert_array_equal(val[:n], v[want])
    n = _sparse.nonzeros(v, idx, val, v2, val2)
    assert n == len(either)
    np.testing.assert_array_equal(idx[:n], either)
    np.testing.assert_array_equal(val[:n], v[either])
    np.testing.assert_array_equal(val2[:n], v2[either])
    n = _sparse.nonzeros_in_blocks(v, idx, val, 16, ends)
    np.testing.assert_array_equal(idx[:n], want)
    np.testing.assert_array_equal(ends, np.searchsorted(want, 16 * np.arange(len(ends))))


_GENERIC_NONZEROS = """
import numpy as np
from fastdigits.kernels import _intrinsics, _sparse
assert not _intrinsics._target_has("avx2"), "NUMBA_CPU_NAME=generic: no AVX2 code"
v = np.zeros(37, np.float32)
v[[0, 3, 8, 9, 15, 16, 30, 36]] = np.arange(1, 9)
idx, val = np.empty(37 + 16, np.int32), np.empty(37 + 16, np.float32)
n = _sparse.nonzeros(v, idx, val)
print(n, *idx[:n], *val[:n].astype(int))
"""


def test_nonzeros_compiled_for_a_generic_cpu(tmp_path):
    """Under ``NUMBA_CPU_NAME=generic`` (portable code: numba's features
    empty) the AVX2 permute is not emitted, and the list is the same."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "NUMBA_CPU_NAME": "generic", "NUMBA_CACHE_DIR": str(tmp_path),
           "FASTDIGITS_PACKAGE_KERNELS": "0"}
    env.pop("NUMBA_CPU_FEATURES", None)
    proc = subprocess.run([sys.executable, "-c", _GENERIC_NONZEROS], env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == "8 0 3 8 9 15 16 30 36 1 2 3 4 5 6 7 8".split()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_out", WIDTHS)
@pytest.mark.parametrize("length", [0, 5, 40, 131])
def test_two_sparse_vectors_listed_and_summed_together(rng, dtype, n_out, length):
    """The weights pass's two gradient rows at once: the entries where
    either vector is nonzero (vector steps and a tail), then both sums."""
    v, v2 = (rng.standard_normal(length).astype(dtype) for _ in range(2))
    v[rng.random(length) < 0.6] = 0
    v2[rng.random(length) < 0.6] = 0
    w = rng.standard_normal((length, n_out)).astype(dtype)
    idx = np.empty(length + cpu.SLACK, np.int32)
    val, val2 = np.empty(length + cpu.SLACK, dtype), np.empty(length + cpu.SLACK, dtype)
    n = _sparse.nonzeros(v, idx, val, v2, val2)
    either = np.flatnonzero((v != 0) | (v2 != 0))
    assert n == len(either)
    np.testing.assert_array_equal(idx[:n], either)
    np.testing.assert_array_equal(val[:n], v[either])
    np.testing.assert_array_equal(val2[:n], v2[either])
    out, out2 = np.full(n_out, np.nan, dtype), np.full(n_out, np.nan, dtype)
    _sparse.gather_rows_range(w, idx, val, 0, n, out, False, val2, out2)
    np.testing.assert_allclose(out, v.astype(float) @ w.astype(float), **TOL[dtype])
    np.testing.assert_allclose(out2, v2.astype(float) @ w.astype(float), **TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("act", ["softmax", "sigmoid"])
@pytest.mark.parametrize("k", [2, 3, 10])
def test_output_delta_and_row_loss(rng, dtype, act, k):
    """delta = w (h - t) / m and the row loss w CE, for each row's weight w."""
    m = 7
    z = rng.standard_normal((m, k))
    h = (naive.softmax(z) if act == "softmax" else naive.sigmoid(z)).astype(dtype)
    y = rng.integers(0, k, m)
    y[[1, 4]] = -1  # rows of no class (outlier exposure)
    weight = rng.uniform(0, 3, m)
    weight[5] = 1.0
    t = naive.targets(y, k, act)
    hf = h.astype(float)
    if act == "softmax":
        want = -(t * np.log(hf)).sum(axis=1)
    else:
        want = -(t * np.log(hf) + (1 - t) * np.log(1 - hf)).sum(axis=1)
    for i in range(m):
        delta = np.empty(k, dtype)
        loss, right = cpu._output_delta_row(h[i], y[i], weight[i], OUTPUTS[act], 1.0 / m, delta)
        np.testing.assert_allclose(delta, weight[i] * (hf[i] - t[i]) / m, **TOL[dtype])
        np.testing.assert_allclose(loss, weight[i] * want[i], rtol=1e-6 if dtype == np.float32 else 1e-12)
        assert right == (h[i].argmax() == y[i])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("act", ["sigmoid", "tanh", "relu", "identity"])
@pytest.mark.parametrize("n, n_next", [(1, 1), (33, 10), (7, 1), (129, 20), (17, 50)])  # narrow, then not
def test_hidden_delta_row(rng, dtype, act, n, n_next):
    a = naive.ACTIVATIONS[act][0](rng.standard_normal(n)).astype(dtype)
    w_next = rng.standard_normal((n, n_next)).astype(dtype)
    delta_next = rng.standard_normal(n_next).astype(dtype)
    delta = np.empty(n, dtype)
    idx, val = np.empty(n_next + cpu.SLACK, np.int32), np.empty(n_next + cpu.SLACK, dtype)
    iota = np.arange(cpu.NARROW, dtype=np.int32)
    cpu._hidden_delta_row(delta_next, np.ascontiguousarray(w_next.T), a, HIDDEN_ACTIVATIONS[act], delta, idx, val,
                          iota)
    want = (w_next.astype(float) @ delta_next.astype(float)) * naive.ACTIVATIONS[act][1](a.astype(float))
    np.testing.assert_allclose(delta, want, **TOL[dtype])


@pytest.mark.parametrize("opt", [GRADIENT, SGD, NESTEROV, ADAM])
def test_step_row(rng, opt):
    """One row's step of each optimiser (the gradient itself into state1
    for GRADIENT), and nothing outside the row touched."""
    params, s1, s2 = rng.standard_normal((3, 40))
    s2 = np.abs(s2)
    g = rng.standard_normal(7)
    off, decay = 11, 0.25
    p1, a, b = params.copy(), s1.copy(), s2.copy()
    cpu._step_row(g.copy(), p1, off, decay, Optimizer(opt, 0.1, 0.9, 0.9, 0.999, 1e-8, 0.0, 0), (a, b))
    part = slice(off, off + 7)
    full = g + decay * params[part]
    if opt == GRADIENT:
        p_want, a_want, b_want = params[part], full, s2[part]
    else:
        p_want, a_want, b_want = naive.optimizer_step(OPTIMIZERS[opt], params[part], full, s1[part], s2[part], 0.1)
    np.testing.assert_allclose(p1[part], p_want)
    np.testing.assert_allclose(a[part], a_want)
    np.testing.assert_allclose(b[part], b_want)
    outside = np.ones(40, bool)
    outside[part] = False
    for got, before in ((p1, params), (a, s1), (b, s2)):
        np.testing.assert_array_equal(got[outside], before[outside])


def _batch_grad(lay, params, x, y, act, output, l2_scale, weight, chunks, products="default"):
    """cpu.batch_grad of the rows (x, y) with row weights: (grads, loss sum, rows right)."""
    net = network(lay, act, output, products)
    work = workspace(net, len(x), params.dtype)
    loss, correct = cpu.batch_grad(Data(x, y, weight), net, params, l2_scale, work, chunks)
    return work.grads, loss, correct


@pytest.mark.parametrize("chunks", [1, 2])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("act", ["sigmoid", "tanh", "relu"])
@pytest.mark.parametrize("output", ["softmax", "sigmoid"])
# Errors sent back through narrow layers (taken whole) and, in the last, through
# a layer of 40 units (its nonzeros listed).
@pytest.mark.parametrize("sizes", [[5, 3], [7, 1, 2], [33, 7, 5, 10], [40, 20, 17, 10], [30, 130, 16],
                                   [12, 9, 40, 10]])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("products", ["default", "dense", "sparse"])
def test_batch_grad_matches_backprop(rng, dtype, act, output, sizes, chunks, weighted, products):
    lay, params = random_network(rng, sizes, dtype)
    m = 7
    x = rng.random((m, sizes[0])).astype(dtype)
    x[x < 0.3] = 0
    y = rng.integers(0, sizes[-1], m)
    y[2] = -1  # a row of no class (outlier exposure)
    weight = rng.uniform(0, 2, m) if weighted else np.ones(m)
    l2 = 0.3
    grads, loss, correct = _batch_grad(lay, params, x, y, act, output, l2 / m, weight, chunks, products)
    check_batch_grad(lay, params, grads, loss, correct, x, y, act, output, l2, weight)


@pytest.mark.parametrize("output", ["softmax", "sigmoid"])
def test_weighted_gradient_matches_central_differences(rng, output):
    """The gradient of the weighted J = (1/m) sum_i w_i CE_i + l2/(2m) sum W**2
    against (J(p + h) - J(p - h)) / 2h, J from the kernel's own loss."""
    sizes, m, l2 = [40, 33, 3], 9, 0.2
    lay, params = random_network(rng, sizes)
    x = rng.random((m, sizes[0]))
    x[x < 0.5] = 0
    y, weight = rng.integers(0, 3, m), rng.uniform(0, 2, m)

    def cost(p):
        grads, loss, _ = _batch_grad(lay, p, x, y, "tanh", output, l2 / m, weight, 2)
        return loss / m + l2 / (2 * m) * sum(float((w**2).sum()) for w in lay.views(p)[0]), grads

    _, grads = cost(params)
    h = 1e-6
    for p in rng.choice(lay.n_params, 12, replace=False):
        up, down = params.copy(), params.copy()
        up[p] += h
        down[p] -= h
        numeric = (cost(up)[0] - cost(down)[0]) / (2 * h)
        np.testing.assert_allclose(grads[p], numeric, rtol=1e-6, atol=1e-9)


def test_weight_two_is_the_row_twice(rng):
    """A row of weight 2 among rows of weight 1 counts as that row twice:
    the same loss sum, and the same full-batch gradient times the row
    count (the gradient divides by m, m + 1 with the duplicate); rows
    right are counted unweighted."""
    sizes, m = [30, 40, 4], 6
    lay, params = random_network(rng, sizes)
    x = rng.random((m, sizes[0]))
    x[x < 0.5] = 0
    y = rng.integers(0, 4, m)
    weight = np.ones(m)
    weight[2] = 2.0
    grads, loss, right = _batch_grad(lay, params, x, y, "relu", "softmax", 0.0, weight, 2)
    twice = np.r_[np.arange(m), 2]
    grads2, loss2, right2 = _batch_grad(lay, params, x[twice], y[twice], "relu", "softmax", 0.0, np.ones(m + 1), 2)
    np.testing.assert_allclose(grads * m, grads2 * (m + 1), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(loss, loss2, rtol=1e-12)
    ws, bs = lay.views(params)
    assert right2 == right + int(naive.forward(x[2:3], ws, bs, "relu", "softmax")[-1].argmax() == y[2])


@pytest.mark.parametrize("chunks", [1, 2])
@pytest.mark.parametrize("m", [1, 7, 33, 2 * cpu.FORWARD_TILE + 5, "pool"])
@pytest.mark.parametrize("sizes", [[20, 9, 4, 3], [20, 40, 18], [20, 70, 33, 5]])
@pytest.mark.parametrize("products", ["default", "dense", "sparse"])
def test_forward_matches_reference(rng, m, chunks, sizes, products):
    """Few rows, several tiles, and ("pool") enough multiply-adds for
    forward to share the rows out among the threads (POOL_WORK)."""
    lay, params = random_network(rng, sizes)
    if m == "pool":
        m = cpu.POOL_WORK // params.size + 1
    x = rng.random((m, 20))
    out = np.empty((m, sizes[-1]))
    cpu.forward(x, network(lay, "tanh", "sigmoid", products), params, np.empty_like(params), out, chunks)
    ws, bs = lay.views(params)
    np.testing.assert_allclose(out, naive.forward(x, ws, bs, "tanh", "sigmoid")[-1], rtol=1e-12)


@pytest.mark.parametrize("chunks", [1, 2, 3])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan, None])
def test_all_finite(rng, dtype, bad, chunks):
    x = (rng.uniform(-1, 1, (37, 41)) * np.finfo(dtype).max / 2).astype(dtype)
    assert cpu.all_finite(x, chunks)
    for pos in [0, 700, x.size - 1]:  # in the first, a middle and the last chunk
        y = x.copy()
        y.flat[pos] = bad if bad is not None else np.finfo(dtype).max
        assert cpu.all_finite(y, chunks) == (bad is None)


@pytest.mark.parametrize("chunks", [1, 2, 3])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("bad, want", [(np.inf, "nan"), (-np.inf, "nan"), (np.nan, "nan"), (1.5, 0.5),
                                       (-0.25, 0.25), (None, 0.0)])
def test_outside_sum(rng, dtype, bad, want, chunks):
    """outside_sum, serial and parallel: 0 when every entry is finite and
    in [lo, hi], NaN when one is not finite, else how far entries lie out."""
    lo, hi = dtype(0), dtype(1)
    x = rng.uniform(0, 1, (37, 41)).astype(dtype)
    x[0, :3] = 0, 1, 0.5  # the bounds themselves are inside
    for pos in [0, 700, x.size - 1]:  # in the first, a middle and the last chunk
        y = x.copy()
        if bad is not None:
            y.flat[pos] = bad
        for got in (cpu.outside_total(y, lo, hi, chunks), cpu.outside_sum(y.reshape(-1), lo, hi, dtype(0))):
            if want == "nan":
                assert np.isnan(got)
            else:
                assert got == pytest.approx(want, rel=1e-6)


def test_no_kernel_is_compiled_twice_from_one_function():
    # Two dispatchers made from one Python function share one on-disk cache
    # entry, so one silently runs the other's machine code (a "serial"
    # kernel once loaded the parallel build this way).
    import numba

    from fastdigits.kernels import _threads, warp

    dispatchers = {id(v): v for module in (cpu, _sparse, _threads, warp) for v in vars(module).values()
                   if isinstance(v, numba.core.registry.CPUDispatcher)}  # one each, however many modules import it
    functions = [v.py_func for v in dispatchers.values()]
    assert len(functions) == len(set(functions))


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("opt", [SGD, NESTEROV, ADAM])
@pytest.mark.parametrize("sizes, n, bs, lr", [([6, 5, 3], 10, 4, 0.5), ([7, 40, 3], 10, 4, 0.5),
                                             ([300, 64, 3], 250, 100, 0.01), ([20, 70, 33, 3], 40, 16, 0.1)])
@pytest.mark.parametrize("products", ["default", "dense", "sparse"])
def test_train_range_is_the_optimiser_over_batches(rng, threads, opt, sizes, n, bs, lr, weighted, products):
    """One compiled call over 3 minibatches equals 3 reference steps (a
    narrow and a wide first layer, the wide one's gradient rows in register
    blocks of three or in pairs and, with 7 inputs, one left over; the last network's goes through the
    cache-blocked kernels, its batches through two blocks of deltas; the
    fourth has two wide layers, neither a whole number of panels); rows of
    random weights, some zero, as training passes them (mean 1), the last
    batch short.  The products by dense register blocks, by sums of
    nonzeros, or chosen as by default."""
    lay, params = random_network(rng, sizes)
    x, y = rng.random((n, sizes[0])), rng.integers(0, 3, n)
    x[x < 0.5] = 0
    weight = np.where(rng.random(n) < 0.2, 0.0, rng.uniform(0.2, 3, n)) if weighted else np.ones(n)
    weight *= n / weight.sum()
    order = rng.permutation(n).astype(np.int64)
    p, s1, s2 = params.copy(), np.zeros_like(params), np.zeros_like(params)
    work = workspace(network(lay), bs, p.dtype, minibatches=True)
    loss, correct, steps = cpu.train_range(Data(x, y, weight), order, bs, network(lay, products=products), p, (s1, s2),
                                           Optimizer(opt, lr, 0.9, 0.9, 0.999, 1e-8, 0.1, 0), work, threads)
    assert steps == -(-n // bs)
    assert not work.xtbuf.any(), "the transposed-batch buffer must be left all zeros"
    q, _, _, want_loss, want_right = reference_training(lay, params, x, y, order, bs, opt, lr, 0.1, weight=weight)
    np.testing.assert_allclose(p, q, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(loss, want_loss, rtol=1e-12)
    assert correct == want_right


def _bounds_checked_training():
    """Start the training tests above in a process whose kernels numba
    compiles with bounds checks, into a fresh cache (numba's cache keys
    ignore NUMBA_BOUNDSCHECK: none of the package's kernels either), from a
    folder of its own so that the installed package is imported, not the
    source tree."""
    import os
    import subprocess
    import sys
    import tempfile

    folder = tempfile.mkdtemp(prefix="fastdigits-boundscheck-")
    env = {**os.environ, "NUMBA_BOUNDSCHECK": "1", "NUMBA_CACHE_DIR": os.path.join(folder, "cache"),
           "FASTDIGITS_PACKAGE_KERNELS": "0"}
    proc = subprocess.Popen([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", __file__, "-k",
                             "train_range_is_the_optimiser"], env=env, cwd=folder, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.folder = folder
    return proc


def test_training_kernels_under_bounds_checks(background):
    """The training tests above again under bounds checks: an index past
    the end of an array, such as fetching a row ahead of a batch's last one,
    fails there instead of quietly reading other memory.  (A minute of
    compiling: conftest starts it when collected, to run beside the rest.)"""
    import shutil
    import subprocess

    proc = background or _bounds_checked_training()
    try:
        out, err = proc.communicate(timeout=900)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail("the bounds-checked training tests did not end within 15 minutes\n" + out[-4000:])
    finally:
        shutil.rmtree(proc.folder, ignore_errors=True)
    assert proc.returncode == 0, out[-4000:] + err[-2000:]
    assert " passed" in out and " failed" not in out


test_training_kernels_under_bounds_checks.start_in_background = _bounds_checked_training


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32])
@pytest.mark.parametrize("shape", [0, 1, 5, (3, 7), 4097])
def test_aligned_arrays_start_on_a_cache_line(dtype, shape):
    from fastdigits.kernels import ALIGNMENT, aligned_empty, aligned_zeros

    for _ in range(5):  # a fresh allocation each time: not aligned by luck
        a, z = aligned_empty(shape, dtype), aligned_zeros(shape, dtype)
        for arr in (a, z):
            assert arr.size == 0 or arr.ctypes.data % ALIGNMENT == 0
            assert arr.shape == np.empty(shape).shape and arr.dtype == dtype
            assert arr.flags.c_contiguous and arr.flags.writeable
        assert not z.any()


def test_a_kernel_compiles_once_per_argument_type_not_per_constant():
    """_jit._Kernel: a helper called with the constants 0 and 1, True and
    False from jitted code compiles one specialisation (numba's own
    dispatcher compiles one per literal); a new type is a new one."""
    from numba import njit

    def scale(x, k, flag):
        return x * k if flag else x

    helper = _jit._Kernel(py_func=scale, locals={}, targetoptions={"nopython": True})
    plain = njit(scale)

    @njit
    def calls(x):
        return helper(x, 0, True) + helper(x, 1, False) + plain(x, 0, True) + plain(x, 1, False)

    assert calls(2.0) == 0.0 + 2.0 + 0.0 + 2.0
    assert len(helper.signatures) == 1
    assert len(plain.signatures) > 1  # what the subclass is for
    helper(np.float32(2.0), 3, True)
    assert len(helper.signatures) == 2


# ------------------------------------------------------ dense register blocks


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_rows", [1, 2, 3])
@pytest.mark.parametrize("n_in, n_out", [(1, _dense.NR), (37, 2 * _dense.NR + 5), (400, 128),
                                         (50, 2 * _dense.NR - 1), (50, _dense.NR // 2 + 3)])
@pytest.mark.parametrize("packed", [True, False])
def test_register_block_is_rows_times_matrix(rng, dtype, n_rows, n_in, n_out, packed):
    """``rows_times`` of up to three rows (the others repeating the last)
    against the float64 product, over w's whole panels, packed or read in
    place, then the columns after them through ``rest_panel`` (its columns
    past w's end dropped); the rows past n_rows untouched."""
    a = rng.standard_normal((n_rows, n_in)).astype(dtype)
    a[a < -1] = 0
    w = rng.standard_normal((n_in, n_out)).astype(dtype)
    out = np.full((_dense.MR, n_out), 7.0, dtype)  # rows past n_rows: their own, to stay untouched
    panels = np.full(n_in * n_out, np.nan, dtype)  # a panel read but not packed shows as NaN
    _dense.pack(w, panels)
    rows = tuple(a[min(r, n_rows - 1)] for r in range(_dense.MR))
    outs = tuple(out[r] for r in range(_dense.MR))
    b = _dense.as_panels(panels, n_in, n_out) if packed else w
    n_panels = _dense.full_panels(n_out)
    spill = np.empty(_dense.MR * _dense.NR, dtype)
    done = n_panels * _dense.NR
    _dense.rows_times(rows, n_rows, n_in, b, packed, n_panels, done, outs, spill)
    assert (out[:, done:] == 7).all()  # the columns after the whole panels not written
    if done < n_out:
        rest = np.full((n_in, _dense.NR), np.nan, dtype)  # every entry written: past w's end zero
        _dense.rest_panel(w, done, rest)
        assert (rest[:, n_out - done :] == 0).all()
        _dense.rows_times(rows, n_rows, n_in, rest, packed, 1, n_out - done, tuple(o[done:] for o in outs), spill)
    want = a.astype(np.float64) @ w.astype(np.float64)
    bound = n_in * np.finfo(dtype).eps * (np.abs(a) @ np.abs(w)).astype(np.float64)  # a sum's rounding
    assert (np.abs(out[:n_rows] - want) <= bound).all()
    assert (out[n_rows:] == 7).all()


@pytest.mark.parametrize("kind", ["dense", "sparse", "mixed", "halves"])
@pytest.mark.parametrize("sizes, n", [([400, 128, 10], 100), ([400, 128, 10], 2 * cpu.FORWARD_TILE + 7),
                                      ([400, 800, 10], 20), ([400, 48, 10], 2 * cpu.FORWARD_TILE + 7)])
def test_forward_gives_the_same_bits_on_any_thread_count(rng, kind, sizes, n):
    """forward shares a call's rows out in tiles, cut smaller where it has
    less than a tile per thread, so the tiles (and the products their rows
    take: register blocks, cache-blocked or plain sums of nonzeros) differ
    with the thread count; the probabilities do not, to the bit, and match
    the float64 reference."""
    lay, params = random_network(rng, sizes, np.float32)
    x = _rows_like(rng, kind, n, sizes[0], np.float32)
    assert n * params.size >= cpu.POOL_WORK  # two threads share the call out
    if n <= cpu.FORWARD_TILE:
        assert cpu._tile_rows(n, 2) < n  # one tile on one thread, two on two
    net = network(lay, "relu", "softmax")
    got = {}
    for threads in (1, 2):
        out = np.full((n, sizes[-1]), np.nan, np.float32)
        cpu.forward(x, net, params, np.full_like(params, np.nan), out, threads)
        got[threads] = out
    np.testing.assert_array_equal(got[2].view(np.uint32), got[1].view(np.uint32))
    ws, bs = (list(map(lambda t: t.astype(float), v)) for v in lay.views(params))
    np.testing.assert_allclose(got[2], naive.forward(x.astype(float), ws, bs, "relu", "softmax")[-1], **TOL[np.float32])


@pytest.mark.parametrize("n", [40, cpu.PACK_ROWS + 5])
@pytest.mark.parametrize("width, products, blocks", [(cpu.NARROW, "default", True),
                                                     (cpu.SUMS_WIDE - 1, "default", True),
                                                     (cpu.SUMS_WIDE, "default", False),
                                                     (cpu.NARROW, "sparse", False)])
def test_prediction_sends_narrow_layers_to_the_blocks_whatever_their_zeros(rng, n, width, products, blocks):
    """A prediction's hidden layer narrower than SUMS_WIDE goes by register
    blocks even on rows 10 % nonzero, unless the products are forced to the
    sums; a layer SUMS_WIDE wide takes the sums there.  Told apart by an
    infinite weight row where every input is zero: a block multiplies it
    (0 * inf is NaN, which tanh keeps), the sums of nonzeros skip it."""
    lay, params = random_network(rng, [400, width, 10], np.float32)
    x = _rows_like(rng, "halves", 2 * n, 400, np.float32)[n:]  # the 10 %-nonzero half
    x[:, ::20] = 0
    lay.views(params)[0][0][::20] = np.inf
    out = np.empty((n, 10), np.float32)
    cpu.forward(x, network(lay, "tanh", "softmax", products), params, np.full_like(params, np.nan), out, 1)
    assert np.isnan(out).all() if blocks else np.isfinite(out).all()


@pytest.mark.parametrize("width", [cpu.NARROW + 8, 2 * _dense.NR + 8])
def test_training_sends_a_layer_to_the_blocks_only_with_a_whole_panel(rng, width):
    """Training's first layer of rows without zeros goes by register blocks
    (the weights packed, as a wide second layer makes them) only where it
    has a whole panel of NR columns: 40 outputs have one with AVX2 and none
    with AVX-512 (with AVX2, NARROW outputs always make a whole panel, so
    only an AVX-512 machine can see this fail).  Told apart as in the
    prediction's test: an infinite weight row under a column of zeros makes
    the blocks' loss NaN and leaves the sums' finite."""
    lay, params = random_network(rng, [60, width, 2 * _dense.NR + 8, 10], np.float32)
    x = rng.standard_normal((40, 60)).astype(np.float32)
    x[:, ::20] = 0
    lay.views(params)[0][0][::20] = np.inf
    _, loss, _ = _batch_grad(lay, params, x, rng.integers(0, 10, 40), "tanh", "softmax", 0.0, np.ones(40), 1,
                             "dense")
    assert np.isnan(loss) == (_dense.full_panels(width) > 0)


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("n", [1, 2, 4, 17, 100, cpu.FORWARD_TILE, 2 * cpu.FORWARD_TILE + 7, 1000])
def test_forward_tiles_give_each_thread_one(n, threads):
    """``_tile_rows``: FORWARD_TILE or a smaller multiple of MR; where the rows
    fit in one tile a thread, the smallest that gives no more tiles than
    threads; beyond, FORWARD_TILE."""
    tile = cpu._tile_rows(n, threads)
    assert _dense.MR <= tile <= cpu.FORWARD_TILE and (tile % _dense.MR == 0 or tile == cpu.FORWARD_TILE)
    tiles = -(-n // tile)
    if n <= threads * cpu.FORWARD_TILE:
        assert tiles <= threads
        assert tile == _dense.MR or -(-n // (tile - _dense.MR)) > threads  # none smaller would do
    else:
        assert tile == cpu.FORWARD_TILE


def _rows_like(rng, kind, n, n_in, dtype):
    """Rows with no zeros, rows 40 % nonzero, both in turn (the threads'
    shares of a batch then choose differently), or the first half with no
    zeros and the rest 10 % nonzero (so do tiles cut at different rows)."""
    x = rng.standard_normal((n, n_in)).astype(dtype)
    if kind != "dense":
        sparse = rng.random((n, n_in)) < (0.9 if kind == "halves" else 0.6)
        if kind == "mixed":
            sparse[::2] = False
        if kind == "halves":
            sparse[: n // 2] = False
        x[sparse] = 0
    return x


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("kind", ["dense", "sparse", "mixed"])
@pytest.mark.parametrize("sizes", [[400, 128, 10], [50, 70, 40, 10], [60, 2 * _dense.NR + _dense.NR // 2, 10],
                                   [400, cpu.SUMS_WIDE - 1, 10], [60, cpu.NARROW + 8, 96, 10]])
def test_dense_blocks_and_sums_of_nonzeros_give_the_same_bits(rng, dtype, threads, kind, sizes):
    """Forward, full-batch gradient and three minibatches of SGD, each the
    same to the bit whichever products the CPU takes: forced dense,
    forced sparse, or chosen by the rows' nonzeros (and, in a prediction,
    by the layer's width: the layers under SUMS_WIDE); minibatch inputs
    passed transposed or whole (``cpu._transposes``); the transposed-batch
    buffer left all zeros."""
    lay, params = random_network(rng, sizes, dtype)
    n, bs = 70, 24 if threads == 2 else 1  # with one thread, batches of one row
    many = _rows_like(rng, kind, max(cpu.PACK_ROWS + 5, cpu.POOL_WORK // params.size + 1), sizes[0], dtype)
    # forward packs the weights (PACK_ROWS), and shares the rows out (POOL_WORK) where threads == 2
    x = many[:n]
    y = rng.integers(0, sizes[-1], n)
    order = rng.permutation(n).astype(np.int64)
    results = {}
    for products in ("default", "dense", "sparse"):
        net = network(lay, "tanh", "softmax", products)
        proba = np.empty((len(many), sizes[-1]), dtype)
        cpu.forward(many, net, params, np.full_like(params, np.nan), proba, threads)  # scratch: NaN where not written
        few = np.empty((40, sizes[-1]), dtype)  # fewer than PACK_ROWS: the blocks read the weights in place
        cpu.forward(x[:40], net, params, np.full_like(params, np.nan), few, threads)
        work = workspace(net, bs, dtype, minibatches=True)
        work.panels[:] = np.nan
        grads, loss, _ = _batch_grad(lay, params, x, y, "tanh", "softmax", 0.01, np.ones(n), threads, products)
        p, s1 = params.copy(), np.zeros_like(params)
        trained = cpu.train_range(Data(x, y, np.ones(n)), order, bs, net, p, (s1, s1),
                                  Optimizer(SGD, 0.1, 0.9, 0.9, 0.999, 1e-8, 0.01, 0), work, threads)
        assert not work.xtbuf.any()
        results[products] = (proba, few, grads.copy(), loss, p, trained)
    for products in ("dense", "sparse"):
        for got, want in zip(results[products], results["default"]):
            if isinstance(got, np.ndarray):  # bits: -0.0 and 0.0 differ, a NaN is not equal to itself
                got, want = got.view(f"u{got.itemsize}"), want.view(f"u{want.itemsize}")
            np.testing.assert_array_equal(got, want, err_msg=products)
