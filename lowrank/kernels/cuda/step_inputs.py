"""What every particle of a step reads, computed once per step by the block's threads together.

Written to per-sequence rows of global scratch (their sizes, N and D, are
known only at run time), read by every thread after a barrier.
"""
from numba import cuda

from ...model.codes import LIK_POISSON, PROPOSAL_OPTIMAL, READOUT_LATENT
from .device import lgamma_sum


@cuda.jit(device=True)
def step_inputs(codes, seqs, model, m, s, t, work):
    """What every particle of step t reads, computed by the block's threads together:
    ``work.xb[s]`` (N,) the input drive of the transitions into step t (t ≥ 1),
    ``work.off[s]`` (D,) the read-out offset, ``work.e[s]`` (D,) the residual ``y − c``
    (optimal proposal), ``work.lgy[s]`` the counts' ``sum lgamma(y + 1)`` (Poisson).
    The caller synchronises before reading them."""
    tid, nth = cuda.threadIdx.x, cuda.blockDim.x
    U = seqs.v.shape[2]
    if t >= 1:
        for i in range(tid, model.h.shape[1], nth):
            acc = -model.h[m, i]
            for j in range(U):
                acc += model.Wu[m, i, j] * seqs.v[s, t - 1, j]
            work.xb[s, i] = acc
    for d in range(tid, seqs.y.shape[2], nth):
        if codes.readout == READOUT_LATENT:
            acc = model.b[m, d]
            for j in range(model.Wv.shape[2]):
                acc += model.Wv[m, d, j] * seqs.v[s, t, j]
        else:
            acc = 0.0
            for j in range(U):
                acc += model.Wu[m, d, j] * seqs.v[s, t, j]
        work.off[s, d] = acc
        if codes.proposal == PROPOSAL_OPTIMAL:
            c = acc if codes.readout == READOUT_LATENT else model.gain[m, d] * acc + model.b[m, d]
            work.e[s, d] = seqs.y[s, t, d] - c
    if tid == 0 and codes.likelihood == LIK_POISSON:
        work.lgy[s] = lgamma_sum(seqs.y[s, t])
