"""``lowrank fit``: one fit of a recording (or of the built-in demo), written to a model file.

Failed and interrupted fits
    A fit that fails while computing (:class:`lowrank.FitError`, or any other
    error after its first update) still writes ``out``: the best parameters the
    fit found where the error carries them (``best_params``), else the last good
    ones, with the history so far where it carries one (the initial parameters if
    no update left finite ones). It then raises a :class:`lowrank.FitError` whose
    ``saved_to`` (``out``, or None if nothing could be written) and
    ``saved_what`` (``"best"``, ``"last good"`` or ``"initial"``) say what was
    written. Errors raised before the first update (bad data or settings) write
    nothing. A fit stopped by Ctrl-C returns normally with
    ``stop_reason == "interrupted"`` after writing its best parameters.
"""
from __future__ import annotations

from typing import NamedTuple, Optional

import numpy as np

from ..inference.warmup import compile_soon, needed_parts
from ..options import option, options_for
from ..training.errors import FitError
from .files import check_outputs, load_recording, plot_format, same_file
from .messages import INTERRUPTED
from .parser import OUTPUT_POLICY, add_force, add_options, add_plot, given
from .plan import check_plan, plan_fit

__all__ = ["FitOutcome", "fit_recording", "fit_demo", "demo_description", "DEMO", "register", "run_fit"]

#: Settings of the built-in demo (``fit_demo``; ``lowrank fit`` without a data file), by option name.
DEMO = dict(teacher="oscillator", n_train=160, n_units=20, rank=2, activation="relu", readout="units",
            n_iter=600, lr=1e-2, lr_end=1e-3, window=None)


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


def _fit_outputs(out, checkpoint, resume, plot, data, force):
    # A checkpoint may be the file being resumed (the usual way to continue a fit): then it is
    # written without force, and only the other outputs are checked against it.
    continuing = checkpoint is not None and resume is not None and same_file(checkpoint, resume)
    outs = check_outputs({"out": out, "checkpoint": checkpoint, "plot": plot},
                         {"data": data, "resume": None if continuing else resume}, force=force,
                         keep=("checkpoint",) if continuing else ())
    for name in ("out", "plot"):
        if continuing and name in outs and same_file(outs[name], resume):
            raise ValueError(f"--{name} {outs[name]!r} is the input file --resume {resume!r}; "
                             f"refusing to overwrite an input")
    if "plot" in outs:
        plot_format(outs["plot"])
    return outs


def run_fit(model, y, u, outs, fit_kw):
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
        err = exc if isinstance(exc, FitError) else FitError(str(exc), iteration=state["done"], cause=exc)
        if out is not None:
            _save_failed_fit(model, err, out, state["finite"], state["finite_what"])
        if err is exc:
            raise
        raise err from exc
    if out is not None:
        model.save(out)
    if "plot" in outs:
        from .. import plotting
        plotting.save_figure(plotting.plot_history(model), outs["plot"])
    return FitOutcome(model, out, int(model.n_iter_), model.stop_reason_, float(model.best_elbo_),
                      outs.get("plot"))


def _save_failed_fit(model, err, out, tracked, tracked_what):
    """Write the best, else the last good (else the initial) parameters of a fit that raised."""
    from ..model.params import Params, check_params
    candidates = [("best", err.best_params), ("last good", model.params), (tracked_what, tracked)]
    extra = err.history.to_extra() if hasattr(err.history, "to_extra") else None
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
            err.add_note(f"lowrank: could not save the parameters to {out!r}: {save_exc}")
            return
        err.saved_to, err.saved_what = out, what
        return
    err.add_note("lowrank: no finite parameters to save")


def _run_kwargs(s, outs, verbose):
    return dict(seed=s.get("seed", 0), checkpoint=outs.get("checkpoint"), resume=s.get("resume"),
                verbose=verbose, device=s.get("device", "cpu"))


