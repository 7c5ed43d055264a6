"""Model files: ``.npz`` archives that ``numpy.load(allow_pickle=False)``
reads, written atomically.

Layout (format version 1)::

    meta          0-d unicode array: JSON {"format": "fastdigits-model",
                  "version": 1, "layer_sizes", "classes", "params"
                  (hyperparameters, with "preprocessing": the image
                  pipeline and its settings), "history", "record"
                  (how it was made: command, data, test accuracy)}
    weights_<l>   (n_in, n_out) weights of layer l
    biases_<l>    (n_out,) biases of layer l
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np

from ._io import atomic_open
from .errors import ModelFileError

FORMAT = "fastdigits-model"
VERSION = 1

__all__ = ["load_model", "save_model"]


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


def save_model(model, path: str | os.PathLike) -> Path:
    """Write a trained model to ``path`` (``.npz`` is appended if missing).

    The archive is written to a temporary file in the same folder and
    renamed over ``path`` only when complete, so an existing model is never
    left half-written.
    """
    model._check_fitted()
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    from .preprocess import preprocessing_dict

    params = model.get_params()
    params.pop("device")  # where it ran, not what it is: a loaded model runs on the CPU
    params["preprocessing"] = preprocessing_dict(params["preprocessing"])
    augmentation = model._augmentation()
    params["augment"] = augmentation.to_dict() if augmentation else None
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "layer_sizes": model.layer_sizes_,
        "classes": _jsonable(model.classes_.tolist()),
        "params": _jsonable(params),
        "history": _jsonable(model.history_),
        "record": _jsonable(getattr(model, "record_", {})),
    }
    arrays = {"meta": np.array(json.dumps(meta))}
    for layer, (w, b) in enumerate(zip(model.coefs_, model.intercepts_)):
        arrays[f"weights_{layer}"] = w
        arrays[f"biases_{layer}"] = b
    with atomic_open(path) as fh:
        np.savez_compressed(fh, **arrays)
    return path


#: The model shipped in the package (see fastdigits/models/README.md).
SHIPPED_MODEL = Path(__file__).parent / "models" / "digits.npz"


def load_model(path: str | os.PathLike | None = None):
    """Read a model written by :func:`save_model`; without ``path``, the
    digit model shipped in the package.

    Raises
    ------
    ModelFileError
        Naming the file: missing, not a fastdigits model, truncated, of an
        unknown format version, holding object arrays or inconsistent
        shapes.
    """
    from .model import MLPClassifier

    path = SHIPPED_MODEL if path is None else Path(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except FileNotFoundError:
        raise ModelFileError(f"{path}: no such model file") from None
    except IsADirectoryError:
        raise ModelFileError(f"{path}: is a folder, not a model file") from None
    except ValueError as exc:  # object arrays need pickle; numpy refuses
        raise ModelFileError(f"{path}: not a fastdigits model ({exc})") from None
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise ModelFileError(f"{path}: not a fastdigits model, or truncated ({exc})") from None
    if not isinstance(arrays, dict) or "meta" not in arrays:
        raise ModelFileError(f"{path}: not a fastdigits model (no metadata)")
    try:
        meta = json.loads(str(arrays["meta"]))
    except (json.JSONDecodeError, TypeError):
        raise ModelFileError(f"{path}: metadata is not valid JSON") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not a fastdigits model")
    if meta.get("version") != VERSION:
        raise ModelFileError(f"{path}: model format version {meta.get('version')!r}; this fastdigits reads {VERSION}")
    try:
        sizes = [int(s) for s in meta["layer_sizes"]]
        weights = [arrays[f"weights_{i}"] for i in range(len(sizes) - 1)]
        biases = [arrays[f"biases_{i}"] for i in range(len(sizes) - 1)]
        params = dict(meta["params"])
        classes = meta["classes"]
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{path}: incomplete model file (missing {exc})") from None
    for i, (w, b) in enumerate(zip(weights, biases)):
        if w.shape != (sizes[i], sizes[i + 1]) or b.shape != (sizes[i + 1],):
            raise ModelFileError(
                f"{path}: layer {i} has weights {w.shape} and biases {b.shape}, "
                f"expected ({sizes[i]}, {sizes[i + 1]}) and ({sizes[i + 1]},)"
            )
        if w.dtype.kind != "f" or b.dtype.kind != "f":
            raise ModelFileError(f"{path}: layer {i} weights have dtype {w.dtype}, expected floats")
    params.pop("hidden", None)
    from .preprocess import as_preprocessing

    try:
        params["preprocessing"] = as_preprocessing(params.get("preprocessing", "scale"))
        params["preprocessing"] = params["preprocessing"] or "scale"
        model = MLPClassifier.from_weights(weights, biases, classes=classes, hidden=sizes[1:-1], **params)
    except (TypeError, ValueError) as exc:
        raise ModelFileError(f"{path}: inconsistent model file ({exc})") from None
    model.history_ = list(meta.get("history", []))
    model.record_ = dict(meta.get("record", {}))
    return model
