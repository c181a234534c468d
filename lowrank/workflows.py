"""The computations behind the ``lowrank`` command line, as plain Python functions.

Each command of :mod:`lowrank.cli` parses its arguments, calls one function
here and prints what it returns; the functions are as usable from Python::

    from lowrank import workflows
    out = workflows.fit_recording("rec.npy", rank=3, n_units=256, n_iter=5000, out="m.npz")
    ev = workflows.evaluate_recording("m.npz", "rec.npy", smooth_hann=15)

They take plain arguments (paths, numbers, strings; arrays or models where
that is natural), and follow one policy for files:

Inputs
    Data files are ``.npy`` (one array) or ``.npz`` (``y``, and inputs
    ``u``); model files are read by :func:`lowrank.io.read_model`. Every
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
Failed and interrupted fits
    A fit that fails while computing (a non-finite ELBO or gradient,
    ``FloatingPointError`` or ``lowrank.smc.SMCDegeneracyError``, or any
    other error after its first update) still writes ``out``: the best
    parameters the fit found where the error carries them
    (``best_params``), else the last good ones, with the history so far
    where it carries one (the initial parameters if no update left finite
    ones). The exception is then re-raised with ``saved_to`` (``out``, or
    None if nothing could be written), ``saved_what`` (``"best"``, ``"last
    good"`` or ``"initial"``), ``saved_best`` and ``fit_iterations``
    (updates completed) set. Errors
    raised before the first update (bad data or settings) write nothing.
    A fit stopped by Ctrl-C returns normally with
    ``stop_reason == "interrupted"`` after writing its best parameters.
"""
from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from typing import NamedTuple, Optional

import numpy as np

from ._checks import as_float_array, check_bool, check_int, check_mask
from ._files import TMP_SUFFIX, atomic_write

__all__ = ["Recording", "FitOutcome", "load_recording", "load_model", "check_outputs",
           "simulate_teacher", "sample_model", "model_info", "fixed_points_of", "fit_recording", "fit_demo",
           "evaluate_recording", "demo_description", "load_inputs", "posterior_latents", "DEMO", "DEFAULT_UNITS",
           "fit_many_recording", "FitManyOutcome", "load_settings", "SETTING_KEYS"]

#: n_units of a fit when none is given and the read-out is latent (the library itself has no default).
DEFAULT_UNITS = 128

#: Settings of the built-in demo (``fit_demo``; ``lowrank fit`` without a data file).
#: (``lowrank.cli.DEMO`` is the same dict; the keys are the command line's names.)
DEMO = dict(teacher="oscillator", n_train=160, units=20, rank=2, activation="relu", readout="units",
            iters=2000, lr=1e-2, lr_end=1e-3, window=None)


class Recording(NamedTuple):
    """Observations ``y``, optional inputs ``u`` and optional missing-data ``mask`` (True where
    observed) read from a data file; ``y`` and ``u`` as float64 arrays."""

    y: np.ndarray
    u: Optional[np.ndarray]
    mask: Optional[np.ndarray] = None


class FitOutcome(NamedTuple):
    """What :func:`fit_recording` and :func:`fit_demo` return.

    Attributes
    ----------
    model : LowRankRNN
        The fitted model (best parameters after an interruption).
    out : str or None
        Where the model was written.
    n_iter : int
    stop_reason : str
        ``"completed"``, ``"callback"`` or ``"interrupted"``.
    best_elbo : float
    plot : str or None
        Where the training curve was drawn.
    summary : str or None
        The demo's description of its data and recovery report.
    """

    model: object
    out: Optional[str]
    n_iter: int
    stop_reason: str
    best_elbo: float
    plot: Optional[str] = None
    summary: Optional[str] = None


# ---- reading ---------------------------------------------------------------------------------------

def _as_path(name, value):
    if isinstance(value, (str, os.PathLike)):
        return os.fspath(value)
    raise TypeError(f"{name} must be a path (str or PathLike); got {type(value).__name__}")


def _read_data_file(path, keys):
    """``{key: array}`` for those of ``keys`` in a data file (a ``.npy`` holds ``keys[0]`` only)."""
    from .io import open_npz, read_npy
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
        raise ValueError("bin_size applies to .nwb files of spike times only; the data given is "
                         + (repr(os.fspath(data)) if isinstance(data, (str, os.PathLike)) else "an array"))
    if is_nwb:
        return _load_nwb(os.fspath(data), bin_size, trials=None if 3 in ndims else False)
    if not isinstance(data, (str, os.PathLike)):
        return Recording(_check_array(data, "data", ndims, shape), None)
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
    return Recording(y, u, None if mask is None or mask.all() else np.array(mask))


def _load_nwb(path, bin_size, trials):
    """Spike counts from an NWB file as float64 (a list for trials of different lengths)."""
    from .data import read_nwb
    if bin_size is None:
        raise ValueError(f"bin_size is required for .nwb files ({path}): the bin width in seconds, e.g. 0.02")
    try:
        y = read_nwb(path, bin_size, trials=trials).y
    except ImportError:
        raise ValueError('reading .nwb files needs pynwb: pip install "lowrank[nwb]"') from None
    return Recording(y.astype(np.float64) if isinstance(y, np.ndarray) else [a.astype(np.float64) for a in y],
                     None)


