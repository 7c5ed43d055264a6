"""The benchmark harness's timing rules (fastdigits.bench)."""

from __future__ import annotations

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
