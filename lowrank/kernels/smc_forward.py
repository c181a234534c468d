"""Forward pass of variational SMC (docs/smc.md), one sequence per thread.

:func:`smc_forward` fills a :class:`~.smc_args.Records`: particles ``Z``,
their prior means ``F``, ancestors ``anc`` (``anc[:, t]`` picks the parents
of step t), normalised log-weights after each step ``logW``, whether
resampling followed step t ``resampled``, and the increments ``ell``, which
is what the backward pass needs. A sequence whose log-weights are all
``-inf`` (or NaN) at step t stops there with ``fail[s] = t``; otherwise
``fail[s] = -1``.

:func:`filter_sequence` runs one sequence and follows docs/smc.md step by
step: prior means (the parents' transition means), proposal and weights
(:func:`propose_optimal`, or :func:`propose_bootstrap` or
:func:`~.encoder_proposal.propose_encoder` then :func:`observe_particles`), normalisation,
resampling (:func:`resample_after`).

The observation step (:func:`observe_particles`, shared by the proposals)
is vectorised over the K particles of a step: their read-out means are
one channel-major block ``ETA`` (D, K) (:func:`~.observation.readout_block`),
and the log-likelihood runs over the whole block in one call
(:func:`~.observation.loglik_block`; Poisson:
:func:`~.vmath.poisson_loglik_block`), so every loop runs over the K
particles of one channel, with the channel's count and parameters as
scalars, and the branch-free link terms (:mod:`.vmath`) run as packed SIMD
code over K·D elements instead of one call per particle on D. The softplus
link runs in passes over the block (``exp``, ``log1p``, then the rest), which
keeps the CPU from waiting on one long dependent chain, and channels
without a count skip ``log g``.

Three rules keep this as fast as one long loop body:

- Every array a function binds (an argument, a NamedTuple's field, a slice)
  costs an atomic reference-count update, which Numba removes in small
  functions but not in one this large. So the structures are unpacked once
  per sequence, in :func:`filter_sequence`; the step functions take plain
  arrays and the small :class:`ParticleWork`, all of which they use; and
  each kernel they call handles all particles of the step at once.
- Threads updating the count of one shared array contend for its cache line
  and serialise. The step functions bind thread-local arrays only: the
  step's noise and particles are copied in and out here, and the proposal's
  small matrices are copied once per sequence.
- The step functions are inlined by Numba (``inline="always"``). Left as
  calls, a freshly compiled kernel would run the callees' own machine code
  while a kernel loaded from the on-disk cache runs its private copies,
  optimised again inside the kernel; with fast-math reassociation the two
  can differ in the last bits, and the first run after a compile would not
  reproduce later ones. :func:`filter_sequence` is inlined too, into
  :func:`filter_sequences`, the kernel that :func:`smc_forward` runs on each
  thread (:mod:`.threads`), so it is compiled once.
"""
import math
from typing import NamedTuple

import numba
import numpy as np

from .threads import over_sequences
from ..config import CACHE, FASTMATH
from ..model.codes import LIK_POISSON, PROPOSAL_ENCODER, PROPOSAL_OPTIMAL, RESAMPLE_NONE
from .observation import lgamma_sum, linear_residual, loglik_block, readout_block, readout_offset
from .encoder_proposal import encoder_work, load_step, propose_encoder, step_setup
from .proposal import step_terms
from .resampling import ess, logsumexp, resample
from .smc_args import local_proposal
from .transition import input_drive, step_means


class ForwardWork(NamedTuple):
    """Thread-local workspace of one sequence's forward pass, apart from :class:`ParticleWork`.

    Fields
    ------
    xb : (N,)        input drive ``W_u v_{t-1} - h`` of the transitions into the step
    ZP : (K, R)      parents, copied from ``Z``
    XW, PW : (K, N)  their pre-activations and rates
    off, e : (D,)    read-out offset; residual ``y - c`` (optimal proposal)
    cw : (K,)        cumulative weights (resampling)
    ZPT, FT : (R, K) the parents and their transitions' means, transposed (particles as lanes,
                     :func:`~.transition.use_lanes`)
    """

    xb: np.ndarray
    ZP: np.ndarray
    XW: np.ndarray
    PW: np.ndarray
    off: np.ndarray
    e: np.ndarray
    cw: np.ndarray
    ZPT: np.ndarray
    FT: np.ndarray


