"""The ``lowrank`` command line: ``lowrank <command> --help`` for each command.

Commands: simulate, fit, fit-many, sample, info, fixed-points, evaluate, posterior. Each parses
its arguments, calls one function of :mod:`lowrank.workflows` (where the
computing, reading and writing happen) and prints the result.

Exit status: 0 on success; 2 for bad arguments or unreadable input (one
``lowrank <command>: error: ...`` line on stderr); 1 for a failure during
the computation (a fit that diverged: its best parameters are still
written); 130 when interrupted (Ctrl-C: a fit writes its best parameters
first). No traceback is printed unless ``LOWRANK_TRACEBACK=1`` is set.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import traceback
import warnings

from ._version import __version__
from .workflows import DEMO  # noqa: F401  (the demo's settings, also imported from here)
from .workflows import SETTING_KEYS

OUTPUT_POLICY = ("Outputs are checked before anything is computed: an output that is also an input is "
                 "refused, and an existing output is replaced only with --force.")


class _UsageError(Exception):
    """Raised by the parser instead of exiting, so that main() returns 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        # One line, like every other failure of the command line.
        print(f"{self.prog}: error: {message} (see {self.prog} --help)", file=sys.stderr)
        raise _UsageError(message)


# ---- argument types: checked at parse time, so the messages name the flag --------------------------

def _int_type(minimum):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer; got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}; got {value}")
        return value
    parse.__name__ = f"integer >= {minimum}"
    return parse


def _float_type(low=None, high=None, low_open=False, high_open=False):
    from ._checks import check_float

    def parse(text):
        try:
            return check_float("value", float(text), low=low, high=high, low_open=low_open, high_open=high_open)
        except ValueError as exc:
            reason = str(exc).replace("value must be", "must be") if "must be" in str(exc) else "must be a number"
            raise argparse.ArgumentTypeError(f"{reason.split('; got')[0]}; got {text!r}") from None
    parse.__name__ = "number"
    return parse


