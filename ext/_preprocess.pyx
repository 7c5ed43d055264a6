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


# ===================================================================
# MNIST-style normalisation: any grey image -> 20x20 float32 in [0, 1]
# ===================================================================
#
# Steps for one image (the NumPy twin in tests/naive.py follows them line
# by line; fastdigits/preprocess.py documents them for users):
#   1. load into [0, 1] ((x - offset) * scale); the border's median is the
#      background; invert if the darkest 3x3 mean lies farther below it
#      than the brightest lies above it (ink is the far extreme);
#   2. if the border is not already clean (its 90th percentile above
#      clean_level: nearly all of it black, as in MNIST):
#      subtract a smooth background (a low percentile per block, the
#      lowest of each block's 3x3 neighbourhood, interpolated
#      bilinearly); no ink unless some 3x3 mean rises above the lowest
#      within LOCAL pixels by min_contrast and by min_snr times the noise
#      (from neighbours' differences; at most SURE_CONTRAST);
#      stretch contrast so that mean is 1; erase long thin straight
#      lines (ruled and squared paper), then a soft threshold with gain.
#      Otherwise subtract the border's median, stretch so the brightest
#      pixel is 1 (no ink if it is below min_contrast or, with less than
#      SURE_CONTRAST, below min_snr times the noise), erase long thin
#      lines, and if stray faint pixels are more than SPECKLE of the ink
#      (JPEG ringing, not anti-aliasing), drop what lies below
#      clean_threshold;
#   3. drop connected components (8-connected) with less than keep_ratio
#      of the largest one's ink mass; take the bounding box of the rest.
#      If that ink, holes filled, fills page_fill of its smallest
#      enclosing rectangle at any angle, it is a page inside a dark
#      surround, not ink: with holes (the digit) the pipeline runs again
#      on the page alone, its surround set to the page's level; without
#      holes, a square-ish page is an empty one (no ink);
#   4. optionally deskew by shearing rows (from second moments);
#   5. thicken strokes thinner than stroke * the box's long side (a grey
#      max filter; never thinning);
#   6. area-resample the box so its long side is `box` pixels, keeping the
#      aspect ratio, at the fractional offset that puts the centre of mass
#      at the frame's centre (clamped so the box stays inside the frame).

from libc.math cimport floor, ceil, cos, sin, M_PI
from libc.stdlib cimport malloc, free

#: Line erasing and the noise estimate need a picture this many pixels
#: across, a page this many pixels on each side: smaller pictures are a
#: digit and nothing else, whose strokes are as thin as any line and make
#: most neighbours differ (scikit-learn's 8 x 8 digits, MNIST's 28 x 28
#: frames hold no page).
#: A page's edge this many pixels deep counts as its surround.  Ink must rise
#: above the background within LOCAL pixels of it.
cdef enum:
    MIN_LINE = 32
    MIN_PAGE = 12
    PAGE_EDGE = 3
    LOCAL = 4

#: Ink that fills less than PAGE_GATE of its box is not looked at as a
#: page; holes of at most BLANK_HOLES of the box are noise on an empty page;
#: a page is what reaches PAGE_LEVEL of the stretched ink.
cdef double PAGE_GATE = 0.5
cdef double BLANK_HOLES = 0.005
cdef double PAGE_LEVEL = 0.5
cdef double SPECKLE = 0.1
#: 1 / n for the n pixels of a 3x3 neighbourhood inside the image.
cdef double INV_COUNT[10]
INV_COUNT[:] = [0.0, 1.0, 1 / 2.0, 1 / 3.0, 1 / 4.0, 0.0, 1 / 6.0, 0.0, 0.0, 1 / 9.0]
#: Ink with this contrast is ink whatever the noise estimate says: where ink
#: covers most of a small picture (scikit-learn's 8 x 8 digits), neighbours'
#: differences measure strokes, not noise.
cdef double SURE_CONTRAST = 0.25

cdef struct Params:
    double box
    double clean_level
    double bg_percentile
    double threshold
    double gain
    double keep_ratio
    double stroke
    double ink_level
    int deskew
    double clean_threshold
    double min_contrast
    double min_snr
    double page_fill
    double line_length
    double line_width
    Py_ssize_t frame


cdef struct Source:
    # the picture as loaded: one of the two pointers is set
    const unsigned char *u8
    const float *f32
    double offset
    double scale


cdef inline double _original(const Source *src, Py_ssize_t i) noexcept nogil:
    """Pixel i of the picture as loaded into [0, 1]."""
    cdef double x = src.u8[i] if src.u8 != NULL else src.f32[i]
    return min(max((x - src.offset) * src.scale, 0.0), 1.0)


cdef struct Scratch:
    double *v
    Source src
    double *canvas
    double *canvas2
    double *mass
    double *line
    int *labels
    int *stack


cdef inline int _quant(double x) noexcept nogil:
    return <int>(x * 255.0 + 0.5)


cdef double _hist_quantile(long *hist, long n, double p) noexcept nogil:
    """Smallest level k/255 such that at least max(1, ceil(p n)) values are <= it."""
    cdef long need = <long>ceil(p * n), cum = 0
    cdef int k
    if need < 1:
        need = 1
    for k in range(256):
        cum += hist[k]
        if cum >= need:
            return k / 255.0
    return 1.0


cdef double _noise(const double *v, Py_ssize_t h, Py_ssize_t w) noexcept nogil:
    """The noise's standard deviation, from the median absolute difference
    of horizontal neighbours (sigma = median / (0.6745 sqrt 2)): flat
    paper and flat ink both count, so it holds whatever share of the
    picture the ink covers."""
    cdef long hist[256]
    cdef Py_ssize_t i, y, x
    for i in range(256):
        hist[i] = 0
    for y in range(h):
        for x in range(w - 1):
            hist[_quant(abs(v[y * w + x + 1] - v[y * w + x]))] += 1
    return _hist_quantile(hist, h * (w - 1), 0.5) / 0.9539 if w > 1 else 0.0


