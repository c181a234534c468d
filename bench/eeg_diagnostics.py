"""Where fitted EEG models lose D_stsp and D_H: swap the generated observation noise.

For each model (``.npz`` files written by ``bench/eeg.py --save-models DIR``)
and each generation seed, the latent path is generated once and its noise-free
read-out ``clean`` is combined with different observation noises before the
evaluation protocol (Hann 15 on generated data, z-score, against the smoothed
recording):

- ``model``: the model's own noise (what ``lowrank.evaluate`` scores);
- ``independent``: the same per-channel variances, independent across channels;
- ``isotropic``: white noise of the same total variance, equal in every channel;
- ``recorded_residual``: no model noise; after the smoothing, the recording's own
  residual beyond its top ``rank`` principal directions is added, phase-randomised
  (the residual's exact spectrum and cross-channel covariance: ideal noise);
- ``clean``: no noise at all.

D_H is also broken down by the channels' residual fraction (quartiles of the
share of each channel's variance outside the top ``rank`` directions), and the
generated series' power is summed in frequency bands next to the recording's.

Usage: python bench/eeg_diagnostics.py MODEL.npz [MODEL.npz ...] [--n-gen 3]
Writes bench/results/eeg_diagnostics.json.
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import lowrank  # noqa: E402
from lowrank import metrics  # noqa: E402
from lowrank.metrics.spectrum import hellinger, power_spectra  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "eeg" / "EEG_data_smoothed.npy"
BANDS = (0.0, 0.001, 0.002, 0.004, 0.008, 0.016, 0.03, 0.06, 0.5)
VARIANTS = ("model", "independent", "isotropic", "recorded_residual", "clean")


def band_power(P, f):
    """Mean over channels of the normalised spectra, summed within ``BANDS``."""
    Pm = P.mean(axis=1)
    return [float(Pm[(f >= a) & (f < b)].sum()) for a, b in zip(BANDS[:-1], BANDS[1:])]


def phase_randomised(x, rng):
    """Same amplitude spectrum per channel, one random phase per frequency shared by all channels."""
    X = np.fft.rfft(x, axis=0)
    phase = np.exp(2j * np.pi * rng.random(X.shape[0]))[:, None]
    phase[0] = 1.0
    return np.fft.irfft(X * phase, n=x.shape[0], axis=0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("models", nargs="+")
    ap.add_argument("--n-gen", type=int, default=3)
    ap.add_argument("--rank", type=int, default=3, help="leading directions that make the 'signal'")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "eeg_diagnostics.json"))
    args = ap.parse_args()
    if not DATA.exists():
        sys.exit(f"EEG data not found at {DATA}")
    y = np.load(DATA).astype(np.float64)
    T, D = y.shape
    burn = T // 4
    f = np.fft.rfftfreq(T)
    yc = y - y.mean(axis=0)
    V = np.linalg.eigh(np.cov(y.T))[1][:, ::-1][:, :args.rank]
    residual = yc - yc @ V @ V.T
    residual_fraction = residual.var(axis=0) / yc.var(axis=0)
    quartiles = np.array_split(np.argsort(residual_fraction), 4)
    ref = metrics.zscore(y)
    P_ref = power_spectra(ref)
    out = dict(data="../shared/data/eeg/EEG_data_smoothed.npy", n_gen=args.n_gen, rank=args.rank, bands=list(BANDS),
               recording_band_power=band_power(P_ref, f),
               residual_fraction_by_quartile=[float(residual_fraction[q].mean()) for q in quartiles],
               models={})
    print(f"recording band power {np.round(out['recording_band_power'], 3).tolist()} (bands {list(BANDS)})")
    for path in args.models:
        model = lowrank.LowRankRNN.load(path)
        chol = np.linalg.cholesky(model.obs_cov)
        per_channel_sd = np.sqrt(np.diag(model.obs_cov))
        iso_sd = np.sqrt(np.trace(model.obs_cov) / D)
        scores = {v: [] for v in VARIANTS}
        by_quartile = {v: [] for v in VARIANTS}
        bands = {v: [] for v in VARIANTS}
        for g in range(args.n_gen):
            clean = model.sample(1, T + burn, z0="posterior", y=y[None, :50], seed=np.random.default_rng(g),
                                 obs_noise=False).y[0][burn:]
            rng = np.random.default_rng(1000 + g)
            eps = rng.standard_normal((T, D))
            smoothed_clean = metrics.hann_smooth(clean, 15)
            series = {
                "model": metrics.hann_smooth(clean + eps @ chol.T, 15),
                "independent": metrics.hann_smooth(clean + eps * per_channel_sd, 15),
                "isotropic": metrics.hann_smooth(clean + eps * iso_sd, 15),
                "recorded_residual": smoothed_clean + phase_randomised(residual, rng),
                "clean": smoothed_clean,
            }
            for v, x in series.items():
                gz = metrics.zscore(x)
                P = power_spectra(gz)
                h = hellinger(P_ref, P, axis=0)
                scores[v].append((float(metrics.dstsp(ref, gz, seed=g)), float(h.mean())))
                by_quartile[v].append([float(h[q].mean()) for q in quartiles])
                bands[v].append(band_power(P, f))
        rec = {}
        for v in VARIANTS:
            s = np.array(scores[v])
            rec[v] = dict(dstsp=float(s[:, 0].mean()), dh=float(s[:, 1].mean()),
                          dh_by_residual_quartile=np.mean(by_quartile[v], axis=0).tolist(),
                          band_power=np.mean(bands[v], axis=0).tolist())
            print(f"{Path(path).name:>24s} {v:>18s}: D_stsp {rec[v]['dstsp']:.3f} D_H {rec[v]['dh']:.4f} "
                  f"| D_H by residual quartile {np.round(rec[v]['dh_by_residual_quartile'], 3).tolist()}",
                  flush=True)
        out["models"][Path(path).name] = rec
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
