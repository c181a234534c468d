"""The estimator users meet: :class:`LowRankRNN`, and :func:`fit_many` of many of them."""
from __future__ import annotations

import dataclasses
import os
from typing import NamedTuple, Optional

import numpy as np

from ._checks import as_float_array, check_inputs, check_nonneg_float, check_positive_int
from .io import provenance_of, read_model, save_model
from .inference.simulate import draw_counts, run_latents
from .model import equations
from .model.encoder import init_encoder
from .model.noise_basis import check_noise_basis, from_noise_coords
from .model.options import ModelOptions
from .model.params import Params, check_params, init_params, n_params
from .training import parallel as _parallel
from .training.parallel import FitManyResult

# ModelOptions fields that the constructor takes as keywords (``**options``) rather than by name.
GROUPED_OPTIONS = ("units_readout_from", "readout_input", "bin_width", "shared_leak", "filter_inputs",
                   "noise", "init_noise")
_OPTION_FIELDS = tuple(f.name for f in dataclasses.fields(ModelOptions))
_OPTION_DEFAULTS = {f.name: f.default for f in dataclasses.fields(ModelOptions) if f.name in GROUPED_OPTIONS}
# Every constructor argument, as get_params returns them.
_PARAM_NAMES = _OPTION_FIELDS + ("seed", "noise_basis")


class Sample(NamedTuple):
    """Output of :meth:`LowRankRNN.sample`.

    Parameters
    ----------
    z : ndarray, shape (n_trials, T, R)
        Latent states.
    y : ndarray, shape (n_trials, T, D)
        Observations (int64 counts for a Poisson likelihood).
    rates : ndarray or None, shape (n_trials, T, N)
        Unit rates ``φ(x − h)`` when ``return_rates=True``.
    u : ndarray or None, shape (n_trials, T, U)
        The inputs that drove the run (None without inputs).
    mean : ndarray, shape (n_trials, T, D)
        Observation mean (Gaussian) or expected counts per bin (Poisson).

    Examples
    --------
    >>> s = lowrank.LowRankRNN(n_units=8, rank=2, n_obs=3, seed=0).sample(n_trials=2, n_steps=50, return_rates=True)
    >>> s.z.shape, s.y.shape, s.rates.shape, s.mean.shape, s.u
    ((2, 50, 2), (2, 50, 3), (2, 50, 8), (2, 50, 3), None)
    """

    z: np.ndarray
    y: np.ndarray
    rates: Optional[np.ndarray]
    u: Optional[np.ndarray]
    mean: np.ndarray


