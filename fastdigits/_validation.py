"""Hyperparameter constraints as data, in the manner of scikit-learn's
``_parameter_constraints``: each constraint checks one value and raises an
:class:`~fastdigits.errors.InputError` that names the parameter, the value
and what it may be."""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .errors import InputError


@dataclass(frozen=True)
class Choice:
    """One of a few values (strings, or False/True; NumPy's strings and
    booleans too)."""

    values: tuple

    def __init__(self, values: Iterable):
        object.__setattr__(self, "values", tuple(values))

    def check(self, name: str, value: Any) -> None:
        if not any((isinstance(value, type(v)) and value == v) or _same_bool(value, v)
                   for v in self.values):
            raise InputError(f"{name} must be one of {', '.join(map(repr, self.values))}; got {value!r}")


def _same_bool(value: Any, choice: Any) -> bool:
    """NumPy's booleans count as bools."""
    return isinstance(choice, bool) and type(value).__name__ == "bool" and bool(value) == choice


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

    def check(self, name: str, value: Any) -> None:
        if value is None and self.none:
            return
        wanted = numbers.Integral if self.kind is int else numbers.Real
        if isinstance(value, bool) or not isinstance(value, wanted) or not math.isfinite(value):
            raise InputError(f"{name} must be {self._words()}; got {value!r}")
        low_ok = self.low is None or value > self.low or (value == self.low and self.closed in ("left", "both"))
        high_ok = self.high is None or value < self.high or (value == self.high and self.closed in ("right", "both"))
        if not (low_ok and high_ok):
            raise InputError(f"{name} must be {self._words()}; got {value!r}")

    def _words(self) -> str:
        what = "a whole number" if self.kind is int else "a finite number"
        left = "[" if self.closed in ("left", "both") else "("
        right = "]" if self.closed in ("right", "both") else ")"
        lo = "-inf" if self.low is None else f"{self.low:g}"
        hi = "inf" if self.high is None else f"{self.high:g}"
        return f"{what} in {left}{lo}, {hi}{right}" + (" or None" if self.none else "")
