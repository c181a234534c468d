"""Compiled kernels that enumerate the regions of a hyperplane arrangement.

The Python layer (``lowrank.fixed_points``) turns a model into ``H``
hyperplanes ``w_kᵀ z = b_k`` (unit normals ``w_k``), each carrying a rank-one
piece of the region's linear system: when ``z`` is on the positive side of
hyperplane ``k`` the matrix ``A`` gains ``Q_k`` (R×R) and the right-hand side
gains ``r_k`` (R).  In a region the fixed point solves
``(diag(1 − a) − A) z = r0 + Σ_k s_k r_k`` with ``A = Σ_k s_k Q_k``.

Every region is visited exactly once (for an arrangement in general
position) by charging it to one flat of the arrangement, "lowest point" style:

* level R: a vertex ``v`` (R hyperplanes ``S``) is the lowest point, in a
  generic direction ``q_1``, of exactly one region: the cone at ``v`` whose
  sides are ``σ = sign(W_S^{-T} q_1)``;
* the regions unbounded below in ``q_1`` are the regions of the arrangement
  restricted to the hyperplane ``q_1ᵀz = −L_1`` (``L_1 → ∞``), an
  arrangement of dimension R−1 handled the same way with direction ``q_2``
  (and ``L_2 ≫ L_1``); and so on down to a single region at infinity
  (level 0).

Level k charges one region per k-subset with independent normals, so the
total is Σ_{k≤R} C(H, k), Zaslavsky's bound, attained in general position.
Levels R−1 (the lines) and R (their vertices) are done together by walking
each line: one side flips per crossing, so ``A`` changes by ``±Q_k``
(O(R²)) instead of being rebuilt.  A vertex is charged only from the line
that omits its largest hyperplane index, so it is charged once.  The lower
levels (k ≤ R−2, at most Σ_{k≤R−2} C(H,k) items) are evaluated directly.

The offsets used for the combinatorics (``bt``) are the true offsets plus a
tiny fixed perturbation, which puts the arrangement in general position
(concurrent or identical hyperplanes are pulled apart); consistency checks
use the true offsets ``b`` with a tolerance, so a pattern produced only by
the perturbation (a sliver) can only confirm a true fixed point on a
boundary.

Work is split into ``n_chunks`` strided chunks (item ``i`` belongs to chunk
``i % n_chunks``) fixed by the caller, never by the thread count; each chunk
writes its own slots, so the output does not depend on ``NUMBA_NUM_THREADS``.
No randomness is drawn here: the directions ``q``, the perturbation and the
check order come from the caller.

The kernels take the arrangement as one :class:`Arrangement` and return
their candidates as :class:`Candidates`; each chunk works in its own
:class:`LineWork` (:func:`walk_lines`) or :class:`LevelWork`
(:func:`direct_levels`).
"""
from typing import NamedTuple

import numpy as np
from numba import njit

from ..config import CACHE, FASTMATH
from .threads import over_sequences

# Kinds of candidate written to the output buffers.
KIND_POINT = 0
KIND_SINGULAR = 1

# Relative threshold under which a pivot counts as zero.
_PIVOT_TOL = 1e-11
# A normal this close to orthogonal to a line is treated as parallel to it.
_PARALLEL_TOL = 1e-12


@njit(inline="always", fastmath=FASTMATH, cache=CACHE)
def _largest_entry(B):
    """``max |B_ij|`` of a square matrix."""
    n = B.shape[0]
    scale = 0.0
    for i in range(n):
        for j in range(n):
            v = abs(B[i, j])
            if v > scale:
                scale = v
    return scale


@njit(inline="always", fastmath=FASTMATH, cache=CACHE)
def _pivot_row(B, col):
    """Row ``>= col`` with the largest ``|B[row, col]|`` (the first on ties)."""
    p = col
    best = abs(B[col, col])
    for i in range(col + 1, B.shape[0]):
        v = abs(B[i, col])
        if v > best:
            best = v
            p = i
    return p


@njit(inline="always", fastmath=FASTMATH, cache=CACHE)
def _swap_rows(A, i, k):
    for j in range(A.shape[1]):
        t = A[i, j]
        A[i, j] = A[k, j]
        A[k, j] = t


@njit(fastmath=FASTMATH, cache=CACHE)
def solve_inplace(B, y):
    """Solve ``B x = y`` by Gaussian elimination with partial pivoting.

    Parameters
    ----------
    B : (R, R) float64, overwritten.
    y : (R,) float64, overwritten with the solution.

    Returns
    -------
    bool
        False when a pivot is below ``_PIVOT_TOL`` times the largest entry of
        ``B`` (the system is treated as singular; ``y`` is then garbage).
    """
    n = B.shape[0]
    scale = _largest_entry(B)
    if scale == 0.0:
        return False
    thr = _PIVOT_TOL * scale
    for col in range(n):
        p = _pivot_row(B, col)
        if abs(B[p, col]) <= thr:
            return False
        if p != col:
            _swap_rows(B, col, p)
            t = y[col]
            y[col] = y[p]
            y[p] = t
        piv = B[col, col]
        for i in range(col + 1, n):
            f = B[i, col] / piv
            if f != 0.0:
                for j in range(col + 1, n):
                    B[i, j] -= f * B[col, j]
                y[i] -= f * y[col]
    for i in range(n - 1, -1, -1):
        s = y[i]
        for j in range(i + 1, n):
            s -= B[i, j] * y[j]
        y[i] = s / B[i, i]
    return True


