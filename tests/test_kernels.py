"""Every CPU kernel against the float64 textbook reference in naive.py."""

from __future__ import annotations

import numpy as np
import pytest

import naive
from fastdigits.kernels import HIDDEN_ACTIVATIONS, OUTPUTS, RELU, SIGMOID, SOFTMAX, TANH, cpu
from fastdigits.model import _Layout

AWKWARD = [1, 7, 33]
TOL = {np.float64: dict(rtol=1e-12, atol=1e-12), np.float32: dict(rtol=2e-5, atol=2e-6)}
ACT = {**HIDDEN_ACTIVATIONS, "softmax": SOFTMAX}


def _layer_inputs(rng, m, n_in, n_out, dtype):
    a = rng.standard_normal((m, n_in)).astype(dtype)
    a[a < -0.5] = 0  # exercise the zero-skipping path
    w = (rng.standard_normal((n_in, n_out)) / np.sqrt(n_in)).astype(dtype)
    b = rng.standard_normal(n_out).astype(dtype)
    return a, w, b


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("act", ["sigmoid", "tanh", "relu", "identity", "softmax"])
@pytest.mark.parametrize("m, n_in, n_out", [(1, 1, 1), (7, 33, 1), (33, 7, 33), (5, 400, 25)])
def test_dense_forward(rng, dtype, act, m, n_in, n_out):
    a, w, b = _layer_inputs(rng, m, n_in, n_out, dtype)
    out = np.full((m, n_out), np.nan, dtype)
    cpu.dense_forward(a, w, b, ACT[act], out)
    z = a.astype(float) @ w.astype(float) + b.astype(float)
    want = naive.softmax(z) if act == "softmax" else naive.ACTIVATIONS[act][0](z)
    np.testing.assert_allclose(out, want, **TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("act", ["softmax", "sigmoid"])
@pytest.mark.parametrize("m, k", [(1, 2), (7, 10), (33, 3)])
def test_output_delta_and_row_losses(rng, dtype, act, m, k):
    z = rng.standard_normal((m, k))
    h = (naive.softmax(z) if act == "softmax" else naive.sigmoid(z)).astype(dtype)
    y = rng.integers(0, k, m)
    delta, rows = np.empty((m, k), dtype), np.empty(m)
    cpu.output_delta(h, y, OUTPUTS[act], 1.0 / m, delta, rows)
    t = np.eye(k)[y]
    hf = h.astype(float)
    np.testing.assert_allclose(delta, (hf - t) / m, **TOL[dtype])
    if act == "softmax":
        want = -np.log(hf[np.arange(m), y])
    else:
        want = -(t * np.log(hf) + (1 - t) * np.log(1 - hf)).sum(axis=1)
    np.testing.assert_allclose(rows, want, rtol=1e-6 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("act", ["sigmoid", "tanh", "relu", "identity"])
@pytest.mark.parametrize("m, n, n_next", [(1, 1, 1), (7, 33, 10), (33, 7, 1)])
def test_hidden_delta(rng, dtype, act, m, n, n_next):
    a = naive.ACTIVATIONS[act][0](rng.standard_normal((m, n))).astype(dtype)
    w_next = rng.standard_normal((n, n_next)).astype(dtype)
    delta_next = rng.standard_normal((m, n_next)).astype(dtype)
    delta = np.empty((m, n), dtype)
    cpu.hidden_delta(delta_next, w_next, a, HIDDEN_ACTIVATIONS[act], delta)
    want = (delta_next.astype(float) @ w_next.astype(float).T) * naive.ACTIVATIONS[act][1](a.astype(float))
    np.testing.assert_allclose(delta, want, **TOL[dtype])


@pytest.mark.parametrize("transposed_copy", [True, False])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("m, n_in, n_out", [(1, 1, 1), (7, 33, 10), (33, 7, 1), (32, 400, 25)])
def test_weight_grad(rng, dtype, m, n_in, n_out, transposed_copy):
    a, w, _ = _layer_inputs(rng, m, n_in, n_out, dtype)
    delta = rng.standard_normal((m, n_out)).astype(dtype)
    gw, gb = np.empty((n_in, n_out), dtype), np.empty(n_out, dtype)
    cpu.weight_grad(np.ascontiguousarray(a.T) if transposed_copy else a.T, delta, w, 0.25, gw, gb)
    np.testing.assert_allclose(gw, a.astype(float).T @ delta.astype(float) + 0.25 * w.astype(float), **TOL[dtype])
    np.testing.assert_allclose(gb, delta.astype(float).sum(axis=0), **TOL[dtype])


def test_sgd_and_nesterov_steps(rng):
    p, g, v = rng.standard_normal((3, 33))
    for nesterov in (False, True):
        p1, v1 = p.copy(), v.copy()
        cpu.sgd_step(p1, g, v1, 0.1, 0.9, nesterov)
        v_want = 0.9 * v - 0.1 * g
        np.testing.assert_allclose(v1, v_want)
        np.testing.assert_allclose(p1, p + (0.9 * v_want - 0.1 * g if nesterov else v_want))


def test_adam_step(rng):
    p, g, m1, m2 = rng.standard_normal((4, 7))
    m2 = np.abs(m2)
    p1, a, b = p.copy(), m1.copy(), m2.copy()
    cpu.adam_step(p1, g, a, b, 0.01, 0.9, 0.999, 1e-8)
    a_want, b_want = 0.9 * m1 + 0.1 * g, 0.999 * m2 + 0.001 * g * g
    np.testing.assert_allclose(a, a_want)
    np.testing.assert_allclose(b, b_want)
    np.testing.assert_allclose(p1, p - 0.01 * a_want / (np.sqrt(b_want) + 1e-8))


def _network(rng, sizes, dtype=np.float64):
    lay = _Layout.of(sizes)
    params = rng.standard_normal(lay.n_params).astype(dtype) * 0.5
    return lay, params


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("act", ["sigmoid", "tanh", "relu"])
@pytest.mark.parametrize("output", ["softmax", "sigmoid"])
@pytest.mark.parametrize("sizes", [[5, 3], [7, 1, 2], [33, 7, 5, 10]])
def test_batch_grad_matches_backprop(rng, dtype, act, output, sizes):
    lay, params = _network(rng, sizes, dtype)
    m = 7
    x = rng.random((m, sizes[0])).astype(dtype)
    y = rng.integers(0, sizes[-1], m)
    width = sum(sizes[1:])
    grads = np.empty_like(params)
    l2 = 0.3
    loss, correct = cpu.batch_grad(
        x, x.T, y, lay.sizes, lay.w_off, lay.b_off, HIDDEN_ACTIVATIONS[act], OUTPUTS[output], params, l2 / m, grads,
        np.empty(m * width, dtype), np.empty(m * width, dtype), np.empty(m),
    )
    ws, bs = (list(map(lambda t: t.astype(float), v)) for v in lay.views(params))
    nabla_w, nabla_b = naive.backprop(x, y, ws, bs, act, output, l2)
    gw, gb = lay.views(grads)
    tol = dict(rtol=1e-10, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-4, atol=1e-6)
    for got, want in zip(gw + gb, nabla_w + nabla_b):
        np.testing.assert_allclose(got, want, **tol)
    want_loss = naive.loss(x, y, ws, bs, act, output) * m
    np.testing.assert_allclose(loss, want_loss, rtol=1e-10 if dtype == np.float64 else 1e-5)
    h = naive.forward(x, ws, bs, act, output)[-1]
    assert correct == int((h.argmax(1) == y).sum())


@pytest.mark.parametrize("serial", [False, True])
@pytest.mark.parametrize("m", [1, 7, 33])
def test_forward_matches_reference(rng, m, serial):
    sizes = [20, 9, 4, 3]
    lay, params = _network(rng, sizes)
    x = rng.random((m, 20))
    out = np.empty((m, 3))
    cpu.forward(x, lay.sizes, lay.w_off, lay.b_off, TANH, SIGMOID, params, np.empty(m * 13), out, serial)
    ws, bs = lay.views(params)
    np.testing.assert_allclose(out, naive.forward(x, ws, bs, "tanh", "sigmoid")[-1], rtol=1e-12)


def test_no_kernel_is_compiled_twice_from_one_function():
    # Two dispatchers made from one Python function share one on-disk cache
    # entry, so one silently runs the other's machine code (a "serial"
    # kernel once loaded the parallel build this way).
    import numba

    functions = [v.py_func for v in vars(cpu).values() if isinstance(v, numba.core.registry.CPUDispatcher)]
    assert len(functions) == len(set(functions))


@pytest.mark.parametrize("threads", [1, 2])
def test_train_range_is_sgd_over_batches(rng, threads):
    """One compiled call over 3 minibatches equals 3 reference SGD steps."""
    import numba

    sizes = [6, 5, 3]
    lay, params = _network(rng, sizes)
    x, y = rng.random((10, 6)), rng.integers(0, 3, 10)
    order = rng.permutation(10).astype(np.int64)
    bs, width = 4, 8
    p, v = params.copy(), np.zeros_like(params)
    before = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        loss, correct, steps = cpu.train_range(
            x, y, order, 0, 10, bs, lay.sizes, lay.w_off, lay.b_off, RELU, SOFTMAX, p, np.empty_like(p), v,
            np.zeros_like(p), cpu.SGD, 0.5, 0.9, 0.9, 0.999, 1e-8, 0, 0.1, np.empty((bs, 6)), np.empty(bs * 6),
            np.empty(bs, np.int64),
            np.empty(bs * width), np.empty(bs * width), np.empty(bs),
        )
    finally:
        numba.set_num_threads(before)
    assert steps == 3
    q, vel = params.copy(), np.zeros_like(params)
    for lo in (0, 4, 8):
        idx = order[lo : lo + bs]
        ws, bs_ = lay.views(q)
        nw, nb = naive.backprop(x[idx], y[idx], ws, bs_, "relu", "softmax")
        grad = np.concatenate([np.concatenate([w.ravel(), b]) for w, b in zip(nw, nb)])
        grad += 0.1 * np.concatenate([np.concatenate([w.ravel(), np.zeros_like(b)]) for w, b in zip(ws, bs_)])
        vel = 0.9 * vel - 0.5 * grad
        q = q + vel
    np.testing.assert_allclose(p, q, rtol=1e-11, atol=1e-12)
