"""Compiled kernels of the network: ``cpu`` (Numba, parallel) and its
twin ``cuda`` (numba.cuda, for an NVIDIA GPU), with the same names and
signatures for the entry points (``forward``, ``batch_grad``,
``train_range``) and the same flat layouts of parameters and buffers.

Activation and output styles are chosen in Python from the table below and
passed to kernels as small integers: a cached kernel never receives a
jitted function.
"""

import math

import numpy as np

IDENTITY, SIGMOID, TANH, RELU, SOFTMAX = range(5)

#: Public names of hidden-layer activations and their kernel codes.
HIDDEN_ACTIVATIONS = {"sigmoid": SIGMOID, "tanh": TANH, "relu": RELU, "identity": IDENTITY}

#: Public names of output styles and their kernel codes.
OUTPUTS = {"softmax": SOFTMAX, "sigmoid": SIGMOID}


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


#: Optimiser codes; ``GRADIENT`` is the "optimiser" of a pass that stores
#: the gradient instead of stepping.
SGD, NESTEROV, ADAM = range(3)
GRADIENT = -1


def step_rate(opt, lr, beta1, beta2, t):
    """The learning rate of optimiser step t (1, 2, ...): Adam's carries
    its bias correction, lr sqrt(1 - beta2^t) / (1 - beta1^t).  Plain
    Python, compiled for the CPU and the GPU alike."""
    if opt == ADAM:
        return lr * math.sqrt(1.0 - beta2**t) / (1.0 - beta1**t)
    return lr


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