@njit(fastmath=FASTMATH, cache=CACHE)
def invert_inplace(B, out):
    """Invert ``B`` (R×R, overwritten) into ``out``; False if singular."""
    n = B.shape[0]
    for i in range(n):
        for j in range(n):
            out[i, j] = 1.0 if i == j else 0.0
    scale = _largest_entry(B)
    if scale == 0.0:
        return False
    thr = 1e-10 * scale
    for col in range(n):
        p = _pivot_row(B, col)
        if abs(B[p, col]) <= thr:
            return False
        if p != col:
            _swap_rows(B, col, p)
            _swap_rows(out, col, p)
        piv = B[col, col]
        for j in range(n):
            B[col, j] /= piv
            out[col, j] /= piv
        for i in range(n):
            if i != col:
                f = B[i, col]
                if f != 0.0:
                    for j in range(n):
                        B[i, j] -= f * B[col, j]
                        out[i, j] -= f * out[col, j]
    return True


@njit(fastmath=FASTMATH, cache=CACHE)
def radix_sort_pairs(keys, idx, n, ua, ub, ib, hist):
    """Sort ``keys[:n]`` ascending, ties by ``idx``, moving ``idx`` along.

    The order of a comparison sort by (key, idx) when ``idx[:n]`` is ascending on entry
    and no key is NaN: a stable LSD radix sort (8-bit digits) of the keys'
    bits mapped to unsigned integers in float order (−0.0 counted as +0.0).
    ``ua``, ``ub`` (uint64) and ``ib`` (int64) are work arrays of length
    ≥ n, ``hist`` an int64 (8, 256) work array.  ``keys`` is left undefined.
    """
    if n < 2:
        return
    kb = keys.view(np.uint64)
    sign = np.uint64(1) << np.uint64(63)
    for d in range(8):
        for v in range(256):
            hist[d, v] = 0
    for e in range(n):
        u = kb[e]
        if (u << np.uint64(1)) == np.uint64(0):
            u = np.uint64(0)
        if u & sign:
            u = ~u
        else:
            u = u | sign
        ua[e] = u
        for d in range(8):
            hist[d, np.intp((u >> np.uint64(8 * d)) & np.uint64(255))] += 1
    src_u = ua
    src_i = idx
    dst_u = ub
    dst_i = ib
    for d in range(8):
        sh = np.uint64(8 * d)
        if hist[d, np.intp((src_u[0] >> sh) & np.uint64(255))] == n:
            continue  # digit constant: pass is the identity
        tot = 0
        for v in range(256):
            cnt = hist[d, v]
            hist[d, v] = tot
            tot += cnt
        for e in range(n):
            u = src_u[e]
            dg = np.intp((u >> sh) & np.uint64(255))
            o = hist[d, dg]
            hist[d, dg] = o + 1
            dst_u[o] = u
            dst_i[o] = src_i[e]
        tu = src_u
        src_u = dst_u
        dst_u = tu
        ti = src_i
        src_i = dst_i
        dst_i = ti
    if src_i is not idx:
        for e in range(n):
            idx[e] = src_i[e]


@njit(fastmath=FASTMATH, cache=CACHE)
def unrank_subset(rank, k, binom, out):
    """Write the ``rank``-th k-subset (colex order) of {0..H-1} into ``out[:k]``.

    ``binom[n, j] = C(n, j)``; colex rank = Σ_i C(s_i, i+1) with s_0 < s_1 < ….
    """
    rem = rank
    hi = binom.shape[0] - 2  # largest element allowed (H - 1)
    for i in range(k - 1, -1, -1):
        # largest s in [i, hi] with C(s, i+1) <= rem
        lo_s = i
        hi_s = hi
        while lo_s < hi_s:
            mid = (lo_s + hi_s + 1) // 2
            if binom[mid, i + 1] <= rem:
                lo_s = mid
            else:
                hi_s = mid - 1
        out[i] = lo_s
        rem -= binom[lo_s, i + 1]
        hi = lo_s - 1


