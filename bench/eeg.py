"""The EEG experiment of Pals et al. (2024), Table 1, on a laptop.

Fits rank-3, N=512 clipped-ReLU models with a latent Gaussian read-out to the 64-channel EEG
recording ``../shared/data/eeg/EEG_data_smoothed.npy`` (optimal proposal, K=10, windows of 50,
batch 10, lr 1e-3 -> 1e-6, 75,000 updates, as in the reference), one fit per seed in parallel
(``lowrank.fit_many``, one core each). Each model is then evaluated by the protocol of
``lowrank.evaluate`` against the whole recording: D_stsp and D_H of a generated series smoothed
with the 15-point Hann window (the headline, the reference's protocol) and without it; D_stsp also
with the reference code's float32 arithmetic (``dstsp(..., drop_underflow=True)``), which is how
the reference's numbers were computed. Scores are given for generated series 0 (like the
reference's single evaluation) and as means over ``--n-gen`` series, after the final update and
at the ``--snapshots``. Yardsticks on the same protocol: the recording's second half against its
first, and a linear-Gaussian model (identity activation) fitted the same way on one core.

The recording reached us smoothed, so by default training undoes the smoothing where it can
(``metrics.hann_unsmooth`` below 0.1 cycles/step), gives the observation noise a full covariance
shaped like the data's residual (``lowrank.residual_noise_basis``, scaled by the Hann window's
white-noise gain 0.107) and adds fresh white noise to every batch (std sqrt(1 - 0.107) = 0.945 in
the noise coordinates) in place of the broadband residual the smoothing removed.

Options (defaults in brackets):
  --seeds N            fits, one per seed [5]
  --base-seed S        root the fits' seeds are spawned from (fit_many's base_seed) [0]
  --iters N            updates per fit [75000]
  --n-jobs N           fits run at once, one thread each [2]
  --noise-basis {residual,diagonal}   observation noise: residual-shaped full covariance, or
                       diagonal [residual]
  --latent-noise {diag,full}   transition noise covariance (ModelOptions.noise) [diag]
  --augment-noise STD  white noise added to each training batch, in the noise coordinates
                       [0.945 with the residual basis, 1.0 with diagonal noise, 0 with
                       --train-data]; 0: none
  --unsmooth-below F   undo the file's Hann smoothing below F cycles/step before training [0.1];
                       0: train on the smoothed file as it is; ignored with --train-data
  --train-data NPY     train on this (T, 64) recording as it is (no augmentation by default, noise
                       basis without the Hann gain) and still evaluate against the smoothed file:
                       the reference's protocol, given its raw EEG_data_zscored.npy
  --n-gen N            generated series per model for the mean scores [3]
  --snapshots LIST     comma-separated update counts also evaluated [10000,20000,40000]
  --quick              2 seeds x 300 iterations, N=128: a few minutes
  --out PATH           results file [bench/results/eeg.json]
  --save-models DIR    also write each fitted model to DIR/seed<seed>.npz

With the library's start from the data (``init="data"``, the default since issue 24), 8 fresh seeds x
40,000 updates all beat the reference's medians: D_stsp 1.41-1.57 and D_H 0.081-0.092, medians 1.50 and
0.086 (docs/experiments/eeg.md §8). The figures below are from the random start, before that.

Headline (``results/eeg.json``, 5 seeds x 75,000 updates, about 7 minutes per fit on one core):
D_stsp 1.93 and D_H 0.098 (medians), against the reference's 2.11 and 0.109; a replicate with
``--base-seed 1`` gives 1.86 and 0.102. The history of runs and probes behind these defaults,
with all their numbers, is in ``docs/experiments/eeg.md``.

Usage: python bench/eeg.py [--seeds 5] [--base-seed 0] [--iters 75000] [--n-jobs 2] [--quick] ...
Writes --out (per-seed scores, medians and MADs, medians by iteration, yardsticks, and whether the
medians beat the reference).
"""
import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import lowrank  # noqa: E402
from lowrank import metrics  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "eeg" / "EEG_data_smoothed.npy"
KEYS = ("dstsp", "dstsp_float32", "dh", "dstsp_no_hann", "dh_no_hann")


