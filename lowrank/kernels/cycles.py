"""Compiled search for the k-cycles of a rank-2 piecewise-linear map (``lowrank.dynamics``).

The map is affine in every region of an arrangement of ``H`` lines
``w_jᵀ z = b_j`` (unit normals): on the side ``s_j = 1`` of line ``j`` the
region's matrix gains ``Q_j`` and its offset ``r_j``, so in region ``s``
``F(z) = (diag(a) + Σ_j s_j Q_j) z + r0 + Σ_j s_j r_j``.

A k-cycle visits a sequence of regions ``s_1 … s_k``; the points of the
first region whose first ``j`` images lie in ``s_2 … s_{j+1}`` form a
convex cell ``C_j`` (the preimage of convex sets under an affine map is
convex).  The search is depth first over these cells: a cell's image under
the composed map ``T_j`` is cut by the lines it straddles (a binary space
partition), each piece is a child, and a sequence whose cell becomes empty
is never extended.  At depth k the cell is clipped by ``s_1`` pulled back
through ``T_{k+1}``; if something is left, the fixed point of ``T_{k+1}``
is solved and every orbit point is checked against its region with the
tolerance of the fixed-point enumerator.  Only sequences whose first region
is the lexicographically smallest (by the sides) are extended, so each
cycle is found once per rotation that starts at its smallest region.

Unbounded regions are handled exactly with homogeneous coordinates: a cell
is a pointed cone in ``(z, w)``, ``w ≥ 0``, stored as its extreme rays
(unit vectors, in cyclic order), and clipped by Sutherland–Hodgman; rays
with ``w = 0`` are directions at infinity.  Affine maps act linearly on
``(z, w)``.  Clipping keeps everything within ``eps`` (relative) of a line,
so the pruning errs on the side of keeping a sequence; a cell lying on a line
within ``eps`` is continued on both sides.

Parallel over the regions (the first element of the sequence), in strided
chunks fixed by the caller; each chunk writes its own slots, so the result
does not depend on the thread count.
"""
from typing import NamedTuple

import numpy as np
from numba import njit, prange

from ..config import CACHE, FASTMATH

KIND_ORBIT = 0
KIND_SINGULAR = 1

# Relative width of the band around a line that counts as on it when cells are cut.
_EPS = 1e-9
# |det(I − A)| below this (relative) counts as a singular cycle system.
_SING_TOL = 1e-11


class Lines(NamedTuple):
    """The arrangement and the pieces of the region maps.

    Fields
    ------
    W : (H, 2) unit normals; b : (H,) offsets.
    Q : (H, 2, 2), r : (H, 2): what a region on the positive side of a line gains.
    base : (2, 3): ``[diag(a) | r0]``, the map with every side 0.
    tol : float: relative tolerance of the final membership check.
    """

    W: np.ndarray
    b: np.ndarray
    Q: np.ndarray
    r: np.ndarray
    base: np.ndarray
    tol: float


class Found(NamedTuple):
    """Candidate cycles in per-chunk slots.

    Fields
    ------
    orbit : (n_chunks, cap, k, 2)
    sides : (n_chunks, cap, k, H) int8
    kind : (n_chunks, cap) int8: ``KIND_ORBIT`` or ``KIND_SINGULAR``
    counts : (n_chunks,) int64: may exceed ``cap`` (then rerun larger)
    nodes : (n_chunks, k + 1) int64: cells examined at each depth (index k: closed sequences)
    overflow : (n_chunks,) int64: 1 where a cell outgrew ``max_vertices``
    """

    orbit: np.ndarray
    sides: np.ndarray
    kind: np.ndarray
    counts: np.ndarray
    nodes: np.ndarray
    overflow: np.ndarray


# ---------------------------------------------------------------- cells
@njit(fastmath=FASTMATH, cache=CACHE)
def _normalize(p):
    s = np.sqrt(p[0] * p[0] + p[1] * p[1] + p[2] * p[2])
    if s > 0.0:
        p[0] /= s
        p[1] /= s
        p[2] /= s


@njit(fastmath=FASTMATH, cache=CACHE)
def _line_form(W, b, j, T, u):
    """``u`` (3,): line ``j`` pulled back through ``T`` (3, 3): ``u·p = w_jᵀ(T p)_z − b_j (T p)_w``;
    returns the band half-width ``eps·|u|``."""
    s = 0.0
    for m in range(3):
        u[m] = W[j, 0] * T[0, m] + W[j, 1] * T[1, m] - b[j] * T[2, m]
        s += u[m] * u[m]
    return _EPS * (np.sqrt(s) + 1e-300)


