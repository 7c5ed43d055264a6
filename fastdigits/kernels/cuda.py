"""numba.cuda twins of the CPU kernels, for an NVIDIA GPU.

The entry points have the CPU module's names and signatures (``forward``,
``batch_grad``, ``train_range``) and use the same flat layouts: all
parameters in one vector, each layer's ``w`` (n_in, n_out) and ``b`` at
``w_off``/``b_off``, and a batch's activations and deltas in one (m, n_out)
block per layer.  The kernels take the same named groups as the CPU's
(``Network``, ``Data``, ``Optimizer``, ``Workspace``): numba.cuda passes
tuples and namedtuples of arrays and scalars to a kernel field by field.
Arrays may be NumPy arrays, copied to the GPU for the call
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
from . import (ADAM, GRADIENT, NESTEROV, RELU, SIGMOID, SOFTMAX, TANH, Data, Network, Optimizer, Workspace,
               adam_step, derivative, nesterov_step, output_delta, sgd_step, step_rate)

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
_output_delta = _device(output_delta)
_sgd_step = _device(sgd_step)
_nesterov_step = _device(nesterov_step)
_adam_step = _device(adam_step)


@_device
def _step(g, params, p, decay, opt, rate, state):
    """With g the loss gradient of params[p] without its L2 term: add
    decay * params[p], then store it in state[0][p] (``GRADIENT``) or step
    with the optimiser's state (state1, state2) at p, as ``cpu._step_row``
    does, at this step's learning ``rate`` (``step_rate``)."""
    w = params[p]
    full = g + decay * w
    state1 = state[0]
    if opt.kind == GRADIENT:
        state1[p] = full
    elif opt.kind == ADAM:
        _adam_step(params, state1, state[1], p, full, rate, opt.beta1, opt.beta2, opt.epsilon)
    elif opt.kind == NESTEROV:
        params[p], state1[p] = _nesterov_step(w, state1[p], full, rate, opt.momentum)
    else:
        params[p], state1[p] = _sgd_step(w, state1[p], full, rate, opt.momentum)


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
def _dense_row(src, base, params, layer, act, dst, out):
    """dst[out + j] = act(b[j] + sum_k src[base + k] w[k, j]) for this
    thread's units j = t, t + nt, ... (t of the block's nt threads):
    neighbouring threads read neighbouring weights of a row of w.
    ``layer`` is (n_in, n_out, w_off, b_off)."""
    n_in, n_out, w_off, b_off = layer
    for j in range(cuda.threadIdx.x, n_out, cuda.blockDim.x):
        z = _dot(params[b_off + j], src, base, 1, params, w_off + j, n_out, n_in)
        dst[out + j] = _activate(z, act)


@_device
def _output_row(acts, out, n, label, act, scale, deltas, backward):
    """Softmax of the row acts[out : out + n] in place (for ``SOFTMAX``);
    with ``backward``, its delta ``scale * (h - t)`` (``output_delta``;
    scale carries the row's weight) into deltas at the same place.
    Returns the row's loss and whether its most probable class is the
    label (as ``cpu._output_delta_row``, which also weights the loss)."""
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
        for j in range(n):
            h = acts[out + j]
            if h > acts[out + best]:
                best = j
            deltas[out + j], term = _output_delta(h, j, label, n, act, scale)
            loss += term
    return loss, best == label


@_device
def _delta_row(deltas, nxt, n_next, params, w_off, acts, cur, n, act):
    """deltas[cur + k] = (sum_j deltas[nxt + j] w[k, j]) act'(acts[cur + k])
    for this thread's units k: the error sent back through w (n, n_next)."""
    for k in range(cuda.threadIdx.x, n, cuda.blockDim.x):
        row = w_off + k * n_next
        s = _dot(deltas[nxt] * params[row], deltas, nxt + 1, 1, params, row + 1, 1, n_next - 1)
        deltas[cur + k] = s * _derivative(acts[cur + k], act)


