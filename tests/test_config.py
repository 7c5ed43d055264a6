"""Numba flags come from fastdigits.config, never from literals."""

from __future__ import annotations

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

    code = "import sys, fastdigits; print('numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path).stdout
    assert out.strip() == "False"


def test_kernels_are_cached_on_disk(tmp_path):
    """A fit in a fresh process writes numba's cache; a second process finds it."""
    import os
    import subprocess
    import sys

    code = (
        "import numpy as np, numba; from fastdigits import MLPClassifier;"
        "MLPClassifier((3,), epochs=1).fit(np.eye(4, 400, dtype=np.float32), [0, 1, 0, 1]);"
        "from fastdigits.kernels import cpu; print(len(cpu.train_range.stats.cache_hits))"
    )
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}

    def run() -> str:
        # From tmp_path, so that the installed package is imported, not the source tree.
        proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.strip()

    assert run() == "0"
    assert list(tmp_path.rglob("*.nbi")) and list(tmp_path.rglob("*.nbc"))
    assert run() == "1"
