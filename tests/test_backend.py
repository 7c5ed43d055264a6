"""Backends (fastdigits/kernels/backend.py): one object per device."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from fastdigits.kernels import backend


def test_cpu_session_scopes_numba_threads_and_holds_the_lock():
    import numba

    before = numba.get_num_threads()
    with backend.CPU.session(threads=1) as kernels:
        assert numba.get_num_threads() == 1 and backend.CPU.threads() == 1
        assert kernels.__name__ == "fastdigits.kernels.cpu"
        assert backend._KERNEL_LOCK._is_owned()
    assert numba.get_num_threads() == before and not backend._KERNEL_LOCK._is_owned()


def test_host_arrays_stay_where_they_are():
    a = np.arange(5.0)
    assert backend.CPU.put(a) is a
    backend.CPU.fetch(a, a)  # nothing to copy
    assert backend.backend("cpu") is backend.CPU and backend.CPU.host and not backend.CUDA.host


def test_cuda_puts_on_the_device_and_fetches_back():
    if backend.cuda_problem():
        pytest.skip(f"device 'cuda' {backend.cuda_problem()}")
    a = np.arange(6.0)
    dev = backend.CUDA.put(a)
    assert dev is not a
    out = np.zeros_like(a)
    backend.CUDA.fetch(dev, out)
    np.testing.assert_array_equal(out, a)
    with backend.CUDA.session() as kernels:
        assert kernels.__name__ == "fastdigits.kernels.cuda"


def test_importing_the_backends_compiles_and_imports_nothing_heavy():
    code = ("import sys; import fastdigits.kernels.backend as b; "
            "print(sorted(m for m in ('numba', 'fastdigits.kernels.cpu', 'fastdigits.kernels.cuda') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stderr
