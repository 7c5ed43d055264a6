"""The passes of the network on the CPU: Numba kernels, parallel over a
batch's rows or over the rows of its weight matrices.

Conventions (as in scikit-learn's ``coefs_``): a layer maps ``n_in`` to
``n_out`` units with a weight matrix ``w`` of shape (n_in, n_out) and a bias
``b`` of shape (n_out,), so a batch ``a`` (m, n_in) goes to
``act(a @ w + b)`` (m, n_out).

All parameters live in one flat vector (``params``), as do their gradients
and the optimiser's state: each layer's ``w`` and ``b`` are views at offsets
given by a :class:`~fastdigits.kernels.Network`.  Activations and deltas of
a batch live in flat buffers too (a :class:`~fastdigits.kernels.Workspace`),
one (m, n_out) block per layer.  This lets a whole run of minibatches stay
inside one compiled call (:func:`train_range`).  A wide layer's products
go three rows at a time through dense register blocks (``_dense``) where
enough of its inputs are nonzero (``Network.dense_share``), or in a
prediction where it is narrower than SUMS_WIDE, otherwise as sparse
vectors times a matrix, in register tiles (``_sparse``): the same sums in
the same order, so the same bits either way.

A minibatch is two parallel passes: one over its rows (forward through
every layer, output delta, deltas back through every layer: no row needs
another's), then one over the rows of every weight matrix (gradient row,
then the optimiser's step on it, while it is in registers and cache; a
wide layer's rows three at a time as a register block, or two at a time
sharing each load of a delta row).

Three layers of functions, as in STUMPY: the entry points (``forward``,
``batch_grad``, ``train_range``, ``dense_forward`` and the checks)
document their arguments; a ``_name_pass`` or ``_name_parallel`` is the
``prange`` driver; ``_name_rows`` and smaller helpers do one thread's
work.  Every ``prange`` writes a disjoint slice of its output and every sum
runs serially in a fixed order, the same whichever product takes it (for
finite inputs and weights), so results do not depend on the thread count.
Kernels trust their inputs; ``fastdigits.model`` validates at the edge.
"""

from __future__ import annotations

import math

import numpy as np
from numba import prange

from . import (ADAM, GRADIENT, NESTEROV, RELU, SIGMOID, SOFTMAX, TANH, Optimizer, Workspace, _threads, derivative,
               nesterov_step, output_delta, sgd_step, step_rate)
from ._intrinsics import SLACK, pow2, take
from ._jit import inline, parallel, reduce, serial
from ._dense import MR, NR, as_panels, count_nonzeros, full_panels, pack, pack_row, rest_panel, rows_times
from ._sparse import (copy, dots, fetch_ahead, gather_rows_range, gather_rows_sum, gather_wide_tiles,
                      nonzeros, nonzeros_in_blocks)

#: Layers with fewer outputs than this (the output layer, the classic
#: course's 25 hidden units) are multiplied in the transposed form, as dot
#: products: their register tiles would be too narrow to pay for a pass
#: over the inputs (400-25-10 trained 1.4-1.7x faster with 32 than with 16).
NARROW = 32


# ------------------------------------------------ per-value formulas


# ----------------------------------------------------------- activations


_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10


@serial
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
    return p * pow2(int(n))


@serial
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


_derivative = serial(derivative)
_step_rate = serial(step_rate)
_output_delta = inline(output_delta)
_sgd_step = inline(sgd_step)
_nesterov_step = inline(nesterov_step)


# --------------------------------------------------------------- forward


@serial
def _layer_rows(rows, lo, hi, layer, act, out, scratch):
    """Rows lo..hi of a dense layer: out[i] = act(a_i @ w + b).

    ``rows`` is (src, order, xt): the input rows a_i are src[order[i]], or
    src[i] where order is empty; where xt (n_in, m) is not empty, each
    row's nonzeros are also written to its column i, which must hold
    zeros there (the weights pass reads its rows and zeroes them again).
    ``layer`` is (w, w_t, b): w (n_in, n_out), for a NARROW layer its
    transpose w_t, and b.  ``scratch`` is (idx, val), n_in + SLACK
    entries each."""
    src, order, xt = rows
    w, w_t, b = layer
    idx, val = scratch
    indirect = order.shape[0] > 0
    fill_xt = xt.shape[0] > 0
    n_out = out.shape[1]
    for i in range(lo, hi):
        if indirect:
            fetch_ahead(src, order, i, lo, hi)
        a = src[order[i]] if indirect else src[i]
        o = out[i]
        if n_out < NARROW:
            dots(a, w_t, o)
            n = nonzeros(a, idx, val) if fill_xt else 0
        else:
            n = nonzeros(a, idx, val)
            gather_rows_sum(w, idx, val, n, o)
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


@serial
def _blocked(n_in, n_out, itemsize, rows):
    """Whether a layer's rows go through ``_layer_rows_blocked``: its w is
    wide and outgrows two blocks, and enough rows share them."""
    return n_out >= NARROW and n_in * n_out * itemsize > 2 * BLOCK_BYTES and rows >= MIN_GROUP


@serial
def _layer_rows_blocked(rows, lo, hi, layer, act, out):
    """``_layer_rows`` for a wide layer, cache-blocked: rows go in groups
    of ROW_GROUP whose nonzeros are listed first, then each block of w's
    rows (BLOCK_BYTES) serves every row of the group while it is in L1.
    With w in L2 instead, each nonzero's row of w costs ~1.6x as much."""
    src, order, xt = rows
    w, _, b = layer
    indirect = order.shape[0] > 0
    fill_xt = xt.shape[0] > 0
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
                fetch_ahead(src, order, i, lo, hi)
            a = src[order[i]] if indirect else src[i]
            n = nonzeros_in_blocks(a, idx[r], val[r], block, ends[r])
            if fill_xt:
                for t in range(n):
                    xt[idx[r, t], i] = val[r, t]
            o = out[i]
            for j in range(n_out):
                o[j] = 0.0
        for blk in range(n_blocks):
            for i in range(g0, g1):
                r = i - g0
                t0, t1, o = ends[r, blk], ends[r, blk + 1], out[i]
                j = gather_wide_tiles(w, idx[r], val[r], t0, t1, o, True, 0)
                if j < n_out:
                    gather_rows_range(w, idx[r], val[r], t0, t1, o, True, None, None, j)
        for i in range(g0, g1):
            o = out[i]
            for j in range(n_out):  # the bias last, as ``_layer_rows`` adds it: the same bits
                o[j] += b[j]
            _activate_row(o, act)


