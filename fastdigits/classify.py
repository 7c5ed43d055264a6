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
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import config
from .data import IMAGE_EXTENSIONS, NO_INK, _natural_key, read_image
from .errors import FastDigitsError, InputError

__all__ = ["BLANK_FOLDER", "NO_INK", "Result", "classify_files", "classify_images", "find_images", "sort_into"]

# NO_INK (from .data): the note of a picture that has nothing to read (a
# blank, white, black or grey page): it gets no label rather than the
# network's guess.  load_image_folder skips such pictures with this reason.
#: The sub-folder of ``sort_into``'s folder where pictures without ink go.
BLANK_FOLDER = "_blank"


@dataclass(eq=False)
class Result:
    """The answer for one picture: a label and probabilities; or no label
    and a ``note`` saying why (the picture has no ink); or an error (the
    file could not be read or classified).

    Results compare by identity (``eq=False``): field-wise ``==`` would
    compare the ``probabilities`` arrays, whose truth is ambiguous.
    Compare the fields themselves."""

    path: str | None = None  #: the file; None for a picture given as an array
    label: object = None
    probability: float | None = None
    probabilities: np.ndarray | None = None  #: one per class, in the model's ``classes_`` order
    error: str | None = None
    note: str | None = None  #: why a picture read fine has no label: :data:`NO_INK`

    @property
    def ok(self) -> bool:
        """No error: the picture was read and answered (perhaps with no label)."""
        return self.error is None

    @property
    def blank(self) -> bool:
        """The picture was read fine and has nothing to read: no label."""
        return self.ok and self.note == NO_INK


def find_images(paths: Iterable[str | os.PathLike]) -> tuple[list[Path], list[Result]]:
    """Expand files, folders (recursively, image files only) and glob
    patterns, in the order given; folder contents and glob matches in
    natural order.  Returns the files and a Result for each path that
    matched nothing."""
    files: list[Path] = []
    missing: list[Result] = []
    seen: set[Path] = set()

    def add(p: Path) -> None:
        if p not in seen:
            seen.add(p)
            files.append(p)

    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = [f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS]
            if not found:
                missing.append(Result(str(raw), error=f"{raw}: no pictures found (looked for "
                                                      f"{', '.join(sorted(IMAGE_EXTENSIONS))})"))
            for f in sorted(found, key=lambda f: _natural_key(str(f.relative_to(p)))):
                add(f)
        elif p.is_file():
            add(p)
        elif glob.has_magic(str(raw)):
            matches = sorted(glob.glob(str(raw), recursive=True), key=_natural_key)
            matches = [Path(m) for m in matches if Path(m).is_file()]
            if not matches:
                missing.append(Result(str(raw), error=f"{raw}: no file matches"))
            for m in matches:
                add(m)
        else:
            missing.append(Result(str(raw), error=f"{raw}: no such file or folder"))
    return files, missing


def _decode(path: Path) -> np.ndarray | str:
    try:
        return read_image(path)
    except FastDigitsError as exc:
        return str(exc)
    except Exception as exc:  # a decoder bug must not stop a batch of thousands
        return f"{path}: cannot decode ({type(exc).__name__}: {exc})"


def classify_images(model, images) -> list[Result]:
    """Classify pictures given as arrays, telling blank ones apart.

    Parameters
    ----------
    model : MLPClassifier
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
    """
    if len(images) == 0 and np.ndim(images) != 2:
        return []  # no pictures, no answers: [] and an (0, H, W) array alike
    return _answers(model, images, None)


def _answers(model, images, paths: Sequence[Path] | None) -> list[Result]:
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
    model,
    files: Sequence[Path],
    *,
    batch_size: int = config.CLASSIFY_BATCH,
    workers: int | None = None,
) -> Iterator[Result]:
    """Yield a :class:`Result` for each file, in order.

    Files are decoded by ``workers`` threads (Pillow decodes without the
    GIL), prepared by the model's own pipeline and classified a batch at a
    time.  A picture without ink gets no label and the note
    :data:`NO_INK`, as in :func:`classify_images`; a file that cannot be
    read or classified gets its ``error``.
    """
    workers = workers or config.default_threads()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for lo in range(0, len(files), batch_size):
            chunk = files[lo : lo + batch_size]
            decoded = list(pool.map(_decode, chunk))
            good = [i for i, d in enumerate(decoded) if not isinstance(d, str)]
            answers = iter(_answers_or_errors(model, [decoded[i] for i in good], [chunk[i] for i in good]))
            for path, d in zip(chunk, decoded):
                yield Result(str(path), error=d) if isinstance(d, str) else next(answers)


def _answers_or_errors(model, images: list[np.ndarray], paths: list[Path]) -> list[Result]:
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


def folder_name(label) -> str:
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
    """Copy (or move) a classified file into ``folder/<label>/``, or
    ``folder/_blank/`` (:data:`BLANK_FOLDER`) when it has no ink, never
    overwriting: a clashing name gets ``-1``, ``-2``... before its suffix.
    Returns the new path.

    Raises
    ------
    InputError
        For a result with an error or without a file."""
    if not result.ok or result.path is None:
        raise InputError(f"only a file read fine can be sorted; got {result.path!r} with error {result.error!r}")
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