def _vector_type(text):
    try:
        return [float(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be numbers separated by commas (u1,u2,...); got {text!r}") from None


POS_INT, NONNEG_INT = _int_type(1), _int_type(0)
POS_FLOAT, NONNEG_FLOAT = _float_type(0.0, low_open=True), _float_type(0.0)
FRACTION = _float_type(0.0, 1.0, high_open=True)

# Library and workflow argument names -> the flags that set them, per command (for error messages).
FLAGS = {
    "simulate": dict(n_trials="--trials", n_steps="--steps", out="--out", force="--force", teacher="--teacher"),
    "sample": dict(n_trials="--trials", n_steps="--steps", inputs="--inputs", noise_scale="--noise-scale",
                   out="--out", force="--force"),
    "fixed-points": dict(inputs="--input", plot="--plot", force="--force"),
    "posterior": dict(n_particles="--n-particles", proposal="--proposal", smoother="--smoother", seed="--seed",
                      particles_out="--particles-out", out="--out", plot="--plot", force="--force",
                      bin_size="--bin-size"),
    "evaluate": dict(smooth_hann="--smooth-hann", window="--smooth-hann", burn_in="--burn-in",
                     context="--context", plot="--plot", force="--force", bin_size="--bin-size"),
    "fit": dict(rank="--rank", n_units="--units", activation="--activation", readout="--readout",
                likelihood="--likelihood", link="--link", proposal="--proposal", teacher="--teacher",
                kernel_sizes="--encoder-kernels", channels="--encoder-channels",
                init_scale="--encoder-init-scale", padding_mode="--encoder-padding-mode",
                n_particles="--particles", window="--window",
                batch_size="--batch-size", n_iter="--iters", lr="--lr", lr_end="--lr-end", heldout="--heldout",
                eval_every="--eval-every", augment_noise="--augment-noise", correlated_noise="--correlated-noise",
                data_hann="--data-hann", unsmooth_below="--unsmooth-below", max_freq="--unsmooth-below",
                checkpoint="--checkpoint", checkpoint_every="--checkpoint-every", resume="--resume",
                out="--out", plot="--plot", force="--force", bin_size="--bin-size"),
    "fit-many": dict(rank="--rank", n_units="--units", activation="--activation", readout="--readout",
                     likelihood="--likelihood", link="--link", n_particles="--particles", window="--window",
                     batch_size="--batch-size", n_iter="--iters", lr="--lr", lr_end="--lr-end",
                     heldout="--heldout", eval_every="--eval-every", seeds="--seeds", base_seed="--base-seed",
                     settings="--settings", jobs="--jobs", scheduler="--scheduler", threads="--threads",
                     out="--out", force="--force"),
}


def cli_message(message, command):
    """A library or workflow message in the command line's words: argument names become flags.

    ``window=None`` becomes ``--window 0``, ``force=True`` ``--force``, and a
    name that is the subject of the message (``name must``, ``name=value``,
    ``name <=``, ``name is``, ``name needs``) its flag, e.g. ``--window 300``.
    """
    flags = FLAGS.get(command, {})
    message = message.replace("window=None", "--window 0" if command == "fit" else "window=None")
    message = message.replace("force=True", "--force")
    for name, flag in flags.items():
        # Not inside a repr such as ModelOptions(n_units=10, rank=2, ...). Names with an underscore
        # are never prose, so they are replaced wherever they stand.
        tail = r"(=|\b)" if "_" in name else r"(=| must\b| <=| is\b| are\b| needs\b| only\b| applies\b)"
        pattern = rf"(?<![\w.(\-])(?<!, ){re.escape(name)}{tail}"
        message = re.sub(pattern, lambda m: flag + (" " if m.group(1) == "=" else m.group(1)), message)
    return message


# ---- commands --------------------------------------------------------------------------------------

def cmd_simulate(args):
    """Write a teacher's data set."""
    from . import workflows
    d = workflows.simulate_teacher(args.teacher, n_trials=args.trials, n_steps=args.steps, seed=args.seed,
                                   out=args.out, force=args.force)
    print(f"wrote {args.out}: y {d.y.shape}, z {d.z.shape}" + ("" if d.u is None else f", u {d.u.shape}")
          + f" from teacher {args.teacher!r} (seed {args.seed})")


def cmd_sample(args):
    from . import workflows
    s = workflows.sample_model(args.model, n_trials=args.trials, n_steps=args.steps, inputs=args.inputs,
                               noise_scale=args.noise_scale, seed=args.seed, out=args.out, force=args.force)
    print(f"wrote {args.out}: y {s.y.shape}, z {s.z.shape}")


def cmd_info(args):
    from . import workflows
    model, extra, history = workflows.model_info(args.model)
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


def _print_provenance(prov):
    """The fit's settings, seed, data fingerprint and version (``lowrank info``), if the file has them."""
    if not prov:
        return
    print(f"  {'fitted with lowrank':20s} {prov.get('lowrank_version')}, seed {prov.get('seed')}")
    for name, fp in (prov.get("data") or {}).items():
        if isinstance(fp, dict):
            print(f"  {'data ' + name:20s} sha256 {fp.get('sha256')}  shape {fp.get('shape')}")
    for k, v in sorted((prov.get("settings") or {}).items()):
        print(f"  {'fit ' + k:20s} {v}")


def cmd_fixed_points(args):
    from . import workflows
    from .fixed_points import format_table
    res = workflows.fixed_points_of(args.model, inputs=args.input, plot=args.plot, force=args.force)
    if args.plot:
        print(f"wrote {args.plot}")
    print(json.dumps(res.to_dict(), indent=2) if args.json else format_table(res))


_DATA_ONLY = dict(bin_size="--bin-size", likelihood="--likelihood", link="--link", heldout="--heldout", augment_noise="--augment-noise",
                  correlated_noise="--correlated-noise", data_hann="--data-hann", unsmooth_below="--unsmooth-below")


def _given(args, **names):
    """The keyword arguments the user set (None and False mean "not given": the workflow's default)."""
    return {k: getattr(args, a) for k, a in names.items() if getattr(args, a) not in (None, False)}


_ENCODER_FLAGS = dict(kernel_sizes="encoder_kernels", channels="encoder_channels",
                      activation="encoder_activation", padding="encoder_padding",
                      padding_mode="encoder_padding_mode", init_scale="encoder_init_scale",
                      constant_var="encoder_constant_var", precision_scale="encoder_precision_scale")


def _encoder_options(args):
    """The encoder network the flags ask for: a dict of ``EncoderOptions`` fields, or None.

    Any ``--encoder-*`` flag, or ``--proposal encoder``, gives the model an
    encoder (the library's defaults for the fields not given).
    """
    given = _given(args, **_ENCODER_FLAGS)
    if not given and args.proposal != "encoder":
        return None
    if args.proposal not in (None, "encoder"):
        raise ValueError(f"--encoder-* flags configure the encoder proposal; they do not go with "
                         f"--proposal {args.proposal}")
    return given


def cmd_fit(args):
    from . import workflows
    common = dict(n_particles=args.particles, batch_size=args.batch_size, seed=args.seed, out=args.out,
                  checkpoint=args.checkpoint, checkpoint_every=args.checkpoint_every, resume=args.resume,
                  plot=args.plot, force=args.force, verbose=0 if args.quiet else 1, device=args.device)
    common.update(_given(args, n_units="units", activation="activation", readout="readout", n_iter="iters",
                         lr="lr", lr_end="lr_end", eval_every="eval_every"))
    common.update(_given(args, proposal="proposal"))
    encoder = _encoder_options(args)
    if encoder is not None:
        common["encoder"] = encoder
    window = {} if args.window is None else {"window": args.window or None}      # 0: whole trials
    if args.data is None:
        extra = [flag for k, flag in _DATA_ONLY.items() if getattr(args, k) not in (None, False)]
        if extra:
            raise ValueError(f"{', '.join(extra)} {'needs' if len(extra) == 1 else 'need'} a data file; "
                             f"the demo (no DATA) does not take {'it' if len(extra) == 1 else 'them'}")
        print(workflows.demo_description(args.teacher), flush=True)
        res = workflows.fit_demo(teacher=args.teacher, rank=args.rank, **window, **common)
    else:
        if args.teacher is not None:
            raise ValueError("--teacher picks the demo's data; it does not go with a data file")
        data_kw = _given(args, likelihood="likelihood", link="link", augment_noise="augment_noise",
                         correlated_noise="correlated_noise", data_hann="data_hann", unsmooth_below="unsmooth_below",
                         bin_size="bin_size")
        if args.heldout:                                                          # 0: none, as the default
            data_kw["heldout"] = args.heldout
        res = workflows.fit_recording(args.data, rank=3 if args.rank is None else args.rank, **window, **data_kw,
                                      **common)
    if res.plot:
        print(f"wrote {res.plot}")
    if res.stop_reason == "interrupted":
        print(f"interrupted after {res.n_iter} iterations; wrote the best parameters to {res.out}")
        return 130
    if res.summary:
        print(res.summary)
    print(f"fitted {res.model!r} on {args.data or 'the demo data'} ({res.n_iter} iterations, stopped: "
          f"{res.stop_reason}); best ELBO/step {res.best_elbo:.4f}; wrote {res.out}")
    return 0


def _add_device(s, help_text):
    s.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help=help_text)


def cmd_fit_many(args):
    from . import workflows
    kw = _given(args, n_units="units", activation="activation", readout="readout", likelihood="likelihood",
                link="link", n_iter="iters", lr="lr", lr_end="lr_end", eval_every="eval_every")
    if args.window is not None:
        kw["window"] = args.window or None                                     # 0: whole trials
    res = workflows.fit_many_recording(
        args.data, seeds=args.seeds, base_seed=args.base_seed, settings=args.settings,
        jobs=-1 if args.jobs is None else args.jobs, scheduler=args.scheduler, threads=args.threads,
        rank=args.rank, n_particles=args.particles, batch_size=args.batch_size, heldout=args.heldout or None,
        out=args.out, force=args.force, device=args.device, **kw)
    print(f"{len(res.table)} fits in {res.out}: {res.ran} run now, {res.skipped} already finished; "
          f"wrote table.csv and table.json")
    if res.best is not None:
        print(f"best: setting {res.best['setting']} seed {res.best['seed']} ({res.best['chosen_by']} "
              f"{res.best[res.best['chosen_by']]:.4f}); wrote {os.path.join(res.out, 'best.npz')}")
    if res.failed:
        first = res.failed[0]
        print(f"lowrank fit-many: error: {len(res.failed)} of {len(res.table)} fits failed (the first, setting "
              f"{first['setting']} seed {first['seed']}: {first['error_type']}: {_one_line(first['error'])}); "
              f"rerun the same command to retry those without a model file", file=sys.stderr)
        return 1
    return 0


def cmd_evaluate(args):
    from . import workflows
    res = workflows.evaluate_recording(args.model, args.data, smooth_hann=args.smooth_hann, burn_in=args.burn_in,
                                       context=args.context, seed=args.seed, plot=args.plot, force=args.force,
                                       bin_size=args.bin_size)
    if args.plot:
        print(f"wrote {args.plot}")
    if args.json:
        print(json.dumps({"dstsp": res.dstsp, "dh": res.dh}))
    else:
        print(f"D_stsp {res.dstsp:.3f}   D_H {res.dh:.4f}   ({res.reference.shape[0]} steps, "
              f"Hann {args.smooth_hann or 'none'}, burn-in {args.burn_in}, context {args.context})")


def cmd_posterior(args):
    from . import workflows
    post = workflows.posterior_latents(args.model, args.data, n_particles=args.n_particles, proposal=args.proposal,
                                       smoother=args.smoother, seed=args.seed, out=args.out,
                                       particles_out=args.particles_out, plot=args.plot, force=args.force,
                                       bin_size=args.bin_size)
    n, T, K, R = post.particles.shape
    print(f"wrote {args.out}: filtering and {args.smoother}-smoothed latent means (n, T, R) = {(n, T, R)} "
          f"and covariances ({n} trial{'' if n == 1 else 's'}, {K} particles, ELBO/step "
          f"{float(sum(post.elbo_per_step)) / n:.4f})")
    for path in (args.particles_out, args.plot):
        if path:
            print(f"wrote {path}")


# ---- the parser ------------------------------------------------------------------------------------

def _add_force(s):
    s.add_argument("--force", action="store_true",
                   help="replace existing output files (without it an existing output is an error)")


def _add_bin_size(s):
    s.add_argument("--bin-size", type=POS_FLOAT, default=None, metavar="SECONDS",
                   help="bin width for an .nwb file's spike times (required for .nwb, refused otherwise; "
                        "needs pip install 'lowrank[nwb]')")


def _add_plot(s, what):
    s.add_argument("--plot", default=None, metavar="IMAGE",
                   help=f"also draw {what} to this image (.png, .pdf, .svg, ...; needs matplotlib)")


def _parser_simulate(sub):
    from .teachers import TEACHERS
    s = sub.add_parser("simulate", help="simulate a built-in teacher's data set", epilog=OUTPUT_POLICY)
    s.add_argument("--teacher", default="oscillator", choices=sorted(TEACHERS))
    s.add_argument("--trials", type=POS_INT, default=None, help="number of trials (default: the teacher's)")
    s.add_argument("--steps", type=POS_INT, default=None, help="steps per trial (default: the teacher's)")
    s.add_argument("--seed", type=NONNEG_INT, default=0)
    s.add_argument("--out", default="data.npz", help="output .npz with y (trials, T, D), z, and u if any")
    _add_force(s)
    s.set_defaults(func=cmd_simulate)


def _parser_sample(sub):
    s = sub.add_parser("sample", help="generate data from a saved model", epilog=OUTPUT_POLICY)
    s.add_argument("model")
    s.add_argument("--trials", type=POS_INT, default=1)
    s.add_argument("--steps", type=POS_INT, default=1000)
    s.add_argument("--inputs", default=None, help=".npy of inputs (trials, T, U) or (T, U), or .npz with u")
    s.add_argument("--noise-scale", type=NONNEG_FLOAT, default=1.0)
    s.add_argument("--seed", type=NONNEG_INT, default=0)
    s.add_argument("--out", default="gen.npz", help="output .npz with y, z (and u)")
    _add_force(s)
    s.set_defaults(func=cmd_sample)


def _parser_inspect(sub):
    s = sub.add_parser("info", help="print a saved model's options and size")
    s.add_argument("model")
    s.set_defaults(func=cmd_info)

    s = sub.add_parser("fixed-points", help="all fixed points of a saved model", epilog=OUTPUT_POLICY)
    s.add_argument("model")
    s.add_argument("--input", type=_vector_type, default=None, help="constant input u1,u2,... (default zeros)")
    s.add_argument("--json", action="store_true")
    _add_plot(s, "the fixed points in the first two latent coordinates")
    _add_force(s)
    s.set_defaults(func=cmd_fixed_points)

    s = sub.add_parser("evaluate", help="D_stsp and D_H of a model's generated data against a recording",
                       epilog=OUTPUT_POLICY)
    s.add_argument("model")
    s.add_argument("data", help=".npy (T, D) recording, or .npz with y (T, D) and, for a model with inputs, u, "
                                "or .nwb spike times (with --bin-size; binned as one continuous recording)")
    _add_bin_size(s)
    s.add_argument("--smooth-hann", type=POS_INT, default=None, help="Hann window applied to the generated data")
    s.add_argument("--burn-in", type=NONNEG_FLOAT, default=0.25,
                   help="steps run and discarded before the compared series, as a fraction of T (default 0.25)")
    s.add_argument("--context", type=NONNEG_INT, default=50,
                   help="steps at the start of the recording that set the generated series' initial state "
                        "(a draw of the particle filter there); 0: the model's initial-state distribution "
                        "(default 50, as lowrank.evaluate)")
    s.add_argument("--seed", type=NONNEG_INT, default=0)
    s.add_argument("--json", action="store_true")
    _add_plot(s, "recorded vs generated data (channels, spectra, leading PCs)")
    _add_force(s)
    s.set_defaults(func=cmd_evaluate)


def _parser_posterior(sub):
    from .inference.smoothing import SMOOTHERS
    s = sub.add_parser("posterior", help="filtering and smoothed latents of a recording under a saved model",
                       epilog=OUTPUT_POLICY)
    s.add_argument("model")
    s.add_argument("data", help=".npy (T, D) or (trials, T, D), or .npz with y, inputs u, optional behavior and mask (True where observed)")
    s.add_argument("--out", default="latents.npz",
                   help="output .npz: filter_mean, smooth_mean (trials, T, R), filter_cov, smooth_cov "
                        "(trials, T, R, R), obs_mean, elbo (default latents.npz)")
    s.add_argument("--particles-out", default=None, metavar="FILE",
                   help="also write the particles, their filtering log-weights, ancestors and smoothing weights")
    s.add_argument("--n-particles", type=POS_INT, default=100, help="particles K (default 100)")
    s.add_argument("--proposal", choices=("bootstrap", "optimal", "encoder"), default=None,
                   help="SMC proposal (default: the model's)")
    s.add_argument("--smoother", choices=SMOOTHERS, default="backward",
                   help="backward: reweight every step's particles (default); ancestry: trace the final "
                        "particles' ancestors (cheaper, degenerate far from the end)")
    _add_bin_size(s)
    s.add_argument("--seed", type=NONNEG_INT, default=0)
    _add_plot(s, "the first trial's latents over time (and its behavior, if the data file has one)")
    _add_force(s)
    s.set_defaults(func=cmd_posterior)


FIT_EPILOG = (
    "Defaults are those of lowrank.LowRankRNN and lowrank.fit, except: --rank and --units, which the library "
    "requires (the command line takes rank 3 and 128 units, or D units for --readout units); and the demo "
    "(no DATA), which has its own settings, given in brackets. " + OUTPUT_POLICY + " A fit that diverges "
    "(non-finite ELBO or gradient) still writes its best parameters to --out and exits with status 1; Ctrl-C "
    "writes them and exits with status 130.")


def _int_list(text):
    try:
        values = [int(x) for x in text.split(",") if x.strip() != ""]
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be integers separated by commas (e.g. 21,11,1); got {text!r}") from None
    return values


def _add_encoder_flags(s):
    from .model.encoder import ENCODER_ACTIVATIONS, PADDING_MODES, PADDINGS
    s.add_argument("--encoder-kernels", type=_int_list, default=None, metavar="K1,K2,...",
                   help="encoder proposal: kernel size of each layer, the last the output's (default 21,11,1)")
    s.add_argument("--encoder-channels", type=_int_list, default=None, metavar="C1,...",
                   help="encoder: channels of the hidden layers, one fewer than kernels (default 64,64)")
    s.add_argument("--encoder-activation", choices=ENCODER_ACTIVATIONS, default=None, help="default gelu")
    s.add_argument("--encoder-padding", choices=PADDINGS, default=None,
                   help="steps each output sees: causal (past), acausal (centred), windowed, lookahead "
                        "(default causal)")
    s.add_argument("--encoder-padding-mode", choices=PADDING_MODES, default=None, help="default zeros")
    s.add_argument("--encoder-init-scale", type=POS_FLOAT, default=None,
                   help="initial encoder standard deviation (default 0.1)")
    s.add_argument("--encoder-constant-var", action="store_true",
                   help="one learned encoder variance per latent dimension instead of one per step")
    s.add_argument("--encoder-precision-scale", type=POS_FLOAT, default=None,
                   help="multiplies the encoder's precisions in the proposal; below 1 tempers it towards the "
                        "prior for more even weights (default 1)")


def _parser_fit(sub):
    from .model.options import ACTIVATIONS, LIKELIHOODS, LINKS, READOUTS
    from .teachers import TEACHERS
    s = sub.add_parser("fit", help="fit a model to data (no DATA: the built-in oscillator demo)", epilog=FIT_EPILOG)
    s.add_argument("data", nargs="?", default=None,
                   help=".npy (T, D) or (trials, T, D), or .npz with y (optional inputs u, missing-data mask: True "
                        "where observed), or .nwb spike times (with --bin-size; one trial per row of its trials table)")
    _add_bin_size(s)
    s.add_argument("--rank", type=POS_INT, default=None, help="rank R (default 3: the library has none) [demo: 2]")
    s.add_argument("--units", type=POS_INT, default=None,
                   help="units N (default 128, or D with --readout units: the library has none) [demo: 20]")
    s.add_argument("--activation", choices=ACTIVATIONS, default=None, help="default relu")
    s.add_argument("--readout", choices=READOUTS, default=None, help="default latent [demo: units]")
    s.add_argument("--likelihood", choices=LIKELIHOODS, default=None, help="default gaussian")
    s.add_argument("--link", choices=LINKS, default=None, help="Poisson link (default softplus)")
    s.add_argument("--proposal", choices=("bootstrap", "optimal", "encoder"), default=None,
                   help="SMC proposal (default: optimal for linear-Gaussian read-outs, else bootstrap; "
                        "encoder with any --encoder-* flag) [demo with a spiking teacher: encoder]")
    _add_encoder_flags(s)
    s.add_argument("--teacher", choices=sorted(TEACHERS), default=None,
                   help="demo only (no DATA): the teacher whose data set is fitted, e.g. oscillator_poisson "
                        "for spike counts [demo: oscillator]")
    s.add_argument("--particles", type=POS_INT, default=10, help="particles K (default 10)")
    _add_device(s, "where the particle filter runs (default cpu; cuda needs the cuda extra and a GPU)")
    s.add_argument("--window", type=NONNEG_INT, default=None,
                   help="training window length; 0: whole trials (default 50) [demo: whole trials]")
    s.add_argument("--batch-size", type=POS_INT, default=10, help="default 10")
    s.add_argument("--iters", type=POS_INT, default=None, help="number of updates (default 1000) [demo: 2000]")
    s.add_argument("--lr", type=POS_FLOAT, default=None, help="initial learning rate (default 1e-3) [demo: 1e-2]")
    s.add_argument("--lr-end", type=POS_FLOAT, default=None,
                   help="final learning rate, reached by exponential decay (default: --lr, no decay) [demo: 1e-3]")
    s.add_argument("--heldout", type=FRACTION, default=None,
                   help="fraction of the data held out for monitoring and choosing the best parameters "
                        "(default: none; 0 also means none) [demo: the last 40 trials]")
    s.add_argument("--eval-every", type=POS_INT, default=None,
                   help="held-out evaluation period in updates (default 50) [demo: --iters / 10]")
    s.add_argument("--augment-noise", type=NONNEG_FLOAT, default=None,
                   help="std of white noise added to each training batch (for low-pass filtered recordings)")
    s.add_argument("--correlated-noise", action="store_true",
                   help="full-covariance observation noise shaped like the data beyond its top R directions "
                        "(lowrank.residual_noise_basis); latent Gaussian read-out only")
    s.add_argument("--data-hann", type=POS_INT, default=None,
                   help="the recording was smoothed with this Hann window: with --correlated-noise, scale "
                        "its residual back up by the window's white-noise gain; with --unsmooth-below, "
                        "the window to undo")
    s.add_argument("--unsmooth-below", type=POS_FLOAT, default=None, metavar="FREQ",
                   help="with --data-hann: undo the smoothing below FREQ cycles per step before fitting "
                        "(lowrank.metrics.hann_unsmooth; 0.1 for a 15-point window)")
    s.add_argument("--seed", type=NONNEG_INT, default=0, help="seed of the initialisation and the fit (default 0)")
    s.add_argument("--checkpoint", default=None, help="checkpoint file, written when the fit stops "
                   "(and every --checkpoint-every updates)")
    s.add_argument("--checkpoint-every", type=POS_INT, default=None)
    s.add_argument("--resume", default=None, help="continue from this checkpoint (may equal --checkpoint)")
    s.add_argument("--quiet", action="store_true", help="no progress line")
    _add_plot(s, "the training curve")
    s.add_argument("--out", default="model.npz", help="the fitted model (default model.npz)")
    _add_force(s)
    s.add_argument("--config", default=None, metavar="TOML",
                   help="settings file: any option above as 'name = value' (e.g. batch-size = 20, "
                        "data = \"rec.npy\"); options on the command line win")
    s.set_defaults(func=cmd_fit)


FIT_MANY_EPILOG = (
    "Every seed (child seeds of --base-seed) is fitted with every setting of --settings, a TOML file of "
    "[[setting]] tables and/or a [grid] of lists (keys: " + ", ".join(sorted(SETTING_KEYS)) + "; window = 0: whole trials). "
    "--out is a folder: one model file per fit, written as it finishes, table.csv, table.json and best.npz "
    "(highest best held-out ELBO). Rerunning with the same --out skips the fits already finished; a folder "
    "of another plan (data, flags, settings) is refused without --force, which reruns every fit. Exit status "
    "1 when any fit failed (the others are still written).")


def _parser_fit_many(sub):
    from .model.options import ACTIVATIONS, LIKELIHOODS, LINKS, READOUTS
    s = sub.add_parser("fit-many", help="fit many seeds (and settings) to data, here or on a Dask cluster",
                       epilog=FIT_MANY_EPILOG)
    s.add_argument("data", help=".npy (T, D) or (trials, T, D), or .npz with y (and optional inputs u)")
    s.add_argument("--seeds", type=POS_INT, default=20, help="number of seeds (default 20)")
    s.add_argument("--base-seed", type=NONNEG_INT, default=0, help="the seeds are its children (default 0)")
    s.add_argument("--settings", default=None, metavar="GRID.toml", help="settings to run with every seed")
    where = s.add_mutually_exclusive_group()
    where.add_argument("--jobs", type=POS_INT, default=None, help="parallel fits on this machine (default: cores)")
    where.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="run on a Dask cluster, e.g. tcp://host:8786 (needs lowrank[dask])")
    s.add_argument("--threads", type=POS_INT, default=None,
                   help="Numba threads per fit (default: cores / jobs, or each Dask worker's threads)")
    s.add_argument("--rank", type=POS_INT, default=3, help="rank R (default 3)")
    s.add_argument("--units", type=POS_INT, default=None, help="units N (default 128, or D with --readout units)")
    s.add_argument("--activation", choices=ACTIVATIONS, default=None, help="default relu")
    s.add_argument("--readout", choices=READOUTS, default=None, help="default latent")
    s.add_argument("--likelihood", choices=LIKELIHOODS, default=None, help="default gaussian")
    s.add_argument("--link", choices=LINKS, default=None, help="Poisson link (default softplus)")
    s.add_argument("--particles", type=POS_INT, default=10, help="particles K (default 10)")
    _add_device(s, "cuda: every fit in lockstep on the GPU, one launch per step (needs the cuda extra and a GPU; "
                   "not with --jobs, --threads or --scheduler) (default cpu)")
    s.add_argument("--window", type=NONNEG_INT, default=None, help="training window; 0: whole trials (default 50)")
    s.add_argument("--batch-size", type=POS_INT, default=10, help="default 10")
    s.add_argument("--iters", type=POS_INT, default=None, help="updates per fit (default 1000)")
    s.add_argument("--lr", type=POS_FLOAT, default=None, help="initial learning rate (default 1e-3)")
    s.add_argument("--lr-end", type=POS_FLOAT, default=None, help="final learning rate (default: --lr)")
    s.add_argument("--heldout", type=FRACTION, default=0.1,
                   help="fraction held out, which chooses best.npz (default 0.1; 0: none, best by training ELBO)")
    s.add_argument("--eval-every", type=POS_INT, default=None, help="held-out evaluation period (default 50)")
    s.add_argument("--out", default="runs", metavar="FOLDER", help="the run folder (default runs)")
    _add_force(s)
    s.set_defaults(func=cmd_fit_many)


