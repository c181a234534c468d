"""Fitting a low-rank RNN by maximising the variational-SMC ELBO (DESIGN §2).

:func:`fit` is the functional entry (the estimator's ``LowRankRNN.fit``
delegates to it). It validates the settings (:mod:`.settings`), prepares
the data and builds the loss (:class:`~.loss.ElboLoss`), and hands both to
the training loop (:class:`~.trainer.Trainer`). One iteration:

1. (every ``eval_every`` iterations) the held-out ELBO at the current
   parameters, with a fixed seed so that the numbers are comparable across
   iterations;
2. a minibatch (random windows, or whole trials) from the fit's Generator;
3. the ELBO and its gradient (:func:`lowrank.smc.elbo`, draws from the same
   Generator);
4. an Adam/RAdam step on the unconstrained flat parameters against
   ``−grad`` (the optimiser minimises the negative ELBO), with an
   exponentially decaying learning rate and optional gradient-norm clipping;
   the update is kept only if every parameter stays finite.

Randomness order
----------------
All randomness comes from one ``numpy.random.Generator`` built from
``seed``: first the held-out trial split (if ``heldout`` splits trials),
then one integer that seeds every held-out evaluation, then per iteration
the minibatch choice, the augmentation noise (if any), then the SMC draws.
Checkpoints store the Generator's ``bit_generator.state``, the optimiser
state and the exact flat parameter vector, so a fit interrupted (Ctrl-C, a
callback, a crash after a checkpoint) and resumed with ``resume=`` ends
bit-identical to an uninterrupted fit with the same arguments
(:mod:`.resume`).

Best parameters
---------------
With held-out data, "best" means the highest held-out ELBO per step among
the evaluations, including one of the last parameters when the fit stops
(completed, stopped by the callback, interrupted, or stopped by a non-finite
value). Without, it means the parameters at the iteration where the
bias-corrected exponential moving average (decay 0.95, about the last 20
iterations) of the training ELBO peaked. Ctrl-C and ``on_nonfinite="stop"``
restore the best parameters; ``restore_best=True`` does so at the end of a
completed run too.

Stopping early
--------------
Ctrl-C stops cleanly: the iteration in progress is rolled back, a
checkpoint is written if ``checkpoint`` is set (with the current, not the
best, state so that resuming is exact), the current parameters are
evaluated on held-out data, the best parameters are put on the model, and
``fit`` returns with ``stop_reason="interrupted"``.

A non-finite ELBO or gradient, an update that leaves any parameter
non-finite (or a leak saturated at 1, a scale underflowed to 0), and
degenerate SMC (``lowrank.smc.SMCDegeneracyError``, every particle dead)
are never kept: the iteration is rolled back. With ``on_nonfinite="stop"``
the fit then ends like an interruption, with ``stop_reason="nonfinite"``.
With ``on_nonfinite="raise"`` (the default) the fit raises
:class:`~lowrank.FitError` (a ``FloatingPointError``; the ``FloatingPointError`` or
``SMCDegeneracyError`` is its ``cause``), ``model.params`` holds the parameters
from before the failed iteration, no checkpoint is written at that point
(an earlier one stays as it was: checkpoints are never written with
non-finite parameters), and the exception carries

- ``iteration`` (int): the iteration that failed, 0-based; it equals the
  number of updates kept;
- ``history`` (History): those updates, ``stop_reason="nonfinite"``,
  ``final_val_elbo`` the held-out ELBO of the kept parameters (NaN without
  held-out data);
- ``best_params`` (Params, finite and valid): the best parameters so far (as
  above, with the kept parameters evaluated on held-out data), or the kept
  parameters when there is no best yet.

Noise augmentation
------------------
``augment_noise`` adds white Gaussian noise of that standard deviation
afresh to every training batch (Gaussian likelihood only; held-out data is
left clean). Use it when the recording was low-pass filtered before it
reached you: a white-noise observation model cannot describe the temporally
correlated residual that smoothing leaves, and the fit then explains it with
slow, near-deterministic latent dynamics that generate far too much
low-frequency power. Noise restores a broadband residual for the
observation model to absorb (the fitted ``sigma`` becomes about
``sqrt(sigma**2 + augment_noise**2)``); compare generated data with the
recording after smoothing it the same way. For data smoothed by a
normalised Hann window of width w, ``sigma_fit / sqrt(sum(h^2) / sum(h)^2)``
(0.327 for w = 15), with ``sigma_fit`` from a fit without noise, is a
natural choice. 0 (every entry) is the same as None: no draws. For a model
with a ``noise_basis`` ``S`` the noise is ``S (augment_noise ⊙ ε)``: white
in the noise coordinates, shaped like the model's own observation noise
(see :func:`lowrank.residual_noise_basis`).
"""
from __future__ import annotations