cdef bint _speckled(const double *v, Py_ssize_t h, Py_ssize_t w, double faint, double strong) noexcept nogil:
    """Whether more than SPECKLE of the ink is stray faint pixels: below
    ``faint`` with nothing at ``strong`` (half the peak) or more in their
    3x3 neighbourhood.  Anti-aliased
    edges lie next to strokes (at most 0.03 of MNIST's digits' ink);
    JPEG ringing scatters (0.18 or more of the ink at quality 50-90)."""
    cdef Py_ssize_t y, x, yy, xx, ink = 0, stray = 0
    cdef bint near
    for y in range(h):
        for x in range(w):
            if v[y * w + x] <= 0.0:
                continue
            ink += 1
            if v[y * w + x] >= faint:
                continue
            near = False
            for yy in range(max(y - 1, 0), min(y + 2, h)):
                for xx in range(max(x - 1, 0), min(x + 2, w)):
                    near = near or v[yy * w + xx] >= strong
            stray += not near
    return stray > SPECKLE * ink


cdef void _box3(const double *v, Py_ssize_t h, Py_ssize_t w, double *rows, double *sums) noexcept nogil:
    """sums[y, x] = sum of v over the 3x3 neighbourhood inside the image
    (separable: rows first into ``rows``, then columns)."""
    cdef Py_ssize_t y, x
    cdef double acc
    for y in range(h):
        for x in range(w):
            acc = v[y * w + x]
            if x > 0:
                acc += v[y * w + x - 1]
            if x < w - 1:
                acc += v[y * w + x + 1]
            rows[y * w + x] = acc
    for y in range(h):
        for x in range(w):
            acc = rows[y * w + x]
            if y > 0:
                acc += rows[(y - 1) * w + x]
            if y < h - 1:
                acc += rows[(y + 1) * w + x]
            sums[y * w + x] = acc


cdef void _local_mean_range(const double *v, Py_ssize_t h, Py_ssize_t w, double *tmp, double *lo, double *hi) noexcept nogil:
    """Lowest and highest mean over each pixel's 3x3 neighbourhood (the
    part inside the image), so that single noisy pixels do not count.
    ``tmp`` holds 2 h w doubles."""
    cdef Py_ssize_t y, x
    cdef double mean
    _box3(v, h, w, tmp, tmp + h * w)
    lo[0] = 1.0
    hi[0] = 0.0
    for y in range(h):
        for x in range(w):
            mean = tmp[h * w + y * w + x] * INV_COUNT[(1 + (y > 0) + (y < h - 1)) * (1 + (x > 0) + (x < w - 1))]
            lo[0] = min(lo[0], mean)
            hi[0] = max(hi[0], mean)


cdef void _remove_background(double *v, Py_ssize_t h, Py_ssize_t w, double pct, double *grid) noexcept nogil:
    cdef Py_ssize_t block = <Py_ssize_t>ceil((h if h > w else w) / 8.0)
    if block < 4:
        block = 4
    cdef Py_ssize_t gh = (h + block - 1) // block, gw = (w + block - 1) // block
    cdef Py_ssize_t by, bx, y, x, i0, i1, j0, j1
    cdef long hist[256]
    cdef long count
    cdef double fy, fx, ty, tx, bg
    for by in range(gh):
        for bx in range(gw):
            for y in range(256):
                hist[y] = 0
            count = 0
            for y in range(by * block, min((by + 1) * block, h)):
                for x in range(bx * block, min((bx + 1) * block, w)):
                    hist[_quant(v[y * w + x])] += 1
                    count += 1
            grid[gh * gw + by * gw + bx] = _hist_quantile(hist, count, pct)
    # A block that a thick stroke fills reads ink as background: take the
    # lowest estimate among each block and its neighbours instead (the
    # background varies slowly, ink is high).
    for by in range(gh):
        for bx in range(gw):
            bg = 1.0
            for i0 in range(max(by - 1, 0), min(by + 2, gh)):
                for j0 in range(max(bx - 1, 0), min(bx + 2, gw)):
                    bg = min(bg, grid[gh * gw + i0 * gw + j0])
            grid[by * gw + bx] = bg
    cdef double inv = 1.0 / block
    for y in range(h):
        fy = min(max((y + 0.5) * inv - 0.5, 0.0), gh - 1.0)
        i0 = <Py_ssize_t>floor(fy)
        i1 = min(i0 + 1, gh - 1)
        ty = fy - i0
        for x in range(w):
            fx = min(max((x + 0.5) * inv - 0.5, 0.0), gw - 1.0)
            j0 = <Py_ssize_t>floor(fx)
            j1 = min(j0 + 1, gw - 1)
            tx = fx - j0
            bg = ((1 - ty) * ((1 - tx) * grid[i0 * gw + j0] + tx * grid[i0 * gw + j1])
                  + ty * ((1 - tx) * grid[i1 * gw + j0] + tx * grid[i1 * gw + j1]))
            v[y * w + x] = max(v[y * w + x] - bg, 0.0)


cdef double _brightest3(const double *v, Py_ssize_t h, Py_ssize_t w, double *tmp) noexcept nogil:
    """The brightest 3x3 mean, zero outside the image.  ``tmp`` holds 2 h w doubles."""
    cdef Py_ssize_t i
    cdef double top = 0.0
    _box3(v, h, w, tmp, tmp + h * w)
    for i in range(h * w):
        top = max(top, tmp[h * w + i] / 9.0)
    return top


