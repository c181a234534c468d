"""Exact k-cycles of the noise-free latent map (``relu`` and ``clipped_relu``).

At R = 2 a pruned search cuts cells of the plane; at other ranks (R = 3 in
practice) every sequence of regions is solved (:func:`lowrank.kernels.cycles.sequences`
over the regions of :func:`lowrank.fixed_points.enumerate.region_sides`).
See :mod:`lowrank.kernels.cycles` for the searches; this module builds their
lines from the model (the same hyperplanes as the fixed-point enumerator,
:func:`lowrank.fixed_points.enumerate._hyperplanes`), checks and
deduplicates what it finds, keeps minimal periods only, and labels
stability from the multipliers (eigenvalues of the product of the
Jacobians along the orbit).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._checks import as_float_array, check_int
from ..fixed_points.enumerate import _hyperplanes, region_sides
from ..fixed_points.regions import _eigs, _point_sides, _region_pieces, _stability, _validate, zaslavsky_bound
from ..kernels import cycles as _kernels

__all__ = ["Cycles", "CycleContinuum", "find_cycles", "model_arrays", "latent_map"]

MAX_PERIOD = 8
# Most sequences of regions (≈ n_regions^k / k) the any-rank search may try (~10 ns each).
MAX_SEQUENCES = 2e10


@dataclass(frozen=True)
class CycleContinuum:
    """A family of k-cycles that is not isolated (a singular cycle system).

    Found by :func:`find_cycles` (its ``continuum``), not built by hand.

    Parameters
    ----------
    pattern : (k, n_units) int8
        The regions visited (codes as in ``FixedPoints.pattern``).
    orbit : (k, R) float64
        One cycle of the family.
    directions : (R, d) float64
        Null space of ``I − A`` (``A`` the composed map's matrix): the family's
        first points are ``orbit[0] + directions @ y`` within the regions.
    extent : tuple of float or None
        For ``d == 1`` the interval of ``y`` that keeps the orbit in its regions.

    Examples
    --------
    >>> import lowrank.dynamics as dyn
    >>> bistable = lowrank.teachers.get("bistable").model
    >>> dyn.find_cycles(bistable, period=2).continuum       # isolated cycles only, here
    ()
    """

    pattern: np.ndarray
    orbit: np.ndarray
    directions: np.ndarray
    extent: object

    def to_dict(self):
        ext = None if self.extent is None else [float(v) if math.isfinite(v) else str(v) for v in self.extent]
        return {"pattern": self.pattern.astype(int).tolist(), "orbit": self.orbit.tolist(),
                "directions": self.directions.tolist(), "extent": ext}


@dataclass(frozen=True, repr=False)
class Cycles:
    """The k-cycles of minimal period k of ``F(z) = a ⊙ z + Nᵀ φ(M z + c − h)``.

    What :func:`find_cycles` returns.

    Parameters
    ----------
    period : int
        k.
    orbits : (n, k, R) float64
        Each cycle's points in visiting order, starting at its
        lexicographically smallest point; cycles sorted by that point.
    patterns : (n, k, n_units) int8
        Region of every orbit point (a point on a boundary counts on the lower
        piece, as in :class:`~lowrank.fixed_points.FixedPoints`).
    multipliers : (n, R) complex128
        Eigenvalues of ``J(z_k) ⋯ J(z_1)``, by decreasing modulus.
    stability : tuple of str
        ``"stable"`` (all ``|μ| < 1``), ``"unstable"`` (all ``|μ| > 1``), ``"saddle"``.
    on_boundary : (n,) bool
        Some orbit point lies on a region boundary (the labels are then indicative).
    continuum : tuple of CycleContinuum
        Families of k-cycles (singular cycle systems), reported, not dropped.
    n_regions : int
        Regions of the arrangement (the first element of a sequence).
    n_cells : (k,) int64
        Sequences of length 1..k examined (R = 2: non-empty cells of the
        search; other R: every prefix whose first region is its smallest).
    n_closed : int
        Sequences of length k solved (R = 2: whose cell meets the first region
        again).
    n_sequences : int
        Every sequence of k regions, ``n_regions ** k``, for comparison.

    Examples
    --------
    >>> import lowrank.dynamics as dyn
    >>> bistable = lowrank.teachers.get("bistable").model
    >>> fixed = dyn.find_cycles(bistable, period=1)           # 1-cycles: the fixed points
    >>> fixed
    Cycles(period=1, n=3, continua=0, regions=7, closed=7)
    >>> fixed.stability
    ('stable', 'saddle', 'stable')
    >>> fixed.orbits.shape                                     # (n, k, R)
    (3, 1, 2)
    """

    period: int
    orbits: np.ndarray
    patterns: np.ndarray
    multipliers: np.ndarray
    stability: tuple
    on_boundary: np.ndarray
    continuum: tuple
    n_regions: int
    n_cells: np.ndarray
    n_closed: int
    n_sequences: int

    def __len__(self):
        return int(self.orbits.shape[0])

    def __repr__(self):
        return (f"Cycles(period={self.period}, n={len(self)}, continua={len(self.continuum)}, "
                f"regions={self.n_regions}, closed={self.n_closed})")

    def to_dict(self):
        return {"period": self.period, "orbits": self.orbits.tolist(),
                "patterns": self.patterns.astype(int).tolist(),
                "multipliers": [[[float(v.real), float(v.imag)] for v in m] for m in self.multipliers],
                "stability": list(self.stability), "on_boundary": [bool(v) for v in self.on_boundary],
                "continuum": [cn.to_dict() for cn in self.continuum], "n_regions": self.n_regions,
                "n_cells": [int(v) for v in self.n_cells], "n_closed": self.n_closed,
                "n_sequences": self.n_sequences}


# ---------------------------------------------------------------- the model's arrays
def model_arrays(model_or_arrays, inputs=None, activation="relu", c=None):
    """``(M, N, h, a, c, activation)`` of a model (and constant input) or of given arrays.

    Parameters
    ----------
    model_or_arrays : LowRankRNN or tuple (M, N, h, a)
        A model (its ``m, n, h, a`` and activation; ``c = W_u u``) or the arrays.
    inputs : (U,) array_like, optional
        Constant input of a model with inputs (zeros by default).
    activation, c :
        With arrays only: the activation and the constant current ``c`` (n_units,).

    Returns
    -------
    tuple
        ``M, N`` (n_units, R), ``h`` (n_units,), ``a`` (R,), ``c`` (n_units,) and the
        activation's name, checked: the form :func:`latent_map`, :func:`find_cycles`
        and :func:`~lowrank.dynamics.lyapunov_exponent` take.

    Examples
    --------
    >>> import lowrank.dynamics as dyn
    >>> M, N, h, a, c, activation = dyn.model_arrays(lowrank.teachers.get("bistable").model)
    >>> M.shape, activation
    ((3, 2), 'relu')
    """
    if hasattr(model_or_arrays, "params") and hasattr(model_or_arrays, "options"):
        o, p = model_or_arrays.options, model_or_arrays.params
        c = None
        if o.n_inputs:
            u = np.zeros(o.n_inputs) if inputs is None else as_float_array("inputs", inputs, (1,), o.n_inputs,
                                                                           "n_inputs")
            c = p.W_u @ u
        elif inputs is not None and np.size(inputs):
            raise ValueError("inputs were given but the model has n_inputs=0")
        return _validate(p.m, p.n, p.h, p.a, o.activation, c)
    if not isinstance(model_or_arrays, (tuple, list)) or len(model_or_arrays) != 4:
        raise TypeError("model_or_arrays must be a LowRankRNN or a tuple (M, N, h, a); "
                        f"got {type(model_or_arrays).__name__}")
    if inputs is not None:
        raise ValueError("inputs need a model; with arrays give the current c instead")
    return _validate(*model_or_arrays, activation, c)


def latent_map(arrays, Z):
    """The noise-free latent map ``F(Z) = a ⊙ Z + Nᵀ φ(M Z + c − h)``, point by point.

    Parameters
    ----------
    arrays : tuple
        ``(M, N, h, a, c, activation)`` from :func:`model_arrays`.
    Z : (..., R) array_like
        Points of the latent space.

    Returns
    -------
    (..., R) ndarray
        Their images.

    Examples
    --------
    >>> import lowrank.dynamics as dyn
    >>> bistable = lowrank.teachers.get("bistable").model
    >>> arrays = dyn.model_arrays(bistable)
    >>> z = dyn.find_cycles(bistable, period=1).orbits[0, 0]  # a fixed point
    >>> bool(np.allclose(dyn.latent_map(arrays, z), z))
    True
    """
    from ..model.equations import phi
    M, N, h, a, c, activation = arrays
    return Z * a + phi(activation, Z @ M.T + (c - h), h) @ N


# ---------------------------------------------------------------- the kernel's input
def _lines(M, N, h, a, c, activation, tol):
    """The kernel's :class:`~lowrank.kernels.cycles.Lines`, with extra lines of no effect
    (zero pieces) where the normals do not span the plane, and the quadrants' rays."""
    W, b, Q, r, r0, _, _, _ = _hyperplanes(M, N, h, c, activation)
    H0 = W.shape[0]
    extra = []
    if H0 == 0:
        extra = [np.array([1.0, 0.0]), np.array([0.0, 1.0])]
    elif np.linalg.matrix_rank(W, tol=1e-8) < 2:
        extra = [np.array([-W[0, 1], W[0, 0]])]
    if extra:
        W = np.vstack([W] + [e[None] for e in extra])
        b = np.concatenate([b, np.zeros(len(extra))])
        Q = np.concatenate([Q, np.zeros((len(extra), 2, 2))])
        r = np.vstack([r, np.zeros((len(extra), 2))])
    base = np.hstack([np.diag(a), r0[:, None]])
    lines = _kernels.Lines(np.ascontiguousarray(W), np.ascontiguousarray(b), np.ascontiguousarray(Q),
                           np.ascontiguousarray(r), base, float(tol))
    return lines, H0, _quadrants(W, b)


def _quadrants(W, b):
    """Rays (4, 3, 3) of the four quadrants of the best-crossing pair of lines (they cover the plane)."""
    cross = np.abs(W[0, 0] * W[:, 1] - W[0, 1] * W[:, 0])
    i1 = int(np.argmax(cross))
    P = W[[0, i1]]
    v = np.linalg.solve(P, b[[0, i1]])
    d0 = np.array([-P[0, 1], P[0, 0]])          # along line 0
    d1 = np.array([-P[1, 1], P[1, 0]])          # along line i1
    d0 *= np.sign(P[1] @ d0)
    d1 *= np.sign(P[0] @ d1)
    vh = np.append(v, 1.0)
    vh /= np.linalg.norm(vh)
    quads = np.zeros((4, 3, 3))
    for q, (s0, s1) in enumerate(((1, 1), (1, -1), (-1, 1), (-1, -1))):
        quads[q, 0] = vh
        quads[q, 1, :2] = s1 * d0 / np.linalg.norm(d0)
        quads[q, 2, :2] = s0 * d1 / np.linalg.norm(d1)
    return quads


def _region_cells(lines):
    H = lines.W.shape[0]
    n_pieces = 2 * zaslavsky_bound(H, 2) + 16
    while True:
        cells, n = _kernels.regions(lines, _quadrants(lines.W, lines.b), H + 8, n_pieces, 8 * n_pieces)
        if n >= 0:
            return cells, n
        n_pieces *= 2


def _run_search(lines, k, cells, n_cells):
    H = lines.W.shape[0]
    n_chunks = int(max(1, min(n_cells, 256)))
    cap, V, L = 8, min(64, k * H + 8), 256
    while True:
        out = _kernels.search(lines, k, cells, n_cells, n_chunks, cap, V, L)
        if out.overflow.max() == 0 and out.counts.max() <= cap:
            return out
        if out.overflow.max():
            V, L = min(2 * V, k * H + 8), 2 * L
        cap = max(cap, int(out.counts.max()))


# ---------------------------------------------------------------- any rank: every sequence of regions
def _region_maps(arrays, tol):
    """The regions of the fixed-point enumerator's arrangement with their maps: the kernel's
    :class:`~lowrank.kernels.cycles.Maps` and the :class:`~lowrank.kernels.cycles.Lines` of the
    checks (``base`` (R, R + 1))."""
    M, N, h, a, c, activation = arrays
    S, W, b, Q, r, r0 = region_sides(M, N, h, a, c, activation)
    R = M.shape[1]
    H = W.shape[0]
    Sf = S.astype(np.float64)
    G = np.empty((S.shape[0], R, R + 1))
    G[:, :, :R] = np.diag(a)[None] + (Sf @ Q.reshape(H, R * R)).reshape(-1, R, R)
    G[:, :, R] = r0[None] + Sf @ r
    maps = _kernels.Maps(G, np.ascontiguousarray(S), np.ascontiguousarray(W), np.ascontiguousarray(b),
                         float(tol))
    lines = _kernels.Lines(maps.W, maps.b, np.ascontiguousarray(Q), np.ascontiguousarray(r),
                           np.hstack([np.diag(a), r0[:, None]]), float(tol))
    return maps, lines


def _run_sequences(maps, k):
    n = maps.G.shape[0]
    n_chunks, cap = int(max(1, min(n, 256))), 8
    while True:
        out = _kernels.sequences(maps, k, n_chunks, cap)
        if out.counts.max() <= cap:
            return out
        cap = int(out.counts.max())


def _check_size(arrays, k):
    """Refuse a search over more sequences than :data:`MAX_SEQUENCES` (before enumerating)."""
    M, _, _, _, _, activation = arrays
    n_units, R = M.shape
    H = n_units * (2 if activation == "clipped_relu" else 1)
    n_reg = zaslavsky_bound(H, R)
    n_seq = n_reg ** k / k
    if n_seq > MAX_SEQUENCES:
        raise ValueError(f"find_cycles at rank R = {R} tries every sequence of k regions: up to {n_reg} regions, "
                         f"about {n_seq:.3g} sequences for period {k}, more than the limit {MAX_SEQUENCES:.3g}; "
                         "use a smaller network or period (the pruned search is for R = 2 only)")


# ---------------------------------------------------------------- checking what the search found
def _region_affine(arrays, lines, sides):
    """``(A, c)`` of the region map with sides ``sides`` (H_lines,)."""
    R = lines.W.shape[1]
    A = lines.base[:, :R] + np.einsum("j,jab->ab", sides.astype(float), lines.Q)
    cvec = lines.base[:, R] + sides.astype(float) @ lines.r
    return A, cvec


def _jacobian(arrays, z, tol):
    M, N, h, a, c, activation = arrays
    sA, sB, on_b = _point_sides(M, h, c, activation, z, tol)
    slope, _, code = _region_pieces(activation, h, sA[None], sB[None])
    return np.diag(a) + (N.T * slope[0][None, :]) @ M, code[0], on_b


def _scale(orbit):
    return 1.0 + float(np.max(np.abs(orbit)))


def _is_cycle(arrays, orbit, tol):
    """The orbit is one of F, to ``1e-7`` (relative)."""
    nxt = latent_map(arrays, orbit)
    return float(np.max(np.abs(nxt - np.roll(orbit, -1, axis=0)))) <= 1e-7 * _scale(orbit)


def _minimal(orbit, dtol):
    k = orbit.shape[0]
    return not any(k % d == 0 and np.max(np.abs(orbit[d] - orbit[0])) <= dtol * _scale(orbit) for d in range(1, k))


def _canonical(orbit):
    """The rotation starting at the lexicographically smallest point."""
    i = min(range(orbit.shape[0]), key=lambda j: tuple(np.round(orbit[j], 9)))
    return np.roll(orbit, -i, axis=0)


def _same_cycle(x, y, dtol):
    s = dtol * max(_scale(x), _scale(y))
    return any(np.max(np.abs(np.roll(x, -i, axis=0) - y)) <= s for i in range(x.shape[0]))


def _seq_affine(arrays, lines, sides):
    """Composed map of a sequence: (A, c) with z_{k+1} = A z_1 + c, and each step's (A_j, c_j)."""
    steps = [_region_affine(arrays, lines, s) for s in sides]
    R = lines.W.shape[1]
    A, cvec = np.eye(R), np.zeros(R)
    for Aj, cj in steps:
        A, cvec = Aj @ A, Aj @ cvec + cj
    return A, cvec, steps


def _continuum(arrays, lines, sides, tol):
    """A family of cycles of a singular sequence, or None (inconsistent or outside the regions)."""
    from scipy.optimize import linprog
    A, cvec, steps = _seq_affine(arrays, lines, sides)
    B = np.eye(A.shape[0]) - A
    _, s, Vt = np.linalg.svd(B)
    null = s <= 1e-9 * max(float(s[0]), 1.0)
    if not np.any(null):
        return None
    zp = np.linalg.lstsq(B, cvec, rcond=None)[0]
    if np.linalg.norm(B @ zp - cvec) > 1e-8 * (1.0 + np.linalg.norm(cvec)):
        return None
    V = Vt[null].T
    # orbit point j is P_j + D_j y; region constraints sg·(w·z − b) ≥ −tol·scale as G y ≥ g
    P, D, rows, rhs = zp.copy(), V.copy(), [], []
    scale_b = max(1.0, float(np.max(np.abs(lines.b))))
    for j, (Aj, cj) in enumerate(steps):
        sg = np.where(sides[j] == 1, 1.0, -1.0)
        val = lines.W @ P - lines.b
        rows.append(sg[:, None] * (lines.W @ D))
        rhs.append(-sg * val - tol * (scale_b + np.max(np.abs(P))))
        P, D = Aj @ P + cj, Aj @ D
    G, g = np.vstack(rows), np.concatenate(rhs)
    d = V.shape[1]
    cost = np.zeros(d + 1)
    cost[-1] = -1.0
    res = linprog(cost, A_ub=np.hstack([-G, np.ones((G.shape[0], 1))]), b_ub=-g,
                  bounds=[(None, None)] * d + [(None, 1.0)], method="highs")
    if res.status != 0 or res.x[-1] < -1e-12:
        return None
    y = res.x[:d]
    extent = None
    if d == 1:
        col, lo, hi = G[:, 0], -np.inf, np.inf
        for gi, bi in zip(col, g):
            if gi > 1e-14:
                lo = max(lo, bi / gi)
            elif gi < -1e-14:
                hi = min(hi, bi / gi)
        if np.isfinite(lo) and np.isfinite(hi):
            y = np.array([0.5 * (lo + hi)])
        extent = (lo - y[0], hi - y[0])
    # a member of minimal period k: the LP's point may be a lower-period one (e.g. the centre of a
    # rotation), so try points moved along the family's directions, inside the regions
    scale = 1.0 + float(np.max(np.abs(zp)))
    tries = [y] + [y + sg * st * scale * e for st in (1.0, 0.1, 0.01) for e in np.eye(d) for sg in (1.0, -1.0)]
    for yy in tries:
        if np.all(G @ yy >= g - 1e-12):
            orbit = _orbit(zp + V @ yy, steps)
            if _minimal(orbit, 1e-7):
                if extent is not None:
                    extent = (extent[0] + y[0] - yy[0], extent[1] + y[0] - yy[0])
                return orbit, V, extent
    return None


def _orbit(z, steps):
    orbit = [z]
    for Aj, cj in steps[:-1]:
        orbit.append(Aj @ orbit[-1] + cj)
    return np.array(orbit)


def _found_plane(out):
    """``(kind, orbit, sides)`` of every slot of the rank-2 search, in slot order."""
    for ch in range(out.counts.shape[0]):
        for s in range(int(out.counts[ch])):
            yield out.kind[ch, s], out.orbit[ch, s], out.sides[ch, s]


def _found_sequences(out, sides):
    """``(kind, orbit, sides)`` of every slot of :func:`lowrank.kernels.cycles.sequences`."""
    for ch in range(out.counts.shape[0]):
        for s in range(int(out.counts[ch])):
            yield out.kind[ch, s], out.orbit[ch, s], sides[out.seq[ch, s]]


def _collect(arrays, lines, found, k, tol):
    """Isolated cycles (orbit arrays) and continua of minimal period k from the kernel's candidates
    ``found``, an iterable of ``(kind, orbit (k, R), sides (k, H))``."""
    dtol = 100.0 * tol
    orbits, continua = [], []
    for kind, orbit, sides in found:
        if kind == _kernels.KIND_SINGULAR:
            fam = _continuum(arrays, lines, sides, tol)
            if fam is None:
                continue
            if not any(_same_cycle(fam[0], o[0], 1e6 * dtol) or _on_family(fam[0][0], o) for o in continua):
                continua.append(fam)
            continue
        if not _is_cycle(arrays, orbit, tol) or not _minimal(orbit, dtol):
            continue
        orbit = _canonical(orbit)
        if not any(_same_cycle(orbit, o, dtol) for o in orbits):
            orbits.append(orbit)
    orbits = [o for o in orbits if not any(any(_on_family(p, cn) for p in o) for cn in continua)]
    return orbits, continua


def _on_family(z, cn):
    orbit, V, extent = cn
    d = z - orbit[0]
    resid = d - V @ (V.T @ d)
    if np.linalg.norm(resid) > 1e-7 * (1.0 + np.linalg.norm(z)):
        return False
    if extent is None:
        return True
    y = float(V[:, 0] @ d)
    return extent[0] - 1e-7 * (1 + abs(y)) <= y <= extent[1] + 1e-7 * (1 + abs(y))


def _label(arrays, orbits, k, tol):
    M = arrays[0]
    n_units, R = M.shape
    n = len(orbits)
    O = np.array(orbits, dtype=np.float64).reshape(n, k, R)
    order = sorted(range(n), key=lambda i: tuple(np.round(O[i].ravel(), 12)))
    O = O[order]
    P = np.zeros((n, k, n_units), dtype=np.int8)
    mult = np.zeros((n, R), dtype=np.complex128)
    ob = np.zeros(n, dtype=bool)
    for i in range(n):
        prod = np.eye(R)
        for j in range(k):
            J, code, on_b = _jacobian(arrays, O[i, j], tol)
            prod = J @ prod
            P[i, j] = code
            ob[i] |= on_b
        mult[i] = _eigs(prod)
    return O, P, mult, tuple(_stability(m) for m in mult), ob


def find_cycles(model_or_arrays, period=2, *, inputs=None, activation="relu", c=None, tol=1e-9):
    """Every cycle of minimal period ``period`` of the noise-free latent map, exactly.

    Parameters
    ----------
    model_or_arrays : LowRankRNN or tuple (M, N, h, a)
        The map ``F(z) = a ⊙ z + Nᵀ φ(M z + c − h)`` (``M, N`` (n_units, R),
        ``h`` (n_units,), ``a`` scalar or (R,)).
    period : int
        k, 1 to 8 (1 gives the fixed points again, as cycles).
    inputs : (U,) array_like, optional
        A model's constant input (``c = W_u u``).
    activation : {"relu", "clipped_relu"}
        With arrays only (a model says its own).
    c : (n_units,) array_like, optional
        With arrays only: constant current.
    tol : float
        Relative tolerance of the region checks (as in
        :func:`lowrank.fixed_points.find_fixed_points`); orbits closer than
        ``100·tol`` (relative) count as one.

    Returns
    -------
    Cycles

    Examples
    --------
    >>> import lowrank.dynamics as dyn
    >>> bistable = lowrank.teachers.get("bistable").model
    >>> dyn.find_cycles(bistable, period=2)                   # no 2-cycle: two stable points
    Cycles(period=2, n=0, continua=0, regions=7, closed=7)

    Raises
    ------
    ValueError
        For ``tanh``, a period out of range, or (R ≠ 2) a search of more than
        :data:`MAX_SEQUENCES` sequences.

    Notes
    -----
    Exhaustive.  R = 2: every sequence of regions whose cell is not empty is
    examined, and every sequence that can close is solved.  Other R: every
    sequence whose first region is its smallest is solved (``n (n + 1) / 2``
    for k = 2, ``n`` regions; at R = 3 practical for k = 2 up to about
    N = 50 relu units, k = 3 for a few hundred regions).  The work is
    reported in ``n_cells`` and ``n_closed`` against ``n_sequences``.  The
    result does not depend on the number of threads.
    """
    arrays = model_arrays(model_or_arrays, inputs, activation, c)
    M, N, h, a, cc, act = arrays
    k = check_int("period", period, 1)
    if k > MAX_PERIOD:
        raise ValueError(f"period must be <= {MAX_PERIOD}; got {k}")
    if act not in ("relu", "clipped_relu"):
        raise ValueError(f"find_cycles needs a piecewise-linear activation ('relu' or 'clipped_relu'); got {act!r}")
    if M.shape[1] == 2:
        lines, _, _ = _lines(M, N, h, a, cc, act, tol)
        cells, n_cells = _region_cells(lines)
        out = _run_search(lines, k, cells, n_cells)
        found = _found_plane(out)
    else:
        _check_size(arrays, k)
        maps, lines = _region_maps(arrays, tol)
        n_cells = maps.G.shape[0]
        out = _run_sequences(maps, k)
        found = _found_sequences(out, maps.sides)
    orbits, continua = _collect(arrays, lines, found, k, tol)
    O, P, mult, stab, ob = _label(arrays, orbits, k, tol)
    fams = []
    for orbit, V, extent in continua:
        pat = np.array([_jacobian(arrays, z, tol)[1] for z in orbit], dtype=np.int8)
        fams.append(CycleContinuum(pattern=pat, orbit=orbit, directions=V, extent=extent))
    nodes = out.nodes.sum(axis=0)
    return Cycles(period=k, orbits=O, patterns=P, multipliers=mult, stability=stab, on_boundary=ob,
                  continuum=tuple(fams), n_regions=int(n_cells), n_cells=nodes[:k].astype(np.int64),
                  n_closed=int(nodes[k]), n_sequences=int(n_cells) ** k)
