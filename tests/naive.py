"""Slow, obviously-correct float64 references that the compiled code is
tested against.  Written for reading, not for speed."""

from __future__ import annotations

from fractions import Fraction

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


def loss(X, y, weights, biases, activation, output, l2=0.0):
    """J = (1/m) sum_i CE_i + l2/(2m) sum W**2 (biases not regularised).

    CE for softmax: -log p[y]; for one-vs-all sigmoids:
    -sum_k [t_k log h_k + (1 - t_k) log(1 - h_k)].
    """
    m = len(X)
    h = forward(X, weights, biases, activation, output)[-1]
    t = np.eye(h.shape[1])[y]
    if output == "softmax":
        ce = -np.sum(t * np.log(h))
    else:
        ce = -np.sum(t * np.log(h) + (1 - t) * np.log(1 - h))
    return ce / m + l2 / (2 * m) * sum(np.sum(W**2) for W in weights)


def backprop(X, y, weights, biases, activation, output, l2=0.0):
    """Gradients (nabla_w, nabla_b) of ``loss``.

    Output delta = h - t for both output styles; hidden deltas go back
    through the weights times the activation's derivative.
    """
    m = len(X)
    fprime = ACTIVATIONS[activation][1]
    activations = forward(X, weights, biases, activation, output)
    delta = (activations[-1] - np.eye(activations[-1].shape[1])[y]) / m
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


def _stretch_threshold(v, t, gain):
    padded = np.pad(v, 1)
    h, w = v.shape
    top = max(padded[y:y + 3, x:x + 3].sum() / 9 for y in range(h) for x in range(w))
    if top <= 1e-6:
        return np.zeros_like(v)
    s = np.minimum(v / top, 1.0)
    return np.clip((s - t) / (1 - t) * gain, 0, 1)


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


def normalize(image, *, scale, box=20.0, clean_level=0.1, bg_percentile=0.1, threshold=0.35, gain=2.0,
              keep_ratio=0.03, stroke=0.08, ink_level=0.5, deskew=False, frame=20):
    """The MNIST-style normalisation of one (H, W) image, step by step."""
    v = np.clip(np.asarray(image, float) * scale, 0, 1)
    # 1. polarity: background = the border's median; ink = the extreme of
    #    the 3x3 local means that lies farther from it
    background = _hist_quantile(_border(v), 0.5)
    h, w = v.shape
    local = [v[max(y - 1, 0):y + 2, max(x - 1, 0):x + 2].mean() for y in range(h) for x in range(w)]
    if background - min(local) > max(local) - background:
        v = 1 - v
    # 2. clean-up, only where the background is not already black
    if _hist_quantile(_border(v), 0.9) > clean_level:
        v = _stretch_threshold(_remove_background(v, bg_percentile), threshold, gain)
    else:  # nearly black already: lift the background's level off
        v = np.maximum(v - _hist_quantile(_border(v), 0.5), 0.0)
    # 3. drop specks
    labels, count = _components(v > 0)
    if count == 0:
        return np.zeros((frame, frame))
    mass = np.array([v[labels == k].sum() for k in range(1, count + 1)])
    for k in range(1, count + 1):
        if mass[k - 1] < keep_ratio * mass.max():
            v[labels == k] = 0
    c = _crop(v)
    # 4. deskew
    if deskew:
        c = _crop(_deskew(c))
    # 5. strokes
    if stroke > 0:
        r = _stroke_radius(c, stroke, ink_level)
        if r > 0:
            c = _dilate(c, r)
    # 6. into the frame
    return _place(c, box, frame)
