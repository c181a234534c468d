"""The encoder proposal: the transition prior times the encoder's Gaussian, and its adjoint.

At step t of a sequence the prior of a particle is ``N(f, Σ)`` (``Σ_0`` at
t = 0, ``Σ_z`` after; ``f`` its parent's transition mean, or the initial
mean) and the encoder gives ``N(μ_e, diag(1/λ))`` (``λ`` the precisions).
Their normalised product is the proposal::

    A = Σ⁻¹ + diag(λ) = L_A L_Aᵀ           per sequence and step, shared by the K particles
    z = f + A⁻¹ (λ ⊙ (μ_e − f)) + L_A⁻ᵀ ε

(``L_A⁻ᵀ ε`` has covariance ``A⁻¹``; with a diagonal ``Σ`` this is the
per-dimension product of the reference.) The weight carries both densities::

    log w = log p(y_t | z) + log N(z; f, Σ) − log q(z)
          = log p(y_t | z) + |ε|²/2 − (z − f)ᵀ Σ⁻¹ (z − f)/2 + log|Σ⁻¹|/2 − Σ_r log (L_A)_rr

The forward pass adds everything but ``log p(y_t | z)`` here
(:func:`propose_encoder`), the observation's term being shared with the
other proposals. The adjoint (:func:`encoder_adjoints`,
:func:`finish_step`) goes to the prior means, to ``Σ⁻¹`` (summed over the
steps; the caller turns it into the Cholesky factor's), to ``log|Σ⁻¹|``'s
factor directly, and to the step's ``μ_e`` and ``λ``, which the encoder
network's reverse mode takes from there.
"""
import math
from typing import NamedTuple

import numba
import numpy as np

from ..config import CACHE, FASTMATH
from .proposal import cholesky, cholesky_adjoint_into


class EncoderWork(NamedTuple):
    """Thread-local arrays of the encoder proposal at one step.

    Fields
    ------
    em, lam : (R,)            the step's encoder mean and precisions
    A, LA : (R, R)            ``Σ⁻¹ + diag(λ)`` and its lower Cholesky factor
    corr : (K,)               each particle's log-weight terms beyond ``log p(y_t | z)``
    q, p, u, d, sd : (R,)     one particle's ``λ ⊙ (μ_e − f)``, ``A⁻¹ q``, ``L_A⁻ᵀ ε``, ``z − f``, ``Σ⁻¹ d``
    w, dq, dzk, dfk : (R,)    adjoint scratch: ``L_A⁻¹ dz``, ``A⁻¹ dz``, the particle's adjoints
    dLA, dA : (R, R)          the step's adjoints of ``L_A`` and (directly) of ``A``
    dem, dlam : (R,)          the step's adjoints of ``μ_e`` and ``λ``
    X, Li, Y : (R, R)         scratch of :func:`cholesky_adjoint_into`
    """

    em: np.ndarray
    lam: np.ndarray
    A: np.ndarray
    LA: np.ndarray
    corr: np.ndarray
    q: np.ndarray
    p: np.ndarray
    u: np.ndarray
    d: np.ndarray
    sd: np.ndarray
    w: np.ndarray
    dq: np.ndarray
    dzk: np.ndarray
    dfk: np.ndarray
    dLA: np.ndarray
    dA: np.ndarray
    dem: np.ndarray
    dlam: np.ndarray
    X: np.ndarray
    Li: np.ndarray
    Y: np.ndarray


@numba.njit(fastmath=FASTMATH, cache=CACHE)
def encoder_work(K, R):
    """A fresh :class:`EncoderWork`."""
    v = lambda: np.zeros(R)        # noqa: E731
    m = lambda: np.zeros((R, R))   # noqa: E731
    return EncoderWork(v(), v(), m(), m(), np.zeros(K), v(), v(), v(), v(), v(), v(), v(), v(), v(), m(), m(),
                       v(), v(), m(), m(), m())


