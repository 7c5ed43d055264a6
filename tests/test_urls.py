"""Pictures read through fsspec URLs (``memory://``, ``file://``) as from local files."""

from __future__ import annotations

import io
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import drawing
from fastdigits import DataError, config, read_image, recipes
from fastdigits.classify import _decode, find_images
from fastdigits.data import IMAGE_EXTENSIONS, _read_image, is_url

fsspec = pytest.importorskip("fsspec", reason="fsspec (optional; it comes with dask) reads URLs")
from fsspec.implementations.memory import MemoryFileSystem  # noqa: E402


def _png(picture: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(picture).save(out, format="PNG")
    return out.getvalue()


def _one() -> np.ndarray:
    """A dark vertical bar on white: a 1."""
    one = np.full((40, 40), 255, np.uint8)
    one[6:34, 18:22] = 0
    return one


@pytest.fixture
def memory():
    """A fresh folder of fsspec's in-memory file system, removed afterwards:
    (fs, its URL as a user writes it, "memory://<folder>", and as fsspec
    lists its files, "memory:///<folder>")."""
    fs = fsspec.filesystem("memory")
    folder = f"fastdigits-test-{uuid.uuid4().hex}"
    yield fs, f"memory://{folder}", f"memory:///{folder}"
    if fs.exists(f"/{folder}"):
        fs.rm(f"/{folder}", recursive=True)


def _file_url(path: Path) -> str:
    return f"file://{path}"  # not Path.as_uri(): it would quote a glob's "*"


def test_is_url():
    assert is_url("s3://bucket/scans/") and is_url("gs://b/a.png") and is_url("file:///data/x.png")
    assert is_url("memory://x") and is_url("s3a://b/x") and is_url("git+https://h/x")
    assert not is_url("C:\\scans\\a.png")  # Windows drives: one letter before the colon
    assert not is_url("C://scans/a.png")
    assert not is_url("scans/a.png") and not is_url("/data/x.png") and not is_url("://x") and not is_url("")
    assert not is_url("scans/s3://x")  # the scheme starts the string
    assert not is_url(Path("s3://bucket/a.png")) and not is_url(b"s3://bucket/a.png")


def test_a_url_reads_as_the_same_local_file(tmp_path, memory):
    fs, root, _ = memory
    picture = drawing.digit("7", size=60)
    local = tmp_path / "seven.png"
    local.write_bytes(_png(picture))
    fs.pipe(f"{root}/seven.png", local.read_bytes())
    expected = read_image(local)
    np.testing.assert_array_equal(read_image(f"{root}/seven.png"), expected)
    np.testing.assert_array_equal(read_image(_file_url(local)), expected)


def test_find_images_expands_a_url_folder_as_a_local_one(tmp_path, memory):
    fs, root, listed = memory
    names = ["scans/10.png", "scans/2.png", "scans/old/1.JPG", "scans/old/deeper/3.webp", "scans/notes.txt"]
    for name in names:
        fs.pipe(f"{root}/{name}", b"")
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    files, missing = find_images([f"{root}/scans/"])
    assert files == [f"{listed}/scans/{name}" for name in ("2.png", "10.png", "old/1.JPG", "old/deeper/3.webp")]
    assert missing == []
    local, _ = find_images([tmp_path / "scans"])
    assert [str(f.relative_to(tmp_path)) for f in local] == [f[len(listed) + 1:] for f in files]
    assert all(isinstance(f, Path) for f in local)
    # each file once; a file named outright is kept whatever its name
    again, _ = find_images([f"{root}/scans", f"{root}/scans/2.png", f"{root}/scans/notes.txt"])
    assert again == files + [f"{listed}/scans/notes.txt"]


def test_find_images_reads_file_urls_and_globs(tmp_path, memory):
    fs, root, listed = memory
    for name in ("a/10.png", "a/9.png", "a/b/1.png", "a/b/1.jpg", "a/b/sub"):
        fs.pipe(f"{root}/{name}" + ("/x.txt" if name.endswith("sub") else ""), b"")
    files, missing = find_images([f"{root}/a/**/*.png"])
    assert files == [f"{listed}/a/9.png", f"{listed}/a/10.png", f"{listed}/a/b/1.png"] and missing == []
    files, _ = find_images([f"{root}/a/b/*"])  # the folder "sub" matches too, and is not a file
    assert files == [f"{listed}/a/b/1.jpg", f"{listed}/a/b/1.png"]
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "2.png").write_bytes(b"")
    files, missing = find_images([_file_url(tmp_path / "x"), _file_url(tmp_path / "x" / "*.png")])
    assert files == [_file_url(tmp_path / "x" / "2.png")] and missing == []


