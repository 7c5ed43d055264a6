"""Numba CPU kernels of the multilayer perceptron.

Conventions (as in scikit-learn's ``coefs_``): a layer maps ``n_in`` to
``n_out`` units with a weight matrix ``w`` of shape (n_in, n_out) and a bias
``b`` of shape (n_out,), so a batch ``a`` (m, n_in) goes to
``act(a @ w + b)`` (m, n_out).

All parameters live in one flat vector (``params``), as do their gradients
and the optimiser's state: each layer's ``w`` and ``b`` are views at offsets
given by ``w_off``/``b_off``.  Activations and deltas of a batch live in
flat buffers too, at offsets ``a_off``.  This lets a whole run of
minibatches stay inside one compiled call (:func:`train_range`).

Every ``prange`` writes a disjoint slice of its output and every sum runs
serially in a fixed order, so results do not depend on the thread count.
Kernels trust their inputs; ``fastdigits.model`` validates at the edge.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from .. import config
from . import RELU, SIGMOID, SOFTMAX, TANH

_serial = njit(cache=config.NUMBA_CACHE, fastmath=config.NUMBA_FASTMATH, nogil=True)
_parallel = njit(parallel=config.NUMBA_PARALLEL, cache=config.NUMBA_CACHE, fastmath=config.NUMBA_FASTMATH)

SGD, NESTEROV, ADAM = range(3)


# ----------------------------------------------------------- activations


@_serial
def _activate_row(z, act):
    """In place on one row: sigmoid 1/(1+e^-z), tanh, relu max(z, 0),
    softmax e^(z-max) / sum, identity."""
    n = z.shape[0]
    if act == SIGMOID:
        for j in range(n):
            z[j] = 1.0 / (1.0 + math.exp(-z[j]))
    elif act == TANH:
        for j in range(n):
            z[j] = math.tanh(z[j])
    elif act == RELU:
        for j in range(n):
            if z[j] < 0.0:
                z[j] = 0.0
    elif act == SOFTMAX:
        top = z[0]
        for j in range(1, n):
            top = max(top, z[j])
        total = 0.0
        for j in range(n):
            z[j] = math.exp(z[j] - top)
            total += z[j]
        for j in range(n):
            z[j] /= total


@_serial
def _derivative(a, act):
    """d act / dz written in terms of the activation's output a."""
    if act == SIGMOID:
        return a * (1.0 - a)
    if act == TANH:
        return 1.0 - a * a
    if act == RELU:
        return 1.0 if a > 0.0 else 0.0
    return 1.0


# --------------------------------------------------------------- forward


@_serial
def _dense_row(a_in, w, b, act, out, i):
    """One row of the dense layer: out[i] = act(a_in[i] @ w + b)."""
    n_in = a_in.shape[1]
    n_out = w.shape[1]
    row = out[i]
    for j in range(n_out):
        row[j] = b[j]
    for k in range(n_in):
        x = a_in[i, k]
        if x != 0.0:
            for j in range(n_out):
                row[j] += x * w[k, j]
    _activate_row(row, act)


@_parallel
def dense_forward(a_in, w, b, act, out):
    """out = act(a_in @ w + b): a_in (m, n_in), w (n_in, n_out), b (n_out,).

    Parallel over rows; zero inputs (most of a digit's pixels) are skipped.
    """
    for i in prange(a_in.shape[0]):
        _dense_row(a_in, w, b, act, out, i)


@_serial
def dense_forward_serial(a_in, w, b, act, out):
    """``dense_forward`` on the calling thread only: for a few rows, waking
    the thread pool costs more than the work."""
    for i in range(a_in.shape[0]):
        _dense_row(a_in, w, b, act, out, i)


# -------------------------------------------------------------- backward


