"""Numba flags come from fastdigits.config, never from literals."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numba
import numpy as np
import pytest

import fastdigits

PACKAGE = Path(fastdigits.__file__).parent


def test_no_literal_numba_flags():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "config.py":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"\b(cache|fastmath|parallel)\s*=\s*(True|False)\b", line):
                offenders.append(f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}")
    assert offenders == []


def test_import_compiles_nothing(tmp_path):
    import subprocess
    import sys

    code = "import sys, fastdigits; print('numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path).stdout
    assert out.strip() == "False"


def test_kernels_are_cached_on_disk(tmp_path):
    """A kernel compiled in a fresh process is written to numba's cache; a
    second process finds it (one small parallel kernel: what applies to it
    applies to every kernel of ``cpu.py``, which all cache the same way)."""
    import subprocess
    import sys

    code = (
        "import numpy as np; from fastdigits.kernels import cpu;"
        "assert cpu.all_finite(np.ones(100, np.float32), 2);"
        "print(len(cpu.all_finite.stats.cache_hits))"
    )
    # Not the kernels that pip install compiled into the package: numba's cache folder is the subject.
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path), "FASTDIGITS_PACKAGE_KERNELS": "0"}

    def run() -> str:
        # From tmp_path, so that the installed package is imported, not the source tree.
        proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.strip()

    assert run() == "0"
    assert list(tmp_path.rglob("*.nbi")) and list(tmp_path.rglob("*.nbc"))
    assert run() == "1"


def test_the_package_cache_holds_only_fastdigits_kernels(tmp_path, monkeypatch):
    """The package's cache folder serves ``fastdigits/kernels`` only, can
    be turned off, and steps aside (numba's usual places) when absent."""
    from fastdigits.kernels import cache, cpu

    py_func, source = cpu._copy.py_func, cpu.__file__
    monkeypatch.setattr(cache, "DIRECTORY", tmp_path / "_compiled")
    assert cache.PackageCacheLocator.from_function(py_func, source) is None  # no folder: not built by pip
    (tmp_path / "_compiled").mkdir()
    locator = cache.PackageCacheLocator.from_function(py_func, source)
    assert locator is not None and locator.get_cache_path() == str(tmp_path / "_compiled")
    assert cache.PackageCacheLocator.from_function(test_import_compiles_nothing, __file__) is None  # not ours
    monkeypatch.setenv(cache.ENV, "0")
    assert cache.PackageCacheLocator.from_function(py_func, source) is None


def test_the_package_cache_knows_a_source_by_its_content(tmp_path, monkeypatch):
    """pip does not keep modification times: a copy of the same bytes is
    the same source, one changed byte is not."""
    from fastdigits.kernels import cache, cpu

    monkeypatch.setattr(cache, "_KERNELS", tmp_path)
    monkeypatch.setattr(cache, "DIRECTORY", tmp_path / "_compiled")
    (tmp_path / "_compiled").mkdir()
    copy = tmp_path / "cpu.py"
    copy.write_bytes(Path(cpu.__file__).read_bytes())
    stamp = cache.PackageCacheLocator.from_function(cpu._copy.py_func, str(copy)).get_source_stamp()
    os.utime(copy, (0, 0))
    assert cache.PackageCacheLocator.from_function(cpu._copy.py_func, str(copy)).get_source_stamp() == stamp
    copy.write_bytes(copy.read_bytes() + b"\n")
    assert cache.PackageCacheLocator.from_function(cpu._copy.py_func, str(copy)).get_source_stamp() != stamp


def test_a_kernel_is_cached_for_the_dtype_asked(tmp_path, monkeypatch):
    """``_kernel_cached`` tells a kernel compiled (in a disk cache, or in
    this process) for float32 rows from one that is not for float64."""
    import subprocess
    import sys

    from fastdigits.model import _kernel_cached

    (tmp_path / "fd_cache_probe.py").write_text(
        "import numba\n\n@numba.njit(cache=True)\ndef total(x):\n    return x.sum()\n")
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": str(tmp_path)}
    code = "import numpy as np, fd_cache_probe as mod; mod.total(np.ones(3, np.float32))"
    subprocess.run([sys.executable, "-c", code], env=env, check=True, cwd=tmp_path)
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(numba.config, "CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.syspath_prepend(str(tmp_path))
    import fd_cache_probe as mod

    assert not mod.total.overloads  # nothing compiled here: the answers come from the disk cache
    assert _kernel_cached(mod.total, "float32") and _kernel_cached(mod.total)
    assert not _kernel_cached(mod.total, "float64")
    mod.total(np.ones(3))
    assert _kernel_cached(mod.total, "float64")


@pytest.mark.skipif(not __import__("fastdigits.kernels.cache", fromlist=["DIRECTORY"]).DIRECTORY.is_dir(),
                    reason="pip install compiles the kernels into the package; this is an in-place (editable) build")
def test_pip_install_compiled_the_default_kernels(tmp_path):
    """A fresh process with an empty numba cache trains and predicts (float32)
    on the kernels compiled into the package: nothing compiles, nothing is
    written to numba's cache."""
    import subprocess
    import sys

    code = (
        "import numpy as np; from fastdigits import MLPClassifier; from fastdigits.kernels import cpu;"
        "X = np.random.default_rng(0).random((2000, 400), dtype=np.float32);"
        "m = MLPClassifier((8,), epochs=1, optimizer='adam', augment=True).fit(X, np.arange(2000) % 10);"
        "m.predict_proba(X);"
        "print(sum(len(k.stats.cache_misses) for k in (cpu.train_range, cpu.forward, cpu.warp_frames)),"
        " len(cpu.train_range.stats.cache_hits))"
    )
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=tmp_path,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["0", "1"]
    assert "compiling" not in proc.stderr
    assert not any((tmp_path / "numba").rglob("*.nbc"))