@njit(fastmath=FASTMATH, cache=CACHE)
def _solve3(A, rhs, oma, z):
    # Unrolled cofactor solve of (diag(oma) − A) z = rhs: the hot path for
    # R = 3 (tens of millions of calls).  Accepted solutions are re-solved
    # with LAPACK by the caller, so only the accept/reject decision relies
    # on this.
    b00 = oma[0] - A[0, 0]
    b01 = -A[0, 1]
    b02 = -A[0, 2]
    b10 = -A[1, 0]
    b11 = oma[1] - A[1, 1]
    b12 = -A[1, 2]
    b20 = -A[2, 0]
    b21 = -A[2, 1]
    b22 = oma[2] - A[2, 2]
    c00 = b11 * b22 - b12 * b21
    c01 = b12 * b20 - b10 * b22
    c02 = b10 * b21 - b11 * b20
    det = b00 * c00 + b01 * c01 + b02 * c02
    scale = max(abs(b00), abs(b01), abs(b02), abs(b10), abs(b11), abs(b12), abs(b20), abs(b21), abs(b22))
    if not abs(det) > _PIVOT_TOL * scale * scale * scale:
        return False
    inv = 1.0 / det
    y0 = rhs[0]
    y1 = rhs[1]
    y2 = rhs[2]
    z[0] = (c00 * y0 + (b02 * b21 - b01 * b22) * y1 + (b01 * b12 - b02 * b11) * y2) * inv
    z[1] = (c01 * y0 + (b00 * b22 - b02 * b20) * y1 + (b02 * b10 - b00 * b12) * y2) * inv
    z[2] = (c02 * y0 + (b01 * b20 - b00 * b21) * y1 + (b00 * b11 - b01 * b10) * y2) * inv
    return True


@njit(fastmath=FASTMATH, cache=CACHE)
def _solve2(A, rhs, oma, z):
    b00 = oma[0] - A[0, 0]
    b01 = -A[0, 1]
    b10 = -A[1, 0]
    b11 = oma[1] - A[1, 1]
    det = b00 * b11 - b01 * b10
    scale = max(abs(b00), abs(b01), abs(b10), abs(b11))
    if not abs(det) > _PIVOT_TOL * scale * scale:
        return False
    inv = 1.0 / det
    y0 = rhs[0]
    y1 = rhs[1]
    z[0] = (b11 * y0 - b01 * y1) * inv
    z[1] = (b00 * y1 - b10 * y0) * inv
    return True


@njit(fastmath=FASTMATH, cache=CACHE)
def _solve_region(A, rhs, oma, B, z):
    """Solve ``(diag(oma) − A) z = rhs`` into ``z``; False if singular."""
    R = A.shape[0]
    if R == 3:
        return _solve3(A, rhs, oma, z)
    if R == 2:
        return _solve2(A, rhs, oma, z)
    for i in range(R):
        for j in range(R):
            B[i, j] = -A[i, j]
        B[i, i] += oma[i]
        z[i] = rhs[i]
    return solve_inplace(B, z)


class Arrangement(NamedTuple):
    """The hyperplanes and the pieces of the region systems (``lowrank.fixed_points.enumerate``).

    Fields
    ------
    W : (H, R)
        Unit normals.
    b, bt : (H,)
        True and perturbed offsets.
    Q : (H, R, R)
        Rank-one pieces of the region matrix.
    r : (H, R)
        Pieces of the right-hand side.
    r0 : (R,)
        Constant part of the right-hand side.
    oma : (R,)
        ``1 − a``.
    qdirs : (R, R)
        Generic orthonormal directions (rows q_1..q_R).
    perm : (H,) int64
        Order in which region membership is checked.
    tol : float
        Relative tolerance of the membership check; ``inf`` records every
        region (its sides), merging nothing.
    binom : (H+2, R+1) int64
        Binomial table ``binom[n, j] = C(n, j)``.
    """

    W: np.ndarray
    b: np.ndarray
    bt: np.ndarray
    Q: np.ndarray
    r: np.ndarray
    r0: np.ndarray
    oma: np.ndarray
    qdirs: np.ndarray
    perm: np.ndarray
    tol: float
    binom: np.ndarray


class Candidates(NamedTuple):
    """Candidate fixed points found by a kernel, in per-chunk slots.

    Fields
    ------
    zbuf : (n_chunks, cap, R)
        Positions (0 for singular systems).
    sidebuf : (n_chunks, cap, H) int8
        The region's side (0/1) of every hyperplane.
    kindbuf : (n_chunks, cap) int8
        ``KIND_POINT`` or ``KIND_SINGULAR``.
    itembuf : (n_chunks, cap) int64
        Item (subset) that produced the candidate.
    counts : (n_chunks,) int64
        Candidates found per chunk; may exceed ``cap`` (then rerun larger).
    stats : (n_chunks, 2) int64
        Regions checked, vertices visited.
    """

    zbuf: np.ndarray
    sidebuf: np.ndarray
    kindbuf: np.ndarray
    itembuf: np.ndarray
    counts: np.ndarray
    stats: np.ndarray


