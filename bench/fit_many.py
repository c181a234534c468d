"""Benchmark: overhead of fit_many on a local Dask cluster against loky, for a few short fits.

Run from the repository root::

    python bench/fit_many.py              # 4 fits, 5 repetitions per backend
    python bench/fit_many.py --reps 3 --fits 8

Both backends get 2 worker processes with 1 Numba thread each on this
machine (loky: ``n_jobs=2, threads_per_job=1``; Dask:
``LocalCluster(n_workers=2, threads_per_worker=1)``, started once, outside
the timings, as a user's cluster would be). Each repetition times one whole
``fit_many`` call; the first call of each backend is a warm-up (worker start,
kernel cache load) and is reported separately. The overhead is the ratio of
the medians minus 1. Writes ``bench/results/fit_many.json`` atomically.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numpy as np

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

import numba  # noqa: E402

import lowrank  # noqa: E402
from lowrank import teachers  # noqa: E402
from lowrank._files import atomic_write  # noqa: E402

SPEC = dict(n_units=20, rank=2, n_obs=20, activation="relu", readout="units")
FIT = dict(window=None, n_iter=100, n_particles=10, batch_size=10, heldout=0.2, eval_every=25)


def timed(call, reps):
    first = time.perf_counter()
    call()
    first = time.perf_counter() - first
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        call()
        ts.append(time.perf_counter() - t0)
    return first, np.array(ts)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fits", type=int, default=4)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                                                  "fit_many.json"))
    args = ap.parse_args(argv)
    import dask
    import distributed
    y = teachers.get("oscillator", seed=0).dataset(n_trials=100, n_steps=75, seed=0).y
    kw = dict(seeds=args.fits, **FIT)
    lowrank.fit_many(SPEC, y, n_jobs=1, **{**kw, "seeds": 1, "n_iter": 2})     # compile / load the cache here
    print(f"lowrank {lowrank.__version__}, numba {numba.__version__}, dask {dask.__version__}, "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; {args.fits} fits of "
          f"{FIT['n_iter']} updates (N={SPEC['n_units']}, R={SPEC['rank']}, K={FIT['n_particles']}, "
          f"batch {FIT['batch_size']} x {y.shape[1]} steps), 2 workers x 1 thread, {args.reps} timed calls")
    records = {}
    loky_first, loky = timed(lambda: lowrank.fit_many(SPEC, y, n_jobs=2, threads_per_job=1, **kw), args.reps)
    records["loky"] = dict(first_s=loky_first, median_s=float(np.median(loky)), min_s=float(loky.min()),
                           max_s=float(loky.max()))
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                  silence_logs=40) as cl, distributed.Client(cl) as client:
        dask_first, on_dask = timed(lambda: lowrank.fit_many(SPEC, y, backend="dask", client=client, **kw),
                                    args.reps)
    records["dask"] = dict(first_s=dask_first, median_s=float(np.median(on_dask)), min_s=float(on_dask.min()),
                           max_s=float(on_dask.max()))
    overhead = records["dask"]["median_s"] / records["loky"]["median_s"] - 1
    print(f"{'backend':<8} {'median s':>9} {'min':>7} {'max':>7} {'first s':>8}")
    for name, r in records.items():
        print(f"{name:<8} {r['median_s']:9.3f} {r['min_s']:7.3f} {r['max_s']:7.3f} {r['first_s']:8.2f}")
    print(f"Dask overhead against loky (medians): {100 * overhead:+.1f} %")
    result = dict(fits=args.fits, reps=args.reps, spec=SPEC, fit=FIT, data_shape=list(y.shape), workers=2,
                  threads_per_worker=1, cpus=os.cpu_count(), numba=numba.__version__, dask=dask.__version__,
                  backends=records, overhead=overhead)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    atomic_write(args.out, lambda fh: fh.write(json.dumps(result, indent=2).encode()))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