@njit(fastmath=FASTMATH, cache=CACHE)
def _range(poly, nv, u):
    lo = np.inf
    hi = -np.inf
    for v in range(nv):
        f = u[0] * poly[v, 0] + u[1] * poly[v, 1] + u[2] * poly[v, 2]
        lo = min(lo, f)
        hi = max(hi, f)
    return lo, hi


@njit(fastmath=FASTMATH, cache=CACHE)
def _clip(poly, nv, u, sign, eps, out):
    """Sutherland–Hodgman: the rays of ``poly[:nv]`` where ``sign·u·p ≥ −eps`` into ``out``;
    returns the count (``-1`` if ``out`` is too small)."""
    n = 0
    cap = out.shape[0]
    for i in range(nv):
        j = i + 1 if i + 1 < nv else 0
        fi = sign * (u[0] * poly[i, 0] + u[1] * poly[i, 1] + u[2] * poly[i, 2]) + eps
        fj = sign * (u[0] * poly[j, 0] + u[1] * poly[j, 1] + u[2] * poly[j, 2]) + eps
        if fi >= 0.0:
            if n >= cap:
                return -1
            for m in range(3):
                out[n, m] = poly[i, m]
            n += 1
        if (fi >= 0.0) != (fj >= 0.0) and nv > 1:
            if n >= cap:
                return -1
            # a positive combination of the two rays on which the form vanishes
            for m in range(3):
                out[n, m] = abs(fi) * poly[j, m] + abs(fj) * poly[i, m]
            _normalize(out[n])
            n += 1
    return n


@njit(fastmath=FASTMATH, cache=CACHE)
def _copy_poly(src, nv, dst):
    for v in range(nv):
        for m in range(3):
            dst[v, m] = src[v, m]


# ---------------------------------------------------------------- region maps
@njit(fastmath=FASTMATH, cache=CACHE)
def _region_map(lines, side, G):
    """``G`` (3, 3): the homogeneous affine map of the region with sides ``side`` (H,)."""
    for i in range(2):
        for m in range(3):
            G[i, m] = lines.base[i, m]
    G[2, 0] = 0.0
    G[2, 1] = 0.0
    G[2, 2] = 1.0
    for j in range(side.shape[0]):
        if side[j] == 1:
            for i in range(2):
                G[i, 0] += lines.Q[j, i, 0]
                G[i, 1] += lines.Q[j, i, 1]
                G[i, 2] += lines.r[j, i]


@njit(fastmath=FASTMATH, cache=CACHE)
def _matmul3(A, B, out):
    for i in range(3):
        for j in range(3):
            s = 0.0
            for m in range(3):
                s += A[i, m] * B[m, j]
            out[i, j] = s


@njit(fastmath=FASTMATH, cache=CACHE)
def _lex_less(x, y):
    """Sides ``x`` before ``y`` in lexicographic order."""
    for j in range(x.shape[0]):
        if x[j] != y[j]:
            return x[j] < y[j]
    return False


# ---------------------------------------------------------------- cutting a cell
class Cut(NamedTuple):
    """Work arrays of :func:`_cut`: the lines a cell's image straddles and a stack of pieces.

    Fields
    ------
    side : (H,) int8       sides of the lines the whole image is on
    strad : (H,) int64     the other lines; ``U`` (H, 3), ``eps`` (H,) their forms
    polys : (H + 1, V, 3), nv : (H + 1,), pos : (H + 1,) int64, choice : (H + 1, H) int8
                           the stack of pieces: rays, count, next line to try, sides chosen
    tmp : (V, 3)           one piece
    """

    side: np.ndarray
    strad: np.ndarray
    U: np.ndarray
    eps: np.ndarray
    polys: np.ndarray
    nv: np.ndarray
    pos: np.ndarray
    choice: np.ndarray
    tmp: np.ndarray


@njit(fastmath=FASTMATH, cache=CACHE)
def _cut_work(H, V):
    return Cut(np.zeros(H, dtype=np.int8), np.zeros(H, dtype=np.int64), np.zeros((H, 3)), np.zeros(H),
               np.zeros((H + 1, V, 3)), np.zeros(H + 1, dtype=np.int64), np.zeros(H + 1, dtype=np.int64),
               np.zeros((H + 1, H), dtype=np.int8), np.zeros((V, 3)))


