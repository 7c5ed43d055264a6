"""Data augmentation: random affine and elastic distortions of the frames.

Each epoch of training sees freshly distorted copies of the 20x20 frames,
drawn from the model's seed and the epoch number (reproducible).  The
warping is a Numba kernel (``fastdigits.kernels.warp.warp_frames``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .errors import InputError

__all__ = ["Augmentation", "augment"]


@dataclass(frozen=True)
class Augmentation:
    """Ranges of the random distortions (uniform within ±range).

    Each frame is rotated, scaled, sheared and shifted by amounts drawn
    uniformly within these ranges, then warped by a smooth random field
    (elastic distortion, after Simard, Steinkraus and Platt).  Stored in
    model files as a model's ``augment`` setting.

    Parameters
    ----------
    rotation : float
        Degrees, >= 0.
    scale : float
        Relative zoom, in [0, 1) (0.1 = ±10 %).
    shear : float
        Horizontal shear factor, >= 0.
    shift : float
        Pixels, >= 0 (a 20x20 frame has no margin, so keep it near 1).
    elastic : float
        Standard deviation, in pixels, of the displacements on a ``grid``
        x ``grid`` lattice that is interpolated into a smooth field over
        the frame; >= 0 (0: no elastic warp).
    grid : int
        Side of that lattice, >= 2.

    Raises
    ------
    InputError
        If a range is negative or not finite, ``scale`` >= 1 or ``grid`` < 2.

    References
    ----------
    P. Y. Simard, D. Steinkraus and J. C. Platt, "Best practices for
    convolutional neural networks applied to visual document analysis",
    ICDAR 2003.

    Examples
    --------
    >>> from fastdigits.augment import Augmentation
    >>> Augmentation(rotation=5).to_dict()["rotation"]
    5
    >>> Augmentation(scale=1.5)
    Traceback (most recent call last):
    ...
    fastdigits.errors.InputError: Augmentation needs scale < 1 and grid >= 2, got 1.5, 4
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
        """The ranges as a JSON-able dict, the form model files store.

        Returns
        -------
        dict
            ``{field name: value}`` for every field.
        """
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, settings: dict) -> Augmentation:
        """The ranges that :meth:`to_dict` gave.

        Parameters
        ----------
        settings : dict
            Field names and values; fields left out keep their defaults.

        Returns
        -------
        Augmentation

        Raises
        ------
        InputError
            For a name that is not a field, or a value out of range.
        """
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


def augment(frames: np.ndarray, settings: Augmentation | None = None, *, seed: int | Sequence[int] = 0,
            out: np.ndarray | None = None) -> np.ndarray:
    """Randomly distorted copies of square frames or of feature rows.

    The warp is a Numba kernel (``fastdigits.kernels.cpu.warp_frames``,
    compiled on first use), bilinear sampling of each frame at its
    distorted coordinates.

    Parameters
    ----------
    frames : array_like, shape (N, S, S) or (N, S*S)
        Frames, or the same as rows; float32 and float64 are kept, other
        dtypes become float32.
    settings : Augmentation, optional
        The distortions' ranges; default ``Augmentation()``.
    seed : int or sequence of int
        Seed of ``numpy.random.default_rng``: the same seed gives the same
        distortions.
    out : numpy.ndarray, optional
        A C-contiguous array of the result's shape and dtype to fill and
        return instead of a new one (e.g. one buffer per fit, reused each
        epoch).

    Returns
    -------
    numpy.ndarray, shape and dtype of ``frames`` (float32 unless float64)
        The distorted frames, ``out`` when given.

    Raises
    ------
    InputError
        If ``frames`` are not square frames or rows of S*S values, or
        ``out`` does not fit.
    FastDigitsError
        In a process forked after OpenMP started, where the parallel
        kernel cannot run (see ``fastdigits/_forksafe.py``).

    Examples
    --------
    >>> import numpy as np
    >>> from fastdigits.augment import Augmentation, augment
    >>> frames = np.zeros((2, 20, 20), np.float32)
    >>> frames[:, 4:16, 9:11] = 1
    >>> moved = augment(frames, seed=7)
    >>> moved.shape, moved.dtype, np.array_equal(moved, augment(frames, seed=7))
    ((2, 20, 20), dtype('float32'), True)
    >>> still = Augmentation(rotation=0, scale=0, shear=0, shift=0, elastic=0)
    >>> np.allclose(augment(frames, still), frames, atol=1e-6)
    True
    """
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