import functools
import warnings

import numpy as np

from .._checks import json_seed
from ..data.layout import eval_sequences, prepare_data, split_heldout
from ..inference.device import device_kernels
from ..model.noise_basis import check_noise_basis, log_abs_det, to_noise_coords
from ..model.options import ModelOptions
from ..model.params import check_params, to_flat
from .batches import Batcher
from .history import FitResult, History
from .init import data_init
from .loss import ElboLoss, HeldOut
from .resume import Fingerprints, check_resume, fingerprint, load_state, save_state
from .provenance import fit_provenance
from .settings import check_settings
from .trainer import Trainer
from .unflatten import Unflatten

__all__ = ["fit", "FitResult", "History"]

_fingerprint = fingerprint          # the name older tests and scripts import


def fit(model, y, inputs=None, *, mask=None, y_val=None, inputs_val=None, callback=None, verbose=1, seed=None,
        checkpoint=None, resume=None, device="cpu", **settings) -> FitResult:
    """Fit a low-rank RNN to data by stochastic gradient ascent on the SMC ELBO.

    Parameters
    ----------
    model : LowRankRNN or object with ``.params`` and ``.options`` (and optionally ``.noise_basis``, ``.seed``)
        Starting point; its ``params`` are replaced by the fitted ones.
    y : ndarray (n_trials, T, D) or (T, D), or list of (T_i, D) arrays
        Trials, one continuous recording (cut into random windows), or trials of different lengths.
    inputs : same layout as ``y`` with U columns, optional
        Required iff the model has inputs.
    mask : bool array broadcastable to ``y`` (or to each trial), or list of per-trial masks, optional
        True where ``y`` is observed; the rest (missing data, NaN allowed) is left out of the likelihood,
        also in trials split off by ``heldout``. Not with the optimal proposal (the default proposal
        becomes ``"bootstrap"``) or a noise basis.
    y_val, inputs_val : optional
        Explicit held-out data (same layouts). Exclusive with ``heldout``.
    heldout : float in (0, 1), optional
        Fraction held out for monitoring: random trials, or the last part of
        a continuous recording (see :func:`lowrank.data.split_heldout`).
    n_particles : int, default 10
    proposal : {"optimal", "bootstrap", "encoder"}, optional
        Default: the model's (``options.default_proposal``): ``"encoder"`` for a model with an encoder (whose
        network is then trained with the rest), else ``"optimal"`` for a linear-Gaussian read-out, else ``"bootstrap"``.
    resample : {"systematic", "stratified", "multinomial", "none"}, default "systematic"
    ess_threshold : float in (0, 1], optional
        Resample only when the ESS falls below ``ess_threshold * K``.
    batch_size : int, default 10
    window : int or None, default 50 (Poisson: 100)
        Length of the random training windows; None trains on whole trials, and so does the default when the
        trials are no longer than it. Held-out data is evaluated on consecutive windows of the same length.
    drop_last : bool, default False (whole trials: drop each epoch's incomplete last batch)
    augment_noise : float or ndarray (D,), optional
        Std of white Gaussian noise added afresh to every training batch, for low-pass filtered recordings.
    n_iter, n_epochs : int, optional
        Number of updates, or of epochs (``n_iter = n_epochs × batches_per_epoch``). Neither: 1000 updates.
    batches_per_epoch : int, optional
        Overrides :meth:`Batcher.batches_per_epoch` (the reference's EEG runs used 50).
    init : {"data", "random"}, default "data"
        Where a new model starts: ``"data"`` from the principal components of the training data and a
        ridge regression of the dynamics on them (:mod:`lowrank.training.init`); ``"random"`` from its
        seeded initialisation. A model whose parameters were fitted, loaded or assigned (and a resumed
        fit) always starts from its parameters.
    optimizer : {"adam", "radam"}, default "adam"
    lr : float, default 1e-3
    lr_end : float, optional
        Learning rate of the last update: ``lr_i = lr (lr_end / lr)^{i / (n_iter − 1)}``. Default ``lr``.
    encoder_lr : float, optional
        Learning rate of the encoder network's weights, decayed like ``lr``. Default ``lr / 10``: Adam
        moves every weight by about ``lr`` per update, and at an ``lr`` fit for the RNN (1e-2) the network's
        ~10⁵ weights moving together can throw its variances across orders of magnitude in a few updates.
    betas, adam_eps : (float, float), float; default (0.9, 0.999), 1e-8
    clip_grad_norm : float, optional
        Rescale the gradient to this Euclidean norm when it is larger.
    eval_every : int, default 50
        Held-out evaluation period (iterations 0, eval_every, ..., and once when the fit stops).
    eval_particles : int, optional
        Particles of the held-out evaluations (default ``n_particles``).
    restore_best : bool, default False
        At the end of a completed (or callback-stopped) run, put the best parameters on the model, not the last.
    on_nonfinite : {"raise", "stop"}, default "raise"
        After a non-finite ELBO, gradient or updated parameter (rolled back either way): raise
        ``FloatingPointError`` (below), or stop and return the best parameters (``stop_reason="nonfinite"``).
    callback : callable, optional
        ``callback(iteration, model, info)`` after each update, with ``model.params`` already updated and ``info`` a
        dict (``elbo``, ``val_elbo``, ``lr``, ``grad_norm``, ``time``, ``best_elbo``). Returning True stops the fit.
    verbose : int, default 1
        1: progress on stderr (first a line saying that the kernels compile); 0: silent.
    seed : int, Generator or None
        Turned into a ``numpy.random.Generator`` here. None: the model's ``seed`` attribute if it has one.
    checkpoint : path, optional
        A loadable model file, written every ``checkpoint_every`` updates and when the fit returns (finite only).
    checkpoint_every : int, optional
        Default: only when the fit returns.
    resume : path, optional
        Continue from a checkpoint written by an earlier call with the same arguments.
    device : {"cpu", "cuda"}, default "cpu" (where the particle filter runs; the same numbers either way)

    Returns
    -------
    FitResult
        Also after Ctrl-C (``stop_reason="interrupted"``, see "Stopping early" above).

    Raises
    ------
    ValueError, TypeError
        Bad data or settings, before any compute.
    FitError
        (``on_nonfinite="raise"``) A non-finite ELBO, gradient or updated parameter, or ``SMCDegeneracyError``
        (its ``cause``). ``model.params`` keeps the parameters from before the failed iteration; the exception
        carries ``iteration``, ``history`` and ``best_params`` (see "Stopping early" above).

    Examples
    --------
    >>> model, data = lowrank.LowRankRNN(n_units=20, rank=2, n_obs=20, readout="units"), lowrank.teachers.get("oscillator").dataset(40)
    >>> res = lowrank.fit(model, data.y, window=None, n_iter=20, lr=1e-2, heldout=0.25, eval_every=10, verbose=0)
    >>> res.n_iter, res.stop_reason, bool(np.isfinite(res.best_elbo))
    (20, 'completed', True)
    """
    opts, params, basis = _check_model(model)
    s = check_settings(opts, checkpoint=checkpoint,
                       **dict(settings, proposal=_default_proposal(opts, settings.get("proposal"), mask)))
    _check_sources(callback, settings.get("heldout"), y_val, inputs_val, device)
    rng = np.random.default_rng(getattr(model, "seed", None) if seed is None else seed)
    loss, s, prints, train = _build_loss(opts, basis, s, rng, (y, inputs),
                                         None if y_val is None else (y_val, inputs_val), mask, device,
                                         default_window="window" not in settings)
    if s.init == "data" and resume is None and getattr(model, "_params_are_initial", False):
        params = data_init(params, opts, train.y, train.u, train.lengths)
    theta0 = to_flat(params, opts)
    writer = None if checkpoint is None else functools.partial(
        save_state, checkpoint, opts, seed=json_seed(getattr(model, "seed", None)), noise_basis=basis)
    _record_provenance(model, s, seed, y, inputs, y_val)
    identity = {"settings": s.trajectory(), "fingerprints": prints.identity()}
    trainer = Trainer(model, loss, s, rng, theta0, Unflatten(opts), writer, identity, verbose)
    if resume is not None:
        _resume(trainer, resume, opts, identity, prints, s.n_iter)
    return trainer.run(callback)


