"""Small seeded problems the estimator tests share."""

from __future__ import annotations

import numpy as np

from fastdigits import MLPClassifier


def blobs(rng, n=300, d=12, k=3, spread=0.15):
    """Linearly separable clusters in [0, 1]^d."""
    centres = rng.random((k, d))
    y = rng.integers(0, k, n)
    return (centres[y] + spread * rng.standard_normal((n, d))).astype(np.float32), y


def tiny(rng, act, output, sizes=(6, 5, 4, 3)):
    ws = [rng.standard_normal((a, b)) for a, b in zip(sizes[:-1], sizes[1:])]
    bs = [rng.standard_normal(b) for b in sizes[1:]]
    return MLPClassifier.from_weights(ws, bs, activation=act, output=output, dtype="float64"), ws, bs
