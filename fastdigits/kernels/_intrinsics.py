"""LLVM intrinsics of the CPU kernels: what numba has no word for.
Exponent bits (``pow2``), cache prefetches, arrays on the stack, vector
compression of nonzeros, and calls into the C library for thread
placement (``sched_getcpu``, affinity masks, atomic flags).  Each is a
few instructions of LLVM IR, typed for the arguments it accepts."""

from __future__ import annotations

import sys

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

LINUX = sys.platform.startswith("linux")
#: Words of a cpu_set_t (1024 CPUs), as sched_getaffinity fills it.
MASK_WORDS = 16
#: llvm.prefetch's locality: 3, into every cache level.
PREFETCH_LOCALITY = 3
#: Room that scratch for ``compress_nonzeros`` needs past the input's length:
#: the vector form stores whole 64-byte vectors.
SLACK = 16


@intrinsic
def pow2(typingctx, n):
    """2.0 ** n as a float64, for an integer -1022 <= n <= 1023: the
    exponent bits set directly (a bit cast LLVM can vectorise)."""
    if not isinstance(n, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        i64 = ir.IntType(64)
        biased = builder.add(context.cast(builder, args[0], n, types.int64), ir.Constant(i64, 1023))
        return builder.bitcast(builder.shl(biased, ir.Constant(i64, 52)), ir.DoubleType())

    return types.float64(n), codegen


def _libc_call(name, ret, arg_types, args, builder, fallback):
    """Code for ``name(*args)`` from the C library, or the constant fallback
    where these scheduling calls do not exist."""
    if not LINUX:
        return ir.Constant(ret, fallback)
    fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ret, arg_types), name)
    return builder.call(fn, args)


@intrinsic
def sched_getcpu(typingctx):
    """The CPU the calling thread runs on (-1: unknown)."""

    def codegen(context, builder, signature, args):
        return _libc_call("sched_getcpu", ir.IntType(32), [], [], builder, -1)

    return types.int32(), codegen


@intrinsic
def sched_yield(typingctx):
    """Let another thread that is ready to run on this CPU run now."""

    def codegen(context, builder, signature, args):
        return _libc_call("sched_yield", ir.IntType(32), [], [], builder, 0)

    return types.int32(), codegen


@intrinsic
def affinity(typingctx, mask, write, process):
    """Read (``write`` False) or set the CPUs a thread may run on, as a bit
    mask of MASK_WORDS uint64 words: the calling thread's, or with
    ``process`` the process's main thread's.  Returns 0 on success."""
    if (mask != types.uint64[::1] or not isinstance(write, types.BooleanLiteral)
            or not isinstance(process, types.BooleanLiteral)):
        return None
    name = "sched_setaffinity" if write.literal_value else "sched_getaffinity"

    def codegen(context, builder, signature, args):
        i32, i64, ptr = ir.IntType(32), ir.IntType(64), ir.IntType(8).as_pointer()
        data = context.make_array(signature.args[0])(context, builder, value=args[0]).data
        pid = _libc_call("getpid", i32, [], [], builder, 0) if process.literal_value else ir.Constant(i32, 0)
        call_args = [pid, ir.Constant(i64, 8 * MASK_WORDS), builder.bitcast(data, ptr)]
        return _libc_call(name, i32, [i32, i64, ptr], call_args, builder, -1)

    return types.int32(mask, write, process), codegen


@intrinsic
def flag(typingctx, flags, k, value):
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
def take(typingctx, counter, k):
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
def thread_self(typingctx):
    """The calling thread's pthread_self() (0 where unknown)."""

    def codegen(context, builder, signature, args):
        return _libc_call("pthread_self", ir.IntType(64), [], [], builder, 0)

    return types.int64(), codegen


@intrinsic
def prefetch(typingctx, a, k):
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


@intrinsic
def stack_array(typingctx, like, size):
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


def _target_has(feature: str) -> bool:
    """Whether the code numba makes may use ``feature`` (an LLVM name such
    as ``"avx2"``): numba's target features are ``NUMBA_CPU_FEATURES``
    where it is set, else the host CPU's (also under ``NUMBA_CPU_NAME``)."""
    from llvmlite import binding
    from numba.core import config as numba_config

    features = numba_config.CPU_FEATURES
    if features is None:
        features = binding.get_host_cpu_features().flatten()
    return f"+{feature}" in features.split(",")


