"""Atomic file writing: a temporary file beside the target, renamed over it
only once complete, so a reader never sees a half-written file and a
failure leaves the old file (or nothing) behind."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from . import config
from .errors import OutputError

#: This machine, as temporaries' names give it: a shared file system holds other machines' too.
_HOST = hashlib.sha1(socket.gethostname().encode("utf-8", "surrogateescape")).hexdigest()[:8]

#: How ``atomic_open`` names its temporaries: ``.<target>.<host>-<pid>.<mkstemp's 8 characters>.part``.
_PART = re.compile(r"\..+\.([0-9a-f]{8})-(\d{1,10})\.[a-z0-9_]{8}\.part")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _alive(pid: int) -> bool:
    """Whether a process ``pid`` runs on this machine (True where that cannot be told)."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError, ValueError):  # gone, or a number no process can have
        return False
    except OSError:  # PermissionError: someone else's process
        return True
    return True


def _temporary(path: Path) -> tuple[int, str]:
    """A new temporary file beside ``path``, named as ``_PART`` says: (fd, name)."""
    return tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{_HOST}-{os.getpid()}.", suffix=".part")


def remove_stale_parts(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporaries that ``atomic_open`` left in ``folder`` when
    its process was killed mid-write: files named as it names them, made on
    this machine by a process that no longer runs and untouched for
    ``config.STALE_PART_SECONDS``, or untouched for a day whatever made them
    (another machine's, on a shared file system).  Nothing else is touched;
    errors are ignored.  Returns the paths removed."""
    now, removed = time.time(), []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = _PART.fullmatch(entry.name)
        if not match:
            continue
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            idle = now - entry.stat(follow_symlinks=False).st_mtime
            ours = match.group(1) == _HOST
            if idle > 86400 or (ours and idle > config.STALE_PART_SECONDS and not _alive(int(match.group(2)))):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            continue
    return removed


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """Open a temporary file for writing that becomes ``path`` when the
    block ends without an exception.  The file gets the permissions a
    plain ``open`` would give it (0666 less the umask), not mkstemp's 0600.
    Stale temporaries of earlier, killed writes to the same folder are
    removed first (``remove_stale_parts``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_parts(path.parent)
    fd, tmp = _temporary(path)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _why(exc: OSError, path: Path) -> str:
    """Why the folder ``path`` cannot be made or written into, in words: a
    file where a folder of its path should be, else the system's reason."""
    for folder in [path, *path.parents]:  # the nearest that exists
        if folder.exists():
            return f"{folder} is a file, not a folder" if not folder.is_dir() else exc.strerror or str(exc)
    return exc.strerror or str(exc)


def check_folder(path: str | os.PathLike, what: str) -> Path:
    """Raise ``OutputError`` naming ``path`` unless ``what`` can be written
    into the folder ``path`` now (made if missing; a temporary file created
    and removed in it); returns it as a Path.  Run before long work."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(f"{path}: is a file; name a folder for {what}")
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path, prefix=".fastdigits-", suffix=".check")
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write {what} there ({_why(exc, path)})") from None
    return path


def check_writable(path: str | os.PathLike, what: str = "the output") -> Path:
    """Raise ``OutputError`` naming ``path`` unless a file can be written
    there now (by ``atomic_open``: its folder made if missing, a
    temporary created and removed beside it); returns ``path`` as a Path.
    Run before long work whose result would otherwise be lost."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{path}: is a folder; name a file for {what}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = _temporary(path)
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write {what} there ({_why(exc, path.parent)})") from None
    return path
