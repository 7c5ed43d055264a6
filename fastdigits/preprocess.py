"""Image preprocessing: validation at the edge, compiled loops inside.

``resize`` is the area-averaging scaler (exact fractional coverage, the
anti-aliased "box" resampling).  ``normalize`` prepares any picture the way
MNIST's digits were prepared.  The loops live in the Cython extension
``fastdigits._preprocess`` built from ``ext/``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from . import _forksafe, config
from ._ext import _preprocess
from ._validation import not_finite
from .config import IMAGE_SIZE, default_threads
from .errors import InputError

__all__ = ["Normalization", "ink_map", "normalize", "prepare", "resize"]


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
        given = arr
        if arr.dtype != np.float32:
            with np.errstate(over="ignore"):  # a finite value beyond float32's range: not_finite says which
                arr = arr.astype(np.float32)
        if arr.size and not np.isfinite(arr).all():
            raise InputError(not_finite(arr, name, given))
    single = arr.ndim == 2
    return np.ascontiguousarray(arr[None] if single else arr), single


def resize(images: ArrayLike, size: int | tuple[int, int] = IMAGE_SIZE, *, threads: int | None = None) -> np.ndarray:
    """Resample grey images to ``size`` by area averaging.

    Each output pixel is the mean of the input pixels it covers, weighted by
    the exact fraction of each pixel that lies inside it (the anti-aliased
    "box" filter, as Pillow's ``Image.Resampling.BOX`` and OpenCV's
    ``INTER_AREA`` when shrinking).  Works for down- and up-scaling and for
    any aspect ratio; the mean grey level is kept.

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

    Raises
    ------
    InputError
        If ``images`` is not a numeric (H, W) or (N, H, W) array, has an
        empty side or holds NaN or infinity, or ``size`` is not positive.

    Examples
    --------
    >>> import numpy as np
    >>> from fastdigits import resize
    >>> image = np.zeros((4, 4), np.uint8)
    >>> image[:2, :2] = 255
    >>> resize(image, 2)
    array([[255.,   0.],
           [  0.,   0.]], dtype=float32)
    >>> resize(np.full((3, 28, 28), 100, np.uint8)).shape
    (3, 20, 20)
    """
    oh, ow = _as_size(size)
    batch, single = _as_image_batch(images)
    out = np.empty((batch.shape[0], oh, ow), dtype=np.float32)
    if batch.shape[0]:
        _preprocess.resize_area(batch, out, _forksafe.threads(threads or default_threads()))
    return out[0] if single else out


@dataclass(frozen=True)
class Normalization:
    """Settings of the MNIST-style normalisation (stored in model files).

    MNIST's digits were cropped to their ink, scaled to fit a 20 x 20 box
    keeping their aspect ratio and centred by their centre of mass
    (LeCun, Cortes and Burges, http://yann.lecun.com/exdb/mnist/); these
    steps do the same for any grey image, after cleaning what a photo or a
    scan adds:

    1. map to [0, 1] (see :func:`normalize` for each dtype's scale); take
       the border's median as the background and invert if the darkest
       3 x 3 mean lies farther below it than the brightest lies above it,
       so that ink is high;
    2. on paper (the border is not clean: more than 10 % of it above
       ``clean_level``): subtract the background's slow variation (the
       ``background_percentile`` of each of about 8 x 8 blocks, the lowest
       among each block's neighbours so that a block filled by a thick
       stroke is not taken for background, interpolated); there is no ink
       if the brightest 3 x 3 mean is below ``min_contrast`` or below
       ``min_snr`` times the noise's standard deviation (estimated from
       neighbouring pixels' differences: a blank page's noise; a contrast
       of 0.25 is enough whatever the estimate); stretch
       contrast so that mean is 1, then
       ``clip((x - threshold) / (1 - threshold) * gain, 0, 1)``, which
       removes faint paper texture and boosts faint ink; then erase long
       thin straight lines (ruled, margin and grid lines: ink at least
       ``line_length`` of the picture long, drifting at most one pixel
       sideways per pixel, and at most ``line_width`` of it thick; a
       stroke crossing a line is thicker there and stays).
       From a clean border (MNIST's own digits, screenshots, canvas
       exports, white paper whose lines cross only part of the border):
       subtract its median level, stretch so the brightest pixel is 1 (no
       ink if it is below ``min_contrast``), erase long thin lines as
       above and, if the ink is speckled (more than a tenth of it is faint
       pixels away from any stroke, as JPEG ringing leaves; anti-aliased
       edges lie next to their strokes), drop values below
       ``clean_threshold``;
    3. drop 8-connected ink fragments with less than ``keep_ratio`` of the
       largest fragment's ink, and crop to the rest.  Ink that, with its
       holes filled, fills ``page_fill`` of its smallest enclosing
       rectangle at any angle is a page seen inside a dark surround (a
       sheet on a desk, a meter window; digits are rounder):
       if it has holes (the digit), steps 1-6 run again on the page
       alone, its surround set to the page's level; a square-ish page
       without holes is an empty one (no ink);
    4. if ``deskew``, shear so the ink's principal axis is vertical;
    5. thicken strokes thinner than ``stroke`` times the box's long side
       (a grey max filter; never thinning);
    6. scale the box so its long side is ``box`` pixels, keeping the aspect
       ratio (area averaging), placed so the centre of mass is at the
       frame's centre, as far as the frame allows.

    A picture in which no ink is found gives an all-zero frame, and
    ``normalize(..., return_ink=True)`` says so.  The defaults are
    ``fastdigits.config``'s ``NORM_*`` constants, each with the benchmark
    that measured it.

    Parameters
    ----------
    box : float
        Long side of the ink's box in the frame, in pixels, in (0, size]
        (step 6).
    clean_level : float
        A border whose 90th percentile is at most this, in [0, 1] after
        inversion, is clean (step 2).
    background_percentile : float
        Quantile, in [0, 1], of each block taken as the paper's level
        (step 2).
    threshold : float
        Soft threshold after contrast stretching, in [0, 1) (step 2).
    gain : float
        Gain after the threshold, > 0 (step 2).
    keep_ratio : float
        Fragments with less than this share of the largest one's ink are
        dropped, in [0, 1] (step 3).
    stroke : float
        Target stroke width as a share of the box's long side, in
        [0, 0.5]; 0 never thickens (step 5).
    ink_level : float
        Level, in [0, 1), that defines a stroke's edges for its width
        estimate (step 5).
    deskew : bool
        Shear the ink upright (step 4).
    clean_threshold : float
        From a clean border, speckled ink below this share of the
        brightest pixel is dropped, in [0, 1) (step 2).
    min_contrast : float
        Least contrast of ink with its background, as a share of the full
        scale, in [0, 1): below it there is no ink (step 2).
    min_snr : float
        On paper, least contrast in multiples of the noise's standard
        deviation, >= 0 (step 2).
    page_fill : float
        Share of its smallest enclosing rectangle that ink must fill to be
        a page inside a surround, in (0, 1.01] (step 3; above 1, never).
    line_length : float
        Least length of an erased straight line, as a share of the
        picture, in [0, 1] (step 2).
    line_width : float
        Greatest thickness of an erased line, as a share of the picture,
        in [0, 0.5] (2 pixels at least) (step 2).
    max_side : int
        Pictures longer than this, in pixels, are area-reduced first;
        >= ``size``.
    size : int
        Side of the square frame, in pixels (20: 400 network inputs).

    Raises
    ------
    InputError
        If a setting is outside its range, naming it.

    See Also
    --------
    normalize : applies these settings.
    prepare : the pipeline of a model's ``preprocessing``.

    Examples
    --------
    >>> from fastdigits.preprocess import Normalization
    >>> settings = Normalization(deskew=True)
    >>> Normalization.from_dict(settings.to_dict()) == settings
    True
    >>> Normalization(box=30)
    Traceback (most recent call last):
    ...
    fastdigits.errors.InputError: Normalization.box out of range: 30
    """

    box: float = config.NORM_BOX
    clean_level: float = config.NORM_CLEAN_LEVEL
    background_percentile: float = config.NORM_BACKGROUND_PERCENTILE
    threshold: float = config.NORM_THRESHOLD
    gain: float = config.NORM_GAIN
    keep_ratio: float = config.NORM_KEEP_RATIO
    stroke: float = config.NORM_STROKE
    ink_level: float = config.NORM_INK_LEVEL
    deskew: bool = False
    clean_threshold: float = config.NORM_CLEAN_THRESHOLD
    min_contrast: float = config.NORM_MIN_CONTRAST
    min_snr: float = config.NORM_MIN_SNR
    page_fill: float = config.NORM_PAGE_FILL
    line_length: float = config.NORM_LINE_LENGTH
    line_width: float = config.NORM_LINE_WIDTH
    max_side: int = config.NORM_MAX_SIDE
    size: int = IMAGE_SIZE

    def __post_init__(self):
        checks = {
            "box": 0 < self.box <= self.size,
            "clean_level": 0 <= self.clean_level <= 1,
            "background_percentile": 0 <= self.background_percentile <= 1,
            "threshold": 0 <= self.threshold < 1,
            "gain": self.gain > 0,
            "keep_ratio": 0 <= self.keep_ratio <= 1,
            "stroke": 0 <= self.stroke <= 0.5,
            "ink_level": 0 <= self.ink_level < 1,
            "clean_threshold": 0 <= self.clean_threshold < 1,
            "min_contrast": 0 <= self.min_contrast < 1,
            "min_snr": self.min_snr >= 0,
            "page_fill": 0 < self.page_fill <= 1.01,
            "line_length": 0 <= self.line_length <= 1,
            "line_width": 0 <= self.line_width <= 0.5,
            "max_side": self.max_side >= self.size,
            "size": self.size >= 1,
        }
        for name, ok in checks.items():
            if not ok:
                raise InputError(f"Normalization.{name} out of range: {getattr(self, name)!r}")

    def to_dict(self) -> dict:
        """The settings as a JSON-able dict, the form model files store.

        Returns
        -------
        dict
            ``{field name: value}`` for every field.
        """
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, settings: dict) -> Normalization:
        """The settings that :meth:`to_dict` gave.

        Parameters
        ----------
        settings : dict
            Field names and values; fields left out keep their defaults.

        Returns
        -------
        Normalization

        Raises
        ------
        InputError
            For a name that is not a field, or a value out of range.
        """
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(settings) - known
        if unknown:
            raise InputError(f"unknown normalisation settings: {', '.join(sorted(unknown))}")
        return cls(**settings)


def _input_range(batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each image of a batch, the ``(offset, scale)`` that map its
    values into [0, 1] as ``(x - offset) * scale``: uint8 is read as
    0..255; a float picture within [0, 1] (give or take
    ``config.FRAME_VALUE_SLACK``) as it is; other float pictures within
    [0, 255] as grey levels 0..255, like uint8 (a dim one, 0..16 say, is
    stretched by its ink inside the pipeline, and contrast and noise keep
    their meaning); any other float picture from its own minimum (0) to its
    own maximum (1): 12-bit, standardised values.  Per image, so that an
    image's frame never depends on the batch it came in."""
    n = len(batch)
    if batch.dtype == np.uint8 or not batch.size:
        return np.zeros(n), np.full(n, 1 / 255 if batch.dtype == np.uint8 else 1.0)
    flat = batch.reshape(n, -1)
    lo = flat.min(axis=1).astype(np.float64)
    hi = flat.max(axis=1).astype(np.float64)
    slack = config.FRAME_VALUE_SLACK
    unit = (lo >= -slack) & (hi <= 1 + slack)
    grey = ~unit & (lo >= 0) & (hi <= 255)
    own = ~unit & ~grey & (hi > lo)
    return np.where(own, lo, 0.0), np.where(unit, 1.0, np.where(grey, 1 / 255, 1 / np.where(own, hi - lo, 1.0)))


