"""Files in and out of the command line: one path from a data file to arrays, and one policy for outputs.

Inputs
    Data files are ``.npy`` (one array), ``.npz`` (``y``, inputs ``u``, a
    missing-data ``mask``, True where observed) or ``.nwb`` (spike times, binned
    at ``bin_size`` seconds); :func:`load_recording` reads every one of them for
    every command, with the mask, the inputs, ragged trials and a fingerprint of
    the data. Model files are read by :func:`lowrank.io.read_model`. Every
    failure to read one is a ``ValueError`` naming the file
    (``FileNotFoundError`` when there is none); complex or text data is a
    ``TypeError``, as in the library.
Outputs
    Checked before anything is computed: an output that is also an input
    (the same path after resolving links, or the same file) is refused; an
    existing output is replaced only with ``force=True`` (``--force``); its
    folder is created if needed and must be writable. Every file is written
    atomically (:mod:`lowrank._files`): a reader, or a run killed
    mid-write, sees the old file or the new one, never a mix.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from typing import NamedTuple, Optional

import numpy as np

from .._checks import as_float_array, check_bool, check_mask
from .._files import TMP_SUFFIX, atomic_write

__all__ = ["Recording", "load_recording", "load_inputs", "load_model", "check_outputs", "same_file",
           "save_npz", "plot_format", "as_path", "check_folder"]


class Recording(NamedTuple):
    """A recording as every command reads it.

    Attributes
    ----------
    y : ndarray (T, D) or (n_trials, T, D), or list of (T_i, D) arrays
        Observations as float64 (missing entries, where ``mask`` is False, hold 0).
    u : ndarray or None
        Inputs, the same layout with U columns.
    mask : bool ndarray or None
        True where observed (None: everything is).
    source : str
        The file it came from, or ``"an array"``.
    """

    y: object
    u: Optional[np.ndarray]
    mask: Optional[np.ndarray] = None
    source: str = "an array"

    @property
    def n_obs(self):
        return (self.y[0] if isinstance(self.y, list) else self.y).shape[-1]

    def fingerprint(self):
        """``{"sha256", "shape"}`` of ``y``, as a fit's provenance records it."""
        from ..training.provenance import data_fingerprint
        return data_fingerprint(self.y)


# ---- reading ---------------------------------------------------------------------------------------

def as_path(name, value):
    if isinstance(value, (str, os.PathLike)):
        return os.fspath(value)
    raise TypeError(f"{name} must be a path (str or PathLike); got {type(value).__name__}")


def _read_data_file(path, keys):
    """``{key: array}`` for those of ``keys`` in a data file (a ``.npy`` holds ``keys[0]`` only)."""
    from ..io import open_npz, read_npy
    if path.endswith(".npy"):
        return {keys[0]: read_npy(path, "data file (.npy array)")}
    if path.endswith(".npz"):
        with open_npz(path, "data file (.npz archive)") as z:
            if keys[0] not in z.files:
                raise ValueError(f"{path} has no array {keys[0]!r} (found {z.files})")
            return {k: z.read(k) for k in keys if k in z.files}
    raise ValueError(f"data files must be .npy or .npz; got {path!r}")


def _check_array(arr, name, ndims, what):
    arr = as_float_array(name, arr, None)
    if arr.ndim not in ndims:
        got = "a 0-d array (a single number)" if arr.ndim == 0 else f"shape {arr.shape}"
        raise ValueError(f"{name} must have shape {what}; got {got}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape})")
    return arr


def load_recording(data, *, ndims=(2, 3), bin_size=None):
    """Observations (and inputs) from a data file, or from an array.

    Parameters
    ----------
    data : str or PathLike or ndarray
        ``.npy``: the observations, (T, D) or (n_trials, T, D); ``.npz``: the
        observations under ``y``, optional inputs under ``u`` (same shape
        but for the last axis) and an optional ``mask`` (booleans that
        broadcast to ``y``, True where observed; ``y`` may hold NaN where it
        is False); ``.nwb``: spike counts binned from the Units
        table (:func:`lowrank.data.read_nwb`), per row of the trials table
        when ``ndims`` allows trials and the file has one (a list of (T_i, D)
        arrays when trials differ in length), else as one (T, D) recording.
        An array is taken as the observations.
    ndims : tuple of int
        Allowed numbers of dimensions of ``y``.
    bin_size : float, optional
        Seconds per bin: required for ``.nwb``, refused otherwise.

    Returns
    -------
    Recording
    """
    shape = " or ".join({2: "(T, D)", 3: "(n_trials, T, D)"}[d] for d in ndims)
    is_nwb = isinstance(data, (str, os.PathLike)) and os.fspath(data).lower().endswith(".nwb")
    if bin_size is not None and not is_nwb:
        raise ValueError("bin_size (--bin-size) applies to .nwb files of spike times only; the data given is "
                         + (repr(os.fspath(data)) if isinstance(data, (str, os.PathLike)) else "an array"))
    if is_nwb:
        return _load_nwb(os.fspath(data), bin_size, trials=None if 3 in ndims else False)
    if not isinstance(data, (str, os.PathLike)):
        return Recording(_check_array(data, "data", ndims, shape), None, None, "an array")
    path = os.fspath(data)
    arrays = _read_data_file(path, ("y", "u", "mask"))
    mask = arrays.get("mask")
    if mask is not None:
        mask = check_mask(f"the mask in {path}", mask, np.shape(arrays["y"]))
        arrays["y"] = np.where(mask, arrays["y"], 0.0)     # checked as zeros; the fit leaves them out
    y = _check_array(arrays["y"], f"the data in {path}", ndims, shape)
    u = arrays.get("u")
    if u is not None:
        want = y.shape[:-1] + ("U",)
        u = _check_array(u, f"the inputs u in {path}", (y.ndim,), str(want).replace("'", ""))
        if u.shape[:-1] != y.shape[:-1]:
            raise ValueError(f"the inputs u in {path} must have shape {want} to match y; got {u.shape}")
    return Recording(y, u, None if mask is None or mask.all() else np.array(mask), path)


