"""numba.cuda twins of the CPU kernels, for an NVIDIA GPU.

The entry points have the CPU module's names and signatures (``forward``,
``batch_grad``, ``train_range``) and use the same flat layouts: all
parameters in one vector, each layer's ``w`` (n_in, n_out) and ``b`` at
``w_off``/``b_off``, and a batch's activations and deltas in one (m, n_out)
block per layer.  Arrays may be NumPy arrays, copied to the GPU for the call
(and the outputs back), or device arrays (``to_device``), which stay there:
a fit keeps its data and weights on the GPU and only its loss comes back.

A minibatch is the CPU's two passes:

- ``_rows_pass``: a block per batch row (rows b, b + blocks, ... when there
  are more rows than blocks) takes it forward through every layer, a
  layer's units spread over the block's threads, then works out the output
  delta and sends it back through every layer.  No row needs another's, so
  a block only waits for its own threads between layers.
- ``_weights_pass``: a thread per parameter sums its gradient over the
  batch rows (``a[:, k] @ delta[:, j]`` for weight (k, j), ``sum
  delta[:, j]`` for bias j) and takes the optimiser's step on it.

``_train`` runs a whole chunk of minibatches in one launch, the grid
waiting for itself after each pass (a cooperative launch: every block must
be resident at once); ``_rows`` and ``_weights`` launch a pass each, for
``forward``, ``batch_grad`` and, where the cooperative launch is refused
or ``config.CUDA_FUSED`` is off, training.  One launch per chunk trained
2.2 times as fast at batch 128 on an H200 (``benchmarks/bench_cuda.py``).

Each thread sums in a fixed order, so results do not depend on the launch
shape.  Unlike the CPU's, the sums do not skip zero inputs: on the GPU a
thread's time goes in waiting for memory, so each keeps four loads in
flight instead (``_dot``).  Kernels trust their inputs;
``fastdigits.model`` validates at the edge.
"""

from __future__ import annotations

import contextlib
import math
import warnings

import numpy as np
from numba import cuda

from .. import config
from . import ADAM, GRADIENT, NESTEROV, RELU, SIGMOID, SOFTMAX, TANH, derivative, step_rate

_kernel = cuda.jit(cache=config.NUMBA_CACHE)
_device = cuda.jit(device=True)


def available() -> bool:
    """Whether numba finds a usable CUDA GPU (or runs the simulator)."""
    try:
        return bool(cuda.is_available())
    except Exception:  # a broken driver install reads as no GPU
        return False


def is_device_array(a) -> bool:
    return hasattr(a, "copy_to_host")


def to_device(a):
    """``a`` on the GPU: a device array as it is, else a copy of it."""
    return a if is_device_array(a) else cuda.to_device(np.ascontiguousarray(a))


def _back(host, dev) -> None:
    """Copy an output the caller passed as a NumPy array back into it."""
    if not is_device_array(host):
        dev.copy_to_host(host)


# ------------------------------------------------------ per-value functions


@_device
def _activate(z, act):
    """sigmoid 1/(1+e^-z), tanh, relu max(z, 0); identity (and softmax,
    done per row by ``_output_row``) leave z."""
    if act == SIGMOID:
        if z >= 0:
            return 1.0 / (1.0 + math.exp(-z))
        e = math.exp(z)
        return e / (1.0 + e)
    if act == TANH:
        return math.tanh(z)
    if act == RELU:
        return max(z, 0.0)
    return z


_derivative = _device(derivative)
_step_rate = _device(step_rate)


@_device
def _step(opt, g, params, p, decay, grads, state1, state2, lr, momentum, beta1, beta2, eps):
    """With g the loss gradient of params[p] without its L2 term: add
    decay * params[p], then store it in grads (``GRADIENT``) or step, as
    ``cpu._step_row`` does:

    - SGD: v = momentum v - lr g;  p += v  (Nesterov: p += momentum v - lr g)
    - Adam: moments m1, m2; ``lr`` already carries the bias correction.
    """
    w = params[p]
    full = g + decay * w
    if opt == GRADIENT:
        grads[p] = full
    elif opt == ADAM:
        state1[p] = beta1 * state1[p] + (1.0 - beta1) * full
        state2[p] = beta2 * state2[p] + (1.0 - beta2) * full * full
        params[p] = w - lr * state1[p] / (math.sqrt(state2[p]) + eps)
    else:
        v = momentum * state1[p] - lr * full
        state1[p] = v
        params[p] = w + (momentum * v - lr * full if opt == NESTEROV else v)


