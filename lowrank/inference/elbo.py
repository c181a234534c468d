"""Variational sequential Monte Carlo: the ELBO of a low-rank RNN and its gradient.

The objective and every convention (time indexing, draws, resampling,
proposals) are specified in ``docs/smc.md``. The compiled kernels live in
:mod:`lowrank.kernels`; :func:`elbo` checks its input and draws the random
numbers, packs the kernels' arguments into the named structures of
:mod:`lowrank.kernels.smc_args` (:func:`pack`), runs the forward pass and,
for the gradient, the backward pass, and packages the result.

Gradient bias
-------------
The gradient is taken with the proposal noise ``eps``, the ancestor indices
and the resampling decisions held fixed (reparameterisation through every
particle, no score-function term for the discrete resampling step), as in the
reference implementation. It is therefore a biased, low-variance estimate of
the gradient of the expected ELBO. Finite differences of :func:`elbo` with
fixed ``draws`` agree with it wherever no ancestor or resampling decision
changes under the perturbation.
"""
from __future__ import annotations

import math
from typing import NamedTuple, Optional

import numpy as np

from .._checks import check_choice, check_float, check_mask, check_positive_int
from ..kernels.proposal import gram, setup
from ..kernels.smc_args import (Codes, Draws, ModelArrays, ProposalArrays, Sequences, SMCInputs, grad_layout,
                                records)
from ..kernels.smc_backward import assemble, smc_backward
from ..kernels.smc_forward import smc_forward
from ..model.codes import PROPOSAL_CODE, PROPOSAL_ENCODER, PROPOSAL_OPTIMAL, RESAMPLE_CODE
from ..model.equations import fed_inputs, initial_mean
from .device import device_kernels
from .draws import smc_draws
from .encoder import encode, encode_adjoint
from .warmup import ensure_cached, needed_parts
from .workspace import FRESH, thread_workspace
from ..model.options import ModelOptions, kernel_codes
from ..model.noise_basis import check_noise_basis, log_abs_det, to_noise_coords
from ..model.params import Params, check_params, grad_to_flat


class SMCDegeneracyError(FloatingPointError):
    """All particles of a sequence got zero weight (log-weight ``-inf``) at some step.

    It is a ``FloatingPointError``: a fit treats it like a non-finite ELBO (see :class:`lowrank.FitError`).

    Examples
    --------
    >>> issubclass(lowrank.smc.SMCDegeneracyError, FloatingPointError)
    True
    """


class SMCResult(NamedTuple):
    """Result of :func:`elbo`.

    Parameters
    ----------
    elbo : (n_seq,) ndarray
        ELBO of each sequence, ``sum_t ell_t``.
    elbo_per_step : (n_seq,) ndarray
        ``elbo / length``.
    value : float
        ``mean(elbo_per_step)``: the objective that ``grad`` differentiates.
    grad : Params or None
        d value / d constrained blocks (Cholesky factors: lower triangle only).
    grad_flat : (n_params,) ndarray or None
        d value / d unconstrained flat vector (``lowrank.model.params.to_flat``).
    particles : (n_seq, T, K, R) ndarray or None
        Particles after the proposal step (before resampling).
    log_weights : (n_seq, T, K) ndarray or None
        Normalised log-weights after step t, before resampling.
    ancestors : (n_seq, T, K) int64 ndarray or None
        ``ancestors[:, t]``: parents of the particles of step t (identity at t = 0).
    draws : tuple or None
        ``(eps, unif)`` used.

    For padded sequences (``lengths``) entries past the end are NaN (floats)
    and -1 (ancestors).

    Examples
    --------
    >>> model = lowrank.LowRankRNN(n_units=8, rank=2, n_obs=3, seed=0)
    >>> y = model.sample(n_trials=2, n_steps=20, seed=1).y
    >>> res = lowrank.smc.elbo(model, y, n_particles=5, return_particles=True)
    >>> res.particles.shape, res.log_weights.shape, res.ancestors.shape
    ((2, 20, 5, 2), (2, 20, 5), (2, 20, 5))
    """

    elbo: np.ndarray
    elbo_per_step: np.ndarray
    value: float
    grad: Optional[Params] = None
    grad_flat: Optional[np.ndarray] = None
    particles: Optional[np.ndarray] = None
    log_weights: Optional[np.ndarray] = None
    ancestors: Optional[np.ndarray] = None
    draws: Optional[tuple] = None


