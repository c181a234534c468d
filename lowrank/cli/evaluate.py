"""``lowrank evaluate``: D_stsp and D_H of a saved model's generated data against a recording."""
from __future__ import annotations

import json

from .files import check_outputs, load_model, load_recording, plot_format
from .parser import add_force, add_model_command, add_plot, given

__all__ = ["evaluate_recording", "register"]


def _one_series(rec):
    """``(y, u)`` of one continuous recording: (T, D), or a single trial (1, T, D) as ``lowrank simulate``
    and ``lowrank sample`` write it."""
    y, u = rec.y, rec.u
    if isinstance(y, list) or y.ndim == 3:
        n = len(y) if isinstance(y, list) else y.shape[0]
        if n != 1:
            raise ValueError(f"the data in {rec.source} has {n} trials; evaluate compares one continuous "
                             f"recording: give one (T, D) series (or a single trial)")
        y, u = y[0], None if u is None else u[0]
    if rec.mask is not None:
        raise ValueError(f"the data in {rec.source} has a mask (missing values): D_stsp and D_H compare "
                         f"complete recordings; evaluate a stretch without missing values")
    return y, u


def evaluate_recording(model, data, *, plot=None, force=False, **settings):
    """``lowrank.evaluate`` of a saved model against a recording file; optionally drawn to ``plot``.

    ``data`` is read as by every command (:func:`lowrank.cli.files.load_recording`): a
    (T, D) recording or a single trial (1, T, D), with inputs ``u`` for a model with inputs;
    an ``.nwb`` file is binned at ``bin_size`` seconds as one continuous recording. A
    recording with missing values (a ``mask``) is refused. ``settings``: ``smooth_hann``,
    ``burn_in``, ``context``, ``seed`` (see :func:`lowrank.evaluate`), ``bin_size``.
    """
    from ..analysis.evaluation import evaluate
    from .fit import _checked
    s = _checked(settings, "evaluate")
    outs = check_outputs({"plot": plot}, {"model": model, "data": data}, force=force)
    if "plot" in outs:
        plot_format(outs["plot"])
    m = load_model(model)
    rec = load_recording(data, ndims=(2, 3), bin_size=s.pop("bin_size", None))
    y, u = _one_series(rec)
    U = m.options.n_inputs
    if U and u is None:
        raise ValueError(f"the model has n_inputs={U}: give the recording as a .npz with y (T, D) and its "
                         f"inputs u (T, {U})")
    context = s.get("context", 50)
    if context > y.shape[0]:
        raise ValueError(f"--context must be between 0 and the recording's length {y.shape[0]}; got {context}")
    res = evaluate(m, y, u, **s)
    if "plot" in outs:
        from .. import plotting
        plotting.save_figure(plotting.plot_evaluation(res), outs["plot"])
    return res


def _evaluate(args, config=None):
    kw = given(args, "evaluate")
    res = evaluate_recording(args.model, args.data, plot=args.plot, force=args.force, **kw)
    if args.plot:
        print(f"wrote {args.plot}")
    if args.json:
        print(json.dumps({"dstsp": res.dstsp, "dh": res.dh}))
    else:
        print(f"D_stsp {res.dstsp:.3f}   D_H {res.dh:.4f}   ({res.reference.shape[0]} steps, "
              f"Hann {kw.get('smooth_hann') or 'none'}, burn-in {kw.get('burn_in', 0.25)}, "
              f"context {kw.get('context', 50)})")


def register(sub):
    s = add_model_command(sub, "evaluate", "D_stsp and D_H of a model's generated data against a recording",
                          ".npy (T, D) recording (or one trial (1, T, D)), .npz with y and, for a model with "
                          "inputs, u, or .nwb spike times (with --bin-size; binned as one recording)", _evaluate)
    s.add_argument("--json", action="store_true")
    add_plot(s, "recorded vs generated data (channels, spectra, leading PCs)")
    add_force(s)
