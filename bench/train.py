"""Benchmark of a full training step for the ``eeg`` configuration.

A training step is what ``lowrank.fit`` does per iteration: draw random
windows, run the SMC ELBO and its gradient, clip/update with Adam and do
the bookkeeping. The step time is measured inside a real ``fit`` run (a
callback timestamps every iteration); the ELBO + gradient alone is timed on
the same batch shape, so ``overhead_ms`` is what the training loop adds, and
the loop alone is timed with the ELBO replaced by a cached result
(``loop_only``: windows, optimiser, bookkeeping; robust on a busy machine).

Configuration ``eeg``: N=512, R=3, D=64, clipped ReLU, latent Gaussian
read-out, optimal proposal, K=10, batch 10, windows of 50 steps, on random
data of shape (9640, 64).

Usage::

    python bench/train.py            # 200 timed steps
    python bench/train.py --quick    # 30 timed steps (< 1 min)

Writes ``bench/results/train.json`` (a list of records with fields name, N,
R, D, K, batch, T, proposal, likelihood, activation, ms_median, ms_min,
ms_max, compile_s, threads, plus it_per_s, n_steps, threading_layer). The
record ``eeg/train_step_noise_basis`` times the same fit for a model with
correlated observation noise (``noise_basis``), with its ratio to the plain step.
"""
from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="30 timed steps instead of 200")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "train.json"))
    args = ap.parse_args(argv)

    import numba

    import lowrank
    import lowrank.smc as smc
    from lowrank.training import fit

    n_steps = 30 if args.quick else 200
    warmup = 5
    N, R, D, K, B, T = 512, 3, 64, 10, 10, 50
    model = lowrank.LowRankRNN(N, R, D, activation="clipped_relu", readout="latent", likelihood="gaussian", seed=0)
    y = np.random.default_rng(0).standard_normal((9640, D))

    t0 = time.perf_counter()
    smc.prepare(model.options)
    compile_s = time.perf_counter() - t0

    # ELBO + gradient alone, same batch shape, for the loop's overhead.
    rng = np.random.default_rng(1)
    yb = np.ascontiguousarray(y[None, :T].repeat(B, axis=0))
    el = []
    for i in range(warmup + n_steps):
        t = time.perf_counter()
        smc.elbo(model, yb, n_particles=K, proposal="optimal", seed=rng, grad=True)
        el.append(time.perf_counter() - t)
    el = np.array(el[warmup:]) * 1e3

    stamps = []
    fit(model, y, n_particles=K, proposal="optimal", batch_size=B, window=T, n_iter=warmup + n_steps + 1,
        lr=1e-3, verbose=0, seed=0, callback=lambda i, m, info: stamps.append(time.perf_counter()))
    st = np.diff(np.array(stamps))[warmup:] * 1e3

    # The same fit with correlated observation noise (a noise basis): the data are mapped once per fit,
    # so the step should cost the same.
    S = lowrank.residual_noise_basis(y, R)
    model_s = lowrank.LowRankRNN(N, R, D, activation="clipped_relu", readout="latent", likelihood="gaussian",
                                 seed=0, noise_basis=S)
    stamps_s = []
    fit(model_s, y, n_particles=K, proposal="optimal", batch_size=B, window=T, n_iter=warmup + n_steps + 1,
        lr=1e-3, verbose=0, seed=0, callback=lambda i, m, info: stamps_s.append(time.perf_counter()))
    st_s = np.diff(np.array(stamps_s))[warmup:] * 1e3

    # The loop alone: the same fit with the ELBO replaced by a cached result (no kernel time). The
    # training loss looks the function up in lowrank.inference.elbo on every call, so it is replaced there.
    from lowrank.inference import elbo as inference_elbo
    cached = smc.elbo(model, yb, n_particles=K, proposal="optimal", seed=0, grad=True)
    real, inference_elbo.elbo = inference_elbo.elbo, (lambda *a, **k: cached)
    try:
        stamps_loop = []
        fit(model, y, n_particles=K, proposal="optimal", batch_size=B, window=T, n_iter=warmup + 10 * n_steps + 1,
            lr=1e-3, verbose=0, seed=0, callback=lambda i, m, info: stamps_loop.append(time.perf_counter()))
    finally:
        inference_elbo.elbo = real
    lo = np.diff(np.array(stamps_loop))[warmup:] * 1e3

    base = dict(N=N, R=R, D=D, K=K, batch=B, T=T, proposal="optimal", likelihood="gaussian",
                activation="clipped_relu", compile_s=round(compile_s, 3), threads=numba.get_num_threads(),
                threading_layer=numba.threading_layer(), n_steps=n_steps)
    recs = []
    for name, ms in (("train_step", st), ("elbo_grad", el), ("loop_only", lo), ("train_step_noise_basis", st_s)):
        recs.append(dict(name=f"eeg/{name}", **base, ms_median=round(float(np.median(ms)), 4),
                         ms_min=round(float(ms.min()), 4), ms_max=round(float(ms.max()), 4),
                         it_per_s=round(1e3 / float(np.median(ms)), 2)))
    recs[0]["overhead_ms"] = round(recs[0]["ms_median"] - recs[1]["ms_median"], 4)
    recs[3]["ratio_to_train_step"] = round(recs[3]["ms_median"] / recs[0]["ms_median"], 4)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump(recs, fh, indent=1)
    for r in recs:
        print(f"{r['name']:18s} median {r['ms_median']:.3f} ms  min {r['ms_min']:.3f}  max {r['ms_max']:.3f}  "
              f"({r['it_per_s']:.1f} it/s)  compile {r['compile_s']:.2f} s  threads {r['threads']} "
              f"({r['threading_layer']})")
    print(f"training-loop overhead: median step - median ELBO+grad = {recs[0]['overhead_ms']:.3f} ms; "
          f"loop alone (ELBO stubbed) = {recs[2]['ms_median']:.3f} ms; with a noise basis the step is "
          f"{recs[3]['ratio_to_train_step']:.3f} x the plain one")


if __name__ == "__main__":
    main()
