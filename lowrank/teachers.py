"""Built-in teacher networks: fully specified models with known answers.

Each teacher is a :class:`Teacher`: a :class:`~lowrank.LowRankRNN` whose
parameters are constructed (not trained), a generator of its standard data set,
and the analytic facts that tests and demos check recovery against. All are
deterministic by seed.

============================  ====================================================
name                          what it is
============================  ====================================================
``oscillator``                rank-2 ReLU network, 20 units, damped oscillation
                              kept alive by noise; Gaussian read-out of the 20
                              units' currents; 200 trials × 75 steps
``oscillator_poisson``        the same latent dynamics in 40 units, read out as
                              Poisson counts from the units' rates (about 0.7
                              per bin, strongly modulated by the latent state)
``bistable``                  rank-2 ReLU network with two stable fixed points and
                              a saddle between them; noise-driven switching
``ring``                      rank-2 clipped-ReLU ring attractor (64 units) with a
                              sin/cos angle cue during a stimulus period, 8 angles
============================  ====================================================
"""
from __future__ import annotations

from typing import Callable, NamedTuple, Optional

import numpy as np

from .model.options import ModelOptions
from .model.params import Params, block_shapes
from .rnn import LowRankRNN

__all__ = ["get", "TEACHERS", "Teacher", "Dataset", "oscillator", "oscillator_poisson", "bistable", "ring"]


class Dataset(NamedTuple):
    """A teacher's data set (what :meth:`Teacher.dataset` returns).

    Parameters
    ----------
    y : ndarray, shape (n_trials, T, D)
        Observations (int64 counts for a Poisson teacher).
    z : ndarray, shape (n_trials, T, R)
        The true latents.
    u : ndarray, shape (n_trials, T, U), or None
        Inputs (teachers with inputs only).
    labels : ndarray, shape (n_trials,), or None
        Condition labels (e.g. the ``ring`` teacher's cue index).

    Examples
    --------
    >>> data = lowrank.teachers.get("ring").dataset(n_trials=16)
    >>> data.y.shape, data.z.shape, data.u.shape, data.labels[:9]
    ((16, 60, 16), (16, 60, 2), (16, 60, 2), array([0, 1, 2, 3, 4, 5, 6, 7, 0]))
    """

    y: np.ndarray
    z: np.ndarray
    u: Optional[np.ndarray]
    labels: Optional[np.ndarray]


class Teacher(NamedTuple):
    """A teacher: its model, default data-set size, input maker and analytic facts.

    Made by the constructors (:func:`oscillator`, ... or :func:`get`), not by hand.

    Parameters
    ----------
    name : str
        Its name in :data:`TEACHERS`.
    model : LowRankRNN
        The teacher network, with constructed (not trained) parameters.
    n_trials, n_steps : int
        The standard data set's size.
    facts : dict
        Documented quantities with known values (see each constructor), e.g. ``frequency``.
    make_inputs : callable, optional
        ``make_inputs(n_trials, n_steps, rng) -> (u, labels)`` for teachers with inputs.

    Examples
    --------
    >>> t = lowrank.teachers.get("oscillator")
    >>> t.name, t.n_trials, t.n_steps, round(t.facts["frequency"], 3)
    ('oscillator', 200, 75, 0.08)
    >>> t.dataset(n_trials=5).y.shape
    (5, 75, 20)
    """

    name: str
    model: LowRankRNN
    n_trials: int
    n_steps: int
    facts: dict
    make_inputs: Optional[Callable] = None

    def dataset(self, n_trials=None, n_steps=None, seed=0, noise_scale=1.0):
        """Simulate the teacher's data set.

        Parameters
        ----------
        n_trials, n_steps : int, optional
            Size; default the teacher's standard one.
        seed : int or numpy Generator, default 0
        noise_scale : float, default 1.0
            Multiplies the latent noise.

        Returns
        -------
        Dataset
        """
        n_trials = self.n_trials if n_trials is None else n_trials
        n_steps = self.n_steps if n_steps is None else n_steps
        rng = np.random.default_rng(seed)
        u, labels = (None, None)
        if self.make_inputs is not None:
            u, labels = self.make_inputs(n_trials, n_steps, rng)
        s = self.model.sample(n_trials, n_steps, inputs=u, noise_scale=noise_scale, seed=rng)
        return Dataset(y=s.y, z=s.z, u=u, labels=labels)