def fit_recording(data, *, out=None, plot=None, force=False, verbose=1, **settings):
    """Fit a ``LowRankRNN`` to a recording and write it to ``out``.

    Parameters
    ----------
    data : path or ndarray
        See :func:`lowrank.cli.files.load_recording` (``.npy``, ``.npz`` with ``y``,
        ``u``, ``mask``, or ``.nwb`` with ``bin_size``).
    out, plot : path, optional
        The model file and a training-curve image (see :mod:`lowrank.cli.files` for
        the output policy, and the module docstring for what happens when the fit fails).
    force : bool
        Replace existing outputs.
    verbose : int
        1: a progress line on stderr.
    **settings
        Options of ``lowrank fit`` by name (:func:`lowrank.options.options_for`):
        ``LowRankRNN`` arguments, encoder fields (``encoder_*``), ``lowrank.fit``
        settings, ``seed``, ``device``, ``checkpoint``, ``resume`` and the data options
        ``bin_size``, ``correlated_noise``, ``data_hann``, ``unsmooth_below``. Defaults are
        the library's, except ``rank`` (3) and ``n_units`` (D for ``readout="units"``,
        else 128), which the library requires. ``seed`` seeds the initialisation and the fit.

    Returns
    -------
    FitOutcome
    """
    from ..rnn import LowRankRNN
    s = _checked(settings, "fit")
    outs = _fit_outputs(out, s.get("checkpoint"), s.get("resume"), plot, data, force)
    rec = load_recording(data, bin_size=s.get("bin_size"))
    plan = plan_fit(rec, s)
    check_plan(plan.model, plan.fit, plan.mask, outs.get("checkpoint"))
    model = LowRankRNN(seed=s.get("seed", 0), **plan.model)
    return run_fit(model, plan.y, plan.u, outs, dict(plan.fit, mask=plan.mask, **_run_kwargs(s, outs, verbose)))


def _checked(settings, command):
    """``settings`` checked by the option table (a TypeError names an unknown one)."""
    table = options_for(command)
    unknown = sorted(set(settings) - set(table))
    if unknown:
        raise TypeError(f"unknown setting {unknown[0]!r} for lowrank {command}; valid: {', '.join(sorted(table))}")
    return {k: table[k].check(v) for k, v in settings.items()}


def demo_description(teacher=None):
    """One line saying what :func:`fit_demo` fits (the teacher, its data set and the split)."""
    from .. import teachers
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