cdef bint _rises(Py_ssize_t h, Py_ssize_t w, const double *sums, double level) noexcept nogil:
    """Whether some 3x3 mean rises by ``level`` or more above the lowest 3x3
    mean within LOCAL pixels of it (``sums``: the 3x3 sums ``_brightest3``
    left, zero outside the image).  Ink has edges; what background removal
    leaves of a smooth vignette or gradient rises nowhere locally.  Only
    pixels whose mean reaches ``level`` can rise by it, and the first that
    does ends the search: on a picture with ink, a stroke's first edge."""
    cdef Py_ssize_t y, x, yy, xx
    cdef double need = 9.0 * level, m
    for y in range(h):
        for x in range(w):
            if sums[y * w + x] < need:
                continue
            m = sums[y * w + x]
            for yy in range(max(y - LOCAL, 0), min(y + LOCAL + 1, h)):
                for xx in range(max(x - LOCAL, 0), min(x + LOCAL + 1, w)):
                    m = min(m, sums[yy * w + xx])
            if sums[y * w + x] - m >= need:
                return True
    return False


cdef void _stretch_threshold(double *v, Py_ssize_t n, double top, double t, double gain) noexcept nogil:
    """Divide by ``top`` (the brightest 3x3 mean), then the soft threshold
    with gain: clip((x - t) / (1 - t) * gain, 0, 1)."""
    cdef Py_ssize_t i
    cdef double x, inv = 1.0 / top, slope = gain / (1.0 - t)
    for i in range(n):
        x = min(v[i] * inv, 1.0)
        v[i] = min(max((x - t) * slope, 0.0), 1.0)


cdef Py_ssize_t _erase_lines(double *v, Py_ssize_t h, Py_ssize_t w, Py_ssize_t step, Py_ssize_t cross,
                             Py_ssize_t length, Py_ssize_t width, double level, int *back, int *ahead,
                             double *saved, bint *is_saved) noexcept nogil:
    """Erase the long thin lines of ink (values above ``level``) that run along one axis.

    Viewed as ``h`` lines of ``w`` pixels, pixel (a, b) sits at
    ``v[a * cross + b * step]``: (cross, step) = (w, 1) for rows, (1, w)
    for columns of the h x w image.  ``back`` and ``ahead`` get the
    longest 8-connected path of ink through each pixel that advances one
    pixel along the axis per step (drifting at most one line sideways, so
    slightly tilted lines count); a pixel on such a path of at least
    ``length`` pixels whose ink across the axis is at most ``width``
    pixels thick is paper, not ink (a stroke crossing the line is thicker
    there and stays).  Before the first pixel is erased, ``v`` is copied
    into ``saved`` (once: ``is_saved``).  Returns how many lines were
    erased: runs of neighbouring lines of the h that hold erased pixels.
    """
    cdef Py_ssize_t a, b, k, i, run, best, j, span = 0, longest = 0
    # A path advances one pixel per step, so it needs `length` lines in a
    # row that hold ink: most pictures have none and are done here.
    for b in range(w):
        a = 0
        while a < h and v[a * cross + b * step] <= level:
            a += 1
        span = span + 1 if a < h else 0
        longest = max(longest, span)
    if longest < length:
        return 0
    for b in range(w):
        for a in range(h):
            i = a * cross + b * step
            if v[i] <= level:
                back[i] = 0
                continue
            best = 0
            if b > 0:
                for k in range(max(a - 1, 0), min(a + 2, h)):
                    best = max(best, back[k * cross + (b - 1) * step])
            back[i] = best + 1
    for b in range(w - 1, -1, -1):
        for a in range(h):
            i = a * cross + b * step
            if v[i] <= level:
                ahead[i] = 0
                continue
            best = 0
            if b < w - 1:
                for k in range(max(a - 1, 0), min(a + 2, h)):
                    best = max(best, ahead[k * cross + (b + 1) * step])
            ahead[i] = best + 1
    for b in range(w):
        for a in range(h):
            i = a * cross + b * step
            if v[i] <= level or back[i] + ahead[i] - 1 < length:
                continue
            run = 1                  # ink across the axis through this pixel
            j = a - 1
            while j >= 0 and v[j * cross + b * step] > level and run <= width:
                run += 1
                j -= 1
            j = a + 1
            while j < h and v[j * cross + b * step] > level and run <= width:
                run += 1
                j += 1
            if run <= width:
                ahead[i] = -1        # marked; erased once every pixel is judged
    span = 0                         # now: the lines found, counted as runs
    for a in range(h):
        b = 0
        while b < w and ahead[a * cross + b * step] != -1:
            b += 1
        if b < w and (a == 0 or not back[a - 1]):
            span += 1
        back[a] = b < w              # back's pixel lengths are no longer needed
    if span == 0:
        return 0
    if not is_saved[0]:
        for i in range(h * w):
            saved[i] = v[i]
        is_saved[0] = True
    for i in range(h * w):
        if ahead[i] == -1:
            v[i] = 0.0
    return span


cdef void _remove_lines(double *v, Py_ssize_t h, Py_ssize_t w, double level, const Params *p,
                        Scratch *s) noexcept nogil:
    """Erase ruled lines (along rows), then margin and grid lines (along
    columns), in pictures at least MIN_LINE pixels across: in smaller ones
    a digit's own strokes are as thin as any line.  Lines are traced where
    the ink exceeds ``level`` (half the threshold that follows, times the
    stretch), so that faint or noisy stretches do not break a line before
    it.  A lone line is kept: it may be a 1, and paper's lines come in sets
    (ruled lines, a grid, rules and a margin)."""
    cdef Py_ssize_t lines = 0, i
    cdef bint saved = False
    if p.line_length <= 0:
        return
    if w >= MIN_LINE:
        lines += _erase_lines(v, h, w, 1, w, <Py_ssize_t>ceil(p.line_length * w),
                              max(<Py_ssize_t>2, <Py_ssize_t>floor(p.line_width * h + 0.5)), level, s.labels,
                              s.stack, s.canvas, &saved)
    if h >= MIN_LINE:
        lines += _erase_lines(v, w, h, w, 1, <Py_ssize_t>ceil(p.line_length * h),
                              max(<Py_ssize_t>2, <Py_ssize_t>floor(p.line_width * w + 0.5)), level, s.labels,
                              s.stack, s.canvas, &saved)
    if lines == 1:                   # a lone line may be a 1: paper's lines come in sets
        for i in range(h * w):
            v[i] = s.canvas[i]


