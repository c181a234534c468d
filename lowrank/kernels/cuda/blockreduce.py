"""Reductions over the particles of one thread block, in shared memory, in a fixed order.

Every function is called by all threads of the block (it synchronises), each
passing its own value (a neutral one for the threads past the K particles).
The trees pair the same entries on every run, so repeated launches give the
same bits; no atomics. ``buf`` is a shared float64 array with at least
``cuda.blockDim.x`` entries, which must be a power of two. Each function
synchronises before writing ``buf``, so a caller may still be reading the
previous result when the next reduction starts.

Resampling follows :mod:`lowrank.kernels.resampling`: ``inverse_cdf(p)`` is
the smallest ``j`` with ``cw[j] > p``, clamped to ``K - 1``.
"""
import math

from numba import cuda

from ...model.codes import RESAMPLE_NONE, RESAMPLE_STRATIFIED, RESAMPLE_SYSTEMATIC

MAX_THREADS = 1024


@cuda.jit(device=True)
def _tree(buf, val, take_max):
    """Every thread's ``val`` combined pairwise down a tree in ``buf``: the sum, or (``take_max``) the
    maximum, where NaN, as on the CPU, never wins a comparison."""
    tid = cuda.threadIdx.x
    cuda.syncthreads()
    buf[tid] = val
    cuda.syncthreads()
    half = cuda.blockDim.x // 2
    while half > 0:
        if tid < half:
            other = buf[tid + half]
            if not take_max:
                buf[tid] += other
            elif other > buf[tid] or buf[tid] != buf[tid]:
                buf[tid] = other
        cuda.syncthreads()
        half //= 2
    return buf[0]


@cuda.jit(device=True)
def block_sum(buf, val):
    """Sum of every thread's ``val`` (pairwise tree)."""
    return _tree(buf, val, False)


@cuda.jit(device=True)
def block_max(buf, val):
    """Maximum of every thread's ``val`` (NaN never wins a comparison)."""
    return _tree(buf, val, True)


@cuda.jit(device=True)
def block_logsumexp(buf, val):
    """``log sum exp`` of every thread's ``val`` (``-inf`` for none): ``-inf`` when all are
    ``-inf``, ``inf`` when one is, NaN when one is NaN."""
    mx = block_max(buf, val)
    if mx == -math.inf or mx == math.inf:
        return mx
    return mx + math.log(block_sum(buf, math.exp(val - mx)))


@cuda.jit(device=True)
def block_cumsum(buf, val):
    """Inclusive prefix sums of the threads' values into ``buf`` (Hillis-Steele)."""
    tid = cuda.threadIdx.x
    cuda.syncthreads()
    buf[tid] = val
    cuda.syncthreads()
    step = 1
    while step < cuda.blockDim.x:
        add = buf[tid - step] if tid >= step else 0.0
        cuda.syncthreads()
        buf[tid] += add
        cuda.syncthreads()
        step *= 2


@cuda.jit(device=True)
def inverse_cdf(cw, K, p):
    """Smallest ``j < K`` with ``cw[j] > p``, or ``K - 1`` (binary search)."""
    lo, hi = 0, K - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if cw[mid] > p:
            hi = mid
        else:
            lo = mid + 1
    return lo


@cuda.jit(device=True)
def resample_point(code, k, K, unif_row):
    """The point ``p_k`` whose inverse CDF is particle k's ancestor: systematic,
    stratified or multinomial (``lowrank.model.codes.RESAMPLE_*``)."""
    if code == RESAMPLE_SYSTEMATIC:
        return (k + unif_row[0]) / K
    if code == RESAMPLE_STRATIFIED:
        return (k + unif_row[k]) / K
    return unif_row[k]


@cuda.jit(device=True)
def ancestor(buf, code, tau, log_w, unif_row, K):
    """Thread k's ancestor for the next step, or -1 when no resampling is due.

    ``log_w`` the thread's normalised log-weight (``-inf`` past the K
    particles), ``unif_row`` (K,) the step's uniforms. Resampling is due when
    ``code != RESAMPLE_NONE`` and either ``tau <= 0`` or the ESS ``1 / sum W^2`` is below
    ``tau * K``. The decision is the same for every thread, so all of them
    reach the same barriers.
    """
    if code == RESAMPLE_NONE:
        return -1
    if tau > 0.0:
        if not 1.0 / block_sum(buf, math.exp(2.0 * log_w)) < tau * K:
            return -1
    block_cumsum(buf, math.exp(log_w))
    k = cuda.threadIdx.x
    if k >= K:
        return k
    return inverse_cdf(buf, K, resample_point(code, k, K, unif_row))
