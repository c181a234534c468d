"""Backward pass of variational SMC: hand-written reverse mode.

Differentiates ``value = mean_s (sum_t ell[s, t]) / T_s`` with the draws, the
ancestors and the resampling decisions held fixed (docs/smc.md). Walks
t = T_s-1 .. 0 per sequence (one sequence per thread), recomputing transition
means and pre-activations from the stored particles.

Each sequence accumulates into a thread-local row, seen through named views
(:class:`~.smc_args.Grads`, laid out by a :class:`~.smc_args.GradLayout`),
and copies it to its row of ``gbuf`` (S, layout.size); rows are summed in a
fixed order afterwards (:func:`assemble`), so results do not depend on the
thread count. The
proposal set-up (P, L_P, the Cholesky factors, the read-out matrix B) is
differentiated once, after the sum.

Adjoint of one step. With ``pi = exp(logW_t)`` and ``dlogW`` the adjoint of
``logW_t`` carried back from step t+1 (zero if resampling followed step t)::

    dell   = c_s - sum(dlogW)            c_s = 1 / (S T_s)
    dlw    = dell * pi + dlogW           adjoint of log w_t and of logW_{t-1}

then the particles' adjoints (:func:`observation_adjoints` for the bootstrap,
vectorised over the particles like the forward's observation step: read-out
means recomputed as one channel-major (D, K) block, the likelihood's adjoint
over the whole block (:func:`~.vmath.poisson_loglik_adjoint_block`), the
read-out's reverse with the sums over particles as row sums; or
:func:`optimal_adjoints`) down to the prior means ``DF``, the transitions
from step t-1 (:func:`transition_adjoint`), and what step t read from the
inputs (:func:`offset_adjoint`, :func:`input_adjoint`). The adjoints of
``z`` and of the input current alternate between two slots (``dZ2``,
``dxb2`` of :class:`BackwardWork`): slot ``c`` is step t's, slot ``1 - c``
step t-1's. The rules of the forward pass hold here too (:mod:`.smc_forward`
says why): the structures are unpacked once per sequence, in
:func:`differentiate_sequence`, which copies each step's records into
thread-local arrays; the step functions, inlined by Numba, take plain
arrays and small structures of thread-local arrays.
"""
from typing import NamedTuple

import numba
import numpy as np

from .threads import over_sequences
from ..config import CACHE, FASTMATH
from ..model.codes import PROPOSAL_ENCODER, PROPOSAL_OPTIMAL, READOUT_LATENT
from .observation import (linear_adjoint_block, linear_residual, loglik_adjoint_block, readout_block, readout_offset,
                          row_sums, units_current_adjoint_block)
from .encoder_proposal import encoder_adjoints, encoder_work, finish_step, load_step, start_step_adjoint, step_setup
from .proposal import gram_adjoint, setup_adjoint, step_terms, step_terms_adjoint
from .smc_args import grad_views, local_proposal
from .transition import (input_drive, preactivations, transition_adjoint_block, transition_adjoints,
                         transition_reverse_lanes, use_lanes)
from .vmath import exp_s


class Transition(NamedTuple):
    """The transition's parameters, or their adjoints (same fields, same shapes).

    Fields
    ------
    mT, nT : (R, N)
    h : (N,)
    a : (R,)
    """

    mT: np.ndarray
    nT: np.ndarray
    h: np.ndarray
    a: np.ndarray


class BackwardWork(NamedTuple):
    """Thread-local workspace of one sequence's backward pass, apart from :class:`ParticleAdjoints`.

    Fields
    ------
    dZ2 : (2, K, R)      adjoints of the particles of step t and t-1 (by slot)
    dlogW : (K,)         adjoint of the normalised log-weights carried back
    dxb2 : (2, N)        adjoints of the input current of step t and t-1 (by slot)
    off, e, de, doff : (D,)
        read-out offset, residual ``y - c``, its adjoint, the offset's adjoint
    dv, dv_next : (U,)   adjoints of the fed inputs of step t and t+1
    """

    dZ2: np.ndarray
    dlogW: np.ndarray
    dxb2: np.ndarray
    off: np.ndarray
    e: np.ndarray
    de: np.ndarray
    doff: np.ndarray
    dv: np.ndarray
    dv_next: np.ndarray


