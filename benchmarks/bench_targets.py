"""Every speed target of the speed issue, fastdigits beside each installed
peer (NumPy always; PyTorch CPU and scikit-learn when installed), in one run.

- training: one epoch of 60,000 rows, SGD + momentum 0.9, float32, the
  same threads for everyone; repeats interleaved across peers, medians; the
  achieved GFLOP/s, counting only the flops a sample needs (its zero
  inputs skipped: ``bench.needed_flops``), beside OpenBLAS sgemm's GFLOP/s
  on the layer's own shape (batch x n_in @ n_in x H), so that beating
  NumPy below sgemm's rate shows as a win from the zeros; on MNIST and on
  dense rows (standard normal: no zeros);
- inference: predict_proba on 10,000 prepared rows (each timed call after
  a rest, as the training epochs are, and in steady use: calls back to back
  after one untimed call), and one row's latency, on MNIST and on dense
  rows;
- for each training case, what launching an empty parallel pass costs
  just before and just after its runs: on our shared boxes it rises from
  about 0.8 us to about 2 us in the slow spells described in RESULTS.md,
  when every peer slows and fastdigits, which hands work between its
  threads twice a batch, most;
- end to end, in fresh processes: the default ``fastdigits train`` on MNIST
  with an empty kernel cache (wall time, test accuracy, peak RSS), and
  ``fastdigits classify one.png`` with a warm cache.

Data: MNIST through the normalisation (raw 28x28 pixels for the 784-input
case) when FASTDIGITS_DATA is set, otherwise random data of the same shapes and share of zeros.

    python benchmarks/bench_targets.py [--threads 2] [--repeats 5] [--settle 0.25] [--json out.json]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from _common import write_json

def end_to_end(threads: int) -> dict:
    """Default train (empty kernel cache) and classify one.png (warm cache), in subprocesses."""
    exe = shutil.which("fastdigits") or str(Path(sys.executable).with_name("fastdigits"))
    out: dict = {}
    rss_probe = ("import resource, subprocess, sys, time; t = time.perf_counter();"
                 "p = subprocess.run(sys.argv[1:], capture_output=True, text=True);"
                 "print(time.perf_counter() - t); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss);"
                 "print(p.returncode); print(p.stdout)")
    with tempfile.TemporaryDirectory() as tmp:
        if os.environ.get("FASTDIGITS_DATA"):
            env = {**os.environ, "NUMBA_CACHE_DIR": os.path.join(tmp, "cache")}
            for key in ("default_train", "default_train_warm_cache"):  # the first run fills the cache
                lines = subprocess.run([sys.executable, "-c", rss_probe, exe, "train", "--threads", str(threads),
                                        "-o", os.path.join(tmp, "m.npz")], env=env, cwd=tmp, capture_output=True,
                                       text=True, check=True).stdout.splitlines()
                accuracy = re.search(r"test accuracy ([\d.]+)%", "\n".join(lines[3:]))
                out[key] = {"wall_seconds": float(lines[0]), "peak_rss_mb": int(lines[1]) / 1024,
                            "exit": int(lines[2]), "test_accuracy": float(accuracy.group(1)) / 100 if accuracy else None}
        from PIL import Image

        sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
        import drawing

        Image.fromarray(drawing.digit("7", size=300, stroke=4)).save(os.path.join(tmp, "one.png"))
        run = lambda: subprocess.run([exe, "classify", "one.png"], cwd=tmp, capture_output=True, check=True)  # noqa: E731
        run()  # warms the kernel cache
        times = []
        for _ in range(3):
            t = time.perf_counter()
            run()
            times.append(time.perf_counter() - t)
        out["classify_one_png_seconds"] = sorted(times)[1]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--settle", type=float, default=None,
                        help="seconds of rest before each timed run (default: fastdigits.bench.SETTLE_SECONDS)")
    args = parser.parse_args()
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[var] = str(args.threads)

    from fastdigits import bench

    if args.settle is not None:
        bench.SETTLE_SECONDS = args.settle

    peers = bench.available_peers()
    X400, y, _, source = bench._data()
    print(f"machine: {bench.machine()}")
    print(f"data: {source}; threads {args.threads}; medians of {args.repeats} interleaved repeats")
    print(bench.format_header(peers))
    results = []
    for dense in (False, True):
        cases = bench.training_cases(X400, y, args.threads, args.repeats, peers, dense=dense)
        for case in [*cases, *bench.inference_cases(X400, y, args.threads, args.repeats, peers, dense=dense)]:
            results.append(asdict(case))
            print(bench.format_row(case, peers), flush=True)
    e2e = end_to_end(args.threads)
    print(f"end to end: {e2e}")
    write_json(args.json, {"machine": bench.machine(), "data": source, "threads": args.threads,
                           "repeats": args.repeats, "results": results, "end_to_end": e2e})


if __name__ == "__main__":
    main()
