"""The kinds of pictures in tests/drawing.py: shapes, dtypes, value ranges
and determinism for a seed (no model needed)."""

from __future__ import annotations

import numpy as np
import pytest

import drawing


@pytest.fixture(scope="module")
def digit28() -> np.ndarray:
    """A 28x28 "7", white ink on black, the way MNIST stores digits."""
    return 255 - drawing.digit("7", size=28, height=0.7, stroke=1)


def _seeded(make, seed=7):
    return make(np.random.default_rng(seed)), make(np.random.default_rng(seed))


def test_digit_fixture_is_mnist_like(digit28):
    assert digit28.shape == (28, 28) and digit28.dtype == np.uint8
    assert digit28[0].max() == 0 and digit28.max() > 200


@pytest.mark.parametrize("quality", [90, 75, 50])
def test_jpeg_copy(digit28, quality):
    out = drawing.jpeg_copy(digit28, quality)
    assert out.shape == (28, 28) and out.dtype == np.uint8
    assert not np.array_equal(out, digit28)  # the codec changed something
    assert np.abs(out.astype(int) - digit28).mean() < 10
    np.testing.assert_array_equal(out, drawing.jpeg_copy(digit28, quality))


def test_jpeg_copy_of_any_grey_picture():
    page = drawing.digit("3", shape=(40, 70), stroke=2)
    out = drawing.jpeg_copy(page, 60)
    assert out.shape == (40, 70) and out.dtype == np.uint8 and not np.array_equal(out, page)
    assert np.abs(out.astype(int) - page).mean() < 10


@pytest.mark.parametrize("colour", sorted(drawing.COLOURS))
def test_alpha_canvas(digit28, colour):
    a, b = _seeded(lambda rng: drawing.alpha_canvas(digit28, rng, colour))
    np.testing.assert_array_equal(a, b)
    assert a.ndim == 3 and a.shape[2] == 4 and a.dtype == np.uint8
    assert a.shape[0] == a.shape[1] and 140 <= a.shape[0] <= 280
    assert (a[..., :3] == drawing.COLOURS[colour]).all()
    alpha = a[..., 3]
    assert alpha[0].max() == 0 and alpha.max() > 200  # transparent border, opaque stroke


@pytest.mark.parametrize("colour", ["white", "grey"])
def test_alpha_canvas_of_pen_strokes_at_their_own_size_keeps_hard_edges(colour):
    pen = drawing.polyline(drawing.SEVEN, size=120, width=8, paper=0, ink=255)
    a = drawing.alpha_canvas(pen, colour=colour, side=120)  # no rng needed
    assert a.shape == (120, 120, 4) and (a[..., :3] == drawing.COLOURS[colour]).all()
    np.testing.assert_array_equal(a[..., 3], pen)  # alpha 0 or 255 only: the pen's own pixels


def test_rotated_photo(digit28):
    a, b = _seeded(lambda rng: drawing.rotated_photo(digit28, rng))
    np.testing.assert_array_equal(a, b)
    assert a.ndim == 3 and a.shape[2] == 4 and a.dtype == np.uint8 and a.shape[0] == a.shape[1] >= 240
    alpha = a[..., 3]
    assert alpha[0, 0] == alpha[-1, -1] == 0 and (alpha == 255).mean() > 0.6  # transparent corners
    grey = a[..., 0][alpha == 255]
    assert (a[..., 1][alpha == 255] == grey).all() and grey.std() > 4  # a grey photo with content


def test_digits_8x8(digit28):
    out = drawing.digits_8x8(digit28)
    assert out.shape == (8, 8) and out.dtype == np.float64
    assert out.min() == 0 and 8 < out.max() <= 16
    np.testing.assert_array_equal(out, np.round(out))
    np.testing.assert_array_equal(drawing.digits_8x8(np.zeros((28, 28), np.uint8)), np.zeros((8, 8)))