def load_inputs(inputs):
    """Inputs for :func:`sample_model`: a path (``.npy``, or ``.npz`` with ``u``), an array, or None."""
    if inputs is None or not isinstance(inputs, (str, os.PathLike)):
        return inputs
    path = os.fspath(inputs)
    u = _read_data_file(path, ("u",))["u"]
    return _check_array(u, f"the inputs in {path}", (2, 3), "(T, U) or (n_trials, T, U)")


def load_model(model):
    """A ``LowRankRNN`` from a model file (or the model itself)."""
    from .rnn import LowRankRNN
    if isinstance(model, LowRankRNN):
        return model
    return LowRankRNN.load(_as_path("model", model))


# ---- writing ---------------------------------------------------------------------------------------

def _same_file(a, b):
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


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
    outs = {k: _as_path(k, v) for k, v in outputs.items() if v is not None}
    ins = {k: os.fspath(v) for k, v in (inputs or {}).items() if isinstance(v, (str, os.PathLike))}
    names = list(outs)
    for i, k in enumerate(names):
        for j in names[:i]:
            if _same_file(outs[k], outs[j]):
                raise ValueError(f"{k}={outs[k]!r} is the same file as {j}={outs[j]!r}; give them different paths")
    for k, p in outs.items():
        for j, q in ins.items():
            if _same_file(p, q):
                raise ValueError(f"{k}={p!r} is the input file {j}={q!r}; refusing to overwrite an input")
        if os.path.isdir(p):
            raise ValueError(f"{k}={p!r} is a directory; give a file name")
        if os.path.lexists(p) and not force and k not in keep:
            raise ValueError(f"{k}={p!r} already exists; pass force=True to replace it")
        _check_folder(k, p)
    return outs


def _check_folder(name, path):
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"{name}={path!r}: cannot create its folder {folder!r} ({exc.strerror or exc})") from None
    # The real test of writability (os.access is wrong for root and for some network file systems).
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.{os.getpid()}.", suffix=TMP_SUFFIX,
                                   dir=folder)
    except OSError as exc:
        raise ValueError(f"{name}={path!r}: cannot write in {folder!r} ({exc.strerror or exc})") from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(tmp)


def _save_npz(path, **arrays):
    arrays = {k: v for k, v in arrays.items() if v is not None}
    atomic_write(path, lambda fh: np.savez(fh, **arrays))


def _plot_format(path):
    """The image format for ``path`` (from its extension); imports matplotlib, so fails early without it."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ValueError("plot needs matplotlib: pip install 'lowrank[plot]'") from None
    supported = Figure().canvas.get_supported_filetypes()
    ext = os.path.splitext(path)[1][1:].lower()
    if ext not in supported:
        raise ValueError(f"plot={path!r}: the file name must end in one of "
                         f"{', '.join('.' + e for e in sorted(supported))}")
    return ext


# ---- commands --------------------------------------------------------------------------------------

def simulate_teacher(teacher="oscillator", *, n_trials=None, n_steps=None, seed=0, out="data.npz", force=False):
    """Simulate a built-in teacher's data set and write it to ``out`` (``y``, ``z``, and ``u``/``labels`` if any).

    Returns the ``lowrank.teachers.Dataset``.
    """
    from . import teachers
    check_int("n_trials", n_trials, 1, allow_none=True)
    check_int("n_steps", n_steps, 1, allow_none=True)
    out = check_outputs({"out": out}, force=force)["out"]
    t = teachers.get(teacher, seed=seed)
    d = t.dataset(n_trials=n_trials, n_steps=n_steps, seed=seed)
    _save_npz(out, y=d.y, z=d.z, u=d.u, labels=d.labels)
    return d


def sample_model(model, *, n_trials=1, n_steps=1000, inputs=None, noise_scale=1.0, seed=0, out="gen.npz",
                 force=False):
    """Generate data from a saved model and write ``y``, ``z`` (and ``u``) to ``out``; returns the ``Sample``."""
    out = check_outputs({"out": out}, {"model": model, "inputs": inputs}, force=force)["out"]
    m = load_model(model)
    s = m.sample(n_trials, n_steps, inputs=load_inputs(inputs), noise_scale=noise_scale, seed=seed)
    _save_npz(out, y=s.y, z=s.z, u=s.u)
    return s


def model_info(model):
    """``(model, extra, history)`` of a model file: the model (with ``provenance_``, the fit's
    settings, seed, data fingerprint and lowrank version, or None), its extra arrays, and its
    fit's History or None."""
    from .io import provenance_of, read_model
    from .rnn import LowRankRNN
    from .training import History
    f = read_model(_as_path("model", model))
    m = LowRankRNN.from_params(f.params, f.options, seed=f.seed, noise_basis=f.noise_basis)
    m.provenance_ = provenance_of(f.metadata)
    try:
        history = History.from_extra(f.extra)
    except (KeyError, ValueError, TypeError, IndexError):
        history = None
    return m, f.extra, history