cdef bint _drop_specks(double *v, Py_ssize_t h, Py_ssize_t w, double keep_ratio, Scratch *s,
                       Py_ssize_t *box) noexcept nogil:
    """Zero small components; box = (y0, y1, x0, x1) of what is left.  False if no ink."""
    cdef Py_ssize_t n = h * w, i, top, p, y, x, yy, xx, dy, dx
    cdef int label = 0
    cdef double largest = 0.0, m
    for i in range(n):
        s.labels[i] = 0
    for i in range(n):
        if v[i] > 0.0 and s.labels[i] == 0:
            label += 1
            m = 0.0
            s.labels[i] = label
            s.stack[0] = <int>i
            top = 1
            while top > 0:
                top -= 1
                p = s.stack[top]
                m += v[p]
                y = p // w
                x = p - y * w
                for dy in range(-1, 2):
                    yy = y + dy
                    if yy < 0 or yy >= h:
                        continue
                    for dx in range(-1, 2):
                        xx = x + dx
                        if xx < 0 or xx >= w:
                            continue
                        if v[yy * w + xx] > 0.0 and s.labels[yy * w + xx] == 0:
                            s.labels[yy * w + xx] = label
                            s.stack[top] = <int>(yy * w + xx)
                            top += 1
            s.mass[label] = m
            largest = max(largest, m)
    box[0] = h
    box[1] = 0
    box[2] = w
    box[3] = 0
    for i in range(n):
        if s.labels[i]:
            if s.mass[s.labels[i]] < keep_ratio * largest:
                v[i] = 0.0
            else:
                y = i // w
                x = i - y * w
                box[0] = min(box[0], y)
                box[1] = max(box[1], y + 1)
                box[2] = min(box[2], x)
                box[3] = max(box[3], x + 1)
    return box[1] > box[0]


cdef double _rectangularity(const int *marks, Py_ssize_t w, const Py_ssize_t *box, int outside) noexcept nogil:
    """Share of the smallest rectangle, at any angle in [-45, 45] degrees
    (3-degree steps), that the box's pixels not marked ``outside`` fill."""
    cdef Py_ssize_t y, x, k, count = 0
    cdef double c, sn, u, t, u0, u1, t0, t1, best = 1e300
    for k in range(-15, 16):
        c = cos(k * M_PI / 60.0)
        sn = sin(k * M_PI / 60.0)
        u0 = 1e300
        u1 = -1e300
        t0 = 1e300
        t1 = -1e300
        count = 0
        for y in range(box[0], box[1]):
            for x in range(box[2], box[3]):
                if marks[y * w + x] != outside:
                    count += 1
                    u = c * x + sn * y
                    t = c * y - sn * x
                    u0 = min(u0, u)
                    u1 = max(u1, u)
                    t0 = min(t0, t)
                    t1 = max(t1, t)
        best = min(best, (u1 - u0 + 1.0) * (t1 - t0 + 1.0))
    return count / best


cdef int _page_inside(double *v, Py_ssize_t h, Py_ssize_t w, const Py_ssize_t *box, double page_fill,
                      Scratch *s) noexcept nogil:
    """Whether the ink in ``box`` is a page seen inside a dark surround.

    The page is what reaches PAGE_LEVEL of the stretched ink (the digit on
    it, dark, may lie above the surround's level); the outside is what a
    flood from the box's edge reaches through the rest (4-connected); the
    holes are the rest that it does not reach.
    A page is ink that, with its holes, fills ``page_fill`` of its
    smallest enclosing rectangle at any angle (no MNIST digit fills 0.9,
    upright and tilted pages 0.95 or more); a digit, even a bold one, is
    rounder.  Returns 0 when the ink is not a page; -1 for a square-ish
    page without holes (an empty one; holes of at most BLANK_HOLES of the
    box are noise); 1 for a page with holes (a digit written on it): then
    ``v`` is overwritten with the page alone, (y1 - y0) x (x1 - x0), taken
    from the picture as loaded (``s.src``), and everything within PAGE_EDGE
    pixels of the page's outside (the surround that the box takes in, and
    the page's own edge) is set to the page's mean level.
    """
    cdef Py_ssize_t y0 = box[0], y1 = box[1], x0 = box[2], x1 = box[3]
    cdef Py_ssize_t bh = y1 - y0, bw = x1 - x0, y, x, yy, xx, i, top, p, filled = 0, holes = 0, n = 0
    cdef double level = 0.0
    cdef bint near
    if bh < MIN_PAGE or bw < MIN_PAGE:
        return 0
    for y in range(y0, y1):
        for x in range(x0, x1):
            filled += v[y * w + x] >= PAGE_LEVEL
    if filled < PAGE_GATE * bh * bw:
        return 0
    # flood the outside: labels 1 = reached from the box's edge
    top = 0
    for y in range(y0, y1):
        for x in range(x0, x1):
            i = y * w + x
            s.labels[i] = 0
            if v[i] < PAGE_LEVEL and (y == y0 or y == y1 - 1 or x == x0 or x == x1 - 1):
                s.labels[i] = 1
                s.stack[top] = <int>i
                top += 1
    while top > 0:
        top -= 1
        p = s.stack[top]
        y = p // w
        x = p - y * w
        for i in range(4):
            yy = y + (i == 0) - (i == 1)
            xx = x + (i == 2) - (i == 3)
            if y0 <= yy < y1 and x0 <= xx < x1 and v[yy * w + xx] < PAGE_LEVEL and s.labels[yy * w + xx] == 0:
                s.labels[yy * w + xx] = 1
                s.stack[top] = <int>(yy * w + xx)
                top += 1
    if _rectangularity(s.labels, w, box, 1) < page_fill:
        return 0
    for y in range(y0, y1):
        for x in range(x0, x1):
            i = y * w + x
            if v[i] < PAGE_LEVEL and s.labels[i] == 0:
                holes += 1
            elif v[i] >= PAGE_LEVEL:
                level += _original(&s.src, i)
                n += 1
    if holes <= BLANK_HOLES * bh * bw:
        return -1 if 2 * min(bh, bw) >= max(bh, bw) else 0
    level /= n
    for y in range(bh):
        for x in range(bw):
            near = y < PAGE_EDGE or y >= bh - PAGE_EDGE or x < PAGE_EDGE or x >= bw - PAGE_EDGE
            yy = max(y - PAGE_EDGE, 0)
            while not near and yy < min(y + PAGE_EDGE + 1, bh):
                xx = max(x - PAGE_EDGE, 0)
                while not near and xx < min(x + PAGE_EDGE + 1, bw):
                    near = s.labels[(y0 + yy) * w + x0 + xx] == 1
                    xx += 1
                yy += 1
            s.canvas[y * bw + x] = level if near else _original(&s.src, (y0 + y) * w + x0 + x)
    for i in range(bh * bw):
        v[i] = s.canvas[i]
    return 1