def test_urls_naming_nothing_are_error_results(memory):
    fs, root, _ = memory
    fs.pipe(f"{root}/empty/notes.txt", b"")
    files, missing = find_images([f"{root}/nowhere", f"{root}/empty", f"{root}/none/*.png"])
    assert files == []
    assert [(r.path, r.error) for r in missing] == [
        (f"{root}/nowhere", f"{root}/nowhere: no such file or folder"),
        (f"{root}/empty", f"{root}/empty: no pictures found (looked for "
                          f"{', '.join(sorted(IMAGE_EXTENSIONS))})"),
        (f"{root}/none/*.png", f"{root}/none/*.png: no file matches"),
    ]


def test_a_missing_url_and_a_url_that_is_no_picture(memory):
    fs, root, _ = memory
    with pytest.raises(DataError) as info:
        read_image(f"{root}/nope.png")
    assert str(info.value) == f"{root}/nope.png: no such file"
    fs.pipe(f"{root}/notes.png", b"not a picture")
    with pytest.raises(DataError) as info:
        read_image(f"{root}/notes.png")
    assert str(info.value) == f"{root}/notes.png: not a readable image (not a picture, or a format Pillow does not read)"


def test_a_url_over_the_byte_cap_is_refused_naming_it(memory, monkeypatch):
    fs, root, _ = memory
    monkeypatch.setattr(config, "MAX_IMAGE_BYTES", 4096)
    fs.pipe(f"{root}/big.png", b"\x89PNG" + bytes(5000))
    with pytest.raises(DataError, match=rf"^{root}/big.png: file too large for a picture \(5,004 bytes, more than 4,096\)$"):
        read_image(f"{root}/big.png")  # its size is known: refused unread
    fs.pipe(f"{root}/small.png", _png(_one()))
    assert read_image(f"{root}/small.png").shape == (40, 40)


def test_a_url_of_unknown_size_is_counted_while_read(memory, monkeypatch):
    """A stream without a size is refused once more than the cap has been read, not read to its end."""
    _, root, _ = memory
    monkeypatch.setattr(config, "MAX_IMAGE_BYTES", 4096)
    served = []

    class Stream(io.RawIOBase):  # 40 kB, no size attribute; counts what is asked of it
        left = 40_000

        def readable(self):
            return True

        def readinto(self, buffer):
            n = min(len(buffer), self.left)
            buffer[:n] = bytes(n)
            self.left -= n
            served.append(n)
            return n

    monkeypatch.setattr(MemoryFileSystem, "_open", lambda self, path, mode="rb", **kw: Stream())
    with pytest.raises(DataError, match=rf"^{root}/stream.png: file too large for a picture \(more than 4,096 bytes\)$"):
        read_image(f"{root}/stream.png")
    assert sum(served) <= 4097


def test_a_storage_failure_is_a_data_error_naming_the_url(memory, monkeypatch):
    fs, root, _ = memory
    fs.pipe(f"{root}/a.png", _png(_one()))
    fs.pipe(f"{root}/scans/b.png", _png(_one()))

    class Throttled(Exception):
        pass

    def fail(*args, **kwargs):
        raise Throttled("slow down")

    with monkeypatch.context() as patch:  # undone before the fixture cleans up
        patch.setattr(MemoryFileSystem, "_open", fail)
        with pytest.raises(DataError) as info:
            read_image(f"{root}/a.png")
        assert _decode(f"{root}/a.png") == f"{root}/a.png: cannot read (Throttled: slow down)"
        patch.setattr(MemoryFileSystem, "find", fail)
        files, missing = find_images([f"{root}/scans"])
    assert str(info.value) == f"{root}/a.png: cannot read (Throttled: slow down)"
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert files == [] and [r.error for r in missing] == [f"{root}/scans: cannot read (Throttled: slow down)"]
    with pytest.raises(DataError, match=r"^nope://x.png: cannot read \(ValueError: Protocol not known: nope\)$"):
        read_image("nope://x.png")


