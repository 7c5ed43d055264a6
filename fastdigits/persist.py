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

import io
import json
import math
import os
import tokenize
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from . import config
from ._io import atomic_open
from .errors import ModelFileError, OutputError

#: The "format" of every model file's metadata.
FORMAT = "fastdigits-model"
VERSION = 1  #: one network
ENSEMBLE_VERSION = 2  #: several networks, probabilities averaged
VERSIONS = (VERSION, ENSEMBLE_VERSION)

__all__ = ["FORMAT", "SHIPPED_MODEL", "Network", "check_size", "model_path", "read_archive", "read_network",
           "write_archive"]


def jsonable(value):
    """``value`` with NumPy scalars and arrays as Python numbers and lists (for JSON)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    return value


def _prefix(member: int | None) -> str:
    """What the names of an ensemble member's arrays start with."""
    return "" if member is None else f"member{member}_"


def array_names(member: int | None, layer: int) -> tuple[str, str]:
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


def write_archive(path: str | os.PathLike | BinaryIO, meta: dict, arrays: dict[str, np.ndarray]) -> Path | BinaryIO:
    """Write a model archive of metadata and named arrays, atomically.

    The archive is written to a temporary file in the same folder and
    renamed over ``path`` only when complete, so an existing model is never
    left half-written; to a file object it is written directly, as
    ``numpy.save`` writes.  It holds no pickles: ``numpy.load`` reads it with
    ``allow_pickle=False`` (the layout is in this module's docstring).
    Estimators make ``meta`` and ``arrays`` of themselves
    (``MLPClassifier.save``, ``Ensemble.save``).

    Parameters
    ----------
    path : str, path-like or binary file object
        The file; ``.npz`` is appended to a path if missing.  A file
        object (anything with ``write``, such as ``io.BytesIO()``) gets
        the archive at its current position, not atomically.
    meta : dict
        The metadata; "format" is set here.
    arrays : dict of str to numpy.ndarray
        The weights and biases, named by :func:`array_names`.

    Returns
    -------
    pathlib.Path or binary file object
        The path written, or the file object itself.

    Raises
    ------
    OutputError
        Naming the path (or the file object, see :func:`name_of`): a folder
        in its place, no permission, a read-only or full file system, a
        file object that cannot be written; or arrays larger than
        :func:`read_archive` reads back (``config.MAX_MODEL_BYTES``),
        before anything is written.

    Examples
    --------
    >>> import numpy as np
    >>> from fastdigits import persist
    >>> meta = {"version": 1, "layer_sizes": [2, 2], "classes": [0, 1], "params": {}}
    >>> path = persist.write_archive("tiny", meta, {"weights_0": np.eye(2), "biases_0": np.zeros(2)})
    >>> print(path, sorted(persist.read_archive(path)[1]))
    tiny.npz ['biases_0', 'meta', 'weights_0']
    >>> import io
    >>> buffer = persist.write_archive(io.BytesIO(), meta, {"weights_0": np.eye(2), "biases_0": np.zeros(2)})
    >>> sorted(persist.read_archive(io.BytesIO(buffer.getvalue()))[1])
    ['biases_0', 'meta', 'weights_0']
    """
    if hasattr(path, "write"):  # a file object, as numpy.save takes: no suffix, no rename
        contents = _contents(meta, arrays)
        try:
            np.savez_compressed(path, **contents)
        except (OSError, ValueError, TypeError) as exc:  # read-only or closed, or a text file
            raise OutputError(f"{name_of(path)}: cannot write the model to this file object "
                              f"({type(exc).__name__}: {exc}); pass a writable binary file") from None
        return path
    if Path(path).is_dir():  # "models/" means a folder, not "models.npz" beside it
        raise OutputError(f"{path}: is a folder; name a file to save the model to")
    path = model_path(path)
    contents = _contents(meta, arrays)
    try:
        with atomic_open(path) as fh:
            np.savez_compressed(fh, **contents)
    except IsADirectoryError:
        raise OutputError(f"{path}: is a folder; name a file to save the model to") from None
    except OSError as exc:
        raise OutputError(f"{path}: cannot save the model there ({exc.strerror or exc})") from None
    return path