class ParticleWork(NamedTuple):
    """Thread-local arrays of one step's particle loop.

    Fields
    ------
    FK : (K, R)          prior means of the step's particles
    EK : (K, R)          their noise
    ZK : (K, R)          the new particles
    f, q, zk : (R,)      one particle's prior mean, ``g - G f``, new state
    g : (R,)             the step's ``Bᵀ R⁻¹ e`` (optimal proposal)
    eta : (D,)           one particle's read-out mean (scratch of per-particle read-outs)
    ll : (D,)            its per-channel Poisson log-likelihood terms (scratch)
    lw : (K,)            unnormalised log-weights of the step
    prevW : (K,)         normalised log-weights carried into the step
    ZT : (R, K)          the new particles, transposed (:func:`observe_particles`)
    ETA : (D, K)         their read-out means, channel-major
    XC : (D, K)          their currents ``off + m[:D] z`` (units read-out)
    OW : (2, D, K)       scratch of the Poisson terms (:func:`~.vmath.poisson_loglik_block`)
    """

    FK: np.ndarray
    EK: np.ndarray
    ZK: np.ndarray
    f: np.ndarray
    q: np.ndarray
    zk: np.ndarray
    g: np.ndarray
    eta: np.ndarray
    ll: np.ndarray
    lw: np.ndarray
    prevW: np.ndarray
    ZT: np.ndarray
    ETA: np.ndarray
    XC: np.ndarray
    OW: np.ndarray


@numba.njit(fastmath=FASTMATH, cache=CACHE)
def forward_work(K, R, N, D):
    """A fresh :class:`ForwardWork`."""
    return ForwardWork(np.empty(N), np.empty((K, R)), np.empty((K, N)), np.empty((K, N)),
                       np.empty(D), np.empty(D), np.empty(K), np.empty((R, K)), np.empty((R, K)))


@numba.njit(fastmath=FASTMATH, cache=CACHE)
def particle_work(K, R, D):
    """A fresh :class:`ParticleWork`; ``prevW`` holds the uniform ``-log K``."""
    return ParticleWork(np.empty((K, R)), np.empty((K, R)), np.empty((K, R)), np.empty(R), np.empty(R), np.empty(R),
                        np.empty(R), np.empty(D), np.empty(D), np.empty(K), np.full(K, -math.log(K)),
                        np.empty((R, K)), np.empty((D, K)), np.empty((D, K)), np.empty((2, D, K)))


@numba.njit(inline="always", fastmath=FASTMATH, cache=CACHE)
def observe_particles(codes, yt, off, model, pw):
    """Weights from the observation at one step: ``lw = prevW + log p(y_t | z)`` for each particle.

    ``yt`` (D,); ``off`` (D,) the read-out offset; ``model``
    :class:`~.smc_args.ModelArrays`; ``pw`` :class:`ParticleWork` (reads
    ``ZK``, ``prevW``; writes ``ZT``, ``ETA``, ``XC``, ``OW`` (scratch) and ``lw``).
    Shared by every proposal whose weight holds ``log p(y_t | z)``.

    Vectorised over the particles: the read-out means of all K particles
    form one channel-major block ``ETA`` (D, K) (:func:`~.observation.readout_block`),
    and the log-likelihood runs over it at once (:func:`~.observation.loglik_block`):
    every loop runs over the K particles of one channel, whose count and
    parameters are scalars there; Poisson channels without a count skip the
    ``log`` (:func:`~.vmath.poisson_loglik_block`).
    """
    act, readout, from_rates = codes.activation, codes.readout, codes.from_rates
    lik, link, bin_width = codes.likelihood, codes.link, codes.bin_width
    D = yt.shape[0]
    lgy = lgamma_sum(yt) if lik == LIK_POISSON else 0.0
    WT, mDT, hD, gain, b = model.WT, model.mDT, model.h[:D], model.gain, model.b
    ZK, ZT, ETA, XC, OW, lw, prevW = pw.ZK, pw.ZT, pw.ETA, pw.XC, pw.OW, pw.lw, pw.prevW
    K, R = ZK.shape
    for r in range(R):
        for k in range(K):
            ZT[r, k] = ZK[k, r]
    readout_block(readout, from_rates, act, ZT, WT, mDT, hD, gain, b, off, XC, ETA)
    loglik_block(lik, link, yt, ETA, model.inv_sigma, model.gconst, bin_width, lgy, OW, lw)
    for k in range(K):
        lw[k] = prevW[k] + lw[k]


