"""The generative model's equations in plain numpy: the single source of φ, the
fed inputs, the initial-state mean, the transition mean and the read-out
(docs/design.md §1, docs/smc.md). The compiled twins in :mod:`lowrank.kernels`
are tested against these."""
from __future__ import annotations

import numpy as np

from .options import ModelOptions
from .params import Params


def fed_inputs(u, a, filter_inputs):
    """Inputs as the units receive them.

    Parameters
    ----------
    u : ndarray, shape (n_trials, T, U)
    a : ndarray, shape (R,)
        Leak; the filter uses its mean ``ā``.
    filter_inputs : bool
        If True, ``v_0 = 0`` and ``v_{t+1} = ā v_t + (1 - ā) u_t``; else ``v = u``.

    Returns
    -------
    v : ndarray, shape (n_trials, T, U)
    """
    if not filter_inputs or u.shape[-1] == 0:
        return u
    abar = float(np.mean(a))
    v = np.zeros_like(u)
    for t in range(1, u.shape[1]):
        v[:, t] = abar * v[:, t - 1] + (1.0 - abar) * u[:, t - 1]
    return v


def initial_mean(params: Params, v0):
    """``μ_init = mu0 + P_M W_u v_0`` with ``P_M = (mᵀm)⁻¹mᵀ``.

    v0 : ndarray, shape (n_trials, U). Returns (n_trials, R).
    """
    mu = np.broadcast_to(params.mu0, (v0.shape[0], params.mu0.shape[0])).copy()
    if v0.shape[1] > 0:
        cur = v0 @ params.W_u.T                       # (n_trials, N)
        mu += np.linalg.solve(params.m.T @ params.m, params.m.T @ cur.T).T
    return mu


def unit_currents(params: Params, z, v):
    """Currents ``x = m z + W_u v``: (..., N) from z (..., R) and v (..., U)."""
    x = z @ params.m.T
    if v.shape[-1] > 0:
        x = x + v @ params.W_u.T
    return x


def phi(name, x, h):
    """``φ(x)`` for pre-activations ``x`` (..., N') and thresholds ``h`` (N',).

    The reference definition of every activation; the compiled twin is
    :func:`lowrank.kernels.activations.phi`, tested against this one.
    ``clipped_relu`` is ``relu(x + h) − relu(x)``: 0 below ``−h``, then a
    slope of one, then the plateau ``h``.
    """
    if name == "relu":
        return np.maximum(x, 0.0)
    if name == "clipped_relu":
        return np.maximum(x + h, 0.0) - np.maximum(x, 0.0)
    if name == "tanh":
        return np.tanh(x)
    return x


def phi_slope(name, x, h):
    """``dφ/dx`` at ``x`` (..., N'), with the subgradient 0 at every kink."""
    if name == "relu":
        return (x > 0).astype(np.float64)
    if name == "clipped_relu":
        return (x + h > 0).astype(np.float64) - (x > 0).astype(np.float64)
    if name == "tanh":
        return 1.0 - np.tanh(x) ** 2
    return np.ones_like(x)


def readout_mean(params: Params, opts: ModelOptions, z, v):
    """Observation mean before the link, ``η`` (..., D), from z (..., R) and v (..., U)."""
    D = opts.n_obs
    if opts.readout == "latent":
        eta = z @ params.W.T + params.b
        if opts.readout_input:
            eta = eta + v @ params.W_v.T
        return eta
    cur = z @ params.m[:D].T
    if v.shape[-1] > 0:
        cur = cur + v @ params.W_u[:D].T
    if opts.units_readout_from == "rates":
        cur = phi(opts.activation, cur - params.h[:D], params.h[:D])
    return params.gain * cur + params.b


def poisson_rate(eta, link, bin_width):
    """Expected counts ``g(η)·Δ`` with a numerically stable softplus."""
    g = np.exp(eta) if link == "exp" else np.logaddexp(0.0, eta)
    return g * bin_width


def transition_mean(params: Params, opts: ModelOptions, z, v):
    """Noise-free transition ``f(z, v)`` in numpy: z (..., R), v (..., U) -> (..., R)."""
    x = unit_currents(params, z, v) - params.h
    return params.a * z + phi(opts.activation, x, params.h) @ params.n

