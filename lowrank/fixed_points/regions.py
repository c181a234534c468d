"""Fixed-point results and the region algebra shared by every finder.

A region of the arrangement is a pattern of unit slopes. This module turns a
pattern into its R×R linear system, checks that a solution lies in its
region, labels stability, and packs what a finder found into
:class:`FixedPoints` (docs/design.md §5).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from .._checks import as_float_array, check_choice, check_float

ACTIVATIONS = ("relu", "clipped_relu", "tanh")

# ----------------------------------------------------------------------------
# result objects
# ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Continuum:
    """A set of fixed points that is not isolated (a singular region system).

    Attributes
    ----------
    pattern : (n_units,) int8
        The region's pattern (same coding as ``FixedPoints.pattern``).
    point : (R,) float64
        One fixed point of the continuum inside the region.
    directions : (R, d) float64
        Orthonormal basis of the null space: the continuum is
        ``point + directions @ y`` intersected with the region.
    extent : tuple of float or None
        For ``d == 1``, the interval of ``y`` that stays in the region
        (may be infinite); None otherwise.
    eigenvalues : (R,) complex128
        Eigenvalues of the region's Jacobian (one of them is 1).
    """

    pattern: np.ndarray
    point: np.ndarray
    directions: np.ndarray
    extent: Optional[tuple]
    eigenvalues: np.ndarray

    def to_dict(self):
        return {
            "pattern": self.pattern.astype(int).tolist(),
            "point": self.point.tolist(),
            "directions": self.directions.tolist(),
            "extent": None if self.extent is None else [_json_float(v) for v in self.extent],
            "eigenvalues": [[float(v.real), float(v.imag)] for v in self.eigenvalues],
        }


@dataclass(frozen=True, repr=False)
class FixedPoints:
    """Fixed points of ``F(z) = a ⊙ z + Nᵀ φ(M z + c − h)``.

    Attributes
    ----------
    z : (n_fp, R) float64
        Positions, sorted lexicographically.
    pattern : (n_fp, n_units) int8
        Per unit: ``relu`` 0 = off, 1 = on; ``clipped_relu`` 0 = below both
        breakpoints, 1 = linear piece (between them), 2 = saturated (above
        both); ``tanh`` 1 where the pre-activation is positive (informative
        only).
    jacobian : (n_fp, R, R) float64
        ``diag(a) + Nᵀ diag(φ') M`` at each fixed point.
    eigenvalues : (n_fp, R) complex128
        Eigenvalues of the Jacobian, sorted by decreasing modulus.
    stability : tuple of str
        ``"stable"`` (all ``|λ| < 1``), ``"unstable"`` (all ``|λ| > 1``) or
        ``"saddle"`` (otherwise).
    continuum : tuple of Continuum
        Continua of fixed points (singular region systems with a consistent
        solution inside the region), reported rather than dropped.
    n_vertices, n_regions_checked, n_systems_solved : int
        Work done: arrangement vertices visited, regions (or patterns, for
        brute force) examined, linear systems solved.  The enumerator works
        on the arrangement with its offsets perturbed by ~1e-9 (relative),
        which is in general position: in general position this is exactly
        Σ_{k≤R} C(H, k) minus the subsets with parallel normals; where
        hyperplanes are concurrent (e.g. clipped relu with ``c = 0``, whose
        ``x + h = 0`` hyperplanes all pass through the origin) it also
        counts the tiny sliver regions the perturbation creates.
    exhaustive : bool
        True when every region was examined (enumeration or brute force);
        False for Newton's method.
    activation, method : str
    n_hyperplanes : int
    on_boundary : (n_fp,) bool
        The point lies on a hyperplane (within tolerance).  Its pattern and
        Jacobian then count every unit sitting exactly on a breakpoint as
        being on the lower piece (the convention relu'(0) = 0); the map is
        not differentiable there, so the label is indicative only.  With
        ``clipped_relu`` and ``c = 0`` the origin is always such a point.
    """

    z: np.ndarray
    pattern: np.ndarray
    jacobian: np.ndarray
    eigenvalues: np.ndarray
    stability: tuple
    continuum: tuple
    n_vertices: int
    n_regions_checked: int
    n_systems_solved: int
    exhaustive: bool
    activation: str = "relu"
    method: str = "enumerate"
    n_hyperplanes: int = 0
    on_boundary: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))

    def __len__(self):
        return int(self.z.shape[0])

    def summary(self):
        """A header line plus :func:`format_table`."""
        head = (
            f"FixedPoints: {len(self)} fixed point(s), {len(self.continuum)} continuum(a); "
            f"activation={self.activation}, method={self.method}, "
            f"hyperplanes={self.n_hyperplanes}, regions checked={self.n_regions_checked}, "
            f"exhaustive={self.exhaustive}"
        )
        return head + "\n" + format_table(self)

    def __repr__(self):
        return self.summary()

    def to_dict(self):
        """Plain lists, floats and strings only (``json.dumps`` ready).

        Complex eigenvalues are ``[real, imag]`` pairs.
        """
        return {
            "z": self.z.tolist(),
            "pattern": self.pattern.astype(int).tolist(),
            "jacobian": self.jacobian.tolist(),
            "eigenvalues": [[[float(v.real), float(v.imag)] for v in row] for row in self.eigenvalues],
            "stability": list(self.stability),
            "continuum": [cn.to_dict() for cn in self.continuum],
            "n_vertices": int(self.n_vertices),
            "n_regions_checked": int(self.n_regions_checked),
            "n_systems_solved": int(self.n_systems_solved),
            "exhaustive": bool(self.exhaustive),
            "activation": self.activation,
            "method": self.method,
            "n_hyperplanes": int(self.n_hyperplanes),
            "on_boundary": [bool(v) for v in self.on_boundary],
        }


def _json_float(v):
    v = float(v)
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return v


def _fmt_complex(v):
    if abs(v.imag) < 1e-12:
        return f"{v.real:.4g}"
    return f"{v.real:.4g}{v.imag:+.4g}j"


def format_table(result):
    """Text table of a :class:`FixedPoints`: position, stability, eigenvalues.

    Parameters
    ----------
    result : FixedPoints

    Returns
    -------
    str
        One row per fixed point (``#``, ``z``, stability, spectral radius,
        eigenvalues), then one line per continuum.
    """
    rows = [("#", "z", "stability", "max|λ|", "eigenvalues")]
    for i in range(len(result)):
        z = "(" + ", ".join(f"{v:.6g}" for v in result.z[i]) + ")"
        ev = result.eigenvalues[i]
        rad = float(np.max(np.abs(ev))) if ev.size else 0.0
        rows.append((str(i), z, result.stability[i], f"{rad:.4g}", " ".join(_fmt_complex(v) for v in ev)))
    widths = [max(len(r[j]) for r in rows) for j in range(5)]
    lines = ["  ".join(r[j].ljust(widths[j]) for j in range(5)).rstrip() for r in rows]
    if len(result) == 0:
        lines.append("(no isolated fixed points)")
    for j, cn in enumerate(result.continuum):
        p = "(" + ", ".join(f"{v:.6g}" for v in cn.point) + ")"
        d = cn.directions.shape[1]
        ext = ""
        if cn.extent is not None:
            ext = f", along the direction for y in [{cn.extent[0]:.4g}, {cn.extent[1]:.4g}]"
        lines.append(f"continuum {j}: dimension {d} through {p}{ext}")
    return "\n".join(lines)


def zaslavsky_bound(n_hyperplanes, rank):
    """Σ_{k≤R} C(H, k): the most regions H hyperplanes can cut ℝ^R into."""
    return sum(math.comb(int(n_hyperplanes), k) for k in range(int(rank) + 1))


# ----------------------------------------------------------------------------
# validation
# ----------------------------------------------------------------------------
def _as_array(name, x, shape_desc, ndim):
    return as_float_array(name, x, None if ndim is None else (ndim,), shape_desc=shape_desc)


def _validate(M, N, h, a, activation, c, tol=1e-9):
    """Check and convert the model arrays; returns (M, N, h, a_vec, c, activation)."""
    check_choice("activation", activation, ACTIVATIONS)
    M = _as_array("M", M, "(n_units, R)", 2)
    n_units, R = M.shape
    if R < 1:
        raise ValueError(f"M must have at least one column (rank R >= 1); got shape {M.shape}")
    N = _as_array("N", N, f"(n_units, R) = {M.shape}", 2)
    if N.shape != M.shape:
        raise ValueError(f"N must have the same shape as M, (n_units, R) = {M.shape}; got {N.shape}")
    h = _as_array("h", h, f"(n_units,) = ({n_units},)", None)
    if h.shape != (n_units,):
        raise ValueError(f"h must have shape (n_units,) = ({n_units},); got {h.shape}")
    a_arr = _as_array("a", a, f"scalar or (R,) = ({R},)", None)
    if a_arr.ndim == 0:
        a_arr = np.full(R, float(a_arr))
    elif a_arr.shape != (R,):
        raise ValueError(f"a must be a scalar or have shape (R,) = ({R},); got {a_arr.shape}")
    if np.any(a_arr <= 0.0) or np.any(a_arr >= 1.0):
        raise ValueError(f"a (the leak) must lie in the open interval (0, 1); found values in "
                         f"[{a_arr.min():g}, {a_arr.max():g}]")
    if c is None:
        c = np.zeros(n_units)
    else:
        c = _as_array("c", c, f"(n_units,) = ({n_units},)", None)
        if c.shape != (n_units,):
            raise ValueError(f"c must have shape (n_units,) = ({n_units},); got {c.shape}")
    check_float("tol", tol, low=0.0, high=1e-2, low_open=True, high_open=True)
    return M, N, h, a_arr, c, activation


# ----------------------------------------------------------------------------
# shared post-processing (used by the enumerator and by brute force)
# ----------------------------------------------------------------------------
def _region_pieces(activation, h, sA, sB):
    """Per-unit slope and constant of φ in a region given the sides.

    ``sA``, ``sB`` (n, n_units) 0/1: sides of ``x + h > 0`` and ``x > 0``
    (``sA`` unused for ``relu``).  Returns slopes, offsets, codes.
    """
    sA = sA.astype(np.int64)
    sB = sB.astype(np.int64)
    if activation == "relu":
        return sB.astype(float), np.zeros(sB.shape), sB.astype(np.int8)
    slope = (sA - sB).astype(float)
    offset = sA * h[None, :]
    return slope, offset, (sA + sB).astype(np.int8)


def _systems(M, N, h, a, c, slope, offset):
    """Region systems B z = rhs, batched: B (n, R, R), rhs (n, R)."""
    R = M.shape[1]
    A = np.einsum("ui,pu,uj->pij", N, slope, M)
    B = np.eye(R)[None] - np.diag(a)[None] - A
    rhs = (slope * (c - h)[None, :] + offset) @ N
    return B, rhs


def _in_region(M, h, c, activation, z, sA, sB, tol):
    """Boolean (n,): does ``z[p]`` lie in the closure of region p (within tol)?

    Distances to the hyperplanes are measured along unit normals, with an
    allowance ``tol · (1 + max|offset| + max|z|)``, as in the kernel.
    """
    norms = np.linalg.norm(M, axis=1)
    safe = np.where(norms > 0, norms, 1.0)
    x = z @ M.T + (c - h)[None, :]
    offs_scale = 1.0 + np.max(np.abs(np.concatenate([(h - c) / safe, c / safe, [0.0]])))
    thr = tol * (offs_scale + np.max(np.abs(z), axis=1, initial=0.0))[:, None] * safe[None, :]
    ok = np.all(np.where(sB == 1, x >= -thr, x <= thr), axis=1)
    if activation == "clipped_relu":
        xa = x + h[None, :]
        ok &= np.all(np.where(sA == 1, xa >= -thr, xa <= thr), axis=1)
    return ok


def _stability(ev):
    mod = np.abs(ev)
    if np.all(mod < 1.0):
        return "stable"
    if np.all(mod > 1.0):
        return "unstable"
    return "saddle"


def _eigs(J):
    ev = np.linalg.eigvals(J)
    order = np.lexsort((-ev.imag, -ev.real, -np.abs(ev)))
    return ev[order].astype(np.complex128)


def _continuum(M, N, h, a, c, activation, sA, sB, slope, offset, code, tol):
    """Analyse one singular region system.

    Returns ("continuum", Continuum), ("point", z) when the system turns out
    to be regular enough to solve, or (None, None) when it has no solution
    in the region.
    """
    from scipy.optimize import linprog

    B, rhs = _systems(M, N, h, a, c, slope[None], offset[None])
    B, rhs = B[0], rhs[0]
    U, s, Vt = np.linalg.svd(B)
    smax = max(float(s[0]), 1.0)
    null = s <= 1e-9 * smax
    if not np.any(null):
        z = np.linalg.solve(B, rhs)
        if _in_region(M, h, c, activation, z[None], sA[None], sB[None], tol)[0]:
            return "point", z
        return None, None
    zp = np.linalg.lstsq(B, rhs, rcond=None)[0]
    if np.linalg.norm(B @ zp - rhs) > 1e-8 * (1.0 + np.linalg.norm(rhs)):
        return None, None  # inconsistent: no fixed point in this region
    V = Vt[null].T  # (R, d)
    # Region constraints as G y >= g on z = zp + V y.
    rows, rhs_c = [], []
    norms = np.linalg.norm(M, axis=1)
    for i in range(M.shape[0]):
        if norms[i] == 0:
            continue
        base = M[i] @ zp + c[i] - h[i]
        planes = [(sB[i], base)]
        if activation == "clipped_relu":
            planes.append((sA[i], base + h[i]))
        for s_side, val in planes:
            sg = 1.0 if s_side == 1 else -1.0
            rows.append(sg * (M[i] @ V) / norms[i])
            rhs_c.append(-sg * val / norms[i] - tol * (1.0 + abs(val) / norms[i]))
    d = V.shape[1]
    G = np.array(rows).reshape(-1, d)
    g = np.array(rhs_c)
    extent = None
    if d == 1:
        lo, hi = -np.inf, np.inf
        for gi, bi in zip(G[:, 0], g):
            if abs(gi) < 1e-14:
                if bi > 0:
                    return None, None
            elif gi > 0:
                lo = max(lo, bi / gi)
            else:
                hi = min(hi, bi / gi)
        if lo > hi:
            return None, None
        if np.isfinite(lo) and np.isfinite(hi):
            y = 0.5 * (lo + hi)
        elif np.isfinite(lo):
            y = lo + 1.0
        elif np.isfinite(hi):
            y = hi - 1.0
        else:
            y = 0.0
        point = zp + V[:, 0] * y
        extent = (lo - y, hi - y)
    else:
        # maximise the smallest slack t: G y − t ≥ g, t ≤ 1
        if G.shape[0] == 0:
            point = zp
        else:
            cost = np.zeros(d + 1)
            cost[-1] = -1.0
            A_ub = np.hstack([-G, np.ones((G.shape[0], 1))])
            res = linprog(cost, A_ub=A_ub, b_ub=-g, bounds=[(None, None)] * d + [(None, 1.0)], method="highs")
            if res.status != 0 or res.x[-1] < -1e-12:
                return None, None
            point = zp + V @ res.x[:d]
    J = np.diag(a) + (N.T * slope[None, :]) @ M
    return "continuum", Continuum(pattern=code.astype(np.int8), point=point, directions=V,
                                  extent=extent, eigenvalues=_eigs(J))


def _on_continuum(z, cn, tol):
    d = z - cn.point
    resid = d - cn.directions @ (cn.directions.T @ d)
    if np.linalg.norm(resid) > 1e-7 * (1.0 + np.linalg.norm(z)):
        return False
    if cn.extent is None:
        return True
    y = float(cn.directions[:, 0] @ d)
    slack = 1e-7 * (1.0 + abs(y))
    return cn.extent[0] - slack <= y <= cn.extent[1] + slack


def _finalize(M, N, h, a, c, activation, sA, sB, singular, tol, *, method, exhaustive,
              n_vertices, n_regions, n_solved, n_hyperplanes, z_hint=None):
    """Solve, check, deduplicate and label candidates; build the result.

    ``sA``, ``sB`` (n, n_units) region sides of every candidate (in a
    deterministic order); ``singular`` (n,) bool marks singular systems.
    Point candidates are re-solved here with LAPACK, so the reported
    positions do not carry the kernel's accumulated rank-one updates.
    """
    n_units, R = M.shape
    slope, offset, code = _region_pieces(activation, h, sA, sB)
    pts, pts_code, pts_slope = [], [], []
    continua = []
    if sA.shape[0]:
        B, rhs = _systems(M, N, h, a, c, slope, offset)
        singular = singular.copy()
        reg = np.flatnonzero(~singular)
        Z = np.zeros((sA.shape[0], R))
        try:
            Z[reg] = np.linalg.solve(B[reg], rhs[reg][..., None])[..., 0]
        except np.linalg.LinAlgError:
            for p in reg:
                try:
                    Z[p] = np.linalg.solve(B[p], rhs[p])
                except np.linalg.LinAlgError:
                    singular[p] = True
        inside = np.zeros(sA.shape[0], dtype=bool)
        reg = np.flatnonzero(~singular)
        inside[reg] = _in_region(M, h, c, activation, Z[reg], sA[reg], sB[reg], tol)
        for p in range(sA.shape[0]):
            if not singular[p]:
                if inside[p]:
                    pts.append(Z[p])
                    pts_code.append(code[p])
                    pts_slope.append(slope[p])
                continue
            kind, obj = _continuum(M, N, h, a, c, activation, sA[p], sB[p], slope[p], offset[p], code[p], tol)
            if kind == "point":
                pts.append(obj)
                pts_code.append(code[p])
                pts_slope.append(slope[p])
            elif kind == "continuum":
                if not any(np.array_equal(obj.pattern, o.pattern) for o in continua):
                    continua.append(obj)
    # deduplicate (first occurrence wins: boundary points keep the region
    # met first in the deterministic enumeration order)
    keep_z, keep_code, keep_slope = [], [], []
    dtol = 100.0 * tol
    for z, cd, sl in zip(pts, pts_code, pts_slope):
        scale = 1.0 + np.max(np.abs(z))
        if any(np.max(np.abs(z - y)) <= dtol * scale for y in keep_z):
            continue
        if any(_on_continuum(z, cn, tol) for cn in continua):
            continue
        keep_z.append(z)
        keep_code.append(cd)
        keep_slope.append(sl)
    # Label every point by the sides it actually lies on, a point on a
    # boundary counting as below it (relu'(0) = 0): the pattern and Jacobian
    # then depend on the point only, not on which region produced it.
    boundary = []
    for p, z in enumerate(keep_z):
        zA, zB, on_b = _point_sides(M, h, c, activation, z, tol)
        sl, _, cd = _region_pieces(activation, h, zA[None], zB[None])
        keep_slope[p] = sl[0]
        keep_code[p] = cd[0]
        boundary.append(on_b)
    return _build(M, N, a, keep_z, keep_code, keep_slope, continua, activation=activation, method=method,
                  exhaustive=exhaustive, n_vertices=n_vertices, n_regions=n_regions, n_solved=n_solved,
                  n_hyperplanes=n_hyperplanes, on_boundary=boundary)


def _point_sides(M, h, c, activation, z, tol):
    """Sides (sA, sB) of the hyperplanes at ``z`` (boundary → 0) and whether
    ``z`` lies within tolerance of any hyperplane."""
    norms = np.linalg.norm(M, axis=1)
    safe = np.where(norms > 0, norms, 1.0)
    x = M @ z + c - h
    offs_scale = 1.0 + np.max(np.abs(np.concatenate([(h - c) / safe, c / safe, [0.0]])))
    thr = tol * (offs_scale + np.max(np.abs(z), initial=0.0)) * safe
    live = norms > 0
    sB = (x > thr).astype(np.int8)
    on_b = bool(np.any(live & (np.abs(x) <= thr)))
    if activation == "clipped_relu":
        sA = (x + h > thr).astype(np.int8)
        on_b = on_b or bool(np.any(live & (np.abs(x + h) <= thr)))
    else:
        sA = np.zeros_like(sB)
    return sA, sB, on_b


def _build(M, N, a, zs, codes, slopes, continua, *, activation, method, exhaustive, n_vertices,
           n_regions, n_solved, n_hyperplanes, on_boundary=None):
    n_units, R = M.shape
    if zs:
        Z = np.array(zs, dtype=np.float64).reshape(-1, R)
        order = np.lexsort(Z.T[::-1])
        Z = Z[order]
        P = np.array(codes, dtype=np.int8).reshape(len(zs), n_units)[order]
        S = np.array(slopes, dtype=np.float64).reshape(len(zs), n_units)[order]
        OB = np.zeros(len(zs), dtype=bool) if on_boundary is None else np.array(on_boundary, dtype=bool)
        OB = OB[order]
    else:
        OB = np.zeros(0, dtype=bool)
        Z = np.zeros((0, R))
        P = np.zeros((0, n_units), dtype=np.int8)
        S = np.zeros((0, n_units))
    J = np.diag(a)[None] + np.einsum("ui,pu,uj->pij", N, S, M)
    ev = np.array([_eigs(j) for j in J], dtype=np.complex128).reshape(-1, R)
    stab = tuple(_stability(e) for e in ev)
    continua = sorted(continua, key=lambda cn: tuple(cn.point))
    return FixedPoints(z=Z, pattern=P, jacobian=J, eigenvalues=ev, stability=stab, continuum=tuple(continua),
                       n_vertices=int(n_vertices), n_regions_checked=int(n_regions),
                       n_systems_solved=int(n_solved), exhaustive=bool(exhaustive), activation=activation,
                       method=method, n_hyperplanes=int(n_hyperplanes), on_boundary=OB)
