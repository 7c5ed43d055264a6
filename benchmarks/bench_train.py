"""Training throughput: fastdigits against peers, side by side in one run.

One epoch of 60,000 rows (MNIST at 20x20 when FASTDIGITS_DATA is set,
otherwise random data of the same shape) through a 400-H-10 relu/softmax
network with SGD + momentum 0.9, float32, for each batch size and hidden
size; the median of ``--repeats`` epochs.  Peers: a plain NumPy
implementation of the same network and optimiser (always), scikit-learn's
MLPClassifier and PyTorch CPU when installed.  All use the same thread
count (BLAS and torch threads are capped to it).  The first-call compile
time of the kernels is measured separately, in fresh processes.

    python benchmarks/bench_train.py [--threads 2] [--repeats 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from _common import machine, median_seconds, write_json

N_CLASSES = 10


def load_data(n: int = 60_000) -> tuple[np.ndarray, np.ndarray, str]:
    if os.environ.get("FASTDIGITS_DATA"):
        from fastdigits import load_mnist, resize

        d = load_mnist()
        X = resize(d.train_images, 20).reshape(-1, 400) * np.float32(1 / 255)
        return np.ascontiguousarray(X[:n]), d.train_labels[:n].astype(np.int64), "MNIST"
    rng = np.random.default_rng(0)
    return rng.random((n, 400), dtype=np.float32), rng.integers(0, N_CLASSES, n), "synthetic"


class NumpyMLP:
    """The same network and optimiser in plain NumPy, in-place where it can."""

    def __init__(self, hidden: int, batch: int, lr: float = 0.05, momentum: float = 0.9, seed: int = 0):
        rng = np.random.default_rng(seed)
        b1, b2 = np.sqrt(6 / 400), np.sqrt(6 / hidden)
        self.params = [
            rng.uniform(-b1, b1, (400, hidden)).astype(np.float32),
            np.zeros(hidden, np.float32),
            rng.uniform(-b2, b2, (hidden, N_CLASSES)).astype(np.float32),
            np.zeros(N_CLASSES, np.float32),
        ]
        self.velocity = [np.zeros_like(p) for p in self.params]
        self.lr, self.momentum, self.batch = np.float32(lr), np.float32(momentum), batch
        self.rng = rng
        self.eye = np.eye(N_CLASSES, dtype=np.float32)

    def epoch(self, X: np.ndarray, y: np.ndarray) -> None:
        W1, b1, W2, b2 = self.params
        order = self.rng.permutation(len(X))
        for lo in range(0, len(X), self.batch):
            idx = order[lo : lo + self.batch]
            xb, m = X[idx], len(idx)
            h = xb @ W1
            h += b1
            np.maximum(h, 0, out=h)
            z = h @ W2
            z += b2
            z -= z.max(axis=1, keepdims=True)
            np.exp(z, out=z)
            z /= z.sum(axis=1, keepdims=True)
            z -= self.eye[y[idx]]
            z *= np.float32(1 / m)
            grads = [None, None, h.T @ z, z.sum(axis=0)]
            dh = z @ W2.T
            dh *= h > 0
            grads[0], grads[1] = xb.T @ dh, dh.sum(axis=0)
            for p, v, g in zip(self.params, self.velocity, grads):
                v *= self.momentum
                v -= self.lr * g
                p += v


def bench_fastdigits(X, y, hidden, batch, threads, repeats):
    from fastdigits import MLPClassifier

    model = MLPClassifier((hidden,), learning_rate=0.05, batch_size=batch, epochs=1, threads=threads)
    model.fit(X[:batch * 2], y[:batch * 2])  # compile / load kernels outside the timing
    return median_seconds(lambda: model.partial_fit(X, y), repeats, warmup=0)


def bench_numpy(X, y, hidden, batch, threads, repeats):
    net = NumpyMLP(hidden, batch)
    return median_seconds(lambda: net.epoch(X, y), repeats)


def bench_sklearn(X, y, hidden, batch, threads, repeats):
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier as SkMLP

    net = SkMLP((hidden,), solver="sgd", momentum=0.9, nesterovs_momentum=False, learning_rate_init=0.05,
                alpha=0.0, batch_size=batch, max_iter=1, shuffle=True, random_state=0)
    classes = np.arange(N_CLASSES)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        net.partial_fit(X[:batch], y[:batch], classes=classes)
        return median_seconds(lambda: net.partial_fit(X, y), repeats, warmup=0)


def bench_torch(X, y, hidden, batch, threads, repeats):
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(400, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, N_CLASSES))
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)

    def epoch():
        order = torch.randperm(len(Xt))
        for lo in range(0, len(Xt), batch):
            idx = order[lo : lo + batch]
            opt.zero_grad(set_to_none=True)
            loss_fn(net(Xt[idx]), yt[idx]).backward()
            opt.step()

    return median_seconds(epoch, repeats)


PEERS = {"fastdigits": bench_fastdigits, "numpy": bench_numpy, "sklearn": bench_sklearn, "torch": bench_torch}

_COMPILE_PROBE = (
    "import time, numpy as np; t = time.perf_counter();"
    "from fastdigits import MLPClassifier;"
    "MLPClassifier((8,), epochs=1).fit(np.random.default_rng(0).random((64, 400), dtype=np.float32), np.arange(64) % 10);"
    "print(time.perf_counter() - t)"
)


def compile_seconds() -> tuple[float, float]:
    """(cold: empty kernel cache, warm: cache filled) first-fit seconds in fresh processes."""
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        run = lambda: float(subprocess.run([sys.executable, "-c", _COMPILE_PROBE], env=env, check=True,  # noqa: E731
                                           capture_output=True, text=True).stdout)
        return run(), run()


def available(name: str) -> bool:
    try:
        __import__({"sklearn": "sklearn", "torch": "torch"}.get(name, "numpy"))
        return True
    except ImportError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batches", default="32,128,512")
    parser.add_argument("--hidden", default="25,128,512")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    # Cap BLAS threads for the NumPy and scikit-learn peers before they load.
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    os.environ["NUMBA_NUM_THREADS"] = str(args.threads)

    X, y, source = load_data()
    peers = [p for p in PEERS if available(p)]
    info = machine()
    cold, warm = compile_seconds()
    print(f"machine: {info}")
    print(f"data: {source}, {len(X)} rows; threads {args.threads}; median of {args.repeats} epochs")
    print(f"fastdigits first fit in a fresh process: {cold:.1f} s with an empty kernel cache, {warm:.1f} s with it filled")
    header = f"{'network':>12} {'batch':>6} " + " ".join(f"{p + ' /s':>14}" for p in peers)
    header += " " + " ".join(f"{'fd/' + p:>11}" for p in peers if p != "fastdigits")
    print(header)
    rows = []
    for hidden in map(int, args.hidden.split(",")):
        for batch in map(int, args.batches.split(",")):
            row = {"network": f"400-{hidden}-10", "batch": batch}
            for peer in peers:
                row[peer] = len(X) / PEERS[peer](X, y, hidden, batch, args.threads, args.repeats)
            rows.append(row)
            line = f"{row['network']:>12} {batch:>6} " + " ".join(f"{row[p]:14,.0f}" for p in peers)
            line += " " + " ".join(f"{row['fastdigits'] / row[p]:10.2f}x" for p in peers if p != "fastdigits")
            print(line, flush=True)
    write_json(args.json, {"machine": info, "data": source, "threads": args.threads, "repeats": args.repeats,
                           "compile_seconds": {"cold": cold, "warm": warm}, "results": rows})


if __name__ == "__main__":
    main()