@_device
def _dot(acc, a, a0, a_step, b, b0, b_step, n):
    """acc + sum over k < n of a[a0 + k a_step] * b[b0 + k b_step], in four
    running sums: a thread then has four loads in flight, not one (its
    time is the memory's latency, not arithmetic).  Terms are not skipped
    where a is zero: a branch would keep the loads from going ahead, and
    the GPU's caches have bandwidth to spare.  Finite inputs assumed (the
    extra sums start at ``acc * 0``)."""
    s1 = acc * 0
    s2 = s1
    s3 = s1
    k = 0
    while k + 4 <= n:
        i, j = a0 + k * a_step, b0 + k * b_step
        acc += a[i] * b[j]
        s1 += a[i + a_step] * b[j + b_step]
        s2 += a[i + 2 * a_step] * b[j + 2 * b_step]
        s3 += a[i + 3 * a_step] * b[j + 3 * b_step]
        k += 4
    while k < n:
        acc += a[a0 + k * a_step] * b[b0 + k * b_step]
        k += 1
    return (acc + s1) + (s2 + s3)


# --------------------------------------------------------------- rows pass


@_device
def _dense_row(src, base, n_in, params, w_off, b_off, n_out, act, dst, out, t, nt):
    """dst[out + j] = act(b[j] + sum_k src[base + k] w[k, j]) for this
    thread's units j = t, t + nt, ...: neighbouring threads read
    neighbouring weights of a row of w."""
    for j in range(t, n_out, nt):
        z = _dot(params[b_off + j], src, base, 1, params, w_off + j, n_out, n_in)
        dst[out + j] = _activate(z, act)


@_device
def _output_row(acts, out, n, label, act, scale, deltas, backward):
    """Softmax of the row acts[out : out + n] in place (for ``SOFTMAX``);
    with ``backward``, its delta ``scale * (h - t)`` (t: onehot(label), or
    for a label < 0 the no-class target of ``cpu._output_delta_row``) into deltas
    at the same place.  Returns the row's cross-entropy and whether its most
    probable class is the label (as ``cpu._output_delta_row``)."""
    if act == SOFTMAX:
        top = acts[out]
        for j in range(1, n):
            top = max(top, acts[out + j])
        total = 0.0
        for j in range(n):
            e = math.exp(acts[out + j] - top)
            acts[out + j] = e
            total += e
        for j in range(n):
            acts[out + j] /= total
    loss = 0.0
    best = 0
    if backward:
        uniform = label < 0 and act != SIGMOID  # a row of no class: 1/n each (``cpu._output_delta_row``)
        for j in range(n):
            h = acts[out + j]
            if h > acts[out + best]:
                best = j
            if j == label:
                deltas[out + j] = scale * (h - 1.0)
                loss -= math.log(max(h, 1e-15))
            elif uniform:
                deltas[out + j] = scale * (h - 1.0 / n)
                loss -= math.log(max(h, 1e-15)) / n
            else:
                deltas[out + j] = scale * h
                if act == SIGMOID:
                    loss -= math.log(max(1.0 - h, 1e-15))
    return loss, best == label


@_device
def _delta_row(deltas, nxt, n_next, params, w_off, acts, cur, n, act, t, nt):
    """deltas[cur + k] = (sum_j deltas[nxt + j] w[k, j]) act'(acts[cur + k])
    for this thread's units k: the error sent back through w (n, n_next)."""
    for k in range(t, n, nt):
        row = w_off + k * n_next
        s = _dot(deltas[nxt] * params[row], deltas, nxt + 1, 1, params, row + 1, 1, n_next - 1)
        deltas[cur + k] = s * _derivative(acts[cur + k], act)