def valid_proposals(options: ModelOptions):
    """Proposals available for a model (``ModelOptions.proposals``).

    ``optimal`` needs a linear-Gaussian read-out; ``encoder`` a model with an encoder.

    Parameters
    ----------
    options : ModelOptions

    Returns
    -------
    tuple of str

    Examples
    --------
    >>> lowrank.smc.valid_proposals(lowrank.ModelOptions(n_units=4, rank=2, n_obs=3))
    ('bootstrap', 'optimal')
    >>> lowrank.smc.valid_proposals(lowrank.ModelOptions(n_units=4, rank=2, n_obs=3, readout="units",
    ...                                                  likelihood="poisson"))
    ('bootstrap',)
    """
    return options.proposals


def default_proposal(opts: ModelOptions, proposal=None, missing=False):
    """``proposal``, or for None the model's default (``opts.default_proposal``: ``"encoder"`` with an
    encoder, else ``"optimal"`` where it applies, else ``"bootstrap"``), with ``"bootstrap"`` instead of
    ``"optimal"`` when observations are ``missing`` (the optimal proposal needs every one of a step)."""
    if proposal is not None:
        return proposal
    if missing and opts.default_proposal == "optimal":
        return "bootstrap"
    return opts.default_proposal


def _resolve_model(model, options):
    if isinstance(model, Params):
        if not isinstance(options, ModelOptions):
            raise TypeError("when model is a Params, pass options=ModelOptions(...)")
        return model, options
    if hasattr(model, "params") and hasattr(model, "options"):
        if options is not None and options != model.options:
            raise ValueError("options= conflicts with model.options; pass one or the other")
        return model.params, model.options
    raise TypeError(f"model must have .params and .options, or be a Params with options=; got {type(model).__name__}")


def _check_data(y, inputs, lengths, opts, mask=None):
    """``(y, u, lengths)`` checked and padded; entries that ``mask`` leaves out come back as NaN."""
    y = np.asarray(y, dtype=np.float64)
    if y.ndim == 2:
        y = y[None]
        if inputs is not None:
            inputs = np.asarray(inputs, dtype=np.float64)
            if inputs.ndim == 2:
                inputs = inputs[None]
    if y.ndim != 3:
        raise ValueError(f"y must have shape (n_seq, T, D) or (T, D); got ndim={y.ndim}")
    S, T, D = y.shape
    if S < 1 or T < 1:
        raise ValueError(f"y must have at least one sequence and one step; got shape {y.shape}")
    if D != opts.n_obs:
        raise ValueError(f"y has D={D} observed dimensions but the model has n_obs={opts.n_obs}")
    if lengths is None:
        lengths = np.full(S, T, dtype=np.int64)
    else:
        lengths = np.asarray(lengths)
        if lengths.shape != (S,) or not np.issubdtype(lengths.dtype, np.integer):
            raise ValueError(f"lengths must be ({S},) integers; got {lengths.dtype} {lengths.shape}")
        if np.any(lengths < 1) or np.any(lengths > T):
            raise ValueError(f"lengths must lie in [1, T={T}]; got min {lengths.min()}, max {lengths.max()}")
        lengths = lengths.astype(np.int64)
    padded = bool(np.any(lengths < T))
    valid = np.arange(T)[None, :] < lengths[:, None]
    missing = None
    if mask is not None:
        missing = ~check_mask("mask", mask, y.shape) & valid[:, :, None]
        y = np.where(missing, 0.0, y)     # checked as zeros, NaN again below
    yv = y[valid] if padded else y
    if not np.all(np.isfinite(yv)):
        raise ValueError("y contains NaN or inf (within the sequence lengths); mark missing values with mask=")
    if opts.likelihood == "poisson" and (np.any(yv < 0) or np.any(yv != np.round(yv))):
        raise ValueError("Poisson likelihood needs y to be non-negative integer counts")
    U = opts.n_inputs
    if U == 0:
        if inputs is not None and np.size(inputs) > 0:
            raise ValueError("inputs given but the model has n_inputs=0")
        u = np.zeros((S, T, 0))
    else:
        if inputs is None:
            raise ValueError(f"the model has n_inputs={U}: pass inputs of shape ({S}, {T}, {U})")
        u = np.asarray(inputs, dtype=np.float64)
        if u.shape != (S, T, U):
            raise ValueError(f"inputs must have shape (n_seq, T, U)=({S}, {T}, {U}) to match y; got {u.shape}")
        if not np.all(np.isfinite(u[valid] if padded else u)):
            raise ValueError("inputs contain NaN or inf")
    if padded:
        # The kernels never read the tail; zero it so NaN padding is harmless.
        y = np.where(valid[:, :, None], y, 0.0)
        u = np.where(valid[:, :, None], u, 0.0)
    if missing is not None and missing.any():
        # The kernels' rule: a NaN observation is missing and adds nothing to the likelihood.
        y = np.where(missing, np.nan, y)
    return np.ascontiguousarray(y), np.ascontiguousarray(u), lengths


