"""Training data: the three accepted layouts, the held-out split, random
windows and minibatches.

Layouts accepted by ``fit`` (DESIGN §1):

- trials ``(n_trials, T, D)``: equal-length trials;
- one continuous recording ``(T, D)``: treated as a single long trial that
  training cuts into random windows;
- a list of trials ``[(T_1, D), (T_2, D), ...]`` of different lengths.

Everything is validated once (:func:`prepare_data`) and stored as a padded
``(n_trials, T_max, D)`` float64 array plus ``lengths``; the per-iteration
batch extraction (:class:`Batcher`) is then a couple of fancy-indexing
operations with no checks.
"""
from __future__ import annotations

import math
from typing import NamedTuple, Optional

import numpy as np

from ..validation import as_float_array, check_counts

__all__ = ["SequenceData", "prepare_data", "split_heldout", "eval_sequences", "Batcher"]


class SequenceData(NamedTuple):
    """Validated sequences, padded to a common length.

    Attributes
    ----------
    y : ndarray, shape (n_trials, T_max, D)
        float64, C-contiguous; zeros after each trial's end.
    u : ndarray, shape (n_trials, T_max, U)
        Inputs (U = 0 without inputs), padded like ``y``.
    lengths : ndarray of int64, shape (n_trials,)
    continuous : bool
        True when the data came as one ``(T, D)`` recording.
    """

    y: np.ndarray
    u: np.ndarray
    lengths: np.ndarray
    continuous: bool

    @property
    def n_trials(self):
        return self.y.shape[0]

    def subset(self, idx):
        idx = np.asarray(idx, dtype=np.int64)
        lengths = self.lengths[idx]
        T = int(lengths.max()) if len(idx) else 0
        return SequenceData(np.ascontiguousarray(self.y[idx, :T]), np.ascontiguousarray(self.u[idx, :T]),
                            lengths, self.continuous)


def _as_list(x, name):
    """A list of per-trial arrays from a list/tuple input (None stays None)."""
    if x is None:
        return None
    return [as_float_array(f"{name}[{i}]", xi, (2,)) for i, xi in enumerate(x)]


def prepare_data(y, inputs, options, name="y", inputs_name="inputs"):
    """Validate observations (and inputs) in any accepted layout; see the module docstring.

    Parameters
    ----------
    y : ndarray (n_trials, T, D) or (T, D), or list of (T_i, D) arrays
    inputs : same layout as ``y`` with U in place of D, or None
    options : ModelOptions

    Returns
    -------
    SequenceData

    Raises
    ------
    ValueError, TypeError
        With the argument name, what was expected and what was found: NaN or
        inf values, a wrong number of channels, non-count Poisson data,
        inputs whose trial count or lengths differ from ``y``'s, missing or
        unexpected inputs, empty data.
    """
    D, U = options.n_obs, options.n_inputs
    if isinstance(y, (list, tuple)):
        if len(y) == 0:
            raise ValueError(f"{name} is an empty list; give at least one trial")
        ys = _as_list(y, name)
        continuous = False
    else:
        arr = as_float_array(name, y, (2, 3))
        continuous = arr.ndim == 2
        ys = [arr] if continuous else list(arr)
        if arr.ndim == 3 and arr.shape[0] == 0:
            raise ValueError(f"{name} has no trials (shape {arr.shape})")
    for i, yi in enumerate(ys):
        if yi.shape[1] != D:
            raise ValueError(f"{name} trial {i} has {yi.shape[1]} channels; the model has n_obs={D} "
                             f"(expected shape (T, {D}))")
        if yi.shape[0] < 1:
            raise ValueError(f"{name} trial {i} has no time steps")
    lengths = np.array([yi.shape[0] for yi in ys], dtype=np.int64)

    if inputs is None:
        if U > 0:
            raise ValueError(f"{inputs_name} are required: the model has n_inputs={U}; got None")
        us = [np.zeros((L, 0)) for L in lengths]
    else:
        if U == 0:
            raise ValueError(f"{inputs_name} were given but the model has n_inputs=0")
        if isinstance(inputs, (list, tuple)):
            us = _as_list(inputs, inputs_name)
        else:
            arr = as_float_array(inputs_name, inputs, (2, 3))
            us = [arr] if arr.ndim == 2 else list(arr)
        if len(us) != len(ys):
            raise ValueError(f"{inputs_name} has {len(us)} trials but {name} has {len(ys)}")
        for i, (ui, L) in enumerate(zip(us, lengths)):
            if ui.shape[1] != U:
                raise ValueError(f"{inputs_name} trial {i} has {ui.shape[1]} input dimensions; "
                                 f"the model has n_inputs={U}")
            if ui.shape[0] != L:
                raise ValueError(f"{inputs_name} trial {i} has {ui.shape[0]} time steps but {name} "
                                 f"trial {i} has {L}; they must match")

    T = int(lengths.max())
    n = len(ys)
    if n == 1 or np.all(lengths == T):
        yy = np.ascontiguousarray(np.stack(ys)) if n > 1 else np.ascontiguousarray(ys[0][None])
        uu = np.ascontiguousarray(np.stack(us)) if n > 1 else np.ascontiguousarray(us[0][None])
    else:
        yy = np.zeros((n, T, D))
        uu = np.zeros((n, T, U))
        for i, (yi, ui) in enumerate(zip(ys, us)):
            yy[i, :len(yi)] = yi
            uu[i, :len(ui)] = ui
    if options.likelihood == "poisson":
        check_counts(name, yy)
    return SequenceData(yy, uu, lengths, continuous)


