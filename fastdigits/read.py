"""Read whole numbers: cut a picture of a handwritten number into digits
and read each with the same network and the same normalisation as single
digits.

The steps for one picture:

1. the cleaned ink (:func:`fastdigits.preprocess.ink_map`: polarity,
   background, paper lines, specks, a page inside a surround), and its
   8-connected components;
2. the writing's slant, from the projection profile: the shear (up to
   ``MAX_SLANT_DEGREES``) whose row profile of ink is the sharpest;
   components are grouped into lines by their sheared centres, read top
   to bottom;
3. in a line, left to right: pieces that overlap horizontally, or small
   pieces next to a digit, are one digit (a 5 whose bar is apart, a 4 with
   an open top, dotted strokes); a component too wide for one digit is cut
   where the network reads both sides best, among the minima of its column
   profile (recognition-driven segmentation);
4. each digit's ink alone goes through :func:`fastdigits.preprocess.normalize`
   into the 20x20 frame, centred by mass, as in training.

A reading's confidence is the product of its digits' probabilities: the
chance that the whole string is right if the digits' errors are
independent.  The shipped model was also trained on pictures of no class
(two digits in one frame, pieces of digits, scribbles: outlier exposure,
:mod:`fastdigits.outliers`), so a letter, a scribble, a wrong cut or a
merged pair reads unsure; readings below a threshold (0.9 keeps most
numbers, see ``benchmarks/accuracy_numbers.py``) are the ones to reject or
to send to a person.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from . import config
from ._ext import _preprocess
from ._models import networks
from .classify import NO_INK, _decode
from .errors import InputError
from .preprocess import Normalization, as_preprocessing, ink_map, normalize

if TYPE_CHECKING:  # pragma: no cover
    from .ensemble import Ensemble
    from .model import MLPClassifier

__all__ = ["Digit", "Reading", "read_number", "read_numbers", "read_files"]

#: Steepest slant of a line of writing that is straightened, in degrees;
#: lines slanted less than ``LEVEL_DEGREES`` are read as they are.
MAX_SLANT_DEGREES = 35.0
LEVEL_DEGREES = 8.0
#: Components are found on the strokes, ink of at least this share of the
#: picture's peak; fainter ink then joins the stroke it touches.
STROKE_LEVEL = 0.35
#: Components with less ink than this share of the line's median digit are
#: specks when no digit is near enough to take them.
SPECK_SHARE = 0.08
#: A piece (less ink than this share of the median digit, and shorter than
#: ``PIECE_HEIGHT`` of the line's digits: not a 1) joins the nearest digit of
#: its line when it lies within ``JOIN_GAP`` digit heights.
PIECE_SHARE = 0.35
PIECE_HEIGHT = 0.6
JOIN_GAP = 0.35
#: Two components overlapping horizontally by this share of the narrower, and
#: vertically by less than this share of the shorter, are one digit (its
#: pieces lie above one another).
OVERLAP_SHARE = 0.5
#: A component wider than this many digit heights may hold several digits,
#: and is cut if both sides read better than the whole; wider than
#: ``CUT_WIDTH`` it is cut whatever the whole reads as.  (Single MNIST digits
#: are 0.3-1.0 heights wide, two touching ones 1.1 and more.)
SPLIT_WIDTH = 1.0
CUT_WIDTH = 1.5
#: Cutting a part ``SPLIT_WIDTH`` heights wide must raise the mean
#: log-probability by this much (less for wider parts, nothing at
#: ``CUT_WIDTH``): fragments of one digit, framed alone, often read well too.
SPLIT_MARGIN = math.log(1.25)
#: Columns tried for a cut (the lowest of the column profile), and the
#: slopes (dx/dy) of the cut through each.
CUT_COLUMNS = 8
CUT_SLOPES = (0.0, -0.3, 0.3)
#: Margin of zeros around a digit's ink before it is normalised, as a share
#: of its long side (so the normalisation sees a black border).
MARGIN = 0.15


@dataclass
class Digit:
    """One digit of a reading.

    Parameters
    ----------
    label : object
        The class read, a value of the model's ``classes_`` (e.g. 7).
    probability : float
        The network's probability for it, in [0, 1].
    box : (int, int, int, int)
        ``(left, top, right, bottom)`` in the picture's pixels, right and
        bottom exclusive.
    line : int
        Which line of writing, from 0 at the top.

    Examples
    --------
    >>> from fastdigits.read import Digit
    >>> digit = Digit(7, 0.98, (10, 4, 22, 30))
    >>> left, top, right, bottom = digit.box
    >>> right - left, digit.line
    (12, 0)
    """

    label: object  #: the class, e.g. 7
    probability: float  #: the network's probability for it
    box: tuple[int, int, int, int]  #: (left, top, right, bottom) in the picture's pixels, right/bottom exclusive
    line: int = 0  #: which line of writing, from 0 at the top


@dataclass
class Reading:
    """What a picture of a number says.

    ``text`` has one character per digit (``?`` where a digit's probability
    is below the reader's ``min_confidence``) and a newline between lines;
    it is empty when no ink was found (``note`` says so) or the picture
    could not be read (``error``).

    To reject what is probably not a number, or read wrong, compare
    ``confidence`` with a threshold: e.g. ``if reading.confidence < 0.9``
    (the README gives, for the shipped model, the share of numbers and of
    non-digits that each threshold keeps; ``benchmarks/accuracy_numbers.py``
    measures it).

    Parameters
    ----------
    text : str
        The digits read, lines separated by ``"\\n"``.
    confidence : float
        Product of the digits' probabilities, in [0, 1]; 0 without digits.
    digits : list of Digit
        Each digit, in reading order, with its box.
    note : str, optional
        Why there are no digits in a picture read fine:
        :data:`fastdigits.classify.NO_INK`.
    path : str, optional
        The file, for :func:`read_files`' readings.
    error : str, optional
        Why the picture could not be read.

    Examples
    --------
    >>> from fastdigits import Reading
    >>> from fastdigits.read import Digit
    >>> reading = Reading("17", 0.93, [Digit(1, 0.99, (0, 0, 5, 20)), Digit(7, 0.94, (8, 0, 20, 20))])
    >>> reading.ok, reading.confidence < 0.9
    (True, False)
    """

    text: str = ""
    confidence: float = 0.0  #: product of the digits' probabilities; 0 without digits
    digits: list[Digit] = field(default_factory=list)
    note: str | None = None
    path: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True without an error: the picture was read (perhaps finding no digits)."""
        return self.error is None


@dataclass
class _Part:
    """A candidate digit: components of the ink map, maybe cut by columns."""

    ids: list[int]
    x0: int
    y0: int
    x1: int
    y1: int
    mass: float
    #: cuts through the components: (x, y, slope, left) keeps the pixels left
    #: of (or, left=False, from) the line through (x, y) with dx/dy = slope
    cuts: tuple = ()
    #: the components of all ink (faint included) that these pieces are in
    groups: frozenset = frozenset()

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    def merged(self, other: _Part) -> _Part:
        return _Part(self.ids + other.ids, min(self.x0, other.x0), min(self.y0, other.y0),
                     max(self.x1, other.x1), max(self.y1, other.y1), self.mass + other.mass,
                     groups=self.groups | other.groups)

    def mask(self, labels: np.ndarray, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        """Which pixels of labels[y0:y1, x0:x1] are this part's."""
        mine = np.isin(labels[y0:y1, x0:x1], self.ids)
        if self.cuts:
            yy, xx = np.mgrid[y0:y1, x0:x1]
            for x, y, slope, left in self.cuts:
                inside = xx < x + slope * (yy - y)
                mine &= inside if left else ~inside
        return mine


class _Turn:
    """A picture turned by ``degrees`` counter-clockwise about its centre,
    grown to hold all of it (Pillow's ``rotate(expand=True)``), and the way
    back for boxes."""

    def __init__(self, shape: tuple[int, int], degrees: float):
        self.h, self.w = shape
        self.degrees = degrees
        a = math.radians(degrees)
        self.c, self.s = math.cos(a), math.sin(a)
        self.W = int(math.ceil(abs(self.w * self.c) + abs(self.h * self.s) - 1e-9)) if degrees else self.w
        self.H = int(math.ceil(abs(self.w * self.s) + abs(self.h * self.c) - 1e-9)) if degrees else self.h

    def apply(self, ink: np.ndarray) -> np.ndarray:
        if not self.degrees:
            return ink
        from PIL import Image

        turned = Image.fromarray(ink, mode="F").rotate(self.degrees, Image.Resampling.BILINEAR, expand=True)
        return np.ascontiguousarray(np.asarray(turned, np.float32))

    def back(self, x0: float, y0: float, x1: float, y1: float) -> tuple[float, float, float, float]:
        """The box (x0, y0, x1, y1) of the turned picture, in the original's
        pixels: the bounding box of its corners turned back."""
        if not self.degrees:
            return x0, y0, x1, y1
        xs, ys = [], []
        for x, y in ((x0, y0), (x1, y0), (x0, y1), (x1, y1)):
            dx, dy = x - self.W / 2, y - self.H / 2
            # the turn took (u, v) to (c u + s v, -s u + c v) about the centres (y down)
            xs.append(self.c * dx - self.s * dy + self.w / 2)
            ys.append(self.s * dx + self.c * dy + self.h / 2)
        return min(xs), min(ys), max(xs), max(ys)


class _Reader:
    """Segmentation and recognition for one model."""

    def __init__(self, model, min_confidence: float = 0.0):
        if not 0.0 <= min_confidence <= 1.0:
            raise InputError(f"min_confidence must be within [0, 1], got {min_confidence!r}")
        self.model = model
        # Its networks' thread setting (None: every CPU) also prepares the digits: a
        # Dask worker's model is set to its threads, and more would fight its neighbours.
        self.threads = getattr(networks(model)[0], "threads", None)
        self.min_confidence = float(min_confidence)
        settings = as_preprocessing(model.preprocessing)
        self.settings = settings if settings is not None else Normalization()

    # ------------------------------------------------------------ frames

    def _frames(self, ink: np.ndarray, labels: np.ndarray, parts: Sequence[_Part]) -> np.ndarray:
        """The 20x20 frame of each part's ink alone, (len(parts), 400)."""
        crops = []
        for part in parts:
            window = (slice(part.y0, part.y1), slice(part.x0, part.x1))
            mine = part.mask(labels, part.y0, part.y1, part.x0, part.x1)
            crop = np.where(mine, ink[window], 0.0).astype(np.float32)
            pad = max(2, int(MARGIN * max(crop.shape)))
            crops.append(np.pad(crop, pad))
        frames = normalize(crops, self.settings, threads=self.threads) if crops else np.empty((0, 20, 20), np.float32)
        return frames.reshape(len(parts), -1)

    def _proba(self, ink, labels, parts) -> np.ndarray:
        return self.model.predict_proba(self._frames(ink, labels, parts)) if parts else \
            np.empty((0, len(self.model.classes_)))

    # ------------------------------------------------------ segmentation

    @staticmethod
    def _components(ink: np.ndarray) -> tuple[np.ndarray, list[_Part]]:
        """The digits' candidate pieces: components of the strokes, with the
        faint ink around them.

        Components are found on ink of at least ``STROKE_LEVEL`` of the
        peak, so that neighbours whose anti-aliased edges or blur merely
        touch stay apart (a global Otsu threshold does the same); the
        fainter ink then joins the component of the stroke it touches, the
        nearest along the ink when it touches several, and faint ink that no
        stroke reaches is a component of its own."""
        labels = np.empty(ink.shape, np.int32)
        peak = float(ink.max()) if ink.size else 0.0
        strokes = np.where(ink >= STROKE_LEVEL * peak, ink, 0).astype(np.float32)
        n = _preprocess.label_components(strokes, labels)
        _preprocess.grow_labels(ink, labels)  # faint ink joins the nearest stroke along the ink
        faint = (ink > 0) & (labels == 0)
        if faint.any():
            rest = np.empty_like(labels)
            m = _preprocess.label_components(np.where(faint, ink, 0).astype(np.float32), rest)
            labels[faint] = rest[faint] + n
            n += m
        touching = np.empty_like(labels)  # components of all the ink, faint included
        _preprocess.label_components(ink, touching)
        ys, xs = np.nonzero(labels)
        lab = labels[ys, xs] - 1
        mass = np.bincount(lab, weights=ink[ys, xs], minlength=n)
        order = np.argsort(lab, kind="stable")
        starts = np.searchsorted(lab[order], np.arange(n))
        y0 = np.minimum.reduceat(ys[order], starts) if n else []
        y1 = np.maximum.reduceat(ys[order], starts) + 1 if n else []
        x0 = np.minimum.reduceat(xs[order], starts) if n else []
        x1 = np.maximum.reduceat(xs[order], starts) + 1 if n else []
        group = np.zeros(n, np.int64)
        group[lab] = touching[ys, xs]
        parts = [_Part([k + 1], int(x0[k]), int(y0[k]), int(x1[k]), int(y1[k]), float(mass[k]),
                       groups=frozenset([int(group[k])])) for k in range(n)]
        return labels, parts

    @staticmethod
    def _slant(ink: np.ndarray) -> float:
        """tan of the writing's slant: the shear y - t x whose row profile of
        ink has the largest sum of squares (the sharpest lines)."""
        ys, xs = np.nonzero(ink)
        if len(ys) < 2:
            return 0.0
        weights = ink[ys, xs]
        best, best_t = -1.0, 0.0
        for degrees in np.arange(-MAX_SLANT_DEGREES, MAX_SLANT_DEGREES + 1e-9, 2.5):
            t = math.tan(math.radians(degrees))
            rows = np.round(ys - t * (xs - xs.mean())).astype(np.int64)
            profile = np.bincount(rows - rows.min(), weights=weights)
            sharpness = float(profile @ profile)
            if sharpness > best * (1 + 1e-9):
                best, best_t = sharpness, t
        return best_t

    @staticmethod
    def _lines(parts: list[_Part], slope: float, centre_x: float) -> list[list[_Part]]:
        """Parts grouped into lines of writing, top to bottom, each left to
        right.  Lines are found on the components of all the ink (a digit
        whose middle is faded is one, not two pieces in two lines), and each
        part goes to the line of its component."""
        if not parts:
            return []
        whole: dict[frozenset, _Part] = {}
        for part in parts:
            whole[part.groups] = whole[part.groups].merged(part) if part.groups in whole else part
        height = float(np.median([p.height for p in whole.values()]))
        key = [((p.y0 + p.y1) / 2 - slope * ((p.x0 + p.x1) / 2 - centre_x), g) for g, p in whole.items()]
        key.sort(key=lambda kv: kv[0])
        line_of: dict[frozenset, int] = {}
        n, last = 0, key[0][0]
        for y, group in key:
            n += y - last > 0.6 * height
            line_of[group], last = n, y
        lines: list[list[_Part]] = [[] for _ in range(n + 1)]
        for part in parts:
            lines[line_of[part.groups]].append(part)
        return [sorted(line, key=lambda p: (p.x0 + p.x1) / 2) for line in lines]

    @staticmethod
    def _join(line: list[_Part]) -> list[_Part]:
        """Pieces of one digit made one: horizontal overlap, or a small
        piece close to a digit; specks far from any digit dropped."""
        merged: list[_Part] = []
        for part in line:  # left to right
            if merged:
                prev = merged[-1]
                across = min(prev.x1, part.x1) - max(prev.x0, part.x0)
                down = min(prev.y1, part.y1) - max(prev.y0, part.y0)
                # one above the other, not two slanted digits side by side
                if across >= OVERLAP_SHARE * min(prev.width, part.width) and \
                        down < OVERLAP_SHARE * min(prev.height, part.height):
                    merged[-1] = prev.merged(part)
                    continue
            merged.append(part)
        if len(merged) < 2:
            return merged
        typical = float(np.median([p.mass for p in merged]))
        height = float(np.median([p.height for p in merged]))
        out = list(merged)
        for part in sorted(merged, key=lambda p: p.mass):
            if part.mass >= PIECE_SHARE * typical or part.height >= PIECE_HEIGHT * height \
                    or part not in out or len(out) < 2:
                continue
            i = out.index(part)
            gaps = [(max(out[j].x0 - part.x1, part.x0 - out[j].x1), j) for j in (i - 1, i + 1) if 0 <= j < len(out)]
            gap, j = min(gaps)
            if gap <= JOIN_GAP * height:
                out[j] = out[j].merged(part)
                out.pop(i)
            elif part.mass < SPECK_SHARE * typical:
                out.pop(i)
        return out

    def _rejoin(self, ink, labels, line: list[_Part]) -> list[_Part]:
        """Neighbours whose strokes only faint ink joins are one digit when
        one lies above the other, or when the network reads them together
        more surely than it reads both apart (a stroke thinned or faded in
        the middle: one of its pieces reads poorly); side by side and both
        read well, they stay two (digits whose edges touch)."""
        out = line[:1]
        for part in line[1:]:
            prev = out[-1]
            if prev.groups & part.groups:
                both = prev.merged(part)
                down = min(prev.y1, part.y1) - max(prev.y0, part.y0)
                if down < OVERLAP_SHARE * min(prev.height, part.height):  # one above the other
                    out[-1] = both
                    continue
                score = np.log(np.maximum(self._proba(ink, labels, [prev, part, both]).max(axis=1), 1e-12))
                if score[2] > score[0] + score[1] + SPLIT_MARGIN:  # the chance that all is right
                    out[-1] = both
                    continue
            out.append(part)
        return out

    def _split(self, ink, labels, part: _Part, height: float, depth: int = 0) -> list[_Part]:
        """A part too wide for one digit, cut where both sides read best.

        Candidate cuts: the columns where the part's column profile of ink
        is lowest (and a few evenly spaced ones), each upright or leaning
        by ``CUT_SLOPES`` (neighbours that overlap lean into each other)."""
        if depth > 6 or part.width <= SPLIT_WIDTH * height or part.width < 8:
            return [part]
        y0, y1, x0, x1 = part.y0, part.y1, part.x0, part.x1
        mine = part.mask(labels, y0, y1, x0, x1)
        weights = np.where(mine, ink[y0:y1, x0:x1], 0)
        profile = np.convolve(weights.sum(axis=0), np.ones(3) / 3, mode="same")
        w = x1 - x0
        inner = np.arange(max(2, int(0.2 * w)), min(w - 2, int(0.8 * w)) + 1)
        if not len(inner):
            return [part]
        minima = [c for c in inner if profile[c] <= profile[c - 1] and profile[c] <= profile[min(c + 1, w - 1)]]
        columns = sorted(set(minima) | set(np.linspace(inner[0], inner[-1], 5).astype(int)),
                         key=lambda c: profile[c])[:CUT_COLUMNS]
        ym = (y0 + y1) / 2
        yy, xx = np.mgrid[y0:y1, x0:x1]

        def side(x: float, slope: float, left: bool) -> _Part | None:
            keep = mine & ((xx < x + slope * (yy - ym)) == left)
            rows, cols = np.nonzero(keep.any(axis=1))[0], np.nonzero(keep.any(axis=0))[0]
            if not len(cols):
                return None
            return _Part(part.ids, x0 + int(cols[0]), y0 + int(rows[0]), x0 + int(cols[-1]) + 1,
                         y0 + int(rows[-1]) + 1, float(weights[keep].sum()), part.cuts + ((x, ym, slope, left),))

        candidates = []
        for c in columns:
            for slope in CUT_SLOPES:
                left, right = side(x0 + c, slope, True), side(x0 + c, slope, False)
                if left is not None and right is not None:
                    candidates.append((left, right))
        if not candidates:
            return [part]
        proba = self._proba(ink, labels, [p for pair in candidates for p in pair] + [part])
        best = np.log(np.maximum(proba.max(axis=1), 1e-12))
        scores = (best[0:-1:2] + best[1:-1:2]) / 2
        k = int(np.argmax(scores))
        # the wider the part, the less a cut has to prove: none at CUT_WIDTH
        doubt = min(max((CUT_WIDTH * height - part.width) / ((CUT_WIDTH - SPLIT_WIDTH) * height), 0.0), 1.0)
        if scores[k] <= best[-1] + doubt * SPLIT_MARGIN and doubt > 0:
            return [part]
        left, right = candidates[k]
        return self._split(ink, labels, left, height, depth + 1) + self._split(ink, labels, right, height, depth + 1)

    # ------------------------------------------------------------ reading

    def read(self, image) -> Reading:
        picture = np.asarray(image)
        if picture.ndim != 2:
            raise InputError(f"read_number takes one (H, W) picture, got shape {picture.shape}")
        ink, factor = ink_map(picture, self.settings, max_side=config.READ_MAX_SIDE)
        if not ink.any():
            return Reading(note=NO_INK)
        # a slanted line of writing (a rotated photo) is turned level, so
        # that its digits stand upright as the network learned them
        degrees = math.degrees(math.atan(self._slant(ink)))
        turn = _Turn(ink.shape, degrees if abs(degrees) >= LEVEL_DEGREES else 0.0)
        ink = turn.apply(ink)
        labels, parts = self._components(ink)
        if not parts:
            return Reading(note=NO_INK)
        lines = self._lines(parts, 0.0, ink.shape[1] / 2)
        digits: list[tuple[int, _Part]] = []
        for n, line in enumerate(lines):
            joined = self._rejoin(ink, labels, self._join(line))
            height = float(np.median([p.height for p in joined]))
            for part in joined:
                digits.extend((n, p) for p in self._split(ink, labels, part, height))
        proba = self._proba(ink, labels, [p for _, p in digits])
        classes = self.model.classes_
        out: list[Digit] = []
        text: list[str] = []
        line_no = 0
        for (n, part), p in zip(digits, proba):
            if n != line_no:
                text.append("\n")
                line_no = n
            best = int(np.argmax(p))
            label = classes[best].item() if hasattr(classes[best], "item") else classes[best]
            x0, y0, x1, y1 = turn.back(part.x0, part.y0, part.x1, part.y1)
            box = (max(int(x0 * factor), 0), max(int(y0 * factor), 0),
                   min(int(math.ceil(x1 * factor)), picture.shape[1]), min(int(math.ceil(y1 * factor)), picture.shape[0]))
            out.append(Digit(label, float(p[best]), box, n))
            text.append(str(label) if p[best] >= self.min_confidence else "?")
        confidence = float(np.prod([d.probability for d in out])) if out else 0.0
        return Reading("".join(text), confidence, out)


def read_number(image: ArrayLike, model: MLPClassifier | Ensemble | None = None, *,
                min_confidence: float = 0.0) -> Reading:
    """Read the number written in one picture.

    Parameters
    ----------
    image : array_like, shape (H, W)
        A grey picture (uint8, or float as :func:`fastdigits.preprocess.normalize`
        reads it): a ZIP code, a meter reading, "2024" on a sheet; one or
        more lines of digits, light or dark ink, on any paper.
    model : MLPClassifier or Ensemble, optional
        The network that reads each digit; default: the shipped digit model.
    min_confidence : float
        Digits read with a lower probability are ``?`` in ``text`` (they
        stay in ``digits`` with their best guess); in [0, 1].

    Returns
    -------
    Reading
        ``text`` (lines separated by newlines), ``confidence`` (the product
        of the digits' probabilities: reject readings below a threshold of
        your choice, see ``benchmarks/accuracy_numbers.py`` for the
        accuracy kept at each), and per digit its label, probability and
        box in the picture's pixels.  A picture without ink gives an empty
        ``text``, confidence 0 and ``note`` "no ink found".

    Raises
    ------
    InputError
        If ``image`` is not one numeric (H, W) picture, or ``min_confidence``
        is outside [0, 1].

    Examples
    --------
    Two dark strokes on white paper read as "11":

    >>> import numpy as np
    >>> from fastdigits import read_number
    >>> picture = np.full((40, 90), 255, np.uint8)
    >>> picture[8:32, 20:24] = 0
    >>> picture[8:32, 60:64] = 0
    >>> reading = read_number(picture)
    >>> reading.text, reading.confidence > 0.9
    ('11', True)
    >>> [digit.box for digit in reading.digits]
    [(20, 8, 24, 32), (60, 8, 64, 32)]
    """
    return _Reader(_model(model), min_confidence).read(image)


def read_numbers(images: Iterable[ArrayLike], model: MLPClassifier | Ensemble | None = None, *,
                 min_confidence: float = 0.0, workers: int | None = None) -> list[Reading]:
    """Read the number in each of many pictures, several threads at a time.

    :func:`read_number` for each picture; a picture that cannot be read
    gets a Reading with its ``error`` instead of stopping the others.

    Parameters
    ----------
    images : iterable of array_like, each shape (H, W)
        Grey pictures, as for :func:`read_number`.
    model : MLPClassifier or Ensemble, optional
        The network that reads each digit; default: the shipped digit model.
    min_confidence : float
        As for :func:`read_number`, in [0, 1].
    workers : int, optional
        Threads; default: the CPUs available.

    Returns
    -------
    list of Reading
        One per picture, in order.

    Raises
    ------
    InputError
        If ``min_confidence`` is outside [0, 1] (a bad picture gets a
        Reading with its ``error`` instead).

    Examples
    --------
    >>> import numpy as np
    >>> from fastdigits import read_numbers
    >>> one = np.full((40, 40), 255, np.uint8)
    >>> one[8:32, 18:22] = 0
    >>> [(r.text, r.note, r.error) for r in read_numbers([one, np.zeros((40, 40)), np.zeros(3)])]
    [('1', None, None), ('', 'no ink found', None), ('', None, 'read_number takes one (H, W) picture, got shape (3,)')]
    """
    reader = _Reader(_model(model), min_confidence)
    with ThreadPoolExecutor(max_workers=workers or config.default_threads()) as pool:
        return list(pool.map(lambda im: _safe(reader, im), images))


def read_files(files: Sequence[Path | str], model: MLPClassifier | Ensemble | None = None, *,
               min_confidence: float = 0.0, workers: int | None = None,
               names: Sequence[str] | None = None) -> Iterator[Reading]:
    """Read the number in each picture file, yielding a Reading per file in order.

    Files are decoded and read by ``workers`` threads, a window of them at
    a time, so memory does not grow with the number of files.  A file that
    cannot be decoded or read yields a Reading with its ``error``.

    Parameters
    ----------
    files : sequence of pathlib.Path or str
        The pictures (e.g. :func:`fastdigits.classify.find_images`' files,
        URL strings too).
    model : MLPClassifier or Ensemble, optional
        The network that reads each digit; default: the shipped digit model.
    min_confidence : float
        As for :func:`read_number`, in [0, 1].
    workers : int, optional
        Threads; default: the CPUs available.
    names : sequence of str, optional
        What each reading's ``path`` and error name, one per file
        (default: the file as given).

    Yields
    ------
    Reading
        One per file, in order, with its ``path`` (its ``names`` entry).

    Raises
    ------
    InputError
        If ``min_confidence`` is outside [0, 1].

    Examples
    --------
    >>> import numpy as np
    >>> from pathlib import Path
    >>> from PIL import Image
    >>> from fastdigits.read import read_files
    >>> one = np.full((40, 40), 255, np.uint8)
    >>> one[8:32, 18:22] = 0
    >>> Image.fromarray(one).save("one.png")
    >>> [(r.path, r.text) for r in read_files([Path("one.png")])]
    [('one.png', '1')]
    """
    reader = _Reader(_model(model), min_confidence)
    workers = workers or config.default_threads()
    names = [str(f) for f in files] if names is None else list(names)
    if len(names) != len(files):
        raise InputError(f"{len(names)} names for {len(files)} files")

    def one(i: int) -> Reading:
        image = _decode(files[i], names[i])
        reading = Reading(error=image) if isinstance(image, str) else _safe(reader, image)
        reading.path = names[i]
        return reading

    with ThreadPoolExecutor(max_workers=workers) as pool:
        window = 4 * workers
        futures = [pool.submit(one, i) for i in range(min(window, len(files)))]
        for i in range(len(files)):
            reading = futures[i].result()
            futures[i] = None
            if i + window < len(files):
                futures.append(pool.submit(one, i + window))
            yield reading


def _safe(reader: _Reader, image) -> Reading:
    try:
        return reader.read(image)
    except InputError as exc:
        return Reading(error=str(exc))
    except Exception as exc:  # one bad picture must not stop thousands
        return Reading(error=f"cannot read ({type(exc).__name__}: {exc})")


def _model(model: MLPClassifier | Ensemble | None) -> MLPClassifier | Ensemble:
    if model is None:
        from .modelfiles import load_model

        return load_model()
    return model
