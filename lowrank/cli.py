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


def _save_figure(fig, path):
    """Write a figure made by lowrank.plotting (headless: the Agg backend) and close it."""
    import matplotlib.pyplot as plt
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    print(f"wrote {path}")


def _plotting(args):
    """lowrank.plotting on a headless backend, or None when no --plot was asked for."""
    if not getattr(args, "plot", None):
        return None
    try:
        import matplotlib
    except ImportError:
        raise ValueError("--plot needs matplotlib: pip install 'lowrank[plot]'") from None
    matplotlib.use("Agg")
    from . import plotting
    return plotting


def cmd_simulate(args):
    """Write a teacher's data set."""
    from . import teachers
    t = teachers.get(args.teacher, seed=args.seed)
    d = t.dataset(n_trials=args.trials, n_steps=args.steps, seed=args.seed)
    _write_npz(args.out, y=d.y, z=d.z, u=d.u, labels=d.labels)
    print(f"wrote {args.out}: y {d.y.shape}, z {d.z.shape}" + ("" if d.u is None else f", u {d.u.shape}")
          + f" from teacher {args.teacher!r} (seed {args.seed})")


def cmd_sample(args):
    from .rnn import LowRankRNN
    model = LowRankRNN.load(args.model)
    u = None
    if args.inputs:
        u = np.load(args.inputs, allow_pickle=False)
    s = model.sample(args.trials, args.steps, inputs=u, noise_scale=args.noise_scale, seed=args.seed)
    _write_npz(args.out, y=s.y, z=s.z, u=s.u)
    print(f"wrote {args.out}: y {s.y.shape}, z {s.z.shape}")


def cmd_info(args):
    from .rnn import LowRankRNN
    model, extra = LowRankRNN.load(args.model, with_extra=True)
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
    from .rnn import LowRankRNN
    model = LowRankRNN.load(args.model)
    u = None
    if args.input:
        u = np.array([float(x) for x in args.input.split(",")])
    plotting = _plotting(args)
    res = model.fixed_points(inputs=u)
    if plotting:
        _save_figure(plotting.plot_fixed_points(model, res).figure, args.plot)
    if args.json:
        print(json.dumps(res.to_dict(), indent=2))
    else:
        print(format_table(res))


DEMO = dict(teacher="oscillator", n_train=160, units=20, rank=2, activation="relu", readout="units",
            iters=2000, lr=1e-2, lr_end=1e-3, window=None)


def cmd_fit(args):
    from .rnn import LowRankRNN
    plotting = _plotting(args)
    if args.data is None:
        return _fit_demo(args, plotting)
    y, u = load_data(args.data)
    y = np.asarray(y, dtype=np.float64) if args.likelihood == "gaussian" else y
    D = y.shape[-1]
    units = args.units if args.units is not None else (D if args.readout == "units" else 128)
    basis = None
    if args.correlated_noise:
        from .metrics import hann_noise_gain
        from .model.noise_basis import residual_noise_basis
        gain = hann_noise_gain(args.data_hann) if args.data_hann else 1.0
        basis = residual_noise_basis(y, args.rank or 3, smoothing_gain=gain)
    elif args.data_hann and not args.unsmooth_below:
        raise ValueError("--data-hann only applies with --correlated-noise or --unsmooth-below")
    if args.unsmooth_below:
        if not args.data_hann:
            raise ValueError("--unsmooth-below needs --data-hann: the Hann window that smoothed the recording")
        if args.likelihood != "gaussian":
            raise ValueError("--unsmooth-below applies to continuous recordings (Gaussian likelihood), not counts")
        from .metrics import hann_unsmooth
        y = hann_unsmooth(y, args.data_hann, max_freq=args.unsmooth_below, axis=y.ndim - 2)
    model = LowRankRNN(n_units=units, rank=args.rank or 3, n_obs=D, n_inputs=0 if u is None else u.shape[-1],
                       activation=args.activation or "clipped_relu", readout=args.readout or "latent",
                       likelihood=args.likelihood, link=args.link, seed=args.seed, noise_basis=basis)
    window = None if args.window == 0 else args.window
    model.fit(y, inputs=u, n_particles=args.particles, window=window, batch_size=args.batch_size,
              n_iter=args.iters or 2000, lr=1e-3 if args.lr is None else args.lr, lr_end=args.lr_end,
              heldout=args.heldout or None, augment_noise=args.augment_noise, seed=args.seed,
              checkpoint=args.checkpoint, checkpoint_every=args.checkpoint_every, resume=args.resume,
              verbose=0 if args.quiet else 1)
    model.save(args.out)
    if plotting:
        _save_figure(plotting.plot_history(model).figure, args.plot)
    print(f"fitted {model!r} on {args.data} ({model.n_iter_} iterations, stopped: {model.stop_reason_}); "
          f"best ELBO/step {model.best_elbo_:.4f}; wrote {args.out}")


