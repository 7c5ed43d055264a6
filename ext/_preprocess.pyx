# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, nonecheck=False, embedsignature=True
"""Per-pixel image work for fastdigits, compiled: area-averaging resampling.

Kernels here trust their inputs (C-contiguous, right dtypes and shapes):
``fastdigits.preprocess`` validates at the public edge and calls in.

Area averaging ("box" resampling with exact fractional coverage): output
pixel ``i`` along an axis of ``n_in`` input pixels resampled to ``n_out``
covers the input interval ``[i * n_in / n_out, (i + 1) * n_in / n_out)``.
Its value is the mean of the input over that interval, each input pixel
weighted by the fraction of it that lies inside.  The 2-D resampling is
separable: columns first into a per-thread line buffer, then rows.
"""

from cython.parallel cimport prange, threadid

import numpy as np

ctypedef fused pixel_t:
    unsigned char
    float


def coverage(Py_ssize_t n_in, Py_ssize_t n_out):
    """Weights of area resampling along one axis.

    Returns ``(start, count, weight)``: output pixel ``i`` is
    ``sum(weight[i, k] * x[start[i] + k] for k in range(count[i]))``.
    The overlaps are computed in integers (units of ``1 / n_out`` input
    pixels), so the weights of each output pixel sum to one up to rounding.
    """
    cdef Py_ssize_t i, r, lo, hi, first, last, kmax = 0
    start = np.empty(n_out, dtype=np.intp)
    count = np.empty(n_out, dtype=np.intp)
    for i in range(n_out):
        lo = i * n_in
        hi = (i + 1) * n_in
        first = lo // n_out
        last = (hi + n_out - 1) // n_out       # one past the last pixel touched
        start[i] = first
        count[i] = last - first
        kmax = max(kmax, last - first)
    weight = np.zeros((n_out, kmax), dtype=np.float64)
    for i in range(n_out):
        lo = i * n_in
        hi = (i + 1) * n_in
        for r in range(start[i], start[i] + count[i]):
            weight[i, r - start[i]] = (min(hi, (r + 1) * n_out) - max(lo, r * n_out)) / <double>n_in
    return start, count, weight


cdef void _resize_one(
    const pixel_t[:, :, ::1] src, Py_ssize_t n,
    const Py_ssize_t[::1] ys, const Py_ssize_t[::1] yc, const double[:, ::1] wy,
    const Py_ssize_t[::1] xs, const Py_ssize_t[::1] xc, const double[:, ::1] wx,
    double[::1] scratch, float[:, :, ::1] out,
) noexcept nogil:
    """Resample image ``src[n]`` into ``out[n]`` using one thread's ``scratch``.

    Columns first: each output row is a weighted sum of whole input rows
    (a contiguous multiply-add that the compiler vectorises), then each of
    the few output rows is reduced along its length.
    """
    cdef Py_ssize_t w = src.shape[2], oh = out.shape[1], ow = out.shape[2]
    cdef Py_ssize_t x, i, j, k
    cdef double acc, wgt
    cdef double *line = &scratch[0]           # w: one output row, full width
    cdef const pixel_t *row
    for i in range(oh):
        for x in range(w):
            line[x] = 0.0
        for k in range(yc[i]):
            wgt = wy[i, k]
            row = &src[n, ys[i] + k, 0]
            for x in range(w):
                line[x] += wgt * row[x]
        for j in range(ow):
            acc = 0.0
            for k in range(xc[j]):
                acc += wx[j, k] * line[xs[j] + k]
            out[n, i, j] = <float>acc


def resize_area(const pixel_t[:, :, ::1] src, float[:, :, ::1] out, int threads):
    """Area-resample a batch ``src`` (N, H, W) into ``out`` (N, OH, OW), float32.

    ``threads`` OpenMP threads share the batch, one image per iteration.
    """
    cdef Py_ssize_t n_images = src.shape[0], h = src.shape[1], w = src.shape[2]
    cdef Py_ssize_t oh = out.shape[1], ow = out.shape[2], n
    ys, yc, wy = coverage(h, oh)
    xs, xc, wx = coverage(w, ow)
    cdef const Py_ssize_t[::1] ys_v = ys, yc_v = yc, xs_v = xs, xc_v = xc
    cdef const double[:, ::1] wy_v = wy, wx_v = wx
    # One line buffer per thread, padded to whole, unshared cache lines.
    cdef double[:, ::1] scratch = np.empty((max(threads, 1), (w + 15) // 8 * 8), dtype=np.float64)
    for n in prange(n_images, nogil=True, num_threads=threads, schedule="static"):
        _resize_one(src, n, ys_v, yc_v, wy_v, xs_v, xc_v, wx_v, scratch[threadid()], out)
