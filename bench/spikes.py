"""Benchmark: teacher–student on the paper's spiking teacher (Pals et al. 2024), with the library's defaults.

Run from the repository root::

    python bench/spikes.py --seed 0          # fit with the library's defaults, then score (about 1-2 minutes)
    python bench/spikes.py --model m.npz     # score a model fitted elsewhere, e.g. by the command line:
    lowrank fit train.npy --likelihood poisson --readout units --rank 2 --seed 0 --out m.npz
    python bench/spikes.py --quick           # a short fit, to check the pipeline

Data: ``../shared/data/spikes/oscillator_poisson.npz`` (400 trials × 200 steps ×
40 neurons of Poisson counts from a rank-2, 40-unit ReLU teacher, with the
teacher's parameters in this project's parametrisation). The first 320
trials train a rank-2, 40-unit ReLU student with the teacher's read-out
(units from currents, Poisson, softplus); the last 80 are held out. The
student is made as a new user makes it, with only the data-describing
arguments (``likelihood="poisson", readout="units"``, 40 units, rank 2) and
the library's defaults for everything else (for spike counts: a start from
the data, the bootstrap proposal with K = 64, windows of 100 steps, 2,000
updates, lr 3e-3 → 3e-4). Flags under "departures" change a setting, and
are printed and recorded when given; ``--proposal encoder`` runs the earlier
look-ahead encoder recipe (``docs/experiments/spikes.md``) and adds the
encoder-against-bootstrap comparison. Figures, written to ``--out``:

- per-neuron mean rates of student-generated data against the teacher's
  true rates (from its latents), median relative error over neurons;
- the dominant frequency of the generated rates, student against teacher
  (both simulated, 40 × 2048 steps);
- held-out log-likelihood per neuron and step of student and teacher, both
  estimated by the bootstrap filter with K = 1000 (an ELBO: a stochastic
  lower bound, tight at this K);
- the kind of noise-free dynamics of student and teacher
  (:func:`lowrank.analysis.recovery.dynamics_kind`: the fixed points'
  stability and whether noise-free runs keep oscillating; the teacher's is a
  limit cycle around one unstable fixed point);
- spike statistics (rates, ISI CV, pairwise correlations) of generated
  against held-out data;
- fit time (compilation reported apart).

The teacher's initial state (a random-radius circle in the reference data
set code) is approximated by the Gaussian of its first latents' mean and
covariance for the teacher's log-likelihood.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.abspath(os.path.join(HERE, "..")))

import numba  # noqa: E402

import lowrank  # noqa: E402
from lowrank._files import atomic_write  # noqa: E402
from lowrank.metrics import compare_spike_statistics  # noqa: E402
from lowrank.analysis.recovery import dominant_frequency, dynamics_kind  # noqa: E402

DATA = os.path.abspath(os.path.join(HERE, "..", "..", "shared", "data", "spikes", "oscillator_poisson.npz"))
N_TRAIN = 320


def load(path):
    if not os.path.exists(path):
        sys.exit(f"bench/spikes.py: the spiking teacher's data are not at {path} (see ../shared/data/README.md)")
    d = np.load(path)
    return {k: d[k] for k in d.files}


def teacher_model(d):
    """The teacher as a LowRankRNN in this project's parametrisation."""
    z0 = d["latents"][:, 0].astype(np.float64)
    D, R = d["m"].shape
    opts = lowrank.ModelOptions(n_units=D, rank=R, n_obs=D, activation="relu", readout="units",
                                units_readout_from="currents", likelihood="poisson", link="softplus")
    p = lowrank.model.init_params(opts, 0)._replace(
        m=d["m"], n=d["n"], h=d["h"], a=d["a"], L_z=float(d["latent_noise_std"]) * np.eye(R),
        mu0=z0.mean(0), L_0=np.linalg.cholesky(np.cov(z0.T)), gain=np.full(D, float(d["gain"])),
        b=np.full(D, float(d["bias"])))
    if opts.init_noise == "diag":
        p = p._replace(L_0=np.diag(np.sqrt(np.diag(np.cov(z0.T)))))
    return lowrank.LowRankRNN.from_params(p, opts)


def true_rates(d):
    """The teacher's rates (trials, T, D) from its latents."""
    z = d["latents"].astype(np.float64)
    return np.logaddexp(0.0, float(d["gain"]) * (z @ d["m"].T) + float(d["bias"]))


