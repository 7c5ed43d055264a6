"""Classify many picture files: find them, decode in parallel, predict in
batches, one result per file in a stable order.

Memory does not grow with the number of files: files are decoded and
classified a batch at a time.  A file that cannot be read yields a result
with its error, and the others go on.
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
from .data import IMAGE_EXTENSIONS, _natural_key, read_image
from .errors import FastDigitsError

__all__ = ["Result", "classify_files", "find_images", "sort_into"]


@dataclass
class Result:
    """The answer for one file: a label and probabilities, or an error."""

    path: str
    label: object = None
    probability: float | None = None
    probabilities: np.ndarray | None = None  #: one per class, in the model's ``classes_`` order
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


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
    time.
    """
    workers = workers or config.default_threads()
    classes = model.classes_
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for lo in range(0, len(files), batch_size):
            chunk = files[lo : lo + batch_size]
            decoded = list(pool.map(_decode, chunk))
            good = [i for i, d in enumerate(decoded) if not isinstance(d, str)]
            proba = _predict(model, [decoded[i] for i in good], [chunk[i] for i in good])
            by_index = dict(zip(good, proba))
            for i, path in enumerate(chunk):
                p = by_index.get(i)
                if isinstance(decoded[i], str):
                    yield Result(str(path), error=decoded[i])
                elif isinstance(p, str):
                    yield Result(str(path), error=p)
                else:
                    best = int(np.argmax(p))
                    yield Result(str(path), label=classes[best].item() if hasattr(classes[best], "item")
                                 else classes[best], probability=float(p[best]), probabilities=p)


def _predict(model, images: list[np.ndarray], paths: list[Path]) -> list:
    """Probabilities per image; if the batch fails, image by image so that
    one bad image costs only its own result."""
    if not images:
        return []
    try:
        return list(model.predict_proba(images))
    except Exception:
        out = []
        for image, path in zip(images, paths):
            try:
                out.append(model.predict_proba([image])[0])
            except Exception as exc:
                out.append(f"{path}: cannot classify ({type(exc).__name__}: {exc})")
        return out


def sort_into(result: Result, folder: str | os.PathLike, *, move: bool = False) -> Path:
    """Copy (or move) a classified file into ``folder/<label>/``, never
    overwriting: a clashing name gets ``-1``, ``-2``... before its suffix."""
    source = Path(result.path)
    target_dir = Path(folder) / str(result.label)
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / source.name
    n = 0
    while target.exists():
        n += 1
        target = target_dir / f"{source.stem}-{n}{source.suffix}"
    (shutil.move if move else shutil.copy2)(source, target)
    return target
