"""Numba flags come from fastdigits.config, never from literals; the measured settings it derives per CPU."""

from __future__ import annotations

import os
import re
from pathlib import Path

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

    code = "import sys, fastdigits; print('numba' in sys.modules, 'llvmlite' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path).stdout
    assert out.strip() == "False False"


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


def test_the_dense_share_is_the_measured_one_for_this_cpu_unless_set(monkeypatch):
    """``config.dense_share()``: the crossover measured for this CPU's
    register tile, or ``DENSE_SHARE`` where a user sets it, read when a
    model's network is made (not frozen into the compiled kernels), as is
    training's ``DENSE_TRAINING_SHARE``."""
    from fastdigits import config
    from fastdigits.training import network

    assert config.dense_share() == config.DENSE_SHARES[config.register_tile()]

    class Model:  # what training.network reads of a model
        _layout = type("Layout", (), {"sizes": None, "w_off": None, "b_off": None})()
        activation, output = "relu", "softmax"

    net = network(Model())
    assert (net.dense_share, net.training_share) == (config.dense_share(), config.DENSE_TRAINING_SHARE)
    monkeypatch.setattr(config, "DENSE_SHARE", 0.4)
    monkeypatch.setattr(config, "DENSE_TRAINING_SHARE", 0.9)
    assert config.dense_share() == 0.4
    net = network(Model())
    assert (net.dense_share, net.training_share) == (0.4, 0.9)