@njit(fastmath=FASTMATH, cache=CACHE)
def _candidates(n_chunks, cap, R, H):
    return Candidates(np.zeros((n_chunks, cap, R)), np.zeros((n_chunks, cap, H), dtype=np.int8),
                      np.zeros((n_chunks, cap), dtype=np.int8), np.zeros((n_chunks, cap), dtype=np.int64),
                      np.zeros(n_chunks, dtype=np.int64), np.zeros((n_chunks, 2), dtype=np.int64))


class Check(NamedTuple):
    """What the membership check of a candidate reads, built once per kernel call.

    Fields
    ------
    W : (H, R), b : (H,)
        Normals and true offsets.
    WT : (R, H), bp : (H,)
        The same in check order: ``WT[i, p] = W[perm[p], i]``, ``bp[p] = b[perm[p]]``.
    oma : (R,)
        ``1 − a``.
    tol : float
        Relative tolerance.
    scale_b : float
        ``max(1, max |b|)``, the scale of the threshold.
    """

    W: np.ndarray
    b: np.ndarray
    WT: np.ndarray
    bp: np.ndarray
    oma: np.ndarray
    tol: float
    scale_b: float


@njit(fastmath=FASTMATH, cache=CACHE)
def _check_data(arr):
    """The :class:`Check` of an :class:`Arrangement`, and ``pos`` (H,) the
    position of each hyperplane in the check order ``arr.perm``."""
    W, b, perm = arr.W, arr.b, arr.perm
    H, R = W.shape
    WT = np.empty((R, H))
    bp = np.empty(H)
    pos = np.empty(H, dtype=np.int64)
    for p in range(H):
        pos[perm[p]] = p
        bp[p] = b[perm[p]]
        for i in range(R):
            WT[i, p] = W[perm[p], i]
    scale_b = 1.0
    for j in range(H):
        if abs(b[j]) > scale_b:
            scale_b = abs(b[j])
    return Check(W, b, WT, bp, arr.oma, arr.tol, scale_b), pos


@njit(fastmath=FASTMATH, cache=CACHE)
def _record(c, item, z, side, kind, out):
    """Append a candidate to chunk ``c`` of ``out`` (counting past ``cap`` so the caller can rerun larger)."""
    counts = out.counts
    zbuf, sidebuf = out.zbuf, out.sidebuf
    n = counts[c]
    if n < zbuf.shape[1]:
        for i in range(z.shape[0]):
            zbuf[c, n, i] = z[i] if kind == KIND_POINT else 0.0
        for j in range(side.shape[0]):
            sidebuf[c, n, j] = side[j]
        out.kindbuf[c, n] = kind
        out.itembuf[c, n] = item
    counts[c] = n + 1


@njit(fastmath=FASTMATH, cache=CACHE)
def _outside(z, W, b, side, idx, n_idx, thr):
    """True if ``z`` lies on the wrong side of one of the hyperplanes ``idx[:n_idx]``."""
    R = z.shape[0]
    for jj in range(n_idx):
        j = idx[jj]
        v = -b[j]
        for i in range(R):
            v += W[j, i] * z[i]
        if side[j] == 1:
            if v < -thr:
                return True
        else:
            if v > thr:
                return True
    return False


@njit(fastmath=FASTMATH, cache=CACHE)
def _seen(c, z, dtol, zbuf, kindbuf, counts):
    """True if chunk ``c`` already holds a point within ``dtol`` (max-norm) of ``z``."""
    for m in range(min(counts[c], zbuf.shape[1])):
        if kindbuf[c, m] == KIND_POINT:
            d = 0.0
            for i in range(z.shape[0]):
                v = abs(zbuf[c, m, i] - z[i])
                if v > d:
                    d = v
            if d <= dtol:
                return True
    return False


# The per-candidate functions below run tens of millions of times (R = 3):
# they take the arrays they use, not whole work structures, because every
# array bound by a call costs an atomic reference-count update.

@njit(fastmath=FASTMATH, cache=CACHE)
def _check_and_record(c, item, A, rhs, side, S, n_first, B, z, chk, perm, out):
    """Solve the region system ``(diag(1 − a) − A) z = rhs`` into ``z``; record
    the solution in ``out`` (:class:`Candidates`) if it lies in the region.

    ``side[j]`` (0/1) is the region's side of every hyperplane; the
    hyperplanes ``S[:n_first]`` are checked first, then all in the order
    ``perm``; ``B`` (R, R) is solver workspace; ``chk`` a :class:`Check`.
    """
    if not _solve_region(A, rhs, chk.oma, B, z):
        # Singular: a continuum or nothing; the Python layer decides with an
        # SVD.  Keep the region so that it is not dropped silently.
        _record(c, item, z, side, KIND_SINGULAR, out)
        return
    zmax = 0.0
    for i in range(z.shape[0]):
        zmax = max(zmax, abs(z[i]))
    tol = chk.tol
    thr = tol * (chk.scale_b + zmax)
    W, b = chk.W, chk.b
    # The hyperplanes through the charged vertex bound the region's cone and
    # reject most candidates, so try them before the rest.
    if _outside(z, W, b, side, S, n_first, thr) or _outside(z, W, b, side, perm, W.shape[0], thr):
        return
    # Points on many region boundaries (e.g. the origin of a clipped-relu
    # network with c = 0, where all the x + h = 0 hyperplanes meet) are
    # found from every adjacent region: keep one copy per chunk.
    # tol = inf records every region (lowrank.dynamics reads the regions' sides): no merging then
    if tol < np.inf and _seen(c, z, 100.0 * tol * (1.0 + zmax), out.zbuf, out.kindbuf, out.counts):
        return
    _record(c, item, z, side, KIND_POINT, out)


