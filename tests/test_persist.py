from __future__ import annotations

import io
import json
import os
import re

import numpy as np
import pytest

from fastdigits import MLPClassifier, ModelFileError, OutputError, load_model, save_model
from fastdigits.preprocess import preprocessing_dict


@pytest.fixture(scope="module")
def trained():
    rng = np.random.default_rng(5)
    X = rng.random((120, 400)).astype(np.float32)
    y = np.array(["a", "b", "c"])[rng.integers(0, 3, 120)]
    model = MLPClassifier((7, 5), activation="tanh", output="sigmoid", max_iter=2).fit(X, y)
    return model, X


def test_round_trip_predicts_identically(trained, tmp_path):
    model, X = trained
    path = model.save(tmp_path / "m")
    assert path.name == "m.npz"
    back = load_model(path)
    np.testing.assert_array_equal(back.predict_proba(X), model.predict_proba(X))
    assert back.classes_.tolist() == ["a", "b", "c"]
    assert back.layer_sizes_ == [400, 7, 5, 3]
    got, want = back.get_params(), model.get_params()
    assert preprocessing_dict(got.pop("preprocessing")) == preprocessing_dict(want.pop("preprocessing"))
    assert got == want
    assert back.history_ == model.history_


def test_readable_without_pickle(trained, tmp_path):
    path = save_model(trained[0], tmp_path / "m.npz")
    with np.load(path, allow_pickle=False) as archive:
        meta = json.loads(str(archive["meta"]))
        assert meta["format"] == "fastdigits-model" and meta["version"] == 1
        assert archive["weights_0"].shape == (400, 7)
        assert meta["params"]["activation"] == "tanh"
        assert meta["params"]["preprocessing"]["method"] == "normalize"
        assert meta["params"]["preprocessing"]["box"] == 20.0


