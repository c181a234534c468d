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
"""
import numpy as np
from numba import njit, prange

from ..config import CACHE, FASTMATH

# Kinds of candidate written to the output buffers.
KIND_POINT = 0
KIND_SINGULAR = 1

# Relative threshold under which a pivot counts as zero.
_PIVOT_TOL = 1e-11
# A normal this close to orthogonal to a line is treated as parallel to it.
_PARALLEL_TOL = 1e-12


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
    scale = 0.0
    for i in range(n):
        for j in range(n):
            v = abs(B[i, j])
            if v > scale:
                scale = v
    if scale == 0.0:
        return False
    thr = _PIVOT_TOL * scale
    for col in range(n):
        p = col
        best = abs(B[col, col])
        for i in range(col + 1, n):
            v = abs(B[i, col])
            if v > best:
                best = v
                p = i
        if best <= thr:
            return False
        if p != col:
            for j in range(n):
                t = B[col, j]
                B[col, j] = B[p, j]
                B[p, j] = t
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
    scale = 0.0
    for i in range(n):
        for j in range(n):
            v = abs(B[i, j])
            if v > scale:
                scale = v
    if scale == 0.0:
        return False
    thr = 1e-10 * scale
    for col in range(n):
        p = col
        best = abs(B[col, col])
        for i in range(col + 1, n):
            v = abs(B[i, col])
            if v > best:
                best = v
                p = i
        if best <= thr:
            return False
        if p != col:
            for j in range(n):
                t = B[col, j]
                B[col, j] = B[p, j]
                B[p, j] = t
                t = out[col, j]
                out[col, j] = out[p, j]
                out[p, j] = t
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


@njit(fastmath=FASTMATH, cache=CACHE)
def _record(c, item, z, side, kind, zbuf, sidebuf, kindbuf, itembuf, counts):
    """Append a candidate to chunk ``c`` (counting past ``cap`` so the caller can rerun larger)."""
    n = counts[c]
    if n < zbuf.shape[1]:
        for i in range(z.shape[0]):
            zbuf[c, n, i] = z[i] if kind == KIND_POINT else 0.0
        for j in range(side.shape[0]):
            sidebuf[c, n, j] = side[j]
        kindbuf[c, n] = kind
        itembuf[c, n] = item
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


@njit(fastmath=FASTMATH, cache=CACHE)
def _check_and_record(c, item, A, rhs, oma, W, b, side, perm, tol, scale_b,
                      B, z, zbuf, sidebuf, kindbuf, itembuf, counts, first, n_first):
    """Solve the region system; record the solution if it lies in the region.

    ``side[j]`` (0/1) is the region's side of every hyperplane.
    """
    if not _solve_region(A, rhs, oma, B, z):
        # Singular: a continuum or nothing; the Python layer decides with an
        # SVD.  Keep the region so that it is not dropped silently.
        _record(c, item, z, side, KIND_SINGULAR, zbuf, sidebuf, kindbuf, itembuf, counts)
        return
    zmax = 0.0
    for i in range(z.shape[0]):
        zmax = max(zmax, abs(z[i]))
    thr = tol * (scale_b + zmax)
    # The hyperplanes through the charged vertex bound the region's cone and
    # reject most candidates, so try them before the rest.
    if _outside(z, W, b, side, first, n_first, thr) or _outside(z, W, b, side, perm, W.shape[0], thr):
        return
    # Points on many region boundaries (e.g. the origin of a clipped-relu
    # network with c = 0, where all the x + h = 0 hyperplanes meet) are
    # found from every adjacent region: keep one copy per chunk.
    if _seen(c, z, 100.0 * tol * (1.0 + zmax), zbuf, kindbuf, counts):
        return
    _record(c, item, z, side, KIND_POINT, zbuf, sidebuf, kindbuf, itembuf, counts)


# Block length of the vectorised membership scan in ``_check_and_record_p``.
_SCAN_BLOCK = 16


@njit(fastmath=FASTMATH, cache=CACHE)
def _check_and_record_p(c, item, A, rhs, oma, W, b, side, WT, bp, sgn, tol, scale_b,
                        B, z, zbuf, sidebuf, kindbuf, itembuf, counts, first, n_first):
    """Same decision as :func:`_check_and_record`, with the full membership
    scan done in ``perm`` order over contiguous arrays: ``WT[i, p] =
    W[perm[p], i]``, ``bp[p] = b[perm[p]]`` and ``sgn[p] = ±1`` (+1 where
    ``side[perm[p]] == 1``), so a block of hyperplanes is tested without
    branches (a point is rejected iff ``sgn·(wᵀz − b) < −thr`` somewhere).
    """
    if not _solve_region(A, rhs, oma, B, z):
        _record(c, item, z, side, KIND_SINGULAR, zbuf, sidebuf, kindbuf, itembuf, counts)
        return
    R = z.shape[0]
    zmax = 0.0
    for i in range(R):
        zmax = max(zmax, abs(z[i]))
    thr = tol * (scale_b + zmax)
    if _outside(z, W, b, side, first, n_first, thr):
        return
    H = W.shape[0]
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
    if _seen(c, z, 100.0 * tol * (1.0 + zmax), zbuf, kindbuf, counts):
        return
    _record(c, item, z, side, KIND_POINT, zbuf, sidebuf, kindbuf, itembuf, counts)


@njit(parallel=True, fastmath=FASTMATH, cache=CACHE)
def walk_lines(W, b, bt, Q, r, r0, oma, qdirs, perm, tol, binom, n_chunks, cap):
    """Levels R−1 and R: walk every line cut out by R−1 hyperplanes.

    Parameters
    ----------
    W : (H, R) unit normals.
    b, bt : (H,) true and perturbed offsets.
    Q : (H, R, R), r : (H, R) rank-one pieces; r0 : (R,) constant part.
    oma : (R,) ``1 − a``.
    qdirs : (R, R) generic orthonormal directions (rows q_1..q_R).
    perm : (H,) order in which region membership is checked.
    tol : relative tolerance of the membership check.
    binom : (H+2, R+1) int64 binomial table.
    n_chunks, cap : number of chunks and candidate slots per chunk.

    Returns
    -------
    zbuf (n_chunks, cap, R), sidebuf (n_chunks, cap, H) int8,
    kindbuf (n_chunks, cap) int8, itembuf (n_chunks, cap) int64,
    counts (n_chunks,) candidates found (may exceed cap: rerun larger),
    stats (n_chunks, 2) int64: regions checked, vertices visited.
    """
    H, R = W.shape
    k = R - 1
    n_items = binom[H, k] if H >= k else 0
    zbuf = np.zeros((n_chunks, cap, R))
    sidebuf = np.zeros((n_chunks, cap, H), dtype=np.int8)
    kindbuf = np.zeros((n_chunks, cap), dtype=np.int8)
    itembuf = np.zeros((n_chunks, cap), dtype=np.int64)
    counts = np.zeros(n_chunks, dtype=np.int64)
    stats = np.zeros((n_chunks, 2), dtype=np.int64)
    scale_b = 1.0
    for j in range(H):
        if abs(b[j]) > scale_b:
            scale_b = abs(b[j])
    # membership data in check order (see _check_and_record_p)
    WT = np.empty((R, H))
    bp = np.empty(H)
    pos = np.empty(H, dtype=np.int64)
    for p in range(H):
        pos[perm[p]] = p
        bp[p] = b[perm[p]]
        for i in range(R):
            WT[i, p] = W[perm[p], i]
    for c in prange(n_chunks):
        # per-chunk work arrays, reused by every item of the chunk
        sgn = np.empty(H)
        S = np.zeros(R, dtype=np.int64)
        inS = np.zeros(H, dtype=np.bool_)
        side = np.zeros(H, dtype=np.int8)
        keys = np.empty(H)
        idx = np.empty(H, dtype=np.int64)
        beta = np.empty(H)
        stack = np.empty(192, dtype=np.int64)
        Wp = np.empty((R, R))
        Winv = np.empty((R, R))
        p0 = np.empty(R)
        rs_ua = np.empty(H, dtype=np.uint64)
        rs_ub = np.empty(H, dtype=np.uint64)
        rs_ib = np.empty(H, dtype=np.int64)
        rs_hist = np.empty((8, 256), dtype=np.int64)
        u = np.empty(R)
        sig = np.zeros(max(k, 1), dtype=np.int8)
        Aw = np.empty((R, R))
        rw = np.empty(R)
        Av = np.empty((R, R))
        rv = np.empty(R)
        B = np.empty((R, R))
        z = np.empty(R)
        n_reg = 0
        n_vert = 0
        for item in range(c, n_items, n_chunks):
            unrank_subset(item, k, binom, S)
            # Line: W_S x = bt_S, parameterised as p0 + t u with q_1ᵀu = 1,
            # so t → −∞ is the end lowest in q_1.
            for i in range(k):
                for j in range(R):
                    Wp[i, j] = W[S[i], j]
            for j in range(R):
                Wp[k, j] = qdirs[0, j]
            if not invert_inplace(Wp, Winv):
                continue  # parallel normals: no line
            for j in range(R):
                u[j] = Winv[j, k]
                s = 0.0
                for i in range(k):
                    s += Winv[j, i] * bt[S[i]]
                p0[j] = s
            maxS = -1
            for i in range(k):
                inS[S[i]] = True
                if S[i] > maxS:
                    maxS = S[i]
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
            radix_sort_pairs(keys, idx, n_cross, rs_ua, rs_ub, rs_ib, rs_hist)
            for i in range(R):
                rw[i] = r0[i]
                for j in range(R):
                    Aw[i, j] = 0.0
            for j in range(H):
                if side[j] == 1 and not inS[j]:
                    for i in range(R):
                        rw[i] += r[j, i]
                        for l in range(R):
                            Aw[i, l] += Q[j, i, l]
            # Level R−1: the region at the t → −∞ end, lowest in q_2 there.
            for i in range(k):
                s = 0.0
                for j in range(R):
                    s += qdirs[1, j] * Winv[j, i]
                sig[i] = 1 if s > 0.0 else 0
            for i in range(R):
                rv[i] = rw[i]
                for l in range(R):
                    Av[i, l] = Aw[i, l]
            for i in range(k):
                side[S[i]] = sig[i]
                sgn[pos[S[i]]] = 1.0 if sig[i] == 1 else -1.0
                if sig[i] == 1:
                    for m in range(R):
                        rv[m] += r[S[i], m]
                        for l in range(R):
                            Av[m, l] += Q[S[i], m, l]
            _check_and_record_p(c, item, Av, rv, oma, W, b, side, WT, bp, sgn, tol, scale_b,
                              B, z, zbuf, sidebuf, kindbuf, itembuf, counts, S, k)
            n_reg += 1
            # Level R: walk the crossings; charge each vertex from the line
            # that omits its largest hyperplane.
            for e in range(n_cross):
                j = idx[e]
                if side[j] == 1:
                    side[j] = 0
                    sgn[pos[j]] = -1.0
                    for i in range(R):
                        rw[i] -= r[j, i]
                        for l in range(R):
                            Aw[i, l] -= Q[j, i, l]
                else:
                    side[j] = 1
                    sgn[pos[j]] = 1.0
                    for i in range(R):
                        rw[i] += r[j, i]
                        for l in range(R):
                            Aw[i, l] += Q[j, i, l]
                if j < maxS:
                    continue
                be = beta[j]
                for i in range(R):
                    rv[i] = rw[i]
                    for l in range(R):
                        Av[i, l] = Aw[i, l]
                for i in range(k):
                    # σ_i = sign(−(w_jᵀ G_i) / β_j), G = Winv[:, :k]
                    g = 0.0
                    for m in range(R):
                        g += W[j, m] * Winv[m, i]
                    si = 1 if -g / be > 0.0 else 0
                    side[S[i]] = si
                    sgn[pos[S[i]]] = 1.0 if si == 1 else -1.0
                    if si == 1:
                        for m in range(R):
                            rv[m] += r[S[i], m]
                            for l in range(R):
                                Av[m, l] += Q[S[i], m, l]
                S[k] = j
                _check_and_record_p(c, item, Av, rv, oma, W, b, side, WT, bp, sgn, tol, scale_b,
                                  B, z, zbuf, sidebuf, kindbuf, itembuf, counts, S, k + 1)
                n_reg += 1
                n_vert += 1
            for i in range(k):
                inS[S[i]] = False
        stats[c, 0] = n_reg
        stats[c, 1] = n_vert
    return zbuf, sidebuf, kindbuf, itembuf, counts, stats


@njit(parallel=True, fastmath=FASTMATH, cache=CACHE)
def direct_levels(W, b, bt, Q, r, r0, oma, qdirs, perm, tol, binom, n_chunks, cap):
    """Levels 0..R−2: one region per k-subset, evaluated from scratch.

    Same arguments and outputs as :func:`walk_lines` (``stats[:, 1]`` is 0).
    Item ordering: all 0-subsets, then 1-subsets, …, (R−2)-subsets (colex).
    """
    H, R = W.shape
    kmax = min(R - 2, H)
    offs = np.zeros(max(kmax + 2, 1), dtype=np.int64)
    for kk in range(kmax + 1):
        offs[kk + 1] = offs[kk] + binom[H, kk]
    n_items = offs[kmax + 1] if kmax >= 0 else 0
    zbuf = np.zeros((n_chunks, cap, R))
    sidebuf = np.zeros((n_chunks, cap, H), dtype=np.int8)
    kindbuf = np.zeros((n_chunks, cap), dtype=np.int8)
    itembuf = np.zeros((n_chunks, cap), dtype=np.int64)
    counts = np.zeros(n_chunks, dtype=np.int64)
    stats = np.zeros((n_chunks, 2), dtype=np.int64)
    scale_b = 1.0
    for j in range(H):
        if abs(b[j]) > scale_b:
            scale_b = abs(b[j])
    for c in prange(n_chunks):
        S = np.zeros(max(R, 1), dtype=np.int64)
        inS = np.zeros(H, dtype=np.bool_)
        side = np.zeros(H, dtype=np.int8)
        Wp = np.empty((R, R))
        Winv = np.empty((R, R))
        mu = np.empty(R)
        A = np.empty((R, R))
        rhs = np.empty(R)
        B = np.empty((R, R))
        z = np.empty(R)
        n_reg = 0
        for item in range(c, n_items, n_chunks):
            kk = 0
            while offs[kk + 1] <= item:
                kk += 1
            unrank_subset(item - offs[kk], kk, binom, S)
            for i in range(kk):
                for j in range(R):
                    Wp[i, j] = W[S[i], j]
            for i in range(R - kk):
                for j in range(R):
                    Wp[kk + i, j] = qdirs[i, j]
            if not invert_inplace(Wp, Winv):
                continue
            for i in range(kk):
                inS[S[i]] = True
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
                for l in range(R):
                    A[i, l] = 0.0
            for j in range(H):
                if side[j] == 1:
                    for i in range(R):
                        rhs[i] += r[j, i]
                        for l in range(R):
                            A[i, l] += Q[j, i, l]
            _check_and_record(c, item, A, rhs, oma, W, b, side, perm, tol, scale_b,
                              B, z, zbuf, sidebuf, kindbuf, itembuf, counts, S, kk)
            n_reg += 1
            for i in range(kk):
                inS[S[i]] = False
        stats[c, 0] = n_reg
    return zbuf, sidebuf, kindbuf, itembuf, counts, stats
