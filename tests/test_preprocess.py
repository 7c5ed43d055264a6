from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from fastdigits import _preprocess
from fastdigits.errors import InputError
from fastdigits.preprocess import resize

import naive

SIZES = [(1, 1), (1, 7), (7, 1), (20, 20), (28, 28), (33, 17), (480, 640), (3, 500)]


@pytest.mark.parametrize("shape", SIZES)
@pytest.mark.parametrize("out", [(20, 20), (1, 1), (7, 33), (40, 56)])
@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_matches_reference(shape, out, dtype, rng):
    img = rng.integers(0, 256, size=shape).astype(dtype)
    got = resize(img, out)
    want = naive.resize_area(img, out)
    assert got.shape == out and got.dtype == np.float32
    # float32 output of a float64 computation: relative float32 rounding.
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-4)


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_batch_equals_single_images(dtype, threads, rng):
    batch = rng.integers(0, 256, size=(11, 37, 29)).astype(dtype)
    got = resize(batch, (20, 20), threads=threads)
    assert got.shape == (11, 20, 20)
    for image, row in zip(batch, got):
        np.testing.assert_array_equal(resize(image, 20), row)
    np.testing.assert_allclose(got, naive.resize_area(batch, (20, 20)), rtol=1e-6, atol=1e-4)


def test_coverage_weights_sum_to_one():
    for n_in, n_out in [(28, 20), (640, 20), (3, 20), (20, 20), (1, 9)]:
        start, count, weight = _preprocess.coverage(n_in, n_out)
        np.testing.assert_allclose(weight.sum(axis=1), 1.0, rtol=1e-12)
        assert start[0] == 0 and start[-1] + count[-1] == n_in


@pytest.mark.parametrize("factor", [2, 3, 7])
def test_equals_pillow_box_for_integer_factors(factor, rng):
    # For integer reduction factors Pillow's BOX filter samples exactly the
    # covered pixels with equal weights, so both must agree to float32 rounding.
    img = rng.random((20 * factor, 20 * factor), dtype=np.float32) * 255
    pil = np.asarray(Image.fromarray(img, mode="F").resize((20, 20), Image.Resampling.BOX))
    np.testing.assert_allclose(resize(img, 20), pil, rtol=0, atol=1e-3)


@pytest.mark.parametrize("shape", [(28, 28), (37, 23), (13, 13), (480, 640)])
@pytest.mark.parametrize("kind", ["smooth", "noise"])
def test_close_to_pillow_box_for_any_size(shape, kind, rng):
    # Pillow's BOX gives a source pixel weight 0 or 1 according to where its
    # centre falls; we weight it by the exact covered fraction.  The two
    # windows differ by less than one pixel at each end along each axis, so
    # the outputs differ by at most half the image's largest step between
    # neighbouring pixels, summed over both axes (measured: at most 0.26 of
    # that sum).  Pillow's unequal weights shift the mean of a noisy image
    # by up to ~1 % of full scale; ours keeps it exactly.
    if kind == "smooth":
        yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
        img = (127.5 + 127.5 * np.sin(xx / shape[1] * 5) * np.cos(yy / shape[0] * 4)).astype(np.float32)
    else:
        img = rng.random(shape, dtype=np.float32) * 255
    pil = np.asarray(Image.fromarray(img, mode="F").resize((20, 20), Image.Resampling.BOX))
    ours = resize(img, 20)
    step = np.abs(np.diff(img, axis=0)).max() + np.abs(np.diff(img, axis=1)).max()
    assert np.abs(ours - pil).max() <= 0.5 * step
    assert abs(ours.mean() - pil.mean()) < 0.02 * 255
    np.testing.assert_allclose(ours.mean(), img.mean(), rtol=1e-5)


def test_constant_image_stays_constant():
    for shape in [(28, 28), (5, 3), (640, 480)]:
        got = resize(np.full(shape, 173, np.uint8), (20, 20))
        np.testing.assert_allclose(got, 173, rtol=1e-6)


@pytest.mark.parametrize("shape", [(28, 28), (100, 60), (20, 20)])
def test_mean_preserved_when_sizes_divide(shape, rng):
    # The mean is exactly preserved when every output pixel covers the same
    # area, i.e. always (each covers n_in/n_out input pixels per axis).
    img = rng.integers(0, 256, shape).astype(np.uint8)
    np.testing.assert_allclose(resize(img, 20).mean(), img.mean(), rtol=1e-5)
    np.testing.assert_allclose(resize(img, (9, 31)).mean(), img.mean(), rtol=1e-5)


def test_upscaling_replicates_pixels():
    img = np.array([[0, 255], [100, 50]], dtype=np.uint8)
    got = resize(img, (4, 4))
    np.testing.assert_array_equal(got, np.kron(img, np.ones((2, 2))).astype(np.float32))
    # Non-integer upscaling blends only at the pixel boundary that it straddles.
    np.testing.assert_allclose(resize(np.array([[0, 90]], np.float32), (1, 3)), [[0, 45, 90]])


def test_bool_and_float64_and_views(rng):
    img = rng.random((30, 40))
    np.testing.assert_allclose(resize(img[::2, ::-1], 5), naive.resize_area(img[::2, ::-1], (5, 5)), rtol=1e-5)
    assert resize(np.ones((4, 4), bool), 2).tolist() == [[1, 1], [1, 1]]
    assert resize(np.zeros((0, 9, 9), np.uint8), 20).shape == (0, 20, 20)


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.zeros(5), r"shape \(5,\)"),
        (np.zeros((2, 2, 2, 2)), r"shape \(2, 2, 2, 2\)"),
        (np.zeros((3, 0)), "empty image side"),
        (np.array([["a"]]), "dtype <U1"),
        (np.array([[np.nan, 1.0]]), "NaN"),
    ],
)
def test_bad_input_is_named(bad, match):
    with pytest.raises(InputError, match=match):
        resize(bad)


@pytest.mark.parametrize("size", [0, (3, -1), "big", (1, 2, 3)])
def test_bad_size(size):
    with pytest.raises(InputError, match="size"):
        resize(np.zeros((4, 4)), size)