class TransitionWork(NamedTuple):
    """Thread-local arrays of the transitions' adjoint (:func:`transition_adjoint`).

    Fields
    ------
    xb : (N,)            input drive ``W_u v_{t-1} - h`` of the transitions into step t
    ak : (K,) int64      the ancestors ``anc[t]``
    ZP, DZ : (K, R)      the parents and their adjoints
    XW, PB, GX : (K, N)  the parents' pre-activations, rates, and the pre-activations' adjoints
    ZPT, DFT, DZT : (R, K)
        the parents, the prior means' adjoints and the parents' adjoints, transposed
        (particles as lanes, :func:`~.transition.use_lanes`)
    """

    xb: np.ndarray
    ak: np.ndarray
    ZP: np.ndarray
    DZ: np.ndarray
    XW: np.ndarray
    PB: np.ndarray
    GX: np.ndarray
    ZPT: np.ndarray
    DFT: np.ndarray
    DZT: np.ndarray


class ParticleAdjoints(NamedTuple):
    """Thread-local arrays of one step's particle loop.

    Fields
    ------
    lwt : (K,)           normalised log-weights ``logW[t]``
    dlw : (K,)           adjoints of the unnormalised log-weights
    ZK, FK, EK : (K, R)  the particles ``Z[t]``, their prior means ``F[t]``, their noise
    DF : (K, R)          adjoints of the particles' prior means
    f, q, tmp, zk, ek, dzk, dq : (R,)
        one particle's prior mean, ``g - G f``, scratch, state, noise, and the
        adjoints of the state and of ``q``
    g, dg : (R,)         the step's ``Bᵀ R⁻¹ e`` and its adjoint (optimal proposal)
    eta, deta, xw : (D,) one particle's read-out mean, its adjoint, scratch
    ZT, DZT : (R, K)     the particles, transposed, and their adjoints (:func:`observation_adjoints`)
    ETA, DETA : (D, K)   their read-out means, channel-major, and the means' adjoints
    XC : (D, K)          their currents ``off + m[:D] z``, then the currents' adjoints (units)
    OW : (2, D, K)       scratch of the Poisson terms (:func:`~.vmath.poisson_loglik_adjoint_block`)
    """

    lwt: np.ndarray
    dlw: np.ndarray
    ZK: np.ndarray
    FK: np.ndarray
    EK: np.ndarray
    DF: np.ndarray
    f: np.ndarray
    q: np.ndarray
    tmp: np.ndarray
    zk: np.ndarray
    ek: np.ndarray
    dzk: np.ndarray
    dq: np.ndarray
    g: np.ndarray
    dg: np.ndarray
    eta: np.ndarray
    deta: np.ndarray
    xw: np.ndarray
    ZT: np.ndarray
    DZT: np.ndarray
    ETA: np.ndarray
    DETA: np.ndarray
    XC: np.ndarray
    OW: np.ndarray


@numba.njit(fastmath=FASTMATH, cache=CACHE)
def backward_work(K, R, N, D, U):
    """A fresh :class:`BackwardWork`, :class:`TransitionWork` and :class:`ParticleAdjoints`,
    zero where the pass accumulates."""
    w = BackwardWork(np.zeros((2, K, R)), np.zeros(K), np.zeros((2, N)), np.empty(D), np.empty(D), np.empty(D),
                     np.empty(D), np.zeros(U), np.zeros(U))
    tw = TransitionWork(np.empty(N), np.empty(K, dtype=np.int64), np.empty((K, R)), np.empty((K, R)), np.empty((K, N)),
                        np.empty((K, N)), np.empty((K, N)), np.empty((R, K)), np.empty((R, K)), np.empty((R, K)))
    pa = ParticleAdjoints(np.empty(K), np.zeros(K), np.empty((K, R)), np.empty((K, R)), np.empty((K, R)),
                          np.empty((K, R)), np.empty(R), np.empty(R), np.empty(R), np.empty(R),
                          np.empty(R), np.empty(R), np.empty(R), np.zeros(R), np.zeros(R),
                          np.empty(D), np.empty(D), np.empty(D),
                          np.empty((R, K)), np.empty((R, K)), np.empty((D, K)), np.empty((D, K)), np.empty((D, K)),
                          np.empty((2, D, K)))
    return w, tw, pa


