"""
The oscillator demo: fit a student to a known network
=====================================================

``lowrank fit`` without a data file runs this: a rank-2 student is fitted to
the data set of the built-in ``oscillator`` teacher, a rank-2 ReLU network of
20 units whose latent state circles a fixed point, kept alive by noise. As the
teacher is known, what the student recovered can be checked: the dominant
frequency of the data it generates, the size of its latent noise, and its
held-out ELBO against the teacher's own.

It runs the demo's own 600 updates (a few seconds once the kernels are compiled), also when the
documentation is built.
"""

import lowrank
from lowrank.analysis.recovery import compare_to_teacher
from lowrank.workflows import DEMO

# The demo's settings (lowrank fit without data): 600 updates, lr 1e-2 decaying to 1e-3.
N_ITER, LR, LR_END = DEMO["n_iter"], DEMO["lr"], DEMO["lr_end"]

# %%
# The teacher and its data
# ------------------------
# A teacher is a :class:`~lowrank.LowRankRNN` whose parameters were constructed,
# not trained, with the facts the tests check recovery against.

teacher = lowrank.teachers.get("oscillator", seed=0)
data = teacher.dataset(seed=0)                 # data.y: (trials, steps, units)
y_train, y_test = data.y[:160], data.y[160:]   # the last 40 trials are held out
print("data:", data.y.shape, " teacher frequency:", round(teacher.facts["frequency"], 4), "cycles/step")

# %%
# Fitting a student
# -----------------
# The student has the teacher's size and read-out (the 20 units' currents,
# Gaussian noise) and otherwise the library's defaults. Whole trials
# (``window=None``), Adam with a learning rate of 1e-2.

student = lowrank.LowRankRNN(n_units=20, rank=2, n_obs=20, activation="relu", readout="units", seed=0)
student.fit(y_train, y_val=y_test, window=None, n_iter=N_ITER, lr=LR, lr_end=LR_END, eval_every=N_ITER // 10,
            verbose=0)
print(student)
print("stopped:", student.stop_reason_, " best held-out ELBO per step:", round(student.best_elbo_, 4))

# %%
# The training curve: the ELBO per step on the training minibatches and on the
# held-out trials.

lowrank.plotting.plot_history(student)

# %%
# What was recovered
# ------------------
# Latent coordinates are not identifiable, so the comparison uses what is
# invariant to them: the dominant frequency of generated data, the latent
# noise as it appears in the units' currents, and the held-out ELBO.

rec = compare_to_teacher(student, teacher, y_test, n_trials=20, n_steps=1024)
print(rec.summary())

# %%
# Generated data against a long recording of the teacher: channels over time,
# power spectra and the recording's two leading principal components, with the
# two distances the EEG benchmark uses (``D_stsp`` and ``D_H``).

recording = teacher.model.sample(n_trials=1, n_steps=3000, seed=2).y[0]     # (3000, 20)
ev = lowrank.evaluate(student, recording, seed=1)
print(f"D_stsp {ev.dstsp:.3f}   D_H {ev.dh:.3f}")
lowrank.plotting.plot_evaluation(ev, n_steps=300)
