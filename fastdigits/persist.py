"""Model files: ``.npz`` archives that ``numpy.load(allow_pickle=False)``
reads, written atomically.

Layout of one network (format version 1)::

    meta          0-d unicode array: JSON {"format": "fastdigits-model",
                  "version": 1, "layer_sizes", "classes", "params"
                  (hyperparameters, with "preprocessing": the image
                  pipeline and its settings), "history", "record"
                  (how it was made: command, data, test accuracy)}
    weights_<l>   (n_in, n_out) weights of layer l
    biases_<l>    (n_out,) biases of layer l

An :class:`~fastdigits.Ensemble` (format version 2) holds its networks'
entries side by side, the arrays of network k prefixed ``member<k>_``::

    meta          JSON {"format": "fastdigits-model", "version": 2,
                  "classes", "members": [{"layer_sizes", "params",
                  "history"}, ...], "record"}
    member<k>_weights_<l>, member<k>_biases_<l>

One network is still written as version 1, so that earlier fastdigits
releases read it; this one reads both.
"""

from __future__ import annotations

import json
import math
import os
import tokenize
import zipfile
import zlib
from pathlib import Path

import numpy as np

from . import config
from ._io import atomic_open
from .errors import InputError, ModelFileError, OutputError

FORMAT = "fastdigits-model"
VERSION = 1  #: one network
ENSEMBLE_VERSION = 2  #: several networks, probabilities averaged
VERSIONS = (VERSION, ENSEMBLE_VERSION)

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


def _prefix(member: int | None) -> str:
    """What the names of an ensemble member's arrays start with."""
    return "" if member is None else f"member{member}_"


def _array_names(member: int | None, layer: int) -> tuple[str, str]:
    """The names of the weights and biases of ``layer`` (of ``member`` of an ensemble)."""
    prefix = _prefix(member)
    return f"{prefix}weights_{layer}", f"{prefix}biases_{layer}"


def _layer_sizes(raw) -> list[int]:
    """The metadata's ``layer_sizes``, checked: a list of at least two
    positive whole numbers (not 6.5, not 1e400, not true)."""
    if not (isinstance(raw, list) and len(raw) >= 2
            and all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in raw)):
        raise ValueError(f"layer sizes {raw!r} are not a list of positive whole numbers")
    return raw


def _network_entry(model, member: int | None = None) -> tuple[dict, dict[str, np.ndarray]]:
    """The metadata and arrays of one trained network (``member`` of an ensemble)."""
    from .preprocess import preprocessing_dict

    params = model.get_params(deep=False)
    params["hidden_layer_sizes"] = model.layer_sizes_[1:-1]
    params.pop("device")  # where it ran, not what it is: a loaded model runs on the CPU
    params["preprocessing"] = preprocessing_dict(params["preprocessing"])
    augmentation = model._augmentation()
    params["augment"] = augmentation.to_dict() if augmentation else None
    meta = {"layer_sizes": model.layer_sizes_, "params": _jsonable(params), "history": _jsonable(model.history_)}
    arrays = {}
    for layer, (w, b) in enumerate(zip(model.coefs_, model.intercepts_)):
        w_name, b_name = _array_names(member, layer)
        arrays[w_name], arrays[b_name] = w, b
    return meta, arrays