def _default_proposal(opts, proposal, mask):
    if mask is not None and proposal is None and opts.default_proposal == "optimal":
        return "bootstrap"       # the optimal proposal needs every observation of a step
    return proposal


def _resume(trainer, path, opts, identity, prints, n_iter):
    file, state = load_state(path)
    check_resume(path, file, state, opts, identity["settings"], prints, n_iter, stacklevel=3)
    trainer.resume(state)


def _record_provenance(model, settings, seed, y, inputs, y_val):
    """``model.provenance_``: the fit's record (:mod:`.provenance`), where the model takes attributes
    (``save`` writes it). ``seed`` None is the model's seed, as for the fit's Generator."""
    seed = getattr(model, "seed", None) if seed is None else seed
    try:
        model.provenance_ = fit_provenance(settings, seed, y, inputs, y_val)
    except AttributeError:
        pass


def _check_sources(callback, heldout, y_val, inputs_val, device="cpu"):
    if isinstance(device, str):
        device_kernels(device)        # a missing numba-cuda or GPU is reported before any work
    elif not callable(getattr(device, "elbo", None)):
        raise TypeError(f"device must be 'cpu' or 'cuda'; got {type(device).__name__}")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable; got {type(callback).__name__}")
    if heldout is not None and y_val is not None:
        raise ValueError("give heldout (a fraction split off y) or y_val, not both")
    if y_val is None and inputs_val is not None:
        raise ValueError("inputs_val was given without y_val")


