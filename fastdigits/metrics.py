"""Scores of a classifier: accuracy, confusion matrix, precision, recall."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import InputError

__all__ = ["Evaluation", "evaluate_predictions"]


@dataclass
class Evaluation:
    """Scores of predictions against true labels."""

    classes: list  #: class names, the order of rows and columns below
    confusion: np.ndarray  #: (K, K) int64: row = true class, column = predicted
    accuracy: float

    @property
    def precision(self) -> np.ndarray:
        """Per class: right predictions of it / all predictions of it (NaN if never predicted)."""
        predicted = self.confusion.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.diag(self.confusion) / predicted

    @property
    def recall(self) -> np.ndarray:
        """Per class: right predictions of it / its true examples (NaN if absent)."""
        actual = self.confusion.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.diag(self.confusion) / actual

    @property
    def support(self) -> np.ndarray:
        return self.confusion.sum(axis=1)


def evaluate_predictions(y_true, y_pred, classes) -> Evaluation:
    """Confusion matrix and accuracy of ``y_pred`` against ``y_true``;
    both hold names from ``classes``."""
    classes = list(classes)
    index = {c: i for i, c in enumerate(classes)}
    y_true, y_pred = np.asarray(y_true).tolist(), np.asarray(y_pred).tolist()
    if len(y_true) != len(y_pred):
        raise InputError(f"{len(y_true)} true labels but {len(y_pred)} predictions")
    confusion = np.zeros((len(classes), len(classes)), np.int64)
    try:
        for t, p in zip(y_true, y_pred):
            confusion[index[t], index[p]] += 1
    except KeyError as exc:
        raise InputError(f"label {exc.args[0]!r} is not one of the model's classes") from None
    accuracy = float(np.trace(confusion) / max(1, len(y_true)))
    return Evaluation(classes, confusion, accuracy)
