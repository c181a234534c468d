"""Fitting a low-rank RNN by maximising the variational-SMC ELBO (DESIGN §2).

:func:`fit` is the functional entry (the estimator's ``LowRankRNN.fit``
delegates to it). One iteration:

1. (every ``eval_every`` iterations) the held-out ELBO at the current
   parameters, with a fixed seed so that the numbers are comparable across
   iterations;
2. a minibatch (random windows, or whole trials) from the fit's Generator;
3. the ELBO and its gradient (:func:`lowrank.smc.elbo`, draws from the same
   Generator);
4. an Adam/RAdam step on the unconstrained flat parameters against
   ``−grad`` (the optimiser minimises the negative ELBO), with an
   exponentially decaying learning rate and optional gradient-norm clipping.

Randomness order
----------------
All randomness comes from one ``numpy.random.Generator`` built from
``seed``: first the held-out trial split (if ``heldout`` splits trials),
then one integer that seeds every held-out evaluation, then per iteration
the minibatch choice followed by the SMC draws. Checkpoints store the
Generator's ``bit_generator.state``, the optimiser state and the exact flat
parameter vector, so a fit interrupted (Ctrl-C, a callback, a crash after a
checkpoint) and resumed with ``resume=`` ends bit-identical to an
uninterrupted fit with the same arguments.

Best parameters
---------------
With held-out data, "best" means the highest held-out ELBO per step among
the evaluations (including a final one after the last update). Without,
it means the parameters at the iteration where the bias-corrected
exponential moving average (decay 0.95, about the last 20 iterations) of
the training ELBO peaked. Ctrl-C always restores the best parameters;
``restore_best=True`` does so at the end of a completed run too.
"""
from __future__ import annotations

import hashlib
import math
import numbers
import sys
import time
import warnings
from typing import NamedTuple

import numpy as np

from ..model.noise_basis import check_noise_basis, log_abs_det, to_noise_coords
from ..model.options import ModelOptions
from ..model.params import Params, block_shapes, check_params, flat_slices, n_params, to_flat
from .checkpoint import load_checkpoint, rng_from_state, save_checkpoint
from ..data.layout import eval_sequences, prepare_data, split_heldout
from .batches import Batcher
from .optim import OPTIMIZERS, make_optimizer

__all__ = ["fit", "FitResult", "History"]

EMA_DECAY = 0.95
# Settings that change the trajectory of a fit; resuming with other values warns.
_TRAJECTORY_SETTINGS = ("n_particles", "proposal", "resample", "ess_threshold", "batch_size", "window",
                        "drop_last", "n_iter", "optimizer", "lr", "lr_end", "betas", "adam_eps",
                        "clip_grad_norm", "eval_every", "eval_particles", "heldout", "augment_noise")


class History(NamedTuple):
    """Per-iteration record of a fit (iteration ``i`` uses the parameters before update ``i``).

    Attributes
    ----------
    train_elbo : ndarray, shape (n_iter,)
        Mean per-step ELBO of the minibatch.
    val_elbo : ndarray, shape (n_iter,)
        Held-out ELBO per step where evaluated, NaN elsewhere (all NaN without held-out data).
    lr : ndarray, shape (n_iter,)
        Learning rate of the update.
    grad_norm : ndarray, shape (n_iter,)
        Euclidean norm of the ELBO gradient w.r.t. the flat parameters, before clipping.
    time : ndarray, shape (n_iter,)
        Seconds since the fit started (summed over resumed runs) at the end of the iteration.
    final_val_elbo : float
        Held-out ELBO after the last update (NaN if none).
    stop_reason : str
        ``"completed"``, ``"callback"``, ``"interrupted"`` (Ctrl-C; best parameters restored)
        or ``"nonfinite"``.
    """

    train_elbo: np.ndarray
    val_elbo: np.ndarray
    lr: np.ndarray
    grad_norm: np.ndarray
    time: np.ndarray
    final_val_elbo: float = float("nan")
    stop_reason: str = "completed"

    _ARRAYS = ("train_elbo", "val_elbo", "lr", "grad_norm", "time")

    def to_extra(self, prefix="history/"):
        """The history as ``{name: ndarray}`` for ``model.save(path, extra=...)``."""
        out = {prefix + k: np.asarray(getattr(self, k)) for k in self._ARRAYS}
        out[prefix + "final_val_elbo"] = np.array(self.final_val_elbo)
        out[prefix + "stop_reason"] = np.array(self.stop_reason)
        return out

    @classmethod
    def from_extra(cls, extra, prefix="history/"):
        """Inverse of :meth:`to_extra` (e.g. from ``lowrank.LowRankRNN.load(..., with_extra=True)``)."""
        arrays = {k: np.array(extra[prefix + k], dtype=np.float64) for k in cls._ARRAYS}
        return cls(**arrays, final_val_elbo=float(extra[prefix + "final_val_elbo"]),
                   stop_reason=str(extra[prefix + "stop_reason"][()]))


