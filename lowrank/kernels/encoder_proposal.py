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

Speed. ``L_A`` is shared by the step's K particles, so :func:`step_setup`
inverts it once (``L_A⁻¹`` and ``A⁻¹ = L_A⁻ᵀ L_A⁻¹``) and the particles
need only products, no triangular solves (divisions). The particle loops
run on particle-minor (R, K) blocks, each pass a contiguous loop over the K
particles that LLVM vectorises (as the read-outs of :mod:`.observation`).
"""
import math
from typing import NamedTuple

import numba
import numpy as np

from ..config import CACHE, FASTMATH
from .proposal import cholesky, cholesky_adjoint_into, tril_inverse_into


class EncoderWork(NamedTuple):
    """Thread-local arrays of the encoder proposal at one step.

    Fields
    ------
    em, lam : (R,)            the step's encoder mean and precisions
    A, LA : (R, R)            ``Σ⁻¹ + diag(λ)`` and its lower Cholesky factor
    LAi, Ai : (R, R)          ``L_A⁻¹`` (lower) and ``A⁻¹``
    corr : (K,)               each particle's log-weight terms beyond ``log p(y_t | z)``
    Fm, E : (R, K)            the particles' prior means and noise, particle-minor
    Q, P, U, D, SD : (R, K)   ``λ ⊙ (μ_e − f)``, ``A⁻¹ Q``, ``L_A⁻ᵀ E``, ``z − f = P + U``, ``Σ⁻¹ D``
    Dz, DD, W, DQ : (R, K)    adjoints: of ``z``, of ``D``, ``L_A⁻¹ DD`` and ``A⁻¹ DD``
    dLA, dA : (R, R)          the step's adjoints of ``L_A`` and (directly) of ``A``
    dem, dlam : (R,)          the step's adjoints of ``μ_e`` and ``λ``
    X, Li, Y : (R, R)         scratch of :func:`cholesky_adjoint_into`
    """

    em: np.ndarray
    lam: np.ndarray
    A: np.ndarray
    LA: np.ndarray
    LAi: np.ndarray
    Ai: np.ndarray
    corr: np.ndarray
    Fm: np.ndarray
    E: np.ndarray
    Q: np.ndarray
    P: np.ndarray
    U: np.ndarray
    D: np.ndarray
    SD: np.ndarray
    Dz: np.ndarray
    DD: np.ndarray
    W: np.ndarray
    DQ: np.ndarray
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
    b = lambda: np.zeros((R, K))   # noqa: E731
    return EncoderWork(v(), v(), m(), m(), m(), m(), np.zeros(K), b(), b(), b(), b(), b(), b(), b(), b(), b(),
                       b(), b(), m(), m(), v(), v(), m(), m(), m())


@numba.njit(inline="always", fastmath=FASTMATH, cache=CACHE)
def load_step(em_s, lam_s, t, ew):
    """Copy step t's encoder mean and precisions from the sequence's ``em_s``, ``lam_s`` (T, R)."""
    for r in range(ew.em.shape[0]):
        ew.em[r] = em_s[t, r]
        ew.lam[r] = lam_s[t, r]


@numba.njit(inline="always", fastmath=FASTMATH, cache=CACHE)
def step_setup(Sinv, L, ew):
    """``A = Σ⁻¹ + diag(λ)``, ``L_A``, ``L_A⁻¹`` and ``A⁻¹`` into ``ew``; returns the step's
    constant ``log|Σ⁻¹|/2 − Σ log (L_A)_rr`` (``L`` (R, R) the prior's Cholesky factor)."""
    A, LA, LAi, Ai, lam = ew.A, ew.LA, ew.LAi, ew.Ai, ew.lam
    R = A.shape[0]
    c = 0.0
    for i in range(R):
        for j in range(R):
            A[i, j] = Sinv[i, j]
        A[i, i] += lam[i]
    cholesky(A, LA)
    tril_inverse_into(LA, LAi)
    for i in range(R):
        for j in range(R):
            acc = 0.0
            for k in range(max(i, j), R):
                acc += LAi[k, i] * LAi[k, j]
            Ai[i, j] = acc
    for i in range(R):
        c -= math.log(L[i, i]) + math.log(LA[i, i])
    return c


@numba.njit(inline="always", fastmath=FASTMATH, cache=CACHE)
def _axpy(a, X, i, Y, j):
    """``Y[j] += a X[i]`` for rows of ``X``, ``Y`` (R, K).

    Rows by index, not as views: a view costs an atomic reference count in
    threaded code, and these run ~30 times a step (see :mod:`.smc_forward`)."""
    for k in range(Y.shape[1]):
        Y[j, k] += a * X[i, k]


@numba.njit(inline="always", fastmath=FASTMATH, cache=CACHE)
def _dot(X, i, Y, j):
    """``Σ_k X[i, k] Y[j, k]`` for rows of ``X``, ``Y`` (R, K) (by index, as :func:`_axpy`)."""
    acc = 0.0
    for k in range(X.shape[1]):
        acc += X[i, k] * Y[j, k]
    return acc


@numba.njit(inline="always", fastmath=FASTMATH, cache=CACHE)
def _transpose_in(XK, XT):
    """``XT`` (R, K) = ``XK`` (K, R) transposed."""
    K, R = XK.shape
    for r in range(R):
        for k in range(K):
            XT[r, k] = XK[k, r]


@numba.njit(inline="always", fastmath=FASTMATH, cache=CACHE)
def particle_moves(ew):
    """The particles' ``Q = λ ⊙ (μ_e − F)``, ``P = A⁻¹ Q``, ``U = L_A⁻ᵀ E`` and ``D = P + U``
    into ``ew``, from ``ew.Fm``, ``ew.E`` (:func:`step_setup` must have filled ``ew``)."""
    em, lam, LAi, Ai, Fm, E, Q, P, U, D = ew.em, ew.lam, ew.LAi, ew.Ai, ew.Fm, ew.E, ew.Q, ew.P, ew.U, ew.D
    R, K = Fm.shape
    for r in range(R):
        for k in range(K):
            Q[r, k] = lam[r] * (em[r] - Fm[r, k])
    P[:, :] = 0.0
    U[:, :] = 0.0
    for r in range(R):
        for c in range(R):
            _axpy(Ai[r, c], Q, c, P, r)
        for c in range(r, R):
            _axpy(LAi[c, r], E, c, U, r)
        for k in range(K):
            D[r, k] = P[r, k] + U[r, k]


@numba.njit(inline="always", fastmath=FASTMATH, cache=CACHE)
def _prior_pull(Sinv, D, SD):
    """``SD = Σ⁻¹ D`` for ``D``, ``SD`` (R, K)."""
    R = D.shape[0]
    SD[:, :] = 0.0
    for r in range(R):
        for c in range(R):
            _axpy(Sinv[r, c], D, c, SD, r)


@numba.njit(inline="always", fastmath=FASTMATH, cache=CACHE)
def propose_encoder(Sinv, c0, ew, FK, EK, ZK):
    """Encoder proposal at one step: new particles ``ZK`` (K, R) and ``ew.corr`` (K,).

    ``Sinv`` (R, R) the prior's precision; ``c0`` the step's constant
    (:func:`step_setup`, which must have filled ``ew``); ``FK``, ``EK``
    (K, R) the prior means and noise. ``corr[k]`` is the log-weight
    without ``log p(y_t | z_k)``.
    """
    K, R = FK.shape
    E, D, SD, corr = ew.E, ew.D, ew.SD, ew.corr
    _transpose_in(FK, ew.Fm)
    _transpose_in(EK, E)
    particle_moves(ew)
    _prior_pull(Sinv, D, SD)
    for k in range(K):
        corr[k] = c0
    for r in range(R):
        for k in range(K):
            corr[k] += 0.5 * (E[r, k] * E[r, k] - D[r, k] * SD[r, k])
    for k in range(K):
        for r in range(R):
            ZK[k, r] = FK[k, r] + D[r, k]


@numba.njit(inline="always", fastmath=FASTMATH, cache=CACHE)
def start_step_adjoint(ew):
    """Zero the step's accumulators ``dLA``, ``dA``, ``dem``, ``dlam``."""
    ew.dLA[:, :] = 0.0
    ew.dA[:, :] = 0.0
    ew.dem[:] = 0.0
    ew.dlam[:] = 0.0


@numba.njit(inline="always", fastmath=FASTMATH, cache=CACHE)
def _move_adjoints(ew):
    """From ``ew.DD`` (the adjoint of ``D``): ``W = L_A⁻¹ DD`` and ``DQ = A⁻¹ DD = L_A⁻ᵀ W``."""
    LAi, DD, W, DQ = ew.LAi, ew.DD, ew.W, ew.DQ
    R = DD.shape[0]
    W[:, :] = 0.0
    DQ[:, :] = 0.0
    for r in range(R):
        for c in range(r + 1):
            _axpy(LAi[r, c], DD, c, W, r)
    for r in range(R):
        for c in range(r, R):
            _axpy(LAi[c, r], W, c, DQ, r)


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
    lam, em, Fm, P, U, D, SD, Dz, DD, W, DQ = ew.lam, ew.em, ew.Fm, ew.P, ew.U, ew.D, ew.SD, ew.Dz, ew.DD, ew.W, ew.DQ
    dLA, dA, dem, dlam = ew.dLA, ew.dA, ew.dem, ew.dlam
    _transpose_in(FK, Fm)
    _transpose_in(EK, ew.E)
    _transpose_in(dz, Dz)
    particle_moves(ew)
    _prior_pull(Sinv, D, SD)
    total = 0.0
    for k in range(K):
        total += dlw[k]
    # The prior's density -Dᵀ Σ⁻¹ D/2 (D = z - f, in the weight) pulls D back; z = f + D passes dz to f whole.
    for r in range(R):
        for k in range(K):
            DD[r, k] = Dz[r, k] - dlw[k] * SD[r, k]
            W[r, k] = dlw[k] * D[r, k]                  # scratch: the weighted D
        for c in range(R):
            dSinv[r, c] -= 0.5 * _dot(W, r, D, c)
    # D = A⁻¹ Q + L_A⁻ᵀ E, Q = λ ⊙ (μ_e − F)
    _move_adjoints(ew)
    for r in range(R):
        for c in range(r + 1):
            dLA[r, c] -= _dot(U, r, W, c)
        for c in range(R):
            dA[r, c] -= _dot(DQ, r, P, c)
        dLA[r, r] -= total / ew.LA[r, r]
    for r in range(R):
        sq, sfq = 0.0, 0.0
        for k in range(K):
            sq += DQ[r, k]
            sfq += (em[r] - Fm[r, k]) * DQ[r, k]
        dem[r] += lam[r] * sq
        dlam[r] += sfq
    for k in range(K):
        for r in range(R):
            DF[k, r] = Dz[r, k] - lam[r] * DQ[r, k]
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
