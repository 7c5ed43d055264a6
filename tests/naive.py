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