class FitResult(NamedTuple):
    """Returned by :func:`fit`.

    Attributes
    ----------
    model : the fitted model (the object passed in, its ``params`` updated)
    history : History
    n_iter : int
        Iterations completed (including those of a resumed run).
    best_elbo : float
        Best held-out ELBO per step, or best training-ELBO moving average (see the module docstring).
    best_iteration : int
        Iteration whose parameters gave ``best_elbo`` (``n_iter`` for the final held-out evaluation).
    best_source : str
        ``"heldout"`` or ``"train_ema"``.
    stop_reason : str
    """

    model: object
    history: History
    n_iter: int
    best_elbo: float
    best_iteration: int
    best_source: str
    stop_reason: str


class _Unflatten:
    """``from_flat`` for plain ndarrays without autograd's dispatch overhead.

    Same operations in the same order as :func:`lowrank.model.params.from_flat`
    (so bit-identical results, checked in the tests), about 5× cheaper, which
    matters at ~1e4 updates per minute.
    """

    def __init__(self, opts: ModelOptions):
        self.opts = opts
        self.shapes = block_shapes(opts)
        self.slices = flat_slices(opts)
        R = opts.rank
        self.diag = np.arange(R)
        self.tril = np.tril_indices(R, -1)

    def _chol(self, v, kind):
        R = self.opts.rank
        L = np.zeros((R, R))
        L[self.diag, self.diag] = np.exp(v[:R])
        if kind == "full":
            L[self.tril] = v[R:]
        return L

    def __call__(self, theta) -> Params:
        o, sh, sl = self.opts, self.shapes, self.slices
        a = 1.0 / (1.0 + np.exp(-theta[sl["a"]]))
        if o.shared_leak:
            a = a * np.ones(o.rank)
        return Params(
            m=theta[sl["m"]].reshape(sh["m"]).copy(), n=theta[sl["n"]].reshape(sh["n"]).copy(),
            h=theta[sl["h"]].copy(), a=a, W_u=theta[sl["W_u"]].reshape(sh["W_u"]).copy(),
            L_z=self._chol(theta[sl["L_z"]], o.noise), mu0=theta[sl["mu0"]].copy(),
            L_0=self._chol(theta[sl["L_0"]], o.init_noise), W=theta[sl["W"]].reshape(sh["W"]).copy(),
            b=theta[sl["b"]].copy(), W_v=theta[sl["W_v"]].reshape(sh["W_v"]).copy(),
            gain=theta[sl["gain"]].copy(), sigma=np.exp(theta[sl["sigma"]]))


