"""Pictures of no class, made from the training digits themselves, for
outlier exposure (Hendrycks, Mazeika and Dietterich, "Deep anomaly detection
with outlier exposure", ICLR 2019).

A network trained only on digits names a digit for anything: a letter, a
scribble, two digits squeezed into one frame, half a digit; and it does so
with confidence.  Trained also on such pictures towards "no class" (equal
probabilities: ``MLPClassifier.fit(..., outliers=...)``), it is unsure of
them.  The kinds made here are the ones that reading a number meets when
it cuts a picture into digits:

- *pairs*: two training frames side by side, overlapping by up to 3 px,
  touching or up to 2 px apart, in one frame (a cut not made);
- *pieces*: the left or right part of a wide frame, cut at 30-70 % of its
  ink's width (a cut made inside a digit);
- *scribbles*: a smooth pen line through random points (not writing).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from .errors import InputError
from .preprocess import Normalization, normalize

__all__ = ["KINDS", "make_outliers"]

#: The kinds of outliers and their shares.
KINDS = {"pairs": 0.4, "pieces": 0.3, "scribbles": 0.3}


def _ink_columns(frame: np.ndarray) -> np.ndarray:
    cols = np.nonzero(frame.any(axis=0))[0]
    return frame[:, cols[0]:cols[-1] + 1] if len(cols) else frame


def _pair(a: np.ndarray, b: np.ndarray, gap: int) -> np.ndarray:
    a, b = _ink_columns(a), _ink_columns(b)
    width = max(a.shape[1] + b.shape[1] + gap, a.shape[1], b.shape[1])
    out = np.zeros((a.shape[0], width), np.float32)
    out[:, :a.shape[1]] = a
    x = max(a.shape[1] + gap, 0)
    np.maximum(out[:, x:x + b.shape[1]], b, out=out[:, x:x + b.shape[1]])
    return out


def _piece(frame: np.ndarray, share: float, left: bool) -> np.ndarray:
    ink = _ink_columns(frame)
    cut = max(1, min(ink.shape[1] - 1, int(round(share * ink.shape[1]))))
    return ink[:, :cut] if left else ink[:, cut:]


def _scribble(rng: np.random.Generator, side: int = 28) -> np.ndarray:
    from PIL import Image, ImageDraw

    points = rng.uniform(0.15, 0.85, (int(rng.integers(4, 8)), 2)) * side
    # a smooth pen: the points joined by a Catmull-Rom curve
    path = []
    padded = np.vstack([points[:1], points, points[-1:]])
    for k in range(1, len(padded) - 2):
        p0, p1, p2, p3 = padded[k - 1:k + 3]
        for t in np.linspace(0, 1, 8, endpoint=False):
            path.append(0.5 * (2 * p1 + (p2 - p0) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t * t
                               + (3 * p1 - p0 - 3 * p2 + p3) * t ** 3))
    path.append(points[-1])
    img = Image.new("L", (side, side), 0)
    ImageDraw.Draw(img).line([tuple(p) for p in path], fill=255, width=int(rng.integers(2, 4)), joint="curve")
    return np.asarray(img, np.float32) / 255.0


def make_outliers(frames: ArrayLike, n: int, *, seed: int | Sequence[int] = 0,
                  settings: Normalization | None = None) -> np.ndarray:
    """Rows of no class made from training frames: pairs, pieces, scribbles.

    Parameters
    ----------
    frames : array_like, shape (N, 400) or (N, 20, 20)
        Prepared training digits (``MLPClassifier.prepare``), ink high in
        [0, 1] on zero.
    n : int
        How many rows to make, shared among :data:`KINDS`.
    seed : int or sequence of int
        The same seed gives the same rows.
    settings : Normalization, optional
        The normalisation that frames each outlier, as the model frames its
        pictures (default ``Normalization()``).

    Returns
    -------
    numpy.ndarray of float32, shape (n, 400)
        Rows for ``MLPClassifier.fit(X, y, outliers=...)``.

    Raises
    ------
    InputError
        If ``frames`` are not square frames or ``n`` is negative.

    References
    ----------
    D. Hendrycks, M. Mazeika and T. Dietterich, "Deep anomaly detection with
    outlier exposure", ICLR 2019.

    Examples
    --------
    >>> import numpy as np
    >>> from fastdigits.outliers import make_outliers
    >>> from fastdigits.preprocess import prepare
    >>> page = np.full((60, 40), 255, np.uint8)
    >>> page[10:50, 18:23] = 0
    >>> frames = prepare([page, np.ascontiguousarray(page.T)])
    >>> rows = make_outliers(frames, 10, seed=1)
    >>> rows.shape, rows.dtype
    ((10, 400), dtype('float32'))
    >>> np.array_equal(rows, make_outliers(frames, 10, seed=1))
    True
    """
    arr = np.asarray(frames, np.float32)
    if arr.ndim == 2:  # rows of S*S values
        side = int(round(math.sqrt(arr.shape[1])))
        square = side > 0 and side * side == arr.shape[1]
    else:  # frames (N, S, S)
        side = arr.shape[-1] if arr.ndim == 3 else 0
        square = arr.ndim == 3 and side > 0 and arr.shape[1] == side
    if not square:
        raise InputError(f"make_outliers needs square frames (N, S, S) or rows of S*S values, got shape {arr.shape}")
    if int(n) < 0:
        raise InputError(f"n must be at least 0, got {n!r}")
    arr = arr.reshape(len(arr), side, side)
    n = int(n)
    if n == 0 or not len(arr):
        return np.zeros((0, side * side), np.float32)
    rng = np.random.default_rng(seed)
    counts = np.floor(np.array(list(KINDS.values())) * n).astype(int)
    counts[0] += n - counts.sum()
    pictures: list[np.ndarray] = []
    for _ in range(counts[0]):
        a, b = arr[rng.integers(len(arr), size=2)]
        pictures.append(_pair(a, b, int(rng.integers(-3, 3))))
    wide = np.nonzero((arr > 0).any(axis=1).sum(axis=1) >= 0.5 * side)[0]
    source = wide if len(wide) else np.arange(len(arr))
    for _ in range(counts[1]):
        pictures.append(_piece(arr[source[rng.integers(len(source))]], float(rng.uniform(0.3, 0.7)),
                               bool(rng.integers(2))))
    pictures.extend(_scribble(rng) for _ in range(counts[2]))
    rows = normalize([np.pad(p, 4) for p in pictures], settings or Normalization())
    return rows.reshape(n, -1)[rng.permutation(n)]
