"""How a CPU kernel is compiled: numba's flags from ``fastdigits.config``,
a dispatcher that compiles once per argument type, and disk caching
through ``kernels.cache``.  Every CPU kernel module decorates with these."""

from __future__ import annotations

import numba
from numba import njit, types
from numba.core.registry import CPUDispatcher

from .. import config
from . import cache


class _Kernel(CPUDispatcher):
    """A Numba CPU dispatcher that compiles one specialisation per argument
    *type*, not one per constant value a caller happens to pass.

    Inside jitted code numba types a constant argument as a literal
    (``Literal[int](0)``, ``Literal[bool](True)``) and compiles the callee
    again for it; here every call site of a helper shares one compilation,
    which numba then links into each caller.  With literals, one epoch of
    training compiled 136 functions (``benchmarks/compile_times.py``).
    Intrinsics that need a literal (``_stack_array``'s size) get it from
    their own call sites; ``_sparse.gather_rows_range``, whose speed
    depends on its callers' constants, stays a plain njit."""

    def get_call_template(self, args, kws):
        args = tuple(types.unliteral(a) for a in args)
        kws = {k: types.unliteral(v) for k, v in kws.items()}
        return super().get_call_template(args, kws)


def _jit(**options):
    """njit(cache=config.NUMBA_CACHE, **options) on a ``_Kernel``, cached
    where ``kernels.cache`` says."""

    def wrap(func):
        if numba.config.DISABLE_JIT:
            return func
        kernel = _Kernel(py_func=func, locals={}, targetoptions={"nopython": True, **options})
        return cached(kernel)

    return wrap


def cached(dispatcher):
    """``dispatcher`` with disk caching (``kernels.cache``) where
    ``config.NUMBA_CACHE`` asks for it."""
    return cache.enable(dispatcher) if config.NUMBA_CACHE and not numba.config.DISABLE_JIT else dispatcher


#: A serial kernel or helper.
serial = _jit(fastmath=config.NUMBA_FASTMATH, nogil=True)
#: A serial kernel that only sums: reassociation lets LLVM vectorise it.
reduce = _jit(fastmath=config.NUMBA_FASTMATH_SUMS, nogil=True)
#: A kernel with a ``prange`` loop.
parallel = _jit(parallel=config.NUMBA_PARALLEL, fastmath=config.NUMBA_FASTMATH)


def inline(func):
    """njit, inlined into its callers in numba's IR."""
    return cached(njit(fastmath=config.NUMBA_FASTMATH, nogil=True, inline="always")(func))


def plain(func):
    """A plain njit (compiled for each caller's constants), cached."""
    return cached(njit(fastmath=config.NUMBA_FASTMATH, nogil=True)(func))
