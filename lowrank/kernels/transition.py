"""Transition mean ``f(z, v) = a * z + nᵀ phi(m z + W_u v - h)`` and its adjoint.

Kernels take the transposed loadings ``mT, nT`` (R, N), C-contiguous, so that
every inner loop runs over units with unit stride. Each inner loop over the
units writes a single array: loops that update several arrays at once can
defeat LLVM's vectoriser (it cannot prove the arrays do not alias, and with
many of them it gives up on the run-time checks); the activation is
dispatched once per loop, not per unit, for the same reason. The lanes loops
below write two rows each and still vectorise, behind a run-time overlap check.

The input drive ``xb = W_u v - h`` (N,) is computed once per step and shared
by all particles. Two layouts of a step's particles:

- rank 2 with ReLU (the spiking models, a few dozen units, tens of
  particles): the particles are the vector lanes (:func:`use_lanes`,
  :func:`transition_means_lanes`, :func:`transition_reverse_lanes`): a loop
  over the units outside, over the particles inside;
- otherwise (the EEG's hundreds of units) the units are the lanes:
  particles are processed two per pass over the units for rank 3
  (:func:`transition_means`), so each load of ``mT, nT`` serves both, one
  per pass for other ranks; all particles of a step in one call of each
  function.

:func:`step_means` picks the layout for a step. The
backward pass recomputes the pre-activations from the stored particles
(:func:`preactivations`) instead of storing N floats per particle and step.
Its reverse mode is split in two: a per-particle part (adjoints of the
pre-activation and of ``z``, :func:`transition_adjoints`) and a block part
(:func:`transition_adjoint_block`) that forms ``dnT += DFᵀ P`` and
``dmT += ZPᵀ GX``, touching each row of ``dmT, dnT`` once per four particles.
"""
import math

import numba

from ..config import CACHE, FASTMATH
from ..model.codes import ACT_CLIPPED_RELU, ACT_RELU, ACT_TANH


@numba.njit(fastmath=FASTMATH, cache=CACHE)
def input_drive(Wu, v, h, xb):
    """``xb = W_u v - h``; ``Wu`` (N, U), ``v`` (U,), ``h`` (N,), out ``xb`` (N,)."""
    N, U = Wu.shape
    for i in range(N):
        s = -h[i]
        for u in range(U):
            s += Wu[i, u] * v[u]
        xb[i] = s


@numba.njit(fastmath=FASTMATH, cache=CACHE)
def rates(act, X, h, P):
    """``P = phi(X)`` elementwise for the rows of ``X`` (K, N) (clipped ReLU: ``relu(x + h) - relu(x)``).

    All rows in one call: every call binds its arrays, which costs an atomic
    reference-count update each (see :mod:`lowrank.kernels.smc_forward`).
    """
    K, N = X.shape
    for k in range(K):
        # Row views give LLVM one-dimensional loops, which it vectorises.
        x = X[k]
        p = P[k]
        if act == ACT_RELU:
            for i in range(N):
                p[i] = max(x[i], 0.0)
        elif act == ACT_CLIPPED_RELU:
            for i in range(N):
                p[i] = max(x[i] + h[i], 0.0) - max(x[i], 0.0)
        elif act == ACT_TANH:
            for i in range(N):
                p[i] = math.tanh(x[i])
        else:
            for i in range(N):
                p[i] = x[i]


@numba.njit(fastmath=FASTMATH, cache=CACHE)
def rates_adjoint(act, X, h, G, dhp):
    """Turn ``G`` (K, N) (adjoints of the rates) into the adjoints of ``X`` (K, N) in place.

    For clipped ReLU also accumulates ``dhp += G * [X + h > 0]`` (the
    explicit ``h`` inside phi); the ``-h`` in ``X`` is handled by the caller
    through the input-current adjoint.
    """
    K, N = X.shape
    for k in range(K):
        x = X[k]
        g = G[k]
        if act == ACT_RELU:
            for i in range(N):
                g[i] = g[i] if x[i] > 0.0 else 0.0
        elif act == ACT_CLIPPED_RELU:
            for i in range(N):
                xi = x[i]
                gi = g[i]
                up = gi if xi + h[i] > 0.0 else 0.0
                dhp[i] += up
                g[i] = up - (gi if xi > 0.0 else 0.0)
        elif act == ACT_TANH:
            for i in range(N):
                t = math.tanh(x[i])
                g[i] = g[i] * (1.0 - t * t)


