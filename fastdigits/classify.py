"""Classify many pictures: find files, decode them in parallel, predict in
batches, one result per picture in a stable order.

Memory does not grow with the number of files: files are decoded and
classified a batch at a time.  A file that cannot be read yields a result
with its error, and the others go on.  A picture with nothing to read (no
ink) yields a result with no label and the note :data:`NO_INK`.
"""

from __future__ import annotations

import glob
import os
import shutil
from pathlib import Path, PurePosixPath
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from . import config
from .data import IMAGE_EXTENSIONS, NO_INK, _fsspec, _natural_key, _read_image, is_url
from .errors import DataError, FastDigitsError, InputError

if TYPE_CHECKING:  # pragma: no cover
    from .ensemble import Ensemble
    from .model import MLPClassifier

__all__ = ["BLANK_FOLDER", "NO_INK", "Result", "classify_files", "classify_images", "find_images", "sort_into"]

# NO_INK (from .data): the note of a picture that has nothing to read (a
# blank, white, black or grey page): it gets no label rather than the
# network's guess.  load_image_folder skips such pictures with this reason.
#: The sub-folder of ``sort_into``'s folder where pictures without ink go.
BLANK_FOLDER = "_blank"


@dataclass(eq=False)
class Result:
    """The answer for one picture: a label, no label (no ink) or an error.

    A picture read fine has a ``label`` and its probabilities, or, when it
    has nothing to read, no label and a ``note`` saying so; a file that
    could not be read or classified has an ``error``.

    Results compare by identity (``eq=False``): field-wise ``==`` would
    compare the ``probabilities`` arrays, whose truth is ambiguous.
    Compare the fields themselves.

    Parameters
    ----------
    path : str, optional
        The file; None for a picture given as an array.
    label : object, optional
        The most probable class, a value of the model's ``classes_`` (a
        Python scalar: ``7``, not ``numpy.int64(7)``).
    probability : float, optional
        The model's probability for ``label``, in [0, 1].
    probabilities : numpy.ndarray, shape (n_classes,), optional
        One per class, in the model's ``classes_`` order.
    error : str, optional
        Why the file could not be read or classified, naming it.
    note : str, optional
        Why a picture read fine has no label: :data:`NO_INK`.

    Examples
    --------
    >>> from fastdigits.classify import NO_INK, Result
    >>> Result("scan.png", note=NO_INK).blank
    True
    >>> Result("scan.png", error="scan.png: no such file").ok
    False
    """

    path: str | None = None  #: the file; None for a picture given as an array
    label: object = None
    probability: float | None = None
    probabilities: np.ndarray | None = None  #: one per class, in the model's ``classes_`` order
    error: str | None = None
    note: str | None = None  #: why a picture read fine has no label: :data:`NO_INK`

    @property
    def ok(self) -> bool:
        """True without an error: the picture was read and answered (perhaps with no label)."""
        return self.error is None

    @property
    def blank(self) -> bool:
        """True when the picture was read fine and has nothing to read: no label."""
        return self.ok and self.note == NO_INK


