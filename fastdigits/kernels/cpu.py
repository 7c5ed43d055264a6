"""Numba CPU kernels of the multilayer perceptron.

Conventions (as in scikit-learn's ``coefs_``): a layer maps ``n_in`` to
``n_out`` units with a weight matrix ``w`` of shape (n_in, n_out) and a bias
``b`` of shape (n_out,), so a batch ``a`` (m, n_in) goes to
``act(a @ w + b)`` (m, n_out).

All parameters live in one flat vector (``params``), as do their gradients
and the optimiser's state: each layer's ``w`` and ``b`` are views at offsets
given by ``w_off``/``b_off``.  Activations and deltas of a batch live in
flat buffers too, one (m, n_out) block per layer.  This lets a whole run of
minibatches stay inside one compiled call (:func:`train_range`).

How the matrix work is done.  Every product is a sum of rows of a matrix
weighted by the nonzero entries of a vector: ``a_i @ w`` for a layer's
forward pass, ``delta_i @ w.T`` for the error sent back, and
``a[:, k] @ delta`` for row k of a weight gradient.  ``_gather_rows_sum``
does it with register tiles: up to 128 output columns (eight AVX-512
registers) are summed in a fixed-size stack array that LLVM keeps in
registers, so each nonzero costs one broadcast and one fused multiply-add
per 16 columns, with no loads or stores of the sum.  Zero inputs (most of a
digit's pixels, half of a relu layer) cost nothing.

A minibatch is two parallel passes: one over its rows (forward through
every layer, output delta, deltas back through every layer: no row needs
another's), then one over the rows of every weight matrix (gradient row,
then the optimiser's step on it, while it is in registers and cache; the
first layer's rows two at a time, sharing each load of a delta row).

Every ``prange`` writes a disjoint slice of its output and every sum runs
serially in a fixed order, so results do not depend on the thread count.
Kernels trust their inputs; ``fastdigits.model`` validates at the edge.
"""

from __future__ import annotations

import math
import sys

import numpy as np
from llvmlite import ir
import numba
from numba import carray, njit, prange, types
from numba.core import cgutils
from numba.core.registry import CPUDispatcher
from numba.extending import intrinsic

from .. import config
from . import cache
from . import ADAM, GRADIENT, NESTEROV, RELU, SGD, SIGMOID, SOFTMAX, TANH, derivative, step_rate  # noqa: F401


class _Kernel(CPUDispatcher):
    """A Numba CPU dispatcher that compiles one specialisation per argument
    *type*, not one per constant value a caller happens to pass.

    Inside jitted code numba types a constant argument as a literal
    (``Literal[int](0)``, ``Literal[bool](True)``) and compiles the callee
    again for it; here every call site of a helper shares one compilation,
    which numba then links into each caller.  With literals, one epoch of
    training compiled 136 functions (``benchmarks/compile_times.py``).
    Intrinsics that need a literal (``_stack_array``'s size) get it from
    their own call sites; ``_gather_rows_range``, whose speed depends on its
    callers' constants, stays a plain njit."""

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
        return _cached(kernel)

    return wrap


def _cached(dispatcher):
    """``dispatcher`` with disk caching (``kernels.cache``) where
    ``config.NUMBA_CACHE`` asks for it."""
    return cache.enable(dispatcher) if config.NUMBA_CACHE and not numba.config.DISABLE_JIT else dispatcher


_serial = _jit(fastmath=config.NUMBA_FASTMATH, nogil=True)
def _inline(func):
    """njit, inlined into its callers in numba's IR."""
    return _cached(njit(fastmath=config.NUMBA_FASTMATH, nogil=True, inline="always")(func))
_reduce = _jit(fastmath=config.NUMBA_FASTMATH_SUMS, nogil=True)
_parallel = _jit(parallel=config.NUMBA_PARALLEL, fastmath=config.NUMBA_FASTMATH)

#: Widest register tile (columns): 8 registers of float32 with AVX-512,
#: 8 with AVX2 (whose 16 registers hold 64 floats in 8).
TILE = config.register_tile()
#: Layers with fewer outputs than this (the output layer, the classic
#: course's 25 hidden units) are multiplied in the transposed form, as dot
#: products: their register tiles would be too narrow to pay for a pass
#: over the inputs (400-25-10 trained 1.4-1.7x faster with 32 than with 16).
NARROW = 32


# ----------------------------------------------------------- activations


@intrinsic
def _pow2(typingctx, n):
    """2.0 ** n as a float64, for an integer -1022 <= n <= 1023: the
    exponent bits set directly (a bit cast LLVM can vectorise)."""
    if not isinstance(n, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        i64 = ir.IntType(64)
        biased = builder.add(context.cast(builder, args[0], n, types.int64), ir.Constant(i64, 1023))
        return builder.bitcast(builder.shl(biased, ir.Constant(i64, 52)), ir.DoubleType())

    return types.float64(n), codegen


_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10


@_serial
def _exp_nonpositive(x):
    """e**x for x <= 0, to float64 rounding (no libm call, so loops over it
    vectorise): x = n ln2 + r with |r| <= ln2 / 2 (Cody-Waite), e**r by its
    Taylor series to r**13 (error below 5e-18), times 2**n.  Below -708
    the result is that of -708 (about 3e-308)."""
    x = max(float(x), -708.0)
    n = math.floor(x * 1.4426950408889634 + 0.5)
    r = (x - n * _LN2_HI) - n * _LN2_LO
    p = 1.0 / 6227020800.0
    p = p * r + 1.0 / 479001600.0
    p = p * r + 1.0 / 39916800.0
    p = p * r + 1.0 / 3628800.0
    p = p * r + 1.0 / 362880.0
    p = p * r + 1.0 / 40320.0
    p = p * r + 1.0 / 5040.0
    p = p * r + 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    return p * _pow2(int(n))


@_serial
def _activate_row(z, act):
    """In place on one row: sigmoid 1/(1+e^-z), tanh, relu max(z, 0),
    softmax e^(z-max) / sum, identity."""
    n = z.shape[0]
    if act == SIGMOID:
        for j in range(n):
            e = _exp_nonpositive(-abs(z[j]))
            z[j] = 1.0 / (1.0 + e) if z[j] >= 0.0 else e / (1.0 + e)
    elif act == TANH:
        for j in range(n):
            z[j] = math.tanh(z[j])
    elif act == RELU:
        for j in range(n):
            if z[j] < 0.0:
                z[j] = 0.0
    elif act == SOFTMAX:
        top = z[0]
        for j in range(1, n):
            top = max(top, z[j])
        for j in range(n):
            z[j] = _exp_nonpositive(z[j] - top)
        total = 0.0
        for j in range(n):
            total += z[j]
        for j in range(n):
            z[j] /= total


_derivative = _serial(derivative)
_step_rate = _serial(step_rate)


# ------------------------------------------------------ thread placement
#
# After a few tenths of a second of idleness, Linux in a virtual machine
# wakes numba's pool thread on the CPU of the thread that launches a
# parallel loop (a halted virtual CPU looks busy to the guest).  The two
# then share one CPU, and each spins in OpenMP's barrier for ~4 ms while the
# other waits: a 0.2 ms loop took 8 to 11 ms after a 0.3 s pause
# (``benchmarks/kernel_forms.py`` times one; 0.5 ms with what follows).  So every parallel loop here brackets its chunks with
# ``_enter_chunk``/``_leave_chunk``: a pool thread that finds itself on the
# launcher's CPU moves to the other CPUs the process may use (and stays off
# that one), and the launcher yields its CPU until every chunk has started,
# so that a pool thread queued behind it gets to run and move.  The
# launching thread's own affinity is never touched.  Elsewhere than Linux
# these are no-ops.

_LINUX = sys.platform.startswith("linux")
#: Words of a cpu_set_t (1024 CPUs), as sched_getaffinity fills it.
_MASK_WORDS = 16
#: Most times the launcher yields its CPU waiting for the other chunks to
#: start (a bound, should one thread ever run two chunks in turn).
_PATIENCE = 2000


def _libc_call(name, ret, arg_types, args, builder, fallback):
    """Code for ``name(*args)`` from the C library, or the constant fallback
    where these scheduling calls do not exist."""
    if not _LINUX:
        return ir.Constant(ret, fallback)
    fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ret, arg_types), name)
    return builder.call(fn, args)