@numba.njit(inline="always", fastmath=FASTMATH, cache=CACHE)
def propose_bootstrap(L, pw):
    """Bootstrap proposal at one step: ``z = f + L ε``; its weight is ``log p(y_t | z)``
    (:func:`observe_particles`).

    ``L`` (R, R) ``L_0`` or ``L_z``; ``pw`` :class:`ParticleWork` (reads ``FK``, ``EK``;
    writes ``ZK``).
    """
    FK, EK, ZK = pw.FK, pw.EK, pw.ZK
    K, R = FK.shape
    for k in range(K):
        for r in range(R):
            acc = FK[k, r]
            for c in range(r + 1):
                acc += L[r, c] * EK[k, c]
            ZK[k, r] = acc


@numba.njit(inline="always", fastmath=FASTMATH, cache=CACHE)
def propose_optimal(c0, G, P, LP, pw):
    """Optimal proposal at one step (``lowrank.kernels.proposal``): ``z = f + P q + L_P ε``.

    ``c0 = k - s/2`` the step's constant; ``G, P, LP`` (R, R) of the step's
    regime; ``pw`` :class:`ParticleWork` (reads ``FK``, ``EK``, ``g``,
    ``prevW``; writes ``ZK`` and ``lw = prevW + log w`` with
    ``log w = c0 + fᵀg - fᵀGf/2 + qᵀPq/2``).
    """
    FK, EK, ZK, f, q, g, lw, prevW = pw.FK, pw.EK, pw.ZK, pw.f, pw.q, pw.g, pw.lw, pw.prevW
    K, R = FK.shape
    for k in range(K):
        for r in range(R):
            f[r] = FK[k, r]
        fg = 0.0
        for r in range(R):
            acc = g[r]
            for c in range(R):
                acc -= G[r, c] * f[c]
            q[r] = acc
            fg += f[r] * (g[r] + acc)
        # fᵀg - fᵀGf/2 = fᵀ(g + q)/2
        qpq = 0.0
        for r in range(R):
            pq = 0.0
            for c in range(R):
                pq += P[r, c] * q[c]
            qpq += q[r] * pq
            acc = f[r] + pq
            for c in range(r + 1):
                acc += LP[r, c] * EK[k, c]
            ZK[k, r] = acc
        wk = c0 + 0.5 * fg + 0.5 * qpq
        lw[k] = prevW[k] + wk


@numba.njit(inline="always", fastmath=FASTMATH, cache=CACHE)
def resample_after(codes, prevW, unif_t, anc_next, cw):
    """Ancestors ``anc_next`` (K,) of the next step; returns 1 if resampled, 0 if not.

    Resampling (due at every step, or when the ESS of ``prevW`` falls below
    ``tau K``) draws from ``prevW`` with the uniforms ``unif_t`` and resets
    ``prevW`` to uniform; otherwise the ancestors are the identity.
    """
    K = prevW.shape[0]
    tau, code = codes.tau, codes.resampling
    if code != RESAMPLE_NONE and (tau <= 0.0 or ess(prevW) < tau * K):
        resample(code, prevW, unif_t, anc_next, cw)
        log_k = math.log(K)
        for k in range(K):
            prevW[k] = -log_k
        return 1
    for k in range(K):
        anc_next[k] = k
    return 0


