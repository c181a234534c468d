"""
A seed study with fit_many
==========================

Fits of the same model from different initialisations can end in different
places. :func:`lowrank.fit_many` runs independent fits in parallel (joblib on
this machine; ``backend="dask"`` on a cluster) and returns one row per fit,
so a seed study is one call. ``lowrank fit-many`` does the same from the
command line, resumably, writing each fit as it finishes.

The documentation builds this page with short fits (``LOWRANK_DOCS_FAST=1``).
"""

import os

import numpy as np

import lowrank

FAST = os.environ.get("LOWRANK_DOCS_FAST") == "1"
SEEDS, N_ITER = (4, 200) if FAST else (8, 2000)

# %%
# Several seeds, two learning rates
# ---------------------------------
# Every setting runs with every seed; 20 % of the trials are held out to
# monitor each fit and choose its best parameters.

data = lowrank.teachers.get("oscillator", seed=0).dataset(seed=0)
spec = dict(n_units=20, rank=2, n_obs=20, activation="relu", readout="units")
res = lowrank.fit_many(spec, data.y, seeds=SEEDS, settings=[{"lr": 3e-3}, {"lr": 1e-2}], n_jobs=2,
                       window=None, n_iter=N_ITER, heldout=0.2, eval_every=N_ITER // 4)

print(f"{'setting':>8} {'seed':>12} {'lr':>6} {'best held-out ELBO':>19} {'seconds':>8}")
for row in res.table:
    print(f"{row['setting']:>8} {row['seed']:>12} {row['lr']:>6g} {row['best_heldout_elbo']:>19.4f} "
          f"{row['seconds']:>8.1f}")

# %%
# The spread over seeds, per setting, and the best model.

import matplotlib.pyplot as plt  # noqa: E402

fig, ax = plt.subplots(figsize=(4, 3))
for s, lr in enumerate([3e-3, 1e-2]):
    vals = [r["best_heldout_elbo"] for r in res.table if r["setting"] == s]
    ax.plot(np.full(len(vals), s) + np.linspace(-0.1, 0.1, len(vals)), vals, "o", label=f"lr {lr:g}")
    print(f"lr {lr:g}: median {np.median(vals):.4f}, range {np.ptp(vals):.4f}")
ax.set_xticks([0, 1], ["lr 3e-3", "lr 1e-2"])
ax.set_ylabel("best held-out ELBO per step")
fig.tight_layout()

best = res.best()
print("best:", best, "seed", best.seed)
