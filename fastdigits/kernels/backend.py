"""One object per device that the estimator runs its kernels through.

Importing this module imports neither numba nor a kernel module: a
prediction that the compiled (Cython) forward pass serves never loads them.

A backend holds what differs between numba's CPU kernels and their
numba.cuda twins, so that the estimator and the training loop have no
``if device == "cuda"`` branches:

- ``session(threads)``: the kernel lock held, numba's thread count scoped
  to the call (CPU), and the kernel module (``cpu`` or ``cuda``) to call;
- ``put`` / ``fetch``: an array where the kernels work on it, and back;
- ``announce``: a line on stderr before a kernel's first-use compile;
- ``host``: whether the arrays stay in host memory (the Cython forward
  pass, which needs no compile, can then serve small predictions).

The kernel entry points of both modules share names and signatures
(``train_range``, ``batch_grad``, ``forward``).
"""

from __future__ import annotations

import contextlib
import logging
import threading

import numpy as np

from .. import _forksafe

__all__ = ["Backend", "CPU", "CUDA", "backend", "cuda_problem", "numba_threads"]

# numba's default "workqueue" threading layer aborts the process when two
# Python threads enter parallel kernels at once.  Each kernel already uses
# every core, so fastdigits serialises its own kernel calls: safe under any
# threading layer, and nothing is lost on a CPU-bound machine.
_KERNEL_LOCK = threading.RLock()


def _new_lock_in_child() -> None:
    global _KERNEL_LOCK
    _KERNEL_LOCK = threading.RLock()


_forksafe.after_fork_in_child(_new_lock_in_child)

#: Kernels whose first use in this process has been looked at (announced if
#: they compile).
_ANNOUNCED: set[tuple[str, str]] = set()


def numba_threads() -> int:
    """The thread count numba's parallel kernels run with now."""
    import numba

    return numba.get_num_threads()


def cuda_problem() -> str | None:
    """Why the "cuda" device cannot run here (words to follow its name), or
    None where it can."""
    try:
        from . import cuda
    except Exception as exc:  # numba.cuda itself fails to import (a version mismatch, say)
        return f"needs numba.cuda, which fails to import here ({type(exc).__name__}: {exc})"
    if not cuda.available():
        return ("needs an NVIDIA GPU that numba can use, and numba finds none here "
                "(numba.cuda.is_available() is False)")
    return None


class Backend:
    """What the estimator needs of a device (see the module's docstring)."""

    name: str = ""
    host: bool = True

    @contextlib.contextmanager
    def session(self, threads: int | None = None):
        """Hold the kernel lock; yield the kernel module of this device."""
        raise NotImplementedError

    def put(self, a: np.ndarray):
        """``a`` where this device's kernels work on it (itself on the host)."""
        return a

    def fetch(self, dev, host: np.ndarray) -> None:
        """Copy what ``put`` gave back into ``host`` (nothing on the host)."""
        if dev is not host:
            dev.copy_to_host(host)

    def announce(self, dispatcher, what: str, dtype: str) -> None:
        """Say that ``what`` is about to compile, where it will."""

    def threads(self) -> int:
        """The thread count to pass to the kernels."""
        return 1

    def problem(self) -> str | None:
        """Why this device cannot run here (words to follow its name), or None."""
        return None


class _CPU(Backend):
    name = "cpu"
    host = True

    @contextlib.contextmanager
    def session(self, threads: int | None = None):
        """Hold the kernel lock, with numba's thread count set to
        ``threads`` (None: numba's setting) for this call.  In a process
        that must not run parallel kernels (``fastdigits._forksafe``)
        prediction and input checks never come here, so what is refused
        there is training."""
        import numba

        from . import cpu

        _forksafe.check_parallel("training")
        _forksafe.started()
        with _KERNEL_LOCK:
            before = numba.get_num_threads()
            if threads:
                numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))
            try:
                yield cpu
            finally:
                numba.set_num_threads(before)

    def announce(self, dispatcher, what: str, dtype: str) -> None:
        """Say on stderr (the ``fastdigits`` logger, once per process,
        kernel and dtype) that ``what`` is about to compile, so that the
        wait is never silent."""
        from . import cache  # imports numba: only once a kernel is about to run

        if (what, dtype) in _ANNOUNCED:
            return
        _ANNOUNCED.add((what, dtype))
        if not cache.is_compiled(dispatcher, dtype):
            logging.getLogger("fastdigits").warning(
                "compiling the %s kernel for %s rows on this CPU, once (numba caches it): up to a minute on 2 cores",
                what, dtype)

    def threads(self) -> int:
        return numba_threads()


class _CUDA(Backend):
    name = "cuda"
    host = False

    @contextlib.contextmanager
    def session(self, threads: int | None = None):
        """Hold the kernel lock; yield the numba.cuda kernels."""
        from . import cuda

        with _KERNEL_LOCK:
            yield cuda

    def put(self, a: np.ndarray):
        from . import cuda

        return cuda.to_device(a)

    def problem(self) -> str | None:
        return cuda_problem()


CPU: Backend = _CPU()
CUDA: Backend = _CUDA()
_BACKENDS = {"cpu": CPU, "cuda": CUDA}


def backend(device: str) -> Backend:
    """The backend of ``device`` ("cpu" or "cuda")."""
    return _BACKENDS[device]