def fit_student(y_train, args):
    """The student as a new user fits it: only the data-describing arguments, the library's defaults for the
    rest (what ``lowrank fit train.npy --likelihood poisson --readout units --rank 2`` does), plus whatever
    was given on this script's command line."""
    extra = {} if args.proposal != "encoder" else {"encoder": lowrank.EncoderOptions(
        padding=args.padding, init_scale=args.init_scale)}
    student = lowrank.LowRankRNN(n_units=40, rank=2, n_obs=40, readout="units", likelihood="poisson",
                                 seed=args.seed, **extra)
    given = {k: v for k, v in dict(n_particles=args.particles, proposal=args.proposal, window=args.window,
                                   n_iter=args.iters, lr=args.lr, lr_end=args.lr_end, encoder_lr=args.encoder_lr,
                                   clip_grad_norm=args.clip).items() if v is not None}
    t0 = time.perf_counter()
    lowrank.smc.prepare(student.options)
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    student.fit(y_train, seed=args.seed, verbose=1, **given)
    student.joint_best_elbo_ = student.best_elbo_
    if args.refine_encoder and student.options.encoder is not None:
        # The encoder alone (the RNN all but frozen), on the bound without resampling: with resampling
        # held fixed in the gradient, the joint fit leaves a look-ahead encoder below the bootstrap.
        student.fit(y_train, n_particles=64, proposal="encoder", resample="none", window=100, batch_size=10, n_iter=args.refine_encoder,
                    lr=1e-6, encoder_lr=3e-3, seed=args.seed + 100, verbose=1)
    return student, compile_s, time.perf_counter() - t0


def mean_ess(model, y, proposal, K, seed):
    r = lowrank.smc.elbo(model, y, n_particles=K, proposal=proposal, seed=seed, grad=False, return_particles=True)
    W = np.exp(r.log_weights)
    ess = 1.0 / np.sum(W * W, axis=-1)
    return float(np.mean(r.elbo_per_step)), float(np.mean(ess))


PRECISION_SCALES = (1.0, 0.5, 0.3, 0.2, 0.15, 0.1, 0.05)


def with_precision_scale(model, c):
    """The model with its encoder's precisions scaled by ``c`` in the proposal (EncoderOptions.precision_scale)."""
    opts = dataclasses.replace(model.options, encoder=dataclasses.replace(model.options.encoder, precision_scale=c))
    out = lowrank.LowRankRNN.from_params(model.params, opts, seed=model.seed)
    out.joint_best_elbo_ = getattr(model, "joint_best_elbo_", None)
    return out


def calibrate_precision(model, y, K, seeds):
    """The encoder's precision scale, picked on *training* trials: of the scales whose mean ELBO beats the
    bootstrap's, the one with the highest mean ESS (1 if none beats it). Returns ``(scale, table)``."""
    boot = np.mean([mean_ess(model, y, "bootstrap", K, s) for s in seeds], axis=0)
    table, best = [], (1.0, -np.inf)
    for c in PRECISION_SCALES:
        elbo, ess = np.mean([mean_ess(with_precision_scale(model, c), y, "encoder", K, s) for s in seeds], axis=0)
        table.append({"scale": c, "elbo_per_step": float(elbo), "mean_ess": float(ess)})
        if elbo > boot[0] and ess > best[1]:
            best = (c, ess)
    return best[0], {"bootstrap": {"elbo_per_step": float(boot[0]), "mean_ess": float(boot[1])}, "scales": table}