@numba.njit(inline="always", fastmath=FASTMATH, cache=CACHE)
def weight_adjoints(cs, carry, logWt, dlogW, dlw):
    """``dlw`` (K,) of step t from ``dlogW``; then ``dlogW`` carried back to step t-1
    (``carry``: no resampling after step t-1), else zero. ``cs = 1 / (S T_s)``."""
    K = dlw.shape[0]
    dell = cs
    for k in range(K):
        dell -= dlogW[k]
    for k in range(K):
        dlw[k] = dell * exp_s(logWt[k]) + dlogW[k]
    for k in range(K):
        dlogW[k] = dlw[k] if carry else 0.0


@numba.njit(inline="always", fastmath=FASTMATH, cache=CACHE)
def observation_adjoints(codes, yt, off, model, g, pa, dz, doff):
    """Adjoints of ``log p(y_t | z)`` for step t's particles ``pa.ZK`` (K, R), weighted by ``pa.dlw``.

    Adds them to ``dz`` (K, R) in place, to the read-out blocks of ``g``
    (:class:`~.smc_args.Grads`) and to the offset's adjoint ``doff`` (D,);
    ``yt`` (D,), ``off`` (D,) the read-out offset, ``model``
    :class:`~.smc_args.ModelArrays`, ``pa`` :class:`ParticleAdjoints` (reads
    ``ZK``, ``dlw``; writes ``ZT``, ``DZT``, ``ETA``, ``DETA``, ``XC``, ``OW``).

    Vectorised over the particles like :func:`.smc_forward.observe_particles`:
    the read-out means are recomputed as one channel-major block (D, K),
    the likelihood's adjoint runs over it at once, and the read-out's
    reverse handles all particles per call, the sums over particles being
    sums of a row. Particles with ``dlw = 0`` get zeros, so they add nothing.
    """
    act, readout, from_rates = codes.activation, codes.readout, codes.from_rates
    D = yt.shape[0]
    WT, mDT, hD, gain, b = model.WT, model.mDT, model.h[:D], model.gain, model.b
    ZK, dlw, ZT, DZT, ETA, DETA, XC, OW = pa.ZK, pa.dlw, pa.ZT, pa.DZT, pa.ETA, pa.DETA, pa.XC, pa.OW
    K, R = dz.shape
    for r in range(R):
        for k in range(K):
            ZT[r, k] = ZK[k, r]
            DZT[r, k] = dz[k, r]
    readout_block(readout, from_rates, act, ZT, WT, mDT, hD, gain, b, off, XC, ETA)
    loglik_adjoint_block(codes.likelihood, codes.link, yt, ETA, model.inv_sigma, codes.bin_width, dlw, OW, DETA,
                         g.sigma)
    if readout == READOUT_LATENT:
        row_sums(DETA, doff)
        linear_adjoint_block(ZT, WT, DETA, DZT, g.WT)
    else:
        units_current_adjoint_block(from_rates, act, XC, hD, gain, DETA, g.h, g.gain, g.b, doff)
        linear_adjoint_block(ZT, mDT, XC, DZT, g.mT)
    for k in range(K):
        for r in range(R):
            dz[k, r] = DZT[r, k]


@numba.njit(inline="always", fastmath=FASTMATH, cache=CACHE)
def noise_adjoint(epst, dz, dL):
    """Adjoint of the noise factor of ``z = f + L ε``: ``dL += Σ_k dz[k] ε[k]ᵀ`` (lower part)."""
    K, R = dz.shape
    for k in range(K):
        for r in range(R):
            for c in range(r + 1):
                dL[r, c] += dz[k, r] * epst[k, c]


