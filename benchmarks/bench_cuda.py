"""fastdigits on an NVIDIA GPU (numba.cuda) beside PyTorch on the same GPU.

Training: one epoch of 60,000 rows (MNIST through the normalisation when
FASTDIGITS_DATA is set, otherwise random rows with MNIST's share of zeros;
raw 28x28 pixels for the 784-input network), relu/softmax, SGD + momentum
0.9, float32.  fastdigits' figure is the median epoch of one fit of
``--repeats`` + 1 epochs, the first left out (``history_``'s seconds: the
data is on the GPU by then, as torch's is); PyTorch's is the median of
``--repeats`` epochs over tensors put on the GPU beforehand, each followed
by a synchronise.  fastdigits trains each run of batches in one launch;
"2 launches" is the same with two launches per batch
(``config.CUDA_FUSED = False``).  ``--train-blocks`` and ``--train-threads``
time the one-launch kernel on other grid and block sizes for the first case.  Inference: probabilities of
10,000 rows from host memory to host memory, both peers, and fastdigits'
kernel on rows already on the GPU.  ``--cpu`` adds fastdigits' CPU kernels
and NumPy on this machine's cores (the CPU kernels compile first).

    python benchmarks/bench_cuda.py [--repeats 5] [--cpu] [--train-blocks 132,264] [--json out.json]
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np
from _common import median_seconds, write_json


def _torch_cuda():
    try:
        import torch
    except ImportError:
        return None
    return torch if torch.cuda.is_available() else None


def fastdigits_epoch(X, y, hidden, batch, repeats, device):
    from fastdigits import MLPClassifier

    model = MLPClassifier((hidden,), learning_rate_init=0.05, batch_size=batch, max_iter=repeats + 1, device=device)
    model.fit(X[: batch * 2], y[: batch * 2])  # compiled (or loaded) here
    model.fit(X, y)
    return statistics.median(h["seconds"] for h in model.history_[1:]), model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cases", default="400-128-32,400-128-128,400-128-512,400-512-128,784-800-128")
    parser.add_argument("--cpu", action="store_true", help="add fastdigits' CPU kernels and NumPy on this machine")
    parser.add_argument("--rows", type=int, default=60_000, help="training rows (fewer for a quick look)")
    parser.add_argument("--train-blocks", default="", help="grid sizes to try for the one-launch kernel")
    parser.add_argument("--train-threads", default="", help="block sizes to try for the one-launch kernel")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    from numba import cuda

    from fastdigits import bench, config, training
    from fastdigits.kernels import cuda as gpu

    torch = _torch_cuda()
    cold, warm = bench.compile_seconds("cuda")
    X, y, _, source = bench._data()
    X, y = X[: args.rows], y[: args.rows]
    X784 = None
    name = torch.cuda.get_device_name(0) if torch else "an NVIDIA GPU (name needs torch)"
    print(f"machine: {bench.machine()}; GPU: {name}")
    print(f"data: {source}, {len(X)} rows; median of {args.repeats} epochs")
    print(f"first CUDA fit in a fresh process: {cold:.1f} s with an empty kernel cache, {warm:.1f} s with it filled")
    results = []
    for case in args.cases.split(","):
        n_in, hidden, batch = map(int, case.split("-"))
        if n_in == 784 and X784 is None:
            X784 = bench.raw_rows(len(X))
        rows = X if n_in == X.shape[1] else X784
        row = {"network": f"{n_in}-{hidden}-10", "batch": batch}
        row["fastdigits cuda"] = len(rows) / fastdigits_epoch(rows, y, hidden, batch, args.repeats, "cuda")[0]
        config.CUDA_FUSED = False
        row["fastdigits cuda, 2 launches"] = len(rows) / fastdigits_epoch(rows, y, hidden, batch, args.repeats,
                                                                          "cuda")[0]
        config.CUDA_FUSED = True
        if case == args.cases.split(",")[0]:
            for blocks in filter(None, args.train_blocks.split(",")):
                config.CUDA_TRAIN_BLOCKS = int(blocks)
                try:
                    row[f"fastdigits cuda, {blocks} blocks"] = len(rows) / fastdigits_epoch(
                        rows, y, hidden, batch, args.repeats, "cuda")[0]
                except Exception as exc:  # more blocks than can be resident
                    print(f"{blocks} blocks: {exc}")
                config.CUDA_TRAIN_BLOCKS = 0
            default_threads = config.CUDA_ROW_THREADS
            for threads in filter(None, args.train_threads.split(",")):
                config.CUDA_ROW_THREADS = int(threads)
                row[f"fastdigits cuda, {threads} threads a block"] = len(rows) / fastdigits_epoch(
                    rows, y, hidden, batch, args.repeats, "cuda")[0]
            config.CUDA_ROW_THREADS = default_threads
        if torch:
            epoch = bench.epoch_runner("torch", rows, y, hidden, batch, config.default_threads(), device="cuda")
            row["torch cuda"] = len(rows) / median_seconds(epoch, args.repeats)
        if args.cpu:
            row["fastdigits cpu"] = len(rows) / fastdigits_epoch(rows, y, hidden, batch, args.repeats, "cpu")[0]
            row["numpy"] = len(rows) / bench.train_epoch_seconds("numpy", rows, y, hidden, batch, 0, args.repeats)
        results.append(row)
        print(f"train {row['network']} batch {batch:>4}: " + ", ".join(
            f"{k} {v:,.0f}/s" for k, v in row.items() if k not in ("network", "batch"))
            + (f"; fastdigits/torch {row['fastdigits cuda'] / row['torch cuda']:.2f}x" if torch else ""), flush=True)

    _, model = fastdigits_epoch(X[:4096], y[:4096], 128, 128, 1, "cuda")
    X = bench._data()[0] if len(X) < 10_000 else X
    rows = np.ascontiguousarray(X[:10_000])
    infer = {"fastdigits cuda": len(rows) / median_seconds(lambda: model.predict_proba(rows), args.repeats),
             "fastdigits cuda, one row (us)": 1e6 * median_seconds(lambda: model.predict_proba(rows[:1]), args.repeats)}
    d_rows, d_params = gpu.to_device(rows), gpu.to_device(model.params_)
    d_out = gpu.to_device(np.empty((len(rows), 10), np.float32))

    def on_gpu():
        gpu.forward(d_rows, training.network(model), d_params, None, d_out, 1)
        cuda.synchronize()

    infer["fastdigits cuda, rows on the GPU"] = len(rows) / median_seconds(on_gpu, args.repeats)
    # Where one row's time goes: the copies, and a launch of the kernel alone.
    one, few = rows[:1], gpu.to_device(rows[:1])
    d_one = gpu.to_device(np.empty((1, 10), np.float32))

    def one_on_gpu():
        gpu.forward(few, training.network(model), d_params, None, d_one, 1)
        cuda.synchronize()

    for label, fn in (("upload one row", lambda: gpu.to_device(one)),
                      ("upload the weights", lambda: gpu.to_device(model.params_)),
                      ("one row on the GPU", one_on_gpu),
                      ("download one row", lambda: d_one.copy_to_host())):
        infer[f"fastdigits cuda, {label} (us)"] = 1e6 * median_seconds(fn, max(args.repeats, 20))
    if torch:
        net = torch.nn.Sequential(torch.nn.Linear(400, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10)).cuda()

        def torch_proba(a):
            with torch.no_grad():
                return torch.softmax(net(torch.from_numpy(a).cuda()), 1).cpu().numpy()

        infer["torch cuda"] = len(rows) / median_seconds(lambda: torch_proba(rows), args.repeats)
        infer["torch cuda, one row (us)"] = 1e6 * median_seconds(lambda: torch_proba(rows[:1]), args.repeats)
    print("predict_proba, 10,000 rows, H=128, host to host: " + ", ".join(
        f"{k} {v:,.1f}" if "us" in k else f"{k} {v:,.0f}/s" for k, v in infer.items()))
    print(f"one-launch kernel: {gpu._FUSED_FAILED[0] if gpu._FUSED_FAILED else 'used'}; grid sizes "
          f"{sorted(set(gpu._FUSED_BLOCKS.values()))}")
    write_json(args.json, {"machine": bench.machine(), "gpu": name, "data": source, "repeats": args.repeats,
                           "compile_seconds": {"cold": cold, "warm": warm}, "train": results, "inference": infer})


if __name__ == "__main__":
    main()
