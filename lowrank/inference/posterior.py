"""Posterior over the latents from the particle filter (DESIGN §3): filtering,
smoothing (backward reweighting, or ancestry tracing), the held-out score and
k-step-ahead prediction.

Everything here runs the SMC forward pass of :func:`lowrank.smc.elbo` (no
gradient) and post-processes its particles, normalised log-weights and
ancestor indices.

Smoothing by backward reweighting (``smoother="backward"``, the default):
marginal forward-filtering backward-smoothing
(:mod:`lowrank.inference.smoothing`). Each step's filtering particles are
reweighted by the transition density to the next step's smoothed particles,
``w_t^{j|T} ∝ w_t^j Σ_i w_{t+1}^{i|T} p(z_{t+1}^i | z_t^j) / Σ_l w_t^l p(z_{t+1}^i | z_t^l)``:
O(T K²), and every step's smoothed marginal rests on all K of its particles.

Smoothing by ancestry tracing (``smoother="ancestry"``): the final particles
``z_{T-1}^k`` are followed back through their ancestors
(``k_{t-1} = ancestors[t, k_t]``), giving K whole trajectories which,
weighted by the final normalised weights, are samples from the SMC
approximation of ``p(z_{0:T-1} | y_{0:T-1})``. This is cheap (O(T K)) but
the early steps of the trajectories share few distinct ancestors (path
degeneracy), so the smoothed marginals far from the end rest on few
particles.
"""
from __future__ import annotations

from typing import NamedTuple, Optional

import numpy as np

from ..model import equations
from . import elbo as smc
from .simulate import draw_counts, run_latents
from .smoothing import SMOOTHERS, backward_weights, weighted_moments
from ..model.noise_basis import from_noise_coords
from .._checks import check_bool, check_choice, check_inputs, check_observations, check_positive_int

__all__ = ["Posterior", "Prediction", "posterior", "score", "predict", "trace_ancestry", "weighted_quantiles",
           "filtering_initial_state"]


class Posterior(NamedTuple):
    """Output of :func:`posterior` (``n`` trials, ``T`` steps, ``K`` particles).

    Attributes
    ----------
    filter_mean : ndarray, shape (n, T, R)
        ``E[z_t | y_{0:t}]``: weighted mean of the particles of step t.
    particles : ndarray, shape (n, T, K, R)
        Particles of each step (before resampling).
    log_weights : ndarray, shape (n, T, K)
        Their normalised log-weights.
    ancestors : ndarray of int64, shape (n, T, K)
        ``ancestors[:, t, k]``: index into step t−1's particles of particle k's parent.
    smoothed : ndarray or None, shape (n, T, K, R)
        The smoothed clouds: ``smoothed[:, t]`` weighted by
        ``smooth_weights[:, t]`` approximates ``p(z_t | y_{0:T-1})``. With
        ``smoother="backward"`` these are the filtering ``particles``
        themselves (reweighted; the same array), with ``"ancestry"`` the
        ancestry-traced trajectories. None with ``smooth=False``.
    smooth_weights : ndarray or None, shape (n, T, K)
        Normalised smoothing weights of ``smoothed[:, t]``: the backward
        weights ``w_t^{k|T}``, or (ancestry) the final filtering weights of
        the trajectories, the same at every step.
    smooth_mean : ndarray or None, shape (n, T, R)
        ``≈ E[z_t | y_{0:T-1}]``.
    obs_mean : ndarray, shape (n, T, D)
        Posterior mean of the observation mean: ``E[η_t]`` (Gaussian) or of
        the expected counts per bin ``E[g(η_t) Δ]`` (Poisson), under the
        smoothed marginals (the filtering ones with ``smooth=False``).
    elbo : ndarray, shape (n,)
        ELBO per trial (sum over time).
    elbo_per_step : ndarray, shape (n,)
    filter_cov : ndarray, shape (n, T, R, R)
        ``Cov[z_t | y_{0:t}]``: weighted covariance of the particles of step t.
    smooth_cov : ndarray or None, shape (n, T, R, R)
        ``≈ Cov[z_t | y_{0:T-1}]``: weighted covariance of the smoothed clouds.
    smoother : str or None
        ``"backward"`` or ``"ancestry"`` (None with ``smooth=False``).

    For padded variable-length trials (``lengths``), entries past a trial's
    end are NaN.
    """

    filter_mean: np.ndarray
    particles: np.ndarray
    log_weights: np.ndarray
    ancestors: np.ndarray
    smoothed: Optional[np.ndarray]
    smooth_weights: Optional[np.ndarray]
    smooth_mean: Optional[np.ndarray]
    obs_mean: np.ndarray
    elbo: np.ndarray
    elbo_per_step: np.ndarray
    filter_cov: Optional[np.ndarray] = None
    smooth_cov: Optional[np.ndarray] = None
    smoother: Optional[str] = None