# Block length of the vectorised membership scan in ``_check_and_record_p``.
_SCAN_BLOCK = 16


@njit(fastmath=FASTMATH, cache=CACHE)
def _check_and_record_p(c, item, A, rhs, side, sgn, S, n_first, B, z, chk, out):
    """Same decision as :func:`_check_and_record`, with the full membership
    scan done in ``perm`` order over contiguous arrays (``chk.WT``,
    ``chk.bp``) and ``sgn[p] = ±1`` (+1 where ``side[perm[p]] == 1``), so a
    block of hyperplanes is tested without branches (a point is rejected iff
    ``sgn·(wᵀz − b) < −thr`` somewhere).
    """
    if not _solve_region(A, rhs, chk.oma, B, z):
        _record(c, item, z, side, KIND_SINGULAR, out)
        return
    R = z.shape[0]
    zmax = 0.0
    for i in range(R):
        zmax = max(zmax, abs(z[i]))
    tol = chk.tol
    thr = tol * (chk.scale_b + zmax)
    if _outside(z, chk.W, chk.b, side, S, n_first, thr):
        return
    WT, bp = chk.WT, chk.bp
    H = bp.shape[0]
    nthr = -thr
    if R == 3:
        z0 = z[0]
        z1 = z[1]
        z2 = z[2]
        W0 = WT[0]
        W1 = WT[1]
        W2 = WT[2]
        p = 0
        while p < H:
            e = min(p + _SCAN_BLOCK, H)
            mn = np.inf
            for q in range(p, e):
                v = -bp[q] + W0[q] * z0 + W1[q] * z1 + W2[q] * z2
                sv = sgn[q] * v
                mn = min(mn, sv)
            if mn < nthr:
                return
            p = e
    else:
        for q in range(H):
            v = -bp[q]
            for i in range(R):
                v += WT[i, q] * z[i]
            if sgn[q] * v < nthr:
                return
    # tol = inf records every region (lowrank.dynamics reads the regions' sides): no merging then
    if tol < np.inf and _seen(c, z, 100.0 * tol * (1.0 + zmax), out.zbuf, out.kindbuf, out.counts):
        return
    _record(c, item, z, side, KIND_POINT, out)


class LevelWork(NamedTuple):
    """Per-chunk work arrays of :func:`direct_levels`.

    Fields
    ------
    S : (max(R, 1),) int64   the subset of hyperplanes of the item
    inS : (H,) bool          membership of S
    side : (H,) int8         the region's sides
    Wp, Winv : (R, R)        the flat's normals completed by directions, and its inverse
    mu : (R,)                a hyperplane's normal in the basis ``Winv``
    A : (R, R), rhs : (R,)   the region's system
    B : (R, R), z : (R,)     solver workspace and solution
    """

    S: np.ndarray
    inS: np.ndarray
    side: np.ndarray
    Wp: np.ndarray
    Winv: np.ndarray
    mu: np.ndarray
    A: np.ndarray
    rhs: np.ndarray
    B: np.ndarray
    z: np.ndarray


@njit(fastmath=FASTMATH, cache=CACHE)
def _level_work(H, R):
    return LevelWork(np.zeros(max(R, 1), dtype=np.int64), np.zeros(H, dtype=np.bool_),
                     np.zeros(H, dtype=np.int8), np.empty((R, R)), np.empty((R, R)), np.empty(R),
                     np.empty((R, R)), np.empty(R), np.empty((R, R)), np.empty(R))


