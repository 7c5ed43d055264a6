"""Checks at the estimator's edge: hyperparameter constraints as data, in
the manner of scikit-learn's ``_parameter_constraints`` (each checks one
value and raises an :class:`~fastdigits.errors.InputError` that names the
parameter, the value and what it may be), and the checks of input arrays,
labels and sample weights that every estimator method shares."""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._sklearn import DataConversionWarning
from .errors import InputError, InputTypeError


@dataclass(frozen=True)
class Choice:
    """One of a few values (strings, or False/True; NumPy's strings and
    booleans too); ``instead`` says what to use for another library's
    spelling (scikit-learn's "logistic" is "sigmoid" here)."""

    values: tuple
    instead: dict

    def __init__(self, values: Iterable, instead: dict | None = None):
        object.__setattr__(self, "values", tuple(values))
        object.__setattr__(self, "instead", dict(instead or {}))

    def check(self, name: str, value: Any) -> None:
        if not any((isinstance(value, type(v)) and value == v) or _same_bool(value, v)
                   for v in self.values):
            hint = f" ({self.instead[value]})" if isinstance(value, str) and value in self.instead else ""
            raise InputError(f"{name} must be one of {', '.join(map(repr, self.values))}; got {shown(value)}{hint}")


def shown(value: Any) -> str:
    """``value`` for a message: NumPy scalars as the plain numbers they hold (-1.0, not np.float64(-1.0))."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def _same_bool(value: Any, choice: Any) -> bool:
    """NumPy's booleans count as bools."""
    return isinstance(choice, bool) and type(value).__name__ == "bool" and bool(value) == choice