def _fit_demo(args, plotting=None):
    """Fit a student to the built-in oscillator teacher's data and report what it recovered."""
    from . import teachers
    from .rnn import LowRankRNN
    from .recovery import compare_to_teacher
    d = DEMO
    teacher = teachers.get(d["teacher"], seed=0)
    data = teacher.dataset(seed=0)
    y_train, y_test = data.y[:d["n_train"]], data.y[d["n_train"]:]
    print(f"no data file given: fitting the built-in '{d['teacher']}' teacher's data set "
          f"({y_train.shape[0]} training + {y_test.shape[0]} held-out trials of {data.y.shape[1]} steps, "
          f"{data.y.shape[2]} units)")
    model = LowRankRNN(n_units=args.units or d["units"], rank=args.rank or d["rank"], n_obs=data.y.shape[2],
                       activation=args.activation or d["activation"], readout=args.readout or d["readout"],
                       seed=args.seed)
    iters = args.iters or d["iters"]
    model.fit(y_train, n_particles=args.particles, window=d["window"], batch_size=args.batch_size,
              n_iter=iters, lr=d["lr"] if args.lr is None else args.lr,
              lr_end=d["lr_end"] if args.lr_end is None else args.lr_end, y_val=y_test,
              eval_every=max(1, iters // 10), seed=args.seed, checkpoint=args.checkpoint,
              checkpoint_every=args.checkpoint_every, resume=args.resume, verbose=0 if args.quiet else 1)
    model.save(args.out)
    if plotting:
        _save_figure(plotting.plot_history(model).figure, args.plot)
    rec = compare_to_teacher(model, teacher, y_test, n_particles=args.particles, seed=args.seed)
    print(rec.summary())
    print(f"wrote {args.out}")


def cmd_evaluate(args):
    from .evaluation import evaluate
    from .rnn import LowRankRNN
    model = LowRankRNN.load(args.model)
    y, _ = load_data(args.data)
    plotting = _plotting(args)
    res = evaluate(model, y, smooth_hann=args.smooth_hann, burn_in=args.burn_in, seed=args.seed)
    if plotting:
        _save_figure(plotting.plot_evaluation(res), args.plot)
    if args.json:
        print(json.dumps({"dstsp": res.dstsp, "dh": res.dh}))
    else:
        print(f"D_stsp {res.dstsp:.3f}   D_H {res.dh:.4f}   ({y.shape[0]} steps, "
              f"Hann {args.smooth_hann or 'none'}, burn-in {args.burn_in})")


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
    s.add_argument("--plot", default=None, metavar="PNG",
                   help="also draw the fixed points in the first two latent coordinates to this image")
    s.set_defaults(func=cmd_fixed_points)

    s = sub.add_parser("fit", help="fit a model to data (no DATA: the built-in oscillator demo)")
    s.add_argument("data", nargs="?", default=None,
                   help=".npy (T, D) or (trials, T, D), or .npz with y (and optional u)")
    s.add_argument("--rank", type=int, default=None, help="rank R (default 3; demo 2)")
    s.add_argument("--units", type=int, default=None, help="units N (default 128, or D for readout=units)")
    s.add_argument("--activation", default=None, help="relu, clipped_relu, tanh, identity (default clipped_relu)")
    s.add_argument("--readout", default=None, help="latent or units (default latent; demo units)")
    s.add_argument("--likelihood", default="gaussian")
    s.add_argument("--link", default="softplus")
    s.add_argument("--particles", type=int, default=10)
    s.add_argument("--window", type=int, default=50, help="training window length (0: whole trials)")
    s.add_argument("--batch-size", type=int, default=10)
    s.add_argument("--iters", type=int, default=None, help="number of updates (default 2000)")
    s.add_argument("--lr", type=float, default=None, help="initial learning rate (default 1e-3; demo 1e-2)")
    s.add_argument("--lr-end", type=float, default=None, help="final learning rate (exponential decay)")
    s.add_argument("--heldout", type=float, default=0.1, help="fraction of the data held out for monitoring")
    s.add_argument("--augment-noise", type=float, default=None,
                   help="std of white noise added to each training batch (for low-pass filtered recordings)")
    s.add_argument("--correlated-noise", action="store_true",
                   help="full-covariance observation noise shaped like the data beyond its top R directions "
                        "(lowrank.residual_noise_basis); latent Gaussian read-out only")
    s.add_argument("--data-hann", type=int, default=None,
                   help="the recording was smoothed with this Hann window: with --correlated-noise, scale "
                        "its residual back up by the window's white-noise gain; with --unsmooth-below, "
                        "the window to undo")
    s.add_argument("--unsmooth-below", type=float, default=None, metavar="FREQ",
                   help="with --data-hann: undo the smoothing below FREQ cycles per step before fitting "
                        "(lowrank.metrics.hann_unsmooth; 0.1 for a 15-point window)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--checkpoint", default=None)
    s.add_argument("--checkpoint-every", type=int, default=None)
    s.add_argument("--resume", default=None)
    s.add_argument("--quiet", action="store_true", help="no progress line")
    s.add_argument("--plot", default=None, metavar="PNG",
                   help="also draw the training curve to this image (needs matplotlib)")
    s.add_argument("--out", default="model.npz")
    s.set_defaults(func=cmd_fit)

    s = sub.add_parser("evaluate", help="D_stsp and D_H of a model's generated data against a recording")
    s.add_argument("model")
    s.add_argument("data", help=".npy (T, D) recording")
    s.add_argument("--smooth-hann", type=int, default=None, help="Hann window applied to the generated data")
    s.add_argument("--burn-in", type=float, default=0.25, help="fraction of the length run and discarded")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--json", action="store_true")
    s.add_argument("--plot", default=None, metavar="PNG",
                   help="also draw recorded vs generated data (channels, spectra, leading PCs) to this image")
    s.set_defaults(func=cmd_evaluate)
    return p


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
