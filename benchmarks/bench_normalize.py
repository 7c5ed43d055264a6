"""MNIST-style normalisation: the Cython pipeline against the same steps
done with Pillow + NumPy as a user would, side by side in one run.

The user's version is ``fastdigits.bench.pillow_normalize``: it skips
background removal, speck removal and stroke work, so it is the cheaper of
the two.

    python benchmarks/bench_normalize.py [--repeats 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

from _common import machine, median_seconds, write_json
from fastdigits.bench import pillow_normalize
from fastdigits.preprocess import normalize

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
import drawing  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    mnist_like = np.stack([drawing.digit(str(d), size=28, stroke=0) for d in rng.integers(0, 10, 64)])
    batch28 = mnist_like[rng.integers(0, 64, 10_000)]
    photos = np.stack([drawing.digit(str(d), shape=(480, 640), stroke=3, paper=200, ink=40, grid=24, gradient=0.3)
                       for d in rng.integers(0, 10, 8)])
    batch640 = photos[rng.integers(0, 8, 100)]
    info = machine()
    print(f"machine: {info}")
    print(f"{'case':>24} {'pillow+numpy img/s':>19} {'cython img/s':>13} {'ratio':>7}")
    rows = []
    for name, batch in (("10000 x 28x28", batch28), ("100 x 480x640 photos", batch640)):
        t_user = median_seconds(lambda: [pillow_normalize(im) for im in batch], args.repeats)
        t_ours = median_seconds(lambda: normalize(batch), args.repeats)
        row = {"case": name, "pillow_numpy": len(batch) / t_user, "cython": len(batch) / t_ours}
        row["ratio"] = row["cython"] / row["pillow_numpy"]
        rows.append(row)
        print(f"{name:>24} {row['pillow_numpy']:19,.0f} {row['cython']:13,.0f} {row['ratio']:6.1f}x")
    write_json(args.json, {"machine": info, "results": rows})


if __name__ == "__main__":
    main()