@_parallel
def output_delta(out, y, act, scale, delta, loss_rows):
    """delta = scale * (out - onehot(y)), and each row's cross-entropy.

    The same delta serves softmax + cross-entropy and one-vs-all sigmoids +
    binary cross-entropy.  Row losses: softmax -log p[y]; sigmoid
    -sum_k [t_k log h_k + (1 - t_k) log(1 - h_k)].  Probabilities are
    clipped to [1e-15, 1] inside logs (float32 sigmoids reach exactly 1).
    """
    m, k = out.shape
    tiny = 1e-15
    for i in prange(m):
        loss = 0.0
        for j in range(k):
            h = out[i, j]
            t = 1.0 if j == y[i] else 0.0
            delta[i, j] = scale * (h - t)
            if j == y[i]:
                loss -= math.log(max(h, tiny))
            elif act == SIGMOID:
                loss -= math.log(max(1.0 - h, tiny))
        loss_rows[i] = loss


@_parallel
def hidden_delta(delta_next, w_next, a, act, delta):
    """delta = (delta_next @ w_next.T) * act'(a): the error sent back
    through w_next (n, n_next) to a layer with outputs a (m, n)."""
    m, n = a.shape
    n_next = w_next.shape[1]
    for i in prange(m):
        for k in range(n):
            s = 0.0
            for j in range(n_next):
                s += delta_next[i, j] * w_next[k, j]
            delta[i, k] = s * _derivative(a[i, k], act)


@_parallel
def weight_grad(a_t, delta, w, l2_scale, gw, gb):
    """gw = a_t @ delta + l2_scale * w;  gb = sum of delta over rows.

    ``a_t`` (n_in, m) is the layer's input batch transposed: a contiguous
    copy (as ``gather_rows`` makes of the input layer, measured 1.4x faster
    than reading the batch column-wise) or a ``.T`` view.  Parallel over
    the rows of gw (the inputs); each sums over the batch.
    """
    n_in, m = a_t.shape
    n_out = delta.shape[1]
    for k in prange(n_in):
        row = gw[k]
        for j in range(n_out):
            row[j] = l2_scale * w[k, j]
        for i in range(m):
            x = a_t[k, i]
            if x != 0.0:
                for j in range(n_out):
                    row[j] += x * delta[i, j]
    for j in prange(n_out):
        s = 0.0
        for i in range(m):
            s += delta[i, j]
        gb[j] = s


# ------------------------------------------------------------ optimisers


@_parallel
def sgd_step(params, grads, velocity, lr, momentum, nesterov):
    """v = momentum v - lr g;  p += v  (Nesterov: p += momentum v - lr g)."""
    for i in prange(params.shape[0]):
        v = momentum * velocity[i] - lr * grads[i]
        velocity[i] = v
        if nesterov:
            params[i] += momentum * v - lr * grads[i]
        else:
            params[i] += v


@_parallel
def adam_step(params, grads, m1, m2, lr_t, beta1, beta2, eps):
    """Adam (Kingma & Ba): moments m1, m2; lr_t carries the bias correction."""
    for i in prange(params.shape[0]):
        g = grads[i]
        m1[i] = beta1 * m1[i] + (1.0 - beta1) * g
        m2[i] = beta2 * m2[i] + (1.0 - beta2) * g * g
        params[i] -= lr_t * m1[i] / (math.sqrt(m2[i]) + eps)


# ----------------------------------------------------------- whole passes


@_serial
def _layer(flat, off, rows, cols):
    return flat[off : off + rows * cols].reshape((rows, cols))


