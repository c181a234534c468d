"""The settings of a fit, validated once into one structure.

:func:`check_settings` turns ``fit``'s keyword arguments into a
:class:`FitSettings` (every check before any compute, one exception policy:
``TypeError`` for a wrong type, ``ValueError`` for a wrong value, see
:mod:`lowrank._checks`). :meth:`FitSettings.trajectory` is the part that
decides the path of a fit: it is stored in checkpoints, and resuming with
other values warns.
"""
from __future__ import annotations

import numbers
from typing import NamedTuple, Optional

import numpy as np

from .._checks import check_bool, check_choice, check_float, check_positive_float, check_positive_int
from ..inference.elbo import check_choices
from ..model.options import ModelOptions
from ..model.params import flat_slices, n_params
from .optim import OPTIMIZERS

__all__ = ["FitSettings", "check_settings", "check_augment_noise", "ON_NONFINITE"]

ON_NONFINITE = ("raise", "stop")
# Settings that change the trajectory of a fit; resuming with other values warns.
TRAJECTORY = ("n_particles", "proposal", "resample", "ess_threshold", "batch_size", "window", "drop_last",
              "n_iter", "optimizer", "lr", "lr_end", "encoder_lr", "betas", "adam_eps", "clip_grad_norm", "eval_every",
              "eval_particles", "heldout", "augment_noise")


class FitSettings(NamedTuple):
    """Validated settings of :func:`lowrank.training.fit` (see its docstring for each).

    ``n_iter`` is None until the data is known when the length is given in
    epochs (:func:`resolve_n_iter`); ``lr_end`` is ``lr`` without decay;
    ``eval_particles`` is ``n_particles`` unless given; ``encoder_lr`` None
    stands for ``lr / 10``; ``augment_noise`` is
    None or a float64 array of shape (n_obs,).
    """

    n_particles: int
    proposal: str
    resample: str
    ess_threshold: Optional[float]
    batch_size: int
    window: Optional[int]
    drop_last: bool
    augment_noise: Optional[np.ndarray]
    n_iter: Optional[int]
    n_epochs: Optional[int]
    batches_per_epoch: Optional[int]
    optimizer: str
    lr: float
    lr_end: float
    encoder_lr: Optional[float]
    betas: tuple
    adam_eps: float
    clip_grad_norm: Optional[float]
    eval_every: int
    eval_particles: int
    heldout: Optional[float]
    restore_best: bool
    on_nonfinite: str
    checkpoint: object
    checkpoint_every: Optional[int]

    def resolve_n_iter(self, batches_per_epoch):
        """The settings with ``n_iter`` fixed: given, ``n_epochs × batches per epoch``, or 1000."""
        if self.n_iter is not None:
            return self
        if self.n_epochs is None:
            return self._replace(n_iter=1000)
        return self._replace(n_iter=self.n_epochs * (self.batches_per_epoch or batches_per_epoch))

    def trajectory(self):
        """The settings that decide a fit's path, as JSON-ready values (stored in checkpoints)."""
        out = {k: getattr(self, k) for k in TRAJECTORY}
        out["augment_noise"] = None if self.augment_noise is None else self.augment_noise.tolist()
        out["betas"] = list(self.betas)
        return out

    def learning_rates(self):
        """``lr_i = lr (lr_end / lr)^{i / (n_iter − 1)}`` for every iteration."""
        n = self.n_iter
        return self.lr * (self.lr_end / self.lr) ** (np.arange(n) / max(n - 1, 1))

    def lr_scale(self, opts):
        """Per-coordinate factors of the learning rate on the flat vector: 1, and
        ``encoder_lr / lr`` on the encoder's weights; None when they are all 1."""
        sl = flat_slices(opts)["enc"]
        ratio = 0.1 if self.encoder_lr is None else self.encoder_lr / self.lr
        if sl.stop == sl.start or ratio == 1.0:
            return None
        scale = np.ones(n_params(opts))
        scale[sl] = ratio
        return scale


def check_settings(opts: ModelOptions, *, n_particles=10, proposal=None, resample="systematic",
                   ess_threshold=None, batch_size=10, window=50, drop_last=False, augment_noise=None,
                   n_iter=None, n_epochs=None, batches_per_epoch=None, optimizer="adam", lr=1e-3, lr_end=None,
                   encoder_lr=None, betas=(0.9, 0.999), adam_eps=1e-8, clip_grad_norm=None, eval_every=50, eval_particles=None,
                   heldout=None, restore_best=False, on_nonfinite="raise", checkpoint=None,
                   checkpoint_every=None) -> FitSettings:
    """Validate ``fit``'s settings for a model with options ``opts`` (nothing is computed)."""
    n_particles = check_positive_int("n_particles", n_particles)
    eval_particles = check_positive_int("eval_particles", eval_particles, allow_none=True) or n_particles
    proposal = opts.default_proposal if proposal is None else proposal
    check_choices(opts, proposal, resample, ess_threshold, n_particles)
    lr = check_positive_float("lr", lr)
    lr_end = check_positive_float("lr_end", lr_end, allow_none=True)
    encoder_lr = check_positive_float("encoder_lr", encoder_lr, allow_none=True)
    checkpoint_every = check_positive_int("checkpoint_every", checkpoint_every, allow_none=True)
    if checkpoint_every is not None and checkpoint is None:
        raise ValueError("checkpoint_every needs checkpoint=path")
    if n_iter is not None and n_epochs is not None:
        raise ValueError("give n_iter or n_epochs, not both")
    return FitSettings(
        n_particles=n_particles, proposal=proposal, resample=resample, ess_threshold=ess_threshold,
        batch_size=check_positive_int("batch_size", batch_size),
        window=check_positive_int("window", window, allow_none=True),
        drop_last=check_bool("drop_last", drop_last), augment_noise=check_augment_noise(augment_noise, opts),
        n_iter=check_positive_int("n_iter", n_iter, allow_none=True),
        n_epochs=check_positive_int("n_epochs", n_epochs, allow_none=True),
        batches_per_epoch=check_positive_int("batches_per_epoch", batches_per_epoch, allow_none=True),
        optimizer=check_choice("optimizer", optimizer, tuple(OPTIMIZERS)), lr=lr,
        lr_end=lr if lr_end is None else lr_end, encoder_lr=encoder_lr,
        betas=_check_betas(betas),
        adam_eps=check_positive_float("adam_eps", adam_eps),
        clip_grad_norm=check_positive_float("clip_grad_norm", clip_grad_norm, allow_none=True),
        eval_every=check_positive_int("eval_every", eval_every), eval_particles=eval_particles,
        heldout=check_float("heldout", heldout, low=0.0, high=1.0, low_open=True, high_open=True, allow_none=True),
        restore_best=check_bool("restore_best", restore_best),
        on_nonfinite=check_choice("on_nonfinite", on_nonfinite, ON_NONFINITE),
        checkpoint=checkpoint, checkpoint_every=checkpoint_every)


def _check_betas(betas):
    if isinstance(betas, (str, bytes)) or not hasattr(betas, "__len__") or len(betas) != 2:
        raise TypeError(f"betas must be a pair of numbers (beta1, beta2); got {betas!r}")
    b1, b2 = (check_float(f"betas[{k}]", b, low=0.0, high=1.0, high_open=True) for k, b in enumerate(betas))
    return (b1, b2)


def check_augment_noise(value, opts):
    """None, or a float64 array of shape (n_obs,) of finite values >= 0 (all zeros: None)."""
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