class Pieces(NamedTuple):
    """Pieces of a cut cell, packed: piece ``i`` has the rays ``rays[start[i]:start[i + 1]]``
    and the sides ``side[i]`` (H,) int8 (``side`` may have no rows: sides not kept)."""

    rays: np.ndarray
    start: np.ndarray
    side: np.ndarray


@njit(fastmath=FASTMATH, cache=CACHE)
def _classify(lines, poly, nv, T, cw):
    """Fill ``cw.side`` for lines the image ``T(poly)`` lies on one side of; returns the
    number of the others (straddled, or the image lies on them), listed in ``cw.strad``."""
    W, b = lines.W, lines.b
    H = W.shape[0]
    u = np.empty(3)
    ns = 0
    for j in range(H):
        eps = _line_form(W, b, j, T, u)
        lo, hi = _range(poly, nv, u)
        if lo >= -eps and hi > eps:
            cw.side[j] = 1
        elif hi <= eps and lo < -eps:
            cw.side[j] = 0
        else:
            cw.strad[ns] = j
            cw.eps[ns] = eps
            for m in range(3):
                cw.U[ns, m] = u[m]
            ns += 1
    return ns


@njit(fastmath=FASTMATH, cache=CACHE)
def _emit(cw, top, ns, p, n, out, n_out):
    """Append piece ``p[:n]`` (the stack entry ``top``) to ``out``; False if ``out`` is full."""
    r0 = out.start[n_out]
    if n_out + 1 >= out.start.shape[0] or r0 + n > out.rays.shape[0]:
        return False
    _copy_poly(p, n, out.rays[r0:r0 + n])
    out.start[n_out + 1] = r0 + n
    if out.side.shape[0] > 0:
        if n_out >= out.side.shape[0]:
            return False
        for j in range(cw.side.shape[0]):
            out.side[n_out, j] = cw.side[j]
        for q in range(ns):
            out.side[n_out, cw.strad[q]] = cw.choice[top, q]
    return True


@njit(fastmath=FASTMATH, cache=CACHE)
def _cut(lines, poly, nv, T, cw, out, n_out):
    """Cut the cell ``poly[:nv]`` where its image under ``T`` crosses lines.

    Appends the pieces to ``out`` (:class:`Pieces`, already holding
    ``n_out``) and returns the new count: ``-1`` if a piece outgrew the
    work buffers, ``-2`` if ``out`` is full.
    """
    ns = _classify(lines, poly, nv, T, cw)
    top = 0
    _copy_poly(poly, nv, cw.polys[0])
    cw.nv[0] = nv
    cw.pos[0] = 0
    while top >= 0:
        p = cw.polys[top]
        n = cw.nv[top]
        k = cw.pos[top]
        if n == 0:
            top -= 1
            continue
        # the next line that still splits this piece
        while k < ns:
            lo, hi = _range(p, n, cw.U[k])
            e = cw.eps[k]
            if lo >= -e and hi > e:
                cw.choice[top, k] = 1
            elif hi <= e and lo < -e:
                cw.choice[top, k] = 0
            else:
                break
            k += 1
        if k == ns:
            if not _emit(cw, top, ns, p, n, out, n_out):
                return -2
            n_out += 1
            top -= 1
            continue
        # split: the negative half replaces this piece, the positive half goes on top
        if top + 1 >= cw.polys.shape[0]:
            return -1
        n_pos = _clip(p, n, cw.U[k], 1.0, cw.eps[k], cw.polys[top + 1])
        n_neg = _clip(p, n, cw.U[k], -1.0, cw.eps[k], cw.tmp)
        if n_pos < 0 or n_neg < 0:
            return -1
        for q in range(k):
            cw.choice[top + 1, q] = cw.choice[top, q]
        cw.choice[top, k] = 0
        cw.choice[top + 1, k] = 1
        _copy_poly(cw.tmp, n_neg, p)
        cw.nv[top] = n_neg
        cw.pos[top] = k + 1
        cw.nv[top + 1] = n_pos
        cw.pos[top + 1] = k + 1
        top += 1
    return n_out