def _check_missing(opts, proposal, basis):
    """Missing values are fine with every proposal but the optimal one, and without a noise basis."""
    if proposal == PROPOSAL_OPTIMAL:
        raise ValueError("proposal='optimal' needs every observation of a step; with missing values (mask=) "
                         "use proposal='bootstrap' or 'encoder'")
    if basis is not None:
        raise ValueError("missing values (mask=) need a read-out without a noise basis (noise coordinates mix "
                         "the channels)")


class Choices(NamedTuple):
    """The algorithm's options of a call of :func:`elbo`, checked."""

    proposal: int      # lowrank.model.codes.PROPOSAL_*
    resampling: int    # lowrank.model.codes.RESAMPLE_*
    tau: float         # ESS threshold, -1 to resample at every step
    n_particles: int


def check_choices(opts, proposal, resample, ess_threshold, n_particles):
    """Validate the SMC choices for a model with options ``opts``; returns :class:`Choices`.

    Public so that callers (``lowrank.fit``) can check them before any compute.
    """
    check_choice("proposal", proposal, tuple(PROPOSAL_CODE))
    if proposal == "encoder" and opts.encoder is None:
        raise ValueError("proposal='encoder' needs a model with an encoder: create it with encoder=True (or "
                         "EncoderOptions(...)), e.g. LowRankRNN(..., encoder=True) or options.with_encoder()")
    if proposal not in opts.proposals:
        raise ValueError(
            f"proposal={proposal!r} needs a linear-Gaussian read-out (Gaussian likelihood, latent or "
            f"units-from-currents read-out); valid proposals for this model: {list(opts.proposals)}")
    check_choice("resample", resample, tuple(RESAMPLE_CODE))
    n_particles = check_positive_int("n_particles", n_particles)
    tau = -1.0
    if ess_threshold is not None:
        tau = check_float("ess_threshold", ess_threshold, low=0.0, high=1.0, low_open=True)
    return Choices(PROPOSAL_CODE[proposal], RESAMPLE_CODE[resample], tau, n_particles)


def _draws(draws, seed, S, T, K, R, alloc=FRESH):
    """The caller's ``(eps, unif)`` checked, or fresh ones from ``seed`` (:mod:`.draws`), as :class:`Draws`."""
    if draws is None:
        return smc_draws(seed, S, T, K, R, alloc)
    eps, unif = draws
    eps = np.ascontiguousarray(eps, dtype=np.float64)
    unif = np.ascontiguousarray(unif, dtype=np.float64)
    if eps.shape != (S, T, K, R) or unif.shape != (S, T, K):
        raise ValueError(f"draws must be (eps, unif) with shapes {(S, T, K, R)} and {(S, T, K)}; "
                         f"got {eps.shape} and {unif.shape}")
    return Draws(eps, unif)


