"""Compiled kernels of the network: ``cpu`` (Numba, parallel) and its
twin ``cuda`` (numba.cuda, for an NVIDIA GPU), with the same names and
signatures for the entry points (``forward``, ``batch_grad``,
``train_range``) and the same flat layouts of parameters and buffers.

What the entry points take comes in named groups, defined here: the
network (:class:`Network`), the rows of a pass (:class:`Data`), the
optimiser and its hyperparameters (:class:`Optimizer`) and the buffers of
a fit (:class:`Workspace`, made by :func:`workspace`).  The formulas both
targets share (an activation's derivative, an optimiser's step on one
parameter, an output unit's delta) are plain Python functions below,
compiled for the CPU and the GPU alike.

Activation and output styles are chosen in Python from the table below and
passed to kernels as small integers: a cached kernel never receives a
jitted function.

Files: ``_jit`` (how a CPU kernel is compiled), ``_intrinsics`` (LLVM
intrinsics), ``_threads`` (where a parallel loop's threads run),
``_sparse`` (sparse vector-matrix products in register tiles), ``_dense``
(dense ones in register blocks, for inputs with few zeros), ``cpu``
(the passes of the network), ``cuda`` (their GPU twins), ``warp`` (the
augmentation's warp), ``cache`` and ``precompile`` (machine code on disk).
"""

import math
from typing import NamedTuple

import numpy as np

from .. import config

IDENTITY, SIGMOID, TANH, RELU, SOFTMAX = range(5)

#: Public names of hidden-layer activations and their kernel codes.
HIDDEN_ACTIVATIONS = {"sigmoid": SIGMOID, "tanh": TANH, "relu": RELU, "identity": IDENTITY}

#: Public names of output styles and their kernel codes.
OUTPUTS = {"softmax": SOFTMAX, "sigmoid": SIGMOID}

#: Optimiser codes; ``GRADIENT`` is the "optimiser" of a pass that stores
#: the gradient (into the first of its state arrays) instead of stepping.
SGD, NESTEROV, ADAM = range(3)
GRADIENT = -1


class Network(NamedTuple):
    """A network's shape: where each layer's parameters sit in the flat
    vector ``params`` and which activations it uses.  A layer maps n_in to
    n_out units with ``w`` (n_in, n_out) at ``params[w_off[l]:]`` and ``b``
    (n_out,) at ``params[b_off[l]:]``: ``act(a @ w + b)``."""

    sizes: np.ndarray  #: int64 (layers + 1,): units of each layer, inputs first
    w_off: np.ndarray  #: int64 (layers,): where each layer's w starts in params
    b_off: np.ndarray  #: int64 (layers,): where each layer's b starts in params
    hidden_act: int  #: code of the hidden layers' activation (``HIDDEN_ACTIVATIONS``)
    out_act: int  #: code of the output style (``OUTPUTS``)
    #: Share of nonzero inputs from which the CPU's products go by dense
    #: register blocks (``config.dense_share()``; every value gives the same
    #: bits for finite inputs and weights: 0.0 and 2.0 force the dense and
    #: the sparse products, for tests; a float, or numba compiles the kernels
    #: again for an int)
    dense_share: float
    #: The same for a training call's first layer (``config.DENSE_TRAINING_SHARE``).
    training_share: float


def network(sizes, w_off, b_off, hidden_act: int, out_act: int) -> Network:
    """A ``Network`` with the products' shares of this CPU, read from
    ``config`` now (``config.dense_share()``, ``DENSE_TRAINING_SHARE``)."""
    return Network(sizes, w_off, b_off, hidden_act, out_act, float(config.dense_share()),
                   float(config.DENSE_TRAINING_SHARE))


class Data(NamedTuple):
    """The rows a pass learns from."""

    x: np.ndarray  #: (N, n_in) of the model's dtype, C-contiguous
    y: np.ndarray  #: int64 (N,): class index of each row, -1 for a row of no class
    weight: np.ndarray  #: float64 (N,): each row's weight (ones: the plain mean)


class Optimizer(NamedTuple):
    """An optimiser and its hyperparameters, for ``train_range``."""

    kind: int  #: SGD, NESTEROV or ADAM
    lr: float  #: learning rate (Adam's before its bias correction)
    momentum: float  #: SGD's and Nesterov's
    beta1: float  #: Adam's decay of the first moment
    beta2: float  #: Adam's decay of the second moment
    epsilon: float  #: Adam's guard against dividing by zero
    l2_scale: float  #: the L2 term's weight on the gradient: alpha / S, S the training rows' total weight
    step: int  #: optimiser steps taken before this call (Adam's bias correction)


class Workspace(NamedTuple):
    """The buffers of a fit, allocated once (:func:`workspace`) and filled
    in place by every call; kernels read nothing in them across calls
    except that ``xtbuf`` stays all zeros."""

    params_t: np.ndarray  #: as long as params: transposed weights (w.T of a layer at its w's offset)
    grads_t: np.ndarray  #: as long as params: the narrow layers' gradients, transposed, until their step
    grads: np.ndarray  #: as long as params: what ``batch_grad`` computes
    acts: np.ndarray  #: rows * sum(sizes[1:]): each layer's (rows, n_out) block of activations
    deltas: np.ndarray  #: as acts: each layer's block of deltas
    loss_rows: np.ndarray  #: float64 (rows,): each row's weighted loss
    right_rows: np.ndarray  #: int64 (rows,): whether each row's most probable class is its label
    xbuf: np.ndarray  #: (rows, n_in): a minibatch's rows, gathered ((0, n_in) for a full batch)
    xtbuf: np.ndarray  #: zeros, n_in * rows: a sparse minibatch's inputs, transposed (empty for a full batch)
    panels: np.ndarray  #: as long as params: the wide layers' w packed in panels (``_dense.pack``), kept current


