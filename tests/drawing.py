"""Digits and strokes that the tests draw themselves with Pillow."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont


def digit(char: str, *, size: int = 200, height: float = 0.6, stroke: int = 2, at=(0.5, 0.5),
          paper: int = 255, ink: int = 0, grid: int | None = None, gradient: float = 0.0,
          shape: tuple[int, int] | None = None) -> np.ndarray:
    """A grey (H, W) uint8 picture of ``char`` in the default font.

    ``height``: glyph height as a share of the picture; ``at``: its centre
    (fractions of height and width); ``grid``: squared-paper spacing in
    pixels (lines a little darker than the paper); ``gradient``: uneven
    lighting, darkening the paper by this share from left to right.
    """
    h, w = shape or (size, size)
    font = ImageFont.load_default(size=max(8, int(h * height)))
    glyph = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(glyph)
    left, top, right, bottom = draw.textbbox((0, 0), char, font=font, stroke_width=stroke)
    x = at[1] * w - (left + right) / 2
    y = at[0] * h - (top + bottom) / 2
    draw.text((x, y), char, font=font, fill=255, stroke_width=stroke, stroke_fill=255)
    mask = np.asarray(glyph, float) / 255
    page = np.full((h, w), float(paper))
    if grid:
        line = 0.85 * paper + 0.15 * ink
        page[::grid, :] = line
        page[:, ::grid] = line
    if gradient:
        page *= 1 - gradient * np.linspace(0, 1, w)[None, :]
    return np.clip(page * (1 - mask) + ink * mask, 0, 255).astype(np.uint8)


def polyline(points, *, size: int = 800, width: int = 3, paper: int = 255, ink: int = 0) -> np.ndarray:
    """A pen line through ``points`` (fractions of the picture), e.g. a
    ballpoint digit photographed large: thin relative to its size."""
    img = Image.new("L", (size, size), paper)
    ImageDraw.Draw(img).line([(x * size, y * size) for y, x in points], fill=ink, width=width, joint="curve")
    return np.asarray(img)


#: A "4" as pen strokes: down-left diagonal, across, and the long stem.
FOUR = [(0.15, 0.6), (0.6, 0.25), (0.6, 0.75), (0.6, 0.6), (0.15, 0.6), (0.85, 0.6)]


def photo_of(digit28: np.ndarray, rng: np.random.Generator, *, size: int = 240) -> np.ndarray:
    """A 'phone photo' of a handwritten digit: the 28x28 digit enlarged
    smoothly onto a page of ``size`` px at a random place and scale, dark
    ink on white, grey or squared paper, uneven light, blur and noise."""
    side = max(28, int(size * rng.uniform(0.3, 1.0)))  # the 28x28 frame; the digit is 20/28 of it
    ink_shape = np.asarray(Image.fromarray(digit28).resize((side, side), Image.Resampling.BICUBIC), float) / 255
    page_ink = np.zeros((size, size))
    y0, x0 = rng.integers(0, size - side + 1, 2)
    page_ink[y0:y0 + side, x0:x0 + side] = np.clip(ink_shape, 0, 1)
    paper = rng.uniform(150, 250)
    page = np.full((size, size), paper)
    kind = rng.integers(0, 3)
    if kind == 1:  # squared paper
        spacing = int(rng.integers(12, 30))
        page[::spacing, :] *= 0.85
        page[:, ::spacing] *= 0.85
    if kind == 2:  # uneven light
        yy, xx = np.mgrid[0:size, 0:size] / size
        page *= 1 - rng.uniform(0.2, 0.5) * (rng.uniform() * yy + rng.uniform() * xx) / 2
    ink = rng.uniform(10, 70)
    image = page * (1 - page_ink) + ink * page_ink
    blurred = Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).filter(
        ImageFilter.GaussianBlur(rng.uniform(0, 1.5)))
    noisy = np.asarray(blurred, float) + rng.normal(0, rng.uniform(0, 8), (size, size))
    return np.clip(noisy, 0, 255).astype(np.uint8)


# Kinds of real pictures (the pictures issue): each turns a 28x28 MNIST digit
# (white ink on black, uint8) into one kind of picture that people feed the
# model.  Pure functions of the digit and the generator; benchmarks/
# accuracy_kinds.py measures the shipped model on each.

#: Stroke colours of :func:`alpha_canvas`, as RGB: dark ones (black, red,
#: blue) and light ones (white, yellow), and a mid grey (128) between them.
COLOURS = {"white": (255, 255, 255), "black": (0, 0, 0), "red": (220, 30, 30), "blue": (30, 60, 220),
           "yellow": (255, 255, 0), "grey": (128, 128, 128)}

#: Kinds of :func:`blank_picture`.
BLANK_KINDS = ("white", "black", "grey", "uneven", "jpeg", "1x1", "3x3", "noisy")
#: Blank kinds whose noise the pipeline takes for faint ink about one time in
#: ten, a known limit (``tests/test_kinds.py``, ``benchmarks/RESULTS.md``): an
#: "uneven" page (strong uneven light and noise) and a "noisy" one (always,
#: at 28 x 28).
NOISY_BLANK_KINDS = ("uneven", "noisy")
#: The kinds read as blank every time.
SURE_BLANK_KINDS = tuple(k for k in BLANK_KINDS if k not in NOISY_BLANK_KINDS)


def _ink(digit28: np.ndarray, side: int) -> np.ndarray:
    """The digit's ink enlarged smoothly to (side, side), float64 in [0, 1]
    (unchanged if it is that size already)."""
    big = Image.fromarray(np.asarray(digit28, np.uint8)).resize((side, side), Image.Resampling.BICUBIC)
    return np.clip(np.asarray(big, float) / 255, 0, 1)


def _finish(image: np.ndarray, rng: np.random.Generator, blur: float, noise: float) -> np.ndarray:
    """Gaussian blur up to ``blur`` px and noise up to ``noise`` grey levels, as uint8."""
    pic = Image.fromarray(np.clip(image, 0, 255).astype(np.uint8))
    pic = pic.filter(ImageFilter.GaussianBlur(rng.uniform(0, blur)))
    noisy = np.asarray(pic, float) + rng.normal(0, rng.uniform(0, noise), image.shape)
    return np.clip(np.round(noisy), 0, 255).astype(np.uint8)


def jpeg_copy(picture: np.ndarray, quality: int) -> np.ndarray:
    """A grey picture saved as a JPEG in memory and read back: canvas
    exports, screenshots, re-saved MNIST.

    Parameters
    ----------
    picture : (H, W) uint8
        Any grey picture; a 28x28 MNIST digit (white ink on black) for
        the kinds of picture.
    quality : int
        JPEG quality, 1..95.

    Returns
    -------
    (H, W) uint8
        The decoded grey picture, with the codec's ringing and blocking.
    """
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(picture, np.uint8)).save(buffer, "JPEG", quality=quality)
    buffer.seek(0)
    with Image.open(buffer) as img:
        return np.asarray(img.convert("L"), np.uint8).copy()


def alpha_canvas(ink: np.ndarray, rng: np.random.Generator | None = None, colour: str = "white", *,
                 side: int | None = None) -> np.ndarray:
    """An HTML-canvas or signature-pad export: the stroke lives in the
    alpha channel of a transparent canvas.

    Parameters
    ----------
    ink : (h, w) uint8
        White ink on black: a 28x28 MNIST digit, or pen strokes drawn as
        ``polyline(points, paper=0, ink=255)``.
    rng : numpy.random.Generator, optional
        Draws the canvas size, 140..280 px, unless ``side`` is given.
    colour : str
        The stroke colour, a key of :data:`COLOURS`.
    side : int, optional
        The canvas size.  Ink of that size already is used as it is (a
        polyline keeps its hard edges: alpha 0 or 255 only).

    Returns
    -------
    (S, S, 4) uint8
        RGBA: every pixel's colour is the stroke colour; alpha is the
        ink enlarged to S x S (0, fully transparent, away from the stroke).
    """
    side = int(rng.integers(140, 281)) if side is None else side
    rgba = np.empty((side, side, 4), np.uint8)
    rgba[..., :3] = COLOURS[colour]
    rgba[..., 3] = np.round(_ink(ink, side) * 255).astype(np.uint8)
    return rgba


def rotated_photo(digit28: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A photo of the digit (:func:`photo_of`), rotated in an editor that
    fills the corners it uncovers with transparency, saved as RGBA.

    Parameters
    ----------
    digit28 : (28, 28) uint8
        White ink on black.
    rng : numpy.random.Generator
        Draws the photo (as :func:`photo_of`, 240 px) and the angle (up to
        15 degrees either way).

    Returns
    -------
    (S, S, 4) uint8
        RGBA, S >= 240: the photo's grey, opaque; transparent corners.
    """
    photo = Image.fromarray(photo_of(digit28, rng)).convert("RGBA")
    rotated = photo.rotate(rng.uniform(-15, 15), Image.Resampling.BILINEAR, expand=True)
    return np.asarray(rotated, np.uint8).copy()


