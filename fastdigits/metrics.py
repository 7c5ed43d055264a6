"""Scores of a classifier: accuracy, confusion matrix, precision, recall;
and how labels are matched to a model's classes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from .errors import InputError

__all__ = ["Evaluation", "class_indices", "evaluate_predictions"]


def class_indices(labels: ArrayLike, classes: ArrayLike, *, name: str = "y") -> np.ndarray:
    """The index into ``classes`` of each label.

    A label matches the class equal to it; failing that, a string label
    matches the non-string class that prints as it, and a non-string label
    the string class spelt as it: the folder name "3" is the class 3 of a
    digit model, and the label 3 is the class "3" of a model trained on
    folders.

    Parameters
    ----------
    labels : array_like, shape (N,)
        Any hashable labels.
    classes : array_like, shape (K,)
        A model's ``classes_``.
    name : str
        What ``labels`` are called in error messages.

    Returns
    -------
    numpy.ndarray of int64, shape (N,)
        Each label's position in ``classes``.

    Raises
    ------
    InputError
        If ``labels`` is not 1-D, or naming the first label (in order) that
        matches no class, with the classes listed.

    Examples
    --------
    >>> from fastdigits.metrics import class_indices
    >>> class_indices(["7", "3"], [3, 7])
    array([1, 0])
    >>> class_indices([5], [3, 7])
    Traceback (most recent call last):
    ...
    fastdigits.errors.InputError: y holds a label the model does not know: 5 (its 2 classes: 3, 7)
    """
    y = np.asarray(labels)
    classes = np.asarray(classes)
    if y.ndim != 1:
        raise InputError(f"{name} must be one label per row (1-D), got shape {y.shape}")
    if y.dtype.kind in "iu" and classes.dtype.kind in "iu" and np.all(classes[:-1] < classes[1:]):
        k = len(classes)
        if len(y) and classes[0] == 0 and classes[-1] == k - 1 and 0 <= y.min() and y.max() < k:
            return y.astype(np.int64)  # labels 0..K-1 are their own indices: no search (0.8 ms for MNIST)
        # Integer labels (digits): a vectorised lookup, not a dict per row.
        pos = np.minimum(np.searchsorted(classes, y), len(classes) - 1)
        unknown = classes[pos] != y
        if unknown.any():
            raise _unknown(name, y[unknown.argmax()].item(), classes)
        return pos.astype(np.int64)
    try:  # each distinct label looked up once
        distinct, inverse = np.unique(y, return_inverse=True)
        distinct = distinct.tolist()
    except TypeError:  # an unorderable mix of label types
        first = dict.fromkeys(y.tolist())
        distinct = list(first)
        where = {v: i for i, v in enumerate(distinct)}
        inverse = np.fromiter((where[v] for v in y.tolist()), np.int64, count=len(y))
    names = classes.tolist()
    exact = {c: i for i, c in reversed(list(enumerate(names)))}
    text_of_others = {str(c): i for i, c in reversed(list(enumerate(names))) if not isinstance(c, str)}
    strings = {c: i for i, c in reversed(list(enumerate(names))) if isinstance(c, str)}
    lookup = np.empty(len(distinct), np.int64)
    for j, v in enumerate(distinct):
        i = exact.get(v)
        if i is None:
            i = text_of_others.get(v) if isinstance(v, str) else strings.get(str(v))
        lookup[j] = -1 if i is None else i
    index = lookup[np.asarray(inverse, np.int64).reshape(-1)]
    if len(index) and index.min() < 0:
        raise _unknown(name, y[int(np.argmax(index < 0))], classes)
    return index


def _unknown(name: str, label, classes: np.ndarray) -> InputError:
    shown = [repr(c) for c in classes.tolist()[:20]] + (["..."] if len(classes) > 20 else [])
    label = label.item() if isinstance(label, np.generic) else label
    return InputError(f"{name} holds a label the model does not know: {label!r} "
                      f"(its {len(classes)} classes: {', '.join(shown)})")


@dataclass
class Evaluation:
    """Scores of predictions against true labels.

    As :func:`evaluate_predictions` makes them.  Precision and recall are
    the usual per-class ratios (e.g. scikit-learn's
    ``precision_recall_fscore_support`` with ``average=None``), but NaN
    rather than 0 where undefined.

    Parameters
    ----------
    classes : list
        Class names, the order of the confusion matrix's rows and columns.
    confusion : numpy.ndarray of int64, shape (K, K)
        ``confusion[i, j]``: examples of class ``i`` predicted as ``j``.
    accuracy : float
        Share of predictions that are right, in [0, 1].

    Examples
    --------
    >>> import numpy as np
    >>> from fastdigits.metrics import Evaluation
    >>> ev = Evaluation([3, 7], np.array([[1, 1], [0, 2]]), 0.75)
    >>> ev.precision.round(3), ev.recall, ev.support
    (array([1.   , 0.667]), array([0.5, 1. ]), array([2, 2]))
    """

    classes: list  #: class names, the order of rows and columns below
    confusion: np.ndarray  #: (K, K) int64: row = true class, column = predicted
    accuracy: float

    @property
    def precision(self) -> np.ndarray:
        """Per class: right predictions of it / all predictions of it (NaN if never predicted), (K,) float."""
        predicted = self.confusion.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.diag(self.confusion) / predicted

    @property
    def recall(self) -> np.ndarray:
        """Per class: right predictions of it / its true examples (NaN if absent), (K,) float."""
        actual = self.confusion.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.diag(self.confusion) / actual

    @property
    def support(self) -> np.ndarray:
        """Per class: its true examples, (K,) int64."""
        return self.confusion.sum(axis=1)


def evaluate_predictions(y_true: ArrayLike, y_pred: ArrayLike, classes: ArrayLike) -> Evaluation:
    """Confusion matrix and accuracy of predicted labels against true ones.

    Parameters
    ----------
    y_true : array_like, shape (N,)
        True labels, names of ``classes`` matched as :func:`class_indices`
        does ("3" is the class 3).
    y_pred : array_like, shape (N,)
        Predicted labels, likewise.
    classes : array_like, shape (K,)
        A model's ``classes_``.

    Returns
    -------
    Evaluation
        With the (K, K) confusion matrix, rows true, columns predicted.

    Raises
    ------
    InputError
        If a label matches no class (naming it), or the two have different
        lengths.

    Examples
    --------
    >>> from fastdigits.metrics import evaluate_predictions
    >>> ev = evaluate_predictions(["3", "3", "7", "7"], [3, 7, 7, 7], classes=[3, 7])
    >>> ev.accuracy
    0.75
    >>> ev.confusion
    array([[1, 1],
           [0, 2]])
    """
    true_i = class_indices(y_true, classes, name="y_true")
    pred_i = class_indices(y_pred, classes, name="y_pred")
    if len(true_i) != len(pred_i):
        raise InputError(f"{len(true_i)} true labels but {len(pred_i)} predictions")
    k = len(classes)
    confusion = np.bincount(true_i * k + pred_i, minlength=k * k).reshape(k, k).astype(np.int64)
    accuracy = float(np.trace(confusion) / max(1, len(true_i)))
    return Evaluation(list(classes), confusion, accuracy)
