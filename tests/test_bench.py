"""The benchmark harness's timing rules (fastdigits.bench)."""

from __future__ import annotations

import numpy as np

from fastdigits import bench


def _runners(log: list[str], clock: list[float]):
    """Two peers whose every call takes one tick of a fake clock."""

    def peer(name: str):
        def call():
            log.append(name)
            clock[0] += 1.0

        return call

    return {"a": peer("a"), "b": peer("b")}


def test_interleaved_medians_alternates_the_peers(monkeypatch):
    log, clock = [], [0.0]
    monkeypatch.setattr(bench, "SETTLE_SECONDS", 0)
    monkeypatch.setattr(bench.time, "perf_counter", lambda: clock[0])
    assert bench.interleaved_medians(_runners(log, clock), 2) == {"a": 1.0, "b": 1.0}
    assert log == ["a", "b"] + ["a", "b"] * 2  # one untimed call each, then turns


def test_steady_calls_are_timed_one_by_one_after_a_wake_up_call(monkeypatch):
    log, clock = [], [0.0]
    monkeypatch.setattr(bench, "SETTLE_SECONDS", 0)
    monkeypatch.setattr(bench.time, "perf_counter", lambda: clock[0])
    assert bench.interleaved_medians(_runners(log, clock), 2, steady_calls=3) == {"a": 1.0, "b": 1.0}
    assert log == ["a", "b"] + (["a"] * 4 + ["b"] * 4) * 2


def test_empty_passes_run_every_chunk_once_per_pass():
    from fastdigits.kernels import cpu

    flags = np.zeros(16 * 3)
    cpu.empty_passes(flags, 3, 7)
    assert flags[::16].tolist() == [7.0, 7.0, 7.0]
    assert not flags.reshape(3, 16)[:, 1:].any()


def test_launch_microseconds_is_a_time_per_pass(monkeypatch):
    clock = iter([10.0, 10.5])
    monkeypatch.setattr(bench, "SETTLE_SECONDS", 0)
    monkeypatch.setattr(bench.time, "perf_counter", lambda: next(clock))
    assert bench.launch_microseconds(2, calls=1000) == 500.0


def test_quick_compile_probe_uses_the_users_cache(monkeypatch):
    """--quick times its compile in the user's numba cache (filled once for
    the whole run); the full bench in an empty cache of its own."""
    import subprocess

    seen = []

    class Done:
        stdout = "1.5\n"

    monkeypatch.setenv("NUMBA_CACHE_DIR", "/users/cache")
    monkeypatch.setattr(subprocess, "run", lambda cmd, env, **kw: seen.append(env["NUMBA_CACHE_DIR"]) or Done())
    assert bench.compile_seconds(own_cache=True) == (1.5, 1.5)
    assert seen == ["/users/cache"] * 2
    seen.clear()
    bench.compile_seconds()
    assert len(set(seen)) == 1 and seen[0] != "/users/cache"