def _model_arrays(p, opts, v):
    """:class:`ModelArrays` of checked parameters ``p``; ``v`` (S, T, U) the fed inputs."""
    D = opts.n_obs
    if opts.likelihood == "gaussian":
        inv_sigma = 1.0 / p.sigma
        gconst = float(-np.sum(np.log(p.sigma)) - 0.5 * D * math.log(2 * math.pi))
    else:
        inv_sigma, gconst = np.zeros(0), 0.0
    mT = np.ascontiguousarray(p.m.T)
    return ModelArrays(mT, np.ascontiguousarray(p.n.T), p.h, p.a, p.W_u,
                       np.ascontiguousarray(initial_mean(p, v[:, 0])), p.L_z, p.L_0,
                       np.ascontiguousarray(p.W.T), np.ascontiguousarray(mT[:, :min(D, opts.n_units)]),
                       p.W_v, p.gain, p.b, inv_sigma, gconst, float(np.mean(p.a)))


def _proposal_arrays(p, opts, inv_sigma, proposal, encoding):
    """:class:`ProposalArrays`: the optimal proposal's set-up, the encoder's
    steps (``encoding``, with ``mu`` and ``prec`` (S, T, R)), zeros where unused."""
    R, D = opts.rank, opts.n_obs
    P2, LP2, k2, Sinv2 = np.zeros((2, R, R)), np.zeros((2, R, R)), np.zeros(2), np.zeros((2, R, R))
    emu = eprec = np.zeros((0, 0, R))
    if proposal == PROPOSAL_ENCODER:
        for reg, L in enumerate((p.L_0, p.L_z)):
            Li = np.linalg.inv(L)
            Sinv2[reg] = Li.T @ Li
        emu, eprec = np.ascontiguousarray(encoding.mu), np.ascontiguousarray(encoding.prec)
    if proposal != PROPOSAL_OPTIMAL:
        return ProposalArrays(np.zeros((0, R)), np.zeros(0), np.zeros((R, R)), P2, LP2, k2, Sinv2, emu, eprec)
    B = p.W if opts.readout == "latent" else np.ascontiguousarray(p.gain[:, None] * p.m[:D])
    rinv = inv_sigma * inv_sigma
    G = gram(B, rinv)
    k2[0] = setup(G, p.L_0, rinv, P2[0], LP2[0])
    k2[1] = setup(G, p.L_z, rinv, P2[1], LP2[1])
    return ProposalArrays(B, rinv, G, P2, LP2, k2, Sinv2, emu, eprec)


def pack(params, opts, y, u, lengths, choices, draws, encoding=None):
    """The kernels' arguments (:class:`SMCInputs`) of a checked call.

    ``params`` checked ``Params``; ``y`` (S, T, D), ``u`` (S, T, U) and
    ``lengths`` (S,) as returned by the checks; ``choices`` :class:`Choices`;
    ``draws`` :class:`Draws`; ``encoding`` the encoder's output
    (``lowrank.inference.encoder.Encoding``) for the encoder proposal. The fed
    inputs and the initial means come from :mod:`lowrank.model.equations`.
    """
    act, readout, from_rates, lik, link = kernel_codes(opts)
    codes = Codes(act, readout, from_rates, lik, link, choices.proposal, choices.resampling,
                  int(opts.filter_inputs), float(choices.tau), float(opts.bin_width))
    v = np.ascontiguousarray(fed_inputs(u, params.a, opts.filter_inputs))
    seqs = Sequences(y, u, v, lengths)
    model = _model_arrays(params, opts, v)
    prop = _proposal_arrays(params, opts, model.inv_sigma, choices.proposal, encoding)
    return SMCInputs(codes, seqs, draws, model, prop)


def _filter(args, forward=smc_forward, alloc=FRESH):
    """Run the forward pass (``forward``: the CPU kernel or its twin); its :class:`Records`
    (the large arrays from ``alloc``, :mod:`.workspace`)."""
    rec = records(*args.draws.eps.shape, alloc=alloc)
    forward(*args, rec)
    check_records(args, rec)
    return rec