def _params(opts, **blocks):
    shapes = block_shapes(opts)
    full = {k: np.zeros(s) for k, s in shapes.items()}
    for k, v in blocks.items():
        full[k] = np.asarray(v, dtype=np.float64).reshape(shapes[k])
    return Params(**full)


def _rotation_loadings(m, rho, theta, a):
    """``n`` with ``nᵀ m = ρ Rot(θ) − a I``, so the all-active Jacobian is ``ρ Rot(θ)``."""
    C = rho * np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]]) - a * np.eye(2)
    return m @ np.linalg.solve(m.T @ m, C.T)


def _oscillator_core(n_units, seed, rho, period, noise_std, a=0.9):
    rng = np.random.default_rng(seed)
    theta = 2 * np.pi / period
    m = rng.standard_normal((n_units, 2))
    n = _rotation_loadings(m, rho, theta, a)
    # Every unit's pre-activation at the fixed point sits 6 stationary standard
    # deviations (plus a jitter) above its threshold, so all units stay active
    # where the latent lives and the linearisation is exact there. Choosing the
    # pre-activations x* first fixes z* = nᵀx*/(1 − a) and then h = m z* − x*.
    stat_std = noise_std / np.sqrt(1 - rho ** 2)
    x_star = 6 * stat_std * np.linalg.norm(m, axis=1) + 0.5 + 0.5 * rng.random(n_units)
    z_star = n.T @ x_star / (1 - a)
    h = m @ z_star - x_star
    J = a * np.eye(2) + n.T @ m
    return m, n, h, theta, J, z_star, stat_std


def oscillator(seed=0):
    """Rank-2 ReLU teacher with a noisy damped oscillation (20 units).

    Construction: ``m ~ 𝒩(0, 1)`` (20×2); leak 0.9; ``n`` solves
    ``nᵀm = ρ Rot(θ) − 0.9 I`` with ``ρ = 0.96`` and ``θ = 2π/12.5``; thresholds
    ``h`` are negative enough that all units stay active over ±6 stationary
    standard deviations, so the dynamics are linear around the fixed point
    ``z*`` with Jacobian ``ρ Rot(θ)``. Transition noise std 0.1 (diagonal),
    initial state drawn from the stationary distribution. Read-out: the 20
    units' currents ``m z`` (gain 1, bias ``−m z*`` so each channel is centred)
    plus Gaussian noise, std 0.2.

    Parameters
    ----------
    seed : int, default 0
        Seed of the loadings ``m`` and the thresholds' jitter (and the model's default seed).

    Returns
    -------
    Teacher
        Its ``facts``:

        ``frequency`` : θ/2π = 0.08 cycles per step (the linearisation's; the
        latent power spectrum peaks there), ``period`` 12.5 steps, ``rho`` 0.96,
        ``jacobian`` (2, 2), ``fixed_point`` (2,), ``noise_std`` 0.1 (latent),
        ``obs_noise_std`` 0.2, ``stationary_std`` (latent, per dimension),
        ``latent_noise_current_std``: RMS over units of the latent noise seen in
        the units' currents, ``sqrt(mean_i ‖m_i‖²)·0.1`` — invariant to the
        latent coordinates a student chooses, so recovery can be checked on it.

    Examples
    --------
    >>> t = lowrank.teachers.oscillator(seed=0)
    >>> t.model.options.n_units, round(t.facts["frequency"], 4), t.facts["jacobian"].shape
    (20, 0.08, (2, 2))
    """
    return _oscillator_teacher("oscillator", seed, n_units=20, poisson=False)


