"""Where the parallel kernels' threads run (``kernels._threads``, on ``kernels._intrinsics``)."""

from __future__ import annotations

import os
import sys

import numba
import numpy as np
import pytest
from numba import njit, prange

from fastdigits import config
from fastdigits.kernels import _intrinsics, _threads, cpu

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="thread placement uses Linux's scheduler calls")
two_cpus = pytest.mark.skipif(not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2
                              or numba.config.NUMBA_NUM_THREADS < 2, reason="needs two CPUs and two numba threads")


def _cpus(mask: np.ndarray) -> set[int]:
    return {k for k in range(64 * len(mask)) if int(mask[k // 64]) >> (k % 64) & 1}


@njit
def _where_and_masks(own, process):
    return _intrinsics.sched_getcpu(), _intrinsics.affinity(own, False, False), _intrinsics.affinity(process, False, True)


@njit
def _flag_round_trip(flags):
    _intrinsics.flag(flags, 1, 7)
    return _intrinsics.flag(flags, 1, None)


@njit(parallel=config.NUMBA_PARALLEL)
def _enter_on_own_cpu(before, after):
    """Each pool thread (not the caller) enters a chunk as if the loop had
    been launched from the CPU it runs on now (whatever CPUs an earlier
    move left it: the move starts from the process's)."""
    state = _threads.launch(before.shape[0])
    for c in prange(before.shape[0]):
        if numba.get_thread_id() != 0:
            mine = state.copy()
            mine[0] = _intrinsics.sched_getcpu()
            before[c] = mine[0]
            _threads.enter_chunk(c, mine)
            after[c] = _intrinsics.sched_getcpu()


@njit
def _enter_as_launcher():
    """The launching thread entering its own chunk on its own CPU."""
    state = _threads.launch(2)
    _threads.enter_chunk(0, state)
    _threads.enter_chunk(1, state)  # as if it ran the other chunk too
    _threads.leave_chunk(state)
    return state


@linux
def test_scheduler_calls_see_the_calling_thread():
    own, process = np.zeros(_intrinsics.MASK_WORDS, np.uint64), np.zeros(_intrinsics.MASK_WORDS, np.uint64)
    where, status_own, status_process = _where_and_masks(own, process)
    assert status_own == status_process == 0
    assert _cpus(own) == os.sched_getaffinity(0)
    assert _cpus(process) == os.sched_getaffinity(os.getpid())
    assert where in os.sched_getaffinity(0)


def test_flag_store_then_load():
    flags = np.zeros(3, np.int64)
    assert _flag_round_trip(flags) == 7
    assert flags.tolist() == [0, 7, 0]


def _move_pool_thread() -> list[tuple[int, int]]:
    """(CPU before, CPU after) of each pool thread told it runs on the
    launcher's CPU; skips the test where numba ran no chunk on one."""
    chunks = 2
    before = np.full(chunks, -1, np.int64)
    after = np.full(chunks, -1, np.int64)
    threads = numba.get_num_threads()
    numba.set_num_threads(chunks)
    try:
        _enter_on_own_cpu(before, after)
    finally:
        numba.set_num_threads(threads)
    moved = [(int(b), int(a)) for b, a in zip(before, after) if b >= 0]
    if not moved:
        pytest.skip("numba ran every chunk on the calling thread")
    return moved


@linux
@two_cpus
def test_a_pool_thread_on_the_launchers_cpu_moves_off_it():
    assert all(b != a for b, a in _move_pool_thread())


@linux
def test_the_launching_thread_never_moves():
    before = os.sched_getaffinity(0)
    state = _enter_as_launcher()
    assert state[_threads.LAUNCHER :].tolist() == [1, 1]
    assert os.sched_getaffinity(0) == before


@linux
@two_cpus
def test_a_pool_thread_moved_once_can_move_again():
    for _ in range(3):  # each time it is pinned off the CPU it was on
        assert all(b != a for b, a in _move_pool_thread())


@linux
def test_parallel_kernels_leave_the_callers_affinity(rng):
    before = os.sched_getaffinity(0)
    x = rng.random((3000, 400)).astype(np.float32)
    for chunks in (1, 2, 3):
        assert cpu.all_finite(x, chunks)
    assert os.sched_getaffinity(0) == before