def build_parser():
    p = _Parser(prog="lowrank", description="Stochastic low-rank RNNs fitted to neural data.",
                epilog="Exit status: 0 success, 2 bad arguments or input, 1 failure during the computation, "
                       "130 interrupted.")
    p.add_argument("--version", action="version", version=f"lowrank {__version__}")
    sub = p.add_subparsers(dest="command", metavar="command")
    _parser_simulate(sub)
    _parser_fit(sub)
    _parser_fit_many(sub)
    _parser_sample(sub)
    _parser_inspect(sub)
    _parser_posterior(sub)
    return p


# ---- running ---------------------------------------------------------------------------------------

def _one_line(text):
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return " ".join(lines) if lines else ""


def _failure(exc, command):
    """(exit status, message) for an exception raised by a command."""
    text = _one_line(exc) or type(exc).__name__
    if hasattr(exc, "fit_iterations"):               # failed while computing (lowrank.workflows)
        saved, n = getattr(exc, "saved_to", None), exc.fit_iterations
        tail = f"; wrote the {getattr(exc, 'saved_what', None) or 'last good'} parameters to {saved}" if saved \
            else "; nothing was written"
        return 1, f"the fit failed after {n} update{'' if n == 1 else 's'}: {text}{tail}"
    if isinstance(exc, FloatingPointError):          # includes lowrank.smc.SMCDegeneracyError
        return 1, text
    if isinstance(exc, FileNotFoundError) and exc.filename:
        return 2, f"no such file or folder: {exc.filename}"
    if isinstance(exc, (ValueError, TypeError, OSError)):
        return 2, cli_message(text, command)
    if isinstance(exc, MemoryError):
        return 1, f"out of memory{': ' + text if text != 'MemoryError' else ''}"
    return 1, f"unexpected {type(exc).__name__}: {text} (set LOWRANK_TRACEBACK=1 for the traceback)"