@_device
def _rows_pass(x, order, pos, indirect, m, y, sizes, w_off, b_off, hidden_act, out_act, params, scale, xb, acts,
               deltas, loss_rows, right_rows, backward, accumulate):
    """This block's batch rows i = block, block + blocks, ... (of m) through
    the network: row x[order[pos + i]] (``indirect``; copied to xb[i] for
    the weights pass) or x[pos + i] of the flat (N * n_in) x, activations
    into the blocks of acts; with ``backward`` the deltas too, and each
    row's loss and rightness into (``accumulate``: added to) loss_rows[i]
    and right_rows[i]."""
    t = cuda.threadIdx.x
    nt = cuda.blockDim.x
    n_layers = sizes.shape[0] - 1
    n_in = sizes[0]
    for i in range(cuda.blockIdx.x, m, cuda.gridDim.x):
        r = order[pos + i] if indirect else pos + i
        src = x
        base = r * n_in
        if indirect:
            for k in range(t, n_in, nt):
                xb[i * n_in + k] = x[base + k]
            cuda.syncthreads()
            src = xb
            base = i * n_in
        block = 0
        for layer in range(n_layers):
            n_out = sizes[layer + 1]
            out = block + i * n_out
            act = out_act if layer == n_layers - 1 else hidden_act
            _dense_row(src, base, sizes[layer], params, w_off[layer], b_off[layer], n_out, act, acts, out, t, nt)
            cuda.syncthreads()
            src = acts
            base = out
            block += m * n_out
        if t == 0:
            loss, right = _output_row(acts, base, sizes[n_layers], y[r] if backward else 0, out_act, scale, deltas,
                                      backward)
            if backward:
                if accumulate:
                    loss_rows[i] += loss
                    right_rows[i] += right
                else:
                    loss_rows[i] = loss
                    right_rows[i] = right
        cuda.syncthreads()
        if backward:
            block -= m * sizes[n_layers]
            for layer in range(n_layers - 1, 0, -1):
                n, n_next = sizes[layer], sizes[layer + 1]
                prev = block - m * n
                _delta_row(deltas, block + i * n_next, n_next, params, w_off[layer], acts, prev + i * n, n,
                           hidden_act, t, nt)
                cuda.syncthreads()
                block = prev


# ------------------------------------------------------------ weights pass


@_device
def _weights_pass(xb, m, sizes, w_off, b_off, params, acts, deltas, l2_scale, opt, grads, state1, state2, lr,
                  momentum, beta1, beta2, eps):
    """Parameters p = thread, thread + threads, ... (over the grid): the
    gradient of params[p] over the batch's m rows, then ``_step`` on it
    (weights get the L2 term ``l2_scale * w``, biases none).  The first
    layer's inputs are the rows of xb (m * n_in), the others' the previous
    layer's block of acts."""
    n_layers = sizes.shape[0] - 1
    total = b_off[n_layers - 1] + sizes[n_layers]
    for p in range(cuda.grid(1), total, cuda.gridsize(1)):
        layer = 0
        block = 0
        while layer + 1 < n_layers and p >= w_off[layer + 1]:
            block += m * sizes[layer + 1]
            layer += 1
        n_in, n_out = sizes[layer], sizes[layer + 1]
        if p >= b_off[layer]:
            j = p - b_off[layer]
            g = deltas[block + j]
            for i in range(1, m):
                g += deltas[block + i * n_out + j]
            _step(opt, g, params, p, 0.0, grads, state1, state2, lr, momentum, beta1, beta2, eps)
        else:
            k = (p - w_off[layer]) // n_out
            j = p - w_off[layer] - k * n_out
            src = xb
            at = k
            if layer > 0:
                src = acts
                at = block - m * n_in + k
            g = _dot(src[at] * deltas[block + j], src, at + n_in, n_in, deltas, block + n_out + j, n_out, m - 1)
            _step(opt, g, params, p, l2_scale, grads, state1, state2, lr, momentum, beta1, beta2, eps)


# ----------------------------------------------------------------- kernels


@_kernel
def _rows(x, order, pos, indirect, m, y, sizes, w_off, b_off, hidden_act, out_act, params, scale, xb, acts, deltas,
          loss_rows, right_rows, backward, accumulate):
    """``_rows_pass`` as a launch of its own."""
    _rows_pass(x, order, pos, indirect, m, y, sizes, w_off, b_off, hidden_act, out_act, params, scale, xb, acts,
               deltas, loss_rows, right_rows, backward, accumulate)


@_kernel
def _weights(xb, m, sizes, w_off, b_off, params, acts, deltas, l2_scale, opt, grads, state1, state2, lr, momentum,
             beta1, beta2, eps):
    """``_weights_pass`` as a launch of its own."""
    _weights_pass(xb, m, sizes, w_off, b_off, params, acts, deltas, l2_scale, opt, grads, state1, state2, lr,
                  momentum, beta1, beta2, eps)


