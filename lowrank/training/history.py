"""What a fit records: the per-iteration :class:`History` and the :class:`FitResult`."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .._summary import summary

__all__ = ["History", "FitResult", "HistoryBuffer"]


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

    def __repr__(self):
        """Iterations, last training ELBO, best held-out ELBO, seconds and stop reason; arrays by shape."""
        return summary(self, ("final_val_elbo", "stop_reason") + self._ARRAYS, n_iter=len(self.train_elbo),
                       last_train_elbo=_last(self.train_elbo), best_val_elbo=_nanmax(self.val_elbo),
                       seconds=_last(self.time))

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
    """Returned by :func:`lowrank.training.fit`.

    Attributes
    ----------
    model : the fitted model (the object passed in, its ``params`` updated)
    history : History
    n_iter : int
        Iterations completed (including those of a resumed run).
    best_elbo : float
        Best held-out ELBO per step, or best training-ELBO moving average
        (see :mod:`lowrank.training.fit`).
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

    def __repr__(self):
        """The key numbers, the history in short and the model's one-line repr."""
        return summary(self, ("n_iter", "best_elbo", "best_iteration", "best_source", "stop_reason", "history",
                              "model"))


def _last(a):
    """Last entry of a 1-D array as a float (NaN when empty)."""
    return float(a[-1]) if len(a) else float("nan")


def _nanmax(a):
    """Largest non-NaN entry as a float (NaN when there is none)."""
    a = np.asarray(a, dtype=np.float64)
    return float(np.max(a[~np.isnan(a)])) if np.any(~np.isnan(a)) else float("nan")


class HistoryBuffer:
    """Preallocated per-iteration arrays of a fit of ``n_iter`` iterations (NaN until written)."""

    def __init__(self, n_iter):
        self.arrays = {k: np.full(n_iter, np.nan) for k in History._ARRAYS}

    def __getitem__(self, name):
        return self.arrays[name]

    def load(self, history: History, start):
        """Take the first ``start`` iterations from ``history`` (a resumed fit)."""
        for k in History._ARRAYS:
            self.arrays[k][:start] = getattr(history, k)[:start]

    def freeze(self, done, final_val=float("nan"), stop_reason="completed") -> History:
        """The first ``done`` iterations as a :class:`History` (copies)."""
        return History(**{k: a[:done].copy() for k, a in self.arrays.items()},
                       final_val_elbo=float(final_val), stop_reason=stop_reason)