@numba.njit(inline="always", fastmath=FASTMATH, cache=CACHE)
def optimal_adjoints(G, P, dP, dLP, dG, dk, reg, pa, dz):
    """Particle adjoints of step t under the optimal proposal; returns the adjoint of ``s``.

    ``G, P`` (R, R) and the adjoints ``dP, dLP`` (R, R) of the step's regime ``reg``, ``dG``
    and ``dk`` (2,) of the regimes' constants; ``pa`` :class:`ParticleAdjoints`
    (reads ``FK``, ``EK``, ``dlw``, ``g``; accumulates ``dg``; writes the
    prior means' adjoints ``DF``); ``dz`` (K, R).
    """
    dlw, FK, EK, DF, f, q, tmp, ek, dzk, dq = pa.dlw, pa.FK, pa.EK, pa.DF, pa.f, pa.q, pa.tmp, pa.ek, pa.dzk, pa.dq
    gs, dg = pa.g, pa.dg
    K, R = dz.shape
    ds = 0.0
    for k in range(K):
        wk = dlw[k]
        for r in range(R):
            dzk[r] = dz[k, r]
            ek[r] = EK[k, r]
            f[r] = FK[k, r]
        for r in range(R):
            acc = gs[r]
            for j in range(R):
                acc -= G[r, j] * f[j]
            q[r] = acc
            tmp[r] = dzk[r] + wk * acc
        for r in range(R):
            acc = 0.0
            for j in range(R):
                acc += P[r, j] * tmp[j]
            dq[r] = acc
        for r in range(R):
            for j in range(R):
                dP[r, j] += (dzk[r] + 0.5 * wk * q[r]) * q[j]
                dG[r, j] -= (0.5 * wk * f[r] + dq[r]) * f[j]
            for j in range(r + 1):
                dLP[r, j] += dzk[r] * ek[j]
            dg[r] += wk * f[r] + dq[r]
        dk[reg] += wk
        ds -= 0.5 * wk
        for r in range(R):
            acc = tmp[r]
            for j in range(R):
                acc -= G[r, j] * dq[j]
            DF[k, r] = acc
    return ds


@numba.njit(inline="always", fastmath=FASTMATH, cache=CACHE)
def transition_adjoint_lanes(tp, tg, tw, DF, dz_prev, dxb_p):
    """:func:`transition_adjoint` with the particles as lanes (:func:`~.transition.use_lanes`):
    the parents ``tw.ZP`` and ``DF`` (K, R) transposed into ``tw.ZPT, tw.DFT`` (R, K), the
    parents' adjoints back from ``tw.DZT`` (R, K)."""
    ZP, ak, ZPT, DFT, DZT = tw.ZP, tw.ak, tw.ZPT, tw.DFT, tw.DZT
    K, R = ZP.shape
    for r in range(R):
        for k in range(K):
            ZPT[r, k] = ZP[k, r]
            DFT[r, k] = DF[k, r]
    transition_reverse_lanes(ZPT, tp.a, tp.mT, tp.nT, tw.xb, DFT, DZT, tg.mT, tg.nT, dxb_p, tg.a)
    for k in range(K):
        j = ak[k]
        for r in range(R):
            dz_prev[j, r] += DZT[r, k]


