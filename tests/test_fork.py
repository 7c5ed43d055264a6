"""A process that has used fastdigits can fork workers (multiprocessing's
fork start method, gunicorn --preload, celery prefork) that still work."""

from __future__ import annotations

import subprocess
import sys

import pytest

SCRIPT = r"""
import multiprocessing as mp, sys
import numpy as np
from fastdigits import FastDigitsError, MLPClassifier, load_model
from fastdigits.augment import augment
from fastdigits.preprocess import normalize

rng = np.random.default_rng(0)
X = rng.random((2000, 400), dtype=np.float32)
X[X < 0.6] = 0
pictures = (rng.random((64, 40, 30)) * 255).astype(np.uint8)
model = load_model()
# First use in the parent: numba's parallel kernels and the Cython loops start OpenMP threads.
expected = (model.predict_proba(X), normalize(pictures, threads=2), model.predict_proba(X[:1]))
augment(X[:8].reshape(8, 20, 20))

def work(i):
    got = (model.predict_proba(X), normalize(pictures, threads=2), model.predict_proba(X[:1]))
    try:
        MLPClassifier((8,), max_iter=1).fit(X[:64], np.arange(64) % 10)
        refused = "trained"
    except FastDigitsError as exc:
        refused = str(exc)
    return got, refused

with mp.get_context("fork").Pool(2) as pool:
    results = pool.map_async(work, range(4)).get(timeout=120)
for got, refused in results:
    np.testing.assert_allclose(got[0], expected[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(got[1], expected[1])
    np.testing.assert_allclose(got[2], expected[2], rtol=1e-5, atol=1e-6)
    assert "cannot run in a process forked after" in refused and "'spawn'" in refused, refused
print("ok", len(results))
"""


@pytest.mark.skipif(sys.platform != "linux", reason="the fork start method and GNU OpenMP: Linux")
def test_a_fork_pool_works_after_the_parent_has_predicted(tmp_path):
    """Before, the children died at their first parallel kernel and the pool
    waited forever; the whole run now ends within its timeout."""
    try:
        proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300,
                              cwd=tmp_path)
    except subprocess.TimeoutExpired:
        pytest.fail("the fork pool hung")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ["ok", "4"]