def oscillator_poisson(seed=0):
    """The oscillator's latent dynamics in 40 units, read out as Poisson counts.

    Same construction as :func:`oscillator` with 40 units; observations are
    counts ``Poisson(softplus(3 (rate_i − rate_i*) − 0.5))`` per unit and bin
    (``Δ = 1``) where ``rate_i = relu(m_i z − h_i)`` and ``rate_i*`` is its
    value at the fixed point (read-out ``units`` from ``rates``, gain 3, bias
    ``−3 rate_i* − 0.5``). The gain makes the latent state swing each unit's
    log-rate by about ±1.5, so that counts of about 0.7 per bin carry it
    (a unit with gain 1 around a high rate would be nearly constant).
    200 trials × 75 steps.

    Parameters
    ----------
    seed : int, default 0
        Seed of the loadings ``m`` and the thresholds' jitter (and the model's default seed);
        the same seed gives the oscillator's latent dynamics in 40 units.

    Returns
    -------
    Teacher
        Its ``facts`` are the oscillator's (without ``obs_noise_std``), plus
        ``mean_counts`` (40,): per-unit stationary mean count per bin.

    Examples
    --------
    >>> t = lowrank.teachers.oscillator_poisson(seed=0)
    >>> t.model.options.likelihood, t.facts["mean_counts"].shape
    ('poisson', (40,))
    """
    return _oscillator_teacher("oscillator_poisson", seed, n_units=40, poisson=True)


POISSON_GAIN, POISSON_OFFSET = 3.0, -0.5


def _stationary_mean_counts(swing):
    """``E softplus(POISSON_OFFSET + swing_i ξ)``, ξ ~ N(0, 1): the mean count of units whose log-rate
    argument is Gaussian (the units stay active, so it is linear in the latent state) with std ``swing``."""
    x, w = np.polynomial.hermite_e.hermegauss(60)
    return np.logaddexp(0.0, POISSON_OFFSET + swing[:, None] * x[None, :]) @ w / np.sqrt(2 * np.pi)


def _oscillator_teacher(name, seed, n_units, poisson):
    rho, period, noise_std, obs_std, a = 0.96, 12.5, 0.1, 0.2, 0.9
    m, n, h, theta, J, z_star, stat_std = _oscillator_core(n_units, seed, rho, period, noise_std, a)
    if poisson:
        opts = ModelOptions(n_units=n_units, rank=2, n_obs=n_units, activation="relu", readout="units",
                            units_readout_from="rates", likelihood="poisson", link="softplus")
        x_star = m @ z_star - h
        extra = dict(gain=np.full(n_units, POISSON_GAIN), b=-POISSON_GAIN * x_star + POISSON_OFFSET)
    else:
        opts = ModelOptions(n_units=n_units, rank=2, n_obs=n_units, activation="relu", readout="units",
                            units_readout_from="currents", likelihood="gaussian")
        # The bias centres each observed current on its fixed-point value.
        extra = dict(gain=np.ones(n_units), b=-(m @ z_star), sigma=np.full(n_units, obs_std))
    params = _params(opts, m=m, n=n, h=h, a=np.full(2, a), L_z=noise_std * np.eye(2), mu0=z_star,
                     L_0=stat_std * np.eye(2), **extra)
    model = LowRankRNN.from_params(params, opts, seed=seed)
    facts = dict(frequency=theta / (2 * np.pi), period=period, rho=rho, jacobian=J, fixed_point=z_star,
                 noise_std=noise_std, stationary_std=stat_std,
                 latent_noise_current_std=float(np.sqrt(np.mean(np.sum(m ** 2, axis=1))) * noise_std))
    if poisson:
        facts["mean_counts"] = _stationary_mean_counts(POISSON_GAIN * np.linalg.norm(m, axis=1) * stat_std)
    else:
        facts["obs_noise_std"] = obs_std
    return Teacher(name=name, model=model, n_trials=200, n_steps=75, facts=facts)


