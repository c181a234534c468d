"""``lowrank info`` (what a model file holds) and ``lowrank fixed-points`` (every fixed point of a model)."""
from __future__ import annotations

import argparse
import json

from .files import as_path, check_outputs, load_model, plot_format
from .parser import OUTPUT_POLICY, add_force, add_plot

__all__ = ["model_info", "fixed_points_of", "register"]


def model_info(model):
    """``(model, extra, history)`` of a model file: the model (with ``provenance_``, the fit's
    settings, seed, data fingerprint and lowrank version, or None), its extra arrays, and its
    fit's History or None."""
    from ..io import provenance_of, read_model
    from ..rnn import LowRankRNN
    from ..training import History
    f = read_model(as_path("model", model))
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
        plot_format(outs["plot"])
    m = load_model(model)
    res = m.fixed_points(inputs=inputs)
    if "plot" in outs:
        from .. import plotting
        plotting.save_figure(plotting.plot_fixed_points(m, res), outs["plot"])
    return res


def _print_provenance(prov):
    """The fit's settings, seed, data fingerprint and version, if the file has them."""
    if not prov:
        return
    print(f"  {'fitted with lowrank':20s} {prov.get('lowrank_version')}, seed {prov.get('seed')}")
    for name, fp in (prov.get("data") or {}).items():
        if isinstance(fp, dict):
            print(f"  {'data ' + name:20s} sha256 {fp.get('sha256')}  shape {fp.get('shape')}")
    for k, v in sorted((prov.get("settings") or {}).items()):
        print(f"  {'fit ' + k:20s} {v}")


def _info(args, config=None):
    model, extra, history = model_info(args.model)
    print(f"model file: {args.model}")
    print(f"  {model!r}")
    for k, v in model.options.to_dict().items():
        print(f"  {k:20s} {v}")
    print(f"  {'parameters':20s} {model.n_params}")
    if history is not None:
        print(f"  {'fit':20s} {len(history.train_elbo)} iterations, stopped: {history.stop_reason}")
    if extra:
        print(f"  {'extra arrays':20s} {', '.join(sorted(extra))}")
    _print_provenance(getattr(model, "provenance_", None))
    _print_fit_defaults(model.options.likelihood)


def _print_fit_defaults(likelihood):
    """The fit settings whose default depends on the likelihood, as a fit of this model takes them."""
    from ..options import TABLE
    rows = [o for o in TABLE if o.group == "fit" and o.by_likelihood]
    print(f"defaults of a fit of this model (likelihood {likelihood}):")
    for o in rows:
        value = o.default_for(likelihood)
        print(f"  {o.name:20s} {o.default_note if value is None and o.default_note else value}")


def _fixed_points(args, config=None):
    from ..fixed_points import format_table
    res = fixed_points_of(args.model, inputs=args.inputs, plot=args.plot, force=args.force)
    if args.plot:
        print(f"wrote {args.plot}")
    print(json.dumps(res.to_dict(), indent=2) if args.json else format_table(res))


def _vector(text):
    try:
        return [float(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be numbers separated by commas (u1,u2,...); got {text!r}") from None


def register(sub):
    s = sub.add_parser("info", help="print a saved model's options, size and provenance")
    s.add_argument("model")
    s.set_defaults(func=_info)

    s = sub.add_parser("fixed-points", help="all fixed points of a saved model", epilog=OUTPUT_POLICY)
    s.add_argument("model")
    s.add_argument("--inputs", "--input", type=_vector, default=None, metavar="U1,U2,...",
                   help="constant input (default zeros)")
    s.add_argument("--json", action="store_true")
    add_plot(s, "the fixed points in the first two latent coordinates")
    add_force(s)
    s.set_defaults(func=_fixed_points)