@numba.njit(fastmath=FASTMATH, cache=CACHE)
def lincomb(base, M, c, out):
    """``out = base + Mᵀ c`` for ``M`` (R, N); one pass over units when R <= 3."""
    R, N = M.shape
    if R == 3:
        c0, c1, c2 = c[0], c[1], c[2]
        for i in range(N):
            out[i] = base[i] + M[0, i] * c0 + M[1, i] * c1 + M[2, i] * c2
    elif R == 2:
        c0, c1 = c[0], c[1]
        for i in range(N):
            out[i] = base[i] + M[0, i] * c0 + M[1, i] * c1
    else:
        for i in range(N):
            out[i] = base[i]
        for r in range(R):
            cr = c[r]
            for i in range(N):
                out[i] += M[r, i] * cr


@numba.njit(fastmath=FASTMATH, cache=CACHE)
def rowdots(M, v, out):
    """``out = M v`` for ``M`` (R, N); one pass over units when R <= 3."""
    R, N = M.shape
    if R == 3:
        s0 = s1 = s2 = 0.0
        for i in range(N):
            vi = v[i]
            s0 += M[0, i] * vi
            s1 += M[1, i] * vi
            s2 += M[2, i] * vi
        out[0], out[1], out[2] = s0, s1, s2
    elif R == 2:
        s0 = s1 = 0.0
        for i in range(N):
            vi = v[i]
            s0 += M[0, i] * vi
            s1 += M[1, i] * vi
        out[0], out[1] = s0, s1
    else:
        for r in range(R):
            s = 0.0
            for i in range(N):
                s += M[r, i] * v[i]
            out[r] = s


@numba.njit(fastmath=FASTMATH, cache=CACHE)
def _lincomb0(M, c, out):
    R, N = M.shape
    if R == 3:
        c0, c1, c2 = c[0], c[1], c[2]
        for i in range(N):
            out[i] = M[0, i] * c0 + M[1, i] * c1 + M[2, i] * c2
    elif R == 2:
        c0, c1 = c[0], c[1]
        for i in range(N):
            out[i] = M[0, i] * c0 + M[1, i] * c1
    else:
        c0 = c[0]
        for i in range(N):
            out[i] = M[0, i] * c0
        for r in range(1, R):
            cr = c[r]
            for i in range(N):
                out[i] += M[r, i] * cr


@numba.njit(fastmath=FASTMATH, cache=CACHE)
def outer_accumulate(dM, C, V, total, with_total):
    """``dM += C.T @ V`` for ``dM`` (R, N), ``C`` (K, R), ``V`` (K, N).

    Four particles per pass, so each row of ``dM`` is loaded and stored once
    per four particles instead of once per particle. With ``with_total``
    also ``total += V.sum(axis=0)`` (N,), fused into the pass for row 0
    so ``V`` is read once for both.
    """
    R, N = dM.shape
    K = C.shape[0]
    for r in range(R):
        tot = with_total and r == 0
        k = 0
        while k + 4 <= K:
            c0, c1, c2, c3 = C[k, r], C[k + 1, r], C[k + 2, r], C[k + 3, r]
            if tot:
                for i in range(N):
                    v0, v1, v2, v3 = V[k, i], V[k + 1, i], V[k + 2, i], V[k + 3, i]
                    dM[r, i] += v0 * c0 + v1 * c1 + v2 * c2 + v3 * c3
                    total[i] += v0 + v1 + v2 + v3
            else:
                for i in range(N):
                    dM[r, i] += V[k, i] * c0 + V[k + 1, i] * c1 + V[k + 2, i] * c2 + V[k + 3, i] * c3
            k += 4
        while k < K:
            c0 = C[k, r]
            if tot:
                for i in range(N):
                    v0 = V[k, i]
                    dM[r, i] += v0 * c0
                    total[i] += v0
            else:
                for i in range(N):
                    dM[r, i] += V[k, i] * c0
            k += 1