def split_heldout(data: SequenceData, heldout, rng, window=None):
    """Split off a held-out part for monitoring.

    Trials: a random ``round(heldout * n_trials)`` trials (at least one) are
    held out. One continuous recording: the *last* ``ceil(heldout * T)``
    steps are held out, so that no training window overlaps them.

    Parameters
    ----------
    data : SequenceData
    heldout : float in (0, 1)
    rng : numpy Generator
        Used only for the trial split.
    window : int or None
        With windows, both parts of a continuous recording must hold one.

    Returns
    -------
    train, val : SequenceData
    """
    if not (isinstance(heldout, (int, float)) and 0.0 < heldout < 1.0):
        raise ValueError(f"heldout must be a fraction in (0, 1); got {heldout!r}")
    if data.continuous:
        T = int(data.lengths[0])
        n_val = int(math.ceil(heldout * T))
        n_train = T - n_val
        need = window or 1
        if n_train < need or n_val < need:
            raise ValueError(
                f"heldout={heldout} splits the recording of {T} steps into {n_train} training and "
                f"{n_val} held-out steps; each part needs at least {need} (the window)")
        cut = lambda a, s: np.ascontiguousarray(a[:, s])  # noqa: E731
        train = SequenceData(cut(data.y, slice(0, n_train)), cut(data.u, slice(0, n_train)),
                             np.array([n_train], dtype=np.int64), True)
        val = SequenceData(cut(data.y, slice(n_train, T)), cut(data.u, slice(n_train, T)),
                           np.array([n_val], dtype=np.int64), True)
        return train, val
    n = data.n_trials
    n_val = max(1, int(round(heldout * n)))
    if n_val >= n:
        raise ValueError(f"heldout={heldout} of {n} trials leaves no training trial; "
                         f"give more trials, a smaller heldout, or y_val")
    perm = rng.permutation(n)
    return data.subset(np.sort(perm[n_val:])), data.subset(np.sort(perm[:n_val]))


def eval_sequences(data: SequenceData, window=None):
    """Fixed evaluation sequences: each trial cut into consecutive windows.

    With ``window``, every trial is cut into non-overlapping windows of
    ``window`` steps (a remainder shorter than a window is dropped; a trial
    shorter than the window is kept whole), so that the held-out ELBO per
    step is measured on pieces as long as the training windows and is
    comparable to the training ELBO. Without, the trials themselves.

    Returns
    -------
    y : (n_seq, T, D), u : (n_seq, T, U), lengths : (n_seq,) int64 or None
        ``lengths`` is None when every sequence is full length.
    """
    if window is None:
        lengths = data.lengths
        full = bool(np.all(lengths == data.y.shape[1]))
        return data.y, data.u, (None if full else lengths.copy())
    ys, us, ls = [], [], []
    for i, L in enumerate(data.lengths):
        L = int(L)
        if L < window:
            yi = np.zeros((window, data.y.shape[2]))
            ui = np.zeros((window, data.u.shape[2]))
            yi[:L], ui[:L] = data.y[i, :L], data.u[i, :L]
            ys.append(yi), us.append(ui), ls.append(L)
            continue
        for s in range(0, L - window + 1, window):
            ys.append(data.y[i, s:s + window]), us.append(data.u[i, s:s + window]), ls.append(window)
    lengths = np.array(ls, dtype=np.int64)
    y = np.ascontiguousarray(np.stack(ys))
    u = np.ascontiguousarray(np.stack(us))
    return y, u, (None if np.all(lengths == window) else lengths)


def _windows(a, window):
    """Read-only strided view ``(n, T - window + 1, window, C)`` of all windows of ``a`` (n, T, C)."""
    n, T, C = a.shape
    s0, s1, s2 = a.strides
    return np.lib.stride_tricks.as_strided(a, shape=(n, T - window + 1, window, C), strides=(s0, s1, s1, s2),
                                           writeable=False)


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
    (whole-trial mode), exposed by :meth:`state_dict` for exact resumption.

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
            self._wy, self._wu = (_windows(a, window) for a in (data.y, data.u))
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

    def state_dict(self):
        if self.window is not None:
            return {}
        return {"perm": self._perm.copy(), "pos": np.array(self._pos, dtype=np.int64)}

    def load_state_dict(self, state):
        if self.window is None:
            perm = np.asarray(state["perm"], dtype=np.int64)
            if perm.shape != (self.data.n_trials,):
                raise ValueError(f"batcher state is for {perm.shape[0]} trials; the data has {self.data.n_trials}")
            self._perm = perm.copy()
            self._pos = int(state["pos"])
