"""Benchmark: exact k-cycles (lowrank.dynamics.find_cycles) of random relu networks.

    python bench/dynamics.py                  # R = 2: k = 2, 3, 4 at N = 100 and 512; R = 3: k = 2 at N = 20, 50
    python bench/dynamics.py --quick          # R = 2 at N = 100, R = 3 at N = 20 only

Results go to bench/results/dynamics.json (dynamics_quick.json with --quick).

Random models as in bench/fixed_points.py (M ~ N(0, 1), N ~ N(0, 1)·g/n, h ~
N(0, 0.5²), leak 0.9, g = 3).  Reported per case: seconds, regions of the
arrangement, cells examined at each depth (sequences of length 1..k whose
cell is not empty), sequences solved (closed), against all n_regions^k
sequences, and the cycles found.  At R = 3 every sequence whose first region
is its smallest is solved (no pruning), so cells and solved count those.  A warm-up call on a tiny model compiles
first.  Each series stops after a case slower than ``--max-seconds``.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numba  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixed_points import LEAK, random_model  # noqa: E402  (bench/fixed_points.py: the same random models)

from lowrank._files import atomic_write  # noqa: E402
from lowrank.dynamics import find_cycles  # noqa: E402


def run_case(n, k, R=2):
    M, N, h = random_model(n, R, "relu")
    t0 = time.perf_counter()
    res = find_cycles((M, N, h, LEAK), period=k)
    dt = time.perf_counter() - t0
    return {"N": n, "R": R, "k": k, "activation": "relu", "seconds": round(dt, 3), "n_regions": res.n_regions,
            "cells_examined": [int(v) for v in res.n_cells], "sequences_solved": res.n_closed,
            "all_sequences": res.n_sequences, "n_cycles": len(res), "n_continua": len(res.continuum),
            "threads": numba.get_num_threads()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="N = 100 only")
    ap.add_argument("--max-seconds", type=float, default=300.0, help="stop a series after a case this slow")
    ap.add_argument("--out", default=None, help="JSON output path")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    find_cycles((np.eye(2), np.eye(2), np.zeros(2), 0.5), period=2)
    find_cycles((np.eye(3), np.eye(3), np.zeros(3), 0.5), period=2)
    compile_s = time.perf_counter() - t0
    print(f"compile/cache load {compile_s:.1f} s, {numba.get_num_threads()} threads")
    rows = []
    for n in ((100,) if args.quick else (100, 512)):
        for k in (2, 3, 4):
            row = run_case(n, k)
            rows.append(row)
            print(f"N={n:4d} k={k}  {row['seconds']:8.2f} s  regions {row['n_regions']:7d}  cells "
                  f"{row['cells_examined']}  solved {row['sequences_solved']:9d} of {row['all_sequences']:.3g}  "
                  f"cycles {row['n_cycles']}", flush=True)
            if row["seconds"] > args.max_seconds:
                break
    for n in ((20,) if args.quick else (20, 50)):
        row = run_case(n, 2, R=3)
        rows.append(row)
        print(f"R=3 N={n:4d} k=2  {row['seconds']:8.2f} s  regions {row['n_regions']:7d}  "
              f"solved {row['sequences_solved']:9d} of {row['all_sequences']:.3g}  cycles {row['n_cycles']}", flush=True)
        if row["seconds"] > args.max_seconds:
            break
    out = args.out or os.path.join(os.path.dirname(__file__), "results",
                                   "dynamics_quick.json" if args.quick else "dynamics.json")
    text = json.dumps({"compile_seconds": round(compile_s, 2), "cases": rows}, indent=2) + "\n"
    atomic_write(out, lambda fh: fh.write(text.encode()))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