@numba.njit(inline="always", fastmath=FASTMATH, cache=CACHE)
def load_step(em_s, lam_s, t, ew):
    """Copy step t's encoder mean and precisions from the sequence's ``em_s``, ``lam_s`` (T, R)."""
    for r in range(ew.em.shape[0]):
        ew.em[r] = em_s[t, r]
        ew.lam[r] = lam_s[t, r]


@numba.njit(inline="always", fastmath=FASTMATH, cache=CACHE)
def step_setup(Sinv, L, ew):
    """``A = Σ⁻¹ + diag(λ)`` and ``L_A`` into ``ew``; returns the step's constant
    ``log|Σ⁻¹|/2 − Σ log (L_A)_rr`` (``L`` (R, R) the prior's Cholesky factor)."""
    A, LA, lam = ew.A, ew.LA, ew.lam
    R = A.shape[0]
    c = 0.0
    for i in range(R):
        for j in range(R):
            A[i, j] = Sinv[i, j]
        A[i, i] += lam[i]
    cholesky(A, LA)
    for i in range(R):
        c -= math.log(L[i, i]) + math.log(LA[i, i])
    return c


@numba.njit(inline="always", fastmath=FASTMATH, cache=CACHE)
def lower_solve(L, b, x):
    """``x = L⁻¹ b`` for lower-triangular ``L`` (R, R)."""
    R = L.shape[0]
    for i in range(R):
        acc = b[i]
        for j in range(i):
            acc -= L[i, j] * x[j]
        x[i] = acc / L[i, i]


@numba.njit(inline="always", fastmath=FASTMATH, cache=CACHE)
def upper_solve(L, b, x):
    """``x = L⁻ᵀ b`` for lower-triangular ``L`` (R, R)."""
    R = L.shape[0]
    for i in range(R - 1, -1, -1):
        acc = b[i]
        for j in range(i + 1, R):
            acc -= L[j, i] * x[j]
        x[i] = acc / L[i, i]


@numba.njit(inline="always", fastmath=FASTMATH, cache=CACHE)
def particle_moves(f, ek, ew):
    """One particle's ``q = λ ⊙ (μ_e − f)``, ``p = A⁻¹ q`` and ``u = L_A⁻ᵀ ε`` into ``ew``
    (``ew.w`` is scratch); ``f``, ``ek`` (R,)."""
    em, lam, LA, q, p, u, w = ew.em, ew.lam, ew.LA, ew.q, ew.p, ew.u, ew.w
    for r in range(q.shape[0]):
        q[r] = lam[r] * (em[r] - f[r])
    lower_solve(LA, q, w)
    upper_solve(LA, w, p)
    upper_solve(LA, ek, u)


@numba.njit(inline="always", fastmath=FASTMATH, cache=CACHE)
def propose_encoder(Sinv, c0, ew, FK, EK, ZK):
    """Encoder proposal at one step: new particles ``ZK`` (K, R) and ``ew.corr`` (K,).

    ``Sinv`` (R, R) the prior's precision; ``c0`` the step's constant
    (:func:`step_setup`, which must have filled ``ew``); ``FK``, ``EK``
    (K, R) the prior means and noise. ``corr[k]`` is the log-weight
    without ``log p(y_t | z_k)``.
    """
    K, R = FK.shape
    f, ek, p, u, d, sd, corr = ew.dfk, ew.dzk, ew.p, ew.u, ew.d, ew.sd, ew.corr
    for k in range(K):
        ee = 0.0
        for r in range(R):
            f[r] = FK[k, r]
            ek[r] = EK[k, r]
            ee += ek[r] * ek[r]
        particle_moves(f, ek, ew)
        quad = 0.0
        for r in range(R):
            d[r] = p[r] + u[r]
            ZK[k, r] = f[r] + d[r]
        for r in range(R):
            acc = 0.0
            for c in range(R):
                acc += Sinv[r, c] * d[c]
            sd[r] = acc
            quad += d[r] * acc
        corr[k] = c0 + 0.5 * (ee - quad)