def find_images(paths: Iterable[str | os.PathLike]) -> tuple[list[Path | str], list[Result]]:
    """Expand files, folders and glob patterns into the picture files they name.

    In the order given, each file once; a folder's pictures (recursively,
    names ending in :data:`fastdigits.data.IMAGE_EXTENSIONS`) and a
    pattern's matches (``**`` recursive) in natural order ("2" before
    "10").  A file named outright is kept whatever its name.  Other files in
    a folder are passed over; a symbolic link to nothing that has a
    picture's name is kept, so that reading it gives its own error.  Strings that
    are fsspec URLs (``s3://bucket/scans/``, ``gs://b/**/*.png``,
    ``file:///data/a.png``) are expanded the same way in their storage
    when fsspec is installed.

    Parameters
    ----------
    paths : iterable of str or path-like
        Files, folders and glob patterns, local or URLs.

    Returns
    -------
    files : list of pathlib.Path or str
        The files found: a ``pathlib.Path`` for a local one, a URL string
        with its protocol (``s3://bucket/scans/a.png``) for one in a
        storage.
    missing : list of Result
        One per path that named nothing (no such file, an empty folder, a
        pattern without matches), with its ``error``; also a URL without
        fsspec installed, or whose storage failed.

    Examples
    --------
    >>> from pathlib import Path
    >>> from fastdigits.classify import find_images
    >>> Path("scans/old").mkdir(parents=True)
    >>> for name in ("scans/10.png", "scans/2.png", "scans/old/1.jpg", "scans/notes.txt"):
    ...     _ = Path(name).write_bytes(b"")
    >>> files, missing = find_images(["scans", "nowhere/*.png"])
    >>> [str(f) for f in files]
    ['scans/2.png', 'scans/10.png', 'scans/old/1.jpg']
    >>> [r.error for r in missing]
    ['nowhere/*.png: no file matches']
    """
    files: list[Path | str] = []
    missing: list[Result] = []
    seen: set[Path | str] = set()

    def add(p: Path | str) -> None:
        if p not in seen:
            seen.add(p)
            files.append(p)

    for raw in paths:
        if is_url(raw):
            found, error = _url_images(raw)
            if error is not None:
                missing.append(Result(raw, error=error))
            for f in found:
                add(f)
            continue
        p = Path(raw)
        if p.is_dir():
            named = [f for f in p.rglob("*") if f.suffix.lower() in IMAGE_EXTENSIONS]
            found = [f for f in named if f.is_file()]
            broken = [f for f in named if _broken_link(f)]
            if not found and not broken:
                missing.append(Result(str(raw), error=_no_pictures(raw)))
            for f in sorted(found + broken, key=lambda f: _natural_key(str(f.relative_to(p)))):
                add(f)
        elif p.is_file() or _broken_link(p):
            add(p)
        elif glob.has_magic(str(raw)):
            matches = sorted(glob.glob(str(raw), recursive=True), key=_natural_key)
            matches = [Path(m) for m in matches if Path(m).is_file() or _broken_link(Path(m))]
            if not matches:
                missing.append(Result(str(raw), error=f"{raw}: no file matches"))
            for m in matches:
                add(m)
        else:
            missing.append(Result(str(raw), error=f"{raw}: no such file or folder"))
    return files, missing


def _broken_link(path: Path) -> bool:
    """A symbolic link to nothing: kept among the files found, so that
    reading it fails with its own error row rather than the picture
    going missing without a word."""
    return path.is_symlink() and not path.exists()


def _no_pictures(path: str | os.PathLike) -> str:
    return f"{path}: no pictures found (looked for {', '.join(sorted(IMAGE_EXTENSIONS))})"


def _url_images(url: str) -> tuple[list[str], str | None]:
    """The picture files that ``url`` names, as :func:`find_images` expands
    a local path (a folder, a file, a pattern), as URLs with their
    protocol; or none and why, naming ``url``."""
    try:
        fs, path = _fsspec(url).core.url_to_fs(url)
        try:
            info = fs.info(path)
        except FileNotFoundError:
            info = None
        if info is not None and info.get("type") == "directory":
            found = [p for p, i in fs.find(path, detail=True).items()
                     if i.get("type") == "file" and PurePosixPath(p).suffix.lower() in IMAGE_EXTENSIONS]
            error = None if found else _no_pictures(url)
        elif info is not None:
            found, error = [path], None
        elif glob.has_magic(url):
            found = [p for p, i in fs.glob(path, detail=True).items() if i.get("type") == "file"]
            error = None if found else f"{url}: no file matches"
        else:
            found, error = [], f"{url}: no such file or folder"
        # A folder's files share its prefix: their natural order is that of their paths inside it.
        return [fs.unstrip_protocol(p) for p in sorted(found, key=_natural_key)], error
    except DataError as exc:  # no fsspec
        return [], str(exc)
    except Exception as exc:  # a storage's own errors: no credentials, network, a missing s3fs
        return [], f"{url}: cannot read ({type(exc).__name__}: {exc})"


def _decode(path: Path | str, name: str | None = None) -> np.ndarray | str:
    """The grey picture at ``path`` (a local file or a URL), or the error,
    naming ``name`` (default: ``path``): never an exception."""
    try:
        return _read_image(path, name)
    except FastDigitsError as exc:
        return str(exc)
    except Exception as exc:  # a decoder bug must not stop a batch of thousands
        return f"{path if name is None else name}: cannot decode ({type(exc).__name__}: {exc})"