def mad(x):
    x = np.asarray(x, dtype=float)
    return float(np.median(np.abs(x - np.median(x))))


class SaveSnapshots:
    """Fit callback: save the parameters after the given numbers of updates (runs in the workers)."""

    def __init__(self, folder, at):
        self.folder, self.at = str(folder), set(int(a) for a in at)

    def __call__(self, i, model, info):
        if i + 1 in self.at:
            model.save(os.path.join(self.folder, f"seed{model.seed}_it{i + 1}.npz"))
        return False


def evaluate_one(model, y, seed):
    ev_h = lowrank.evaluate(model, y, smooth_hann=15, seed=seed)
    ev = lowrank.evaluate(model, y, seed=seed)
    return dict(dstsp=ev_h.dstsp, dh=ev_h.dh,
                dstsp_float32=metrics.dstsp(ev_h.reference, ev_h.generated, seed=seed, drop_underflow=True),
                dstsp_no_hann=ev.dstsp, dh_no_hann=ev.dh)


def evaluate_both(model, y, n_gen=1):
    """Headline (Hann 15 on generated data) and plain evaluations on generated series 0 (the
    reference's single evaluation), plus their means over ``n_gen`` generated series."""
    runs = [evaluate_one(model, y, g) for g in range(n_gen)]
    out = dict(runs[0])
    if n_gen > 1:
        out["mean_over_gen"] = {k: float(np.mean([r[k] for r in runs])) for k in runs[0]}
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--base-seed", type=int, default=0,
                    help="the fits' seeds are spawned from this one (lowrank.fit_many's base_seed)")
    ap.add_argument("--iters", type=int, default=75000)
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--noise-basis", choices=("residual", "diagonal"), default="residual",
                    help="observation noise: full covariance shaped like the data's residual, or diagonal")
    ap.add_argument("--latent-noise", choices=("diag", "full"), default="diag",
                    help="transition noise covariance of the latents (ModelOptions.noise)")
    ap.add_argument("--augment-noise", type=float, default=None,
                    help="std of the white noise added to each training batch, in the noise coordinates "
                         "(default: sqrt(1 - 0.107) = 0.945 with the residual basis, 1.0 with diagonal "
                         "noise, 0 with --train-data; 0: train on the file as it is)")
    ap.add_argument("--train-data", default=None, metavar="NPY",
                    help="train on this (T, 64) recording instead of the smoothed file, as it is (no "
                         "augmentation by default, noise basis without the Hann gain), and still evaluate "
                         "against the smoothed file: the reference's protocol, given its raw z-scored "
                         "recording EEG_data_zscored.npy")
    ap.add_argument("--unsmooth-below", type=float, default=0.1, metavar="FREQ",
                    help="undo the file's Hann smoothing below FREQ cycles/step before training "
                         "(metrics.hann_unsmooth; default 0.1, where the window still passes 5 %% of the "
                         "power); 0: train on the smoothed file as it is; not used with --train-data")
    ap.add_argument("--n-gen", type=int, default=3, help="generated series per model for the mean scores")
    ap.add_argument("--snapshots", default="10000,20000,40000",
                    help="comma-separated update counts at which the fits are also evaluated")
    ap.add_argument("--quick", action="store_true", help="2 seeds x 300 iterations, N=128: a few minutes")
    ap.add_argument("--init", choices=("random", "data"), default=None,
                    help="the fits' start (lowrank.fit's init; default: the library's, random for EEG)")
    ap.add_argument("--no-yardsticks", action="store_true",
                    help="skip the yardsticks (the recording's halves, a linear-Gaussian fit on one core)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "eeg.json"))
    ap.add_argument("--save-models", default=None, metavar="DIR",
                    help="also write each fitted model to DIR/seed<seed>.npz (.npz files are git-ignored)")
    args = ap.parse_args()
    if not DATA.exists():
        sys.exit(f"EEG data not found at {DATA}")
    y = np.load(DATA).astype(np.float64)
    T, D = y.shape
    y_train = y
    if args.unsmooth_below and args.train_data is None:
        y_train = metrics.hann_unsmooth(y, 15, max_freq=args.unsmooth_below)
    else:
        args.unsmooth_below = None
    if args.train_data is not None:
        y_train = np.load(args.train_data).astype(np.float64)
        if y_train.ndim != 2 or y_train.shape[1] != D or not np.all(np.isfinite(y_train)):
            sys.exit(f"--train-data must hold a finite (T, {D}) array like {DATA.name}; got shape {y_train.shape}")
    n_units = 512
    snaps = [int(s) for s in args.snapshots.split(",") if s.strip()]
    if args.quick:
        args.seeds, args.iters, n_units, snaps = 2, 300, 128, [100, 200]
    snaps = sorted(s for s in snaps if 0 < s < args.iters)
    gain = metrics.hann_noise_gain(15)
    basis = None
    if args.noise_basis == "residual":
        # a recording that was not smoothed holds its broadband residual as it is
        basis = lowrank.residual_noise_basis(y_train, 3, smoothing_gain=1.0 if args.train_data else gain)
    if args.augment_noise is None:
        if args.train_data is not None:
            args.augment_noise = 0.0
        else:
            args.augment_noise = float(np.sqrt(1.0 - gain)) if basis is not None else 1.0
    spec = dict(n_units=n_units, rank=3, n_obs=D, activation="clipped_relu", readout="latent",
                likelihood="gaussian", noise_basis=basis, noise=args.latent_noise)
    fit_kw = dict(n_particles=10, proposal="optimal", window=50, batch_size=10, n_iter=args.iters,
                  lr=1e-3, lr_end=1e-6, augment_noise=args.augment_noise or None)
    if args.init is not None:
        fit_kw["init"] = args.init
    import numba
    trained_on = args.train_data or DATA.name + (f" unsmoothed below {args.unsmooth_below}" if args.unsmooth_below else "")
    print(f"EEG {T}x{D}, trained on {trained_on}; N={n_units} R=3 clipped_relu latent gaussian optimal K=10 window 50 batch 10 "
          f"lr 1e-3->1e-6, noise {args.noise_basis}, latent noise {args.latent_noise}, augment_noise {args.augment_noise:.3f}; "
          f"{args.iters} iterations x {args.seeds} seeds, {args.n_jobs} jobs x 1 thread; numba {numba.__version__}",
          flush=True)

    with tempfile.TemporaryDirectory() as snapdir:
        t0 = time.perf_counter()
        res = lowrank.fit_many(spec, y_train, seeds=args.seeds, base_seed=args.base_seed, n_jobs=args.n_jobs, threads_per_job=1,
                               callback=SaveSnapshots(snapdir, snaps), **fit_kw)
        wall = time.perf_counter() - t0
        records = []
        for model, row in zip(res.models, res.table):
            rec = dict(seed=row["seed"], iterations=row["n_iter"], train_seconds=row["seconds"],
                       **evaluate_both(model, y, args.n_gen), final_elbo=row["final_elbo"])
            rec["by_iteration"] = {str(it): evaluate_both(lowrank.LowRankRNN.load(
                os.path.join(snapdir, f"seed{row['seed']}_it{it}.npz")), y, args.n_gen) for it in snaps}
            rec["by_iteration"][str(row["n_iter"])] = {k: rec[k] for k in KEYS + ("mean_over_gen",) if k in rec}
            records.append(rec)
            if args.save_models:
                Path(args.save_models).mkdir(parents=True, exist_ok=True)
                model.save(Path(args.save_models) / f"seed{rec['seed']}.npz")
            print(f"seed {rec['seed']:>10d}: {rec['iterations']} it in {rec['train_seconds']:.0f} s; "
                  f"D_stsp {rec['dstsp']:.3f} (float32 arithmetic {rec['dstsp_float32']:.3f}) "
                  f"D_H {rec['dh']:.4f} | without Hann: D_stsp "
                  f"{rec['dstsp_no_hann']:.3f} D_H {rec['dh_no_hann']:.4f}; final ELBO/step "
                  f"{rec['final_elbo']:.2f}", flush=True)

    keys = KEYS

    def summarise(rows):
        out = {k: dict(median=float(np.median([r[k] for r in rows])), mad=mad([r[k] for r in rows]))
               for k in keys}
        if all("mean_over_gen" in r for r in rows):
            out["mean_over_gen"] = {k: dict(median=float(np.median([r["mean_over_gen"][k] for r in rows])),
                                            mad=mad([r["mean_over_gen"][k] for r in rows])) for k in keys}
        return out

    summary = summarise(records)
    summary["train_seconds"] = dict(median=float(np.median([r["train_seconds"] for r in records])),
                                    mad=mad([r["train_seconds"] for r in records]))
    by_iteration = {str(it): summarise([r["by_iteration"][str(it)] for r in records]) for it in snaps + [args.iters]}

    yardsticks = None if args.no_yardsticks else compute_yardsticks(y, y_train, spec, fit_kw, args.n_gen)
    ref = dict(dstsp_median=2.11, dstsp_mad=0.17, dh_median=0.109, dh_mad=0.017)
    write_results(args, T, D, n_units, gain, records, summary, by_iteration, wall, yardsticks, ref)


def compute_yardsticks(y, y_train, spec, fit_kw, n_gen):
    """The recording's second half against its first, and a linear-Gaussian model fitted the same way."""
    import numba
    T = y.shape[0]
    half = T // 2
    first, second = metrics.zscore(y[:half]), metrics.zscore(y[half:])
    halves = dict(dstsp=float(metrics.dstsp(first, second, seed=0)),
                  dstsp_float32=float(metrics.dstsp(first, second, seed=0, drop_underflow=True)),
                  dh=float(metrics.power_spectrum_distance(first, second)))
    lin = lowrank.LowRankRNN(seed=0, **{**spec, "activation": "identity"})
    t1 = time.perf_counter()
    numba.set_num_threads(1)                 # one core, like each seed's fit
    lin.fit(y_train, verbose=0, seed=0, **fit_kw)
    linear = dict(evaluate_both(lin, y, n_gen), train_seconds=time.perf_counter() - t1)
    return dict(second_half_vs_first=halves, linear_gaussian=linear)


def write_results(args, T, D, n_units, gain, records, summary, by_iteration, wall, yardsticks, ref):
    import numba
    out = dict(config=dict(T=T, D=D, train_data=Path(args.train_data).name if args.train_data else DATA.name,
                           unsmooth_below=args.unsmooth_below,
                           N=n_units, R=3, activation="clipped_relu", K=10, window=50, batch=10,
                           iterations=args.iters, lr=1e-3, lr_end=1e-6, augment_noise=args.augment_noise,
                           init=args.init or "library default",
                           noise_basis=args.noise_basis, latent_noise=args.latent_noise, hann_noise_gain=gain, n_gen=args.n_gen,
                           seeds=args.seeds, base_seed=args.base_seed, n_jobs=args.n_jobs, threads_per_job=1,
                           threading_layer=numba.threading_layer(), machine=platform.machine(),
                           cores=os.cpu_count(), quick=args.quick, numba=numba.__version__),
               headline="dstsp/dh: generated series 0 smoothed with the 15-point Hann window, then z-scored "
                        "(the reference's protocol); dstsp_float32: the same with the reference code's float32 "
                        "arithmetic (draws whose density underflows are dropped), as the reference's numbers "
                        "were computed; *_no_hann: without the smoothing; mean_over_gen: means over n_gen "
                        "generated series",
               per_seed=records, summary=summary, median_by_iteration=by_iteration, wall_seconds=wall,
               yardsticks=yardsticks,
               reference=ref,
               beats_reference=dict(dstsp=summary["dstsp"]["median"] < ref["dstsp_median"],
                                    dstsp_float32=summary["dstsp_float32"]["median"] < ref["dstsp_median"],
                                    dh=summary["dh"]["median"] < ref["dh_median"]))
    print("summary:", json.dumps(summary, indent=1))
    print("median by iteration:", json.dumps(by_iteration, indent=1))
    print("yardsticks:", json.dumps(out["yardsticks"]))
    print("beats the reference's medians:", out["beats_reference"])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