def test_save_is_atomic(trained, tmp_path, monkeypatch):
    model, _ = trained
    path = save_model(model, tmp_path / "m.npz")
    before = path.read_bytes()

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez_compressed", broken)
    with pytest.raises(OutputError, match=f"{path}: cannot save the model there \\(disk full\\)"):
        save_model(model, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz"]


def _rewrite(path, **changes):
    with np.load(path, allow_pickle=False) as archive:
        arrays = {k: archive[k] for k in archive.files}
    arrays.update(changes)
    for key, value in changes.items():
        if value is None:
            del arrays[key]
    np.savez(path, **arrays)


def _npy(array) -> bytes:
    """The bytes of ``array`` as an .npy file."""
    import io

    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _meta(path):
    with np.load(path) as archive:
        return json.loads(str(archive["meta"]))


@pytest.mark.parametrize(
    "corrupt, match",
    [
        (lambda p: p.write_bytes(p.read_bytes()[:200]), "truncated"),
        (lambda p: p.write_text("hello"), r"not a fastdigits model file \(model files are .npz archives\)$"),
        (lambda p: p.write_bytes(_npy(np.zeros(3))), r"model files are .npz archives\)$"),  # a bare array
        (lambda p: np.savez(p, meta=np.array([{"a": 1}], dtype=object)), "not a fastdigits model"),
        (lambda p: np.savez(p, x=np.zeros(3)), "no metadata"),
        (lambda p: _rewrite(p, weights_0=np.zeros((400, 8), np.float32)), r"layer 0 has weights \(400, 8\)"),
        (lambda p: _rewrite(p, biases_1=None), "missing"),
        (lambda p: _rewrite(p, meta=np.array(json.dumps({**_meta(p), "version": 99}))), "version 99"),
        (lambda p: _rewrite(p, meta=np.array(json.dumps({**_meta(p), "format": "other"}))), "not a fastdigits model"),
        (lambda p: _rewrite(p, meta=np.array("{not json")), "not valid JSON"),
        (lambda p: _rewrite(p, weights_1=np.full((7, 5), np.nan, np.float32)), "NaN"),
        (lambda p: _rewrite(p, weights_1=np.array([[None]] * 7 * 5, dtype=object).reshape(7, 5)),
         r"array 'weights_1' holds Python objects"),
        (lambda p: _rewrite(p, extra=np.zeros(3)) or _zip_add(p, "notes.txt", b"hi"), r"holds 'notes.txt'"),
        (lambda p: _rewrite(p, meta=np.array(json.dumps({**_meta(p), "layer_sizes": [400, 6.5, 3]}))),
         r"layer sizes \[400, 6.5, 3\] are not a list of positive whole numbers"),
        (lambda p: _rewrite(p, meta=np.array(json.dumps({**_meta(p), "layer_sizes": [400, float("inf"), 3]}))),
         "are not a list of positive whole numbers"),
        (lambda p: _rewrite(p, meta=np.array(json.dumps({**_meta(p), "layer_sizes": [400, True, 3]}))),
         "are not a list of positive whole numbers"),
        (lambda p: _central_directory(p, flag=1), r"not a fastdigits model file, or a damaged one \(RuntimeError"),
        (lambda p: _central_directory(p, method=99), r"or a damaged one \(NotImplementedError"),
    ],
)
def test_bad_files_are_refused(trained, tmp_path, corrupt, match):
    path = save_model(trained[0], tmp_path / "m.npz")
    corrupt(path)
    with pytest.raises(ModelFileError, match=match) as info:
        load_model(path)
    assert str(path) in str(info.value)
    assert "pickle" not in str(info.value)  # numpy's advice to allow it is never passed on
    # the same bytes in memory get the same checks and words, under a stand-in name
    with pytest.raises(ModelFileError) as in_memory:
        load_model(io.BytesIO(path.read_bytes()))
    assert str(in_memory.value) == str(info.value).replace(str(path), "<model bytes>")
    with open(path, "rb") as f, pytest.raises(ModelFileError) as opened:  # an open file: named by its name
        load_model(f)
    assert str(opened.value) == str(info.value)


def _central_directory(path, flag: int = 0, method: int | None = None) -> None:
    """Set general-purpose ``flag`` bits (1: encrypted) or the compression
    ``method`` of every entry in the zip's central directory, as a crafted
    file would."""
    data = bytearray(path.read_bytes())
    at = data.find(b"PK\x01\x02")
    while at != -1:
        data[at + 8] |= flag
        if method is not None:
            data[at + 10:at + 12] = method.to_bytes(2, "little")
        at = data.find(b"PK\x01\x02", at + 4)
    path.write_bytes(bytes(data))


def _zip_add(path, name: str, data: bytes, compress: bool = False) -> None:
    import zipfile

    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED) as archive:
        archive.writestr(name, data)


def _header(shape, dtype=np.float32) -> bytes:
    """An .npy header declaring ``shape`` and ``dtype``, without the data."""
    import io

    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": np.dtype(dtype).str, "fortran_order": False,
                                                  "shape": shape})
    return buffer.getvalue()


def _reads(monkeypatch) -> list:
    """The arrays load_model reads in full from now on (their shapes)."""
    seen, read_array = [], np.lib.format.read_array

    def counted(f, *args, **kwargs):
        array = read_array(f, *args, **kwargs)
        seen.append(array.shape)
        return array

    monkeypatch.setattr(np.lib.format, "read_array", counted)
    return seen


@pytest.mark.parametrize("shape", [(7, 1 << 37), (1 << 31, 1 << 31, 4), (1 << 62, 4)])
def test_declared_sizes_are_checked_before_anything_is_read(trained, tmp_path, monkeypatch, shape):
    """A header that declares a huge array over a few bytes (or sizes whose
    product overflows 64 bits) is refused from the header, naming the file
    and the array, without allocating it."""
    path = save_model(trained[0], tmp_path / "m.npz")
    _rewrite(path, weights_1=None)
    _zip_add(path, "weights_1.npy", _header(shape) + bytes(64))
    reads = _reads(monkeypatch)
    with pytest.raises(ModelFileError, match=rf"{path}: a damaged model file \(array 'weights_1' declares"):
        load_model(path)
    assert reads == []


