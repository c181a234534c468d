"""All fixed points of a low-rank RNN's noise-free map, in polynomial time.

The map (constant input) is ``F(z) = a ⊙ z + Nᵀ φ(M z + c − h)`` on
``z ∈ ℝ^R``.  For piecewise-linear ``φ`` it is affine inside every region of
the arrangement of hyperplanes where a unit changes slope:

* ``relu``: ``φ(x) = max(x, 0)``, one hyperplane per unit,
  ``m_iᵀ z = h_i − c_i``;
* ``clipped_relu``: ``φ(x) = relu(x + h_i) − relu(x)`` (``h_i`` is the
  unit's threshold), two parallel hyperplanes per unit, ``m_iᵀ z = −c_i``
  and ``m_iᵀ z = h_i − c_i``.  With ``s1 = [x + h_i > 0]``,
  ``s2 = [x > 0]``: slope ``s1 − s2`` and constant ``s1·h_i``, so for
  ``h_i > 0`` the pieces are 0 / ``x + h_i`` / ``h_i`` and for ``h_i < 0``
  they are 0 / ``−x`` / ``h_i``.

In region ``s`` the fixed point solves the R×R system
``(I − diag(a) − Nᵀ D_s M) z = Nᵀ (D_s (c − h) + offsets_s)`` and is kept only
if it lies in (the closure of) region ``s``.  :func:`find_fixed_points`
visits every region of the arrangement once, Σ_{k≤R} C(H, k) of them for
``H`` hyperplanes in general position (Zaslavsky), in a parallel Numba
kernel (see :mod:`lowrank.fixed_points._kernels` for the algorithm).
Regions without a vertex (normals not spanning ℝ^R: ``n_units < R`` or
rank-deficient ``M``) are charged to lower-dimensional flats "at infinity"
and need no special case.  ``tanh`` has no regions: it falls back to Newton's
method from many seeded starts (not exhaustive).

Stability labels (discrete time, Jacobian ``J = diag(a) + Nᵀ D_s M``):
``"stable"`` if every ``|λ| < 1``, ``"unstable"`` if every ``|λ| > 1``,
``"saddle"`` otherwise (including eigenvalues exactly on the unit circle).
A fixed point lying on a region boundary (``on_boundary``) is labelled with
every unit on a breakpoint counted on its lower piece (relu'(0) = 0).
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from ..validation import as_float_array

__all__ = [
    "ACTIVATIONS",
    "FixedPoints",
    "Continuum",
    "find_fixed_points",
    "brute_force_fixed_points",
    "newton_fixed_points",
    "format_table",
    "zaslavsky_bound",
]

ACTIVATIONS = ("relu", "clipped_relu", "tanh")
METHODS = ("auto", "enumerate", "brute", "newton")
_PIECEWISE = ("relu", "clipped_relu")
# Fixed seeds for the generic directions, the tie-breaking perturbation and
# the membership-check order: results never depend on global random state.
_GEOMETRY_SEED = 20240517


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
    if not isinstance(activation, str):
        raise TypeError(f"activation must be a string, one of {', '.join(repr(v) for v in ACTIVATIONS)}; "
                        f"got {type(activation).__name__}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; valid: {', '.join(repr(v) for v in ACTIVATIONS)}")
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
    if not isinstance(tol, numbers.Real) or not (0.0 < float(tol) < 1e-2) or not math.isfinite(float(tol)):
        raise ValueError(f"tol must be a positive number below 1e-2; got {tol!r}")
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


# ----------------------------------------------------------------------------
# the enumerator
# ----------------------------------------------------------------------------
def _hyperplanes(M, N, h, c, activation):
    """Hyperplanes of the arrangement and their rank-one pieces.

    Returns W (H, R) unit normals, b (H,) offsets, Q (H, R, R), r (H, R),
    r0 (R,), unit (H,) owning unit, kind (H,) 0 for ``x + h = 0``, 1 for
    ``x = 0``, and the mask of units with a zero row in M (constant input).
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
            unit_l.append(i); kind_l.append(0)
            # x > 0: slope −1
            W_l.append(w); b_l.append((h[i] - c[i]) / norms[i]); Q_l.append(-outer[i])
            r_l.append(-N[i] * (c[i] - h[i])); unit_l.append(i); kind_l.append(1)
        else:
            W_l.append(w); b_l.append((h[i] - c[i]) / norms[i]); Q_l.append(outer[i])
            r_l.append(N[i] * (c[i] - h[i])); unit_l.append(i); kind_l.append(1)
    H = len(W_l)
    W = np.array(W_l, dtype=np.float64).reshape(H, R)
    b = np.array(b_l, dtype=np.float64).reshape(H)
    Q = np.ascontiguousarray(np.array(Q_l, dtype=np.float64).reshape(H, R, R))
    r = np.array(r_l, dtype=np.float64).reshape(H, R)
    x0 = c - h
    if activation == "clipped_relu":
        phi0 = np.maximum(x0 + h, 0.0) - np.maximum(x0, 0.0)
    else:
        phi0 = np.maximum(x0, 0.0)
    r0 = (phi0 * flat) @ N
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


def _run_kernel(kernel, n_items, args, cap):
    n_chunks = int(max(1, min(n_items, 1024)))
    while True:
        out = kernel(*args, n_chunks, cap)
        counts = out[4]
        if counts.max(initial=0) <= cap:
            return out, n_chunks
        cap = int(counts.max())


