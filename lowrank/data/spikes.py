"""Spike times to counts: the bins a spiking recording enters the library in.

:func:`bin_spikes` turns one array of spike times per unit (seconds) into
counts per bin, per trial or for one continuous recording, in the layouts of
:mod:`lowrank.data.layout`: ``(n_trials, T, n_units)`` when every trial has
the same number of bins, else a list of ``(T_i, n_units)`` arrays; one
``(T, n_units)`` array without trials.

Conventions (the tests pin each of them):

- Bins are half-open, ``[start + k Δ, start + (k + 1) Δ)``; a spike exactly
  on an edge counts in the bin that starts there. "Exactly" allows for
  float64 rounding: a spike within 1e-9 bin widths below an edge is on it
  (0.3 s is on the edge 3 × 0.1 s although ``3 * 0.1`` is
  0.30000000000000004), far below any recording's timing precision.
- A trial ``[start, stop)`` holds ``floor((stop − start) / Δ)`` whole bins
  from its start (with the same tolerance, so 0.3 s at 0.1 s is 3 bins, not
  2); a remainder shorter than one bin at its end is dropped, and a spike
  exactly at ``stop`` is never counted.
- Trials may overlap: each trial gets its own copy of the spikes in its
  interval, so a spike in two trials counts in both. Trials are returned in
  the order given, sorted or not.
- Spike times need not be sorted; a unit without spikes gives a column of
  zeros.
"""
from __future__ import annotations

import numbers

import numpy as np

from .._checks import as_float_array, check_positive_float

__all__ = ["bin_spikes", "check_spike_times", "trial_intervals"]

# In bin widths. A trial that is a whole number of bins long in decimal (0.3 s at 0.1 s) must not lose
# its last bin, nor a spike on an edge its bin, to the rounding of a division or of an edge.
_EDGE_TOL = 1e-9


def check_spike_times(spike_times, name="spike_times"):
    """``spike_times`` as a list of finite 1-D float64 arrays, one per unit (sorted copies)."""
    if isinstance(spike_times, np.ndarray) and spike_times.dtype != object:
        raise TypeError(f"{name} must be a list of 1-D arrays of spike times, one per unit; got one "
                        f"{spike_times.ndim}-D array of shape {spike_times.shape} (for a single unit, give "
                        f"[times])")
    if isinstance(spike_times, (str, bytes)) or not hasattr(spike_times, "__len__"):
        raise TypeError(f"{name} must be a list of 1-D arrays of spike times, one per unit; got "
                        f"{type(spike_times).__name__}")
    if len(spike_times) == 0:
        raise ValueError(f"{name} is empty: give one array of spike times per unit (an empty array for a "
                         f"unit without spikes)")
    out = []
    for i, t in enumerate(spike_times):
        arr = as_float_array(f"{name}[{i}]", t, None)
        if arr.ndim != 1:
            raise ValueError(f"{name}[{i}] must be a 1-D array of spike times (seconds); got shape {arr.shape}")
        out.append(np.sort(arr))
    return out


def _check_window(window):
    if window is None:
        raise ValueError("window is required with align: (before, after), the seconds before and after each "
                         "event that make its trial")
    try:
        before, after = window
    except (TypeError, ValueError):
        raise TypeError(f"window must be a pair (before, after) of seconds; got {window!r}") from None
    for what, v in (("before", before), ("after", after)):
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not np.isfinite(v):
            raise (TypeError if not isinstance(v, numbers.Real) or isinstance(v, bool) else ValueError)(
                f"window {what} must be a finite number of seconds; got {v!r}")
        if v < 0:
            # (-0.5, 1.0) often means "offsets relative to the event"; here both are distances, so refuse
            # rather than silently cut a window that starts after the event.
            raise ValueError(f"window=(before, after) gives the seconds before and after each event, both >= 0; "
                             f"got {tuple(window)!r} (for a trial that starts after its event, give trials as "
                             f"start/stop times)")
    if before + after <= 0:
        raise ValueError(f"window must span a positive time (before + after > 0); got {tuple(window)!r}")
    return float(before), float(after)


def trial_intervals(trials=None, align=None, window=None):
    """Trial start and stop times as a ``(n_trials, 2)`` float64 array, from either form.

    Parameters
    ----------
    trials : array (n_trials, 2), optional
        Start and stop time of each trial, seconds.
    align : array (n_trials,), optional
        Event times; each trial is ``[event − before, event + after)``.
    window : (before, after), required with ``align``
        Seconds before and after the event, both ``>= 0``.
    """
    if trials is not None and align is not None:
        raise ValueError("give trials (start/stop times) or align (event times) with window, not both")
    if align is not None:
        before, after = _check_window(window)
        ev = as_float_array("align", align, (1,), shape_desc="(n_trials,)")
        if ev.size == 0:
            raise ValueError("align holds no event times; give at least one")
        return np.stack([ev - before, ev + after], axis=1)
    if window is not None:
        raise ValueError("window goes with align (event times); with trials, the start/stop times set each "
                         "trial's extent")
    iv = as_float_array("trials", trials, (2,), 2, shape_desc="(n_trials, 2) of start and stop times")
    if iv.shape[0] == 0:
        raise ValueError("trials holds no trials (shape (0, 2)); give at least one")
    bad = np.flatnonzero(iv[:, 1] <= iv[:, 0])
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"trials row {i} has stop <= start ({iv[i, 1]!r} <= {iv[i, 0]!r}); each trial needs "
                         f"stop > start")
    return iv


def _n_bins(start, stop, bin_size):
    return int(np.floor((stop - start) / bin_size + _EDGE_TOL))


