"""Scores, and labels matched to a model's classes."""

from __future__ import annotations

import numpy as np
import pytest

from fastdigits import InputError
from fastdigits.metrics import class_indices, evaluate_predictions


@pytest.mark.parametrize(
    "labels, classes, want",
    [
        ([3, 0, 9], np.arange(10), [3, 0, 9]),  # labels 0..K-1 are their own indices
        (np.array([5, 2], np.uint8), [2, 5, 7], [1, 0]),  # integers, searched
        (["3", "0", "9"], np.arange(10), [3, 0, 9]),  # folder names for a digit model
        (np.array(["7", "2"], dtype=object), [2, 7], [1, 0]),
        ([7, 2], ["2", "7"], [1, 0]),  # integers for a model trained on folder names
        (["b", "a", "b"], ["a", "b"], [1, 0, 1]),  # exact strings
        (np.array([1, "1", "x"], object), np.array([1, "1", "x"], object), [0, 1, 2]),  # exact first
        (np.array([], np.int64), [0, 1], []),
    ],
)
def test_class_indices(labels, classes, want):
    got = class_indices(labels, classes)
    assert got.dtype == np.int64 and got.tolist() == want


@pytest.mark.parametrize(
    "labels, classes, match",
    [
        ([0, 10, 11], np.arange(10), r"does not know: 10 \(its 10 classes: 0, 1, 2, 3, 4, 5, 6, 7, 8, 9\)"),
        (["3", "x", "y"], np.arange(4), r"does not know: 'x'"),
        (["x", "3"], np.arange(4), r"does not know: 'x'"),  # the first in order, not in sorted order
        ([2, 3], ["2", "4"], r"does not know: 3 \(its 2 classes: '2', '4'\)"),
        ([31], list(range(30)), r"does not know: 31 \(its 30 classes: 0, 1, .*, 19, \.\.\.\)"),
    ],
)
def test_class_indices_names_the_first_unknown_label(labels, classes, match):
    with pytest.raises(InputError, match=match):
        class_indices(labels, classes, name="y")


def test_class_indices_refuses_a_table():
    with pytest.raises(InputError, match=r"labels must be one label per row \(1-D\), got shape \(2, 2\)"):
        class_indices([[1, 2], [3, 4]], [1, 2, 3, 4], name="labels")


def test_evaluate_predictions_matches_names_by_text():
    ev = evaluate_predictions(["1", "1", "2"], [1, 2, 2], [1, 2])
    assert ev.accuracy == pytest.approx(2 / 3)
    assert ev.confusion.tolist() == [[1, 1], [0, 1]]
    with pytest.raises(InputError, match="y_true holds a label the model does not know: '3'"):
        evaluate_predictions(["3"], [1], [1, 2])