def _flat(frames: np.ndarray) -> np.ndarray:
    """(N, size, size) frames as (N, size * size) rows (also for N = 0)."""
    return frames.reshape(frames.shape[0], int(np.prod(frames.shape[1:])))


def _scaled_ink_found(frames: np.ndarray) -> np.ndarray:
    """Whether each "scale" frame (N, size, size) in [0, 1] holds ink: (N,)
    bool.  The whole picture is scaled without inversion, so a blank page
    is a constant frame of any grey: blank when its grey levels span at
    most ``config.SCALE_BLANK_SPREAD``."""
    flat = _flat(frames)
    if not len(flat):
        return np.zeros(0, bool)
    return (flat.max(axis=1) - flat.min(axis=1)) > config.SCALE_BLANK_SPREAD


def _normalize_batch(batch: np.ndarray, settings: Normalization, threads: int) -> tuple[np.ndarray, np.ndarray]:
    """Frames (N, size, size) float32 and whether each found ink, (N,) bool
    (the extension says so: no ink gives an all-zero frame)."""
    offsets, scales = _input_range(batch)
    h, w = batch.shape[1:]
    if max(h, w) > settings.max_side:
        ratio = settings.max_side / max(h, w)
        batch = resize(batch, (max(1, round(h * ratio)), max(1, round(w * ratio))), threads=threads)
    out = np.empty((len(batch), settings.size, settings.size), np.float32)
    ink = np.zeros(len(batch), np.uint8)
    if len(batch):
        _preprocess.normalize(batch, out, ink, offsets, scales, settings.to_dict(), _forksafe.threads(threads))
    return out, ink.view(bool)