@numba.njit(fastmath=FASTMATH, cache=CACHE)
def transition_adjoint_block(DF, ZP, P, GX, dmT, dnT, dxb):
    """Parameter adjoints of K transitions: ``dnT += DFᵀ P``, ``dmT += ZPᵀ GX``,
    ``dxb += sum_k GX[k]`` (adjoint of the input current ``W_u v``).

    ``DF, ZP`` (K, R); ``P, GX`` (K, N); ``dmT, dnT`` (R, N); ``dxb`` (N,).
    """
    outer_accumulate(dnT, DF, P, dxb, False)
    outer_accumulate(dmT, ZP, GX, dxb, True)


# ---- all particles of a step, two per pass for rank 3 (each load of mT, nT serves both), else one
#
# Each function handles every particle in one call: a call binds its array
# arguments, and each binding is an atomic reference-count update, which
# per particle would cost as much as the arithmetic.

@numba.njit(fastmath=FASTMATH, cache=CACHE)
def _preactivation_pairs(Z, mT, xb, X):
    """``X[k] = mT.T @ Z[k] + xb`` for the rows of ``Z`` (K, R), two per pass over the units for R = 3."""
    R, N = mT.shape
    K = Z.shape[0]
    k = 0
    while k + 1 < K:
        if R == 3:
            a0, a1, a2 = Z[k, 0], Z[k, 1], Z[k, 2]
            b0, b1, b2 = Z[k + 1, 0], Z[k + 1, 1], Z[k + 1, 2]
            for i in range(N):
                m0, m1, m2, base = mT[0, i], mT[1, i], mT[2, i], xb[i]
                X[k, i] = base + m0 * a0 + m1 * a1 + m2 * a2
                X[k + 1, i] = base + m0 * b0 + m1 * b1 + m2 * b2
        else:
            lincomb(xb, mT, Z[k], X[k])
            lincomb(xb, mT, Z[k + 1], X[k + 1])
        k += 2
    if k < K:
        lincomb(xb, mT, Z[k], X[k])


@numba.njit(fastmath=FASTMATH, cache=CACHE)
def _lincomb0_pairs(M, C, out):
    """``out[k] = M.T @ C[k]`` for the rows of ``C`` (K, R), two per pass over the units for R = 3."""
    R, N = M.shape
    K = C.shape[0]
    k = 0
    while k + 1 < K:
        if R == 3:
            a0, a1, a2 = C[k, 0], C[k, 1], C[k, 2]
            b0, b1, b2 = C[k + 1, 0], C[k + 1, 1], C[k + 1, 2]
            for i in range(N):
                m0, m1, m2 = M[0, i], M[1, i], M[2, i]
                out[k, i] = m0 * a0 + m1 * a1 + m2 * a2
                out[k + 1, i] = m0 * b0 + m1 * b1 + m2 * b2
        else:
            _lincomb0(M, C[k], out[k])
            _lincomb0(M, C[k + 1], out[k + 1])
        k += 2
    if k < K:
        _lincomb0(M, C[k], out[k])