@serial
def _triple(rows, i0, hi):
    """Rows i0, i0 + 1, i0 + 2 of ``_layer_rows``'s ``rows`` (the last of
    lo..hi repeated past hi) and their row numbers."""
    src, order, _ = rows
    i1, i2 = min(i0 + 1, hi - 1), min(i0 + 2, hi - 1)
    if order.shape[0] > 0:
        return (src[order[i0]], src[order[i1]], src[order[i2]]), (i0, i1, i2)
    return (src[i0], src[i1], src[i2]), (i0, i1, i2)


@serial
def _dense_rows(rows, lo, hi, n_in, share):
    """Whether rows lo..hi (``_layer_rows``'s ``rows``) have at least
    ``share`` of their entries nonzero (``Network.dense_share``): then
    they go through a layer as register blocks (``_layer_rows_microkernel``)."""
    src, order, _ = rows
    n = 0
    for i in range(lo, hi):
        n += count_nonzeros(src[order[i]] if order.shape[0] > 0 else src[i])
    return n >= share * (hi - lo) * n_in


#: Narrowest layer whose sums of nonzeros (``_sparse.gather_rows_range``)
#: keep 64 columns of sums in registers; a narrower one's rows go by
#: register blocks in a prediction whatever their zeros (``_blocks_always``).
#: 10,000 rows, blocks against sums (``benchmarks/dense_crossover.py
#: --hidden 32`` and ``--hidden 48``): on Zen 4 with AVX-512 1.6-5.3x as
#: fast from 40 % nonzero, 0.7-1.0x at 10 %; on Zen 1 with AVX2 1.5-7.4x
#: from 10 % (at 64 wide, 1.18x from 20 %, as ``config.DENSE_SHARES``).
SUMS_WIDE = 64


@serial
def _blocks_always(n_out, network):
    """Whether a layer of n_out outputs (NARROW or more) goes by register
    blocks whatever its inputs' zeros: narrower than SUMS_WIDE, unless
    ``network.dense_share`` above 1 forces the sums (tests)."""
    return n_out < SUMS_WIDE and network.dense_share <= 1.0


#: Rows transposed together into a batch's xt: each store of a group
#: fills 16 floats of one line of xt, not one.
TRANSPOSE_GROUP = 16


@serial
def _transpose_rows(rows, lo, hi, xt):
    """xt[:, i] = row i for rows lo..hi of ``_layer_rows``'s ``rows``,
    TRANSPOSE_GROUP rows at a time (every entry, zeros too)."""
    src, order, _ = rows
    indirect = order.shape[0] > 0
    for g0 in range(lo, hi, TRANSPOSE_GROUP):
        g1 = min(g0 + TRANSPOSE_GROUP, hi)
        for k in range(xt.shape[0]):
            dst = xt[k]
            for i in range(g0, g1):
                dst[i] = src[order[i], k] if indirect else src[i, k]


@serial
def _layer_rows_microkernel(rows, lo, hi, layer, act, out, panels):
    """``_layer_rows`` by register blocks (``_dense``): three rows at a
    time through w's whole panels (``panels``, from ``_dense.pack``; where
    it is empty, w read in place, as a panel's columns of its rows), and
    the columns after them (all of a layer narrower than NR) through one
    more panel copied here (``_dense.rest_panel``).  The same sums in the
    same order: the same bits."""
    src, order, xt = rows
    w, _, b = layer
    indirect = order.shape[0] > 0
    fill_xt = xt.shape[0] > 0
    n_in, n_out = w.shape
    n_panels = full_panels(n_out)
    start = n_panels * NR
    packed = panels.shape[0] > 0
    blocks = as_panels(panels, n_in, n_out) if packed else w
    rest = np.empty((n_in if start < n_out else 0, NR), w.dtype)
    if start < n_out:
        rest_panel(w, start, rest)
    spill = np.empty(MR * NR, w.dtype)
    for i0 in range(lo, hi, MR):
        if indirect:
            for i in range(i0, min(i0 + MR, hi)):
                fetch_ahead(src, order, i, lo, hi)
        triple, (i0, i1, i2) = _triple(rows, i0, hi)
        n_rows = min(MR, hi - i0)
        rows_times(triple, n_rows, n_in, blocks, packed, n_panels, start, (out[i0], out[i1], out[i2]), spill)
        if start < n_out:
            rows_times(triple, n_rows, n_in, rest, True, 1, n_out - start,
                       (out[i0, start:], out[i1, start:], out[i2, start:]), spill)
    if fill_xt:
        _transpose_rows(rows, lo, hi, xt)
    for i in range(lo, hi):
        o = out[i]
        for j in range(n_out):
            o[j] += b[j]
        _activate_row(o, act)


@parallel
def dense_forward(a_in, w, b, act, out, chunks):
    """out = act(a_in @ w + b): a_in (m, n_in), w (n_in, n_out), b (n_out,),
    act an activation code (or SOFTMAX), out (m, n_out), all of one float
    dtype.

    Parallel over ``chunks`` chunks of rows (one per thread), each by the
    sums of its rows' nonzeros (``_layer_rows``, cache-blocked when w is
    large: ``_layer_rows_blocked``), as ``forward`` runs a layer whose
    inputs have many zeros."""
    m, n_in = a_in.shape
    w_t = np.ascontiguousarray(w.T) if w.shape[1] < NARROW else w
    order = np.empty(0, np.int64)
    state = _threads.launch(chunks)
    for chunk in prange(chunks):
        c = np.int64(chunk)  # int64, as numba types the loop before its parfor pass: one compilation
        _threads.enter_chunk(c, state)
        lo, hi = _threads.chunk(c, chunks, m)
        rows = (a_in, order, a_in[:0])
        if _blocked(n_in, w.shape[1], w.itemsize, hi - lo):
            _layer_rows_blocked(rows, lo, hi, (w, w_t, b), act, out)
        else:
            scratch = (np.empty(n_in + SLACK, np.int32), np.empty(n_in + SLACK, a_in.dtype))
            _layer_rows(rows, lo, hi, (w, w_t, b), act, out, scratch)
        _threads.leave_chunk(state)


