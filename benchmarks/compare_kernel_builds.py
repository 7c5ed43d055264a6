"""Two or more builds of fastdigits side by side in one process: epoch and
predict_proba times of each, alternating, and the first's time over each
other's per round (> 1: the other is faster).

Each NAME=PATH names a folder holding a ``fastdigits`` package (a git
worktree, or ``git archive REV fastdigits | tar -x -C PATH`` with the built
extensions copied in); each is imported under its own name (``fd_NAME``),
so their kernels compile and cache apart.  Cases: hHbB (one epoch of
400-H-10 at batch B over MNIST through the normalisation, 2 threads) and
p10k (predict_proba of 10,000 rows of 400-128-10), p1 (one row's), and
tN-H-B (bench_targets' training cases: t400-128-32 t400-128-128
t400-512-128 t784-800-128), and dN-H-B (the same on dense rows).  FASTDIGITS_DATA must be set; ROUNDS=n
changes the rounds (7).  Calls well under a millisecond are not compared
fairly here: two copies of one build read 0.5x of each other on 64-row
predictions; ``compare_predict_builds.py`` runs each build in a process of
its own.

    python benchmarks/compare_kernel_builds.py base=../base new=. [h128b32 h128b128 h800b128 p10k]
"""

from __future__ import annotations

import importlib
import inspect
import os
import shutil
import statistics
import sys
import tempfile
import time

ROUNDS = 7


def load_builds(specs: list[str]) -> dict:
    root = tempfile.mkdtemp(prefix="fastdigits-builds-")
    sys.path.insert(0, root)
    builds = {}
    for spec in specs:
        name, path = spec.split("=", 1)
        shutil.copytree(os.path.join(path, "fastdigits"), os.path.join(root, "fd_" + name),
                        ignore=shutil.ignore_patterns("__pycache__"))
        builds[name] = importlib.import_module("fd_" + name)
    return builds


def _settings(fd, **settings) -> dict:
    """``settings`` under the names this build's estimator takes
    (scikit-learn's since the estimator rework, fastdigits' own before)."""
    if "max_iter" in inspect.signature(fd.MLPClassifier).parameters:
        return settings
    old = {"max_iter": "epochs", "random_state": "seed", "learning_rate_init": "learning_rate"}
    return {old.get(k, k): v for k, v in settings.items()}


def runners(builds: dict, case: str, X, y) -> tuple[dict, int]:
    """A function per build running the case once (set up and compiled
    here), and how many calls a timed turn makes.  Cases: ``p10k``
    (predict_proba of 10,000 rows of 400-128-10), ``p1`` (one row's), and
    ``hHbB`` or ``tN-H-B`` (one epoch of N-H-10 at batch B: bench_targets'
    training cases; 784 inputs are raw pixels), ``dN-H-B`` (the same on
    dense rows, ``bench.dense_rows``)."""
    fns = {}
    if case in ("p10k", "p1"):
        rows = X[:10_000].copy() if case == "p10k" else X[:1].copy()
        for name, fd in builds.items():
            settings = _settings(fd, max_iter=1, threads=2, random_state=0)
            model = fd.MLPClassifier((128,), **settings).fit(X[:2000], y[:2000])
            model.predict_proba(rows)
            fns[name] = lambda model=model: model.predict_proba(rows)
        return fns, 20 if case == "p10k" else 2000
    if case[0] in "td":
        n_in, hidden, batch = (int(v) for v in case[1:].split("-"))
    else:
        (hidden, batch), n_in = (int(v) for v in case[1:].split("b")), X.shape[1]
    some = next(iter(builds.values())).bench
    if case[0] == "d":
        rows = some.dense_rows(len(X), n_in)
    else:
        rows = X if n_in == X.shape[1] else some.raw_rows(len(X))
    for name, fd in builds.items():
        settings = _settings(fd, learning_rate_init=0.05, batch_size=batch, max_iter=1, threads=2, random_state=0)
        model = fd.MLPClassifier((hidden,), **settings)
        model.fit(rows[: batch * 2], y[: batch * 2])
        fns[name] = lambda model=model: model.partial_fit(rows, y)
    return fns, 1


def main() -> None:
    specs = [a for a in sys.argv[1:] if "=" in a]
    cases = [a for a in sys.argv[1:] if "=" not in a] or ["h128b32", "h128b128", "h800b128", "p10k"]
    rounds = int(os.environ.get("ROUNDS", ROUNDS))
    builds = load_builds(specs)
    first = next(iter(builds.values()))
    X, y, _, source = importlib.import_module(first.__name__ + ".bench")._data()
    print(f"data: {source}; {rounds} rounds, the builds alternating (and their order too)")
    for case in cases:
        fns, calls = runners(builds, case, X, y)
        times = {name: [] for name in builds}
        for r in range(rounds):
            for name, fn in (list(fns.items()) if r % 2 == 0 else list(fns.items())[::-1]):
                time.sleep(0.25)  # idle worker threads of the other build go to sleep
                start = time.perf_counter()
                for _ in range(calls):
                    fn()
                times[name].append((time.perf_counter() - start) / calls)
        names = list(builds)
        line = f"{case:10s} " + " ".join(f"{n} {statistics.median(times[n]) * 1e3:9.3f} ms" for n in names)
        for n in names[1:]:
            ratios = [a / b for a, b in zip(times[names[0]], times[n])]
            line += (f" | {names[0]}/{n} median {statistics.median(ratios):.3f}"
                     f" range {min(ratios):.3f}-{max(ratios):.3f}")
        print(line, flush=True)


if __name__ == "__main__":
    main()