cdef void _bbox(const double *c, Py_ssize_t h, Py_ssize_t w, Py_ssize_t *box) noexcept nogil:
    cdef Py_ssize_t y, x
    box[0] = h
    box[1] = 0
    box[2] = w
    box[3] = 0
    for y in range(h):
        for x in range(w):
            if c[y * w + x] > 0.0:
                box[0] = min(box[0], y)
                box[1] = max(box[1], y + 1)
                box[2] = min(box[2], x)
                box[3] = max(box[3], x + 1)
cdef Py_ssize_t _deskew(const double *src, Py_ssize_t h, Py_ssize_t w, double *dst) noexcept nogil:
    """Shear rows so the ink's principal axis is vertical; returns the new width.

    skew = mu11 / mu02 (clamped to [-1, 1]); row y moves by
    -skew * (y + 0.5 - cy), sampled with linear interpolation.
    """
    cdef Py_ssize_t y, x, nw, j0
    cdef double total = 0.0, sy = 0.0, sx = 0.0, cy, cx, mu11 = 0.0, mu02 = 0.0, skew, a, b
    cdef double shift, lo_shift, src_x, t
    for y in range(h):
        for x in range(w):
            a = src[y * w + x]
            total += a
            sy += a * (y + 0.5)
            sx += a * (x + 0.5)
    cy = sy / total
    cx = sx / total
    for y in range(h):
        for x in range(w):
            a = src[y * w + x]
            mu11 += a * (y + 0.5 - cy) * (x + 0.5 - cx)
            mu02 += a * (y + 0.5 - cy) * (y + 0.5 - cy)
    skew = mu11 / mu02 if mu02 > 1e-12 else 0.0
    skew = min(max(skew, -1.0), 1.0)
    a = -skew * (0.5 - cy)
    b = -skew * (h - 0.5 - cy)
    lo_shift = floor(min(a, b))
    nw = w + <Py_ssize_t>ceil(max(a, b)) - <Py_ssize_t>lo_shift + 1
    for y in range(h):
        shift = -skew * (y + 0.5 - cy) - lo_shift
        for x in range(nw):
            src_x = x - shift              # fractional source column
            j0 = <Py_ssize_t>floor(src_x)
            t = src_x - j0
            a = src[y * w + j0] if 0 <= j0 < w else 0.0
            b = src[y * w + j0 + 1] if 0 <= j0 + 1 < w else 0.0
            dst[y * nw + x] = (1.0 - t) * a + t * b
    return nw


cdef Py_ssize_t _stroke_radius(const double *c, Py_ssize_t h, Py_ssize_t w, double target, double ink) noexcept nogil:
    """Dilation radius that brings the estimated stroke width 2A/P up to
    target * long side (A: ink mass, P: edges between ink and background)."""
    cdef Py_ssize_t y, x
    cdef double area = 0.0, perim = 0.0, width
    cdef bint here
    for y in range(h):
        for x in range(w):
            area += c[y * w + x]
            here = c[y * w + x] > ink
            if here != (y > 0 and c[(y - 1) * w + x] > ink):
                perim += 1
            if here != (x > 0 and c[y * w + x - 1] > ink):
                perim += 1
            if here and (y == h - 1):
                perim += 1
            if here and (x == w - 1):
                perim += 1
    if perim == 0:
        return 0
    width = 2.0 * area / perim
    return <Py_ssize_t>floor((target * max(h, w) - width) / 2.0 + 0.5) if target * max(h, w) > width else 0


cdef Py_ssize_t _border_hist(const double *v, Py_ssize_t h, Py_ssize_t w, long *hist) noexcept nogil:
    """hist (256 bins) of the image's border pixels; returns how many there are."""
    cdef Py_ssize_t i, y, x, nb = 0
    for i in range(256):
        hist[i] = 0
    for y in range(h):
        for x in range(w):
            if y == 0 or y == h - 1 or x == 0 or x == w - 1:
                hist[_quant(v[y * w + x])] += 1
                nb += 1
    return nb


cdef inline void _max_line(const double *src, Py_ssize_t n, Py_ssize_t stride, Py_ssize_t r,
                           double *dst, Py_ssize_t dst_stride) noexcept nogil:
    """dst[i] (i < n + 2r, every dst_stride) = max of src[i - 2r .. i] (n values every stride), zero outside."""
    cdef Py_ssize_t i, k
    cdef double m
    for i in range(n + 2 * r):
        m = 0.0
        for k in range(max(0, i - 2 * r), min(n, i + 1)):
            m = max(m, src[k * stride])
        dst[i * dst_stride] = m


