"""Benchmark: lowrank.kernels.vmath (branch-free, vectorised) against scalar libm loops and numpy.

Run from the repository root::

    python bench/vmath.py              # n = 40 and 4096, 201 samples each
    python bench/vmath.py --quick      # ~30 s
    python bench/vmath.py --sizes 40 --samples 501

For each function and array size ``n`` the per-call time is the median over
``--samples`` samples, each the mean of a loop of calls *inside* Numba (so a
call at n = 40 is not dwarfed by Python's ~200 ns dispatch), for

- ``vmath``:  the kernel of :mod:`lowrank.kernels.vmath` (its element-wise forms:
  tests/reference/vmath_arrays.py);
- ``scalar``: the same loop written with ``math.exp``/``math.log``/``math.log1p``
  (libm calls, one element at a time), ``fastmath=FASTMATH`` like the
  library's kernels; for the Poisson likelihoods the libm code the SMC
  kernels ran before vmath (kept in this script as the yardstick);
- ``numpy``:  the numpy / scipy.special expression, called from Python.

Compile time is reported separately (first call of each kernel, with Numba's
on-disk cache off: this script sets ``LOWRANK_NUMBA_CACHE=0`` unless it is set,
since Numba cannot show the machine code of cached kernels). The vectorisation
check reads each kernel's assembly (``inspect_asm``): packed double
instructions (``v...pd`` on ``xmm``/``ymm``/``zmm``), FMA among them, and calls.
Writes ``bench/results/vmath.json``.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import sys
import time

os.environ.setdefault("LOWRANK_NUMBA_CACHE", "0")
sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))
sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "tests")))

import llvmlite  # noqa: E402
import llvmlite.binding as llvm  # noqa: E402
import numba  # noqa: E402
import numpy as np  # noqa: E402
import scipy.special  # noqa: E402

from lowrank.config import CACHE, FASTMATH  # noqa: E402
from lowrank.kernels import vmath  # noqa: E402
from reference import vmath_arrays  # noqa: E402  (the element-wise kernels, tests/reference)

# ---------------------------------------------------------------- scalar libm baselines


# ---------------------------------------------------------------- the scalar yardstick
# The Poisson likelihood as the SMC kernels computed it before vmath (libm exp/log, one
# channel at a time), kept here so the speed-up stays measurable.


@numba.njit(fastmath=False)
def log1p_unit(q):
    """``log(1 + q)`` for ``q`` in [0, 1] (Goldberg's trick, one ``log``)."""
    u = 1.0 + q
    if u == 1.0:
        return q
    return math.log(u) * (q / (u - 1.0))


@numba.njit(fastmath=FASTMATH)
def softplus_libm(x):
    return max(x, 0.0) + log1p_unit(math.exp(-abs(x)))


@numba.njit(fastmath=FASTMATH)
def poisson_loglik_libm(link, y, eta, bin_width, lgy):
    s = 0.0
    log_bw = math.log(bin_width)
    for d in range(y.shape[0]):
        e = eta[d]
        if link == 0:
            sp = softplus_libm(e)
            s -= sp * bin_width
            if y[d] != 0.0:
                s += y[d] * ((e if e < -30.0 else math.log(sp)) + log_bw)
        else:
            s -= math.exp(e) * bin_width
            if y[d] != 0.0:
                s += y[d] * (e + log_bw)
    return s - lgy


@numba.njit(fastmath=FASTMATH)
def poisson_adjoint_libm(link, y, eta, bin_width, w, deta):
    for d in range(y.shape[0]):
        e = eta[d]
        if link == 0:
            q = math.exp(-abs(e))
            sg = 1.0 / (1.0 + q) if e >= 0.0 else q / (1.0 + q)
            g = -bin_width * sg
            if y[d] != 0.0:
                g += y[d] * (1.0 if e < -30.0 else sg / (max(e, 0.0) + log1p_unit(q)))
        else:
            g = y[d] - bin_width * math.exp(e)
        deta[d] = w * g


@numba.njit(fastmath=FASTMATH)
def exp_scalar(x, out):
    for i in range(x.shape[0]):
        out[i] = math.exp(x[i])


@numba.njit(fastmath=FASTMATH)
def log_scalar(x, out):
    for i in range(x.shape[0]):
        out[i] = math.log(x[i])


@numba.njit(fastmath=FASTMATH)
def log1p_scalar(x, out):
    for i in range(x.shape[0]):
        out[i] = math.log1p(x[i])


@numba.njit(fastmath=FASTMATH)
def softplus_scalar(x, out):
    for i in range(x.shape[0]):
        out[i] = softplus_libm(x[i])


@numba.njit(fastmath=FASTMATH)
def log_softplus_scalar(x, out):
    for i in range(x.shape[0]):
        e = x[i]
        out[i] = e if e < -30.0 else math.log(softplus_libm(e))


@numba.njit(fastmath=FASTMATH)
def sigmoid_scalar(x, out):
    for i in range(x.shape[0]):
        e = x[i]
        q = math.exp(-abs(e))
        out[i] = 1.0 / (1.0 + q) if e >= 0.0 else q / (1.0 + q)


@numba.njit(fastmath=FASTMATH)
def dlog_softplus_scalar(x, out):
    for i in range(x.shape[0]):
        e = x[i]
        q = math.exp(-abs(e))
        sg = 1.0 / (1.0 + q) if e >= 0.0 else q / (1.0 + q)
        out[i] = 1.0 if e < -30.0 else sg / (max(e, 0.0) + log1p_unit(q))


def _softplus_np(x):
    return np.logaddexp(0.0, x)


ELEMENTWISE = {
    # name: (vmath kernel, scalar kernel, numpy, input range)
    "exp": (vmath_arrays.exp_v, exp_scalar, np.exp, (-20.0, 20.0)),
    "log": (vmath_arrays.log_v, log_scalar, np.log, (1e-3, 1e3)),
    "log1p": (vmath_arrays.log1p_v, log1p_scalar, np.log1p, (0.0, 1.0)),
    "softplus": (vmath_arrays.softplus_v, softplus_scalar, _softplus_np, (-20.0, 20.0)),
    "log_softplus": (vmath_arrays.log_softplus_v, log_softplus_scalar, lambda x: np.log(_softplus_np(x)),
                     (-20.0, 20.0)),
    "sigmoid": (vmath_arrays.sigmoid_v, sigmoid_scalar, scipy.special.expit, (-20.0, 20.0)),
    "dlog_softplus": (vmath_arrays.dlog_softplus_v, dlog_softplus_scalar,
                      lambda x: scipy.special.expit(x) / _softplus_np(x), (-20.0, 20.0)),
}

# ---------------------------------------------------------------- timing loops inside Numba


def elementwise_driver(kernel):
    @numba.njit(fastmath=FASTMATH)
    def drive(x, out, calls):
        acc = 0.0
        for c in range(calls):
            kernel(x, out)
            acc += out[c % out.shape[0]]
        return acc
    return drive


@numba.njit(fastmath=FASTMATH)
def drive_loglik_vmath(link, y, eta, bw, lgy, calls):
    acc = 0.0
    work = np.empty(y.shape[0])
    for c in range(calls):
        acc += vmath.poisson_loglik(link, y, eta, bw, lgy, work)
    return acc


@numba.njit(fastmath=FASTMATH)
def drive_loglik_scalar(link, y, eta, bw, lgy, calls):
    acc = 0.0
    for c in range(calls):
        acc += poisson_loglik_libm(link, y, eta, bw, lgy)
    return acc


@numba.njit(fastmath=FASTMATH)
def drive_adjoint_vmath(link, y, eta, bw, deta, calls):
    acc = 0.0
    for c in range(calls):
        vmath.poisson_loglik_adjoint(link, y, eta, bw, 1.0, deta)
        acc += deta[c % deta.shape[0]]
    return acc


@numba.njit(fastmath=FASTMATH)
def drive_adjoint_scalar(link, y, eta, bw, deta, calls):
    acc = 0.0
    for c in range(calls):
        poisson_adjoint_libm(link, y, eta, bw, 1.0, deta)
        acc += deta[c % deta.shape[0]]
    return acc


@numba.njit(fastmath=FASTMATH)
def drive_both_vmath(link, y, eta, bw, lgy, deta, calls):
    acc = 0.0
    work = np.empty(y.shape[0])
    for c in range(calls):
        acc += vmath.poisson_loglik_and_adjoint(link, y, eta, bw, lgy, 1.0, deta, work)
    return acc


@numba.njit(fastmath=FASTMATH)
def drive_both_scalar(link, y, eta, bw, lgy, deta, calls):
    acc = 0.0
    for c in range(calls):
        acc += poisson_loglik_libm(link, y, eta, bw, lgy)
        poisson_adjoint_libm(link, y, eta, bw, 1.0, deta)
    return acc


def per_call_ns(run, n, samples, budget_ns=200_000):
    """Median over ``samples`` of the mean time of one call; ``run(calls)`` loops inside Numba."""
    calls = max(1, int(budget_ns // max(5.0 * n, 50.0)))
    run(calls)
    ts = np.empty(samples)
    for s in range(samples):
        t0 = time.perf_counter_ns()
        run(calls)
        ts[s] = (time.perf_counter_ns() - t0) / calls
    return float(np.median(ts))


def per_call_ns_python(f, samples, calls=50):
    f()
    ts = np.empty(samples)
    for s in range(samples):
        t0 = time.perf_counter_ns()
        for _ in range(calls):
            f()
        ts[s] = (time.perf_counter_ns() - t0) / calls
    return float(np.median(ts))


def first_call_s(f, *args):
    t0 = time.perf_counter()
    f(*args)
    return time.perf_counter() - t0

# ---------------------------------------------------------------- machine code


PACKED = re.compile(r"^\s*(v[a-z0-9]+pd)\s+.*%([xyz]mm)\d+", re.M)
LIBM = re.compile(r"call [^\n]*@(?:llvm\.)?(?:exp|log|log1p)(?:\.f64)?\(")


def asm_summary(kernel):
    """Evidence of vectorisation from the kernel's machine code and LLVM IR.

    Assembly: packed-double instructions (``v...pd``) by register width, FMA
    among them. IR: vector types ``<N x double>`` and calls to exp/log/log1p.
    """
    if CACHE:
        return {"checked": False, "why": "cached kernels cannot be inspected: set LOWRANK_NUMBA_CACHE=0"}
    sig = kernel.signatures[0]
    asm, ir = kernel.inspect_asm(sig), kernel.inspect_llvm(sig)
    packed = PACKED.findall(asm)
    widths = {w: sum(1 for _, r in packed if r == w) for w in ("xmm", "ymm", "zmm")}
    fma = sum(1 for op, _ in packed if op.startswith(("vfma", "vfnma", "vfms", "vfnms")))
    lanes = sorted({int(n) for n in re.findall(r"<(\d+) x double>", ir)})
    return {"checked": True, "packed_double_instructions": len(packed), "by_register": widths,
            "packed_fma": fma, "packed_vmulpd": sum(1 for op, _ in packed if op == "vmulpd"),
            "ir_vector_lanes": lanes, "ir_libm_calls": len(LIBM.findall(ir)),
            "vectorised": bool(lanes) and (widths["ymm"] + widths["zmm"] > 10 or fma > 10)}


def widest(summary):
    w = [k for k in ("zmm", "ymm", "xmm") if summary["by_register"][k]]
    return (f"widest {w[0] if w else '-'}, {summary['packed_double_instructions']} packed (FMA "
            f"{summary['packed_fma']}, vmulpd {summary['packed_vmulpd']}), IR vectors "
            f"{'/'.join(map(str, summary['ir_vector_lanes'])) or '-'} x double, exp/log calls in IR "
            f"{summary['ir_libm_calls']}")

# ---------------------------------------------------------------- main


def config():
    try:
        layer = numba.threading_layer()
    except ValueError:
        layer = "not started (no parallel kernel runs here)"
    features = llvm.get_host_cpu_features()
    return {
        "python": platform.python_version(), "numba": numba.__version__, "llvmlite": llvmlite.__version__,
        "numpy": np.__version__, "scipy": scipy.__version__, "machine": platform.machine(),
        "cpu": llvm.get_host_cpu_name(),
        "cpu_features": sorted(f for f in ("avx", "avx2", "fma", "avx512f", "avx512dq", "neon")
                               if features.get(f, False)),
        "cpus": os.cpu_count(), "threading_layer": layer, "FASTMATH": sorted(FASTMATH),
        "numba_cache": CACHE, "svml": bool(getattr(numba.config, "USING_SVML", False)),
    }


def bench_elementwise(sizes, samples, rng):
    rows, compile_s = [], {}
    for name, (kv, ks, knp, (lo, hi)) in ELEMENTWISE.items():
        x0 = rng.uniform(lo, hi, 8)
        compile_s[name] = {"vmath": first_call_s(kv, x0, np.empty(8)), "scalar": first_call_s(ks, x0, np.empty(8))}
        dv, ds = elementwise_driver(kv), elementwise_driver(ks)
        for n in sizes:
            x = rng.uniform(lo, hi, n)
            out = np.empty(n)
            t = {"vmath": per_call_ns(lambda c: dv(x, out, c), n, samples),
                 "scalar": per_call_ns(lambda c: ds(x, out, c), n, samples),
                 "numpy": per_call_ns_python(lambda: knp(x), samples)}
            rows.append(dict(function=name, n=n, **{f"{k}_ns": v for k, v in t.items()}))
    return rows, compile_s


def bench_poisson(sizes, samples, rng):
    rows, compile_s = [], {}
    d8 = (np.ones(8), np.zeros(8), 0.1)
    compile_s["poisson_loglik"] = first_call_s(vmath.poisson_loglik, 0, *d8, 0.0, np.empty(8))
    compile_s["poisson_loglik_adjoint"] = first_call_s(vmath.poisson_loglik_adjoint, 0, *d8, 1.0, np.empty(8))
    compile_s["poisson_loglik_and_adjoint"] = first_call_s(vmath.poisson_loglik_and_adjoint, 0, *d8, 0.0, 1.0,
                                                           np.empty(8), np.empty(8))
    for link, lname in ((0, "softplus"), (1, "exp")):
        for n in sizes:
            y = rng.poisson(1.0, n).astype(float)
            eta = rng.uniform(-3.0, 3.0, n)
            bw = 0.1
            lgy = float(scipy.special.gammaln(y + 1.0).sum())
            deta = np.empty(n)
            lam = (_softplus_np(eta) if link == 0 else np.exp(eta)) * bw
            cases = {
                "loglik": (lambda c: drive_loglik_vmath(link, y, eta, bw, lgy, c),
                           lambda c: drive_loglik_scalar(link, y, eta, bw, lgy, c),
                           lambda: (scipy.special.xlogy(y, (_softplus_np(eta) if link == 0 else np.exp(eta)) * bw)
                                    - lam).sum() - lgy),
                "adjoint": (lambda c: drive_adjoint_vmath(link, y, eta, bw, deta, c),
                            lambda c: drive_adjoint_scalar(link, y, eta, bw, deta, c),
                            lambda: (y / lam - 1.0) * bw * (scipy.special.expit(eta) if link == 0 else np.exp(eta))),
                "loglik_and_adjoint": (lambda c: drive_both_vmath(link, y, eta, bw, lgy, deta, c),
                                       lambda c: drive_both_scalar(link, y, eta, bw, lgy, deta, c), None),
            }
            for what, (fv, fs, fnp) in cases.items():
                t = {"vmath": per_call_ns(fv, n, samples), "scalar": per_call_ns(fs, n, samples),
                     "numpy": per_call_ns_python(fnp, samples) if fnp else None}
                rows.append(dict(function=f"poisson_{what}[{lname}]", n=n, **{f"{k}_ns": v for k, v in t.items()}))
    return rows, compile_s


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[40, 4096])
    ap.add_argument("--samples", type=int, default=201)
    ap.add_argument("--quick", action="store_true", help="41 samples")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "vmath.json"))
    args = ap.parse_args(argv)
    samples = 41 if args.quick else args.samples
    rng = np.random.default_rng(0)
    cfg = config()
    print("configuration:", json.dumps(cfg))
    print(f"per-call time, median of {samples} samples; vmath and scalar timed inside Numba, numpy from Python")

    rows, compile_e = bench_elementwise(args.sizes, samples, rng)
    prow, compile_p = bench_poisson(args.sizes, samples, rng)
    rows += prow
    kernels = {name: v[0] for name, v in ELEMENTWISE.items()}
    kernels.update(poisson_loglik=vmath.poisson_loglik, poisson_loglik_adjoint=vmath.poisson_loglik_adjoint,
                   poisson_loglik_and_adjoint=vmath.poisson_loglik_and_adjoint)
    asm = {name: asm_summary(k) for name, k in kernels.items()}
    asm["exp[scalar math.exp loop]"] = asm_summary(exp_scalar)

    print(f"\n{'function':34s} {'n':>5s} {'vmath ns':>10s} {'scalar ns':>10s} {'numpy ns':>10s} "
          f"{'x scalar':>9s} {'x numpy':>8s}  ns/element (vmath)")
    for r in rows:
        r["speedup_vs_scalar"] = r["scalar_ns"] / r["vmath_ns"]
        r["speedup_vs_numpy"] = r["numpy_ns"] / r["vmath_ns"] if r["numpy_ns"] else None
        npy = f"{r['numpy_ns']:10.0f}" if r["numpy_ns"] else f"{'-':>10s}"
        sp = f"{r['speedup_vs_numpy']:8.1f}" if r["speedup_vs_numpy"] else f"{'-':>8s}"
        print(f"{r['function']:34s} {r['n']:5d} {r['vmath_ns']:10.0f} {r['scalar_ns']:10.0f} {npy} "
              f"{r['speedup_vs_scalar']:9.1f} {sp}  {r['vmath_ns'] / r['n']:.2f}")

    print("\nfirst call (compile, cache off) in s:")
    for name, c in compile_e.items():
        print(f"  {name:16s} vmath {c['vmath']:.2f}  scalar {c['scalar']:.2f}")
    for name, c in compile_p.items():
        print(f"  {name:28s} {c:.2f}")
    print("\nvectorisation (inspect_asm / inspect_llvm):")
    for name, s in asm.items():
        if s["checked"]:
            print(f"  {name:27s} vectorised: {'yes' if s['vectorised'] else 'NO '}  {widest(s)}")
        else:
            print(f"  {name:28s} {s['why']}")
    result = {"config": cfg, "samples": samples, "results": rows,
              "compile_s": {"elementwise": compile_e, "poisson": compile_p}, "asm": asm}
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump(result, fh, indent=1)
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