@intrinsic
def _sched_getcpu(typingctx):
    """The CPU the calling thread runs on (-1: unknown)."""

    def codegen(context, builder, signature, args):
        return _libc_call("sched_getcpu", ir.IntType(32), [], [], builder, -1)

    return types.int32(), codegen


@intrinsic
def _sched_yield(typingctx):
    """Let another thread that is ready to run on this CPU run now."""

    def codegen(context, builder, signature, args):
        return _libc_call("sched_yield", ir.IntType(32), [], [], builder, 0)

    return types.int32(), codegen


@intrinsic
def _affinity(typingctx, mask, write, process):
    """Read (``write`` False) or set the CPUs a thread may run on, as a bit
    mask of _MASK_WORDS uint64 words: the calling thread's, or with
    ``process`` the process's main thread's.  Returns 0 on success."""
    if (mask != types.uint64[::1] or not isinstance(write, types.BooleanLiteral)
            or not isinstance(process, types.BooleanLiteral)):
        return None
    name = "sched_setaffinity" if write.literal_value else "sched_getaffinity"

    def codegen(context, builder, signature, args):
        i32, i64, ptr = ir.IntType(32), ir.IntType(64), ir.IntType(8).as_pointer()
        data = context.make_array(signature.args[0])(context, builder, value=args[0]).data
        pid = _libc_call("getpid", i32, [], [], builder, 0) if process.literal_value else ir.Constant(i32, 0)
        call_args = [pid, ir.Constant(i64, 8 * _MASK_WORDS), builder.bitcast(data, ptr)]
        return _libc_call(name, i32, [i32, i64, ptr], call_args, builder, -1)

    return types.int32(mask, write, process), codegen


@intrinsic
def _flag(typingctx, flags, k, value):
    """flags[k] of an int64 array as another thread last wrote it (an atomic
    acquire load, which no loop can hoist), or with a value (not None) an
    atomic release store of it."""
    if flags != types.int64[::1] or not isinstance(k, types.Integer):
        return None
    store = not isinstance(value, (types.NoneType, types.Omitted))

    def codegen(context, builder, signature, args):
        array = context.make_array(signature.args[0])(context, builder, value=args[0])
        ptr = builder.gep(array.data, [context.cast(builder, args[1], signature.args[1], types.int64)])
        if store:
            builder.store_atomic(context.cast(builder, args[2], signature.args[2], types.int64), ptr, "release", 8)
            return ir.Constant(ir.IntType(64), 0)
        return builder.load_atomic(ptr, "acquire", 8)

    return types.int64(flags, k, value), codegen


@intrinsic
def _take(typingctx, counter, k):
    """counter[k] += 1 as one atomic step, returning the value before: how
    the threads of a loop share out its pieces as each comes free."""
    if counter != types.int64[::1] or not isinstance(k, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        array = context.make_array(signature.args[0])(context, builder, value=args[0])
        ptr = builder.gep(array.data, [context.cast(builder, args[1], signature.args[1], types.int64)])
        return builder.atomic_rmw("add", ptr, ir.Constant(ir.IntType(64), 1), "monotonic")

    return types.int64(counter, k), codegen


@intrinsic
def _thread_self(typingctx):
    """The calling thread's pthread_self() (0 where unknown)."""

    def codegen(context, builder, signature, args):
        return _libc_call("pthread_self", ir.IntType(64), [], [], builder, 0)

    return types.int64(), codegen


#: Entries of a parallel loop's placement state before its started flags.
_LAUNCHER = 2


@_serial
def _launch(chunks):
    """The placement state of a parallel loop, made by the launching thread
    before it: its CPU (-1: unknown), its thread and a started flag for each
    of the ``chunks`` chunks."""
    state = np.zeros(_LAUNCHER + chunks, np.int64)
    state[0] = _sched_getcpu()
    state[1] = _thread_self()
    return state


@_serial
def _enter_chunk(c, state):
    """Start of chunk c: marks it started; a pool thread running on the
    launcher's CPU moves to the process's other CPUs (those its main thread
    may use), if it has any."""
    _flag(state, _LAUNCHER + c, 1)
    launcher = state[0]
    if launcher < 0 or _thread_self() == state[1] or _sched_getcpu() != launcher:
        return
    mask = np.empty(_MASK_WORDS, np.uint64)
    if _affinity(mask, False, True) == 0:
        mask[launcher // 64] &= ~(np.uint64(1) << np.uint64(launcher % 64))
        if mask.any():
            _affinity(mask, True, False)


@_serial
def _leave_chunk(state):
    """End of a chunk: on the launching thread, yield the CPU until every
    chunk has started (at most _PATIENCE times)."""
    if state[0] < 0 or _thread_self() != state[1]:
        return
    for _ in range(_PATIENCE):
        waiting = False
        for k in range(_LAUNCHER, state.shape[0]):
            waiting |= _flag(state, k, None) == 0
        if not waiting:
            return
        _sched_yield()


# ------------------------------------------------------------ prefetch


@intrinsic
def _prefetch(typingctx, a, k):
    """Hint that a[k] (a contiguous array) will soon be read: its 64-byte
    line is fetched into cache (``llvm.prefetch``; no fault if it is not)."""
    if not isinstance(a, types.Array) or not isinstance(k, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        data = context.make_array(signature.args[0])(context, builder, value=args[0]).data
        ptr = builder.gep(data, [context.cast(builder, args[1], signature.args[1], types.intp)])
        i8p, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]),
                                            "llvm.prefetch.p0")
        read, locality, data_cache = ir.Constant(i32, 0), ir.Constant(i32, PREFETCH_LOCALITY), ir.Constant(i32, 1)
        builder.call(fn, [builder.bitcast(ptr, i8p), read, locality, data_cache])
        return context.get_dummy_value()

    return types.none(a, k), codegen


#: How many rows ahead a training batch's input rows are prefetched
#: (``_fetch_ahead``).  They are scattered over the whole data set (96 MB for
#: MNIST), and each waited for memory: the rows pass of a batch of 128 on
#: one thread (``benchmarks/batch_phases.py --batch 128``) went from 144-149
#: to 129 us with the prefetch.  2 to 6 rows ahead measured alike; 32 ahead
#: lost most of the gain, the rows evicted again before their turn.
PREFETCH_AHEAD = 4
#: llvm.prefetch's locality: 3, into every cache level.
PREFETCH_LOCALITY = 3


