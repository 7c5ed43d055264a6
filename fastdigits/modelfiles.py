"""Model files as estimators: :func:`load_model` reads a file written by
:func:`save_model` (or the shipped digit model) back as the
:class:`~fastdigits.MLPClassifier` or :class:`~fastdigits.Ensemble` it
holds.

The archive format itself is :mod:`fastdigits.persist`'s; each estimator
turns itself into and out of its entries.  Dependencies run one way:
this module uses the estimators, which use ``persist``, which knows no
estimator.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

import numpy as np

from . import persist
from .ensemble import Ensemble
from .errors import InputTypeError
from .model import MLPClassifier

__all__ = ["check_model_size", "load_model", "save_model"]


def save_model(model: MLPClassifier | Ensemble, path: str | os.PathLike | BinaryIO) -> Path | BinaryIO:
    """Write a trained model (an MLPClassifier or an Ensemble) to an ``.npz`` file.

    The archive is written to a temporary file in the same folder and
    renamed over ``path`` only when complete, so an existing model is never
    left half-written.  Like ``numpy.save``, it also writes to a binary
    file object (``io.BytesIO()`` to send the model's bytes elsewhere):
    directly, at its position.  It holds no pickles: ``numpy.load`` reads
    it with ``allow_pickle=False`` (the layout is in :mod:`fastdigits.persist`).

    Parameters
    ----------
    model : MLPClassifier or Ensemble
        A trained model.
    path : str, path-like or binary file object
        The file; ``.npz`` is appended to a path if missing.  A file
        object is anything with ``write``.

    Returns
    -------
    pathlib.Path or binary file object
        The path written, or the file object itself (not closed).

    Raises
    ------
    InputTypeError
        If ``model`` is not an MLPClassifier or an Ensemble.
    NotFittedError
        If ``model`` is not trained.
    OutputError
        Naming the path (or the file object's ``name``, else
        ``<model bytes>``): a folder in its place, no permission, a
        read-only or full file system, a file object that cannot be
        written; or a model larger than ``load_model`` reads back
        (``config.MAX_MODEL_BYTES``), before anything is written.

    Examples
    --------
    >>> from fastdigits import load_model, save_model
    >>> print(save_model(load_model(), "digits"))
    digits.npz
    >>> load_model("digits.npz").classes_.tolist()
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    >>> import io
    >>> data = save_model(load_model(), io.BytesIO()).getvalue()  # the file's bytes, no file
    >>> load_model(io.BytesIO(data)).classes_.tolist()
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    """
    if not isinstance(model, (MLPClassifier, Ensemble)):
        raise InputTypeError(f"save_model writes an MLPClassifier or an Ensemble, not a {type(model).__name__}")
    return model.save(path)


def load_model(path: str | os.PathLike | BinaryIO | None = None) -> MLPClassifier | Ensemble:
    """Read a model written by :func:`save_model`, or the shipped digit model.

    Nothing in the file is unpickled, and its arrays' headers are checked
    against one another and ``config.MAX_MODEL_BYTES`` before anything
    large is read, so a hostile file is refused rather than run or
    allowed to exhaust memory.

    Parameters
    ----------
    path : str, path-like or binary file object, optional
        The model file, or a readable, seekable binary file object holding
        its bytes (``io.BytesIO(data)``), checked alike; default: the
        digit model shipped in the package (``fastdigits/models/digits.npz``,
        see its README for its recipe).

    Returns
    -------
    MLPClassifier or Ensemble
        An Ensemble for a file of several networks.  Trained, on the CPU
        (model files do not record a device), with ``record_`` saying how
        it was made.

    Raises
    ------
    ModelFileError
        Naming the file (a file object by its ``name``, else
        ``<model bytes>``): missing, not a fastdigits model, truncated, of
        an unknown format version, holding object arrays or inconsistent
        shapes (naming the member of an ensemble at fault); a file object
        that is closed, in text mode or cannot seek.

    Examples
    --------
    >>> from fastdigits import load_model
    >>> model = load_model()
    >>> model.classes_.tolist(), model.n_features_in_
    ([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 400)
    >>> load_model("missing.npz")
    Traceback (most recent call last):
    ...
    fastdigits.errors.ModelFileError: missing.npz: no such model file
    """
    path = persist.SHIPPED_MODEL if path is None else path
    meta, arrays = persist.read_archive(path)
    kind = Ensemble if meta["version"] == persist.ENSEMBLE_VERSION else MLPClassifier
    model = kind._from_archive(persist.name_of(path), meta, arrays)
    model.record_ = dict(meta.get("record", {}))
    return model


def check_model_size(model: MLPClassifier | Ensemble, n_features: int, n_classes: int) -> None:
    """Refuse, before training, a model too large for :func:`load_model` to read back.

    Raises ``OutputError`` if ``model``, fitted on ``n_features`` inputs
    and ``n_classes`` classes, would hold more bytes of weights than
    :func:`load_model` reads back (``config.MAX_MODEL_BYTES``): said before
    training, not after.

    Parameters
    ----------
    model : MLPClassifier or Ensemble
        The estimator, fitted or not: its settings (hidden layers, dtype,
        members) give the size.
    n_features : int
        Inputs per row that it is to be fitted on.
    n_classes : int
        Classes that it is to be fitted on.

    Raises
    ------
    OutputError
        If the weights would exceed ``config.MAX_MODEL_BYTES``, naming the
        layer sizes ("4 x 400-800-10").

    Examples
    --------
    >>> from fastdigits import MLPClassifier
    >>> from fastdigits.modelfiles import check_model_size
    >>> check_model_size(MLPClassifier((256,)), 400, 10)
    >>> check_model_size(MLPClassifier((100_000, 100_000)), 400, 10)
    Traceback (most recent call last):
    ...
    fastdigits.errors.OutputError: a model of ... bytes (400-100000-100000-10) is larger than fastdigits reads back ...
    """
    base = getattr(model, "estimator", None) or model
    members = getattr(model, "n_members", 1)
    sizes = [n_features, *base._hidden(), n_classes]
    nbytes = members * np.dtype(base.dtype).itemsize * sum((a + 1) * b for a, b in zip(sizes, sizes[1:]))
    persist.check_size(nbytes, f"{members} x " * (members > 1) + "-".join(map(str, sizes)))
