"""Exhaustive enumeration of the arrangement's regions (``method="enumerate"``).

Turns a model into the hyperplanes where a unit changes slope, each with the
rank-one piece it adds to a region's linear system, and runs the parallel
kernels of :mod:`lowrank.kernels.arrangement` (the algorithm is described
there and in docs/design.md §5); :mod:`.regions` turns the candidates into
:class:`~lowrank.fixed_points.FixedPoints`.
"""
from __future__ import annotations

import math

import numpy as np

from ..inference.warmup import ensure_cached
from ..kernels import arrangement as _kernels
from ..model.equations import phi
from .regions import _finalize

# Fixed seeds for the generic directions, the tie-breaking perturbation and
# the membership-check order: results never depend on global random state.
_GEOMETRY_SEED = 20240517

# Which hyperplane of its unit a hyperplane is (the ``kind`` of :func:`_hyperplanes`): ``x + h = 0``
# (the side recorded in ``sA``), or ``x = 0`` (in ``sB``).
_PLANE_A = 0
_PLANE_B = 1


def _hyperplanes(M, N, h, c, activation):
    """Hyperplanes of the arrangement and their rank-one pieces.

    Returns W (H, R) unit normals, b (H,) offsets, Q (H, R, R), r (H, R),
    r0 (R,), unit (H,) owning unit, kind (H,) ``_PLANE_A`` for ``x + h = 0``, ``_PLANE_B``
    for ``x = 0``, and the mask of units with a zero row in M (constant input).
    """
    n_units, R = M.shape
    norms = np.linalg.norm(M, axis=1)
    flat = norms <= 1e-14 * max(float(norms.max(initial=0.0)), 1e-300)
    live = np.flatnonzero(~flat)
    outer = np.einsum("ui,uj->uij", N, M)
    W_l, b_l, Q_l, r_l, unit_l, kind_l = [], [], [], [], [], []
    for i in live:
        w = M[i] / norms[i]
        if activation == "clipped_relu":
            # x + h > 0: slope +1, constant h  →  rhs n_i (c − h + h)
            W_l.append(w); b_l.append(-c[i] / norms[i]); Q_l.append(outer[i]); r_l.append(N[i] * c[i])
            unit_l.append(i); kind_l.append(_PLANE_A)
            # x > 0: slope −1
            W_l.append(w); b_l.append((h[i] - c[i]) / norms[i]); Q_l.append(-outer[i])
            r_l.append(-N[i] * (c[i] - h[i])); unit_l.append(i); kind_l.append(_PLANE_B)
        else:
            W_l.append(w); b_l.append((h[i] - c[i]) / norms[i]); Q_l.append(outer[i])
            r_l.append(N[i] * (c[i] - h[i])); unit_l.append(i); kind_l.append(_PLANE_B)
    H = len(W_l)
    W = np.array(W_l, dtype=np.float64).reshape(H, R)
    b = np.array(b_l, dtype=np.float64).reshape(H)
    Q = np.ascontiguousarray(np.array(Q_l, dtype=np.float64).reshape(H, R, R))
    r = np.array(r_l, dtype=np.float64).reshape(H, R)
    r0 = (phi(activation, c - h, h) * flat) @ N
    return W, b, Q, r, r0, np.array(unit_l, dtype=np.int64), np.array(kind_l, dtype=np.int64), flat


def _geometry(H, R, b):
    rng = np.random.default_rng(_GEOMETRY_SEED)
    q, _ = np.linalg.qr(rng.standard_normal((R, R)))
    qdirs = np.ascontiguousarray(q.T)
    perm = rng.permutation(H).astype(np.int64)
    # Pull concurrent/identical hyperplanes apart for the combinatorics only.
    delta = 1e-9 * (1.0 + float(np.max(np.abs(b), initial=0.0)))
    bt = b + delta * rng.uniform(-1.0, 1.0, H)
    return qdirs, perm, bt


def _binom_table(H, R):
    tab = np.zeros((H + 2, R + 1), dtype=np.int64)
    for n in range(H + 2):
        for k in range(min(n, R) + 1):
            tab[n, k] = math.comb(n, k)
    return tab


