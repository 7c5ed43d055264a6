"""Speed measurements as data, for ``fastdigits bench`` and ``benchmarks/``.

Every case times fastdigits and its peers side by side in one process,
the same network, optimiser, batch, dtype and thread count: a plain NumPy
implementation always, scikit-learn and PyTorch (CPU) when installed.
Times are medians over repeats; kernel compile time is measured apart.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

__all__ = ["DENSE_TRAIN_CASES", "TRAIN_CASES", "Measurement", "NumpyMLP", "dense_rows", "epoch_runner",
           "inference_cases", "inference_pair", "interleaved_medians", "launch_microseconds", "machine",
           "median_seconds", "needed_flops", "run", "sgemm_gflops", "training_cases"]

N_CLASSES = 10


def median_seconds(fn: Callable[[], object], repeats: int = 5, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` over ``repeats`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def machine() -> dict:
    """What ran the measurements: CPU model, cores, Python and library versions."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info = {"cpu": cpu, "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
            "python": platform.python_version(), "numpy": np.__version__}
    for name in ("numba", "PIL", "sklearn", "torch"):
        if name in ("sklearn", "torch") and not _installed(name):
            continue
        try:
            info[name] = __import__(name).__version__
        except ImportError:
            pass
    return info


def _installed(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


# ------------------------------------------------------------ the peers


class NumpyMLP:
    """400-H-10 relu/softmax with SGD + momentum in plain NumPy, in place
    where it can be: the reference every speed figure is compared with."""

    def __init__(self, n_in: int, hidden: int, batch: int, lr: float = 0.05, momentum: float = 0.9, seed: int = 0):
        rng = np.random.default_rng(seed)
        b1, b2 = np.sqrt(6 / n_in), np.sqrt(6 / hidden)
        self.params = [
            rng.uniform(-b1, b1, (n_in, hidden)).astype(np.float32),
            np.zeros(hidden, np.float32),
            rng.uniform(-b2, b2, (hidden, N_CLASSES)).astype(np.float32),
            np.zeros(N_CLASSES, np.float32),
        ]
        self.velocity = [np.zeros_like(p) for p in self.params]
        self.lr, self.momentum, self.batch = np.float32(lr), np.float32(momentum), batch
        self.rng = rng
        self.eye = np.eye(N_CLASSES, dtype=np.float32)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Probabilities: the three-line forward pass."""
        W1, b1, W2, b2 = self.params
        z = np.maximum(x @ W1 + b1, 0) @ W2 + b2
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

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


def epoch_runner(peer: str, X, y, hidden: int, batch: int, threads: int,
                 device: str = "cpu") -> Callable[[], object]:
    """A function running one epoch of SGD + momentum 0.9 over (X, y) with
    ``peer``'s implementation of the same 1-hidden-layer relu/softmax net,
    set up (and compiled) outside what it times.  PyTorch may run on
    ``device="cuda"``, its tensors put there first and each epoch ending
    in a synchronise."""
    if peer == "fastdigits":
        from .model import MLPClassifier

        model = MLPClassifier((hidden,), learning_rate_init=0.05, batch_size=batch, max_iter=1, threads=threads)
        model.fit(X[: batch * 2], y[: batch * 2])  # kernels compiled or loaded here
        return lambda: model.partial_fit(X, y)
    if peer == "numpy":
        net = NumpyMLP(X.shape[1], hidden, batch)
        return lambda: net.epoch(X, y)
    if peer == "sklearn":
        import warnings

        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier as SkMLP

        net = SkMLP((hidden,), solver="sgd", momentum=0.9, nesterovs_momentum=False, learning_rate_init=0.05,
                    alpha=0.0, batch_size=batch, max_iter=1, shuffle=True, random_state=0)
        classes = np.arange(N_CLASSES)

        def epoch():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                net.partial_fit(X, y, classes=classes)

        return epoch
    if peer == "torch":
        import torch

        torch.set_num_threads(threads)
        torch.manual_seed(0)
        dev = torch.device(device)
        net = torch.nn.Sequential(torch.nn.Linear(X.shape[1], hidden), torch.nn.ReLU(),
                                  torch.nn.Linear(hidden, N_CLASSES)).to(dev)
        opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
        loss_fn = torch.nn.CrossEntropyLoss()
        Xt = torch.from_numpy(np.ascontiguousarray(X)).to(dev)
        yt = torch.from_numpy(y.astype(np.int64)).to(dev)

        def epoch():
            order = torch.randperm(len(Xt), device=dev)
            for lo in range(0, len(Xt), batch):
                idx = order[lo : lo + batch]
                opt.zero_grad(set_to_none=True)
                loss_fn(net(Xt[idx]), yt[idx]).backward()
                opt.step()
            if dev.type == "cuda":
                torch.cuda.synchronize()

        return epoch
    raise ValueError(f"unknown peer {peer!r}")


#: Seconds of rest before each timed run: long enough for the previous
#: peer's idle worker threads (OpenBLAS spins for about 0.1 s after a call,
#: OpenMP for a while after a parallel loop) to go to sleep instead of
#: taking a core from the next one.
SETTLE_SECONDS = 0.25


def interleaved_medians(runners: dict[str, Callable[[], object]], repeats: int,
                        steady_calls: int = 0) -> dict[str, float]:
    """Median seconds of each runner, the peers' repeats interleaved (A B C
    A B C ...) so that a machine's drift hits all of them alike.  Each runs
    once untimed first, and each turn follows a pause of ``SETTLE_SECONDS``.

    With ``steady_calls``, a turn is one untimed call (the thread pools wake
    up: after the pause that can cost a parallel runtime milliseconds) and
    then that many calls timed one by one, as in steady use; the median is
    then that of single calls."""
    times: dict[str, list[float]] = {name: [] for name in runners}
    for fn in runners.values():
        fn()
    for _ in range(repeats):
        for name, fn in runners.items():
            time.sleep(SETTLE_SECONDS)
            if steady_calls:
                fn()
            for _ in range(max(1, steady_calls)):
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def train_epoch_seconds(peer: str, X, y, hidden: int, batch: int, threads: int, repeats: int) -> float:
    """Median seconds of one epoch of ``peer`` (see :func:`epoch_runner`)."""
    return interleaved_medians({peer: epoch_runner(peer, X, y, hidden, batch, threads)}, repeats)[peer]


def launch_microseconds(threads: int, calls: int = 20_000) -> float:
    """Microseconds to launch an empty parallel pass on ``threads`` threads
    and wait for it (``kernels.cpu.empty_pass``), back to back: what each
    of a training batch's two passes pays before any work.  On a shared
    virtual machine it moves with how far apart the host has put our
    CPUs, and so does how much the second thread speeds a pass up.  Timed
    after a rest of ``SETTLE_SECONDS``, as every run is, so that a peer's
    spinning threads do not count."""
    from .kernels import cpu

    flags = np.zeros(16 * threads)
    cpu.empty_passes(flags, threads, 10)
    time.sleep(SETTLE_SECONDS)
    start = time.perf_counter()
    cpu.empty_passes(flags, threads, calls)
    return 1e6 * (time.perf_counter() - start) / calls


def available_peers() -> list[str]:
    return ["fastdigits", "numpy"] + [p for p in ("sklearn", "torch") if _installed(p)]


def pillow_normalize(image: np.ndarray) -> np.ndarray:
    """The normalisation's main steps as a user would write them with
    Pillow + NumPy: invert if the border is light, threshold for the ink's
    box, crop, BOX-resize the long side to 20, centre the mass by whole
    pixels.  (No background, speck or stroke work: the cheaper of the two.)"""
    from PIL import Image

    a = image.astype(np.float32) / 255
    border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
    if np.median(border) > 0.5:
        a = 1 - a
    ys, xs = np.nonzero(a > 0.2)
    frame = np.zeros((20, 20), np.float32)
    if len(ys) == 0:
        return frame
    crop = a[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    h, w = crop.shape
    f = 20 / max(h, w)
    small = np.asarray(Image.fromarray(crop, mode="F").resize((max(1, round(w * f)), max(1, round(h * f))),
                                                            Image.Resampling.BOX))
    sh, sw = small.shape
    y0, x0 = (20 - sh) // 2, (20 - sw) // 2
    frame[y0 : y0 + sh, x0 : x0 + sw] = small
    yy, xx = np.mgrid[0:20, 0:20]
    total = frame.sum()
    dy = int(round(9.5 - (frame * yy).sum() / total))
    dx = int(round(9.5 - (frame * xx).sum() / total))
    return np.roll(frame, (dy, dx), axis=(0, 1))


_COMPILE_PROBE = (
    "import time, numpy as np; t = time.perf_counter();"
    "from fastdigits import MLPClassifier;"
    "m = MLPClassifier((8,), max_iter=1, device={device!r}).fit(np.random.default_rng(0).random((64, 400), "
    "dtype=np.float32),"
    " np.arange(64) % 10); m.predict_proba(np.zeros((1, 400), np.float32));"
    " m.predict_proba(np.zeros((1000, 400), np.float32));"  # the batch kernel, beyond model._kernel_rows
    "print(time.perf_counter() - t)"
)


def compile_seconds(device: str = "cpu", *, own_cache: bool = False) -> tuple[float, float]:
    """Seconds to the first fit and predict on ``device`` in a fresh
    process: (with an empty kernel cache, with the cache filled by the
    first).

    The empty cache is one of the probes' own, without the kernels that
    ``pip install`` compiled (``kernels.cache``): the figure is numba's
    whole compile.  With ``own_cache`` the probes use this user's caches
    instead: the first fills them, so that nothing compiles twice in one run
    (``--quick``), and it measures an empty cache only if they were
    empty."""
    from .kernels import cache as kernel_cache

    code = _COMPILE_PROBE.format(device=device)
    with tempfile.TemporaryDirectory() as cache:
        env = (dict(os.environ) if own_cache
               else {**os.environ, "NUMBA_CACHE_DIR": cache, kernel_cache.ENV: "0"})

        def probe() -> float:
            out = subprocess.run([sys.executable, "-c", code], env=env, cwd=cache, check=True,
                                 capture_output=True, text=True)
            return float(out.stdout)

        return probe(), probe()


def kernels_cached() -> bool:
    """Whether the training kernel for float32 rows is compiled in a cache
    (the package's or this user's numba cache)."""
    from .kernels import cpu
    from .kernels.cache import is_compiled

    return is_compiled(cpu.train_range, "float32")


# ------------------------------------------------------------ the report


@dataclass
class Measurement:
    """One case: a rate (or latency) for each peer that ran it."""

    case: str
    unit: str  #: "samples/s", "images/s" or "us"
    values: dict[str, float] = field(default_factory=dict)
    #: Training cases: fastdigits' rate in GFLOP/s, counting only the flops
    #: a sample needs (``needed_flops``: its inputs' zeros skipped), and
    #: OpenBLAS sgemm's on the layer's own shape, dense.  Beating a peer
    #: at a rate below sgemm's is a win from the zeros.
    gflops: float | None = None
    sgemm_gflops: float | None = None
    #: Training cases: ``launch_microseconds`` just before and just after
    #: the case's runs (about 0.8 on our quiet 2-core boxes, 2 or more in
    #: the spells when every peer slows, fastdigits most).
    launch_us: list[float] = field(default_factory=list)

    def ratio(self, peer: str) -> float | None:
        """How many times faster fastdigits is than ``peer``."""
        ours, theirs = self.values.get("fastdigits"), self.values.get(peer)
        if not ours or not theirs:
            return None
        return theirs / ours if self.unit == "us" else ours / theirs


def _mnist_folder():
    """The local MNIST folder, or None (never downloads)."""
    from .data import find_mnist
    from .errors import FastDigitsError

    try:
        return find_mnist()
    except FastDigitsError:
        return None


def _data(n: int = 60_000) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """(features, labels, raw 28x28 images, source): MNIST when present
    locally (never downloaded here), otherwise random data of the same
    shapes and about the same share of zeros (58 % of a normalised digit's
    pixels are 0, and the kernels skip them)."""
    from .data import load_mnist

    folder = _mnist_folder()
    if folder is not None:
        from .preprocess import normalize

        d = load_mnist(folder, download_missing=False)
        return normalize(d.train_images).reshape(-1, 400), d.train_labels.astype(np.int64), d.test_images, \
            f"MNIST ({folder})"
    rng = np.random.default_rng(0)
    images = (rng.random((2000, 28, 28)) ** 8 * 255).astype(np.uint8)
    X = rng.random((n, 400), dtype=np.float32)
    X[X < 0.58] = 0
    return X, rng.integers(0, N_CLASSES, n), images, "synthetic (MNIST not found: set FASTDIGITS_DATA to use it)"


#: The speed issue's training cases: (inputs, hidden units, batch), on
#: MNIST (normalised frames; raw pixels for 784 inputs) ...
TRAIN_CASES = ((400, 128, 32), (400, 128, 128), (400, 512, 128), (784, 800, 128))
#: ... and on dense rows (``dense_rows``: no zeros), for ``benchmarks/bench_targets.py``.
DENSE_TRAIN_CASES = ((400, 128, 32), (400, 128, 128), (400, 128, 512), (400, 512, 128), (784, 800, 128))


def needed_flops(rows: np.ndarray, hidden: int) -> float:
    """Flops one sample of ``rows`` needs in an epoch of a 1-hidden-layer
    network: the first layer's product and weight gradient take 2 flops
    per nonzero input and hidden unit each (a zero input needs neither),
    the output layer 6 per weight (product, gradient, error sent back)."""
    share = np.count_nonzero(rows) / rows.size
    return 4 * share * rows.shape[1] * hidden + 6 * hidden * N_CLASSES


def dense_rows(n: int, n_in: int) -> np.ndarray:
    """(n, n_in) float32 standard normal rows: standardised features, with
    no zeros to skip."""
    return np.random.default_rng(1).standard_normal((n, n_in), dtype=np.float32)


def sgemm_gflops(batch: int, n_in: int, hidden: int, repeats: int) -> float:
    """OpenBLAS sgemm's GFLOP/s on (batch, n_in) @ (n_in, hidden), float32."""
    a = np.random.default_rng(0).random((batch, n_in), dtype=np.float32)
    w = np.random.default_rng(1).random((n_in, hidden), dtype=np.float32)
    out = np.empty((batch, hidden), np.float32)
    reps = max(1, 20_000_000 // (batch * n_in * hidden))
    t = median_seconds(lambda: [np.matmul(a, w, out=out) for _ in range(reps)], repeats) / reps
    return 2 * batch * n_in * hidden / t / 1e9


def raw_rows(n: int) -> np.ndarray:
    """(n, 784) float32 rows of raw 28x28 MNIST training pixels in [0, 1]
    (the Simard network's input), or without MNIST random ones, as sparse
    (19 % nonzero)."""
    from .data import load_mnist

    folder = _mnist_folder()
    if folder is None:
        X = np.random.default_rng(0).random((n, 784), dtype=np.float32)
        X[X < 0.81] = 0
        return X
    images = load_mnist(folder, download_missing=False).train_images[:n]
    return images.reshape(len(images), 784).astype(np.float32) / np.float32(255)


def training_cases(X: np.ndarray, y: np.ndarray, threads: int, repeats: int, peers: list[str],
                   say: Callable[[str], None] = lambda message: None, *, dense: bool = False) -> list[Measurement]:
    """Every case of ``TRAIN_CASES``: one epoch over (X, y) (raw pixels from
    ``raw_rows`` for 784 inputs) for fastdigits and each peer, interleaved;
    with ``dense``, every case of ``DENSE_TRAIN_CASES`` on ``dense_rows``."""
    inputs: dict[int, np.ndarray] = {}
    results = []
    for n_in, hidden, batch in DENSE_TRAIN_CASES if dense else TRAIN_CASES:
        if n_in not in inputs:
            inputs[n_in] = (dense_rows(len(X), n_in) if dense else X if n_in == X.shape[1] else raw_rows(len(X)))
        rows = inputs[n_in]
        case = Measurement(f"train {n_in}-{hidden}-10, batch {batch}{', dense' if dense else ''}", "samples/s")
        say(case.case)
        runners = {p: epoch_runner(p, rows, y, hidden, batch, threads) for p in peers}
        case.launch_us.append(launch_microseconds(threads))
        seconds = interleaved_medians(runners, repeats)
        case.launch_us.append(launch_microseconds(threads))
        case.values = {p: len(rows) / t for p, t in seconds.items()}
        case.gflops = case.values["fastdigits"] * needed_flops(rows[:5000], hidden) / 1e9
        case.sgemm_gflops = sgemm_gflops(batch, n_in, hidden, repeats)
        results.append(case)
    return results


def inference_pair(X: np.ndarray, y: np.ndarray, threads: int | None) -> tuple[object, NumpyMLP]:
    """A 400-128-10 model fitted for one epoch on 2,000 rows, and the NumPy
    reference holding the same weights: the inference cases' two peers."""
    from .model import MLPClassifier

    model = MLPClassifier((128,), max_iter=1, threads=threads).fit(X[:2000], y[:2000])
    ref = NumpyMLP(X.shape[1], 128, 128)
    ref.params = [model.coefs_[0], model.intercepts_[0], model.coefs_[1], model.intercepts_[1]]
    return model, ref


def inference_cases(X: np.ndarray, y: np.ndarray, threads: int, repeats: int, peers: list[str],
                    say: Callable[[str], None] = lambda message: None, *, dense: bool = False) -> list[Measurement]:
    """predict_proba of a 400-128-10 network on 10,000 rows (each timed call
    after a rest, as the training epochs are, and in steady use: one
    untimed call, then calls back to back), and one row's latency, for
    fastdigits, NumPy and PyTorch (CPU) when it is in ``peers``; with
    ``dense``, of the same network on ``dense_rows``."""
    model, ref = inference_pair(X, y, threads)
    rows = dense_rows(10_000, X.shape[1]) if dense else np.ascontiguousarray(X[:10_000])
    one = np.ascontiguousarray(rows[:1])
    fns = {"fastdigits": (lambda: model.predict_proba(rows), lambda: model.predict_proba(one)),
           "numpy": (lambda: ref.forward(rows), lambda: ref.forward(one))}
    if "torch" in peers:
        import torch

        torch.set_num_threads(threads)
        net = torch.nn.Sequential(torch.nn.Linear(X.shape[1], 128), torch.nn.ReLU(), torch.nn.Linear(128, N_CLASSES))
        tr, to = torch.from_numpy(rows), torch.from_numpy(one)

        def infer(t):
            with torch.inference_mode():
                return torch.softmax(net(t), dim=1)

        fns["torch"] = (lambda: infer(tr), lambda: infer(to))
    say("inference")
    batch_s = interleaved_medians({p: f[0] for p, f in fns.items()}, repeats)
    steady_s = interleaved_medians({p: f[0] for p, f in fns.items()}, repeats, steady_calls=10)
    say("latency")
    single_s = {} if dense else interleaved_medians({p: (lambda f=f: [f[1]() for _ in range(1000)])
                                                     for p, f in fns.items()}, repeats)
    kind = ", dense" if dense else ""
    cases = [Measurement(f"predict_proba, {len(rows):,} rows, H=128{kind}", "images/s",
                         {p: len(rows) / t for p, t in batch_s.items()}),
             Measurement(f"predict_proba, {len(rows):,} rows, steady use{kind}", "images/s",
                         {p: len(rows) / t for p, t in steady_s.items()})]
    if not dense:  # one row goes through the compiled extension's loop, dense or not
        cases.append(Measurement("one row, predict_proba latency", "us", {p: t * 1e3 for p, t in single_s.items()}))
    return cases


def run(*, repeats: int = 5, threads: int | None = None, quick: bool = False,
        progress: Callable[[str], None] | None = None) -> dict:
    """Run every case and return ``{"machine", "data", "threads",
    "repeats", "compile_seconds", "results": [Measurement as dict]}``."""
    from . import config
    from .preprocess import normalize

    threads = threads or config.default_threads()
    say = progress or (lambda message: None)
    X, y, images, source = _data()
    if quick:
        X, y, images = X[:10_000], y[:10_000], images[:500]
    peers = available_peers()
    results: list[Measurement] = []
    if quick:  # compile once, into the user's own cache, and time that
        empty = not kernels_cached()
        say("compile time, in fresh processes" + (": compiling the kernels, once (numba caches them; 1-3 min on "
                                                  "2 cores), then about a minute of measuring" if empty else
                                                  ": about a minute of measuring in all"))
        cold, warm = compile_seconds(own_cache=True)
        cold = cold if empty else None  # the cache was filled already: nothing to time
    else:
        say("compile time, in fresh processes (twice with an empty cache of their own)")
        cold, warm = compile_seconds()
    results += training_cases(X, y, threads, repeats, peers, say)

    results += inference_cases(X, y, threads, repeats, peers, say)
    say("preprocessing")
    case = Measurement(f"normalise {len(images):,} 28x28 images", "images/s")
    case.values["fastdigits"] = len(images) / median_seconds(lambda: normalize(images, threads=threads), repeats)
    case.values["pillow+numpy"] = len(images) / median_seconds(lambda: [pillow_normalize(im) for im in images],
                                                               max(1, repeats // 2))
    results.append(case)
    return {"machine": machine(), "data": source, "threads": threads, "repeats": repeats,
            "compile_seconds": {"cold_cache": cold, "warm_cache": warm},
            "results": [asdict(m) for m in results]}


def format_header(peers: list[str]) -> str:
    """The column heads of ``format_row``."""
    return (f"{'case':<40} {'unit':>10} " + " ".join(f"{p:>13}" for p in peers)
            + f" {'GFLOP/s':>8} {'sgemm':>7} {'launch':>9}  fastdigits vs peers\n"
            + f"{'':<40} {'':>10} " + " ".join(f"{'':>13}" for _ in peers)
            + f" {'(needed)':>8} {'GFLOP/s':>7} {'us':>9}")


def format_row(m: Measurement, peers: list[str]) -> str:
    """One case as a table row: each peer's figure ('-' where it did not
    run), GFLOP/s and the launch probe for training cases, and
    fastdigits' ratio to each peer."""
    fmt = "13,.1f" if m.unit == "us" else "13,.0f"
    cells = " ".join(format(m.values[p], fmt) if p in m.values else f"{'-':>13}" for p in peers)
    rates = f"{m.gflops:8.1f} {m.sgemm_gflops:7.1f}" if m.gflops else f"{'':8} {'':7}"
    launch = "/".join(f"{us:.1f}" for us in m.launch_us)
    ratios = ", ".join(f"{m.ratio(p):.2f}x {p}" for p in peers if p != "fastdigits" and m.ratio(p))
    return f"{m.case:<40} {m.unit:>10} {cells} {rates} {launch:>9}  {ratios}"


def format_table(report: dict) -> str:
    """The report as a text table with each peer's figure and fastdigits' ratio to it."""
    peers = []
    for r in report["results"]:
        for p in r["values"]:
            if p not in peers:
                peers.append(p)
    lines = [f"machine: {report['machine']['cpu']}, {report['machine']['cores']} cores; "
             f"threads {report['threads']}; median of {report['repeats']}",
             f"data: {report['data']}",
             "kernels: first fit+predict in a fresh process "
             + (f"{report['compile_seconds']['cold_cache']:.1f} s (empty cache), "
                if report['compile_seconds']['cold_cache'] is not None else "")
             + f"{report['compile_seconds']['warm_cache']:.1f} s (cache filled)",
             "launch: microseconds to launch an empty parallel pass, before and after each training case (when "
             "it is high, threads hand work to each other slowly and parallel speed-ups shrink)",
             ""]
    lines.append(format_header(peers))
    lines += [format_row(Measurement(**r), peers) for r in report["results"]]
    return "\n".join(lines)