class Prediction(NamedTuple):
    """Output of :func:`predict` (``n`` trials, ``H = n_ahead`` steps, ``K`` particles).

    Attributes
    ----------
    mean : ndarray, shape (n, H, D)
        Forecast observation mean (Gaussian) or expected counts (Poisson),
        averaged over the particles with the final filtering weights.
    z_mean : ndarray, shape (n, H, R)
        Forecast latent mean.
    weights : ndarray, shape (n, K)
        Normalised final filtering weights the forecasts are averaged with.
    z_samples : ndarray or None, shape (n, H, K, R)
        Latent forecast of every particle (``return_samples=True``).
    y_samples : ndarray or None, shape (n, H, K, D)
        An observation drawn for every particle (``return_samples=True``).
    """

    mean: np.ndarray
    z_mean: np.ndarray
    weights: np.ndarray
    z_samples: Optional[np.ndarray]
    y_samples: Optional[np.ndarray]


def _check_y(model, y, inputs, extra_steps=0):
    """(y (n, T, D), u (n, T + extra_steps, U)) for 2-D or 3-D y."""
    o = model.options
    y = check_observations(y, o)
    n, T, _ = y.shape
    u = check_inputs(inputs, o, n, T + extra_steps)
    return y, u


def _check_y_lengths(model, y, inputs, lengths, mask=None):
    """Like :func:`_check_y`, also accepting a list of trials of different lengths (padded, with lengths),
    and a missing-data ``mask`` (missing entries come back as NaN)."""
    if isinstance(y, (list, tuple)) or mask is not None:
        from ..data.layout import prepare_data
        if lengths is not None and isinstance(y, (list, tuple)):
            raise ValueError("lengths= is for padded arrays; a list of trials carries its own lengths")
        d = prepare_data(y, inputs, model.options, mask=mask)
        if lengths is None:
            lengths = None if np.all(d.lengths == d.y.shape[1]) else d.lengths
        return d.y, d.u, lengths
    y, u = _check_y(model, y, inputs)
    return y, u, lengths


def _observed(y):
    """The mask of a checked ``y`` whose missing values are NaN (None when none is missing)."""
    missing = np.isnan(y)
    return ~missing if missing.any() else None


def _run_filter(model, y, u, n_particles, proposal, resample, seed, lengths=None):
    o = model.options
    mask = _observed(y)
    return smc.elbo(model.params, y, u[:, :y.shape[1]] if o.n_inputs else None, options=o,
                    n_particles=n_particles, proposal=smc.default_proposal(o, proposal, mask is not None),
                    resample=resample, seed=seed, grad=False, return_particles=True, lengths=lengths,
                    noise_basis=getattr(model, "noise_basis", None), mask=mask)


def _normalised(logw):
    """exp of normalised log-weights, renormalised against rounding (..., K)."""
    w = np.exp(logw - np.max(logw, axis=-1, keepdims=True))
    return w / w.sum(axis=-1, keepdims=True)


def trace_ancestry(particles, ancestors, last=None):
    """Whole trajectories of the final particles, following their ancestors back.

    Parameters
    ----------
    particles : ndarray, shape (n, T, K, R)
    ancestors : ndarray of int, shape (n, T, K)
        ``ancestors[:, t]`` indexes step t−1's particles (identity at t = 0).
    last : ndarray of int, shape (n,), optional
        Index of each sequence's last valid step (default ``T − 1``); steps
        after it are NaN in the output.

    Returns
    -------
    traj : ndarray, shape (n, T, K, R)
        ``traj[:, t, k]`` is the step-t ancestor of final particle k.
    """
    n, T, K, R = particles.shape
    last = np.full(n, T - 1, dtype=np.int64) if last is None else np.asarray(last, dtype=np.int64)
    traj = np.full(particles.shape, np.nan)
    rows = np.arange(n)
    idx = np.tile(np.arange(K), (n, 1))               # (n, K) current lineage index per final particle
    for t in range(T - 1, -1, -1):
        live = t <= last                              # sequences whose trajectory covers step t
        traj[live, t] = particles[rows[live, None], t, idx[live]]
        # Step back only where step t is strictly inside the sequence (its ancestors are defined).
        step = live & (t > 0)
        if np.any(step):
            idx[step] = ancestors[rows[step, None], t, idx[step]]
    return traj


