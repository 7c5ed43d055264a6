"""Dense matrix products in register blocks: the CPU kernels' GEMM
micro-kernel, for inputs with few zeros.

``_sparse`` sums the rows of a matrix that one vector's nonzeros pick:
each load of a row of weights serves one input row, so on dense inputs
(standardised features, the outputs of a tanh layer) it loads as much as
it multiplies and runs at about half of sgemm's rate.  Here MR rows share
each load, as in BLIS and OpenBLAS: a block of MR x NR sums stays in
registers (3 x 32 float32 sums are 12 of AVX2's 16 vector registers) and
each step k takes MR broadcasts of ``a[i, k]``, one NR-wide row of the
right-hand matrix and MR * NR multiply-adds.  The right-hand matrix comes
as packed panels (``pack``: NR columns, their rows one after another) so
that its loads stream from one contiguous block, or is read in place
(a gradient's deltas; a few rows' prediction, which would not earn back
the packing).

Every sum runs over k in increasing order, one fused multiply-add a term,
as ``_sparse``'s sums do: a zero term adds exactly nothing (the sums start
at +0.0, so not even a zero's sign can change), and a product comes out
bit for bit the same either way, for finite inputs and weights (0 times an
infinite weight is NaN here and skipped there; fastdigits checks inputs
before a pass and the weights after an epoch).  The kernels choose between
the two by speed alone: by the share of nonzeros (``config.dense_share()``)
and, in a prediction, by the layer's width (``cpu.SUMS_WIDE``).
"""

from __future__ import annotations

from numba import carray

from .. import config
from ._intrinsics import stack_array
from ._jit import inline, reduce, serial

#: Rows of the register block: the left-hand rows that share each load.
MR = 3
#: Columns of the register block and of a packed panel: four vector
#: registers (32 float32 with AVX2, 64 with AVX-512).
NR = config.register_tile() // 2


@serial
def full_panels(n_out):
    """How many whole NR-column panels a matrix of ``n_out`` columns has
    (the columns after them go through ``rest_panel``)."""
    return n_out // NR


@serial
def pack(w, panels):
    """panels[p, k, :] = w[k, p * NR : (p + 1) * NR] for each whole panel p
    of w (n_in, n_out); ``panels`` is flat, at least n_in * n_out long."""
    n_in = w.shape[0]
    for k in range(n_in):
        pack_row(w[k], k, n_in, panels)


@serial
def pack_row(w_row, k, n_in, panels):
    """Row k of a matrix (n_in, len(w_row)) into its packed panels (a row
    that has just changed)."""
    for p in range(full_panels(w_row.shape[0])):
        for jj in range(NR):
            panels[(p * n_in + k) * NR + jj] = w_row[p * NR + jj]


@serial
def as_panels(panels, n_in, n_out):
    """``pack``'s output as one matrix (n_panels * n_in, NR): panel p is
    its rows p * n_in to (p + 1) * n_in."""
    n = full_panels(n_out) * n_in
    return panels[: n * NR].reshape((n, NR))


@inline
def block_sum(rows, k1, b, r0, c0, accs):
    """accs[r][jj] = sum over k < k1 of rows[r][k] * b[r0 + k, c0 + jj], for
    r < MR and jj < NR: the register block.  ``rows`` is MR 1-D arrays
    (one may repeat, for the last rows of a matrix); b is a C-contiguous
    matrix (panels from ``as_panels``, or one unpacked).

    Compiled into the caller, where NR is a constant: the loops over jj
    vectorise and the sums stay in registers."""
    a0, a1, a2 = rows
    acc0, acc1, acc2 = accs
    for jj in range(NR):
        acc0[jj] = 0.0
        acc1[jj] = 0.0
        acc2[jj] = 0.0
    for k in range(k1):
        v0 = a0[k]
        v1 = a1[k]
        v2 = a2[k]
        for jj in range(NR):
            x = b[r0 + k, c0 + jj]
            acc0[jj] += v0 * x
            acc1[jj] += v1 * x
            acc2[jj] += v2 * x


@inline
def block_store(accs, outs, n_rows, j0, width, spill):
    """outs[r][j0 : j0 + width] = accs[r][:width] (width <= NR) for the
    first ``n_rows`` (1 to MR) of the MR output rows ``outs``, through
    ``spill`` (MR * NR) so that the sums are read at constant indices only
    (and stay in registers)."""
    acc0, acc1, acc2 = accs
    for jj in range(NR):
        spill[jj] = acc0[jj]
        spill[NR + jj] = acc1[jj]
        spill[2 * NR + jj] = acc2[jj]
    for r in range(n_rows):
        out = outs[r]
        for jj in range(width):
            out[j0 + jj] = spill[r * NR + jj]


@serial
def rows_times(rows, n_rows, k1, b, packed, n_panels, n_cols, outs, spill):
    """outs[r][:n_cols] = rows[r][:k1] @ w[:k1, :n_cols] for the first
    n_rows (1 to MR) of the MR rows, over n_panels panels of w (n_cols at
    most n_panels * NR: the last one's columns past n_cols are computed
    and dropped): w given as its panels (``packed``: b from ``as_panels``
    or ``rest_panel``, k1 = n_in) or as itself (b = w, read in place: a
    gradient's deltas, used once for MR rows of it, or the weights of a
    prediction of fewer than ``cpu.PACK_ROWS`` rows).  ``spill`` is scratch
    of MR * NR."""
    accs = (carray(stack_array(spill, NR), NR), carray(stack_array(spill, NR), NR),
            carray(stack_array(spill, NR), NR))
    for p in range(n_panels):  # one call of the inlined block: compiled once (the peak memory of compiling)
        r0, c0 = (p * k1, 0) if packed else (0, p * NR)
        block_sum(rows, k1, b, r0, c0, accs)
        block_store(accs, outs, n_rows, p * NR, min(NR, n_cols - p * NR), spill)


@serial
def rest_panel(w, start, panel):
    """panel (n_in, NR) = w[:, start:] (fewer than NR columns), its columns
    past w's end zero: the columns after w's whole panels as one more
    panel, for ``rows_times`` (their sums in the same order, so the same
    bits as by the sums of nonzeros; ``benchmarks/RESULTS.md``, "Issue 20,
    third round", for what a loop over those columns cost)."""
    n_in, n_out = w.shape
    width = n_out - start
    for k in range(n_in):
        row = w[k, start:]
        for jj in range(width):
            panel[k, jj] = row[jj]
        for jj in range(width, NR):
            panel[k, jj] = 0.0


@reduce
def count_nonzeros(v):
    """How many entries of the 1-D v are nonzero."""
    n = 0
    for k in range(v.shape[0]):
        n += v[k] != 0.0
    return n
