"""Data sets: IDX files, MNIST (local copy, cache or download), pictures
(local files, or fsspec URLs when fsspec is installed) and folders of
labelled images.

MNIST is looked for, in order, in the ``path`` given to :func:`load_mnist`,
in ``$FASTDIGITS_DATA``, and in the cache folder
(``$FASTDIGITS_CACHE`` or ``~/.cache/fastdigits/mnist``).  When none has it,
the four files are downloaded from public mirrors, checked against their
published SHA-256 and moved into the cache only once complete.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import io
import math
import os
import re
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from . import config
from ._io import atomic_open
from .errors import DataError, DownloadError

if TYPE_CHECKING:  # pragma: no cover
    from PIL.Image import Image

    from .preprocess import Normalization

__all__ = [
    "IMAGE_EXTENSIONS",
    "MNIST",
    "NO_INK",
    "LabelledImages",
    "download",
    "find_mnist",
    "flatten_alpha",
    "load_image_folder",
    "load_mnist",
    "read_idx",
    "read_image",
    "write_idx",
]

# IDX type codes (third byte of the magic number) and their big-endian dtypes.
_IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"

#: The four MNIST files and the SHA-256 of each, compressed and raw.
MNIST_FILES = {
    "train-images-idx3-ubyte": (
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    ),
    "train-labels-idx1-ubyte": (
        "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    ),
    "t10k-images-idx3-ubyte": (
        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    ),
    "t10k-labels-idx1-ubyte": (
        "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    ),
}

HOW_TO_GET_MNIST = (
    "MNIST not found: put the four files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
    "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz) in a folder and set "
    f"{config.DATA_ENV}=that/folder (or pass it as the data path), or connect to the network once so "
    "they can be downloaded"
)


# --------------------------------------------------------------------- IDX


def _read_bytes(path: Path) -> bytes:
    try:
        with open(path, "rb") as fh:
            head = fh.read(2)
            fh.seek(0)
            if head == _GZIP_MAGIC:
                with gzip.GzipFile(fileobj=fh) as gz:
                    return gz.read()
            return fh.read()
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a folder, expected an IDX file") from None
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise DataError(f"{path}: corrupt or truncated gzip data ({exc})") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None


#: Most dimensions an IDX header may declare (NumPy's arrays have at most 64;
#: MNIST's files have 1 and 3).
_IDX_MAX_DIMS = 32


def parse_idx(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decode the bytes of an IDX file (see :func:`read_idx`), naming it
    ``name`` in errors."""
    if len(data) < 4:
        raise DataError(f"{name}: {len(data)} bytes is too short for an IDX header")
    zero, code, ndim = data[0:2], data[2], data[3]
    if zero != b"\0\0" or code not in _IDX_DTYPES or ndim == 0:
        raise DataError(f"{name}: not an IDX file (magic number 0x{data[:4].hex()}; expected 0x0000TTNN)")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{name}: truncated header ({len(data)} bytes, {ndim} dimensions need {header})")
    if ndim > _IDX_MAX_DIMS:
        raise DataError(f"{name}: header declares {ndim} dimensions; fastdigits reads at most {_IDX_MAX_DIMS}")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = _IDX_DTYPES[code]
    expected = math.prod(shape) * dtype.itemsize  # Python integers: no wrap-around
    payload = len(data) - header
    if payload != expected:
        what = "truncated" if payload < expected else "has trailing bytes"
        raise DataError(
            f"{name}: {what}: header says shape {shape} of {dtype.name} ({expected} bytes), "
            f"file holds {payload} bytes of data"
        )
    arr = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return arr.astype(dtype.newbyteorder("="), copy=True)


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (raw or gzip-compressed) into a numpy array.

    The IDX format is the one MNIST is distributed in (LeCun, Cortes and
    Burges, http://yann.lecun.com/exdb/mnist/): a magic number whose third
    byte gives the dtype (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
    0x0D float32, 0x0E float64) and whose fourth the number of dimensions,
    then each dimension as a big-endian uint32, then the data.  MNIST's
    images are 0x0803 (uint8, 3-D) and its labels 0x0801 (uint8, 1-D).

    Parameters
    ----------
    path : str or path-like
        The file; gzip data (``.gz`` or not) is recognised by its first
        two bytes.

    Returns
    -------
    numpy.ndarray
        The header's shape and dtype, in native byte order.

    Raises
    ------
    DataError
        Naming the file: missing, wrong magic, truncated, trailing data or
        corrupt compression.

    Examples
    --------
    >>> import numpy as np
    >>> from fastdigits import read_idx
    >>> from fastdigits.data import write_idx
    >>> write_idx("labels-idx1-ubyte.gz", np.array([5, 0, 4], np.uint8))
    >>> read_idx("labels-idx1-ubyte.gz")
    array([5, 0, 4], dtype=uint8)
    """
    path = Path(path)
    return parse_idx(_read_bytes(path), str(path))


def write_idx(path: str | os.PathLike, array: ArrayLike, *, compress: bool | None = None) -> None:
    """Write an array as an IDX file, atomically (see :func:`read_idx`).

    Parameters
    ----------
    path : str or path-like
        The file to write; it is replaced only once complete.
    array : array_like
        Of dtype uint8, int8, int16, int32, float32 or float64, any shape
        (at least 1-D).
    compress : bool, optional
        Gzip the file; default: when ``path`` ends in ``.gz``.

    Raises
    ------
    DataError
        If IDX cannot store the array's dtype.

    Examples
    --------
    >>> import numpy as np
    >>> from fastdigits.data import read_idx, write_idx
    >>> write_idx("images-idx3-ubyte", np.zeros((2, 28, 28), np.uint8))
    >>> read_idx("images-idx3-ubyte").shape
    (2, 28, 28)
    """
    array = np.asarray(array)
    codes = {dt.newbyteorder("="): code for code, dt in _IDX_DTYPES.items()}
    code = codes.get(array.dtype.newbyteorder("="))
    if code is None:
        raise DataError(f"{path}: IDX cannot store dtype {array.dtype}")
    data = bytes([0, 0, code, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    data += array.astype(_IDX_DTYPES[code]).tobytes()
    path = Path(path)
    if compress if compress is not None else path.suffix == ".gz":
        data = gzip.compress(data, mtime=0)
    with atomic_open(path) as fh:
        fh.write(data)


# --------------------------------------------------------------- download


def _fetch_one(url: str, dest: Path, sha256: str, timeout: float) -> None:
    """Stream ``url`` into a temporary file beside ``dest``; rename it into
    place only if it is complete and its SHA-256 matches."""
    digest = hashlib.sha256()
    with atomic_open(dest) as fh, urllib.request.urlopen(url, timeout=timeout) as response:
        expected_len = response.headers.get("Content-Length")
        received = 0
        while chunk := response.read(1 << 16):
            fh.write(chunk)
            digest.update(chunk)
            received += len(chunk)
        if expected_len is not None and received != int(expected_len):
            raise DownloadError(f"transfer interrupted after {received} of {expected_len} bytes")
        if digest.hexdigest() != sha256:
            raise DownloadError(f"checksum mismatch: SHA-256 {digest.hexdigest()}, expected {sha256}")


def download(
    filename: str,
    sha256: str,
    dest_dir: str | os.PathLike,
    mirrors: Sequence[str] = config.MNIST_MIRRORS,
    *,
    timeout: float = config.DOWNLOAD_TIMEOUT,
) -> Path:
    """Download a file from the first mirror that serves it with the expected SHA-256.

    The file is written to a temporary name and renamed only once complete
    and verified, so an interrupted or corrupt download leaves nothing.

    Parameters
    ----------
    filename : str
        The file's name, appended to each mirror's URL and kept in
        ``dest_dir``.
    sha256 : str
        The expected SHA-256 of the file, 64 hexadecimal digits.
    dest_dir : str or path-like
        Folder to keep the file in (created if missing).
    mirrors : sequence of str
        Base URLs tried in order (default: ``config.MNIST_MIRRORS``).
    timeout : float
        Seconds to wait for a mirror before trying the next (default
        ``config.DOWNLOAD_TIMEOUT``).

    Returns
    -------
    pathlib.Path
        ``dest_dir / filename``.

    Raises
    ------
    DownloadError
        Listing what went wrong at each mirror.

    Examples
    --------
    >>> import hashlib
    >>> from pathlib import Path
    >>> from fastdigits.data import download
    >>> Path("mirror").mkdir()
    >>> _ = Path("mirror/notes.txt").write_bytes(b"hello")
    >>> sha = hashlib.sha256(b"hello").hexdigest()
    >>> print(download("notes.txt", sha, "cache", [Path("mirror").absolute().as_uri()]))
    cache/notes.txt
    """
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / filename
    failures = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + filename
        try:
            _fetch_one(url, dest, sha256, timeout)
            return dest
        except urllib.error.HTTPError as exc:
            failures.append(f"{url}: HTTP {exc.code} {exc.reason}")
        except urllib.error.URLError as exc:
            failures.append(f"{url}: {exc.reason}")
        except (http.client.HTTPException, OSError) as exc:
            failures.append(f"{url}: transfer failed ({type(exc).__name__}: {exc})")
        except DownloadError as exc:
            failures.append(f"{url}: {exc}")
    raise DownloadError(f"could not download {filename}: " + "; ".join(failures or ["no mirrors given"]))


# ------------------------------------------------------------------ MNIST


class MNIST(NamedTuple):
    """The MNIST data set: 28x28 uint8 images (ink high) and uint8 labels.

    A named tuple, as :func:`load_mnist` returns it.

    Parameters
    ----------
    train_images : numpy.ndarray of uint8, shape (60000, 28, 28)
        Training digits, grey levels 0..255, ink high.
    train_labels : numpy.ndarray of uint8, shape (60000,)
        Their digits, 0..9.
    test_images : numpy.ndarray of uint8, shape (10000, 28, 28)
        Test digits, written by other people than the training ones.
    test_labels : numpy.ndarray of uint8, shape (10000,)
        Their digits, 0..9.

    Examples
    --------
    >>> import numpy as np
    >>> from fastdigits.data import MNIST
    >>> d = MNIST(np.zeros((6, 28, 28), np.uint8), np.arange(6, dtype=np.uint8),
    ...           np.zeros((2, 28, 28), np.uint8), np.arange(2, dtype=np.uint8))
    >>> train_images, train_labels, test_images, test_labels = d
    >>> d.test_labels
    array([0, 1], dtype=uint8)
    """

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray


def _mnist_file(folder: Path, name: str) -> Path | None:
    for candidate in (folder / f"{name}.gz", folder / name):
        if candidate.is_file():
            return candidate
    return None


def _mnist_complete(folder: Path) -> bool:
    return all(_mnist_file(folder, name) for name in MNIST_FILES)


def find_mnist(path: str | os.PathLike | None = None) -> Path | None:
    """The folder that MNIST would be loaded from without downloading, or None.

    Parameters
    ----------
    path : str or path-like, optional
        A folder to look in first; then ``$FASTDIGITS_DATA``, then the
        cache folder (``config.cache_dir() / "mnist"``).

    Returns
    -------
    pathlib.Path or None
        The first of those holding all four files (``.gz`` or not); None
        when only the cache was looked in and lacks them.

    Raises
    ------
    DataError
        If ``path``, or a set ``$FASTDIGITS_DATA``, lacks any of the files:
        a folder asked for is an error rather than silently skipped.

    Examples
    --------
    >>> from pathlib import Path
    >>> from fastdigits.data import find_mnist
    >>> Path("empty").mkdir()
    >>> find_mnist("empty")
    Traceback (most recent call last):
    ...
    fastdigits.errors.DataError: empty (the data path) lacks MNIST files: train-images-idx3-ubyte, ...
    """
    for folder, origin in ((path, "the data path"), (os.environ.get(config.DATA_ENV), f"${config.DATA_ENV}")):
        if folder:
            folder = Path(folder).expanduser()
            if not _mnist_complete(folder):
                missing = [n for n in MNIST_FILES if not _mnist_file(folder, n)]
                raise DataError(f"{folder} ({origin}) lacks MNIST files: {', '.join(missing)}")
            return folder
    cached = config.cache_dir() / "mnist"
    return cached if _mnist_complete(cached) else None


def _verified(path: Path, name: str) -> np.ndarray:
    raw = _read_bytes(path)
    if hashlib.sha256(raw).hexdigest() != MNIST_FILES[name][1]:
        raise DataError(f"{path}: content does not match the published MNIST checksum (corrupt or modified copy)")
    return parse_idx(raw, str(path))


def load_mnist(
    path: str | os.PathLike | None = None,
    *,
    download_missing: bool = True,
    mirrors: Sequence[str] | None = None,
) -> MNIST:
    """Load MNIST: 60,000 training and 10,000 test digits.

    Looked for in ``path``, then ``$FASTDIGITS_DATA``, then the cache
    folder (see :func:`find_mnist`); downloaded into the cache when none has
    it.  MNIST is LeCun, Cortes and Burges' data set,
    http://yann.lecun.com/exdb/mnist/.

    Parameters
    ----------
    path : str or path-like, optional
        Folder holding the four files (``.gz`` or uncompressed).
    download_missing : bool
        When no local copy exists, download into the cache folder.
    mirrors : sequence of str, optional
        Base URLs to download from, tried in order (default:
        ``$FASTDIGITS_MNIST_MIRRORS`` or the public mirrors).

    Returns
    -------
    MNIST
        ``train_images`` (60000, 28, 28) uint8, ``train_labels`` (60000,)
        uint8, ``test_images`` (10000, 28, 28), ``test_labels`` (10000,).
        Every file's content is checked against its published SHA-256.

    Raises
    ------
    DataError
        If ``path`` or ``$FASTDIGITS_DATA`` lacks a file, a file does not
        match its published checksum or is not IDX, or no copy exists and
        ``download_missing`` is False.
    DownloadError
        If no copy exists and no mirror delivers the files; the message
        says how to provide them.

    Examples
    --------
    >>> from fastdigits import load_mnist
    >>> d = load_mnist()                                    # doctest: +SKIP
    >>> d.train_images.shape, d.train_labels[:5]            # doctest: +SKIP
    ((60000, 28, 28), array([5, 0, 4, 1, 9], dtype=uint8))
    """
    folder = find_mnist(path)
    if folder is None:
        if not download_missing:
            raise DataError(HOW_TO_GET_MNIST)
        folder = config.cache_dir() / "mnist"
        for name, (gz_sum, _) in MNIST_FILES.items():
            if _mnist_file(folder, name) is None:
                try:
                    download(f"{name}.gz", gz_sum, folder, mirrors or config.mnist_mirrors())
                except DownloadError as exc:
                    raise DownloadError(f"{HOW_TO_GET_MNIST}. ({exc})") from None
    arrays = [_verified(_mnist_file(folder, name), name) for name in MNIST_FILES]
    return MNIST(*arrays)


# ---------------------------------------------------------- image folders

#: The reason given for a picture that has nothing to read (a blank, white,
#: black or grey page): in ``load_image_folder``'s ``skipped`` and as the
#: note of ``fastdigits.classify``'s answers.
NO_INK = "no ink found"

#: File name endings read as images in folders.
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".pbm"})


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Decode an image file into an (H, W) uint8 grey array.

    Any format Pillow reads (PNG, JPEG, BMP, GIF, TIFF, WebP, PGM, ...).
    EXIF orientation is applied; 16-bit greys are scaled to 8 bits.  A
    picture with transparency (RGBA, LA, a palette with a transparent
    colour) is put on white or black, whichever is farther from what it
    shows (see :func:`flatten_alpha`): a white or light stroke on a
    transparent canvas (HTML canvas and signature-pad exports), which on
    white would vanish, reads as well as a dark one, and a light photo
    rotated with transparent corners gets a dark surround.

    Parameters
    ----------
    path : str or path-like
        The picture file; read whole into memory first (at most
        ``config.MAX_IMAGE_BYTES``), so a pipe works too.  A string may
        also be an fsspec URL (``s3://bucket/a.png``, ``gs://...``,
        ``file:///data/a.png``, ``memory://...``) when fsspec is
        installed; a ``pathlib.Path`` is always a local file.

    Returns
    -------
    numpy.ndarray of uint8, shape (H, W)
        Grey levels as Pillow's "L" mode gives them (0 black, 255 white),
        a new array.

    Raises
    ------
    DataError
        Naming the file or URL: missing, not an image, truncated or too
        large (more than ``config.MAX_IMAGE_PIXELS`` pixels, or
        ``config.MAX_IMAGE_BYTES`` bytes of file); a URL without fsspec
        installed, or whose storage fails (the exception's type named).

    Examples
    --------
    >>> from PIL import Image
    >>> from fastdigits import read_image
    >>> Image.new("RGB", (32, 24), "white").save("page.png")
    >>> image = read_image("page.png")
    >>> image.shape, image.dtype, int(image.max())
    ((24, 32), dtype('uint8'), 255)
    """
    return _read_image(path)


def _read_image(location: str | os.PathLike, name: str | None = None) -> np.ndarray:
    """:func:`read_image` of ``location`` (a local path or a URL), naming
    the picture ``name`` in every error (default: the location).

    So a worker that reads ``/abs/cwd/scans/a.png`` can report
    ``scans/a.png``, as the user spelled it."""
    from PIL import Image, ImageOps

    if name is None:
        name = location if is_url(location) else str(Path(location))
    try:
        with Image.open(io.BytesIO(_picture_bytes(location, name))) as img:
            if img.width * img.height > config.MAX_IMAGE_PIXELS:
                raise DataError(f"{name}: image too large ({img.width} x {img.height} pixels, "
                                f"more than {config.MAX_IMAGE_PIXELS:,}; a decompression bomb?)")
            img = ImageOps.exif_transpose(img)
            if img.mode == "F":  # 32-bit float: its values say its scale, as normalize reads floats
                from .preprocess import _input_range

                arr = np.asarray(img, dtype=np.float32)
                offset, scale = _input_range(arr[None])
                return np.clip((arr - offset[0]) * (scale[0] * 255.0), 0, 255).round().astype(np.uint8)
            if img.mode in ("I;16", "I;16B", "I;16L", "I"):
                arr = np.asarray(img, dtype=np.float64)
                top = 65535.0 if img.mode.startswith("I;16") else max(float(arr.max()), 1.0)
                return np.clip(arr * (255.0 / top), 0, 255).round().astype(np.uint8)
            if img.mode in ("P", "PA", "LA", "RGBA") or "transparency" in img.info:
                return flatten_alpha(img.convert("RGBA"))
            return np.asarray(img.convert("L"), dtype=np.uint8).copy()
    except FileNotFoundError:
        if not is_url(location) and os.path.islink(location):
            raise DataError(f"{name}: a link to {os.readlink(location)}, which does not exist") from None
        raise DataError(f"{name}: no such file") from None
    except Image.DecompressionBombError as exc:
        raise DataError(f"{name}: image too large ({exc})") from None
    except Image.UnidentifiedImageError:
        raise DataError(f"{name}: not a readable image (not a picture, or a format Pillow does not read)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise DataError(f"{name}: not a readable image ({exc})") from None


#: A URL's start: a scheme of two or more characters, a letter first, then
#: "://".  One letter is a Windows drive (``C:\x``, ``C://x``), not a scheme.
_URL_START = re.compile(r"[A-Za-z][A-Za-z0-9+.-]+://")


def is_url(text: object) -> bool:
    """True for a string that is a URL (``s3://bucket/a.png``, ``file:///x.png``).

    A scheme of two or more characters, a letter first, followed by
    ``://``: a Windows drive (``C:\\x``, ``C://x``) is not a URL, nor is a
    ``pathlib.Path`` (which would have collapsed the ``//`` anyway).

    >>> from pathlib import Path
    >>> is_url("s3://bucket/scans/"), is_url("C://scans"), is_url(Path("s3://x")), is_url("scans/a.png")
    (True, False, False, False)
    """
    return isinstance(text, str) and _URL_START.match(text) is not None


def _fsspec(name: str):
    """The fsspec module, which reads URLs; without it, a DataError naming
    ``name`` that says how to install it (fsspec is optional)."""
    try:
        import fsspec
    except ImportError:
        raise DataError(f"{name}: reading URLs needs fsspec, which is not installed (pip install fsspec)") from None
    return fsspec


def _picture_bytes(location: str | os.PathLike, name: str | None = None) -> bytes:
    """The bytes of the picture file or URL ``location``, read whole.

    Pictures are decoded from memory: Pillow asks its file for as many
    bytes as a chunk header declares, and a file object allocates them all
    at once (84 MB for a 43-byte PNG that declares them).  At most
    ``config.MAX_IMAGE_BYTES`` are read, counted while reading: a file may
    grow, and a pipe (``classify <(curl ...)``) or a device has no size.
    Errors name ``name`` (default: the location).  A local file's errors
    of ``open`` propagate (:func:`_read_image` words them); a URL's are
    DataErrors here: its storage may raise anything."""
    if is_url(location):
        return _url_bytes(location, location if name is None else name)
    with open(location, "rb", buffering=0) as f:  # read(n) allocates n bytes first: ask for a file's size at most
        return _read_capped(f, os.fstat(f.fileno()).st_size, str(Path(location)) if name is None else name)


def _url_bytes(url: str, name: str) -> bytes:
    """The bytes at ``url``, through fsspec, as :func:`_picture_bytes` reads a file."""
    fsspec = _fsspec(name)
    try:
        with fsspec.open(url, "rb") as f:
            size = getattr(f, "size", None)  # fsspec's files know it from the listing: no extra request
            return _read_capped(f, size if isinstance(size, int) else None, name)
    except DataError:
        raise
    except FileNotFoundError:
        raise DataError(f"{name}: no such file") from None
    except Exception as exc:  # a backend's own errors: no credentials, network, throttling, a missing s3fs
        raise DataError(f"{name}: cannot read ({type(exc).__name__}: {exc})") from None


def _read_capped(f, size: int | None, name: str) -> bytes:
    """All of the open binary file ``f``, refused if more than
    ``config.MAX_IMAGE_BYTES``: unread when its ``size`` (None: unknown)
    says so, else once that many have been read."""
    cap = config.MAX_IMAGE_BYTES
    if size is not None and size > cap:
        raise DataError(f"{name}: file too large for a picture ({size:,} bytes, more than {cap:,})")
    chunks, total = [], 0
    while chunk := f.read(min(max((size or 0) + 1 - total, 1 << 18), cap + 1 - total)):
        chunks.append(chunk)
        total += len(chunk)
        if total > cap:
            raise DataError(f"{name}: file too large for a picture (more than {cap:,} bytes)")
    return b"".join(chunks)


def flatten_alpha(image: Image) -> np.ndarray:
    """A picture with transparency as grey levels, on the background it stands out on.

    The background is white or black, whichever lies farther from the
    median grey of the opaque pixels (alpha at least 128; without any,
    those with some alpha; a fully transparent picture is white).  For one
    stroke colour on transparency, as HTML canvases and signature pads
    export, that median is the stroke's grey: dark strokes (black, red,
    blue) go on white, light ones (white, yellow), which on white would
    vanish, on black.  For a picture with content of its own, such as a
    photo rotated with transparent corners, it is the paper's grey: a light
    page gets a dark surround, which the normalisation reads as a page in a
    surround (white corners, lighter than the page, it misreads:
    ``benchmarks/accuracy_kinds.py --kinds rotated-photo``), and a dark
    page (a blackboard) a light one.  A tie is white.

    Parameters
    ----------
    image : PIL.Image.Image
        In mode "RGBA" (``read_image`` converts LA, PA and palette pictures
        with a transparent colour to it).

    Returns
    -------
    numpy.ndarray of uint8, shape (H, W)
        Pillow's "L" grey levels of the picture composited on that
        background.

    Examples
    --------
    A white stroke on a transparent canvas goes on black, where it shows:

    >>> from PIL import Image
    >>> from fastdigits.data import flatten_alpha
    >>> canvas = Image.new("RGBA", (8, 8), (255, 255, 255, 0))
    >>> canvas.paste((255, 255, 255, 255), (3, 0, 5, 8))
    >>> grey = flatten_alpha(canvas)
    >>> int(grey[0, 0]), int(grey[0, 3])
    (0, 255)
    """
    from PIL import Image

    grey, alpha = np.moveaxis(np.asarray(image.convert("LA"), dtype=np.uint8), -1, 0)
    shown = grey[alpha >= 128]
    if not shown.size:
        shown = grey[alpha > 0]
    level = 0 if shown.size and np.median(shown) > 127.5 else 255
    page = Image.new("RGBA", image.size, (level, level, level, 255))
    return np.asarray(Image.alpha_composite(page, image).convert("L"), dtype=np.uint8).copy()


def _natural_key(name: str) -> list:
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


@dataclass
class LabelledImages:
    """Images read from a folder with one sub-folder per class.

    As :func:`load_image_folder` returns them.

    Parameters
    ----------
    images : numpy.ndarray of float32, shape (N, 20, 20)
        The frames the network sees, ink high in [0, 1].
    labels : numpy.ndarray of int64, shape (N,)
        Each image's index into ``classes``.
    classes : list of str
        Class names: the sub-folders' names, in natural order ("2" before
        "10").
    paths : list of pathlib.Path
        The file of each image.
    skipped : list of (pathlib.Path, str)
        Files not read, with the reason; or without ink, with
        :data:`NO_INK`.  In file order.
    preprocessing : dict
        How the frames were made, in the form a model file stores a
        model's ``preprocessing``.

    Examples
    --------
    >>> import numpy as np
    >>> from fastdigits import LabelledImages
    >>> ds = LabelledImages(images=np.zeros((2, 20, 20), np.float32), labels=np.array([1, 0]),
    ...                     classes=["cat", "dog"], paths=[], skipped=[], preprocessing={})
    >>> ds.features.shape, ds.names.tolist()
    ((2, 400), ['dog', 'cat'])
    """

    images: np.ndarray  #: (N, 20, 20) float32 in [0, 1]: the frames the network sees
    labels: np.ndarray  #: (N,) int64 indices into ``classes``
    classes: list[str]  #: class names, the sub-folders' names in natural order
    paths: list[Path]  #: the file of each image
    skipped: list[tuple[Path, str]]  #: files not read (the reason) or without ink (:data:`NO_INK`)
    preprocessing: dict  #: how the frames were made (a model's ``preprocessing``)

    @property
    def features(self) -> np.ndarray:
        """The frames as (N, 400) float32 rows, ready for ``fit`` and ``predict``."""
        return self.images.reshape(len(self.images), -1)

    @property
    def names(self) -> np.ndarray:
        """The class name of each image: (N,) object array of str."""
        return np.asarray(self.classes, dtype=object)[self.labels]


def _image_files(folder: Path) -> Iterable[Path]:
    return sorted(
        (p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS),
        key=lambda p: _natural_key(str(p.relative_to(folder))),
    )


def load_image_folder(root: str | os.PathLike, *,
                      preprocessing: str | Normalization | dict = "normalize") -> LabelledImages:
    """Read a labelled image folder: ``root/<class>/**/<image>``.

    Any class names work (digits, letters, product names).  Each image is
    decoded to grey (:func:`read_image`) and prepared by ``preprocessing``,
    ``config.CLASSIFY_BATCH`` pictures per call.  Files that cannot be
    decoded, and pictures with nothing to read (reason :data:`NO_INK`: a
    blank page would be an all-zero frame, not an example of its class),
    are listed in ``skipped``, in file order, and the others are still
    read.

    Parameters
    ----------
    root : str or path-like
        The folder; each sub-folder not starting with ``.`` is a class,
        its pictures (:data:`IMAGE_EXTENSIONS`, in any depth of folders)
        the examples.
    preprocessing : "normalize", "scale", Normalization or dict
        How pictures become frames, as a model's ``preprocessing`` (see
        :func:`fastdigits.preprocess.prepare`); train on the frames with a
        model of the same setting.

    Returns
    -------
    LabelledImages
        Frames (N, 20, 20) float32, labels, class names, paths and the
        files skipped.

    Raises
    ------
    DataError
        If ``root`` is not a folder, has no class sub-folders, or no
        readable picture with ink.

    Examples
    --------
    >>> import numpy as np
    >>> from pathlib import Path
    >>> from PIL import Image
    >>> from fastdigits import load_image_folder
    >>> L = np.full((28, 28), 255, np.uint8); L[4:24, 8:11] = 0; L[21:24, 8:20] = 0
    >>> T = np.full((28, 28), 255, np.uint8); T[4:7, 6:22] = 0; T[4:24, 13:16] = 0
    >>> for name, picture in [("L/1.png", L), ("T/1.png", T), ("T/2.png", np.full((28, 28), 255, np.uint8))]:
    ...     Path("letters", name).parent.mkdir(parents=True, exist_ok=True)
    ...     Image.fromarray(picture).save(Path("letters", name))
    >>> ds = load_image_folder("letters")
    >>> ds.classes, ds.images.shape, ds.labels
    (['L', 'T'], (2, 20, 20), array([0, 1]))
    >>> [(str(path), reason) for path, reason in ds.skipped]
    [('letters/T/2.png', 'no ink found')]
    """
    from .preprocess import prepare, preprocessing_dict

    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: not a folder (expected one sub-folder per class)")
    class_dirs = sorted((d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")),
                        key=lambda d: _natural_key(d.name))
    if not class_dirs:
        raise DataError(f"{root}: no class sub-folders (expected e.g. {root}/0/, {root}/1/, ...)")
    files = [(file, index) for index, class_dir in enumerate(class_dirs) for file in _image_files(class_dir)]
    frames, labels, paths, skipped = [], [], [], []
    for lo in range(0, len(files), config.CLASSIFY_BATCH):
        chunk = files[lo : lo + config.CLASSIFY_BATCH]
        decoded: list[np.ndarray | str] = []
        for file, _ in chunk:
            try:
                decoded.append(read_image(file))
            except DataError as exc:
                decoded.append(str(exc))
        pictures = [d for d in decoded if not isinstance(d, str)]
        answers = iter(zip(*prepare(pictures, preprocessing, return_ink=True)) if pictures else ())
        for (file, index), d in zip(chunk, decoded):
            if isinstance(d, str):
                skipped.append((file, d))
                continue
            frame, has_ink = next(answers)
            if not has_ink:
                skipped.append((file, NO_INK))
                continue
            frames.append(frame)
            labels.append(index)
            paths.append(file)
    if not frames:
        raise DataError(f"{root}: no readable images with ink in {len(class_dirs)} class folders "
                        f"({len(skipped)} skipped)")
    return LabelledImages(
        images=np.stack(frames),
        labels=np.asarray(labels, dtype=np.int64),
        classes=[d.name for d in class_dirs],
        paths=paths,
        skipped=skipped,
        preprocessing=preprocessing_dict(preprocessing),
    )