def ink_map(image: ArrayLike, settings: Normalization | None = None, *,
            max_side: int = 1024) -> tuple[np.ndarray, float]:
    """The cleaned ink of one picture, where it lies in the picture.

    Steps 1-3 of :class:`Normalization` (polarity, background, lines,
    specks, the page inside a surround), without cropping or scaling to a
    frame: what :func:`fastdigits.read_number` cuts into digits.

    Parameters
    ----------
    image : array_like, shape (H, W)
        A grey picture, read as :func:`normalize` reads it.
    settings : Normalization, optional
        The pipeline's settings (``max_side`` is taken from here instead).
    max_side : int
        Pictures longer than this are area-reduced first.

    Returns
    -------
    ink : numpy.ndarray of float32, shape (h, w)
        Ink high in [0, 1] on zero, at the working size; all zero where
        there is nothing to read.
    factor : float
        Picture pixels per working pixel (1.0 when not reduced).

    Raises
    ------
    InputError
        If ``image`` is not one numeric (H, W) picture.

    Examples
    --------
    >>> import numpy as np
    >>> from fastdigits.preprocess import ink_map
    >>> page = np.full((60, 40), 255, np.uint8)
    >>> page[10:50, 18:23] = 0
    >>> ink, factor = ink_map(page)
    >>> ink.shape, factor, float(ink[30, 20]), float(ink[5, 5])
    ((60, 40), 1.0, 1.0, 0.0)
    """
    settings = settings or Normalization()
    batch, single = _as_image_batch(image)
    if not single:
        raise InputError(f"ink_map takes one (H, W) picture, got shape {np.shape(image)}")
    offsets, scales = _input_range(batch)
    h, w = batch.shape[1:]
    factor = 1.0
    if max(h, w) > max_side:
        factor = max(h, w) / max_side
        batch = resize(batch, (max(1, round(h / factor)), max(1, round(w / factor))), threads=1)
    out = np.empty(batch.shape, np.float32)
    found = np.zeros(1, np.uint8)
    _preprocess.normalize(batch, out, found, offsets, scales, settings.to_dict(), 1, ink_maps=True)
    return out[0], factor