@njit(fastmath=FASTMATH, cache=CACHE)
def _pieces(n_pieces, n_rays, H):
    start = np.zeros(n_pieces + 1, dtype=np.int64)
    return Pieces(np.zeros((n_rays, 3)), start, np.zeros((n_pieces if H > 0 else 0, H), dtype=np.int8))


@njit(fastmath=FASTMATH, cache=CACHE)
def regions(lines, quads, V, n_pieces, n_rays):
    """The regions of the arrangement, as cells: the four quadrants of two of the lines, cut by all.

    Parameters
    ----------
    lines : Lines
    quads : (4, 3, 3): rays of the quadrants (pointed cones covering the plane).
    V : int: most rays a cell may have (``H + 3`` always suffices).
    n_pieces, n_rays : int: capacity of the output.

    Returns
    -------
    (Pieces, int)
        The cells (sides not kept) and their number, ``-1``/``-2`` when a
        buffer was too small (call again larger).
    """
    H = lines.W.shape[0]
    cw = _cut_work(H, V)
    out = _pieces(n_pieces, n_rays, 0)
    T = np.eye(3)
    n = 0
    for q in range(4):
        n = _cut(lines, quads[q], 3, T, cw, out, n)
        if n < 0:
            return out, n
    return out, n


class Search(NamedTuple):
    """Per-chunk work of the depth-first search.

    Fields
    ------
    rays : (S, V, 3), nv : (S,) int64, depth : (S,) int64, side : (S, H) int8, T : (S, 3, 3)
                               the stack of cells still to visit
    path_side : (k, H) int8, path_G : (k, 3, 3)
                               the regions and maps of the sequence being extended
    kids : Pieces              the pieces of the last cut
    cell, tmp : (V, 3)         the closing clip's cell and work piece
    """

    rays: np.ndarray
    nv: np.ndarray
    depth: np.ndarray
    side: np.ndarray
    T: np.ndarray
    path_side: np.ndarray
    path_G: np.ndarray
    kids: Pieces
    cell: np.ndarray
    tmp: np.ndarray


@njit(fastmath=FASTMATH, cache=CACHE)
def _search_work(H, V, k, L):
    S = k * L + 1
    return Search(np.zeros((S, V, 3)), np.zeros(S, dtype=np.int64), np.zeros(S, dtype=np.int64),
                  np.zeros((S, H), dtype=np.int8), np.zeros((S, 3, 3)), np.zeros((k, H), dtype=np.int8),
                  np.zeros((k, 3, 3)), _pieces(L, L * V, H), np.zeros((V, 3)), np.zeros((V, 3)))


@njit(fastmath=FASTMATH, cache=CACHE)
def _record(c, kind, orbit, path_side, out):
    n = out.counts[c]
    if n < out.kind.shape[1]:
        out.kind[c, n] = kind
        for j in range(orbit.shape[0]):
            out.orbit[c, n, j, 0] = orbit[j, 0]
            out.orbit[c, n, j, 1] = orbit[j, 1]
            for q in range(path_side.shape[1]):
                out.sides[c, n, j, q] = path_side[j, q]
    out.counts[c] = n + 1


@njit(fastmath=FASTMATH, cache=CACHE)
def _closes(lines, s1, T, n, sw):
    """Clip ``sw.cell[:n]`` to the points whose image under ``T`` lies in region ``s1``;
    returns the number of rays left (0: empty, -1: buffer too small)."""
    W, b = lines.W, lines.b
    u = np.empty(3)
    for q in range(W.shape[0]):
        eps = _line_form(W, b, q, T, u)
        sg = 1.0 if s1[q] == 1 else -1.0
        lo, hi = _range(sw.cell, n, u)
        if (sg > 0.0 and lo >= -eps) or (sg < 0.0 and hi <= eps):
            continue
        n = _clip(sw.cell, n, u, sg, eps, sw.tmp)
        if n <= 0:
            return n
        _copy_poly(sw.tmp, n, sw.cell)
    return n