def bistable(seed=0):
    """Rank-2 ReLU teacher with two stable fixed points and a saddle between them.

    Latent 1 carries a piecewise-linear S-shaped self-excitation
    ``F₁(z) = 0.9 z₁ + w (relu(m̃·z + c) − relu(m̃·z − c)) + small tonic unit``
    (``w = 0.3``, ``c = 0.5``; each unit's loading on ``z₂`` is a small random
    ``δ`` so the arrangement is in general position); latent 2 only decays
    (leak 0.8, no recurrent input, so ``z₂* = 0``). Fixed points: ``(±z⁺, 0)``
    stable and ``(0, 0)`` a saddle (eigenvalues ≈ 1.2 and 0.8). Noise std 0.25
    on latent 1 makes trials switch between the wells. Read-out: latent,
    Gaussian, 10 dimensions, noise std 0.1. Default 20 trials × 500 steps.

    Parameters
    ----------
    seed : int, default 0
        Seed of the loadings' small ``z₂`` components ``δ`` and of the read-out ``W``.

    Returns
    -------
    Teacher
        Its ``facts``:

        ``fixed_points`` (3, 2) ordered (−, 0, +); ``stability`` ["stable",
        "saddle", "stable"]; ``slopes`` the Jacobian eigenvalues along z₁.

    Examples
    --------
    >>> t = lowrank.teachers.bistable()
    >>> t.model.fixed_points().stability
    ('stable', 'saddle', 'stable')
    """
    rng = np.random.default_rng(seed)
    a1, a2, w, c, B, eps = 0.9, 0.8, 0.3, 0.5, 10.0, 0.01
    delta = 0.05 * rng.standard_normal(3)
    m = np.array([[1.0, delta[0]], [1.0, delta[1]], [eps, delta[2]]])
    h = np.array([-c, c, -B])
    # The tonic third unit (always active) supplies the −w·c offset of the S-curve.
    nC = -w * c / B
    n = np.array([[w, 0.0], [-w, 0.0], [nC, 0.0]])
    slope_out = a1 + nC * eps
    z_plus = w * c / (1 - slope_out)
    D = 10
    opts = ModelOptions(n_units=3, rank=2, n_obs=D, activation="relu", readout="latent", likelihood="gaussian")
    W = rng.standard_normal((D, 2)) / np.sqrt(2)
    params = _params(opts, m=m, n=n, h=h, a=np.array([a1, a2]), L_z=np.diag([0.25, 0.1]),
                     mu0=np.zeros(2), L_0=np.diag([1.0, 0.3]), W=W, b=np.zeros(D),
                     sigma=np.full(D, 0.1))
    model = LowRankRNN.from_params(params, opts, seed=seed)
    facts = dict(fixed_points=np.array([[-z_plus, 0.0], [0.0, 0.0], [z_plus, 0.0]]),
                 stability=["stable", "saddle", "stable"],
                 slopes=np.array([slope_out, a1 + w + nC * eps, slope_out]))
    return Teacher(name="bistable", model=model, n_trials=20, n_steps=500, facts=facts)