@_serial
def _fetch_ahead(src, order, first, i, lo, hi):
    """For row i of the rows src[order[first + k]], lo <= k < hi, taken in
    order: prefetch the row PREFETCH_AHEAD places on (at i == lo, every row
    up to it)."""
    start = lo if i == lo else i + PREFETCH_AHEAD
    for k in range(start, min(i + PREFETCH_AHEAD + 1, hi)):
        row = src[order[first + k]]
        for j in range(0, row.shape[0], 64 // row.itemsize):
            _prefetch(row, j)


# ------------------------------------------------------ register tiles


@intrinsic
def _stack_array(typingctx, like, size):
    """A pointer to ``size`` (a compile-time constant) elements of
    ``like``'s dtype on the calling function's stack.  Unlike a heap array,
    LLVM knows nothing else can point there and keeps it in registers when
    every index into it is a constant."""
    if not isinstance(like, types.Array) or not isinstance(size, types.IntegerLiteral):
        return None
    n = size.literal_value

    def codegen(context, builder, signature, args):
        elem = context.get_data_type(like.dtype)
        return builder.bitcast(cgutils.alloca_once(builder, ir.ArrayType(elem, n)), elem.as_pointer())

    return types.CPointer(like.dtype)(like, size), codegen


#: Room that scratch for ``_nonzeros`` needs past the input's length: the
#: vector form stores whole 64-byte vectors.
SLACK = 16


def _compress_code(context, builder, sources, k0, idx_type, idx, n):
    """Code of ``_compress_nonzeros`` for one or more vectors: ``sources``
    holds (array type, array, output type, output) for each; entry j is
    kept where any of them is nonzero there."""
    lanes = 512 // sources[0][0].dtype.bitwidth
    mask_t = ir.VectorType(ir.IntType(1), lanes)

    def pointer(array_type, array, at, vec_t):
        data = context.make_array(array_type)(context, builder, value=array).data
        return builder.bitcast(builder.gep(data, [at]), vec_t.as_pointer())

    def compress(vec, vty, name):
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vty, [vty, mask_t, vty]),
                                            f"llvm.experimental.vector.compress.v{lanes}{name}")
        return builder.call(fn, [vec, mask, ir.Constant(vty, ir.Undefined)])

    vec_t = ir.VectorType(context.get_data_type(sources[0][0].dtype), lanes)
    vecs = [builder.load(pointer(src_t, src, k0, vec_t), align=1) for src_t, src, _, _ in sources]
    mask = None
    for vec in vecs:
        nonzero = builder.fcmp_unordered("!=", vec, ir.Constant(vec_t, None))
        mask = nonzero if mask is None else builder.or_(mask, nonzero)
    name = "f32" if sources[0][0].dtype.bitwidth == 32 else "f64"
    for vec, (_, _, out_t, out) in zip(vecs, sources):
        builder.store(compress(vec, vec_t, name), pointer(out_t, out, n, vec_t), align=1)
    ivec_t = ir.VectorType(context.get_data_type(idx_type.dtype), lanes)
    first = builder.insert_element(ir.Constant(ivec_t, None), context.cast(builder, k0, types.int64, idx_type.dtype),
                                   ir.Constant(ir.IntType(32), 0))
    splat = builder.shuffle_vector(first, ir.Constant(ivec_t, None),
                                   ir.Constant(ir.VectorType(ir.IntType(32), lanes), [0] * lanes))
    ids = builder.add(splat, ir.Constant(ivec_t, list(range(lanes))))
    builder.store(compress(ids, ivec_t, f"i{idx_type.dtype.bitwidth}"), pointer(idx_type, idx, n, ivec_t), align=1)
    popcount = cgutils.get_or_insert_function(
        builder.module, ir.FunctionType(ir.IntType(lanes), [ir.IntType(lanes)]), f"llvm.ctpop.i{lanes}")
    count = builder.call(popcount, [builder.bitcast(mask, ir.IntType(lanes))])
    return builder.add(n, builder.zext(count, n.type))


@intrinsic
def _compress_nonzeros(typingctx, v, k0, idx, val, n):
    """Append the nonzero entries of the 64 bytes of v from k0 (16 float32
    or 8 float64, contiguous) to idx/val from n, and return the new n.

    One vector load, a compare and ``llvm.experimental.vector.compress``
    (vcompressps on AVX-512; LLVM expands it elsewhere); whole vectors are
    stored, so idx and val need ``SLACK`` spare entries.  idx must be int32:
    LLVM 22 miscompiles the compress of 16 int64 (two registers)."""
    if not (isinstance(v, types.Array) and isinstance(val, types.Array) and idx == types.int32[::1]):
        return None

    def codegen(context, builder, signature, args):
        v_t, _, idx_t, val_t, _ = signature.args
        v_a, k0_v, idx_a, val_a, n_v = args
        return _compress_code(context, builder, [(v_t, v_a, val_t, val_a)], k0_v, idx_t, idx_a, n_v)

    return types.int64(v, types.int64, idx, val, types.int64), codegen


@intrinsic
def _compress_nonzeros_pair(typingctx, v, v2, k0, idx, val, val2, n):
    """``_compress_nonzeros`` of two vectors at once: the entries where v
    or v2 is nonzero, v's to val and v2's to val2."""
    if not (isinstance(v, types.Array) and v2 == v and isinstance(val, types.Array) and val2 == val
            and idx == types.int32[::1]):
        return None

    def codegen(context, builder, signature, args):
        v_t, v2_t, _, idx_t, val_t, val2_t, _ = signature.args
        v_a, v2_a, k0_v, idx_a, val_a, val2_a, n_v = args
        sources = [(v_t, v_a, val_t, val_a), (v2_t, v2_a, val2_t, val2_a)]
        return _compress_code(context, builder, sources, k0_v, idx_t, idx_a, n_v)

    return types.int64(v, v2, types.int64, idx, val, val2, types.int64), codegen


@_inline
def _tile_sum(w, idx, val, t0, t1, j0, width, acc, out, accumulate, val2, acc2, out2):
    """out[j0 : j0 + width] (+)= sum over t0 <= t < t1 of val[t] * w[idx[t], j0 : j0 + width],
    and with val2 (not None) out2 the same of val2: each row of w loaded once for both.

    ``width`` is a constant at every call site: the loops over it unroll
    and ``acc`` (``acc2``) lives in registers.  (No float reassociation is
    allowed here, or LLVM would vectorise along t with gathers instead.)"""
    dest = out[j0 : j0 + width]
    for jj in range(width):
        acc[jj] = dest[jj] if accumulate else 0.0
    if val2 is None:
        for t in range(t0, t1):
            v = val[t]
            row = w[idx[t], j0 : j0 + width]
            for jj in range(width):
                acc[jj] += v * row[jj]
    else:
        dest2 = out2[j0 : j0 + width]
        for jj in range(width):
            acc2[jj] = dest2[jj] if accumulate else 0.0
        for t in range(t0, t1):
            v = val[t]
            v2 = val2[t]
            row = w[idx[t], j0 : j0 + width]
            for jj in range(width):
                r = row[jj]
                acc[jj] += v * r
                acc2[jj] += v2 * r
        for jj in range(width):
            dest2[jj] = acc2[jj]
    for jj in range(width):
        dest[jj] = acc[jj]


#: Widest tile when two vectors are summed at once: both sums must fit in
#: registers beside the row (16 of AVX-512's 32; 8 of AVX2's 16).
PAIR_TILE = TILE if TILE >= 128 else 32


@_inline
def _gather_wide_tiles(w, idx, val, t0, t1, out, accumulate, start):
    """The first of ``_gather_rows_range``'s steps, compiled into the
    caller: its TILE-wide tiles from column ``start``.  Returns the column
    where they stop.

    The cache-blocked forward pass runs a gather for each row and block of
    weight rows (7 times a row for 400-128), each over a short run of
    nonzeros: with these tiles inlined there, the rows pass of a batch of
    128 on one thread took about 105 us instead of 115
    (``benchmarks/batch_phases.py``, runs alternating with the previous
    build).  Inlining the whole of ``_gather_rows_range`` there did as well
    but cost the first ``fastdigits train`` 10 s more compiling and 80 MB
    more memory; inlining it in the gradient rows made them slower."""
    acc = carray(_stack_array(out, TILE), TILE)
    j = start
    while j + TILE <= out.shape[0]:
        _tile_sum(w, idx, val, t0, t1, j, TILE, acc, out, accumulate, None, acc, out)
        j += TILE
    return j