@numba.njit(fastmath=FASTMATH, cache=CACHE)
def _rowdots_pairs(M, V, out):
    """``out[k] = M @ V[k]`` for the rows of ``V`` (K, N), two per pass over the units for R = 3."""
    R, N = M.shape
    K = V.shape[0]
    k = 0
    while k + 1 < K:
        if R == 3:
            s0 = s1 = s2 = t0 = t1 = t2 = 0.0
            for i in range(N):
                m0, m1, m2 = M[0, i], M[1, i], M[2, i]
                u, w = V[k, i], V[k + 1, i]
                s0 += m0 * u
                s1 += m1 * u
                s2 += m2 * u
                t0 += m0 * w
                t1 += m1 * w
                t2 += m2 * w
            out[k, 0], out[k, 1], out[k, 2] = s0, s1, s2
            out[k + 1, 0], out[k + 1, 1], out[k + 1, 2] = t0, t1, t2
        else:
            rowdots(M, V[k], out[k])
            rowdots(M, V[k + 1], out[k + 1])
        k += 2
    if k < K:
        rowdots(M, V[k], out[k])


@numba.njit(fastmath=FASTMATH, cache=CACHE)
def preactivations(act, Z, mT, h, xb, X, P):
    """Pre-activations ``X`` and rates ``P`` (K, N) of parents ``Z`` (K, R).

    ``mT`` (R, N); ``h`` (N,); ``xb`` (N,) the input drive ``W_u v - h``.
    """
    _preactivation_pairs(Z, mT, xb, X)
    rates(act, X, h, P)


@numba.njit(fastmath=FASTMATH, cache=CACHE)
def transition_means(act, Z, a, mT, nT, h, xb, X, P, F):
    """``F[k] = a*Z[k] + nT @ phi(mT.T @ Z[k] + xb)`` for every particle k.

    ``Z, F`` (K, R); ``a`` (R,); ``mT, nT`` (R, N); ``h, xb`` (N,); ``X, P``
    (K, N) receive the pre-activations and rates.
    """
    preactivations(act, Z, mT, h, xb, X, P)
    _rowdots_pairs(nT, P, F)
    K, R = Z.shape
    for k in range(K):
        for r in range(R):
            F[k, r] += a[r] * Z[k, r]


@numba.njit(fastmath=FASTMATH, cache=CACHE)
def transition_adjoints(act, Z, a, mT, nT, h, X, DF, GX, DZ, dhp, da):
    """Per-particle reverse of :func:`transition_means`.

    Given ``DF`` (K, R) and the pre-activations ``X`` (K, N) of parents ``Z``
    (K, R), writes ``GX`` (K, N) (adjoints of the pre-activations) and ``DZ``
    (K, R); accumulates ``da`` (R,) and (clipped ReLU) ``dhp`` (N,).
    Parameter adjoints of ``mT, nT`` and the input current follow from
    :func:`transition_adjoint_block`.
    """
    _lincomb0_pairs(nT, DF, GX)
    rates_adjoint(act, X, h, GX, dhp)
    _rowdots_pairs(mT, GX, DZ)
    K, R = Z.shape
    for k in range(K):
        for r in range(R):
            DZ[k, r] += a[r] * DF[k, r]
            da[r] += DF[k, r] * Z[k, r]


# ---- rank 2: the particles of a step as the vector lanes
#
# With N of a few dozen units a pass over the units is a handful of vector
# iterations, and the pair functions above spend their time starting passes
# and summing vectors across. For R = 2, ReLU and K >= LANES_MIN_PARTICLES
# the functions below loop over the units outside and over the particles
# inside, with the particles transposed (``ZT, FT`` (2, K)): each unit's
# loadings are scalars there, and one pass over the particles does a unit's
# whole share (pre-activation, rate, slope, both adjoints). 1.7x (transition)
# and 3x (its reverse) at N = 40, K = 64 on the project's machine, 8 % of a
# spiking step; still ahead at K = 10. ReLU only, and the pair functions
# keep no rank-2 branch of their own: every loop variant lengthens the
# reverse mode's compile, the cold start's critical path.

LANES_MIN_PARTICLES = 8


@numba.njit(fastmath=FASTMATH, cache=CACHE)
def use_lanes(act, R, K):
    """Whether :func:`transition_means_lanes` and :func:`transition_reverse_lanes` take a step's
    transitions: rank 2, ReLU, at least ``LANES_MIN_PARTICLES`` particles."""
    return R == 2 and K >= LANES_MIN_PARTICLES and act == ACT_RELU