def _check_model(model):
    """``(options, parameters, noise basis or None)`` of a model, checked."""
    if not (hasattr(model, "params") and hasattr(model, "options")):
        raise TypeError(f"model must have .params and .options (e.g. a LowRankRNN); got {type(model).__name__}")
    opts = model.options
    if not isinstance(opts, ModelOptions):
        raise TypeError(f"model.options must be a ModelOptions; got {type(opts).__name__}")
    params = check_params(model.params, opts)
    return opts, params, check_noise_basis(getattr(model, "noise_basis", None), opts)


def _build_loss(opts, basis, s, rng, train, val, mask=None, device="cpu", default_window=False):
    """Validate the data, map it to noise coordinates, split off held-out data; the loss on top.

    Returns ``(loss, settings with n_iter resolved, fingerprints of the data and basis, training data)``.
    Draws from ``rng``: the held-out trial split (if ``heldout`` splits trials), then the evaluation seed.
    """
    data = prepare_data(*train, opts, mask=mask)
    if default_window and s.window is not None and s.window >= int(data.lengths.max()):
        s = s._replace(window=None)      # a default window longer than the trials: the whole trials
    if mask is not None and np.isnan(data.y).any():
        if basis is not None:
            raise ValueError("mask: missing values need a read-out without a noise basis (noise coordinates mix "
                             "the channels)")
        if s.proposal == "optimal":
            raise ValueError("proposal='optimal' needs every observation of a step; with missing values (mask=) "
                             "use proposal='bootstrap' or 'encoder'")
    val_data = prepare_data(*val, opts, "y_val", "inputs_val") if val is not None else None
    data_print = fingerprint(data.y, data.u, data.lengths)
    # With a noise basis, train in its coordinates once rather than mapping every batch: the same
    # objective (the augmentation S(s ε) becomes s ε there) with the Jacobian added to the values.
    if basis is not None:
        data = data._replace(y=to_noise_coords(basis, data.y))
        if val_data is not None:
            val_data = val_data._replace(y=to_noise_coords(basis, val_data.y))
    if s.heldout is not None:
        # The first draw of the Generator (trials only); a resumed fit redraws it from the same seed.
        data, val_data = split_heldout(data, s.heldout, rng, s.window)
    batcher = Batcher(data, s.batch_size, s.window, s.drop_last)
    if batcher.window is not None and batcher.n_skipped:
        warnings.warn(f"{batcher.n_skipped} training trial(s) are shorter than window={s.window} and are "
                      f"never drawn; use window=None to train on whole trials", stacklevel=3)
    s = s.resolve_n_iter(batcher.batches_per_epoch())
    held = None
    if val_data is not None:
        yv, uv, lv = eval_sequences(val_data, s.window)
        held = HeldOut(yv, uv if opts.n_inputs else None, lv)
    loss = ElboLoss(opts, s, batcher, held, int(rng.integers(2**63)), log_abs_det(basis), device)
    # Older checkpoints hashed the training sequences in noise coordinates together with the basis.
    legacy = functools.partial(fingerprint, data.y, data.u, data.lengths, *(() if basis is None else (basis,)))
    return loss, s, Fingerprints(data_print, None if basis is None else fingerprint(basis), legacy), data