def test_errors_name_the_name_not_the_location(tmp_path, memory):
    fs, root, _ = memory
    (tmp_path / "notes.png").write_text("not a picture")
    fs.pipe(f"{root}/notes.png", b"not a picture")
    for location in (tmp_path / "notes.png", str(tmp_path / "notes.png"), f"{root}/notes.png"):
        with pytest.raises(DataError) as info:
            _read_image(location, "scans/notes.png")
        assert str(info.value).startswith("scans/notes.png: not a readable image")
        assert _decode(location, "scans/notes.png").startswith("scans/notes.png: not a readable image")
    with pytest.raises(DataError, match=r"^scans/gone.png: no such file$"):
        _read_image(tmp_path / "gone.png", "scans/gone.png")
    with pytest.raises(DataError, match=r"^scans/gone.png: no such file$"):
        _read_image(f"{root}/gone.png", "scans/gone.png")
    fs.pipe(f"{root}/one.png", _png(_one()))
    np.testing.assert_array_equal(_read_image(f"{root}/one.png", "elsewhere.png"), read_image(f"{root}/one.png"))


def test_without_fsspec_a_url_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "fsspec", None)  # import fsspec now fails
    with pytest.raises(DataError) as info:
        read_image("s3://bucket/scans/a.png")
    message = str(info.value)
    assert message.startswith("s3://bucket/scans/a.png: ") and "pip install fsspec" in message
    (tmp_path / "a.png").write_bytes(_png(_one()))
    files, missing = find_images(["s3://bucket/scans/", tmp_path / "a.png"])
    assert files == [tmp_path / "a.png"]  # local paths need no fsspec
    assert [r.path for r in missing] == ["s3://bucket/scans/"]
    assert missing[0].error.startswith("s3://bucket/scans/: ") and "pip install fsspec" in missing[0].error
    assert read_image(tmp_path / "a.png").shape == (40, 40)


def _pictures() -> dict[str, np.ndarray]:
    four = drawing.polyline(drawing.FOUR, size=200, width=14)
    seven = drawing.polyline(drawing.SEVEN, size=200, width=14)
    return {"1.png": _one(), "2.png": four, "3.png": seven, "10.png": np.full((30, 30), 255, np.uint8),
            "sub/47.png": np.hstack([four, seven])}


def test_classify_urls_as_local_files(tmp_path, memory):
    fs, root, _ = memory
    for name, picture in _pictures().items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(picture).save(tmp_path / name)
        fs.pipe(f"{root}/{name}", (tmp_path / name).read_bytes())
    fs.pipe(f"{root}/broken.png", b"not a picture")
    (tmp_path / "broken.png").write_bytes(b"not a picture")
    by_url = list(recipes.classify([f"{root}/", f"{root}/missing.png"], workers=2))
    local = list(recipes.classify([tmp_path, tmp_path / "missing.png"], workers=2))
    assert len(by_url) == len(local) == 7
    assert [r.label for r in by_url] == [r.label for r in local]
    assert [r.note for r in by_url] == [r.note for r in local]
    assert [r.label for r in local if r.ok][:3] == [1, 4, 7]  # the pictures are what they seem
    for u, loc in zip(by_url, local):
        assert (u.probabilities is None) == (loc.probabilities is None)
        if u.probabilities is not None:
            np.testing.assert_array_equal(u.probabilities, loc.probabilities)
        assert (u.error is None) == (loc.error is None)
        if loc.error is not None:  # the same words, naming the URL instead of the file
            assert u.error.startswith(u.path + ": ") and loc.error.startswith(loc.path + ": ")
            assert u.error[len(u.path):] == loc.error[len(loc.path):]
    assert all(is_url(r.path) for r in by_url)


def test_read_a_number_from_a_url(memory):
    fs, root, listed = memory
    fs.pipe(f"{root}/47.png", _png(_pictures()["sub/47.png"]))
    readings = list(recipes.read([f"{root}/47.png"]))
    assert [(r.text, r.error) for r in readings] == [("47", None)]
    assert readings[0].path == f"{listed}/47.png"


def test_sorting_url_results_into_a_folder_is_refused_before_the_work(tmp_path, memory):
    from fastdigits import InputError

    fs, root, _ = memory
    fs.pipe(f"{root}/1.png", _png(_one()))
    with pytest.raises(InputError, match=r"memory://.*/1.png: a URL; only local files can be sorted"):
        recipes.classify([f"{root}/"], sort_into=tmp_path / "sorted")