def _headless_matplotlib():
    """Draw without a display (the Agg backend); without matplotlib the workflow says what to install."""
    try:
        import matplotlib
    except ImportError:
        return
    matplotlib.use("Agg")


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"lowrank: warning: {_one_line(message)}", file=sys.stderr if file is None else file)


def _with_config(parser, argv, args, prog):
    """``args`` parsed again with the ``--config`` file's settings as the defaults (or the exit status 2)."""
    from .fit_config import read_fit_config
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[args.command]
    try:
        sub.set_defaults(**read_fit_config(args.config, sub))
    except (OSError, ValueError) as exc:
        print(f"{prog}: error: {_failure(exc, args.command)[1]}", file=sys.stderr)
        return 2
    try:
        return parser.parse_args(argv)
    except _UsageError:
        return 2


def main(argv=None):
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except _UsageError:
        return 2
    except SystemExit as exc:                        # --help, --version
        return exc.code if isinstance(exc.code, int) else 0
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    prog = f"lowrank {args.command}"
    if getattr(args, "config", None):
        args = _with_config(parser, argv, args, prog)
        if isinstance(args, int):
            return args
    if getattr(args, "plot", None):
        _headless_matplotlib()
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        try:
            return args.func(args) or 0
        except KeyboardInterrupt:
            print(f"{prog}: interrupted", file=sys.stderr)
            return 130
        except Exception as exc:
            if os.environ.get("LOWRANK_TRACEBACK"):
                traceback.print_exc()
            status, message = _failure(exc, args.command)
            print(f"{prog}: error: {message}", file=sys.stderr)
            return status


if __name__ == "__main__":
    sys.exit(main())