def test_underexposed(digit28):
    a, b = _seeded(lambda rng: drawing.underexposed(digit28, rng))
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.uint8 and a.shape[0] == a.shape[1] and 60 <= a.shape[0] <= 200
    assert a.max() <= 45 and a.max() - a.min() >= 8


def test_dark_surround(digit28):
    for seed in range(5):
        a, b = _seeded(lambda rng: drawing.dark_surround(digit28, rng), seed)
        np.testing.assert_array_equal(a, b)
        assert a.ndim == 2 and a.dtype == np.uint8
        border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
        assert border.max() <= 90  # dark surround all round
        assert np.percentile(a, 80) >= 150  # the page is light and large


def test_ruled_paper(digit28):
    a, b = _seeded(lambda rng: drawing.ruled_paper(digit28, rng))
    np.testing.assert_array_equal(a, b)
    assert a.ndim == 2 and a.shape[0] == a.shape[1] and 120 <= a.shape[0] <= 260 and a.dtype == np.uint8
    rows = a.mean(axis=1)
    assert rows.min() < np.median(rows) - 20  # rules run across the whole picture
    assert a.min() < 90 and np.median(a) > 180  # dark ink on light paper


@pytest.mark.parametrize("kind", drawing.BLANK_KINDS)
def test_blank_picture(kind):
    a, b = _seeded(lambda rng: drawing.blank_picture(rng, kind))
    np.testing.assert_array_equal(a, b)
    assert a.ndim == 2 and a.dtype == np.uint8
    if kind in ("1x1", "3x3"):
        assert a.shape == {"1x1": (1, 1), "3x3": (3, 3)}[kind]
    else:
        assert min(a.shape) >= 28
    assert int(a.max()) - int(a.min()) <= 60  # nothing drawn: no strong edge


@pytest.mark.parametrize("kind", drawing.BLANK_KINDS)
def test_blank_picture_of_a_given_shape_and_the_fixed_blank_page(kind):
    a = drawing.blank_picture(np.random.default_rng(3), kind, shape=(50, 70))
    tiny = {"1x1": (1, 1), "3x3": (3, 3)}
    assert a.shape == tiny.get(kind, (50, 70)) and a.dtype == np.uint8
    page = drawing.blank_page(kind)
    assert page.shape == tiny.get(kind, (280, 280))
    np.testing.assert_array_equal(page, drawing.blank_page(kind))
    assert set(drawing.SURE_BLANK_KINDS) == set(drawing.BLANK_KINDS) - set(drawing.NOISY_BLANK_KINDS)


def test_ruled():
    page = np.full((60, 40), 230, np.uint8)
    out = drawing.ruled(page, spacing=20, level=100, width=2, margin=150)
    assert (out[10:12] == 100).all() and (out[30:32] == 100).all() and (out[50:52] == 100).all()
    assert (out[:, 12:14][out[:, 12:14] != 100] == 150).all() and out[0, 0] == 230
    assert (page == 230).all()  # a copy
    rows = np.isin(np.arange(60), [10, 11, 30, 31, 50, 51])
    np.testing.assert_array_equal(drawing.ruled(page, spacing=20, level=100), np.where(rows[:, None], 100, page))


def test_page_in_frame():
    page = np.full((30, 20), 220, np.uint8)
    out = drawing.page_in_frame(page, surround=10, margins=(2, 3, 4, 5))
    assert out.shape == (35, 29) and out.dtype == np.uint8
    assert (out[2:32, 4:24] == 220).all() and out[0, 0] == out[-1, -1] == 10
    tilted = drawing.page_in_frame(page, surround=10, tilt=5, noise=2)
    assert tilted.shape[0] > 30 + 30 and tilted[0, 0] < 20
    np.testing.assert_array_equal(tilted, drawing.page_in_frame(page, surround=10, tilt=5, noise=2))


def test_blank_picture_rejects_unknown_kind():
    with pytest.raises(ValueError, match="kind"):
        drawing.blank_picture(np.random.default_rng(0), "scribble")