def _obs_mean(model, z, v):
    """Observation mean per particle: η (Gaussian) or g(η) Δ (Poisson); z (..., R), v (..., U)."""
    o, p = model.options, model.params
    eta = equations.readout_mean(p, o, z, v)
    if o.likelihood == "gaussian":
        return from_noise_coords(getattr(model, "noise_basis", None), eta)
    return equations.poisson_rate(eta, o.link, o.bin_width)


# Elements of the per-particle observation means (n, T, K, D) formed at once by _weighted_obs_mean.
OBS_BLOCK = 1 << 21


def _weighted_obs_mean(model, z, v, w):
    """``Σ_k w[..., k] obs(z[..., k, :])`` (n, T, D) for particles ``z`` (n, T, K, R), weights ``w``
    (n, T, K) and fed inputs ``v`` (n, T, U), a block of trials at a time: all at once, the
    per-particle means of a large posterior (200 trials of 75 steps, 100 particles, 40 channels:
    480 MB) and their temporaries took most of ``lowrank posterior``'s time and memory."""
    n, T, K, _ = z.shape
    out = np.empty((n, T, model.options.n_obs))
    step = max(1, OBS_BLOCK // max(1, T * K * model.options.n_obs))
    for i in range(0, n, step):
        obs = _obs_mean(model, z[i:i + step], v[i:i + step, :, None, :])       # (b, T, K, D)
        out[i:i + step] = np.einsum("ntk,ntkd->ntd", w[i:i + step], obs)
    return out


def weighted_quantiles(values, log_weights, q):
    """Quantiles of weighted particle clouds, per coordinate.

    Parameters
    ----------
    values : ndarray, shape (..., K, R)
        E.g. ``Posterior.particles`` (filtering) or ``Posterior.smoothed``.
    log_weights : ndarray, shape (..., K)
        Normalised log-weights (``Posterior.log_weights``, or the log of
        ``Posterior.smooth_weights``).
    q : float or sequence of float in [0, 1]

    Returns
    -------
    ndarray, shape (len(q), ..., R) (no leading axis for a scalar ``q``)
        The smallest particle value whose cumulative weight reaches ``q``
        (the inverse weighted CDF, no interpolation).
    """
    qs = np.atleast_1d(np.asarray(q, dtype=np.float64))
    if np.any((qs < 0) | (qs > 1)):
        raise ValueError(f"q must lie in [0, 1]; got {q!r}")
    x = np.moveaxis(np.asarray(values, dtype=np.float64), -2, -1)          # (..., R, K)
    w = np.broadcast_to(_normalised(np.asarray(log_weights))[..., None, :], x.shape)
    order = np.argsort(x, axis=-1)
    xs = np.take_along_axis(x, order, axis=-1)
    cw = np.cumsum(np.take_along_axis(w, order, axis=-1), axis=-1)
    out = np.empty((len(qs),) + x.shape[:-1])
    for i, qi in enumerate(qs):
        k = np.minimum((cw < qi - 1e-12).sum(axis=-1), x.shape[-1] - 1)
        out[i] = np.take_along_axis(xs, k[..., None], axis=-1)[..., 0]
    return out if np.ndim(q) else out[0]


def posterior(model, y, inputs=None, *, n_particles=100, smooth=True, smoother="backward", proposal=None,
              resample="systematic", seed=None, lengths=None, mask=None) -> Posterior:
    """Filtering and smoothing posteriors of the latents: means, covariances, weighted particles.

    Parameters
    ----------
    model : LowRankRNN
    y : ndarray, shape (n_trials, T, D) or (T, D), or list of (T_i, D) arrays
        A list of trials of different lengths is zero-padded (with ``lengths``).
    inputs : ndarray, shape (n_trials, T, U) or (T, U), or list, optional
    n_particles : int, default 100
    smooth : bool, default True
        Also smooth (``smoothed``, ``smooth_weights``, ``smooth_mean``, ``smooth_cov``).
    smoother : {"backward", "ancestry"}, default "backward"
        ``"backward"``: marginal backward reweighting of every step's
        filtering particles by the transition density (O(T K²); accurate
        over the whole sequence). ``"ancestry"``: the traced ancestries of
        the final particles (O(T K); degenerate far from the end). See the
        module docstring.
    proposal : {"optimal", "bootstrap", "encoder"}, optional
        Default: the model's (``options.default_proposal``): ``"encoder"`` for
        a model with an encoder, else ``"optimal"`` for linear-Gaussian
        read-outs, else ``"bootstrap"``.
    resample : str, default "systematic"
    seed : int, Generator or None
        None: the model's ``seed``.
    lengths : ndarray of int, shape (n_trials,), optional
        True lengths of zero-padded trials.
    mask : bool array broadcastable to ``y`` (or to each trial), or list of per-trial masks, optional
        True where ``y`` is observed; the other entries are missing and
        left out of the likelihood (``obs_mean`` predicts them). The
        default proposal is then ``"bootstrap"`` where it would be
        ``"optimal"``.

    Returns
    -------
    Posterior
    """
    o = model.options
    n_particles = check_positive_int("n_particles", n_particles)
    smooth = check_bool("smooth", smooth)
    smoother = check_choice("smoother", smoother, SMOOTHERS)
    y, u, lengths = _check_y_lengths(model, y, inputs, lengths, mask)
    v = equations.fed_inputs(u, model.params.a, o.filter_inputs)
    seed = getattr(model, "seed", None) if seed is None else seed
    res = _run_filter(model, y, u, n_particles, proposal, resample, seed, lengths)
    n, T, K, R = res.particles.shape
    W = _normalised(np.nan_to_num(res.log_weights, nan=0.0))            # padded tail: uniform, masked below
    Z = np.nan_to_num(res.particles)
    filter_mean, filter_cov = weighted_moments(Z, W)
    last = np.full(n, T - 1, dtype=np.int64) if lengths is None else np.asarray(lengths, dtype=np.int64) - 1
    pad = np.arange(T)[None, :] > last[:, None]
    smoothed = sw = smean = scov = None
    zz, ww = Z, W
    if smooth:
        if smoother == "backward":
            smoothed = res.particles
            sw = _normalised(np.nan_to_num(backward_weights(model.params, o, res.particles, res.log_weights,
                                                            v, last), nan=0.0))
            zz = Z
        else:
            smoothed = trace_ancestry(res.particles, res.ancestors, last)
            sw = np.repeat(W[np.arange(n), last][:, None, :], T, axis=1)   # (n, T, K)
            zz = np.nan_to_num(smoothed)
        smean, scov = weighted_moments(zz, sw)
        ww = sw
        for arr in (smean, scov, sw):
            arr[pad] = np.nan
    for arr in (filter_mean, filter_cov):
        arr[pad] = np.nan
    obs_mean = _weighted_obs_mean(model, zz, v, ww)
    obs_mean[pad] = np.nan
    return Posterior(filter_mean=filter_mean, particles=res.particles, log_weights=res.log_weights,
                     ancestors=res.ancestors, smoothed=smoothed, smooth_weights=sw, smooth_mean=smean,
                     obs_mean=obs_mean, elbo=res.elbo, elbo_per_step=res.elbo_per_step, filter_cov=filter_cov,
                     smooth_cov=scov, smoother=smoother if smooth else None)


def score(model, y, inputs=None, *, n_particles=10, proposal=None, resample="systematic", seed=None,
          lengths=None, mask=None):
    """Held-out ELBO per time step, averaged over trials (higher is better).

    ``n_particles`` defaults to 10, the training default, so that the score
    is on the scale of the training curve; more particles give a tighter
    (higher) bound. ``seed`` None uses the model's seed, so repeated calls
    on the same data agree. ``y`` and ``inputs`` may be arrays
    ``(n_trials, T, ·)`` / ``(T, ·)`` or lists of trials of different lengths;
    ``mask`` (True where observed) leaves missing entries out, as in :func:`posterior`.

    Returns
    -------
    float
    """
    o = model.options
    n_particles = check_positive_int("n_particles", n_particles)
    y, u, lengths = _check_y_lengths(model, y, inputs, lengths, mask)
    seed = getattr(model, "seed", None) if seed is None else seed
    obs = _observed(y)
    res = smc.elbo(model.params, y, u if o.n_inputs else None, options=o, n_particles=n_particles,
                   proposal=smc.default_proposal(o, proposal, obs is not None), resample=resample, seed=seed,
                   grad=False, lengths=lengths, noise_basis=getattr(model, "noise_basis", None), mask=obs)
    return float(res.value)


def _final_cloud(model, y, u, n_particles, proposal, resample, rng):
    """Particles (n, K, R) and normalised weights (n, K) of the filter at the last step of y."""
    res = _run_filter(model, y, u, n_particles, proposal, resample, rng)
    return res.particles[:, -1], _normalised(res.log_weights[:, -1])


def predict(model, y, n_ahead, inputs=None, *, n_particles=100, proposal=None, resample="systematic",
            seed=None, return_samples=False) -> Prediction:
    """Forecast ``n_ahead`` steps after the end of ``y``.

    The filter runs over ``y``; each particle of the final cloud is then
    propagated through the stochastic transition (no data) for ``n_ahead``
    steps, and forecasts are averaged with the final filtering weights.
    Step ``h`` of the output (``h = 0 … n_ahead−1``) is time ``T + h``.

    Parameters
    ----------
    model : LowRankRNN
    y : ndarray, shape (n_trials, T, D) or (T, D)
    n_ahead : int
    inputs : ndarray, shape (n_trials, T + n_ahead, U), optional
        Inputs over the observed and the forecast steps (required iff the model has inputs).
    n_particles : int, default 100
    proposal, resample : as in :func:`posterior`
    seed : int, Generator or None
        None: the model's ``seed``. Draw order: the filter's draws, the
        transition noise ``(n, n_ahead, K, R)``, then (with ``return_samples``)
        the observation noise.
    return_samples : bool, default False

    Returns
    -------
    Prediction
    """
    o, p = model.options, model.params
    n_particles = check_positive_int("n_particles", n_particles)
    H = check_positive_int("n_ahead", n_ahead)
    y, u = _check_y(model, y, inputs, extra_steps=H)
    n, T, _ = y.shape
    rng = np.random.default_rng(getattr(model, "seed", None) if seed is None else seed)
    v = equations.fed_inputs(u, p.a, o.filter_inputs)
    zT, w = _final_cloud(model, y, u, n_particles, proposal, resample, rng)
    K, R = n_particles, o.rank
    eps = rng.standard_normal((n, H, K, R))
    # run_latents runs B independent chains from their start states: one per (trial, particle).
    start = zT.reshape(n * K, R)
    e = np.zeros((n * K, H + 1, R))
    e[:, :H] = eps.transpose(0, 2, 1, 3).reshape(n * K, H, R)
    vv = np.repeat(v[:, T - 1:T + H], K, axis=0)                          # v_{T-1} drives T-1 → T
    z = run_latents(p, o, start, e, vv)
    zf = z[:, 1:].reshape(n, K, H, R).transpose(0, 2, 1, 3)              # (n, H, K, R)
    mean_k = _obs_mean(model, zf, v[:, T:T + H, None, :])                 # (n, H, K, D)
    mean = np.einsum("nk,nhkd->nhd", w, mean_k)
    z_mean = np.einsum("nk,nhkr->nhr", w, zf)
    y_samples = None
    if return_samples:
        if o.likelihood == "gaussian":
            y_samples = mean_k + from_noise_coords(getattr(model, "noise_basis", None),
                                                   p.sigma * rng.standard_normal(mean_k.shape))
        else:
            y_samples = draw_counts(rng, mean_k)
    return Prediction(mean=mean, z_mean=z_mean, weights=w, z_samples=zf if return_samples else None,
                      y_samples=y_samples)


def filtering_initial_state(model, y, n_trials, rng, inputs=None, n_particles=100, noise_scale=1.0):
    """Initial states for generation that continue ``y``: ``z0="posterior"`` of ``sample``.

    The filter runs over ``y``; each generated trial starts from one particle
    of the final filtering cloud drawn with probability equal to its weight
    (a draw from ``p(z_{T-1} | y)``), or from the filtering mean when
    ``noise_scale == 0``. With one trial in ``y`` all generated trials start
    from its cloud; otherwise ``y`` needs ``n_trials`` trials.

    Returns
    -------
    z0 : ndarray, shape (n_trials, R)
    """
    if y is None:
        raise ValueError("z0='posterior' needs the observations y to filter")
    y, u = _check_y(model, y, inputs)
    n = y.shape[0]
    if n not in (1, n_trials):
        raise ValueError(f"z0='posterior' needs y with 1 or n_trials={n_trials} trials; got {n}")
    zT, w = _final_cloud(model, y, u, n_particles, None, "systematic", rng)
    if n == 1:
        zT, w = np.repeat(zT, n_trials, axis=0), np.repeat(w, n_trials, axis=0)
    if noise_scale == 0:
        return np.einsum("nk,nkr->nr", w, zT)
    u01 = rng.random(n_trials)
    k = np.minimum((np.cumsum(w, axis=1) <= u01[:, None]).sum(axis=1), w.shape[1] - 1)
    return zT[np.arange(n_trials), k].copy()