def is_image_sequence(images) -> bool:
    """A non-empty list or tuple (not an array) whose first item is an (H, W) image."""
    return isinstance(images, Sequence) and not isinstance(images, np.ndarray) and bool(images) \
        and np.ndim(images[0]) == 2


def normalize(images: ArrayLike, settings: Normalization | None = None, *, threads: int | None = None,
              return_ink: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray | bool]:
    """Prepare grey images the way MNIST's digits were prepared.

    Parameters
    ----------
    images : array_like (H, W) or (N, H, W), or a sequence of (H, W) arrays
        Grey images of any size (a sequence may mix sizes).  Each picture's
        scale: uint8 is read as 0..255, a float picture within [0, 1] as
        it is, other float pictures within [0, 255] as grey levels 0..255,
        and any other float picture from its own minimum to its own
        maximum (12-bit, standardised values); a dim picture's ink (0..16
        as in scikit-learn's ``load_digits``, an underexposed photo) is
        stretched to full contrast by the pipeline.
    settings : Normalization, optional
        The pipeline's settings (see :class:`Normalization`).
    threads : int, optional
        OpenMP threads over the batch; default: the CPUs available.
    return_ink : bool
        Also return whether ink was found in each picture.

    Returns
    -------
    frames : numpy.ndarray of float32, shape (size, size) or (N, size, size)
        Ink high in [0, 1] on a zero background; a picture without ink
        (blank, flat, only noise or paper lines) gives an all-zero frame.
    ink : numpy.ndarray of bool, shape (N,), or bool for one (H, W) image
        Only with ``return_ink``: False where the picture has nothing to
        read, so that its all-zero frame is not taken for a digit.

    Raises
    ------
    InputError
        If ``images`` is not (H, W), (N, H, W) or a sequence of (H, W)
        numeric arrays, has an empty side, or holds NaN or infinity.

    Examples
    --------
    A dark stroke on white paper becomes a bright one on black, filling the
    frame's height:

    >>> import numpy as np
    >>> from fastdigits.preprocess import normalize
    >>> page = np.full((60, 40), 255, np.uint8)
    >>> page[10:50, 18:23] = 0
    >>> frame, ink = normalize(page, return_ink=True)
    >>> frame.shape, frame.dtype, ink, float(frame.max())
    ((20, 20), dtype('float32'), True, 1.0)
    >>> bool(frame[0].any() and frame[-1].any())
    True
    >>> normalize(np.full((60, 40), 255, np.uint8), return_ink=True)[1]
    False
    """
    settings = settings or Normalization()
    threads = threads or default_threads()
    single = False
    groups: dict[tuple, list[int]] = {}
    if is_image_sequence(images):
        for i, image in enumerate(images):  # a stack of mixed dtypes would change how each is read
            groups.setdefault((np.shape(image), np.asarray(image).dtype), []).append(i)
    if len(groups) > 1:  # mixed sizes or dtypes: one batch per kind
        out = np.empty((len(images), settings.size, settings.size), np.float32)
        ink = np.empty(len(images), bool)
        for idx in groups.values():
            batch, _ = _as_image_batch(np.stack([np.asarray(images[i]) for i in idx]))
            out[idx], ink[idx] = _normalize_batch(batch, settings, threads)
    else:
        batch, single = _as_image_batch(images)
        out, ink = _normalize_batch(batch, settings, threads)
    if single:
        out, ink = out[0], bool(ink[0])
    return (out, ink) if return_ink else out