@numba.njit(inline="always", fastmath=FASTMATH, cache=CACHE)
def transition_adjoint(act, tp, tg, tw, DF, dz_prev, dxb_p):
    """Reverse the transitions from step t-1 (parents ``tw.ZP``, ancestors ``tw.ak``).

    Recomputes the parents' pre-activations from ``tw.xb``, then pushes the
    prior means' adjoints ``DF`` (K, R) back to the parents ``dz_prev``
    (K, R), to the transition's adjoints ``tg`` and to the input current's
    adjoint ``dxb_p`` (N,). ``tp``, ``tg`` :class:`Transition`; ``tw``
    :class:`TransitionWork`.
    """
    ZP, ak, DZ, XW, PB, GX = tw.ZP, tw.ak, tw.DZ, tw.XW, tw.PB, tw.GX
    mT, nT, h, a = tp.mT, tp.nT, tp.h, tp.a
    K, R = ZP.shape
    if use_lanes(act, R, K):
        transition_adjoint_lanes(tp, tg, tw, DF, dz_prev, dxb_p)
        return
    preactivations(act, ZP, mT, h, tw.xb, XW, PB)
    transition_adjoints(act, ZP, a, mT, nT, h, XW, DF, GX, DZ, tg.h, tg.a)
    for k in range(K):
        j = ak[k]
        for r in range(R):
            dz_prev[j, r] += DZ[k, r]
    transition_adjoint_block(DF, ZP, PB, GX, tg.mT, tg.nT, dxb_p)


@numba.njit(inline="always", fastmath=FASTMATH, cache=CACHE)
def residual_adjoint(readout, de, off, gain, db, dgain, doff):
    """Adjoint ``de`` (D,) of the residual ``e = y - c_t`` into the offset's ``doff``
    (and, for units, ``db`` and ``dgain``): ``c_t = off`` latent, ``gain * off + b`` units."""
    if readout == READOUT_LATENT:
        for d in range(de.shape[0]):
            doff[d] -= de[d]
    else:
        for d in range(de.shape[0]):
            db[d] -= de[d]
            dgain[d] -= de[d] * off[d]
            doff[d] -= de[d] * gain[d]


@numba.njit(inline="always", fastmath=FASTMATH, cache=CACHE)
def offset_adjoint(readout, filt, vt, Wv, doff, db, dWv, dv, dxb_t):
    """The read-out offset's adjoint ``doff`` (D,) to its sources: latent ``b + W_v v_t``
    (``db``, ``dWv``, and ``dv`` (U,) when inputs are filtered); units, the observed
    units' input current ``dxb_t`` (N,)."""
    if readout == READOUT_LATENT:
        for d in range(doff.shape[0]):
            db[d] += doff[d]
            for j in range(Wv.shape[1]):
                dWv[d, j] += doff[d] * vt[j]
                if filt:
                    dv[j] += Wv[d, j] * doff[d]
    else:
        for d in range(doff.shape[0]):
            dxb_t[d] += doff[d]


@numba.njit(inline="always", fastmath=FASTMATH, cache=CACHE)
def input_adjoint(filt, abar, vt, ut, Wu, dxb_t, dWu, dv, dv_next, dabar):
    """The input current's adjoint ``dxb_t`` (N,) to ``dWu`` (N, U); with filtered
    inputs, through ``v_{t+1} = ā v_t + (1 − ā) u_t`` to ``dabar`` (1,), carrying
    ``dv`` (U,) back as ``dv_next``."""
    N, U = Wu.shape
    for i in range(N):
        for j in range(U):
            dWu[i, j] += dxb_t[i] * vt[j]
            if filt:
                dv[j] += Wu[i, j] * dxb_t[i]
    if filt:
        for j in range(U):
            dabar[0] += dv_next[j] * (vt[j] - ut[j])
            dv[j] += abar * dv_next[j]
            dv_next[j] = dv[j]
            dv[j] = 0.0


