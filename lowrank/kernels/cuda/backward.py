"""Backward pass of variational SMC on the GPU: the twin of
:func:`lowrank.kernels.smc_backward.smc_backward` (hand-written reverse mode).

One thread block per sequence, one thread per particle, walking the steps
backwards. At step t:

1. the block recomputes what the particles share (:func:`~.step_inputs.step_inputs`)
   and sums the carried log-weight adjoints (``dell = c_s − Σ dlogW``);
2. each thread pushes its particle's share of every adjoint down to the
   parameters (:func:`particle_adjoint`, :mod:`.adjoints`,
   :mod:`.proposal_adjoints`) into its own column of the gradient rows
   ``work.rows[s, :, k]``, and leaves its parent's share in ``work.dz``;
3. after a barrier each thread gathers its own adjoint at step t − 1 from the
   children that picked it (ascending child index, as the CPU adds them),
   and the block sums the encoder's per-step adjoints into ``dsteps``.

At the end the block sums the gradient rows over particles in a fixed order
into ``gbuf[s]``. No atomics: repeated launches give the same bits.
"""
import math
from typing import NamedTuple

import numpy as np
from numba import cuda, float64

from ...model.codes import PROPOSAL_ENCODER, PROPOSAL_OPTIMAL
from .adjoints import input_slot, noise_adjoint, observation_adjoint, transition_adjoint
from .blockreduce import MAX_THREADS, block_sum
from .device import MAX_RANK
from .step_inputs import step_inputs
from .proposal_adjoints import encoder_particle, optimal_adjoint, optimal_step_adjoint


class BackwardScratch(NamedTuple):
    """Global scratch of the backward pass.

    Fields
    ------
    xb, off, e, lgy : as :class:`~.forward.ForwardScratch`
    rows : (S, L, K)    each particle's gradient row (``L`` the layout's size), particle-minor
    dz : (S, R, K)      each particle's share of its parent's adjoint
    dv : (S, 3, U, K)   each thread's shares of the fed inputs' adjoints (slots :func:`~.adjoints.input_slot`)
    steps : (S, 2R, K)  each particle's share of the step's encoder adjoints (``μ_e``, ``λ``)
    """

    xb: np.ndarray
    off: np.ndarray
    e: np.ndarray
    lgy: np.ndarray
    rows: np.ndarray
    dz: np.ndarray
    dv: np.ndarray
    steps: np.ndarray


@cuda.jit(device=True)
def particle_adjoint(codes, seqs, draws, model, prop, rec, work, lay, at, wk, dz):
    """Particle k's share of step t's adjoint (weight adjoint ``wk``, state adjoint ``dz``),
    down to its prior mean, then to the initial mean or through the transition."""
    s, t, k, m = at
    R = model.a.shape[1]
    z = cuda.local.array(MAX_RANK, float64)
    f = cuda.local.array(MAX_RANK, float64)
    ek = cuda.local.array(MAX_RANK, float64)
    DF = cuda.local.array(MAX_RANK, float64)
    for r in range(R):
        z[r] = rec.Z[s, t, k, r]
        f[r] = rec.F[s, t, k, r]
        ek[r] = draws.eps[s, t, k, r]
    if codes.proposal == PROPOSAL_OPTIMAL:
        dg = cuda.local.array(MAX_RANK, float64)
        ds = optimal_adjoint(prop, work, lay, at, f, ek, wk, dz, DF, dg)
        optimal_step_adjoint(codes, seqs, model, prop, work, lay, at, dg, ds)
    else:
        observation_adjoint(codes, seqs, model, work, lay, at, z, wk, dz)
        if codes.proposal == PROPOSAL_ENCODER:
            encoder_particle(prop, model, work, lay, at, f, ek, wk, dz, DF)
        else:
            noise_adjoint(work, lay, at, ek, dz, DF, R)
    if t == 0:
        for r in range(R):
            work.rows[s, lay.mu + r, k] += DF[r]
    else:
        transition_adjoint(codes, seqs, model, rec, work, lay, at, rec.anc[s, t, k], DF)


