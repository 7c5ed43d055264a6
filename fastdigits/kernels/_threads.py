"""Where the threads of a parallel loop run, and how a loop is cut into
chunks (one per thread).

After a few tenths of a second of idleness, Linux in a virtual machine
wakes numba's pool thread on the CPU of the thread that launches a
parallel loop (a halted virtual CPU looks busy to the guest).  The two
then share one CPU, and each spins in OpenMP's barrier for ~4 ms while the
other waits: a 0.2 ms loop took 8 to 11 ms after a 0.3 s pause
(``benchmarks/kernel_forms.py`` times one; 0.5 ms with what follows).
So every parallel loop brackets its chunks with ``enter_chunk`` and
``leave_chunk``: a pool thread that finds itself on the
launcher's CPU moves to the other CPUs the process may use (and stays off
that one), and the launcher yields its CPU until every chunk has started,
so that a pool thread queued behind it gets to run and move.  The
launching thread's own affinity is never touched.  Elsewhere than Linux
these are no-ops.
"""

from __future__ import annotations

import numpy as np

from ._intrinsics import MASK_WORDS, affinity, flag, sched_getcpu, sched_yield, thread_self
from ._jit import serial

#: Most times the launcher yields its CPU waiting for the other chunks to
#: start (a bound, should one thread ever run two chunks in turn).
PATIENCE = 2000
#: Entries of a parallel loop's placement state before its started flags.
LAUNCHER = 2


@serial
def launch(chunks):
    """The placement state of a parallel loop, made by the launching thread
    before it: its CPU (-1: unknown), its thread and a started flag for each
    of the ``chunks`` chunks."""
    state = np.zeros(LAUNCHER + chunks, np.int64)
    state[0] = sched_getcpu()
    state[1] = thread_self()
    return state


@serial
def enter_chunk(c, state):
    """Start of chunk c: marks it started; a pool thread running on the
    launcher's CPU moves to the process's other CPUs (those its main thread
    may use), if it has any."""
    flag(state, LAUNCHER + c, 1)
    launcher = state[0]
    if launcher < 0 or thread_self() == state[1] or sched_getcpu() != launcher:
        return
    mask = np.empty(MASK_WORDS, np.uint64)
    if affinity(mask, False, True) == 0:
        mask[launcher // 64] &= ~(np.uint64(1) << np.uint64(launcher % 64))
        if mask.any():
            affinity(mask, True, False)


@serial
def leave_chunk(state):
    """End of a chunk: on the launching thread, yield the CPU until every
    chunk has started (at most PATIENCE times)."""
    if state[0] < 0 or thread_self() != state[1]:
        return
    for _ in range(PATIENCE):
        waiting = False
        for k in range(LAUNCHER, state.shape[0]):
            waiting |= flag(state, k, None) == 0
        if not waiting:
            return
        sched_yield()


@serial
def chunk(c, chunks, m):
    """Rows [lo, hi) of chunk c when m rows are cut into ``chunks`` parts."""
    return c * m // chunks, (c + 1) * m // chunks
