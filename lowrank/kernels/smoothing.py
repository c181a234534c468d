"""Marginal backward smoothing of stored filtering particles (forward filtering,
backward smoothing; docs/design.md §3).

Given each step's particles ``z_t^j`` and their normalised filtering
log-weights ``log w_t^j`` (after the step's weighting, before resampling),
the smoothing weights are computed backwards from ``w_{T-1}^{j|T} = w_{T-1}^j``:

    w_t^{j|T} = w_t^j Σ_i w_{t+1}^{i|T} p(z_{t+1}^i | z_t^j) / Σ_l w_t^l p(z_{t+1}^i | z_t^l)

with ``p(z' | z) = 𝒩(z'; f(z, v_t), Σ_z)``, in log space. Normalising
constants of the Gaussian cancel in the ratio, so only the Mahalanobis
term ``−|L_z⁻¹ (z' − f)|² / 2`` is used. O(K² R) per step and sequence;
one sequence per thread.
"""
import numba
import numpy as np

from ..config import CACHE, FASTMATH
from .resampling import logsumexp
from .transition import input_drive, step_means


@numba.njit(parallel=True, fastmath=FASTMATH, cache=CACHE)
def particle_transition_means(act, Z, v, a, mT, nT, h, Wu, last, F):
    """``F[s, t, k] = f(Z[s, t, k], v[s, t])`` for ``t < last[s]`` (the rest untouched).

    ``Z, F`` (S, T, K, R); ``v`` (S, T, U) fed inputs; ``a`` (R,); ``mT, nT``
    (R, N); ``h`` (N,); ``Wu`` (N, U); ``last`` (S,) each sequence's last step.
    """
    S, T, K, R = Z.shape
    N = h.shape[0]
    for s in numba.prange(S):
        xb = np.empty(N)
        X = np.empty((K, N))
        P = np.empty((K, N))
        ZT = np.empty((R, K))
        FT = np.empty((R, K))
        for t in range(last[s]):
            input_drive(Wu, v[s, t], h, xb)
            step_means(act, Z[s, t], a, mT, nT, h, xb, X, P, ZT, FT, F[s, t])


@numba.njit(fastmath=FASTMATH, cache=CACHE)
def _log_transition(Znext, F, Linv, out):
    """``out[i, j] = −|Linv (Znext[i] − F[j])|² / 2`` for ``Znext, F`` (K, R), ``Linv`` (R, R) lower."""
    K, R = Znext.shape
    d = np.empty(R)
    for i in range(K):
        for j in range(K):
            for r in range(R):
                d[r] = Znext[i, r] - F[j, r]
            q = 0.0
            for r in range(R):
                e = 0.0
                for c in range(r + 1):
                    e += Linv[r, c] * d[c]
                q += e * e
            out[i, j] = -0.5 * q


@numba.njit(parallel=True, fastmath=FASTMATH, cache=CACHE)
def backward_smoothing(Z, F, logW, Linv, last, logWs):
    """Normalised marginal smoothing log-weights ``logWs`` (S, T, K) for ``t <= last[s]``.

    ``Z`` (S, T, K, R) particles; ``F`` (S, T, K, R) their transition means
    (:func:`particle_transition_means`); ``logW`` (S, T, K) normalised
    filtering log-weights; ``Linv`` (R, R) the inverse of the lower Cholesky
    factor of the transition covariance; ``last`` (S,). Entries after
    ``last[s]`` are left untouched.
    """
    S, T, K, R = Z.shape
    for s in numba.prange(S):
        L = np.empty((K, K))
        den = np.empty(K)
        row = np.empty(K)
        col = np.empty(K)
        tl = last[s]
        for k in range(K):
            logWs[s, tl, k] = logW[s, tl, k]
        for t in range(tl - 1, -1, -1):
            _log_transition(Z[s, t + 1], F[s, t], Linv, L)
            # den_i = log Σ_l w_t^l p(z_{t+1}^i | z_t^l)
            for i in range(K):
                for j in range(K):
                    row[j] = logW[s, t, j] + L[i, j]
                den[i] = logsumexp(row)
            for j in range(K):
                for i in range(K):
                    # Particles the filter cannot reach (zero predictive density) carry no smoothing weight.
                    col[i] = logWs[s, t + 1, i] - den[i] + L[i, j] if den[i] > -np.inf else -np.inf
                logWs[s, t, j] = logW[s, t, j] + logsumexp(col)
            norm = logsumexp(logWs[s, t])
            for j in range(K):
                logWs[s, t, j] -= norm
