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


# ------------------------------------------------- MNIST-style normalisation

import drawing  # noqa: E402

from fastdigits.preprocess import Normalization, normalize, prepare  # noqa: E402

TWIN_TOL = 1e-6  # float64 in both, float32 output: they agree to rounding (measured 3e-8)


def _twin(image, settings=Normalization()):
    """naive.normalize of ``image`` read as normalize reads it: (frame, ink)."""
    s = settings
    image = np.asarray(image)
    if image.dtype != np.uint8:
        image = image.astype(np.float32)  # as normalize converts it
    assert max(image.shape) <= s.max_side  # else normalize reduces it first
    return naive.normalize(image, box=s.box, clean_level=s.clean_level,
                           bg_percentile=s.background_percentile, threshold=s.threshold, gain=s.gain,
                           keep_ratio=s.keep_ratio, stroke=s.stroke, ink_level=s.ink_level, deskew=s.deskew,
                           clean_threshold=s.clean_threshold, min_contrast=s.min_contrast, min_snr=s.min_snr,
                           page_fill=s.page_fill, line_length=s.line_length, line_width=s.line_width,
                           frame=s.size, return_ink=True)


def _assert_matches_twin(image, settings=Normalization()):
    """The kernel's frame and ink flag equal the twin's; returns them."""
    frame, ink = normalize(image, settings, return_ink=True)
    want, want_ink = _twin(image, settings)
    assert ink == want_ink
    np.testing.assert_allclose(frame, want, atol=TWIN_TOL)
    return frame, ink