def save_model(model, path: str | os.PathLike) -> Path:
    """Write a trained model (an MLPClassifier or an Ensemble) to an ``.npz`` file.

    The archive is written to a temporary file in the same folder and
    renamed over ``path`` only when complete, so an existing model is never
    left half-written.  It holds no pickles: ``numpy.load`` reads it with
    ``allow_pickle=False`` (the layout is in this module's docstring).

    Parameters
    ----------
    model : MLPClassifier or Ensemble
        A trained model.
    path : str or path-like
        The file; ``.npz`` is appended if missing.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    FastDigitsError
        If ``model`` is not trained.
    OutputError
        Naming the path: a folder in its place, no permission, a read-only
        or full file system; or a model larger than ``load_model`` reads
        back (``config.MAX_MODEL_BYTES``), before anything is written.

    Examples
    --------
    >>> from fastdigits import load_model, save_model
    >>> print(save_model(load_model(), "digits"))
    digits.npz
    >>> load_model("digits.npz").classes_.tolist()
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    """
    model._check_fitted()
    path = model_path(path)
    members = getattr(model, "members_", None)
    meta = {"format": FORMAT, "version": VERSION if members is None else ENSEMBLE_VERSION,
            "classes": _jsonable(model.classes_.tolist())}
    if members is None:
        entry, arrays = _network_entry(model)
        meta.update(entry)
    else:
        arrays, meta["members"] = {}, []
        for k, member in enumerate(members):
            entry, member_arrays = _network_entry(member, k)
            meta["members"].append(entry)
            arrays.update(member_arrays)
    meta["record"] = _jsonable(getattr(model, "record_", {}))
    _check_size(sum(a.nbytes for a in arrays.values()), f"{len(arrays)} arrays")  # load_model would refuse it
    arrays["meta"] = np.array(json.dumps(meta))
    try:
        with atomic_open(path) as fh:
            np.savez_compressed(fh, **arrays)
    except IsADirectoryError:
        raise OutputError(f"{path}: is a folder; name a file to save the model to") from None
    except OSError as exc:
        raise OutputError(f"{path}: cannot save the model there ({exc.strerror or exc})") from None
    return path


def check_model_size(model, n_features: int, n_classes: int) -> None:
    """Raise ``OutputError`` if ``model`` (an MLPClassifier or Ensemble,
    fitted or not), fitted on ``n_features`` inputs and ``n_classes``
    classes, would hold more bytes of weights than :func:`load_model` reads
    back (``config.MAX_MODEL_BYTES``): said before training, not after."""
    base = getattr(model, "estimator", None) or model
    members = getattr(model, "n_members", 1)
    sizes = [n_features, *base._hidden(), n_classes]
    nbytes = members * np.dtype(base.dtype).itemsize * sum((a + 1) * b for a, b in zip(sizes, sizes[1:]))
    _check_size(nbytes, f"{members} x " * (members > 1) + "-".join(map(str, sizes)))


def _check_size(nbytes: int, what: str) -> None:
    if nbytes > config.MAX_MODEL_BYTES:
        raise OutputError(f"a model of {nbytes:,} bytes ({what}) is larger than fastdigits reads back "
                          f"(config.MAX_MODEL_BYTES, {config.MAX_MODEL_BYTES:,}); make it smaller or raise "
                          "the limit where it is read")


def model_path(path: str | os.PathLike) -> Path:
    """Where ``save_model`` writes a model asked for at ``path``: the same,
    with ``.npz`` appended unless it ends so."""
    path = Path(path)
    return path if path.suffix == ".npz" else path.with_name(path.name + ".npz")


#: The model shipped in the package (see fastdigits/models/README.md).
SHIPPED_MODEL = Path(__file__).parent / "models" / "digits.npz"


