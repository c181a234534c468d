"""The training loop: Adam/RAdam ascent on a loss, one named step at a time.

:class:`Trainer` runs iterations ``done, ..., n_iter − 1`` of a fit. Each
iteration is

1. :meth:`~Trainer.snapshot` of the committed state (parameters, optimiser,
   Generator, minibatch sampler, best-so-far), so that anything that goes
   wrong inside the iteration can be undone exactly by
   :meth:`~Trainer.rollback`;
2. :meth:`~Trainer.evaluate`: every ``eval_every`` iterations, the held-out
   ELBO of the committed parameters, offered to :class:`Best`;
3. :meth:`~Trainer.step`: the minibatch ELBO and gradient, checks that both
   are finite, the optimiser update, checks that the updated parameters (the
   flat vector and every derived block) are finite and valid (a leak that
   saturated to exactly 1 counts as diverged too), and the commit;
4. :meth:`~Trainer.publish`: the model gets the parameters, the progress
   line, the periodic :meth:`~Trainer.checkpoint`, the callback.

A non-finite value anywhere in 2–3 (a ``FloatingPointError``, including
``SMCDegeneracyError``) rolls the iteration back; then the fit raises, or
stops with ``stop_reason="nonfinite"`` (``on_nonfinite``). Ctrl-C rolls back
the same way and stops with ``"interrupted"``. :meth:`~Trainer.finish` writes
the final checkpoint (the committed state, so that resuming is exact), then
evaluates the committed parameters on held-out data, and puts the best
parameters on the model when the fit stopped early (or ``restore_best``).
"""
from __future__ import annotations

import math
import time
import warnings

import numpy as np

from ..inference.warmup import ensure_cached, needed_parts
from .errors import FitError
from .history import FitResult, HistoryBuffer
from .optim import make_optimizer
from .progress import Progress
from .resume import TrainState, rng_of
from .unflatten import Unflatten

__all__ = ["Trainer", "Best", "EMA_DECAY"]

EMA_DECAY = 0.95
_EARLY = ("interrupted", "nonfinite")


class Best:
    """The best parameters so far.

    With held-out data (:meth:`offer`): the highest held-out ELBO per step.
    Without (:meth:`offer_train`): the peak of the bias-corrected exponential
    moving average (decay :data:`EMA_DECAY`) of the training ELBO.
    """

    __slots__ = ("value", "iteration", "theta", "ema", "ema_n")

    def __init__(self, value=-math.inf, iteration=-1, theta=None, ema=0.0, ema_n=0):
        self.value, self.iteration, self.theta, self.ema, self.ema_n = value, iteration, theta, ema, ema_n

    def offer(self, value, iteration, theta):
        """Keep ``theta`` (a copy) if ``value`` beats the best so far."""
        if value > self.value:
            self.value, self.iteration, self.theta = value, iteration, theta.copy()

    def offer_train(self, value, iteration, theta):
        """Update the moving average with a training ELBO and offer its bias-corrected value."""
        self.ema = EMA_DECAY * self.ema + (1.0 - EMA_DECAY) * value
        self.ema_n += 1
        self.offer(self.ema / (1.0 - EMA_DECAY ** self.ema_n), iteration, theta)

    def copy(self):
        return Best(self.value, self.iteration, self.theta, self.ema, self.ema_n)

    def track(self):
        """The scalars as a checkpoint stores them."""
        return {"best": self.value, "best_iter": self.iteration, "ema": self.ema, "ema_n": self.ema_n}

    @classmethod
    def from_track(cls, track, theta):
        return cls(float(track["best"]), int(track["best_iter"]), theta, track["ema"], int(track["ema_n"]))


class _Snapshot:
    """The committed state at the start of an iteration (buffers reused across iterations)."""

    __slots__ = ("rng", "theta", "opt", "loss", "best", "params", "done")


