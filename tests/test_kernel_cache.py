"""The kernels that pip install compiles into the package (fastdigits.kernels.cache)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numba
import numpy as np
import pytest

import fastdigits
from fastdigits.kernels import _sparse, cache, cpu

#: A source checkout imported in place (editable install): pip built nothing into it.
IN_SOURCE_TREE = (Path(fastdigits.__file__).resolve().parents[1] / "setup.py").exists()


def test_the_package_cache_serves_fastdigits_kernels_only(tmp_path, monkeypatch):
    """The package folder serves ``fastdigits/kernels`` only, can be turned
    off, and steps aside (numba's usual places) when absent."""
    py_func, source = _sparse.copy.py_func, cpu.__file__
    monkeypatch.setattr(cache, "DIRECTORY", tmp_path / "_compiled")
    assert cache.PackageCacheLocator.from_function(py_func, source) is None  # no folder: not built by pip
    (tmp_path / "_compiled").mkdir()
    locator = cache.PackageCacheLocator.from_function(py_func, source)
    assert locator is not None and locator.get_cache_path() == str(tmp_path / "_compiled")
    assert cache.PackageCacheLocator.from_function(test_the_package_cache_serves_fastdigits_kernels_only,
                                                   __file__) is None  # not a kernel
    monkeypatch.setenv(cache.ENV, "0")
    assert cache.PackageCacheLocator.from_function(py_func, source) is None


def test_the_package_cache_is_read_not_written(tmp_path, monkeypatch):
    """At run time the package folder is only read (a read-only install
    works): a compile goes to numba's usual cache; while precompile runs,
    to the package folder alone."""
    monkeypatch.setattr(cache, "DIRECTORY", tmp_path / "_compiled")
    (tmp_path / "_compiled").mkdir()
    monkeypatch.setattr(numba.config, "CACHE_DIR", str(tmp_path / "numba"))
    kernel = cache.enable(numba.njit(_sparse.copy.py_func))
    kernel(np.zeros(3), np.ones(3))
    assert not any((tmp_path / "_compiled").iterdir()) and any((tmp_path / "numba").rglob("*.nbc"))
    monkeypatch.setenv(cache.BUILDING, "1")
    built = cache.enable(numba.njit(_sparse.copy.py_func))
    built(np.zeros(3, np.float32), np.ones(3, np.float32))
    assert any((tmp_path / "_compiled").glob("*.nbc"))
    monkeypatch.delenv(cache.BUILDING)
    reader = cache.enable(numba.njit(_sparse.copy.py_func))
    reader(np.zeros(3, np.float32), np.ones(3, np.float32))
    assert len(reader.stats.cache_hits) == 1  # loaded from the package folder


def test_the_package_cache_knows_the_sources_by_their_content(tmp_path, monkeypatch):
    """pip does not keep modification times: the same bytes are the same
    sources; one changed byte in any kernel file or config.py is not."""
    kernels = tmp_path / "kernels"
    kernels.mkdir()
    for path in Path(cpu.__file__).parent.glob("*.py"):
        (kernels / path.name).write_bytes(path.read_bytes())
    (tmp_path / "config.py").write_bytes(Path(fastdigits.config.__file__).read_bytes())
    monkeypatch.setattr(cache, "_KERNELS", kernels)
    stamp = cache.sources_stamp()
    os.utime(kernels / "cpu.py", (0, 0))
    assert cache.sources_stamp() == stamp
    for changed in (kernels / "__init__.py", tmp_path / "config.py"):
        changed.write_bytes(changed.read_bytes() + b"\n")
        assert cache.sources_stamp() != stamp
        stamp = cache.sources_stamp()


def test_a_kernel_is_cached_for_the_dtype_asked(tmp_path, monkeypatch):
    """``is_compiled`` tells a kernel compiled (in a disk cache, or in
    this process) for float32 rows from one that is not for float64."""
    from fastdigits.kernels.cache import is_compiled

    (tmp_path / "fd_cache_probe.py").write_text(
        "import numba\n\n@numba.njit(cache=True)\ndef total(x):\n    return x.sum()\n")
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": str(tmp_path)}
    code = "import numpy as np, fd_cache_probe as mod; mod.total(np.ones(3, np.float32))"
    subprocess.run([sys.executable, "-c", code], env=env, check=True, cwd=tmp_path)
    monkeypatch.setattr(numba.config, "CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.syspath_prepend(str(tmp_path))
    import fd_cache_probe as mod

    assert not mod.total.overloads  # nothing compiled here: the answers come from the disk cache
    assert is_compiled(mod.total, "float32") and is_compiled(mod.total)
    assert not is_compiled(mod.total, "float64")
    mod.total(np.ones(3))
    assert is_compiled(mod.total, "float64")


@pytest.mark.skipif(IN_SOURCE_TREE or os.environ.get("FASTDIGITS_PRECOMPILE") == "0",
                    reason="pip install compiles the kernels into the package; this is a source tree "
                           "(editable install) or a build with FASTDIGITS_PRECOMPILE=0")
def test_pip_install_compiled_the_default_kernels(tmp_path):
    """A fresh process with an empty numba cache trains (SGD, Adam and
    L-BFGS, with augmentation where it applies) and predicts rows and
    pictures, float32 and float64, and runs bench's launch probe, on the
    kernels compiled into the package: no kernel compiles, nothing is
    written to numba's cache or to the package."""
    before = sorted(p.name for p in cache.DIRECTORY.iterdir())
    code = """
import numpy as np
from numba.core.registry import CPUDispatcher
from fastdigits import MLPClassifier
from fastdigits.kernels import _sparse, _threads, cpu, warp
X = np.random.default_rng(0).random((2000, 400), dtype=np.float32)
for dtype in ("float32", "float64"):
    for optimizer in ("sgd", "adam", "lbfgs"):
        model = MLPClassifier((8,), max_iter=1, solver=optimizer, augment=optimizer != "lbfgs", dtype=dtype)
        model.fit(X, np.arange(2000) % 10)
    model.predict_proba(X)
    model.predict_proba(np.zeros((200, 28, 28), np.uint8))
cpu.empty_passes(np.zeros(32), 2, 3)  # fastdigits bench's launch probe
kernels = [k for m in (cpu, warp, _sparse, _threads) for k in vars(m).values() if isinstance(k, CPUDispatcher)]
print(sum(len(k.stats.cache_misses) for k in kernels), len(cpu.train_range.stats.cache_hits))
"""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=tmp_path,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["0", "2"]  # no compile; train_range loaded for float32 and float64
    assert "compiling" not in proc.stderr
    assert not any((tmp_path / "numba").rglob("*.nbc"))
    assert sorted(p.name for p in cache.DIRECTORY.iterdir()) == before


def test_is_compiled_knows_what_is_compiled_for_which_dtype(tmp_path, monkeypatch):
    """In this process or on disk (a new dispatcher: another process's
    view), for the dtype of the first argument."""
    monkeypatch.setattr(cache, "DIRECTORY", tmp_path / "_compiled")  # no package folder
    monkeypatch.setattr(numba.config, "CACHE_DIR", str(tmp_path / "numba"))
    kernel = cache.enable(numba.njit(_sparse.copy.py_func))
    assert not cache.is_compiled(kernel, "float64") and not cache.is_compiled(kernel)
    kernel(np.zeros(3), np.ones(3))
    assert cache.is_compiled(kernel, "float64") and cache.is_compiled(kernel)
    assert not cache.is_compiled(kernel, "float32")
    fresh = cache.enable(numba.njit(_sparse.copy.py_func))
    assert not fresh.overloads and cache.is_compiled(fresh, "float64") and not cache.is_compiled(fresh, "float32")