def check_records(args, rec):
    """Raise :class:`SMCDegeneracyError` when a sequence of the forward pass failed."""
    bad = np.flatnonzero(rec.fail >= 0)
    if bad.size:
        s0 = int(bad[0])
        raise SMCDegeneracyError(
            f"all {args.draws.eps.shape[2]} particles have zero weight (log-weight -inf) in sequence {s0} at "
            f"step {int(rec.fail[s0])} ({bad.size} sequence(s) failed); check the data scale, sigma, or use "
            "more particles")


def backward_buffers(args, params, opts):
    """The backward pass's outputs, empty: the gradient layout, ``gbuf`` (S, layout.size), ``dsteps`` (S, T, 2R)."""
    S, T, _, R = args.draws.eps.shape
    lay = grad_layout(opts.n_units, R, opts.n_obs, opts.n_inputs, params.W_v.shape[1])
    dsteps = np.zeros((S, T if args.codes.proposal == PROPOSAL_ENCODER else 0, 2 * R))
    return lay, np.empty((S, lay.size)), dsteps


def backward(args, rec, params, opts, kernel=smc_backward):
    """Run the backward pass: the gradient blocks (name -> array, ``enc`` zero) and the
    adjoints of the encoder's per-step means and precisions, (S, T, R) each (zero-size
    without the encoder proposal)."""
    lay, gbuf, dsteps = backward_buffers(args, params, opts)
    kernel(*args, rec, lay, gbuf, dsteps)
    return gradient_blocks(args, params, opts, lay, gbuf, dsteps)


def gradient_blocks(args, params, opts, lay, gbuf, dsteps):
    """(blocks, d mu_e, d prec_e) of filled backward buffers (:func:`backward`)."""
    R = opts.rank
    return assemble(gbuf, lay, args, params, opts), dsteps[..., :R], dsteps[..., R:]


def encoder_input(y):
    """What the encoder network reads of ``y`` (S, T, D): missing values (NaN) as zeros."""
    missing = np.isnan(y)
    return np.where(missing, 0.0, y) if missing.any() else y


def _gradient(call, rec, kernel=smc_backward):
    """The gradient as a ``Params`` and as a flat vector (through the encoder's network if used)."""
    return finish_gradient(call, *backward(call.args, rec, call.params, call.opts, kernel))


def finish_gradient(call, blocks, dmu, dprec):
    """``(Params, flat)`` gradient of a call from the kernels' blocks and encoder adjoints."""
    params, opts = call.params, call.opts
    if call.encoding is not None:
        args = call.args
        blocks["enc"] = encode_adjoint(params.enc, opts.encoder, encoder_input(args.seqs.y), args.seqs.lengths,
                                       call.encoding, dmu, dprec, call.alloc)
    g = Params(**blocks)
    return g, grad_to_flat(params, g, opts)


def _result(args, rec, total, grads, with_particles):
    """The :class:`SMCResult`; particles, weights and ancestors past a sequence's end NaN / -1."""
    lengths = args.seqs.lengths
    per_step = total / lengths
    out = SMCResult(total, per_step, float(np.mean(per_step)), *grads)
    if not with_particles:
        return out
    T = rec.Z.shape[1]
    if np.any(lengths < T):
        tail = np.arange(T)[None, :] >= lengths[:, None]
        rec.Z[tail] = np.nan
        rec.logW[tail] = np.nan
        rec.anc[tail] = -1
    return out._replace(particles=rec.Z, log_weights=rec.logW, ancestors=rec.anc, draws=tuple(args.draws))


def _resolve_basis(model, noise_basis, opts):
    """The checked noise basis: a model's own, or ``noise_basis=`` with a ``Params``."""
    if not isinstance(model, Params):
        if noise_basis is not None:
            raise ValueError("noise_basis= is for a Params; a model passes its own noise_basis")
        noise_basis = getattr(model, "noise_basis", None)
    return check_noise_basis(noise_basis, opts)


