"""Image preprocessing: validation at the edge, compiled loops inside.

``resize`` is the area-averaging scaler (exact fractional coverage, the
anti-aliased "box" resampling).  The loops live in the Cython extension
``fastdigits._preprocess`` built from ``ext/``.
"""

from __future__ import annotations

import numpy as np

from . import _preprocess
from .config import IMAGE_SIZE, default_threads
from .errors import InputError

__all__ = ["resize"]


def _as_size(size: int | tuple[int, int]) -> tuple[int, int]:
    if isinstance(size, (int, np.integer)):
        size = (int(size), int(size))
    try:
        oh, ow = (int(s) for s in size)
    except (TypeError, ValueError):
        raise InputError(f"size must be an int or a (height, width) pair, got {size!r}") from None
    if oh < 1 or ow < 1:
        raise InputError(f"size must be positive, got {(oh, ow)}")
    return oh, ow


def _as_image_batch(images, name: str = "images") -> tuple[np.ndarray, bool]:
    """Return a C-contiguous (N, H, W) uint8 or float32 array and whether
    the input was a single (H, W) image."""
    arr = np.asarray(images)
    if arr.ndim not in (2, 3):
        raise InputError(f"{name} must be an (H, W) image or an (N, H, W) batch, got shape {arr.shape}")
    if arr.shape[-1] == 0 or arr.shape[-2] == 0:
        raise InputError(f"{name} has an empty image side: shape {arr.shape}")
    if arr.dtype != np.uint8:
        if arr.dtype.kind not in "uifb":
            raise InputError(f"{name} must hold numbers, got dtype {arr.dtype}")
        arr = arr.astype(np.float32, copy=False)
        if arr.size and not np.isfinite(arr).all():
            raise InputError(f"{name} contains NaN or infinite values")
    single = arr.ndim == 2
    return np.ascontiguousarray(arr[None] if single else arr), single


def resize(images, size: int | tuple[int, int] = IMAGE_SIZE, *, threads: int | None = None) -> np.ndarray:
    """Resample grey images to ``size`` by area averaging.

    Each output pixel is the mean of the input pixels it covers, weighted by
    the exact fraction of each pixel that lies inside it.  Works for down-
    and up-scaling and for any aspect ratio; the mean grey level is kept.

    Parameters
    ----------
    images : array_like, shape (H, W) or (N, H, W)
        Grey images.  uint8 is read as is; other numeric dtypes are
        converted to float32.
    size : int or (int, int)
        Output (height, width); an int means a square.  Default 20.
    threads : int, optional
        OpenMP threads over the batch; default: the CPUs available.

    Returns
    -------
    numpy.ndarray of float32, shape (OH, OW) or (N, OH, OW)
        In the units of the input (0..255 for uint8).
    """
    oh, ow = _as_size(size)
    batch, single = _as_image_batch(images)
    out = np.empty((batch.shape[0], oh, ow), dtype=np.float32)
    if batch.shape[0]:
        _preprocess.resize_area(batch, out, threads or default_threads())
    return out[0] if single else out
