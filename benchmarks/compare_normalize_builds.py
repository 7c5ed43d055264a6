"""The normalisation of this checkout against an earlier build of the
extension, side by side in one process: each build's ``_preprocess`` module
is imported under its own name and the two are timed in alternating pairs
(CPU time of one thread, so that other jobs on a shared box disturb less).

The earlier build is a ``_preprocess*.so`` compiled from an older checkout,
e.g. the one before the pictures issue (b74e160)::

    git worktree add /tmp/old b74e160 && (cd /tmp/old && python setup.py build_ext --inplace -q)
    python benchmarks/compare_normalize_builds.py /tmp/old/fastdigits/_preprocess.*.so [--pairs 15]

Prints, per batch, the median and range of old time / new time (> 1: this
checkout is faster).  Only the b74e160 call signature is known here.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time

import numpy as np

from _common import machine
from fastdigits.preprocess import Normalization, normalize, resize

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
import drawing  # noqa: E402


def _old_normalizer(path: str):
    spec = importlib.util.spec_from_file_location("old_build._preprocess", path)
    old = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(old)
    s = Normalization()

    def run(batch: np.ndarray) -> None:  # b74e160's _normalize_batch, one thread
        h, w = batch.shape[1:]
        if max(h, w) > s.max_side:
            ratio = s.max_side / max(h, w)
            batch = resize(batch, (round(h * ratio), round(w * ratio)), threads=1)
        out = np.empty((len(batch), s.size, s.size), np.float32)
        old.normalize(batch, out, np.full(len(batch), 1 / 255), s.box, s.clean_level, s.background_percentile,
                      s.threshold, s.gain, s.keep_ratio, s.stroke, s.ink_level, False, 1)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old_build", help="path of the earlier build's _preprocess*.so")
    parser.add_argument("--pairs", type=int, default=15)
    args = parser.parse_args()
    old = _old_normalizer(args.old_build)
    rng = np.random.default_rng(0)
    digits = np.stack([drawing.digit(str(d), size=28, stroke=0) for d in rng.integers(0, 10, 64)])
    photos = np.stack([drawing.digit(str(d), shape=(480, 640), stroke=3, paper=200, ink=40, grid=24, gradient=0.3)
                       for d in rng.integers(0, 10, 8)])
    print(f"machine: {machine()}")
    for name, batch in (("10000 x 28x28", digits[rng.integers(0, 64, 10_000)]),
                        ("100 x 480x640 photos", photos[rng.integers(0, 8, 100)])):
        ratios = []
        for _ in range(args.pairs):
            t0 = time.process_time()
            old(batch)
            t1 = time.process_time()
            normalize(batch, threads=1)
            ratios.append((t1 - t0) / (time.process_time() - t1))
        print(f"{name:>22}: old/new time median {np.median(ratios):.2f}, range {min(ratios):.2f}-{max(ratios):.2f}")


if __name__ == "__main__":
    main()