@numba.njit(fastmath=FASTMATH, cache=CACHE)
def transition_means_lanes(ZT, a, mT, nT, xb, FT):
    """:func:`transition_means` with the particles as lanes (:func:`use_lanes` must hold).

    ``ZT, FT`` (2, K): parents and prior means, transposed; ``a`` (2,);
    ``mT, nT`` (2, N); ``xb`` (N,).
    """
    z0, z1, f0, f1 = ZT[0], ZT[1], FT[0], FT[1]
    a0, a1 = a[0], a[1]
    for k in range(z0.shape[0]):
        f0[k] = a0 * z0[k]
        f1[k] = a1 * z1[k]
    for i in range(mT.shape[1]):
        m0, m1, n0, n1, base = mT[0, i], mT[1, i], nT[0, i], nT[1, i], xb[i]
        for k in range(z0.shape[0]):
            p = max(base + m0 * z0[k] + m1 * z1[k], 0.0)
            f0[k] += n0 * p
            f1[k] += n1 * p


@numba.njit(fastmath=FASTMATH, cache=CACHE)
def transition_reverse_lanes(ZT, a, mT, nT, xb, DFT, DZT, dmT, dnT, dxb, da):
    """Reverse of :func:`transition_means_lanes`: :func:`transition_adjoints` and
    :func:`transition_adjoint_block` in one pass over the units, recomputing the pre-activations.

    ``ZT, DFT, DZT`` (2, K): parents, the prior means' adjoints, and (written) the parents'
    adjoints, transposed; accumulates ``dmT, dnT`` (2, N), ``dxb`` (N,) (the input current's
    adjoint) and ``da`` (2,).
    """
    z0, z1, g0, g1, d0, d1 = ZT[0], ZT[1], DFT[0], DFT[1], DZT[0], DZT[1]
    a0, a1 = a[0], a[1]
    s0 = s1 = 0.0
    for k in range(z0.shape[0]):
        d0[k] = a0 * g0[k]
        d1[k] = a1 * g1[k]
        s0 += g0[k] * z0[k]
        s1 += g1[k] * z1[k]
    da[0] += s0
    da[1] += s1
    for i in range(mT.shape[1]):
        m0, m1, n0, n1, base = mT[0, i], mT[1, i], nT[0, i], nT[1, i], xb[i]
        p0 = p1 = q0 = q1 = sx = 0.0
        for k in range(z0.shape[0]):
            x = base + m0 * z0[k] + m1 * z1[k]
            p = max(x, 0.0)
            gx = n0 * g0[k] + n1 * g1[k] if x > 0.0 else 0.0
            p0 += g0[k] * p
            p1 += g1[k] * p
            q0 += z0[k] * gx
            q1 += z1[k] * gx
            sx += gx
            d0[k] += m0 * gx
            d1[k] += m1 * gx
        dnT[0, i] += p0
        dnT[1, i] += p1
        dmT[0, i] += q0
        dmT[1, i] += q1
        dxb[i] += sx


@numba.njit(fastmath=FASTMATH, cache=CACHE)
def step_means(act, Z, a, mT, nT, h, xb, X, P, ZT, FT, F):
    """``F[k] = a*Z[k] + nT @ phi(mT.T @ Z[k] + xb)`` for every particle k, in the layout
    :func:`use_lanes` picks.

    ``Z, F`` (K, R); ``a`` (R,); ``mT, nT`` (R, N); ``h, xb`` (N,); scratch: ``X, P`` (K, N)
    (units as lanes), ``ZT, FT`` (R, K) (particles as lanes).
    """
    K, R = Z.shape
    if not use_lanes(act, R, K):
        transition_means(act, Z, a, mT, nT, h, xb, X, P, F)
        return
    for r in range(R):
        for k in range(K):
            ZT[r, k] = Z[k, r]
    transition_means_lanes(ZT, a, mT, nT, xb, FT)
    for k in range(K):
        for r in range(R):
            F[k, r] = FT[r, k]