@numba.njit(inline="always", fastmath=FASTMATH, cache=CACHE)
def differentiate_sequence(s, codes, seqs, draws, model, prop, rec, lay, gbuf, dsteps):
    """Reverse mode over sequence ``s`` into ``gbuf[s]`` (arguments as :func:`smc_backward`).

    Copies each step's records in, so the step functions bind thread-local
    arrays only, and accumulates into a thread-local row copied to
    ``gbuf[s]`` at the end (see :mod:`.smc_forward`).
    """
    y, u, v, eps = seqs.y[s], seqs.u[s], seqs.v[s], draws.eps[s]
    Z, F, anc, logW, resampled = rec.Z[s], rec.F[s], rec.anc[s], rec.logW[s], rec.resampled[s]
    Wu, Wv, b, gain, L0, Lz = model.Wu, model.Wv, model.b, model.gain, model.L0, model.Lz
    prop = local_proposal(prop)
    B, rinv, G, P2, Sinv2 = prop.B, prop.rinv, prop.G, prop.P2, prop.Sinv2
    S, _, K, R = draws.eps.shape
    encoder = codes.proposal == PROPOSAL_ENCODER
    em_s, lam_s = (prop.emu[s], prop.eprec[s]) if encoder else (prop.emu[0:0, 0], prop.eprec[0:0, 0])
    ew = encoder_work(K if encoder else 0, R)
    dstep = np.zeros(2 * R)
    N, U = Wu.shape
    D = y.shape[1]
    row = np.zeros(gbuf.shape[1])
    g = grad_views(row, lay, R, N, D, U, Wv.shape[1])
    dh, dL0, dLz, dP, dLP, dk, dG, dB, drinv = g.h, g.L0, g.Lz, g.P, g.LP, g.k, g.G, g.B, g.rinv
    db, dgain, dWu, dWv, dmu, dabar = g.b, g.gain, g.Wu, g.Wv, g.mu, g.abar
    tp, tg = Transition(model.mT, model.nT, model.h, model.a), Transition(g.mT, g.nT, dh, g.a)
    w, tw, pa = backward_work(K, R, N, D, U)
    dZ2, dlogW, dxb2, off, e, de, doff, dv, dv_next = w
    xb, ZP, ak = tw.xb, tw.ZP, tw.ak
    lwt, dlw, EK, ZK, FK, DF, gs, dg = pa.lwt, pa.dlw, pa.EK, pa.ZK, pa.FK, pa.DF, pa.g, pa.dg
    for i in range(N):
        xb[i] = -model.h[i]
    Tb = seqs.lengths[s]
    cs = 1.0 / (S * Tb)
    c = 0
    for t in range(Tb - 1, -1, -1):
        for k in range(K):
            lwt[k] = logW[t, k]
            j = anc[t, k]
            ak[k] = j
            for r in range(R):
                EK[k, r] = eps[t, k, r]
                ZK[k, r] = Z[t, k, r]
                FK[k, r] = F[t, k, r]
                if t >= 1:
                    ZP[k, r] = Z[t - 1, j, r]
        dz, dxb_t, dxb_p = dZ2[c], dxb2[c], dxb2[1 - c]
        weight_adjoints(cs, t >= 1 and resampled[t - 1] == 0, lwt, dlogW, dlw)
        if t >= 1 and U > 0:
            input_drive(Wu, v[t - 1], model.h, xb)
        readout_offset(codes.readout, b, Wv, Wu, v[t], off)
        doff[:] = 0.0
        dxb_p[:] = 0.0
        if codes.proposal == PROPOSAL_OPTIMAL:
            reg = 0 if t == 0 else 1
            linear_residual(codes.readout, y[t], off, gain, b, e)
            step_terms(B, rinv, e, gs)
            dg[:] = 0.0
            ds = optimal_adjoints(G, P2[reg], dP[reg], dLP[reg], dG, dk, reg, pa, dz)
            step_terms_adjoint(B, rinv, e, dg, ds, de, dB, drinv)
            residual_adjoint(codes.readout, de, off, gain, db, dgain, doff)
        else:
            # one call site: each inlined call is typed and optimised anew
            observation_adjoints(codes, y[t], off, model, g, pa, dz, doff)
        if encoder:
            reg = 0 if t == 0 else 1
            L = L0 if t == 0 else Lz
            load_step(em_s, lam_s, t, ew)
            step_setup(Sinv2[reg], L, ew)
            start_step_adjoint(ew)
            total = encoder_adjoints(Sinv2[reg], g.Sinv[reg], ew, dlw, FK, EK, dz, DF)
            finish_step(ew, g.Sinv[reg], total, L, dL0 if t == 0 else dLz, dstep)
            for r in range(2 * R):
                dsteps[s, t, r] = dstep[r]
        elif codes.proposal != PROPOSAL_OPTIMAL:
            noise_adjoint(EK, dz, dL0 if t == 0 else dLz)
            for k in range(K):          # a loop: an array-to-slice copy compiles seconds of error formatting
                for r in range(R):
                    DF[k, r] = dz[k, r]
        if t == 0:
            for k in range(K):
                for r in range(R):
                    dmu[r] += DF[k, r]
        else:
            transition_adjoint(codes.activation, tp, tg, tw, DF, dZ2[1 - c], dxb_p)
            # The pre-activation is m z + W_u v - h: the adjoint of h is minus
            # that of the input current, which holds only transition terms
            # until the read-out of step t-1 adds to it.
            for i in range(N):
                dh[i] -= dxb_p[i]
        offset_adjoint(codes.readout, codes.filter_inputs, v[t], Wv, doff, db, dWv, dv, dxb_t)
        if U > 0:
            input_adjoint(codes.filter_inputs, model.abar, v[t], u[t], Wu, dxb_t, dWu, dv, dv_next, dabar)
        # Step t-1 becomes the current step; its successor's slot is cleared.
        dz[:, :] = 0.0
        c = 1 - c
    for i in range(row.shape[0]):   # a loop: an array-to-slice copy compiles seconds of error formatting
        gbuf[s, i] = row[i]


