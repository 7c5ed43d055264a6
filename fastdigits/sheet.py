"""Pictures of what the network sees: contact sheets (Pillow)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .errors import InputError

__all__ = ["contact_sheet"]


def _to_pil(image: np.ndarray):
    from PIL import Image

    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        top = float(arr.max()) if arr.size else 1.0
        arr = np.clip(arr * (255.0 if top <= 1 else 255.0 / top), 0, 255).astype(np.uint8)
    return Image.fromarray(arr, mode="L")


def contact_sheet(
    originals: Sequence[np.ndarray],
    normalized: np.ndarray,
    path: str | os.PathLike,
    *,
    labels: Sequence[str] | None = None,
    columns: int = 6,
    cell: int = 80,
) -> Path:
    """Write a PNG showing each original image beside its normalised frame.

    Parameters
    ----------
    originals : sequence of (H, W) arrays
        Grey images as given (any sizes); shown fitted into ``cell`` pixels.
    normalized : (N, S, S) array
        What the network sees, in [0, 1]; shown enlarged without smoothing,
        white ink on black as the network sees it.
    labels : sequence of str, optional
        A caption under each pair (e.g. "7 -> 7 (0.99)").
    """
    from PIL import Image, ImageDraw, ImageFont

    normalized = np.asarray(normalized)
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
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as fh:
            sheet.save(fh, format="PNG")
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path
