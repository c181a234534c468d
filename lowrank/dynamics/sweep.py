"""Fixed points along a path of constant inputs: branches, folds and Hopf-like events.

:func:`sweep_inputs` enumerates every fixed point at each input of the path
(:func:`lowrank.fixed_points.find_fixed_points`), links them into branches
between neighbouring inputs (minimum-distance assignment), and reports

* ``"saddle-node"``: two branches end (or begin) together between two
  inputs, so fixed points disappear (appear) in a pair;
* ``"hopf"``: along a branch a complex pair of eigenvalues crosses the unit
  circle (located by interpolating the modulus linearly);
* ``"stability"``: any other change of a branch's stability label (a real
  eigenvalue crossing ±1).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._checks import as_float_array
from ..fixed_points import find_fixed_points
from .cycles import model_arrays

__all__ = ["Sweep", "Event", "sweep_inputs"]


@dataclass(frozen=True)
class Event:
    """A change along the sweep (in :attr:`Sweep.events`).

    Parameters
    ----------
    kind : str
        ``"saddle-node"``, ``"hopf"`` or ``"stability"``.
    index : int
        Between ``inputs[index]`` and ``inputs[index + 1]``.
    input : (U,) float64
        Where (interpolated; for a saddle-node the midpoint).
    z : (R,) float64
        The fixed point(s) involved there (for a saddle-node the mean of the pair's last points).
    branches : tuple of int
        The branches (rows of :attr:`Sweep.branches`) involved.

    Examples
    --------
    >>> import lowrank.dynamics as dyn
    >>> ring = lowrank.teachers.get("ring").model
    >>> sweep = dyn.sweep_inputs(ring, np.linspace([0.0, 0.0], [2.0, 0.0], 5))
    >>> event = sweep.events[0]
    >>> event.kind, event.index
    ('saddle-node', 0)
    """

    kind: str
    index: int
    input: np.ndarray
    z: np.ndarray
    branches: tuple

    def to_dict(self):
        return {"kind": self.kind, "index": self.index, "input": self.input.tolist(), "z": self.z.tolist(),
                "branches": list(self.branches)}


@dataclass(frozen=True, repr=False)
class Sweep:
    """Fixed points along a path of inputs (what :func:`sweep_inputs` returns).

    Parameters
    ----------
    inputs : (n_points, U) float64
        The path.
    fixed_points : tuple of FixedPoints
        One per input.
    branches : (n_branches, n_points, R) float64
        Tracked fixed points, NaN where a branch does not exist.
    radius : (n_branches, n_points) float64
        Largest eigenvalue modulus along each branch (NaN where absent).
    stability : (n_branches, n_points) object
        Labels (``""`` where absent).
    events : tuple of Event
        In the order of the path.

    Examples
    --------
    >>> import lowrank.dynamics as dyn
    >>> ring = lowrank.teachers.get("ring").model
    >>> sweep = dyn.sweep_inputs(ring, np.linspace([0.0, 0.0], [2.0, 0.0], 5))
    >>> sweep
    Sweep(n_points=5, branches=45, events=25)
    >>> sweep.branches.shape                                   # (n_branches, n_points, R)
    (45, 5, 2)
    """

    inputs: np.ndarray
    fixed_points: tuple
    branches: np.ndarray
    radius: np.ndarray
    stability: np.ndarray
    events: tuple

    def __repr__(self):
        return f"Sweep(n_points={self.inputs.shape[0]}, branches={self.branches.shape[0]}, events={len(self.events)})"

    def to_dict(self):
        return {"inputs": self.inputs.tolist(), "n_fixed_points": [len(f) for f in self.fixed_points],
                "branches": np.where(np.isnan(self.branches), None, self.branches).tolist(),
                "stability": self.stability.tolist(), "events": [e.to_dict() for e in self.events]}


def _link(prev, new):
    """Pairs (i_prev, j_new) of a minimum total distance assignment."""
    from scipy.optimize import linear_sum_assignment
    if len(prev) == 0 or len(new) == 0:
        return []
    D = np.linalg.norm(prev[:, None, :] - new[None, :, :], axis=2)
    rows, cols = linear_sum_assignment(D)
    return list(zip(rows.tolist(), cols.tolist()))


def _track(points):
    """Branch id of every fixed point of every step: list of (n_fp,) int arrays, and the count."""
    ids, n_br = [], 0
    for i, fp in enumerate(points):
        cur = np.full(len(fp), -1, dtype=np.int64)
        if i > 0:
            for p, q in _link(points[i - 1].z, fp.z):
                cur[q] = ids[-1][p]
        for q in range(len(fp)):
            if cur[q] < 0:
                cur[q] = n_br
                n_br += 1
        ids.append(cur)
    return ids, n_br


def _pair_events(kind, idx, inputs, ends, z_of):
    """A saddle-node between steps idx and idx+1 for each pair among the branches ``ends``."""
    out = []
    ends = list(ends)
    while len(ends) >= 2:
        # the two closest ends form the pair
        best = min(((p, q) for p in ends for q in ends if p < q),
                   key=lambda pq: np.linalg.norm(z_of[pq[0]] - z_of[pq[1]]))
        out.append(Event(kind, idx, 0.5 * (inputs[idx] + inputs[idx + 1]),
                         0.5 * (z_of[best[0]] + z_of[best[1]]), best))
        ends = [e for e in ends if e not in best]
    if ends:
        # a lone end: the pair met exactly on a grid point (or on a region boundary) and ended as one
        out.append(Event(kind, idx, 0.5 * (inputs[idx] + inputs[idx + 1]), z_of[ends[0]], (ends[0],)))
    return out


def _branch_events(b, inputs, br, radius, stab, ev):
    out = []
    for i in range(inputs.shape[0] - 1):
        s0, s1 = stab[b, i], stab[b, i + 1]
        if not s0 or not s1 or s0 == s1:
            continue
        r0, r1 = radius[b, i], radius[b, i + 1]
        t = 0.5 if r0 == r1 else float(np.clip((1.0 - r0) / (r1 - r0), 0.0, 1.0))
        complex_pair = ev[b][i] and ev[b][i + 1]
        kind = "hopf" if complex_pair and (r0 - 1.0) * (r1 - 1.0) < 0 else "stability"
        out.append(Event(kind, i, inputs[i] + t * (inputs[i + 1] - inputs[i]),
                         br[b, i] + t * (br[b, i + 1] - br[b, i]), (b,)))
    return out


def sweep_inputs(model, inputs, **kwargs):
    """Fixed points and their stability along a path of constant inputs.

    Parameters
    ----------
    model : LowRankRNN
        A model with ``n_inputs = U ≥ 1``.
    inputs : (n_points, U) array_like
        The path (in order: branches are linked between neighbours).
    **kwargs
        Passed to :func:`lowrank.fixed_points.find_fixed_points` (``tol``, ``method``).

    Returns
    -------
    Sweep
        Events are located within one step of the path (a saddle-node at the
        midpoint of the step where the pair disappears or appears).

    Examples
    --------
    >>> import lowrank.dynamics as dyn
    >>> ring = lowrank.teachers.get("ring").model                # a ring attractor with 2 inputs
    >>> sweep = dyn.sweep_inputs(ring, np.linspace([0.0, 0.0], [2.0, 0.0], 5))
    >>> sorted({e.kind for e in sweep.events})
    ['saddle-node', 'stability']
    """
    if not (hasattr(model, "params") and hasattr(model, "options")):
        raise TypeError(f"model must be a LowRankRNN; got {type(model).__name__}")
    U = model.options.n_inputs
    if U < 1:
        raise ValueError("sweep_inputs needs a model with inputs (n_inputs >= 1)")
    inputs = as_float_array("inputs", inputs, (2,), shape_desc=f"(n_points, U) with U = {U}")
    if inputs.shape[1] != U or inputs.shape[0] < 2:
        raise ValueError(f"inputs must have shape (n_points >= 2, U = {U}); got {inputs.shape}")
    points = []
    for u in inputs:
        M, N, h, a, c, act = model_arrays(model, u)
        points.append(find_fixed_points(M, N, h, a, act, c, **kwargs))
    ids, n_br = _track(points)
    n, R = inputs.shape[0], model.options.rank
    br = np.full((n_br, n, R), np.nan)
    radius = np.full((n_br, n), np.nan)
    stab = np.full((n_br, n), "", dtype=object)
    iscomplex = [[False] * n for _ in range(n_br)]
    for i, (fp, cur) in enumerate(zip(points, ids)):
        for q, b in enumerate(cur):
            br[b, i] = fp.z[q]
            radius[b, i] = float(np.max(np.abs(fp.eigenvalues[q]))) if R else 0.0
            stab[b, i] = fp.stability[q]
            top = fp.eigenvalues[q][0]
            iscomplex[b][i] = bool(abs(top.imag) > 1e-12)
    events = []
    for i in range(n - 1):
        alive0, alive1 = set(ids[i].tolist()), set(ids[i + 1].tolist())
        events += _pair_events("saddle-node", i, inputs, sorted(alive0 - alive1), {b: br[b, i] for b in alive0})
        events += _pair_events("saddle-node", i, inputs, sorted(alive1 - alive0), {b: br[b, i + 1] for b in alive1})
    for b in range(n_br):
        events += _branch_events(b, inputs, br, radius, stab, iscomplex)
    events.sort(key=lambda e: (e.index, e.kind, e.branches))
    return Sweep(inputs=inputs, fixed_points=tuple(points), branches=br, radius=radius, stability=stab,
                 events=tuple(events))
