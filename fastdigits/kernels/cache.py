"""Where numba keeps the machine code of the CPU kernels.

``pip install`` compiles the kernels that fastdigits' commands use by
default (``fastdigits.kernels.precompile``, run by ``setup.py``) into the
folder :data:`DIRECTORY` inside the installed package, so that the first
``fastdigits train`` or ``predict_proba`` of many rows loads them instead of
waiting a minute for numba.  At run time that folder is only read, so a
read-only install uses it too; whatever else compiles (another numba,
another CPU) goes to numba's usual cache: ``NUMBA_CACHE_DIR``, else
``__pycache__`` beside the source, else the user's cache folder (numba's
documentation, "Cache Notes").

numba's own checks keep this safe: an entry is used only by the numba
version, Python version and CPU (name and features) that compiled it.
Entries in either place are also tied to all of the kernels' sources: the
files of ``fastdigits/kernels`` and ``config.py``, by content (``pip
install`` does not keep modification times).  numba's settings are not in
its keys: to compile with ``NUMBA_BOUNDSCHECK`` or a debug option, use an
empty ``NUMBA_CACHE_DIR`` and ``FASTDIGITS_PACKAGE_KERNELS=0``.  A package built with another numba
than the one installed (pip builds in an isolated environment with the
newest numba) compiles afresh at first use, announced as usual.

``FASTDIGITS_PACKAGE_KERNELS=0`` ignores the package folder.
"""

from __future__ import annotations

import functools
import hashlib
import os
import pickle
from pathlib import Path

from numba.core import caching
from numba.core import config as numba_config

_KERNELS = Path(__file__).resolve().parent

#: The folder of compiled kernels inside the installed package.
DIRECTORY = _KERNELS / "_compiled"

#: Environment variable: ``0`` ignores :data:`DIRECTORY`.
ENV = "FASTDIGITS_PACKAGE_KERNELS"

#: Environment variable set by ``precompile``: kernels compile into :data:`DIRECTORY`.
BUILDING = "FASTDIGITS_PRECOMPILING"

# numba 0.60 names the class with a leading underscore.
_InTreeCacheLocator = getattr(caching, "InTreeCacheLocator", None) or caching._InTreeCacheLocator


@functools.lru_cache(maxsize=None)
def _sources_hash(stamps: tuple) -> str:
    digest = hashlib.sha256()
    for path, _, _ in stamps:
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()


#: Files of ``fastdigits/kernels`` that compile nothing: their changes keep the caches.
_NO_KERNELS = {"backend.py", "cache.py", "precompile.py"}


def sources_stamp() -> str:
    """A hash of what the kernels are compiled from: the files of
    ``fastdigits/kernels`` (constants and helpers live in ``__init__.py``)
    and ``config.py`` (flags, tile widths)."""
    files = sorted([*(p for p in _KERNELS.glob("*.py") if p.name not in _NO_KERNELS), _KERNELS.parent / "config.py"])
    stamps = []
    for path in files:
        st = path.stat()
        stamps.append((str(path), st.st_mtime, st.st_size))
    return _sources_hash(tuple(stamps))


class PackageCacheLocator(_InTreeCacheLocator):
    """A numba cache locator for ``fastdigits/kernels`` in :data:`DIRECTORY`,
    which knows the source by :func:`sources_stamp`."""

    def __init__(self, py_func, py_file):
        super().__init__(py_func, py_file)
        self._cache_path = str(DIRECTORY)

    def ensure_cache_path(self):
        if os.environ.get(BUILDING) == "1":  # precompile writes here
            super().ensure_cache_path()
        elif not DIRECTORY.is_dir():
            raise OSError(f"{DIRECTORY} does not exist")

    def get_source_stamp(self):
        return sources_stamp()

    @classmethod
    def from_function(cls, py_func, py_file):
        if os.environ.get(ENV, "1") == "0" or Path(py_file).resolve().parent != _KERNELS:
            return None
        return super().from_function(py_func, py_file)  # None where ensure_cache_path fails


def _only_package_locators(impl_class):
    """``impl_class`` unless ``NUMBA_CACHE_LOCATOR_CLASSES`` overrides its
    locators (numba then ignores ``_locator_classes``): the package tier
    must never write elsewhere."""
    if getattr(numba_config, "CACHE_LOCATOR_CLASSES", None):
        raise RuntimeError("NUMBA_CACHE_LOCATOR_CLASSES is set: no package cache")
    return impl_class


class _PackageImpl(caching.CompileResultCacheImpl):
    _locator_classes = [PackageCacheLocator]


class _SourcesStamped:
    """A numba locator whose stamp also covers the kernels' other sources
    (``kernels/__init__.py``'s constants, ``config.py``'s flags), which
    numba's stamp of the one defining file misses."""

    def get_source_stamp(self):
        return super().get_source_stamp(), sources_stamp()


