"""
EEG: a continuous, smoothed, many-channel recording
===================================================

The EEG of Pals et al. (2024), Table 1: 64 channels, one continuous session,
smoothed (a 15-point Hann window) and z-scored before it reached us. Three
things make such a recording different from trials of counts:

* **many channels, few latents**: a rank-3 read-out explains the data's
  top 3 directions; what is left is correlated across channels, so the
  observation noise gets a full covariance shaped like that residual
  (:func:`lowrank.residual_noise_basis`);
* **smoothed data**: the smoothing is undone where it can be (below 0.1
  cycles per step, :func:`lowrank.metrics.hann_unsmooth`), and fresh white
  noise is added to each training batch (``augment_noise``);
* **evaluation by generation**: the fitted model generates a series as long
  as the recording, smoothed the same way, compared by ``D_stsp`` (state
  space) and ``D_H`` (power spectra).

This page fits for a few seconds, far from the benchmark's 75,000 updates
(``python bench/eeg.py``; its results are on :doc:`/benchmarks`). The
recording is read from ``../shared/data/eeg/EEG_data_smoothed.npy`` (or the
folder in ``LOWRANK_DATA``); where it is absent, a synthetic stand-in of the
same shape, smoothed the same way, is used instead, and the page says so.
"""

import os

import numpy as np

import lowrank
from lowrank.metrics import hann_noise_gain, hann_smooth, hann_unsmooth

FAST = os.environ.get("LOWRANK_DOCS_FAST") == "1"
N_ITER = 300 if FAST else 20000
N_UNITS = 64 if FAST else 512


def _data_folder():
    if os.environ.get("LOWRANK_DATA"):
        return os.environ["LOWRANK_DATA"]
    try:
        here = os.path.dirname(os.path.abspath(__file__))
    except NameError:          # sphinx-gallery runs each script in its folder, without __file__
        here = os.getcwd()
    return os.path.join(here, "..", "..", "shared", "data")


# %%
# The recording
# -------------

path = os.path.join(_data_folder(), "eeg", "EEG_data_smoothed.npy")
if os.path.exists(path):
    y = np.load(path).astype(np.float64)
    print("EEG recording:", y.shape, "(time, channels)")
else:
    print(f"note: {os.path.normpath(path)} is absent; using a synthetic stand-in of the same shape")
    stand_in = lowrank.LowRankRNN(n_units=64, rank=3, n_obs=64, activation="clipped_relu", seed=3)
    y = hann_smooth(stand_in.sample(n_trials=1, n_steps=9640, seed=0).y[0], 15)
    y = (y - y.mean(axis=0)) / y.std(axis=0)
    print("stand-in recording:", y.shape, "(time, channels)")

# %%
# Undo the smoothing where it can be, and shape the noise
# -------------------------------------------------------

y_fit = hann_unsmooth(y, 15, max_freq=0.1)
gain = hann_noise_gain(15)
basis = lowrank.residual_noise_basis(y_fit, 3, smoothing_gain=gain)
print(f"Hann-15 white-noise power gain {gain:.3f}; noise basis {basis.shape}")

# %%
# A short fit
# -----------

model = lowrank.LowRankRNN(n_units=N_UNITS, rank=3, n_obs=64, activation="clipped_relu", noise_basis=basis, seed=0)
model.fit(y_fit, n_iter=N_ITER, lr=1e-3, augment_noise=np.sqrt(1 - gain), verbose=0)
print(model, "fitted with", model.n_iter_, "updates")

# %%
# Generated against recorded
# --------------------------
# The generated series is smoothed with the same window before the
# comparison, as in the paper's protocol.

ev = lowrank.evaluate(model, y, smooth_hann=15, seed=0)
print(f"D_stsp {ev.dstsp:.2f}   D_H {ev.dh:.3f}")
lowrank.plotting.plot_evaluation(ev, n_steps=500)
