"""
Fixed points of a fitted network
================================

For piecewise-linear activations (ReLU, clipped ReLU) every fixed point of a
low-rank network can be found exactly: the units' thresholds cut the latent
space into regions where the dynamics are linear, and each region is solved
(:meth:`lowrank.LowRankRNN.fixed_points`). Here a student is fitted to the
built-in ``bistable`` teacher (two stable fixed points and a saddle between
them, noise-driven switching) and its fixed points are compared with the
teacher's.

The documentation builds this page with a short fit (``LOWRANK_DOCS_FAST=1``).
"""

import os

import numpy as np

import lowrank

FAST = os.environ.get("LOWRANK_DOCS_FAST") == "1"
N_ITER = 400 if FAST else 3000

# %%
# The teacher's fixed points
# --------------------------

teacher = lowrank.teachers.get("bistable", seed=0)
fp = teacher.model.fixed_points()
print(fp)
print("analytic:", teacher.facts["stability"], np.round(teacher.facts["fixed_points"], 3).tolist())

# %%
# A student
# ---------
# 10 observed dimensions through a latent read-out; the student has 16 units
# (the teacher 3): the rank, not the number of units, sets the dynamics' shape.

data = teacher.dataset(seed=0)                     # (20, 500, 10)
student = lowrank.LowRankRNN(n_units=16, rank=2, n_obs=10, activation="relu", seed=0)
student.fit(data.y, n_iter=N_ITER, lr=1e-2, lr_end=1e-3, verbose=0)
fps = student.fixed_points()
print(fps)
print("stability of the student's fixed points:", list(fps.stability))

# %%
# The fixed points in the student's latent plane, over one of its trajectories.

path = student.sample(n_trials=1, n_steps=500, seed=1).z[0]
lowrank.plotting.plot_fixed_points(student, fps, trajectory=path)
