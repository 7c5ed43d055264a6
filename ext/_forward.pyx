# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The network's forward pass for a few rows, and the input checks of
small arrays, compiled by ``pip install``.

Predicting one picture must not wait for a JIT compile; NumPy's BLAS is
slow on a single row (a gemm call's set-up costs more than its 320,000
multiply-adds), so few rows take this loop: each layer's output sums the
weight rows picked by the input's nonzeros, then adds its biases.  Its
results agree with the Numba kernels' to float rounding, not bit for bit
(they fuse multiply-adds, and sum every input of a narrow layer).
"""

import numpy as np

from cpython.mem cimport PyMem_Free, PyMem_Malloc
from libc.math cimport NAN, exp, tanh
from libc.stdint cimport int64_t

cdef extern from *:
    """
    #define FD_RESTRICT __restrict
    /* Built twice where GCC's function multiversioning works (glibc on x86-64): for AVX2 and for the
       baseline, the loader picking one for this CPU.  Neither clone has FMA, and setup.py turns off
       the contraction of a * b + c into fused multiply-adds (-ffp-contract=off) for builds whose
       target has it (-march=native, other architectures), so the sums give the same bits in every
       build; the activations' exp and tanh are the C library's, which may differ by CPU. */
    #if defined(__GNUC__) && defined(__x86_64__) && defined(__GLIBC__) && defined(__has_attribute)
    #if __has_attribute(target_clones)
    #define FD_CLONES __attribute__((target_clones("avx2", "default")))
    #endif
    #endif
    #ifndef FD_CLONES
    #define FD_CLONES
    #endif
    /* Sums of BLOCK outputs over the nonzeros (idx, val: n of them) of one row: acc[jj] = sum over t of
       val[t] * w[idx[t] * n_out + j0 + jj], from +0.0 in order of t.  With GNU C (GCC, clang) in four
       32-byte vectors that stay in registers (two SSE registers each on the baseline); otherwise as a
       plain loop, for the compiler to vectorise as it can. */
    #if defined(__GNUC__)
    #include <string.h>
    #define FD_BLOCK_SUM(T, acc, BLOCK, n, idx, val, w, n_out, j0)                                     \\
        do {                                                                                         \\
            typedef T V __attribute__((vector_size(32)));                                            \\
            _Static_assert(BLOCK * sizeof(T) == 128, "a block is four 32-byte vectors");             \\
            V s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0}, x0, x1, x2, x3;                                \\
            for (Py_ssize_t t = 0; t < (n); t++) {                                                   \\
                const T *row = (w) + (idx)[t] * (n_out) + (j0);                                      \\
                const V v = (V){0} + (val)[t];                                                       \\
                memcpy(&x0, row, 32); memcpy(&x1, row + 32 / sizeof(T), 32);                         \\
                memcpy(&x2, row + 64 / sizeof(T), 32); memcpy(&x3, row + 96 / sizeof(T), 32);        \\
                s0 += v * x0; s1 += v * x1; s2 += v * x2; s3 += v * x3;                              \\
            }                                                                                        \\
            memcpy(acc, &s0, 32); memcpy(acc + 32 / sizeof(T), &s1, 32);                             \\
            memcpy(acc + 64 / sizeof(T), &s2, 32); memcpy(acc + 96 / sizeof(T), &s3, 32);            \\
        } while (0)
    #else
    #define FD_BLOCK_SUM(T, acc, BLOCK, n, idx, val, w, n_out, j0)                                     \\
        do {                                                                                         \\
            for (Py_ssize_t jj = 0; jj < BLOCK; jj++) acc[jj] = 0;                                   \\
            for (Py_ssize_t t = 0; t < (n); t++) {                                                   \\
                const T *row = (w) + (idx)[t] * (n_out) + (j0);                                      \\
                for (Py_ssize_t jj = 0; jj < BLOCK; jj++) acc[jj] += (val)[t] * row[jj];             \\
            }                                                                                        \\
        } while (0)
    #endif
    /* out = in @ w + b for one row: in (n_in), w (n_in, n_out) C-contiguous, b and out (n_out).
       The inputs' nonzeros first (idx, val: n_in long), then BLOCK (128 bytes) outputs at a time
       (FD_BLOCK_SUM), the last n_out % BLOCK by a plain loop; each output sums its terms in input
       order from +0.0, then adds its bias. */
    #define FD_LAYER(NAME, T, BLOCK)                                                                   \\
    static FD_CLONES void NAME(const T *FD_RESTRICT in, Py_ssize_t n_in, const T *FD_RESTRICT w,     \\
                               const T *FD_RESTRICT b, Py_ssize_t n_out, T *FD_RESTRICT out,         \\
                               Py_ssize_t *FD_RESTRICT idx, T *FD_RESTRICT val) {                    \\
        Py_ssize_t n = 0, i, j0, t, jj;                                                              \\
        T acc[BLOCK];                                                                                \\
        for (i = 0; i < n_in; i++) {                                                                 \\
            if (in[i] != 0) { idx[n] = i; val[n] = in[i]; n++; }                                     \\
        }                                                                                            \\
        for (j0 = 0; j0 + BLOCK <= n_out; j0 += BLOCK) {                                             \\
            FD_BLOCK_SUM(T, acc, BLOCK, n, idx, val, w, n_out, j0);                                  \\
            for (jj = 0; jj < BLOCK; jj++) out[j0 + jj] = acc[jj] + b[j0 + jj];                      \\
        }                                                                                            \\
        for (jj = j0; jj < n_out; jj++) out[jj] = 0;                                                 \\
        for (t = 0; t < n; t++) {                                                                    \\
            const T v = val[t];                                                                      \\
            const T *row = w + idx[t] * n_out;                                                       \\
            for (jj = j0; jj < n_out; jj++) out[jj] += v * row[jj];                                  \\
        }                                                                                            \\
        for (jj = j0; jj < n_out; jj++) out[jj] += b[jj];                                            \\
    }
    /* FD_LAYER for three rows at once (in0..in2 into out0..out2), each load of a block of w serving
       all three: the nonzeros of any of them (idx; val0..val2, n_in long each, holding zeros where a
       row has none), 12 vectors of sums.  A zero term adds exactly nothing to a sum that starts at
       +0.0, so each row gets the same bits as from FD_LAYER. */
    #if defined(__GNUC__)
    #define FD_BLOCK_SUM3(T, acc, BLOCK, n, idx, val0, val1, val2, w, n_out, j0)                       \\
        do {                                                                                         \\
            typedef T V __attribute__((vector_size(32)));                                            \\
            V s00 = {0}, s01 = {0}, s02 = {0}, s03 = {0}, s10 = {0}, s11 = {0}, s12 = {0};           \\
            V s13 = {0}, s20 = {0}, s21 = {0}, s22 = {0}, s23 = {0}, x0, x1, x2, x3;                 \\
            for (Py_ssize_t t = 0; t < (n); t++) {                                                   \\
                const T *row = (w) + (idx)[t] * (n_out) + (j0);                                      \\
                const V v0 = (V){0} + (val0)[t], v1 = (V){0} + (val1)[t], v2 = (V){0} + (val2)[t];   \\
                memcpy(&x0, row, 32); memcpy(&x1, row + 32 / sizeof(T), 32);                         \\
                memcpy(&x2, row + 64 / sizeof(T), 32); memcpy(&x3, row + 96 / sizeof(T), 32);        \\
                s00 += v0 * x0; s01 += v0 * x1; s02 += v0 * x2; s03 += v0 * x3;                      \\
                s10 += v1 * x0; s11 += v1 * x1; s12 += v1 * x2; s13 += v1 * x3;                      \\
                s20 += v2 * x0; s21 += v2 * x1; s22 += v2 * x2; s23 += v2 * x3;                      \\
            }                                                                                        \\
            V all[12] = {s00, s01, s02, s03, s10, s11, s12, s13, s20, s21, s22, s23};                \\
            memcpy(acc, all, sizeof(all));                                                           \\
        } while (0)
    #else
    #define FD_BLOCK_SUM3(T, acc, BLOCK, n, idx, val0, val1, val2, w, n_out, j0)                       \\
        do {                                                                                         \\
            FD_BLOCK_SUM(T, acc, BLOCK, n, idx, val0, w, n_out, j0);                                 \\
            FD_BLOCK_SUM(T, (acc + BLOCK), BLOCK, n, idx, val1, w, n_out, j0);                       \\
            FD_BLOCK_SUM(T, (acc + 2 * BLOCK), BLOCK, n, idx, val2, w, n_out, j0);                   \\
        } while (0)
    #endif
    #define FD_LAYER3(NAME, T, BLOCK)                                                                  \\
    static FD_CLONES void NAME(const T *FD_RESTRICT in0, const T *FD_RESTRICT in1,                   \\
                               const T *FD_RESTRICT in2, Py_ssize_t n_in, const T *FD_RESTRICT w,    \\
                               const T *FD_RESTRICT b, Py_ssize_t n_out, T *FD_RESTRICT out0,        \\
                               T *FD_RESTRICT out1, T *FD_RESTRICT out2, Py_ssize_t *FD_RESTRICT idx, \\
                               T *FD_RESTRICT val) {                                                 \\
        Py_ssize_t n = 0, i, j0, t, jj, r;                                                           \\
        T *val0 = val, *val1 = val + n_in, *val2 = val + 2 * n_in;                                   \\
        T *outs[3] = {out0, out1, out2};                                                             \\
        const T *vals[3] = {val0, val1, val2};                                                       \\
        T acc[3 * BLOCK];                                                                            \\
        for (i = 0; i < n_in; i++) {                                                                 \\
            if (in0[i] != 0 || in1[i] != 0 || in2[i] != 0) {                                         \\
                idx[n] = i; val0[n] = in0[i]; val1[n] = in1[i]; val2[n] = in2[i]; n++;               \\
            }                                                                                        \\
        }                                                                                            \\
        for (j0 = 0; j0 + BLOCK <= n_out; j0 += BLOCK) {                                             \\
            FD_BLOCK_SUM3(T, acc, BLOCK, n, idx, val0, val1, val2, w, n_out, j0);                    \\
            for (r = 0; r < 3; r++)                                                                  \\
                for (jj = 0; jj < BLOCK; jj++) outs[r][j0 + jj] = acc[r * BLOCK + jj] + b[j0 + jj];  \\
        }                                                                                            \\
        for (r = 0; r < 3; r++) {                                                                    \\
            T *out = outs[r];                                                                        \\
            for (jj = j0; jj < n_out; jj++) out[jj] = 0;                                             \\
            for (t = 0; t < n; t++) {                                                                \\
                const T v = vals[r][t];                                                              \\
                const T *row = w + idx[t] * n_out;                                                   \\
                for (jj = j0; jj < n_out; jj++) out[jj] += v * row[jj];                              \\
            }                                                                                        \\
            for (jj = j0; jj < n_out; jj++) out[jj] += b[jj];                                        \\
        }                                                                                            \\
    }
    FD_LAYER(fd_layer_f, float, 32)
    FD_LAYER(fd_layer_d, double, 16)
    FD_LAYER3(fd_layer3_f, float, 32)
    FD_LAYER3(fd_layer3_d, double, 16)
    """
    void fd_layer_f(const float* inputs, Py_ssize_t n_in, const float* w, const float* b, Py_ssize_t n_out,
                    float* out, Py_ssize_t* idx, float* val) noexcept nogil
    void fd_layer_d(const double* inputs, Py_ssize_t n_in, const double* w, const double* b, Py_ssize_t n_out,
                    double* out, Py_ssize_t* idx, double* val) noexcept nogil
    void fd_layer3_f(const float* in0, const float* in1, const float* in2, Py_ssize_t n_in, const float* w,
                     const float* b, Py_ssize_t n_out, float* out0, float* out1, float* out2, Py_ssize_t* idx,
                     float* val) noexcept nogil
    void fd_layer3_d(const double* in0, const double* in1, const double* in2, Py_ssize_t n_in, const double* w,
                     const double* b, Py_ssize_t n_out, double* out0, double* out1, double* out2, Py_ssize_t* idx,
                     double* val) noexcept nogil

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

# When to release the GIL: taking it back can wait for another thread's switch interval (5 ms).
cdef enum:
    # Multiply-adds (rows x parameters) from which forward_rows releases it (about 100 us of work).
    GIL_WORK = 1 << 18
    # Values from which outside_total releases it (a few microseconds of work).
    GIL_VALUES = 1 << 14


cdef inline void _layer(const real* inputs, Py_ssize_t n_in, const real* w, const real* b, Py_ssize_t n_out,
                        real* out, Py_ssize_t* idx, real* val) noexcept nogil:
    if real is float:
        fd_layer_f(inputs, n_in, w, b, n_out, out, idx, val)
    else:
        fd_layer_d(inputs, n_in, w, b, n_out, out, idx, val)


cdef inline void _layer3(const real** inputs, Py_ssize_t n_in, const real* w, const real* b, Py_ssize_t n_out,
                         real* out, Py_ssize_t stride, Py_ssize_t* idx, real* val) noexcept nogil:
    if real is float:
        fd_layer3_f(inputs[0], inputs[1], inputs[2], n_in, w, b, n_out, out, out + stride, out + 2 * stride,
                    idx, val)
    else:
        fd_layer3_d(inputs[0], inputs[1], inputs[2], n_in, w, b, n_out, out, out + stride, out + 2 * stride,
                    idx, val)


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


def forward_rows(const real[:, ::1] x, const real[::1] params, const int64_t[::1] sizes, int hidden_act,
                 int out_act, real[:, ::1] out):
    """The network's outputs for the rows of ``x`` into ``out``, on the
    calling thread; without the GIL beyond GIL_WORK (rows x parameters:
    a row or two of a small network keep it, as taking it back can wait
    for another thread's switch interval, 5 ms).

    Parameters
    ----------
    x : numpy.ndarray, (m, sizes[0]), float32 or float64, C-contiguous
    params : numpy.ndarray, 1-D, x's dtype, C-contiguous
        The model's flat vector (``MLPClassifier.params_``): for each layer
        in turn its weights (sizes[l], sizes[l + 1]) row by row, then its
        biases (sizes[l + 1],).
    sizes : numpy.ndarray of int64, (n_layers + 1,)
        The layer widths, inputs first.
    hidden_act, out_act : int
        Kernel codes of ``fastdigits.kernels`` (``HIDDEN_ACTIVATIONS``,
        ``OUTPUTS``): class probabilities for SOFTMAX or SIGMOID outputs.
    out : numpy.ndarray, (m, sizes[-1]), x's dtype, C-contiguous, written

    Returns
    -------
    None

    Raises
    ------
    ValueError
        If ``sizes`` holds fewer than 2 or more than MAX_LAYERS + 1 sizes,
        a size is not positive, or ``params``, ``x`` or ``out`` do not have
        the lengths they give; (Cython's) for arrays not C-contiguous.
    TypeError
        (Cython's "No matching signature found") for arrays neither
        float32 nor float64, or of two dtypes.
    MemoryError
        If the few rows of scratch cannot be allocated.

    Notes
    -----
    Rows go three at a time, each load of the weights serving all three; a
    row's results do not depend on the others (the same bits alone) while
    the weights are finite: a row's zero input, taken because another of
    its three rows has a nonzero there, times an infinite weight gives NaN
    where the row alone skips the term.  Codes
    other than those listed act as the identity.
    """
    cdef Py_ssize_t n_layers = sizes.shape[0] - 1, layer, r, i, j, n_in, n_out, n_params = 0, width = 0
    if n_layers < 1 or n_layers > MAX_LAYERS:
        raise ValueError(f"forward_rows takes 1 to {MAX_LAYERS} layers, got {sizes.shape[0]} sizes")
    for layer in range(n_layers):
        n_in, n_out = sizes[layer], sizes[layer + 1]
        if n_in < 1 or n_out < 1:
            raise ValueError(f"layer sizes must be positive, got {list(sizes)}")
        # No overflow: each size is checked against the values params has left before it is multiplied.
        if n_out > params.shape[0] - n_params or n_in > (params.shape[0] - n_params - n_out) // n_out:
            raise ValueError(f"params has {params.shape[0]} values, fewer than the weights and biases of "
                             f"sizes {list(sizes)}")
        n_params += n_in * n_out + n_out
        width = max(width, n_out)
    if params.shape[0] != n_params:
        raise ValueError(f"params has {params.shape[0]} values, not the {n_params} weights and biases of "
                         f"sizes {list(sizes)}")
    if x.shape[1] != sizes[0]:
        raise ValueError(f"x has {x.shape[1]} columns, the network {sizes[0]} inputs")
    if out.shape[0] != x.shape[0] or out.shape[1] != sizes[n_layers]:
        raise ValueError(f"out must be ({x.shape[0]}, {sizes[n_layers]}), got {tuple(out.shape)[:2]}")
    if x.shape[0] == 0:
        return
    cdef const real* w_ptr[MAX_LAYERS]
    cdef const real* b_ptr[MAX_LAYERS]
    cdef Py_ssize_t pos = 0
    for layer in range(n_layers):
        w_ptr[layer] = &params[pos]
        pos += sizes[layer] * sizes[layer + 1]
        b_ptr[layer] = &params[pos]
        pos += sizes[layer + 1]
    cdef Py_ssize_t n_in_max = 0
    for layer in range(n_layers):
        n_in_max = max(n_in_max, sizes[layer])
    # Rows go three at a time (``_layer3``: each load of the weights serves three), a last one alone;
    # a group of two repeats its second row's input into the third's place, whose outputs go unused.
    cdef real* buf = <real*> PyMem_Malloc((6 * width + 3 * n_in_max) * sizeof(real))
    cdef Py_ssize_t* idx = <Py_ssize_t*> PyMem_Malloc(n_in_max * sizeof(Py_ssize_t))
    if buf == NULL or idx == NULL:
        PyMem_Free(buf)
        PyMem_Free(idx)
        raise MemoryError()
    if x.shape[0] * n_params > GIL_WORK:
        with nogil:
            _rows(x, sizes, w_ptr, b_ptr, width, hidden_act, out_act, out, buf, idx)
    else:  # a row or two of a small network: taking the GIL back could wait for another thread's 5 ms
        _rows(x, sizes, w_ptr, b_ptr, width, hidden_act, out_act, out, buf, idx)
    PyMem_Free(buf)
    PyMem_Free(idx)


cdef void _rows(const real[:, ::1] x, const int64_t[::1] sizes, const real** w_ptr, const real** b_ptr,
                Py_ssize_t width, int hidden_act, int out_act, real[:, ::1] out, real* buf,
                Py_ssize_t* idx) noexcept nogil:
    """``forward_rows``' loop, with its weights and biases at w_ptr[l] and
    b_ptr[l] and its scratch in buf (6 * width + 3 * the widest layer's
    inputs) and idx (that widest layer's inputs)."""
    cdef Py_ssize_t n_layers = sizes.shape[0] - 1, layer, r, j, n_in, n_out, r0 = 0, rows
    cdef real* a = buf
    cdef real* z = buf + 3 * width
    cdef real* val = buf + 6 * width
    cdef real* t
    cdef const real* inputs[3]
    while r0 < x.shape[0]:
        rows = min(3, x.shape[0] - r0)
        for r in range(3):
            inputs[r] = &x[r0 + min(r, rows - 1), 0]
        for layer in range(n_layers):
            n_in, n_out = sizes[layer], sizes[layer + 1]
            if rows == 1:
                _layer(inputs[0], n_in, w_ptr[layer], b_ptr[layer], n_out, z, idx, val)
            else:
                _layer3(inputs, n_in, w_ptr[layer], b_ptr[layer], n_out, z, width, idx, val)
            for r in range(rows):
                _activate(z + r * width, n_out, out_act if layer == n_layers - 1 else hidden_act)
            t = a
            a = z
            z = t
            for r in range(3):
                inputs[r] = a + min(r, rows - 1) * width
        for r in range(rows):
            for j in range(sizes[n_layers]):
                out[r0 + r, j] = a[r * width + j]
        r0 += rows


def outside_total(const real[::1] flat, real lo, real hi):
    """How many of ``flat``'s values lie outside [lo, hi], NaN if one is
    not finite: the input checks of small arrays, in one pass
    (``MLPClassifier._check_not_grey_levels`` and ``_all_finite``; the
    kernels' twin is ``fastdigits.kernels.cpu.outside_total``).

    Parameters
    ----------
    flat : numpy.ndarray, 1-D, float32 or float64, C-contiguous
    lo, hi : float
        The limits, taken in flat's dtype; -inf and inf for none.

    Returns
    -------
    float
        0.0 when every value is finite and within [lo, hi], NaN when one
        is NaN or infinite, else the number of values outside.
    """
    cdef Py_ssize_t counts[2]
    if flat.shape[0] > GIL_VALUES:
        with nogil:
            _count_outside(flat, lo, hi, counts)
    else:  # the GIL kept for a row or two: taking it back can wait for another thread's 5 ms
        _count_outside(flat, lo, hi, counts)
    return NAN if counts[1] else <double> counts[0]


cdef void _count_outside(const real[::1] flat, real lo, real hi, Py_ssize_t* counts) noexcept nogil:
    """counts[0] = values outside [lo, hi], counts[1] = values not finite."""
    cdef Py_ssize_t i, outside = 0, not_finite = 0
    cdef real v
    for i in range(flat.shape[0]):  # no branch: the loop vectorises
        v = flat[i]
        not_finite += (v - v != 0)  # inf - inf and NaN - NaN are NaN
        outside += (v < lo) | (v > hi)
    counts[0] = outside
    counts[1] = not_finite
