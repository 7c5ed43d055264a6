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
@pytest.mark.parametrize("sizes", [[5, 3], [7, 1, 2], [33, 7, 5, 10], [40, 64, 32], [400, 130, 10]])
def test_forward_rows_matches_the_float64_reference(rng, dtype, act, output, sizes):
    lay, params = random_network(rng, sizes, dtype)
    weights, biases = lay.views(params)
    x = rng.random((6, sizes[0])).astype(dtype)
    x[x < 0.4] = 0  # the loop skips zero inputs, as frames have many
    x[2] = 0  # an all-zero row: the biases alone
    out = np.full((6, sizes[-1]), np.nan, dtype)
    _forward.forward_rows(x, params, lay.sizes, HIDDEN_ACTIVATIONS[act], OUTPUTS[output], out)
    want = naive.forward(x, [w.astype(float) for w in weights], [b.astype(float) for b in biases], act, output)[-1]
    np.testing.assert_allclose(out, want, **TOL[dtype])


def test_forward_rows_checks_shapes(rng):
    lay, params = random_network(rng, [8, 4, 3], np.float32)
    x, out = np.zeros((2, 8), np.float32), np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match="params has 50 values, fewer than the weights and biases"):
        _forward.forward_rows(x, params[:-1], lay.sizes, 0, 4, out)
    with pytest.raises(ValueError, match="params has 51 values, not the 46"):
        _forward.forward_rows(x, params, np.array([8, 4, 2], np.int64), 0, 4, out)
    # Sizes whose product overflows int64 (to 3, params' length here) are refused, not multiplied.
    with pytest.raises(ValueError, match="params has 3 values, fewer than"):
        _forward.forward_rows(x, params[:3], np.array([8, 2**62, 3], np.int64), 0, 4, out)
    with pytest.raises(ValueError, match="sizes must be positive"):
        _forward.forward_rows(x, params, np.array([8, 0, 3], np.int64), 0, 4, out)
    with pytest.raises(ValueError, match="x has 7 columns, the network 8"):
        _forward.forward_rows(x[:, :7].copy(), params, lay.sizes, 0, 4, out)
    with pytest.raises(ValueError, match="out must be"):
        _forward.forward_rows(x, params, lay.sizes, 0, 4, np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match="1 to 64 layers"):
        _forward.forward_rows(x, params, lay.sizes[:1], 0, 4, out)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("sizes", [[40, 64, 32], [400, 130, 10], [9, 33, 3]])
def test_rows_go_three_at_a_time_with_the_bits_of_one_at_a_time(rng, dtype, sizes):
    """A row's outputs do not depend on the rows beside it: m rows at once
    (three at a time, the inputs' nonzeros merged; a last group of one or
    two) give the bits of each row alone, zero rows and rows without
    zeros included."""
    lay, params = random_network(rng, sizes, dtype)
    x = rng.standard_normal((8, sizes[0])).astype(dtype)
    x[1] = 0
    x[3:6][rng.random((3, sizes[0])) < 0.6] = 0  # zeros at different places in one group
    for m in range(1, len(x) + 1):
        together = np.full((m, sizes[-1]), np.nan, dtype)
        _forward.forward_rows(x[:m], params, lay.sizes, HIDDEN_ACTIVATIONS["relu"], OUTPUTS["softmax"], together)
        for i in range(m):
            alone = np.full((1, sizes[-1]), np.nan, dtype)
            _forward.forward_rows(x[i : i + 1], params, lay.sizes, HIDDEN_ACTIVATIONS["relu"], OUTPUTS["softmax"],
                                  alone)
            assert together[i].tobytes() == alone[0].tobytes(), (m, i)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n", [997, 70_001])  # without the GIL from 16,384 values
def test_outside_total_counts_values_outside_and_finds_any_non_finite(rng, dtype, n):
    """The compiled one-pass check of small inputs: 0 when all are finite
    and within [lo, hi], the number outside, NaN for any NaN or infinity
    wherever it sits (also with unbounded limits)."""
    x = rng.uniform(0, 1, n).astype(dtype)
    lo, hi = dtype(0), dtype(1)
    assert _forward.outside_total(x, lo, hi) == 0
    assert _forward.outside_total(x[:0], lo, hi) == 0
    spots = rng.choice(len(x), 5, replace=False)
    x[spots[:3]] = [-0.5, 1.5, 300]
    assert _forward.outside_total(x, lo, hi) == 3
    for bad in (np.nan, np.inf, -np.inf):
        y = x.copy()
        y[spots[3]] = bad
        assert np.isnan(_forward.outside_total(y, lo, hi))
        assert np.isnan(_forward.outside_total(y, dtype(-np.inf), dtype(np.inf)))
    assert _forward.outside_total(x, dtype(-np.inf), dtype(np.inf)) == 0


def test_few_rows_and_many_agree(rng):
    """Few rows take the compiled loop, more the Numba kernels
    (``model._kernel_rows``): the same probabilities to float rounding."""
    from fastdigits.model import _kernel_rows

    X = rng.random((2000, 400)).astype(np.float32)
    X[X < 0.7] = 0
    model = MLPClassifier((40,), max_iter=1, random_state=3).fit(X, np.arange(len(X)) % 10)
    # 40 hidden, under SUMS_WIDE: register blocks over the rest panel (after one whole panel with AVX2)
    X = X[: _kernel_rows(model.params_.size) + 40]
    many = model.predict_proba(X)
    few = np.vstack([model.predict_proba(X[i:i + 7]) for i in range(0, len(X), 7)])
    np.testing.assert_allclose(few, many, rtol=1e-5, atol=1e-7)


def test_predicting_a_picture_compiles_nothing(tmp_path):
    """A fresh process with an empty numba cache classifies one picture,
    reads a number and predicts COMPILED_ROWS rows with the shipped model
    (more than COMPILED_WORK multiply-adds) without importing numba at
    all: nothing is compiled before the first answer."""
    code = (
        "import sys, numpy as np\n"
        "from fastdigits import classify_images, config, load_model, read_number\n"
        "picture = np.zeros((60, 60), np.uint8); picture[10:50, 28:33] = 255\n"
        "result = classify_images(load_model(), [picture])[0]\n"
        "reading = read_number(np.hstack([picture, picture]))\n"
        "load_model().predict_proba(np.full((config.COMPILED_ROWS, 400), 0.5, np.float32))\n"
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

    X = rng.random((config.COMPILED_ROWS + 1, 400)).astype(np.float32)  # enough for the kernels, whatever the network
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
