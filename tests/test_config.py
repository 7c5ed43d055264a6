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


def test_import_compiles_nothing():
    import subprocess
    import sys

    code = "import sys, fastdigits; print('numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
