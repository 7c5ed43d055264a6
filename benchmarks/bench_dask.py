"""Classifying picture files on Dask beside the local run, same files, one process.

Writes ``--files`` MNIST test digits as PNG files (synthetic pages when
``FASTDIGITS_DATA`` has no MNIST) into a temporary folder, then times the
work of ``fastdigits classify`` on them, rows streamed to the end:

- local: ``recipes.classify`` in this process (what the command runs,
  decoding threads and kernels on every CPU);
- dask: the same through ``--dask`` on a ``LocalCluster`` on 127.0.0.1
  of 1 worker process with 1 thread, 2 with 1 thread each, and 1 with 2
  threads, started beforehand and warmed by one run (startup not timed;
  sending the model is, in every run).

Rounds alternate the four; each figure is the median.  Then the cost of a
partition: one worker classifies ``--overhead-files`` files in partitions
of one file and in a single partition; the difference over the number of
extra partitions is what each partition costs (scheduling, the task's
round trip, its result's transfer).

    python benchmarks/bench_dask.py [--files 4000] [--rounds 3] [--partition-size 512] [--json out.json]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from _common import machine, write_json
from fastdigits import config, recipes


def _write_pictures(folder: Path, n: int) -> str:
    """``n`` pictures in ``folder``; what they are."""
    try:
        from fastdigits import load_mnist

        images, what = load_mnist().test_images, "MNIST test digits"
    except Exception:  # no data set here: pages with strokes
        rng = np.random.default_rng(0)
        images = np.full((n, 28, 28), 255, np.uint8)
        for page in images:
            x = rng.integers(4, 20)
            page[4:24, x:x + 4] = 0
        what = "synthetic strokes (no MNIST under FASTDIGITS_DATA)"
    for i in range(n):
        Image.fromarray(images[i % len(images)]).save(folder / f"{i:06d}.png")
    return f"{n:,} {what}, 28 x 28 PNG"


def _seconds(run) -> float:
    start = time.perf_counter()
    count = sum(1 for _ in run())
    seconds = time.perf_counter() - start
    assert count > 0
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--partition-size", type=int, default=config.PARTITION_SIZE)
    parser.add_argument("--overhead-files", type=int, default=300)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    import distributed

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        what = _write_pictures(folder, args.files)
        files = [folder]
        model = None  # the shipped model's file, read (and for Dask sent as it is) by each run, as the command does
        shapes = {"1 worker x 1 thread": (1, 1), "2 workers x 1 thread": (2, 1), "1 worker x 2 threads": (1, 2)}
        clusters = {name: distributed.LocalCluster(n_workers=n, threads_per_worker=t, processes=True,
                                                   host="127.0.0.1", dashboard_address=":0")
                    for name, (n, t) in shapes.items()}
        clients = {name: distributed.Client(cluster) for name, cluster in clusters.items()}
        runs = {"local": lambda: recipes.classify(files, model)}
        for name, client in clients.items():
            runs[f"dask, {name}"] = (lambda client=client: recipes.classify(
                files, model, client=client, partition_size=args.partition_size))
        try:
            for run in runs.values():  # warm: models loaded, kernels read from the cache
                _seconds(run)
            times = {name: [] for name in runs}
            for _ in range(args.rounds):
                for name, run in runs.items():
                    times[name].append(_seconds(run))
            medians = {name: statistics.median(t) for name, t in times.items()}

            one = clients["1 worker x 1 thread"]
            few = sorted(folder.glob("*.png"))[: args.overhead_files]
            per_file = {size: statistics.median(
                _seconds(lambda: recipes.classify(few, model, client=one, partition_size=size))
                for _ in range(args.rounds)) for size in (1, len(few))}
            overhead = (per_file[1] - per_file[len(few)]) / (len(few) - 1)
        finally:
            for client in clients.values():
                client.close()
            for cluster in clusters.values():
                cluster.close()

    print(f"{what}; partitions of {args.partition_size} files; median of {args.rounds} rounds")
    local = medians["local"]
    for name, seconds in medians.items():
        print(f"  {name:<28} {seconds:7.2f} s  {args.files / seconds:9,.0f} images/s  "
              f"{local / seconds:5.2f} x local")
    print(f"  per partition: {overhead * 1e3:.1f} ms ({len(few)} files on one worker: "
          f"{per_file[1]:.2f} s in partitions of 1, {per_file[len(few)]:.2f} s in one)")
    write_json(args.json, {"machine": {**machine(), "dask": distributed.__version__}, "files": args.files,
                           "partition_size": args.partition_size, "seconds": medians,
                           "per_partition_seconds": overhead})


if __name__ == "__main__":
    main()
