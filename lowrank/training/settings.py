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

from ..inference.elbo import check_choices
from ..model.options import ModelOptions
from ..model.params import flat_slices, n_params
from ..options import ON_NONFINITE, fit_names, option

__all__ = ["FitSettings", "check_settings", "check_augment_noise", "ON_NONFINITE"]

# Settings that change the trajectory of a fit; resuming with other values warns.
TRAJECTORY = ("n_particles", "proposal", "resample", "ess_threshold", "batch_size", "window", "drop_last",
              "n_iter", "init", "optimizer", "lr", "lr_end", "encoder_lr", "betas", "adam_eps", "clip_grad_norm", "eval_every",
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
    init: str
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


def check_settings(opts: ModelOptions, *, checkpoint=None, **settings) -> FitSettings:
    """Validate ``fit``'s settings for a model with options ``opts`` (nothing is computed).

    ``settings`` are the ``fit`` settings of the option table (:func:`lowrank.options.fit_names`);
    each is checked by its row, the ones not given take the table's defaults for the model's likelihood
    (:meth:`lowrank.options.Option.default_for`).
    """
    unknown = sorted(set(settings) - set(fit_names()))
    if unknown:
        raise TypeError(f"unknown fit setting {unknown[0]!r}; the settings are: {', '.join(sorted(fit_names()))}")
    v = {}
    for name in fit_names():
        o = option(name, "fit")
        value = settings.get(name, o.default_for(opts.likelihood))
        if name == "n_iter" and name not in settings and settings.get("n_epochs") is not None:
            value = None                   # the length given in epochs instead
        v[name] = check_augment_noise(value, opts) if name == "augment_noise" else o.check(value)
    v["proposal"] = opts.default_proposal if v["proposal"] is None else v["proposal"]
    check_choices(opts, v["proposal"], v["resample"], v["ess_threshold"], v["n_particles"])
    if len(v["betas"]) != 2:
        raise ValueError(f"betas must be a pair of numbers (beta1, beta2); got {settings.get('betas')!r}")
    if v["checkpoint_every"] is not None and checkpoint is None:
        raise ValueError("checkpoint_every needs checkpoint=path")
    if v["n_iter"] is not None and v["n_epochs"] is not None:
        raise ValueError("give n_iter or n_epochs, not both")
    v["eval_particles"] = v["eval_particles"] or v["n_particles"]
    v["lr_end"] = v["lr"] if v["lr_end"] is None else v["lr_end"]
    return FitSettings(checkpoint=checkpoint, **v)


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