class LineWork(NamedTuple):
    """Per-chunk work arrays of :func:`walk_lines` (k = R − 1).

    Fields
    ------
    S : (R,) int64           the line's hyperplanes, then (``S[k]``) the crossed one
    inS : (H,) bool          membership of ``S[:k]``
    side : (H,) int8         the current region's sides
    sgn : (H,)               ``±1`` per hyperplane, in check order
    keys : (H,)              crossing parameters t along the line
    idx : (H,) int64         the crossed hyperplanes, sorted by t
    beta : (H,)              ``w_jᵀ u`` of every hyperplane
    Wp, Winv : (R, R)        the line's normals and ``q_1``, and its inverse
    p0, u : (R,)             the line ``p0 + t u``
    sig : (max(k, 1),) int8  sides of ``S[:k]`` of the region being checked
    Aw : (R, R), rw : (R,)   the system of the sides off the line's hyperplanes
    A : (R, R), rhs : (R,)   the system of the region being checked
    B : (R, R), z : (R,)     solver workspace and solution
    rs_ua, rs_ub : (H,) uint64, rs_ib : (H,) int64, rs_hist : (8, 256) int64
                             radix-sort workspace
    """

    S: np.ndarray
    inS: np.ndarray
    side: np.ndarray
    sgn: np.ndarray
    keys: np.ndarray
    idx: np.ndarray
    beta: np.ndarray
    Wp: np.ndarray
    Winv: np.ndarray
    p0: np.ndarray
    u: np.ndarray
    sig: np.ndarray
    Aw: np.ndarray
    rw: np.ndarray
    A: np.ndarray
    rhs: np.ndarray
    B: np.ndarray
    z: np.ndarray
    rs_ua: np.ndarray
    rs_ub: np.ndarray
    rs_ib: np.ndarray
    rs_hist: np.ndarray


@njit(fastmath=FASTMATH, cache=CACHE)
def _line_work(H, R):
    return LineWork(np.zeros(R, dtype=np.int64), np.zeros(H, dtype=np.bool_), np.zeros(H, dtype=np.int8),
                    np.empty(H), np.empty(H), np.empty(H, dtype=np.int64), np.empty(H),
                    np.empty((R, R)), np.empty((R, R)), np.empty(R), np.empty(R),
                    np.zeros(max(R - 1, 1), dtype=np.int8), np.empty((R, R)), np.empty(R),
                    np.empty((R, R)), np.empty(R), np.empty((R, R)), np.empty(R),
                    np.empty(H, dtype=np.uint64), np.empty(H, dtype=np.uint64), np.empty(H, dtype=np.int64),
                    np.empty((8, 256), dtype=np.int64))


@njit(fastmath=FASTMATH, cache=CACHE)
def _line_through(item, arr, w):
    """The line cut out by the item-th (R−1)-subset ``w.S[:k]``: ``p0 + t u`` with
    ``q_1ᵀu = 1``, so t → −∞ is the end lowest in q_1. False for parallel normals."""
    W, bt, qdirs = arr.W, arr.bt, arr.qdirs
    S, inS, Wp, Winv, u, p0 = w.S, w.inS, w.Wp, w.Winv, w.u, w.p0
    R = W.shape[1]
    k = R - 1
    unrank_subset(item, k, arr.binom, S)
    for i in range(k):
        for j in range(R):
            Wp[i, j] = W[S[i], j]
    for j in range(R):
        Wp[k, j] = qdirs[0, j]
    if not invert_inplace(Wp, Winv):
        return False
    for j in range(R):
        u[j] = Winv[j, k]
        s = 0.0
        for i in range(k):
            s += Winv[j, i] * bt[S[i]]
        p0[j] = s
    for i in range(k):
        inS[S[i]] = True
    return True


@njit(fastmath=FASTMATH, cache=CACHE)
def _line_crossings(arr, pos, w):
    """Sides at the line's t → −∞ end, the crossings sorted by t (``w.keys``,
    ``w.idx``), and the system ``w.Aw, w.rw`` of the sides off the line.
    Returns the number of crossings. ``pos`` (H,) as from :func:`_check_data`."""
    W, bt, Q, r, r0 = arr.W, arr.bt, arr.Q, arr.r, arr.r0
    inS, side, sgn, keys, idx, beta, p0, u = w.inS, w.side, w.sgn, w.keys, w.idx, w.beta, w.p0, w.u
    Aw, rw = w.Aw, w.rw
    H, R = W.shape
    unorm = 0.0
    for j in range(R):
        unorm += u[j] * u[j]
    unorm = np.sqrt(unorm)
    n_cross = 0
    for j in range(H):
        if inS[j]:
            continue
        al = -bt[j]
        be = 0.0
        for i in range(R):
            al += W[j, i] * p0[i]
            be += W[j, i] * u[i]
        beta[j] = be
        if abs(be) > _PARALLEL_TOL * unorm:
            keys[n_cross] = -al / be
            idx[n_cross] = j
            n_cross += 1
            side[j] = 1 if be < 0.0 else 0
        else:
            side[j] = 1 if al > 0.0 else 0
        sgn[pos[j]] = 1.0 if side[j] == 1 else -1.0
    radix_sort_pairs(keys, idx, n_cross, w.rs_ua, w.rs_ub, w.rs_ib, w.rs_hist)
    for i in range(R):
        rw[i] = r0[i]
        for j in range(R):
            Aw[i, j] = 0.0
    for j in range(H):
        if side[j] == 1 and not inS[j]:
            for i in range(R):
                rw[i] += r[j, i]
                for m in range(R):
                    Aw[i, m] += Q[j, i, m]
    return n_cross


