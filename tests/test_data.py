from __future__ import annotations

import gzip
import hashlib
import http.server
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import drawing
from fastdigits import data, load_model
from fastdigits.errors import DataError, DownloadError

# ------------------------------------------------------------------ IDX


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize(
    "array",
    [
        np.arange(24, dtype=np.uint8).reshape(2, 3, 4),  # 0x0803, like MNIST images
        np.array([5, 0, 4, 1, 9], dtype=np.uint8),  # 0x0801, like MNIST labels
        np.array([[-3, 7]], dtype=np.int16),
        np.array([1.5, -2.25], dtype=np.float64),
    ],
)
def test_idx_round_trip(tmp_path, array, compress):
    path = tmp_path / ("x.idx.gz" if compress else "x.idx")
    data.write_idx(path, array)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == compress
    got = data.read_idx(path)
    assert got.dtype == array.dtype.newbyteorder("=") and got.shape == array.shape
    np.testing.assert_array_equal(got, array)


def test_idx_bytes_are_the_published_format(tmp_path):
    path = tmp_path / "labels"
    path.write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 2, 1]))
    assert data.read_idx(path).tolist() == [7, 2, 1]
    path.write_bytes(bytes([0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 2, 1, 2, 3, 4]))
    assert data.read_idx(path).tolist() == [[[1, 2], [3, 4]]]


def _header(*dims: int, code: int = 8) -> bytes:
    return bytes([0, 0, code, len(dims)]) + b"".join(d.to_bytes(4, "big") for d in dims)


@pytest.mark.parametrize(
    "content, match",
    [
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 20, "not an IDX file"),
        (bytes([0, 0, 0x42, 1, 0, 0, 0, 1, 9]), "not an IDX file"),
        (b"\0\0", "too short"),
        (bytes([0, 0, 8, 3, 0, 0, 0, 5]), "truncated header"),
        (_header(10, 28, 28) + b"\0" * 100, "truncated: header says shape \\(10, 28, 28\\)"),
        (_header(3) + b"\1\2\3\4", "trailing bytes"),
        # 255 dimensions: more than any array may have
        (_header(*[1] * 255) + b"\0", "header declares 255 dimensions; fastdigits reads at most 32"),
        # 2^31 x 2^31 x 4 bytes: 2^64, which wraps to 0 in 64-bit integers
        (_header(2**31, 2**31, 4), r"truncated: header says shape \(2147483648, 2147483648, 4\)"),
    ],
)
@pytest.mark.parametrize("compress", [False, True])
def test_idx_corrupt_files_are_named(tmp_path, content, match, compress):
    path = tmp_path / "bad-idx"
    path.write_bytes(gzip.compress(content) if compress else content)
    with pytest.raises(DataError, match=match) as info:
        data.read_idx(path)
    assert str(path) in str(info.value)


def test_idx_truncated_gzip(tmp_path):
    path = tmp_path / "cut.gz"
    path.write_bytes(gzip.compress(_header(1000) + bytes(1000))[:-30])
    with pytest.raises(DataError, match="corrupt or truncated gzip") as info:
        data.read_idx(path)
    assert str(path) in str(info.value)


