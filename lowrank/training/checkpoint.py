"""Checkpoint files: a loadable model file plus everything a fit needs to
continue bit-identically.

A checkpoint is an ordinary model ``.npz`` written by :mod:`lowrank.io`
(so ``LowRankRNN.load`` opens it), whose ``extra`` arrays hold

- ``ckpt/theta``: the unconstrained flat parameter vector the optimiser
  works on (stored exactly: ``to_flat(from_flat(θ))`` is not bit-exact);
- ``ckpt/opt/*``: the optimiser's moments, step count and hyper-parameters;
- ``ckpt/best_theta``, ``ckpt/batcher/*``: best parameters so far and the
  minibatch sampler's state (the held-out split is redrawn from the same
  ``seed`` on resume; a hash of the training data guards against a change);
- ``history/*``: the per-iteration history so far;
- ``ckpt/meta``: a JSON string with the iteration count, the random
  generator's ``bit_generator.state``, the bookkeeping scalars and the fit's
  settings.

No pickle anywhere: JSON and plain numeric arrays only. Files are written to
a temporary name and renamed, so an interruption never leaves a truncated
checkpoint behind, and a state holding NaN or inf (parameters or best
parameters) is refused before anything is written, so a good checkpoint is
never replaced by one that cannot be loaded. What the entries mean for a
fit, and how it reads them back, is :mod:`lowrank.training.resume`.
"""
from __future__ import annotations

import json
import os

import numpy as np

from ..io import read_model, save_model
from ..model.params import check_params, from_flat

__all__ = ["save_checkpoint", "load_checkpoint", "rng_from_state"]

META_KEY = "ckpt/meta"


def save_checkpoint(path, options, theta, arrays, meta, seed=None, noise_basis=None):
    """Write a checkpoint atomically, unless its parameters hold NaN or inf.

    Parameters
    ----------
    path : str or PathLike
    options : ModelOptions
    theta : ndarray, shape (n_params,)
        Unconstrained parameters; the model blocks are ``from_flat(theta)``.
    arrays : dict of str -> ndarray
        Extra arrays (names as in the module docstring).
    meta : dict
        JSON-serialisable metadata.
    seed : int or None
        The model's seed, stored as for a saved model.
    noise_basis : ndarray (D, D), optional
        The model's noise basis, stored as for a saved model.

    Raises
    ------
    FloatingPointError
        If ``theta`` or ``arrays["ckpt/best_theta"]`` hold NaN or inf, or the
        parameters derived from ``theta`` would not load (``check_params``);
        nothing is written then.
    """
    path = os.fspath(path)
    theta = np.asarray(theta, dtype=np.float64)
    problem = None
    if not (np.isfinite(theta).all() and np.isfinite(arrays.get("ckpt/best_theta", 0.0)).all()):
        problem = "the parameter vector holds NaN or inf"
    else:
        with np.errstate(over="ignore", under="ignore"):
            params = from_flat(theta, options)
        try:
            params = check_params(params, options)
        except ValueError as exc:
            problem = str(exc)
    if problem is not None:
        raise FloatingPointError(f"not writing checkpoint {path}: {problem}; the file there (if any) is "
                                 f"left as it was")
    extra = {"ckpt/theta": theta}
    extra.update(arrays)
    extra[META_KEY] = np.array(json.dumps(meta))
    save_model(path, options, params, seed=seed, noise_basis=noise_basis, extra=extra)


def load_checkpoint(path):
    """Read a checkpoint.

    Returns
    -------
    file : lowrank.io.ModelFile
        The model file (options, parameters, seed) as the checkpoint was written.
    arrays : dict of str -> ndarray
        The extra arrays (``ckpt/meta`` removed).
    meta : dict
        The decoded JSON metadata.

    Raises
    ------
    ValueError
        If the file is a model file but not a checkpoint.
    """
    f = read_model(path)
    extra = dict(f.extra)
    if META_KEY not in extra or "ckpt/theta" not in extra:
        raise ValueError(f"{os.fspath(path)} is a model file but not a training checkpoint "
                         f"(no {META_KEY!r} entry); resume needs a file written with checkpoint=")
    meta = json.loads(str(extra.pop(META_KEY)[()]))
    return f, extra, meta


def rng_from_state(state):
    """A ``numpy.random.Generator`` whose bit generator has exactly ``state``."""
    name = state.get("bit_generator")
    cls = getattr(np.random, str(name), None)
    if cls is None or not isinstance(cls, type) or not issubclass(cls, np.random.BitGenerator):
        raise ValueError(f"checkpoint names an unknown bit generator {name!r}")
    bg = cls()
    bg.state = state
    return np.random.Generator(bg)
