"""scikit-learn's estimator base classes where scikit-learn is installed,
stand-ins with the same behaviour where it is not.

fastdigits does not depend on scikit-learn: without it ``MLPClassifier``
still has ``get_params(deep=True)``, ``set_params(**params)`` and the
parameter ``repr``, and raises the same errors.  With it, the estimator
is a ``sklearn.base.BaseEstimator`` and ``ClassifierMixin``, so ``clone``,
``Pipeline``, ``GridSearchCV`` and ``cross_val_score`` take it, and
``NotFittedError`` is also ``sklearn.exceptions.NotFittedError``.

Importing scikit-learn takes a second or more (it imports SciPy); the
command line, which has no use for it, sets ``FASTDIGITS_SKLEARN=0`` in
its own process (``fastdigits._entry``) to skip it, and so can any program
that wants fastdigits without it.
"""

from __future__ import annotations

import functools
import inspect
import os
from typing import Any

__all__ = ["AVAILABLE", "BaseEstimator", "ClassifierMixin", "DataConversionWarning", "SklearnNotFittedError",
           "available_if"]


def _wanted() -> bool:
    return os.environ.get("FASTDIGITS_SKLEARN", "1") != "0"


try:
    if not _wanted():
        raise ImportError("FASTDIGITS_SKLEARN=0")
    from sklearn.base import BaseEstimator, ClassifierMixin
    from sklearn.exceptions import DataConversionWarning
    from sklearn.exceptions import NotFittedError as SklearnNotFittedError
    from sklearn.utils.metaestimators import available_if

    AVAILABLE = True
except ImportError:
    AVAILABLE = False

    class BaseEstimator:  # type: ignore[no-redef]
        """The part of ``sklearn.base.BaseEstimator`` that fastdigits uses:
        parameters are the arguments of ``__init__``, stored unchanged."""

        @classmethod
        def _get_param_names(cls) -> list[str]:
            signature = inspect.signature(cls.__init__)
            return sorted(p.name for p in signature.parameters.values()
                          if p.name != "self" and p.kind != p.VAR_KEYWORD)

        def get_params(self, deep: bool = True) -> dict[str, Any]:
            params = {}
            for name in self._get_param_names():
                value = getattr(self, name)
                if deep and hasattr(value, "get_params") and not isinstance(value, type):
                    params.update((f"{name}__{k}", v) for k, v in value.get_params().items())
                params[name] = value
            return params

        def set_params(self, **params):
            valid = self.get_params(deep=True)
            nested: dict[str, dict] = {}
            for key, value in params.items():
                name, sep, sub = key.partition("__")
                if name not in valid:
                    raise ValueError(f"Invalid parameter {name!r} for estimator {self}. "
                                     f"Valid parameters are: {self._get_param_names()!r}.")
                if sep:
                    nested.setdefault(name, {})[sub] = value
                else:
                    setattr(self, name, value)
            for name, sub_params in nested.items():
                getattr(self, name).set_params(**sub_params)
            return self

        def __repr__(self) -> str:
            defaults = {p.name: p.default for p in inspect.signature(type(self).__init__).parameters.values()}
            changed = [f"{name}={value!r}" for name, value in self.get_params(deep=False).items()
                       if not _same(value, defaults.get(name, inspect.Parameter.empty))]
            return f"{type(self).__name__}({', '.join(changed)})"

    class ClassifierMixin:  # type: ignore[no-redef]
        """Marks a classifier, as ``sklearn.base.ClassifierMixin`` does."""

        _estimator_type = "classifier"

    class DataConversionWarning(UserWarning):  # type: ignore[no-redef]
        """Input converted to another shape or type than given."""

    class SklearnNotFittedError(ValueError, AttributeError):  # type: ignore[no-redef]
        """An estimator used before it was fitted."""

    def available_if(check):  # type: ignore[no-redef]
        """A method that exists only while ``check(self)`` is true (else
        an AttributeError, so ``hasattr`` is False), as
        ``sklearn.utils.metaestimators.available_if``."""

        class _Conditional:
            def __init__(self, fn):
                self.fn = fn
                functools.update_wrapper(self, fn)

            def __get__(self, obj, owner=None):
                if obj is not None:
                    if not check(obj):
                        raise AttributeError(f"This {type(obj).__name__!r} has no attribute {self.fn.__name__!r}")
                    return functools.partial(self.fn, obj)
                return self.fn

        return _Conditional


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a is b or a == b)
    except Exception:  # arrays and other values without a truth value
        return False
