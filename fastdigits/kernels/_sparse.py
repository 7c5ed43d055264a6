"""Sparse vector-matrix products in register tiles: how the CPU kernels
multiply inputs with many zeros (``_dense`` takes those with few).

Every product is a sum of rows of a matrix weighted by the nonzero
entries of a vector: ``a_i @ w`` for a layer's forward pass, ``delta_i @
w.T`` for the error sent back, and ``a[:, k] @ delta`` for row k of a
weight gradient.  ``nonzeros`` lists a vector's nonzero entries (a vector
compress per 64 bytes); ``gather_rows_sum`` sums the rows they pick with
register tiles: up to TILE output columns (eight AVX-512 registers) are
summed in a fixed-size stack array that LLVM keeps in registers, so each
nonzero costs one broadcast and one fused multiply-add per 16 columns,
with no loads or stores of the sum.  Zero inputs (most of a digit's
pixels, half of a relu layer) cost nothing.  Dense dot products
(``dot``, ``dots``) serve the narrow layers, and ``fetch_ahead`` the
scattered rows of a minibatch.
"""

from __future__ import annotations

from numba import carray

from .. import config
from ._intrinsics import compress_nonzeros, compress_nonzeros_pair, prefetch, stack_array
from ._jit import inline, plain, reduce, serial

#: Widest register tile (columns): 8 registers of float32 with AVX-512,
#: 8 with AVX2 (whose 16 registers hold 64 floats in 8).
TILE = config.register_tile()

#: How many rows ahead a training batch's input rows are prefetched
#: (``fetch_ahead``).  They are scattered over the whole data set (96 MB for
#: MNIST), and each waited for memory: the rows pass of a batch of 128 on
#: one thread (``benchmarks/batch_phases.py --batch 128``) went from 144-149
#: to 129 us with the prefetch.  2 to 6 rows ahead measured alike; 32 ahead
#: lost most of the gain, the rows evicted again before their turn.
PREFETCH_AHEAD = 4