# A plain njit, not a _Kernel: compiled for each caller's constants (a start or t0 of 0, ``accumulate``), the
# 400-800-10 epoch of batch 128 ran in 1.06 s against 1.34 s for one shared compilation (benchmarks in one process).
@_cached
@njit(fastmath=config.NUMBA_FASTMATH, nogil=True)
def _gather_rows_range(w, idx, val, t0, t1, out, accumulate, val2=None, out2=None, start=0):
    """out (+)= sum over t0 <= t < t1 of val[t] * w[idx[t]]: ``v @ w`` for
    a vector v whose nonzero entries are ``val[t0:t1]`` at ``idx[t0:t1]``;
    with val2 and out2, also out2 (+)= the same sum of val2 (two vectors
    listed together by ``_nonzeros``).  Columns before ``start`` are left
    alone.

    Columns go in register tiles of TILE (PAIR_TILE for two), 32, 16, 8
    and then 1."""
    acc = carray(_stack_array(out, TILE), TILE)
    acc2 = carray(_stack_array(out, TILE), TILE)
    n_out = out.shape[0]
    j = start
    if val2 is None:
        j = _gather_wide_tiles(w, idx, val, t0, t1, out, accumulate, start)
    else:
        while j + PAIR_TILE <= n_out:
            _tile_sum(w, idx, val, t0, t1, j, PAIR_TILE, acc, out, accumulate, val2, acc2, out2)
            j += PAIR_TILE
    while j + 32 <= n_out:
        _tile_sum(w, idx, val, t0, t1, j, 32, acc, out, accumulate, val2, acc2, out2)
        j += 32
    while j + 16 <= n_out:
        _tile_sum(w, idx, val, t0, t1, j, 16, acc, out, accumulate, val2, acc2, out2)
        j += 16
    while j + 8 <= n_out:
        _tile_sum(w, idx, val, t0, t1, j, 8, acc, out, accumulate, val2, acc2, out2)
        j += 8
    while j < n_out:
        _tile_sum(w, idx, val, t0, t1, j, 1, acc, out, accumulate, val2, acc2, out2)
        j += 1


@_serial
def _gather_rows_sum(w, idx, val, n, out):
    """out = sum over t < n of val[t] * w[idx[t]] (``_gather_rows_range``)."""
    _gather_rows_range(w, idx, val, 0, n, out, False)


@_serial
def _nonzeros(v, idx, val, v2=None, val2=None):
    """The nonzero entries of v: indices into idx, values into val (both
    len(v) + SLACK long), in order, without branches.  Returns how many.
    With v2 (of v's length) and val2: the entries where v or v2 is
    nonzero, v2's values into val2.

    A contiguous v (and v2) goes a vector (64 bytes) at a time."""
    n = 0
    k = 0
    if v.strides[0] == v.itemsize and (v2 is None or v2.strides[0] == v2.itemsize):
        lanes = 64 // v.itemsize
        while k + lanes <= v.shape[0]:
            if v2 is None:
                n = _compress_nonzeros(v, k, idx, val, n)
            else:
                n = _compress_nonzeros_pair(v, v2, k, idx, val, val2, n)
            k += lanes
    while k < v.shape[0]:
        x = v[k]
        idx[n] = k
        val[n] = x
        if v2 is None:
            n += x != 0.0
        else:
            val2[n] = v2[k]
            n += (x != 0.0) | (v2[k] != 0.0)
        k += 1
    return n


