"""The Cython area scaler against Pillow's resize, side by side in one run.

The Pillow path is what a user would write: numpy -> PIL image -> resize
with the BOX filter -> numpy, one image at a time.

    python benchmarks/bench_scale.py [--json out.json]
"""

from __future__ import annotations

import argparse

import numpy as np
from PIL import Image

from _common import machine, median_seconds, write_json
from fastdigits.preprocess import resize

CASES = [((28, 28), 10_000), ((480, 640), 500)]


def pillow_resize(batch: np.ndarray, size: int = 20) -> np.ndarray:
    return np.stack(
        [np.asarray(Image.fromarray(img).resize((size, size), Image.Resampling.BOX), dtype=np.float32) for img in batch]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    info = machine()
    print(f"machine: {info}")
    print(f"{'case':>22} {'pillow img/s':>14} {'cython 1 thr':>14} {'cython all':>14} {'ratio all/pillow':>17}")
    rows = []
    for (h, w), n in CASES:
        batch = rng.integers(0, 256, size=(n, h, w), dtype=np.uint8)
        t_pil = median_seconds(lambda: pillow_resize(batch), args.repeats)
        t_one = median_seconds(lambda: resize(batch, 20, threads=1), args.repeats)
        t_all = median_seconds(lambda: resize(batch, 20), args.repeats)
        row = {"case": f"{n}x{h}x{w}->20x20 uint8", "pillow": n / t_pil, "cython_1": n / t_one, "cython_all": n / t_all}
        row["ratio"] = row["cython_all"] / row["pillow"]
        rows.append(row)
        print(f"{row['case']:>22} {row['pillow']:14,.0f} {row['cython_1']:14,.0f} {row['cython_all']:14,.0f} {row['ratio']:16.1f}x")
    write_json(args.json, {"machine": info, "results": rows})


if __name__ == "__main__":
    main()
