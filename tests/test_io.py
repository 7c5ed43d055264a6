"""Atomic writes: temporaries of killed writes are cleaned, outputs checked before work."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from fastdigits import OutputError, config
from fastdigits._io import _HOST, atomic_open, check_writable, remove_stale_parts


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _aged(path, seconds: float):
    path.write_bytes(b"half a model")
    then = time.time() - seconds
    os.utime(path, (then, then))
    return path


def test_stale_temporaries_of_killed_writes_are_removed_and_nothing_else(tmp_path):
    dead, alive, idle = f"{_HOST}-{_dead_pid()}", f"{_HOST}-{os.getpid()}", config.STALE_PART_SECONDS + 5
    elsewhere = f"{'0' * 8 if _HOST != '0' * 8 else '1' * 8}-{_dead_pid()}"  # another machine, same file system
    stale = [_aged(tmp_path / f".m.npz.{dead}.abcd_123.part", idle),
             _aged(tmp_path / f".m.npz.{_HOST}-9999999999.abcdefgh.part", idle),  # no process has that pid
             _aged(tmp_path / f".other.npz.{alive}.zzzzzzzz.part", 2 * 86400),  # a day: whatever made it
             _aged(tmp_path / f".m.npz.{elsewhere}.abcdefgh.part", 2 * 86400)]
    kept = [_aged(tmp_path / f".m.npz.{dead}.abcdefgh.part", 1),  # just now
            _aged(tmp_path / f".m.npz.{alive}.abcdefgh.part", idle),  # its writer is running
            _aged(tmp_path / f".n.npz.{elsewhere}.abcdefgh.part", idle),  # its pid is another machine's
            _aged(tmp_path / ".m.npz.part", 2 * 86400), _aged(tmp_path / "notes.part", 2 * 86400),
            _aged(tmp_path / f".m.npz.{dead}.ABCDEFGH.part", 2 * 86400),  # not a name mkstemp makes
            _aged(tmp_path / f".m.npz.{_HOST}-123456789012.abcdefgh.part", 2 * 86400),  # not one of ours
            _aged(tmp_path / "model.npz", 2 * 86400)]
    (tmp_path / f".dir.{dead}.abcdefgh.part").mkdir()
    kept.append(tmp_path / f".dir.{dead}.abcdefgh.part")
    assert sorted(remove_stale_parts(tmp_path)) == sorted(stale)
    assert sorted(tmp_path.iterdir()) == sorted(kept)


def test_a_save_removes_what_killed_saves_left(tmp_path):
    leftover = _aged(tmp_path / f".m.npz.{_HOST}-{_dead_pid()}.abcdefgh.part", config.STALE_PART_SECONDS + 5)
    with atomic_open(tmp_path / "other.npz") as fh:
        fh.write(b"x")
    assert not leftover.exists() and (tmp_path / "other.npz").read_bytes() == b"x"


def test_a_write_killed_midway_leaves_a_temporary_the_next_save_removes(tmp_path):
    """kill -9 during a write, as the issue found: the temporary left is
    of atomic_open's naming, and the next save there (once it is old) removes it."""
    code = ("import sys, time; from fastdigits._io import atomic_open\n"
            "with atomic_open(sys.argv[1]) as fh:\n"
            "    fh.write(b'x' * 1000); fh.flush(); print('writing', flush=True); time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "m.npz")], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    proc.kill()
    proc.wait()
    [left] = tmp_path.iterdir()
    _aged(left, config.STALE_PART_SECONDS + 5)
    with atomic_open(tmp_path / "m.npz") as fh:
        fh.write(b"y")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz"]


def test_check_writable_names_the_path_and_leaves_nothing(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match=f"{tmp_path / 'file' / 'm.npz'}: cannot write the model there"):
        check_writable(tmp_path / "file" / "m.npz", "the model")
    with pytest.raises(OutputError, match=f"{tmp_path}: is a folder; name a file for the output"):
        check_writable(tmp_path)
    assert check_writable(tmp_path / "new" / "m.npz") == tmp_path / "new" / "m.npz"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["file", "new"]


def test_check_folder_says_why_and_makes_only_what_was_named(tmp_path):
    from fastdigits._io import check_folder

    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match=rf"{tmp_path / 'file' / 'sub'}: cannot write the report there "
                                          rf"\({tmp_path / 'file'} is a file, not a folder\)"):
        check_folder(tmp_path / "file" / "sub", "the report")
    with pytest.raises(OutputError, match=rf"{tmp_path / 'file'}: is a file; name a folder for the report"):
        check_folder(tmp_path / "file", "the report")
    assert check_folder(tmp_path / "new" / "sorted", "it") == tmp_path / "new" / "sorted"
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == ["file", "new", "new/sorted"]