@_serial
def _nonzeros_in_blocks(v, idx, val, block, ends):
    """``_nonzeros`` of a contiguous v, also counting where each block of
    ``block`` entries (a multiple of 16) starts: the nonzeros of v[b * block
    : (b + 1) * block] are idx/val[ends[b] : ends[b + 1]]."""
    lanes = 64 // v.itemsize
    n = 0
    k = 0
    b = 0  # the next block to start, at k == b * block
    while k + lanes <= v.shape[0]:
        if k == b * block:
            ends[b] = n
            b += 1
        n = _compress_nonzeros(v, k, idx, val, n)
        k += lanes
    while k < v.shape[0]:
        if k == b * block:
            ends[b] = n
            b += 1
        x = v[k]
        idx[n] = k
        val[n] = x
        n += x != 0.0
        k += 1
    ends[(v.shape[0] + block - 1) // block] = n
    return n


@_reduce
def _dot(a, b):
    """sum of a * b, vectorised (its order of additions is fixed at compile time)."""
    s = a[0] * b[0]
    for k in range(1, a.shape[0]):
        s += a[k] * b[k]
    return s


@_reduce
def _dots(a, w_t, out):
    """out[j] = a @ w_t[j] for the rows of w_t, four at a time so that each
    load of a serves four sums (vectorised along a)."""
    n = a.shape[0]
    j = 0
    while j + 4 <= out.shape[0]:
        r0, r1, r2, r3 = w_t[j], w_t[j + 1], w_t[j + 2], w_t[j + 3]
        s0 = a[0] * r0[0]
        s1 = a[0] * r1[0]
        s2 = a[0] * r2[0]
        s3 = a[0] * r3[0]
        for k in range(1, n):
            x = a[k]
            s0 += x * r0[k]
            s1 += x * r1[k]
            s2 += x * r2[k]
            s3 += x * r3[k]
        out[j], out[j + 1], out[j + 2], out[j + 3] = s0, s1, s2, s3
        j += 4
    while j < out.shape[0]:
        out[j] = _dot(a, w_t[j])
        j += 1


@_serial
def _copy(src, dst):
    """dst[:] = src for two 1-D arrays of one length, as a plain loop: numba's
    array assignment brings its broadcasting checks and their error
    messages (string formatting) into the kernel, code that every caller up
    to ``train_range`` compiled again (``benchmarks/RESULTS.md``, "First
    use")."""
    for j in range(dst.shape[0]):
        dst[j] = src[j]


@_serial
def _chunk(c, chunks, m):
    """Rows [lo, hi) of chunk c when m rows are cut into ``chunks`` parts."""
    return c * m // chunks, (c + 1) * m // chunks


# --------------------------------------------------------------- forward


@_serial
def _layer_rows(src, order, first, indirect, lo, hi, w, w_t, b, act, out, idx, val, xt, fill_xt):
    """Rows lo..hi of a dense layer: out[i] = act(a_i @ w + b) for the input
    rows a_i = src[order[first + i]] (``indirect``) or src[first + i],
    w (n_in, n_out) and, for a NARROW layer, its transpose w_t.  ``idx``/
    ``val`` are scratch of n_in + SLACK entries.  With ``fill_xt`` each
    row's nonzeros are also written to column i of xt (n_in, m), which
    must hold zeros there: the weights pass reads its rows and zeroes them
    again."""
    n_out = out.shape[1]
    for i in range(lo, hi):
        if indirect:
            _fetch_ahead(src, order, first, i, lo, hi)
        a = src[order[first + i]] if indirect else src[first + i]
        o = out[i]
        if n_out < NARROW:
            _dots(a, w_t, o)
            n = _nonzeros(a, idx, val) if fill_xt else 0
        else:
            n = _nonzeros(a, idx, val)
            _gather_rows_sum(w, idx, val, n, o)
        if fill_xt:
            for t in range(n):
                xt[idx[t], i] = val[t]
        for j in range(n_out):
            o[j] += b[j]
        _activate_row(o, act)


#: Bytes of a block of weight rows that stays in L1 while a group of up to
#: ROW_GROUP rows uses it (``_layer_rows_blocked``), for at least MIN_GROUP
#: rows (a thread's share of a batch of 32).
BLOCK_BYTES = 32768
ROW_GROUP = 32
MIN_GROUP = 16


@_serial
def _blocked(n_in, n_out, itemsize, rows):
    """Whether a layer's rows go through ``_layer_rows_blocked``: its w is
    wide and outgrows two blocks, and enough rows share them."""
    return n_out >= NARROW and n_in * n_out * itemsize > 2 * BLOCK_BYTES and rows >= MIN_GROUP


@_serial
def _layer_rows_blocked(src, order, first, indirect, lo, hi, w, b, act, out, xt, fill_xt):
    """``_layer_rows`` for a wide layer, cache-blocked: rows go in groups
    of ROW_GROUP whose nonzeros are listed first, then each block of w's
    rows (BLOCK_BYTES) serves every row of the group while it is in L1.
    With w in L2 instead, each nonzero's row of w costs ~1.6x as much."""
    n_in, n_out = w.shape
    block = max(16, BLOCK_BYTES // (n_out * w.itemsize) // 16 * 16)
    n_blocks = (n_in + block - 1) // block
    idx = np.empty((ROW_GROUP, n_in + SLACK), np.int32)
    val = np.empty((ROW_GROUP, n_in + SLACK), w.dtype)
    ends = np.empty((ROW_GROUP, n_blocks + 1), np.int64)
    for g0 in range(lo, hi, ROW_GROUP):
        g1 = min(g0 + ROW_GROUP, hi)
        for i in range(g0, g1):
            r = i - g0
            if indirect:
                _fetch_ahead(src, order, first, i, lo, hi)
            a = src[order[first + i]] if indirect else src[first + i]
            n = _nonzeros_in_blocks(a, idx[r], val[r], block, ends[r])
            if fill_xt:
                for t in range(n):
                    xt[idx[r, t], i] = val[r, t]
            _copy(b, out[i])
        for blk in range(n_blocks):
            for i in range(g0, g1):
                r = i - g0
                t0, t1, o = ends[r, blk], ends[r, blk + 1], out[i]
                j = _gather_wide_tiles(w, idx[r], val[r], t0, t1, o, True, 0)
                if j < n_out:
                    _gather_rows_range(w, idx[r], val[r], t0, t1, o, True, None, None, j)
        for i in range(g0, g1):
            _activate_row(out[i], act)


@_parallel
def dense_forward(a_in, w, b, act, out, chunks):
    """out = act(a_in @ w + b): a_in (m, n_in), w (n_in, n_out), b (n_out,).

    Parallel over ``chunks`` chunks of rows (one per thread), each as the
    first layer of ``forward`` runs it (cache-blocked when w is large)."""
    m, n_in = a_in.shape
    w_t = np.ascontiguousarray(w.T) if w.shape[1] < NARROW else w
    order = np.empty(0, np.int64)
    state = _launch(chunks)
    for chunk in prange(chunks):
        c = np.int64(chunk)  # int64, as numba types the loop before its parfor pass: one compilation
        _enter_chunk(c, state)
        lo, hi = _chunk(c, chunks, m)
        if _blocked(n_in, w.shape[1], w.itemsize, hi - lo):
            _layer_rows_blocked(a_in, order, 0, False, lo, hi, w, b, act, out, a_in, False)
        else:
            idx = np.empty(n_in + SLACK, np.int32)
            val = np.empty(n_in + SLACK, a_in.dtype)
            _layer_rows(a_in, order, 0, False, lo, hi, w, w_t, b, act, out, idx, val, a_in, False)
        _leave_chunk(state)


@_serial
def _layer(flat, off, rows, cols):
    return flat[off : off + rows * cols].reshape((rows, cols))


@_serial
def _block(flat, sizes, m, layer):
    """Layer ``layer``'s (m, sizes[layer + 1]) block of an activation or delta buffer."""
    off = 0
    for l in range(layer):
        off += m * sizes[l + 1]
    return _layer(flat, off, m, sizes[layer + 1])


@_serial
def _forward_layers(src, order, first, indirect, lo, hi, m, sizes, w_off, b_off, hidden_act, out_act, params,
                    params_t, acts, out, idx, val, xt, fill_xt):
    """Rows lo..hi (of m) through every layer, a layer at a time: input
    rows src[order[first + i]] (``indirect``) or src[first + i], hidden
    activations into the blocks of ``acts``, probabilities into out
    (``fill_xt``: see ``_layer_rows``)."""
    n_layers = sizes.shape[0] - 1
    for layer in range(n_layers):
        n_in, n_out = sizes[layer], sizes[layer + 1]
        w = _layer(params, w_off[layer], n_in, n_out)
        w_t = _layer(params_t, w_off[layer], n_out, n_in)
        b = params[b_off[layer] : b_off[layer] + n_out]
        last = layer == n_layers - 1
        dst = out if last else _block(acts, sizes, m, layer)
        act = out_act if last else hidden_act
        if layer == 0 and _blocked(n_in, n_out, w.itemsize, hi - lo):
            _layer_rows_blocked(src, order, first, indirect, lo, hi, w, b, act, dst, xt, fill_xt)
        else:
            _layer_rows(src, order, first, indirect and layer == 0, lo, hi, w, w_t, b, act, dst, idx, val, xt,
                        fill_xt and layer == 0)
        src = dst
        first = 0


#: Rows that go through every layer together in ``forward``: their hidden
#: activations stay in cache from one layer to the next.  (A whole chunk of
#: rows a layer at a time sent them out to memory and back: over 10,000
#: rows two threads were no faster than one.)
FORWARD_TILE = 128


@_serial
def _forward_rows(x, tiles, sizes, w_off, b_off, hidden_act, out_act, params, params_t, out):
    """Tiles of FORWARD_TILE rows of x through the network, tile numbers
    taken from tiles[0] until none is left: a thread that starts late (a
    pool thread waking after a pause) leaves more of them to the others."""
    idx = np.empty(sizes.max() + SLACK, np.int32)
    val = np.empty(sizes.max() + SLACK, x.dtype)
    acts = np.empty(max(1, FORWARD_TILE * (sizes[1:-1].sum())), x.dtype)
    order = np.empty(0, np.int64)
    n = x.shape[0]
    while True:
        first = _take(tiles, 0) * FORWARD_TILE
        if first >= n:
            break
        rows = min(FORWARD_TILE, n - first)
        _forward_layers(x, order, first, False, 0, rows, rows, sizes, w_off, b_off, hidden_act, out_act, params,
                        params_t, acts, out[first : first + rows], idx, val, x, False)


@_parallel
def _forward_parallel(x, sizes, w_off, b_off, hidden_act, out_act, params, params_t, out, chunks):
    state = _launch(chunks)
    tiles = np.zeros(1, np.int64)
    for chunk in prange(chunks):
        c = np.int64(chunk)  # int64, as numba types the loop before its parfor pass: one compilation
        _enter_chunk(c, state)
        _forward_rows(x, tiles, sizes, w_off, b_off, hidden_act, out_act, params, params_t, out)
        _leave_chunk(state)


@_serial
def forward(x, sizes, w_off, b_off, hidden_act, out_act, params, params_t, out, chunks):
    """Probabilities of the rows of x (m, n_in) into out (m, n_classes).

    ``params_t`` (as long as params) is scratch.  ``chunks`` (the thread
    count) threads share out the rows FORWARD_TILE at a time; with one,
    the work stays on the calling thread (no pool: safe from any thread,
    and no wake-up cost for a few rows)."""
    _transpose_weights(sizes, w_off, params, params_t, False)
    if chunks <= 1:
        _forward_rows(x, np.zeros(1, np.int64), sizes, w_off, b_off, hidden_act, out_act, params, params_t, out)
    else:
        _forward_parallel(x, sizes, w_off, b_off, hidden_act, out_act, params, params_t, out, chunks)


@_reduce
def _times_zero_sum(v, zero):
    """sum of v * zero (zero: a 0 of v's dtype): 0 when every entry of v is
    finite, NaN otherwise (inf * 0 is NaN, and NaN spreads through a sum)."""
    s = zero
    for k in range(v.shape[0]):
        s += v[k] * zero
    return s


@_parallel
def all_finite(x, chunks):
    """Whether every entry of the contiguous float array x is finite, in
    one vectorised pass over ``chunks`` parts in parallel and without the
    temporary array of ``np.isfinite(x).all()``."""
    flat = x.reshape(-1)
    sums = np.zeros(chunks, x.dtype)
    state = _launch(chunks)
    for chunk in prange(chunks):
        c = np.int64(chunk)  # int64, as numba types the loop before its parfor pass: one compilation
        _enter_chunk(c, state)
        lo, hi = _chunk(c, chunks, flat.shape[0])
        sums[c] = _times_zero_sum(flat[lo:hi], sums[c])
        _leave_chunk(state)
    for c in range(chunks):
        if sums[c] != 0:
            return False
    return True


@_reduce
def outside_sum(v, lo, hi, zero):
    """sum of v*0 + max(v - hi, 0) + max(lo - v, 0) over the 1-D array v,
    in v's dtype (lo, hi and zero: scalars of it): 0 when every entry is
    finite and in [lo, hi]; NaN when one is not finite (inf * 0 is NaN);
    otherwise positive.  One vectorised pass without a temporary array
    (about 1.7x the time of ``all_finite``, which does less per entry)."""
    s = zero
    for k in range(v.shape[0]):
        x = v[k]
        s += x * zero + max(x - hi, zero) + max(lo - x, zero)
    return s


@_parallel
def outside_total(x, lo, hi, chunks):
    """``outside_sum`` of the contiguous float array x (lo, hi: scalars of
    its dtype), over ``chunks`` parts in parallel: 0 when every entry is
    finite and in [lo, hi], NaN when one is not finite."""
    flat = x.reshape(-1)
    sums = np.zeros(chunks, x.dtype)
    state = _launch(chunks)
    for chunk in prange(chunks):
        c = np.int64(chunk)  # int64, as numba types the loop before its parfor pass: one compilation
        _enter_chunk(c, state)
        start, stop = _chunk(c, chunks, flat.shape[0])
        sums[c] = outside_sum(flat[start:stop], lo, hi, sums[c])
        _leave_chunk(state)
    return sums.sum()


@_parallel
def empty_pass(flags, chunks):
    """A parallel loop with nothing to do, placed as every pass here is:
    chunk c adds one to flags[16 c] (a cache line apart).  What it takes
    is what launching a pass costs."""
    state = _launch(chunks)
    for chunk in prange(chunks):
        c = np.int64(chunk)  # int64, as numba types the loop before its parfor pass: one compilation
        _enter_chunk(c, state)
        flags[16 * c] += 1.0
        _leave_chunk(state)


@_serial
def empty_passes(flags, chunks, n):
    """``empty_pass`` n times back to back, without returning to Python."""
    for _ in range(n):
        empty_pass(flags, chunks)


# -------------------------------------------------------------- backward


@_serial
def _output_delta_row(out, y, act, scale, delta):
    """delta = scale * (out - t) for one row, t its target; returns the
    row's cross-entropy and whether its most probable class is y.

    t is onehot(y); a label y < 0 marks a row of no class (outlier
    exposure, Hendrycks et al., ICLR 2019), whose target is 1/k for every
    one of the k softmax outputs and 0 for every sigmoid.  The same delta
    serves softmax + cross-entropy and one-vs-all sigmoids + binary
    cross-entropy.  Row loss: softmax -sum_k t_k log p_k; sigmoid
    -sum_k [t_k log h_k + (1 - t_k) log(1 - h_k)].  Probabilities are
    clipped to [1e-15, 1] inside logs (float32 sigmoids reach exactly 1).
    """
    tiny = 1e-15
    loss = 0.0
    best = 0
    k = out.shape[0]
    uniform = y < 0 and act != SIGMOID
    for j in range(k):
        h = out[j]
        if h > out[best]:
            best = j
        if j == y:
            delta[j] = scale * (h - 1.0)
            loss -= math.log(max(h, tiny))
        elif uniform:
            delta[j] = scale * (h - 1.0 / k)
            loss -= math.log(max(h, tiny)) / k
        else:
            delta[j] = scale * h
            if act == SIGMOID:
                loss -= math.log(max(1.0 - h, tiny))
    return loss, best == y


@_serial
def _hidden_delta_row(delta_next, w_next_t, a, act, delta, idx, val, iota):
    """delta = (delta_next @ w_next.T) * act'(a) for one row: the error sent
    back through w_next (n, n_next), given as its transpose (n_next, n).

    A NARROW delta_next (an output layer's: nonzero almost everywhere) is
    taken whole, at the indices ``iota`` (0, 1, ...): listing its nonzeros
    cost more than the products (10 outputs: 81 ns against 30 ns per row,
    ``benchmarks/kernel_forms.py``)."""
    n_next = delta_next.shape[0]
    if n_next < NARROW:
        _gather_rows_range(w_next_t, iota, delta_next, 0, n_next, delta, False)
    else:
        n = _nonzeros(delta_next, idx, val)
        _gather_rows_sum(w_next_t, idx, val, n, delta)
    for k in range(delta.shape[0]):
        delta[k] *= _derivative(a[k], act)


@_serial
def _backprop_rows(x, order, pos, lo, hi, m, gather, xb, xt, y, sizes, w_off, b_off, hidden_act, out_act, params,
                   params_t, scale, acts, deltas, out, loss_rows, right_rows):
    """Rows lo..hi of a batch: forward, output delta, deltas back to the
    first hidden layer.  Row i is x[order[pos + i]] when ``gather``, its
    nonzeros written to column i of xt (or, for a NARROW first layer, the
    row copied to xb[i]); else x[pos + i]."""
    n_layers = sizes.shape[0] - 1
    width = sizes.max()
    idx = np.empty(width + SLACK, np.int32)
    val = np.empty(width + SLACK, x.dtype)
    iota = np.arange(NARROW).astype(np.int32)
    if gather and sizes[1] < NARROW:
        for i in range(lo, hi):
            _fetch_ahead(x, order, pos, i, lo, hi)
            _copy(x[order[pos + i]], xb[i])
        _forward_layers(xb, order, 0, False, lo, hi, m, sizes, w_off, b_off, hidden_act, out_act, params, params_t,
                        acts, out, idx, val, xt, False)
    else:
        _forward_layers(x, order, pos, gather, lo, hi, m, sizes, w_off, b_off, hidden_act, out_act, params, params_t,
                        acts, out, idx, val, xt, gather)
    delta = _block(deltas, sizes, m, n_layers - 1)
    for i in range(lo, hi):
        label = y[order[pos + i]] if gather else y[pos + i]
        loss_rows[i], right_rows[i] = _output_delta_row(out[i], label, out_act, scale, delta[i])
    for layer in range(n_layers - 1, 0, -1):
        prev = _block(deltas, sizes, m, layer - 1)
        a = _block(acts, sizes, m, layer - 1)
        w_t = _layer(params_t, w_off[layer], sizes[layer + 1], sizes[layer])
        for i in range(lo, hi):
            _hidden_delta_row(delta[i], w_t, a[i], hidden_act, prev[i], idx, val, iota)
        delta = prev


@_parallel
def _backprop_pass(x, order, pos, m, gather, xb, xt, y, sizes, w_off, b_off, hidden_act, out_act, params, params_t,
                   scale, acts, deltas, out, loss_rows, right_rows, chunks):
    state = _launch(chunks)
    for chunk in prange(chunks):
        c = np.int64(chunk)  # int64, as numba types the loop before its parfor pass: one compilation
        _enter_chunk(c, state)
        lo, hi = _chunk(c, chunks, m)
        _backprop_rows(x, order, pos, lo, hi, m, gather, xb, xt, y, sizes, w_off, b_off, hidden_act, out_act, params,
                       params_t, scale, acts, deltas, out, loss_rows, right_rows)
        _leave_chunk(state)


@_serial
def _transpose_weights(sizes, w_off, params, params_t, backward):
    """params_t gets the transpose of each NARROW layer's w (n_in, n_out),
    at the same offset, and with ``backward`` that of every layer that
    sends an error back (all but the first)."""
    for layer in range(sizes.shape[0] - 1):
        n_in, n_out = sizes[layer], sizes[layer + 1]
        if n_out < NARROW or (backward and layer > 0):
            w = _layer(params, w_off[layer], n_in, n_out)
            w_t = _layer(params_t, w_off[layer], n_out, n_in)
            for k in range(n_in):
                for j in range(n_out):
                    w_t[j, k] = w[k, j]


# ------------------------------------------------- gradients, optimisers


@_serial
def _step_row(opt, g, params, off, decay, grads, state1, state2, lr, momentum, beta1, beta2, eps):
    """With g, the loss gradient of params[off : off + len(g)] without its
    L2 term: add decay * p, then store it in grads (``GRADIENT``) or step:

    - SGD: v = momentum v - lr g;  p += v  (Nesterov: p += momentum v - lr g)
    - Adam (Kingma & Ba): m1, m2 moments; ``lr`` already carries the bias
      correction.
    """
    n = g.shape[0]
    p = params[off : off + n]
    if opt == GRADIENT:
        out = grads[off : off + n]
        for j in range(n):
            out[j] = g[j] + decay * p[j]
    elif opt == ADAM:
        m1 = state1[off : off + n]
        m2 = state2[off : off + n]
        for j in range(n):
            gj = g[j] + decay * p[j]
            m1[j] = beta1 * m1[j] + (1.0 - beta1) * gj
            m2[j] = beta2 * m2[j] + (1.0 - beta2) * gj * gj
            p[j] -= lr * m1[j] / (math.sqrt(m2[j]) + eps)
    else:
        v = state1[off : off + n]
        if opt == NESTEROV:
            for j in range(n):
                gj = g[j] + decay * p[j]
                vj = momentum * v[j] - lr * gj
                v[j] = vj
                p[j] += momentum * vj - lr * gj
        else:
            for j in range(n):
                vj = momentum * v[j] - lr * (g[j] + decay * p[j])
                v[j] = vj
                p[j] += vj


@_serial
def _grad_rows(sizes, layer):
    """How many rows the weights pass computes for a layer's w: its n_in
    rows, or for a NARROW layer the n_out rows of its transpose."""
    n_out = sizes[layer + 1]
    return n_out if n_out < NARROW else sizes[layer]


@_serial
def _layer_grad_rows(r0, r1, a, xt, use_xt, delta, w_off, b_off, n_in, n_out, params, params_t, l2_scale, opt, grads,
                     state1, state2, lr, momentum, beta1, beta2, eps, idx, vals, gs):
    """Gradient rows r0..r1 of one layer (see ``_weight_rows``): rows of w
    (from the inputs a (m, n_in), or with ``use_xt`` from xt's rows, which
    are zeroed after use), or of w's transpose for a NARROW layer, and
    row n_in (or n_out) for the bias.  Scratch: idx (m + SLACK), vals
    (2, m + SLACK), gs (2, at least n_out).

    Rows from xt go two at a time (``_gather_rows_range`` of two vectors): each delta row
    is then loaded once for both, where either input is nonzero.  For a
    batch of 128 normalised digits that loads 1.8x fewer rows, and the
    first layer's gradient took 45 us instead of 73 on one thread
    (``benchmarks/kernel_forms.py``)."""
    m = delta.shape[0]
    bias_row = n_out if n_out < NARROW else n_in
    val, val2, g, g2 = vals[0], vals[1], gs[0, :n_out], gs[1, :n_out]
    k = r0
    while k < r1:
        if k == bias_row:
            for i in range(m):
                idx[i] = i
                val[i] = 1.0
            _gather_rows_sum(delta, idx, val, m, g)
            _step_row(opt, g, params, b_off, 0.0, grads, state1, state2, lr, momentum, beta1, beta2, eps)
        elif n_out < NARROW:
            n = _nonzeros(delta[:, k], idx, val)
            _gather_rows_sum(a, idx, val, n, _layer(params_t, w_off, n_out, n_in)[k])
        elif use_xt and k + 1 < min(r1, n_in):
            col, col2 = xt[k], xt[k + 1]
            n = _nonzeros(col, idx, val, col2, val2)
            col[:] = 0.0  # whole vectors: cheaper than a store per nonzero
            col2[:] = 0.0
            _gather_rows_range(delta, idx, val, 0, n, g, False, val2, g2, 0)
            _step_row(opt, g, params, w_off + k * n_out, l2_scale, grads, state1, state2, lr, momentum, beta1, beta2,
                      eps)
            _step_row(opt, g2, params, w_off + (k + 1) * n_out, l2_scale, grads, state1, state2, lr, momentum, beta1,
                      beta2, eps)
            k += 1
        else:
            if use_xt:
                col = xt[k]
                n = _nonzeros(col, idx, val)
                col[:] = 0.0
            else:
                n = _nonzeros(a[:, k], idx, val)
            _gather_rows_sum(delta, idx, val, n, g)
            _step_row(opt, g, params, w_off + k * n_out, l2_scale, grads, state1, state2, lr, momentum, beta1, beta2,
                      eps)
        k += 1


#: Gradient rows a thread takes at a time in the weights pass.
GRAD_RUN = 16


@_serial
def _weight_rows(c, chunks, a0, xt, use_xt, m, sizes, w_off, b_off, params, params_t, acts, deltas, l2_scale, opt,
                 grads, state1, state2, lr, momentum, beta1, beta2, eps):
    """Chunk c of the layers' gradient rows stacked (see ``_grad_rows``,
    plus one for each bias), from the batch's inputs a (a0 for the first
    layer, or its nonzeros in xt) and deltas:

        grad w[k] = a[:, k] @ delta + l2_scale * w[k],   grad b = sum of delta rows,

    each followed by ``_step_row`` on it; a NARROW layer's rows,
    ``delta[:, j] @ a``, are parked in params_t for ``_step_narrow``.
    Chunk c takes runs of GRAD_RUN rows c, c + chunks, ...: that spreads
    the busy centre pixels evenly, and no two threads write next to each
    other (rows interleaved one by one ran 2.5x slower)."""
    n_layers = sizes.shape[0] - 1
    total = 0
    for layer in range(n_layers):
        total += _grad_rows(sizes, layer) + 1
    idx = np.empty(m + SLACK, np.int32)
    vals = np.empty((2, m + SLACK), a0.dtype)
    g_all = np.empty((2, sizes.max()), a0.dtype)
    for run in range(c, (total + GRAD_RUN - 1) // GRAD_RUN, chunks):
        lo, hi = run * GRAD_RUN, min(total, (run + 1) * GRAD_RUN)
        start = 0
        for layer in range(n_layers):
            rows = _grad_rows(sizes, layer) + 1
            r0, r1 = max(lo - start, 0), min(hi - start, rows)
            if r0 < r1:
                n_in, n_out = sizes[layer], sizes[layer + 1]
                delta = _block(deltas, sizes, m, layer)
                if layer == 0:
                    _layer_grad_rows(r0, r1, a0, xt, use_xt, delta, w_off[0], b_off[0], n_in, n_out, params, params_t,
                                     l2_scale, opt, grads, state1, state2, lr, momentum, beta1, beta2, eps, idx, vals,
                                     g_all)
                else:
                    _layer_grad_rows(r0, r1, _block(acts, sizes, m, layer - 1), xt, False, delta, w_off[layer],
                                     b_off[layer], n_in, n_out, params, params_t, l2_scale, opt, grads, state1,
                                     state2, lr, momentum, beta1, beta2, eps, idx, vals, g_all)
            start += rows


@_serial
def _step_narrow(sizes, w_off, params, params_t, l2_scale, opt, grads, state1, state2, lr, momentum, beta1, beta2,
                 eps):
    """``_step_row`` on the NARROW layers' gradients, which
    ``_weight_rows`` left transposed in params_t."""
    for layer in range(sizes.shape[0] - 1):
        n_in, n_out = sizes[layer], sizes[layer + 1]
        if n_out < NARROW:
            g_t = _layer(params_t, w_off[layer], n_out, n_in)
            g = np.empty((n_in, n_out), params.dtype)
            for k in range(n_in):
                for j in range(n_out):
                    g[k, j] = g_t[j, k]
            _step_row(opt, g.ravel(), params, w_off[layer], l2_scale, grads, state1, state2, lr, momentum, beta1,
                      beta2, eps)


@_parallel
def _weights_pass(a0, xt, use_xt, m, sizes, w_off, b_off, params, params_t, acts, deltas, l2_scale, opt, grads, state1,
                  state2, lr, momentum, beta1, beta2, eps, chunks):
    state = _launch(chunks)
    for chunk in prange(chunks):
        c = np.int64(chunk)  # int64, as numba types the loop before its parfor pass: one compilation
        _enter_chunk(c, state)
        _weight_rows(c, chunks, a0, xt, use_xt, m, sizes, w_off, b_off, params, params_t, acts, deltas, l2_scale, opt,
                     grads, state1, state2, lr, momentum, beta1, beta2, eps)
        _leave_chunk(state)


# ----------------------------------------------------------- whole passes


@_serial
def _batch(x, order, pos, m, gather, xb, xt, y, sizes, w_off, b_off, hidden_act, out_act, params, params_t, l2_scale,
           opt, grads, state1, state2, lr, momentum, beta1, beta2, eps, acts, deltas, loss_rows, right_rows, chunks):
    """One batch: both passes; returns (sum of row losses, rows right).

    When ``gather``ing, the rows' nonzeros pass from the first pass to the
    second through xt (n_in, m), all zeros before and after (unless the
    first layer is NARROW): the weights pass then reads contiguous rows
    instead of the batch's columns."""
    _transpose_weights(sizes, w_off, params, params_t, True)
    out = _block(acts, sizes, m, sizes.shape[0] - 2)
    # Even with one thread the parallel passes are used: numba compiles a
    # prange body with its arrays marked as not aliasing one another, which
    # measured about 30 % faster than the same loops in a plain function.
    _backprop_pass(x, order, pos, m, gather, xb, xt, y, sizes, w_off, b_off, hidden_act, out_act, params, params_t,
                   1.0 / m, acts, deltas, out, loss_rows, right_rows, chunks)
    loss = 0.0
    right = 0
    for i in range(m):
        loss += loss_rows[i]
        right += right_rows[i]
    a0 = xb[:m] if gather else x[pos : pos + m]
    _weights_pass(a0, xt, gather and sizes[1] >= NARROW, m, sizes, w_off, b_off, params, params_t, acts, deltas,
                  l2_scale, opt, grads, state1, state2, lr, momentum, beta1, beta2, eps, chunks)
    _step_narrow(sizes, w_off, params, params_t, l2_scale, opt, grads, state1, state2, lr, momentum, beta1, beta2, eps)
    return loss, right


@_serial
def batch_grad(x, y, sizes, w_off, b_off, hidden_act, out_act, params, l2_scale, grads, params_t, acts, deltas,
               loss_rows, right_rows, chunks):
    """Forward and backward pass of the batch x (m, n_in), labels y.

    Fills ``grads`` with the gradient of
    ``mean cross-entropy + (l2_scale / 2) * sum W**2`` and returns
    ``(sum of row losses, number of rows predicted right)``.
    ``acts``/``deltas`` need room for m * sum(sizes[1:]) values, ``params_t``
    as much as params, ``loss_rows``/``right_rows`` m; ``chunks``: threads.
    """
    order = np.empty(0, np.int64)
    return _batch(x, order, 0, x.shape[0], False, x, np.zeros((0, 0), x.dtype), y, sizes, w_off, b_off, hidden_act, out_act, params, params_t,
                  l2_scale, GRADIENT, grads, grads, grads, 0.0, 0.0, 0.0, 0.0, 0.0, acts, deltas, loss_rows,
                  right_rows, chunks)


@_serial
def train_range(x, y, order, start, stop, batch_size, sizes, w_off, b_off, hidden_act, out_act,
                params, state1, state2, optimizer, lr, momentum, beta1, beta2, eps, step,
                l2_scale, xbuf, xtbuf, params_t, acts, deltas, loss_rows, right_rows, chunks):
    """Run the minibatches ``order[start:stop]`` (in steps of batch_size):
    gradient and optimiser step of each, without returning to Python.

    ``step`` counts optimiser steps so far (for Adam's bias correction);
    ``xbuf`` (batch_size, n_in) is room for a batch's rows; ``xtbuf``
    (n_in * batch_size) must be zeros (and stays so); ``chunks``: threads.
    Returns ``(loss sum, right predictions, steps taken)``.
    """
    loss = 0.0
    correct = 0
    steps = 0
    pos = start
    while pos < stop:
        m = min(batch_size, stop - pos)
        steps += 1
        lr_t = _step_rate(optimizer, lr, beta1, beta2, step + steps)
        xt = xtbuf[: x.shape[1] * m].reshape((x.shape[1], m))
        batch_loss, batch_right = _batch(x, order, pos, m, True, xbuf, xt, y, sizes, w_off, b_off, hidden_act, out_act,
                                         params, params_t, l2_scale, optimizer, state1, state1, state2, lr_t,
                                         momentum, beta1, beta2, eps, acts, deltas, loss_rows, right_rows, chunks)
        loss += batch_loss
        correct += batch_right
        pos += m
    return loss, correct, steps


# ---------------------------------------------------------- augmentation


@_serial
def _grid_weights(size, grid):
    """For each of ``size`` pixel centres: the coarse-grid cell it falls in
    (``grid`` points spanning the frame) and its fraction across the cell."""
    cell = np.empty(size, np.int64)
    frac = np.empty(size)
    for i in range(size):
        g = (i + 0.5) / size * (grid - 1)
        cell[i] = min(int(g), grid - 2)
        frac[i] = g - cell[i]
    return cell, frac


@_parallel
def warp_frames(frames, affine, field, out):
    """Augmented copies of square frames (N, S, S) into out.

    Output pixel p (relative to the frame centre) samples the input, with
    bilinear interpolation and zero outside, at ``A p + t + e(p)``:
    ``affine[n] = (a, b, c, d, ty, tx)`` gives ``A = [[a, b], [c, d]]`` and
    t; ``field[n]`` (G, G, 2) holds the elastic displacement e on a coarse
    grid over the frame, interpolated bilinearly (a smooth random field,
    as in Simard et al. 2003).
    """
    n_frames, size, _ = frames.shape
    cell, frac = _grid_weights(size, field.shape[1])
    half = size / 2.0
    for n in prange(n_frames):
        # Zero border of one pixel: every bilinear tap is then in bounds.
        padded = np.zeros((size + 2, size + 2), frames.dtype)
        padded[1 : size + 1, 1 : size + 1] = frames[n]
        a, b, c, d, ty, tx = affine[n, 0], affine[n, 1], affine[n, 2], affine[n, 3], affine[n, 4], affine[n, 5]
        f = field[n]
        for y in range(size):
            gy, uy = cell[y], frac[y]
            py = y + 0.5 - half
            for x in range(size):
                gx, ux = cell[x], frac[x]
                w00, w01 = (1 - uy) * (1 - ux), (1 - uy) * ux
                w10, w11 = uy * (1 - ux), uy * ux
                ey = w00 * f[gy, gx, 0] + w01 * f[gy, gx + 1, 0] + w10 * f[gy + 1, gx, 0] + w11 * f[gy + 1, gx + 1, 0]
                ex = w00 * f[gy, gx, 1] + w01 * f[gy, gx + 1, 1] + w10 * f[gy + 1, gx, 1] + w11 * f[gy + 1, gx + 1, 1]
                px = x + 0.5 - half
                # source position in the padded frame's index space
                sy = a * py + b * px + ty + ey + half + 0.5
                sx = c * py + d * px + tx + ex + half + 0.5
                if sy < 0.0 or sx < 0.0 or sy >= size + 1.0 or sx >= size + 1.0:
                    out[n, y, x] = 0.0
                    continue
                y0 = int(sy)
                x0 = int(sx)
                vy = sy - y0
                vx = sx - x0
                out[n, y, x] = ((1 - vy) * ((1 - vx) * padded[y0, x0] + vx * padded[y0, x0 + 1])
                                + vy * ((1 - vx) * padded[y0 + 1, x0] + vx * padded[y0 + 1, x0 + 1]))