@njit(fastmath=FASTMATH, cache=CACHE)
def _solve_orbit(lines, T, sw, orbit):
    """The fixed point of ``T`` and its orbit under ``sw.path_G``; False if singular or if a
    point lies outside its region (beyond the tolerance)."""
    A00 = 1.0 - T[0, 0]
    A01 = -T[0, 1]
    A10 = -T[1, 0]
    A11 = 1.0 - T[1, 1]
    det = A00 * A11 - A01 * A10
    scale = max(1.0, abs(A00), abs(A01), abs(A10), abs(A11))
    if abs(det) <= _SING_TOL * scale * scale:
        return False
    orbit[0, 0] = (A11 * T[0, 2] - A01 * T[1, 2]) / det
    orbit[0, 1] = (A00 * T[1, 2] - A10 * T[0, 2]) / det
    k = orbit.shape[0]
    for j in range(1, k):
        G = sw.path_G[j - 1]
        x, y = orbit[j - 1, 0], orbit[j - 1, 1]
        orbit[j, 0] = G[0, 0] * x + G[0, 1] * y + G[0, 2]
        orbit[j, 1] = G[1, 0] * x + G[1, 1] * y + G[1, 2]
    return True


@njit(fastmath=FASTMATH, cache=CACHE)
def _inside(lines, orbit, path_side):
    """Every orbit point in the closure of its region, within the enumerator's tolerance."""
    W, b = lines.W, lines.b
    scale_b = 1.0
    for q in range(b.shape[0]):
        scale_b = max(scale_b, abs(b[q]))
    for j in range(orbit.shape[0]):
        if not _in_region(W, b, lines.tol, scale_b, orbit, j, path_side, j):
            return False
    return True


@njit(fastmath=FASTMATH, cache=CACHE)
def _close(c, lines, k, T, nv, sw, out):
    """Depth k: does the sequence close, and does its cycle lie in its regions? Returns
    1 if the closing clip left something, 0 if not, -1 on a buffer overflow."""
    n = _closes(lines, sw.path_side[0], T, nv, sw)
    if n < 0:
        return -1
    if n == 0:
        return 0
    orbit = np.zeros((k, 2))
    if not _solve_orbit(lines, T, sw, orbit):
        _record(c, KIND_SINGULAR, np.zeros((k, 2)), sw.path_side, out)
    elif _inside(lines, orbit, sw.path_side):
        _record(c, KIND_ORBIT, orbit, sw.path_side, out)
    return 1


@njit(fastmath=FASTMATH, cache=CACHE)
def _push_kids(sw, top, n_kids, depth, T, s1):
    """Push the pieces of the last cut whose region is not before ``s1``; returns the new top."""
    kids = sw.kids
    for i in range(n_kids - 1, -1, -1):
        if _lex_less(kids.side[i], s1):
            continue
        top += 1
        r0, r1 = kids.start[i], kids.start[i + 1]
        _copy_poly(kids.rays[r0:r1], r1 - r0, sw.rays[top])
        sw.nv[top] = r1 - r0
        sw.depth[top] = depth
        sw.side[top, :] = kids.side[i]
        sw.T[top, :, :] = T
    return top


@njit(fastmath=FASTMATH, cache=CACHE)
def _search_cell(c, lines, k, rays0, cw, sw, out):
    """Every sequence starting in the region ``rays0`` (its cell); returns False on a buffer overflow."""
    nodes = out.nodes[c]
    # the first region's sides, read off its rays
    T0 = np.eye(3)
    cw_n = _classify(lines, rays0, rays0.shape[0], T0, cw)
    for q in range(cw_n):
        lo, hi = _range(rays0, rays0.shape[0], cw.U[q])
        cw.side[cw.strad[q]] = 1 if hi >= -lo else 0
    top = 0
    _copy_poly(rays0, rays0.shape[0], sw.rays[0])
    sw.nv[0] = rays0.shape[0]
    sw.depth[0] = 1
    sw.side[0, :] = cw.side
    sw.T[0, :, :] = T0
    G = np.empty((3, 3))
    Tn = np.empty((3, 3))
    while top >= 0:
        j = sw.depth[top]
        nv = sw.nv[top]
        sw.path_side[j - 1, :] = sw.side[top]
        _region_map(lines, sw.side[top], G)
        sw.path_G[j - 1, :, :] = G
        _matmul3(G, sw.T[top], Tn)
        nodes[j - 1] += 1
        if j == k:
            _copy_poly(sw.rays[top], nv, sw.cell)
            top -= 1
            st = _close(c, lines, k, Tn, nv, sw, out)
            if st < 0:
                return False
            nodes[k] += st
            continue
        kids = sw.kids
        kids.start[0] = 0
        n_kids = _cut(lines, sw.rays[top], nv, Tn, cw, kids, 0)
        if n_kids < 0 or top + n_kids >= sw.nv.shape[0]:
            return False
        top = _push_kids(sw, top - 1, n_kids, j + 1, Tn, sw.path_side[0])
    return True


