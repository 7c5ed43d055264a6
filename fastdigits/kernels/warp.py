"""The augmentation's warp (``fastdigits.augment``): random affine and
elastic distortions of square frames, as a parallel Numba kernel over the
frames."""

from __future__ import annotations

import numpy as np
from numba import prange

from ._jit import parallel, serial


@serial
def _grid_weights(size, grid):
    """For each of ``size`` pixel centres: the coarse-grid cell it falls in
    (``grid`` points spanning the frame) and its fraction across the cell."""
    cell = np.empty(size, np.int64)
    frac = np.empty(size)
    for i in range(size):
        g = (i + 0.5) / size * (grid - 1)
        cell[i] = min(int(g), grid - 2)
        frac[i] = g - cell[i]
    return cell, frac


@parallel
def warp_frames(frames, affine, field, out):
    """Augmented copies of square frames (N, S, S) into out.

    Output pixel p (relative to the frame centre) samples the input, with
    bilinear interpolation and zero outside, at ``A p + t + e(p)``:
    ``affine[n] = (a, b, c, d, ty, tx)`` gives ``A = [[a, b], [c, d]]`` and
    t; ``field[n]`` (G, G, 2) holds the elastic displacement e on a coarse
    grid over the frame, interpolated bilinearly (a smooth random field,
    as in Simard et al. 2003).
    """
    n_frames, size, _ = frames.shape
    cell, frac = _grid_weights(size, field.shape[1])
    half = size / 2.0
    for n in prange(n_frames):
        # Zero border of one pixel: every bilinear tap is then in bounds.
        padded = np.zeros((size + 2, size + 2), frames.dtype)
        padded[1 : size + 1, 1 : size + 1] = frames[n]
        a, b, c, d, ty, tx = affine[n, 0], affine[n, 1], affine[n, 2], affine[n, 3], affine[n, 4], affine[n, 5]
        f = field[n]
        for y in range(size):
            gy, uy = cell[y], frac[y]
            py = y + 0.5 - half
            for x in range(size):
                gx, ux = cell[x], frac[x]
                w00, w01 = (1 - uy) * (1 - ux), (1 - uy) * ux
                w10, w11 = uy * (1 - ux), uy * ux
                ey = w00 * f[gy, gx, 0] + w01 * f[gy, gx + 1, 0] + w10 * f[gy + 1, gx, 0] + w11 * f[gy + 1, gx + 1, 0]
                ex = w00 * f[gy, gx, 1] + w01 * f[gy, gx + 1, 1] + w10 * f[gy + 1, gx, 1] + w11 * f[gy + 1, gx + 1, 1]
                px = x + 0.5 - half
                # source position in the padded frame's index space
                sy = a * py + b * px + ty + ey + half + 0.5
                sx = c * py + d * px + tx + ex + half + 0.5
                if sy < 0.0 or sx < 0.0 or sy >= size + 1.0 or sx >= size + 1.0:
                    out[n, y, x] = 0.0
                    continue
                y0 = int(sy)
                x0 = int(sx)
                vy = sy - y0
                vx = sx - x0
                out[n, y, x] = ((1 - vy) * ((1 - vx) * padded[y0, x0] + vx * padded[y0, x0 + 1])
                                + vy * ((1 - vx) * padded[y0 + 1, x0] + vx * padded[y0 + 1, x0 + 1]))