cdef void _dilate(const double *src, Py_ssize_t h, Py_ssize_t w, Py_ssize_t r, double *tmp, double *dst) noexcept nogil:
    """dst ((h+2r) x (w+2r)) = max filter of the zero-padded src over a (2r+1)^2 square: rows, then columns."""
    cdef Py_ssize_t W = w + 2 * r, y, x
    for y in range(h):                      # rows: tmp is h x W
        _max_line(src + y * w, w, 1, r, tmp + y * W, 1)
    for x in range(W):                      # columns: dst is (h+2r) x W
        _max_line(tmp + x, h, W, r, dst + x, W)


cdef void _place(const double *c, Py_ssize_t cw, Py_ssize_t *box, double box_side,
                 Py_ssize_t frame, double *line, float *out) noexcept nogil:
    """Area-resample c[box] so its long side is box_side, centred by mass."""
    cdef Py_ssize_t y0 = box[0], y1 = box[1], x0 = box[2], x1 = box[3]
    cdef Py_ssize_t bh = y1 - y0, bw = x1 - x0, i, j, r, k
    cdef double longest = bh if bh > bw else bw
    cdef double ly = box_side * bh / longest, lx = box_side * bw / longest
    cdef double sy = bh / ly, sx = bw / lx          # input pixels per output pixel
    cdef double iy = 1.0 / sy, ix = 1.0 / sx
    cdef double total = 0.0, my = 0.0, mx = 0.0, a, oy, ox, lo, hi, wgt, acc
    for r in range(bh):
        for k in range(bw):
            a = c[(y0 + r) * cw + x0 + k]
            total += a
            my += a * (r + 0.5)
            mx += a * (k + 0.5)
    oy = min(max(frame / 2.0 - my / total / sy, 0.0), frame - ly)
    ox = min(max(frame / 2.0 - mx / total / sx, 0.0), frame - lx)
    for i in range(frame):
        for k in range(bw):
            line[k] = 0.0
        lo = (i - oy) * sy
        hi = lo + sy
        for r in range(max(<Py_ssize_t>floor(lo), 0), min(<Py_ssize_t>ceil(hi), bh)):
            wgt = (min(hi, r + 1.0) - max(lo, <double>r)) * iy
            if wgt > 0:
                for k in range(bw):
                    line[k] += wgt * c[(y0 + r) * cw + x0 + k]
        for j in range(frame):
            lo = (j - ox) * sx
            hi = lo + sx
            acc = 0.0
            for k in range(max(<Py_ssize_t>floor(lo), 0), min(<Py_ssize_t>ceil(hi), bw)):
                wgt = (min(hi, k + 1.0) - max(lo, <double>k)) * ix
                if wgt > 0:
                    acc += wgt * line[k]
            out[i * frame + j] = <float>min(max(acc, 0.0), 1.0)