def test_archives_that_inflate_past_the_limit_are_not_inflated(trained, tmp_path, monkeypatch):
    """An honest header whose data inflates beyond config.MAX_MODEL_BYTES
    (a few kB of zip holding megabytes of zeros) is refused unread."""
    from fastdigits import config

    path = save_model(trained[0], tmp_path / "m.npz")
    _zip_add(path, "padding.npy", _npy(np.zeros((1 << 20,), np.float64)), compress=True)  # 8 MiB inflated
    assert path.stat().st_size < (1 << 17)
    monkeypatch.setattr(config, "MAX_MODEL_BYTES", 1 << 22)
    reads = _reads(monkeypatch)
    with pytest.raises(ModelFileError, match=rf"{path}: declares more than 4,194,304 bytes of arrays \(array "
                                             r"'padding': \(1048576,\) float64\); not read"):
        load_model(path)
    with pytest.raises(ModelFileError, match=r"^<model bytes>: declares more than 4,194,304 bytes"):
        load_model(io.BytesIO(path.read_bytes()))
    assert reads == []


def test_arrays_are_checked_against_the_layer_sizes_before_they_are_read(trained, tmp_path, monkeypatch):
    """Weights of a shape the metadata's layer sizes do not call for are
    refused after reading the metadata alone."""
    path = save_model(trained[0], tmp_path / "m.npz")
    hidden = trained[0].layer_sizes_[1]
    _rewrite(path, weights_0=np.zeros((400, 50_000), np.float32))
    reads = _reads(monkeypatch)
    with pytest.raises(ModelFileError, match=rf"layer 0 has weights \(400, 50000\), expected \(400, {hidden}\)"):
        load_model(path)
    assert reads == [()]  # the metadata only


def test_missing_file(tmp_path):
    with pytest.raises(ModelFileError, match="no such model file"):
        load_model(tmp_path / "none.npz")


def test_pipeline_travels_with_the_model(tmp_path):
    import drawing
    from fastdigits.preprocess import Normalization

    images = [drawing.digit(c, size=64, stroke=1) for c in "0101"]
    model = MLPClassifier((4,), max_iter=2, preprocessing=Normalization(deskew=True, stroke=0.1)).fit(images, [0, 1, 0, 1])
    back = load_model(model.save(tmp_path / "m"))
    assert back.preprocessing == Normalization(deskew=True, stroke=0.1)
    np.testing.assert_array_equal(back.prepare(images), model.prepare(images))
    np.testing.assert_array_equal(back.predict_proba(images), model.predict_proba(images))
    scaled = MLPClassifier((4,), max_iter=1, preprocessing="scale").fit(images, [0, 1, 0, 1])
    assert load_model(scaled.save(tmp_path / "s")).preprocessing == "scale"


def test_saved_files_get_ordinary_permissions(trained, tmp_path):
    mask = os.umask(0o022)
    try:
        path = save_model(trained[0], tmp_path / "m.npz")
    finally:
        os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o644


def test_a_model_too_big_to_read_back_is_not_saved(trained, tmp_path, monkeypatch):
    from fastdigits import config

    monkeypatch.setattr(config, "MAX_MODEL_BYTES", 1000)
    with pytest.raises(OutputError, match=r"a model of [\d,]+ bytes \(6 arrays\) is larger than fastdigits reads back"):
        save_model(trained[0], tmp_path / "m.npz")
    assert list(tmp_path.iterdir()) == []


def test_round_trip_through_bytes(trained, tmp_path, monkeypatch):
    """A model goes to bytes and back without a file: the same archive as
    on disk, readable by numpy without pickle, predicting identically."""
    from fastdigits import persist

    model, X = trained
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(persist, "atomic_open", None)  # no temporary file, no rename
    buffer = io.BytesIO()
    assert save_model(model, buffer) is buffer
    assert model.save(second := io.BytesIO()) is second
    assert list(tmp_path.iterdir()) == []
    data = buffer.getvalue()
    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
        assert json.loads(str(archive["meta"]))["layer_sizes"] == [400, 7, 5, 3]
        np.testing.assert_array_equal(archive["weights_1"], model.coefs_[1])
    back = load_model(io.BytesIO(data))
    np.testing.assert_array_equal(back.predict_proba(X), model.predict_proba(X))
    assert back.classes_.tolist() == ["a", "b", "c"] and back.history_ == model.history_
    np.testing.assert_array_equal(load_model(io.BytesIO(second.getvalue())).predict_proba(X), model.predict_proba(X))


