"""Reading whole numbers (fastdigits.read and ``fastdigits read``).

Numbers are composed here from MNIST test digits (drawing.number).  Where a
string is asserted exactly, its digits are ones the model reads right one at
a time, so that what is tested is the cutting, not the network; touching
neighbours are held to a stated accuracy over a seeded set.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

import drawing
from fastdigits import load_model, read_number, read_numbers
from fastdigits.classify import NO_INK
from fastdigits.cli import app
from fastdigits.errors import InputError


@pytest.fixture(scope="module")
def model():
    return load_model()


@pytest.fixture(scope="module")
def legible(mnist, model):
    """Per digit 0-9, MNIST test digits that the model reads right alone."""
    rng = np.random.default_rng(15)
    idx = rng.choice(len(mnist.test_labels), 2000, replace=False)
    right = model.predict(mnist.test_images[idx]) == mnist.test_labels[idx]
    return {k: mnist.test_images[idx[right & (mnist.test_labels[idx] == k)]] for k in range(10)}


def _digits(legible, text: str, rng) -> list:
    return [legible[int(c)][rng.integers(len(legible[int(c)]))] for c in text]


def _strings(rng, n: int, lo: int = 2, hi: int = 8) -> list[str]:
    return ["".join(str(d) for d in rng.integers(0, 10, rng.integers(lo, hi + 1))) for _ in range(n)]


@pytest.mark.parametrize("invert", [False, True], ids=["light-on-dark", "dark-on-light"])
@pytest.mark.parametrize("gap", [8, 4, 2, 1])
def test_numbers_with_gaps_are_read_exactly(legible, model, gap, invert):
    rng = np.random.default_rng([gap, invert])
    for text in _strings(rng, 6):
        picture = drawing.number(_digits(legible, text, rng), gap, invert=invert)
        reading = read_number(picture, model)
        assert reading.text == text
        assert len(reading.digits) == len(text) and 0 < reading.confidence <= 1


def test_touching_pairs_are_mostly_read(legible, model):
    # Neighbours whose ink touches (gap 0) or overlaps by a pixel: cut where
    # both sides read best.  Measured 88 % of 200 pairs of any MNIST digits
    # (benchmarks/accuracy_numbers.py); on these legible digits, 100 pairs:
    rng = np.random.default_rng(0)
    texts = _strings(rng, 100, 2, 2)
    right = [read_number(drawing.number(_digits(legible, t, rng), int(rng.integers(-1, 1)),
                                        invert=bool(k % 2)), model).text == t for k, t in enumerate(texts)]
    assert np.mean(right) >= 0.8


def test_a_broken_five_is_one_digit(legible, model):
    rng = np.random.default_rng(5)
    digits = _digits(legible, "353", rng)
    digits[1] = drawing.broken(digits[1], (8, 11))
    assert read_number(drawing.number(digits, 6), model).text == "353"


@pytest.mark.parametrize("slant", [-30, -12, 12, 30])
def test_a_slanted_line_is_read_in_order(legible, model, slant):
    rng = np.random.default_rng(abs(slant))
    text = "40721"
    picture = drawing.number(_digits(legible, text, rng), 6, slant=slant, invert=True)
    reading = read_number(picture, model)
    assert reading.text == text
    # the boxes, turned back into the picture, hold the ink
    covered = np.zeros(picture.shape, bool)
    for left, top, right, bottom in (d.box for d in reading.digits):
        assert 0 <= left < right <= picture.shape[1] and 0 <= top < bottom <= picture.shape[0]
        covered[top:bottom, left:right] = True
    ink = picture < 128
    assert covered[ink].mean() >= 0.95


def test_two_lines_are_read_top_to_bottom(legible, model):
    rng = np.random.default_rng(2)
    reading = read_number(drawing.number(_digits(legible, "123456", rng), 6, lines=2), model)
    assert reading.text == "123\n456"
    assert [d.line for d in reading.digits] == [0, 0, 0, 1, 1, 1]


def test_boxes_are_in_the_pictures_pixels(legible, model):
    rng = np.random.default_rng(3)
    small = drawing.number(_digits(legible, "58", rng), 8)
    big = drawing.number(_digits(legible, "58", rng), 8, scale=6.0)   # read at READ_MAX_SIDE or less
    for picture in (small, big):
        reading = read_number(picture, model)
        assert reading.text == "58"
        (l0, t0, r0, b0), (l1, t1, r1, b1) = (d.box for d in reading.digits)
        assert 0 <= l0 < r0 <= l1 < r1 <= picture.shape[1] and 0 <= min(t0, t1) and max(b0, b1) <= picture.shape[0]
        # each box holds its digit's ink
        ink = picture > 128
        assert ink[t0:b0, l0:r0].sum() + ink[t1:b1, l1:r1].sum() >= 0.95 * ink.sum()


def test_a_blank_picture_reads_as_nothing(model):
    for blank in (np.full((60, 200), 255, np.uint8), np.zeros((30, 30), np.uint8)):
        reading = read_number(blank, model)
        assert reading.text == "" and reading.digits == [] and reading.confidence == 0.0
        assert reading.note == NO_INK


def test_min_confidence_marks_unsure_digits(legible, model):
    rng = np.random.default_rng(4)
    picture = drawing.number(_digits(legible, "27", rng), 8)
    sure = read_number(picture, model)
    unsure = read_number(picture, model, min_confidence=1.0)
    assert unsure.text == "??" and [d.label for d in unsure.digits] == [d.label for d in sure.digits]
    with pytest.raises(InputError, match="min_confidence"):
        read_number(picture, model, min_confidence=1.5)


def test_read_numbers_is_read_number_for_each(legible, model):
    rng = np.random.default_rng(6)
    pictures = [drawing.number(_digits(legible, t, rng), 6) for t in ("12", "345", "6789")]
    pictures.append(np.zeros((2, 2, 2)))
    readings = read_numbers(pictures, model, workers=2)
    assert [r.text for r in readings[:3]] == [read_number(p, model).text for p in pictures[:3]]
    assert readings[3].error and "shape" in readings[3].error


def test_one_picture_only():
    with pytest.raises(InputError, match="one"):
        read_number(np.zeros((3, 20, 20), np.uint8))


def test_pen_digits_without_data(model):
    # No MNIST needed: a 4 and a 7 drawn as pen strokes, side by side.
    four = drawing.polyline(drawing.FOUR, size=200, width=14)
    seven = drawing.polyline(drawing.SEVEN, size=200, width=14)
    assert read_number(np.hstack([four, seven]), model).text == "47"


def test_cli_reads_a_folder_and_reports_a_bad_file(tmp_path, legible):
    rng = np.random.default_rng(7)
    folder = tmp_path / "in"
    folder.mkdir()
    for k, text in enumerate(("31", "2024", "907")):
        Image.fromarray(drawing.number(_digits(legible, text, rng), 6, invert=True)).save(folder / f"n{k}.png")
    Image.fromarray(np.full((40, 90), 255, np.uint8)).save(folder / "n3_blank.png")
    (folder / "n4_bad.png").write_bytes(b"not a picture")
    result = CliRunner().invoke(app, ["read", str(folder)])
    assert result.exit_code == 1
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "path,text,confidence,note,error"
    rows = [line.split(",") for line in lines[1:]]
    assert [r[1] for r in rows[:4]] == ["31", "2024", "907", ""]
    assert rows[3][3] == NO_INK and rows[4][4] and "n4_bad.png" in rows[4][4]
    jsonl = CliRunner().invoke(app, ["read", str(folder / "n1.png"), "-f", "jsonl"])
    row = json.loads(jsonl.stdout)
    assert jsonl.exit_code == 0 and row["text"] == "2024" and len(row["digits"]) == 4
    assert all(len(d["box"]) == 4 for d in row["digits"])


def test_digits_with_a_faded_middle_stay_whole(legible, model):
    # Strokes are found on ink of at least STROKE_LEVEL of the peak, so a
    # band of the digits faded to a fifth breaks each digit into pieces above
    # one another; the pieces must come back together as one digit, in one
    # line (measured 0.70 of these 100 numbers; 0.10 when the pieces were
    # grouped into lines on their own, 0.65 without re-joining them).
    rng = np.random.default_rng(3)
    texts = _strings(rng, 100, 3, 3)
    right = []
    for t in texts:
        digits = [d.astype(np.float32) for d in _digits(legible, t, rng)]
        for d in digits:
            d[12:15] *= 0.2
        picture = drawing.number([d.astype(np.uint8) for d in digits], 5)
        right.append(read_number(picture, model).text == t)
    assert np.mean(right) >= 0.6


def test_letters_and_scribbles_read_unsure(legible, model):
    # The shipped model was trained on pictures of no class too (outlier
    # exposure), so a reading's confidence tells a number from what is not
    # one.  Measured medians: letters 0.63, scribbles 0.55, these numbers 0.98.
    rng = np.random.default_rng(5)
    letters = [drawing.digit(c, size=120, stroke=3) for c in "ABCDEFGHKMNPRSTUVWXYZ"]
    scribbles = [drawing.polyline(rng.uniform(0.1, 0.9, (6, 2)), size=200, width=8) for _ in range(20)]
    numbers = [drawing.number(_digits(legible, t, rng), 5) for t in _strings(rng, 20, 2, 5)]

    def median(pictures):
        return np.median([read_number(p, model).confidence for p in pictures])

    assert median(letters) < 0.75 and median(scribbles) < 0.75
    assert median(numbers) > 0.9


def _grown(ink, labels, pick):
    """The reference of grow_labels: one 8-neighbour step at a time over the
    whole picture, a reached pixel taking ``pick`` (max or min) of the
    labels next to it."""
    labels = labels.copy()
    h, w = ink.shape
    while True:
        free = (ink > 0) & (labels == 0)
        padded = np.pad(labels, 1)
        near = np.stack([padded[dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3)])
        if pick is np.minimum:
            near = np.where(near > 0, near, np.iinfo(np.int32).max).min(axis=0)
            near[near == np.iinfo(np.int32).max] = 0
        else:
            near = near.max(axis=0)
        reached = free & (near > 0)
        if not reached.any():
            return labels
        labels[reached] = near[reached]


@pytest.mark.parametrize("seed", range(6))
def test_faint_ink_joins_the_nearest_stroke(seed):
    from fastdigits import _preprocess

    rng = np.random.default_rng(seed)
    ink = np.where(rng.random((40, 50)) < 0.55, rng.uniform(0.05, 0.3, (40, 50)), 0).astype(np.float32)
    strokes = np.zeros_like(ink)
    for _ in range(4):  # a few strokes on the faint ink
        y, x = rng.integers(0, 40), rng.integers(0, 46)
        strokes[y, x:x + 4] = 1.0
    ink = np.maximum(ink, strokes)
    labels = np.empty(ink.shape, np.int32)
    _preprocess.label_components(strokes, labels)
    want_hi, want_lo = _grown(ink, labels, np.maximum), _grown(ink, labels, np.minimum)
    got = labels.copy()
    grown = _preprocess.grow_labels(ink, got)
    assert grown == np.count_nonzero(got) - np.count_nonzero(labels) > 0
    sure = want_hi == want_lo  # where no two strokes are equally near
    np.testing.assert_array_equal(got[sure], want_hi[sure])
    assert ((got == want_hi) | (got == want_lo)).all()
    assert (got[ink == 0] == 0).all()


def test_the_digits_are_prepared_with_the_models_threads(monkeypatch):
    """A Dask worker's model runs with its worker's threads: preparing the
    digits must not take every CPU of the machine beside it."""
    import fastdigits.read as read_module

    model = load_model()
    for net in model.members_:
        net.threads = 1
    seen = []
    normalize = read_module.normalize

    def spy(crops, settings=None, *, threads=None, **kw):
        seen.append(threads)
        return normalize(crops, settings, threads=threads, **kw)

    monkeypatch.setattr(read_module, "normalize", spy)
    page = np.full((40, 70), 255, np.uint8)
    page[8:32, 18:22] = 0
    page[8:32, 48:52] = 0
    assert read_module.read_number(page, model).text == "11"
    assert seen and set(seen) == {1}
