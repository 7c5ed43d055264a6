"""fastdigits: train and run small image classifiers, fast.

The public API is imported lazily, so ``import fastdigits`` costs little
and compiles nothing; kernels compile (or load from the on-disk cache) on
first use.  ``__all__`` lists it; each name's docstring documents it
(numpydoc), and the README's "API reference" gives their summaries.

Examples
--------
>>> import numpy as np
>>> import fastdigits
>>> one = np.full((28, 28), 255, np.uint8)    # a white page
>>> one[4:24, 12:16] = 0                      # with a dark stroke
>>> fastdigits.load_model().predict([one])    # the shipped digit model
array([1])
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from ._version import __version__
from .errors import ClusterError, DataError, DownloadError, FastDigitsError, InputError, InputTypeError, ModelFileError, OutputError

if TYPE_CHECKING:  # pragma: no cover
    from .classify import classify_images
    from .ensemble import Ensemble
    from .errors import NotFittedError
    from .model import MLPClassifier
    from .training import Progress
    from .modelfiles import load_model, save_model
    from .data import LabelledImages, load_image_folder, load_mnist, read_idx, read_image
    from .preprocess import resize
    from .read import Reading, read_number, read_numbers

_LAZY = {
    "NotFittedError": "errors",
    "classify_images": "classify",
    "Ensemble": "ensemble",
    "LabelledImages": "data",
    "load_image_folder": "data",
    "load_mnist": "data",
    "read_idx": "data",
    "read_image": "data",
    "resize": "preprocess",
    "Reading": "read",
    "read_number": "read",
    "read_numbers": "read",
    "MLPClassifier": "model",
    "Progress": "training",
    "load_model": "modelfiles",
    "save_model": "modelfiles",
}

__all__ = [
    "ClusterError",
    "DataError",
    "DownloadError",
    "FastDigitsError",
    "InputError",
    "InputTypeError",
    "ModelFileError",
    "OutputError",
    "__version__",
    *_LAZY,
]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'fastdigits' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
