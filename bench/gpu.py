"""Benchmark: the CUDA backend (ELBO + gradient on the GPU), one model and populations in lockstep.

Run from the repository root, on a machine with an NVIDIA GPU and ``pip install ".[cuda]"``::

    python bench/gpu.py                 # every config, 30 timed calls each
    python bench/gpu.py --config eeg_pop20 --calls 100
    python bench/gpu.py --dry-run       # tiny sizes in numba's CUDA simulator: no GPU needed (CI runs it)

For each configuration and a population of ``M`` models (seeds) in one launch:

- ``kernel_ms``: the forward and backward launches alone, with the data, the
  draws, the stacked parameters and the records already on the device (host
  to device transfers excluded);
- ``step_ms``: one lockstep step as ``fit_many(device="cuda")`` takes it
  (:func:`lowrank.inference.population.elbo_many`): host draws and packing,
  transfers both ways, both launches, the gradients assembled per model;
- ``cpu_ms``: the same M calls one after the other on the CPU kernels;
- ``compile_s``: the first call minus the steady state (the CUDA kernels are
  compiled once per process).

Medians over ``--calls``. ``study_minutes`` is what ``step_ms`` implies for
40,000 lockstep updates (the paper's Table 1 protocol, 20 seeds), training
only. Writes ``bench/results/gpu.json`` (``--dry-run``: ``gpu_dry_run.json``,
whose figures mean nothing: the simulator runs every CUDA thread in Python).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

if "--dry-run" in sys.argv:
    os.environ["NUMBA_ENABLE_CUDASIM"] = "1"      # must precede the first import of numba

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

from lowrank import smc  # noqa: E402
from lowrank._files import atomic_write  # noqa: E402
from lowrank.inference.device import cuda_launch  # noqa: E402
from lowrank.inference.elbo import backward_buffers, prepare_call  # noqa: E402
from lowrank.inference.population import elbo_many, stack_calls  # noqa: E402
from lowrank.model import ModelOptions, init_params  # noqa: E402

EEG = dict(N=512, R=3, D=64, K=10, batch=10, T=50, activation="clipped_relu", readout="latent",
           likelihood="gaussian", proposal="optimal")
SPIKES = dict(N=40, R=2, D=40, K=64, batch=10, T=100, activation="relu", readout="units",
              likelihood="poisson", proposal="bootstrap", rate=0.09)
CONFIGS = {
    "eeg": dict(EEG, M=1),
    "eeg_pop20": dict(EEG, M=20),
    "eeg_k64": dict(EEG, K=64, M=1),
    "eeg_k64_pop20": dict(EEG, K=64, M=20),
    "spikes": dict(SPIKES, M=1),
    "spikes_pop20": dict(SPIKES, M=20),
    "spikes_encoder": dict(SPIKES, proposal="encoder", M=1),
}
TINY = dict(N=6, R=2, D=3, K=2, batch=2, T=3)
TARGETS_MS = {"eeg": 1.0, "eeg_pop20": 5.0}     # kernel time per lockstep step, issue 16


def calls_of(c, step):
    """The M ``elbo`` calls of one lockstep step (model m: seed m; draws seeded by step and model)."""
    opts = ModelOptions(n_units=c["N"], rank=c["R"], n_obs=c["D"], activation=c["activation"],
                        readout=c["readout"], likelihood=c["likelihood"],
                        encoder=True if c["proposal"] == "encoder" else None)
    rng = np.random.default_rng(0)
    shape = (c["batch"], c["T"], c["D"])
    y = rng.poisson(c.get("rate", 1.0), shape).astype(float) if c["likelihood"] == "poisson" \
        else rng.standard_normal(shape)
    return [dict(model=init_params(opts, m), options=opts, y=y, n_particles=c["K"], proposal=c["proposal"],
                 seed=1000 * step + m) for m in range(c["M"])]


def _median_ms(fn, calls):
    ts = []
    for i in range(calls):
        t0 = time.perf_counter()
        fn(i)
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts) * 1e3), ts


def kernel_only(gpu, c, calls):
    """Median ms of forward + backward with everything resident on the device."""
    from numba import cuda
    prepared = [prepare_call(**kw) for kw in calls_of(c, 0)]
    (codes, seqs, draws, model, prop), model_of, _ = stack_calls(gpu, prepared)
    seqs, draws, model, prop = gpu.upload(seqs), gpu.upload(draws), gpu.upload(model), gpu.upload(prop)
    model_of = cuda.to_device(model_of)
    S, T, K, R = draws.eps.shape
    rec = gpu.device_records(S, T, K, R)
    lay, gbuf, dsteps = backward_buffers(prepared[0].args, prepared[0].params, prepared[0].opts)
    gbuf, dsteps = cuda.device_array((S, lay.size)), cuda.to_device(np.zeros((S,) + dsteps.shape[1:]))

    def step(_):
        gpu.smc_forward_cuda(codes, seqs, draws, model, prop, rec, model_of=model_of)
        gpu.smc_backward_cuda(codes, seqs, draws, model, prop, rec, lay, gbuf, dsteps, model_of=model_of)
        cuda.synchronize()

    t0 = time.perf_counter()
    step(0)
    first = time.perf_counter() - t0
    med, _ = _median_ms(step, calls)
    return med, first


def run_config(gpu, name, c, calls):
    kernel_ms, first = kernel_only(gpu, c, calls)
    steps = [calls_of(c, i) for i in range(calls)]
    step_ms, _ = _median_ms(lambda i: elbo_many(steps[i], "cuda"), calls)
    cpu_ms, _ = _median_ms(lambda i: [smc.elbo(**kw) for kw in steps[i % calls]], max(3, calls // 5))
    return {"name": name, **{k: c[k] for k in ("N", "R", "D", "K", "batch", "T", "M", "proposal", "likelihood")},
            "kernel_ms": kernel_ms, "step_ms": step_ms, "cpu_ms": cpu_ms, "compile_s": max(first - kernel_ms / 1e3, 0.0),
            "speedup_vs_cpu": cpu_ms / step_ms, "study_minutes": step_ms * 40000 / 60e3, "calls": calls,
            "target_kernel_ms": TARGETS_MS.get(name)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", action="append", choices=sorted(CONFIGS), help="run only these configs")
    ap.add_argument("--calls", type=int, default=30, help="timed calls per config (default 30)")
    ap.add_argument("--dry-run", action="store_true",
                    help="tiny sizes in the CUDA simulator (no GPU needed; the figures mean nothing)")
    args = ap.parse_args(argv)
    gpu = cuda_launch()
    names = args.config or list(CONFIGS)
    if args.dry_run:
        gpu.launch.MIN_THREADS = 1          # the simulator runs a Python thread per CUDA thread
        names, args.calls = args.config or ["eeg", "eeg_pop20", "spikes_encoder"], 1
    records = []
    for name in names:
        c = dict(CONFIGS[name], **(TINY if args.dry_run else {}), M=min(CONFIGS[name]["M"], 2 if args.dry_run else 99))
        r = run_config(gpu, name, c, args.calls)
        records.append(r)
        print(f"{name:16s} M={r['M']:2d} K={r['K']:3d}  kernel {r['kernel_ms']:8.3f} ms  step {r['step_ms']:8.3f} ms  "
              f"cpu {r['cpu_ms']:9.2f} ms  x{r['speedup_vs_cpu']:.1f}  compile {r['compile_s']:.1f} s"
              + (f"  (target {r['target_kernel_ms']} ms)" if r["target_kernel_ms"] else ""), flush=True)
    from numba import cuda
    dev = "simulator" if args.dry_run else cuda.get_current_device().name
    dev = dev.decode() if isinstance(dev, bytes) else str(dev)
    out = {"device": dev, "dry_run": args.dry_run, "python": platform.python_version(),
           "date": time.strftime("%Y-%m-%d %H:%M:%S"), "records": records}
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                        "gpu_dry_run.json" if args.dry_run else "gpu.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    atomic_write(path, lambda fh: fh.write(json.dumps(out, indent=1).encode()))
    print(f"wrote {path} ({dev})")


if __name__ == "__main__":
    main()