def classify_images(model: MLPClassifier | Ensemble, images: ArrayLike) -> list[Result]:
    """Classify pictures given as arrays, telling blank ones apart.

    Parameters
    ----------
    model : MLPClassifier or Ensemble
        A trained model (``fastdigits.load_model()`` for digits).
    images : array_like (N, H, W), or a sequence of (H, W) arrays
        Grey pictures of any size, uint8 or float (see
        :func:`fastdigits.preprocess.normalize`).  One picture is a batch of
        one: ``[img]``.

    Returns
    -------
    list of Result, one per picture, in order (empty for no pictures)
        ``path`` None; ``label``, ``probability`` and ``probabilities``
        for a picture with ink; for one without (a blank, white, black or
        grey page), ``label``, ``probability`` and ``probabilities`` None
        and ``note`` :data:`NO_INK` (``Result.blank`` is True).

    Raises
    ------
    InputError
        For a bare 2-D array or images that are not numeric arrays.

    Examples
    --------
    >>> import numpy as np
    >>> from fastdigits import classify_images, load_model
    >>> one = np.full((28, 28), 255, np.uint8)
    >>> one[4:24, 12:16] = 0
    >>> blank = np.full((28, 28), 255, np.uint8)
    >>> first, second = classify_images(load_model(), [one, blank])
    >>> first.label, first.probability > 0.9
    (1, True)
    >>> second.label, second.note, second.blank
    (None, 'no ink found', True)
    """
    if len(images) == 0 and np.ndim(images) != 2:
        return []  # no pictures, no answers: [] and an (0, H, W) array alike
    return _answers(model, images, None)


def _answers(model, images, paths: Sequence[str] | None) -> list[Result]:
    """A Result per picture: the one place where a picture without ink is
    answered with :data:`NO_INK` instead of the network's guess."""
    rows, ink = model.prepare(images, return_ink=True)
    proba = iter(model.predict_proba(rows[ink]) if ink.any() else ())
    classes = model.classes_
    results = []
    for i, has_ink in enumerate(ink.tolist()):
        path = None if paths is None else str(paths[i])
        if not has_ink:
            results.append(Result(path, note=NO_INK))
            continue
        p = next(proba)
        best = int(np.argmax(p))
        label = classes[best].item() if hasattr(classes[best], "item") else classes[best]
        results.append(Result(path, label=label, probability=float(p[best]), probabilities=p))
    return results


def classify_files(
    model: MLPClassifier | Ensemble,
    files: Sequence[Path | str],
    *,
    batch_size: int = config.CLASSIFY_BATCH,
    workers: int | None = None,
    names: Sequence[str] | None = None,
) -> Iterator[Result]:
    """Classify picture files, a batch at a time, yielding a :class:`Result` for each in order.

    Files are decoded by ``workers`` threads (Pillow decodes without the
    GIL), prepared by the model's own pipeline and classified a batch at a
    time, so memory does not grow with the number of files.  A picture
    without ink gets no label and the note :data:`NO_INK`, as in
    :func:`classify_images`; a file that cannot be read or classified gets
    its ``error`` and the others go on.

    Parameters
    ----------
    model : MLPClassifier or Ensemble
        A trained model (``fastdigits.load_model()`` for digits).
    files : sequence of pathlib.Path or str
        The pictures, e.g. :func:`find_images`' files (URL strings too).
    batch_size : int
        Files decoded and classified together (default
        ``config.CLASSIFY_BATCH``).
    workers : int, optional
        Decoding threads; default: the CPUs available.
    names : sequence of str, optional
        What each result's ``path`` and error name, one per file (default:
        the file as given): a Dask worker opens ``/data/scans/a.png`` for
        a client's ``scans/a.png``.

    Yields
    ------
    Result
        One per file, in the order of ``files``, with its ``path`` (its
        ``names`` entry).

    Raises
    ------
    InputError
        If ``names`` is not one per file.

    Examples
    --------
    >>> import numpy as np
    >>> from pathlib import Path
    >>> from PIL import Image
    >>> from fastdigits import load_model
    >>> from fastdigits.classify import classify_files
    >>> one = np.full((28, 28), 255, np.uint8)
    >>> one[4:24, 12:16] = 0
    >>> Image.fromarray(one).save("one.png")
    >>> _ = Path("notes.png").write_text("not a picture")
    >>> for result in classify_files(load_model(), [Path("one.png"), Path("notes.png")]):
    ...     print(result.path, result.label, result.error)
    one.png 1 None
    notes.png None notes.png: not a readable image (...)
    """
    workers = workers or config.default_threads()
    names = [str(f) for f in files] if names is None else list(names)
    if len(names) != len(files):
        raise InputError(f"{len(names)} names for {len(files)} files")
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for lo in range(0, len(files), batch_size):
            chunk, called = files[lo : lo + batch_size], names[lo : lo + batch_size]
            decoded = list(pool.map(_decode, chunk, called))
            good = [i for i, d in enumerate(decoded) if not isinstance(d, str)]
            answers = iter(_answers_or_errors(model, [decoded[i] for i in good], [called[i] for i in good]))
            for name, d in zip(called, decoded):
                yield Result(name, error=d) if isinstance(d, str) else next(answers)