@njit(parallel=True, fastmath=FASTMATH, cache=CACHE)
def _search_chunks(lines, k, cells, n_cells, V, L, out):
    n_chunks = out.counts.shape[0]
    H = lines.W.shape[0]
    for c in prange(n_chunks):
        cw = _cut_work(H, V)
        sw = _search_work(H, V, k, L)
        for i in range(c, n_cells, n_chunks):
            r0, r1 = cells.start[i], cells.start[i + 1]
            if not _search_cell(c, lines, k, cells.rays[r0:r1], cw, sw, out):
                out.overflow[c] = 1
                break


@njit(fastmath=FASTMATH, cache=CACHE)
def search(lines, k, cells, n_cells, n_chunks, cap, V, L):
    """Every k-cycle candidate whose first region is one of ``cells``.

    Parameters
    ----------
    lines : Lines
    k : int: the period.
    cells : Pieces: the regions (from :func:`regions`); ``n_cells`` of them.
    n_chunks, cap : int: chunks (cell ``i`` in chunk ``i % n_chunks``) and slots per chunk.
    V, L : int: most rays per cell, most pieces per cut (``overflow`` is set when too small).

    Returns
    -------
    Found
    """
    H = lines.W.shape[0]
    out = Found(np.zeros((n_chunks, cap, k, 2)), np.zeros((n_chunks, cap, k, H), dtype=np.int8),
                np.zeros((n_chunks, cap), dtype=np.int8), np.zeros(n_chunks, dtype=np.int64),
                np.zeros((n_chunks, k + 1), dtype=np.int64), np.zeros(n_chunks, dtype=np.int64))
    _search_chunks(lines, k, cells, n_cells, V, L, out)
    return out


# ---------------------------------------------------------------- any rank: sequences of regions
class Maps(NamedTuple):
    """Every region of an arrangement in ``ℝ^R`` (any R) with its affine map.

    Fields
    ------
    G : (n, R, R + 1): region ``i`` maps ``z ↦ G[i, :, :R] z + G[i, :, R]``.
    sides : (n, H) int8: its side (0/1) of every hyperplane.
    W : (H, R) unit normals; b : (H,) offsets.
    tol : float: relative tolerance of the membership check (as in :func:`_inside`).
    """

    G: np.ndarray
    sides: np.ndarray
    W: np.ndarray
    b: np.ndarray
    tol: float


class Sequences(NamedTuple):
    """Candidate cycles of :func:`sequences`, in per-chunk slots.

    Fields
    ------
    orbit : (n_chunks, cap, k, R)
    seq : (n_chunks, cap, k) int64: the regions visited (rows of ``Maps.G``)
    kind : (n_chunks, cap) int8: ``KIND_ORBIT`` or ``KIND_SINGULAR``
    counts : (n_chunks,) int64: may exceed ``cap`` (then rerun larger)
    nodes : (n_chunks, k + 1) int64: sequences of length 1..k examined, then (index k) solved
    """

    orbit: np.ndarray
    seq: np.ndarray
    kind: np.ndarray
    counts: np.ndarray
    nodes: np.ndarray


# The functions below run for every sequence (10⁸–10⁹ of them): they take whole arrays and
# indices, never slices, because every view made costs reference-count updates.

@njit(fastmath=FASTMATH, cache=CACHE)
def _compose(G, g, P, src, dst):
    """``P[dst] = G[g] ∘ P[src]`` for affine maps stored as (R, R + 1)."""
    R = G.shape[1]
    for i in range(R):
        for m in range(R + 1):
            s = G[g, i, R] if m == R else 0.0
            for l in range(R):
                s += G[g, i, l] * P[src, l, m]
            P[dst, i, m] = s


