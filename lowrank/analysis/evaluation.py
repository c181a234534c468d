"""How well a fitted model's generated data match a recording (docs/design.md §6).

The protocol of Pals et al. (2024) for EEG, after the Durstewitz lab: infer
the latent state from the start of the recording, let the model run freely
for a burn-in plus as long as the recording, drop the burn-in, optionally
smooth the generated series with a Hann window, z-score both, and compare
them by the state-space divergence ``D_stsp`` and the power-spectrum
distance ``D_H``.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import metrics
from .._checks import as_float_array
from .._summary import summary


class Evaluation(NamedTuple):
    """Result of :func:`evaluate`.

    Attributes
    ----------
    dstsp : float
        State-space divergence (Gaussian-mixture estimate), generated vs real.
    dh : float
        Power-spectrum (Hellinger) distance, mean over channels.
    generated : ndarray, shape (T, D)
        The generated series after burn-in removal and pre-processing.
    reference : ndarray, shape (T, D)
        The recording after pre-processing.
    """

    dstsp: float
    dh: float
    generated: np.ndarray
    reference: np.ndarray

    def __repr__(self):
        return summary(self)


def evaluate(model, y, inputs=None, *, burn_in=0.25, smooth_hann=None, zscore=True, context=50,
             obs_noise=True, seed=0, dstsp_kwargs=None, dh_kwargs=None):
    """Generate a series as long as ``y`` and compare it with ``y``.

    Parameters
    ----------
    model : LowRankRNN
    y : ndarray, shape (T, D)
        One continuous recording (already pre-processed as the model saw it).
    inputs : ndarray, shape (T + burn, U) or (T, U), optional
        Inputs driving the generation (a (T, U) array is extended by
        repeating its first row over the burn-in).
    burn_in : float or int, default 0.25
        Steps run and discarded before the compared series; a float is a
        fraction of ``T``.
    smooth_hann : int or None
        Width of a Hann window applied to the generated series along time
        (15 in the EEG protocol, where the recording was smoothed that way
        before fitting). None: no smoothing.
    zscore : bool, default True
        z-score both series per channel before comparing.
    context : int, default 50
        Steps at the start of ``y`` used to infer the initial state (a draw
        from the particle filter's distribution at the last context step;
        see ``LowRankRNN.sample(z0="posterior")``); 0 starts from the model's
        initial-state distribution instead.
    obs_noise : bool, default True
        Generate observations with their noise (True) or the noise-free mean.
    seed : int
        Seed of the posterior, the generation and the ``D_stsp`` draws.

    Returns
    -------
    Evaluation

    Examples
    --------
    >>> teacher = lowrank.teachers.get("oscillator").model
    >>> recording = teacher.sample(n_trials=1, n_steps=1000, seed=1).y[0]     # (1000, 20)
    >>> ev = lowrank.evaluate(teacher, recording, seed=0)
    >>> ev.generated.shape, bool(ev.dstsp >= 0), bool(0 <= ev.dh <= 1)
    ((1000, 20), True, True)
    """
    y = as_float_array("y", y, (2,), model.options.n_obs, "n_obs")
    T = y.shape[0]
    burn = int(round(burn_in * T)) if isinstance(burn_in, float) else int(burn_in)
    if burn < 0:
        raise ValueError(f"burn_in must be >= 0; got {burn_in!r}")
    if not 0 <= context <= T:
        raise ValueError(f"context must be between 0 and the recording's length {T}; got {context}")
    u = None
    if model.options.n_inputs:
        u = as_float_array("inputs", inputs, (2,), model.options.n_inputs, "n_inputs")
        if u.shape[0] == T:
            u = np.concatenate([np.repeat(u[:1], burn, axis=0), u])
        if u.shape[0] != T + burn:
            raise ValueError(f"inputs must have {T} or {T + burn} steps; got {u.shape[0]}")
        u = u[None]
    rng = np.random.default_rng(seed)
    if context > 0:
        # Continue from a draw of the filtering distribution at the end of the context.
        gen = model.sample(1, T + burn, inputs=u, z0="posterior", y=y[None, :context],
                           y_inputs=None if u is None else u[:, burn:burn + context],
                           seed=rng, obs_noise=obs_noise).y[0]
    else:
        gen = model.sample(1, T + burn, inputs=u, seed=rng, obs_noise=obs_noise).y[0]
    gen = np.asarray(gen[burn:], dtype=np.float64)
    ref = y
    if smooth_hann:
        gen = metrics.hann_smooth(gen, window=smooth_hann)
    if zscore:
        gen, ref = metrics.zscore(gen), metrics.zscore(ref)
    d_stsp = metrics.dstsp(ref, gen, seed=seed, **(dstsp_kwargs or {}))
    d_h = metrics.power_spectrum_distance(ref, gen, **(dh_kwargs or {}))
    return Evaluation(dstsp=float(d_stsp), dh=float(d_h), generated=gen, reference=ref)