@_device
def _rows_pass(data, batch, network, params, work, backward, accumulate):
    """This block's batch rows i = block, block + blocks, ... through the
    network, activations into the blocks of work.acts; with ``backward``
    the deltas too, and each row's weighted loss and rightness into
    (``accumulate``: added to) work.loss_rows[i] and work.right_rows[i].

    ``batch`` is (order, pos, m, indirect): row i of the m is
    x[order[pos + i]] (``indirect``; copied to work.xbuf[i] for the
    weights pass) or x[pos + i] of the flat (N * n_in) data.x."""
    x, y, weight = data
    order, pos, m, indirect = batch
    sizes = network.sizes
    xb, acts, deltas = work.xbuf, work.acts, work.deltas
    t = cuda.threadIdx.x
    nt = cuda.blockDim.x
    n_layers = sizes.shape[0] - 1
    n_in = sizes[0]
    scale = 1.0 / m
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
            act = network.out_act if layer == n_layers - 1 else network.hidden_act
            shape = (sizes[layer], n_out, network.w_off[layer], network.b_off[layer])
            _dense_row(src, base, params, shape, act, acts, out)
            cuda.syncthreads()
            src = acts
            base = out
            block += m * n_out
        if t == 0:
            w = weight[r] if backward else 1.0
            loss, right = _output_row(acts, base, sizes[n_layers], y[r] if backward else 0, network.out_act,
                                      scale * w, deltas, backward)
            if backward:
                if accumulate:
                    work.loss_rows[i] += loss * w
                    work.right_rows[i] += right
                else:
                    work.loss_rows[i] = loss * w
                    work.right_rows[i] = right
        cuda.syncthreads()
        if backward:
            block -= m * sizes[n_layers]
            for layer in range(n_layers - 1, 0, -1):
                n, n_next = sizes[layer], sizes[layer + 1]
                prev = block - m * n
                _delta_row(deltas, block + i * n_next, n_next, params, network.w_off[layer], acts, prev + i * n, n,
                           network.hidden_act)
                cuda.syncthreads()
                block = prev


# ------------------------------------------------------------ weights pass


@_device
def _weights_pass(xb, m, network, params, state, opt, rate, work):
    """Parameters p = thread, thread + threads, ... (over the grid): the
    gradient of params[p] over the batch's m rows, then ``_step`` on it
    at ``rate`` (weights get the L2 term ``opt.l2_scale * w``, biases none).  The
    first layer's inputs are the rows of xb (m * n_in), the others' the
    previous layer's block of work.acts."""
    sizes, w_off, b_off = network.sizes, network.w_off, network.b_off
    acts, deltas = work.acts, work.deltas
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
            _step(g, params, p, 0.0, opt, rate, state)
        else:
            k = (p - w_off[layer]) // n_out
            j = p - w_off[layer] - k * n_out
            src = xb
            at = k
            if layer > 0:
                src = acts
                at = block - m * n_in + k
            g = _dot(src[at] * deltas[block + j], src, at + n_in, n_in, deltas, block + n_out + j, n_out, m - 1)
            _step(g, params, p, opt.l2_scale, opt, rate, state)


# ----------------------------------------------------------------- kernels


@_kernel
def _rows(data, batch, network, params, work, backward, accumulate):
    """``_rows_pass`` as a launch of its own."""
    _rows_pass(data, batch, network, params, work, backward, accumulate)


@_kernel
def _weights(xb, m, network, params, state, opt, rate, work):
    """``_weights_pass`` as a launch of its own."""
    _weights_pass(xb, m, network, params, state, opt, rate, work)


@_kernel
def _train(data, order, batch_size, network, params, state, opt, work):
    """Every minibatch of ``order`` in one launch: each batch's rows pass
    and weights pass, with the whole grid waiting for the last block
    between them (a cooperative launch: every block is resident)."""
    grid = cuda.cg.this_grid()
    pos = 0
    stop = order.shape[0]
    steps = 0
    while pos < stop:
        m = min(batch_size, stop - pos)
        steps += 1
        rate = _step_rate(opt.kind, opt.lr, opt.beta1, opt.beta2, opt.step + steps)
        _rows_pass(data, (order, pos, m, True), network, params, work, True, steps > 1)
        grid.sync()
        _weights_pass(work.xbuf, m, network, params, state, opt, rate, work)
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


def _network(network: Network) -> Network:
    """``network`` with its layout arrays on the GPU."""
    return network._replace(sizes=_layout(network.sizes), w_off=_layout(network.w_off), b_off=_layout(network.b_off))


def _data(data: Data) -> Data:
    """``data`` on the GPU, its rows flat (N * n_in)."""
    return Data(to_device(data.x).ravel(), to_device(data.y), to_device(data.weight))


def _workspace(work: Workspace) -> Workspace:
    """The buffers of ``work`` that the GPU kernels use, on the GPU (xbuf
    flat); the CPU's scratch (params_t, grads_t, xtbuf, panels) as placeholders."""
    nothing = _nothing(work.acts.dtype)
    return Workspace(params_t=nothing, grads_t=nothing, grads=to_device(work.grads), acts=to_device(work.acts),
                     deltas=to_device(work.deltas), loss_rows=to_device(work.loss_rows),
                     right_rows=to_device(work.right_rows), xbuf=to_device(work.xbuf).ravel(), xtbuf=nothing,
                     panels=nothing)


