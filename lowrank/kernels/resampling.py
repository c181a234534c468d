"""Resampling and log-space reductions for the particle filter.

All randomness comes from the caller: every scheme maps the normalised
weights ``W = exp(logW)`` and a row of uniforms ``unif`` (K,) to ancestor
indices through ``inverse_cdf(p)``, the smallest ``j`` with
``sum_{i<=j} W_i > p`` (clamped to ``K-1`` so that rounding in the cumulative
sum can never index past the end). Schemes (docs/smc.md):

- systematic  (code 1): ``p_k = (k + unif[0]) / K``
- stratified  (code 2): ``p_k = (k + unif[k]) / K``
- multinomial (code 3): ``p_k = unif[k]``
- none        (code 0): identity

The exponentials are :func:`.vmath.exp_s` (branch-free, within an ulp of
libm's): a loop of ``math.exp`` stays a loop of scalar libm calls, which
cost as much per step as the rest of the resampling.
"""
import math

import numba
import numpy as np

from ..config import CACHE, FASTMATH
from ..model.codes import RESAMPLE_MULTINOMIAL, RESAMPLE_NONE, RESAMPLE_SYSTEMATIC
from .vmath import exp_s



@numba.njit(fastmath=FASTMATH, cache=CACHE)
def logsumexp(x):
    """log(sum(exp(x))) of a 1-D array; ``-inf`` when every entry is ``-inf``."""
    m = -np.inf
    for k in range(x.shape[0]):
        m = x[k] if x[k] > m else m
    if m == -np.inf or m == np.inf:
        # Subtracting an infinite max would give inf - inf = NaN.
        return m
    s = 0.0
    for k in range(x.shape[0]):
        s += exp_s(x[k] - m)
    return m + math.log(s)


@numba.njit(fastmath=FASTMATH, cache=CACHE)
def ess(logW):
    """Effective sample size ``1 / sum(W^2)`` of normalised log-weights."""
    s = 0.0
    for v in logW:
        s += exp_s(2.0 * v)
    return 1.0 / s


@numba.njit(fastmath=FASTMATH, cache=CACHE)
def _cumulative(logW, cw):
    # the exponentials in a loop of their own (vectorised), then the running sum
    for k in range(logW.shape[0]):
        cw[k] = exp_s(logW[k])
    total = 0.0
    for k in range(logW.shape[0]):
        total += cw[k]
        cw[k] = total


@numba.njit(fastmath=FASTMATH, cache=CACHE)
def _inverse_cdf_one(cw, p):
    # Binary search for the smallest j with cw[j] > p.
    lo, hi = 0, cw.shape[0] - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if cw[mid] > p:
            hi = mid
        else:
            lo = mid + 1
    return lo


@numba.njit(fastmath=FASTMATH, cache=CACHE)
def resample(code, logW, unif, anc, cw):
    """Write ancestor indices into ``anc`` (K,) int64.

    Parameters
    ----------
    code : int
        Scheme code (``lowrank.model.codes.RESAMPLE_*``).
    logW : (K,) float64
        Normalised log-weights.
    unif : (K,) float64
        Uniforms in [0, 1) for this step.
    anc : (K,) int64
        Output.
    cw : (K,) float64
        Workspace for the cumulative weights.
    """
    K = logW.shape[0]
    if code == RESAMPLE_NONE:
        for k in range(K):
            anc[k] = k
        return
    _cumulative(logW, cw)
    if code == RESAMPLE_MULTINOMIAL:
        for k in range(K):
            anc[k] = _inverse_cdf_one(cw, unif[k])
        return
    # Systematic and stratified points are increasing in k: one merge pass.
    j = 0
    for k in range(K):
        u = unif[0] if code == RESAMPLE_SYSTEMATIC else unif[k]
        p = (k + u) / K
        while j < K - 1 and cw[j] <= p:
            j += 1
        anc[k] = j
