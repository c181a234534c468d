"""Brute-force k-cycles: every sequence of slope patterns (independent of lowrank's region algebra).

Each unit's activation is affine on each of its pieces (relu: x ≤ 0, x ≥ 0;
clipped relu: below, between and above its two kinks); the slope and the
constant are read off φ at two points inside the piece.  For every sequence of
k patterns the composed affine map's fixed point is solved and kept if every
orbit point lies in the closure of its pattern's pieces.
"""
import itertools

import numpy as np

from lowrank.model.equations import phi


def _pieces(activation, h):
    """Per unit: list of (lo, hi, slope, const) of x on each piece."""
    out = []
    for hi_ in h:
        kinks = [0.0] if activation == "relu" else sorted([0.0, -hi_])
        edges = [-np.inf] + kinks + [np.inf]
        unit = []
        for lo, hi in zip(edges[:-1], edges[1:]):
            # two points inside the piece
            if np.isfinite(lo) and np.isfinite(hi):
                x1, x2 = lo + 0.25 * (hi - lo), lo + 0.75 * (hi - lo)
            elif np.isfinite(hi):
                x1, x2 = hi - 2.0, hi - 1.0
            else:
                x1, x2 = lo + 1.0, lo + 2.0
            f1, f2 = phi(activation, np.array([x1]), np.array([hi_]))[0], phi(activation, np.array([x2]),
                                                                            np.array([hi_]))[0]
            slope = (f2 - f1) / (x2 - x1)
            unit.append((lo, hi, slope, f1 - slope * x1))
        out.append(unit)
    return out


def brute_cycles(M, N, h, a, k, activation="relu", c=None, tol=1e-9):
    """Cycles of minimal period k: list of (k, R) orbits (canonical rotation), and the number of
    singular sequences seen."""
    n, R = M.shape
    c = np.zeros(n) if c is None else c
    a = np.full(R, a) if np.ndim(a) == 0 else np.asarray(a)
    pieces = _pieces(activation, h)
    n_lev = len(pieces[0]) if n else 1
    patterns = list(itertools.product(range(n_lev), repeat=n))
    maps = []
    for p in patterns:
        sl = np.array([pieces[i][p[i]][2] for i in range(n)])
        cs = np.array([pieces[i][p[i]][3] for i in range(n)])
        A = np.diag(a) + N.T @ (sl[:, None] * M)
        off = N.T @ (sl * (c - h) + cs)
        maps.append((A, off))
    norms = np.linalg.norm(M, axis=1)
    offscale = 1.0 + np.max(np.abs(np.concatenate([(h - c) / np.where(norms > 0, norms, 1), [0.0]])))
    found, n_singular = [], 0
    for seq in itertools.product(range(len(patterns)), repeat=k):
        A, off = np.eye(R), np.zeros(R)
        for s in seq:
            As, os_ = maps[s]
            A, off = As @ A, As @ off + os_
        B = np.eye(R) - A
        if abs(np.linalg.det(B)) < 1e-11 * max(1.0, np.max(np.abs(B))) ** R:
            n_singular += 1
            continue
        z = np.linalg.solve(B, off)
        orbit, ok = [], True
        for s in seq:
            x = M @ z + c - h
            thr = tol * (offscale + np.max(np.abs(z))) * np.maximum(norms, 1e-300)
            p = patterns[s]
            for i in range(n):
                lo, hi = pieces[i][p[i]][:2]
                if x[i] < lo - thr[i] or x[i] > hi + thr[i]:
                    ok = False
            orbit.append(z)
            As, os_ = maps[s]
            z = As @ z + os_
            if not ok:
                break
        if not ok:
            continue
        orbit = np.array(orbit)
        scale = 1.0 + np.max(np.abs(orbit))
        if any(k % d == 0 and np.max(np.abs(orbit[d] - orbit[0])) <= 1e-7 * scale for d in range(1, k)):
            continue
        i0 = min(range(k), key=lambda j: tuple(np.round(orbit[j], 9)))
        orbit = np.roll(orbit, -i0, axis=0)
        if not any(any(np.max(np.abs(np.roll(orbit, -i, axis=0) - o)) <= 1e-7 * scale for i in range(k))
                   for o in found):
            found.append(orbit)
    return found, n_singular
