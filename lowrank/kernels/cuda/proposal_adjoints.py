"""One particle's share of the optimal and encoder proposals' adjoints at one step.

Conventions as :mod:`.adjoints` (``at``, thread-local vectors, gradient rows).
The optimal proposal's step terms ``g = Bᵀ R⁻¹ e``, ``s = eᵀ R⁻¹ e`` and the
encoder's ``A = Σ⁻¹ + diag(λ)`` are recomputed by every thread; their
adjoints are linear in each particle's share, which each thread pushes back
itself (:func:`optimal_step_adjoint`, :func:`encoder_finish`).
"""
from numba import cuda, float64

from ...model.codes import READOUT_UNITS
from .adjoints import offset_adjoint
from .device import MAX_RANK
from .propose import encoder_moves, encoder_setup, optimal_step_terms
from .smallmat import cholesky_adjoint, lower_solve, upper_solve


@cuda.jit(device=True)
def optimal_adjoint(prop, work, lay, at, f, ek, wk, dz, DF, dg):
    """Particle adjoint of ``z = f + P q + L_P ε`` and ``log w`` (weight ``wk``): writes ``DF``
    and the share ``dg`` of ``g``'s adjoint; adds to ``P, L_P, G, k``; returns the share of ``s``'s."""
    s, t, k, m = at
    R = prop.G.shape[1]
    reg = 0 if t == 0 else 1
    G, P = prop.G[m], prop.P2[m, reg]
    g = cuda.local.array(MAX_RANK, float64)
    q = cuda.local.array(MAX_RANK, float64)
    tmp = cuda.local.array(MAX_RANK, float64)
    dq = cuda.local.array(MAX_RANK, float64)
    optimal_step_terms(prop.B[m], prop.rinv[m], work.e[s], g, R)
    for r in range(R):
        acc = g[r]
        for j in range(R):
            acc -= G[r, j] * f[j]
        q[r] = acc
        tmp[r] = dz[r] + wk * acc
    for r in range(R):
        acc = 0.0
        for j in range(R):
            acc += P[r, j] * tmp[j]
        dq[r] = acc
    for r in range(R):
        for j in range(R):
            work.rows[s, lay.P + (reg * R + r) * R + j, k] += (dz[r] + 0.5 * wk * q[r]) * q[j]
            work.rows[s, lay.G + r * R + j, k] -= (0.5 * wk * f[r] + dq[r]) * f[j]
        for j in range(r + 1):
            work.rows[s, lay.LP + (reg * R + r) * R + j, k] += dz[r] * ek[j]
        dg[r] = wk * f[r] + dq[r]
    work.rows[s, lay.k + reg, k] += wk
    for r in range(R):
        acc = tmp[r]
        for j in range(R):
            acc -= G[r, j] * dq[j]
        DF[r] = acc
    return -0.5 * wk


@cuda.jit(device=True)
def optimal_step_adjoint(codes, seqs, model, prop, work, lay, at, dg, ds):
    """Push a particle's shares ``dg``, ``ds`` of the step terms' adjoints back to ``B``,
    ``rinv``, and through the residual ``e = y − c_t`` to the read-out offset."""
    s, t, k, m = at
    R = prop.G.shape[1]
    for d in range(seqs.y.shape[2]):
        e = work.e[s, d]
        bd = 0.0
        for r in range(R):
            bd += prop.B[m, d, r] * dg[r]
        rinv = prop.rinv[m, d]
        w = rinv * e
        de = rinv * bd + 2.0 * ds * w
        work.rows[s, lay.rinv + d, k] += e * bd + ds * e * e
        for r in range(R):
            work.rows[s, lay.B + d * R + r, k] += w * dg[r]
        doff = -de
        if codes.readout == READOUT_UNITS:
            work.rows[s, lay.b + d, k] -= de
            work.rows[s, lay.gain + d, k] -= de * work.off[s, d]
            doff = -de * model.gain[m, d]
        offset_adjoint(codes, seqs, model, work, lay, at, d, doff)


