"""Compile the CPU kernels that fastdigits' commands use, once, into the
package (``kernels.cache.DIRECTORY``).

``pip install`` runs it (``setup.py``, after building the Cython
extensions), so that a new user's first ``fastdigits train`` or
``predict_proba`` of many rows does not wait for numba: training (every
optimiser, activation and output style, with or without augmentation) and
prediction with its input checks, for float32 and float64 rows.  Run it
again by hand (it writes into the package) with::

    python -m fastdigits.kernels.precompile

The jobs run in up to as many processes at once as there are cores,
saving under a lock (``kernels.cache``).  No parallel function one job
compiles is linked into what another compiles (numba issues 8578 and
10128: a parallel function loaded from another process's cache and linked
into a new caller can crash): training's parallel passes and prediction's
(the forward pass, the input checks, the augmentation warp; bench's empty
pass) are different functions, and each dtype's have their own signatures.  L-BFGS's gradient
(``batch_grad``) reuses training's passes, so it compiles in the training
job's process, after them.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import subprocess
import sys
import time

#: The jobs, longest first (two workers then finish together on 2 cores): what, for which dtype.
JOBS = ("train-float32", "train-float64", "predict-float32", "predict-float64")


def _run(job: str) -> None:
    import numpy as np

    from ..augment import augment
    from ..model import _warm_prediction, _warm_training

    if job not in JOBS:
        raise SystemExit(f"unknown job {job!r}; the jobs are {', '.join(JOBS)}")
    what, dtype = job.split("-")
    if what == "train":
        _warm_training(dtype, augment=False)
        _warm_training(dtype, augment=False, optimizer="lbfgs")  # in this process: see the module's docstring
    else:
        _warm_prediction(dtype)
        augment(np.zeros((2, 20, 20), dtype))
        if dtype == "float32":  # and fastdigits bench's probe of a parallel launch (float64 flags, any job)
            from . import cpu

            cpu.empty_passes(np.zeros(16), 1, 1)


def main(argv: list[str] | None = None) -> int:
    """Run the jobs named in ``argv`` in this process, or with no
    arguments every job, each in a process of its own; returns the exit
    status (0: all compiled)."""
    import numba

    from . import cache

    argv = sys.argv[1:] if argv is None else argv
    if argv:
        if os.environ.get(cache.BUILDING) != "1":
            raise SystemExit(f"run without arguments (the jobs need {cache.BUILDING}=1)")
        logging.getLogger("fastdigits").setLevel(logging.ERROR)  # "compiling ...": what this is for
        for job in argv:
            _run(job)
        return 0
    start = time.perf_counter()
    env = {k: v for k, v in os.environ.items() if k != cache.ENV}
    env[cache.BUILDING] = "1"
    # Jobs at once need the package cache's lock (fcntl); without it, one at a time.
    workers = max(1, min(len(JOBS), os.cpu_count() or 1)) if importlib.util.find_spec("fcntl") else 1
    waiting, running, failed = list(JOBS), {}, []
    try:
        while waiting or running:
            while waiting and len(running) < workers:
                job = waiting.pop(0)
                running[job] = subprocess.Popen([sys.executable, "-m", "fastdigits.kernels.precompile", job],
                                                env=env)
            time.sleep(0.2)
            for job, proc in list(running.items()):
                if proc.poll() is not None:
                    del running[job]
                    if proc.returncode != 0:
                        failed.append(job)
    finally:  # stopped (a timeout, Ctrl-C): no job goes on compiling into the package
        for proc in running.values():
            proc.kill()
            proc.wait()
    entries = len(list(cache.DIRECTORY.glob("*.nbc"))) if cache.DIRECTORY.is_dir() else 0
    status = ("failed: " + ", ".join(failed)) if failed else "done"
    print(f"fastdigits: compiled the CPU kernels with numba {numba.__version__} into {cache.DIRECTORY} "
          f"({entries} entries) in {time.perf_counter() - start:.0f} s ({status})", file=sys.stderr)
    return 1 if failed or not entries else 0


if __name__ == "__main__":
    sys.exit(main())