@njit(fastmath=FASTMATH, cache=CACHE)
def _walk_line(c, item, arr, chk, pos, w, out, n_cross):
    """Check the regions charged to the line ``w.S[:k]``; returns the number of vertices.

    Level R−1 (``e = -1``): the region at the t → −∞ end, lowest in q_2
    there. Level R: walk the crossings, flipping one side at a time; a vertex
    is charged from the line that omits its largest hyperplane. Each region
    is the current sides ``Aw, rw`` plus the cone ``sig`` at ``S[:k]``.
    """
    W, Q, r, qdirs = arr.W, arr.Q, arr.r, arr.qdirs
    S, side, sgn, sig, Winv, idx, beta = w.S, w.side, w.sgn, w.sig, w.Winv, w.idx, w.beta
    Aw, rw, A, rhs, B, z = w.Aw, w.rw, w.A, w.rhs, w.B, w.z
    R = W.shape[1]
    k = R - 1
    maxS = -1
    for i in range(k):
        maxS = max(maxS, S[i])
    n_vert = 0
    for e in range(-1, n_cross):
        n_first = k
        if e < 0:
            for i in range(k):
                s = 0.0
                for m in range(R):
                    s += qdirs[1, m] * Winv[m, i]
                sig[i] = 1 if s > 0.0 else 0
        else:
            j = idx[e]
            flip = -1.0 if side[j] == 1 else 1.0
            side[j] = 0 if side[j] == 1 else 1
            sgn[pos[j]] = flip
            for i in range(R):
                rw[i] += flip * r[j, i]
                for m in range(R):
                    Aw[i, m] += flip * Q[j, i, m]
            if j < maxS:
                continue
            be = beta[j]
            for i in range(k):
                # σ_i = sign(−(w_jᵀ G_i) / β_j), G = Winv[:, :k]
                g = 0.0
                for m in range(R):
                    g += W[j, m] * Winv[m, i]
                sig[i] = 1 if -g / be > 0.0 else 0
            S[k] = j
            n_first = k + 1
            n_vert += 1
        for i in range(R):
            rhs[i] = rw[i]
            for m in range(R):
                A[i, m] = Aw[i, m]
        for i in range(k):
            side[S[i]] = sig[i]
            sgn[pos[S[i]]] = 1.0 if sig[i] == 1 else -1.0
            if sig[i] == 1:
                for m in range(R):
                    rhs[m] += r[S[i], m]
                    for l in range(R):
                        A[m, l] += Q[S[i], m, l]
        _check_and_record_p(c, item, A, rhs, side, sgn, S, n_first, B, z, chk, out)
    return n_vert


@njit(nogil=True, fastmath=FASTMATH, cache=CACHE)
def _walk_chunks(start, step, arr, chk, pos, out):
    """Chunks ``start, start + step, ...`` of :func:`walk_lines` (item ``i`` in chunk
    ``i % n_chunks``), without the GIL (:mod:`.threads`)."""
    n_chunks = out.counts.shape[0]
    H, R = arr.W.shape
    k = R - 1
    n_items = arr.binom[H, k] if H >= k else 0
    stats = out.stats
    for c in range(start, n_chunks, step):
        w = _line_work(H, R)
        inS, S = w.inS, w.S
        n_reg = 0
        n_vert = 0
        for item in range(c, n_items, n_chunks):
            if not _line_through(item, arr, w):
                continue  # parallel normals: no line
            n_cross = _line_crossings(arr, pos, w)
            nv = _walk_line(c, item, arr, chk, pos, w, out, n_cross)
            n_reg += 1 + nv
            n_vert += nv
            for i in range(k):
                inS[S[i]] = False
        stats[c, 0] = n_reg
        stats[c, 1] = n_vert


def walk_lines(arr, n_chunks, cap):
    """Levels R−1 and R: walk every line cut out by R−1 hyperplanes.

    Parameters
    ----------
    arr : Arrangement
        ``W`` (H, R), ``b, bt`` (H,), ``Q`` (H, R, R), ``r`` (H, R), ``r0``,
        ``oma`` (R,), ``qdirs`` (R, R), ``perm`` (H,), ``tol``, ``binom`` (H+2, R+1).
    n_chunks, cap : int
        Number of chunks and candidate slots per chunk.

    Returns
    -------
    Candidates
        ``zbuf`` (n_chunks, cap, R), ``sidebuf`` (n_chunks, cap, H),
        ``kindbuf``, ``itembuf`` (n_chunks, cap), ``counts`` (n_chunks,),
        ``stats`` (n_chunks, 2): regions checked, vertices visited.
    """
    H, R = arr.W.shape
    out = _candidates(n_chunks, cap, R, H)
    chk, pos = _check_data(arr)
    over_sequences(_walk_chunks, n_chunks, arr, chk, pos, out)
    return out


