"""Reference and fallback fixed-point finders.

* :func:`brute_force_fixed_points` tries every slope pattern (2^n for relu,
  3^n for clipped relu) with batched LAPACK solves: the slow, independent
  reference the enumerator is tested against.  It refuses ``n_units > 20``.
* :func:`newton_fixed_points` finds fixed points of any smooth map (used for
  ``tanh``) by damped Newton from many seeded starts; it is not exhaustive.
"""
from __future__ import annotations

import numpy as np

from ..model.equations import phi, phi_slope
from .regions import _build, _finalize, _in_region, _region_pieces, _systems, _validate

MAX_BRUTE_UNITS = 20
# 3^13 ≈ 1.6e6 patterns; beyond this brute force takes minutes to hours.
MAX_BRUTE_PATTERNS = 3 ** 13
_BATCH = 65536
# The piece of clipped relu a unit of a slope pattern sits on (a digit of the pattern, in base 3):
# 0 below both kinks, _MIDDLE between them, _TOP above both.
_MIDDLE = 1
_TOP = 2


def brute_force_fixed_points(M, N, h, a, activation="relu", c=None, *, tol=1e-9, max_patterns=MAX_BRUTE_PATTERNS):
    """Fixed points by trying every slope pattern (reference implementation).

    Parameters
    ----------
    M, N : (n_units, R) array_like
    h : (n_units,) array_like
    a : float or (R,) array_like, values in (0, 1)
    activation : {"relu", "clipped_relu"}
    c : (n_units,) array_like, optional
    tol : float
        Relative membership tolerance (as in :func:`find_fixed_points`).
    max_patterns : int
        Refuse models with more patterns than this (3^13 by default).

    Returns
    -------
    FixedPoints
        ``n_regions_checked`` counts patterns tried (including empty ones).

    Raises
    ------
    ValueError
        If ``n_units > 20`` or the pattern count exceeds ``max_patterns``.
    """
    M, N, h, a, c, activation = _validate(M, N, h, a, activation, c, tol)
    if activation not in ("relu", "clipped_relu"):
        raise ValueError(f"brute force needs activation 'relu' or 'clipped_relu'; got {activation!r}")
    n_units, R = M.shape
    if n_units > MAX_BRUTE_UNITS:
        raise ValueError(f"brute force tries every slope pattern and is limited to n_units <= {MAX_BRUTE_UNITS}; "
                         f"got n_units={n_units}: use find_fixed_points(method='enumerate')")
    n_levels = 2 if activation == "relu" else 3
    n_pat = n_levels ** n_units
    if n_pat > max_patterns:
        raise ValueError(f"brute force would try {n_levels}^{n_units} = {n_pat} patterns, more than "
                         f"max_patterns={max_patterns}; use find_fixed_points(method='enumerate')")
    found_sA, found_sB, found_sing = [], [], []
    powers = n_levels ** np.arange(n_units)
    for start in range(0, n_pat, _BATCH):
        idx = np.arange(start, min(start + _BATCH, n_pat))
        codes = (idx[:, None] // powers[None, :]) % n_levels
        if activation == "relu":
            sB = codes.astype(np.int8)
            sA = np.zeros_like(sB)
        else:
            # the middle piece has s1 = 1, s2 = 0 when h ≥ 0 and s1 = 0, s2 = 1 when h < 0
            sA = np.where(codes == _TOP, 1, np.where(codes == _MIDDLE, (h >= 0)[None, :], 0)).astype(np.int8)
            sB = np.where(codes == _TOP, 1, np.where(codes == _MIDDLE, (h < 0)[None, :], 0)).astype(np.int8)
        slope, offset, _ = _region_pieces(activation, h, sA, sB)
        B, rhs = _systems(M, N, h, a, c, slope, offset)
        sv = np.linalg.svd(B, compute_uv=False)
        sing = sv[:, -1] <= 1e-11 * np.maximum(sv[:, 0], 1.0)
        z = np.zeros((idx.size, R))
        reg = ~sing
        if np.any(reg):
            z[reg] = np.linalg.solve(B[reg], rhs[reg][..., None])[..., 0]
        ok = np.zeros(idx.size, dtype=bool)
        if np.any(reg):
            ok[reg] = _in_region(M, h, c, activation, z[reg], sA[reg], sB[reg], tol)
        keep = ok | sing
        found_sA.append(sA[keep])
        found_sB.append(sB[keep])
        found_sing.append(sing[keep])
    sA = np.concatenate(found_sA)
    sB = np.concatenate(found_sB)
    sing = np.concatenate(found_sing)
    return _finalize(M, N, h, a, c, activation, sA, sB, sing, tol, method="brute", exhaustive=True,
                     n_vertices=0, n_regions=n_pat, n_solved=n_pat, n_hyperplanes=0 if n_units == 0 else
                     int(np.count_nonzero(np.linalg.norm(M, axis=1) > 0)) * (1 if activation == "relu" else 2))


def _phi(activation, x, h):
    return phi(activation, x, h), phi_slope(activation, x, h)


def newton_fixed_points(M, N, h, a, activation="tanh", c=None, *, n_starts=256, seed=0, tol=1e-9, max_iter=100):
    """Fixed points by damped Newton iterations from many seeded starts.

    Starts are drawn with ``numpy.random.default_rng(seed)``: half uniformly
    in the box that contains every fixed point of a bounded φ
    (``|z_r| ≤ Σ_i |N_ir| / (1 − a_r)`` for tanh), half from a standard
    normal scaled to that box; the origin is always included.

    Parameters
    ----------
    M, N : (n_units, R) array_like
    h : (n_units,) array_like
    a : float or (R,) array_like
    activation : {"tanh", "relu", "clipped_relu"}
    c : (n_units,) array_like, optional
    n_starts : int
    seed : int
    tol : float
        Convergence: ``|F(z) − z|∞ ≤ tol · (1 + |z|∞)``; points closer than
        ``1e-6`` (relative) are merged.
    max_iter : int

    Returns
    -------
    FixedPoints
        ``exhaustive=False``; ``n_systems_solved`` counts Newton steps.
    """
    M, N, h, a, c, activation = _validate(M, N, h, a, activation, c, tol)
    if not isinstance(n_starts, (int, np.integer)) or n_starts < 1:
        raise ValueError(f"n_starts must be a positive integer; got {n_starts!r}")
    n_units, R = M.shape
    rng = np.random.default_rng(seed)
    if activation == "tanh":
        box = np.sum(np.abs(N), axis=0) / (1.0 - a) + 1e-12
    else:
        box = np.full(R, 10.0)
    half = n_starts // 2
    Z = np.concatenate([
        np.zeros((1, R)),
        rng.uniform(-1.0, 1.0, (half, R)) * box,
        rng.standard_normal((n_starts - half - 1, R)) * box / 3.0,
    ])[:n_starts]
    n_steps = 0
    for _ in range(max_iter):
        x = Z @ M.T + (c - h)[None, :]
        f, d = _phi(activation, x, h)
        G = Z * (a - 1.0)[None, :] + f @ N
        J = np.diag(a - 1.0)[None] + np.einsum("ui,pu,uj->pij", N, d, M)
        gnorm = np.max(np.abs(G), axis=1)
        done = gnorm <= tol * (1.0 + np.max(np.abs(Z), axis=1))
        if np.all(done):
            break
        act = ~done
        # pinv, not solve: a start may sit where the Jacobian is singular
        step = -(np.linalg.pinv(J[act]) @ G[act][..., None])[..., 0]
        n_steps += int(act.sum())
        # backtracking on |G|: halve the step until the residual decreases
        Za = Z[act]
        ga = gnorm[act]
        lam = np.ones(Za.shape[0])
        for _ in range(20):
            Zt = Za + lam[:, None] * step
            xt = Zt @ M.T + (c - h)[None, :]
            ft, _d = _phi(activation, xt, h)
            gt = np.max(np.abs(Zt * (a - 1.0)[None, :] + ft @ N), axis=1)
            bad = gt > ga * (1.0 - 1e-4 * lam)
            if not np.any(bad):
                break
            lam = np.where(bad, lam * 0.5, lam)
        Z[act] = Za + lam[:, None] * step
    x = Z @ M.T + (c - h)[None, :]
    f, d = _phi(activation, x, h)
    G = Z * (a - 1.0)[None, :] + f @ N
    conv = np.max(np.abs(G), axis=1) <= max(tol, 1e-10) * 1e2 * (1.0 + np.max(np.abs(Z), axis=1))
    keep = []
    for z in Z[conv]:
        if not any(np.max(np.abs(z - y)) <= 1e-6 * (1.0 + np.max(np.abs(z))) for y in keep):
            keep.append(z)
    codes, slopes = [], []
    for z in keep:
        xz = M @ z + c - h
        _, dz = _phi(activation, xz, h)
        slopes.append(dz)
        if activation == "clipped_relu":
            codes.append((xz + h > 0).astype(np.int8) + (xz > 0).astype(np.int8))
        else:
            codes.append((xz > 0).astype(np.int8))
    return _build(M, N, a, keep, codes, slopes, [], activation=activation, method="newton", exhaustive=False,
                  n_vertices=0, n_regions=0, n_solved=n_steps, n_hyperplanes=0)


__all__ = ["brute_force_fixed_points", "newton_fixed_points", "MAX_BRUTE_UNITS"]