@_kernel
def _train(x, y, order, start, stop, batch_size, sizes, w_off, b_off, hidden_act, out_act, params, state1, state2,
           opt, lr, momentum, beta1, beta2, eps, step, l2_scale, xb, acts, deltas, loss_rows, right_rows):
    """Every minibatch of ``order[start:stop]`` in one launch: each batch's
    rows pass and weights pass, with the whole grid waiting for the last
    block between them (a cooperative launch: every block is resident)."""
    grid = cuda.cg.this_grid()
    pos = start
    steps = 0
    while pos < stop:
        m = min(batch_size, stop - pos)
        steps += 1
        lr_t = _step_rate(opt, lr, beta1, beta2, step + steps)
        _rows_pass(x, order, pos, True, m, y, sizes, w_off, b_off, hidden_act, out_act, params, 1.0 / m, xb, acts,
                   deltas, loss_rows, right_rows, True, steps > 1)
        grid.sync()
        _weights_pass(xb, m, sizes, w_off, b_off, params, acts, deltas, l2_scale, opt, params, state1, state2, lr_t,
                      momentum, beta1, beta2, eps)
        grid.sync()
        pos += m


# ------------------------------------------------------------- entry points


def _rows_launch(m):
    return _rows[max(1, min(m, config.CUDA_ROW_BLOCKS)), config.CUDA_ROW_THREADS]


