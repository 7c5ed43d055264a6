from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import fastdigits
from fastdigits.cli import app

runner = CliRunner()


def _exe() -> str:
    exe = shutil.which("fastdigits") or str(Path(sys.executable).with_name("fastdigits"))
    if not Path(exe).exists():
        pytest.fail("the fastdigits command is not installed beside this Python")
    return exe


def test_installed_version_runs():
    proc = subprocess.run([_exe(), "--version"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"fastdigits {fastdigits.__version__}"


@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_help(flag):
    result = runner.invoke(app, [flag])
    assert result.exit_code == 0
    assert "Usage" in result.output and "mnist" in result.output


def test_mnist_command_without_data_says_how(tmp_path, monkeypatch):
    monkeypatch.delenv("FASTDIGITS_DATA", raising=False)
    proc = subprocess.run(
        [_exe(), "mnist", "--no-download"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "FASTDIGITS_CACHE": str(tmp_path)},
    )
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "FASTDIGITS_DATA" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_mnist_command_finds_data(mnist_dir):
    result = runner.invoke(app, ["mnist", "--path", str(mnist_dir)])
    assert result.exit_code == 0, result.output
    assert "60000 training and 10000 test digits" in result.stdout