@serial
def fetch_ahead(src, order, i, lo, hi):
    """For row i of the rows src[order[k]], lo <= k < hi, taken in order:
    prefetch the row PREFETCH_AHEAD places on (at i == lo, every row up to
    it)."""
    start = lo if i == lo else i + PREFETCH_AHEAD
    for k in range(start, min(i + PREFETCH_AHEAD + 1, hi)):
        row = src[order[k]]
        for j in range(0, row.shape[0], 64 // row.itemsize):
            prefetch(row, j)


@inline
def tile_sum(w, idx, val, t0, t1, j0, width, accumulate, sums, val2):
    """out[j0 : j0 + width] (+)= sum over t0 <= t < t1 of val[t] * w[idx[t], j0 : j0 + width],
    and with val2 (not None) out2 the same of val2: each row of w loaded once for both.
    ``sums`` is (acc, out, acc2, out2): the register tiles and the outputs
    they go to.

    ``width`` is a constant at every call site: the loops over it unroll
    and ``acc`` (``acc2``) lives in registers.  (No float reassociation is
    allowed here, or LLVM would vectorise along t with gathers instead.)"""
    acc, out, acc2, out2 = sums
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


@inline
def gather_wide_tiles(w, idx, val, t0, t1, out, accumulate, start):
    """The first of ``gather_rows_range``'s steps, compiled into the
    caller: its TILE-wide tiles from column ``start``.  Returns the column
    where they stop.

    The cache-blocked forward pass runs a gather for each row and block of
    weight rows (7 times a row for 400-128), each over a short run of
    nonzeros: with these tiles inlined there, the rows pass of a batch of
    128 on one thread took about 105 us instead of 115
    (``benchmarks/batch_phases.py``, runs alternating with the previous
    build).  Inlining the whole of ``gather_rows_range`` there did as well
    but cost the first ``fastdigits train`` 10 s more compiling and 80 MB
    more memory; inlining it in the gradient rows made them slower."""
    acc = carray(stack_array(out, TILE), TILE)
    j = start
    while j + TILE <= out.shape[0]:
        tile_sum(w, idx, val, t0, t1, j, TILE, accumulate, (acc, out, acc, out), None)
        j += TILE
    return j


# A plain njit, not a _Kernel: compiled for each caller's constants (a start or t0 of 0, ``accumulate``), the
# 400-800-10 epoch of batch 128 ran in 1.06 s against 1.34 s for one shared compilation (benchmarks in one process).
@plain
def gather_rows_range(w, idx, val, t0, t1, out, accumulate, val2=None, out2=None, start=0):
    """out (+)= sum over t0 <= t < t1 of val[t] * w[idx[t]]: ``v @ w`` for
    a vector v whose nonzero entries are ``val[t0:t1]`` at ``idx[t0:t1]``;
    with val2 and out2, also out2 (+)= the same sum of val2 (two vectors
    listed together by ``nonzeros``).  Columns before ``start`` are left
    alone.

    Columns go in register tiles of TILE (PAIR_TILE for two), 64, 32,
    16, 8 and then 1: the same sums whatever the tile.  The tile of 64
    keeps a 64-wide layer's sums in one tile: 10,000 MNIST frames through
    400-64-10 went 3.45-3.61x as fast with it as in two tiles of 32 (Zen 4,
    ``benchmarks/compare_predict_builds.py --rows 10000 --hidden 64``;
    RESULTS.md, "Issue 20, fourth round")."""
    acc = carray(stack_array(out, TILE), TILE)
    acc2 = carray(stack_array(out, TILE), TILE)
    sums = (acc, out, acc2, out2)
    n_out = out.shape[0]
    j = start
    if val2 is None:
        j = gather_wide_tiles(w, idx, val, t0, t1, out, accumulate, start)
    else:
        while j + PAIR_TILE <= n_out:
            tile_sum(w, idx, val, t0, t1, j, PAIR_TILE, accumulate, sums, val2)
            j += PAIR_TILE
    if TILE > 64:  # with AVX2 the tiles above end where one of 64 could start (numba drops the loop)
        while j + 64 <= n_out:
            tile_sum(w, idx, val, t0, t1, j, 64, accumulate, sums, val2)
            j += 64
    while j + 32 <= n_out:
        tile_sum(w, idx, val, t0, t1, j, 32, accumulate, sums, val2)
        j += 32
    while j + 16 <= n_out:
        tile_sum(w, idx, val, t0, t1, j, 16, accumulate, sums, val2)
        j += 16
    while j + 8 <= n_out:
        tile_sum(w, idx, val, t0, t1, j, 8, accumulate, sums, val2)
        j += 8
    while j < n_out:
        tile_sum(w, idx, val, t0, t1, j, 1, accumulate, sums, val2)
        j += 1


@serial
def gather_rows_sum(w, idx, val, n, out):
    """out = sum over t < n of val[t] * w[idx[t]] (``gather_rows_range``)."""
    gather_rows_range(w, idx, val, 0, n, out, False)


@serial
def nonzeros(v, idx, val, v2=None, val2=None):
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
                n = compress_nonzeros(v, k, idx, val, n)
            else:
                n = compress_nonzeros_pair(v, v2, k, idx, val, val2, n)
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


@serial
def nonzeros_in_blocks(v, idx, val, block, ends):
    """``nonzeros`` of a contiguous v, also counting where each block of
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
        n = compress_nonzeros(v, k, idx, val, n)
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


@reduce
def dot(a, b):
    """sum of a * b, vectorised (its order of additions is fixed at compile time)."""
    s = a[0] * b[0]
    for k in range(1, a.shape[0]):
        s += a[k] * b[k]
    return s


@reduce
def dots(a, w_t, out):
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
        out[j] = dot(a, w_t[j])
        j += 1


@serial
def copy(src, dst):
    """dst[:] = src for two 1-D arrays of one length, as a plain loop: numba's
    array assignment brings its broadcasting checks and their error
    messages (string formatting) into the kernel, code that every caller up
    to ``train_range`` compiled again (``benchmarks/RESULTS.md``, "First
    use")."""
    for j in range(dst.shape[0]):
        dst[j] = src[j]