def _contents(meta: dict, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """What :func:`write_archive` writes: ``arrays`` and the metadata as
    JSON, once their size is checked (``read_archive`` would refuse more)."""
    check_size(sum(a.nbytes for a in arrays.values()), f"{len(arrays)} arrays")
    return {**arrays, "meta": np.array(json.dumps({"format": FORMAT, **jsonable(meta)}))}


def name_of(file: str | os.PathLike | BinaryIO) -> Path | str:
    """What messages call a model file: its path, a file object's ``name``
    (an open file's path), or ``<model bytes>`` for one without (``io.BytesIO``)."""
    if not (hasattr(file, "read") or hasattr(file, "write")):
        return Path(file)
    name = getattr(file, "name", None)
    return os.fsdecode(name) if isinstance(name, (str, bytes, os.PathLike)) else "<model bytes>"


def check_size(nbytes: int, what: str) -> None:
    """Refuse arrays larger than :func:`read_archive` reads back.

    Parameters
    ----------
    nbytes : int
        Bytes of the arrays.
    what : str
        Words for them, for the message ("4 x 400-800-10").

    Raises
    ------
    OutputError
        If ``nbytes`` exceeds ``config.MAX_MODEL_BYTES``.

    Examples
    --------
    >>> from fastdigits import persist
    >>> persist.check_size(10**6, "400-256-10")
    """
    if nbytes > config.MAX_MODEL_BYTES:
        raise OutputError(f"a model of {nbytes:,} bytes ({what}) is larger than fastdigits reads back "
                          f"(config.MAX_MODEL_BYTES, {config.MAX_MODEL_BYTES:,}); make it smaller or raise "
                          "the limit where it is read")


def model_path(path: str | os.PathLike) -> Path:
    """The file a model asked for at ``path`` is written to.

    Parameters
    ----------
    path : str or path-like
        As given to ``save``.

    Returns
    -------
    pathlib.Path
        ``path``, with ``.npz`` appended unless it ends so.

    Examples
    --------
    >>> from fastdigits.persist import model_path
    >>> print(model_path("digits"), model_path("digits.npz"))
    digits.npz digits.npz
    """
    path = Path(path)
    return path if path.suffix == ".npz" else path.with_name(path.name + ".npz")


#: The model shipped in the package (see fastdigits/models/README.md).
SHIPPED_MODEL = Path(__file__).parent / "models" / "digits.npz"


def read_archive(path: str | os.PathLike | BinaryIO | None = None) -> tuple[dict, dict[str, np.ndarray]]:
    """The metadata and arrays of a model file, checked.

    Nothing in the file is unpickled, and its arrays' headers are checked
    against one another and ``config.MAX_MODEL_BYTES`` before anything
    large is read, so a hostile file is refused rather than run or allowed
    to exhaust memory.

    Parameters
    ----------
    path : str, path-like or binary file object, optional
        The model file, or a readable, seekable binary file object holding
        one (anything with ``read``, such as ``io.BytesIO(data)``), read
        as ``numpy.load`` reads it and checked alike; default: the digit
        model shipped in the package (:data:`SHIPPED_MODEL`).

    Returns
    -------
    meta : dict
        The JSON metadata, of a known format and version.
    arrays : dict of str to numpy.ndarray
        The weights and biases its layer sizes call for, shapes checked.

    Raises
    ------
    ModelFileError
        Naming the file (a file object by :func:`name_of`): missing, not a
        fastdigits model, truncated, of an unknown format version, holding
        object arrays or inconsistent shapes; a file object that is closed,
        in text mode or cannot seek.

    Examples
    --------
    >>> from fastdigits import persist
    >>> meta, arrays = persist.read_archive()  # the shipped model
    >>> meta["version"], len(meta["members"]), arrays["member0_weights_0"].shape
    (2, 4, (400, 800))
    >>> import io
    >>> persist.read_archive(io.BytesIO(b"not a model"))
    Traceback (most recent call last):
    ...
    fastdigits.errors.ModelFileError: <model bytes>: not a fastdigits model file (model files are .npz archives)
    """
    path = SHIPPED_MODEL if path is None else path if hasattr(path, "read") else Path(path)
    name = name_of(path)
    try:
        if isinstance(path, Path):
            if path.is_file() and not zipfile.is_zipfile(path):  # a picture, a text, a bare .npy array
                with open(path, "rb") as f:
                    raise _not_a_zip(f, name)
        else:
            _check_file_object(path, name)
            start = path.tell()
            if not zipfile.is_zipfile(path):  # which reads from the end
                path.seek(start)
                raise _not_a_zip(path, name)
        arrays = _read_arrays(path, name)
    except FileNotFoundError:
        raise ModelFileError(f"{name}: no such model file") from None
    except IsADirectoryError:
        raise ModelFileError(f"{name}: is a folder, not a model file") from None
    except PermissionError:
        raise ModelFileError(f"{name}: no permission to read it") from None
    except (OSError, zipfile.BadZipFile, EOFError, ValueError, zlib.error, RuntimeError, OverflowError) as exc:
        # RuntimeError: an encrypted entry; NotImplementedError (a RuntimeError): an unknown compression.
        # numpy's own words may advise allow_pickle=True: never pass that on.
        raise ModelFileError(f"{name}: not a fastdigits model file, or a damaged one "
                             f"({type(exc).__name__} reading it)") from None
    if not isinstance(arrays, dict) or "meta" not in arrays:
        raise ModelFileError(f"{name}: not a fastdigits model (no metadata)")
    try:
        meta = json.loads(str(arrays["meta"]))
    except (json.JSONDecodeError, TypeError):
        raise ModelFileError(f"{name}: metadata is not valid JSON") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelFileError(f"{name}: not a fastdigits model")
    version = meta.get("version")
    if version not in VERSIONS:
        raise ModelFileError(f"{name}: model format version {version!r}; this fastdigits reads "
                             f"{' and '.join(map(str, VERSIONS))}")
    return meta, arrays


def _check_file_object(file: BinaryIO, name: str) -> None:
    """Refuse a file object that no model can be read from, saying why
    (rather than calling it a damaged model)."""
    if getattr(file, "closed", False):
        why = "it is closed"
    elif isinstance(file, io.TextIOBase):
        why = "it is open in text mode; open the file with 'rb'"
    elif not (hasattr(file, "seek") and getattr(file, "seekable", lambda: True)()):
        why = "it cannot seek, and a zip archive is read from its end; read its bytes into io.BytesIO first"
    else:
        return
    raise ModelFileError(f"{name}: cannot read a model from this file object ({why})")


def _not_a_zip(f: BinaryIO, name: Path | str) -> ModelFileError:
    """The error for a file that is no zip archive, read from its start
    ``f``: one cut short still starts as one."""
    damaged = f.read(2) == b"PK"
    return ModelFileError(f"{name}: " + ("a truncated or damaged .npz archive" if damaged else
                                         "not a fastdigits model file (model files are .npz archives)"))


def _read_arrays(path: Path | BinaryIO, file_name: Path | str) -> dict[str, np.ndarray]:
    """The arrays of a model archive, read only once every array's header
    has been checked against the others, the zip's own sizes, the layer
    sizes in the metadata and ``config.MAX_MODEL_BYTES``: a file that
    declares a huge array, or inflates far beyond its size, is refused
    before anything large is allocated or decompressed.

    Raises ``ModelFileError`` naming the file (as ``file_name``) and the
    array at fault; ``OSError``, ``zipfile.BadZipFile`` and ``ValueError``
    from damaged data are the caller's to word."""
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
        if len(infos) > config.MAX_MODEL_ARRAYS:
            raise ModelFileError(f"{file_name}: not a fastdigits model file ({len(infos):,} entries in the archive)")
        headers, total = {}, 0
        for info in infos:
            name = info.filename.removesuffix(".npy")
            if name == info.filename:
                raise ModelFileError(f"{file_name}: not a fastdigits model file (it holds {info.filename!r})")
            with archive.open(info) as f:
                try:
                    version = np.lib.format.read_magic(f)
                    read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                                   else np.lib.format.read_array_header_2_0)
                    shape, _, dtype = read_header(f)
                except (SyntaxError, tokenize.TokenError, TypeError, KeyError):  # numpy parses the header as Python
                    raise ModelFileError(f"{file_name}: a damaged model file "
                                         f"(array {name!r} has a damaged header)") from None
                offset = f.tell()
            if dtype.hasobject:
                raise ModelFileError(f"{file_name}: not a fastdigits model file (array {name!r} holds Python objects)")
            declared = math.prod(shape) * dtype.itemsize  # Python integers: no overflow
            if offset + declared != info.file_size:
                raise ModelFileError(f"{file_name}: a damaged model file (array {name!r} declares {shape} {dtype}, "
                                     f"{declared:,} bytes, but its entry holds {info.file_size - offset:,})")
            total += declared
            if total > config.MAX_MODEL_BYTES:
                raise ModelFileError(f"{file_name}: declares more than {config.MAX_MODEL_BYTES:,} bytes of arrays "
                                     f"(array {name!r}: {shape} {dtype}); not read")
            headers[name] = (info, shape, dtype)
        if "meta" not in headers or headers["meta"][2].kind != "U" or headers["meta"][1] != ():
            raise ModelFileError(f"{file_name}: not a fastdigits model (no metadata)")

        def read(name: str) -> np.ndarray:
            with archive.open(headers[name][0]) as f:
                return np.lib.format.read_array(f, allow_pickle=False)

        arrays = {"meta": read("meta")}
        expected = _declared_shapes(arrays["meta"])
        for name, (shape, what) in expected.items():
            if name in headers and headers[name][1] != shape:
                raise ModelFileError(f"{file_name}: {what} {headers[name][1]}, expected {shape} from the layer sizes "
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
                w_name, b_name = array_names(member, i)
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


@dataclass
class Network:
    """One network of a model file, checked against its metadata.

    Parameters
    ----------
    weights : list of numpy.ndarray
        (n_in, n_out) per layer.
    biases : list of numpy.ndarray
        (n_out,) per layer.
    params : dict
        Hyperparameters under today's names, "preprocessing" made an
        object.
    history : list of dict
        The per-epoch records.

    Examples
    --------
    >>> from fastdigits import persist
    >>> meta, arrays = persist.read_archive()
    >>> net = persist.read_network(persist.SHIPPED_MODEL, meta["members"][0], arrays, member=0)
    >>> [w.shape for w in net.weights], net.params["hidden_layer_sizes"]
    ([(400, 800), (800, 10)], (800,))
    """

    weights: list[np.ndarray]  #: (n_in, n_out) per layer
    biases: list[np.ndarray]  #: (n_out,) per layer
    params: dict  #: hyperparameters under today's names; "preprocessing" made an object
    history: list  #: the per-epoch records


def read_network(path: Path | str, entry: dict, arrays: dict[str, np.ndarray], member: int | None = None) -> Network:
    """One network of a file read by :func:`read_archive`, checked.

    Parameters
    ----------
    path : pathlib.Path or str
        The file, for messages (a file object's :func:`name_of`).
    entry : dict
        The network's metadata: the file's (one network) or one of its
        "members".
    arrays : dict of str to numpy.ndarray
        The file's arrays.
    member : int, optional
        Which member of an ensemble (None: a one-network file).

    Returns
    -------
    Network

    Raises
    ------
    ModelFileError
        Naming the file (and the member): missing entries, layer sizes that
        are not whole positive numbers, arrays of other shapes or not of
        floats, a preprocessing that cannot be read.

    Examples
    --------
    See :class:`Network`.
    """
    from .preprocess import as_preprocessing

    which = "" if member is None else f"member {member}, "
    try:
        sizes = _layer_sizes(entry["layer_sizes"])
    except (KeyError, TypeError) as exc:
        raise ModelFileError(f"{path}: incomplete model file (missing {exc})") from None
    except ValueError as exc:
        raise ModelFileError(f"{path}: {which}{exc}") from None
    try:
        names = [array_names(member, i) for i in range(len(sizes) - 1)]
        weights = [arrays[w_name] for w_name, _ in names]
        biases = [arrays[b_name] for _, b_name in names]
        params = dict(entry["params"])
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
    params["hidden_layer_sizes"] = tuple(sizes[1:-1])  # the layer sizes say it
    try:
        params["preprocessing"] = as_preprocessing(params.get("preprocessing", "scale")) or "scale"
    except (TypeError, ValueError) as exc:
        raise ModelFileError(f"{path}: inconsistent model file ({which}{exc})") from None
    return Network(weights, biases, params, list(entry.get("history", [])))
