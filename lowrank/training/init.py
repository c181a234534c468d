"""A data-driven starting point for a fit (``fit(init="data")``, the default for a new model).

A new model's random parameters start far from any recording: the rates'
offsets are wrong, the read-out points in a random direction and the
dynamics are a damped node. Gradient ascent on the ELBO then first explains
the data's variability as latent noise, and whether the dynamics ever leave
that plateau (find the rotation of an oscillation, say) depends on the seed
(``docs/experiments/spikes.md``). So a fit starts from the data instead:

1. a linearised view of the observations in the read-out's coordinates:
   Gaussian, the observations; Poisson, counts smoothed by a Gaussian kernel
   (about one expected count per channel under it) and linearised around
   each channel's mean rate through the link;
2. its top ``R`` principal components: read-out directions (``W``, or the
   first ``D`` rows of ``m`` for the units read-out from currents), offsets
   ``b``, and latent trajectories ``ẑ`` of unit variance;
3. the recurrent weights ``n`` by ridge regression of ``ẑ_{t+1} − a ⊙ ẑ_t``
   on ``φ(m ẑ_t + W_u v_t − h)`` (the leak ``a``, ``h``, ``W_u`` and the
   other rows of ``m`` keep their seeded values: a leak fitted too, to
   smoothed latents, comes out near 0.3 and leaves the network's centre
   stable where the paper's spiking teacher's is not); the transition noise
   from the residuals, the initial state from ``ẑ_0``;
4. the recurrent weights ``n`` shrunk until runs of the fitted model from
   the data's own states stay within a few times the data's range, so that a
   fit never starts from dynamics that run away.

The encoder's network (if any) keeps its seeded values. A units read-out
from the rates (``φ`` between the latents and the observations) has no such
linear view, and keeps all of its seeded values. Everything is deterministic
given the data and the seeded parameters.
"""
from __future__ import annotations

import warnings

import numpy as np
from scipy.ndimage import gaussian_filter1d

from ..model.equations import fed_inputs, phi, transition_mean
from ..model.options import ModelOptions
from ..model.params import Params

__all__ = ["data_init"]

RIDGE = 1e-2            # ridge penalty relative to the mean feature power
NOISE_FLOOR = 0.05      # least transition-noise std, in units of the latents' std
RUNAWAY = 5.0           # a run beyond this many times the data's latent range has run away


def data_init(params: Params, opts: ModelOptions, y, u, lengths) -> Params:
    """Parameters started from the data (module docstring); ``params`` supplies what is kept.

    Parameters
    ----------
    params : Params
        The seeded initialisation (``init_params``).
    opts : ModelOptions
    y : ndarray, shape (n_trials, T, D)
        Training observations (NaN where missing; steps past a trial's length are ignored).
    u : ndarray, shape (n_trials, T, U)
    lengths : ndarray of int, shape (n_trials,)

    Returns
    -------
    Params
        A new parameter set (``params`` itself when the data give no finite start); ``params`` itself
        is not changed.
    """
    if opts.readout == "units" and opts.units_readout_from == "rates":
        return params                   # a read-out through φ: no linear view of the data to start from
    try:
        with np.errstate(all="ignore"):
            p = _from_data(params, opts, y, u, lengths)
    except np.linalg.LinAlgError:
        return params
    # Data no start can be read from (overflowing values, say) leave the seeded start for the fit to judge.
    return p if all(np.all(np.isfinite(x)) for x in p) else params


def _from_data(params, opts, y, u, lengths):
    ys = [_filled(y[i, :L]) for i, L in enumerate(lengths)]
    vs = [fed_inputs(u[i:i + 1, :L], params.a, opts.filter_inputs)[0] for i, L in enumerate(lengths)]
    x, b = _linearised(ys, opts)
    p = params._replace(b=b)
    z, load = _principal(x, opts.rank)
    p = _readout(p, opts, load, x, z)
    p = _dynamics(p, opts, z, vs)
    return _tame(p, opts, z, vs)


def _filled(y):
    """Missing values replaced by their channel's mean (zero for a channel never observed)."""
    if not np.isnan(y).any():
        return y
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nan_to_num(np.nanmean(y, axis=0))
    return np.where(np.isnan(y), mean, y)


def _linearised(ys, opts):
    """Per-trial signals ``x`` (T_i, D) on the scale of the read-out mean ``η`` and the offsets ``b`` (D,)."""
    mean = np.mean(np.concatenate(ys), axis=0)
    if opts.likelihood == "gaussian":
        return [yi - mean for yi in ys], mean
    rate = np.maximum(mean / opts.bin_width, 1e-3)
    if opts.link == "exp":
        b, dg = np.log(rate), rate
    else:
        b = rate + np.log(-np.expm1(-rate))          # softplus⁻¹, stable for small and large rates
        dg = 1.0 / (1.0 + np.exp(-b))
    width = float(np.clip(1.0 / (np.sqrt(2 * np.pi) * max(float(mean.mean()), 1e-6)), 1.0, 10.0))
    xs = [(gaussian_filter1d(yi, width, axis=0, mode="nearest") - mean) / (dg * opts.bin_width) for yi in ys]
    return xs, b