class LowRankRNN:
    """A stochastic low-rank RNN with a latent or unit read-out (docs/design.md §1).

    ``z_{t+1} = a ⊙ z_t + nᵀ φ(m z_t + W_u v_t − h) + ε_t``, ``ε_t ~ 𝒩(0, L_z L_zᵀ)``,
    observed through a Gaussian or Poisson read-out. See
    :class:`lowrank.model.options.ModelOptions` for every option.

    Parameters
    ----------
    n_units, rank, n_obs : int
        ``N``, ``R`` (``1 <= R <= N``) and ``D``.
    n_inputs : int, default 0
    activation, readout, likelihood, link
        Structural options, as in ``ModelOptions`` (``likelihood`` and
        ``link`` by keyword only).
    seed : int or None, default 0
        Seed of the parameter initialisation (``init_params``) and the default
        seed of the model's random operations.
    noise_basis : ndarray, shape (D, D), optional
        Fixed invertible matrix ``S`` giving the Gaussian observation noise
        the full covariance ``S diag(σ²) Sᵀ`` (latent read-out only):
        ``y = S (W z + b + σ ⊙ ε)``, so ``W``, ``b`` and ``σ`` are in the
        noise coordinates ``S⁻¹ y``. See :mod:`lowrank.model.noise_basis`
        and :func:`lowrank.residual_noise_basis`. None: diagonal noise.
    encoder : EncoderOptions, dict, True or None, default None
        Give the model an encoder proposal's network
        (:class:`lowrank.model.encoder.EncoderOptions`; ``True`` for the
        default ``[21, 11, 1] × [64, 64]`` causal GELU network), whose
        parameters are trained with the rest and saved with the model. Its
        default proposal is then ``"encoder"``. :meth:`fit` with
        ``proposal="encoder"`` adds the default network to a model without one.
    **options
        The rarely used structural options, by keyword: ``units_readout_from``,
        ``readout_input``, ``bin_width``, ``shared_leak``, ``filter_inputs``,
        ``noise``, ``init_noise`` (as in ``ModelOptions``; defaults there). An
        unknown keyword is a TypeError.

    Attributes
    ----------
    params : Params
        Current (constrained) parameters. A new model holds its seeded
        initialisation (built on first use); ``fit`` starts from it.
    options : ModelOptions
        The validated structural options, built from the constructor
        arguments on first use.
    n_units, rank, ..., seed, noise_basis, encoder
        Every constructor argument, stored unchanged under its own name
        (:meth:`get_params`).

    Notes
    -----
    The estimator follows scikit-learn's conventions without depending on it:
    ``__init__`` only stores its arguments, :meth:`get_params` and
    :meth:`set_params` read and change them (so ``sklearn.base.clone`` gives an
    unfitted model with the same arguments), and the arguments are validated
    when first needed: the first access to ``options`` or ``params`` (by
    ``fit``, ``sample``, ``score``, ``save``, ...) raises the ValueError or
    TypeError of a bad option. Change constructor arguments with
    :meth:`set_params`, not by assigning the attributes: the derived options
    are cached.

    Examples
    --------
    >>> data = lowrank.teachers.get("oscillator").dataset(n_trials=40)          # data.y: (40, 75, 20)
    >>> model = lowrank.LowRankRNN(n_units=20, rank=2, n_obs=20, readout="units", seed=1)
    >>> model.fit(data.y[:30], window=None, n_iter=20, lr=1e-2, verbose=0).n_iter_
    20
    >>> bool(np.isfinite(model.score(data.y[30:])))                              # held-out ELBO per step
    True
    >>> out = model.sample(n_trials=3, n_steps=100, seed=0)
    >>> out.z.shape, out.y.shape
    ((3, 100, 2), (3, 100, 20))
    >>> model.posterior(data.y[30:]).smooth_mean.shape
    (10, 75, 2)
    >>> model.save("m.npz"); lowrank.LowRankRNN.load("m.npz").options == model.options
    True
    """

    def __init__(self, n_units, rank, n_obs, n_inputs=0, activation="relu", readout="latent", *,
                 likelihood="gaussian", link="softplus", seed=0, noise_basis=None, encoder=None, **options):
        unknown = sorted(set(options) - set(GROUPED_OPTIONS))
        if unknown:
            raise TypeError(f"LowRankRNN got unknown option(s) {unknown}; the options taken by keyword are "
                            f"{list(GROUPED_OPTIONS)} (besides the named parameters)")
        self.n_units, self.rank, self.n_obs, self.n_inputs = n_units, rank, n_obs, n_inputs
        self.activation, self.readout, self.likelihood, self.link = activation, readout, likelihood, link
        for name, default in _OPTION_DEFAULTS.items():
            setattr(self, name, options.get(name, default))
        self.encoder = encoder
        self.seed = seed
        self.noise_basis = noise_basis

    # -- scikit-learn conventions -------------------------------------------------------
    def get_params(self, deep=True):
        """The constructor arguments, name -> value (``deep`` is accepted for scikit-learn; nothing is nested).

        Returns
        -------
        dict
            Every argument of ``__init__`` (including each of ``**options``),
            as stored: ``type(model)(**model.get_params())`` is an unfitted
            model with the same structure and seed.
        """
        return {name: getattr(self, name) for name in _PARAM_NAMES}

    def set_params(self, **params):
        """Change constructor arguments; returns ``self``.

        Changing a structural argument (anything but ``seed``) to a different
        value drops the derived ``options`` and ``params``: they are rebuilt,
        validated and freshly initialised, on next use. Changing ``seed``
        re-initialises the parameters only while they are still the seeded
        initialisation (not fitted, loaded or assigned).

        Raises
        ------
        ValueError
            For a name that is not a constructor argument.
        """
        for name in params:
            if name not in _PARAM_NAMES:
                raise ValueError(f"invalid parameter {name!r} for LowRankRNN; valid parameters: "
                                 f"{sorted(_PARAM_NAMES)}")
        changed = {name for name, value in params.items() if not _same(getattr(self, name), value)}
        for name, value in params.items():
            setattr(self, name, value)
        if changed - {"seed"}:
            self._options = self._params = None
        elif "seed" in changed and getattr(self, "_params_are_initial", False):
            self._params = None
        return self

    @property
    def options(self):
        """The validated :class:`ModelOptions` (built from the constructor arguments on first use)."""
        options = getattr(self, "_options", None)
        if options is None:
            options = ModelOptions(**{name: getattr(self, name) for name in _OPTION_FIELDS})
            check_noise_basis(self.noise_basis, options)
            self._options = options
        return options

    @options.setter
    def options(self, options):
        if not isinstance(options, ModelOptions):
            raise TypeError(f"options must be a ModelOptions; got {type(options).__name__}")
        self._options = options
        for name in _OPTION_FIELDS:               # get_params (and so clone) follow the options
            setattr(self, name, getattr(options, name))

    @property
    def params(self):
        """The current (constrained) :class:`Params`; the seeded initialisation until fitted or assigned."""
        params = getattr(self, "_params", None)
        if params is None:
            params = init_params(self.options, np.random.default_rng(self.seed))
            self._params, self._params_are_initial = params, True
        return params

    @params.setter
    def params(self, params):
        self._params, self._params_are_initial = params, False

    # -- construction -------------------------------------------------------------------
    @classmethod
    def from_params(cls, params: Params, options: ModelOptions, seed=0, noise_basis=None):
        """A model holding given parameters (validated and copied)."""
        if not isinstance(options, ModelOptions):
            raise TypeError(f"options must be a ModelOptions; got {type(options).__name__}")
        model = cls.__new__(cls)
        model.seed = seed
        model.noise_basis = check_noise_basis(noise_basis, options)      # a validated copy
        model.options = options
        model.params = check_params(params, options).copy()
        return model

    def copy(self):
        return type(self).from_params(self.params, self.options, self.seed, self.noise_basis)

    def add_encoder(self, encoder=True, seed=None):
        """Give the model an encoder proposal's network, freshly initialised; returns ``self``.

        ``encoder`` as in the constructor (not None); ``seed`` seeds the
        network's initialisation (None: the model's ``seed``). The other
        parameters are kept. A model that already has an encoder gets a new one.
        """
        if encoder is None or encoder is False:
            raise ValueError("encoder must be True, an EncoderOptions or a dict of its fields; got None")
        options = self.options.with_encoder(encoder)
        rng = np.random.default_rng(self.seed if seed is None else seed)
        enc = init_encoder(options.encoder, options.n_obs, options.rank, rng)
        self.params = self.params._replace(enc=enc)
        self.options = options
        return self

    @property
    def obs_cov(self):
        """Observation-noise covariance in data space, shape (D, D) (Gaussian likelihood only)."""
        if self.options.likelihood != "gaussian":
            raise AttributeError("obs_cov is defined for a Gaussian likelihood only")
        sig = self.params.sigma
        if self.noise_basis is None:
            return np.diag(sig * sig)
        Ss = self.noise_basis * sig[None, :]
        return Ss @ Ss.T

    @property
    def readout_weights(self):
        """Latent read-out weights in data space, ``S W`` (``W`` without a noise basis), shape (D, R)."""
        if self.options.readout != "latent":
            raise AttributeError("readout_weights is defined for a latent read-out only")
        return from_noise_coords(self.noise_basis, self.params.W.T).T

    @property
    def n_params(self):
        """Number of trainable (unconstrained) parameters."""
        return n_params(self.options)

    def __repr__(self):
        basis = "" if self.noise_basis is None else ", noise_basis=<(D, D) array>"
        return (f"LowRankRNN(n_units={self.n_units!r}, rank={self.rank!r}, n_obs={self.n_obs!r}, "
                f"n_inputs={self.n_inputs!r}, activation={self.activation!r}, readout={self.readout!r}, "
                f"likelihood={self.likelihood!r}{basis})")

    # -- generation ---------------------------------------------------------------------
    def sample(self, n_trials=1, n_steps=100, inputs=None, noise_scale=1.0, z0=None, seed=None,
               return_rates=False, y=None, obs_noise=True, y_inputs=None, device="cpu"):
        """Simulate the model.

        Parameters
        ----------
        n_trials, n_steps : int
            Output size ``(n_trials, T=n_steps)``.
        inputs : ndarray, shape (n_trials, T, U) or (T, U), optional
            Required when the model has inputs; a 2-D array is shared by all trials.
        noise_scale : float, default 1.0
            Multiplies the latent noise (initial and transition); 0 gives the
            noise-free dynamics from the initial mean (or ``z0``).
        z0 : ndarray, shape (R,) or (n_trials, R), or "posterior", optional
            Initial latent state. Default: drawn from ``𝒩(μ_init, Σ_0)``
            (scaled by ``noise_scale``). ``"posterior"`` continues ``y``: the
            particle filter runs over ``y`` (100 particles) and each trial
            starts from a particle of the final filtering cloud drawn by its
            weight, i.e. a draw of ``z_{T-1} | y`` (the filtering mean when
            ``noise_scale=0``); ``z[:, 0]`` is that state, so the sample
            continues from the last observed step. ``y`` has 1 or ``n_trials``
            trials.
        seed : int, Generator or None
            Randomness of this call; None uses the model's ``seed``.
        return_rates : bool
            Also return the unit rates ``(n_trials, T, N)``.
        obs_noise : bool
            Draw observations (True) or return the observation mean as ``y``.
        y, y_inputs : ndarray, optional
            Observations (and their inputs) for ``z0="posterior"``.
        device : {"cpu", "cuda"}, default "cpu"
            Where the latent dynamics run (the same numbers; the noise is drawn here).

        Returns
        -------
        Sample

        Raises
        ------
        lowrank.inference.simulate.RunawayDynamicsError
            (a ``FloatingPointError``) when a Poisson model's expected counts
            overflow (are not finite, or too large for numpy to draw): the
            dynamics ran away. The message names the first trial and step.
            Nothing is clipped; ``obs_noise=False`` returns the expected
            counts as they are (possibly inf).
        """
        o, p = self.options, self.params
        n_trials = check_positive_int("n_trials", n_trials)
        n_steps = check_positive_int("n_steps", n_steps)
        noise_scale = check_nonneg_float("noise_scale", noise_scale)
        rng = np.random.default_rng(self.seed if seed is None else seed)
        u = check_inputs(inputs, o, n_trials, n_steps)
        v = equations.fed_inputs(u, p.a, o.filter_inputs)
        R = o.rank
        # Draw order is part of the contract (same seed, same arrays): z0, latent noise, observations.
        eps0 = rng.standard_normal((n_trials, R))
        eps = rng.standard_normal((n_trials, n_steps, R))
        if isinstance(z0, str):
            if z0 != "posterior":
                raise ValueError(f"z0 must be an array, None or 'posterior'; got {z0!r}")
            start = self._posterior_initial_state(y, n_trials, rng, y_inputs, noise_scale)
        elif z0 is None:
            start = equations.initial_mean(p, v[:, 0]) + noise_scale * eps0 @ p.L_0.T
        else:
            start = as_float_array("z0", z0, (1, 2), R, "rank")
            start = np.broadcast_to(start, (n_trials, R)).copy()
        z = run_latents(p, o, start, eps, v, noise_scale, device)
        eta = equations.readout_mean(p, o, z, v)
        if o.likelihood == "gaussian":
            mean = eta
            yy = eta + p.sigma * rng.standard_normal(eta.shape) if obs_noise else eta.copy()
        else:
            mean = equations.poisson_rate(eta, o.link, o.bin_width)
            yy = draw_counts(rng, mean, z) if obs_noise else mean.copy()
        if self.noise_basis is not None:
            mean, yy = from_noise_coords(self.noise_basis, mean), from_noise_coords(self.noise_basis, yy)
        rates = None
        if return_rates:
            x = equations.unit_currents(p, z, v) - p.h
            rates = equations.phi(o.activation, x, p.h)
        return Sample(z=z, y=yy, rates=rates, u=(u if o.n_inputs else None), mean=mean)

    def _posterior_initial_state(self, y, n_trials, rng, y_inputs=None, noise_scale=1.0):
        """Start states (n_trials, R) continuing ``y``; see ``sample(z0="posterior")``."""
        from .inference.posterior import filtering_initial_state
        return filtering_initial_state(self, y, n_trials, rng, inputs=y_inputs, noise_scale=noise_scale)

    # -- fitting and inference ----------------------------------------------------------
    def fit(self, y, inputs=None, *, heldout_units=None, **kwargs):
        """Fit the parameters to ``y`` by maximising the variational-SMC ELBO.

        Thin wrapper of :func:`lowrank.training.fit` (all keyword arguments,
        e.g. ``n_particles``, ``window``, ``batch_size``, ``n_iter``, ``lr``,
        ``heldout``, ``checkpoint``, ``resume``, ``callback``, ``seed``, are
        documented there). ``seed=None`` uses the model's ``seed``.
        ``proposal="encoder"`` on a model without an encoder first adds the
        default one (:meth:`add_encoder`).

        ``heldout_units`` (channel indices) leaves those channels out of the
        likelihood, for co-smoothing (:func:`lowrank.co_smoothing`) or
        channels missing from a recording: the fit is that of the same
        network seen through the other channels (:mod:`lowrank.model.subset`),
        and the left-out channels keep their own read-out parameters. ``y``
        (and ``y_val``) still hold all ``n_obs`` channels; what the left-out
        ones hold is ignored.

        Sets ``params`` and the fitted attributes ``history_`` (a
        ``History``), ``n_iter_``, ``best_elbo_``, ``best_iteration_`` and
        ``stop_reason_``. Returns ``self``.
        """
        from .training import fit as _fit
        if kwargs.get("proposal") == "encoder" and self.options.encoder is None:
            self.add_encoder()
        if heldout_units is not None:
            return self._fit_channels(heldout_units, y, inputs, kwargs)
        res = _fit(self, y, inputs, **kwargs)
        self.history_, self.n_iter_ = res.history, res.n_iter
        self.best_elbo_, self.best_iteration_, self.stop_reason_ = res.best_elbo, res.best_iteration, res.stop_reason
        return self

    def _fit_channels(self, heldout_units, y, inputs, kwargs):
        """:meth:`fit` with ``heldout_units`` out of the likelihood (see there)."""
        from .model.subset import check_channels, embed_channels, restrict_channels
        o = self.options
        if self.noise_basis is not None:
            raise ValueError("heldout_units cannot be used with a noise_basis (correlated noise mixes the channels)")
        keep = np.setdiff1d(np.arange(o.n_obs), check_channels(heldout_units, o.n_obs))
        params, opts = restrict_channels(self.params, o, keep)
        sub = type(self).from_params(params, opts, self.seed)

        def cut(x):
            return None if x is None else [np.asarray(a)[..., keep] for a in x] if isinstance(x, list) \
                else np.asarray(x)[..., keep]

        kw = dict(kwargs, y_val=cut(kwargs.get("y_val")))
        if kw.get("mask") is not None:
            kw["mask"] = _cut_mask(kw["mask"], keep, o.n_obs)
        if np.ndim(kw.get("augment_noise")) == 1:
            kw["augment_noise"] = np.asarray(kw["augment_noise"])[keep]
        try:
            sub.fit(cut(y), inputs, **kw)
        except FloatingPointError as exc:
            best = getattr(exc, "best_params", None)
            if isinstance(best, Params):
                exc.best_params = embed_channels(self.params, best, o, keep)
            self.params = embed_channels(self.params, sub.params, o, keep)
            raise
        self.params = embed_channels(self.params, sub.params, o, keep)
        for name in ("history_", "n_iter_", "best_elbo_", "best_iteration_", "stop_reason_", "provenance_"):
            if hasattr(sub, name):
                setattr(self, name, getattr(sub, name))
        if isinstance(getattr(self, "provenance_", None), dict):
            self.provenance_ = dict(self.provenance_, heldout_units=[int(i) for i in np.setdiff1d(
                np.arange(o.n_obs), keep)])
        return self

    def posterior(self, y, inputs=None, **kwargs):
        """Filtering and smoothed latents of ``y``: :func:`lowrank.inference.posterior.posterior`."""
        from .inference.posterior import posterior
        return posterior(self, y, inputs, **kwargs)

    def score(self, y, inputs=None, **kwargs):
        """Held-out ELBO per step, mean over trials: :func:`lowrank.inference.posterior.score`."""
        from .inference.posterior import score
        return score(self, y, inputs, **kwargs)

    def predict(self, y, n_ahead, inputs=None, **kwargs):
        """Forecast ``n_ahead`` steps after ``y``: :func:`lowrank.inference.posterior.predict`."""
        from .inference.posterior import predict
        return predict(self, y, n_ahead, inputs, **kwargs)

    # -- analysis -----------------------------------------------------------------------
    def fixed_points(self, inputs=None, **kwargs):
        """All fixed points of the noise-free dynamics under a constant input.

        Parameters
        ----------
        inputs : ndarray, shape (U,), optional
            Constant input ``u``; the units receive ``c = W_u u`` (with input
            filtering, the filtered input converges to ``u``, so the same).
        **kwargs
            Passed to :func:`lowrank.fixed_points.find_fixed_points`.
        """
        from .fixed_points import find_fixed_points
        o, p = self.options, self.params
        c = None
        if o.n_inputs:
            if inputs is None:
                inputs = np.zeros(o.n_inputs)
            u = as_float_array("inputs", inputs, (1,), o.n_inputs, "n_inputs")
            c = p.W_u @ u
        elif inputs is not None:
            raise ValueError("inputs were given but the model has n_inputs=0")
        return find_fixed_points(p.m, p.n, p.h, p.a, activation=o.activation, c=c, **kwargs)

    # -- persistence --------------------------------------------------------------------
    def save(self, path, extra=None):
        """Write the model to ``path`` (.npz arrays + JSON metadata; no pickle).

        ``extra`` is an optional dict of name -> ndarray stored alongside,
        under ``extra/<name>``. A fitted model's ``history_`` is saved there
        by default (``History.from_extra`` reads it back), and its
        ``provenance_`` (the fit's settings, seed, data fingerprint and
        lowrank version) in the metadata; :meth:`load` reads it back (None
        for files without one).
        """
        if extra is None and getattr(self, "history_", None) is not None:
            extra = self.history_.to_extra()
        save_model(path, self.options, self.params, seed=self.seed, noise_basis=self.noise_basis, extra=extra,
                   provenance=getattr(self, "provenance_", None))

    @classmethod
    def load(cls, path, with_extra=False):
        """Read a model written by :meth:`save` (any earlier format version).

        With ``with_extra=True`` returns ``(model, extra)``, ``extra`` the
        dict of arrays saved beside the parameters (e.g. ``history/*``).
        A file that cannot be read, or whose parameters are invalid (NaN,
        a leak outside (0, 1), ...), raises ValueError naming the file and
        the parameter block.
        """
        f = read_model(path)
        try:
            model = cls.from_params(f.params, f.options, seed=f.seed, noise_basis=f.noise_basis)
        except ValueError as exc:                       # e.g. a leak outside (0, 1): name the file
            raise ValueError(f"{os.fspath(path)}: {exc}") from exc
        model.provenance_ = provenance_of(f.metadata)
        return (model, f.extra) if with_extra else model