#: Lanes of 8 float32 that ``_permute_compress`` keeps, for each mask of
#: nonzero lanes: their positions in order, then zeros.
_KEEP = [[j for j in range(8) if m >> j & 1] + [0] * (8 - bin(m).count("1")) for m in range(256)]


def _permute_compress(context, builder, sources, k0, idx_type, idx, n):
    """``_compress_code`` for float32 on a CPU with AVX2 but not AVX-512,
    which has no compress instruction: LLVM expands
    ``llvm.experimental.vector.compress`` there into one extract and store
    per lane, and listing a 400-pixel row's nonzeros took ~540 ns on Zen 3,
    twice a scalar loop's time.  Instead, per 8 lanes: the mask of nonzero
    lanes picks a row of a table of their positions (``_KEEP``), one
    ``vpermps`` per source packs its kept lanes first and the positions
    plus the lanes' first index are their indices (the same entries as
    the compress, in the same order)."""
    i32, i64 = ir.IntType(32), ir.IntType(64)
    f8, i8v = ir.VectorType(ir.FloatType(), 8), ir.VectorType(i32, 8)
    module = builder.module
    table_t = ir.ArrayType(ir.ArrayType(i32, 8), 256)
    table = module.globals.get("fastdigits_keep_lanes")
    if table is None:
        table = ir.GlobalVariable(module, table_t, "fastdigits_keep_lanes")
        table.linkage = "internal"
        table.global_constant = True
        table.initializer = ir.Constant(table_t, [ir.Constant(ir.ArrayType(i32, 8), row) for row in _KEEP])
    permps = cgutils.get_or_insert_function(module, ir.FunctionType(f8, [f8, i8v]), "llvm.x86.avx2.permps")
    popcount = cgutils.get_or_insert_function(module, ir.FunctionType(ir.IntType(8), [ir.IntType(8)]),
                                              "llvm.ctpop.i8")

    def pointer(array_type, array, at, vec_t):
        data = context.make_array(array_type)(context, builder, value=array).data
        return builder.bitcast(builder.gep(data, [at]), vec_t.as_pointer())

    first = context.cast(builder, k0, types.int64, types.int64)
    for half in range(2):
        at = builder.add(first, ir.Constant(i64, 8 * half))
        vecs = [builder.load(pointer(src_t, src, at, f8), align=1) for src_t, src, _, _ in sources]
        mask = None
        for vec in vecs:
            nonzero = builder.fcmp_unordered("!=", vec, ir.Constant(f8, None))
            mask = nonzero if mask is None else builder.or_(mask, nonzero)
        bits = builder.bitcast(mask, ir.IntType(8))
        row = builder.gep(table, [ir.Constant(i64, 0), builder.zext(bits, i64), ir.Constant(i64, 0)])
        keep = builder.load(builder.bitcast(row, i8v.as_pointer()), align=4)
        for vec, (_, _, out_t, out) in zip(vecs, sources):
            builder.store(builder.call(permps, [vec, keep]), pointer(out_t, out, n, f8), align=1)
        base = builder.insert_element(ir.Constant(i8v, None), builder.trunc(at, i32), ir.Constant(i32, 0))
        splat = builder.shuffle_vector(base, ir.Constant(i8v, None), ir.Constant(i8v, [0] * 8))
        builder.store(builder.add(splat, keep), pointer(idx_type, idx, n, i8v), align=1)
        n = builder.add(n, builder.zext(builder.call(popcount, [bits]), n.type))
    return n


def _compress_code(context, builder, sources, k0, idx_type, idx, n):
    """Code of ``compress_nonzeros`` for one or more vectors: ``sources``
    holds (array type, array, output type, output) for each; entry j is
    kept where any of them is nonzero there."""
    if sources[0][0].dtype.bitwidth == 32 and _target_has("avx2") and not _target_has("avx512f"):
        return _permute_compress(context, builder, sources, k0, idx_type, idx, n)
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
def compress_nonzeros(typingctx, v, k0, idx, val, n):
    """Append the nonzero entries of the 64 bytes of v from k0 (16 float32
    or 8 float64, contiguous) to idx/val from n, and return the new n.

    One vector load, a compare and ``llvm.experimental.vector.compress``
    (vcompressps on AVX-512; with AVX2 only, ``_permute_compress``; LLVM
    expands the compress elsewhere); whole vectors are
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
def compress_nonzeros_pair(typingctx, v, v2, k0, idx, val, val2, n):
    """``compress_nonzeros`` of two vectors at once: the entries where v
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