def workspace(network: Network, rows: int, dtype, *, minibatches: bool = False) -> Workspace:
    """The buffers for passes of up to ``rows`` rows through ``network``,
    of ``dtype`` (the model's), starting on cache lines.  ``minibatches``:
    room for ``train_range`` to gather batches of ``rows`` rows from its
    data; ``batch_grad`` reads its rows where they are."""
    sizes = np.asarray(network.sizes)
    n_in, width = int(sizes[0]), int(sizes[1:].sum())
    n_params = int(np.asarray(network.b_off)[-1] + sizes[-1])
    gathered = rows if minibatches else 0
    return Workspace(
        params_t=aligned_empty(n_params, dtype),
        grads_t=aligned_empty(n_params, dtype),
        grads=aligned_empty(n_params, dtype),
        acts=aligned_empty(rows * width, dtype),
        deltas=aligned_empty(rows * width, dtype),
        loss_rows=np.empty(rows, np.float64),
        right_rows=np.empty(rows, np.int64),
        xbuf=aligned_empty((gathered, n_in), dtype),
        xtbuf=aligned_zeros(gathered * n_in, dtype),
        panels=aligned_empty(n_params, dtype),
    )


# ------------------------------------------- formulas for CPU and GPU alike


def derivative(a, act):
    """d act / dz written in terms of the activation's output a.  Plain
    Python, compiled for the CPU (``cpu._derivative``) and for the GPU
    (``cuda._derivative``) alike."""
    if act == SIGMOID:
        return a * (1.0 - a)
    if act == TANH:
        return 1.0 - a * a
    if act == RELU:
        return 1.0 if a > 0.0 else 0.0
    return 1.0


#: Probabilities are clipped to at least this inside logs (float32 sigmoids reach exactly 0 and 1).
TINY = 1e-15


def output_delta(h, j, label, k, act, scale):
    """Output unit j's delta and loss term, for the row's output h there:
    ``(scale * (h - t_j), the row loss's term)``, t the target.

    t is onehot(label); a label < 0 marks a row of no class (outlier
    exposure, Hendrycks et al., ICLR 2019), whose target is 1/k for each
    of the k softmax outputs and 0 for every sigmoid.  One delta serves
    softmax + cross-entropy and one-vs-all sigmoids + binary
    cross-entropy; the row loss sums the terms: softmax -sum_j t_j log h_j,
    sigmoid -sum_j [t_j log h_j + (1 - t_j) log(1 - h_j)].  ``scale`` is
    1/m times the row's weight.  Plain Python, compiled for the CPU and
    the GPU alike."""
    if j == label:
        return scale * (h - 1.0), -math.log(max(h, TINY))
    if label < 0 and act != SIGMOID:
        return scale * (h - 1.0 / k), -math.log(max(h, TINY)) / k
    if act == SIGMOID:
        return scale * h, -math.log(max(1.0 - h, TINY))
    return scale * h, 0.0


def sgd_step(p, v, g, lr, momentum):
    """SGD with momentum on one parameter p, its velocity v and gradient g:
    v = momentum v - lr g, p += v.  Returns (p, v), v unrounded to the
    arrays' dtype (p's step uses it so)."""
    v = momentum * v - lr * g
    return p + v, v


def nesterov_step(p, v, g, lr, momentum):
    """Nesterov's momentum: v = momentum v - lr g, p += momentum v - lr g.
    Returns (p, v)."""
    v = momentum * v - lr * g
    return p + (momentum * v - lr * g), v


def adam_step(params, m1, m2, k, g, lr, beta1, beta2, eps):
    """Adam (Kingma & Ba) on params[k], its moments m1[k], m2[k] and
    gradient g, in place (the step reads the moments as stored, rounded to
    the arrays' dtype), ``lr`` already carrying the bias correction
    (:func:`step_rate`).  The CPU's ``_step_row`` writes the same loop out
    (see there)."""
    m1[k] = beta1 * m1[k] + (1.0 - beta1) * g
    m2[k] = beta2 * m2[k] + (1.0 - beta2) * g * g
    params[k] -= lr * m1[k] / (math.sqrt(m2[k]) + eps)


def step_rate(opt, lr, beta1, beta2, t):
    """The learning rate of optimiser step t (1, 2, ...): Adam's carries
    its bias correction, lr sqrt(1 - beta2^t) / (1 - beta1^t).  Plain
    Python, compiled for the CPU and the GPU alike."""
    if opt == ADAM:
        return lr * math.sqrt(1.0 - beta2**t) / (1.0 - beta1**t)
    return lr


# ------------------------------------------------------------ alignment

#: Bytes the kernels' arrays are aligned to: a cache line, one AVX-512 vector.
ALIGNMENT = 64


def aligned_empty(shape, dtype) -> np.ndarray:
    """np.empty(shape, dtype) starting on a cache line.

    The kernels read rows of weights, deltas and optimiser state a whole
    vector at a time; NumPy places large arrays 16 bytes past a page, so
    every 64-byte load would straddle two lines: per nonzero input, the
    128-column register tile over weights in L1 took 2.1 ns aligned and
    3.1 ns 16 bytes off a line (``benchmarks/kernel_forms.py``)."""
    dtype = np.dtype(dtype)
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    nbytes = math.prod(shape) * dtype.itemsize
    raw = np.empty(nbytes + ALIGNMENT, np.uint8)
    start = -raw.__array_interface__["data"][0] % ALIGNMENT
    return raw[start : start + nbytes].view(dtype).reshape(shape)


def aligned_zeros(shape, dtype) -> np.ndarray:
    """np.zeros(shape, dtype) starting on a cache line (``aligned_empty``)."""
    out = aligned_empty(shape, dtype)
    out[...] = 0
    return out