@numba.njit(nogil=True, fastmath=FASTMATH, cache=CACHE)
def differentiate_sequences(start, step, codes, seqs, draws, model, prop, rec, lay, gbuf, dsteps):
    """The reverse mode over sequences ``start, start + step, ...`` (arguments as
    :func:`smc_backward`), without the GIL (:mod:`.threads`)."""
    for s in range(start, draws.eps.shape[0], step):
        differentiate_sequence(s, codes, seqs, draws, model, prop, rec, lay, gbuf, dsteps)


def smc_backward(codes, seqs, draws, model, prop, rec, lay, gbuf, dsteps):
    """Gradient of ``value`` into per-sequence rows, one sequence per thread.

    Parameters
    ----------
    codes, seqs, draws, model, prop : as :func:`lowrank.kernels.smc_forward.smc_forward`
        (``seqs.u``, ``codes.filter_inputs`` and ``model.abar`` are read here
        for the input filter's adjoint).
    rec : Records
        As filled by the forward pass: ``Z, F`` (S, T, K, R), ``anc`` and
        ``logW`` (S, T, K), ``resampled`` (S, T) (``ell`` and ``fail`` unused).
    lay : GradLayout
        Offsets of the named blocks in a row of ``gbuf``.
    gbuf : (S, lay.size)
        Output: row s holds sequence s's contribution to every block.
    dsteps : (S, T, 2R), or (S, 0, 2R) without the encoder proposal
        Output: the adjoints of the encoder's means ``emu[s, t]`` (first R)
        and precisions ``eprec[s, t]`` (last R); untouched past a sequence's length.

    All structures are those of :mod:`lowrank.kernels.smc_args`.
    """
    over_sequences(differentiate_sequences, draws.eps.shape[0], codes, seqs, draws, model, prop, rec, lay, gbuf, dsteps)


# ---- numpy level: from the summed rows to the constrained parameter blocks

def _direct_blocks(part, p, opts):
    """The blocks that the kernels differentiate directly, by parameter name."""
    R = opts.rank
    return {
        "m": part.mT.T.copy(), "n": part.nT.T.copy(), "h": part.h.copy(), "a": part.a.copy(),
        "W_u": part.Wu.copy(), "L_z": part.Lz.copy(), "L_0": part.L0.copy(), "mu0": part.mu.copy(),
        "W": part.WT.T.copy() if opts.readout == "latent" else np.zeros((0, R)),
        "b": part.b.copy(), "W_v": part.Wv.copy(),
        "gain": part.gain.copy() if opts.readout == "units" else np.zeros(0),
        "sigma": part.sigma.copy() if opts.likelihood == "gaussian" else np.zeros(0),
        "enc": np.zeros(np.shape(p.enc)),
    }


