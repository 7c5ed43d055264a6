"""Where the JIT's first-use time goes: every Numba dispatcher compiled by
a task, per signature, with an empty kernel cache.

Each task runs in a fresh process with its own empty ``NUMBA_CACHE_DIR`` and
without the kernels ``pip install`` compiled (``FASTDIGITS_PACKAGE_KERNELS=0``);
numba's ``numba:compile`` events (numba.core.event) time each compilation,
nested ones (a kernel calling a jitted helper) counted inside their caller
and listed apart with ``--all``.  Tasks:

- ``predict-few``: ``load_model().predict_proba`` of one row (the compiled
  forward pass: nothing should compile);
- ``predict-many``: the same of 1,000 rows (the parallel forward kernel);
- ``train``: one epoch of the default recipe on 2,000 random rows;
- ``train-augment``: the same with augmentation.

    python benchmarks/compile_times.py [--tasks predict-few predict-many train train-augment] [--all] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from _common import machine, write_json

TASKS = {
    "predict-few": "m = load_model(); m.predict_proba(X[:1])",
    "predict-many": "m = load_model(); m.predict_proba(X[:1000])",
    "train": "MLPClassifier((256,), max_iter=1).fit(X, y)",
    "train-augment": "MLPClassifier((256,), max_iter=1, augment=True).fit(X, y)",
}

CHILD = """
import json, sys, time
import numpy as np
from numba.core import event
from fastdigits import MLPClassifier, load_model
rng = np.random.default_rng(0)
X = rng.random((2000, 400), dtype=np.float32); X[X < 0.8] = 0
y = np.arange(2000) % 10
with event.install_recorder("numba:compile") as rec:
    t0 = time.perf_counter()
    {task}
    wall = time.perf_counter() - t0
starts, rows = {{}}, []
depth = 0
for t, ev in rec.buffer:
    d = ev.data or {{}}
    key = id(ev.data)
    name = getattr(d.get("dispatcher"), "py_func", None)
    name = f"{{name.__module__.split('.')[-1]}}.{{name.__name__}}" if name else "?"
    if ev.is_start:
        starts[key] = (t, depth)
        depth += 1
    else:
        depth -= 1
        t1, level = starts.pop(key)
        rows.append({{"kernel": name, "signature": str(d.get("args")), "seconds": t - t1, "depth": level}})
print(json.dumps({{"wall": wall, "compiles": rows}}))
"""


def run(task: str) -> dict:
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache, "FASTDIGITS_PACKAGE_KERNELS": "0"}  # numba's whole compile
        proc = subprocess.run([sys.executable, "-c", CHILD.format(task=TASKS[task])], capture_output=True, text=True,
                              env=env, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--all", action="store_true", help="also list nested compilations")
    parser.add_argument("--json")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    results = {}
    for task in args.tasks:
        t0 = time.perf_counter()
        got = run(task)
        results[task] = got
        top = [r for r in got["compiles"] if r["depth"] == 0]
        print(f"\n{task}: {got['wall']:.1f} s in the call, {sum(r['seconds'] for r in top):.1f} s compiling "
              f"({len(top)} top-level compilations, {len(got['compiles'])} in all; "
              f"process {time.perf_counter() - t0:.1f} s)")
        for r in sorted(got["compiles"], key=lambda r: -r["seconds"]):
            if r["depth"] == 0 or args.all:
                print(f"  {r['seconds']:7.2f} s  {'  ' * r['depth']}{r['kernel']}  {r['signature'][:90]}")
    write_json(args.json, {"machine": machine(), "tasks": results})


if __name__ == "__main__":
    main()