def _inky_picture(seed):
    """1-3 thick random-walk strokes or blobs on a black, white or any-grey
    background, either polarity, with mild noise (none for seed % 4 == 3),
    3..60 px a side (32..60 for seed % 4 < 2, so that lines are looked for)
    and, for odd seeds, a long thin straight line right across."""
    rng = np.random.default_rng(seed)
    h, w = (int(s) for s in rng.integers(32 if seed % 4 < 2 else 3, 61, 2))
    paper = (rng.uniform(0, 20), rng.uniform(235, 255), rng.uniform(0, 255))[seed % 3]
    ink = paper + rng.choice([-1, 1]) * rng.uniform(60, 200)
    ink = float(np.clip(ink if 0 <= ink <= 255 else 2 * paper - ink, 0, 255))
    yy, xx = np.mgrid[0:h, 0:w]
    mask = np.zeros((h, w), bool)
    for _ in range(rng.integers(1, 4)):
        y, x = rng.uniform(0, h), rng.uniform(0, w)
        if rng.integers(3):  # a stroke: a disk on a random walk
            r = rng.uniform(0.6, max(1.0, min(h, w) / 8))
            for _ in range(rng.integers(3, 3 * max(h, w))):
                y, x = y + rng.normal(0, 1), x + rng.normal(0, 1)
                mask |= (yy - y) ** 2 + (xx - x) ** 2 <= r * r
        else:  # a blob
            mask |= ((yy - y) / rng.uniform(1, h / 3 + 1)) ** 2 + ((xx - x) / rng.uniform(1, w / 3 + 1)) ** 2 <= 1
    if seed % 2 and min(h, w) >= 10:  # a thin, slightly tilted line across
        along, across = (xx, yy) if rng.integers(2) else (yy, xx)
        start, slope = rng.uniform(0, across.max()), rng.uniform(-0.02, 0.02)
        mask |= np.abs(across - start - slope * along) < rng.uniform(0.5, 1.2)
    noise = rng.normal(0, rng.uniform(0, 6) if seed % 4 != 3 else 0.0, (h, w))
    return np.clip(np.round(paper + (ink - paper) * mask + noise), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("deskew", [False, True])
@pytest.mark.parametrize("seed", range(12))
def test_normalize_matches_numpy_twin_random(seed, deskew):
    img = _inky_picture(seed)
    _, ink = _assert_matches_twin(img, Normalization(deskew=deskew))
    assert ink  # a picture without ink would compare two blank frames


def _ruled(*, paper, rule, margin, gradient=0.0):
    """A digit on ruled paper, 100 px: 1 px rules every 15 px, a margin line."""
    page = drawing.digit("5", size=100, stroke=1, paper=paper, ink=30, gradient=gradient)
    return drawing.ruled(page, spacing=15, level=rule, width=1, margin=margin)


def _framed(char, *, surround, tilt=0.0, blank=False):
    """A digit (or nothing) on a light 56 px page, tilted by ``tilt``
    degrees, in a dark surround 10-14 px wide, with mild noise."""
    page = drawing.digit(char, size=56, stroke=1, paper=225, ink=40)
    page = np.full_like(page, 225) if blank else page
    return drawing.page_in_frame(page, surround=surround, tilt=tilt, margins=(14, 12, 10, 12), noise=2)


def _noisy(image, sd, seed=3):
    return image + np.random.default_rng(seed).normal(0, sd, image.shape)


_MNIST_LIKE = drawing.digit("7", size=28, stroke=0, paper=0, ink=255)
_GRADIENT = np.linspace(0, 1, 70)[None, :]


@pytest.mark.parametrize(
    "image, has_ink, path_off",
    [
        pytest.param(drawing.digit("4", size=60, stroke=1), True, None, id="white-paper"),
        pytest.param(drawing.digit("7", size=80, stroke=0, paper=200, ink=40, grid=9, gradient=0.4), True, None,
                     id="squared-uneven"),
        pytest.param(drawing.digit("2", shape=(40, 90), paper=0, ink=220), True, None, id="light-on-dark"),
        pytest.param(drawing.digit("0", size=120, stroke=0, height=0.9), True, None, id="bold"),
        # ruled lines erased from a clean border (white paper) and on paper (grey, uneven)
        pytest.param(_ruled(paper=235, rule=150, margin=170), True, Normalization(line_length=0), id="ruled-white"),
        pytest.param(_ruled(paper=220, rule=90, margin=110, gradient=0.3), True, Normalization(line_length=0),
                     id="ruled-grey"),
        # a page in a dark surround: on paper, and tilted in a black one (clean border)
        pytest.param(_framed("8", surround=25), True, Normalization(page_fill=1.01), id="page-in-frame"),
        pytest.param(_framed("3", surround=6, tilt=-3), True, Normalization(page_fill=1.01), id="tilted-page"),
        pytest.param(_framed("8", surround=6, blank=True), False, Normalization(page_fill=1.01), id="empty-page"),
        # JPEG ringing around a light-on-dark digit: the border is not flat
        pytest.param(drawing.jpeg_copy(drawing.digit("6", size=40, stroke=0, paper=0, ink=255), 50), True,
                     Normalization(clean_threshold=0), id="jpeg"),
        # dim pictures: floats 0..16 read from their own range, and uint8 in 12..30
        pytest.param(np.clip(_noisy(drawing.digit("2", size=40, paper=0, ink=16).astype(np.float32), 0.3), 0, 16)
                     .astype(np.float32), True, None, id="float-0-16"),
        pytest.param(drawing.digits_8x8(_MNIST_LIKE), True, None, id="sklearn-8x8"),
        pytest.param(np.clip(_noisy(drawing.digit("9", size=50, paper=30, ink=12), 1), 0, 255).round()
                     .astype(np.uint8), True, None, id="dim-uint8"),
        # nothing to read: a noisy page in uneven light, a blank JPEG canvas
        pytest.param(np.clip(_noisy(235 - 20 * _GRADIENT + np.zeros((60, 1)), 3), 0, 255).round().astype(np.uint8),
                     False, None, id="blank-page"),
        pytest.param(drawing.jpeg_copy((245 - 10 * _GRADIENT[:, :64] + np.zeros((48, 1))).round().astype(np.uint8),
                                       60), False, None, id="blank-jpeg"),
    ],
)
def test_normalize_matches_numpy_twin_drawn(image, has_ink, path_off):
    settings = [Normalization(), Normalization(deskew=True), Normalization(stroke=0.2)]
    frame, ink = _assert_matches_twin(image, settings[0])
    assert ink == has_ink
    for s in settings[1:] + ([path_off] if path_off else []):
        _assert_matches_twin(image, s)
    if path_off:  # the picture is there for this path: without it the frame changes
        assert np.abs(normalize(image, path_off) - frame).max() > 0.1


def test_normalize_float_input_matches_twin(rng):
    # Floats in [0, 1] are read as they are; other floats (standardised,
    # 12-bit) from their own minimum to their own maximum.
    unit = drawing.digit("3", shape=(33, 41), stroke=1).astype(np.float32) / 255
    unit = np.clip(unit + rng.normal(0, 0.02, unit.shape), 0, 1).astype(np.float32)
    for image in (unit, (unit - unit.mean()) / unit.std(), unit * 4095):
        _, ink = _assert_matches_twin(image)
        assert ink


def test_normalize_batch_list_and_threads_agree(rng):
    images = [drawing.digit(c, size=50) for c in "0123456789"]
    batch = normalize(np.stack(images), threads=2)
    assert batch.shape == (10, 20, 20) and batch.dtype == np.float32
    for image, frame in zip(images, batch):
        np.testing.assert_array_equal(normalize(image, threads=1), frame)
    mixed = [drawing.digit("3", size=40), drawing.digit("3", shape=(70, 50)), drawing.digit("8", size=40)]
    got = normalize(mixed)
    for image, frame in zip(mixed, got):
        np.testing.assert_array_equal(normalize(image), frame)


# Invariance: the same digit prepared in different ways gives (nearly) the
# same frame.  Mean absolute difference per pixel, frames in [0, 1]:
# measured at most 0.006 across paper, polarity and lighting, 0.0 for
# position and aspect of the canvas.
SAME = 0.02


@pytest.mark.parametrize("char", "0123456789")
def test_invariant_to_polarity_paper_lighting_and_position(char):
    ref = normalize(drawing.digit(char, size=200, stroke=2))
    variants = {
        "light on dark": drawing.digit(char, size=200, stroke=2, paper=0, ink=255),
        "grey paper": drawing.digit(char, size=200, stroke=2, paper=160, ink=30),
        "squared paper": drawing.digit(char, size=200, stroke=2, paper=235, ink=20, grid=12),
        "uneven light": drawing.digit(char, size=200, stroke=2, paper=240, ink=40, gradient=0.5),
    }
    for name, image in variants.items():
        assert np.abs(normalize(image) - ref).mean() < SAME, name
    # Position and canvas shape, at one resolution (the working size caps
    # the long side at 256 px, so bigger canvases would also change detail).
    ref = normalize(drawing.digit(char, size=256, stroke=2, height=0.4))
    for at in [(0.25, 0.7), (0.7, 0.3), (0.3, 0.25)]:
        image = drawing.digit(char, size=256, stroke=2, height=0.4, at=at)
        assert np.abs(normalize(image) - ref).mean() < SAME, at
    wide = drawing.digit(char, shape=(256, 160), stroke=2, height=0.4)
    assert np.abs(normalize(wide) - ref).mean() < SAME


@pytest.mark.parametrize("char", "0123456789")
def test_invariant_to_resolution(char):
    # One drawing, area-scaled to each resolution as a scanner or camera
    # would.  Shape, size and place agree; a digit only 17 px tall in a
    # 28 x 28 picture comes out blurrier (measured: mean difference at most
    # 0.18, correlation at least 0.77; from 56 px up at most 0.075).
    high = drawing.digit(char, size=1000, stroke=10)
    ref = normalize(high)
    for size in (56, 200, 500):
        frame = normalize(resize(high, size).round().astype(np.uint8))
        assert np.abs(frame - ref).mean() < 0.1, size
    frame = normalize(resize(high, 28).round().astype(np.uint8))
    assert np.abs(frame - ref).mean() < 0.22
    assert np.corrcoef(frame.ravel(), ref.ravel())[0, 1] > 0.7


def _centre_of_mass(frame):
    yy, xx = np.mgrid[0 : frame.shape[0], 0 : frame.shape[1]] + 0.5
    return (frame * yy).sum() / frame.sum(), (frame * xx).sum() / frame.sum()


def test_centre_of_mass_lands_at_frame_centre():
    disk = np.zeros((90, 90), np.uint8)
    yy, xx = np.mgrid[0:90, 0:90]
    disk[(yy - 30) ** 2 + (xx - 55) ** 2 < 15**2] = 255
    np.testing.assert_allclose(_centre_of_mass(normalize(disk)), (10, 10), atol=0.05)
    # A digit's box fills the frame along its long side; across, the mass is centred.
    frame = normalize(drawing.digit("7", size=300, at=(0.3, 0.3)))
    assert abs(_centre_of_mass(frame)[1] - 10) < 0.05
    assert frame[0].max() > 0 and frame[-1].max() > 0  # the long side spans the frame


def test_long_side_fits_the_box_keeping_aspect():
    bar = np.zeros((100, 100), np.uint8)
    bar[10:90, 45:55] = 255  # 80 x 10 bar: 20 x 2.5 in the frame
    frame = normalize(bar, Normalization(stroke=0))
    rows, cols = np.nonzero(frame.sum(axis=1))[0], np.nonzero(frame.sum(axis=0))[0]
    assert len(rows) == 20
    assert frame.sum() == pytest.approx(20 * 2.5, rel=1e-5)
    assert 3 <= len(cols) <= 4


def test_empty_and_degenerate_images():
    for empty in (np.zeros((30, 30), np.uint8), np.full((30, 30), 255, np.uint8), np.full((1, 1), 7, np.uint8)):
        frame = normalize(empty)
        assert frame.shape == (20, 20) and not frame.any()
    dot = np.zeros((50, 50), np.uint8)
    dot[20, 30] = 255
    frame = normalize(dot)
    np.testing.assert_allclose(_centre_of_mass(frame), (10, 10), atol=1e-6)
    for shape in [(1, 500), (500, 1), (3, 400)]:
        line = np.zeros(shape, np.uint8)
        line[...] = 255
        line[0, 0] = 0
        frame = normalize(255 - line if shape[0] > 1 else line)
        assert frame.max() > 0 and np.isfinite(frame).all()


def test_thin_line_extreme_aspect():
    line = np.full((1, 500), 255, np.float32)
    line[0, :50] = 0
    frame = normalize(line / 255)
    assert frame.shape == (20, 20) and 0 < frame.sum() and frame.max() <= 1


def test_specks_are_dropped():
    clean = drawing.digit("5", size=200, stroke=2)
    specked = clean.copy()
    for y, x in [(10, 10), (190, 20), (15, 180), (185, 185)]:
        specked[y : y + 2, x : x + 2] = 0
    np.testing.assert_allclose(normalize(specked), normalize(clean), atol=1e-6)


def test_thin_strokes_are_thickened_never_thinned():
    thin = drawing.polyline(drawing.FOUR, size=800, width=3)  # a pen line, 0.004 of its size
    bold = drawing.digit("4", size=200, stroke=6)
    off = Normalization(stroke=0)
    assert normalize(thin).sum() > 1.3 * normalize(thin, off).sum()
    np.testing.assert_array_equal(normalize(bold), normalize(bold, off))


def test_deskew_straightens_a_slanted_bar():
    bar = np.zeros((120, 120), np.uint8)
    for y in range(10, 110):
        x = int(30 + 0.5 * (y - 10))  # leaning 0.5 px per row
        bar[y, x : x + 8] = 255
    def skew(frame):
        cy, cx = _centre_of_mass(frame)
        yy, xx = np.mgrid[0:20, 0:20] + 0.5
        return (frame * (yy - cy) * (xx - cx)).sum() / (frame * (yy - cy) ** 2).sum()
    assert abs(skew(normalize(bar))) > 0.2
    assert abs(skew(normalize(bar, Normalization(deskew=True)))) < 0.03


def test_large_images_are_reduced_first():
    big = drawing.digit("6", size=3000, stroke=30)
    np.testing.assert_allclose(normalize(big), normalize(drawing.digit("6", size=1000, stroke=10)), atol=0.15)


def test_prepare_scale_is_plain_resize(rng):
    img = rng.integers(0, 256, (2, 28, 28), dtype=np.uint8)
    np.testing.assert_allclose(prepare(img, "scale"), resize(img, 20) / 255, rtol=1e-6)
    with pytest.raises(InputError, match="preprocessing must be one of"):
        prepare(img, "sharpen")


@pytest.mark.parametrize("method", ["normalize", "scale"])
def test_ink_is_reported_for_each_picture(method):
    blanks = [drawing.blank_page(kind) for kind in ("white", "black", "grey", "1x1")]
    four = drawing.polyline(drawing.FOUR, size=280, width=12)
    frames, ink = prepare([*blanks, four], method, return_ink=True)  # mixed sizes
    assert ink.dtype == bool and ink.tolist() == [False] * 4 + [True]
    np.testing.assert_array_equal(frames, prepare([*blanks, four], method))
    batch_frames, batch_ink = prepare(np.stack([blanks[0], four]), method, return_ink=True)
    assert batch_ink.tolist() == [False, True]
    one_frames, one_ink = prepare(four, method, return_ink=True)
    assert one_frames.shape == (1, 20, 20) and one_ink.tolist() == [True]
    empty_frames, empty_ink = prepare(np.zeros((0, 5, 5), np.uint8), method, return_ink=True)
    assert empty_frames.shape == (0, 20, 20) and empty_ink.shape == (0,)


def test_normalize_reports_ink_as_a_bool_for_one_picture():
    frame, ink = normalize(drawing.blank_page("white"), return_ink=True)
    assert ink is False and not frame.any()
    frame, ink = normalize(drawing.polyline(drawing.FOUR, size=280, width=12), return_ink=True)
    assert ink is True and frame.any()
    frames, ink = normalize(np.stack([drawing.blank_page("grey"), drawing.blank_page("black")]), return_ink=True)
    assert ink.tolist() == [False, False] and frames.shape == (2, 20, 20)


@pytest.mark.parametrize("bad", [dict(box=0), dict(box=25), dict(threshold=1.0), dict(stroke=-0.1), dict(max_side=5)])
def test_normalization_settings_validated(bad):
    with pytest.raises(InputError, match=next(iter(bad))):
        Normalization(**bad)


@pytest.mark.parametrize("method", ["normalize", "scale"])
def test_an_image_frame_does_not_depend_on_its_batch(method):
    # A float image in [0, 1] and the same picture in 0..255 give one frame,
    # alone or side by side in a batch.
    unit = drawing.digit("2", size=60).astype(np.float32) / 255
    alone = prepare(unit, method)
    together = prepare(np.stack([unit, unit * 255]), method)
    np.testing.assert_allclose(together[0], alone[0], atol=1e-6)
    np.testing.assert_allclose(together[1], alone[0], atol=1e-5)
