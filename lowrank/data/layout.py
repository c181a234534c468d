"""Data layouts: the three accepted forms of a data set, the held-out split
and windows.

Layouts accepted by ``fit``, ``posterior`` and ``score`` (docs/design.md §1):

- trials ``(n_trials, T, D)``: equal-length trials;
- one continuous recording ``(T, D)``: treated as a single long trial that
  training cuts into random windows;
- a list of trials ``[(T_1, D), (T_2, D), ...]`` of different lengths.

Everything is validated once (:func:`prepare_data`) and stored as a padded
``(n_trials, T_max, D)`` float64 array plus ``lengths``; the per-iteration
batch extraction (:class:`lowrank.training.batches.Batcher`) is then a couple of fancy-indexing
operations with no checks.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .._checks import as_float_array, check_counts, check_mask

__all__ = ["SequenceData", "prepare_data", "split_heldout", "eval_sequences", "windows"]


class SequenceData(NamedTuple):
    """Validated sequences, padded to a common length (what :func:`prepare_data` returns).

    Parameters
    ----------
    y : ndarray, shape (n_trials, T_max, D)
        float64, C-contiguous; zeros after each trial's end.
    u : ndarray, shape (n_trials, T_max, U)
        Inputs (U = 0 without inputs), padded like ``y``.
    lengths : ndarray of int64, shape (n_trials,)
    continuous : bool
        True when the data came as one ``(T, D)`` recording.

    Examples
    --------
    >>> opts = lowrank.ModelOptions(n_units=4, rank=2, n_obs=3)
    >>> data = lowrank.data.prepare_data([np.zeros((5, 3)), np.zeros((7, 3))], None, opts)
    >>> data.y.shape, data.u.shape, data.lengths, data.continuous
    ((2, 7, 3), (2, 7, 0), array([5, 7]), False)
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


def _fill_masked(y, mask, name):
    """``y`` with the entries ``mask`` leaves out set to 0 (same layout), and the per-trial masks."""
    if isinstance(y, (list, tuple)):
        ys = [np.asarray(yi, dtype=np.float64) for yi in y]
        per_trial = isinstance(mask, (list, tuple))
        if per_trial and len(mask) != len(ys):
            raise ValueError(f"mask has {len(mask)} trials but {name} has {len(ys)}")
        ms = [check_mask(f"mask[{i}]" if per_trial else "mask", mask[i] if per_trial else mask, yi.shape)
              for i, yi in enumerate(ys)]
        return [np.where(mi, yi, 0.0) for yi, mi in zip(ys, ms)], ms
    arr = np.asarray(y, dtype=np.float64)
    m = check_mask("mask", mask, arr.shape)
    filled = np.where(m, arr, 0.0)
    return filled, ([m] if arr.ndim == 2 else list(m))


def prepare_data(y, inputs, options, name="y", inputs_name="inputs", mask=None):
    """Validate observations (and inputs) in any accepted layout; see the module docstring.

    Parameters
    ----------
    y : ndarray (n_trials, T, D) or (T, D), or list of (T_i, D) arrays
    inputs : same layout as ``y`` with U in place of D, or None
    options : ModelOptions
    mask : bool array broadcastable to ``y`` (or to each trial), or list of per-trial masks, optional
        True where ``y`` is observed. The entries left out may hold anything
        (NaN included) and come back as NaN: missing values, which the
        likelihood leaves out.

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

    Examples
    --------
    >>> opts = lowrank.ModelOptions(n_units=4, rank=2, n_obs=3)
    >>> data = lowrank.data.prepare_data(np.ones((100, 3)), None, opts)     # one continuous recording
    >>> data.y.shape, data.continuous
    ((1, 100, 3), True)
    >>> lowrank.data.prepare_data(np.ones((100, 2)), None, opts)
    Traceback (most recent call last):
    ...
    ValueError: y trial 0 has 2 channels; the model has n_obs=3 ...
    """
    D, U = options.n_obs, options.n_inputs
    masks = None
    if mask is not None:
        y, masks = _fill_masked(y, mask, name)
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
    if masks is not None:
        for i, mi in enumerate(masks):
            yy[i, :len(mi)][~mi] = np.nan
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

    Examples
    --------
    >>> opts = lowrank.ModelOptions(n_units=4, rank=2, n_obs=3)
    >>> data = lowrank.data.prepare_data(np.zeros((10, 20, 3)), None, opts)
    >>> train, val = lowrank.data.split_heldout(data, 0.2, np.random.default_rng(0))
    >>> train.y.shape, val.y.shape
    ((8, 20, 3), (2, 20, 3))
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

    Parameters
    ----------
    data : SequenceData
        From :func:`prepare_data`.
    window : int, optional
        Length of the evaluation windows; None: whole trials.

    Returns
    -------
    y : (n_seq, T, D), u : (n_seq, T, U), lengths : (n_seq,) int64 or None
        ``lengths`` is None when every sequence is full length.

    Examples
    --------
    >>> opts = lowrank.ModelOptions(n_units=4, rank=2, n_obs=3)
    >>> data = lowrank.data.prepare_data(np.zeros((2, 120, 3)), None, opts)
    >>> y, u, lengths = lowrank.data.eval_sequences(data, window=50)     # 2 windows per trial, 20 steps dropped
    >>> y.shape, u.shape, lengths
    ((4, 50, 3), (4, 50, 0), None)
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


def windows(a, window):
    """Read-only strided view of all windows of ``window`` consecutive steps (no copy).

    Parameters
    ----------
    a : ndarray, shape (n, T, C)
    window : int
        Steps per window, ``1 <= window <= T``.

    Returns
    -------
    ndarray, shape (n, T - window + 1, window, C)
        ``out[i, s]`` is ``a[i, s:s + window]``; read-only.

    Examples
    --------
    >>> a = np.arange(10.0).reshape(1, 5, 2)
    >>> w = lowrank.data.windows(a, 3)
    >>> w.shape, w[0, 1, :, 0]
    ((1, 3, 3, 2), array([2., 4., 6.]))
    """
    n, T, C = a.shape
    s0, s1, s2 = a.strides
    return np.lib.stride_tricks.as_strided(a, shape=(n, T - window + 1, window, C), strides=(s0, s1, s1, s2),
                                           writeable=False)