@serial
def _layer(flat, off, rows, cols):
    return flat[off : off + rows * cols].reshape((rows, cols))


@serial
def _block(flat, sizes, m, layer):
    """Layer ``layer``'s (m, sizes[layer + 1]) block of an activation or delta buffer."""
    off = 0
    for l in range(layer):
        off += m * sizes[l + 1]
    return _layer(flat, off, m, sizes[layer + 1])


@serial
def _by_blocks(rows, lo, hi, n_in, n_out, network, panels, predicting):
    """Whether rows lo..hi go through a layer of n_in inputs and n_out
    outputs by register blocks (``_layer_rows_microkernel``): a layer of
    NARROW outputs or more whose rows have few zeros (``_dense_rows``),
    or in a prediction one narrower than SUMS_WIDE (``_blocks_always``).
    A prediction's blocks read the weights packed in ``panels`` or, where
    it is empty, in place; training's need ``panels`` (``_packs``) and a
    whole panel of NR columns (its choices are measured apart:
    ``_dense_training``)."""
    if n_out < NARROW:
        return False
    if predicting:
        return _blocks_always(n_out, network) or _dense_rows(rows, lo, hi, n_in, network.dense_share)
    return panels.shape[0] > 0 and full_panels(n_out) > 0 and _dense_rows(rows, lo, hi, n_in, network.dense_share)


@serial
def _forward_layers(rows, lo, hi, network, params, params_t, packing, acts, out, scratch):
    """Rows lo..hi (of m, out's rows) through every layer, a layer at a
    time: input ``rows`` as for ``_layer_rows``, hidden activations into
    the (m, n_out) blocks of ``acts``, probabilities into out (m,
    n_classes); ``params_t`` holds the NARROW layers' transposed weights
    (``_transpose_weights``).  ``packing`` is (panels, predicting): the
    other layers' weights packed for the register blocks
    (``_pack_weights``; empty: none packed), and whether this is a
    prediction.  Each layer's rows go as register blocks where
    ``_by_blocks`` says, else as sums of their nonzeros (cache-blocked in
    a wide first layer: ``_blocked``)."""
    panels, predicting = packing
    sizes = network.sizes
    m = out.shape[0]
    _, order, xt = rows
    n_layers = sizes.shape[0] - 1
    for layer in range(n_layers):
        n_in, n_out = sizes[layer], sizes[layer + 1]
        w = _layer(params, network.w_off[layer], n_in, n_out)
        w_t = _layer(params_t, network.w_off[layer], n_out, n_in)
        b = params[network.b_off[layer] : network.b_off[layer] + n_out]
        last = layer == n_layers - 1
        dst = out if last else _block(acts, sizes, m, layer)
        act = network.out_act if last else network.hidden_act
        if _by_blocks(rows, lo, hi, n_in, n_out, network, panels, predicting):
            _layer_rows_microkernel(rows, lo, hi, (w, w_t, b), act, dst,
                                    panels[network.w_off[layer] : network.w_off[layer] + n_in * n_out])
        elif layer == 0 and _blocked(n_in, n_out, w.itemsize, hi - lo):
            _layer_rows_blocked(rows, lo, hi, (w, w_t, b), act, dst)
        else:
            _layer_rows(rows, lo, hi, (w, w_t, b), act, dst, scratch)
        rows = (dst, order[:0], xt[:0])


#: Fewest rows for which ``forward`` packs the wide layers' weights in
#: panels for the dense register blocks; fewer rows' blocks read the
#: weights in place (``benchmarks/forward_choices.py``).  On the Zen 4 box
#: the two read equally fast (within 1 % from 17 to 1,024 dense rows of
#: 400-128-10, 400-800-10 and 784-768-10), packing costing 25 us (400-128)
#: to 250 us (784-768) a call: under a tenth of a call from here.  On the
#: Zen 1 box, packing and all, the packed weights took 0.86-0.90 of the
#: time in place for 256 and 1,024 rows of 400-800-10, 1.01-1.03 for
#: 400-128-10, and 0.97-1.45 for 17 and 64 rows (packing's own cost).
PACK_ROWS = 256

#: Most rows that go through every layer together in ``forward``: their
#: hidden activations stay in cache from one layer to the next.  (A whole
#: chunk of rows a layer at a time sent them out to memory and back: over
#: 10,000 rows two threads were no faster than one.)
FORWARD_TILE = 128


#: Fewest multiply-adds (rows x parameters) for which ``forward`` shares
#: its rows out among the threads; smaller calls stay on the calling thread.
#: Back to back, two threads take half to two thirds of one thread's time
#: from 17 rows of 400-128-10 (0.9 M).  After 0.3 s idle, waking the pool
#: costs more than it saves up to about 13 M (256 rows of 400-128-10) on
#: the Zen 4 box, and between 0.9 M and 3.4 M on the Zen 1 box.  4 M (76
#: rows of 400-128-10) lies between (``benchmarks/forward_choices.py``).
POOL_WORK = 4_000_000