def _collect(out, n_chunks, level_offset):
    zbuf, sidebuf, kindbuf, itembuf, counts, stats = out
    keys, sides, kinds = [], [], []
    for ch in range(n_chunks):
        for s in range(int(counts[ch])):
            keys.append((level_offset, int(itembuf[ch, s]), s))
            sides.append(sidebuf[ch, s])
            kinds.append(int(kindbuf[ch, s]))
    return keys, sides, kinds, int(stats[:, 0].sum()), int(stats[:, 1].sum())


def _enumerate(M, N, h, a, c, activation, tol):
    from . import _kernels

    n_units, R = M.shape
    W, b, Q, r, r0, unit, kind, flat = _hyperplanes(M, N, h, c, activation)
    H = W.shape[0]
    qdirs, perm, bt = _geometry(H, R, b)
    binom = _binom_table(H, R)
    oma = np.ascontiguousarray(1.0 - a)
    args = (W, b, bt, Q, r, r0, oma, qdirs, perm, float(tol), binom)
    n_lines = math.comb(H, R - 1) if H >= R - 1 else 0
    n_direct = sum(math.comb(H, k) for k in range(0, min(R - 2, H) + 1)) if R >= 2 else 0
    out_d, nch_d = _run_kernel(_kernels.direct_levels, n_direct, args, 8)
    out_l, nch_l = _run_kernel(_kernels.walk_lines, n_lines, args, 8)
    kd, sd, kid, reg_d, _ = _collect(out_d, nch_d, 0)
    kl, sl, kil, reg_l, vert = _collect(out_l, nch_l, 1)
    keys = kd + kl
    sides = sd + sl
    kinds = kid + kil
    order = sorted(range(len(keys)), key=lambda i: keys[i])
    n = len(order)
    x_flat = c - h
    sA = np.zeros((n, n_units), dtype=np.int8)
    sB = np.zeros((n, n_units), dtype=np.int8)
    # units with no hyperplane sit on a fixed side everywhere
    sA[:, flat] = (x_flat + h > 0)[flat]
    sB[:, flat] = (x_flat > 0)[flat]
    singular = np.zeros(n, dtype=bool)
    for row, i in enumerate(order):
        sv = sides[i]
        sA[row, unit[kind == 0]] = sv[kind == 0]
        sB[row, unit[kind == 1]] = sv[kind == 1]
        singular[row] = kinds[i] == _kernels.KIND_SINGULAR
    n_regions = reg_d + reg_l
    return _finalize(M, N, h, a, c, activation, sA, sB, singular, tol, method="enumerate", exhaustive=True,
                     n_vertices=vert, n_regions=n_regions, n_solved=n_regions, n_hyperplanes=H)


def find_fixed_points(M, N, h, a, activation="relu", c=None, *, tol=1e-9, method="auto", n_starts=256, seed=0):
    """All fixed points of ``F(z) = a ⊙ z + Nᵀ φ(M z + c − h)``.

    Parameters
    ----------
    M, N : (n_units, R) array_like
        Input and output loadings (connectivity ``J = M Nᵀ``).
    h : (n_units,) array_like
        Thresholds (for ``clipped_relu`` also the height of the plateau).
    a : float or (R,) array_like
        Leak, every value in (0, 1).
    activation : {"relu", "clipped_relu", "tanh"}
    c : (n_units,) array_like, optional
        Constant input current (for example ``W_u v``); zeros by default.
    tol : float
        Relative tolerance of the region-membership test (distances along
        unit normals); fixed points closer than ``100·tol`` (relative) are
        merged.
    method : {"auto", "enumerate", "brute", "newton"}
        ``auto``: enumeration for piecewise-linear activations, Newton for
        ``tanh``.  ``brute`` tries every slope pattern (n_units ≤ 20).
    n_starts, seed : int
        Newton's method only: number of starts and the seed that draws them.

    Returns
    -------
    FixedPoints
        ``z`` (n_fp, R), ``pattern`` (n_fp, n_units) int8, ``jacobian``
        (n_fp, R, R), ``eigenvalues`` (n_fp, R), ``stability``,
        ``continuum`` and the work counters.

    Notes
    -----
    The enumeration examines Σ_{k≤R} C(H, k) regions for H hyperplanes in
    general position (H = n_units for relu, 2·n_units for clipped_relu),
    i.e. O(H^R) small solves, in parallel; the result does not depend on the
    number of threads.
    """
    M, N, h, a, c, activation = _validate(M, N, h, a, activation, c, tol)
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(f"unknown method {method!r}; valid: {', '.join(repr(v) for v in METHODS)}")
    if method == "auto":
        method = "newton" if activation == "tanh" else "enumerate"
    if activation == "tanh" and method != "newton":
        raise ValueError(f"method={method!r} needs a piecewise-linear activation ('relu' or 'clipped_relu'); "
                         f"got activation='tanh': use method='newton' or 'auto'")
    if method == "newton":
        return newton_fixed_points(M, N, h, a, activation, c, n_starts=n_starts, seed=seed, tol=tol)
    if method == "brute":
        return brute_force_fixed_points(M, N, h, a, activation, c, tol=tol)
    return _enumerate(M, N, h, a, c, activation, tol)


# Imported last: brute.py uses the helpers defined above.
from .brute import brute_force_fixed_points, newton_fixed_points  # noqa: E402
