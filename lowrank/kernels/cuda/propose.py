"""One particle's move and weight under each proposal (docs/smc.md), for one thread.

- bootstrap: ``z = f + L ε``; the weight is the observation's alone.
- optimal (``lowrank.kernels.proposal``): ``z = f + P q + L_P ε``, ``q = g - G f``,
  ``log w = k - s/2 + fᵀg - fᵀGf/2 + qᵀPq/2``, with the step's ``g = Bᵀ R⁻¹ e``
  and ``s = eᵀ R⁻¹ e`` from :func:`optimal_step_terms`.
- encoder (``lowrank.kernels.encoder_proposal``): ``A = Σ⁻¹ + diag(λ) = L_A L_Aᵀ``,
  ``z = f + A⁻¹ (λ ⊙ (μ_e − f)) + L_A⁻ᵀ ε``; the weight's terms beyond the
  observation are ``|ε|²/2 − dᵀΣ⁻¹d/2 + log|Σ⁻¹|/2 − Σ log (L_A)_rr``, ``d = z − f``.
  Every thread factors the step's ``A`` itself (R is small), which saves a
  barrier and a shared (R, R) block.

``f``, ``ek``, ``z`` are thread-local (≥ R,) arrays: prior mean, noise, new state.
"""
import math

from numba import cuda, float64

from .device import MAX_RANK
from .smallmat import cholesky, lower_solve, upper_solve


@cuda.jit(device=True)
def noise_move(L, f, ek, z, R):
    """``z = f + L ε`` for a lower-triangular ``L`` (R, R)."""
    for r in range(R):
        acc = f[r]
        for c in range(r + 1):
            acc += L[r, c] * ek[c]
        z[r] = acc


@cuda.jit(device=True)
def optimal_step_terms(B, rinv, e_row, g, R):
    """``g = Bᵀ diag(rinv) e`` into ``g``; returns ``s = eᵀ diag(rinv) e``."""
    for r in range(R):
        g[r] = 0.0
    s = 0.0
    for d in range(e_row.shape[0]):
        w = rinv[d] * e_row[d]
        s += w * e_row[d]
        for r in range(R):
            g[r] += B[d, r] * w
    return s


@cuda.jit(device=True)
def optimal_move(c0, G, P, LP, g, f, ek, z, R):
    """Optimal proposal: new state ``z``; returns ``log w`` (``c0 = k - s/2``)."""
    q = cuda.local.array(MAX_RANK, float64)
    fg = 0.0
    for r in range(R):
        acc = g[r]
        for c in range(R):
            acc -= G[r, c] * f[c]
        q[r] = acc
        fg += f[r] * (g[r] + acc)
    qpq = 0.0
    for r in range(R):
        pq = 0.0
        for c in range(R):
            pq += P[r, c] * q[c]
        qpq += q[r] * pq
        acc = f[r] + pq
        for c in range(r + 1):
            acc += LP[r, c] * ek[c]
        z[r] = acc
    return c0 + 0.5 * fg + 0.5 * qpq


@cuda.jit(device=True)
def encoder_setup(Sinv, L, lam, A, LA, R):
    """``A = Σ⁻¹ + diag(λ)`` and its factor ``LA``; returns ``log|Σ⁻¹|/2 − Σ log (L_A)_rr``
    (``L`` the prior's Cholesky factor)."""
    for i in range(R):
        for j in range(R):
            A[i, j] = Sinv[i, j]
        A[i, i] += lam[i]
    cholesky(A, LA, R)
    c = 0.0
    for i in range(R):
        c -= math.log(L[i, i]) + math.log(LA[i, i])
    return c


@cuda.jit(device=True)
def encoder_moves(LA, em, lam, f, ek, p, u, R):
    """``p = A⁻¹ (λ ⊙ (μ_e − f))`` and ``u = L_A⁻ᵀ ε`` (thread-local (≥ R,) outputs)."""
    q = cuda.local.array(MAX_RANK, float64)
    w = cuda.local.array(MAX_RANK, float64)
    for r in range(R):
        q[r] = lam[r] * (em[r] - f[r])
    lower_solve(LA, q, w, R)
    upper_solve(LA, w, p, R)
    upper_solve(LA, ek, u, R)


@cuda.jit(device=True)
def encoder_move(Sinv, c0, LA, em, lam, f, ek, z, R):
    """Encoder proposal: new state ``z``; returns the weight's terms beyond ``log p(y_t | z)``."""
    p = cuda.local.array(MAX_RANK, float64)
    u = cuda.local.array(MAX_RANK, float64)
    encoder_moves(LA, em, lam, f, ek, p, u, R)
    ee = 0.0
    for r in range(R):
        ee += ek[r] * ek[r]
        p[r] += u[r]
        z[r] = f[r] + p[r]
    quad = 0.0
    for r in range(R):
        acc = 0.0
        for c in range(R):
            acc += Sinv[r, c] * p[c]
        quad += p[r] * acc
    return c0 + 0.5 * (ee - quad)
