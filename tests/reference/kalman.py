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
