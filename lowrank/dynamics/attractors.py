"""Where noise-free trajectories end: fixed points, periodic orbits, closed curves, chaos.

:func:`attractors` runs the noise-free map from random starts, drops a
transient, and classifies each end state:

* ``"fixed_point"``: the path stops moving; linked to the enumerated fixed point;
* ``"periodic"``: it repeats with a period p ≤ ``max_period``; linked to the
  exact p-cycle of :func:`~lowrank.dynamics.find_cycles` where that search applies
  (R = 2, p ≤ 4);
* ``"closed_curve"``: an invariant closed curve (a limit cycle of the
  discretised flow): it keeps moving, its largest Lyapunov exponent is not
  positive; frequency = rotation number about the curve's centre (cycles per
  step), amplitude = half the range of each coordinate;
* ``"chaotic"``: largest Lyapunov exponent above ``lyapunov_tol``;
* ``"divergent"``: the path leaves every bounded set.

The largest Lyapunov exponent is the mean log growth of a tangent vector
carried by the (piecewise constant) Jacobians and renormalised every step.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from .._checks import check_int
from ..fixed_points import find_fixed_points
from ..model.equations import phi_slope
from .cycles import find_cycles, latent_map, model_arrays

__all__ = ["Attractor", "Attractors", "attractors", "lyapunov_exponent", "rotation_number"]


@dataclass(frozen=True)
class Attractor:
    """One attractor and the starts that reach it (an element of :class:`Attractors`).

    Parameters
    ----------
    kind : str
        ``"fixed_point"``, ``"periodic"``, ``"closed_curve"``, ``"chaotic"`` or ``"divergent"``.
    n_starts : int
        Starts that end here.
    points : (p, R) float64
        The fixed point (p = 1), the periodic orbit (p = period), or a
        stretch of the curve / chaotic path.
    period : int or None
    frequency : float or None
        Cycles per step (periodic: 1/period; closed curve: rotation number; a
        fixed point: the angle of its leading complex eigenvalue / 2π, 0 if real).
    amplitude : (R,) float64 or None
        Half the range of each coordinate on the attractor.
    lyapunov : float
        Largest Lyapunov exponent (per step).
    linked : int or None
        Index of the enumerated fixed point or the exact cycle it is.
    stability : str
        ``"stable"`` for an attracting fixed point or cycle, the linked
        label where there is one, ``"neutral"`` for a closed curve.
    encloses : tuple of int
        Enumerated fixed points inside a closed curve (R = 2).

    Examples
    --------
    >>> import lowrank.dynamics as dyn
    >>> found = dyn.attractors(lowrank.teachers.get("bistable").model, n_starts=8, seed=0)
    >>> found[0].kind, found[0].stability, found[0].n_starts
    ('fixed_point', 'stable', 7)
    """

    kind: str
    n_starts: int
    points: np.ndarray
    period: Optional[int] = None
    frequency: Optional[float] = None
    amplitude: Optional[np.ndarray] = None
    lyapunov: float = float("nan")
    linked: Optional[int] = None
    stability: str = ""
    encloses: tuple = field(default_factory=tuple)

    def to_dict(self):
        return {"kind": self.kind, "n_starts": self.n_starts, "period": self.period,
                "frequency": self.frequency, "lyapunov": float(self.lyapunov), "linked": self.linked,
                "stability": self.stability, "encloses": list(self.encloses),
                "amplitude": None if self.amplitude is None else self.amplitude.tolist(),
                "points": self.points[:64].tolist()}


@dataclass(frozen=True, repr=False)
class Attractors:
    """Result of :func:`attractors`: a sequence of :class:`Attractor`.

    Parameters
    ----------
    attractors : tuple of Attractor
        By decreasing number of starts.
    labels : (n_starts,) int64
        Which attractor each start reaches.
    starts : (n_starts, R) float64
        Where the runs began.
    fixed_points : FixedPoints
        The enumeration the fixed points are linked to.
    cycles : dict of int to Cycles
        The exact cycles periodic orbits were linked to, by period.

    Examples
    --------
    >>> import lowrank.dynamics as dyn
    >>> found = dyn.attractors(lowrank.teachers.get("bistable").model, n_starts=8, seed=0)
    >>> found                                                   # kinds × starts
    Attractors(fixed_point×7, fixed_point×1)
    >>> len(found), found.labels.shape
    (2, (8,))
    """

    attractors: tuple
    labels: np.ndarray
    starts: np.ndarray
    fixed_points: object
    cycles: dict

    def __len__(self):
        return len(self.attractors)

    def __getitem__(self, i):
        return self.attractors[i]

    def __repr__(self):
        kinds = ", ".join(f"{a.kind}×{a.n_starts}" for a in self.attractors)
        return f"Attractors({kinds})"

    def to_dict(self):
        return {"attractors": [a.to_dict() for a in self.attractors], "labels": self.labels.tolist()}


def _jacobians(arrays, Z):
    M, N, h, a, c, activation = arrays
    d = phi_slope(activation, Z @ M.T + (c - h), h)
    return np.diag(a)[None] + np.einsum("ui,pu,uj->pij", N, d, M)


def lyapunov_exponent(arrays, path):
    """Largest Lyapunov exponent of the map along a path (per step).

    Parameters
    ----------
    arrays : tuple
        ``(M, N, h, a, c, activation)`` from :func:`~lowrank.dynamics.model_arrays`.
    path : (T, R) ndarray
        Successive points of the map.

    Returns
    -------
    float
        The mean log growth of a tangent vector (``-inf`` if it vanishes): below 0
        at a stable fixed point or cycle, about 0 on a closed curve, above 0 if chaotic.

    Examples
    --------
    >>> import lowrank.dynamics as dyn
    >>> arrays = dyn.model_arrays(lowrank.teachers.get("bistable").model)
    >>> path = [np.array([0.5, -0.3])]
    >>> for _ in range(300):
    ...     path.append(dyn.latent_map(arrays, path[-1]))
    >>> bool(dyn.lyapunov_exponent(arrays, np.array(path)) < 0)  # it settles on a stable point
    True
    """
    J = _jacobians(arrays, path)
    v = np.ones(path.shape[1]) / np.sqrt(path.shape[1])
    total = 0.0
    for t in range(J.shape[0]):
        v = J[t] @ v
        s = np.linalg.norm(v)
        if s == 0.0:
            return -np.inf
        total += np.log(s)
        v /= s
    return total / J.shape[0]


def rotation_number(path, centre):
    """Mean turn per step of a planar path about a centre, in cycles.

    Parameters
    ----------
    path : (T, 2) ndarray
        Successive points (T ≥ 2).
    centre : (2,) ndarray
        The point turned about (a fixed point inside a closed curve).

    Returns
    -------
    float
        In [0, 0.5]: the total unwrapped angle over ``2π (T − 1)``.

    Examples
    --------
    >>> import lowrank.dynamics as dyn
    >>> t = np.arange(50)
    >>> path = np.c_[np.cos(2 * np.pi * 0.1 * t), np.sin(2 * np.pi * 0.1 * t)]
    >>> round(dyn.rotation_number(path, np.zeros(2)), 3)
    0.1
    """
    ang = np.unwrap(np.arctan2(path[:, 1] - centre[1], path[:, 0] - centre[0]))
    return float(abs(ang[-1] - ang[0]) / (2 * np.pi * (path.shape[0] - 1)))


def _run(arrays, Z, n_steps):
    for _ in range(n_steps):
        Z = latent_map(arrays, Z)
        Z[~np.all(np.isfinite(Z), axis=1)] = np.inf
    return Z


def _record(arrays, Z, n_steps):
    out = np.empty((n_steps,) + Z.shape)
    for t in range(n_steps):
        out[t] = Z
        Z = latent_map(arrays, Z)
    return out


def _period(path, max_period, tol):
    scale = 1.0 + np.max(np.abs(path))
    for p in range(1, max_period + 1):
        if np.max(np.abs(path[p:] - path[:-p])) <= tol * scale:
            return p
    return None


def _inside(poly, pt):
    """Point in a closed polygonal path (even–odd rule)."""
    x, y = poly[:, 0], poly[:, 1]
    x2, y2 = np.roll(x, -1), np.roll(y, -1)
    cross = (y > pt[1]) != (y2 > pt[1])
    xi = x + (pt[1] - y) * (x2 - x) / np.where(y2 != y, y2 - y, 1.0)
    return bool(np.count_nonzero(cross & (pt[0] < xi)) % 2)


def _starts(arrays, fp, n_starts, seed):
    R = arrays[0].shape[1]
    centre = fp.z.mean(axis=0) if len(fp) else np.zeros(R)
    spread = np.ptp(fp.z, axis=0) if len(fp) > 1 else np.zeros(R)
    box = 2.0 * (1.0 + spread + np.abs(centre).max(initial=0.0))
    return centre + np.random.default_rng(seed).uniform(-1.0, 1.0, (n_starts, R)) * box


def _classify(arrays, path, max_period, tol, lyapunov_tol):
    """(kind, period, points, lyapunov) of one recorded end path (T, R)."""
    if not np.all(np.isfinite(path)) or np.max(np.abs(path)) > 1e12:
        return "divergent", None, path[-1:], np.nan
    p = _period(path, max_period, tol)
    if p is not None:
        kind = "fixed_point" if p == 1 else "periodic"
        return kind, p, path[-p:], lyapunov_exponent(arrays, path[-p * max(1, 256 // p):])
    lam = lyapunov_exponent(arrays, path)
    return ("chaotic" if lam > lyapunov_tol else "closed_curve"), None, path, lam


def _same(kind, pts, other, tol):
    if kind != other.kind:
        return False
    scale = 1.0 + max(np.max(np.abs(pts)), np.max(np.abs(other.points)))
    if kind in ("fixed_point", "periodic"):
        if pts.shape != other.points.shape:
            return False
        return any(np.max(np.abs(np.roll(pts, -i, axis=0) - other.points)) <= 1e3 * tol * scale
                   for i in range(pts.shape[0]))
    if kind == "closed_curve":
        d = np.min(np.linalg.norm(other.points[:, None, :] - pts[None, ::16, :], axis=2), axis=0)
        return float(np.max(d)) <= 0.05 * float(np.max(np.ptp(other.points, axis=0)) + 1e-12)
    return True


def _link_fixed(fp, z):
    if len(fp) == 0:
        return None
    d = np.max(np.abs(fp.z - z[None]), axis=1)
    i = int(np.argmin(d))
    return i if d[i] <= 1e-6 * (1.0 + np.max(np.abs(z))) else None


def _describe(arrays, kind, period, pts, lam, count, fp, cycles):
    R = pts.shape[1]
    amp = 0.5 * np.ptp(pts, axis=0)
    if kind == "fixed_point":
        i = _link_fixed(fp, pts[0])
        ev = fp.eigenvalues[i] if i is not None else np.linalg.eigvals(_jacobians(arrays, pts)[0])
        freq = float(np.max(np.abs(np.angle(ev)))) / (2 * np.pi) if R else 0.0
        return Attractor(kind, count, pts, 1, freq, amp, lam, i, fp.stability[i] if i is not None else "stable")
    if kind == "periodic":
        i, stab = None, "stable"
        cyc = cycles.get(period)
        if cyc is not None:
            for j, orbit in enumerate(cyc.orbits):
                if any(np.max(np.abs(np.roll(orbit, -s, axis=0) - pts)) <= 1e-6 * (1 + np.max(np.abs(pts)))
                       for s in range(period)):
                    i, stab = j, cyc.stability[j]
        return Attractor(kind, count, pts, period, 1.0 / period, amp, lam, i, stab)
    if kind == "closed_curve" and R == 2:
        centre = 0.5 * (pts.max(axis=0) + pts.min(axis=0))
        inside = tuple(i for i in range(len(fp)) if _inside(pts[-_lap(pts, centre):], fp.z[i]))
        if len(inside) == 1:
            centre = fp.z[inside[0]]
        return Attractor(kind, count, pts, None, rotation_number(pts, centre), amp, lam, None, "neutral", inside)
    return Attractor(kind, count, pts, None, None, amp, lam, None, "")


def _lap(pts, centre):
    """Steps of one turn about ``centre`` (at most all of them)."""
    f = rotation_number(pts, centre)
    return int(min(pts.shape[0], max(3, np.ceil(1.0 / f) + 1))) if f > 0 else pts.shape[0]


def attractors(model, n_starts=16, seed=0, *, inputs=None, n_transient=3000, n_record=4000, max_period=16,
               tol=1e-9, lyapunov_tol=1e-3):
    """Classify where noise-free trajectories from random starts end.

    Parameters
    ----------
    model : LowRankRNN or tuple (M, N, h, a)
        For arrays, the activation is ``relu`` (use :func:`model_arrays` forms for others).
    n_starts : int
        Starts drawn with ``numpy.random.default_rng(seed)``, uniform in a box
        around the fixed points (twice their spread plus their scale).
    seed : int
    inputs : (U,) array_like, optional
        Constant input of a model with inputs.
    n_transient, n_record : int
        Steps dropped, then steps recorded and classified.
    max_period : int
        Longest period tested for a periodic orbit.
    tol : float
        Relative tolerance for a repeat (period) and for linking.
    lyapunov_tol : float
        Largest Lyapunov exponent above which a path counts as chaotic.

    Returns
    -------
    Attractors

    Examples
    --------
    >>> import lowrank.dynamics as dyn
    >>> bistable = lowrank.teachers.get("bistable").model       # two stable points and a saddle
    >>> found = dyn.attractors(bistable, n_starts=8, seed=0)
    >>> [(a.kind, a.stability, a.n_starts) for a in found]
    [('fixed_point', 'stable', 7), ('fixed_point', 'stable', 1)]
    """
    arrays = model_arrays(model, inputs) if hasattr(model, "params") else model_arrays(tuple(model))
    n_starts = check_int("n_starts", n_starts, 1)
    n_record = check_int("n_record", n_record, 2 * max_period + 2)
    n_transient = check_int("n_transient", n_transient, 0)
    M, N, h, a, c, act = arrays
    fp = find_fixed_points(M, N, h, a, act, c, tol=tol)
    starts = _starts(arrays, fp, n_starts, seed)
    with np.errstate(over="ignore", invalid="ignore"):
        paths = _record(arrays, _run(arrays, starts.copy(), n_transient), n_record)
    found, labels, cycles = [], np.zeros(n_starts, dtype=np.int64), {}
    for s in range(n_starts):
        kind, period, pts, lam = _classify(arrays, paths[:, s], max_period, max(tol, 1e-9) * 10, lyapunov_tol)
        hit = next((i for i, o in enumerate(found) if _same(kind, pts, o, tol)), None)
        if hit is not None:
            found[hit] = _bump(found[hit])
            labels[s] = hit
            continue
        if kind == "periodic" and period not in cycles and M.shape[1] == 2 and period <= 4 and act != "tanh":
            cycles[period] = find_cycles(arrays[:4], period, activation=act, c=c, tol=tol)
        found.append(_describe(arrays, kind, period, pts, lam, 1, fp, cycles))
        labels[s] = len(found) - 1
    order = sorted(range(len(found)), key=lambda i: -found[i].n_starts)
    remap = np.empty(len(found), dtype=np.int64)
    remap[order] = np.arange(len(found))
    return Attractors(attractors=tuple(found[i] for i in order), labels=remap[labels], starts=starts,
                      fixed_points=fp, cycles=cycles)


def _bump(att):
    from dataclasses import replace
    return replace(att, n_starts=att.n_starts + 1)
