"""Slow, obviously-correct float64 references that the compiled code is
tested against.  Written for reading, not for speed."""

from __future__ import annotations

import math
from fractions import Fraction
from types import SimpleNamespace

import numpy as np


def area_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) matrix of area resampling along one axis.

    Output pixel i covers input interval [i*n_in/n_out, (i+1)*n_in/n_out);
    entry (i, r) is the length of that interval's overlap with input pixel
    [r, r+1), divided by the interval's length.  Exact rational arithmetic.
    """
    m = np.zeros((n_out, n_in))
    for i in range(n_out):
        lo, hi = Fraction(i * n_in, n_out), Fraction((i + 1) * n_in, n_out)
        for r in range(n_in):
            overlap = min(hi, r + 1) - max(lo, r)
            if overlap > 0:
                m[i, r] = overlap / (hi - lo)
    return m


def resize_area(images: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Area-resample (H, W) or (N, H, W) images: A_y @ image @ A_x.T."""
    images = np.asarray(images, dtype=np.float64)
    ay = area_matrix(images.shape[-2], size[0])
    ax = area_matrix(images.shape[-1], size[1])
    return ay @ images @ ax.T


# ------------------------------------------------- the network, textbook


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


ACTIVATIONS = {
    "sigmoid": (sigmoid, lambda a: a * (1 - a)),
    "tanh": (np.tanh, lambda a: 1 - a**2),
    "relu": (lambda z: np.maximum(z, 0), lambda a: (a > 0).astype(float)),
    "identity": (lambda z: z, lambda a: np.ones_like(a)),
}


def forward(X, weights, biases, activation, output):
    """Activations of every layer, input first: a[l+1] = f(a[l] @ W[l] + b[l])."""
    f = ACTIVATIONS[activation][0]
    activations = [np.asarray(X, float)]
    for layer, (W, b) in enumerate(zip(weights, biases)):
        z = activations[-1] @ W + b
        last = layer == len(weights) - 1
        activations.append((softmax(z) if output == "softmax" else sigmoid(z)) if last else f(z))
    return activations


def targets(y, k, output):
    """Target rows (m, k): onehot(y); a label -1 (a row of no class, outlier
    exposure) is 1/k everywhere for softmax and 0 everywhere for sigmoids."""
    y = np.asarray(y)
    t = np.zeros((len(y), k))
    known = y >= 0
    t[np.nonzero(known)[0], y[known]] = 1.0
    if output == "softmax":
        t[~known] = 1.0 / k
    return t


def loss(X, y, weights, biases, activation, output, l2=0.0, sample_weight=None):
    """J = (1/m) sum_i w_i CE_i + l2/(2m) sum W**2 (biases not regularised),
    w_i the rows' weights (ones when not given).

    CE for softmax: -sum_k t_k log h_k; for one-vs-all sigmoids:
    -sum_k [t_k log h_k + (1 - t_k) log(1 - h_k)].
    """
    m = len(X)
    w = np.ones(m) if sample_weight is None else np.asarray(sample_weight, float)
    h = forward(X, weights, biases, activation, output)[-1]
    t = targets(y, h.shape[1], output)
    if output == "softmax":
        ce = -np.sum(t * np.log(h), axis=1)
    else:
        ce = -np.sum(t * np.log(h) + (1 - t) * np.log(1 - h), axis=1)
    return np.sum(w * ce) / m + l2 / (2 * m) * sum(np.sum(W**2) for W in weights)


def backprop(X, y, weights, biases, activation, output, l2=0.0, sample_weight=None):
    """Gradients (nabla_w, nabla_b) of ``loss``.

    Output delta = w_i (h - t) / m for both output styles; hidden deltas
    go back through the weights times the activation's derivative.
    """
    m = len(X)
    w = np.ones(m) if sample_weight is None else np.asarray(sample_weight, float)
    fprime = ACTIVATIONS[activation][1]
    activations = forward(X, weights, biases, activation, output)
    delta = w[:, None] * (activations[-1] - targets(y, activations[-1].shape[1], output)) / m
    nabla_w, nabla_b = [None] * len(weights), [None] * len(weights)
    for layer in range(len(weights) - 1, -1, -1):
        nabla_w[layer] = activations[layer].T @ delta + l2 / m * weights[layer]
        nabla_b[layer] = delta.sum(axis=0)
        if layer > 0:
            delta = (delta @ weights[layer].T) * fprime(activations[layer])
    return nabla_w, nabla_b