def digits_8x8(digit28: np.ndarray) -> np.ndarray:
    """The digit as in scikit-learn's ``load_digits`` (optdigits): its ink
    box scaled so the long side fills 32 px, thresholded into a bitmap at
    a quarter of full ink,
    and the on-pixels counted in 4x4 blocks.

    Parameters
    ----------
    digit28 : (28, 28) uint8
        White ink on black.

    Returns
    -------
    (8, 8) float64
        Whole numbers 0..16, ink high.
    """
    digit = np.asarray(digit28, np.uint8)
    rows, cols = np.nonzero(digit > 0)
    if not len(rows):
        return np.zeros((8, 8))
    box = digit[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    h, w = box.shape
    scale = 32 / max(h, w)
    th, tw = max(1, round(h * scale)), max(1, round(w * scale))
    scaled = np.asarray(Image.fromarray(box).resize((tw, th), Image.Resampling.BILINEAR))
    bitmap = np.zeros((32, 32), bool)
    y0, x0 = (32 - th) // 2, (32 - tw) // 2
    bitmap[y0:y0 + th, x0:x0 + tw] = scaled >= 64  # 64: load_digits' mean (4.9) and share of 16s (9 %)
    return bitmap.reshape(8, 4, 8, 4).sum(axis=(1, 3)).astype(np.float64)


def underexposed(digit28: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """An underexposed photo: the whole picture in a narrow dark range.

    Parameters
    ----------
    digit28 : (28, 28) uint8
        White ink on black.
    rng : numpy.random.Generator
        Draws the size (60..200 px), the brightest level (15..35 of 255),
        dark-on-light or light-on-dark, blur and noise (up to 1.5 levels).

    Returns
    -------
    (S, S) uint8
        Values within 0..~40.
    """
    side = int(rng.integers(60, 201))
    ink = _ink(digit28, side)
    top = rng.uniform(15, 35)
    low = top * rng.uniform(0.0, 0.35)
    paper, pen = (top, low) if rng.integers(0, 2) else (low, top)  # dark on light, or light on dark
    return _finish(paper + (pen - paper) * ink, rng, blur=1.0, noise=1.5)


def dark_surround(digit28: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A light page that fills only part of the picture, inside a dark
    surround on all sides: a sheet on a dark desk, a meter window, a form
    box.

    Parameters
    ----------
    digit28 : (28, 28) uint8
        White ink on black.
    rng : numpy.random.Generator
        Draws the page's size (50..130 px a side), the digit's size on it,
        the surround's width on each side, the page's tilt (up to 4
        degrees), the paper (170..250), ink (10..70) and surround (0..60)
        levels, blur and noise.

    Returns
    -------
    (H, W) uint8
        Dark ink on the light page; the picture's whole border is surround.
    """
    ph, pw = (int(s) for s in rng.integers(50, 131, 2))
    side = int(min(ph, pw) * rng.uniform(0.75, 1.1))  # the 28x28 frame; the digit is 20/28 of it
    page = np.full((ph, pw), rng.uniform(170, 250))
    ink = np.zeros((ph, pw))
    y0, x0 = (ph - side) // 2 + int(rng.integers(-2, 3)), (pw - side) // 2 + int(rng.integers(-2, 3))
    big = _ink(digit28, side)
    ys, xs = slice(max(y0, 0), min(y0 + side, ph)), slice(max(x0, 0), min(x0 + side, pw))
    ink[ys, xs] = big[ys.start - y0:ys.stop - y0, xs.start - x0:xs.stop - x0]
    page = page * (1 - ink) + rng.uniform(10, 70) * ink
    angle = rng.uniform(-4, 4)
    sheet = Image.fromarray(np.clip(page, 0, 255).astype(np.uint8)).rotate(
        angle, Image.Resampling.BILINEAR, expand=True)
    mask = Image.new("L", (pw, ph), 255).rotate(angle, Image.Resampling.BILINEAR, expand=True)
    top, bottom, left, right = (int(m) for m in rng.integers(4, 41, 4))
    h, w = sheet.height + top + bottom, sheet.width + left + right
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    surround = rng.uniform(0, 60) * (1 + rng.uniform(-0.3, 0.3) * (yy + xx - 1))
    picture = surround.copy()
    on = np.asarray(mask, float) / 255
    picture[top:top + sheet.height, left:left + sheet.width] = (
        surround[top:top + sheet.height, left:left + sheet.width] * (1 - on) + np.asarray(sheet, float) * on)
    return _finish(picture, rng, blur=1.0, noise=4)


def ruled_paper(digit28: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The digit as dark ink on lined notebook paper.

    Parameters
    ----------
    digit28 : (28, 28) uint8
        White ink on black.
    rng : numpy.random.Generator
        Draws the picture's size (120..260 px), the digit's size and
        place, the rules' spacing (0.2..0.5 of the digit's height),
        thickness (1..3 px), darkness (blue-grey: 55..75 % of the paper)
        and tilt (up to 1 degree), a vertical margin line half the time,
        blur and noise.

    Returns
    -------
    (S, S) uint8
        Rules cross the whole picture and the digit's strokes.
    """
    size = int(rng.integers(120, 261))
    side = int(size * rng.uniform(0.45, 0.85))  # the 28x28 frame; the digit is 20/28 of it
    paper = rng.uniform(200, 250)
    yy, xx = np.mgrid[0:size, 0:size].astype(float)
    spacing = side * 20 / 28 * rng.uniform(0.2, 0.5)
    thickness = rng.uniform(1, 3)
    tilt = np.tan(np.radians(rng.uniform(-1, 1)))
    phase = (yy - xx * tilt - rng.uniform(0, spacing)) % spacing
    rule = np.clip(thickness / 2 + 0.5 - np.minimum(phase, spacing - phase), 0, 1)  # anti-aliased
    page = paper * (1 - rule * rng.uniform(0.25, 0.45))
    if rng.integers(0, 2):
        margin = np.clip(1.5 - np.abs(xx - size * rng.uniform(0.08, 0.2)), 0, 1)
        page *= 1 - margin * rng.uniform(0.2, 0.4)
    ink = np.zeros((size, size))
    y0, x0 = (int(v) for v in rng.integers(0, size - side + 1, 2))
    ink[y0:y0 + side, x0:x0 + side] = _ink(digit28, side)
    return _finish(page * (1 - ink) + rng.uniform(10, 70) * ink, rng, blur=0.8, noise=4)


def blank_picture(rng: np.random.Generator, kind: str, *, shape: tuple[int, int] | None = None) -> np.ndarray:
    """A picture with nothing to read.

    Parameters
    ----------
    rng : numpy.random.Generator
        Draws the size (28..300 px a side, unless ``shape`` is given) and
        levels.
    kind : str
        One of :data:`BLANK_KINDS`: "white" sheet, "black", mid-"grey",
        "uneven" (a white page with mild noise and uneven light), "jpeg"
        (a blank light canvas saved as JPEG), "1x1" and "3x3" (tiny
        pictures of one level), "noisy" (a white page with mild Gaussian
        noise, as a scan or a photo of blank paper).
    shape : (int, int), optional
        The picture's size, for every kind but "1x1" and "3x3".

    Returns
    -------
    (H, W) uint8
    """
    if kind == "1x1":
        return np.full((1, 1), rng.integers(0, 256), np.uint8)
    if kind == "3x3":
        return np.full((3, 3), rng.integers(0, 256), np.uint8)
    h, w = shape or (int(s) for s in rng.integers(28, 301, 2))
    if kind == "white":
        return np.full((h, w), 255, np.uint8)
    if kind == "black":
        return np.zeros((h, w), np.uint8)
    if kind == "grey":
        return np.full((h, w), rng.integers(100, 156), np.uint8)
    if kind == "noisy":
        return np.clip(rng.normal(245, 6, (h, w)), 0, 255).astype(np.uint8)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    if kind == "uneven":
        light = 1 - rng.uniform(0.1, 0.35) * (rng.uniform() * yy + rng.uniform() * xx) / 2
        return _finish(rng.uniform(200, 250) * light, rng, blur=1.0, noise=4)
    if kind == "jpeg":
        canvas = rng.uniform(235, 255) - rng.uniform(0, 10) * xx
        return jpeg_copy(np.clip(np.round(canvas), 0, 255).astype(np.uint8), int(rng.integers(50, 91)))
    raise ValueError(f"kind must be one of {BLANK_KINDS}, got {kind!r}")


def blank_page(kind: str) -> np.ndarray:
    """One fixed :func:`blank_picture` of ``kind``: 280 x 280 (the size of
    the tests' pen-drawn digits, so the two stack), seed 14."""
    return blank_picture(np.random.default_rng(14), kind, shape=(280, 280))


def ruled(page: np.ndarray, *, spacing: int, level: int, width: int = 2, margin: int | None = None) -> np.ndarray:
    """``page`` (grey uint8) with dark ruled lines: rows ``width`` px thick
    every ``spacing`` px from ``spacing // 2``, at most ``level`` grey;
    and, if ``margin`` is a grey level, a vertical margin line as wide at
    column 12."""
    out = page.copy()
    for y in range(spacing // 2, len(out), spacing):
        out[y:y + width] = np.minimum(out[y:y + width], level)
    if margin is not None:
        out[:, 12:12 + width] = np.minimum(out[:, 12:12 + width], margin)
    return out


def page_in_frame(page: np.ndarray, *, surround: int, tilt: float = 0.0, margins=(12, 18, 10, 14),
                  noise: float = 0.0) -> np.ndarray:
    """``page`` (grey uint8) tilted by ``tilt`` degrees inside a flat dark
    ``surround``: a sheet on a desk, a meter window, a form box.

    ``margins``: the surround's (top, bottom, left, right) widths in pixels
    around the tilted sheet; ``noise``: the standard deviation of
    Gaussian noise added to the whole picture (seed 1).  Returns (H, W)
    uint8.
    """
    sheet = Image.fromarray(page).rotate(tilt, Image.Resampling.BILINEAR, expand=True, fillcolor=surround)
    top, bottom, left, right = margins
    picture = np.full((sheet.height + top + bottom, sheet.width + left + right), float(surround))
    picture[top:top + sheet.height, left:left + sheet.width] = np.asarray(sheet)
    if noise:
        picture += np.random.default_rng(1).normal(0, noise, picture.shape)
    return np.clip(np.round(picture), 0, 255).astype(np.uint8)


#: A "7" as pen strokes: the top bar and the long diagonal.
SEVEN = [(0.2, 0.25), (0.2, 0.75), (0.85, 0.4)]


# Numbers (the reading issue): strings of MNIST digits laid out as people
# write them, for tests/test_read.py and benchmarks/accuracy_numbers.py.


def _ink_columns(digit28: np.ndarray) -> np.ndarray:
    """The digit cropped to the columns that hold ink."""
    cols = np.nonzero(digit28.max(axis=0) > 0)[0]
    return digit28[:, cols[0]:cols[-1] + 1] if len(cols) else digit28


def number(digits28, gaps, *, invert: bool = False, slant: float = 0.0, scale: float = 1.0,
           lines: int = 1, margin: int = 6) -> np.ndarray:
    """A picture of a handwritten number made of MNIST digits.

    Parameters
    ----------
    digits28 : sequence of (28, 28) uint8
        White ink on black, in reading order.
    gaps : int or sequence of int
        Pixels between neighbours' ink (before ``scale``): positive for a
        gap, 0 for touching, negative for overlapping (ink is combined by
        its maximum); one per pair of neighbours or one for all.
    invert : bool
        Dark ink on white paper instead of light ink on black.
    slant : float
        The line rotated by this many degrees (counter-clockwise).
    scale : float
        The picture enlarged (bilinear) by this factor.
    lines : int
        The digits laid out in this many lines of (nearly) equal length,
        one under the other.

    Returns
    -------
    (H, W) uint8
    """
    digits = [_ink_columns(np.asarray(d)) for d in digits28]
    n = len(digits)
    if np.ndim(gaps) == 0:
        gaps = [int(gaps)] * max(n - 1, 0)
    per_line = -(-n // lines)
    rows = []
    for start in range(0, n, per_line):
        line, line_gaps = digits[start:start + per_line], list(gaps[start:start + per_line - 1])
        width = sum(d.shape[1] for d in line) + sum(line_gaps)
        row = np.zeros((28, max(width, 1)), np.uint8)
        x = 0
        for k, d in enumerate(line):
            row[:, x:x + d.shape[1]] = np.maximum(row[:, x:x + d.shape[1]], d)
            x += d.shape[1] + (line_gaps[k] if k < len(line_gaps) else 0)
        rows.append(row)
    width = max(r.shape[1] for r in rows)
    canvas = np.zeros((len(rows) * 34 + 2 * margin, width + 2 * margin), np.uint8)
    for k, r in enumerate(rows):
        canvas[margin + 34 * k:margin + 34 * k + 28, margin:margin + r.shape[1]] = r
    img = Image.fromarray(canvas)
    if slant:
        img = img.rotate(slant, Image.Resampling.BILINEAR, expand=True)
    if scale != 1:
        img = img.resize((round(img.width * scale), round(img.height * scale)), Image.Resampling.BILINEAR)
    out = np.asarray(img)
    return 255 - out if invert else out


def broken(digit28: np.ndarray, rows: tuple[int, int] = (9, 11)) -> np.ndarray:
    """The digit with the band of ``rows`` wiped out (a 5 whose top bar is
    apart, a 4 with an open top)."""
    out = np.array(digit28)
    out[rows[0]:rows[1]] = 0
    return out