@njit(fastmath=FASTMATH, cache=CACHE)
def _fixed_point(P, t, B, orbit):
    """``orbit[0]``: the fixed point of the affine map ``P[t]`` (R, R + 1), by Gaussian
    elimination with partial pivoting on ``B = I − P[t, :, :R]``; False when
    ``|det B| ≤ _SING_TOL·max(1, max|B|)^R`` (the criterion of the rank-2 search)."""
    R = P.shape[1]
    scale = 1.0
    for i in range(R):
        orbit[0, i] = P[t, i, R]
        for m in range(R):
            B[i, m] = (1.0 if i == m else 0.0) - P[t, i, m]
            scale = max(scale, abs(B[i, m]))
    det = 1.0
    for col in range(R):
        p = col
        for i in range(col + 1, R):
            if abs(B[i, col]) > abs(B[p, col]):
                p = i
        if p != col:
            det = -det
            for m in range(R):
                tmp = B[col, m]
                B[col, m] = B[p, m]
                B[p, m] = tmp
            tmp = orbit[0, col]
            orbit[0, col] = orbit[0, p]
            orbit[0, p] = tmp
        piv = B[col, col]
        det *= piv
        if piv == 0.0:
            return False
        for i in range(col + 1, R):
            f = B[i, col] / piv
            for m in range(col + 1, R):
                B[i, m] -= f * B[col, m]
            orbit[0, i] -= f * orbit[0, col]
    lim = _SING_TOL
    for i in range(R):
        lim *= scale
    if abs(det) <= lim:
        return False
    for i in range(R - 1, -1, -1):
        s = orbit[0, i]
        for m in range(i + 1, R):
            s -= B[i, m] * orbit[0, m]
        orbit[0, i] = s / B[i, i]
    return True


@njit(fastmath=FASTMATH, cache=CACHE)
def _in_region(W, b, tol, scale_b, orbit, j, sides, row):
    """``orbit[j]`` in the closure of region ``row`` (``sides[row]``), within the tolerance."""
    R = orbit.shape[1]
    zmax = 0.0
    for i in range(R):
        zmax = max(zmax, abs(orbit[j, i]))
    thr = tol * (scale_b + zmax)
    for q in range(W.shape[0]):
        v = -b[q]
        for i in range(R):
            v += W[q, i] * orbit[j, i]
        if sides[row, q] == 1:
            if v < -thr:
                return False
        elif v > thr:
            return False
    return True


@njit(fastmath=FASTMATH, cache=CACHE)
def _orbit_inside(G, sides, W, b, tol, scale_b, seq, orbit):
    """Fill ``orbit[1:]`` from ``orbit[0]`` along ``seq``, checking each point as it comes."""
    k, R = orbit.shape
    for j in range(k):
        if j > 0:
            g = seq[j - 1]
            for i in range(R):
                s = G[g, i, R]
                for m in range(R):
                    s += G[g, i, m] * orbit[j - 1, m]
                orbit[j, i] = s
        if not _in_region(W, b, tol, scale_b, orbit, j, sides, seq[j]):
            return False
    return True


@njit(fastmath=FASTMATH, cache=CACHE)
def _orbit_scale(orbit):
    s = 0.0
    for j in range(orbit.shape[0]):
        for i in range(orbit.shape[1]):
            s = max(s, abs(orbit[j, i]))
    return 1.0 + s


@njit(fastmath=FASTMATH, cache=CACHE)
def _shift_distance(x, y, shift):
    """``max |x[(j + shift) % k] − y[j]|``."""
    k, R = x.shape
    d = 0.0
    for j in range(k):
        jj = (j + shift) % k
        for i in range(R):
            d = max(d, abs(x[jj, i] - y[j, i]))
    return d


@njit(fastmath=FASTMATH, cache=CACHE)
def _minimal(orbit, tol):
    """No proper divisor d of k with ``orbit[d] = orbit[0]`` within ``100·tol`` (relative): the
    same test as the Python layer's.  Fixed points on the boundary of many regions would otherwise
    be recorded from every pair of them."""
    k, R = orbit.shape
    lim = 100.0 * tol * _orbit_scale(orbit)
    for d in range(1, k):
        if k % d == 0:
            dist = 0.0
            for i in range(R):
                dist = max(dist, abs(orbit[d, i] - orbit[0, i]))
            if dist <= lim:
                return False
    return True


@njit(fastmath=FASTMATH, cache=CACHE)
def _seen_orbit(c, orbit, tol, out):
    """Chunk ``c`` already holds this cycle (any rotation) within ``100·tol`` (relative): a cycle
    through region boundaries is met from every sequence of adjacent regions."""
    k = orbit.shape[0]
    lim = 100.0 * tol * _orbit_scale(orbit)
    for m in range(min(out.counts[c], out.kind.shape[1])):
        if out.kind[c, m] != KIND_ORBIT:
            continue
        for shift in range(k):
            if _shift_distance(out.orbit[c, m], orbit, shift) <= lim:
                return True
    return False


