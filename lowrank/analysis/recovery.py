"""Teacher–student comparisons: what a fit recovered of a known network.

Latent coordinates are not identifiable (any invertible map of ``z`` with the
matching change of ``m``, ``n``, read-out and noise gives the same data), so
everything compared here is invariant to them: the dominant frequency of the
generated observations, the latent noise as it appears in the observed
units' currents, and the held-out ELBO.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Recovery(NamedTuple):
    """Result of :func:`compare_to_teacher` (``*_true``: the teacher's, ``*_fit``: the student's).

    Attributes
    ----------
    frequency_true, frequency_fit : float
        Dominant frequency (cycles/step) of long generated observation series
        (power spectrum with each trial's mean removed, averaged over trials
        and channels).
    noise_true, noise_fit : float or NaN
        RMS over observed units of the latent noise's standard deviation in
        the observed units' currents, ``sqrt(mean_i gain_i² ‖m_i L_z‖²)``
        (read-out ``units`` from currents only; NaN otherwise).
    elbo_true, elbo_fit : float
        Held-out ELBO per step (mean over trials), same particles and seed.
    n_obs : int
        Observed dimensions (to express the ELBO gap per dimension).
    """

    frequency_true: float
    frequency_fit: float
    noise_true: float
    noise_fit: float
    elbo_true: float
    elbo_fit: float
    n_obs: int

    @property
    def frequency_error(self):
        """Relative error of the dominant frequency."""
        return abs(self.frequency_fit - self.frequency_true) / self.frequency_true

    @property
    def noise_error(self):
        return abs(self.noise_fit - self.noise_true) / self.noise_true

    @property
    def elbo_gap_per_dim(self):
        """(teacher − student) held-out ELBO per step and observed dimension, in nats."""
        return (self.elbo_true - self.elbo_fit) / self.n_obs

    def summary(self):
        lines = [
            "recovery against the teacher:",
            f"  dominant frequency   teacher {self.frequency_true:.4f}  fitted {self.frequency_fit:.4f} cycles/step"
            f"  (error {100 * self.frequency_error:.1f} %)",
        ]
        if np.isfinite(self.noise_true):
            lines.append(f"  latent noise (in unit currents)  teacher {self.noise_true:.4f}  fitted {self.noise_fit:.4f}"
                         f"  (error {100 * self.noise_error:.1f} %)")
        lines.append(f"  held-out ELBO/step   teacher {self.elbo_true:.3f}  fitted {self.elbo_fit:.3f}"
                     f"  (gap {self.elbo_gap_per_dim:+.4f} nats per observed dimension)")
        return "\n".join(lines)


def dominant_frequency(x):
    """Peak frequency (cycles/step, excluding 0) of ``x`` (n_trials, T, D), trial means removed."""
    x = np.asarray(x, dtype=np.float64)
    x = x - x.mean(axis=1, keepdims=True)
    power = (np.abs(np.fft.rfft(x, axis=1)) ** 2).mean(axis=(0, 2))
    freqs = np.fft.rfftfreq(x.shape[1])
    return float(freqs[1:][np.argmax(power[1:])])


def current_noise_std(model):
    """Latent noise in the observed units' currents (see :class:`Recovery`); NaN if not applicable."""
    o, p = model.options, model.params
    if o.readout != "units" or o.units_readout_from != "currents":
        return float("nan")
    D = o.n_obs
    g = p.gain[:, None] * (p.m[:D] @ p.L_z)
    return float(np.sqrt(np.mean(np.sum(g ** 2, axis=1))))


def compare_to_teacher(student, teacher, y_heldout, *, n_particles=10, n_trials=40, n_steps=2048, seed=0):
    """Compare a fitted ``student`` with the ``teacher`` that generated the data.

    Parameters
    ----------
    student : LowRankRNN
    teacher : lowrank.teachers.Teacher or LowRankRNN
    y_heldout : ndarray, shape (n_trials, T, D)
        Trials neither model was fitted on.
    n_particles : int
        Particles for both held-out ELBOs (use the training K).
    n_trials, n_steps : int
        Size of the generated series whose spectra are compared.
    seed : int

    Returns
    -------
    Recovery
    """
    tmodel = getattr(teacher, "model", teacher)
    gen = dict(n_trials=n_trials, n_steps=n_steps, seed=seed, obs_noise=False)
    return Recovery(
        frequency_true=dominant_frequency(tmodel.sample(**gen).y),
        frequency_fit=dominant_frequency(student.sample(**gen).y),
        noise_true=current_noise_std(tmodel), noise_fit=current_noise_std(student),
        elbo_true=float(tmodel.score(y_heldout, n_particles=n_particles, seed=seed)),
        elbo_fit=float(student.score(y_heldout, n_particles=n_particles, seed=seed)),
        n_obs=tmodel.options.n_obs)
