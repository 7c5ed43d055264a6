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


@pytest.mark.parametrize("colour", sorted(drawing.COLOURS))
def test_alpha_canvas(digit28, colour):
    a, b = _seeded(lambda rng: drawing.alpha_canvas(digit28, rng, colour))
    np.testing.assert_array_equal(a, b)
    assert a.ndim == 3 and a.shape[2] == 4 and a.dtype == np.uint8
    assert a.shape[0] == a.shape[1] and 140 <= a.shape[0] <= 280
    assert (a[..., :3] == drawing.COLOURS[colour]).all()
    alpha = a[..., 3]
    assert alpha[0].max() == 0 and alpha.max() > 200  # transparent border, opaque stroke


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


def test_blank_picture_rejects_unknown_kind():
    with pytest.raises(ValueError, match="kind"):
        drawing.blank_picture(np.random.default_rng(0), "scribble")