def load_model(path: str | os.PathLike | None = None):
    """Read a model written by :func:`save_model`, or the shipped digit model.

    Nothing in the file is unpickled, and its arrays' headers are checked
    against one another and ``config.MAX_MODEL_BYTES`` before anything
    large is read, so a hostile file is refused rather than run or
    allowed to exhaust memory.

    Parameters
    ----------
    path : str or path-like, optional
        The model file; default: the digit model shipped in the package
        (``fastdigits/models/digits.npz``, see its README for its recipe).

    Returns
    -------
    MLPClassifier or Ensemble
        An Ensemble for a file of several networks.  Trained, on the CPU
        (model files do not record a device), with ``record_`` saying how
        it was made.

    Raises
    ------
    ModelFileError
        Naming the file: missing, not a fastdigits model, truncated, of an
        unknown format version, holding object arrays or inconsistent
        shapes (naming the member of an ensemble at fault).

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
    path = SHIPPED_MODEL if path is None else Path(path)
    try:
        if path.is_file() and not zipfile.is_zipfile(path):  # a picture, a text, a bare .npy array
            with open(path, "rb") as f:
                damaged = f.read(2) == b"PK"  # a zip archive without its end: cut short
            raise ModelFileError(f"{path}: " + ("a truncated or damaged .npz archive" if damaged else
                                                "not a fastdigits model file (model files are .npz archives)"))
        arrays = _read_archive(path)
    except FileNotFoundError:
        raise ModelFileError(f"{path}: no such model file") from None
    except IsADirectoryError:
        raise ModelFileError(f"{path}: is a folder, not a model file") from None
    except PermissionError:
        raise ModelFileError(f"{path}: no permission to read it") from None
    except (OSError, zipfile.BadZipFile, EOFError, ValueError, zlib.error, RuntimeError, OverflowError) as exc:
        # RuntimeError: an encrypted entry; NotImplementedError (a RuntimeError): an unknown compression.
        # numpy's own words may advise allow_pickle=True: never pass that on.
        raise ModelFileError(f"{path}: not a fastdigits model file, or a damaged one "
                             f"({type(exc).__name__} reading it)") from None
    if not isinstance(arrays, dict) or "meta" not in arrays:
        raise ModelFileError(f"{path}: not a fastdigits model (no metadata)")
    try:
        meta = json.loads(str(arrays["meta"]))
    except (json.JSONDecodeError, TypeError):
        raise ModelFileError(f"{path}: metadata is not valid JSON") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not a fastdigits model")
    version = meta.get("version")
    if version not in VERSIONS:
        raise ModelFileError(f"{path}: model format version {version!r}; this fastdigits reads "
                             f"{' and '.join(map(str, VERSIONS))}")
    classes = meta.get("classes")
    if version == VERSION:
        model = _read_network(path, meta, arrays, classes)
    else:
        from .ensemble import Ensemble

        entries = meta.get("members")
        if not isinstance(entries, list) or not entries:
            raise ModelFileError(f"{path}: incomplete model file (missing its list of members)")
        members = [_read_network(path, entry, arrays, classes, k) for k, entry in enumerate(entries)]
        try:
            model = Ensemble.from_members(members)
        except InputError as exc:
            raise ModelFileError(f"{path}: inconsistent model file ({exc})") from None
    model.record_ = dict(meta.get("record", {}))
    return model


def _read_archive(path: Path) -> dict[str, np.ndarray]:
    """The arrays of a model archive, read only once every array's header
    has been checked against the others, the zip's own sizes, the layer
    sizes in the metadata and ``config.MAX_MODEL_BYTES``: a file that
    declares a huge array, or inflates far beyond its size, is refused
    before anything large is allocated or decompressed.

    Raises ``ModelFileError`` naming the file and the array at fault;
    ``OSError``, ``zipfile.BadZipFile`` and ``ValueError`` from damaged
    data are the caller's to word."""
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
        if len(infos) > config.MAX_MODEL_ARRAYS:
            raise ModelFileError(f"{path}: not a fastdigits model file ({len(infos):,} entries in the archive)")
        headers, total = {}, 0
        for info in infos:
            name = info.filename.removesuffix(".npy")
            if name == info.filename:
                raise ModelFileError(f"{path}: not a fastdigits model file (it holds {info.filename!r})")
            with archive.open(info) as f:
                try:
                    version = np.lib.format.read_magic(f)
                    read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                                   else np.lib.format.read_array_header_2_0)
                    shape, _, dtype = read_header(f)
                except (SyntaxError, tokenize.TokenError, TypeError, KeyError):  # numpy parses the header as Python
                    raise ModelFileError(f"{path}: a damaged model file (array {name!r} has a damaged header)") from None
                offset = f.tell()
            if dtype.hasobject:
                raise ModelFileError(f"{path}: not a fastdigits model file (array {name!r} holds Python objects)")
            declared = math.prod(shape) * dtype.itemsize  # Python integers: no overflow
            if offset + declared != info.file_size:
                raise ModelFileError(f"{path}: a damaged model file (array {name!r} declares {shape} {dtype}, "
                                     f"{declared:,} bytes, but its entry holds {info.file_size - offset:,})")
            total += declared
            if total > config.MAX_MODEL_BYTES:
                raise ModelFileError(f"{path}: declares more than {config.MAX_MODEL_BYTES:,} bytes of arrays "
                                     f"(array {name!r}: {shape} {dtype}); not read")
            headers[name] = (info, shape, dtype)
        if "meta" not in headers or headers["meta"][2].kind != "U" or headers["meta"][1] != ():
            raise ModelFileError(f"{path}: not a fastdigits model (no metadata)")

        def read(name: str) -> np.ndarray:
            with archive.open(headers[name][0]) as f:
                return np.lib.format.read_array(f, allow_pickle=False)

        arrays = {"meta": read("meta")}
        expected = _declared_shapes(arrays["meta"])
        for name, (shape, what) in expected.items():
            if name in headers and headers[name][1] != shape:
                raise ModelFileError(f"{path}: {what} {headers[name][1]}, expected {shape} from the layer sizes "
                                     "in its metadata")
        arrays.update((name, read(name)) for name in headers if name in expected)
    return arrays