@numba.njit(inline="always", fastmath=FASTMATH, cache=CACHE)
def start_step_adjoint(ew):
    """Zero the step's accumulators ``dLA``, ``dA``, ``dem``, ``dlam``."""
    ew.dLA[:, :] = 0.0
    ew.dA[:, :] = 0.0
    ew.dem[:] = 0.0
    ew.dlam[:] = 0.0


@numba.njit(inline="always", fastmath=FASTMATH, cache=CACHE)
def encoder_adjoints(Sinv, dSinv, ew, dlw, FK, EK, dz, DF):
    """Particle adjoints of one step under the encoder proposal; returns ``Σ_k dlw[k]``.

    ``dlw`` (K,) the log-weights' adjoints; ``FK``, ``EK`` (K, R) prior means
    and noise; ``dz`` (K, R) the particles' adjoints, holding already the
    observation's and the later steps' shares. Writes the prior means'
    adjoints ``DF`` (K, R); accumulates ``dSinv`` (R, R) and the step's
    ``ew.dLA``, ``ew.dA``, ``ew.dem``, ``ew.dlam`` (see :func:`finish_step`).
    :func:`step_setup` must have filled ``ew`` for the step.
    """
    K, R = FK.shape
    lam, em, p, u, d, w, dq, dzk, dfk = ew.lam, ew.em, ew.p, ew.u, ew.d, ew.w, ew.dq, ew.dzk, ew.dfk
    dLA, dA, dem, dlam = ew.dLA, ew.dA, ew.dem, ew.dlam
    total = 0.0
    for k in range(K):
        wk = dlw[k]
        total += wk
        for r in range(R):
            dfk[r] = FK[k, r]
            dzk[r] = EK[k, r]
        particle_moves(dfk, dzk, ew)        # q, p, u of the particle (w is scratch)
        for r in range(R):
            d[r] = p[r] + u[r]
        # The prior's density: -(z-f)ᵀ Σ⁻¹ (z-f)/2 pulls z towards f and f towards z.
        for r in range(R):
            acc = 0.0
            for c in range(R):
                acc += Sinv[r, c] * d[c]
            dzk[r] = dz[k, r] - wk * acc
            dfk[r] = wk * acc + dzk[r]
            for c in range(R):
                dSinv[r, c] -= 0.5 * wk * d[r] * d[c]
        # z = f + A⁻¹ q + L_A⁻ᵀ ε
        lower_solve(ew.LA, dzk, w)
        upper_solve(ew.LA, w, dq)
        for r in range(R):
            for c in range(r + 1):
                dLA[r, c] -= u[r] * w[c]
            for c in range(R):
                dA[r, c] -= dq[r] * p[c]
            dLA[r, r] -= wk / ew.LA[r, r]
            dem[r] += lam[r] * dq[r]
            dlam[r] += (em[r] - FK[k, r]) * dq[r]
            DF[k, r] = dfk[r] - lam[r] * dq[r]
    return total


@numba.njit(inline="always", fastmath=FASTMATH, cache=CACHE)
def finish_step(ew, dSinv, total, L, dL, dstep):
    """Close a step's adjoint: ``A``'s adjoint to ``dSinv`` (R, R) and ``λ``; the
    constant's ``log|Σ⁻¹|/2`` to ``dL`` (R, R, diagonal) of the prior's factor ``L``;
    the step's adjoints of ``μ_e`` and ``λ`` into ``dstep`` (2R,)."""
    R = L.shape[0]
    cholesky_adjoint_into(ew.LA, ew.dLA, ew.X, ew.Li, ew.Y)
    dAc = ew.X
    for r in range(R):
        for c in range(R):
            a = ew.dA[r, c] + dAc[r, c]
            dSinv[r, c] += a
            if r == c:
                ew.dlam[r] += a
        dL[r, r] -= total / L[r, r]
        dstep[r] = ew.dem[r]
        dstep[R + r] = ew.dlam[r]
