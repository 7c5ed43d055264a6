from __future__ import annotations

import json
import os

import numpy as np
import pytest

from fastdigits import MLPClassifier, ModelFileError, load_model, save_model
from fastdigits.preprocess import preprocessing_dict


@pytest.fixture(scope="module")
def trained():
    rng = np.random.default_rng(5)
    X = rng.random((120, 400)).astype(np.float32)
    y = np.array(["a", "b", "c"])[rng.integers(0, 3, 120)]
    model = MLPClassifier((7, 5), activation="tanh", output="sigmoid", epochs=2).fit(X, y)
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
    with pytest.raises(OSError, match="disk full"):
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
    ],
)
def test_bad_files_are_refused(trained, tmp_path, corrupt, match):
    path = save_model(trained[0], tmp_path / "m.npz")
    corrupt(path)
    with pytest.raises(ModelFileError, match=match) as info:
        load_model(path)
    assert str(path) in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(ModelFileError, match="no such model file"):
        load_model(tmp_path / "none.npz")


def test_pipeline_travels_with_the_model(tmp_path):
    import drawing
    from fastdigits.preprocess import Normalization

    images = [drawing.digit(c, size=64, stroke=1) for c in "0101"]
    model = MLPClassifier((4,), epochs=2, preprocessing=Normalization(deskew=True, stroke=0.1)).fit(images, [0, 1, 0, 1])
    back = load_model(model.save(tmp_path / "m"))
    assert back.preprocessing == Normalization(deskew=True, stroke=0.1)
    np.testing.assert_array_equal(back.prepare(images), model.prepare(images))
    np.testing.assert_array_equal(back.predict_proba(images), model.predict_proba(images))
    scaled = MLPClassifier((4,), epochs=1, preprocessing="scale").fit(images, [0, 1, 0, 1])
    assert load_model(scaled.save(tmp_path / "s")).preprocessing == "scale"


def test_saved_files_get_ordinary_permissions(trained, tmp_path):
    mask = os.umask(0o022)
    try:
        path = save_model(trained[0], tmp_path / "m.npz")
    finally:
        os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o644
