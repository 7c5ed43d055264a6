from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import drawing
from fastdigits import InputError
from fastdigits.preprocess import normalize
from fastdigits.sheet import contact_sheet


def test_contact_sheet_shows_originals_beside_frames(tmp_path):
    originals = [drawing.digit("3", size=200), drawing.digit("5", shape=(60, 30)), drawing.digit("8", size=28)]
    frames = normalize(originals)
    path = contact_sheet(originals, frames, tmp_path / "sheet.png", labels=["a", "b", "c"], columns=2, cell=40)
    with Image.open(path) as img:
        assert img.format == "PNG"
        sheet = np.asarray(img.convert("L"))
    # 2 columns x 2 rows of (original | frame) pairs with 6 px gaps and captions.
    assert sheet.shape == (6 + 2 * (40 + 14 + 6), 6 + 2 * (2 * 40 + 6 + 6))
    # The first frame, enlarged 2x without smoothing, sits right of its original.
    x0 = 6 + 40 + 6
    shown = sheet[6 : 6 + 40, x0 : x0 + 40]
    np.testing.assert_allclose(shown[::2, ::2] / 255, frames[0], atol=1 / 255 + 1e-6)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sheet.png"]


def test_contact_sheet_checks_lengths(tmp_path):
    with pytest.raises(InputError, match="2 originals but 1"):
        contact_sheet([np.zeros((5, 5))] * 2, np.zeros((1, 20, 20)), tmp_path / "x.png")