def optimizer_step(kind, p, g, s1, s2, lr, momentum=0.9, beta1=0.9, beta2=0.999, eps=1e-8):
    """One step of "sgd" (momentum), "nesterov" or "adam" on parameters p
    with gradient g and state s1, s2: (p, s1, s2) after it.  Adam's ``lr``
    carries its bias correction."""
    if kind == "adam":
        s1 = beta1 * s1 + (1 - beta1) * g
        s2 = beta2 * s2 + (1 - beta2) * g * g
        return p - lr * s1 / (np.sqrt(s2) + eps), s1, s2
    v = momentum * s1 - lr * g
    return p + (momentum * v - lr * g if kind == "nesterov" else v), v, s2


# --------------------------------------- MNIST-style normalisation, slowly
#
# Follows ext/_preprocess.pyx's ``_frame`` step by step, in float64 like
# the kernel.  Sums whose last bit can decide a comparison (3x3 sums, the
# page's level) are taken in the kernel's order.

#: The kernel's constants: pictures narrower than MIN_LINE have no lines
#: erased, boxes smaller than MIN_PAGE are no page; PAGE_EDGE, PAGE_GATE,
#: BLANK_HOLES, PAGE_LEVEL, SPECKLE and SURE_CONTRAST as in the kernel's
#: notes.
MIN_LINE = 32
LOCAL = 4
MIN_PAGE = 12
PAGE_EDGE = 3
PAGE_GATE = 0.5
BLANK_HOLES = 0.005
PAGE_LEVEL = 0.5
SPECKLE = 0.1
SURE_CONTRAST = 0.25


def _quant(x):
    return int(x * 255.0 + 0.5)


def _hist_quantile(values, p):
    """Smallest level k/255 with at least max(1, ceil(p n)) values <= it."""
    levels = sorted(_quant(x) for x in values)
    need = max(1, int(np.ceil(p * len(levels))))
    return levels[need - 1] / 255.0


def _border(v):
    h, w = v.shape
    return [v[y, x] for y in range(h) for x in range(w) if y in (0, h - 1) or x in (0, w - 1)]


def _box3(v):
    """Sum of v over each pixel's 3x3 neighbourhood inside the image, added
    up in the kernel's order: along each row centre + left + right, then
    along each column centre + above + below."""
    h, w = v.shape
    rows = np.zeros((h, w))
    for y in range(h):
        for x in range(w):
            acc = v[y, x]
            if x > 0:
                acc += v[y, x - 1]
            if x < w - 1:
                acc += v[y, x + 1]
            rows[y, x] = acc
    sums = np.zeros((h, w))
    for y in range(h):
        for x in range(w):
            acc = rows[y, x]
            if y > 0:
                acc += rows[y - 1, x]
            if y < h - 1:
                acc += rows[y + 1, x]
            sums[y, x] = acc
    return sums


def _local_means(v):
    """Each pixel's 3x3 mean over the part of the neighbourhood inside the image."""
    h, w = v.shape
    sums = _box3(v)
    return [sums[y, x] / ((1 + (y > 0) + (y < h - 1)) * (1 + (x > 0) + (x < w - 1)))
            for y in range(h) for x in range(w)]


def _brightest3(v):
    """The brightest 3x3 mean, counting zeros outside the image."""
    return max(total / 9.0 for total in _box3(v).ravel())


def _local_rise(v):
    """The most any 3x3 mean rises above the lowest 3x3 mean within LOCAL
    pixels of it (a (2 LOCAL + 1)^2 square, inside the image)."""
    means = _box3(v) / 9.0
    h, w = means.shape
    return max(means[y, x] - means[max(y - LOCAL, 0):y + LOCAL + 1, max(x - LOCAL, 0):x + LOCAL + 1].min()
               for y in range(h) for x in range(w))


def _noise(v):
    """The noise's standard deviation: the median absolute difference of
    horizontal neighbours (on the 1/255 levels) / (0.6745 sqrt 2)."""
    h, w = v.shape
    if w < 2:
        return 0.0
    diffs = [abs(v[y, x + 1] - v[y, x]) for y in range(h) for x in range(w - 1)]
    return _hist_quantile(diffs, 0.5) / 0.9539