def _finite(value) -> bool:
    """math.isfinite, for integers too large for a float (10**400) as well."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return True


@dataclass(frozen=True)
class Interval:
    """A number of ``kind`` (int or float) between ``low`` and ``high``
    (None: unbounded), ``closed`` at "left", "right", "both" or
    "neither" end; ``none`` lets None through."""

    kind: type
    low: float | None
    high: float | None
    closed: str
    none: bool = False
    instead: str = ""  #: what to use instead of a non-number another library takes here (batch_size="auto")

    def _hint(self, value: Any) -> str:
        return f" ({self.instead})" if self.instead and not isinstance(value, numbers.Real) else ""

    def check(self, name: str, value: Any) -> None:
        if value is None and self.none:
            return
        wanted = numbers.Integral if self.kind is int else numbers.Real
        if isinstance(value, bool) or not isinstance(value, wanted) or not _finite(value):
            raise InputError(f"{name} must be {self._words()}; got {shown(value)}{self._hint(value)}")
        low_ok = self.low is None or value > self.low or (value == self.low and self.closed in ("left", "both"))
        high_ok = self.high is None or value < self.high or (value == self.high and self.closed in ("right", "both"))
        if not (low_ok and high_ok):
            raise InputError(f"{name} must be {self._words()}; got {shown(value)}")

    def _words(self) -> str:
        what = "a whole number" if self.kind is int else "a finite number"
        left = "[" if self.closed in ("left", "both") else "("
        right = "]" if self.closed in ("right", "both") else ")"
        lo = "-inf" if self.low is None else f"{self.low:g}"
        hi = "inf" if self.high is None else f"{self.high:g}"
        return f"{what} in {left}{lo}, {hi}{right}" + (" or None" if self.none else "")


def ndim(a) -> int | None:
    """np.ndim(a), or None for a ragged nest of sequences."""
    try:
        return np.ndim(a)
    except ValueError:
        return None


def how_to_pass(width: int) -> str:
    """The advice that closes every error about a 2-D input that may be one picture."""
    return (f"To pass one picture img, make it a batch of one: img[None] or [img]; pictures go in as "
            f"(N, H, W) or a list of (H, W) arrays of any sizes, and feature rows as (N, {width}) floats, "
            f"such as the frames in [0, 1] that model.prepare(images) makes.")


def flattened_pictures(width: int, one: bool = False) -> str:
    """Advice for rows, or one 1-D row (``one``), whose width is a square
    other than a frame's: flattened square pictures (MNIST's 784 values
    are 28x28), which go in as pictures; "" for any other width."""
    side = math.isqrt(width)
    if side < 2 or side * side != width:
        return ""
    how = f"X.reshape(1, {side}, {side})" if one else f"X.reshape(-1, {side}, {side})"
    return (f" If {'it is a picture' if one else 'they are pictures'} of {side}x{side} pixels flattened into "
            f"{width} values, pass {'it' if one else 'them'} as pictures: {how}.")


def not_finite(arr: np.ndarray, name: str, given: np.ndarray | None = None) -> str:
    """The message for a float array with NaN or infinite values: how many
    of each, and where the first one is (index and value), for an error
    that says what to look for.  ``given``: the input of the same shape
    before its conversion to arr's dtype, where a finite value may have
    overflowed to inf (the message then says so)."""
    bad = ~np.isfinite(arr)
    if not bad.any():
        return f"{name} contains NaN or infinite values"
    first = np.unravel_index(int(np.argmax(bad)), arr.shape)
    where = {2: "row {}, column {}", 3: "picture {}, row {}, column {}"}.get(arr.ndim, "index {}")
    nans = np.count_nonzero(np.isnan(arr))
    overflow = ""
    if given is not None and given.shape == arr.shape and np.isfinite(given[first]):
        overflow = f" ({given[first]:g} given, beyond {arr.dtype}'s range)"
    return (f"{name} contains NaN or infinite values: {nans} NaN and {np.count_nonzero(bad) - nans} infinite of "
            f"its {arr.size} (shape {arr.shape}), the first {arr[first]}{overflow} at "
            + where.format(*(int(i) for i in first)))


def refuse_channels(arr: np.ndarray, name: str) -> None:
    """A colour or channel-last picture, (H, W, 3), (H, W, 4) or (H, W, 1)
    as Pillow, OpenCV and Keras give it, is not a batch of H pictures W
    pixels wide: refuse it with the way to pass it."""
    if arr.ndim == 3 and arr.shape[2] in (1, 3, 4) and min(arr.shape[:2]) >= 8:
        raise InputError(f"{name} has shape {arr.shape}: one colour or channel-last picture (H, W, C), not "
                         f"{arr.shape[0]} pictures {arr.shape[2]} pixels wide.  Make it grey first "
                         f"(fastdigits.read_image(path), or np.asarray(pil_image.convert('L'))) and pass [img].")


def _ragged(rows) -> str | None:
    """Where a list of rows first changes length ("row 1 has 700 values
    where row 0 has 784"), or None where its rows have no lengths."""
    try:
        lengths = [len(row) for row in rows]
    except TypeError:  # a row without a length: a number among sequences
        return None
    for i, n in enumerate(lengths):
        if n != lengths[0]:
            return f"row {i} has {n} values where row 0 has {lengths[0]}"
    return None


def numeric(X, name: str) -> np.ndarray:
    """``X`` as a NumPy array of numbers (bool, int or float; an object
    array of numbers becomes floats), or an InputError that says what it is
    instead: sparse, complex, text."""
    if type(X) is np.ndarray and X.dtype.kind in "uifb":  # the common case, first: one row's latency counts
        return X
    if hasattr(X, "toarray") or type(X).__module__.startswith("scipy.sparse"):
        raise InputTypeError(f"{name} is a sparse {type(X).__name__}: fastdigits takes dense input only; "
                             f"convert it with {name}.toarray() if it fits in memory")
    try:
        arr = np.asarray(X)
    except ValueError as exc:
        if isinstance(X, (list, tuple)):  # a ragged list: rows of different lengths
            raise InputError(f"{name} is not an array of one shape: {_ragged(X) or exc}") from exc
        raise InputError(f"{name} could not be read as an array: {exc}") from exc
    if arr.dtype.kind == "c":
        raise InputError(f"{name} is complex ({arr.dtype}): Complex data not supported")
    if arr.dtype.kind == "O":
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise InputTypeError(f"{name} has dtype object with values that are not numbers "
                                 f"(argument must be a string or a real number: {exc})") from None
    if arr.dtype.kind not in "uifb":
        raise InputError(f"{name} must be numeric, got dtype {arr.dtype}")
    return arr


def labels(y, n_rows: int, *, fitting: bool = False) -> np.ndarray:
    """``y`` as one label per row, (n_rows,): a column (n_rows, 1) is
    flattened with a DataConversionWarning, as scikit-learn does; in
    ``fit``, floats with a fraction (a regression target) are refused."""
    if y is None:
        raise InputError("this classifier requires y to be passed, but the target y is None: give one label per row")
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        warnings.warn("A column-vector y was passed when a 1d array was expected: give y as (n_samples,), "
                      "for example y.ravel()", DataConversionWarning, stacklevel=3)
        y = y.ravel()
    if y.ndim != 1 or len(y) != n_rows:
        raise InputError(f"y must be one label per row: {n_rows} rows, got labels of shape {y.shape}")
    if fitting and y.dtype.kind == "f":
        fraction = y[np.isfinite(y)] % 1 != 0
        if fraction.any() or not np.isfinite(y).all():
            example = y[~np.isfinite(y)][0] if not np.isfinite(y).all() else y[np.isfinite(y)][fraction][0]
            raise InputError(f"Unknown label type: continuous.  y holds {shown(example)}, not a class label: a "
                             f"classifier learns classes (whole numbers, strings), not a regression target")
    return y


def classes_of(y: np.ndarray) -> np.ndarray:
    """The sorted distinct labels, or in order of appearance when they do
    not sort (a mix of strings and numbers)."""
    try:
        return np.unique(y)
    except TypeError:
        return np.asarray(list(dict.fromkeys(y.tolist())), dtype=object)


def sample_weight_of(sample_weight, n_rows: int) -> np.ndarray | None:
    """``sample_weight`` checked: None, or float64 (n_rows,) of finite
    values >= 0 not all zero (a number weighs every row alike)."""
    if sample_weight is None:
        return None
    w = numeric(sample_weight, "sample_weight").astype(np.float64)
    if w.ndim == 0:
        w = np.full(n_rows, float(w))
    if w.shape != (n_rows,):
        raise InputError(f"sample_weight.shape == {w.shape}, expected ({n_rows},): one weight per row")
    if not np.isfinite(w).all() or (w < 0).any():
        bad = w[~np.isfinite(w) | (w < 0)][0]
        raise InputError(f"sample_weight must be finite and >= 0, got {shown(bad)}")
    if n_rows and w.sum() <= 0:
        raise InputError("sample_weight sums to 0: every weight is zero, so no row counts")
    return w
