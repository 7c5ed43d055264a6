from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

# Without an NVIDIA driver, numba.cuda runs its simulator (set before numba is
# imported), so the CUDA kernels are tested on every machine; with one, the
# same tests run on the GPU.  NUMBA_ENABLE_CUDASIM set either way is obeyed.
if "NUMBA_ENABLE_CUDASIM" not in os.environ and not os.path.exists("/dev/nvidiactl"):
    os.environ["NUMBA_ENABLE_CUDASIM"] = "1"

# scikit-learn's check of array API input with NumPy arrays runs only where
# SciPy was imported with this set (tests/test_sklearn.py).
os.environ.setdefault("SCIPY_ARRAY_API", "1")


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The real MNIST folder from $FASTDIGITS_DATA, or skip."""
    folder = os.environ.get("FASTDIGITS_DATA")
    if not folder:
        pytest.skip("real MNIST not available: set FASTDIGITS_DATA to a folder with the four MNIST files")
    return Path(folder)


@pytest.fixture(scope="session")
def reported_pictures() -> Path:
    """The pictures filed as misread (``shared/cases/pictures``), found
    beside $FASTDIGITS_DATA's ``shared/data/mnist`` or beside this
    checkout (as ``.ci/run`` has them), or skip."""
    places = [Path(__file__).resolve().parents[2] / "shared"]
    if folder := os.environ.get("FASTDIGITS_DATA"):
        places.insert(0, Path(folder).resolve().parents[1])
    for shared in places:
        if (shared / "cases" / "pictures").is_dir():
            return shared / "cases" / "pictures"
    pytest.skip("the reported pictures are not here: looked for cases/pictures in "
                + " and ".join(str(p) for p in places) + " (a checkout with ../shared beside it has them)")


@pytest.fixture(scope="session")
def mnist(mnist_dir):
    from fastdigits.data import load_mnist

    return load_mnist(mnist_dir, download_missing=False)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261125)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Never let a test read or fill the user's real cache."""
    monkeypatch.setenv("FASTDIGITS_CACHE", str(tmp_path_factory.mktemp("cache")))


#: Checks in a subprocess that take a minute on one core (compiling kernels
#: afresh): started as soon as their test is collected, so that they run
#: alongside the rest of the suite; their test waits for the result.  A test
#: marks itself with an attribute ``start_in_background``: a function that
#: starts the process and returns its ``subprocess.Popen``.
_BACKGROUND: dict[str, subprocess.Popen] = {}


def pytest_collection_finish(session):
    """Once every plugin has chosen the tests (-k, -m, --lf), start the
    chosen ones' background processes; none for --collect-only."""
    if session.config.option.collectonly:
        return
    for item in session.items:
        start = getattr(getattr(item, "function", None), "start_in_background", None)
        if start is not None and item.nodeid not in _BACKGROUND:
            _BACKGROUND[item.nodeid] = start()


def pytest_sessionfinish(session, exitstatus):
    import shutil

    for proc in _BACKGROUND.values():  # tests not reached (-x, a failure before them)
        proc.kill()
        proc.communicate()
        shutil.rmtree(getattr(proc, "folder", ""), ignore_errors=True)


@pytest.fixture
def background(request):
    """The process that this test's ``start_in_background`` started at
    collection (None if it did not)."""
    return _BACKGROUND.pop(request.node.nodeid, None)
