"""predict_proba of a few rows by two or more builds of fastdigits, each
in its own process, the builds taking turns: µs per call (best of five
timed turns) and the first build's time over each other's, as the range
over the rounds (> 1: the other is faster).

Each NAME=PATH names a folder holding a ``fastdigits`` package (a git
worktree, or ``git archive REV fastdigits | tar -x -C PATH`` with the built
extensions copied in).  Unlike ``compare_kernel_builds.py``, which imports
the builds into one process, nothing here is shared between them: two
copies of the same build read 0.5x of each other there on 64-row calls.
Every row count goes to the Numba kernels (``config.COMPILED_ROWS`` and
``COMPILED_WORK`` 0; a call of the compiled pass
fails the run); the networks are 400-H-10 (one epoch on 2,000 rows), on
MNIST frames (FASTDIGITS_DATA set; random rows with their share of zeros
otherwise) and dense rows, with ``--threads`` threads for the kernels and
NumPy's BLAS.

    python benchmarks/compare_predict_builds.py old=/tmp/old new=. [--rows 17 64 128 200 512]
                                                [--hidden 128 800] [--rounds 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import timeit


def worker(rows_counts: list[int], hidden_sizes: list[int]) -> None:
    """In a build's own process: the cases' µs per call, as JSON on stdout."""
    import numpy as np

    import fastdigits
    from fastdigits import MLPClassifier, _forward, bench, config

    build = os.environ["PYTHONPATH"]
    if not fastdigits.__file__.startswith(build + os.sep):  # an editable install's finder first, say
        raise SystemExit(f"imported {fastdigits.__file__}, not the build in {build}")
    config.COMPILED_ROWS = 0
    if hasattr(config, "COMPILED_WORK"):  # before issue 20's fourth round a floor, since then a cap: 0 either way
        config.COMPILED_WORK = 0

    def refuse(*args):
        raise SystemExit("the compiled pass took a call: this build has another switch")

    _forward.forward_rows = refuse
    X, y, _, _ = bench._data(4000)
    dense = bench.dense_rows(max(rows_counts), X.shape[1])
    times = {}
    for hidden in hidden_sizes:
        threads = int(os.environ["NUMBA_NUM_THREADS"])  # set by the parent from --threads
        model = MLPClassifier((hidden,), max_iter=1, threads=threads, random_state=0).fit(X[:2000], y[:2000])
        for kind, source in (("frames", X), ("dense", dense)):
            for n in rows_counts:
                rows = np.ascontiguousarray(source[:n])
                model.predict_proba(rows)
                calls = max(5, 5000 // n)
                best = min(timeit.repeat(lambda: model.predict_proba(rows), number=calls, repeat=5))
                times[f"400-{hidden}-10 {kind} {n}"] = best / calls * 1e6
    print(json.dumps(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("builds", nargs="+", help="NAME=PATH")
    parser.add_argument("--rows", type=int, nargs="+", default=[17, 64, 128, 200, 512])
    parser.add_argument("--hidden", type=int, nargs="+", default=[128, 800], help="hidden widths (400-H-10)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    builds = dict(spec.split("=", 1) for spec in args.builds)
    runs = {name: [] for name in builds}
    for r in range(args.rounds):
        for name, path in (list(builds.items()) if r % 2 == 0 else list(builds.items())[::-1]):
            env = {**os.environ, "PYTHONPATH": os.path.abspath(path)}
            for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "NUMBA_NUM_THREADS"):
                env[var] = str(args.threads)
            proc = subprocess.run([sys.executable, __file__, "--worker", ",".join(map(str, args.rows)),
                                   ",".join(map(str, args.hidden))], env=env, capture_output=True, text=True)
            if proc.returncode:
                raise SystemExit(f"{name} ({path}) failed:\n{proc.stderr}")
            runs[name].append(json.loads(proc.stdout.splitlines()[-1]))
    names = list(builds)
    first = runs[names[0]]
    for case in first[0]:
        line = f"{case:28s}" + "".join(f" {n} {min(t[case] for t in runs[n]):7.0f} us" for n in names)
        for n in names[1:]:
            ratios = [a[case] / b[case] for a, b in zip(first, runs[n])]
            line += f" | {names[0]}/{n} {min(ratios):.2f}-{max(ratios):.2f}"
        print(line, flush=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        worker([int(v) for v in sys.argv[2].split(",")], [int(v) for v in sys.argv[3].split(",")])
    else:
        main()
