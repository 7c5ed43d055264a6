"""Fork after first use: what a forked child process may still run.

GNU OpenMP runs numba's parallel kernels (numba's "omp" threading layer,
the one numba picks without TBB) and the Cython extension's ``prange``
loops, and it does not survive ``fork()``: in a child forked after its
parent ran a parallel loop, numba terminates the child at its first
parallel kernel ("fork() called from a process already using GNU OpenMP,
this is unsafe") and libgomp's first parallel region can wait forever for
threads that were not copied.  ``multiprocessing``'s fork start method,
``gunicorn --preload`` and celery's prefork pool all fork so.

This module notes when this process has started OpenMP threads
(:func:`started`).  A child forked after that is *serial*
(:func:`serial`): it predicts with the forward pass that ``pip install``
compiled (``ext/_forward.pyx``, no OpenMP), checks input with NumPy and
prepares pictures on one thread, with the same results; training, which has
only parallel kernels, raises ``FastDigitsError`` saying so.  Children of
serial processes are serial too.
"""

from __future__ import annotations

import os

from .errors import FastDigitsError

_started = False
_serial = False


def started() -> None:
    """Note that this process has run an OpenMP parallel region."""
    global _started
    _started = True


def serial() -> bool:
    """Whether this process was forked after its parent ran OpenMP threads:
    it must not enter a parallel region."""
    return _serial


def threads(requested: int) -> int:
    """The threads a parallel loop may use here: ``requested``, or 1 in a
    serial process; notes the start of OpenMP threads when more than one."""
    if _serial:
        return 1
    if requested > 1:
        started()
    return requested


def check_parallel(what: str) -> None:
    """Raise FastDigitsError where ``what`` (a parallel kernel) cannot run:
    in a serial process."""
    if _serial:
        raise FastDigitsError(
            f"{what} (a parallel Numba kernel) cannot run in a process forked after its parent ran "
            "fastdigits' parallel kernels or "
            "picture loops (GNU OpenMP does not survive fork): do it before forking, or start the workers "
            "with multiprocessing's 'spawn' or 'forkserver' method")


#: Called in a forked child, before anything else of fastdigits runs there.
_in_child: list = []


def after_fork_in_child(reset) -> None:
    """Call ``reset()`` in every child forked from now on (e.g. to make a
    new lock: one held by another thread at fork() would stay held in the
    child forever)."""
    _in_child.append(reset)


def _after_fork_in_child() -> None:
    global _serial
    _serial = _serial or _started
    for reset in _in_child:
        reset()


if hasattr(os, "register_at_fork"):  # not on Windows, which does not fork
    os.register_at_fork(after_in_child=_after_fork_in_child)