def test_idx_missing_file(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        data.read_idx(tmp_path / "nope")


# ------------------------------------------------------------ real MNIST


def test_real_mnist(mnist, mnist_dir):
    assert mnist.train_images.shape == (60000, 28, 28) and mnist.train_images.dtype == np.uint8
    assert mnist.test_images.shape == (10000, 28, 28) and mnist.test_images.dtype == np.uint8
    assert mnist.train_labels.shape == (60000,) and mnist.test_labels.shape == (10000,)
    assert np.bincount(mnist.train_labels).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert np.bincount(mnist.test_labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    # Ink is high: the border is background.
    assert mnist.train_images[:, 0, :].mean() < 1 and mnist.train_images.max() == 255


def test_real_mnist_checksums(mnist_dir):
    for name, (gz_sum, _) in data.MNIST_FILES.items():
        assert hashlib.sha256((mnist_dir / f"{name}.gz").read_bytes()).hexdigest() == gz_sum


def test_mnist_modified_copy_refused(mnist_dir, tmp_path):
    for name in data.MNIST_FILES:
        (tmp_path / f"{name}.gz").write_bytes((mnist_dir / f"{name}.gz").read_bytes())
    labels = data.read_idx(tmp_path / "t10k-labels-idx1-ubyte.gz")
    labels[0] = (labels[0] + 1) % 10
    data.write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", labels)
    with pytest.raises(DataError, match="t10k-labels.*published MNIST checksum"):
        data.load_mnist(tmp_path)


def test_missing_mnist_explains_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.delenv("FASTDIGITS_DATA", raising=False)
    with pytest.raises(DataError, match="FASTDIGITS_DATA"):
        data.load_mnist(download_missing=False)
    with pytest.raises(DataError, match="lacks MNIST files"):
        data.load_mnist(tmp_path)
    monkeypatch.setenv("FASTDIGITS_DATA", str(tmp_path))
    with pytest.raises(DataError, match=r"\$FASTDIGITS_DATA.*lacks MNIST files"):
        data.load_mnist()


# ----------------------------------------------------- downloads, for real


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves ``server.files``; ``/missing/...`` answers 404 and
    ``/cut/...`` announces the full length but closes half-way."""

    def do_GET(self):  # noqa: N802 - http.server's naming
        prefix, _, name = self.path.lstrip("/").partition("/")
        body = self.server.files.get(name)
        self.server.requests.append(self.path)
        if prefix == "missing" or body is None:
            self.send_error(404, "Not Found")
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2] if prefix == "cut" else body)
        if prefix == "cut":
            self.wfile.flush()
            self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.files, srv.requests = {}, []
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}"
    yield srv
    srv.shutdown()
    srv.server_close()


def _payload(n: int = 5000) -> tuple[bytes, str]:
    body = gzip.compress(_header(n) + bytes(range(256)) * (n // 256) + bytes(n % 256), mtime=0)
    return body, hashlib.sha256(body).hexdigest()


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_download_success(server, tmp_path):
    body, sha = _payload()
    server.files["f.gz"] = body
    path = data.download("f.gz", sha, tmp_path / "cache", [f"{server.url}/ok/"])
    assert path.read_bytes() == body
    assert _leftovers(tmp_path / "cache") == ["f.gz"]
    assert data.read_idx(path).shape == (5000,)


def test_download_checksum_mismatch_leaves_nothing(server, tmp_path):
    body, sha = _payload()
    server.files["f.gz"] = body
    with pytest.raises(DownloadError, match="checksum mismatch") as info:
        data.download("f.gz", "0" * 64, tmp_path, [f"{server.url}/ok/"])
    assert "f.gz" in str(info.value)
    assert _leftovers(tmp_path) == []


def test_download_404_then_second_mirror(server, tmp_path):
    body, sha = _payload()
    server.files["f.gz"] = body
    path = data.download("f.gz", sha, tmp_path, [f"{server.url}/missing", f"{server.url}/ok"])
    assert path.read_bytes() == body
    assert server.requests == ["/missing/f.gz", "/ok/f.gz"]
    assert _leftovers(tmp_path) == ["f.gz"]


def test_download_interrupted_transfer_leaves_nothing(server, tmp_path):
    body, sha = _payload(200_000)
    server.files["f.gz"] = body
    with pytest.raises(DownloadError) as info:
        data.download("f.gz", sha, tmp_path, [f"{server.url}/cut", f"{server.url}/missing"])
    message = str(info.value)
    assert "/cut/f.gz" in message and "HTTP 404" in message
    assert _leftovers(tmp_path) == []


def test_download_unreachable_mirror(tmp_path):
    with pytest.raises(DownloadError, match="127.0.0.1:9"):
        data.download("f.gz", "0" * 64, tmp_path, ["http://127.0.0.1:9/"], timeout=2)
    assert _leftovers(tmp_path) == []


def test_load_mnist_downloads_into_cache(server, mnist_dir, tmp_path, monkeypatch):
    # The four real files served from 127.0.0.1; the first mirror has none.
    monkeypatch.delenv("FASTDIGITS_DATA")
    monkeypatch.setenv("FASTDIGITS_CACHE", str(tmp_path))
    for name in data.MNIST_FILES:
        server.files[f"{name}.gz"] = (mnist_dir / f"{name}.gz").read_bytes()
    got = data.load_mnist(mirrors=[f"{server.url}/missing/", f"{server.url}/ok/"])
    assert got.train_images.shape == (60000, 28, 28)
    assert _leftovers(tmp_path / "mnist") == sorted(f"{n}.gz" for n in data.MNIST_FILES)
    assert data.find_mnist() == tmp_path / "mnist"
    # A second load finds the cache and asks no mirror.
    requests = len(server.requests)
    data.load_mnist(mirrors=[f"{server.url}/ok/"])
    assert len(server.requests) == requests


def test_load_mnist_all_mirrors_fail(server, tmp_path, monkeypatch):
    monkeypatch.delenv("FASTDIGITS_DATA", raising=False)
    with pytest.raises(DownloadError, match="FASTDIGITS_DATA.*HTTP 404"):
        data.load_mnist(mirrors=[f"{server.url}/missing/"])


# --------------------------------------------------------- image folders


def _draw(path: Path, value: int, size=(30, 40), mode="L") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.new(mode, size, 255 if mode == "L" else (255, 255, 255, 0))
    img.paste(value if mode == "L" else (value, value, value, 255), (5, 5, 15, 25))
    img.save(path)


def test_load_image_folder(tmp_path):
    for cls in ["B", "a", "10", "2"]:
        for k in range(3):
            _draw(tmp_path / cls / f"img{k}.png", 0)
    _draw(tmp_path / "a" / "nested" / "deep.png", 0, mode="RGBA")
    (tmp_path / "a" / "notes.txt").write_text("not an image")
    (tmp_path / "B" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    got = data.load_image_folder(tmp_path)
    assert got.classes == ["2", "10", "a", "B"]
    assert got.images.shape == (13, 20, 20) and got.images.dtype == np.float32
    assert np.bincount(got.labels).tolist() == [3, 3, 4, 3]
    assert [p.name for p in got.paths if p.parent.name == "nested"] == ["deep.png"]
    assert [(p.name, "not a readable image" in why) for p, why in got.skipped] == [("broken.png", True)]
    assert 0.0 <= got.images.min() and got.images.max() <= 1.0


def test_load_image_folder_skips_pictures_without_ink(tmp_path, monkeypatch):
    from fastdigits.classify import NO_INK
    from fastdigits.preprocess import prepare

    pictures = {
        "4/a.png": drawing.polyline(drawing.FOUR, size=120, width=6),
        "4/b_blank.png": np.full((90, 60), 255, np.uint8),
        "4/c.png": drawing.polyline(drawing.FOUR, size=80, width=4),
        "4/d_broken.png": None,
        "7/a.png": drawing.polyline(drawing.SEVEN, size=100, width=5),
        "7/b_black.png": np.zeros((50, 50), np.uint8),
        "7/c.png": drawing.digit("7", size=64, stroke=2),
    }
    for name, image in pictures.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        if image is None:
            (tmp_path / name).write_bytes(b"\x89PNG\r\n\x1a\n garbage")
        else:
            Image.fromarray(image).save(tmp_path / name)
    monkeypatch.setattr(data.config, "CLASSIFY_BATCH", 3)  # chunks that split a class
    got = data.load_image_folder(tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in got.paths] == ["4/a.png", "4/c.png", "7/a.png", "7/c.png"]
    assert got.names.tolist() == ["4", "4", "7", "7"]
    reasons = [(p.relative_to(tmp_path).as_posix(), why) for p, why in got.skipped]
    assert [name for name, _ in reasons] == ["4/b_blank.png", "4/d_broken.png", "7/b_black.png"]
    assert reasons[0][1] == reasons[2][1] == NO_INK and "not a readable image" in reasons[1][1]
    assert all(frame.any() for frame in got.images)  # no all-zero frame taught as a 4 or a 7
    for path, frame in zip(got.paths, got.images):  # a frame does not depend on its batch
        np.testing.assert_array_equal(frame, prepare(data.read_image(path))[0])


def test_load_image_folder_errors(tmp_path):
    with pytest.raises(DataError, match="not a folder"):
        data.load_image_folder(tmp_path / "nope")
    with pytest.raises(DataError, match="no class sub-folders"):
        data.load_image_folder(tmp_path)
    (tmp_path / "cat").mkdir()
    with pytest.raises(DataError, match="no readable images"):
        data.load_image_folder(tmp_path)
    Image.fromarray(np.full((30, 30), 255, np.uint8)).save(tmp_path / "cat" / "blank.png")
    with pytest.raises(DataError, match=r"no readable images with ink in 1 class folders \(1 skipped\)"):
        data.load_image_folder(tmp_path)


def test_read_image_modes(tmp_path):
    rgba = Image.new("RGBA", (4, 4), (0, 0, 0, 0))  # fully transparent: the page shows white
    rgba.putpixel((1, 1), (0, 0, 0, 255))
    rgba.save(tmp_path / "a.png")
    grey = data.read_image(tmp_path / "a.png")
    assert grey.dtype == np.uint8 and grey[0, 0] == 255 and grey[1, 1] == 0
    deep = Image.fromarray(np.full((3, 5), 65535, np.uint16))
    deep.save(tmp_path / "d.png")
    assert data.read_image(tmp_path / "d.png").tolist() == [[255] * 5] * 3
    (tmp_path / "z.png").write_bytes(b"")
    with pytest.raises(DataError, match="z.png: not a readable image"):
        data.read_image(tmp_path / "z.png")


def test_read_image_honours_exif_orientation(tmp_path):
    img = Image.new("L", (6, 2), 255)
    img.putpixel((0, 0), 0)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    img.save(tmp_path / "o.jpg", exif=exif, quality=100)
    grey = data.read_image(tmp_path / "o.jpg")
    assert grey.shape == (6, 2)


def test_read_image_palette_and_rgb(tmp_path):
    rgb = Image.new("RGB", (5, 4), (255, 255, 255))
    rgb.putpixel((2, 1), (0, 0, 0))
    rgb.save(tmp_path / "rgb.png")
    rgb.convert("P").save(tmp_path / "pal.png")
    for name in ("rgb.png", "pal.png"):
        grey = data.read_image(tmp_path / name)
        assert grey.shape == (4, 5) and grey[1, 2] == 0 and grey[0, 0] == 255


# A stroke on a transparent canvas (HTML canvas, signature pads): it must keep
# its contrast whatever its colour (drawing.COLOURS), light strokes included.


def _seven(colour: str, width: int = 18) -> Image.Image:
    """A "7" drawn with a ``width`` px pen in ``colour`` on a transparent
    280 px canvas: RGBA, alpha 255 on the stroke and 0 elsewhere."""
    pen = drawing.polyline(drawing.SEVEN, size=280, width=width, paper=0, ink=255)
    return Image.fromarray(drawing.alpha_canvas(pen, colour=colour, side=280))


def _stroke_mask(width: int = 18) -> np.ndarray:
    """Where ``_seven`` puts the "7"'s stroke."""
    return np.asarray(_seven("black", width))[..., 3] == 255


@pytest.fixture(scope="module")
def shipped():
    return load_model()


@pytest.mark.parametrize("colour", drawing.COLOURS)
@pytest.mark.parametrize("width", [6, 18])
def test_a_stroke_on_a_transparent_canvas_keeps_its_contrast(tmp_path, shipped, colour, width):
    _seven(colour, width).save(tmp_path / "seven.png")
    grey = data.read_image(tmp_path / "seven.png")
    mask = _stroke_mask(width)
    stroke, page = grey[mask].astype(float), grey[~mask].astype(float)
    # One flat grey each: the stroke's own, on the background farther from it.
    assert stroke.std() == 0 and page.std() == 0
    level = float(np.asarray(Image.new("RGB", (1, 1), drawing.COLOURS[colour]).convert("L"))[0, 0])
    assert abs(stroke[0] - page[0]) == max(level, 255 - level) >= 128
    assert shipped.predict([grey])[0] == 7


def test_light_strokes_in_grey_alpha_and_palette_pictures(tmp_path, shipped):
    rgba = _seven("white")
    rgba.convert("LA").save(tmp_path / "la.png")
    palette = Image.new("P", rgba.size, 0)
    palette.putpalette([0, 0, 0, 255, 255, 255])
    palette.paste(1, mask=Image.fromarray(_stroke_mask()))
    palette.save(tmp_path / "palette.png", transparency=0)  # colour 0, the page, is transparent
    for name in ("la.png", "palette.png"):
        assert Image.open(tmp_path / name).mode in ("LA", "P")
        grey = data.read_image(tmp_path / name)
        assert grey[_stroke_mask()].min() == 255 and grey[~_stroke_mask()].max() == 0, name
        assert shipped.predict([grey])[0] == 7


def test_opaque_and_half_transparent_pictures_read_as_on_white(tmp_path):
    rng = np.random.default_rng(3)
    colours = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
    opaque = Image.fromarray(np.dstack([colours, np.full((30, 40), 255, np.uint8)]), "RGBA")
    opaque.save(tmp_path / "opaque.png")
    assert np.array_equal(data.read_image(tmp_path / "opaque.png"), np.asarray(Image.fromarray(colours).convert("L")))
    # Dark ink at half opacity on a transparent page: on white it shows.
    faint = np.zeros((30, 40, 4), np.uint8)
    faint[10:20, 5:35, 3] = 128
    Image.fromarray(faint, "RGBA").save(tmp_path / "faint.png")
    grey = data.read_image(tmp_path / "faint.png")
    assert grey[0, 0] == 255 and 120 <= grey[15, 20] <= 135


def _rotated_photo(*, dark: bool = False, angle: float = 8) -> Image.Image:
    """A photo-like opaque grey picture of a "3" (grey paper, uneven light,
    noise; light chalk on a dark board if ``dark``) rotated with
    ``expand``: RGBA with transparent corners."""
    page = drawing.digit("3", size=120, stroke=3, paper=200, ink=40).astype(float)
    photo = page + np.random.default_rng(8).normal(0, 3, page.shape) + np.linspace(-30, 30, 120)[None, :]
    grey = np.clip(photo, 0, 255).astype(np.uint8)
    grey = 255 - grey if dark else grey
    return Image.fromarray(grey).convert("RGBA").rotate(angle, Image.Resampling.BILINEAR, expand=True)


@pytest.mark.parametrize("dark", [False, True], ids=["light-page", "dark-board"])
def test_a_rotated_photo_gets_the_surround_its_page_stands_out_on(tmp_path, shipped, dark):
    rotated = _rotated_photo(dark=dark)
    alpha = np.asarray(rotated)[..., 3]
    assert alpha[0, 0] == alpha[-1, -1] == 0 and (alpha == 255).mean() > 0.5
    rotated.save(tmp_path / "rotated.png")
    grey = data.read_image(tmp_path / "rotated.png")
    surround = 255 if dark else 0
    on = Image.alpha_composite(Image.new("RGBA", rotated.size, (surround,) * 3 + (255,)), rotated)
    np.testing.assert_array_equal(grey, np.asarray(on.convert("L")))
    assert grey[0, 0] == grey[-1, -1] == surround
    np.testing.assert_array_equal(data.flatten_alpha(rotated), grey)
    assert shipped.predict([grey])[0] == 3
    # Corners of the page's own polarity (a light page on white) are not a surround: misread.
    other = Image.alpha_composite(Image.new("RGBA", rotated.size, (255 - surround,) * 3 + (255,)), rotated)
    assert shipped.predict([np.asarray(other.convert("L"))])[0] != 3


def test_flatten_alpha_puts_a_picture_on_the_background_farther_from_what_it_shows():
    def corner(rgb, alpha):
        return int(data.flatten_alpha(Image.fromarray(np.dstack([rgb, alpha]).astype(np.uint8)))[0, 0])

    alpha = np.zeros((10, 10), np.uint8)
    alpha[3:7, 2:8] = 255
    light, dark = np.full((10, 10, 3), 230), np.full((10, 10, 3), 30)
    assert corner(light, alpha) == 0 and corner(dark, alpha) == 255  # one stroke colour
    page = light.copy()
    page[3:5, 3:6] = 20  # dark ink on a light page: the page's grey decides
    assert corner(page, alpha) == 0 and corner(255 - page, alpha) == 255
    assert corner(np.full((10, 10, 3), 128), alpha) == 0 and corner(np.full((10, 10, 3), 127), alpha) == 255
    assert corner(light, np.full((10, 10), 60)) < 128  # nothing opaque: the faint pixels decide
    assert corner(light, np.zeros((10, 10))) == 255  # fully transparent: white


@pytest.mark.parametrize("name, label", [("white-stroke-on-transparent-7.png", 7),
                                         ("digit-in-dark-frame-3.png", 3), ("blank-canvas.png", None)])
def test_the_reported_pictures_read_as_their_readme_says(shipped, reported_pictures, name, label):
    # The kinds are tested with pictures the tests draw (test_kinds.py);
    # these are the files that reported them.
    from fastdigits.classify import classify_images

    (result,) = classify_images(shipped, [data.read_image(reported_pictures / name)])
    assert (result.label, result.blank) == (label, label is None), result


def test_read_image_refuses_decompression_bombs(tmp_path, monkeypatch):
    # A tiny file that would decode into 81 million pixels.
    Image.new("1", (9000, 9000)).save(tmp_path / "bomb.png")
    assert (tmp_path / "bomb.png").stat().st_size < 200_000
    with pytest.raises(DataError, match="bomb.png: image too large .9000 x 9000"):
        data.read_image(tmp_path / "bomb.png")


@pytest.mark.parametrize("top", [1.0, 255.0, 4095.0])
def test_float_tiffs_are_read_by_their_values(tmp_path, top):
    stroke = np.zeros((60, 60), np.float32)
    stroke[10:50, 28:33] = top
    Image.fromarray(stroke, mode="F").save(tmp_path / "f.tif")
    grey = data.read_image(tmp_path / "f.tif")
    assert grey.dtype == np.uint8 and grey[30, 30] == 255 and grey[5, 5] == 0


def test_read_image_reads_a_bounded_number_of_bytes(tmp_path, monkeypatch):
    """A file larger than config.MAX_IMAGE_BYTES, or an endless device, is
    refused after reading at most that much; a picture in a pipe reads."""
    import io
    import os

    from fastdigits import config, read_image

    monkeypatch.setattr(config, "MAX_IMAGE_BYTES", 4096)
    big = tmp_path / "big.png"
    big.write_bytes(b"\x89PNG" + bytes(5000))
    with pytest.raises(DataError, match=rf"{big}: file too large for a picture \(5,004 bytes, more than 4,096\)"):
        read_image(big)
    if Path("/dev/zero").exists():  # no size: counted while read
        with pytest.raises(DataError, match=r"/dev/zero: file too large for a picture \(more than 4,096 bytes\)"):
            read_image("/dev/zero")
    picture = io.BytesIO()
    Image.fromarray(np.full((8, 8), 7, np.uint8)).save(picture, format="PNG")
    read_end, write_end = os.pipe()
    os.write(write_end, picture.getvalue())
    os.close(write_end)
    try:
        assert read_image(f"/dev/fd/{read_end}").tolist() == [[7] * 8] * 8
    finally:
        os.close(read_end)


def test_read_image_says_what_is_not_a_picture_without_pillows_words(tmp_path):
    from fastdigits import read_image

    path = tmp_path / "notes.png"
    path.write_text("not a picture")
    with pytest.raises(DataError) as info:
        read_image(path)
    assert str(info.value) == f"{path}: not a readable image (not a picture, or a format Pillow does not read)"