@cuda.jit(device=True)
def encoder_adjoint(prop, work, lay, at, LA, f, ek, wk, dz, DF, dLA, dA):
    """Particle adjoint of the encoder proposal (weight ``wk``): writes ``DF``, this
    particle's ``dLA``, ``dA`` (direct adjoint of ``A``) and its share of the step's
    ``μ_e``, ``λ`` adjoints (``work.steps[s, :, k]``); adds to ``Σ⁻¹``."""
    s, t, k, m = at
    R = prop.Sinv2.shape[2]
    reg = 0 if t == 0 else 1
    Sinv, em, lam = prop.Sinv2[m, reg], prop.emu[s, t], prop.eprec[s, t]
    p = cuda.local.array(MAX_RANK, float64)
    u = cuda.local.array(MAX_RANK, float64)
    d = cuda.local.array(MAX_RANK, float64)
    dzk = cuda.local.array(MAX_RANK, float64)
    w = cuda.local.array(MAX_RANK, float64)
    dq = cuda.local.array(MAX_RANK, float64)
    encoder_moves(LA, em, lam, f, ek, p, u, R)
    for r in range(R):
        d[r] = p[r] + u[r]
    for r in range(R):
        # the prior's density pulls z towards f and f towards z
        acc = 0.0
        for c in range(R):
            acc += Sinv[r, c] * d[c]
            work.rows[s, lay.Sinv + (reg * R + r) * R + c, k] -= 0.5 * wk * d[r] * d[c]
        dzk[r] = dz[r] - wk * acc
        DF[r] = wk * acc + dzk[r]
    lower_solve(LA, dzk, w, R)
    upper_solve(LA, w, dq, R)
    for r in range(R):
        for c in range(R):
            dLA[r, c] = -u[r] * w[c] if c <= r else 0.0
            dA[r, c] = -dq[r] * p[c]
        dLA[r, r] -= wk / LA[r, r]
        work.steps[s, r, k] = lam[r] * dq[r]
        work.steps[s, R + r, k] = (em[r] - f[r]) * dq[r]
        DF[r] -= lam[r] * dq[r]


@cuda.jit(device=True)
def encoder_finish(model, prop, work, lay, at, LA, dLA, dA, wk):
    """Close a particle's encoder adjoint: ``A``'s adjoint (direct and through ``L_A``) to
    ``Σ⁻¹`` and ``λ``; ``log|Σ⁻¹|/2`` to the prior factor's diagonal."""
    s, t, k, m = at
    R = prop.Sinv2.shape[2]
    reg = 0 if t == 0 else 1
    L = model.L0[m] if t == 0 else model.Lz[m]
    base = lay.L0 if t == 0 else lay.Lz
    X = cuda.local.array((MAX_RANK, MAX_RANK), float64)
    Li = cuda.local.array((MAX_RANK, MAX_RANK), float64)
    Y = cuda.local.array((MAX_RANK, MAX_RANK), float64)
    cholesky_adjoint(LA, dLA, X, Li, Y, R)
    for r in range(R):
        for c in range(R):
            work.rows[s, lay.Sinv + (reg * R + r) * R + c, k] += dA[r, c] + X[r, c]
        work.steps[s, R + r, k] += dA[r, r] + X[r, r]
        work.rows[s, base + r * R + r, k] -= wk / L[r, r]


@cuda.jit(device=True)
def encoder_particle(prop, model, work, lay, at, f, ek, wk, dz, DF):
    """The whole encoder adjoint of one particle: the step's factor, then
    :func:`encoder_adjoint` and :func:`encoder_finish`."""
    s, t, k, m = at
    R = prop.Sinv2.shape[2]
    reg = 0 if t == 0 else 1
    A = cuda.local.array((MAX_RANK, MAX_RANK), float64)
    LA = cuda.local.array((MAX_RANK, MAX_RANK), float64)
    dLA = cuda.local.array((MAX_RANK, MAX_RANK), float64)
    dA = cuda.local.array((MAX_RANK, MAX_RANK), float64)
    L = model.L0[m] if t == 0 else model.Lz[m]
    encoder_setup(prop.Sinv2[m, reg], L, prop.eprec[s, t], A, LA, R)
    encoder_adjoint(prop, work, lay, at, LA, f, ek, wk, dz, DF, dLA, dA)
    encoder_finish(model, prop, work, lay, at, LA, dLA, dA, wk)
