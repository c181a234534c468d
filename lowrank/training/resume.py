"""Resuming a fit: the state a checkpoint holds, and the checks on what changed since.

A fit interrupted (Ctrl-C, a callback, a crash after a checkpoint) and
resumed with ``resume=`` ends bit-identical to an uninterrupted fit with the
same arguments, because a checkpoint holds everything the loop's future
depends on (:class:`TrainState`): the exact flat parameter vector, the
optimiser's moments, the Generator's ``bit_generator.state``, the minibatch
sampler's position, the held-out evaluation seed and the best-so-far
bookkeeping. What it cannot hold (the data, the noise basis, the settings)
is compared instead: hashes of the data and basis (:func:`fingerprint`) and
the trajectory settings are stored, and a resume with other ones warns that
the result will not match an uninterrupted fit.

File layout: :mod:`lowrank.training.checkpoint`.
"""
from __future__ import annotations

import hashlib
import warnings
from typing import Callable, NamedTuple, Optional

import numpy as np

from .checkpoint import load_checkpoint, rng_from_state, save_checkpoint
from .history import History

__all__ = ["TrainState", "Fingerprints", "fingerprint", "save_state", "load_state", "check_resume"]

_OPT_KEYS = ("t", "m", "v", "hyper")


class TrainState(NamedTuple):
    """Everything a fit needs to continue bit-identically.

    Attributes
    ----------
    iteration : int
        Updates done.
    theta : ndarray (n_params,)
        Unconstrained flat parameters.
    optimizer, batcher : dict of str -> ndarray
        ``state_dict()`` of the optimiser and of the minibatch sampler.
    rng_state : dict
        The fit Generator's ``bit_generator.state``.
    eval_seed : int
        Seed of every held-out evaluation.
    time : float
        Seconds spent so far.
    track : dict
        Best-so-far bookkeeping: ``best`` (float, -inf for none), ``best_iter``, ``ema``, ``ema_n``.
    best_theta : ndarray or None
        Flat parameters of the best so far.
    history : History
    settings : dict
        ``FitSettings.trajectory()`` of the fit that wrote it.
    fingerprints : dict
        ``fingerprint`` (the data) and ``basis_fingerprint`` (the noise basis, None without);
        checkpoints of older versions hold only ``fingerprint`` (see :func:`changed_inputs`).
    stop_reason : str
        Why the fit that wrote it stopped (``"running"`` for a periodic checkpoint).
    """

    iteration: int
    theta: np.ndarray
    optimizer: dict
    batcher: dict
    rng_state: dict
    eval_seed: int
    time: float
    track: dict
    best_theta: Optional[np.ndarray]
    history: History
    settings: dict
    fingerprints: dict
    stop_reason: str


class Fingerprints(NamedTuple):
    """Hashes of this fit's inputs: the data as given, the basis (None without), and the legacy hash."""

    data: str
    basis: Optional[str]
    legacy: Callable[[], str]

    def identity(self):
        """The fingerprints as a checkpoint's identity stores them."""
        return {"fingerprint": self.data, "basis_fingerprint": self.basis}


def fingerprint(*arrays):
    """A SHA-1 of the arrays' shapes and bytes."""
    h = hashlib.sha1()
    for a in arrays:
        h.update(str(a.shape).encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def save_state(path, options, state: TrainState, *, seed=None, noise_basis=None):
    """Write ``state`` as a checkpoint (a loadable model file); refuses a non-finite state."""
    arrays = {"ckpt/opt/" + k: v for k, v in state.optimizer.items()}
    arrays.update({"ckpt/batcher/" + k: v for k, v in state.batcher.items()})
    if state.best_theta is not None:
        arrays["ckpt/best_theta"] = state.best_theta
    arrays.update(state.history.to_extra())
    track = dict(state.track)
    track["best"] = float(track["best"]) if np.isfinite(track["best"]) else None
    meta = {"iteration": state.iteration, "rng_state": state.rng_state, "eval_seed": state.eval_seed,
            "time": state.time, "track": track, "settings": state.settings, **state.fingerprints,
            "stop_reason": state.stop_reason}
    save_checkpoint(path, options, state.theta, arrays, meta, seed=seed, noise_basis=noise_basis)


def load_state(path):
    """Read a checkpoint: ``(model_file, state)`` (see :func:`lowrank.training.checkpoint.load_checkpoint`)."""
    file, arrays, meta = load_checkpoint(path)
    track = {k: meta["track"][k] for k in ("best", "best_iter", "ema", "ema_n")}
    track["best"] = -np.inf if track["best"] is None else float(track["best"])
    state = TrainState(
        iteration=int(meta["iteration"]), theta=np.array(arrays["ckpt/theta"], dtype=np.float64),
        optimizer={k: arrays["ckpt/opt/" + k] for k in _OPT_KEYS},
        batcher={k[len("ckpt/batcher/"):]: v for k, v in arrays.items() if k.startswith("ckpt/batcher/")},
        rng_state=meta["rng_state"], eval_seed=int(meta["eval_seed"]), time=float(meta["time"]), track=track,
        best_theta=arrays.get("ckpt/best_theta"), history=History.from_extra(arrays), settings=meta["settings"],
        fingerprints={k: meta[k] for k in ("fingerprint", "basis_fingerprint") if k in meta},
        stop_reason=str(meta.get("stop_reason", "running")))
    return file, state


def rng_of(state: TrainState):
    """The Generator exactly as it was when ``state`` was taken."""
    return rng_from_state(state.rng_state)


def check_resume(path, file, state: TrainState, options, settings: dict, prints: Fingerprints, n_iter,
                 stacklevel=2):
    """Raise if ``state`` cannot continue this fit; warn if it will not match an uninterrupted one.

    Raises ValueError for a checkpoint of a model with other options, or with
    more iterations done than ``n_iter``; warns (``UserWarning``) naming the
    settings, data or noise basis that differ from the checkpointed fit.
    """
    if file.options != options:
        raise ValueError(f"checkpoint {path!s} is for a model with options {file.options}; this model has {options}")
    if state.iteration > n_iter:
        raise ValueError(f"checkpoint {path!s} has {state.iteration} iterations done; n_iter={n_iter} is smaller")
    # A setting newer than the checkpoint (encoder_lr) is no change: it did not exist when it was written.
    changed = [k for k, v in settings.items() if k in state.settings and state.settings[k] != v]
    changed += changed_inputs(state.fingerprints, prints)
    if changed:
        warnings.warn(f"resuming {path!s} with different {', '.join(changed)} than the checkpointed fit; "
                      f"the result will not match an uninterrupted fit", stacklevel=stacklevel + 1)


def changed_inputs(stored, prints: Fingerprints):
    """What of the training data and the noise basis differs from a checkpoint's fit.

    ``prints.data`` hashes the data as given (data space), ``prints.basis`` the
    basis (None without one); older checkpoints hold only the hash that
    ``prints.legacy()`` computes, of the training sequences in noise
    coordinates together with the basis.
    """
    if "basis_fingerprint" not in stored:
        return [] if stored.get("fingerprint") == prints.legacy() else ["training data or noise basis"]
    changed = [] if stored.get("fingerprint") == prints.data else ["training data"]
    if stored["basis_fingerprint"] != prints.basis:
        changed.append("noise basis")
    return changed