def _speckled(v, faint):
    """Whether more than SPECKLE of the ink pixels are stray: below ``faint``
    with nothing at 0.5 or more in their 3x3 neighbourhood."""
    h, w = v.shape
    ink = stray = 0
    for y in range(h):
        for x in range(w):
            if v[y, x] <= 0:
                continue
            ink += 1
            if v[y, x] < faint and not (v[max(y - 1, 0):y + 2, max(x - 1, 0):x + 2] >= 0.5).any():
                stray += 1
    return stray > SPECKLE * ink


def _remove_background(v, pct):
    h, w = v.shape
    block = max(4, int(np.ceil(max(h, w) / 8)))
    gh, gw = -(-h // block), -(-w // block)
    grid = np.array([[_hist_quantile(v[by * block:(by + 1) * block, bx * block:(bx + 1) * block].ravel(), pct)
                      for bx in range(gw)] for by in range(gh)])
    # each block takes the lowest estimate of its 3x3 neighbourhood
    grid = np.array([[grid[max(by - 1, 0):by + 2, max(bx - 1, 0):bx + 2].min() for bx in range(gw)]
                     for by in range(gh)])
    out = v.copy()
    for y in range(h):
        fy = min(max((y + 0.5) / block - 0.5, 0.0), gh - 1.0)
        i0 = int(np.floor(fy)); i1 = min(i0 + 1, gh - 1); ty = fy - i0
        for x in range(w):
            fx = min(max((x + 0.5) / block - 0.5, 0.0), gw - 1.0)
            j0 = int(np.floor(fx)); j1 = min(j0 + 1, gw - 1); tx = fx - j0
            bg = (1 - ty) * ((1 - tx) * grid[i0, j0] + tx * grid[i0, j1]) + ty * ((1 - tx) * grid[i1, j0] + tx * grid[i1, j1])
            out[y, x] = max(v[y, x] - bg, 0.0)
    return out


def _threshold(v, t, gain):
    """The soft threshold with gain."""
    return np.clip((v - t) / (1 - t) * gain, 0, 1)


def _erase_lines(v, length, width, level):
    """v (a copy) without the long thin lines of ink that run along its rows,
    and how many lines that was (runs of neighbouring rows erased in).

    Ink is what lies above ``level``.  back[y, x] (ahead[y, x]): the
    longest path of ink that ends (starts) at (y, x), moving one column
    per step and at most one row up or down.  A pixel on such a path at
    least ``length`` long is erased if the ink through it, counted up and
    down its column, is at most ``width`` pixels thick (the count stops
    once it is thicker).  Every pixel is judged before any is erased.
    """
    h, w = v.shape
    ink = v > level
    back = np.zeros((h, w), int)
    for x in range(w):
        for y in range(h):
            if ink[y, x]:
                back[y, x] = 1 + (back[max(y - 1, 0):y + 2, x - 1].max() if x > 0 else 0)
    ahead = np.zeros((h, w), int)
    for x in range(w - 1, -1, -1):
        for y in range(h):
            if ink[y, x]:
                ahead[y, x] = 1 + (ahead[max(y - 1, 0):y + 2, x + 1].max() if x < w - 1 else 0)
    erase = np.zeros((h, w), bool)
    for x in range(w):
        for y in range(h):
            if not ink[y, x] or back[y, x] + ahead[y, x] - 1 < length:
                continue
            run = 1  # ink across the line through this pixel
            j = y - 1
            while j >= 0 and ink[j, x] and run <= width:
                run += 1
                j -= 1
            j = y + 1
            while j < h and ink[j, x] and run <= width:
                run += 1
                j += 1
            erase[y, x] = run <= width
    out = v.copy()
    out[erase] = 0.0
    rows = erase.any(axis=1)
    lines = int(rows[0]) + int(np.sum(rows[1:] & ~rows[:-1]))  # runs of neighbouring rows with erased pixels
    return out, lines


def _remove_lines(v, level, line_length, line_width):
    """Ruled lines (along the rows) in pictures at least MIN_LINE wide, then
    margin and grid lines (along the columns: the rows of the transpose) in
    pictures at least MIN_LINE tall.  Lengths are a share of the line's
    direction, widths of the picture's extent across it."""
    if line_length <= 0:
        return v
    h, w = v.shape
    out, lines, across = v, 0, 0
    if w >= MIN_LINE:
        out, lines = _erase_lines(out, int(np.ceil(line_length * w)), max(2, int(np.floor(line_width * h + 0.5))),
                                  level)
    if h >= MIN_LINE:
        out, across = _erase_lines(out.T, int(np.ceil(line_length * h)),
                                   max(2, int(np.floor(line_width * w + 0.5))), level)
        out = out.T
    return v if lines + across == 1 else out  # a lone line may be a 1: paper's lines come in sets


def _components(mask):
    """Labels of 8-connected components, by breadth-first search."""
    h, w = mask.shape
    labels = np.zeros((h, w), int)
    count = 0
    for y0 in range(h):
        for x0 in range(w):
            if mask[y0, x0] and not labels[y0, x0]:
                count += 1
                labels[y0, x0] = count
                queue = [(y0, x0)]
                while queue:
                    y, x = queue.pop()
                    for yy in range(max(0, y - 1), min(h, y + 2)):
                        for xx in range(max(0, x - 1), min(w, x + 2)):
                            if mask[yy, xx] and not labels[yy, xx]:
                                labels[yy, xx] = count
                                queue.append((yy, xx))
    return labels, count


def _drop_specks(v, keep_ratio):
    """v without the components that hold less than keep_ratio of the
    largest one's ink, and the box (y0, y1, x0, x1) of the rest; the box is
    None if there is no ink."""
    labels, count = _components(v > 0)
    if count == 0:
        return v, None
    v = v.copy()
    mass = np.array([v[labels == k].sum() for k in range(1, count + 1)])
    for k in range(1, count + 1):
        if mass[k - 1] < keep_ratio * mass.max():
            v[labels == k] = 0
    ys, xs = np.nonzero(v > 0)
    return v, (ys.min(), ys.max() + 1, xs.min(), xs.max() + 1)


def _rectangularity(filled, y0, x0):
    """Share of the smallest enclosing rectangle, at angles k * 3 degrees for
    k = -15..15, that the pixels ``filled`` (a mask over the box whose
    top-left pixel is (y0, x0)) fill.  Pixel (y, x) of the image stands at
    u = c x + s y along the rectangle and t = c y - s x across it."""
    ys, xs = np.nonzero(filled)
    ys, xs = ys + y0, xs + x0
    best = np.inf
    for k in range(-15, 16):
        c, s = math.cos(k * math.pi / 60.0), math.sin(k * math.pi / 60.0)
        u = c * xs + s * ys
        t = c * ys - s * xs
        best = min(best, (u.max() - u.min() + 1.0) * (t.max() - t.min() + 1.0))
    return len(ys) / best


def _page_inside(v, orig, box, page_fill):
    """Whether the ink in ``box`` is a page inside a dark surround:
    (0, None) if not, (-1, None) for an empty square-ish page, (1, page)
    for a page with a digit on it, ``page`` being the box of ``orig`` with
    everything within PAGE_EDGE of the outside (or of the box's edge) set
    to the page's mean level."""
    y0, y1, x0, x1 = box
    bh, bw = y1 - y0, x1 - x0
    if bh < MIN_PAGE or bw < MIN_PAGE:
        return 0, None
    page = v[y0:y1, x0:x1] >= PAGE_LEVEL
    if page.sum() < PAGE_GATE * bh * bw:
        return 0, None
    # the outside: what a flood (4-connected) from the box's edge reaches
    # through the pixels that are not page
    outside = np.zeros((bh, bw), bool)
    stack = []
    for y in range(bh):
        for x in range(bw):
            if not page[y, x] and (y in (0, bh - 1) or x in (0, bw - 1)):
                outside[y, x] = True
                stack.append((y, x))
    while stack:
        y, x = stack.pop()
        for yy, xx in ((y + 1, x), (y - 1, x), (y, x + 1), (y, x - 1)):
            if 0 <= yy < bh and 0 <= xx < bw and not page[yy, xx] and not outside[yy, xx]:
                outside[yy, xx] = True
                stack.append((yy, xx))
    if _rectangularity(~outside, y0, x0) < page_fill:
        return 0, None
    holes = np.sum(~page & ~outside)
    if holes <= BLANK_HOLES * bh * bw:
        return (-1 if 2 * min(bh, bw) >= max(bh, bw) else 0), None
    level, n = 0.0, 0  # the page's mean level in the picture, summed row by row
    for y in range(bh):
        for x in range(bw):
            if page[y, x]:
                level += orig[y0 + y, x0 + x]
                n += 1
    level /= n
    out = orig[y0:y1, x0:x1].copy()
    for y in range(bh):
        for x in range(bw):
            edge = y < PAGE_EDGE or y >= bh - PAGE_EDGE or x < PAGE_EDGE or x >= bw - PAGE_EDGE
            near = outside[max(y - PAGE_EDGE, 0):y + PAGE_EDGE + 1, max(x - PAGE_EDGE, 0):x + PAGE_EDGE + 1].any()
            if edge or near:
                out[y, x] = level
    return 1, out


def _crop(v):
    ys, xs = np.nonzero(v > 0)
    return v[ys.min():ys.max() + 1, xs.min():xs.max() + 1]


def _deskew(c):
    h, w = c.shape
    yy, xx = np.mgrid[0:h, 0:w] + 0.5
    total = c.sum()
    cy, cx = (c * yy).sum() / total, (c * xx).sum() / total
    mu11 = (c * (yy - cy) * (xx - cx)).sum()
    mu02 = (c * (yy - cy) ** 2).sum()
    skew = float(np.clip(mu11 / mu02 if mu02 > 1e-12 else 0.0, -1, 1))
    a, b = -skew * (0.5 - cy), -skew * (h - 0.5 - cy)
    lo = np.floor(min(a, b))
    nw = w + int(np.ceil(max(a, b))) - int(lo) + 1
    out = np.zeros((h, nw))
    for y in range(h):
        shift = -skew * (y + 0.5 - cy) - lo
        for x in range(nw):
            sx = x - shift
            j0 = int(np.floor(sx)); t = sx - j0
            left = c[y, j0] if 0 <= j0 < w else 0.0
            right = c[y, j0 + 1] if 0 <= j0 + 1 < w else 0.0
            out[y, x] = (1 - t) * left + t * right
    return out


def _stroke_radius(c, target, ink):
    """Radius bringing the width estimate 2 * mass / perimeter to target * long side."""
    mask = np.pad(c > ink, 1)
    perimeter = np.sum(mask[1:, :] != mask[:-1, :]) + np.sum(mask[:, 1:] != mask[:, :-1])
    if perimeter == 0:
        return 0
    width = 2 * c.sum() / perimeter
    goal = target * max(c.shape)
    return int(np.floor((goal - width) / 2 + 0.5)) if goal > width else 0


def _dilate(c, r):
    """Grey max filter over a (2r+1)^2 square of the zero-padded image."""
    padded = np.pad(c, 2 * r)
    h, w = c.shape[0] + 2 * r, c.shape[1] + 2 * r
    return np.array([[padded[y:y + 2 * r + 1, x:x + 2 * r + 1].max() for x in range(w)] for y in range(h)])


def _place(c, box, frame):
    """Area-resample c so its long side is ``box``, centred by mass."""
    bh, bw = c.shape
    longest = max(bh, bw)
    ly, lx = box * bh / longest, box * bw / longest
    yy, xx = np.mgrid[0:bh, 0:bw] + 0.5
    total = c.sum()
    oy = min(max(frame / 2 - (c * yy).sum() / total * ly / bh, 0.0), frame - ly)
    ox = min(max(frame / 2 - (c * xx).sum() / total * lx / bw, 0.0), frame - lx)

    def weights(n_in, length, offset):
        # m[i, r]: share of output pixel i covered by input pixel r's image.
        m = np.zeros((frame, n_in))
        s = n_in / length
        for i in range(frame):
            lo, hi = (i - offset) * s, (i - offset) * s + s
            for r in range(n_in):
                m[i, r] = max(0.0, min(hi, r + 1) - max(lo, r)) / s
        return m

    return np.clip(weights(bh, ly, oy) @ c @ weights(bw, lx, ox).T, 0, 1)


def _frame(v, p, look_inside):
    """Steps 1-6 on v (values in [0, 1]): the frame, or None if no ink is found."""
    orig = v
    # 1. polarity: background = the border's median; ink = the extreme of
    #    the 3x3 local means that lies farther from it
    background = _hist_quantile(_border(v), 0.5)
    local = _local_means(v)
    if background - min(local) > max(local) - background:
        v = 1 - v
    # 2. clean-up
    if _hist_quantile(_border(v), 0.9) > p.clean_level:  # on paper
        v = _remove_background(v, p.bg_percentile)
        top = _brightest3(v)
        rise = _local_rise(v)
        if top <= 0 or rise < p.min_contrast or (rise < SURE_CONTRAST and min(v.shape) >= MIN_LINE
                                                   and rise < p.min_snr * _noise(v)):
            return None
        v = np.minimum(v / top, 1.0)
        v = _remove_lines(v, p.threshold / 2, p.line_length, p.line_width)
        v = _threshold(v, p.threshold, p.gain)
    else:  # nearly black already: lift the background's level off, stretch, drop speckle
        background = _hist_quantile(_border(v), 0.5)
        top = v.max() - background
        if top < 0.5 / 255 or top < p.min_contrast or (top < SURE_CONTRAST and min(v.shape) >= MIN_LINE
                                                       and top < p.min_snr * _noise(v)):
            return None
        lifted = v - background
        v = np.where(lifted >= 0.5 / 255, lifted, 0.0)  # less than half a grey level up is background
        v = v / top
        v = _remove_lines(v, p.clean_threshold / 2, p.line_length, p.line_width)
        if _speckled(v, p.clean_threshold):
            v = np.where(v < p.clean_threshold, 0.0, v)
    # 3. drop specks; a page inside a dark surround
    v, box = _drop_specks(v, p.keep_ratio)
    if box is None:
        return None
    if look_inside:
        kind, page = _page_inside(v, orig, box, p.page_fill)
        if kind == -1:
            return None
        if kind == 1:
            return _frame(page, p, look_inside=False)
    y0, y1, x0, x1 = box
    c = v[y0:y1, x0:x1]
    # 4. deskew
    if p.deskew:
        c = _crop(_deskew(c))
    # 5. strokes
    if p.stroke > 0:
        r = _stroke_radius(c, p.stroke, p.ink_level)
        if r > 0:
            c = _dilate(c, r)
    # 6. into the frame
    return _place(c, p.box, p.frame)


def input_range(image):
    """(offset, scale) reading a picture into [0, 1] as (x - offset) * scale:
    uint8 as 0..255; floats within [0, 1] (give or take 1e-3) as they are;
    other floats within [0, 255] as grey levels; any other floats from
    their own minimum to their own maximum."""
    image = np.asarray(image)
    if image.dtype == np.uint8:
        return 0.0, 1 / 255
    lo, hi = float(image.min()), float(image.max())
    if lo >= -1e-3 and hi <= 1 + 1e-3:
        return 0.0, 1.0
    if lo >= 0 and hi <= 255:
        return 0.0, 1 / 255
    return (lo, 1 / (hi - lo)) if hi > lo else (0.0, 1.0)


def normalize(image, *, scale=None, offset=0.0, box=20.0, clean_level=0.1, bg_percentile=0.1, threshold=0.35,
              gain=2.0, keep_ratio=0.03, stroke=0.08, ink_level=0.5, deskew=False, clean_threshold=0.2,
              min_contrast=0.04, min_snr=6.0, page_fill=0.92, line_length=0.8, line_width=0.03, frame=20,
              return_ink=False):
    """The MNIST-style normalisation of one (H, W) image, step by step.

    The image is read as ``(x - offset) * scale`` clipped to [0, 1]
    (by default as :func:`input_range` says).
    Returns the (frame, frame) float64 frame (all zero where no ink is
    found), and with ``return_ink`` also whether ink was found.
    """
    p = SimpleNamespace(box=box, clean_level=clean_level, bg_percentile=bg_percentile, threshold=threshold,
                        gain=gain, keep_ratio=keep_ratio, stroke=stroke, ink_level=ink_level, deskew=deskew,
                        clean_threshold=clean_threshold, min_contrast=min_contrast, min_snr=min_snr,
                        page_fill=page_fill, line_length=line_length, line_width=line_width, frame=frame)
    if scale is None:
        offset, scale = input_range(image)
    v = np.clip((np.asarray(image, float) - offset) * scale, 0, 1)
    out = _frame(v, p, look_inside=True)
    ink = out is not None
    if not ink:
        out = np.zeros((frame, frame))
    return (out, ink) if return_ink else out