def elbo(model, y, inputs=None, *, options=None, n_particles=10, proposal=None,
         resample="systematic", ess_threshold=None, seed=0, grad=True,
         return_particles=False, lengths=None, draws=None, noise_basis=None, mask=None, device="cpu"):
    """Variational-SMC ELBO of ``y`` under a low-rank RNN, and its gradient.

    Parameters
    ----------
    model : object with ``.params`` and ``.options``, or Params
        With a ``Params``, pass ``options=``.
    y : (n_seq, T, D) or (T, D) array
        Observations. Poisson likelihoods need non-negative integer counts.
    inputs : (n_seq, T, U) array or None
        Required iff ``options.n_inputs > 0``.
    options : ModelOptions, optional
    n_particles : int
        ``K >= 1``.
    proposal : {"optimal", "bootstrap", "encoder"} or None, default None
        ``optimal`` only for linear-Gaussian read-outs (Gaussian likelihood
        with a latent or units-from-currents read-out); ``encoder`` only for
        models with an encoder (``options.encoder``), whose network reads
        the observations as the kernels see them. None: the model's default
        (``options.default_proposal``, as ``model.score`` uses: ``encoder``
        with an encoder, else ``optimal`` where it applies, else
        ``bootstrap``; ``bootstrap`` instead of ``optimal`` with missing
        observations), so a Poisson model gets the bootstrap proposal.
    resample : {"systematic", "stratified", "multinomial", "none"}
    ess_threshold : float in (0, 1] or None
        Resample only when ``ESS < ess_threshold * K`` (None: every step).
    seed : int or numpy Generator
        Seeds the draws when ``draws`` is None.
    grad : bool
        Compute the gradient of ``value`` (see the module docstring for its bias).
    return_particles : bool
    lengths : (n_seq,) ints, optional
        True lengths of padded sequences; the tail is ignored.
    draws : (eps, unif), optional
        ``eps`` (n_seq, T, K, R) standard normals and ``unif`` (n_seq, T, K)
        uniforms, replacing the seeded draws.
    noise_basis : (D, D) array, optional
        With a ``Params``: the fixed noise basis ``S`` of a correlated-noise
        read-out (see :mod:`lowrank.model.noise_basis`). A model passes its
        own ``noise_basis``. The data are mapped to ``S⁻¹ y`` and the
        values include the Jacobian ``−log|det S|`` per step, so they are
        log-likelihood bounds for ``y`` itself; gradients are with respect
        to the parameters as stored (noise coordinates).
    mask : bool array broadcastable to ``y``, optional
        True where ``y`` is observed. Entries left out (missing data, or
        whole channels with a ``(D,)`` mask) add nothing to the likelihood
        and may hold anything, NaN included. Not with the optimal proposal
        or a noise basis; an encoder reads them as zeros.
    device : {"cpu", "cuda"}
        Where the particle filter and its reverse mode run. ``"cuda"`` needs
        ``pip install "lowrank[cuda]"`` and an NVIDIA GPU; it gives the CPU's
        numbers to floating-point rounding (same draws, drawn here on the
        host). The encoder network runs on the CPU either way.

    Returns
    -------
    SMCResult

    Raises
    ------
    SMCDegeneracyError
        When every particle of a sequence has zero weight at some step.

    Examples
    --------
    >>> model = lowrank.LowRankRNN(n_units=8, rank=2, n_obs=3, seed=0)
    >>> y = model.sample(n_trials=4, n_steps=30, seed=1).y          # (4, 30, 3)
    >>> res = lowrank.smc.elbo(model, y, n_particles=10, seed=0)
    >>> res.elbo.shape, bool(np.isfinite(res.value)), type(res.grad).__name__
    ((4,), True, 'Params')
    >>> res.grad.m.shape == model.params.m.shape
    True
    """
    # Scratch arrays are reused from the thread's previous call unless they are returned.
    alloc = FRESH if return_particles else thread_workspace()
    call = prepare_call(model, y, inputs, options=options, n_particles=n_particles, proposal=proposal,
                        resample=resample, ess_threshold=ess_threshold, seed=seed, grad=grad,
                        return_particles=return_particles, lengths=lengths, draws=draws, noise_basis=noise_basis,
                        mask=mask, alloc=alloc)
    kernels = device_kernels(device)
    rec = _filter(call.args, kernels.forward, alloc)
    grads = _gradient(call, rec, kernels.backward) if call.grad else (None, None)
    return finish_call(call, rec, grads)