def forward(x, network, params, params_t, out, threads):
    """Probabilities of the rows of x (m, n_in) into out (m, n_classes), as
    ``cpu.forward``; ``params_t`` and ``threads`` are unused."""
    m = x.shape[0]
    if m == 0:
        return
    sizes = network.sizes
    sizes_h = np.asarray(sizes.copy_to_host() if is_device_array(sizes) else sizes)
    width = int(sizes_h[1:].sum())
    d_x = to_device(x).ravel()
    acts = cuda.device_array(m * width, d_x.dtype)
    nothing, no_rows, no_labels = _nothing(d_x.dtype), _nothing(np.float64), _nothing(np.int64)
    work = Workspace(nothing, nothing, nothing, acts, acts, no_rows, no_labels, d_x, nothing, nothing)
    with _quiet():
        _rows_launch(m)(Data(d_x, no_labels, no_rows), (no_labels, 0, m, False), _network(network), to_device(params),
                        work, False, False)
    probabilities = acts[m * (width - int(sizes_h[-1])):]
    if is_device_array(out):
        out.ravel().copy_to_device(probabilities)
    else:
        out[...] = probabilities.copy_to_host().reshape(out.shape)


def batch_grad(data, network, params, l2_scale, work, threads):
    """Forward and backward pass of all the rows of ``data``, as
    ``cpu.batch_grad`` (the same arguments): the gradient into
    ``work.grads``; returns ``(sum of weight_i CE_i, rows predicted
    right)``.  ``threads`` is unused."""
    m = data.x.shape[0]
    d_data, d_network, d_params, d_work = _data(data), _network(network), to_device(params), _workspace(work)
    gradient = Optimizer(GRADIENT, 0.0, 0.0, 0.0, 0.0, 0.0, float(l2_scale), 0)
    with _quiet():
        _rows_launch(m)(d_data, (_nothing(np.int64), 0, m, False), d_network, d_params, d_work, True, False)
        _weights_launch(params.shape[0])(d_data.x, m, d_network, d_params, (d_work.grads, d_work.grads), gradient,
                                         0.0, d_work)
    _back(work.grads, d_work.grads)
    losses, rights = d_work.loss_rows.copy_to_host(), d_work.right_rows.copy_to_host()
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


def train_range(data, order, batch_size, network, params, state, optimizer, work, threads):
    """Run the minibatches of ``order`` (in steps of batch_size), as
    ``cpu.train_range`` (the same arguments), with no copy back until the
    end: in one launch (``_train``) when ``config.CUDA_FUSED``, else two
    per batch.  Arrays may be device arrays (``to_device``: they stay
    there) or NumPy arrays (copied there and, for params and state,
    back).  Returns ``(sum of weight_i CE_i, rows predicted right, steps
    taken)``.  ``threads`` is unused."""
    d_data, d_order, d_network, d_params = _data(data), to_device(order), _network(network), to_device(params)
    d_state1 = to_device(state[0])
    d_state = (d_state1, d_state1 if state[1] is state[0] else to_device(state[1]))
    d_work = _workspace(work)
    n = order.shape[0]
    steps = -(-n // batch_size)
    fused = config.CUDA_FUSED and steps and not _FUSED_FAILED
    with _quiet():
        if fused:
            args = (d_data, d_order, batch_size, d_network, d_params, d_state, optimizer, d_work)
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
            for k, pos in enumerate(range(0, n, batch_size), start=1):
                m = min(batch_size, n - pos)
                rate = step_rate(optimizer.kind, optimizer.lr, optimizer.beta1, optimizer.beta2, optimizer.step + k)
                rows(d_data, (d_order, pos, m, True), d_network, d_params, d_work, True, k > 1)
                weights(d_work.xbuf, m, d_network, d_params, d_state, optimizer, rate, d_work)
    for host, dev in ((params, d_params), (state[0], d_state[0]), (state[1], d_state[1])):
        _back(host, dev)
    if steps == 0:
        return 0.0, 0, 0
    first = min(batch_size, n)
    losses, rights = d_work.loss_rows.copy_to_host(), d_work.right_rows.copy_to_host()
    return float(losses[:first].sum()), int(rights[:first].sum()), steps
