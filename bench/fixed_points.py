"""Benchmark: all fixed points of random low-rank RNNs by region enumeration.

    python bench/fixed_points.py            # full series, writes bench/results/fixed_points.json
    python bench/fixed_points.py --quick    # under a minute, writes bench/results/fixed_points_quick.json

Compile time is measured separately by a warm-up call on a tiny model
first (with the on-disk cache warm it is the cache load time).  Each series
stops after the first case that takes longer than ``--max-seconds``.
Random models: M ~ N(0, 1), N ~ N(0, 1)·g/n, leak a = 0.9, h ~ N(0, 0.5²);
g = 3 gives a handful of fixed points.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numba  # noqa: E402

from lowrank.fixed_points import brute_force_fixed_points, find_fixed_points, zaslavsky_bound  # noqa: E402

LEAK = 0.9
GAIN = 3.0


def random_model(n, R, activation, seed=0):
    rng = np.random.default_rng(seed)
    M = rng.standard_normal((n, R))
    N = rng.standard_normal((n, R)) * GAIN / n
    h = rng.standard_normal(n) * 0.5
    if activation == "clipped_relu":
        h = np.abs(h) + 0.25
    return M, N, h


def run_case(n, R, activation, method):
    M, N, h = random_model(n, R, activation)
    fn = brute_force_fixed_points if method == "brute" else find_fixed_points
    t0 = time.perf_counter()
    res = fn(M, N, h, LEAK, activation)
    dt = time.perf_counter() - t0
    H = n if activation == "relu" else 2 * n
    return {
        "N": n, "R": R, "activation": activation, "method": method, "n_hyperplanes": H,
        "n_regions_checked": int(res.n_regions_checked),
        "zaslavsky_bound": zaslavsky_bound(H, R),
        "n_fixed_points": len(res), "n_stable": res.stability.count("stable"),
        "seconds": round(dt, 4), "threads": numba.get_num_threads(),
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small cases only (under a minute)")
    ap.add_argument("--max-seconds", type=float, default=120.0, help="stop a series after a case this slow")
    ap.add_argument("--out", default=None, help="JSON output path")
    args = ap.parse_args(argv)
    here = os.path.dirname(os.path.abspath(__file__))
    out = args.out or os.path.join(here, "results", "fixed_points_quick.json" if args.quick else "fixed_points.json")

    t0 = time.perf_counter()
    for act in ("relu", "clipped_relu"):
        for R in (1, 2, 3):
            M, N, h = random_model(6, R, act)
            find_fixed_points(M, N, h, LEAK, act)
    compile_s = time.perf_counter() - t0
    layer = numba.threading_layer()
    threads = numba.get_num_threads()
    print(f"numba {numba.__version__}, threads={threads}, threading layer={layer}, "
          f"compile/cache-load (warm-up) {compile_s:.2f} s")

    if args.quick:
        series = [
            ("relu", 2, "enumerate", [50, 100, 200, 1000]),
            ("relu", 3, "enumerate", [50, 100, 200]),
            ("clipped_relu", 2, "enumerate", [50, 100, 200]),
            ("clipped_relu", 3, "enumerate", [50]),
            ("relu", 2, "brute", [8, 12]),
            ("clipped_relu", 2, "brute", [6, 8]),
        ]
    else:
        series = [
            ("relu", 2, "enumerate", [50, 100, 200, 512, 1000]),
            ("relu", 3, "enumerate", [50, 100, 200, 512, 1000]),
            ("clipped_relu", 2, "enumerate", [50, 100, 200, 512]),
            ("clipped_relu", 3, "enumerate", [50, 100, 200, 512]),
            ("relu", 2, "brute", [10, 16, 20]),
            ("relu", 3, "brute", [10, 16, 20]),
            ("clipped_relu", 2, "brute", [8, 10, 12]),
        ]
    header = f"{'activation':13s} {'method':9s} {'R':>2s} {'N':>5s} {'H':>5s} {'regions':>12s} {'Zaslavsky':>12s} " \
             f"{'fps':>4s} {'seconds':>9s}"
    print(header)
    records = []
    for act, R, method, sizes in series:
        for n in sizes:
            rec = run_case(n, R, act, method)
            rec["compile_s"] = round(compile_s, 3)
            rec["threading_layer"] = layer
            records.append(rec)
            print(f"{act:13s} {method:9s} {R:2d} {n:5d} {rec['n_hyperplanes']:5d} {rec['n_regions_checked']:12d} "
                  f"{rec['zaslavsky_bound']:12d} {rec['n_fixed_points']:4d} {rec['seconds']:9.3f}", flush=True)
            if rec["seconds"] > args.max_seconds:
                print(f"  (series stopped: {rec['seconds']:.0f} s > {args.max_seconds:.0f} s)")
                break
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump(records, f, indent=1)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
