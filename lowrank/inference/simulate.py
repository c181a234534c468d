"""Latent trajectories of a model run forward from given start states and noise, and
the Poisson counts drawn from them."""
from __future__ import annotations

import numpy as np

from ..model.codes import ACTIVATION_CODE
from .device import device_kernels

# numpy's Generator.poisson refuses expected counts above ~9.223e18 (its counts are int64).
POISSON_MAX_MEAN = 9.2e18


class RunawayDynamicsError(FloatingPointError):
    """Expected Poisson counts too large to draw (or not finite): the simulated dynamics ran away."""


def run_latents(params, options, start, eps, v, noise_scale=1.0, device="cpu"):
    """Latents ``z`` (B, T, R) of B independent chains.

    Parameters
    ----------
    params : Params
    options : ModelOptions
    start : (B, R) initial states ``z_0``.
    eps : (B, T, R) standard normals; row ``t`` drives step t → t+1 (the last is unused).
    v : (B, T, U) fed inputs.
    noise_scale : float
        Multiplies the latent noise (0: the noise-free dynamics).
    device : {"cpu", "cuda"}
    """
    p = params
    simulate = device_kernels(device).simulate
    return simulate(np.ascontiguousarray(start), np.ascontiguousarray(eps), np.ascontiguousarray(v),
                    np.ascontiguousarray(p.m.T), np.ascontiguousarray(p.n.T), p.h, p.a, p.W_u, p.L_z,
                    float(noise_scale), ACTIVATION_CODE[options.activation])


def draw_counts(rng, mean, z=None):
    """Poisson counts of the expected counts ``mean``, refusing a run whose dynamics ran away.

    Parameters
    ----------
    rng : numpy.random.Generator
    mean : ndarray, shape (n_trials, T, ..., D)
        Expected counts per bin ``g(η) Δ`` (trials first, steps second).
    z : ndarray, shape (n_trials, T, R), optional
        The latents that gave ``mean``, quoted in the error.

    Returns
    -------
    ndarray of int64, the shape of ``mean``

    Raises
    ------
    RunawayDynamicsError
        (a ``FloatingPointError``) where an expected count is not finite or
        exceeds ``POISSON_MAX_MEAN``, naming the first trial and step where it
        happened and the largest expected count. Clipping would hide it: the
        counts of such a run mean nothing.
    """
    bad = ~(mean <= POISSON_MAX_MEAN)                       # NaN is bad too
    if np.any(bad):
        raise RunawayDynamicsError(_runaway_message(mean, bad, z))
    return rng.poisson(mean).astype(np.int64)


def _runaway_message(mean, bad, z):
    """Where and how far the expected counts ``mean`` (n, T, ..., D) overflowed (``bad`` marks where)."""
    where = np.argwhere(bad)
    first = where[np.argmin(where[:, 1])]                   # the earliest step, then its first trial
    i, t = int(first[0]), int(first[1])
    finite = mean[np.isfinite(mean)]
    largest = f"{finite.max():.3g}" if finite.size else "none finite"
    reach = "" if z is None else f"; the latents reached |z| = {np.nanmax(np.abs(z)):.3g}"
    return (f"cannot draw Poisson counts: the expected counts overflowed at trial {i}, step {t} "
            f"({mean[tuple(first)]:.3g} per bin; largest finite {largest}; numpy draws only below "
            f"{POISSON_MAX_MEAN:.3g}): the model's dynamics ran away{reach}. The parameters are unstable "
            "(e.g. a large recurrent gain m nᵀ or bias, or a diverged fit); obs_noise=False returns the "
            "expected counts without drawing")