@_serial
def forward(x, sizes, w_off, b_off, hidden_act, out_act, params, acts, out, serial=False):
    """Probabilities of the rows of x into out (m, n_classes); ``acts`` is
    scratch for the hidden layers (m * sum of hidden sizes).  ``serial``
    keeps the work on the calling thread (no pool, safe from any thread)."""
    m = x.shape[0]
    n_layers = sizes.shape[0] - 1
    a_prev = x
    a_off = 0
    for layer in range(n_layers):
        n_in, n_out = sizes[layer], sizes[layer + 1]
        w = _layer(params, w_off[layer], n_in, n_out)
        b = params[b_off[layer] : b_off[layer] + n_out]
        last = layer == n_layers - 1
        a = out if last else _layer(acts, a_off, m, n_out)
        if serial:
            dense_forward_serial(a_prev, w, b, out_act if last else hidden_act, a)
        else:
            dense_forward(a_prev, w, b, out_act if last else hidden_act, a)
        a_prev = a
        a_off += m * n_out


@_serial
def batch_grad(xb, xb_t, yb, sizes, w_off, b_off, hidden_act, out_act, params, l2_scale, grads, acts, deltas,
               loss_rows):
    """Forward and backward pass of one batch ``xb`` (its transpose
    ``xb_t``, a copy or a view, serves the input layer's weight gradient).

    Fills ``grads`` with the gradient of
    ``mean cross-entropy + (l2_scale / 2) * sum W**2`` and returns
    ``(sum of row losses, number of rows predicted right)``.
    ``acts``/``deltas`` need room for m * sum(sizes[1:]) values.
    """
    m = xb.shape[0]
    n_layers = sizes.shape[0] - 1
    n_classes = sizes[n_layers]
    # Hidden activations first, layer after layer, then the output's.
    a_off = m * (sizes[1:].sum() - n_classes)
    out = _layer(acts, a_off, m, n_classes)
    forward(xb, sizes, w_off, b_off, hidden_act, out_act, params, acts, out)
    delta = _layer(deltas, a_off, m, n_classes)
    output_delta(out, yb, out_act, 1.0 / m, delta, loss_rows[:m])
    correct = 0
    loss = 0.0
    for i in range(m):
        loss += loss_rows[i]
        best = 0
        for j in range(1, n_classes):
            if out[i, j] > out[i, best]:
                best = j
        correct += best == yb[i]
    for layer in range(n_layers - 1, -1, -1):
        n_in, n_out = sizes[layer], sizes[layer + 1]
        w = _layer(params, w_off[layer], n_in, n_out)
        a_in = xb if layer == 0 else _layer(acts, a_off - m * n_in, m, n_in)
        weight_grad(xb_t if layer == 0 else a_in.T, delta, w, l2_scale, _layer(grads, w_off[layer], n_in, n_out),
                    grads[b_off[layer] : b_off[layer] + n_out])
        if layer > 0:
            a_off -= m * n_in
            prev_delta = _layer(deltas, a_off, m, n_in)
            hidden_delta(delta, w, a_in, hidden_act, prev_delta)
            delta = prev_delta
    return loss, correct


@_parallel
def gather_rows(x, order, start, out, out_t):
    """out[i] = x[order[start + i]] for the rows of out, and out_t = out.T."""
    m, n = out.shape
    for i in prange(m):
        out[i] = x[order[start + i]]
    for k in prange(n):
        for i in range(m):
            out_t[k, i] = out[i, k]


@_serial
def train_range(x, y, order, start, stop, batch_size, sizes, w_off, b_off, hidden_act, out_act,
                params, grads, state1, state2, optimizer, lr, momentum, beta1, beta2, eps, step,
                l2_scale, xbuf, xtbuf, ybuf, acts, deltas, loss_rows):
    """Run the minibatches ``order[start:stop]`` (in steps of batch_size)
    through ``batch_grad`` and the optimiser, without returning to Python.

    ``step`` counts optimiser steps so far (for Adam's bias correction);
    ``xtbuf`` is flat room for a transposed batch (n_in * batch_size).
    Returns ``(loss sum, right predictions, steps taken)``.
    """
    loss = 0.0
    correct = 0
    steps = 0
    pos = start
    while pos < stop:
        m = min(batch_size, stop - pos)
        xb = xbuf[:m]
        xb_t = xtbuf[: xb.shape[1] * m].reshape((xb.shape[1], m))
        yb = ybuf[:m]
        gather_rows(x, order, pos, xb, xb_t)
        for i in range(m):
            yb[i] = y[order[pos + i]]
        batch_loss, batch_correct = batch_grad(xb, xb_t, yb, sizes, w_off, b_off, hidden_act, out_act, params,
                                               l2_scale, grads, acts, deltas, loss_rows)
        loss += batch_loss
        correct += batch_correct
        steps += 1
        if optimizer == ADAM:
            t = step + steps
            lr_t = lr * math.sqrt(1.0 - beta2**t) / (1.0 - beta1**t)
            adam_step(params, grads, state1, state2, lr_t, beta1, beta2, eps)
        else:
            sgd_step(params, grads, state1, lr, momentum, optimizer == NESTEROV)
        pos += m
    return loss, correct, steps


