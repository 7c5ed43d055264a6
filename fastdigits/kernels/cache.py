"""Where numba keeps the machine code of the CPU kernels.

``pip install`` compiles the kernels that fastdigits' commands use by
default (``fastdigits.kernels.precompile``, run by ``setup.py``) into the
folder :data:`DIRECTORY` inside the installed package, so that the first
``fastdigits train`` or ``predict_proba`` of many rows loads them instead of
waiting a minute for numba.  Every kernel of ``kernels/cpu.py`` is cached
there (:class:`PackageCacheLocator`), also those compiled later for other
argument types (float64, L-BFGS).

numba's own checks keep this safe: an entry is used only by the numba
version, Python version and CPU (name and features) that compiled it, and
only while ``cpu.py`` is the same file, byte for byte.  Anything else
compiles as usual and is added.  Where the folder is absent (an editable
install, a build with ``FASTDIGITS_PRECOMPILE=0``) or not writable (a
read-only site-packages), or with ``FASTDIGITS_PACKAGE_KERNELS=0``, numba's
usual cache takes over (``NUMBA_CACHE_DIR``, else ``__pycache__`` beside the
source, else the user's cache folder; numba's documentation, "Cache
Notes").
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

from numba.core import caching

_KERNELS = Path(__file__).resolve().parent

#: The folder of compiled kernels inside the installed package.
DIRECTORY = _KERNELS / "_compiled"

#: Environment variable: ``0`` ignores :data:`DIRECTORY`.
ENV = "FASTDIGITS_PACKAGE_KERNELS"

# numba 0.60 names the class with a leading underscore.
_InTreeCacheLocator = getattr(caching, "InTreeCacheLocator", None) or caching._InTreeCacheLocator


@functools.lru_cache(maxsize=None)
def _content_hash(path: str, mtime: float, size: int) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class PackageCacheLocator(_InTreeCacheLocator):
    """A numba cache locator for ``fastdigits/kernels``: the cache lives in
    :data:`DIRECTORY`, and a source file is known by its content, not its
    modification time (which ``pip install`` does not keep)."""

    def __init__(self, py_func, py_file):
        super().__init__(py_func, py_file)
        self._cache_path = str(DIRECTORY)

    def get_source_stamp(self):
        st = os.stat(self._py_file)
        return _content_hash(self._py_file, st.st_mtime, st.st_size)

    @classmethod
    def from_function(cls, py_func, py_file):
        if os.environ.get(ENV, "1") == "0" or not DIRECTORY.is_dir():
            return None
        if Path(py_file).resolve().parent != _KERNELS:
            return None
        # numba's check: None where the folder cannot be written.
        return super().from_function(py_func, py_file)


class _CacheImpl(caching.CompileResultCacheImpl):
    _locator_classes = [PackageCacheLocator, *caching.CompileResultCacheImpl._locator_classes]


class _FunctionCache(caching.FunctionCache):
    _impl_class = _CacheImpl


def enable(dispatcher):
    """Turn on disk caching of ``dispatcher`` (what numba.njit's ``cache`` option does),
    in :data:`DIRECTORY` where it can, else where numba would; returns
    ``dispatcher``."""
    dispatcher._cache = _FunctionCache(dispatcher.py_func)
    return dispatcher
