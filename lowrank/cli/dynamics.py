"""``lowrank dynamics``: fixed points, exact cycles, attractors and an input sweep of a saved model."""
from __future__ import annotations

import argparse
import json

import numpy as np

from .files import check_outputs, load_model, plot_format
from .inspect import _vector
from .parser import OUTPUT_POLICY, add_force, add_plot

__all__ = ["dynamics_of", "parse_sweep", "register"]


def parse_sweep(text):
    """``U0:U1:N`` (each end a number or comma-separated numbers) as an (N, U) path of inputs."""
    parts = str(text).split(":")
    try:
        if len(parts) != 3:
            raise ValueError
        u0, u1 = (np.array([float(x) for x in p.split(",")]) for p in parts[:2])
        n = int(parts[2])
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be U0:U1:N (ends as numbers or u1,u2,...; N an integer); "
                                         f"got {text!r}") from None
    if u0.shape != u1.shape or n < 2:
        raise argparse.ArgumentTypeError(f"the ends must have as many values and N must be >= 2; got {text!r}")
    return u0[None, :] + np.linspace(0.0, 1.0, n)[:, None] * (u1 - u0)[None, :]


def dynamics_of(model, *, period=None, sweep=None, inputs=None, n_starts=16, seed=0, plot=None, force=False):
    """Fixed points, cycles of ``period`` (rank 2, piecewise linear), attractors and an optional sweep.

    Returns a dict of results: ``fixed_points``, ``cycles`` (or None), ``attractors``, ``sweep`` (or None).
    """
    from .. import dynamics
    outs = check_outputs({"plot": plot}, {"model": model}, force=force)
    if "plot" in outs:
        plot_format(outs["plot"])
    m = load_model(model)
    pwl2 = m.options.rank == 2 and m.options.activation in ("relu", "clipped_relu")
    if period is not None and not pwl2:
        raise ValueError(f"--period needs a rank-2 relu or clipped_relu model; this one has rank "
                         f"{m.options.rank} and activation {m.options.activation!r}")
    res = {"fixed_points": m.fixed_points(inputs=inputs),
           "cycles": dynamics.find_cycles(m, period, inputs=inputs) if period is not None else None,
           "attractors": dynamics.attractors(m, n_starts=n_starts, seed=seed, inputs=inputs),
           "sweep": dynamics.sweep_inputs(m, sweep) if sweep is not None else None}
    if "plot" in outs:
        _plot(m, res, inputs, outs["plot"])
    return res


def _plot(m, res, inputs, path):
    from .. import plotting
    plt = plotting._pyplot()
    n = (m.options.rank == 2) + (res["sweep"] is not None)
    if n == 0:
        raise ValueError("--plot draws a phase portrait (rank 2) or a sweep (--sweep); this model has neither")
    fig = plt.figure(figsize=(5.5 * n, 5))
    k = 1
    if m.options.rank == 2:
        cyc = [res["cycles"]] if res["cycles"] is not None else []
        plotting.plot_phase_portrait(m, inputs=inputs, cycles=cyc, ax=fig.add_subplot(1, n, k))
        k += 1
    if res["sweep"] is not None:
        plotting.plot_sweep(res["sweep"], ax=fig.add_subplot(1, n, k))
    fig.tight_layout()
    plotting.save_figure(fig, path)


def _text(res):
    from ..fixed_points import format_table
    lines = ["fixed points:", format_table(res["fixed_points"])]
    cyc = res["cycles"]
    if cyc is not None:
        lines.append(f"{cyc.period}-cycles: {len(cyc)} (+{len(cyc.continuum)} continua); {cyc.n_regions} regions, "
                     f"{int(cyc.n_cells.sum())} cells examined, {cyc.n_closed} sequences solved of "
                     f"{cyc.n_sequences}")
        for i, orbit in enumerate(cyc.orbits):
            pts = " ".join("(" + ", ".join(f"{v:.5g}" for v in z) + ")" for z in orbit)
            mu = max(abs(cyc.multipliers[i]))
            lines.append(f"  {i}: {cyc.stability[i]:8s} max|mu| {mu:.4g}  {pts}")
    lines.append("attractors (noise-free, random starts):")
    for a in res["attractors"]:
        extra = f" period {a.period}" if a.period else ""
        if a.frequency is not None:
            extra += f" frequency {a.frequency:.5g}/step"
        if a.encloses:
            extra += f" around fixed point(s) {list(a.encloses)}"
        lines.append(f"  {a.kind:12s} {a.n_starts} start(s){extra} lyapunov {a.lyapunov:.3g} {a.stability}")
    sw = res["sweep"]
    if sw is not None:
        lines.append(f"sweep: {sw.inputs.shape[0]} inputs, {sw.branches.shape[0]} branches")
        for e in sw.events:
            u = ", ".join(f"{v:.4g}" for v in e.input)
            lines.append(f"  {e.kind:11s} at input ({u}) z ({', '.join(f'{v:.4g}' for v in e.z)})")
    return "\n".join(lines)


def _dynamics(args, config=None):
    res = dynamics_of(args.model, period=args.period, sweep=args.sweep, inputs=args.inputs,
                      n_starts=args.n_starts, seed=args.seed, plot=args.plot, force=args.force)
    if args.plot:
        print(f"wrote {args.plot}")
    if args.json:
        print(json.dumps({k: (None if v is None else v.to_dict()) for k, v in res.items()}, indent=2))
    else:
        print(_text(res))


def _positive(text):
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer; got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer; got {text!r}")
    return v


def register(sub):
    s = sub.add_parser("dynamics", help="fixed points, exact k-cycles, attractors and an input sweep of a model",
                       epilog=OUTPUT_POLICY)
    s.add_argument("model")
    s.add_argument("--period", type=_positive, default=None, metavar="K",
                   help="also find every cycle of minimal period K (rank 2, relu or clipped_relu)")
    s.add_argument("--sweep", type=parse_sweep, default=None, metavar="U0:U1:N",
                   help="fixed points along N constant inputs from U0 to U1 (u1,u2,... for several inputs)")
    s.add_argument("--inputs", "--input", type=_vector, default=None, metavar="U1,U2,...",
                   help="constant input (default zeros)")
    s.add_argument("--n-starts", type=_positive, default=16, help="random starts for the attractors (default 16)")
    s.add_argument("--seed", type=int, default=0, help="seed of the starts (default 0)")
    s.add_argument("--json", action="store_true")
    add_plot(s, "the phase portrait (rank 2) and the sweep")
    add_force(s)
    s.set_defaults(func=_dynamics)