@numba.njit(inline="always", fastmath=FASTMATH, cache=CACHE)
def filter_sequence(s, codes, seqs, draws, model, prop, rec):
    """Run the particle filter over sequence ``s`` (arguments as :func:`smc_forward`).

    Copies each step's noise and parents in and its particles out, so the
    step functions bind thread-local arrays only (see the module docstring).
    """
    y, v, eps, unif = seqs.y[s], seqs.v[s], draws.eps[s], draws.unif[s]
    Z, F, anc, logW, ell, resampled = rec.Z[s], rec.F[s], rec.anc[s], rec.logW[s], rec.ell[s], rec.resampled[s]
    mT, nT, h, a, Wu, b, Wv, gain = model.mT, model.nT, model.h, model.a, model.Wu, model.b, model.Wv, model.gain
    mu, L0, Lz = model.mu_init[s], model.L0, model.Lz
    prop = local_proposal(prop)
    B, rinv, G, P2, LP2, k2, Sinv2 = prop.B, prop.rinv, prop.G, prop.P2, prop.LP2, prop.k2, prop.Sinv2
    K, R = eps.shape[1], eps.shape[2]
    encoder = codes.proposal == PROPOSAL_ENCODER
    em_s, lam_s = (prop.emu[s], prop.eprec[s]) if encoder else (prop.emu[0:0, 0], prop.eprec[0:0, 0])
    ew = encoder_work(K if encoder else 0, R)
    N, U = Wu.shape
    act, readout = codes.activation, codes.readout
    w = forward_work(K, R, N, y.shape[1])
    xb, ZP, XW, PW, off, e, cw, ZPT, FT = w.xb, w.ZP, w.XW, w.PW, w.off, w.e, w.cw, w.ZPT, w.FT
    pw = particle_work(K, R, y.shape[1])
    FK, EK, ZK, g, lw, prevW = pw.FK, pw.EK, pw.ZK, pw.g, pw.lw, pw.prevW
    for i in range(N):
        xb[i] = -h[i]
    for k in range(K):
        anc[0, k] = k
    Tb = seqs.lengths[s]
    rec.fail[s] = -1
    for t in range(Tb):
        if t >= 1 and U > 0:
            input_drive(Wu, v[t - 1], h, xb)
        readout_offset(readout, b, Wv, Wu, v[t], off)
        for k in range(K):
            j = anc[t, k]
            for r in range(R):
                EK[k, r] = eps[t, k, r]
                if t == 0:
                    FK[k, r] = mu[r]
                else:
                    ZP[k, r] = Z[t - 1, j, r]
        if t >= 1:
            step_means(act, ZP, a, mT, nT, h, xb, XW, PW, ZPT, FT, FK)
        if codes.proposal == PROPOSAL_OPTIMAL:
            reg = 0 if t == 0 else 1
            linear_residual(readout, y[t], off, gain, b, e)
            st = step_terms(B, rinv, e, g)
            propose_optimal(k2[reg] - 0.5 * st, G, P2[reg], LP2[reg], pw)
        else:
            if encoder:
                reg = 0 if t == 0 else 1
                load_step(em_s, lam_s, t, ew)
                c0 = step_setup(Sinv2[reg], L0 if t == 0 else Lz, ew)
                propose_encoder(Sinv2[reg], c0, ew, FK, EK, ZK)
            else:
                propose_bootstrap(L0 if t == 0 else Lz, pw)
            # one call site: each inlined call is typed and optimised anew
            observe_particles(codes, y[t], off, model, pw)
            if encoder:
                for k in range(K):
                    lw[k] += ew.corr[k]
        lt = logsumexp(lw)
        if not math.isfinite(lt):
            rec.fail[s] = t
            return
        ell[t] = lt
        for k in range(K):
            prevW[k] = lw[k] - lt
            logW[t, k] = prevW[k]
            for r in range(R):
                Z[t, k, r] = ZK[k, r]
                F[t, k, r] = FK[k, r]
        resampled[t] = 0
        if t < Tb - 1:
            resampled[t] = resample_after(codes, prevW, unif[t], anc[t + 1], cw)


@numba.njit(nogil=True, fastmath=FASTMATH, cache=CACHE)
def filter_sequences(start, step, codes, seqs, draws, model, prop, rec):
    """The particle filter over sequences ``start, start + step, ...`` (arguments as
    :func:`smc_forward`), without the GIL (:mod:`.threads`)."""
    for s in range(start, draws.eps.shape[0], step):
        filter_sequence(s, codes, seqs, draws, model, prop, rec)


def smc_forward(codes, seqs, draws, model, prop, rec):
    """The particle filter over every sequence, one sequence per thread (docs/smc.md).

    Parameters
    ----------
    codes : Codes
        Options as integer codes, ``tau`` and ``bin_width``.
    seqs : Sequences
        ``y`` (S, T, D), ``u`` and ``v`` (S, T, U), ``lengths`` (S,).
    draws : Draws
        ``eps`` (S, T, K, R), ``unif`` (S, T, K).
    model : ModelArrays
        ``mT, nT`` (R, N), ``h`` (N,), ``a`` (R,), ``Wu`` (N, U), ``mu_init`` (S, R),
        ``Lz, L0`` (R, R), ``WT`` (R, D), ``mDT`` (R, min(D, N)), ``Wv`` (D, Uv),
        ``gain`` (D,), ``b`` (D,), ``inv_sigma`` (D,), scalars ``gconst``, ``abar``.
    prop : ProposalArrays
        ``B`` (D, R), ``rinv`` (D,), ``G`` (R, R), ``P2, LP2`` (2, R, R), ``k2`` (2,),
        ``Sinv2`` (2, R, R), ``emu, eprec`` (S, T, R) (encoder proposal).
    rec : Records
        Output: ``Z, F`` (S, T, K, R), ``anc`` (S, T, K), ``logW`` (S, T, K),
        ``resampled`` (S, T), ``ell`` (S, T), ``fail`` (S,).

    All structures are those of :mod:`lowrank.kernels.smc_args`.
    """
    over_sequences(filter_sequences, draws.eps.shape[0], codes, seqs, draws, model, prop, rec)