def _load_nwb(path, bin_size, trials):
    """Spike counts from an NWB file as float64 (a list for trials of different lengths)."""
    from ..data import read_nwb
    if bin_size is None:
        raise ValueError(f"bin_size (--bin-size) is required for .nwb files ({path}): the bin width in seconds, e.g. 0.02")
    try:
        y = read_nwb(path, bin_size, trials=trials).y
    except ImportError:
        raise ValueError('reading .nwb files needs pynwb: pip install "lowrank[nwb]"') from None
    return Recording(y.astype(np.float64) if isinstance(y, np.ndarray) else [a.astype(np.float64) for a in y],
                     None, None, path)


def load_inputs(inputs):
    """Inputs for :func:`sample_model`: a path (``.npy``, or ``.npz`` with ``u``), an array, or None."""
    if inputs is None or not isinstance(inputs, (str, os.PathLike)):
        return inputs
    path = os.fspath(inputs)
    u = _read_data_file(path, ("u",))["u"]
    return _check_array(u, f"the inputs in {path}", (2, 3), "(T, U) or (n_trials, T, U)")


def load_model(model):
    """A ``LowRankRNN`` from a model file (or the model itself)."""
    from ..rnn import LowRankRNN
    if isinstance(model, LowRankRNN):
        return model
    return LowRankRNN.load(as_path("model", model))


# ---- writing ---------------------------------------------------------------------------------------

def same_file(a, b):
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _flag(name):
    return "--" + name.replace("_", "-")


def check_outputs(outputs, inputs=None, *, force=False, keep=()):
    """Check output paths before any compute (the policy in the module docstring).

    Parameters
    ----------
    outputs : dict of name -> path or None
        The files to be written, by argument name (None: not written).
    inputs : dict of name -> path or None
        Files read by the same call; an output may not be one of them.
    force : bool
        Replace existing outputs.
    keep : iterable of names
        Outputs that may exist without ``force`` (a checkpoint being resumed).

    Returns
    -------
    dict of name -> str
        The outputs given, as str paths. Their folders exist afterwards.
    """
    force = check_bool("force", force)
    outs = {k: as_path(k, v) for k, v in outputs.items() if v is not None}
    ins = {k: os.fspath(v) for k, v in (inputs or {}).items() if isinstance(v, (str, os.PathLike))}
    names = list(outs)
    for i, k in enumerate(names):
        for j in names[:i]:
            if same_file(outs[k], outs[j]):
                raise ValueError(f"{_flag(k)} {outs[k]!r} is the same file as {_flag(j)} {outs[j]!r}; give them "
                                 f"different paths")
    for k, p in outs.items():
        for j, q in ins.items():
            if same_file(p, q):
                raise ValueError(f"{_flag(k)} {p!r} is the input file {_flag(j) if j != 'data' else 'DATA'} {q!r}; "
                                 f"refusing to overwrite an input")
        if os.path.isdir(p):
            raise ValueError(f"{_flag(k)} {p!r} is a directory; give a file name")
        if os.path.lexists(p) and not force and k not in keep:
            raise ValueError(f"{_flag(k)} {p!r} already exists; pass --force (force=True) to replace it")
        check_folder(k, p)
    return outs


def check_folder(name, path):
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"{_flag(name)} {path!r}: cannot create its folder {folder!r} ({exc.strerror or exc})") from None
    # The real test of writability (os.access is wrong for root and for some network file systems).
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.{os.getpid()}.", suffix=TMP_SUFFIX,
                                   dir=folder)
    except OSError as exc:
        raise ValueError(f"{_flag(name)} {path!r}: cannot write in {folder!r} ({exc.strerror or exc})") from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(tmp)


def save_npz(path, **arrays):
    arrays = {k: v for k, v in arrays.items() if v is not None}
    atomic_write(path, lambda fh: np.savez(fh, **arrays))


def plot_format(path):
    """The image format for ``path`` (from its extension); imports matplotlib, so fails early without it."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ValueError("plot needs matplotlib: pip install 'lowrank[plot]'") from None
    supported = Figure().canvas.get_supported_filetypes()
    ext = os.path.splitext(path)[1][1:].lower()
    if ext not in supported:
        raise ValueError(f"--plot {path!r}: the file name must end in one of "
                         f"{', '.join('.' + e for e in sorted(supported))}")
    return ext