def ring(seed=0):
    """Rank-2 clipped-ReLU ring attractor with an angle cue (64 units).

    Unit ``i`` has preferred angle ``θ_i = 2πi/64`` (+ a small seeded jitter);
    ``m_i = (cos θ_i, sin θ_i)``, ``n_i = (k/N) m_i`` with ``k = 1.2``,
    threshold ``h = 0.3``, leak 0.9. Each unit's rate is ``clip(m_i·z, 0, h)``,
    so the radial map ``r ↦ 0.9 r + g(r)`` has an unstable origin and a stable
    ring at radius ``r*`` (fact ``ring_radius``, the root of ``g(r) = 0.1 r``
    for the finite network, averaged over angles). Inputs: 2 channels
    ``(cos ψ, sin ψ)`` of the cue angle ψ (one of 8) during steps 5–15, reaching
    unit ``i`` as ``s·cos(θ_i − ψ)`` (``s = 1``). Read-out: latent Gaussian,
    16 dimensions, std 0.1; transition noise std 0.02. Default 80 trials × 60
    steps (10 per angle); ``labels`` are the cue indices 0–7.

    Parameters
    ----------
    seed : int, default 0
        Seed of the preferred angles' jitter and of the read-out ``W``.

    Returns
    -------
    Teacher
        Its ``facts``:

        ``ring_radius``, ``cue_angles`` (8,), ``stimulus_steps`` (5, 15).

    Examples
    --------
    >>> t = lowrank.teachers.ring()
    >>> t.model.options.n_inputs, len(t.facts["cue_angles"]), t.facts["stimulus_steps"]
    (2, 8, (5, 15))
    """
    rng = np.random.default_rng(seed)
    N, k, hth, a, s, D = 64, 1.2, 0.3, 0.9, 1.0, 16
    th = 2 * np.pi * np.arange(N) / N + 0.01 * rng.standard_normal(N)
    m = np.stack([np.cos(th), np.sin(th)], axis=1)
    n = (k / N) * m
    W_u = s * m  # input (cos ψ, sin ψ) gives current s·cos(θ_i − ψ)
    opts = ModelOptions(n_units=N, rank=2, n_obs=D, n_inputs=2, activation="clipped_relu",
                        readout="latent", likelihood="gaussian")
    W = rng.standard_normal((D, 2)) / np.sqrt(2)
    params = _params(opts, m=m, n=n, h=np.full(N, hth), a=np.full(2, a), W_u=W_u,
                     L_z=0.02 * np.eye(2), mu0=np.zeros(2), L_0=0.05 * np.eye(2), W=W,
                     b=np.zeros(D), sigma=np.full(D, 0.1))
    model = LowRankRNN.from_params(params, opts, seed=seed)
    radius = _ring_radius(m, n, hth, a)
    angles = 2 * np.pi * np.arange(8) / 8
    stim = (5, 15)

    def make_inputs(n_trials, n_steps, rng):
        labels = np.arange(n_trials) % 8
        u = np.zeros((n_trials, n_steps, 2))
        lo, hi = stim
        u[:, lo:hi, 0] = np.cos(angles[labels])[:, None]
        u[:, lo:hi, 1] = np.sin(angles[labels])[:, None]
        return u, labels

    facts = dict(ring_radius=radius, cue_angles=angles, stimulus_steps=stim)
    return Teacher(name="ring", model=model, n_trials=80, n_steps=60, facts=facts,
                   make_inputs=make_inputs)


def _ring_radius(m, n, hth, a, n_angles=64):
    """Radius where the radial gain balances the leak, averaged over angles."""
    from scipy.optimize import brentq

    def radial(r, psi):
        e = np.array([np.cos(psi), np.sin(psi)])
        rate = np.clip(m @ (r * e), 0.0, hth)
        return a * r + e @ (n.T @ rate) - r

    radii = [brentq(radial, 1e-3, 100.0, args=(psi,)) for psi in np.linspace(0, 2 * np.pi, n_angles, endpoint=False)]
    return float(np.mean(radii))


#: The built-in teachers by name: their constructors, each taking a ``seed`` (see :func:`get`).
TEACHERS = {"oscillator": oscillator, "oscillator_poisson": oscillator_poisson,
            "bistable": bistable, "ring": ring}


def get(name, seed=0) -> Teacher:
    """The teacher called ``name`` (one of :data:`TEACHERS`), built with ``seed``.

    Parameters
    ----------
    name : str
        ``"oscillator"``, ``"oscillator_poisson"``, ``"bistable"`` or ``"ring"``.
    seed : int, default 0

    Returns
    -------
    Teacher

    Examples
    --------
    >>> sorted(lowrank.teachers.TEACHERS)
    ['bistable', 'oscillator', 'oscillator_poisson', 'ring']
    >>> lowrank.teachers.get("bistable").facts["stability"]
    ['stable', 'saddle', 'stable']
    """
    if name not in TEACHERS:
        raise ValueError(f"teacher must be one of {sorted(TEACHERS)}; got {name!r}")
    return TEACHERS[name](seed)