@njit(fastmath=FASTMATH, cache=CACHE)
def _flat_sides(arr, w, kk):
    """Sides of the region charged to the flat of ``w.S[:kk]`` (independent normals:
    ``w.Winv`` already inverted); fills ``w.side`` and the system ``w.A, w.rhs``."""
    W, bt, qdirs, Q, r, r0 = arr.W, arr.bt, arr.qdirs, arr.Q, arr.r, arr.r0
    S, inS, side, Winv, mu, A, rhs = w.S, w.inS, w.side, w.Winv, w.mu, w.A, w.rhs
    H, R = W.shape
    # Sides at the point at infinity v = W'^{-1} [bt_S; −L_1; …; −L_{R−k}]
    # with L_{R−k} ≫ … ≫ L_1 ≫ 1: the flat q_1 = −L_1 must lie below
    # every vertex, and within it q_2 = −L_2 below every vertex of
    # that flat (which sit at q_2 ~ L_1), and so on, so the last
    # direction dominates.
    for j in range(H):
        if inS[j]:
            continue
        for i in range(R):
            s = 0.0
            for m in range(R):
                s += Winv[m, i] * W[j, m]
            mu[i] = s
        decided = False
        for i in range(R - 1, kk - 1, -1):
            if abs(mu[i]) > _PARALLEL_TOL:
                side[j] = 1 if mu[i] < 0.0 else 0
                decided = True
                break
        if not decided:
            v = -bt[j]
            for i in range(kk):
                v += mu[i] * bt[S[i]]
            side[j] = 1 if v > 0.0 else 0
    # Sides of S: the cone lowest in q_{R−k+1} within the flat.
    for i in range(kk):
        s = 0.0
        for m in range(R):
            s += qdirs[R - kk, m] * Winv[m, i]
        side[S[i]] = 1 if s > 0.0 else 0
    for i in range(R):
        rhs[i] = r0[i]
        for m in range(R):
            A[i, m] = 0.0
    for j in range(H):
        if side[j] == 1:
            for i in range(R):
                rhs[i] += r[j, i]
                for m in range(R):
                    A[i, m] += Q[j, i, m]


@njit(fastmath=FASTMATH, cache=CACHE)
def _flat_basis(arr, w, kk):
    """``w.Winv``: inverse of the normals of ``w.S[:kk]`` completed by ``q_1 … q_{R−kk}``;
    False when the normals are dependent."""
    W, qdirs, S, Wp = arr.W, arr.qdirs, w.S, w.Wp
    R = W.shape[1]
    for i in range(kk):
        for j in range(R):
            Wp[i, j] = W[S[i], j]
    for i in range(R - kk):
        for j in range(R):
            Wp[kk + i, j] = qdirs[i, j]
    return invert_inplace(Wp, w.Winv)


@njit(nogil=True, fastmath=FASTMATH, cache=CACHE)
def _direct_chunks(start, step, arr, offs, chk, out):
    """Chunks ``start, start + step, ...`` of :func:`direct_levels`, without the GIL
    (:mod:`.threads`); ``offs`` (kmax+2,) are the first items of each level."""
    n_chunks = out.counts.shape[0]
    H, R = arr.W.shape
    n_items = offs[-1]
    stats = out.stats
    for c in range(start, n_chunks, step):
        w = _level_work(H, R)
        inS, S = w.inS, w.S
        n_reg = 0
        for item in range(c, n_items, n_chunks):
            kk = 0
            while offs[kk + 1] <= item:
                kk += 1
            unrank_subset(item - offs[kk], kk, arr.binom, S)
            if not _flat_basis(arr, w, kk):
                continue
            for i in range(kk):
                inS[S[i]] = True
            _flat_sides(arr, w, kk)
            _check_and_record(c, item, w.A, w.rhs, w.side, S, kk, w.B, w.z, chk, arr.perm, out)
            n_reg += 1
            for i in range(kk):
                inS[S[i]] = False
        stats[c, 0] = n_reg


def direct_levels(arr, n_chunks, cap):
    """Levels 0..R−2: one region per k-subset, evaluated from scratch.

    Same arguments and output as :func:`walk_lines` (``stats[:, 1]`` is 0).
    Item ordering: all 0-subsets, then 1-subsets, …, (R−2)-subsets (colex).
    """
    H, R = arr.W.shape
    kmax = min(R - 2, H)
    offs = np.zeros(max(kmax + 2, 1), dtype=np.int64)
    for kk in range(kmax + 1):
        offs[kk + 1] = offs[kk] + arr.binom[H, kk]
    out = _candidates(n_chunks, cap, R, H)
    over_sequences(_direct_chunks, n_chunks, arr, offs, _check_data(arr)[0], out)
    return out
