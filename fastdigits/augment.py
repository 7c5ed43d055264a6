"""Data augmentation: random affine and elastic distortions of the frames.

Each epoch of training sees freshly distorted copies of the 20x20 frames,
drawn from the model's seed and the epoch number (reproducible).  The
warping is a Numba kernel (``fastdigits.kernels.warp.warp_frames``).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from .errors import InputError

__all__ = ["Augmentation", "augment"]


@dataclass(frozen=True)
class Augmentation:
    """Ranges of the random distortions (uniform within ±range).

    rotation : degrees;  scale : relative (0.1 = ±10 %);  shear : the
    shear factor;  shift : pixels (a 20x20 frame has no margin, so keep
    it near 1);  elastic : standard deviation, in pixels, of the
    displacements on a ``grid`` x ``grid`` lattice that is interpolated
    into a smooth field over the frame.
    """

    rotation: float = 10.0
    scale: float = 0.1
    shear: float = 0.15
    shift: float = 1.0
    elastic: float = 0.8
    grid: int = 4

    def __post_init__(self):
        for name in ("rotation", "scale", "shear", "shift", "elastic"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise InputError(f"Augmentation.{name} must be a finite number >= 0, got {value!r}")
        if self.scale >= 1 or self.grid < 2:
            raise InputError(f"Augmentation needs scale < 1 and grid >= 2, got {self.scale!r}, {self.grid!r}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, settings: dict) -> Augmentation:
        known = {f.name for f in dataclasses.fields(cls)}
        if set(settings) - known:
            raise InputError(f"unknown augmentation settings: {', '.join(sorted(set(settings) - known))}")
        return cls(**settings)


def _parameters(n: int, settings: Augmentation, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    theta = np.radians(rng.uniform(-settings.rotation, settings.rotation, n))
    zoom = rng.uniform(1 - settings.scale, 1 + settings.scale, n)
    shear = rng.uniform(-settings.shear, settings.shear, n)
    cos, sin = np.cos(theta) / zoom, np.sin(theta) / zoom
    # (rows, columns) coordinates: rotation, then a horizontal shear.
    affine = np.stack([cos, -sin, sin + shear * cos, cos - shear * sin,
                       *rng.uniform(-settings.shift, settings.shift, (2, n))], axis=1)
    field = rng.standard_normal((n, settings.grid, settings.grid, 2), dtype=np.float32)
    field *= np.float32(settings.elastic)
    return affine, field


def augment(frames: np.ndarray, settings: Augmentation | None = None, *, seed=0,
            out: np.ndarray | None = None) -> np.ndarray:
    """Randomly distorted copies of square frames (N, S, S), or of feature
    rows (N, S*S), in the same shape and dtype.  The same seed gives the
    same distortions.  ``out`` (same shape and dtype) is filled and
    returned instead of a new array, e.g. to reuse one buffer per epoch."""
    from . import _forksafe
    from .kernels import warp

    _forksafe.check_parallel("augmentation")

    settings = settings or Augmentation()
    arr = np.asarray(frames)
    shape = arr.shape
    side = int(round(math.sqrt(shape[-1]))) if arr.ndim == 2 else shape[-1]
    if arr.ndim == 2 and side * side != shape[-1] or arr.ndim == 3 and shape[1] != shape[2] or arr.ndim not in (2, 3):
        raise InputError(f"augment needs square frames (N, S, S) or rows of S*S values, got shape {shape}")
    if arr.dtype not in (np.float32, np.float64):
        arr = arr.astype(np.float32)
    arr = np.ascontiguousarray(arr).reshape(len(arr), side, side)
    affine, field = _parameters(len(arr), settings, np.random.default_rng(seed))
    if out is None:
        out = np.empty(shape, arr.dtype)
    elif out.shape != shape or out.dtype != arr.dtype or not out.flags.c_contiguous:
        raise InputError(f"out must be a C-contiguous {arr.dtype} array of shape {shape}")
    if len(arr):
        _forksafe.started()
        warp.warp_frames(arr, affine.astype(arr.dtype), field.astype(arr.dtype), out.reshape(arr.shape))
    return out
