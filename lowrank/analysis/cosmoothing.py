"""Co-smoothing: predict neurons a model does not see from the ones it does.

The Neural Latents Benchmark's test of a latent model (Pei et al. 2021): on
evaluation trials, the posterior over the latents is inferred from the
held-in neurons only, and the held-out neurons' rates are predicted from it
and scored in bits per spike (:func:`lowrank.metrics.bits_per_spike`).

The held-in posterior is that of the same network observed through fewer
channels (:mod:`lowrank.model.subset`), filtered with the bootstrap
proposal and backward-smoothed.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .._checks import check_positive_int
from ..inference.posterior import posterior
from ..metrics import bits_per_spike
from ..model import equations
from ..model.subset import check_channels, restrict_channels


class CoSmoothing(NamedTuple):
    """Result of :func:`co_smoothing`.

    Attributes
    ----------
    rates : ndarray, shape (n_trials, T, n_heldout)
        Predicted expected counts of the held-out neurons per bin: the
        posterior mean of ``g(η)·Δ`` over the smoothed particles.
    bits_per_spike : float
        Their score against the observed held-out counts.
    heldout_units, heldin_units : ndarray of int
    """

    rates: np.ndarray
    bits_per_spike: float
    heldout_units: np.ndarray
    heldin_units: np.ndarray


def heldin_model(model, heldin):
    """The network observed through the channels ``heldin`` only (:mod:`lowrank.model.subset`),
    without its encoder (the held-in posterior uses the bootstrap proposal)."""
    from ..rnn import LowRankRNN
    params, opts = restrict_channels(model.params, model.options, heldin)
    opts = opts.with_encoder(None)
    return LowRankRNN.from_params(params._replace(enc=np.zeros(0)), opts, seed=model.seed)


def co_smoothing(model, y, heldout_units, inputs=None, *, n_particles=256, seed=0):
    """Predict the held-out neurons' rates from the held-in ones, and score them.

    Parameters
    ----------
    model : LowRankRNN
        A model with a Poisson likelihood, fitted with every neuron.
    y : ndarray, shape (n_trials, T, D)
        Evaluation counts (all ``D`` channels; the held-out ones are only scored).
    heldout_units : sequence of int
        Channels to predict, in ``[0, D)``.
    inputs : ndarray, shape (n_trials, T, U), optional
    n_particles : int, default 256
        Particles of the held-in posterior (backward-smoothed).
    seed : int

    Returns
    -------
    CoSmoothing

    Examples
    --------
    >>> teacher = lowrank.teachers.get("oscillator_poisson")
    >>> y = teacher.dataset(n_trials=10).y
    >>> cs = lowrank.co_smoothing(teacher.model, y, heldout_units=[0, 10, 20, 30], n_particles=32)
    >>> cs.bits_per_spike > 0                        # the teacher predicts its own neurons
    True
    """
    o = model.options
    if o.likelihood != "poisson":
        raise ValueError("co_smoothing scores spike counts: the model needs likelihood='poisson'")
    y = np.asarray(y, dtype=np.float64)
    if y.ndim != 3 or y.shape[-1] != o.n_obs:
        raise ValueError(f"y must have shape (n_trials, T, n_obs={o.n_obs}); got {np.shape(y)}")
    n_particles = check_positive_int("n_particles", n_particles)
    out = check_channels(heldout_units, o.n_obs)
    held_in = np.setdiff1d(np.arange(o.n_obs), out)
    sub = heldin_model(model, held_in)
    post = posterior(sub, y[..., held_in], inputs, n_particles=n_particles, seed=seed, proposal="bootstrap")
    v = equations.fed_inputs(np.zeros(y.shape[:2] + (0,)) if inputs is None else np.asarray(inputs, float),
                             model.params.a, o.filter_inputs)
    eta = equations.readout_mean(model.params, o, post.particles, v[:, :, None, :])[..., out]
    lam = equations.poisson_rate(eta, o.link, o.bin_width)
    rates = np.einsum("ntk,ntkd->ntd", post.smooth_weights, lam)
    return CoSmoothing(rates, bits_per_spike(rates, y[..., out]), out, held_in)