def _principal(xs, R):
    """Latent trajectories (per trial, (T_i, R), unit variance) and read-out loadings (D, R): ``x ≈ ẑ loadᵀ``."""
    X = np.concatenate(xs)
    _, _, Vt = np.linalg.svd(X - X.mean(0), full_matrices=False)
    V = Vt[:R].T
    if V.shape[1] < R:                    # fewer channels than latents: the rest of the read-out starts at 0
        V = np.column_stack([V, np.zeros((V.shape[0], R - V.shape[1]))])
    scale = np.maximum((X @ V).std(0), 1e-8)
    return [(xi @ V) / scale for xi in xs], V * scale


def _readout(p, opts, load, xs, z):
    D = opts.n_obs
    if opts.readout == "latent":
        p = p._replace(W=load)
    else:
        m = p.m.copy()
        rest = np.linalg.norm(m[D:], axis=1, keepdims=True)
        m[:D] = load
        if len(m) > D:                    # hidden units: their rows at the read-out rows' typical size
            m[D:] *= np.mean(np.linalg.norm(load, axis=1)) / np.maximum(rest, 1e-12)
        p = p._replace(m=m, gain=np.ones(D))
    if opts.likelihood == "gaussian":
        resid = np.concatenate([xi - zi @ load.T for xi, zi in zip(xs, z)])
        p = p._replace(sigma=np.maximum(resid.std(0), 1e-3 * np.maximum(np.concatenate(xs).std(0), 1e-12)))
    return p


def _pairs(z, vs):
    """Consecutive latent pairs and the inputs at the first: (P, R), (P, R), (P, U)."""
    z0 = np.concatenate([zi[:-1] for zi in z])
    z1 = np.concatenate([zi[1:] for zi in z])
    v0 = np.concatenate([vi[:-1] for vi in vs])
    return z0, z1, v0


def _dynamics(p, opts, z, vs):
    """``n``, the transition noise and the initial state by ridge regression (module docstring)."""
    z0, z1, v0 = _pairs(z, vs)
    cur = z0 @ p.m.T + (v0 @ p.W_u.T if v0.shape[1] else 0.0)
    F = phi(opts.activation, cur - p.h, p.h)
    G = F.T @ F
    lam = RIDGE * max(float(np.trace(G)) / max(G.shape[0], 1), 1e-12)
    n = np.linalg.solve(G + lam * np.eye(len(G)), F.T @ (z1 - p.a * z0))
    resid = z1 - p.a * z0 - F @ n
    return _noise(p._replace(n=n), opts, resid, np.stack([zi[0] for zi in z]))


def _noise(p, opts, resid, first):
    R = opts.rank
    cov = np.cov(resid.T).reshape(R, R) + NOISE_FLOOR ** 2 * np.eye(R)
    L_z = np.linalg.cholesky(cov) if opts.noise == "full" else np.diag(np.sqrt(np.diag(cov)))
    if len(first) > 1:
        c0 = np.cov(first.T).reshape(R, R) + NOISE_FLOOR ** 2 * np.eye(R)
        mu0 = first.mean(0)
    else:
        c0, mu0 = np.eye(R), first[0]
    L_0 = np.linalg.cholesky(c0) if opts.init_noise == "full" else np.diag(np.sqrt(np.diag(c0)))
    return p._replace(L_z=L_z, mu0=mu0, L_0=L_0)


def _tame(p, opts, z, vs, n_steps=500, n_starts=16):
    """``p`` with ``n`` shrunk (by 0.8 at a time, at most 30 times) until noisy runs from the data's states
    stay within ``RUNAWAY`` times the data's latent range."""
    z0, _, v0 = _pairs(z, vs)
    limit = RUNAWAY * max(float(np.abs(z0).max()), 1.0)
    idx = np.linspace(0, len(z0) - 1, n_starts).astype(int)
    eps = np.random.default_rng(0).standard_normal((n_steps, n_starts, opts.rank)) @ p.L_z.T
    v = np.broadcast_to(v0.mean(0) if len(v0) else np.zeros(opts.n_inputs), (n_starts, opts.n_inputs))
    for _ in range(30):
        zt = z0[idx].copy()
        with np.errstate(all="ignore"):
            for t in range(n_steps):
                zt = transition_mean(p, opts, zt, v) + eps[t]
                if not np.all(np.abs(zt) < limit):
                    break
        if np.all(np.abs(zt) < limit):
            return p
        p = p._replace(n=0.8 * p.n)
    return p
