"""The forward pass compiled at install (ext/_forward.pyx): prediction of a
few rows without any JIT compile."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import naive
from fastdigits import MLPClassifier, _forward, config
from fastdigits.kernels import HIDDEN_ACTIVATIONS, OUTPUTS
from kernel_cases import random_network

TOL = {np.float64: dict(rtol=1e-12, atol=1e-12), np.float32: dict(rtol=2e-5, atol=2e-6)}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("act", ["sigmoid", "tanh", "relu", "identity"])
@pytest.mark.parametrize("output", ["softmax", "sigmoid"])
@pytest.mark.parametrize("sizes", [[5, 3], [7, 1, 2], [33, 7, 5, 10], [400, 130, 10]])
def test_forward_rows_matches_the_float64_reference(rng, dtype, act, output, sizes):
    lay, params = random_network(rng, sizes, dtype)
    weights, biases = lay.views(params)
    x = rng.random((6, sizes[0])).astype(dtype)
    x[x < 0.4] = 0  # the loop skips zero inputs, as frames have many
    x[2] = 0  # an all-zero row: the biases alone
    out = np.empty((6, sizes[-1]), dtype)
    got = _forward.forward_rows(x, list(weights), list(biases), HIDDEN_ACTIVATIONS[act], OUTPUTS[output], out)
    want = naive.forward(x, [w.astype(float) for w in weights], [b.astype(float) for b in biases], act, output)[-1]
    assert got is not None and np.shares_memory(got, out)
    np.testing.assert_allclose(out, want, **TOL[dtype])


def test_forward_rows_checks_shapes(rng):
    lay, params = random_network(rng, [8, 4, 3], np.float32)
    (w1, w2), (b1, b2) = lay.views(params)
    x, out = np.zeros((2, 8), np.float32), np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match="layer 1"):
        _forward.forward_rows(x, [w1, w1], [b1, b1], 0, 4, out)
    with pytest.raises(ValueError, match="out must be"):
        _forward.forward_rows(x, [w1, w2], [b1, b2], 0, 4, np.zeros((2, 4), np.float32))


def test_few_rows_and_many_agree(rng):
    """Up to COMPILED_ROWS rows take the compiled loop, more the Numba
    kernels: the same probabilities to float rounding."""
    X = rng.random((config.COMPILED_ROWS + 40, 400)).astype(np.float32)
    X[X < 0.7] = 0
    model = MLPClassifier((24,), max_iter=1, random_state=3).fit(X, np.arange(len(X)) % 10)
    many = model.predict_proba(X)
    few = np.vstack([model.predict_proba(X[i:i + 7]) for i in range(0, len(X), 7)])
    np.testing.assert_allclose(few, many, rtol=1e-5, atol=1e-7)


def test_predicting_a_picture_compiles_nothing(tmp_path):
    """A fresh process with an empty numba cache classifies one picture and
    reads a number without importing numba at all: nothing is compiled
    before the first answer."""
    code = (
        "import sys, numpy as np\n"
        "from fastdigits import classify_images, load_model, read_number\n"
        "picture = np.zeros((60, 60), np.uint8); picture[10:50, 28:33] = 255\n"
        "result = classify_images(load_model(), [picture])[0]\n"
        "reading = read_number(np.hstack([picture, picture]))\n"
        "print(result.label, reading.text, 'numba' in sys.modules)\n"
    )
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120,
                          cwd=tmp_path)  # the installed package, not the source tree
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["1", "11", "False"]
    assert not (tmp_path / "numba").exists() or not any((tmp_path / "numba").rglob("*.nbc"))


def test_a_kernel_about_to_compile_is_announced_once(rng, monkeypatch, caplog):
    from fastdigits.kernels import backend, cache

    X = rng.random((config.COMPILED_ROWS + 1, 400)).astype(np.float32)
    model = MLPClassifier((4,), max_iter=1).fit(X, np.arange(len(X)) % 2)
    monkeypatch.setattr(backend, "_ANNOUNCED", set())
    monkeypatch.setattr(cache, "is_compiled", lambda dispatcher, dtype=None: False)  # as with an empty cache
    with caplog.at_level("WARNING", logger="fastdigits"):
        model.predict_proba(X[:3])  # the compiled loop: nothing to announce
        assert caplog.messages == []
        model.predict_proba(X)
        model.predict_proba(X)
    assert caplog.messages == ["compiling the prediction kernel for float32 rows on this CPU, once (numba caches it): "
                               "up to a minute on 2 cores"]