cdef bint _clean(double *v, Py_ssize_t h, Py_ssize_t w, const Params *p, Scratch *s, bint look_inside,
                 Py_ssize_t *region, Py_ssize_t *box) noexcept nogil:
    """Steps 1-3 on ``v`` (h x w values in [0, 1], overwritten): the ink
    alone, high on a zero background.  Returns False if there is none.
    Else ``v`` holds the ink of the picture's ``region`` = (y0, x0, rows,
    columns), the whole picture or the page inside it, and ``box`` = (y0,
    y1, x0, x1) is the ink's box within that region.  ``look_inside``: may
    run again on a page inside a surround."""
    cdef Py_ssize_t size = h * w, i, y, x, nb = 0, first, last
    cdef double background, lo, hi, top
    cdef long hist[256]
    cdef int page
    cdef bint speckled
    region[0] = 0
    region[1] = 0
    region[2] = h
    region[3] = w
    # 1. polarity: the background is the border's median; the ink is the
    #    extreme (darkest or brightest 3x3 mean) that lies farther from it
    nb = _border_hist(v, h, w, hist)
    background = _hist_quantile(hist, nb, 0.5)
    _local_mean_range(v, h, w, s.canvas2, &lo, &hi)
    if background - lo > hi - background:
        for i in range(size):
            v[i] = 1.0 - v[i]
    _border_hist(v, h, w, hist)
    # 2. clean-up where the background is not already black
    if _hist_quantile(hist, nb, 0.9) > p.clean_level:
        _remove_background(v, h, w, p.bg_percentile, s.canvas)
        top = _brightest3(v, h, w, s.canvas2)
        # ink rises locally by min_contrast, and by min_snr times the noise
        # unless it rises by SURE_CONTRAST or the picture is too small to
        # tell noise from strokes
        if top <= 0.0 or not _rises(h, w, s.canvas2 + size, max(p.min_contrast, SURE_CONTRAST)) and (
                not _rises(h, w, s.canvas2 + size, p.min_contrast if min(h, w) < MIN_LINE
                           else max(p.min_contrast, p.min_snr * _noise(v, h, w)))):
            return False
        _remove_lines(v, h, w, p.threshold / 2 * top, p, s)
        _stretch_threshold(v, size, top, p.threshold, p.gain)
    else:
        # nearly black already: lift the background's level off, stretch
        # the brightest pixel to 1 and drop faint speckle
        background = _hist_quantile(hist, nb, 0.5)
        top = 0.0
        for i in range(size):
            top = max(top, v[i])
        top -= background
        # less than half a grey level above the background is the
        # background (1 - 235/255 is not exactly 20/255 in floats); the
        # noise is only worth estimating when the ink is faint
        if top < 0.5 / 255.0 or top < p.min_contrast or (
                top < SURE_CONTRAST and min(h, w) >= MIN_LINE and top < p.min_snr * _noise(v, h, w)):
            return False
        first = size
        last = 0
        for i in range(size):
            if v[i] - background >= 0.5 / 255.0:
                v[i] = v[i] - background
                first = min(first, i)
                last = i + 1
            else:
                v[i] = 0.0
        _remove_lines(v, h, w, p.clean_threshold / 2 * top, p, s)
        # the rows holding ink are all that the rest needs to look at
        first = first // w * w
        last = (last + w - 1) // w * w
        speckled = _speckled(v + first, (last - first) // w, w, p.clean_threshold * top, 0.5 * top)
        for i in range(first, last):
            v[i] = v[i] / top
            if speckled and v[i] < p.clean_threshold:
                v[i] = 0.0
    # 3. specks and the ink's box; a page seen inside a dark surround
    if not _drop_specks(v, h, w, p.keep_ratio, s, box):
        return False
    if look_inside:
        page = _page_inside(v, h, w, box, p.page_fill, s)
        if page == -1:
            return False
        if page == 1:
            y = box[0]
            x = box[2]
            if not _clean(v, box[1] - box[0], box[3] - box[2], p, s, False, region, box):
                return False
            region[0] = y
            region[1] = x
    return True


cdef bint _frame(double *v, Py_ssize_t h, Py_ssize_t w, const Params *p, Scratch *s, float *out) noexcept nogil:
    """Steps 1-6 on ``v`` (h x w values in [0, 1], overwritten).  Writes the
    frame into ``out`` (zeroed by the caller) and returns True if ink is
    found."""
    cdef Py_ssize_t frame = p.frame, y, x, ch, cw, r
    cdef Py_ssize_t region[4]
    cdef Py_ssize_t box[4]
    cdef double *c
    cdef double *spare
    cdef double *swap
    if not _clean(v, h, w, p, s, True, region, box):
        return False
    w = region[3]
    ch = box[1] - box[0]
    cw = box[3] - box[2]
    c = s.canvas
    spare = s.canvas2
    for y in range(ch):
        for x in range(cw):
            c[y * cw + x] = v[(box[0] + y) * w + box[2] + x]
    # 4. deskew
    if p.deskew:
        cw = _deskew(c, ch, cw, spare)
        swap = c
        c = spare
        spare = swap
        _bbox(c, ch, cw, box)
        # crop again to the sheared ink
        r = box[3] - box[2]
        for y in range(box[1] - box[0]):
            for x in range(r):
                spare[y * r + x] = c[(box[0] + y) * cw + box[2] + x]
        ch = box[1] - box[0]
        cw = r
        swap = c
        c = spare
        spare = swap
    # 5. strokes
    if p.stroke > 0:
        r = _stroke_radius(c, ch, cw, p.stroke, p.ink_level)
        if r > 0:
            _dilate(c, ch, cw, r, s.v, spare)
            ch += 2 * r
            cw += 2 * r
            swap = c
            c = spare
            spare = swap
    # 6. into the frame
    box[0] = 0
    box[1] = ch
    box[2] = 0
    box[3] = cw
    _place(c, cw, box, p.box, frame, s.line, out)
    return True


cdef void _load(const pixel_t[:, :, ::1] src, Py_ssize_t n, double offset, double scale, Scratch *s) noexcept nogil:
    """Picture n of ``src`` into ``s.v`` as ``(x - offset) * scale`` clipped to [0, 1]."""
    cdef Py_ssize_t i
    s.src.u8 = NULL
    s.src.f32 = NULL
    if pixel_t is float:
        s.src.f32 = &src[n, 0, 0]
    else:
        s.src.u8 = &src[n, 0, 0]
    s.src.offset = offset
    s.src.scale = scale
    for i in range(src.shape[1] * src.shape[2]):
        s.v[i] = _original(&s.src, i)


cdef bint _one(const pixel_t[:, :, ::1] src, Py_ssize_t n, double offset, double scale,
               const Params *p, Scratch *s, float[:, :, ::1] out, bint ink_map) noexcept nogil:
    """Picture n: its frame (``out`` is N x F x F) or, with ``ink_map``, its
    cleaned ink where it lies in the picture (``out`` is N x H x W)."""
    cdef Py_ssize_t i, y, x
    cdef Py_ssize_t region[4]
    cdef Py_ssize_t box[4]
    _load(src, n, offset, scale, s)
    for i in range(out.shape[1] * out.shape[2]):
        out[n, i // out.shape[2], i % out.shape[2]] = 0.0
    if not ink_map:
        return _frame(s.v, src.shape[1], src.shape[2], p, s, &out[n, 0, 0])
    if not _clean(s.v, src.shape[1], src.shape[2], p, s, True, region, box):
        return False
    for y in range(region[2]):
        for x in range(region[3]):
            out[n, region[0] + y, region[1] + x] = <float>s.v[y * region[3] + x]
    return True


def scratch_sizes(Py_ssize_t h, Py_ssize_t w, double stroke, bint deskew):
    """Doubles of per-thread scratch that normalising an h x w image needs:
    (image, canvas, line).  The canvas holds the crop widened by deskewing
    (at most h + 2 columns) and padded by the stroke dilation."""
    cdef Py_ssize_t wide = w + (h + 2 if deskew else 0)
    cdef Py_ssize_t pad = <Py_ssize_t>ceil(stroke * max(h, wide) / 2.0) + 1 if stroke > 0 else 0
    cdef Py_ssize_t canvas = (h + 2 * pad) * (wide + 2 * pad)
    return h * w, max(canvas, 2 * h * w, 64 * 64), wide + 2 * pad


def normalize(const pixel_t[:, :, ::1] src, float[:, :, ::1] out, unsigned char[::1] ink,
              const double[::1] offset, const double[::1] scale, dict settings, int threads, bint ink_maps=False):
    """MNIST-style normalisation of a batch ``src`` (N, H, W) into ``out``
    (N, F, F) float32; image n is read as ``(x - offset[n]) * scale[n]``,
    clipped to [0, 1].  ``ink[n]`` is set to 1 where ink was found (else
    the frame is all zero).  ``settings``: the fields of
    ``fastdigits.preprocess.Normalization``.  With ``ink_maps``, ``out`` is
    (N, H, W) and gets steps 1-3 only: each picture's cleaned ink, high on
    zero, where it lies in the picture.  See the module notes for the
    steps."""
    cdef Params p
    p.box = settings["box"]
    p.clean_level = settings["clean_level"]
    p.bg_percentile = settings["background_percentile"]
    p.threshold = settings["threshold"]
    p.gain = settings["gain"]
    p.keep_ratio = settings["keep_ratio"]
    p.stroke = settings["stroke"]
    p.ink_level = settings["ink_level"]
    p.deskew = settings["deskew"]
    p.clean_threshold = settings["clean_threshold"]
    p.min_contrast = settings["min_contrast"]
    p.min_snr = settings["min_snr"]
    p.page_fill = settings["page_fill"]
    p.line_length = settings["line_length"]
    p.line_width = settings["line_width"]
    p.frame = out.shape[1]
    cdef Py_ssize_t n_images = src.shape[0], h = src.shape[1], w = src.shape[2], n, t
    n_img, n_canvas, n_line = scratch_sizes(h, w, p.stroke, p.deskew)
    threads = max(threads, 1)
    cdef double[:, ::1] v = np.empty((threads, max(n_img, n_canvas)), np.float64)
    cdef double[:, ::1] canvas = np.empty((threads, n_canvas), np.float64)
    cdef double[:, ::1] canvas2 = np.empty((threads, n_canvas), np.float64)
    cdef double[:, ::1] mass = np.empty((threads, h * w + 2), np.float64)
    cdef double[:, ::1] line = np.empty((threads, n_line + 8), np.float64)
    cdef int[:, ::1] labels = np.empty((threads, h * w), np.intc)
    cdef int[:, ::1] stack = np.empty((threads, h * w), np.intc)
    # One Scratch per thread, filled before the parallel loop.
    cdef Scratch *per_thread = <Scratch *>malloc(threads * sizeof(Scratch))
    if per_thread == NULL:
        raise MemoryError()
    for t in range(threads):
        per_thread[t].v = &v[t, 0]
        per_thread[t].canvas = &canvas[t, 0]
        per_thread[t].canvas2 = &canvas2[t, 0]
        per_thread[t].mass = &mass[t, 0]
        per_thread[t].line = &line[t, 0]
        per_thread[t].labels = &labels[t, 0]
        per_thread[t].stack = &stack[t, 0]
    try:
        for n in prange(n_images, nogil=True, num_threads=threads, schedule="dynamic"):
            ink[n] = _one(src, n, offset[n], scale[n], &p, &per_thread[threadid()], out, ink_maps)
    finally:
        free(per_thread)


def label_components(const float[:, ::1] ink, int[:, ::1] labels):
    """Number the 8-connected components of ``ink > 0`` (H, W) in ``labels``
    (H, W) int32: 0 for background, 1..n in raster order of their first
    pixel.  Returns n."""
    cdef Py_ssize_t h = ink.shape[0], w = ink.shape[1], i, p, y, x, yy, xx, top
    cdef int n = 0
    cdef int[::1] stack = np.empty(max(h * w, 1), np.intc)
    with nogil:
        for y in range(h):
            for x in range(w):
                labels[y, x] = 0
        for i in range(h * w):
            if ink[i // w, i % w] <= 0 or labels[i // w, i % w] != 0:
                continue
            n += 1
            labels[i // w, i % w] = n
            stack[0] = <int>i
            top = 1
            while top > 0:
                top -= 1
                p = stack[top]
                y = p // w
                x = p - y * w
                for yy in range(max(y - 1, 0), min(y + 2, h)):
                    for xx in range(max(x - 1, 0), min(x + 2, w)):
                        if ink[yy, xx] > 0 and labels[yy, xx] == 0:
                            labels[yy, xx] = n
                            stack[top] = <int>(yy * w + xx)
                            top += 1
    return n


def grow_labels(const float[:, ::1] ink, int[:, ::1] labels):
    """Give unlabelled ink (``ink > 0``, ``labels == 0``) the label of the
    nearest labelled pixel along the ink (8-connected steps), in place:
    one breadth-first search from all labelled pixels at once, O(H W).
    Ink that no labelled pixel reaches stays 0.  Between two labels at the
    same distance, the one whose pixel comes first in raster order wins.
    Returns the number of pixels labelled."""
    cdef Py_ssize_t h = ink.shape[0], w = ink.shape[1], y, x, yy, xx, p, head = 0, tail = 0, start
    if labels.shape[0] != h or labels.shape[1] != w:
        raise ValueError(f"labels {tuple(labels.shape)[:2]} must be the shape of ink {(h, w)}")
    cdef int[::1] queue = np.empty(max(h * w, 1), np.intc)
    with nogil:
        for y in range(h):
            for x in range(w):
                if labels[y, x] != 0:
                    queue[tail] = <int>(y * w + x)
                    tail += 1
        start = tail
        while head < tail:
            p = queue[head]
            head += 1
            y = p // w
            x = p - y * w
            for yy in range(max(y - 1, 0), min(y + 2, h)):
                for xx in range(max(x - 1, 0), min(x + 2, w)):
                    if labels[yy, xx] == 0 and ink[yy, xx] > 0:
                        labels[yy, xx] = labels[y, x]
                        queue[tail] = <int>(yy * w + xx)
                        tail += 1
    return tail - start