def generated(model, n_trials, n_steps, seed):
    s = model.sample(n_trials=n_trials, n_steps=n_steps, seed=seed)
    return s.y, s.mean


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=DATA)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model", default=None, help="score this fitted model file instead of fitting one")
    ap.add_argument("--eval-particles", type=int, default=1000)
    ap.add_argument("--quick", action="store_true", help="200 updates, K=256 for the log-likelihoods")
    ap.add_argument("--plot", default=None, help="figure of the spike statistics (needs matplotlib)")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "spikes.json"))
    ap.add_argument("--save", default=None, help="also write the fitted student to this model file")
    lib = ap.add_argument_group("departures from the library's defaults (none by default)")
    lib.add_argument("--iters", type=int, default=None)
    lib.add_argument("--lr", type=float, default=None)
    lib.add_argument("--lr-end", type=float, default=None)
    lib.add_argument("--particles", type=int, default=None)
    lib.add_argument("--window", type=int, default=None, help="training window length (0: whole trials)")
    lib.add_argument("--clip", type=float, default=None, help="gradient-norm clipping")
    lib.add_argument("--proposal", default=None, choices=("encoder", "bootstrap"),
                     help="training proposal (library default for spike counts: bootstrap)")
    enc = ap.add_argument_group("with --proposal encoder: the earlier recipe (docs/experiments/spikes.md, run l)")
    enc.add_argument("--padding", default="lookahead")
    enc.add_argument("--init-scale", type=float, default=0.1, help="the encoder's initial standard deviation")
    enc.add_argument("--encoder-lr", type=float, default=None, help="the encoder's learning rate (library: lr/10)")
    enc.add_argument("--refine-encoder", type=int, default=1500,
                     help="updates of the encoder alone after the fit, without resampling (0: none)")
    args = ap.parse_args(argv)
    if args.window == 0:
        args.window = None
    if args.quick:
        args.iters, args.eval_particles = 200, 256
    return args


def get_student(args, y_train):
    """The fitted student, from ``--model`` or fitted here; with (compile s, fit s) or NaN when loaded."""
    if args.model:
        return lowrank.LowRankRNN.load(args.model), float("nan"), float("nan")
    student, compile_s, fit_s = fit_student(y_train, args)
    if args.save:
        student.save(args.save)
    return student, compile_s, fit_s


def encoder_figures(student, y_train, y_test, args):
    """Encoder against bootstrap at K = 64 on held-out trials (students with an encoder only)."""
    untempered = mean_ess(student, y_test, "encoder", 64, args.seed + 4)
    scale, calibration = calibrate_precision(student, y_train[:80], 64, [args.seed + 10 + i for i in range(3)])
    print(f"encoder precision scale {scale} (picked on 80 training trials)", flush=True)
    student = with_precision_scale(student, scale)
    elbo_enc, ess_enc = mean_ess(student, y_test, "encoder", 64, args.seed + 4)
    elbo_boot, ess_boot = mean_ess(student, y_test, "bootstrap", 64, args.seed + 4)
    return {"encoder": {"elbo_per_step": elbo_enc, "mean_ess": ess_enc, "precision_scale": scale},
            "encoder_untempered": {"elbo_per_step": untempered[0], "mean_ess": untempered[1]},
            "bootstrap": {"elbo_per_step": elbo_boot, "mean_ess": ess_boot},
            "precision_calibration_train": calibration}


def dynamics_summary(model, seed):
    k = dynamics_kind(model, seed=seed)
    return {"kind": k.kind, "stability": list(k.stability), "oscillates": k.oscillates,
            "amplitude": k.amplitude, "limit_cycle_around_unstable": k.limit_cycle_around_unstable}


