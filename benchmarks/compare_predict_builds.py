"""predict_proba of a few rows by two or more builds of fastdigits, each
in its own process, the builds taking turns: µs per call (best of five
timed turns) and the first build's time over each other's, as the range
over the rounds (> 1: the other is faster).

Each NAME=PATH names a folder holding a ``fastdigits`` package (a git
worktree, or ``git archive REV fastdigits | tar -x -C PATH`` with the built
extensions copied in).  Unlike ``compare_kernel_builds.py``, which imports
the builds into one process, nothing here is shared between them: two
copies of the same build read 0.5x of each other there on 64-row calls.
Every row count goes to the Numba kernels (``config.COMPILED_ROWS`` 0); the
networks are 400-128-10 and 400-800-10 (one epoch on 2,000 rows), on MNIST
frames (FASTDIGITS_DATA set; random rows with their share of zeros
otherwise) and dense rows.

    python benchmarks/compare_predict_builds.py old=/tmp/old new=. [--rows 17 64 128 200 512] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import timeit


def worker(rows_counts: list[int]) -> None:
    """In a build's own process: the cases' µs per call, as JSON on stdout."""
    import numpy as np

    import fastdigits
    from fastdigits import MLPClassifier, bench, config

    build = os.environ["PYTHONPATH"]
    if not fastdigits.__file__.startswith(build + os.sep):  # an editable install's finder first, say
        raise SystemExit(f"imported {fastdigits.__file__}, not the build in {build}")
    config.COMPILED_ROWS = 0
    X, y, _, _ = bench._data(4000)
    dense = bench.dense_rows(max(rows_counts), X.shape[1])
    times = {}
    for hidden in (128, 800):
        model = MLPClassifier((hidden,), max_iter=1, threads=2, random_state=0).fit(X[:2000], y[:2000])
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
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    builds = dict(spec.split("=", 1) for spec in args.builds)
    runs = {name: [] for name in builds}
    for r in range(args.rounds):
        for name, path in (list(builds.items()) if r % 2 == 0 else list(builds.items())[::-1]):
            env = {**os.environ, "PYTHONPATH": os.path.abspath(path)}
            out = subprocess.run([sys.executable, __file__, "--worker", *map(str, args.rows)], env=env,
                                 capture_output=True, text=True, check=True).stdout
            runs[name].append(json.loads(out.splitlines()[-1]))
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
        worker([int(v) for v in sys.argv[2:]])
    else:
        main()