def _declared_shapes(meta: np.ndarray) -> dict[str, tuple[tuple[int, ...], str]]:
    """The shape of each weight and bias array that the metadata's layer
    sizes call for, with words for it ("member 1, layer 0 has weights");
    empty where the metadata is not readable: the caller's checks then say
    what is wrong."""
    try:
        meta = json.loads(str(meta))
        entries = meta["members"] if meta.get("version") == ENSEMBLE_VERSION else [meta]
        shapes = {}
        for k, entry in enumerate(entries):
            member = None if meta.get("version") != ENSEMBLE_VERSION else k
            which = "" if member is None else f"member {member}, "
            sizes = _layer_sizes(entry["layer_sizes"])
            for i in range(len(sizes) - 1):
                w_name, b_name = _array_names(member, i)
                shapes[w_name] = ((sizes[i], sizes[i + 1]), f"{which}layer {i} has weights")
                shapes[b_name] = ((sizes[i + 1],), f"{which}layer {i} has biases")
        return shapes
    except (ValueError, TypeError, KeyError, AttributeError):
        return {}


#: Hyperparameters under the names that files written before scikit-learn's
#: names were adopted use (fastdigits 0.x's ``hidden``, ``l2``, ...).
_RENAMED = {"hidden": "hidden_layer_sizes", "optimizer": "solver", "learning_rate": "learning_rate_init",
            "lr_schedule": "learning_rate", "nesterov": "nesterovs_momentum", "beta1": "beta_1", "beta2": "beta_2",
            "epochs": "max_iter", "l2": "alpha", "patience": "n_iter_no_change", "seed": "random_state"}


def _read_network(path: Path, entry: dict, arrays: dict[str, np.ndarray], classes, member: int | None = None):
    """One network (``member`` of an ensemble) from its metadata ``entry``
    and its arrays."""
    from .model import MLPClassifier
    from .preprocess import as_preprocessing

    which = "" if member is None else f"member {member}, "
    try:
        sizes = _layer_sizes(entry["layer_sizes"])
    except (KeyError, TypeError) as exc:
        raise ModelFileError(f"{path}: incomplete model file (missing {exc})") from None
    except ValueError as exc:
        raise ModelFileError(f"{path}: {which}{exc}") from None
    try:
        names = [_array_names(member, i) for i in range(len(sizes) - 1)]
        weights = [arrays[w_name] for w_name, _ in names]
        biases = [arrays[b_name] for _, b_name in names]
        params = dict(entry["params"])
        if classes is None:
            raise KeyError("classes")
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{path}: incomplete model file (missing {exc})") from None
    for i, (w, b) in enumerate(zip(weights, biases)):
        if w.shape != (sizes[i], sizes[i + 1]) or b.shape != (sizes[i + 1],):
            raise ModelFileError(
                f"{path}: {which}layer {i} has weights {w.shape} and biases {b.shape}, "
                f"expected ({sizes[i]}, {sizes[i + 1]}) and ({sizes[i + 1]},)"
            )
        if w.dtype.kind != "f" or b.dtype.kind != "f":
            raise ModelFileError(f"{path}: {which}layer {i} weights have dtype {w.dtype}, expected floats")
    if "max_iter" not in params:  # a file of the old names
        params = {_RENAMED.get(name, name): value for name, value in params.items()}
    params.pop("hidden_layer_sizes", None)  # the layer sizes say it
    try:
        params["preprocessing"] = as_preprocessing(params.get("preprocessing", "scale"))
        params["preprocessing"] = params["preprocessing"] or "scale"
        model = MLPClassifier.from_weights(weights, biases, classes=classes, hidden_layer_sizes=tuple(sizes[1:-1]), **params)
    except (TypeError, ValueError) as exc:
        raise ModelFileError(f"{path}: inconsistent model file ({which}{exc})") from None
    model.history_ = list(entry.get("history", []))
    return model
