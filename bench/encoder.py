"""Benchmark: the encoder proposal's network, forward and forward + backward (lowrank.inference.encoder).

Run from the repository root::

    python bench/encoder.py            # 50 timed calls per configuration
    python bench/encoder.py --quick    # 20

The reference spiking set-up: S=10 sequences, D=40, R=2, kernels [21, 11, 1]
and channels [64, 64], GELU, causal zero padding, at T=100 and T=200; inputs
are Poisson(0.09) counts (the first layer skips their zeros) or Gaussian
(dense: the first layer runs blocked). ``compile_s`` is the first call minus
the steady-state median (only the cache load when the on-disk cache is warm).
Times are medians of the timed calls, in ms; ``gflops`` counts the dense
multiply-adds (2 flops each) of the convolutions, so on spikes it overstates
the work actually done. Writes ``bench/results/encoder.json`` atomically.
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

from lowrank._files import atomic_write  # noqa: E402
from lowrank.inference.encoder import encode, encode_adjoint  # noqa: E402
from lowrank.model.encoder import EncoderOptions, init_encoder  # noqa: E402

S, D, R = 10, 40, 2
ENC = EncoderOptions(kernel_sizes=(21, 11, 1), channels=(64, 64))
CONFIGS = [("spikes_t100", "spikes", 100), ("spikes_t200", "spikes", 200),
           ("dense_t100", "dense", 100), ("dense_t200", "dense", 200)]


def dense_flops(T):
    """Flops of the forward convolutions if every input were non-zero."""
    cin, cout = [D] + list(ENC.channels), list(ENC.channels) + [2 * R]
    return 2 * S * T * sum(k * ci * co for k, ci, co in zip(ENC.kernel_sizes, cin, cout))


def median_ms(fn, calls):
    ts = []
    for _ in range(calls):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts) * 1e3)


def run_config(name, data, T, calls, seed=0):
    rng = np.random.default_rng(seed)
    theta = init_encoder(ENC, D, R, rng)
    y = rng.poisson(0.09, (S, T, D)).astype(float) if data == "spikes" else rng.normal(size=(S, T, D))
    lengths = np.full(S, T)
    dmu, dprec = rng.normal(size=(S, T, R)), rng.normal(size=(S, T, R))

    def both():
        e = encode(theta, ENC, y, lengths, R)
        encode_adjoint(theta, ENC, y, lengths, e, dmu, dprec)

    t0 = time.perf_counter()
    both()
    first = time.perf_counter() - t0
    for _ in range(3):
        both()
    fwd = median_ms(lambda: encode(theta, ENC, y, lengths, R), calls)
    total = median_ms(both, calls)
    fl = dense_flops(T)
    return {"name": name, "data": data, "S": S, "T": T, "D": D, "R": R, "kernel_sizes": list(ENC.kernel_sizes),
            "channels": list(ENC.channels), "input_density": float(np.mean(y != 0)),
            "forward_ms": fwd, "forward_backward_ms": total, "compile_s": max(first - total / 1e3, 0.0),
            "dense_forward_gflop": fl / 1e9, "forward_dense_gflops": fl / (fwd / 1e3) / 1e9,
            "threads": numba.get_num_threads(), "threading_layer": numba.threading_layer(), "calls": calls}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="20 timed calls per configuration")
    ap.add_argument("--calls", type=int, default=None, help="timed calls per configuration (>= 10)")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                                                  "encoder.json"))
    args = ap.parse_args(argv)
    calls = max(args.calls or (20 if args.quick else 50), 10)
    t0 = time.perf_counter()
    records = [run_config(name, data, T, calls) for name, data, T in CONFIGS]
    print(f"numba {numba.__version__}, threads {numba.get_num_threads()}, threading layer "
          f"{numba.threading_layer()}, {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs")
    print(f"encoder {list(ENC.kernel_sizes)} x {list(ENC.channels)}, {ENC.activation}, {ENC.padding} "
          f"{ENC.padding_mode}; S={S}, D={D}, R={R}")
    print(f"{'config':<13} {'density':>7} {'fwd ms':>8} {'fwd+bwd ms':>10} {'compile s':>9} {'dense GFLOP/s':>13}")
    for r in records:
        print(f"{r['name']:<13} {r['input_density']:7.3f} {r['forward_ms']:8.2f} {r['forward_backward_ms']:10.2f} "
              f"{r['compile_s']:9.2f} {r['forward_dense_gflops']:13.1f}")
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    atomic_write(args.out, lambda fh: fh.write(json.dumps(records, indent=2).encode()))
    print(f"wrote {args.out} ({time.perf_counter() - t0:.1f} s)")


if __name__ == "__main__":
    main()