@njit(fastmath=FASTMATH, cache=CACHE)
def _record_seq(c, kind, orbit, seq, out):
    n = out.counts[c]
    if n < out.kind.shape[1]:
        out.kind[c, n] = kind
        for j in range(orbit.shape[0]):
            out.seq[c, n, j] = seq[j]
            for i in range(orbit.shape[1]):
                out.orbit[c, n, j, i] = orbit[j, i] if kind == KIND_ORBIT else 0.0
    out.counts[c] = n + 1


@njit(fastmath=FASTMATH, cache=CACHE)
def _sequences_from(c, s1, maps, scale_b, k, P, seq, orbit, B, nodes, out):
    """Every sequence ``s1, s_2 … s_k`` with ``s_j ≥ s1`` (an odometer over the last k − 1
    places, the composed maps ``P[j]`` of the prefixes kept); ``maps`` as in :func:`sequences`."""
    G = maps.G
    n, R = G.shape[0], G.shape[1]
    seq[0] = s1
    for i in range(R):
        for m in range(R + 1):
            P[0, i, m] = G[s1, i, m]
    nodes[0] += 1
    j = 1
    if k > 1:
        seq[1] = s1 - 1
    while True:
        if k > 1:
            seq[j] += 1
            if seq[j] >= n:
                j -= 1
                if j == 0:
                    return
                continue
            _compose(G, seq[j], P, j - 1, j)
            nodes[j] += 1
            if j < k - 1:
                j += 1
                seq[j] = s1 - 1
                continue
        nodes[k] += 1
        if not _fixed_point(P, k - 1, B, orbit):
            _record_seq(c, KIND_SINGULAR, orbit, seq, out)
        elif _orbit_inside(G, maps.sides, maps.W, maps.b, maps.tol, scale_b, seq, orbit) and \
                _minimal(orbit, maps.tol) and not _seen_orbit(c, orbit, maps.tol, out):
            _record_seq(c, KIND_ORBIT, orbit, seq, out)
        if k == 1:
            return


@njit(parallel=True, fastmath=FASTMATH, cache=CACHE)
def _sequence_chunks(maps, k, out):
    n_chunks = out.counts.shape[0]
    n, R = maps.G.shape[0], maps.G.shape[1]
    scale_b = 1.0
    for q in range(maps.b.shape[0]):
        scale_b = max(scale_b, abs(maps.b[q]))
    for c in prange(n_chunks):
        P = np.empty((k, R, R + 1))
        seq = np.zeros(k, dtype=np.int64)
        orbit = np.zeros((k, R))
        B = np.empty((R, R))
        for s1 in range(c, n, n_chunks):
            _sequences_from(c, s1, maps, scale_b, k, P, seq, orbit, B, out.nodes[c], out)


@njit(fastmath=FASTMATH, cache=CACHE)
def sequences(maps, k, n_chunks, cap):
    """Every k-cycle candidate of a piecewise-affine map given by its regions (any rank R).

    Each sequence of k regions whose first region has the smallest index is
    solved (the fixed point of the composed map) and its orbit checked against
    its regions; a cycle is therefore met once per rotation that starts at its
    smallest region.  Exhaustive (no pruning): ``n (n + 1) / 2`` sequences for
    k = 2, about ``n^k / k`` in general.

    Parameters
    ----------
    maps : Maps
        ``G`` (n, R, R + 1), ``sides`` (n, H) int8, ``W`` (H, R), ``b`` (H,), ``tol``.
    k : int: the period.
    n_chunks, cap : int: chunks (first region ``i`` in chunk ``i % n_chunks``) and slots per chunk.

    Returns
    -------
    Sequences
    """
    R = maps.G.shape[1]
    out = Sequences(np.zeros((n_chunks, cap, k, R)), np.zeros((n_chunks, cap, k), dtype=np.int64),
                    np.zeros((n_chunks, cap), dtype=np.int8), np.zeros(n_chunks, dtype=np.int64),
                    np.zeros((n_chunks, k + 1), dtype=np.int64))
    _sequence_chunks(maps, k, out)
    return out
