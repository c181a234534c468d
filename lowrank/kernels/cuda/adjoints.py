"""One particle's share of the backward pass at one step, for one thread.

Every adjoint of the step is linear in the particles' log-weight adjoints and
state adjoints, so each thread pushes its own particle's share all the way to
the parameters: into its own column of the per-particle gradient rows
(``work.rows[s, :, k]``, laid out by a :class:`~lowrank.kernels.smc_args.GradLayout`),
which the kernel sums over particles in a fixed order at the end. This holds
for the sequence-level terms too (the optimal proposal's ``Bᵀ R⁻¹ e`` and
residual, the encoder's Cholesky adjoint, the read-out offset and the input
current); the inputs' filter is a recurrence through time, which each
thread runs over its own shares (``work.dv``, see :func:`input_slot`).

``at = (s, t, k, m)``: sequence, step, particle, model. Thread-local (≥ R,)
arrays: ``z`` the particle, ``f`` its prior mean, ``ek`` its noise, ``dz``
its adjoint (in: from later steps; out: with the observation's share),
``DF`` the prior mean's adjoint (out).
"""
from numba import cuda, float64

from ...model.codes import LIK_POISSON, READOUT_LATENT, READOUT_UNITS
from .device import MAX_RANK, dphi_dh, dphi_dx, phi, poisson_term, readout_channel


@cuda.jit(device=True)
def input_slot(t):
    """Slot of ``work.dv`` holding a thread's share of the adjoint of the fed input ``v_t``."""
    return t % 3


@cuda.jit(device=True)
def input_current_adjoint(codes, seqs, model, work, lay, at, i, tv, dx):
    """Adjoint ``dx`` of unit i's input current ``W_u v_tv`` into ``W_u`` (and ``v_tv``)."""
    s, t, k, m = at
    U = seqs.v.shape[2]
    for j in range(U):
        work.rows[s, lay.Wu + i * U + j, k] += dx * seqs.v[s, tv, j]
        if codes.filter_inputs:
            work.dv[s, input_slot(tv), j, k] += model.Wu[m, i, j] * dx


@cuda.jit(device=True)
def offset_adjoint(codes, seqs, model, work, lay, at, d, doff):
    """Adjoint ``doff`` of channel d's read-out offset to its sources: latent ``b + W_v v_t``;
    units, the observed unit's input current ``W_u[d] v_t``."""
    s, t, k, m = at
    if codes.readout == READOUT_UNITS:
        input_current_adjoint(codes, seqs, model, work, lay, at, d, t, doff)
        return
    work.rows[s, lay.b + d, k] += doff
    Uv = model.Wv.shape[2]
    for j in range(Uv):
        work.rows[s, lay.Wv + d * Uv + j, k] += doff * seqs.v[s, t, j]
        if codes.filter_inputs:
            work.dv[s, input_slot(t), j, k] += model.Wv[m, d, j] * doff


@cuda.jit(device=True)
def observation_adjoint(codes, seqs, model, work, lay, at, z, wk, dz):
    """Adjoint of ``wk * log p(y_t | z)``: into ``dz`` and the read-out's parameters and offset."""
    s, t, k, m = at
    R, D = model.a.shape[1], seqs.y.shape[2]
    N = model.h.shape[1]
    for d in range(D):
        y = seqs.y[s, t, d]
        if y != y:
            continue          # a missing value: nothing flows back from its channel
        eta, xc = readout_channel(codes, model, m, d, z, work.off[s, d])
        deta = 0.0
        if wk != 0.0 and codes.likelihood == LIK_POISSON:
            deta = wk * poisson_term(codes.link, y, eta, codes.bin_width, 0.0)[1]
        elif wk != 0.0:
            isg = model.inv_sigma[m, d]
            res = (y - eta) * isg
            deta = wk * res * isg
            work.rows[s, lay.sigma + d, k] += wk * (res * res - 1.0) * isg
        if codes.readout == READOUT_LATENT:
            for r in range(R):
                dz[r] += model.WT[m, r, d] * deta
                work.rows[s, lay.WT + r * D + d, k] += z[r] * deta
            offset_adjoint(codes, seqs, model, work, lay, at, d, deta)
            continue
        dx = units_readout_adjoint(codes, model, work, lay, at, d, xc, deta)
        for r in range(R):
            dz[r] += model.mDT[m, r, d] * dx
            work.rows[s, lay.mT + r * N + d, k] += z[r] * dx
        offset_adjoint(codes, seqs, model, work, lay, at, d, dx)


@cuda.jit(device=True)
def units_readout_adjoint(codes, model, work, lay, at, d, xc, deta):
    """Channel d of a units read-out ``eta = gain * u + b`` (``u`` the current ``xc`` or the
    rate ``φ(xc − h_d)``): adds to ``b``, ``gain`` (and ``h``); returns the current's adjoint."""
    s, t, k, m = at
    gn = model.gain[m, d]
    work.rows[s, lay.b + d, k] += deta
    if not codes.from_rates:
        work.rows[s, lay.gain + d, k] += deta * xc
        return deta * gn
    act, hd = codes.activation, model.h[m, d]
    xh = xc - hd
    du = deta * gn
    dx = du * dphi_dx(act, xh, hd)
    work.rows[s, lay.gain + d, k] += deta * phi(act, xh, hd)
    work.rows[s, lay.h + d, k] += du * dphi_dh(act, xh, hd) - dx
    return dx


@cuda.jit(device=True)
def noise_adjoint(work, lay, at, ek, dz, DF, R):
    """Bootstrap ``z = f + L ε``: ``dL += dz εᵀ`` (lower part), ``DF = dz``."""
    s, t, k, m = at
    base = lay.L0 if t == 0 else lay.Lz
    for r in range(R):
        for c in range(r + 1):
            work.rows[s, base + r * R + c, k] += dz[r] * ek[c]
        DF[r] = dz[r]


@cuda.jit(device=True)
def transition_adjoint(codes, seqs, model, rec, work, lay, at, parent, DF):
    """Reverse the transition from the parent (step t − 1) given the prior mean's adjoint
    ``DF``: into ``m, n, h, a``, the input current (``W_u``, ``v_{t−1}``), and the parent's
    adjoint, left in ``work.dz[s, :, k]`` for the parent's thread to gather."""
    s, t, k, m = at
    R, N = model.a.shape[1], model.h.shape[1]
    act = codes.activation
    zp = cuda.local.array(MAX_RANK, float64)
    dzp = cuda.local.array(MAX_RANK, float64)
    for r in range(R):
        zp[r] = rec.Z[s, t - 1, parent, r]
        dzp[r] = model.a[m, r] * DF[r]
        work.rows[s, lay.a + r, k] += DF[r] * zp[r]
    for i in range(N):
        x = work.xb[s, i]
        for r in range(R):
            x += model.mT[m, r, i] * zp[r]
        hi = model.h[m, i]
        p = phi(act, x, hi)
        dp = 0.0
        for r in range(R):
            dp += model.nT[m, r, i] * DF[r]
            work.rows[s, lay.nT + r * N + i, k] += DF[r] * p
        dx = dp * dphi_dx(act, x, hi)
        for r in range(R):
            dzp[r] += model.mT[m, r, i] * dx
            work.rows[s, lay.mT + r * N + i, k] += zp[r] * dx
        # x = m z + W_u v − h, and clipped relu reads h once more inside φ
        work.rows[s, lay.h + i, k] += dp * dphi_dh(act, x, hi) - dx
        input_current_adjoint(codes, seqs, model, work, lay, at, i, t - 1, dx)
    for r in range(R):
        work.dz[s, r, k] = dzp[r]