def _same(a, b):
    """Whether two constructor arguments are the same value (arrays compared elementwise)."""
    if a is b:
        return True
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.shape(a) == np.shape(b) and bool(np.array_equal(a, b))
    try:
        return bool(a == b) and type(a) is type(b)
    except (TypeError, ValueError):
        return False


def _cut_mask(mask, keep, n_obs):
    """A missing-data mask over all channels, cut to the channels ``keep`` (one that broadcasts over them stays)."""
    def one(m):
        m = np.asarray(m)
        return m[..., keep] if m.ndim and m.shape[-1] == n_obs else m
    return [one(m) for m in mask] if isinstance(mask, (list, tuple)) else one(mask)


def fit_many(model_spec, y, inputs=None, *, seeds=5, base_seed=0, settings=None, n_jobs=-1,
             threads_per_job=None, backend="loky", client=None, on_result=None, verbose=0, device="cpu",
             **fit_kwargs) -> FitManyResult:
    """Run independent fits in parallel.

    Parameters
    ----------
    model_spec : dict or LowRankRNN
        Arguments of :class:`~lowrank.LowRankRNN` (its ``seed`` is replaced by
        each fit's child seed), or a model whose options (and
        ``noise_basis``) are copied.
    y : ndarray
        Data, as for ``LowRankRNN.fit``: (n_trials, T, D) or (T, D).
    inputs : ndarray, optional
    seeds : int or list of int, default 5
        A count (child seeds spawned from ``base_seed``) or explicit seeds.
        Each seed initialises the model and drives its fit.
    base_seed : int
    settings : list of dict, optional
        Overrides, e.g. ``[{"lr": 1e-3}, {"lr": 3e-3, "rank": 3}]``: keys that
        are ``LowRankRNN`` arguments (``rank``, ``n_units``, ``activation``,
        ...) override ``model_spec``, the others ``fit_kwargs``. Every setting
        is run with every seed.
    n_jobs : int, default -1
        joblib workers (-1: one per core). Not used with ``backend="dask"``,
        where the cluster's workers decide how many fits run at once.
    threads_per_job : int, optional
        Numba threads of each fit; default ``max(1, cores // workers)`` with
        joblib, the worker's ``nthreads`` with Dask.
    backend : str, default "loky"
        A joblib backend, or ``"dask"``: run on a ``dask.distributed`` cluster
        (see :mod:`lowrank.training.parallel` for threads and faults).
    client : distributed.Client or str, optional
        With ``backend="dask"``: the client, or a scheduler address
        (``"tcp://host:8786"``; a client is opened and closed by this call).
        Default: the current client (``distributed.get_client()``).
    on_result : callable, optional
        ``on_result(index, row, model, history)`` is called in this process as
        each fit finishes (in completion order; ``row`` as in the table,
        ``model`` and ``history`` None for a fit without them), e.g. to write
        each model to disk as soon as it exists.
    verbose : int
        joblib's verbosity.
    device : {"cpu", "cuda"}, default "cpu"
        ``"cuda"``: train every fit in lockstep on the GPU, one launch per
        step for all fits that share a configuration (:mod:`lowrank.training.parallel`);
        ``n_jobs``, ``threads_per_job``, ``backend`` and ``client`` do not
        apply. The results equal the CPU's to floating-point rounding.
    **fit_kwargs
        Passed to ``LowRankRNN.fit`` (``verbose`` is forced to 0 in workers).

    Returns
    -------
    FitManyResult

    Examples
    --------
    >>> y = lowrank.teachers.get("oscillator").dataset(n_trials=20).y
    >>> spec = dict(n_units=20, rank=2, n_obs=20, readout="units")
    >>> res = lowrank.fit_many(spec, y, seeds=2, settings=[{"lr": 1e-2}, {"lr": 3e-3}], n_jobs=1,
    ...                        n_iter=10, window=None, heldout=0.2)
    >>> len(res.models), [(row["setting"], row["lr"]) for row in res.table]
    (4, [(0, 0.01), (0, 0.01), (1, 0.003), (1, 0.003)])
    >>> best = res.best()                           # the highest best held-out ELBO
    """
    return _parallel.fit_many(LowRankRNN, model_spec, y, inputs, seeds=seeds, base_seed=base_seed, settings=settings,
                              n_jobs=n_jobs, threads_per_job=threads_per_job, backend=backend, client=client,
                              on_result=on_result, verbose=verbose, device=device, **fit_kwargs)