def test_the_shipped_model_round_trips_through_bytes():
    model = load_model()
    rows = np.random.default_rng(8).random((64, 400)).astype(np.float32)
    back = load_model(io.BytesIO(save_model(model, io.BytesIO()).getvalue()))
    assert np.array_equal(back.predict_proba(rows), model.predict_proba(rows))


def _archive_without_metadata() -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, weights_0=np.zeros((400, 3), np.float32))
    return buffer.getvalue()


@pytest.mark.parametrize(
    "data, match",
    [
        (b"", r"not a fastdigits model file \(model files are .npz archives\)$"),
        (np.random.default_rng(3).bytes(5000), r"not a fastdigits model file \(model files are .npz archives\)$"),
        ("half", "a truncated or damaged .npz archive$"),
        ("no end", "a truncated or damaged .npz archive$"),
        (_archive_without_metadata(), r"not a fastdigits model \(no metadata\)$"),
    ],
)
def test_damaged_bytes_are_refused(trained, data, match):
    whole = save_model(trained[0], io.BytesIO()).getvalue()
    data = {"half": whole[:len(whole) // 2], "no end": whole[:-10]}.get(data, data)
    with pytest.raises(ModelFileError, match="^<model bytes>: " + match):
        load_model(io.BytesIO(data))


class _Stream(io.RawIOBase):
    """A readable file object that cannot seek, as a pipe or a socket."""

    def readable(self):
        return True

    def readinto(self, buffer):
        return 0


def _closed() -> io.BytesIO:
    buffer = io.BytesIO()
    buffer.close()
    return buffer


@pytest.mark.parametrize(
    "make, why",
    [
        (lambda path: _closed(), "it is closed"),
        (lambda path: open(path, encoding="latin-1"), "it is open in text mode; open the file with 'rb'"),
        (lambda path: _Stream(), "it cannot seek, and a zip archive is read from its end"),
    ],
)
def test_file_objects_that_cannot_be_read_say_why(trained, tmp_path, make, why):
    path = save_model(trained[0], tmp_path / "m.npz")
    f = make(path)
    name = getattr(f, "name", "<model bytes>")
    with pytest.raises(ModelFileError, match=rf"^{re.escape(name)}: cannot read a model from this file object \({why}"):
        load_model(f)
    f.close()


@pytest.mark.parametrize(
    "make, why",
    [
        (lambda path: _closed(), r"ValueError: I/O operation on closed file"),
        (lambda path: open(path, "rb"), r"UnsupportedOperation: write"),
        (lambda path: open(path, "w"), r"TypeError: write\(\) argument must be str, not bytes"),
    ],
)
def test_file_objects_that_cannot_be_written_say_why(trained, tmp_path, make, why):
    (tmp_path / "m.npz").write_bytes(b"")
    f = make(tmp_path / "m.npz")
    name = getattr(f, "name", "<model bytes>")
    with pytest.raises(OutputError, match=rf"^{re.escape(name)}: cannot write the model to this file object \({why}"):
        save_model(trained[0], f)
    f.close()


def test_a_model_too_big_to_read_back_is_not_written_to_a_file_object(trained, monkeypatch):
    from fastdigits import config

    monkeypatch.setattr(config, "MAX_MODEL_BYTES", 1000)
    buffer = io.BytesIO()
    with pytest.raises(OutputError, match=r"a model of [\d,]+ bytes \(6 arrays\) is larger than fastdigits reads back"):
        save_model(trained[0], buffer)
    assert buffer.getvalue() == b""
