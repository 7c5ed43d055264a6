"""Property-based fuzzing of the readers of untrusted files: arbitrary bytes
and mutated valid files give a FastDigitsError or a valid result, never
another exception, within a time and memory bound (issue 17)."""

from __future__ import annotations

import gzip
import io
import tempfile
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from fastdigits import FastDigitsError, MLPClassifier, load_model, read_idx, read_image

#: Per example: hypothesis' deadline, and the most memory one read may take (tracemalloc sees numpy's).
FUZZ = settings(max_examples=150, deadline=5000, suppress_health_check=[HealthCheck.too_slow])
MAX_BYTES = 64 << 20


def _model_bytes() -> bytes:
    rng = np.random.default_rng(0)
    model = MLPClassifier.from_weights([rng.standard_normal((400, 6)), rng.standard_normal((6, 3))],
                                       [np.zeros(6), np.zeros(3)], classes=["a", "b", "c"])
    with tempfile.TemporaryDirectory() as folder:
        return model.save(Path(folder) / "m.npz").read_bytes()


def _idx_bytes() -> bytes:
    frames = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    return bytes([0, 0, 8, 3]) + b"".join(int(n).to_bytes(4, "big") for n in frames.shape) + frames.tobytes()


def _png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8)).save(buffer, format="PNG")
    return buffer.getvalue()


VALID = {"model": _model_bytes(), "idx": _idx_bytes(), "png": _png_bytes()}


@st.composite
def mutated(draw, kind: str) -> bytes:
    """A valid file of ``kind`` with some bytes changed, some cut off, or a
    run of bytes inserted."""
    data = bytearray(VALID[kind])
    for _ in range(draw(st.integers(0, 8))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        del data[draw(st.integers(0, len(data))):]
    if draw(st.booleans()):
        at = draw(st.integers(0, len(data)))
        data[at:at] = draw(st.binary(max_size=64))
    return bytes(data)


def _read(reader, data: bytes, suffix: str):
    """reader(a file holding data): its result, or the FastDigitsError it
    raised; anything else fails, as does more than MAX_BYTES of memory."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"fuzzed{suffix}"
        path.write_bytes(data)
        tracemalloc.start()
        try:
            return reader(path)
        except FastDigitsError as exc:
            assert str(path) in str(exc), exc  # the message names the file
            return exc
        finally:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            assert peak < MAX_BYTES, f"{peak:,} bytes to read {len(data):,}"


@FUZZ
@given(st.one_of(st.binary(max_size=2048), mutated("model")))
def test_load_model_fuzzed(data):
    result = _read(load_model, data, ".npz")
    if not isinstance(result, FastDigitsError):
        proba = result.predict_proba(np.zeros((2, 400), np.float32))
        assert proba.shape == (2, len(result.classes_))


@FUZZ
@given(st.one_of(st.binary(max_size=512), mutated("idx"), mutated("idx").map(gzip.compress)))
def test_read_idx_fuzzed(data):
    result = _read(read_idx, data, ".idx")
    assert isinstance(result, (FastDigitsError, np.ndarray))


@FUZZ
@given(st.one_of(st.binary(max_size=1024), mutated("png")))
def test_read_image_fuzzed(data):
    result = _read(read_image, data, ".png")
    if isinstance(result, np.ndarray):
        assert result.dtype == np.uint8 and result.ndim == 2


def test_the_valid_files_read():
    """The fuzzers' seeds are valid: a mutation that changes nothing reads."""
    assert _read(load_model, VALID["model"], ".npz").classes_.tolist() == ["a", "b", "c"]
    assert _read(read_idx, VALID["idx"], ".idx").shape == (2, 3, 4)
    assert _read(read_image, VALID["png"], ".png").shape == (8, 8)
    with pytest.raises(AssertionError):
        _read(lambda path: np.ones(MAX_BYTES // 8 + 1), b"", ".x")  # the memory bound bites