def _proposal_setup_adjoint(part, prop, p, opts, out):
    """Push the adjoints of ``P, L_P, k, G, B, rinv`` back to ``L_0, L_z``, the read-out and σ."""
    dG, dB, drinv = part.G.copy(), part.B.copy(), part.rinv.copy()
    for reg, (L, key) in enumerate(((p.L_0, "L_0"), (p.L_z, "L_z"))):
        setup_adjoint(prop.G, L, prop.rinv, prop.P2[reg], prop.LP2[reg], part.P[reg].copy(),
                      part.LP[reg].copy(), part.k[reg], dG, out[key], drinv)
    gram_adjoint(prop.B, prop.rinv, dG, dB, drinv)
    if opts.readout == "latent":
        out["W"] += dB
    else:
        D = opts.n_obs
        out["gain"] += np.einsum("dr,dr->d", dB, p.m[:D])
        out["m"][:D] += p.gain[:, None] * dB
    out["sigma"] += drinv * (-2.0) / p.sigma ** 3


def _precision_adjoint(part, prop, p, out):
    """Push the adjoints of the prior precisions ``Σ⁻¹`` (encoder proposal) back to ``L_0``, ``L_z``."""
    for reg, key in enumerate(("L_0", "L_z")):
        Sinv = prop.Sinv2[reg]
        dS = -(Sinv @ part.Sinv[reg] @ Sinv)
        out[key] += (dS + dS.T) @ getattr(p, key)


def _initial_mean_adjoint(dmu_s, v0, p, out):
    """Push the per-sequence adjoints ``dmu_s`` (S, R) of ``mu_init = mu0 + (mᵀm)⁻¹ mᵀ W_u v_0``
    back to ``m`` and ``W_u`` (``mu0``'s share is already in ``out``)."""
    m = p.m
    C = m.T @ m
    lam = np.linalg.solve(C, dmu_s.T).T          # (S, R)
    cur = v0 @ p.W_u.T                            # (S, N)
    sol = np.linalg.solve(C, (cur @ m).T).T       # (S, R)
    out["m"] += cur.T @ lam - m @ (lam.T @ sol + sol.T @ lam)
    out["W_u"] += (lam @ m.T).T @ v0


def assemble(gbuf, lay, inputs, params, options):
    """The gradient of ``value`` w.r.t. the constrained parameters: block name -> array.

    Sums the rows of ``gbuf`` (S, lay.size) in a fixed order, then pushes the
    proposal set-up, the read-out matrix, the initial mean and the input
    filter back to the parameter blocks. ``lay`` is the :class:`~.smc_args.GradLayout`
    and ``inputs`` the :class:`~.smc_args.SMCInputs` of the passes; ``params``
    (checked ``Params``) and ``options`` (``ModelOptions``) are the model's.
    Blocks are shaped as the model's, Cholesky factors restricted to their
    lower triangle (their diagonal for ``diag`` noise).
    """
    p, opts = params, options
    N, R, D, U = opts.n_units, opts.rank, opts.n_obs, opts.n_inputs
    part = grad_views(gbuf.sum(axis=0), lay, R, N, D, U, p.W_v.shape[1])
    out = _direct_blocks(part, p, opts)
    if inputs.codes.proposal == PROPOSAL_OPTIMAL:
        _proposal_setup_adjoint(part, inputs.prop, p, opts, out)
    elif inputs.codes.proposal == PROPOSAL_ENCODER:
        _precision_adjoint(part, inputs.prop, p, out)
    if U > 0:
        v0 = inputs.seqs.v[:, 0, :]
        if np.any(v0 != 0.0):
            _initial_mean_adjoint(gbuf[:, lay.mu:lay.abar], v0, p, out)
        if opts.filter_inputs:
            out["a"] += part.abar[0] / R
    for key, kind in (("L_z", opts.noise), ("L_0", opts.init_noise)):
        out[key] = np.tril(out[key]) if kind == "full" else np.diag(np.diag(out[key]))
    return {k: x.reshape(np.shape(getattr(p, k))) for k, x in out.items()}