def fixed_points_of(model, inputs=None, *, plot=None, force=False):
    """Every fixed point of a saved model under a constant input; optionally drawn to ``plot``."""
    outs = check_outputs({"plot": plot}, {"model": model}, force=force)
    if "plot" in outs:
        _plot_format(outs["plot"])
    m = load_model(model)
    res = m.fixed_points(inputs=inputs)
    if "plot" in outs:
        from . import plotting
        plotting.save_figure(plotting.plot_fixed_points(m, res), outs["plot"])
    return res


def evaluate_recording(model, data, *, smooth_hann=None, burn_in=0.25, context=50, seed=0, plot=None,
                       force=False, bin_size=None):
    """``lowrank.evaluate`` of a saved model against a recording file; optionally drawn to ``plot``.

    ``data`` is a ``.npy`` (T, D) recording or a ``.npz`` with ``y`` (T, D)
    and, for a model with inputs, ``u`` (T, U). ``context`` steps at its start
    set the initial state of the generated series (0: the model's
    initial-state distribution); see :func:`lowrank.evaluate`. An ``.nwb``
    file is binned at ``bin_size`` seconds as one continuous recording.
    """
    from .evaluation import evaluate
    outs = check_outputs({"plot": plot}, {"model": model, "data": data}, force=force)
    if "plot" in outs:
        _plot_format(outs["plot"])
    m = load_model(model)
    rec = load_recording(data, ndims=(2,), bin_size=bin_size)
    U = m.options.n_inputs
    if U and rec.u is None:
        raise ValueError(f"the model has n_inputs={U}: give the recording as a .npz with y (T, D) and its "
                         f"inputs u (T, {U})")
    T = rec.y.shape[0]
    context = check_int("context", context, 0)
    if context > T:
        raise ValueError(f"context must be between 0 and the recording's length {T}; got {context}")
    res = evaluate(m, rec.y, rec.u, smooth_hann=smooth_hann, burn_in=burn_in, context=context, seed=seed)
    if "plot" in outs:
        from . import plotting
        plotting.save_figure(plotting.plot_evaluation(res), outs["plot"])
    return res


def _fit_outputs(out, checkpoint, resume, plot, data, force):
    # A checkpoint may be the file being resumed (the usual way to continue a fit): then it is
    # written without force, and only the other outputs are checked against it.
    continuing = checkpoint is not None and resume is not None and _same_file(checkpoint, resume)
    outs = check_outputs({"out": out, "checkpoint": checkpoint, "plot": plot},
                         {"data": data, "resume": None if continuing else resume}, force=force,
                         keep=("checkpoint",) if continuing else ())
    for name in ("out", "plot"):
        if continuing and name in outs and _same_file(outs[name], resume):
            raise ValueError(f"{name}={outs[name]!r} is the input file resume={resume!r}; "
                             f"refusing to overwrite an input")
    if "plot" in outs:
        _plot_format(outs["plot"])
    return outs


def _run_fit(model, y, u, outs, fit_kw):
    """``model.fit`` that writes ``outs["out"]`` whatever happens once it computes (module docstring)."""
    out = outs.get("out")
    state = {"done": 0, "finite": model.params.copy(), "finite_what": "initial"}

    def track(i, m, info):
        # Updates completed (tells a failure while computing from a refusal before it), and the
        # last finite parameters, whatever state the fit leaves the model in when it fails.
        state["done"] = i + 1
        if all(np.all(np.isfinite(x)) for x in m.params):
            state.update(finite=m.params.copy(), finite_what="last good")

    try:
        model.fit(y, inputs=u, callback=track, **fit_kw)
    except Exception as exc:
        if not (isinstance(exc, FloatingPointError) or state["done"] > 0):
            raise                                     # refused before computing: bad data or settings
        it = getattr(exc, "iteration", None)
        exc.fit_iterations = it if isinstance(it, int) and not isinstance(it, bool) else state["done"]
        exc.saved_to, exc.saved_best, exc.saved_what = None, False, None
        if out is not None:
            _save_failed_fit(model, exc, out, state["finite"], state["finite_what"])
        raise
    if out is not None:
        model.save(out)
    if "plot" in outs:
        from . import plotting
        plotting.save_figure(plotting.plot_history(model), outs["plot"])
    return FitOutcome(model, out, int(model.n_iter_), model.stop_reason_, float(model.best_elbo_),
                      outs.get("plot"))


def _save_failed_fit(model, exc, out, tracked, tracked_what):
    """Write the best, else the last good (else the initial) parameters of a fit that raised."""
    from .model.params import Params, check_params
    candidates = [("best", getattr(exc, "best_params", None)), ("last good", model.params),
                  (tracked_what, tracked)]
    history = getattr(exc, "history", None)
    extra = history.to_extra() if hasattr(history, "to_extra") else None
    for what, params in candidates:
        if not isinstance(params, Params):
            continue
        try:
            model.params = check_params(params, model.options)
        except (TypeError, ValueError):
            continue                                  # e.g. not finite: try the next
        try:
            model.save(out, extra=extra)
        except Exception as save_exc:                 # never hide the fit's own error
            _note(exc, f"lowrank: could not save the parameters to {out!r}: {save_exc}")
            return
        exc.saved_to, exc.saved_best, exc.saved_what = out, what == "best", what
        _note(exc, f"lowrank: saved the {what} parameters to {out!r}")
        return
    _note(exc, "lowrank: no finite parameters to save")


