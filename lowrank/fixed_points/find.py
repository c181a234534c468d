"""One entry point for every fixed-point finder: :func:`find_fixed_points`."""
from __future__ import annotations

from .._checks import check_choice
from .brute import brute_force_fixed_points, newton_fixed_points
from .enumerate import _enumerate
from .regions import _validate

METHODS = ("auto", "enumerate", "brute", "newton")


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
    check_choice("method", method, METHODS)
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

