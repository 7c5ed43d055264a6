"""Outlier exposure: rows of no class trained towards "unsure"."""

from __future__ import annotations

import numpy as np
import pytest

import drawing
from fastdigits import InputError, MLPClassifier
from fastdigits.outliers import KINDS, _pair, _piece, make_outliers
from fastdigits.preprocess import Normalization


def _blobs(rng, n, centres):
    y = rng.integers(0, len(centres), n)
    X = np.clip(centres[y] + 0.1 * rng.standard_normal((n, centres.shape[1])), 0, 1).astype(np.float32)
    return X, y


@pytest.fixture(scope="module")
def frames():
    """Prepared frames of drawn digits (20x20 rows)."""
    pictures = [drawing.digit(c, size=60, stroke=3) for c in "0123456789" * 3]
    return MLPClassifier().prepare(pictures)


def test_outliers_are_frames_of_the_asked_number(frames):
    rows = make_outliers(frames, 50, seed=3)
    assert rows.shape == (50, 400) and rows.dtype == np.float32
    assert 0 <= rows.min() and rows.max() <= 1 and (rows.max(axis=1) > 0.5).all()  # ink in every frame
    np.testing.assert_array_equal(rows, make_outliers(frames, 50, seed=3))
    assert not np.array_equal(rows, make_outliers(frames, 50, seed=4))
    assert make_outliers(frames.reshape(-1, 20, 20), 7, seed=0).shape == (7, 400)
    assert make_outliers(frames, 0).shape == (0, 400)
    assert make_outliers(frames, 9, settings=Normalization(size=28)).shape == (9, 784)
    assert sum(KINDS.values()) == pytest.approx(1.0)


def test_a_pair_is_two_frames_side_by_side_and_a_piece_is_part_of_one(frames):
    a, b = frames[1].reshape(20, 20), frames[8].reshape(20, 20)
    wa, wb = (a > 0).any(axis=0).sum(), (b > 0).any(axis=0).sum()
    for gap in (-3, 0, 2):
        pair = _pair(a, b, gap)
        assert pair.shape == (20, wa + wb + gap)
        assert pair.max() == max(a.max(), b.max()) and pair.sum() >= max(a.sum(), b.sum())
    left, right = _piece(b, 0.5, True), _piece(b, 0.5, False)
    assert left.shape[1] + right.shape[1] == wb and left.shape[1] == round(0.5 * wb)


@pytest.mark.parametrize("bad, n", [(np.zeros((3, 399)), 5), (np.zeros(400), 5), (np.zeros((3, 400)), -1)])
def test_bad_frames_or_counts_are_refused(bad, n):
    with pytest.raises(InputError, match="square frames|at least 0"):
        make_outliers(bad, n)


@pytest.mark.parametrize("output", ["softmax", "sigmoid"])
def test_a_network_exposed_to_outliers_is_unsure_of_them(output):
    rng = np.random.default_rng(7)
    centres = np.zeros((3, 30), np.float32)
    for k in range(3):  # each class: ink in its own third of the inputs
        centres[k, 10 * k:10 * k + 10] = 1
    X, y = _blobs(rng, 600, centres)
    # outliers: ink in two thirds at once, or none of them strongly
    def others(n):
        two = rng.permutation(np.repeat([[1, 1, 0], [0, 1, 1], [1, 0, 1]], n // 3, axis=0))
        return np.clip(np.repeat(two, 10, axis=1) + 0.1 * rng.standard_normal((len(two), 30)), 0, 1).astype(np.float32)

    recipe = dict(hidden_layer_sizes=(16,), output=output, max_iter=30, batch_size=32, learning_rate_init=0.1, random_state=1)
    plain = MLPClassifier(**recipe).fit(X, y)
    exposed = MLPClassifier(**recipe).fit(X, y, outliers=others(300))
    X_test, y_test = _blobs(rng, 300, centres)
    unseen = others(300)
    assert exposed.score(X_test, y_test) >= 0.98 and plain.score(X_test, y_test) >= 0.98
    # one-vs-all sigmoids learn "every output off"; predict_proba's rows sum
    # to one, so their outputs are looked at before that
    surest = (lambda m: m.predict_proba(unseen).max(axis=1)) if output == "softmax" else \
        (lambda m: m._proba(unseen).max(axis=1))
    assert np.median(surest(exposed)) < 0.6
    assert np.median(surest(plain)) > 0.8
    # train accuracy is over the labelled rows only
    assert exposed.history_[-1]["train_accuracy"] >= 0.98


def test_outliers_must_be_rows_like_X():
    rng = np.random.default_rng(0)
    X = rng.random((20, 30)).astype(np.float32)
    with pytest.raises(InputError, match="outliers has 31 features, but MLPClassifier is expecting 30 features"):
        MLPClassifier((4,), max_iter=1).fit(X, np.arange(20) % 2, outliers=rng.random((5, 31)).astype(np.float32))


def test_a_scalar_is_refused_too():
    with pytest.raises(InputError, match="square frames"):
        make_outliers(np.float32(3), 2)


def test_train_makes_outliers_from_the_training_split_only(tmp_path):
    from PIL import Image
    from typer.testing import CliRunner

    from fastdigits.cli import app

    for letter in "AB":
        (tmp_path / letter).mkdir()
        for k in range(10):
            Image.fromarray(drawing.digit(letter, size=40, stroke=1 + k % 2)).save(tmp_path / letter / f"{k}.png")
    result = CliRunner().invoke(app, ["train", "--data", str(tmp_path), "--hidden", "4", "--epochs", "1",
                                      "--validation", "0.5", "--outliers", "1", "-o", str(tmp_path / "m.npz")])
    assert result.exit_code == 0, result.output
    assert "10 pictures of no class" in result.stderr  # as many as the 10 rows left for training, of 20