def _weights_launch(n_params):
    threads = config.CUDA_WEIGHT_THREADS
    return _weights[max(1, -(-n_params // threads)), threads]


#: Small arrays that never change, on the GPU: layouts and placeholders.
_CONSTANTS: dict = {}


def _layout(a):
    """The small int64 layout arrays (sizes, offsets) on the GPU, uploaded
    once per distinct content rather than at every call."""
    if is_device_array(a):
        return a
    a = np.asarray(a, np.int64)
    key = a.tobytes()
    if key not in _CONSTANTS:
        _CONSTANTS[key] = cuda.to_device(a)
    return _CONSTANTS[key]


def _nothing(dtype):
    """A one-value placeholder for the arrays a launch does not use."""
    key = ("nothing", np.dtype(dtype).str)
    if key not in _CONSTANTS:
        _CONSTANTS[key] = cuda.to_device(np.zeros(1, dtype))
    return _CONSTANTS[key]


@contextlib.contextmanager
def _quiet():
    """Small grids (a block per batch row) are intended: no occupancy warnings."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*under-utilization")
        yield


def forward(x, sizes, w_off, b_off, hidden_act, out_act, params, params_t, out, chunks):
    """Probabilities of the rows of x (m, n_in) into out (m, n_classes), as
    ``cpu.forward``; ``params_t`` and ``chunks`` are unused."""
    m = x.shape[0]
    if m == 0:
        return
    sizes_h = np.asarray(sizes.copy_to_host() if is_device_array(sizes) else sizes)
    width = int(sizes_h[1:].sum())
    d_x = to_device(x).ravel()
    acts = cuda.device_array(m * width, d_x.dtype)
    with _quiet():
        _rows_launch(m)(d_x, _nothing(np.int64), 0, False, m, _nothing(np.int64), _layout(sizes), _layout(w_off),
                        _layout(b_off), hidden_act, out_act, to_device(params), 1.0, d_x, acts, acts,
                        _nothing(np.float64), _nothing(np.int64), False, False)
    probabilities = acts[m * (width - int(sizes_h[-1])):]
    if is_device_array(out):
        out.ravel().copy_to_device(probabilities)
    else:
        out[...] = probabilities.copy_to_host().reshape(out.shape)


def batch_grad(x, y, sizes, w_off, b_off, hidden_act, out_act, params, l2_scale, grads, params_t, acts, deltas,
               loss_rows, right_rows, chunks):
    """Forward and backward pass of the batch x (m, n_in), labels y, as
    ``cpu.batch_grad``: fills ``grads`` with the gradient of
    ``mean cross-entropy + (l2_scale / 2) * sum W**2`` and returns
    ``(sum of row losses, number of rows predicted right)``.  ``params_t``
    and ``chunks`` are unused."""
    m = x.shape[0]
    d_x, d_y, d_params, d_grads = to_device(x).ravel(), to_device(y), to_device(params), to_device(grads)
    d_sizes, d_w, d_b = _layout(sizes), _layout(w_off), _layout(b_off)
    d_acts, d_deltas, d_loss, d_right = to_device(acts), to_device(deltas), to_device(loss_rows), to_device(right_rows)
    with _quiet():
        _rows_launch(m)(d_x, _nothing(np.int64), 0, False, m, d_y, d_sizes, d_w, d_b, hidden_act, out_act, d_params,
                        1.0 / m, d_x, d_acts, d_deltas, d_loss, d_right, True, False)
        _weights_launch(params.shape[0])(d_x, m, d_sizes, d_w, d_b, d_params, d_acts, d_deltas, l2_scale, GRADIENT,
                                         d_grads, d_grads, d_grads, 0.0, 0.0, 0.0, 0.0, 0.0)
    _back(grads, d_grads)
    losses, rights = d_loss.copy_to_host(), d_right.copy_to_host()
    return float(losses[:m].sum()), int(rights[:m].sum())


_FUSED_BLOCKS: dict = {}


def _fused_blocks(args, threads) -> int:
    """Blocks of the one-launch training kernel: as many as can all be
    resident at once (a grid-wide wait needs that), found once per
    argument types."""
    types = tuple(_train.typeof_pyval(a) for a in args)
    if (types, threads) not in _FUSED_BLOCKS:
        try:
            blocks = _train.compile(types).max_cooperative_grid_blocks(threads)
        except AttributeError:  # numba without the query: one block per multiprocessor fits
            blocks = cuda.get_current_device().MULTIPROCESSOR_COUNT
        _FUSED_BLOCKS[types, threads] = max(1, blocks)
    return _FUSED_BLOCKS[types, threads]


#: Why the one-launch kernel could not be used in this process, if it could not.
_FUSED_FAILED: list[str] = []


def train_range(x, y, order, start, stop, batch_size, sizes, w_off, b_off, hidden_act, out_act,
                params, state1, state2, optimizer, lr, momentum, beta1, beta2, eps, step,
                l2_scale, xbuf, xtbuf, params_t, acts, deltas, loss_rows, right_rows, chunks):
    """Run the minibatches ``order[start:stop]`` (in steps of batch_size),
    as ``cpu.train_range``, with no copy back until the end: in one launch
    (``_train``) when ``config.CUDA_FUSED``, else two per batch.  ``xbuf``
    (batch_size, n_in) receives each batch's rows.  Returns ``(loss sum,
    right predictions, steps taken)``.  ``xtbuf``, ``params_t`` and
    ``chunks`` are unused."""
    d_x, d_y, d_order, d_xb = to_device(x).ravel(), to_device(y), to_device(order), to_device(xbuf).ravel()
    d_sizes, d_w, d_b = _layout(sizes), _layout(w_off), _layout(b_off)
    d_params, d_s1, d_s2 = to_device(params), to_device(state1), to_device(state2)
    d_acts, d_deltas, d_loss, d_right = to_device(acts), to_device(deltas), to_device(loss_rows), to_device(right_rows)
    steps = -(-(stop - start) // batch_size) if stop > start else 0
    fused = config.CUDA_FUSED and steps and not _FUSED_FAILED
    with _quiet():
        if fused:
            args = (d_x, d_y, d_order, start, stop, batch_size, d_sizes, d_w, d_b, hidden_act, out_act, d_params,
                    d_s1, d_s2, optimizer, lr, momentum, beta1, beta2, eps, step, l2_scale, d_xb, d_acts, d_deltas,
                    d_loss, d_right)
            threads = config.CUDA_ROW_THREADS
            if config.CUDA_TRAIN_BLOCKS:  # a grid size asked for: too big a one is an error, not a fallback
                _train[config.CUDA_TRAIN_BLOCKS, threads](*args)
            else:
                try:
                    _train[_fused_blocks(args, threads), threads](*args)
                except Exception as exc:  # refused before it ran (no cooperative launch): nothing was changed
                    _FUSED_FAILED.append(f"{type(exc).__name__}: {exc}")
                    warnings.warn(f"fastdigits: one-launch CUDA training unavailable ({_FUSED_FAILED[0]}); "
                                  "using two launches per batch", RuntimeWarning, stacklevel=2)
                    fused = False
        if not fused:
            rows, weights = _rows_launch(batch_size), _weights_launch(params.shape[0])
            for n, pos in enumerate(range(start, stop, batch_size), start=1):
                m = min(batch_size, stop - pos)
                lr_t = step_rate(optimizer, lr, beta1, beta2, step + n)
                rows(d_x, d_order, pos, True, m, d_y, d_sizes, d_w, d_b, hidden_act, out_act, d_params, 1.0 / m, d_xb,
                     d_acts, d_deltas, d_loss, d_right, True, n > 1)
                weights(d_xb, m, d_sizes, d_w, d_b, d_params, d_acts, d_deltas, l2_scale, optimizer, d_params, d_s1,
                        d_s2, lr_t, momentum, beta1, beta2, eps)
    for host, dev in ((params, d_params), (state1, d_s1), (state2, d_s2)):
        _back(host, dev)
    if steps == 0:
        return 0.0, 0, 0
    first = min(batch_size, stop - start)
    losses, rights = d_loss.copy_to_host(), d_right.copy_to_host()
    return float(losses[:first].sum()), int(rights[:first].sum()), steps
