from __future__ import annotations

import numpy as np
import pytest

import drawing
from fastdigits import InputError, MLPClassifier
from fastdigits.augment import Augmentation, augment
from fastdigits.preprocess import normalize

FRAMES = normalize([drawing.digit(c, size=60, stroke=1) for c in "0123456789"])
NONE = Augmentation(rotation=0, scale=0, shear=0, shift=0, elastic=0)


def test_identity_parameters_give_the_frames_back():
    np.testing.assert_allclose(augment(FRAMES, NONE, seed=1), FRAMES, atol=1e-6)


def test_pure_shift_moves_ink_by_whole_pixels():
    # With every range zero but a shift, the kernel samples at p + t: check
    # one known shift through the parameter generator's contract instead of
    # guessing its draw: the centre of mass moves by at most `shift` pixels.
    moved = augment(FRAMES, Augmentation(rotation=0, scale=0, shear=0, shift=1.0, elastic=0), seed=3)
    yy, xx = np.mgrid[0:20, 0:20]
    for a, b in zip(FRAMES, moved):
        ca = np.array([(a * yy).sum(), (a * xx).sum()]) / a.sum()
        cb = np.array([(b * yy).sum(), (b * xx).sum()]) / b.sum()
        assert np.abs(ca - cb).max() <= 1.0 + 0.25  # ink clipped at the frame edge shifts it a little


def test_reproducible_and_varied():
    a, b, c = augment(FRAMES, seed=7), augment(FRAMES, seed=7), augment(FRAMES, seed=8)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.shape == FRAMES.shape and a.dtype == FRAMES.dtype


def test_identity_like_parameters_stay_close():
    slight = Augmentation(rotation=2, scale=0.02, shear=0.02, shift=0.2, elastic=0.1)
    out = augment(FRAMES, slight, seed=11)
    assert 0.0 < np.abs(out - FRAMES).mean() < 0.05


@pytest.mark.parametrize("seed", range(3))
def test_default_distortions_keep_the_digit(seed):
    # Each distorted digit stays correlated with its original (measured at
    # least 0.61 over these seeds), more than with the other digits on
    # average.  (Nearest-digit would test the font: its 3, 5, 6, 8 and 9
    # correlate up to 0.88 with each other undistorted.)
    out = augment(FRAMES, seed=seed).reshape(10, -1)
    corr = np.corrcoef(out, FRAMES.reshape(10, -1))[:10, 10:]
    own = np.diag(corr)
    others = (corr.sum(axis=1) - own) / 9
    assert own.min() > 0.5
    assert (own > others + 0.1).all()


def test_rows_in_rows_out_and_bad_shapes():
    rows = FRAMES.reshape(10, 400)
    assert augment(rows, seed=1).shape == (10, 400)
    with pytest.raises(InputError, match="square frames"):
        augment(np.zeros((3, 20, 21)))
    with pytest.raises(InputError, match="square frames"):
        augment(np.zeros((3, 401)))
    with pytest.raises(InputError, match="rotation"):
        Augmentation(rotation=-1)


def test_training_with_augmentation_is_deterministic_and_recorded(tmp_path):
    X = np.repeat(FRAMES.reshape(10, 400), 8, axis=0)
    y = np.repeat(np.arange(10), 8)
    fit = lambda: MLPClassifier((16,), max_iter=3, augment=True, batch_size=16).fit(X, y)  # noqa: E731
    a, b = fit(), fit()
    np.testing.assert_array_equal(a.params_, b.params_)
    plain = MLPClassifier((16,), max_iter=3, batch_size=16).fit(X, y)
    assert not np.array_equal(a.params_, plain.params_)
    from fastdigits import load_model

    back = load_model(a.save(tmp_path / "aug"))
    assert back._augmentation() == Augmentation()
    with pytest.raises(InputError, match="minibatch"):
        MLPClassifier(solver="lbfgs", augment=True).fit(X, y)


def test_out_buffer_is_filled_and_checked():
    buf = np.empty_like(FRAMES)
    got = augment(FRAMES, seed=5, out=buf)
    assert got is buf
    np.testing.assert_array_equal(buf, augment(FRAMES, seed=5))
    with pytest.raises(InputError, match="out must be"):
        augment(FRAMES, out=np.empty((10, 400), np.float32))
