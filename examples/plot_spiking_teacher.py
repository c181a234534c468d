"""
The spiking teacher: a Poisson student with the library's defaults
==================================================================

The built-in ``oscillator_poisson`` teacher is the oscillator's latent
dynamics in 40 units, read out as Poisson spike counts from the units' rates
(the kind of teacher of the spiking experiment of Pals et al. 2024; the
paper's own teacher and its data are what ``bench/spikes.py`` fits, see
:doc:`/benchmarks`). Here a student is told only what the data are: spike
counts (``likelihood="poisson"``) of recorded units that are units of the
network (``readout="units"``). Every other choice, from the proposal to the
learning rate, is the library's default.

The documentation builds this page with a short fit (``LOWRANK_DOCS_FAST=1``);
``python examples/plot_spiking_teacher.py`` runs the library's default number
of updates.
"""

import os

import numpy as np

import lowrank
from lowrank.analysis.recovery import compare_to_teacher

FAST = os.environ.get("LOWRANK_DOCS_FAST") == "1"
FIT = dict(n_iter=300) if FAST else {}      # otherwise the library's default

# %%
# The teacher's spike counts
# --------------------------

teacher = lowrank.teachers.get("oscillator_poisson", seed=0)
data = teacher.dataset(seed=0)                          # data.y: (200, 75, 40) counts
y_train, y_test = data.y[:160], data.y[160:]
print("counts:", data.y.shape, " mean count per bin:", round(float(data.y.mean()), 3),
      " empty bins:", f"{np.mean(data.y == 0):.0%}")

# %%
# The student: only the data-describing arguments
# -----------------------------------------------

student = lowrank.LowRankRNN(n_units=40, rank=2, n_obs=40, likelihood="poisson", readout="units")
student.fit(y_train, verbose=0, **FIT)
print(student)
print("updates:", student.n_iter_, " stopped:", student.stop_reason_)

lowrank.plotting.plot_history(student)

# %%
# What the student recovered
# --------------------------
# The dominant frequency of generated data and the held-out ELBO, against
# the teacher's own (same particles, same seed).

rec = compare_to_teacher(student, teacher, y_test, n_trials=20, n_steps=1024)
print(rec.summary())

# %%
# Spike statistics of generated against held-out data: each neuron's rate and
# ISI variability, and the correlations between neurons.

generated = student.sample(n_trials=len(y_test), n_steps=y_test.shape[1], seed=1).y
cmp = lowrank.metrics.compare_spike_statistics(y_test, generated)
print(f"mean-rate relative error {cmp.mean_rate_rel_error:.3f}   correlation RMSE {cmp.corr_rmse:.3f}")
lowrank.plotting.plot_spike_statistics(cmp)
