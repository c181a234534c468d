"""Exact log-likelihood of the linear-Gaussian special case, by the Kalman filter.

With the identity activation the transition mean is affine in z:

    f(z, v) = a ⊙ z + nᵀ (m z + W_u v − h) = A z + nᵀ (W_u v − h),   A = diag(a) + nᵀ m

and with a Gaussian latent read-out (or units-from-currents) the observation is
``y = B z + c_t + 𝒩(0, diag σ²)``. The SMC likelihood estimate exp(ELBO) is
unbiased for exp(loglik) computed here.
"""
from __future__ import annotations

import numpy as np

from .smc_numpy import _as_params, fed_inputs, initial_mean, linear_readout

LOG2PI = float(np.log(2.0 * np.pi))


def linear_system(params, opts):
    """(A, offset(v)) of the affine transition; raises unless the activation is the identity."""
    if opts.activation != "identity":
        raise ValueError("the Kalman filter needs activation='identity'")
    p = _as_params(params)
    A = np.diag(p.a) + p.n.T @ p.m

    def offset(v):
        return p.n.T @ (p.W_u @ v - p.h)

    return A, offset


def kalman_loglik(params, opts, y, inputs=None, noise_basis=None):
    """Exact log p(y_{0:T−1}) for one sequence y (T, D) (inputs (T, U) if the model has them).

    With ``noise_basis`` S the read-out is ``S (B z + c)`` and the noise covariance
    ``S diag(σ²) Sᵀ``, all in data space (no change of coordinates).
    """
    if not opts.linear_gaussian_readout:
        raise ValueError("the Kalman filter needs a linear-Gaussian read-out")
    p = _as_params(params)
    y = np.asarray(y, dtype=np.float64)
    T = y.shape[0]
    A, offset = linear_system(p, opts)
    v = [np.asarray(x, dtype=np.float64) for x in fed_inputs(p, opts, inputs, T)]
    Sz = p.L_z @ p.L_z.T
    Robs = np.diag(p.sigma ** 2)
    Sb = np.eye(len(p.sigma)) if noise_basis is None else np.asarray(noise_basis, dtype=np.float64)
    Robs = Sb @ Robs @ Sb.T
    mean = np.asarray(initial_mean(p, opts, v[0]), dtype=np.float64)
    cov = p.L_0 @ p.L_0.T
    ll = 0.0
    for t in range(T):
        if t > 0:
            mean = A @ mean + offset(v[t - 1])
            cov = A @ cov @ A.T + Sz
        B, c = linear_readout(p, opts, v[t])
        B, c = Sb @ np.asarray(B), Sb @ np.asarray(c)
        S = B @ cov @ B.T + Robs
        innov = y[t] - (B @ mean + c)
        Lc = np.linalg.cholesky(S)
        w = np.linalg.solve(Lc, innov)
        ll += -0.5 * (len(innov) * LOG2PI + w @ w) - np.sum(np.log(np.diag(Lc)))
        # Joseph-free update is fine here: small, well-conditioned systems.
        G = np.linalg.solve(S, B @ cov).T     # cov Bᵀ S⁻¹
        mean = mean + G @ innov
        cov = cov - G @ B @ cov
        cov = 0.5 * (cov + cov.T)
    return float(ll)


def kalman_loglik_batch(params, opts, y, inputs=None):
    """Vector of exact log-likelihoods for y (n_seq, T, D)."""
    y = np.asarray(y, dtype=np.float64)
    if y.ndim == 2:
        y = y[None]
    return np.array([kalman_loglik(params, opts, y[s], None if inputs is None else np.asarray(inputs)[s])
                     for s in range(y.shape[0])])


def rts_smoother(params, opts, y, inputs=None):
    """Exact filtering and smoothing moments of one sequence y (T, D) (no noise basis).

    Returns ``(filter_mean (T, R), filter_cov (T, R, R), smooth_mean (T, R), smooth_cov (T, R, R))``:
    the Kalman filter, then the Rauch–Tung–Striebel backward pass.
    """
    if not opts.linear_gaussian_readout:
        raise ValueError("the RTS smoother needs a linear-Gaussian read-out")
    p = _as_params(params)
    y = np.asarray(y, dtype=np.float64)
    T, R = y.shape[0], p.a.shape[0]
    A, offset = linear_system(p, opts)
    v = [np.asarray(x, dtype=np.float64) for x in fed_inputs(p, opts, inputs, T)]
    Sz = p.L_z @ p.L_z.T
    Robs = np.diag(p.sigma ** 2)
    pm, pc = np.zeros((T, R)), np.zeros((T, R, R))          # predicted
    fm, fc = np.zeros((T, R)), np.zeros((T, R, R))          # filtered
    mean = np.asarray(initial_mean(p, opts, v[0]), dtype=np.float64)
    cov = p.L_0 @ p.L_0.T
    for t in range(T):
        if t > 0:
            mean = A @ mean + offset(v[t - 1])
            cov = A @ cov @ A.T + Sz
        pm[t], pc[t] = mean, cov
        B, c = linear_readout(p, opts, v[t])
        B, c = np.asarray(B), np.asarray(c)
        S = B @ cov @ B.T + Robs
        G = np.linalg.solve(S, B @ cov).T
        mean = mean + G @ (y[t] - (B @ mean + c))
        cov = cov - G @ B @ cov
        cov = 0.5 * (cov + cov.T)
        fm[t], fc[t] = mean, cov
    sm, sc = fm.copy(), fc.copy()
    for t in range(T - 2, -1, -1):
        J = np.linalg.solve(pc[t + 1], A @ fc[t]).T          # fc A^T pc^{-1}
        sm[t] = fm[t] + J @ (sm[t + 1] - pm[t + 1])
        sc[t] = fc[t] + J @ (sc[t + 1] - pc[t + 1]) @ J.T
        sc[t] = 0.5 * (sc[t] + sc[t].T)
    return fm, fc, sm, sc
