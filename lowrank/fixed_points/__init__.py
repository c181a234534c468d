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
kernel (see :mod:`lowrank.kernels.arrangement` for the algorithm).
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
from .brute import brute_force_fixed_points, newton_fixed_points
from .find import find_fixed_points
from .regions import ACTIVATIONS, Continuum, FixedPoints, format_table, zaslavsky_bound

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
