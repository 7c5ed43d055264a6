# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The network's forward pass for a few rows, compiled by ``pip install``.

Predicting one picture must not wait for a JIT compile; NumPy's BLAS is
slow on a single row (a gemm call's set-up costs more than its 320,000
multiply-adds), so few rows take this loop: each layer's output starts at
its biases and adds the weight rows picked by the input's nonzeros (the
same sum as the Numba kernels' ``_gather_rows_sum``, in the same order).
"""

import numpy as np

from libc.math cimport exp, tanh

ctypedef fused real:
    float
    double

# kernel codes of fastdigits.kernels
cdef enum:
    IDENTITY = 0
    SIGMOID = 1
    TANH = 2
    RELU = 3
    SOFTMAX = 4
    MAX_LAYERS = 64


cdef inline void _activate(real* z, Py_ssize_t n, int act) noexcept nogil:
    cdef Py_ssize_t j
    cdef real top, total
    if act == RELU:
        for j in range(n):
            if z[j] < 0:
                z[j] = 0
    elif act == SIGMOID:
        for j in range(n):
            z[j] = 1 / (1 + exp(-z[j]))
    elif act == TANH:
        for j in range(n):
            z[j] = tanh(z[j])
    elif act == SOFTMAX:
        top = z[0]
        for j in range(1, n):
            if z[j] > top:
                top = z[j]
        total = 0
        for j in range(n):
            z[j] = exp(z[j] - top)
            total += z[j]
        for j in range(n):
            z[j] /= total


def forward_rows(const real[:, ::1] x, list coefs, list intercepts, int hidden_act, int out_act,
                 real[:, ::1] out):
    """Class probabilities of the rows of ``x`` (m, n_in) into ``out``
    (m, n_classes), one row at a time on the calling thread.

    ``coefs`` and ``intercepts`` hold each layer's C-contiguous weights
    (n_l, n_{l+1}) and biases (n_{l+1},), of ``x``'s dtype; ``hidden_act``
    and ``out_act`` are the kernel codes of ``fastdigits.kernels``.
    """
    cdef Py_ssize_t n_layers = len(coefs), layer, r, i, j, n_in, n_out
    if n_layers > MAX_LAYERS or n_layers != len(intercepts):
        raise ValueError(f"forward_rows takes 1 to {MAX_LAYERS} layers of weights and biases")
    cdef const real* w_ptr[MAX_LAYERS]
    cdef const real* b_ptr[MAX_LAYERS]
    cdef Py_ssize_t sizes[MAX_LAYERS + 1]
    cdef const real[:, ::1] w
    cdef const real[::1] b
    sizes[0] = x.shape[1]
    cdef Py_ssize_t width = x.shape[1]
    for layer in range(n_layers):
        w = coefs[layer]
        b = intercepts[layer]
        if w.shape[0] != sizes[layer] or b.shape[0] != w.shape[1]:
            raise ValueError(f"layer {layer}: weights {tuple(w.shape)[:2]} and biases {b.shape[0]} "
                             f"do not follow {sizes[layer]} inputs")
        w_ptr[layer] = &w[0, 0]
        b_ptr[layer] = &b[0]
        sizes[layer + 1] = w.shape[1]
        width = max(width, w.shape[1])
    if out.shape[0] != x.shape[0] or out.shape[1] != sizes[n_layers]:
        raise ValueError(f"out must be ({x.shape[0]}, {sizes[n_layers]}), got {tuple(out.shape)[:2]}")
    dtype = np.float32 if real is float else np.float64
    cdef real[::1] buf_a = np.empty(width, dtype), buf_z = np.empty(width, dtype)
    cdef real* a
    cdef real* z
    cdef real* t
    cdef real v
    cdef const real* row
    with nogil:
        for r in range(x.shape[0]):
            a = &buf_a[0]
            z = &buf_z[0]
            for i in range(sizes[0]):
                a[i] = x[r, i]
            for layer in range(n_layers):
                n_in, n_out = sizes[layer], sizes[layer + 1]
                for j in range(n_out):
                    z[j] = b_ptr[layer][j]
                for i in range(n_in):
                    v = a[i]
                    if v != 0:
                        row = w_ptr[layer] + i * n_out
                        for j in range(n_out):
                            z[j] += v * row[j]
                _activate(z, n_out, out_act if layer == n_layers - 1 else hidden_act)
                t = a
                a = z
                z = t
            for j in range(sizes[n_layers]):
                out[r, j] = a[j]
    return np.asarray(out)
