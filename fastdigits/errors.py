"""Exceptions raised by fastdigits.

Library code raises these and never prints; the command line turns them
into one red line on stderr and exit code 1.
"""


class FastDigitsError(Exception):
    """Base class of every error that fastdigits raises on purpose."""


class DataError(FastDigitsError):
    """A data file or folder is missing, corrupt or not what was expected."""


class DownloadError(DataError):
    """No mirror delivered a file with the expected checksum."""


class InputError(FastDigitsError, ValueError):
    """An argument has the wrong type, shape, dtype or value."""


class InputTypeError(InputError, TypeError):
    """An argument of a type fastdigits does not take (a sparse matrix,
    objects that are not numbers); a ``TypeError`` too."""


class ModelFileError(FastDigitsError):
    """A file is not a readable fastdigits model."""


class OutputError(FastDigitsError, OSError):
    """A file cannot be written where asked (a folder in its place, no
    permission, a read-only or full file system); an ``OSError`` too, as
    the failure of a plain ``open`` would be."""


def __getattr__(name: str):
    # NotFittedError is also scikit-learn's NotFittedError where scikit-learn
    # is installed (fastdigits._sklearn); it is made on first use so that
    # ``import fastdigits`` does not import scikit-learn.
    if name == "NotFittedError":
        from ._sklearn import SklearnNotFittedError

        class NotFittedError(FastDigitsError, SklearnNotFittedError):
            """A model used before it was trained: call ``fit`` or load a
            model file.  Also a ``ValueError`` and an ``AttributeError``, and
            ``sklearn.exceptions.NotFittedError`` where scikit-learn is
            installed, as scikit-learn's estimators raise."""

        NotFittedError.__module__ = __name__
        globals()[name] = NotFittedError
        return NotFittedError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
