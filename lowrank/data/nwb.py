"""Neurodata Without Borders (NWB) files in: spikes, trials and behaviour, binned.

:func:`read_nwb` reads what a fit and a decoder need from an NWB file: the
spike times of the Units table (all units or a chosen subset), the trials
table's start/stop times (and, when asked, condition columns as inputs),
and named behavioural TimeSeries, all brought onto one grid of bins by
:func:`lowrank.data.bin_spikes`.

Needs pynwb (``pip install "lowrank[nwb]"``); it is imported only when a
file is read, so the rest of the library works without it.

Behaviour is resampled by *linear interpolation at the bin centres*
(``start + (k + 1/2) Δ``), not by averaging the samples in each bin: it
gives a value for every bin whatever the sampling rate (a 60 Hz camera with
10 ms bins leaves most bins without a sample) and is exact for signals that
are smooth on the scale of a bin. Bins whose centre lies outside the
series' sampled time range are NaN (never extrapolated), and a NaN sample
(e.g. lost tracking) makes the bins next to it NaN.
"""
from __future__ import annotations

import numbers
import os
from typing import NamedTuple, Optional

import numpy as np

from .._checks import check_positive_float
from .spikes import bin_spikes

__all__ = ["NWBData", "read_nwb"]

_TRIAL_TIMES = ("start_time", "stop_time")


class NWBData(NamedTuple):
    """What :func:`read_nwb` returns.

    Parameters
    ----------
    y : ndarray (n_trials, T, n_units) or list of (T_i, n_units) int64 arrays, or (T, n_units)
        Spike counts, as :func:`lowrank.data.bin_spikes` returns them
        (``(T, n_units)`` for one continuous recording).
    u : same layout as ``y`` with ``U`` columns, float64, or None
        Condition columns of the trials table, constant within each trial
        (None unless ``conditions`` were asked for).
    behavior : dict
        Name → per-trial arrays in the layout of ``y`` with the series'
        columns in place of units (a 1-D series gives one column).
    unit_ids : ndarray of int64, (n_units,)
        The Units table ids of the columns of ``y``.
    bin_size : float
        Seconds.
    trial_times : ndarray (n_trials, 2)
        Start and stop time of each trial (for one continuous recording, one
        row: its start and the end of its last bin). Bins cover
        ``[start, start + T_i · bin_size)``.
    input_names : list of str
        One per column of ``u``: a numeric column's name, or
        ``"column=value"`` for each value of a text column (one-hot).

    Examples
    --------
    >>> rec = lowrank.data.read_nwb("teacher.nwb", bin_size=0.02, conditions=["block"])   # doctest: +SKIP
    >>> rec.input_names, rec.u.shape                                                     # doctest: +SKIP
    (['block=A', 'block=B'], (200, 75, 2))
    """

    y: object
    u: Optional[object]
    behavior: dict
    unit_ids: np.ndarray
    bin_size: float
    trial_times: np.ndarray
    input_names: list = []


def _import_pynwb():
    try:
        import pynwb
    except ImportError as exc:
        raise ImportError('reading NWB files needs pynwb: pip install "lowrank[nwb]"') from exc
    return pynwb