def _run_kernel(kernel, n_items, arr, cap):
    n_chunks = int(max(1, min(n_items, 1024)))
    while True:
        out = kernel(arr, n_chunks, cap)
        if out.counts.max(initial=0) <= cap:
            return out, n_chunks
        cap = int(out.counts.max())


def _collect(out, n_chunks, level_offset):
    zbuf, sidebuf, kindbuf, itembuf, counts, stats = out
    keys, sides, kinds = [], [], []
    for ch in range(n_chunks):
        for s in range(int(counts[ch])):
            keys.append((level_offset, int(itembuf[ch, s]), s))
            sides.append(sidebuf[ch, s])
            kinds.append(int(kindbuf[ch, s]))
    return keys, sides, kinds, int(stats[:, 0].sum()), int(stats[:, 1].sum())


def _run_levels(W, b, Q, r, r0, a, tol):
    """Run both kernels; returns the candidates' sides and kinds in a fixed order, regions, vertices."""
    H, R = W.shape
    ensure_cached(("fixed_points",))
    qdirs, perm, bt = _geometry(H, R, b)
    binom = _binom_table(H, R)
    oma = np.ascontiguousarray(1.0 - a)
    arr = _kernels.Arrangement(W, b, bt, Q, r, r0, oma, qdirs, perm, float(tol), binom)
    n_lines = math.comb(H, R - 1) if H >= R - 1 else 0
    n_direct = sum(math.comb(H, k) for k in range(0, min(R - 2, H) + 1)) if R >= 2 else 0
    out_d, nch_d = _run_kernel(_kernels.direct_levels, n_direct, arr, 8)
    out_l, nch_l = _run_kernel(_kernels.walk_lines, n_lines, arr, 8)
    kd, sd, kid, reg_d, _ = _collect(out_d, nch_d, 0)
    kl, sl, kil, reg_l, vert = _collect(out_l, nch_l, 1)
    keys = kd + kl
    order = sorted(range(len(keys)), key=lambda i: keys[i])
    sides, kinds = sd + sl, kid + kil
    return [sides[i] for i in order], [kinds[i] for i in order], reg_d + reg_l, vert


def region_sides(M, N, h, a, c, activation):
    """Every region of the arrangement of a (validated) model, with the pieces of its affine map.

    Returns
    -------
    sides : (n_regions, H) int8
        Each region's side of every hyperplane, in a fixed order (regions the
        enumerator's tie-breaking perturbation creates, slivers, included).
    W, b, Q, r, r0 :
        As from :func:`_hyperplanes`: in region ``s`` the map is
        ``z ↦ (diag(a) + Σ_j s_j Q_j) z + r0 + Σ_j s_j r_j``.
    """
    W, b, Q, r, r0, _, _, _ = _hyperplanes(M, N, h, c, activation)
    sides, _, _, _ = _run_levels(W, b, Q, r, r0, a, np.inf)
    S = np.array(sides, dtype=np.int8).reshape(len(sides), W.shape[0])
    return S, W, b, Q, r, r0


def _enumerate(M, N, h, a, c, activation, tol):

    n_units, R = M.shape
    W, b, Q, r, r0, unit, kind, flat = _hyperplanes(M, N, h, c, activation)
    H = W.shape[0]
    sides, kinds, n_regions, vert = _run_levels(W, b, Q, r, r0, a, tol)
    n = len(sides)
    x_flat = c - h
    sA = np.zeros((n, n_units), dtype=np.int8)
    sB = np.zeros((n, n_units), dtype=np.int8)
    # units with no hyperplane sit on a fixed side everywhere
    sA[:, flat] = (x_flat + h > 0)[flat]
    sB[:, flat] = (x_flat > 0)[flat]
    singular = np.zeros(n, dtype=bool)
    for row, sv in enumerate(sides):
        sA[row, unit[kind == _PLANE_A]] = sv[kind == _PLANE_A]
        sB[row, unit[kind == _PLANE_B]] = sv[kind == _PLANE_B]
        singular[row] = kinds[row] == _kernels.KIND_SINGULAR
    return _finalize(M, N, h, a, c, activation, sA, sB, singular, tol, method="enumerate", exhaustive=True,
                     n_vertices=vert, n_regions=n_regions, n_solved=n_regions, n_hyperplanes=H)