@serial
def _tile_rows(n, threads):
    """Rows of ``forward``'s tiles for n rows on ``threads`` threads:
    FORWARD_TILE, or fewer (a multiple of MR) so that each thread gets
    a tile of a smaller call."""
    share = (n + threads - 1) // threads
    return max(MR, min(FORWARD_TILE, (share + MR - 1) // MR * MR))


@serial
def _forward_rows(x, tiles, tile, network, params, params_t, packing, out):
    """Tiles of ``tile`` rows (at most FORWARD_TILE) of x through the
    network (``_forward_layers``, with its ``packing``), tile numbers
    taken from tiles[0] until none is left: a thread that starts late (a
    pool thread waking after a pause) leaves more of them to the others."""
    sizes = network.sizes
    scratch = (np.empty(sizes.max() + SLACK, np.int32), np.empty(sizes.max() + SLACK, x.dtype))
    acts = np.empty(max(1, tile * (sizes[1:-1].sum())), x.dtype)
    order = np.empty(0, np.int64)
    n = x.shape[0]
    while True:
        first = take(tiles, 0) * tile
        if first >= n:
            break
        rows = min(tile, n - first)
        part = x[first : first + rows]
        _forward_layers((part, order, part[:0]), 0, rows, network, params, params_t, packing, acts,
                        out[first : first + rows], scratch)


@parallel
def _forward_parallel(x, tile, network, params, params_t, packing, out, threads):
    state = _threads.launch(threads)
    tiles = np.zeros(1, np.int64)
    for chunk in prange(threads):
        c = np.int64(chunk)  # int64, as numba types the loop before its parfor pass: one compilation
        _threads.enter_chunk(c, state)
        _forward_rows(x, tiles, tile, network, params, params_t, packing, out)
        _threads.leave_chunk(state)


@serial
def forward(x, network, params, params_t, out, threads):
    """Probabilities of the rows of x into out.

    Parameters
    ----------
    x : (m, n_in) array of the model's float dtype, C-contiguous
    network : Network
    params : (n_params,) array of x's dtype: the weights and biases
    params_t : array like params, scratch (the NARROW layers' weights
        transposed, the others packed from PACK_ROWS rows: they take
        different places)
    out : (m, n_classes) array of x's dtype, written
    threads : int
        Threads that share out the rows in tiles (``_tile_rows``) from
        POOL_WORK multiply-adds; with one, or fewer multiply-adds, the work
        stays on the calling thread (no pool: safe from any thread, and no
        wake-up cost for a few rows).

    Notes
    -----
    Where the tiles end, and so which product each tile's rows take
    (register blocks, cache-blocked or plain sums of nonzeros), depends on
    the thread count; every product gives the same bits for finite inputs
    and weights (``_dense``), so the probabilities do not.
    """
    _transpose_weights(network, params, params_t, False)
    n = x.shape[0]
    packed = n >= PACK_ROWS
    if packed:
        _pack_weights(network, params, params_t)
    packing = (params_t if packed else params_t[:0], True)
    if n * params.shape[0] < POOL_WORK:
        threads = 1
    tile = _tile_rows(n, max(1, threads))
    if threads <= 1 or n <= tile:
        _forward_rows(x, np.zeros(1, np.int64), tile, network, params, params_t, packing, out)
    else:
        _forward_parallel(x, tile, network, params, params_t, packing, out, threads)


@reduce
def _times_zero_sum(v, zero):
    """sum of v * zero (zero: a 0 of v's dtype): 0 when every entry of v is
    finite, NaN otherwise (inf * 0 is NaN, and NaN spreads through a sum)."""
    s = zero
    for k in range(v.shape[0]):
        s += v[k] * zero
    return s


@parallel
def all_finite(x, chunks):
    """Whether every entry of the contiguous float array x is finite, in
    one vectorised pass over ``chunks`` parts in parallel and without the
    temporary array of ``np.isfinite(x).all()``."""
    flat = x.reshape(-1)
    sums = np.zeros(chunks, x.dtype)
    state = _threads.launch(chunks)
    for chunk in prange(chunks):
        c = np.int64(chunk)  # int64, as numba types the loop before its parfor pass: one compilation
        _threads.enter_chunk(c, state)
        lo, hi = _threads.chunk(c, chunks, flat.shape[0])
        sums[c] = _times_zero_sum(flat[lo:hi], sums[c])
        _threads.leave_chunk(state)
    for c in range(chunks):
        if sums[c] != 0:
            return False
    return True


@reduce
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


@parallel
def outside_total(x, lo, hi, chunks):
    """``outside_sum`` of the contiguous float array x (lo, hi: scalars of
    its dtype), over ``chunks`` parts in parallel: 0 when every entry is
    finite and in [lo, hi], NaN when one is not finite."""
    flat = x.reshape(-1)
    sums = np.zeros(chunks, x.dtype)
    state = _threads.launch(chunks)
    for chunk in prange(chunks):
        c = np.int64(chunk)  # int64, as numba types the loop before its parfor pass: one compilation
        _threads.enter_chunk(c, state)
        start, stop = _threads.chunk(c, chunks, flat.shape[0])
        sums[c] = outside_sum(flat[start:stop], lo, hi, sums[c])
        _threads.leave_chunk(state)
    return sums.sum()


@parallel
def empty_pass(flags, chunks):
    """A parallel loop with nothing to do, placed as every pass here is:
    chunk c adds one to flags[16 c] (a cache line apart).  What it takes
    is what launching a pass costs."""
    state = _threads.launch(chunks)
    for chunk in prange(chunks):
        c = np.int64(chunk)  # int64, as numba types the loop before its parfor pass: one compilation
        _threads.enter_chunk(c, state)
        flags[16 * c] += 1.0
        _threads.leave_chunk(state)


@serial
def empty_passes(flags, chunks, n):
    """``empty_pass`` n times back to back, without returning to Python."""
    for _ in range(n):
        empty_pass(flags, chunks)


# -------------------------------------------------------------- backward


@serial
def _output_delta_row(out, label, weight, act, scale, delta):
    """delta = scale * weight * (out - t) for one row (``output_delta``:
    t its target, act the output style); returns the row's loss times
    its weight, and whether its most probable class is the label."""
    loss = 0.0
    best = 0
    k = out.shape[0]
    row_scale = scale * weight
    for j in range(k):
        h = out[j]
        if h > out[best]:
            best = j
        delta[j], term = _output_delta(h, j, label, k, act, row_scale)
        loss += term
    return loss * weight, best == label


@serial
def _hidden_delta_row(delta_next, w_next_t, a, act, delta, idx, val, iota):
    """delta = (delta_next @ w_next.T) * act'(a) for one row: the error sent
    back through w_next (n, n_next), given as its transpose (n_next, n).

    A NARROW delta_next (an output layer's: nonzero almost everywhere) is
    taken whole, at the indices ``iota`` (0, 1, ...): listing its nonzeros
    cost more than the products (10 outputs: 81 ns against 30 ns per row,
    ``benchmarks/kernel_forms.py``)."""
    n_next = delta_next.shape[0]
    if n_next < NARROW:
        gather_rows_range(w_next_t, iota, delta_next, 0, n_next, delta, False)
    else:
        n = nonzeros(delta_next, idx, val)
        gather_rows_sum(w_next_t, idx, val, n, delta)
    for k in range(delta.shape[0]):
        delta[k] *= _derivative(a[k], act)


@serial
def _batch_rows(data, order):
    """Rows of a batch: those of ``order`` (row numbers into data.x), or
    every row of data.x where order is empty."""
    return order.shape[0] if order.shape[0] > 0 else data.x.shape[0]


#: Rows whose nonzeros ``_sample_share`` counts, spread over a call's rows.
SHARE_SAMPLE = 256

@serial
def _sample_share(data, order, n_in):
    """The share of nonzero entries in SHARE_SAMPLE of the rows
    data.x[order] (every row of data.x for an empty order), taken evenly
    spread: what one call's choices between products go by.  Counting each
    batch's rows first, from memory, took a tenth of its time."""
    n = order.shape[0] if order.shape[0] > 0 else data.x.shape[0]
    step = max(1, n // SHARE_SAMPLE)
    sample = order[::step] if order.shape[0] > 0 else np.arange(0, n, step)
    count = 0
    for i in range(sample.shape[0]):
        count += count_nonzeros(data.x[sample[i]])
    return count / max(1, sample.shape[0] * n_in)


@serial
def _dense_training(data, order, network):
    """Whether a training call's rows data.x[order] (every row of data.x
    for an empty order) go through a wide first layer by dense register
    blocks: their share of nonzeros against ``network.training_share``."""
    sizes = network.sizes
    if sizes[1] < NARROW or full_panels(sizes[1]) == 0:
        return False
    return _sample_share(data, order, sizes[0]) >= network.training_share


@serial
def _transposes(data, order, network):
    """Whether the batches of rows data.x[order] pass their inputs from
    the rows pass to the weights pass transposed, as their nonzeros
    (``_xt``): they are gathered (order not empty), the first layer is
    wide, and they do not go by dense register blocks
    (``_dense_training``).  Otherwise gathered rows are copied whole to
    work.xbuf, where the weights pass reads their columns: transposing
    every entry of rows without zeros cost as much as their products in
    the rows pass (400-128, batch 128)."""
    if order.shape[0] == 0 or network.sizes[1] < NARROW:
        return False
    return not _dense_training(data, order, network)


@serial
def _packs(data, order, network):
    """Whether a training call's weights are packed in panels (and kept so
    by every step) for the dense register blocks: a hidden layer after the
    first is wide (its inputs' zeros are not known before), or the first
    goes by blocks (``_dense_training``).  Otherwise no product of the call
    goes by blocks: packing 784-800 and repacking each stepped row cost a
    few per cent of an epoch on raw MNIST pixels (19 % nonzero), which
    never use them."""
    sizes = network.sizes
    for layer in range(1, sizes.shape[0] - 2):
        if sizes[layer + 1] >= NARROW and full_panels(sizes[layer + 1]) > 0:
            return True
    return _dense_training(data, order, network)


@serial
def _without_panels(work):
    """``work`` with no packed weights (an empty ``panels``): every product
    goes by nonzeros."""
    return Workspace(work.params_t, work.grads_t, work.grads, work.acts, work.deltas, work.loss_rows, work.right_rows,
                     work.xbuf, work.xtbuf, work.panels[:0])


@serial
def _xt(work, network, m, transposed):
    """The (n_in, m) view of work.xtbuf through which a batch's inputs
    (its nonzeros, or every entry of rows that went by register blocks)
    pass from the rows pass to the weights pass where it is
    ``transposed`` (``_transposes``; all zeros before and after), else
    empty (0, m)."""
    n_in = network.sizes[0]
    if transposed:
        return work.xtbuf[: n_in * m].reshape((n_in, m))
    return work.xtbuf[:0].reshape((0, m))


@serial
def _backprop_rows(data, order, transposed, lo, hi, network, params, work):
    """Rows lo..hi of a batch (``_batch_rows``): forward, output delta,
    deltas back to the first hidden layer, into work's acts, deltas,
    loss_rows and right_rows.  Row i is data.x[order[i]], its nonzeros
    written to column i of ``_xt`` where the batch is ``transposed``
    (``_transposes``), else the row copied to work.xbuf[i]; with an empty
    order, data.x[i]."""
    x = data.x
    sizes = network.sizes
    m = _batch_rows(data, order)
    gather = order.shape[0] > 0
    xt = _xt(work, network, m, transposed)
    n_layers = sizes.shape[0] - 1
    width = sizes.max()
    idx = np.empty(width + SLACK, np.int32)
    val = np.empty(width + SLACK, x.dtype)
    iota = np.arange(NARROW).astype(np.int32)
    out = _block(work.acts, sizes, m, n_layers - 1)
    if gather and not transposed:
        for i in range(lo, hi):
            fetch_ahead(x, order, i, lo, hi)
            copy(x[order[i]], work.xbuf[i])
        _forward_layers((work.xbuf, order[:0], xt), lo, hi, network, params, work.params_t, (work.panels, False),
                        work.acts, out, (idx, val))
    else:
        _forward_layers((x, order, xt), lo, hi, network, params, work.params_t, (work.panels, False), work.acts,
                        out, (idx, val))
    delta = _block(work.deltas, sizes, m, n_layers - 1)
    scale = 1.0 / m
    for i in range(lo, hi):
        r = order[i] if gather else i
        work.loss_rows[i], work.right_rows[i] = _output_delta_row(out[i], data.y[r], data.weight[r], network.out_act,
                                                                  scale, delta[i])
    for layer in range(n_layers - 1, 0, -1):
        prev = _block(work.deltas, sizes, m, layer - 1)
        a = _block(work.acts, sizes, m, layer - 1)
        w_t = _layer(work.params_t, network.w_off[layer], sizes[layer + 1], sizes[layer])
        for i in range(lo, hi):
            _hidden_delta_row(delta[i], w_t, a[i], network.hidden_act, prev[i], idx, val, iota)
        delta = prev


@parallel
def _backprop_pass(data, order, transposed, network, params, work, threads):
    m = _batch_rows(data, order)
    state = _threads.launch(threads)
    for chunk in prange(threads):
        c = np.int64(chunk)  # int64, as numba types the loop before its parfor pass: one compilation
        _threads.enter_chunk(c, state)
        lo, hi = _threads.chunk(c, threads, m)
        _backprop_rows(data, order, transposed, lo, hi, network, params, work)
        _threads.leave_chunk(state)


@serial
def _transpose_weights(network, params, params_t, backward):
    """params_t gets the transpose of each NARROW layer's w (n_in, n_out),
    at the same offset, and with ``backward`` that of every layer that
    sends an error back (all but the first)."""
    sizes = network.sizes
    for layer in range(sizes.shape[0] - 1):
        n_in, n_out = sizes[layer], sizes[layer + 1]
        if n_out < NARROW or (backward and layer > 0):
            w = _layer(params, network.w_off[layer], n_in, n_out)
            w_t = _layer(params_t, network.w_off[layer], n_out, n_in)
            for k in range(n_in):
                for j in range(n_out):
                    w_t[j, k] = w[k, j]


@serial
def _pack_weights(network, params, panels):
    """panels gets each wide (not NARROW) layer's w packed in panels
    (``_dense.pack``), at its w's offset."""
    sizes = network.sizes
    for layer in range(sizes.shape[0] - 1):
        n_in, n_out = sizes[layer], sizes[layer + 1]
        if n_out >= NARROW:
            off = network.w_off[layer]
            pack(_layer(params, off, n_in, n_out), panels[off : off + n_in * n_out])


# ------------------------------------------------- gradients, optimisers


@serial
def _step_row(g, params, off, decay, opt, state):
    """With g, the loss gradient of params[off : off + len(g)] without its
    L2 term: add decay * p, then store it in state[0] (``GRADIENT``) or
    step (``sgd_step``, ``nesterov_step``, Adam as ``adam_step``) with the state
    arrays (state1, state2) at the same offset.  ``opt.lr`` is this step's
    rate (Adam's carrying its bias correction)."""
    n = g.shape[0]
    p = params[off : off + n]
    s1 = state[0][off : off + n]
    if opt.kind == GRADIENT:
        for j in range(n):
            s1[j] = g[j] + decay * p[j]
    elif opt.kind == ADAM:
        s2 = state[1][off : off + n]
        # ``adam_step`` written out: called (inlined or not), it led LLVM to fuse the other product of a
        # moment's sum into its multiply-add, moving weights by an ulp (benchmarks/check_identical.py).
        lr, beta1, beta2, eps = opt.lr, opt.beta1, opt.beta2, opt.epsilon
        for j in range(n):
            gj = g[j] + decay * p[j]
            s1[j] = beta1 * s1[j] + (1.0 - beta1) * gj
            s2[j] = beta2 * s2[j] + (1.0 - beta2) * gj * gj
            p[j] -= lr * s1[j] / (math.sqrt(s2[j]) + eps)
    elif opt.kind == NESTEROV:
        for j in range(n):
            p[j], s1[j] = _nesterov_step(p[j], s1[j], g[j] + decay * p[j], opt.lr, opt.momentum)
    else:
        for j in range(n):
            p[j], s1[j] = _sgd_step(p[j], s1[j], g[j] + decay * p[j], opt.lr, opt.momentum)


@serial
def _grad_rows(sizes, layer):
    """How many rows the weights pass computes for a layer's w: its n_in
    rows, or for a NARROW layer the n_out rows of its transpose."""
    n_out = sizes[layer + 1]
    return n_out if n_out < NARROW else sizes[layer]


@serial
def _grad_block(cols, delta, n_panels, rest, share, gs, spill):
    """gs[r] = cols[r] @ delta for three columns of a layer's inputs (m
    each) as one register block (``_dense.rows_times``), if at least
    ``share`` of their entries are nonzero, delta's columns after its
    whole panels from ``rest`` (``_dense.rest_panel`` of delta; empty when
    there are none).  Returns whether it did."""
    m, n_out = delta.shape
    if count_nonzeros(cols[0]) + count_nonzeros(cols[1]) + count_nonzeros(cols[2]) < share * MR * m:
        return False
    start = n_panels * NR
    rows_times(cols, MR, m, delta, False, n_panels, start, (gs[0], gs[1], gs[2]), spill)
    if start < n_out:
        rows_times(cols, MR, m, rest, False, 1, n_out - start,
                   (gs[0, start:n_out], gs[1, start:n_out], gs[2, start:n_out]), spill)
    return True


@serial
def _grad_sparse(k, last, a, xt, delta, gs, idx, vals):
    """Gradient row k (and k + 1 when k < last, from xt) as sums of delta's
    rows picked by the inputs' nonzeros.  Returns how many rows it did.

    Rows from xt go two at a time (``gather_rows_range`` of two vectors):
    each delta row is then loaded once for both, where either input is
    nonzero.  For a batch of 128 normalised digits that loads 1.8x fewer
    rows, and the first layer's gradient took 45 us instead of 73 on one
    thread (``benchmarks/kernel_forms.py``)."""
    n_out = delta.shape[1]
    val, val2, g, g2 = vals[0], vals[1], gs[0, :n_out], gs[1, :n_out]
    if xt.shape[0] > 0 and k < last:
        col, col2 = xt[k], xt[k + 1]
        n = nonzeros(col, idx, val, col2, val2)
        col[:] = 0.0  # whole vectors: cheaper than a store per nonzero
        col2[:] = 0.0
        gather_rows_range(delta, idx, val, 0, n, g, False, val2, g2, 0)
        return 2
    if xt.shape[0] > 0:
        col = xt[k]
        n = nonzeros(col, idx, val)
        col[:] = 0.0
    else:
        n = nonzeros(a[:, k], idx, val)
    gather_rows_sum(delta, idx, val, n, g)
    return 1


@serial
def _layer_grad_rows(r0, r1, batch, layer, params, grads_t, opt, state, scratch):
    """Gradient rows r0..r1 of one layer (see ``_weight_rows``), whose w
    and b start at params[w_off] and params[b_off], ``layer`` being (w_off,
    b_off, share): rows of w, or of w's
    transpose for a NARROW layer (parked in grads_t), and row n_in (or
    n_out) for the bias, each stepped (``_step_row``) and, for a wide
    layer, packed again into its panels for the next forward pass.

    ``batch`` is (a, xt, delta, rest): the layer's inputs a (m, n_in), or
    where xt (n_in, m) is not empty its rows (zeroed after use), its deltas
    (m, n_out), and in a call with blocks the deltas' columns after their
    whole panels (``_dense.rest_panel``: (m, NR)).  ``scratch`` is (idx, vals, gs, spill, panels, columns):
    idx (m + SLACK), vals (2, m + SLACK), gs (MR, at least n_out), spill
    (MR * NR), the flat packed panels of every layer (empty: none kept)
    and columns (MR, m).

    A wide layer's rows go three at a time as a register block where their
    inputs have few zeros (``_grad_block``, with ``share``:
    ``Network.dense_share``), otherwise by their inputs' nonzeros
    (``_grad_sparse``)."""
    a, xt, delta, rest = batch
    w_off, b_off, share = layer
    idx, vals, gs, spill, panels, columns = scratch
    use_xt = xt.shape[0] > 0
    m, n_out = delta.shape
    n_in = a.shape[1]
    wide = n_out >= NARROW
    bias_row = n_in if wide else n_out
    n_panels = full_panels(n_out) if wide else 0
    layer_panels = panels[w_off : w_off + n_in * n_out]
    blocks = n_panels > 0 and layer_panels.shape[0] > 0  # a call with blocks
    k = r0
    while k < r1:
        if k == bias_row:
            g = gs[0, :n_out]
            for i in range(m):
                idx[i] = i
                vals[0, i] = 1.0
            gather_rows_sum(delta, idx, vals[0], m, g)
            _step_row(g, params, b_off, 0.0, opt, state)
            k += 1
            continue
        if not wide:
            n = nonzeros(delta[:, k], idx, vals[0])
            gather_rows_sum(a, idx, vals[0], n, _layer(grads_t, w_off, n_out, n_in)[k])
            k += 1
            continue
        done = 0
        if blocks and k + MR <= min(r1, n_in):
            if use_xt:
                cols = (xt[k], xt[k + 1], xt[k + 2])
                if _grad_block(cols, delta, n_panels, rest, share, gs, spill):
                    for r in range(MR):
                        cols[r][:] = 0.0
                    done = MR
            else:  # the columns copied whole first: one compilation of the block, as for xt's rows
                for r in range(MR):
                    for i in range(m):
                        columns[r, i] = a[i, k + r]
                if _grad_block((columns[0], columns[1], columns[2]), delta, n_panels, rest, share, gs, spill):
                    done = MR
        if done == 0:
            done = _grad_sparse(k, min(r1, n_in) - 1, a, xt, delta, gs, idx, vals)
        for r in range(done):
            _step_row(gs[r, :n_out], params, w_off + (k + r) * n_out, opt.l2_scale, opt, state)
            if blocks:
                pack_row(params[w_off + (k + r) * n_out : w_off + (k + r + 1) * n_out], k + r, n_in, layer_panels)
        k += done


#: Gradient rows a thread takes at a time in the weights pass.
GRAD_RUN = 16


@serial
def _weight_rows(c, chunks, a0, xt, network, params, state, opt, work):
    """Chunk c of the layers' gradient rows stacked (see ``_grad_rows``,
    plus one for each bias), from the batch's inputs (a0 (m, n_in) for the
    first layer, or its nonzeros in xt where that is not empty) and
    work's acts and deltas:

        grad w[k] = a[:, k] @ delta + l2_scale * w[k],   grad b = sum of delta rows,

    each followed by ``_step_row`` on it; a NARROW layer's rows,
    ``delta[:, j] @ a``, are parked in work.grads_t for ``_step_narrow``.
    Chunk c takes runs of GRAD_RUN rows c, c + chunks, ...: that spreads
    the busy centre pixels evenly, and no two threads write next to each
    other (rows interleaved one by one ran 2.5x slower)."""
    sizes = network.sizes
    m = a0.shape[0]
    n_layers = sizes.shape[0] - 1
    total = 0
    for layer in range(n_layers):
        total += _grad_rows(sizes, layer) + 1
    idx = np.empty(m + SLACK, np.int32)
    vals = np.empty((2, m + SLACK), a0.dtype)
    g_all = np.empty((MR, sizes.max()), a0.dtype)
    spill = np.empty(MR * NR, a0.dtype)
    columns = np.empty((MR, m), a0.dtype)
    # Each wide layer's deltas after their whole panels, once a batch, for the blocks (a call with panels).
    tails = False
    for layer in range(n_layers):
        n_out = sizes[layer + 1]
        tails |= n_out >= NARROW and 0 < full_panels(n_out) * NR < n_out
    rests = np.empty((n_layers, m if tails and work.panels.shape[0] > 0 else 0, NR), a0.dtype)
    for layer in range(n_layers):
        n_out = sizes[layer + 1]
        start = full_panels(n_out) * NR
        if rests.shape[1] > 0 and n_out >= NARROW and 0 < start < n_out:
            rest_panel(_block(work.deltas, sizes, m, layer), start, rests[layer])
    for run in range(c, (total + GRAD_RUN - 1) // GRAD_RUN, chunks):
        lo, hi = run * GRAD_RUN, min(total, (run + 1) * GRAD_RUN)
        start = 0
        for layer in range(n_layers):
            rows = _grad_rows(sizes, layer) + 1
            r0, r1 = max(lo - start, 0), min(hi - start, rows)
            if r0 < r1:
                delta = _block(work.deltas, sizes, m, layer)
                if layer == 0:
                    batch = (a0, xt, delta, rests[layer])
                else:
                    batch = (_block(work.acts, sizes, m, layer - 1), xt[:0], delta, rests[layer])
                _layer_grad_rows(r0, r1, batch, (network.w_off[layer], network.b_off[layer], network.dense_share),
                                 params, work.grads_t, opt, state, (idx, vals, g_all, spill, work.panels, columns))
            start += rows


@serial
def _step_narrow(network, params, grads_t, opt, state):
    """``_step_row`` on the NARROW layers' gradients, which
    ``_weight_rows`` left transposed in grads_t."""
    sizes = network.sizes
    for layer in range(sizes.shape[0] - 1):
        n_in, n_out = sizes[layer], sizes[layer + 1]
        if n_out < NARROW:
            g_t = _layer(grads_t, network.w_off[layer], n_out, n_in)
            g = np.empty((n_in, n_out), params.dtype)
            for k in range(n_in):
                for j in range(n_out):
                    g[k, j] = g_t[j, k]
            _step_row(g.ravel(), params, network.w_off[layer], opt.l2_scale, opt, state)


@parallel
def _weights_pass(a0, xt, network, params, state, opt, work, threads):
    placement = _threads.launch(threads)
    for chunk in prange(threads):
        c = np.int64(chunk)  # int64, as numba types the loop before its parfor pass: one compilation
        _threads.enter_chunk(c, placement)
        _weight_rows(c, threads, a0, xt, network, params, state, opt, work)
        _threads.leave_chunk(placement)


# ----------------------------------------------------------- whole passes


@serial
def _batch(data, order, transposed, network, params, state, opt, work, threads):
    """One batch, both passes: its rows are data.x[order], or every row of
    data.x for an empty order; returns (sum of the rows' weighted losses,
    rows right).  ``opt.lr`` is this step's rate.

    Gathered rows' nonzeros pass from the first pass to the second
    through ``_xt`` (all zeros before and after) where they are
    ``transposed`` (``_transposes``): the weights pass then reads
    contiguous rows instead of the batch's columns."""
    _transpose_weights(network, params, work.params_t, True)
    m = _batch_rows(data, order)
    gather = order.shape[0] > 0
    # Even with one thread the parallel passes are used: numba compiles a
    # prange body with its arrays marked as not aliasing one another, which
    # measured about 30 % faster than the same loops in a plain function.
    _backprop_pass(data, order, transposed, network, params, work, threads)
    loss = 0.0
    right = 0
    for i in range(m):
        loss += work.loss_rows[i]
        right += work.right_rows[i]
    a0 = work.xbuf[:m] if gather else data.x[:m]
    _weights_pass(a0, _xt(work, network, m, transposed), network, params, state, opt, work, threads)
    _step_narrow(network, params, work.grads_t, opt, state)
    return loss, right


@serial
def batch_grad(data, network, params, l2_scale, work, threads):
    """Forward and backward pass of all the rows of ``data``.

    Parameters
    ----------
    data : Data
        x (m, n_in) of the model's float dtype, y (m,) int64 labels (-1:
        no class), weight (m,) float64 row weights.
    network : Network
    params : (n_params,) array of x's dtype: the weights and biases, read
    l2_scale : float
        The L2 term's weight on the gradient (alpha / S, S the rows' total weight).
    work : Workspace
        Buffers for m rows (``workspace(network, m, dtype)``); the
        gradient of ``sum_i weight_i CE_i / m + (l2_scale / 2) * sum W**2``
        goes to ``work.grads``.
    threads : int
        Chunks of the parallel passes (the thread count).

    Returns
    -------
    (sum of weight_i CE_i, number of rows predicted right)
    """
    opt = Optimizer(GRADIENT, 0.0, 0.0, 0.0, 0.0, 0.0, l2_scale, 0)
    order = np.empty(0, np.int64)
    if _packs(data, order, network):
        _pack_weights(network, params, work.panels)
    else:
        work = _without_panels(work)
    return _batch(data, order, False, network, params, (work.grads, work.grads), opt, work, threads)


@serial
def train_range(data, order, batch_size, network, params, state, optimizer, work, threads):
    """Run minibatches (gradient and optimiser step of each) without
    returning to Python.

    Parameters
    ----------
    data : Data
        x (N, n_in) of the model's float dtype, y (N,) int64 labels (-1:
        no class), weight (N,) float64 row weights.
    order : (n,) int64
        Row numbers into data.x: the batches are order[0:batch_size],
        order[batch_size:2 batch_size], ... (the last one may be short).
    batch_size : int
    network : Network
    params : (n_params,) array of x's dtype: the weights and biases, updated
    state : (state1, state2)
        The optimiser's state, arrays like params, updated: velocity
        (SGD, Nesterov) or first and second moments (Adam).
    optimizer : Optimizer
        Its ``step`` counts the optimiser steps before this call.
    work : Workspace
        Buffers for batch_size rows (``workspace(network, batch_size,
        dtype, minibatches=True)``); xtbuf must be all zeros (and stays so).
    threads : int
        Chunks of the parallel passes (the thread count).

    Returns
    -------
    (sum of weight_i CE_i over the rows, rows predicted right, steps taken)
    """
    if _packs(data, order, network):
        _pack_weights(network, params, work.panels)  # then kept current by each step
    else:
        work = _without_panels(work)
    transposed = _transposes(data, order, network)
    loss = 0.0
    correct = 0
    steps = 0
    pos = 0
    stop = order.shape[0]
    while pos < stop:
        m = min(batch_size, stop - pos)
        steps += 1
        t = optimizer.step + steps
        rate = _step_rate(optimizer.kind, optimizer.lr, optimizer.beta1, optimizer.beta2, t)
        opt = Optimizer(optimizer.kind, rate, optimizer.momentum, optimizer.beta1, optimizer.beta2, optimizer.epsilon,
                        optimizer.l2_scale, t)
        batch_loss, batch_right = _batch(data, order[pos : pos + m], transposed, network, params, state, opt, work,
                                         threads)
        loss += batch_loss
        correct += batch_right
        pos += m
    return loss, correct, steps