def _demo_settings(s, name, t_opts):
    """The demo's settings: given ones win, then (another teacher) the teacher's own structure, then DEMO."""
    own = name != DEMO["teacher"]
    out = {k: DEMO[k] for k in ("n_units", "rank", "activation", "readout")}
    if t_opts.likelihood == "gaussian":      # spike counts: the library's defaults for them
        out.update({k: DEMO[k] for k in ("n_iter", "lr", "lr_end", "window")})
    if own:
        out.update(n_units=t_opts.n_units, rank=t_opts.rank, activation=t_opts.activation, readout=t_opts.readout)
    out.update(units_readout_from=t_opts.units_readout_from, likelihood=t_opts.likelihood, link=t_opts.link,
               bin_width=t_opts.bin_width)
    out.update(s)
    n_iter = out.get("n_iter") or option("n_iter", "fit").default_for(t_opts.likelihood) or 1000
    out.setdefault("eval_every", max(1, n_iter // 10))
    return out


def _check_demo_settings(settings):
    """``settings`` checked for the demo, which has its own data and split (no data options)."""
    s = _checked(settings, "fit")
    data_only = [o.flag for o in options_for("fit").values()
                 if (o.group == "data" or o.name in ("heldout", "augment_noise")) and s.get(o.name) not in (None, False)]
    if data_only:
        raise ValueError(f"{', '.join(data_only)} {'needs' if len(data_only) == 1 else 'need'} a data file; "
                         f"the demo (no DATA) does not take {'it' if len(data_only) == 1 else 'them'}")
    return s


def fit_demo(*, teacher=None, out=None, plot=None, force=False, verbose=1, **settings):
    """Fit a student to a built-in teacher's data and compare it with the teacher.

    Settings not given take the demo's (``DEMO``: the ``oscillator`` teacher, rank 2,
    20 units, ReLU, units read-out, whole trials, 600 updates, lr 1e-2
    decaying to 1e-3, the last 20 % of the trials held out and evaluated
    every ``n_iter // 10`` updates). Another ``teacher`` (e.g. the spiking
    ``oscillator_poisson``) sets the student's size, read-out, likelihood
    and link to its own; a spiking teacher's student takes the library's
    defaults for spike counts (a start from the data, the bootstrap proposal
    with 64 particles, 2,000 updates). The returned ``summary`` is
    the recovery report (None after an interruption). ``settings`` as for
    :func:`fit_recording` (the data options do not apply).
    """
    from .. import teachers
    from ..analysis.recovery import compare_to_teacher
    from ..rnn import LowRankRNN
    s = _check_demo_settings(settings)
    outs = _fit_outputs(out, s.get("checkpoint"), s.get("resume"), plot, None, force)
    # The fit's kernels and the summary's fixed points start compiling now, while the data are drawn.
    compile_soon(needed_parts(grad=True) + ("fixed_points",))
    name = DEMO["teacher"] if teacher is None else teacher
    t = teachers.get(name, seed=0)
    data = t.dataset(seed=0)
    n_train = _demo_train_trials(t)
    y_train, y_test = data.y[:n_train], data.y[n_train:]
    from .files import Recording
    plan = plan_fit(Recording(y_train, None, None, f"the '{name}' teacher's data"), _demo_settings(s, name,
                                                                                               t.model.options))
    model = LowRankRNN(seed=s.get("seed", 0), **plan.model)
    res = run_fit(model, plan.y, None, outs, dict(plan.fit, y_val=y_test, **_run_kwargs(s, outs, verbose)))
    if res.stop_reason == "interrupted":
        return res
    rec = compare_to_teacher(model, t, y_test, n_particles=plan.fit.get("n_particles", 10), seed=s.get("seed", 0))
    return res._replace(summary=rec.summary())


# ---- the command -------------------------------------------------------------------------------------

EPILOG = (
    "Defaults are those of lowrank.LowRankRNN and lowrank.fit, except --rank and --n-units, which the library "
    "requires (the command line takes rank 3 and 128 units, or D units for --readout units); the demo (no DATA) "
    "has its own settings: the oscillator teacher, rank 2, 20 units, units read-out, whole trials, 600 updates, "
    "lr 1e-2 to 1e-3. " + OUTPUT_POLICY + " A fit that diverges (non-finite ELBO or gradient) still writes its "
    "best parameters to --out and exits with status 1; Ctrl-C writes them and exits with status 130.")


def register(sub):
    from ..teachers import TEACHERS
    s = sub.add_parser("fit", help="fit a model to data (no DATA: the built-in oscillator demo)", epilog=EPILOG)
    s.add_argument("data", nargs="?", default=None,
                   help=".npy (T, D) or (trials, T, D), or .npz with y (optional inputs u, missing-data mask: True "
                        "where observed), or .nwb spike times (with --bin-size; one trial per row of its trials table)")
    add_options(s, "fit")
    s.add_argument("--teacher", choices=sorted(TEACHERS), default=None,
                   help="demo only (no DATA): the teacher whose data set is fitted, e.g. oscillator_poisson "
                        "for spike counts (default oscillator)")
    s.add_argument("--quiet", action="store_true", help="no progress line")
    add_plot(s, "the training curve")
    s.add_argument("--out", default="model.npz", help="the fitted model (default model.npz)")
    add_force(s)
    s.add_argument("--config", default=None, metavar="TOML",
                   help="settings file: any option above as 'name = value' (e.g. n_particles = 20, "
                        "data = \"rec.npy\"); options on the command line win")
    s.set_defaults(func=run_command)


def run_command(args, config):
    """``lowrank fit``: ``config`` is the ``--config`` file's values (or empty)."""
    s = {**config, **given(args, "fit")}
    data = s.pop("data", None) if args.data is None else args.data
    common = dict(out=args.out, plot=args.plot, force=args.force, verbose=0 if args.quiet else 1)
    if data is None:
        _check_demo_settings(s)                     # before saying what the demo fits
        print(demo_description(args.teacher), flush=True)
        res = fit_demo(teacher=args.teacher, **common, **s)
    else:
        if args.teacher is not None:
            raise ValueError("--teacher picks the demo's data; it does not go with a data file")
        res = fit_recording(data, **common, **s)
    if res.plot:
        print(f"wrote {res.plot}")
    if res.stop_reason == "interrupted":
        print(f"interrupted after {res.n_iter} iterations; wrote the best parameters to {res.out}")
        return INTERRUPTED
    if res.summary:
        print(res.summary)
    print(f"fitted {res.model!r} on {data or 'the demo data'} ({res.n_iter} iterations, stopped: "
          f"{res.stop_reason}); best ELBO/step {res.best_elbo:.4f}; wrote {res.out}")
    return 0
