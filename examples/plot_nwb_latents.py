"""
From an NWB recording to latents, decoding and co-smoothing
===========================================================

Spike times come in from an NWB file (``pip install "lowrank[nwb]"``):
:func:`lowrank.data.read_nwb` bins the Units table's spikes, one trial per
row of the trials table, and interpolates behavioural TimeSeries at the bin
centres. The file here is written by ``examples/make_teacher_nwb.py`` from the
built-in Poisson teacher: its counts as spike times, its true latent state as
the "behaviour". A student fitted to the spikes then gives

* its posterior latents on held-out trials,
* how much of the behaviour they carry (:func:`lowrank.decode`:
  cross-validated ridge regression, R² out of fold), and
* co-smoothing (:func:`lowrank.co_smoothing`): held-out neurons' rates
  predicted from the other neurons, in bits per spike.

The teacher itself, scored the same way, is the yardstick. The documentation
builds this page with a short fit (``LOWRANK_DOCS_FAST=1``).
"""

import os
import sys
import tempfile

import lowrank
from lowrank.data import read_nwb

FAST = os.environ.get("LOWRANK_DOCS_FAST") == "1"
N_ITER = 400 if FAST else 1500

try:
    HERE = os.path.dirname(os.path.abspath(__file__))
except NameError:          # sphinx-gallery runs each script in its folder, without __file__
    HERE = os.getcwd()
sys.path.insert(0, HERE)
from make_teacher_nwb import write_teacher_nwb  # noqa: E402  (the helper script beside this one)

# %%
# Write and read the NWB file
# ---------------------------

folder = tempfile.mkdtemp()
path = os.path.join(folder, "teacher.nwb")
write_teacher_nwb(path, n_trials=200, bin_size=0.02, seed=0)          # 40 units, 200 trials of 1.5 s
rec = read_nwb(path, bin_size=0.02, behavior="latents")
print("counts:", rec.y.shape, " behaviour:", {k: v.shape for k, v in rec.behavior.items()})
y_train, y_test = rec.y[:160], rec.y[160:]
z_true = rec.behavior["latents"][160:]

# %%
# Fit a student
# -------------
# A rank-2 student with the units read-out and the Poisson likelihood, trained
# with a small encoder proposal on whole trials.

model = lowrank.LowRankRNN(n_units=40, rank=2, n_obs=40, readout="units", likelihood="poisson",
                           encoder=dict(kernel_sizes=(9, 1), channels=(16,)), seed=0)
model.fit(y_train, proposal="encoder", n_particles=16, window=None, n_iter=N_ITER, lr=2e-2, lr_end=2e-3,
          verbose=0)
print(model, "fitted with", model.n_iter_, "updates")

# %%
# Latents, and how much of the behaviour they carry
# -------------------------------------------------
# The smoothed posterior means of the held-out trials, decoded into the
# teacher's true latents with 5-fold cross-validation over trials.

post = model.posterior(y_test, n_particles=64)
dec = lowrank.decode(post.smooth_mean, z_true, lags=0, cv=5)
teacher = lowrank.teachers.get("oscillator_poisson", seed=0).model
dec_teacher = lowrank.decode(teacher.posterior(y_test, n_particles=64).smooth_mean, z_true, lags=0, cv=5)
print("decoding R² per latent  student:", dec.r2.round(3), "  teacher:", dec_teacher.r2.round(3))

lowrank.plotting.plot_latents(post, trial=0, behavior=z_true)

# %%
# Co-smoothing
# ------------
# Every fourth neuron is held out: its rate is predicted from the latents the
# other 30 neurons give, and scored in bits per spike.

held_out = range(0, 40, 4)
cs = lowrank.co_smoothing(model, y_test, heldout_units=held_out)
cs_teacher = lowrank.co_smoothing(teacher, y_test, heldout_units=held_out)
print(f"co-smoothing  student {cs.bits_per_spike:.3f}  teacher {cs_teacher.bits_per_spike:.3f} bits per spike")