def _count(times, start, n_bins, bin_size):
    """Counts of the sorted ``times`` in ``n_bins`` half-open bins from ``start``.

    The bin index is ``floor((t - start) / bin_size + 1e-9)``: a spike within
    1e-9 bins of an edge is on it, whatever the rounding of the division or of
    the edge itself (0.06 / 0.02 is 2.9999999999999996; 3 * 0.1 is
    0.30000000000000004). Everything outside ``[0, n_bins)`` is dropped, which
    also drops a spike at a trial's stop.
    """
    lo = np.searchsorted(times, start - bin_size, side="left")                  # a margin of one bin each side
    hi = np.searchsorted(times, start + (n_bins + 1) * bin_size, side="right")
    k = np.floor((times[lo:hi] - start) / bin_size + _EDGE_TOL).astype(np.int64)
    k = k[(k >= 0) & (k < n_bins)]
    return np.bincount(k, minlength=n_bins)


def _continuous_extent(units, start, stop):
    nonempty = [t for t in units if t.size]
    if start is None:
        if not nonempty:
            raise ValueError("start is required when no unit has a spike (the default is the first spike)")
        start = min(float(t[0]) for t in nonempty)
    start = _finite("start", start)
    last_bin = stop is None                       # default: up to and including the bin of the last spike
    if last_bin:
        if not nonempty:
            raise ValueError("stop is required when no unit has a spike (the default is the last spike)")
        stop = max(float(t[-1]) for t in nonempty)
    stop = _finite("stop", stop)
    if stop < start or (stop == start and not last_bin):
        raise ValueError(f"stop must be later than start; got start={start!r}, stop={stop!r}")
    return start, stop, last_bin


def _finite(name, v):
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise TypeError(f"{name} must be a number of seconds or None; got {type(v).__name__} {v!r}")
    if not np.isfinite(v):
        raise ValueError(f"{name} must be a finite number of seconds; got {v!r}")
    return float(v)


def bin_spikes(spike_times, bin_size, *, start=None, stop=None, trials=None, align=None, window=None):
    """Spike counts per bin, per trial or for one continuous recording.

    Parameters
    ----------
    spike_times : list of 1-D arrays
        One array of spike times (seconds) per unit, in any order; an empty
        array for a unit without spikes.
    bin_size : float
        Bin width Δ in seconds, ``> 0``.
    start, stop : float, optional
        Without trials: the extent of the one continuous recording. ``start``
        defaults to the first spike; ``stop`` defaults to the last spike, and
        then the recording ends with the bin that holds it (the last spike is
        counted); an explicit ``stop`` is excluded like a trial's.
    trials : array (n_trials, 2), optional
        Start and stop times of each trial (seconds), ``stop > start``.
        Trials may overlap: each gets its own copy of the spikes in it.
    align : array (n_trials,), optional
        Event times; with ``window=(before, after)`` (seconds, both ``>= 0``)
        each trial is ``[event − before, event + after)``.
    window : (float, float), optional
        See ``align``.

    Returns
    -------
    counts : ndarray of int64 or list of ndarray
        ``(T, n_units)`` without trials; with trials ``(n_trials, T,
        n_units)`` when all trials have the same number of bins, else a list
        of ``(T_i, n_units)`` arrays. See the module docstring for how bins,
        edges and trial ends are counted.

    Raises
    ------
    TypeError
        ``spike_times`` is not a list of arrays, a number is not a number.
    ValueError
        NaN or inf times, ``bin_size <= 0``, ``stop <= start``, a trial
        shorter than one bin, both ``trials`` and ``align``, ``align``
        without ``window``, ``start``/``stop`` together with trials.

    Examples
    --------
    Two units, one recording binned at 10 ms, then as two trials given by start and stop times:

    >>> times = [np.array([0.001, 0.004, 0.025]), np.array([0.012])]
    >>> lowrank.data.bin_spikes(times, 0.01, start=0.0, stop=0.03)
    array([[2, 0],
           [0, 1],
           [1, 0]])
    >>> lowrank.data.bin_spikes(times, 0.01, trials=[(0.0, 0.02), (0.01, 0.03)]).shape
    (2, 2, 2)
    """
    units = check_spike_times(spike_times)
    bin_size = check_positive_float("bin_size", bin_size)
    if trials is None and align is None:
        if window is not None:
            raise ValueError("window goes with align (event times); without trials give start and stop")
        start, stop, last_bin = _continuous_extent(units, start, stop)
        T = _n_bins(start, stop, bin_size) + (1 if last_bin else 0)
        if T < 1:
            raise ValueError(f"the recording from start={start!r} to stop={stop!r} is shorter than one bin "
                             f"(bin_size={bin_size!r})")
        return np.stack([_count(t, start, T, bin_size) for t in units], axis=1).astype(np.int64)
    if start is not None or stop is not None:
        raise ValueError("start and stop set the extent of one continuous recording; with trials or align, "
                         "each trial's extent comes from those")
    iv = trial_intervals(trials, align, window)
    lengths = [_n_bins(s, e, bin_size) for s, e in iv]
    short = [i for i, L in enumerate(lengths) if L < 1]
    if short:
        i = short[0]
        what = "align" if align is not None else "trials"
        raise ValueError(f"{what}: trial {i} ([{iv[i, 0]!r}, {iv[i, 1]!r}), {iv[i, 1] - iv[i, 0]:.6g} s) is "
                         f"shorter than one bin (bin_size={bin_size!r}); {len(short)} trial(s) are")
    out = [np.stack([_count(t, s, L, bin_size) for t in units], axis=1).astype(np.int64)
           for s, L in zip(iv[:, 0], lengths)]
    if len(set(lengths)) == 1:
        return np.stack(out)
    return out