#: ``preprocessing`` values a model accepts besides a Normalization.
PREPROCESSING_METHODS = ("normalize", "scale")


def as_preprocessing(value) -> Normalization | None:
    """A model's ``preprocessing`` setting as a Normalization, or None for
    plain whole-frame area scaling ("scale").  Accepts "normalize",
    "scale", a Normalization, or the dict that model files store."""
    if isinstance(value, Normalization):
        return value
    if isinstance(value, dict):
        settings = dict(value)
        method = settings.pop("method", None)
        if method == "scale":
            return None
        if method == "normalize":
            return Normalization.from_dict(settings)
        raise InputError(f"unknown preprocessing method {method!r}; expected one of {PREPROCESSING_METHODS}")
    if value == "normalize":
        return Normalization()
    if value == "scale":
        return None
    raise InputError(f"preprocessing must be one of {PREPROCESSING_METHODS} or a Normalization, got {value!r}")


def preprocessing_dict(value) -> dict:
    """The JSON-able form of a ``preprocessing`` setting (for model files)."""
    settings = as_preprocessing(value)
    if settings is None:
        return {"method": "scale", "size": IMAGE_SIZE}
    return {"method": "normalize", **settings.to_dict()}


def prepare(images: ArrayLike, preprocessing: str | Normalization | dict = "normalize", *,
            threads: int | None = None, return_ink: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Frames the network sees, (N, size, size) float32 in [0, 1].

    What a model's ``prepare`` runs with the model's ``preprocessing``.

    Parameters
    ----------
    images : array_like (H, W) or (N, H, W), or a sequence of (H, W) arrays
        Grey images of any size, as for :func:`normalize`.
    preprocessing : "normalize", "scale", Normalization or dict
        "normalize" (the MNIST-style pipeline, see :class:`Normalization`),
        a Normalization, or "scale" (the whole picture area-scaled to
        20 x 20 and mapped to [0, 1], no cropping, inversion or centring);
        or the dict a model file stores.
    threads : int, optional
        OpenMP threads over the batch; default: the CPUs available.
    return_ink : bool
        Also return whether each picture has ink.

    Returns
    -------
    frames : numpy.ndarray of float32, shape (N, size, size)
        Always a batch, also for one (H, W) image.
    ink : numpy.ndarray of bool, shape (N,)
        Only with ``return_ink``.  "normalize": the pipeline found ink.
        "scale" (not inverted, so a blank page is a constant frame of any
        grey): its grey levels span more than ``config.SCALE_BLANK_SPREAD``.

    Raises
    ------
    InputError
        For an unknown ``preprocessing`` or images that are not numeric
        (H, W) / (N, H, W) arrays.

    Examples
    --------
    >>> import numpy as np
    >>> from fastdigits.preprocess import prepare
    >>> page = np.full((60, 40), 255, np.uint8)
    >>> page[10:50, 18:23] = 0
    >>> frames, ink = prepare([page, np.full((30, 30), 255, np.uint8)], return_ink=True)
    >>> frames.shape, ink
    ((2, 20, 20), array([ True, False]))
    >>> prepare(page, "scale").shape
    (1, 20, 20)
    """
    settings = as_preprocessing(preprocessing)
    if settings is not None:
        frames, ink = normalize(images, settings, threads=threads, return_ink=True)
        if frames.ndim == 2:
            frames, ink = frames[None], np.asarray([ink])
    else:
        frames = _scale(images, threads)
        ink = _scaled_ink_found(frames)
    return (frames, ink) if return_ink else frames


def _scale(images, threads: int | None) -> np.ndarray:
    """The "scale" preprocessing: (N, 20, 20) float32 frames in [0, 1]."""
    if isinstance(images, Sequence) and not isinstance(images, np.ndarray):
        return np.concatenate([_scale(im, threads) for im in images]) if images else \
            np.empty((0, IMAGE_SIZE, IMAGE_SIZE), np.float32)
    batch, _ = _as_image_batch(images)
    offsets, scales = _input_range(batch)
    frames = (resize(batch, IMAGE_SIZE, threads=threads) - offsets.astype(np.float32)[:, None, None]) \
        * scales.astype(np.float32)[:, None, None]
    return np.clip(frames, 0, 1)
