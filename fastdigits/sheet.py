"""Pictures of what the network sees: contact sheets (Pillow)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from ._io import atomic_open
from .errors import InputError

__all__ = ["confusion_png", "contact_sheet", "weights_png"]


def _to_pil(image: np.ndarray):
    from PIL import Image

    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        top = float(arr.max()) if arr.size else 1.0
        arr = np.clip(arr * (255.0 if top <= 1 else 255.0 / top), 0, 255).astype(np.uint8)
    return Image.fromarray(arr, mode="L")


def contact_sheet(
    originals: Sequence[ArrayLike],
    normalized: ArrayLike,
    path: str | os.PathLike,
    *,
    labels: Sequence[str] | None = None,
    columns: int = 6,
    cell: int = 80,
) -> Path:
    """Write a PNG showing each original image beside its normalised frame.

    Pairs are laid out ``columns`` to a row, on grey, written atomically.

    Parameters
    ----------
    originals : sequence of (H, W) arrays
        Grey images as given (any sizes); shown fitted into ``cell`` pixels.
    normalized : (N, S, S) array, or (N, S * S) rows as ``model.prepare`` gives them
        What the network sees, in [0, 1]; shown enlarged without smoothing,
        white ink on black as the network sees it.
    path : str or path-like
        The PNG file to write.
    labels : sequence of str, optional
        A caption under each pair (e.g. "7 -> 7 (0.99)").
    columns : int
        Pairs per row of the sheet.
    cell : int
        Side, in pixels, of each picture's square on the sheet.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    InputError
        If ``originals``, ``normalized`` and ``labels`` differ in length.

    Examples
    --------
    >>> import numpy as np
    >>> from PIL import Image
    >>> from fastdigits.preprocess import prepare
    >>> from fastdigits.sheet import contact_sheet
    >>> page = np.full((60, 40), 255, np.uint8)
    >>> page[10:50, 18:23] = 0
    >>> path = contact_sheet([page, page], prepare([page, page]), "sheet.png", labels=["1", "1"])
    >>> print(path, Image.open(path).size)
    sheet.png (350, 106)
    """
    from PIL import Image, ImageDraw, ImageFont

    normalized = np.asarray(normalized)
    side = int(round(np.sqrt(normalized.shape[-1]))) if normalized.ndim == 2 else 0
    if side and side * side == normalized.shape[-1]:  # rows, as model.prepare gives them
        normalized = normalized.reshape(len(normalized), side, side)
    if len(originals) != len(normalized):
        raise InputError(f"{len(originals)} originals but {len(normalized)} normalised images")
    if labels is not None and len(labels) != len(originals):
        raise InputError(f"{len(labels)} labels for {len(originals)} images")
    n = len(originals)
    columns = max(1, min(columns, n or 1))
    rows = max(1, -(-n // columns))
    caption = 14 if labels is not None else 0
    pad = 6
    pair_w, pair_h = 2 * cell + pad, cell + caption
    sheet = Image.new("L", (columns * (pair_w + pad) + pad, rows * (pair_h + pad) + pad), 128)
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    for i, (orig, norm) in enumerate(zip(originals, normalized)):
        x = pad + (i % columns) * (pair_w + pad)
        y = pad + (i // columns) * (pair_h + pad)
        left = _to_pil(orig)
        fit = cell / max(left.width, left.height)
        left = left.resize((max(1, round(left.width * fit)), max(1, round(left.height * fit))),
                           Image.Resampling.BOX if fit < 1 else Image.Resampling.NEAREST)
        sheet.paste(255, (x, y, x + cell, y + cell))
        sheet.paste(left, (x + (cell - left.width) // 2, y + (cell - left.height) // 2))
        sheet.paste(_to_pil(np.clip(norm, 0, 1) * 255).resize((cell, cell), Image.Resampling.NEAREST),
                    (x + cell + pad, y))
        if labels is not None:
            draw.text((x, y + cell + 1), str(labels[i]), fill=255, font=font)
    return _save_png(sheet, path)


def _save_png(image, path) -> Path:
    with atomic_open(path) as fh:
        image.save(fh, format="PNG")
    return Path(path)


def confusion_png(confusion: ArrayLike, classes: Sequence, path: str | os.PathLike, *, cell: int = 28) -> Path:
    """Write a confusion matrix as a PNG: darker cells hold more of their row's examples.

    Row = true class, column = predicted; each cell's count is printed.

    Parameters
    ----------
    confusion : array_like of int, shape (K, K)
        Counts, e.g. :class:`fastdigits.metrics.Evaluation`'s ``confusion``.
    classes : sequence
        The K class names (shown cut to 4-5 characters).
    path : str or path-like
        The PNG file to write, atomically.
    cell : int
        Side of each cell, in pixels.

    Returns
    -------
    pathlib.Path
        ``path``.

    Examples
    --------
    >>> import numpy as np
    >>> from PIL import Image
    >>> from fastdigits.sheet import confusion_png
    >>> Image.open(confusion_png(np.array([[5, 1], [0, 6]]), [3, 7], "confusion.png")).size
    (100, 100)
    """
    from PIL import Image, ImageDraw, ImageFont

    confusion = np.asarray(confusion)
    k = len(classes)
    margin = 40
    img = Image.new("L", (margin + k * cell + 4, margin + k * cell + 4), 255)
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default()
    share = confusion / np.maximum(confusion.sum(axis=1, keepdims=True), 1)
    for i in range(k):
        draw.text((margin + i * cell + 4, margin - 14), str(classes[i])[:4], fill=0, font=font)
        draw.text((4, margin + i * cell + 8), str(classes[i])[:5], fill=0, font=font)
        for j in range(k):
            shade = int(255 * (1 - share[i, j]))
            x0, y0 = margin + j * cell, margin + i * cell
            draw.rectangle([x0, y0, x0 + cell - 1, y0 + cell - 1], fill=shade, outline=200)
            if confusion[i, j]:
                draw.text((x0 + 2, y0 + 8), str(int(confusion[i, j]))[:5], fill=255 if shade < 128 else 0, font=font)
    draw.text((margin, 4), "true class (rows) vs predicted (columns)", fill=0, font=font)
    return _save_png(img, path)


def weights_png(weights: ArrayLike, path: str | os.PathLike, *, columns: int = 16, scale: int = 3) -> Path:
    """Write a first layer's weights as a PNG, one square tile per hidden unit.

    Mid-grey is 0; each unit is scaled to its own largest magnitude, white
    positive, black negative.

    Parameters
    ----------
    weights : array_like, shape (S*S, units)
        The first layer's weights, e.g. ``model.coefs_[0]`` (400 inputs:
        20x20 tiles).
    path : str or path-like
        The PNG file to write, atomically.
    columns : int
        Tiles per row.
    scale : int
        Pixels per weight.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    InputError
        If the number of inputs is not a square.

    Examples
    --------
    >>> import numpy as np
    >>> from PIL import Image
    >>> from fastdigits.sheet import weights_png
    >>> weights = np.random.default_rng(0).standard_normal((400, 32))
    >>> Image.open(weights_png(weights, "weights.png")).size
    (992, 124)
    """
    from PIL import Image

    weights = np.asarray(weights, dtype=np.float64)
    n_in, n_units = weights.shape
    side = int(round(np.sqrt(n_in)))
    if side * side != n_in:
        raise InputError(f"first-layer weights have {n_in} inputs, not a square frame")
    columns = min(columns, n_units)
    rows = -(-n_units // columns)
    tile = side * scale + 2
    img = Image.new("L", (columns * tile, rows * tile), 255)
    for u in range(n_units):
        w = weights[:, u].reshape(side, side)
        w = 127.5 + 127.5 * w / max(np.abs(w).max(), 1e-12)
        unit = Image.fromarray(w.astype(np.uint8)).resize((side * scale, side * scale), Image.Resampling.NEAREST)
        img.paste(unit, ((u % columns) * tile + 1, (u // columns) * tile + 1))
    return _save_png(img, path)