def _names(name, value):
    """None, one string or a list of strings, as a list."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        if len(set(value)) != len(value):
            raise ValueError(f"{name} lists a name twice: {list(value)}")
        return list(value)
    raise TypeError(f"{name} must be a name or a list of names (str); got {value!r}")


def _check_units_arg(units):
    if units is None:
        return None
    if isinstance(units, (numbers.Integral, np.integer)) and not isinstance(units, bool):
        units = [units]
    try:
        ids = [int(i) for i in units if not isinstance(i, bool) and isinstance(i, (numbers.Integral, np.integer))]
    except TypeError:
        raise TypeError(f"units must be a list of unit ids (integers) or None; got {units!r}") from None
    if len(ids) != len(units):
        raise TypeError(f"units must be a list of unit ids (integers) or None; got {units!r}")
    if not ids:
        raise ValueError("units is empty: give at least one unit id, or None for every unit")
    if len(set(ids)) != len(ids):
        raise ValueError(f"units lists a unit id twice: {ids}")
    return ids


def _spike_times(nwb, path, units):
    table = nwb.units
    if table is None or len(table) == 0:
        raise ValueError(f"{path} has no Units table (or it is empty): no spike times to bin")
    ids = np.asarray(table.id[:], dtype=np.int64)
    if units is None:
        rows = list(range(len(ids)))
    else:
        where = {int(i): r for r, i in enumerate(ids)}
        missing = [i for i in units if i not in where]
        if missing:
            raise ValueError(f"units: no unit with id {missing[0]} in {path} (its ids: "
                             f"{_short(ids.tolist())}); {len(missing)} of the ids given are missing")
        rows = [where[i] for i in units]
    times = [np.asarray(table.get_unit_spike_times(r), dtype=np.float64) for r in rows]
    return times, ids[rows]


def _short(values, n=10):
    return str(values) if len(values) <= n else f"[{', '.join(map(str, values[:n]))}, ...] ({len(values)} in all)"


def _trial_table(nwb, path, trials):
    """(n_trials, 2) start/stop times from the trials table, or None for one continuous recording."""
    if trials is False:
        return None
    table = nwb.trials
    if table is None or len(table) == 0:
        if trials is None:
            return None
        raise ValueError(f"{path} has no trials table; pass trials=False to read it as one continuous "
                         f"recording")
    return np.stack([np.asarray(table[c].data[:], dtype=np.float64) for c in _TRIAL_TIMES], axis=1)


def _condition_inputs(nwb, path, conditions, lengths):
    """Per-trial input arrays from trial-table columns (numeric as is, text one-hot), and their names."""
    table = nwb.trials
    if table is None:
        raise ValueError(f"conditions need a trials table; {path} has none")
    available = [c for c in table.colnames if c not in _TRIAL_TIMES]
    names = available if conditions is True else _names("conditions", conditions)
    cols, col_names = [], []
    for c in names:
        if c not in available:
            raise ValueError(f"conditions: the trials table of {path} has no column {c!r} (its columns: "
                             f"{available})")
        values = np.asarray(table[c].data[:])
        if values.ndim != 1:
            raise ValueError(f"conditions: column {c!r} holds {values.ndim}-D values per trial; only one "
                             f"number or one label per trial can be an input")
        if values.dtype.kind in "biuf":
            cols.append(values.astype(np.float64)[:, None])
            col_names.append(c)
        else:                                                    # labels: one indicator column per value
            labels = np.array([v.decode() if isinstance(v, bytes) else str(v) for v in values])
            levels = sorted(set(labels))
            cols.append((labels[:, None] == np.array(levels)[None]).astype(np.float64))
            col_names += [f"{c}={v}" for v in levels]
    table_u = np.concatenate(cols, axis=1)
    if not np.all(np.isfinite(table_u)):
        raise ValueError(f"conditions: the columns {names} of {path} hold NaN or inf values")
    return [np.repeat(row[None], L, axis=0) for row, L in zip(table_u, lengths)], col_names


def _series_in(container):
    """The TimeSeries a data interface holds: itself, or those of a container such as Position."""
    from pynwb import TimeSeries
    if isinstance(container, TimeSeries):
        return [container]
    inner = getattr(container, "time_series", None) or getattr(container, "spatial_series", None) or {}
    return [s for s in inner.values() if isinstance(s, TimeSeries)]


def _find_series(nwb, path, name):
    """The TimeSeries called ``name`` (or the single series of a container called so) anywhere in the file."""
    found, known = [], set()
    places = [("acquisition", nwb.acquisition)] + [(f"processing/{m}", mod.data_interfaces)
                                                   for m, mod in nwb.processing.items()]
    for where, interfaces in places:
        for iname, obj in interfaces.items():
            series = _series_in(obj)
            for s in series:
                known.add(s.name)
                if s.name == name:
                    found.append((f"{where}/{iname}" + ("" if s is obj else f"/{s.name}"), s))
            if not any(s is obj for s in series) and len(series) == 1 and series[0].name != iname:
                known.add(iname)                              # e.g. Position "position" holding one series
                if iname == name:
                    found.append((f"{where}/{iname}", series[0]))
    if not found:
        raise ValueError(f"behavior: no TimeSeries named {name!r} in {path} (found: {sorted(known) or 'none'})")
    if len(found) > 1:
        raise ValueError(f"behavior: {name!r} names {len(found)} series in {path} "
                         f"({', '.join(w for w, _ in found)}); rename one, or read it with pynwb")
    return found[0][1]


def _series_samples(series):
    data = np.asarray(series.data[:], dtype=np.float64)
    data = data.reshape(len(data), -1)
    if series.timestamps is not None:
        t = np.asarray(series.timestamps[:], dtype=np.float64)
    else:
        t = float(series.starting_time or 0.0) + np.arange(len(data)) / float(series.rate)
    order = np.argsort(t, kind="stable")
    return t[order], data[order]


def _resample(t, data, starts, lengths, bin_size):
    """Linear interpolation at bin centres per trial; NaN outside the sampled range."""
    out = []
    for s, L in zip(starts, lengths):
        centres = s + (np.arange(L) + 0.5) * bin_size
        out.append(np.stack([np.interp(centres, t, col, left=np.nan, right=np.nan) for col in data.T], axis=1))
    return out


def _layout(per_trial, continuous):
    """One array when continuous or all trials are equally long (the layout of ``bin_spikes``), else a list."""
    if continuous:
        return per_trial[0]
    if len({len(a) for a in per_trial}) == 1:
        return np.stack(per_trial)
    return per_trial


def _check_args(path, bin_size, trials):
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a path to an .nwb file (str or PathLike); got {type(path).__name__}")
    bin_size = check_positive_float("bin_size", bin_size)
    if trials is not None and not isinstance(trials, (bool, np.bool_)):
        raise TypeError(f"trials must be True (the trials table), False (one continuous recording) or None "
                        f"(the table if the file has one); got {trials!r}")
    return os.fspath(path), bin_size, (None if trials is None else bool(trials))


def _open(pynwb, path):
    if not os.path.exists(path):
        raise FileNotFoundError(2, "No such file or directory", path)
    if os.path.isdir(path):
        raise ValueError(f"{path} is a folder, not an NWB file")
    try:
        return pynwb.NWBHDF5IO(path, "r")
    except Exception as exc:  # h5py and hdmf raise many kinds for damaged or foreign files
        raise ValueError(f"{path} could not be read as an NWB file: {exc}") from None


def read_nwb(path, bin_size, *, trials=True, units=None, behavior=None, conditions=None):
    """Spike counts (and inputs, behaviour) from an NWB file, binned per trial.

    Parameters
    ----------
    path : str or PathLike
        An NWB 2 (HDF5) file with a Units table.
    bin_size : float
        Bin width in seconds, ``> 0``.
    trials : bool or None
        True: one trial per row of the trials table (``start_time``,
        ``stop_time``), binned as by :func:`lowrank.data.bin_spikes`
        (overlapping trials each get their own copy). False: the whole file
        as one continuous recording, from the first spike to the last. None:
        the trials table if the file has one, else continuous.
    units : list of int, optional
        Unit ids (the Units table's ``id``) to read, in this order; default
        all.
    behavior : str or list of str, optional
        Names of TimeSeries to resample onto the bins, searched in
        ``acquisition`` and every processing module (e.g.
        ``processing["behavior"]``); a container such as ``Position`` may be
        named instead when it holds a single series. Linear interpolation at
        bin centres, NaN outside the series' time range (module docstring).
    conditions : str, list of str or True, optional
        Columns of the trials table to return as inputs ``u``, constant within
        each trial: numeric columns as they are, text columns one-hot (one
        input per value). True: every column but the start and stop times.

    Returns
    -------
    NWBData
        ``y``, ``u``, ``behavior``, ``unit_ids``, ``bin_size``,
        ``trial_times``, ``input_names``.

    Raises
    ------
    ImportError
        pynwb is not installed (the message says ``pip install "lowrank[nwb]"``).
    FileNotFoundError
        No file at ``path``.
    ValueError
        The file is not NWB, has no Units table, no trials table with
        ``trials=True``, no series of a requested name (or two), no unit of a
        requested id; and everything :func:`bin_spikes` refuses (a trial
        shorter than one bin, NaN spike times).

    Examples
    --------
    ``examples/make_teacher_nwb.py`` writes such a file (40 units, 200 trials of 75 bins of 20 ms, the
    teacher's latents as behaviour):

    >>> rec = lowrank.data.read_nwb("teacher.nwb", bin_size=0.02, behavior="latents")   # doctest: +SKIP
    >>> rec.y.shape, rec.behavior["latents"].shape                                     # doctest: +SKIP
    ((200, 75, 40), (200, 75, 2))
    """
    path, bin_size, trials = _check_args(path, bin_size, trials)
    unit_ids = _check_units_arg(units)
    behavior = _names("behavior", behavior)
    if conditions is not None and conditions is not True:
        _names("conditions", conditions)
    if conditions is not None and trials is False:
        raise ValueError("conditions come from the trials table; they do not go with trials=False")
    pynwb = _import_pynwb()
    with _open(pynwb, path) as io:
        try:
            nwb = io.read()
        except Exception as exc:
            raise ValueError(f"{path} could not be read as an NWB file: {exc}") from None
        times, ids = _spike_times(nwb, path, unit_ids)
        iv = _trial_table(nwb, path, trials)
        try:
            y = bin_spikes(times, bin_size) if iv is None else bin_spikes(times, bin_size, trials=iv)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None
        continuous = iv is None
        per_trial = [y] if continuous else list(y)
        lengths = [len(a) for a in per_trial]
        if continuous:
            start = min(float(t[0]) for t in times if t.size)
            iv = np.array([[start, start + lengths[0] * bin_size]])
        u, input_names = None, []
        if conditions is not None:
            us, input_names = _condition_inputs(nwb, path, conditions, lengths)
            u = _layout(us, continuous)
        beh = {}
        for name in behavior:
            t, data = _series_samples(_find_series(nwb, path, name))
            beh[name] = _layout(_resample(t, data, iv[:, 0], lengths, bin_size), continuous)
    return NWBData(y=y, u=u, behavior=beh, unit_ids=ids, bin_size=bin_size, trial_times=iv,
                   input_names=input_names)