class _Progress:
    """Progress on stderr.

    On a terminal: one status line rewritten in place at most every
    ``interval`` seconds (0.25). Elsewhere (a log file, a cluster job's
    output): a new line at most every ``interval`` seconds (10), so that the
    log stays readable instead of filling with carriage returns.
    """

    def __init__(self, n_iter, start_iter, verbose, interval=None, stream=None):
        self.n_iter, self.start_iter = n_iter, start_iter
        self.verbose = verbose
        self.stream = stream or sys.stderr
        try:
            self.tty = bool(self.stream.isatty())
        except (AttributeError, ValueError):
            self.tty = False
        self.interval = (0.25 if self.tty else 10.0) if interval is None else interval
        self.t0 = time.perf_counter()
        self.last = -math.inf
        self.width = 0

    def update(self, i_done, elbo, val, lr, force=False):
        if not self.verbose:
            return
        now = time.perf_counter()
        if not force and now - self.last < self.interval:
            return
        self.last = now
        done = i_done - self.start_iter
        rate = done / (now - self.t0) if now > self.t0 and done > 0 else float("nan")
        left = self.n_iter - i_done
        eta = left / rate if rate > 0 else float("nan")
        val_s = f"{val:.4f}" if np.isfinite(val) else "—"
        line = (f"iter {i_done}/{self.n_iter}  elbo/step {elbo:.4f}  held-out {val_s}  lr {lr:.2e}  "
                f"{rate:.1f} it/s  ETA {_hms(eta)}")
        if self.tty:
            pad = max(self.width - len(line), 0)
            self.stream.write("\r" + line + " " * pad)
        else:
            self.stream.write(line + "\n")
        self.width = len(line) if self.tty else 0
        self.stream.flush()

    def close(self, message=None):
        if not self.verbose:
            return
        if self.width:
            self.stream.write("\n")
        if message:
            self.stream.write(message + "\n")
        self.stream.flush()


def _hms(sec):
    if not np.isfinite(sec):
        return "?"
    sec = int(round(sec))
    return f"{sec // 3600}:{sec % 3600 // 60:02d}:{sec % 60:02d}"


