"""The first call as a new user meets it: each command in a fresh process
with an empty numba cache of its own, on the kernels that ``pip install``
compiled into the package (``fastdigits.kernels.cache``); then from
scratch, without them (``FASTDIGITS_PACKAGE_KERNELS=0``), and again with
that cache filled.  An editable install has no package kernels: its first
column is then the same as its second.

- ``classify``: ``fastdigits classify one.png`` (a digit drawn by the test
  helpers' look-alike: any picture will do);
- ``train``: the default ``fastdigits train`` on MNIST (FASTDIGITS_DATA);
- ``bench``: ``fastdigits bench --quick`` (about two minutes; only with
  ``--bench``).

Wall times include the interpreter's start and imports, as a user's do.

    python benchmarks/first_use.py [--bench] [--json out.json]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from _common import machine, write_json


def timed(cmd: list[str], env: dict, cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bench", action="store_true", help="also time fastdigits bench --quick")
    parser.add_argument("--json")
    args = parser.parse_args()
    fastdigits = shutil.which("fastdigits")
    if fastdigits is None:
        raise SystemExit("fastdigits is not on PATH: pip install the project first")
    commands = {"classify": ["classify", "one.png"], "train": ["train", "-o", "model.npz"]}
    if args.bench:
        commands["bench"] = ["bench", "--quick"]
    print(f"machine: {machine()}")
    from fastdigits.kernels import cache

    print(f"package kernels: {cache.DIRECTORY if cache.DIRECTORY.is_dir() else 'none (an editable install)'}")
    results = {}
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        ink = np.zeros((60, 40), np.uint8)
        ink[8:52, 17:23] = 255  # a "1": dark ink on white paper below
        Image.fromarray(255 - ink).save(work / "one.png")
        for name, argv in commands.items():
            installed = timed([fastdigits, *argv], {**os.environ, "NUMBA_CACHE_DIR": str(work / f"{name}-1")}, work)
            env = {**os.environ, "NUMBA_CACHE_DIR": str(work / f"{name}-2"), "FASTDIGITS_PACKAGE_KERNELS": "0"}
            cold = timed([fastdigits, *argv], env, work)
            warm = timed([fastdigits, *argv], env, work)
            results[name] = {"installed_s": round(installed, 1), "empty_cache_s": round(cold, 1),
                             "filled_cache_s": round(warm, 1)}
            print(f"{name:9s} as installed {installed:6.1f} s   from scratch {cold:6.1f} s   "
                  f"cache filled {warm:6.1f} s", flush=True)
    write_json(args.json, {"machine": machine(), "results": results})


if __name__ == "__main__":
    main()