# ---------------------------------------------------------- augmentation


@_serial
def _grid_weights(size, grid):
    """For each of ``size`` pixel centres: the coarse-grid cell it falls in
    (``grid`` points spanning the frame) and its fraction across the cell."""
    cell = np.empty(size, np.int64)
    frac = np.empty(size)
    for i in range(size):
        g = (i + 0.5) / size * (grid - 1)
        cell[i] = min(int(g), grid - 2)
        frac[i] = g - cell[i]
    return cell, frac


@_parallel
def warp_frames(frames, affine, field, out):
    """Augmented copies of square frames (N, S, S) into out.

    Output pixel p (relative to the frame centre) samples the input, with
    bilinear interpolation and zero outside, at ``A p + t + e(p)``:
    ``affine[n] = (a, b, c, d, ty, tx)`` gives ``A = [[a, b], [c, d]]`` and
    t; ``field[n]`` (G, G, 2) holds the elastic displacement e on a coarse
    grid over the frame, interpolated bilinearly (a smooth random field,
    as in Simard et al. 2003).
    """
    n_frames, size, _ = frames.shape
    cell, frac = _grid_weights(size, field.shape[1])
    half = size / 2.0
    for n in prange(n_frames):
        # Zero border of one pixel: every bilinear tap is then in bounds.
        padded = np.zeros((size + 2, size + 2), frames.dtype)
        padded[1 : size + 1, 1 : size + 1] = frames[n]
        a, b, c, d, ty, tx = affine[n, 0], affine[n, 1], affine[n, 2], affine[n, 3], affine[n, 4], affine[n, 5]
        f = field[n]
        for y in range(size):
            gy, uy = cell[y], frac[y]
            py = y + 0.5 - half
            for x in range(size):
                gx, ux = cell[x], frac[x]
                w00, w01 = (1 - uy) * (1 - ux), (1 - uy) * ux
                w10, w11 = uy * (1 - ux), uy * ux
                ey = w00 * f[gy, gx, 0] + w01 * f[gy, gx + 1, 0] + w10 * f[gy + 1, gx, 0] + w11 * f[gy + 1, gx + 1, 0]
                ex = w00 * f[gy, gx, 1] + w01 * f[gy, gx + 1, 1] + w10 * f[gy + 1, gx, 1] + w11 * f[gy + 1, gx + 1, 1]
                px = x + 0.5 - half
                # source position in the padded frame's index space
                sy = a * py + b * px + ty + ey + half + 0.5
                sx = c * py + d * px + tx + ex + half + 0.5
                if sy < 0.0 or sx < 0.0 or sy >= size + 1.0 or sx >= size + 1.0:
                    out[n, y, x] = 0.0
                    continue
                y0 = int(sy)
                x0 = int(sx)
                vy = sy - y0
                vx = sx - x0
                out[n, y, x] = ((1 - vy) * ((1 - vx) * padded[y0, x0] + vx * padded[y0, x0 + 1])
                                + vy * ((1 - vx) * padded[y0 + 1, x0] + vx * padded[y0 + 1, x0 + 1]))