def _check_pos_int(name, value, allow_none=False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1{' or None' if allow_none else ''}; got {value!r}")
    return int(value)


def _check_pos_float(name, value, allow_none=False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (np.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0{' or None' if allow_none else ''}; got {value!r}")
    return float(value)


def _check_augment_noise(value, opts):
    """None, or a float64 array broadcastable to (D,) of finite values >= 0."""
    if value is None:
        return None
    if opts.likelihood != "gaussian":
        raise ValueError(f"augment_noise needs a Gaussian likelihood (noise would make counts non-integer); "
                         f"this model's likelihood is {opts.likelihood!r}")
    if isinstance(value, (bool, str, bytes)) or not (isinstance(value, numbers.Real) or hasattr(value, "__len__")):
        raise TypeError(f"augment_noise must be a number >= 0 or an array of shape (n_obs,); "
                        f"got {type(value).__name__}")
    try:
        a = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"augment_noise must be a number >= 0 or an array of shape (n_obs,); "
                        f"got {type(value).__name__}") from None
    if a.ndim > 1 or (a.ndim == 1 and a.shape[0] != opts.n_obs):
        raise ValueError(f"augment_noise must be a number or have shape ({opts.n_obs},) (n_obs); got shape {a.shape}")
    if not np.all(np.isfinite(a)) or np.any(a < 0):
        raise ValueError(f"augment_noise must be finite and >= 0; got {value!r}")
    if not np.any(a):
        return None
    # One canonical form, so that a scalar and the same value per channel compare equal on resume.
    return np.broadcast_to(a, (opts.n_obs,)).copy()


def _fingerprint(*arrays):
    h = hashlib.sha1()
    for a in arrays:
        h.update(str(a.shape).encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def _changed_inputs(meta, fingerprint, basis_fingerprint, legacy_fingerprint):
    """What of the training data and the noise basis differs from a checkpoint's fit.

    ``fingerprint`` hashes the data as given (data space), ``basis_fingerprint`` the basis (None
    without one); older checkpoints hold only the hash that ``legacy_fingerprint()`` computes,
    of the training sequences in noise coordinates together with the basis.
    """
    if "basis_fingerprint" not in meta:
        return [] if meta.get("fingerprint") == legacy_fingerprint() else ["training data or noise basis"]
    changed = [] if meta.get("fingerprint") == fingerprint else ["training data"]
    if meta["basis_fingerprint"] != basis_fingerprint:
        changed.append("noise basis")
    return changed


def fit(model, y, inputs=None, *, y_val=None, inputs_val=None, heldout=None,
        n_particles=10, proposal=None, resample="systematic", ess_threshold=None,
        batch_size=10, window=50, drop_last=False, augment_noise=None, n_iter=None, n_epochs=None,
        batches_per_epoch=None, optimizer="adam", lr=1e-3, lr_end=None, betas=(0.9, 0.999), adam_eps=1e-8,
        clip_grad_norm=None,
        eval_every=50, eval_particles=None, restore_best=False, callback=None, verbose=1, seed=None,
        checkpoint=None, checkpoint_every=None, resume=None) -> FitResult:
    """Fit a low-rank RNN to data by stochastic gradient ascent on the SMC ELBO.

    Parameters
    ----------
    model : LowRankRNN or object with ``.params`` and ``.options``
        Starting point; its ``params`` are replaced by the fitted ones.
    y : ndarray (n_trials, T, D) or (T, D), or list of (T_i, D) arrays
        Trials, one continuous recording (cut into random windows), or
        trials of different lengths. Validated once, here.
    inputs : same layout as ``y`` with U columns, optional
        Required iff the model has inputs.
    y_val, inputs_val : optional
        Explicit held-out data (same layouts). Exclusive with ``heldout``.
    heldout : float in (0, 1), optional
        Fraction held out for monitoring: random trials, or the last part of
        a continuous recording (see :func:`lowrank.data.split_heldout`).
    n_particles : int, default 10
        ``K`` for training.
    proposal : {"optimal", "bootstrap"}, optional
        Default ``"optimal"`` when the read-out is linear-Gaussian, else ``"bootstrap"``.
    resample : {"systematic", "stratified", "multinomial", "none"}, default "systematic"
    ess_threshold : float in (0, 1], optional
        Resample only when the ESS falls below ``ess_threshold * K``.
    batch_size : int, default 10
    window : int or None, default 50
        Length of the random training windows; None trains on whole trials.
        Held-out data is evaluated on consecutive windows of the same length.
    drop_last : bool, default False
        Whole-trial mode: drop each epoch's incomplete last batch.
    augment_noise : float or ndarray (D,), optional
        Standard deviation of white Gaussian noise added afresh to every
        training batch (Gaussian likelihood only; held-out data is left
        clean). Use it when the recording was low-pass filtered before it
        reached you: a white-noise observation model cannot describe the
        temporally correlated residual that smoothing leaves, and the fit
        then explains it with slow, near-deterministic latent dynamics that
        generate far too much low-frequency power. Noise restores a broadband
        residual for the observation model to absorb (the fitted ``sigma``
        becomes about ``sqrt(sigma**2 + augment_noise**2)``); compare
        generated data with the recording after smoothing it the same way. For data smoothed by a normalised
        Hann window of width w, ``sigma_fit / sqrt(sum(h^2) / sum(h)^2)``
        (0.327 for w = 15), with ``sigma_fit`` from a fit without noise, is a
        natural choice. The draws come from the fit's Generator (after the
        batch's), so results stay reproducible and resumable. 0 (every
        entry) is the same as None: no draws. For a model with a
        ``noise_basis`` ``S`` the noise is ``S (augment_noise ⊙ ε)``: white
        in the noise coordinates, shaped like the model's own observation
        noise (see :func:`lowrank.residual_noise_basis`).
    n_iter, n_epochs : int, optional
        Number of updates, or of epochs (``n_iter = n_epochs × batches_per_epoch``).
        Neither: 1000 updates.
    batches_per_epoch : int, optional
        Overrides :meth:`Batcher.batches_per_epoch` (the reference's EEG runs used 50).
    optimizer : {"adam", "radam"}, default "adam"
    lr : float, default 1e-3
    lr_end : float, optional
        Learning rate of the last update; the rate decays exponentially,
        ``lr_i = lr (lr_end / lr)^{i / (n_iter − 1)}``. Default ``lr`` (no
        decay). The EEG protocol uses ``lr=1e-3, lr_end=1e-6``.
    betas : (float, float), default (0.9, 0.999)
    adam_eps : float, default 1e-8
    clip_grad_norm : float, optional
        Rescale the gradient to this Euclidean norm when it is larger.
    eval_every : int, default 50
        Held-out evaluation period (iterations 0, eval_every, ..., and once after the last update).
    eval_particles : int, optional
        Particles of the held-out evaluations (default ``n_particles``).
    restore_best : bool, default False
        At the end of a completed (or callback-stopped) run, put the best
        parameters (module docstring) on the model instead of the last ones.
    callback : callable, optional
        ``callback(iteration, model, info)`` after each update, with
        ``model.params`` already updated and ``info`` a dict (``elbo``,
        ``val_elbo``, ``lr``, ``grad_norm``, ``time``, ``best_elbo``).
        Returning True stops the fit.
    verbose : int, default 1
        1: one progress line on stderr updated in place; 0: silent.
    seed : int, Generator or None
        Turned into a ``numpy.random.Generator`` here. None: the model's
        ``seed`` attribute if it has one.
    checkpoint : path, optional
        Checkpoint file (written every ``checkpoint_every`` iterations and
        when the fit stops for any reason but a non-finite value).
    checkpoint_every : int, optional
        Default: only when the fit stops.
    resume : path, optional
        Continue from a checkpoint written by an earlier call with the same
        arguments; the model's parameters, the optimiser, the Generator and
        the history are taken from the file.

    Returns
    -------
    FitResult

    Raises
    ------
    ValueError, TypeError
        Bad data or settings, before any compute.
    FloatingPointError
        A non-finite ELBO or gradient (naming the iteration); the model keeps
        the parameters from before that iteration, and the exception carries
        ``.history``. ``lowrank.smc.SMCDegeneracyError`` (a subclass) likewise.

    Notes
    -----
    Ctrl-C stops cleanly: the iteration in progress is rolled back, a
    checkpoint is written if ``checkpoint`` is set (with the current, not the
    best, state so that resuming is exact), the best parameters are put on
    the model, and the function returns with ``stop_reason="interrupted"``.
    """
    from ..inference import elbo as smc

    # ---- validation (all before any compute) --------------------------------------------------
    if not (hasattr(model, "params") and hasattr(model, "options")):
        raise TypeError(f"model must have .params and .options (e.g. a LowRankRNN); got {type(model).__name__}")
    opts = model.options
    if not isinstance(opts, ModelOptions):
        raise TypeError(f"model.options must be a ModelOptions; got {type(opts).__name__}")
    params0 = check_params(model.params, opts)
    basis = check_noise_basis(getattr(model, "noise_basis", None), opts)
    n_particles = _check_pos_int("n_particles", n_particles)
    eval_particles = _check_pos_int("eval_particles", eval_particles, allow_none=True) or n_particles
    if proposal is None:
        proposal = "optimal" if opts.linear_gaussian_readout else "bootstrap"
    smc._check_choices(opts, proposal, resample, ess_threshold, n_particles)
    batch_size = _check_pos_int("batch_size", batch_size)
    window = _check_pos_int("window", window, allow_none=True)
    eval_every = _check_pos_int("eval_every", eval_every)
    lr = _check_pos_float("lr", lr)
    lr_end = _check_pos_float("lr_end", lr_end, allow_none=True)
    lr_end = lr if lr_end is None else lr_end
    clip_grad_norm = _check_pos_float("clip_grad_norm", clip_grad_norm, allow_none=True)
    augment_noise = _check_augment_noise(augment_noise, opts)
    checkpoint_every = _check_pos_int("checkpoint_every", checkpoint_every, allow_none=True)
    if not isinstance(optimizer, str) or optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)}; got {optimizer!r}")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable; got {type(callback).__name__}")
    if checkpoint_every is not None and checkpoint is None:
        raise ValueError("checkpoint_every needs checkpoint=path")
    if n_iter is not None and n_epochs is not None:
        raise ValueError("give n_iter or n_epochs, not both")
    if heldout is not None and y_val is not None:
        raise ValueError("give heldout (a fraction split off y) or y_val, not both")
    if y_val is None and inputs_val is not None:
        raise ValueError("inputs_val was given without y_val")
    betas = tuple(float(b) for b in betas)

    data = prepare_data(y, inputs, opts)
    val_data = prepare_data(y_val, inputs_val, opts, "y_val", "inputs_val") if y_val is not None else None
    fingerprint = _fingerprint(data.y, data.u, data.lengths)
    basis_fingerprint = None if basis is None else _fingerprint(basis)
    # With a noise basis, train in its coordinates once rather than mapping every batch: the same
    # objective (the augmentation S(s ε) becomes s ε there) with the Jacobian added to the values.
    jacobian = log_abs_det(basis)
    if basis is not None:
        data = data._replace(y=to_noise_coords(basis, data.y))
        if val_data is not None:
            val_data = val_data._replace(y=to_noise_coords(basis, val_data.y))
    rng = np.random.default_rng(getattr(model, "seed", None) if seed is None else seed)
    if heldout is not None:
        # The first draw of the Generator (trials only); a resumed fit redraws it from the same seed.
        data, val_data = split_heldout(data, heldout, rng, window)
    batcher = Batcher(data, batch_size, window, drop_last)
    if batcher.window is not None and batcher.n_skipped:
        warnings.warn(f"{batcher.n_skipped} training trial(s) are shorter than window={window} and are "
                      f"never drawn; use window=None to train on whole trials", stacklevel=2)
    if n_iter is None:
        n_iter = 1000 if n_epochs is None else _check_pos_int("n_epochs", n_epochs) * (
            _check_pos_int("batches_per_epoch", batches_per_epoch, allow_none=True) or batcher.batches_per_epoch())
    n_iter = _check_pos_int("n_iter", n_iter)
    if val_data is not None:
        yv, uv, lv = eval_sequences(val_data, window)
        uv = uv if opts.n_inputs else None
    eval_seed = int(rng.integers(2**63))
    U = opts.n_inputs

    settings = dict(n_particles=n_particles, proposal=proposal, resample=resample, ess_threshold=ess_threshold,
                    batch_size=batch_size, window=window, drop_last=bool(drop_last),
                    augment_noise=None if augment_noise is None else augment_noise.tolist(), n_iter=n_iter,
                    optimizer=optimizer, lr=lr, lr_end=lr_end, betas=list(betas), adam_eps=adam_eps,
                    clip_grad_norm=clip_grad_norm, eval_every=eval_every, eval_particles=eval_particles,
                    heldout=heldout)
    # ---- state ---------------------------------------------------------------------------------
    P = n_params(opts)
    unflatten = _Unflatten(opts)
    opt = make_optimizer(optimizer, P, beta1=betas[0], beta2=betas[1], eps=adam_eps)
    opt_snap = make_optimizer(optimizer, P, beta1=betas[0], beta2=betas[1], eps=adam_eps)
    hist = {k: np.full(n_iter, np.nan) for k in History._ARRAYS}
    track = {"best": -math.inf, "best_iter": -1, "best_theta": None, "ema": 0.0, "ema_n": 0}
    start, time_offset = 0, 0.0
    if resume is not None:
        ck_model, arrays, meta = load_checkpoint(resume)
        if ck_model.options != opts:
            raise ValueError(f"checkpoint {resume!s} is for a model with options {ck_model.options}; "
                             f"this model has {opts}")
        theta = np.array(arrays["ckpt/theta"], dtype=np.float64)
        opt.load_state_dict({k: arrays["ckpt/opt/" + k] for k in ("t", "m", "v", "hyper")})
        rng = rng_from_state(meta["rng_state"])
        batcher.load_state_dict({k[len("ckpt/batcher/"):]: v for k, v in arrays.items()
                                 if k.startswith("ckpt/batcher/")})
        start, eval_seed, time_offset = int(meta["iteration"]), int(meta["eval_seed"]), float(meta["time"])
        if start > n_iter:
            raise ValueError(f"checkpoint {resume!s} has {start} iterations done; n_iter={n_iter} is smaller")
        for k in History._ARRAYS:
            hist[k][:start] = arrays["history/" + k][:start]
        track.update({k: meta["track"][k] for k in ("best", "best_iter", "ema", "ema_n")})
        track["best"] = -math.inf if track["best"] is None else float(track["best"])
        track["best_theta"] = arrays.get("ckpt/best_theta")
        changed = [k for k in _TRAJECTORY_SETTINGS if meta["settings"].get(k) != settings[k]]
        changed += _changed_inputs(meta, fingerprint, basis_fingerprint,
                                   lambda: _fingerprint(data.y, data.u, data.lengths, *(() if basis is None else (basis,))))
        if changed:
            warnings.warn(f"resuming {resume!s} with different {', '.join(changed)} than the checkpointed fit; "
                          f"the result will not match an uninterrupted fit", stacklevel=2)
    else:
        theta = to_flat(params0, opts)
    theta_snap = theta.copy()
    params = unflatten(theta)
    lrs = lr * (lr_end / lr) ** (np.arange(n_iter) / max(n_iter - 1, 1))
    gstep = np.empty(P)
    have_val = val_data is not None
    best_source = "heldout" if have_val else "train_ema"

    def evaluate(p):
        r = smc.elbo(p, yv, uv, options=opts, n_particles=eval_particles, proposal=proposal, resample=resample,
                     ess_threshold=ess_threshold, seed=eval_seed, grad=False, lengths=lv)
        return r.value - jacobian

    def write_checkpoint(done, stop_reason):
        arrays = {"ckpt/opt/" + k: v for k, v in opt.state_dict().items()}
        arrays.update({"ckpt/batcher/" + k: v for k, v in batcher.state_dict().items()})
        if track["best_theta"] is not None:
            arrays["ckpt/best_theta"] = track["best_theta"]
        h = _history(hist, done, float("nan"), stop_reason)
        arrays.update(h.to_extra())
        meta = {"iteration": done, "rng_state": rng.bit_generator.state, "eval_seed": eval_seed,
                "time": float(hist["time"][done - 1]) if done else time_offset,
                "track": {k: track[k] for k in ("best", "best_iter", "ema", "ema_n")},
                "settings": settings, "fingerprint": fingerprint, "basis_fingerprint": basis_fingerprint,
                "stop_reason": stop_reason}
        meta["track"]["best"] = float(meta["track"]["best"]) if np.isfinite(meta["track"]["best"]) else None
        save_checkpoint(checkpoint, opts, theta, arrays, meta, seed=_json_seed(getattr(model, "seed", None)))

    # ---- loop ------------------------------------------------------------------------------------
    progress = _Progress(n_iter, start, verbose)
    t0 = time.perf_counter() - time_offset
    done = start
    in_iteration = False
    snap_rng = snap_batch = snap_track = snap_done = None
    stop_reason = "completed"
    last_val = float(np.nanmax(hist["val_elbo"][:start])) if have_val and start and np.any(
        np.isfinite(hist["val_elbo"][:start])) else float("nan")
    try:
        for i in range(start, n_iter):
            # Snapshot of the committed state, so that an interruption inside the iteration can be
            # rolled back exactly (the rollback target is only used once in_iteration is True).
            snap_rng = rng.bit_generator.state
            np.copyto(theta_snap, theta)
            opt_snap.copy_state_from(opt)
            snap_batch = (getattr(batcher, "_perm", None), getattr(batcher, "_pos", None))
            snap_track = dict(track)
            snap_done = done
            in_iteration = True

            if have_val and i % eval_every == 0:
                last_val = evaluate(params)
                hist["val_elbo"][i] = last_val
                if last_val > track["best"]:
                    track.update(best=last_val, best_iter=i, best_theta=theta.copy())
            batch = batcher.next_batch(rng)
            y_batch = batch.y
            if augment_noise is not None:
                y_batch = y_batch + augment_noise * rng.standard_normal(y_batch.shape)
            try:
                res = smc.elbo(params, y_batch, batch.u if U else None, options=opts, n_particles=n_particles,
                               proposal=proposal, resample=resample, ess_threshold=ess_threshold, seed=rng,
                               grad=True, lengths=batch.lengths)
            except FloatingPointError as exc:
                exc.add_note(f"lowrank.fit: at iteration {i}; the model keeps the parameters from before it")
                exc.history = _history(hist, done, float("nan"), "nonfinite")
                raise
            value, g = res.value - jacobian, res.grad_flat
            gnorm = math.sqrt(float(g @ g))
            if not (math.isfinite(value) and math.isfinite(gnorm)):
                err = FloatingPointError(
                    f"non-finite {'ELBO' if not math.isfinite(value) else 'gradient'} at iteration {i} "
                    f"(ELBO/step {value}, gradient norm {gnorm}); the model keeps the parameters from before "
                    f"this iteration. Try a smaller lr, clip_grad_norm, more particles, or check the data scale")
                err.history = _history(hist, done, float("nan"), "nonfinite")
                raise err
            # The optimiser minimises the negative ELBO.
            scale = -1.0 if clip_grad_norm is None or gnorm <= clip_grad_norm else -clip_grad_norm / gnorm
            np.multiply(g, scale, out=gstep)
            opt.step(theta, gstep, lrs[i])

            hist["train_elbo"][i] = value
            hist["lr"][i] = lrs[i]
            hist["grad_norm"][i] = gnorm
            if not have_val:
                ema = EMA_DECAY * track["ema"] + (1.0 - EMA_DECAY) * value
                n_ema = track["ema_n"] + 1
                corrected = ema / (1.0 - EMA_DECAY ** n_ema)
                track.update(ema=ema, ema_n=n_ema)
                if corrected > track["best"]:
                    track.update(best=corrected, best_iter=i, best_theta=theta_snap.copy())
            params = unflatten(theta)
            hist["time"][i] = time.perf_counter() - t0
            done = i + 1
            in_iteration = False                     # commit point

            model.params = params
            progress.update(done, value, last_val, lrs[i])
            if checkpoint is not None and checkpoint_every is not None and done % checkpoint_every == 0:
                write_checkpoint(done, "running")
            if callback is not None:
                info = {"elbo": value, "val_elbo": hist["val_elbo"][i], "lr": lrs[i], "grad_norm": gnorm,
                        "time": hist["time"][i], "best_elbo": track["best"]}
                if callback(i, model, info):
                    stop_reason = "callback"
                    break
    except KeyboardInterrupt:
        stop_reason = "interrupted"
        if in_iteration:
            rng.bit_generator.state = snap_rng
            np.copyto(theta, theta_snap)
            opt.copy_state_from(opt_snap)
            if snap_batch[0] is not None:
                batcher._perm, batcher._pos = snap_batch
            track.clear()
            track.update(snap_track)
            done = snap_done                         # in case the interrupt fell between the two commit lines
            in_iteration = False
    except BaseException:
        # Non-finite values, degeneracy, errors in a callback: the last committed parameters stay on the model.
        model.params = unflatten(theta_snap if in_iteration else theta)
        progress.close()
        raise

    final_val = float("nan")
    if have_val and stop_reason != "interrupted":
        final_val = evaluate(unflatten(theta))
        if final_val > track["best"]:
            track.update(best=final_val, best_iter=done, best_theta=theta.copy())
    history = _history(hist, done, final_val, stop_reason)
    if checkpoint is not None:
        write_checkpoint(done, stop_reason)
    use_best = (stop_reason == "interrupted" or restore_best) and track["best_theta"] is not None
    model.params = unflatten(track["best_theta"] if use_best else theta)
    if stop_reason == "interrupted":
        progress.close(f"interrupted after {done} iterations; restored the best parameters "
                       f"(iteration {track['best_iter']}, {best_source} ELBO/step {track['best']:.4f})"
                       if track["best_theta"] is not None else f"interrupted after {done} iterations")
    else:
        progress.update(done, hist["train_elbo"][done - 1] if done else float("nan"),
                        final_val if have_val else float("nan"), lrs[done - 1] if done else lr, force=True)
        progress.close()
    return FitResult(model=model, history=history, n_iter=done, best_elbo=float(track["best"]),
                     best_iteration=int(track["best_iter"]), best_source=best_source, stop_reason=stop_reason)


def _history(hist, done, final_val, stop_reason):
    return History(**{k: hist[k][:done].copy() for k in History._ARRAYS},
                   final_val_elbo=float(final_val), stop_reason=stop_reason)


def _json_seed(seed):
    return int(seed) if isinstance(seed, (int, np.integer)) else None