@cuda.jit(device=True)
def input_filter_step(codes, seqs, model, work, lay, at):
    """Reverse ``v_{t+1} = ā v_t + (1 − ā) u_t`` over this thread's shares: into ``ā``, and
    ``v_{t+1}``'s share on to ``v_t``'s; the freed slot is cleared for ``v_{t−2}``."""
    s, t, k, m = at
    if not codes.filter_inputs:
        return
    cur, nxt = input_slot(t), input_slot(t + 1)
    for j in range(seqs.v.shape[2]):
        dn = work.dv[s, nxt, j, k]
        work.rows[s, lay.abar, k] += dn * (seqs.v[s, t, j] - seqs.u[s, t, j])
        work.dv[s, cur, j, k] += model.abar[m] * dn
        work.dv[s, nxt, j, k] = 0.0


@cuda.jit(device=True)
def gather_parent_adjoint(rec, work, s, t, K, dz):
    """Thread j's adjoint at step t − 1: the sum of its children's shares, in child order."""
    j = cuda.threadIdx.x
    for r in range(work.dz.shape[1]):
        dz[r] = 0.0
    for c in range(K):
        if rec.anc[s, t, c] == j:
            for r in range(work.dz.shape[1]):
                dz[r] += work.dz[s, r, c]


@cuda.jit(device=True)
def sum_over_particles(src, s, K, dst):
    """``dst[i] = Σ_k src[s, i, k]`` (k ascending), entries shared out over the block's threads."""
    for i in range(cuda.threadIdx.x, dst.shape[0], cuda.blockDim.x):
        acc = 0.0
        for k in range(K):
            acc += src[s, i, k]
        dst[i] = acc


@cuda.jit(device=True)
def clear_columns(work, s, K):
    """Zero this thread's gradient row and input-adjoint slots."""
    k = cuda.threadIdx.x
    if k >= K:
        return
    for i in range(work.rows.shape[1]):
        work.rows[s, i, k] = 0.0
    for c in range(3):
        for j in range(work.dv.shape[2]):
            work.dv[s, c, j, k] = 0.0


@cuda.jit(device=True)
def sequences_of_model(buf, model_of, m):
    """How many sequences of the launch run under model ``m`` (every thread gets the count)."""
    n = 0.0
    for i in range(cuda.threadIdx.x, model_of.shape[0], cuda.blockDim.x):
        if model_of[i] == m:
            n += 1.0
    return block_sum(buf, n)


@cuda.jit
def reverse_kernel(codes, seqs, draws, model, prop, rec, lay, gbuf, dsteps, model_of, work):
    """Reverse mode of sequence ``blockIdx.x`` into ``gbuf[s]`` (and ``dsteps[s]``).

    Arguments as :func:`lowrank.kernels.smc_backward.smc_backward`, as device
    arrays, ``model``/``prop`` stacked; ``model_of`` (S,) int64; ``work`` a
    :class:`BackwardScratch`.
    """
    s = cuda.blockIdx.x
    k = cuda.threadIdx.x
    m = model_of[s]
    K, R = draws.eps.shape[2], draws.eps.shape[3]
    buf = cuda.shared.array(MAX_THREADS, float64)
    dz = cuda.local.array(MAX_RANK, float64)
    for r in range(R):
        dz[r] = 0.0
    clear_columns(work, s, K)
    dlogW = 0.0
    Tb = seqs.lengths[s]
    # the value is a mean over the model's own sequences, as a launch of that model alone
    cs = 1.0 / (sequences_of_model(buf, model_of, m) * Tb)
    for t in range(Tb - 1, -1, -1):
        step_inputs(codes, seqs, model, m, s, t, work)
        dell = cs - block_sum(buf, dlogW)
        if k < K:
            at = (s, t, k, m)
            wk = dell * math.exp(rec.logW[s, t, k]) + dlogW
            dlogW = wk if t >= 1 and rec.resampled[s, t - 1] == 0 else 0.0
            particle_adjoint(codes, seqs, draws, model, prop, rec, work, lay, at, wk, dz)
            input_filter_step(codes, seqs, model, work, lay, at)
        cuda.syncthreads()
        if codes.proposal == PROPOSAL_ENCODER:
            sum_over_particles(work.steps, s, K, dsteps[s, t])
        if t >= 1 and k < K:
            gather_parent_adjoint(rec, work, s, t, K, dz)
        # the shares are read before the next step overwrites them
        cuda.syncthreads()
    sum_over_particles(work.rows, s, K, gbuf[s])