def _note(exc, text):
    if hasattr(exc, "add_note"):                      # Python >= 3.11
        exc.add_note(text)


def fit_recording(data, *, rank, n_units=None, activation="relu", readout="latent", likelihood="gaussian",
                  link="softplus", proposal=None, encoder=None, n_particles=10, window=50, batch_size=10, n_iter=1000, lr=1e-3, lr_end=None,
                  heldout=None, eval_every=50, augment_noise=None, correlated_noise=False, data_hann=None,
                  unsmooth_below=None, seed=0, checkpoint=None, checkpoint_every=None, resume=None,
                  out=None, plot=None, force=False, verbose=1, bin_size=None, device="cpu"):
    """Fit a ``LowRankRNN`` to a recording and write it to ``out``.

    Defaults are those of :class:`lowrank.LowRankRNN` and :func:`lowrank.fit`,
    except ``n_units``, which the library requires: None means ``D`` (the
    number of recorded channels) for ``readout="units"``, else
    ``DEFAULT_UNITS`` (128). ``seed`` seeds both the initialisation and the
    fit. ``window=None`` trains on whole trials.

    Parameters
    ----------
    data : path or ndarray
        See :func:`load_recording`.
    bin_size : float, optional
        Seconds per bin of an ``.nwb`` file's spike counts (required for
        ``.nwb``, refused otherwise).
    proposal, encoder
        As for ``lowrank.fit`` and ``LowRankRNN``; ``proposal="encoder"``
        without ``encoder`` takes the default network.
    correlated_noise : bool
        Full-covariance observation noise shaped like the data beyond its top
        ``rank`` directions (:func:`lowrank.residual_noise_basis`); with
        ``data_hann``, its residual is scaled back up by that Hann window's
        white-noise gain.
    data_hann, unsmooth_below : int, float, optional
        The recording was smoothed by a ``data_hann``-point Hann window; with
        ``unsmooth_below``, undo that below this frequency before fitting
        (:func:`lowrank.metrics.hann_unsmooth`).
    out, plot : path, optional
        The model file and a training-curve image (see the module docstring
        for the output policy and for what happens when the fit fails).
    Other parameters are those of ``LowRankRNN`` and ``lowrank.fit``.

    Returns
    -------
    FitOutcome
    """
    from .rnn import LowRankRNN
    correlated_noise = check_bool("correlated_noise", correlated_noise)
    rank = check_int("rank", rank, 1)
    if data_hann is not None and not (correlated_noise or unsmooth_below is not None):
        raise ValueError("data_hann only applies with correlated_noise or unsmooth_below")
    if unsmooth_below is not None and data_hann is None:
        raise ValueError("unsmooth_below needs data_hann: the Hann window that smoothed the recording")
    if unsmooth_below is not None and likelihood != "gaussian":
        raise ValueError("unsmooth_below applies to continuous recordings (Gaussian likelihood), not counts")
    outs = _fit_outputs(out, checkpoint, resume, plot, data, force)
    y, u, mask = load_recording(data, bin_size=bin_size)
    if mask is not None and (correlated_noise or unsmooth_below is not None):
        raise ValueError(f"the data in {data} has a mask (missing values), which correlated_noise and "
                         "unsmooth_below cannot take: they filter or mix the channels")
    D = (y[0] if isinstance(y, list) else y).shape[-1]              # a list: NWB trials of different lengths
    if n_units is None:
        n_units = D if readout == "units" else DEFAULT_UNITS
    basis = None
    if correlated_noise:
        from .metrics import hann_noise_gain
        from .model.noise_basis import residual_noise_basis
        gain = hann_noise_gain(data_hann) if data_hann else 1.0
        basis = residual_noise_basis(y, rank, smoothing_gain=gain)
    if unsmooth_below is not None:
        from .metrics import hann_unsmooth
        y = hann_unsmooth(y, data_hann, max_freq=unsmooth_below, axis=y.ndim - 2)
    if proposal == "encoder" and encoder is None:
        encoder = True
    model = LowRankRNN(n_units=n_units, rank=rank, n_obs=D, n_inputs=0 if u is None else u.shape[-1],
                       activation=activation, readout=readout, likelihood=likelihood, link=link, seed=seed,
                       noise_basis=basis, encoder=encoder)
    fit_kw = dict(proposal=proposal, n_particles=n_particles, window=window, batch_size=batch_size, n_iter=n_iter, lr=lr,
                  lr_end=lr_end, heldout=heldout, eval_every=eval_every, augment_noise=augment_noise, seed=seed,
                  checkpoint=outs.get("checkpoint"), checkpoint_every=checkpoint_every, resume=resume,
                  verbose=verbose, mask=mask, device=device)
    return _run_fit(model, y, u, outs, fit_kw)


