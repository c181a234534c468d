"""The objective a fit climbs: the SMC ELBO of minibatches, and of held-out data.

:class:`ElboLoss` owns everything about the data that the training loop
needs: the minibatch sampler, the noise augmentation, the held-out sequences
and their fixed evaluation seed, and the Jacobian term of a noise basis. The
loop (:class:`lowrank.training.trainer.Trainer`) only sees parameters,
values and gradients.
"""
from __future__ import annotations

from typing import NamedTuple, Optional

import numpy as np

from ..model.options import ModelOptions
from .batches import Batcher
from .settings import FitSettings

__all__ = ["ElboLoss", "HeldOut"]


class HeldOut(NamedTuple):
    """Held-out sequences as the ELBO takes them: ``y`` (S, T, D), ``u`` (S, T, U) or None, ``lengths`` or None."""

    y: np.ndarray
    u: Optional[np.ndarray]
    lengths: Optional[np.ndarray]


class ElboLoss:
    """Minibatch ELBO per step (with its gradient) and held-out ELBO per step.

    Parameters
    ----------
    opts : ModelOptions
    settings : FitSettings
        ``n_particles``, ``proposal``, ``resample``, ``ess_threshold``,
        ``augment_noise`` and ``eval_particles`` are used.
    batcher : Batcher
        Training minibatches (in noise coordinates when the model has a basis).
    heldout : HeldOut or None
    eval_seed : int
        Seed of every held-out evaluation, so that they are comparable.
    jacobian : float
        ``log|det S|`` of the noise basis (0 without one), subtracted from every value.
    """

    def __init__(self, opts: ModelOptions, settings: FitSettings, batcher: Batcher, heldout, eval_seed, jacobian=0.0,
                 device="cpu"):
        from ..inference import elbo as smc   # looked up per call: tests replace smc.elbo
        self._smc = smc
        self.opts, self.settings, self.batcher = opts, settings, batcher
        self.heldout, self.eval_seed, self.jacobian = heldout, int(eval_seed), jacobian
        # A device name, or a runner with an ``elbo`` method taking elbo's arguments (fit_many's lockstep).
        self.device = device

    def _elbo(self, params, y, u, **kw):
        if isinstance(self.device, str):
            return self._smc.elbo(params, y, u, device=self.device, **kw)
        return self.device.elbo(model=params, y=y, inputs=u, **kw)

    @property
    def has_heldout(self):
        return self.heldout is not None

    def value_and_grad(self, params, rng):
        """ELBO per step of the next minibatch and its gradient w.r.t. the flat parameters.

        Draws, in order, from ``rng``: the minibatch, the augmentation noise (if any), the SMC draws.
        Raises FloatingPointError (``SMCDegeneracyError``) if every particle of a sequence dies.
        """
        s, opts = self.settings, self.opts
        batch = self.batcher.next_batch(rng)
        y = batch.y
        if s.augment_noise is not None:
            y = y + s.augment_noise * rng.standard_normal(y.shape)
        res = self._elbo(params, y, batch.u if opts.n_inputs else None, options=opts,
                             n_particles=s.n_particles, proposal=s.proposal, resample=s.resample,
                             ess_threshold=s.ess_threshold, seed=rng, grad=True, lengths=batch.lengths,
                             mask=_observed(y))
        return res.value - self.jacobian, res.grad_flat

    def heldout_value(self, params):
        """Held-out ELBO per step at ``params``, with the fixed evaluation seed (no draws from the fit's Generator)."""
        s, h = self.settings, self.heldout
        r = self._elbo(params, h.y, h.u, options=self.opts, n_particles=s.eval_particles, proposal=s.proposal,
                           resample=s.resample, ess_threshold=s.ess_threshold, seed=self.eval_seed, grad=False,
                           lengths=h.lengths, mask=_observed(h.y))
        return r.value - self.jacobian

    # The sampler is the loss's only state that changes.
    def snapshot(self):
        return self.batcher.snapshot()

    def restore(self, snapshot):
        self.batcher.restore(snapshot)

    def state_dict(self):
        return self.batcher.state_dict()

    def load_state_dict(self, state):
        self.batcher.load_state_dict(state)


def _observed(y):
    """The mask of the observed entries of a batch whose missing values are NaN (None when none is missing)."""
    missing = np.isnan(y)
    return ~missing if missing.any() else None