class _UsualImpl(caching.CompileResultCacheImpl):
    _locator_classes = [type(cls.__name__, (_SourcesStamped, cls), {})
                        for cls in caching.CompileResultCacheImpl._locator_classes]


class _PackageCache(caching.FunctionCache):
    """The package folder alone: what ``precompile`` writes, under a lock
    (its jobs run at once, and numba rewrites a kernel's index file, which
    holds every dtype's entry, without one)."""

    _impl_class = _PackageImpl

    def __init__(self, py_func):
        _only_package_locators(self._impl_class)
        super().__init__(py_func)

    def save_overload(self, sig, data):
        try:
            import fcntl
        except ImportError:  # no fcntl (Windows): precompile runs its jobs one at a time there
            return super().save_overload(sig, data)
        with open(os.path.join(self._cache_path, ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                return super().save_overload(sig, data)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


class _ReadOnlyPackageCache(_PackageCache):
    """The package folder, read only: where numba has nowhere to write."""

    def save_overload(self, sig, data):
        return None


class _FunctionCache(caching.FunctionCache):
    """numba's usual cache, read after the package folder: an entry there
    is loaded, and everything compiled is saved in numba's usual place."""

    _impl_class = _UsualImpl

    def __init__(self, py_func):
        super().__init__(py_func)
        try:
            self._package = _PackageCache(py_func)
        except RuntimeError:  # numba: "no locator available" (no folder, or turned off)
            self._package = None

    def load_overload(self, sig, target_context):
        if self._package is not None and self._enabled:
            try:
                data = self._package.load_overload(sig, target_context)
            except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError):
                data = None  # a damaged entry: compiled as if absent
            if data is not None:
                return data
        return super().load_overload(sig, target_context)

    def index_keys(self) -> list:
        """The keys (signature, CPU, bytecode) of every entry either cache
        holds for this source, package first."""
        caches = [self] if self._package is None else [self._package, self]
        return [key for cache in caches for key in cache._cache_file._load_index()]


def is_compiled(dispatcher, dtype: str | None = None) -> bool:
    """Whether a kernel's machine code is at hand without compiling.

    Parameters
    ----------
    dispatcher : numba.core.registry.CPUDispatcher
        A kernel of :mod:`fastdigits.kernels.cpu` (``njit`` with this
        module's cache, :func:`enable`).
    dtype : str, optional
        The dtype of the kernel's first argument (its rows), e.g.
        ``"float32"``; None: any.

    Returns
    -------
    bool
        True if the kernel is compiled for ``dtype`` in this process
        already, or in either disk cache (the package's :data:`DIRECTORY`
        or numba's usual one) for this CPU.  True too where that cannot be
        told (``NUMBA_DISABLE_JIT``, numba's internals moved): the answer
        is advice (announce a compile, compile it apart), never a promise.

    Examples
    --------
    >>> from fastdigits.kernels import cache, cpu
    >>> cache.is_compiled(cpu.train_range, "float32")  # doctest: +SKIP
    True
    """
    try:
        import numpy as np
        from numba import from_dtype, types

        first = None if dtype is None else from_dtype(np.dtype(dtype))

        def fits(args) -> bool:
            rows = args[0] if len(args) > 0 else None
            rows = rows[0] if isinstance(rows, types.BaseTuple) else rows  # kernels.Data: its x
            return first is None or getattr(rows, "dtype", None) == first

        if any(fits(args) for args in dispatcher.overloads):
            return True
        cache = dispatcher._cache
        keys = cache.index_keys() if hasattr(cache, "index_keys") else cache._cache_file._load_index()
        magic = dispatcher.targetctx.codegen().magic_tuple()
        return any(fits(key[0]) and key[1] == magic for key in keys)
    except Exception:  # only advice: numba's internals moved, an index unreadable, no JIT
        return True


def enable(dispatcher):
    """Turn on disk caching of ``dispatcher`` (what numba.njit's ``cache``
    option does), reading :data:`DIRECTORY` first; while ``precompile``
    runs, in :data:`DIRECTORY` alone.  Where numba has no writable place for
    its cache (a read-only container without a writable home), the package
    folder alone is read; failing that, nothing is cached.  Returns
    ``dispatcher``."""
    if os.environ.get(BUILDING) == "1":
        dispatcher._cache = _PackageCache(dispatcher.py_func)
        return dispatcher
    for kind in (_FunctionCache, _ReadOnlyPackageCache):
        try:
            dispatcher._cache = kind(dispatcher.py_func)
            return dispatcher
        except RuntimeError:  # numba: "cannot cache function ...: no locator available"
            continue
    dispatcher._cache = caching.NullCache()
    return dispatcher
