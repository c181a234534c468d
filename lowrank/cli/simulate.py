"""``lowrank simulate`` (a teacher's data set) and ``lowrank sample`` (data from a saved model)."""
from __future__ import annotations

from .files import check_outputs, load_inputs, load_model, save_npz
from .parser import OUTPUT_POLICY, add_force, add_options, given

__all__ = ["simulate_teacher", "sample_model", "register"]


def simulate_teacher(teacher="oscillator", *, n_trials=None, n_steps=None, seed=0, out="data.npz", force=False):
    """Simulate a built-in teacher's data set and write it to ``out`` (``y``, ``z``, and ``u``/``labels`` if any).

    Returns the ``lowrank.teachers.Dataset``.
    """
    from .. import teachers
    from ..options import options_for
    table = options_for("simulate")
    n_trials, n_steps = table["n_trials"].check(n_trials), table["n_steps"].check(n_steps)
    out = check_outputs({"out": out}, force=force)["out"]
    t = teachers.get(teacher, seed=seed)
    d = t.dataset(n_trials=n_trials, n_steps=n_steps, seed=seed)
    save_npz(out, y=d.y, z=d.z, u=d.u, labels=d.labels)
    return d


def sample_model(model, *, n_trials=1, n_steps=100, inputs=None, noise_scale=1.0, seed=0, out="gen.npz",
                 force=False):
    """Generate data from a saved model and write ``y``, ``z`` (and ``u``) to ``out``; returns the ``Sample``."""
    out = check_outputs({"out": out}, {"model": model, "inputs": inputs}, force=force)["out"]
    m = load_model(model)
    s = m.sample(n_trials, n_steps, inputs=load_inputs(inputs), noise_scale=noise_scale, seed=seed)
    save_npz(out, y=s.y, z=s.z, u=s.u)
    return s


def _simulate(args, config=None):
    kw = given(args, "simulate")
    d = simulate_teacher(args.teacher, out=args.out, force=args.force, **kw)
    print(f"wrote {args.out}: y {d.y.shape}, z {d.z.shape}" + ("" if d.u is None else f", u {d.u.shape}")
          + f" from teacher {args.teacher!r} (seed {kw.get('seed', 0)})")


def _sample(args, config=None):
    s = sample_model(args.model, inputs=args.inputs, out=args.out, force=args.force, **given(args, "sample"))
    print(f"wrote {args.out}: y {s.y.shape}, z {s.z.shape}")


def register(sub):
    from ..teachers import TEACHERS
    s = sub.add_parser("simulate", help="simulate a built-in teacher's data set", epilog=OUTPUT_POLICY)
    s.add_argument("--teacher", default="oscillator", choices=sorted(TEACHERS), help="default oscillator")
    add_options(s, "simulate")
    s.add_argument("--out", default="data.npz", help="output .npz with y (trials, T, D), z, and u if any "
                                                     "(default data.npz)")
    add_force(s)
    s.set_defaults(func=_simulate)

    s = sub.add_parser("sample", help="generate data from a saved model", epilog=OUTPUT_POLICY)
    s.add_argument("model")
    add_options(s, "sample")
    s.add_argument("--inputs", default=None, metavar="FILE",
                   help=".npy of inputs (trials, T, U) or (T, U), or .npz with u")
    s.add_argument("--out", default="gen.npz", help="output .npz with y, z (and u) (default gen.npz)")
    add_force(s)
    s.set_defaults(func=_sample)