def demo_description(teacher=None):
    """One line saying what :func:`fit_demo` fits (the teacher, its data set and the split)."""
    from . import teachers
    name = DEMO["teacher"] if teacher is None else teacher
    t = teachers.get(name, seed=0)
    n_train = _demo_train_trials(t)
    kind = "spike counts of " if t.model.options.likelihood == "poisson" else ""
    return (f"no data file given: fitting the built-in '{name}' teacher's data set "
            f"({n_train} training + {t.n_trials - n_train} held-out trials of {t.n_steps} steps, "
            f"{kind}{t.model.options.n_obs} units)")


def _demo_train_trials(teacher):
    """Training trials of the demo: ``DEMO["n_train"]`` of the oscillator's 200, the same share of others."""
    return max(1, round(teacher.n_trials * DEMO["n_train"] / 200))


def fit_demo(*, teacher=None, rank=None, n_units=None, activation=None, readout=None, proposal=None,
             encoder=None, n_particles=10, batch_size=10, window=None, n_iter=None, lr=None, lr_end=None,
             eval_every=None, seed=0, checkpoint=None, checkpoint_every=None, resume=None, out=None, plot=None,
             force=False, verbose=1, device="cpu"):
    """Fit a student to a built-in teacher's data and compare it with the teacher.

    None takes the demo's setting (``DEMO``: the ``oscillator`` teacher, rank 2,
    20 units, ReLU, units read-out, whole trials, 2000 updates, lr 1e-2
    decaying to 1e-3, the last 20 % of the trials held out and evaluated
    every ``n_iter // 10`` updates). Another ``teacher`` (e.g. the spiking
    ``oscillator_poisson``) sets the student's size, read-out, likelihood
    and link to its own; a spiking teacher's student uses the encoder
    proposal unless ``proposal`` says otherwise. The returned ``summary`` is
    the recovery report (None after an interruption).
    """
    from . import teachers
    from .recovery import compare_to_teacher
    from .rnn import LowRankRNN
    d = DEMO
    outs = _fit_outputs(out, checkpoint, resume, plot, None, force)
    n_iter = d["iters"] if n_iter is None else check_int("n_iter", n_iter, 1)
    name = d["teacher"] if teacher is None else teacher
    teacher = teachers.get(name, seed=0)
    data = teacher.dataset(seed=0)
    n_train = _demo_train_trials(teacher)
    y_train, y_test = data.y[:n_train], data.y[n_train:]
    t_opts = teacher.model.options
    own = name != d["teacher"]

    def pick(value, key, teacher_value=None):
        if value is not None:
            return value
        return teacher_value if own and teacher_value is not None else d[key]

    spiking = t_opts.likelihood == "poisson"
    if proposal is None and spiking:
        proposal = "encoder"
    if proposal == "encoder" and encoder is None:
        encoder = True
    model = LowRankRNN(n_units=pick(n_units, "units", t_opts.n_units), rank=pick(rank, "rank", t_opts.rank),
                       n_obs=data.y.shape[2], activation=pick(activation, "activation", t_opts.activation),
                       readout=pick(readout, "readout", t_opts.readout),
                       units_readout_from=t_opts.units_readout_from, likelihood=t_opts.likelihood,
                       link=t_opts.link, bin_width=t_opts.bin_width, seed=seed, encoder=encoder)
    fit_kw = dict(proposal=proposal, n_particles=n_particles, window=window, batch_size=batch_size, n_iter=n_iter,
                  lr=pick(lr, "lr"), lr_end=pick(lr_end, "lr_end"), y_val=y_test,
                  eval_every=max(1, n_iter // 10) if eval_every is None else eval_every, seed=seed,
                  checkpoint=outs.get("checkpoint"), checkpoint_every=checkpoint_every, resume=resume,
                  verbose=verbose, device=device)
    res = _run_fit(model, y_train, None, outs, fit_kw)
    if res.stop_reason == "interrupted":
        return res
    rec = compare_to_teacher(model, teacher, y_test, n_particles=n_particles, seed=seed)
    return res._replace(summary=rec.summary())


# ---- many fits: lowrank fit-many --------------------------------------------------------------------

#: Keys a settings file may set, by kind: LowRankRNN arguments and lowrank.fit arguments.
SETTING_KEYS = dict(rank="int>=1", n_units="int>=1", activation="str", lr="float>0", lr_end="float>0",
                    n_iter="int>=1", n_particles="int>=1", batch_size="int>=1", eval_every="int>=1",
                    window="int>=0", augment_noise="float>=0", proposal="str")


class FitManyOutcome(NamedTuple):
    """What :func:`fit_many_recording` returns.

    Attributes
    ----------
    table : list of dict
        One row per fit (every setting × seed, finished before or now), in order.
    best : dict or None
        The row of the model written to ``best.npz`` (None when no fit has a finite ELBO).
    out : str
        The run folder.
    ran, skipped : int
        Fits computed by this call, and fits found finished in ``out`` and not rerun.
    failed : list of dict
        The rows with an error.
    """

    table: list
    best: Optional[dict]
    out: str
    ran: int
    skipped: int
    failed: list


def _check_setting_value(where, key, value):
    kind = SETTING_KEYS[key]
    name = f"{where}.{key}"        # a dotted TOML key: the command line leaves it as it is
    if kind == "str":
        if not isinstance(value, str):
            raise TypeError(f"{name} must be a string; got {type(value).__name__} {value!r}")
        return value
    if kind.startswith("int"):
        value = check_int(name, value, int(kind[-1]))
        return (value or None) if key == "window" else value     # window = 0: whole trials
    from ._checks import check_float
    return check_float(name, value, low=0.0, low_open=kind.endswith(">0"))


def load_settings(path):
    """The settings of a TOML grid file, as a list of dicts (overrides of the model and fit arguments).

    The file holds ``[[setting]]`` tables (one setting each), a ``[grid]``
    table of lists (every combination is a setting, the first key varying
    slowest), or both (the ``[[setting]]`` tables first)::

        [[setting]]
        lr = 1e-3

        [grid]
        lr = [1e-3, 3e-3]
        rank = [2, 3]

    Keys: ``SETTING_KEYS`` (``window = 0`` means whole trials). Errors name
    the file, the table and the key.
    """
    import itertools
    if sys.version_info >= (3, 11):
        import tomllib
    else:                                           # pragma: no cover - Python 3.10
        import tomli as tomllib
    path = _as_path("settings", path)
    try:
        with open(path, "rb") as fh:
            doc = tomllib.load(fh)
    except FileNotFoundError:
        raise
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"settings file {path}: cannot read it ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"settings file {path} is not valid TOML: {exc}") from None
    unknown = sorted(set(doc) - {"setting", "grid"})
    if unknown:
        raise ValueError(f"settings file {path}: unknown table {unknown[0]!r} (expected [[setting]] and/or [grid])")
    tables = doc.get("setting", [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise ValueError(f"settings file {path}: 'setting' must be an array of tables ([[setting]])")
    grid = doc.get("grid", {})
    if not isinstance(grid, dict):
        raise ValueError(f"settings file {path}: 'grid' must be a table ([grid]) of lists")

    def check_keys(where, keys):
        for key in keys:
            if key not in SETTING_KEYS:
                raise ValueError(f"{where} has an unknown key {key!r} (allowed: {', '.join(sorted(SETTING_KEYS))})")

    settings = []
    for i, table in enumerate(tables, 1):
        where = f"{path}: setting[{i}]"
        check_keys(where, table)
        settings.append({k: _check_setting_value(where, k, v) for k, v in table.items()})
    check_keys(f"{path}: [grid]", grid)
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise ValueError(f"{path}: grid.{key} must be a non-empty list of values; got {values!r}")
    lists = {k: [_check_setting_value(f"{path}: grid", k, v) for v in vs] for k, vs in grid.items()}
    if lists:
        settings += [dict(zip(lists, combo)) for combo in itertools.product(*lists.values())]
    if not settings:
        raise ValueError(f"settings file {path} defines no setting (add [[setting]] tables or a [grid])")
    return settings


def _file_digest(path):
    import hashlib
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _run_folder(out, plan, force):
    """Check the run folder against ``plan`` (what is fitted): a folder of another plan needs ``force``."""
    import json
    out = _as_path("out", out)
    if os.path.exists(out) and not os.path.isdir(out):
        raise ValueError(f"out={out!r} is a file; give a folder for the fits")
    _check_folder("out", os.path.join(out, "plan.json"))
    plan_file = os.path.join(out, "plan.json")
    text = json.dumps(plan, indent=2, sort_keys=True)
    if os.path.exists(plan_file) and not force:
        try:
            with open(plan_file) as fh:
                old = json.load(fh)
        except (OSError, ValueError):
            old = None
        if old != json.loads(text):
            diff = sorted(k for k in set(plan) | set(old or {}) if (old or {}).get(k) != plan.get(k))
            raise ValueError(f"out={out!r} holds fits of another plan (differs in: {', '.join(diff) or 'plan.json'}); "
                             f"give another folder, or pass force=True to replace them")
    atomic_write(plan_file, lambda fh: fh.write(text.encode()))
    return out


def _fit_file(out, setting, seed):
    return os.path.join(out, f"fit-{setting:03d}-seed-{seed}.npz")


def _finished_row(path):
    """The table row saved in a finished fit's model file, or None (no file, or not one of ours)."""
    import json

    from .io import read_model
    if not os.path.exists(path):
        return None
    try:
        row = read_model(path).extra.get("fit_many/row")
        return None if row is None else json.loads(str(row[()]))
    except (ValueError, TypeError, KeyError):
        return None


def _write_table(out, table):
    import csv
    import io
    import json
    keys = []
    for row in table:
        keys += [k for k in row if k not in keys]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=keys, lineterminator="\n")
    writer.writeheader()
    writer.writerows(table)
    atomic_write(os.path.join(out, "table.csv"), lambda fh: fh.write(buf.getvalue().encode()))
    text = json.dumps([{k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in row.items()}
                       for row in table], indent=2)
    atomic_write(os.path.join(out, "table.json"), lambda fh: fh.write(text.encode()))


def fit_many_recording(data, *, seeds=20, base_seed=0, settings=None, jobs=-1, scheduler=None, threads=None,
                       rank, n_units=None, activation="relu", readout="latent", likelihood="gaussian",
                       link="softplus", n_particles=10, window=50, batch_size=10, n_iter=1000, lr=1e-3,
                       lr_end=None, heldout=0.1, eval_every=50, out="runs", force=False, device="cpu"):
    """Fit many seeds (× settings) to a recording; write each model, a table and ``best.npz`` to ``out``.

    ``out`` is a folder: ``fit-<setting>-seed-<seed>.npz`` per fit (written
    as each fit finishes), ``table.csv`` and ``table.json`` (seed, setting,
    n_iter, final_elbo, best_heldout_elbo, seconds, error_type, error and the
    setting's overrides), ``best.npz`` (the highest best held-out ELBO, or
    final training ELBO without held-out data) and ``plan.json``. Rerunning
    with the same ``out`` and plan skips the fits whose model file exists
    (more ``seeds`` adds fits: child seeds come from
    ``SeedSequence(base_seed).spawn``, so the first ones are the same); a
    folder of another plan (data, options, settings) is refused unless
    ``force=True``, which reruns every fit.

    ``settings`` is a TOML file (:func:`load_settings`) or a list of dicts;
    ``jobs`` joblib workers on this machine, or ``scheduler`` a Dask
    scheduler address (``lowrank.fit_many(backend="dask")``). Other
    arguments as for :func:`fit_recording`; ``heldout`` defaults to 0.1 here
    (it chooses ``best.npz``), ``None`` or 0 for none.
    """
    import json
    import warnings

    from .parallel import _child_seeds, fit_many
    from .rnn import LowRankRNN
    check_int("seeds", seeds, 1)
    rank = check_int("rank", rank, 1)
    force = check_bool("force", force)
    if scheduler is not None and jobs not in (None, -1):
        raise ValueError("jobs and scheduler exclude each other: jobs runs the fits on this machine, "
                         "scheduler on a Dask cluster")
    setting_list = [{}] if settings is None else (
        load_settings(settings) if isinstance(settings, (str, os.PathLike)) else [dict(s) for s in settings])
    rec = load_recording(data)
    D = rec.y.shape[-1]
    if n_units is None:
        n_units = D if readout == "units" else DEFAULT_UNITS
    spec = dict(n_units=n_units, rank=rank, n_obs=D, n_inputs=0 if rec.u is None else rec.u.shape[-1],
                activation=activation, readout=readout, likelihood=likelihood, link=link)
    LowRankRNN(**spec).options                                      # bad options fail here, before any fit
    fit_kw = dict(n_particles=n_particles, window=window, batch_size=batch_size, n_iter=n_iter, lr=lr,
                  lr_end=lr_end, heldout=heldout or None, eval_every=eval_every)
    plan = dict(data_sha256=_file_digest(data) if isinstance(data, (str, os.PathLike)) else None,
                model=spec, fit=fit_kw, settings=setting_list, base_seed=int(base_seed))
    out = _run_folder(out, json.loads(json.dumps(plan, default=str)), force)
    child = _child_seeds(seeds, base_seed)
    rows = {}
    for k in range(len(setting_list)):
        for s in child:
            row = None if force else _finished_row(_fit_file(out, k, s))
            if row is not None:
                rows[(k, s)] = row
    skipped = len(rows)
    groups = {}                                     # remaining seeds -> settings: one fit_many call each
    for k in range(len(setting_list)):
        todo = tuple(s for s in child if (k, s) not in rows)
        if todo:
            groups.setdefault(todo, []).append(k)
    if device != "cpu" and (scheduler is not None or jobs not in (None, -1) or threads is not None):
        raise ValueError(f"device={device!r} trains every fit in lockstep in this process: scheduler, jobs and "
                         f"threads do not apply")
    backend = dict(backend="dask", client=scheduler) if scheduler is not None else \
        dict(device=device) if device != "cpu" else dict(n_jobs=jobs)
    for todo, ks in groups.items():
        def save(i, row, model, history, ks=ks):
            k = ks[row["setting"]]
            row = {**row, "setting": k}
            rows[(k, row["seed"])] = row
            if model is not None:
                extra = {} if history is None else history.to_extra()
                model.save(_fit_file(out, k, row["seed"]),
                           extra={**extra, "fit_many/row": np.array(json.dumps(row))})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)        # the failures are returned, not warned
            fit_many(spec, rec.y, rec.u, seeds=list(todo), settings=[setting_list[k] for k in ks],
                     threads_per_job=threads, on_result=save, **backend, **fit_kw)
    table = []
    for k in range(len(setting_list)):
        for s in child:
            row = dict(rows[(k, s)])
            row["file"] = os.path.basename(_fit_file(out, k, s)) if os.path.exists(_fit_file(out, k, s)) else None
            row["index"] = len(table)
            table.append(row)
    _write_table(out, table)
    best = _write_best(out, table)
    failed = [row for row in table if row["error"] is not None]
    return FitManyOutcome(table, best, out, len(table) - skipped, skipped, failed)


def _write_best(out, table):
    """Copy the best fit's model to ``best.npz``; its row, or None when no fit has a finite ELBO."""
    import shutil
    key = "best_heldout_elbo" if any(np.isfinite(_num(r["best_heldout_elbo"])) for r in table if r["file"]) \
        else "final_elbo"
    candidates = [r for r in table if r["file"] and np.isfinite(_num(r[key]))]
    if not candidates:
        return None
    best = max(candidates, key=lambda r: _num(r[key]))
    src = os.path.join(out, best["file"])
    with open(src, "rb") as fh_in:
        atomic_write(os.path.join(out, "best.npz"), lambda fh: shutil.copyfileobj(fh_in, fh))
    return {**best, "chosen_by": key}


def _num(v):
    return float("nan") if v is None else float(v)

# ---- posterior latents -----------------------------------------------------------------------------

def _behavior(behavior, y, path):
    """A data file's ``behavior`` array as (n_trials, T, B), checked against ``y``."""
    b = _check_array(behavior, f"the behavior array in {path}", (y.ndim - 1, y.ndim), "(..., T[, B])")
    if y.ndim == 2:
        b = b[None]
    if b.ndim == 2:
        b = b[:, :, None]
    n, T = (1,) + y.shape[:1] if y.ndim == 2 else y.shape[:2]
    if b.shape[:2] != (n, T):
        raise ValueError(f"the behavior array in {path} must have {n} trial(s) of {T} steps like y; "
                         f"got shape {behavior.shape}")
    return b


def posterior_latents(model, data, *, n_particles=100, proposal=None, smoother="backward", seed=0,
                      out="latents.npz", particles_out=None, plot=None, force=False, bin_size=None):
    """Filtering and smoothed latents of a recording under a saved model, written to ``out``.

    Parameters
    ----------
    model : path or LowRankRNN
    data : path or ndarray
        ``.npy`` observations (T, D) or (n_trials, T, D), or ``.npz`` with ``y``,
        inputs ``u`` (for a model with inputs) and optionally ``behavior``
        ((n_trials, T[, B]) or (T[, B])), which ``plot`` draws under the latents.
    n_particles, proposal, smoother, seed
        As for :func:`lowrank.inference.posterior.posterior`.
    bin_size : float, optional
        Bin width in seconds for an ``.nwb`` data file (see :func:`load_recording`).
    out : path
        ``.npz`` with ``filter_mean``, ``smooth_mean`` (n, T, R), ``filter_cov``,
        ``smooth_cov`` (n, T, R, R), ``obs_mean`` (n, T, D), ``elbo`` (n,), and
        the settings ``smoother``, ``n_particles``, ``seed``.
    particles_out : path, optional
        ``.npz`` with ``particles`` (n, T, K, R), ``log_weights``, ``ancestors``
        and ``smooth_weights`` (n, T, K) (and ``smoothed`` for the ancestry smoother).
    plot : path, optional
        The first trial's latents over time (and its behaviour), needs matplotlib.
    force : bool
        Replace existing outputs (see the module docstring for the output policy).

    Returns
    -------
    Posterior
    """
    from ._checks import check_choice, check_int, check_positive_int
    from .inference.posterior import posterior
    from .inference.smoothing import SMOOTHERS
    n_particles = check_positive_int("n_particles", n_particles)
    smoother = check_choice("smoother", smoother, SMOOTHERS)
    seed = check_int("seed", seed, 0)
    outs = check_outputs({"out": out, "particles_out": particles_out, "plot": plot},
                         {"model": model, "data": data}, force=force)
    if "out" not in outs:
        raise ValueError("out must be a path: where the latents are written")
    if "plot" in outs:
        _plot_format(outs["plot"])
    m = load_model(model)
    rec, behavior = load_recording(data, bin_size=bin_size), None
    if isinstance(data, (str, os.PathLike)) and os.fspath(data).endswith(".npz"):
        from .io import open_npz
        with open_npz(os.fspath(data), "data file (.npz archive)") as z:
            if "behavior" in z.files:
                behavior = _behavior(z.read("behavior"), rec.y, os.fspath(data))
    post = posterior(m, rec.y, rec.u, n_particles=n_particles, proposal=proposal, smoother=smoother, seed=seed,
                     mask=rec.mask)
    _save_npz(outs["out"], filter_mean=post.filter_mean, filter_cov=post.filter_cov, smooth_mean=post.smooth_mean,
              smooth_cov=post.smooth_cov, obs_mean=post.obs_mean, elbo=post.elbo, smoother=np.array(smoother),
              n_particles=np.array(n_particles), seed=np.array(seed))
    if "particles_out" in outs:
        _save_npz(outs["particles_out"], particles=post.particles, log_weights=post.log_weights,
                  ancestors=post.ancestors, smooth_weights=post.smooth_weights,
                  smoothed=None if post.smoothed is post.particles else post.smoothed)
    if "plot" in outs:
        from . import plotting
        plotting.save_figure(plotting.plot_latents(post, behavior=behavior), outs["plot"])
    return post
