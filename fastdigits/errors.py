"""Exceptions raised by fastdigits.

Library code raises these and never prints; the command line turns them
into one red line on stderr and exit code 1.  Every message names the file,
argument, shape or value at fault.

The hierarchy::

    FastDigitsError
    ├── DataError
    │   └── DownloadError
    ├── InputError        (also a ValueError)
    │   └── InputTypeError  (also a TypeError)
    ├── ModelFileError
    ├── NotFittedError    (also a ValueError, an AttributeError and
    │                      scikit-learn's NotFittedError where installed)
    └── OutputError       (also an OSError)
"""

__all__ = ["ClusterError", "DataError", "DownloadError", "FastDigitsError", "InputError", "InputTypeError", "ModelFileError",
           "NotFittedError", "OutputError"]


class FastDigitsError(Exception):
    """Base class of every error that fastdigits raises on purpose.

    Catch it to handle all of them at once.

    Examples
    --------
    >>> from fastdigits import FastDigitsError, load_model
    >>> try:
    ...     load_model("no-such-model.npz")
    ... except FastDigitsError as exc:
    ...     print(type(exc).__name__, "-", exc)
    ModelFileError - no-such-model.npz: no such model file
    """


class ClusterError(FastDigitsError):
    """A Dask cluster cannot be reached, or was lost during a run.

    Raised by :mod:`fastdigits.distributed`.  Rows already given stay
    given; the message says how many files had theirs.

    Examples
    --------
    >>> from fastdigits import ClusterError
    >>> raise ClusterError("tcp://10.0.0.5:8786: no Dask scheduler answers there")
    Traceback (most recent call last):
    ...
    fastdigits.errors.ClusterError: tcp://10.0.0.5:8786: no Dask scheduler answers there
    """


class DataError(FastDigitsError):
    """A data file or folder is missing, corrupt or not what was expected.

    Raised by the readers of :mod:`fastdigits.data`: IDX files, MNIST,
    pictures and labelled image folders.

    Examples
    --------
    >>> from fastdigits import DataError, read_idx
    >>> try:
    ...     read_idx("missing.idx")
    ... except DataError as exc:
    ...     print(exc)
    missing.idx: no such file
    """


class DownloadError(DataError):
    """No mirror delivered a file with the expected checksum.

    Its message lists what went wrong at each mirror tried.

    Examples
    --------
    >>> from fastdigits import DownloadError
    >>> from fastdigits.data import download
    >>> try:
    ...     download("t10k-labels-idx1-ubyte.gz", "0" * 64, "cache", mirrors=[])
    ... except DownloadError as exc:
    ...     print(exc)
    could not download t10k-labels-idx1-ubyte.gz: no mirrors given
    """


class InputError(FastDigitsError, ValueError):
    """An argument has the wrong type, shape, dtype or value.

    Also a ``ValueError``, so code that catches that for bad arguments
    catches this too.

    Examples
    --------
    >>> import numpy as np
    >>> from fastdigits import InputError, resize
    >>> try:
    ...     resize(np.zeros((2, 3, 4, 5)))
    ... except InputError as exc:
    ...     print(exc)
    images must be an (H, W) image or an (N, H, W) batch, got shape (2, 3, 4, 5)
    >>> issubclass(InputError, ValueError)
    True
    """


class InputTypeError(InputError, TypeError):
    """An argument of a type fastdigits does not take.

    A sparse matrix, or objects that are not numbers.  Also a
    ``TypeError`` (and, as an :class:`InputError`, a ``ValueError``).

    Examples
    --------
    >>> import numpy as np
    >>> from fastdigits import InputTypeError, MLPClassifier
    >>> try:
    ...     MLPClassifier().fit(np.array([[{}], [1]], dtype=object), [0, 1])
    ... except InputTypeError as exc:
    ...     print(type(exc).__name__, isinstance(exc, TypeError))
    InputTypeError True
    """


class ModelFileError(FastDigitsError):
    """A file is not a readable fastdigits model.

    Raised by :func:`fastdigits.load_model` for a missing, truncated or
    foreign file, an unknown format version or inconsistent arrays.

    Examples
    --------
    >>> from pathlib import Path
    >>> from fastdigits import ModelFileError, load_model
    >>> _ = Path("notes.txt").write_text("not a model")
    >>> try:
    ...     load_model("notes.txt")
    ... except ModelFileError as exc:
    ...     print(exc)
    notes.txt: not a fastdigits model file (model files are .npz archives)
    """


class OutputError(FastDigitsError, OSError):
    """A file cannot be written where asked.

    A folder in its place, no permission, a read-only or full file system.
    Also an ``OSError``, as the failure of a plain ``open`` would be.

    Examples
    --------
    >>> from pathlib import Path
    >>> from fastdigits import OutputError, load_model, save_model
    >>> Path("taken.npz").mkdir()
    >>> try:
    ...     save_model(load_model(), "taken.npz")
    ... except OutputError as exc:
    ...     print(exc)
    taken.npz: is a folder; name a file to save the model to
    """


def __getattr__(name: str):
    # NotFittedError is also scikit-learn's NotFittedError where scikit-learn
    # is installed (fastdigits._sklearn); it is made on first use so that
    # ``import fastdigits`` does not import scikit-learn.
    if name == "NotFittedError":
        from ._sklearn import SklearnNotFittedError

        class NotFittedError(FastDigitsError, SklearnNotFittedError):
            """A model used before it was trained: call ``fit`` or load a model file.

            Also a ``ValueError`` and an ``AttributeError``, and
            ``sklearn.exceptions.NotFittedError`` where scikit-learn is
            installed, as scikit-learn's estimators raise.

            Examples
            --------
            >>> import numpy as np
            >>> from fastdigits import MLPClassifier, NotFittedError
            >>> try:
            ...     MLPClassifier().predict(np.zeros((1, 400), np.float32))
            ... except NotFittedError as exc:
            ...     print(exc)
            this MLPClassifier is not fitted yet: call fit with training data, or load a model file (fastdigits.load_model)
            """

        NotFittedError.__module__ = __name__
        NotFittedError.__qualname__ = name  # pickled by reference: fastdigits.errors.NotFittedError
        globals()[name] = NotFittedError
        return NotFittedError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
