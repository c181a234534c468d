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
    rates_true, rates_fit : ndarray, shape (n_obs,)
        Mean expected observation per channel of the generated series (Poisson: expected counts).
    dynamics_true, dynamics_fit : Dynamics
        The noise-free dynamics' kind (:func:`dynamics_kind`).
    """

    frequency_true: float
    frequency_fit: float
    noise_true: float
    noise_fit: float
    elbo_true: float
    elbo_fit: float
    n_obs: int
    rates_true: np.ndarray = np.zeros(0)
    rates_fit: np.ndarray = np.zeros(0)
    dynamics_true: object = None
    dynamics_fit: object = None

    @property
    def rate_error(self):
        """Median over channels of the relative error of the mean rate (Poisson; NaN for a Gaussian
        likelihood, whose channel means may be 0)."""
        if self.rates_true.size == 0:
            return float("nan")
        return float(np.median(np.abs(self.rates_fit - self.rates_true) / self.rates_true))

    @property
    def dynamics_match(self):
        """Whether the student's dynamics are of the teacher's kind (:attr:`Dynamics.kind`)."""
        return self.dynamics_true is not None and self.dynamics_fit is not None and \
            self.dynamics_true.kind == self.dynamics_fit.kind

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
        if np.isfinite(self.rate_error):
            lines.append(f"  mean rates           median error over channels {100 * self.rate_error:.1f} %")
        lines.append(f"  held-out ELBO/step   teacher {self.elbo_true:.3f}  fitted {self.elbo_fit:.3f}"
                     f"  (gap {self.elbo_gap_per_dim:+.4f} nats per observed dimension)")
        if self.dynamics_true is not None:
            lines.append(f"  dynamics             teacher: {self.dynamics_true.describe()}")
            lines.append(f"                       fitted:  {self.dynamics_fit.describe()}")
        return "\n".join(lines)


class Dynamics(NamedTuple):
    """The kind of a model's noise-free latent dynamics (:func:`dynamics_kind`).

    Attributes
    ----------
    stability : tuple of str
        Each fixed point's stability (``"stable"``, ``"unstable"``, ``"saddle"``), sorted.
    oscillates : bool
        Noise-free runs from the model's own states keep oscillating (an attracting cycle).
    amplitude : float
        Their mean standard deviation over the last steps, per latent dimension (0 when they settle).
    spread : float
        The same of the noisy run they start from: the scale the data live on.
    """

    stability: tuple
    oscillates: bool
    amplitude: float
    spread: float = float("nan")

    @property
    def kind(self):
        """A phrase: e.g. ``"limit cycle around 1 unstable fixed point"``, ``"1 stable fixed point"``."""
        counts = {k: self.stability.count(k) for k in ("stable", "unstable", "saddle") if k in self.stability}
        points = ", ".join(f"{n} {k}" for k, n in counts.items()) or "no"
        points += " fixed point" + ("s" if len(self.stability) != 1 else "")
        return f"limit cycle around {points}" if self.oscillates else points

    def describe(self):
        """:attr:`kind`, with a limit cycle's size against the noisy states' spread: a cycle a tenth of
        that size and a noise-driven spiral explain the same data equally well."""
        if not self.oscillates or not np.isfinite(self.spread) or self.spread <= 0:
            return self.kind
        return f"{self.kind} (noise-free amplitude {100 * self.amplitude / self.spread:.0f} % of the noisy spread)"

    @property
    def limit_cycle_around_unstable(self):
        """The paper's spiking teacher's dynamics: an attracting cycle around an unstable fixed point."""
        return self.oscillates and "unstable" in self.stability


def _rates(model, y_true, y_fit):
    if model.options.likelihood != "poisson":
        return {}
    return dict(rates_true=y_true.mean(axis=(0, 1)), rates_fit=y_fit.mean(axis=(0, 1)))


def dynamics_kind(model, *, n_starts=8, n_steps=3000, seed=0):
    """Fixed points and whether noise-free runs settle or keep oscillating.

    The runs start from states of a noisy run of the model (where its data lives) and go on without
    noise for ``n_steps``; they oscillate when the spread of their last quarter exceeds 1e-3 of the
    spread of the noisy states. Piecewise-linear activations only (the fixed points are enumerated).

    Parameters
    ----------
    model : LowRankRNN (without inputs)
    n_starts, n_steps, seed : int

    Returns
    -------
    Dynamics
    """
    noisy = model.sample(n_trials=n_starts, n_steps=200, seed=seed, obs_noise=False).z
    runs = model.sample(n_trials=n_starts, n_steps=n_steps, noise_scale=0.0, z0=noisy[:, -1], obs_noise=False).z
    tail = runs[:, -(n_steps // 4):]
    amplitude = float(np.mean(tail.std(axis=1)))
    scale = float(np.mean(noisy.std(axis=(0, 1)))) + 1e-12
    stability = tuple(sorted(str(k) for k in model.fixed_points().stability))
    return Dynamics(stability, bool(amplitude > 1e-3 * scale), amplitude, scale)


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
    y_true, y_fit = tmodel.sample(**gen).y, student.sample(**gen).y
    piecewise = tmodel.options.activation != "tanh" and student.options.activation != "tanh"
    return Recovery(
        frequency_true=dominant_frequency(y_true), frequency_fit=dominant_frequency(y_fit),
        noise_true=current_noise_std(tmodel), noise_fit=current_noise_std(student),
        elbo_true=float(tmodel.score(y_heldout, n_particles=n_particles, seed=seed)),
        elbo_fit=float(student.score(y_heldout, n_particles=n_particles, seed=seed)),
        n_obs=tmodel.options.n_obs, **_rates(tmodel, y_true, y_fit),
        dynamics_true=dynamics_kind(tmodel, seed=seed) if piecewise and not tmodel.options.n_inputs else None,
        dynamics_fit=dynamics_kind(student, seed=seed) if piecewise and not student.options.n_inputs else None)