class Call(NamedTuple):
    """One checked call of :func:`elbo`, ready for the kernels (:func:`prepare_call`)."""

    args: SMCInputs
    params: Params
    opts: ModelOptions
    encoding: object          # lowrank.inference.encoder.Encoding, or None
    basis: Optional[np.ndarray]
    grad: bool
    with_particles: bool
    alloc: object = FRESH     # where scratch arrays come from (lowrank.inference.workspace)


def prepare_call(model, y, inputs=None, *, options=None, n_particles=10, proposal=None,
                 resample="systematic", ess_threshold=None, seed=0, grad=True,
                 return_particles=False, lengths=None, draws=None, noise_basis=None, mask=None,
                 alloc=FRESH) -> Call:
    """Everything :func:`elbo` does before the kernels (arguments as there): checks, draws, the
    encoder's output, the kernels' arguments. Draws from ``seed`` when it is a Generator.
    ``alloc``: where the draws and the encoder's activations come from (:mod:`.workspace`);
    by default new arrays."""
    params, opts = _resolve_model(model, options)
    params = check_params(params, opts)
    basis = _resolve_basis(model, noise_basis, opts)
    y, u, lengths = _check_data(y, inputs, lengths, opts, mask)
    proposal = default_proposal(opts, proposal, missing=bool(np.isnan(y).any()))
    choices = check_choices(opts, proposal, resample, ess_threshold, n_particles)
    if np.isnan(y).any():
        _check_missing(opts, choices.proposal, basis)
    # Children compile (once per install) what this call runs, so that this process loads it (.warmup).
    ensure_cached(needed_parts(bool(grad), choices.proposal == PROPOSAL_ENCODER))
    if basis is not None:
        y = np.ascontiguousarray(to_noise_coords(basis, y))
    S, T, _ = y.shape
    draws = _draws(draws, seed, S, T, choices.n_particles, opts.rank, alloc)
    encoding = None
    if choices.proposal == PROPOSAL_ENCODER:
        encoding = encode(params.enc, opts.encoder, encoder_input(y), lengths, opts.rank, alloc)
    args = pack(params, opts, y, u, lengths, choices, draws, encoding)
    return Call(args, params, opts, encoding, basis, bool(grad), bool(return_particles), alloc)


def finish_call(call: Call, rec, grads) -> SMCResult:
    """The :class:`SMCResult` of a call from its forward records and gradients."""
    lengths = call.args.seqs.lengths
    total = rec.ell.sum(axis=1)
    if call.basis is not None:
        total = total - lengths * log_abs_det(call.basis)
    return _result(call.args, rec, total, grads, call.with_particles)


def prepare(options: Optional[ModelOptions] = None):
    """Compile (or load from cache) the SMC kernels by running a tiny problem.

    All configurations share one compiled signature (options reach the
    kernels as integer codes), so one call covers every model; ``options``
    only picks the tiny problem.

    Parameters
    ----------
    options : ModelOptions, optional
        The model whose tiny problem is run (default: a small Gaussian one).

    Returns
    -------
    float
        The wall time in seconds (compiling, or loading the compiled kernels from the disk cache).

    Examples
    --------
    >>> seconds = lowrank.smc.prepare()
    >>> seconds >= 0.0
    True
    """
    import time

    from ..model.params import init_params

    opts = options or ModelOptions(n_units=4, rank=2, n_obs=3, activation="relu")
    p = init_params(opts, 0)
    y = np.zeros((1, 2, opts.n_obs))
    u = np.zeros((1, 2, opts.n_inputs)) if opts.n_inputs else None
    t0 = time.perf_counter()
    for prop in valid_proposals(opts):
        elbo(p, y, u, options=opts, n_particles=2, proposal=prop, grad=True)
    return time.perf_counter() - t0


