"""Forward pass of variational SMC on the GPU: the twin of :func:`lowrank.kernels.smc_forward.smc_forward`.

One thread block per sequence (row of a population: sequence ``s`` uses model
``model_of[s]``), one thread per particle; the time loop runs inside the
kernel. A step has three phases separated by barriers:

1. the block computes what all particles share (:func:`~.step_inputs.step_inputs`);
2. each thread moves its particle from its parent and weighs it
   (:func:`particle_weight`);
3. the block normalises the weights and resamples
   (:mod:`.blockreduce`: log-sum-exp, ESS, prefix sums, inverse CDF), each
   thread keeping its own log-weight and parent.

The records are those of the CPU pass (:class:`~lowrank.kernels.smc_args.Records`),
with ``ell`` and ``resampled`` zero past a sequence's end (or its failure)
and ``fail[s] = t`` where all weights of step t vanished.
"""
import math
from typing import NamedTuple

import numpy as np
from numba import cuda, float64

from ...model.codes import PROPOSAL_ENCODER, PROPOSAL_OPTIMAL
from .blockreduce import MAX_THREADS, ancestor, block_logsumexp
from .device import MAX_RANK, observation_loglik, transition_mean
from .step_inputs import step_inputs
from .propose import encoder_move, encoder_setup, noise_move, optimal_move, optimal_step_terms


class ForwardScratch(NamedTuple):
    """Per-sequence values a step's particles share, written by the block.

    Fields
    ------
    xb : (S, N)     input drive ``W_u v_{t-1} − h`` of the transitions into the step
    off : (S, D)    read-out offset
    e : (S, D)      residual ``y − c`` (optimal proposal)
    lgy : (S,)      ``sum lgamma(y + 1)`` of the step's counts (Poisson)
    """

    xb: np.ndarray
    off: np.ndarray
    e: np.ndarray
    lgy: np.ndarray


@cuda.jit(device=True)
def prior_mean(codes, model, rec, work, at, parent, f):
    """Particle's prior mean ``f``: ``mu_init`` at t = 0, else its parent's transition mean."""
    s, t, k, m = at
    R = model.a.shape[1]
    if t == 0:
        for r in range(R):
            f[r] = model.mu_init[s, r]
        return
    zp = cuda.local.array(MAX_RANK, float64)
    for r in range(R):
        zp[r] = rec.Z[s, t - 1, parent, r]
    transition_mean(codes.activation, model, m, work.xb[s], zp, f)


@cuda.jit(device=True)
def move(codes, model, prop, work, at, f, ek, z):
    """Particle's new state ``z`` from ``f`` and ``ek``; returns the weight's terms
    beyond ``log p(y_t | z)``, or the whole ``log w`` for the optimal proposal."""
    s, t, k, m = at
    R = model.a.shape[1]
    reg = 0 if t == 0 else 1
    L = model.L0[m] if t == 0 else model.Lz[m]
    if codes.proposal == PROPOSAL_OPTIMAL:
        g = cuda.local.array(MAX_RANK, float64)
        st = optimal_step_terms(prop.B[m], prop.rinv[m], work.e[s], g, R)
        c0 = prop.k2[m, reg] - 0.5 * st
        return optimal_move(c0, prop.G[m], prop.P2[m, reg], prop.LP2[m, reg], g, f, ek, z, R)
    if codes.proposal == PROPOSAL_ENCODER:
        A = cuda.local.array((MAX_RANK, MAX_RANK), float64)
        LA = cuda.local.array((MAX_RANK, MAX_RANK), float64)
        c0 = encoder_setup(prop.Sinv2[m, reg], L, prop.eprec[s, t], A, LA, R)
        return encoder_move(prop.Sinv2[m, reg], c0, LA, prop.emu[s, t], prop.eprec[s, t], f, ek, z, R)
    noise_move(L, f, ek, z, R)
    return 0.0


@cuda.jit(device=True)
def particle_weight(codes, seqs, draws, model, prop, rec, work, at, parent):
    """Move particle k of step t (``at = (s, t, k, m)``) from its parent; record its
    ``Z`` and ``F``; return its log-weight increment ``log w``."""
    s, t, k, m = at
    R = model.a.shape[1]
    f = cuda.local.array(MAX_RANK, float64)
    ek = cuda.local.array(MAX_RANK, float64)
    z = cuda.local.array(MAX_RANK, float64)
    for r in range(R):
        ek[r] = draws.eps[s, t, k, r]
    prior_mean(codes, model, rec, work, at, parent, f)
    lw = move(codes, model, prop, work, at, f, ek, z)
    if codes.proposal != PROPOSAL_OPTIMAL:
        lw += observation_loglik(codes, model, m, seqs.y[s, t], work.off[s], z, work.lgy[s])
    for r in range(R):
        rec.Z[s, t, k, r] = z[r]
        rec.F[s, t, k, r] = f[r]
    return lw


@cuda.jit(device=True)
def clear_records(rec, s):
    """Zero the increments and resampling flags of row ``s`` (they stay zero past the end)."""
    tid = cuda.threadIdx.x
    for t in range(tid, rec.ell.shape[1], cuda.blockDim.x):
        rec.ell[s, t] = 0.0
        rec.resampled[s, t] = 0
    if tid == 0:
        rec.fail[s] = -1


@cuda.jit
def filter_kernel(codes, seqs, draws, model, prop, rec, model_of, work):
    """The particle filter over sequence ``blockIdx.x``, particle ``threadIdx.x``.

    Arguments are the structures of :mod:`lowrank.kernels.smc_args` as device
    arrays, ``model``/``prop`` stacked (:mod:`.stack`); ``model_of`` (S,) int64
    the model of each sequence; ``work`` a :class:`ForwardScratch`.
    """
    s = cuda.blockIdx.x
    k = cuda.threadIdx.x
    m = model_of[s]
    K = draws.eps.shape[2]
    buf = cuda.shared.array(MAX_THREADS, float64)
    clear_records(rec, s)
    parent = k
    uniform = -math.log(K) if k < K else -math.inf
    log_w = uniform
    Tb = seqs.lengths[s]
    for t in range(Tb):
        step_inputs(codes, seqs, model, m, s, t, work)
        cuda.syncthreads()
        lw = -math.inf
        if k < K:
            if t == 0:
                rec.anc[s, 0, k] = k
            lw = log_w + particle_weight(codes, seqs, draws, model, prop, rec, work, (s, t, k, m), parent)
        lt = block_logsumexp(buf, lw)
        if math.isinf(lt) or math.isnan(lt):
            if k == 0:
                rec.fail[s] = t
            return
        log_w = lw - lt
        if k == 0:
            rec.ell[s, t] = lt
        if k < K:
            rec.logW[s, t, k] = log_w
        if t < Tb - 1:
            parent = ancestor(buf, codes.resampling, codes.tau, log_w, draws.unif[s, t], K)
            if parent >= 0:
                log_w = uniform
                if k == 0:
                    rec.resampled[s, t] = 1
            else:
                parent = k
            if k < K:
                rec.anc[s, t + 1, k] = parent
        # Step t's particles are complete before step t + 1 reads its parents.
        cuda.syncthreads()
