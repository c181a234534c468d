"""The ``lowrank`` command line: ``lowrank <command> --help`` for each command.

Commands: simulate, fit, sample, info, fixed-points, evaluate.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

from ._version import __version__


def _write_npz(path, **arrays):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "wb") as fh:
        np.savez(fh, **{k: v for k, v in arrays.items() if v is not None})


def load_data(path):
    """Read observations (and optional inputs) from ``.npy`` or ``.npz``.

    ``.npy``: (T, D) or (n_trials, T, D). ``.npz``: key ``y`` and optional ``u``.
    Returns ``(y, u)``.
    """
    if not os.path.exists(path):
        raise SystemExit(f"lowrank: no data file at {path!r}")
    if path.endswith(".npy"):
        return np.load(path, allow_pickle=False), None
    if path.endswith(".npz"):
        with np.load(path, allow_pickle=False) as f:
            if "y" not in f.files:
                raise SystemExit(f"lowrank: {path} has no array 'y' (found {f.files})")
            return f["y"], (f["u"] if "u" in f.files else None)
    raise SystemExit(f"lowrank: data must be a .npy or .npz file; got {path!r}")


def cmd_simulate(args):
    from . import teachers
    t = teachers.get(args.teacher, seed=args.seed)
    d = t.dataset(n_trials=args.trials, n_steps=args.steps, seed=args.seed)
    _write_npz(args.out, y=d.y, z=d.z, u=d.u, labels=d.labels)
    print(f"wrote {args.out}: y {d.y.shape}, z {d.z.shape}" + ("" if d.u is None else f", u {d.u.shape}")
          + f" from teacher {args.teacher!r} (seed {args.seed})")


def cmd_sample(args):
    from .model.rnn import LowRankRNN
    model = LowRankRNN.load(args.model)
    u = None
    if args.inputs:
        u = np.load(args.inputs, allow_pickle=False)
    s = model.sample(args.trials, args.steps, inputs=u, noise_scale=args.noise_scale, seed=args.seed)
    _write_npz(args.out, y=s.y, z=s.z, u=s.u)
    print(f"wrote {args.out}: y {s.y.shape}, z {s.z.shape}")


def cmd_info(args):
    from .io import load_model
    model, extra = load_model(args.model, with_extra=True)
    o = model.options
    print(f"model file: {args.model}")
    print(f"  {model!r}")
    for k, v in o.to_dict().items():
        print(f"  {k:20s} {v}")
    print(f"  {'parameters':20s} {model.n_params}")
    if extra:
        print(f"  {'extra arrays':20s} {', '.join(sorted(extra))}")


def cmd_fixed_points(args):
    from .fixed_points import format_table
    from .model.rnn import LowRankRNN
    model = LowRankRNN.load(args.model)
    u = None
    if args.input:
        u = np.array([float(x) for x in args.input.split(",")])
    res = model.fixed_points(inputs=u)
    if args.json:
        print(json.dumps(res.to_dict(), indent=2))
    else:
        print(format_table(res))


def build_parser():
    p = argparse.ArgumentParser(prog="lowrank", description="Stochastic low-rank RNNs fitted to neural data.")
    p.add_argument("--version", action="version", version=f"lowrank {__version__}")
    sub = p.add_subparsers(dest="command", metavar="command")

    s = sub.add_parser("simulate", help="simulate a built-in teacher's data set")
    from .teachers import TEACHERS
    s.add_argument("--teacher", default="oscillator", choices=sorted(TEACHERS))
    s.add_argument("--trials", type=int, default=None, help="number of trials (default: the teacher's)")
    s.add_argument("--steps", type=int, default=None, help="steps per trial (default: the teacher's)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", default="data.npz", help="output .npz with y (trials, T, D), z, and u if any")
    s.set_defaults(func=cmd_simulate)

    s = sub.add_parser("sample", help="generate data from a saved model")
    s.add_argument("model")
    s.add_argument("--trials", type=int, default=1)
    s.add_argument("--steps", type=int, default=1000)
    s.add_argument("--inputs", default=None, help=".npy of inputs (trials, T, U) or (T, U)")
    s.add_argument("--noise-scale", type=float, default=1.0)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", default="gen.npz")
    s.set_defaults(func=cmd_sample)

    s = sub.add_parser("info", help="print a saved model's options and size")
    s.add_argument("model")
    s.set_defaults(func=cmd_info)

    s = sub.add_parser("fixed-points", help="all fixed points of a saved model")
    s.add_argument("model")
    s.add_argument("--input", default=None, help="constant input u1,u2,... (default zeros)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_fixed_points)

    for register in _EXTRA_COMMANDS:
        register(sub)
    return p


# Commands living in their own modules register here (keeps this file small).
_EXTRA_COMMANDS = []


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        args.func(args)
    except (ValueError, TypeError, FileNotFoundError) as exc:
        print(f"lowrank {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