class Trainer:
    """Runs a fit's iterations on ``loss`` and keeps ``model.params`` at the committed parameters.

    Parameters
    ----------
    model : object with ``params``
        Gets the parameters after every update, and the result at the end.
    loss : ElboLoss
        ``value_and_grad(params, rng)``, ``heldout_value(params)``, ``has_heldout``,
        ``snapshot``/``restore`` and ``state_dict``/``load_state_dict`` of its sampler.
    settings : FitSettings
        With ``n_iter`` resolved.
    rng : numpy.random.Generator
    theta : ndarray (n_params,)
        Starting unconstrained parameters.
    unflatten : Unflatten
    writer : callable, optional
        ``writer(TrainState)`` writes a checkpoint (``settings.checkpoint``).
    identity : dict
        ``settings`` (trajectory) and ``fingerprints`` stored with every checkpoint.
    verbose : int
    """

    def __init__(self, model, loss, settings, rng, theta, unflatten: Unflatten, writer=None, identity=None,
                 verbose=1):
        s = self.settings = settings
        self.model, self.loss, self.rng, self.unflatten = model, loss, rng, unflatten
        self.writer, self.identity, self.verbose = writer, identity or {}, verbose
        self.theta = np.array(theta, dtype=np.float64)
        self.params = unflatten(self.theta)
        n = self.theta.size
        hyper = dict(beta1=s.betas[0], beta2=s.betas[1], eps=s.adam_eps)
        self.opt = make_optimizer(s.optimizer, n, **hyper)
        self.lrs = s.learning_rates()
        self.lr_scale = s.lr_scale(model.options) if hasattr(model, "options") else None
        self.hist = HistoryBuffer(s.n_iter)
        self.best = Best()
        self.done, self.time_offset, self.last_val, self.failure = 0, 0.0, float("nan"), None
        self._gstep = np.empty(n)
        self._snap = _Snapshot()
        self._snap.theta, self._snap.opt = np.empty(n), make_optimizer(s.optimizer, n, **hyper)
        self._in_iteration = False

    @property
    def best_source(self):
        return "heldout" if self.loss.has_heldout else "train_ema"

    # ---- resuming ----------------------------------------------------------------------------
    def resume(self, state: TrainState):
        """Continue from a checkpoint's state (checked beforehand by :func:`~.resume.check_resume`)."""
        self.theta = np.array(state.theta, dtype=np.float64)
        self.opt.load_state_dict(state.optimizer)
        self.rng = rng_of(state)
        self.loss.load_state_dict(state.batcher)
        self.loss.eval_seed = state.eval_seed
        self.done, self.time_offset = state.iteration, state.time
        self.hist.load(state.history, state.iteration)
        self.best = Best.from_track(state.track, state.best_theta)
        self.params = self.unflatten(self.theta)
        evaluated = state.history.val_elbo[:state.iteration]
        if np.isfinite(evaluated).any():
            self.last_val = float(evaluated[np.isfinite(evaluated)][-1])

    def state(self, stop_reason) -> TrainState:
        """The committed state, as a checkpoint holds it."""
        done = self.done
        return TrainState(
            iteration=done, theta=self.theta, optimizer=self.opt.state_dict(), batcher=self.loss.state_dict(),
            rng_state=self.rng.bit_generator.state, eval_seed=self.loss.eval_seed,
            time=float(self.hist["time"][done - 1]) if done else self.time_offset, track=self.best.track(),
            best_theta=self.best.theta, history=self.hist.freeze(done, stop_reason=stop_reason),
            settings=self.identity.get("settings", {}), fingerprints=self.identity.get("fingerprints", {}),
            stop_reason=stop_reason)

    def checkpoint(self, stop_reason):
        """Write the committed state, if a checkpoint file was asked for."""
        if self.writer is not None:
            self.writer(self.state(stop_reason))

    # ---- one iteration -----------------------------------------------------------------------
    def snapshot(self):
        """Remember the committed state; from here until the commit, :meth:`rollback` undoes everything."""
        snap = self._snap
        snap.rng = self.rng.bit_generator.state
        np.copyto(snap.theta, self.theta)
        snap.opt.copy_state_from(self.opt)
        snap.loss = self.loss.snapshot()
        snap.best, snap.params, snap.done = self.best.copy(), self.params, self.done
        self._in_iteration = True

    def rollback(self):
        """Undo the iteration in progress (nothing to do between iterations)."""
        if not self._in_iteration:
            return
        snap = self._snap
        self.rng.bit_generator.state = snap.rng
        np.copyto(self.theta, snap.theta)
        self.opt.copy_state_from(snap.opt)
        self.loss.restore(snap.loss)
        self.best, self.params, self.done = snap.best, snap.params, snap.done
        self._in_iteration = False

    def evaluate(self, i):
        """Every ``eval_every`` iterations: the held-out ELBO of the committed parameters."""
        if self.loss.has_heldout and i % self.settings.eval_every == 0:
            val = self.loss.heldout_value(self.params)
            self.hist["val_elbo"][i] = self.last_val = val
            self.best.offer(val, i, self.theta)

    def step(self, i):
        """Iteration ``i``'s update, checked and committed; returns ``(elbo, gradient norm)``.

        Raises FloatingPointError, before committing anything, when the ELBO,
        the gradient or the updated parameters are not finite.
        """
        s, lr = self.settings, self.lrs[i]
        value, g = self.loss.value_and_grad(self.params, self.rng)
        # Not g @ g: OpenBLAS runs a long dot product on its own threads, which then spin and
        # take the cores from the next Numba kernel (3 ms stalls on 2 cores). einsum stays in numpy.
        gnorm = math.sqrt(float(np.einsum("i,i->", g, g)))
        if not (math.isfinite(value) and math.isfinite(gnorm)):
            raise FloatingPointError(
                f"non-finite {'ELBO' if not math.isfinite(value) else 'gradient'} at iteration {i} "
                f"(ELBO/step {value}, gradient norm {gnorm}); the iteration was rolled back. "
                f"Try a smaller lr, clip_grad_norm, more particles, or check the data scale")
        # The optimiser minimises the negative ELBO.
        scale = -1.0 if s.clip_grad_norm is None or gnorm <= s.clip_grad_norm else -s.clip_grad_norm / gnorm
        np.multiply(g, scale, out=self._gstep)
        step_lr = lr if self.lr_scale is None else lr * self.lr_scale
        with np.errstate(over="ignore", invalid="ignore"):
            self.opt.step(self.theta, self._gstep, step_lr)
        params = self.unflatten(self.theta)
        bad = self.unflatten.broken(self.theta, params)
        if bad:
            raise FloatingPointError(
                f"non-finite or out-of-range parameters ({', '.join(bad)}) after the update at iteration {i} "
                f"(lr {lr:.3g}, gradient norm {gnorm:.3g}): the update diverged and was rolled back. "
                f"Try a smaller lr or clip_grad_norm")
        h = self.hist
        h["train_elbo"][i], h["lr"][i], h["grad_norm"][i] = value, lr, gnorm
        if not self.loss.has_heldout:
            self.best.offer_train(value, i, self._snap.theta)    # the parameters the ELBO was taken at
        self.params = params
        h["time"][i] = time.perf_counter() - self._t0
        self.done = i + 1
        self._in_iteration = False                                  # commit point
        return value, gnorm

    def publish(self, i, value, gnorm, callback=None):
        """After a commit: the model, the progress line, the periodic checkpoint, the callback (True: stop)."""
        s, h = self.settings, self.hist
        self.model.params = self.params
        self.progress.update(self.done, value, self.last_val, self.lrs[i])
        if s.checkpoint_every is not None and self.done % s.checkpoint_every == 0:
            self.checkpoint("running")
        if callback is None:
            return False
        info = {"elbo": value, "val_elbo": h["val_elbo"][i], "lr": self.lrs[i], "grad_norm": gnorm,
                "time": h["time"][i], "best_elbo": self.best.value}
        return bool(callback(i, self.model, info))

    # ---- the loop ----------------------------------------------------------------------------
    def run(self, callback=None) -> FitResult:
        """Iterate to ``n_iter`` (or a stop), then :meth:`finish`."""
        self.progress = Progress(self.settings.n_iter, self.done, self.verbose)
        self.progress.begin()
        # Both parts a fit needs compile at once, on two cores, before its first update.
        ensure_cached(needed_parts(grad=True, encoder=self.settings.proposal == "encoder"))
        self._t0 = time.perf_counter() - self.time_offset
        try:
            stop = self._iterate(callback)
        except KeyboardInterrupt:
            self.rollback()
            stop = "interrupted"
        except BaseException:
            # Errors in a callback, a raised non-finite value: the last committed parameters stay on the model.
            self.rollback()
            self.model.params = self.params
            self.progress.close()
            raise
        return self.finish(stop)

    def _iterate(self, callback):
        for i in range(self.done, self.settings.n_iter):
            self.snapshot()
            try:
                self.evaluate(i)
                value, gnorm = self.step(i)
            except FloatingPointError as exc:
                self.rollback()
                if self.settings.on_nonfinite == "raise":
                    raise self._annotate(exc, i) from exc
                self.failure = exc
                return "nonfinite"
            if self.publish(i, value, gnorm, callback):
                return "callback"
        return "completed"

    def _annotate(self, exc, i):
        """A :class:`~.errors.FitError` for ``exc`` at iteration ``i`` (see ``fit``'s Raises)."""
        final = self.final_evaluation()
        return FitError(f"{exc} (lowrank.fit: at iteration {i}; the model keeps the parameters from before it, "
                        f"the exception's best_params the best so far)", iteration=i,
                        history=self.hist.freeze(self.done, final, "nonfinite"), best_params=self.best_params(),
                        cause=exc)

    # ---- the end -----------------------------------------------------------------------------
    def final_evaluation(self):
        """Held-out ELBO of the committed parameters (NaN without held-out data), offered to :class:`Best`."""
        if not self.loss.has_heldout:
            return float("nan")
        try:
            val = float(self.loss.heldout_value(self.params))
        except FloatingPointError as exc:
            warnings.warn(f"the held-out evaluation after the last update failed: {exc}", RuntimeWarning,
                          stacklevel=2)
            return float("nan")
        self.best.offer(val, self.done, self.theta)
        return val

    def best_params(self):
        """The best parameters so far, or the committed ones if there is no best yet."""
        return self.params if self.best.theta is None else self.unflatten(self.best.theta)

    def finish(self, stop_reason) -> FitResult:
        """Checkpoint the committed state, evaluate it, choose the model's parameters, report."""
        self.checkpoint(stop_reason)
        final = self.final_evaluation()
        history = self.hist.freeze(self.done, final, stop_reason)
        use_best = stop_reason in _EARLY or self.settings.restore_best
        self.model.params = self.best_params() if use_best else self.params
        self._report(stop_reason, final)
        b = self.best
        return FitResult(model=self.model, history=history, n_iter=self.done, best_elbo=float(b.value),
                         best_iteration=int(b.iteration), best_source=self.best_source, stop_reason=stop_reason)

    def _report(self, stop_reason, final):
        done, b = self.done, self.best
        if stop_reason not in _EARLY:
            self.progress.update(done, self.hist["train_elbo"][done - 1] if done else float("nan"), final,
                                 self.lrs[done - 1] if done else self.settings.lr, force=True)
            self.progress.close()
            return
        what = (f"interrupted after {done} iterations" if stop_reason == "interrupted"
                else f"stopped after {done} iterations: {self.failure}")
        if b.theta is not None:
            what += (f"; restored the best parameters (iteration {b.iteration}, "
                     f"{self.best_source} ELBO/step {b.value:.4f})")
        self.progress.close(what)