def _answers_or_errors(model, images: list[np.ndarray], paths: list[str]) -> list[Result]:
    """``_answers`` for a batch; if the batch fails, image by image so that
    one bad image costs only its own result."""
    if not images:
        return []
    try:
        return _answers(model, images, paths)
    except Exception:
        out = []
        for image, path in zip(images, paths):
            try:
                out.extend(_answers(model, [image], [path]))
            except Exception as exc:
                out.append(Result(str(path), error=f"{path}: cannot classify ({type(exc).__name__}: {exc})"))
        return out


#: Names that Windows reserves for devices, in any case and with any suffix.
_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}


def folder_name(label: object) -> str:
    """A class name made safe as one folder name: path separators, NUL
    and other control characters become ``_``; ``.``, ``..``, an empty
    name and names Windows reserves (CON, NUL, COM1, ...) get a leading
    ``_``.  So a model whose class is ``../../x`` sorts into ``.._.._x``,
    inside the sort folder."""
    name = "".join("_" if ch in "/\\" or ord(ch) < 32 else ch for ch in str(label))
    if name in ("", ".", "..") or name.split(".")[0].upper() in _RESERVED:
        name = "_" + name
    return name


def sort_into(result: Result, folder: str | os.PathLike, *, move: bool = False) -> Path:
    """Copy (or move) a classified file into a sub-folder named after its label.

    The sub-folder is ``folder/<label>/`` (the label made a safe folder
    name: no path separators or control characters, nor a name Windows
    reserves), or ``folder/_blank/`` (:data:`BLANK_FOLDER`) when the
    picture has no ink.  Nothing is overwritten: a clashing name gets
    ``-1``, ``-2``... before its suffix.

    Parameters
    ----------
    result : Result
        A result of :func:`classify_files`, read fine.
    folder : str or path-like
        Where the class folders are made (created as needed).
    move : bool
        Move the file instead of copying it.

    Returns
    -------
    pathlib.Path
        The file's new path.

    Raises
    ------
    InputError
        For a result with an error or without a file, a URL (only local
        files are sorted), or a class folder that a link leads outside
        ``folder``.

    Examples
    --------
    >>> from pathlib import Path
    >>> from fastdigits.classify import NO_INK, Result, sort_into
    >>> _ = Path("scan.png").write_bytes(b"")
    >>> print(sort_into(Result("scan.png", label=7), "sorted"))
    sorted/7/scan.png
    >>> print(sort_into(Result("scan.png", label=7), "sorted"))
    sorted/7/scan-1.png
    >>> print(sort_into(Result("scan.png", note=NO_INK), "sorted"))
    sorted/_blank/scan.png
    """
    if not result.ok or result.path is None:
        raise InputError(f"only a file read fine can be sorted; got {result.path!r} with error {result.error!r}")
    if is_url(result.path):
        raise InputError(f"{result.path}: a URL; only local files can be sorted into a folder")
    source = Path(result.path)
    target_dir = Path(folder) / (BLANK_FOLDER if result.blank else folder_name(result.label))
    if not target_dir.resolve().is_relative_to(Path(folder).resolve()):  # a link inside leading out
        raise InputError(f"{target_dir} lies outside {folder}: not sorting {source} there")
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / source.name
    n = 0
    while target.exists():
        n += 1
        target = target_dir / f"{source.stem}-{n}{source.suffix}"
    (shutil.move if move else shutil.copy2)(source, target)
    return target
