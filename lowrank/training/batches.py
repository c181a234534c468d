"""Minibatches for training: random windows of a recording, or epochs over trials."""
from __future__ import annotations

from typing import NamedTuple, Optional

import numpy as np

from ..data.layout import SequenceData, windows

__all__ = ["Batch", "Batcher"]


class Batch(NamedTuple):
    """One minibatch: ``y`` (B, T, D), ``u`` (B, T, U), ``lengths`` (B,) or None when all are T."""

    y: np.ndarray
    u: np.ndarray
    lengths: Optional[np.ndarray]


class Batcher:
    """Draws minibatches from validated training data.

    With ``window``: each batch is ``batch_size`` windows of ``window`` steps
    drawn independently and uniformly over all valid (trial, start) pairs
    (so longer trials contribute proportionally more windows; trials shorter
    than the window are skipped). Draws per batch: one
    ``rng.integers(total_starts, size=batch_size)``.

    Without ``window`` (whole trials): epochs over a random permutation of
    the trials (``rng.permutation`` at the start of each epoch), cut into
    consecutive batches; ``drop_last`` drops the incomplete last batch of
    each epoch. Variable-length trials are padded to the longest in the
    batch and come with ``lengths``.

    The only state besides the data is the current permutation and position
    (whole-trial mode): :meth:`snapshot` / :meth:`restore` take it and put it
    back within a process (a rolled-back iteration), :meth:`state_dict` /
    :meth:`load_state_dict` as arrays for a checkpoint.

    Parameters
    ----------
    data : SequenceData
    batch_size : int
    window : int or None
    drop_last : bool
    """

    def __init__(self, data: SequenceData, batch_size, window=None, drop_last=False):
        self.data = data
        self.batch_size = int(batch_size)
        self.window = window
        self.drop_last = bool(drop_last)
        n = data.n_trials
        if window is not None:
            longest = int(data.lengths.max())
            if window > longest:
                what = "the recording" if data.continuous else "every training trial"
                raise ValueError(
                    f"window={window} is longer than {what} (the longest has {longest} steps); "
                    f"use window <= {longest}, or window=None for whole trials")
            starts = np.maximum(data.lengths - window + 1, 0)
            self._cum = np.cumsum(starts)
            self._first = self._cum - starts         # first flat index of each trial's starts
            self.total_starts = int(self._cum[-1])
            self.n_skipped = int(np.sum(starts == 0))
            # Read-only views (trial, start, step, channel) of every window: one fancy index per batch
            # then copies whole contiguous windows.
            self._wy, self._wu = (windows(a, window) for a in (data.y, data.u))
        else:
            if self.drop_last and n < self.batch_size:
                raise ValueError(
                    f"batch_size={self.batch_size} is larger than the {n} training trials and "
                    f"drop_last=True would drop every batch; use batch_size <= {n} or drop_last=False")
            self._perm = np.arange(n)
            self._pos = n                             # forces a new permutation on the first batch
            self._equal = bool(np.all(data.lengths == data.y.shape[1]))

    def batches_per_epoch(self):
        """Batches in one epoch.

        Whole trials: ``n_trials // batch_size`` (``drop_last``) or its ceiling.
        Windows: as many batches as needed to draw, in expectation, as many
        time steps as the training data holds: ``max(1, Σ_i ⌊T_i / window⌋ // batch_size)``.
        """
        if self.window is None:
            n = self.data.n_trials
            return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        slots = int(np.sum(self.data.lengths // self.window))
        return max(1, slots // self.batch_size)

    def next_batch(self, rng) -> Batch:
        d = self.data
        if self.window is not None:
            k = rng.integers(0, self.total_starts, size=self.batch_size)
            if len(self._cum) == 1:                   # one recording: k is the start
                trial, start = np.zeros_like(k), k
            else:
                trial = np.searchsorted(self._cum, k, side="right")
                start = k - self._first[trial]
            return Batch(self._wy[trial, start], self._wu[trial, start], None)
        n, B = d.n_trials, self.batch_size
        if self._pos >= n or (self.drop_last and self._pos + B > n):
            self._perm = rng.permutation(n)
            self._pos = 0
        idx = self._perm[self._pos:self._pos + B]
        self._pos += len(idx)
        if self._equal:
            return Batch(d.y[idx], d.u[idx], None)
        lengths = d.lengths[idx]
        T = int(lengths.max())
        y, u = d.y[idx, :T], d.u[idx, :T]
        return Batch(np.ascontiguousarray(y), np.ascontiguousarray(u),
                     None if np.all(lengths == T) else lengths)

    def snapshot(self):
        """The sampler's state, cheaply (no copies: the permutation is replaced, never changed in place)."""
        return None if self.window is not None else (self._perm, self._pos)

    def restore(self, snapshot):
        """Put back a :meth:`snapshot` of this batcher."""
        if snapshot is not None:
            self._perm, self._pos = snapshot

    def state_dict(self):
        """The sampler's state as arrays (``perm``, ``pos``; empty for windows) for a checkpoint."""
        if self.window is not None:
            return {}
        return {"perm": self._perm.copy(), "pos": np.array(self._pos, dtype=np.int64)}

    def load_state_dict(self, state):
        """Restore a :meth:`state_dict`, checking that it is for this data."""
        if self.window is None:
            perm = np.asarray(state["perm"], dtype=np.int64)
            if perm.shape != (self.data.n_trials,):
                raise ValueError(f"batcher state is for {perm.shape[0]} trials; the data has {self.data.n_trials}")
            self._perm = perm.copy()
            self._pos = int(state["pos"])
