"""Smoothing of stored filtering particles (docs/design.md §3).

:func:`backward_weights` reweights every step's filtering particles by the
transition density (marginal forward-filtering backward-smoothing, the
compiled kernel :func:`lowrank.kernels.smoothing.backward_smoothing`), so the
smoothed distribution of ``z_t`` uses all K particles of step t rather than
the few ancestors that survive resampling (ancestry tracing's path
degeneracy). :func:`weighted_moments` gives the means and covariances of
weighted clouds.
"""
from __future__ import annotations

import numpy as np

from ..kernels.smoothing import backward_smoothing, particle_transition_means
from ..model.options import kernel_codes

__all__ = ["SMOOTHERS", "backward_weights", "weighted_moments"]

#: The smoothers of :func:`lowrank.inference.posterior.posterior`.
SMOOTHERS = ("backward", "ancestry")


def backward_weights(params, options, particles, log_weights, v, last):
    """Normalised marginal smoothing log-weights of filtering particles.

    Parameters
    ----------
    params : Params
    options : ModelOptions
    particles : ndarray, shape (n, T, K, R)
        Each step's particles (before resampling); NaN past a sequence's end.
    log_weights : ndarray, shape (n, T, K)
        Their normalised filtering log-weights (after the step's weighting,
        before resampling).
    v : ndarray, shape (n, T, U)
        Fed inputs (``v[:, t]`` drives the transition t → t+1).
    last : ndarray of int, shape (n,)
        Each sequence's last step.

    Returns
    -------
    ndarray, shape (n, T, K)
        ``log w_t^{j|T}``, normalised over particles; NaN past a sequence's end.
    """
    n, T, K, R = particles.shape
    last = np.ascontiguousarray(last, dtype=np.int64)
    Z = np.ascontiguousarray(np.nan_to_num(particles, nan=0.0))
    logW = np.ascontiguousarray(np.nan_to_num(log_weights, nan=-np.inf), dtype=np.float64)
    act = kernel_codes(options)[0]
    F = np.zeros_like(Z)
    vv = np.ascontiguousarray(v[:, :T], dtype=np.float64)
    particle_transition_means(act, Z, vv, params.a, np.ascontiguousarray(params.m.T),
                              np.ascontiguousarray(params.n.T), params.h, np.ascontiguousarray(params.W_u),
                              last, F)
    Linv = np.ascontiguousarray(np.linalg.inv(params.L_z))
    out = np.full((n, T, K), np.nan)
    backward_smoothing(Z, F, logW, Linv, last, out)
    return out


def weighted_moments(values, weights):
    """Means (..., R) and covariances (..., R, R) of clouds ``values`` (..., K, R) with
    normalised ``weights`` (..., K) (the weighted population covariance)."""
    mean = np.einsum("...k,...kr->...r", weights, values)
    d = values - mean[..., None, :]
    cov = np.einsum("...k,...kr,...ks->...rs", weights, d, d)
    return mean, cov
