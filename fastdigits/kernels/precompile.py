"""Compile the CPU kernels that fastdigits' commands use by default, once,
into the package's cache (``kernels.cache.DIRECTORY``).

``pip install`` runs it (``setup.py``, after building the Cython
extensions), so that a new user's first ``fastdigits train`` or
``predict_proba`` of many rows does not wait for numba: float32 training
(SGD and Adam, with or without augmentation) and float32 prediction.
Other argument types (float64, L-BFGS's gradient) compile at first use, as
before, announced on stderr.  Run it again by hand with::

    python -m fastdigits.kernels.precompile

The two jobs compile in two processes at once where there are two cores.
Each fills the cache entries of its own top-level kernels: nothing a job
compiles is linked into what the other compiles (numba issues 8578 and
10128: a parallel function loaded from another process's cache and linked
into a new caller can crash).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np

#: What each job compiles, by name.
JOBS = ("train", "predict")


def _train() -> None:
    """``train_range`` for float32 rows (every optimiser, activation and
    output is a runtime argument of the same compilation)."""
    from ..model import MLPClassifier

    rng = np.random.default_rng(0)
    X, y = rng.random((64, 400), dtype=np.float32), np.arange(64) % 10
    MLPClassifier((32,), epochs=1, batch_size=32, dtype="float32").fit(X, y)


def _predict() -> None:
    """The parallel forward pass and input check for float32 rows, and the
    augmentation warp."""
    from .. import config
    from ..augment import augment
    from ..model import MLPClassifier

    rng = np.random.default_rng(0)
    model = MLPClassifier.from_weights([rng.standard_normal((400, 32)), rng.standard_normal((32, 10))],
                                       [np.zeros(32), np.zeros(10)], dtype="float32")
    model.predict_proba(rng.random((config.COMPILED_ROWS + 1, 400), dtype=np.float32))
    augment(rng.random((2, 20, 20), dtype=np.float32))


def _run(job: str) -> None:
    {"train": _train, "predict": _predict}[job]()


def main(argv: list[str] | None = None) -> int:
    """Run the jobs named in ``argv`` in this process, or with no
    arguments every job, each in a process of its own; returns the exit
    status (0: all compiled)."""
    from . import cache

    argv = sys.argv[1:] if argv is None else argv
    if argv:
        for job in argv:
            _run(job)
        return 0
    cache.DIRECTORY.mkdir(exist_ok=True)
    start = time.perf_counter()
    workers = max(1, min(len(JOBS), os.cpu_count() or 1))
    failed = []
    for first in range(0, len(JOBS), workers):
        batch = JOBS[first:first + workers]
        procs = {job: subprocess.Popen([sys.executable, "-m", "fastdigits.kernels.precompile", job]) for job in batch}
        failed += [job for job, proc in procs.items() if proc.wait() != 0]
    status = "failed: " + ", ".join(failed) if failed else "done"
    print(f"fastdigits: compiled the CPU kernels into {cache.DIRECTORY} in "
          f"{time.perf_counter() - start:.0f} s ({status})", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
