"""Training throughput: fastdigits against peers, side by side in one run.

One epoch of 60,000 rows (MNIST through the normalisation when
FASTDIGITS_DATA is set, otherwise random data of the same shape and share of zeros) through a
400-H-10 relu/softmax network with SGD + momentum 0.9, float32, for each
batch size and hidden size; the median of ``--repeats`` epochs.  Peers: a
plain NumPy implementation of the same network and optimiser (always),
scikit-learn's MLPClassifier and PyTorch CPU when installed
(``fastdigits.bench``).  All use the same thread count.

    python benchmarks/bench_train.py [--threads 2] [--repeats 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import os

from _common import write_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batches", default="32,128,512")
    parser.add_argument("--hidden", default="25,128,512")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    # Cap BLAS threads for the NumPy and scikit-learn peers before numpy loads.
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    from fastdigits import bench

    X, y, _, source = bench._data()
    peers = bench.available_peers()
    cold, warm = bench.compile_seconds()
    print(f"machine: {bench.machine()}")
    print(f"data: {source}, {len(X)} rows; threads {args.threads}; median of {args.repeats} epochs")
    print(f"fastdigits first fit in a fresh process: {cold:.1f} s with an empty kernel cache, {warm:.1f} s with it filled")
    print(f"{'network':>12} {'batch':>6} " + " ".join(f"{p + ' /s':>14}" for p in peers) + " "
          + " ".join(f"{'fd/' + p:>11}" for p in peers if p != "fastdigits"))
    rows = []
    for hidden in map(int, args.hidden.split(",")):
        for batch in map(int, args.batches.split(",")):
            row = {"network": f"400-{hidden}-10", "batch": batch}
            for peer in peers:
                row[peer] = len(X) / bench.train_epoch_seconds(peer, X, y, hidden, batch, args.threads, args.repeats)
            rows.append(row)
            print(f"{row['network']:>12} {batch:>6} " + " ".join(f"{row[p]:14,.0f}" for p in peers) + " "
                  + " ".join(f"{row['fastdigits'] / row[p]:10.2f}x" for p in peers if p != "fastdigits"), flush=True)
    write_json(args.json, {"machine": bench.machine(), "data": source, "threads": args.threads,
                           "repeats": args.repeats, "compile_seconds": {"cold": cold, "warm": warm}, "results": rows})


if __name__ == "__main__":
    main()