def main(argv=None):
    args = parse_args(argv)
    d = load(args.data)
    y = d["y"].astype(np.float64)
    y_train, y_test = y[:N_TRAIN], y[N_TRAIN:]
    teacher = teacher_model(d)
    departures = {k: getattr(args, k) for k in ("iters", "lr", "lr_end", "particles", "window", "clip", "proposal")
                  if getattr(args, k) is not None}
    print(f"spiking teacher-student: {y.shape[0]} trials x {y.shape[1]} steps x {y.shape[2]} neurons, "
          f"{N_TRAIN} train / {y.shape[0] - N_TRAIN} held out; student rank 2, 40 ReLU units, Poisson, units "
          f"read-out; {'model ' + args.model if args.model else 'library defaults'}"
          f"{', departures ' + str(departures) if departures else ''}; seed {args.seed}, "
          f"{numba.get_num_threads()} threads", flush=True)
    student, compile_s, fit_s = get_student(args, y_train)
    D = y.shape[2]
    counts_gen, rates_gen = generated(student, 400, 200, args.seed + 1)
    rate_teacher = true_rates(d).mean(axis=(0, 1))
    rate_err = np.abs(rates_gen.mean(axis=(0, 1)) - rate_teacher) / rate_teacher
    long = dict(n_trials=40, n_steps=2048, seed=args.seed + 2, obs_noise=False)
    f_teacher = dominant_frequency(teacher.sample(**long).y)
    f_student = dominant_frequency(student.sample(**long).y)
    ll_kw = dict(n_particles=args.eval_particles, proposal="bootstrap", seed=args.seed + 3)
    ll_teacher = float(teacher.score(y_test, **ll_kw)) / D
    ll_student = float(student.score(y_test, **ll_kw)) / D
    dyn_teacher, dyn_student = dynamics_summary(teacher, args.seed), dynamics_summary(student, args.seed)
    cmp = compare_spike_statistics(y_test, counts_gen)
    hist = getattr(student, "history_", None)
    out = {
        "config": dict(seed=args.seed, model=args.model, departures=departures, eval_particles=args.eval_particles,
                       n_train=N_TRAIN, n_heldout=int(y.shape[0] - N_TRAIN), threads=numba.get_num_threads(),
                       library_version=lowrank.__version__, fit_settings=(student.provenance_ or {}).get("settings")
                       if hasattr(student, "provenance_") else None),
        "fit_s": fit_s, "compile_s": compile_s,
        "updates": None if hist is None else len(hist.train_elbo),
        "rate_median_rel_error": float(np.median(rate_err)),
        "frequency_teacher": f_teacher, "frequency_student": f_student,
        "frequency_rel_error": abs(f_student - f_teacher) / f_teacher,
        "heldout_ll_per_neuron_step": {"teacher": ll_teacher, "student": ll_student, "gap": ll_teacher - ll_student},
        "dynamics": {"teacher": dyn_teacher, "student": dyn_student,
                     "match": dyn_teacher["kind"] == dyn_student["kind"]},
        "spike_statistics": {"mean_rate_rel_error": cmp.mean_rate_rel_error,
                             "mean_isi_cv_error": cmp.mean_isi_cv_error, "corr_rmse": cmp.corr_rmse},
    }
    if student.options.encoder is not None:
        out["heldout_k64"] = encoder_figures(student, y_train, y_test, args)
    report(out)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    atomic_write(args.out, lambda fh: fh.write(json.dumps(out, indent=2, default=str).encode()))
    print(f"wrote {args.out}")
    if args.plot:
        from lowrank import plotting
        plotting.save_figure(plotting.plot_spike_statistics(cmp), args.plot)
        print(f"wrote {args.plot}")


def report(o):
    ll = o["heldout_ll_per_neuron_step"]
    print(f"rates: median relative error over neurons {o['rate_median_rel_error']:.3f} (goal <= 0.10)")
    print(f"frequency: teacher {o['frequency_teacher']:.4f}, student {o['frequency_student']:.4f} cycles/step, "
          f"rel. error {o['frequency_rel_error']:.3f} (goal <= 0.05)")
    print(f"held-out LL per neuron and step (bootstrap, K={o['config']['eval_particles']}): teacher "
          f"{ll['teacher']:.4f}, student {ll['student']:.4f}, gap {ll['gap']:.4f} (goal <= 0.005)")
    dyn = o["dynamics"]
    print(f"dynamics: teacher {dyn['teacher']['kind']}; student {dyn['student']['kind']} (match {dyn['match']})")
    if "heldout_k64" in o:
        k = o["heldout_k64"]
        u = k["encoder_untempered"]
        print(f"held-out K=64: encoder (precision scale {k['encoder']['precision_scale']}) ELBO/step "
              f"{k['encoder']['elbo_per_step']:.4f}, ESS {k['encoder']['mean_ess']:.2f}; bootstrap ELBO/step "
              f"{k['bootstrap']['elbo_per_step']:.4f}, ESS {k['bootstrap']['mean_ess']:.2f}; untempered encoder "
              f"{u['elbo_per_step']:.4f}, ESS {u['mean_ess']:.2f}")
    s = o["spike_statistics"]
    print(f"spike statistics vs held-out: rate rel. error {s['mean_rate_rel_error']:.3f}, ISI CV error "
          f"{s['mean_isi_cv_error']:.3f}, correlation RMSE {s['corr_rmse']:.4f}")
    if o["updates"]:
        print(f"fit time {o['fit_s']:.1f} s + compile {o['compile_s']:.1f} s "
              f"({1e3 * o['fit_s'] / o['updates']:.1f} ms/update over {o['updates']} updates)")


if __name__ == "__main__":
    main()
