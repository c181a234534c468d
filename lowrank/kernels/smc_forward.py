"""Forward pass of variational SMC (docs/smc.md), one sequence per thread.

Records what the backward pass needs: particles ``Z`` (S, T, K, R), their
prior means ``F`` (S, T, K, R), ancestors
``anc`` (S, T, K) (``anc[:, t]`` picks the parents of step t), normalised
log-weights after each step ``logW`` (S, T, K), whether resampling followed
step t ``resampled`` (S, T), and the increments ``ell`` (S, T). A sequence whose
log-weights are all ``-inf`` (or NaN) at step t stops there with
``fail[s] = t``; otherwise ``fail[s] = -1``.
"""
import math

import numba
import numpy as np

from ..config import CACHE, FASTMATH
from .observation import lgamma_sum, linear_residual, loglik, readout_mean, readout_offset
from .proposal import step_terms
from .resampling import ess, logsumexp, resample
from .transition import input_drive, transition_means


@numba.njit(parallel=True, fastmath=FASTMATH, cache=CACHE)
def smc_forward(act, readout, from_rates, lik, link, prop, rs_code, tau, bin_width,
                y, v, lengths, eps, unif,
                mT, nT, h, a, Wu, mu_init, Lz, L0, W, Wv, gain, b, inv_sigma, gconst,
                B, rinv, G, P2, LP2, k2,
                Z, F, anc, logW, resampled, ell, fail):
    S, T, K, R = eps.shape
    N = mT.shape[1]
    D = y.shape[2]
    U = v.shape[2]
    mDT = np.ascontiguousarray(mT[:, :min(D, N)])
    WT = np.ascontiguousarray(W.T)
    hD = h[:D]
    log_k = math.log(K)
    for s in numba.prange(S):
        Tb = lengths[s]
        fail[s] = -1
        xb = np.empty(N)
        XW = np.empty((K, N))
        PW = np.empty((K, N))
        ZP = np.empty((K, R))
        FK = np.empty((K, R))
        f = np.empty(R)
        q = np.empty(R)
        zk = np.empty(R)
        ek = np.empty(R)
        g = np.empty(R)
        off = np.empty(D)
        e = np.empty(D)
        eta = np.empty(D)
        lw = np.empty(K)
        cw = np.empty(K)
        prevW = np.full(K, -log_k)
        for i in range(N):
            xb[i] = -h[i]
        for k in range(K):
            anc[s, 0, k] = k
        for t in range(Tb):
            if t >= 1 and U > 0:
                input_drive(Wu, v[s, t - 1], h, xb)
            readout_offset(readout, b, Wv, Wu, v[s, t], off)
            yt = y[s, t]
            st = 0.0
            lgy = 0.0
            if prop == 1:
                linear_residual(readout, yt, off, gain, b, e)
                st = step_terms(B, rinv, e, g)
            elif lik == 1:
                lgy = lgamma_sum(yt)
            reg = 0 if t == 0 else 1
            L = L0 if t == 0 else Lz
            P = P2[reg]
            LP = LP2[reg]
            # Parents are copied into thread-local buffers rather than sliced:
            # every view of a shared array touches its reference count, and
            # threads contending for that cache line serialise.
            if t == 0:
                for k in range(K):
                    for r in range(R):
                        FK[k, r] = mu_init[s, r]
            else:
                for k in range(K):
                    j = anc[s, t, k]
                    for r in range(R):
                        ZP[k, r] = Z[s, t - 1, j, r]
                transition_means(act, ZP, a, mT, nT, h, xb, XW, PW, FK)
            for k in range(K):
                for r in range(R):
                    f[r] = FK[k, r]
                for r in range(R):
                    ek[r] = eps[s, t, k, r]
                if prop == 0:
                    for r in range(R):
                        acc = f[r]
                        for c in range(r + 1):
                            acc += L[r, c] * ek[c]
                        zk[r] = acc
                    readout_mean(readout, from_rates, act, zk, WT, mDT, hD, gain, b, off, eta)
                    w = loglik(lik, link, yt, eta, inv_sigma, gconst, bin_width, lgy)
                else:
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
                            acc += LP[r, c] * ek[c]
                        zk[r] = acc
                    w = k2[reg] - 0.5 * st + 0.5 * fg + 0.5 * qpq
                for r in range(R):
                    Z[s, t, k, r] = zk[r]
                    F[s, t, k, r] = f[r]
                lw[k] = prevW[k] + w
            lt = logsumexp(lw)
            if not math.isfinite(lt):
                fail[s] = t
                break
            ell[s, t] = lt
            for k in range(K):
                prevW[k] = lw[k] - lt
                logW[s, t, k] = prevW[k]
            resampled[s, t] = 0
            if t < Tb - 1:
                due = rs_code != 0 and (tau <= 0.0 or ess(prevW) < tau * K)
                if due:
                    resample(rs_code, prevW, unif[s, t], anc[s, t + 1], cw)
                    resampled[s, t] = 1
                    for k in range(K):
                        prevW[k] = -log_k
                else:
                    for k in range(K):
                        anc[s, t + 1, k] = k
