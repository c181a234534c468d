"""Cold start: what a new user waits for, from an empty kernel cache, command by command.

Each command runs in a subprocess (``python -m lowrank ...``) with its own
empty ``NUMBA_CACHE_DIR`` shared by the steps of one sequence, as a fresh
install would have it:

1. ``demo``            ``lowrank fit --out demo.npz``: the Gaussian demo with its own
                       settings (``--demo-iter N`` shortens it), cold, up to its recovery summary
2. ``demo (warm)``     the same again: the difference is the one-time compile
3. ``spike fit``       ``lowrank fit --teacher oscillator_poisson --n-iter M``: the first
                       spike fit (the defaults: bootstrap proposal), after the demo
4. ``spike fit (warm)``
4b. ``encoder fit``    the same with ``--proposal encoder``: the encoder's extra compile
5. ``simulate``        ``lowrank simulate --teacher oscillator_poisson``: data for the next step
6. ``posterior``       ``lowrank posterior spike.npz data.npz``, first call
7. ``posterior (warm)``

8. ``demo (reinstalled)`` the package copied again (same sources, new files), then the demo:
                       what ``pip install --upgrade`` of unchanged kernels costs

The package is copied from the checkout into a temporary folder first, as an
install would place it. Then, in a second empty cache, ``lowrank compile`` (the whole kernel set,
when the code has that command). Reported per step: wall seconds, CPU
seconds of the process and its children (``resource.getrusage(RUSAGE_CHILDREN)``:
the compile runs in child processes), the first iteration's seconds of a fit
(its progress line), and the 1-minute load average before and after: on a
shared machine other processes slow the wall times, so read them with it.

Usage::

    python bench/cold_start.py                     # this checkout
    python bench/cold_start.py --repo /path/to/other/checkout --tag main
    python bench/cold_start.py --demo-iter 100     # a shorter demo

Writes ``bench/results/cold_start.json`` (``--tag`` names the entry; entries
of other tags are kept).
"""
import argparse
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results", "cold_start.json")


def _cpu_children():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_step(name, args, env, cwd):
    """Run ``python -m lowrank *args``; wall and CPU seconds, load averages, first iteration."""
    load0 = os.getloadavg()[0]
    c0, t0 = _cpu_children(), time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "lowrank", *args], env=env, cwd=cwd, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - t0, _cpu_children() - c0
    first = re.search(r"first iteration ([0-9.]+) s", p.stderr)
    row = {"step": name, "command": "lowrank " + " ".join(args), "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
           "first_iteration_s": float(first.group(1)) if first else None, "load1_before": round(load0, 2),
           "load1_after": round(os.getloadavg()[0], 2), "exit": p.returncode}
    if p.returncode != 0:
        row["stderr_tail"] = p.stderr[-2000:]
    print(f"  {name:18s} wall {wall:7.1f} s  cpu {cpu:7.1f} s  first iteration "
          f"{row['first_iteration_s'] if first else '-':>6} s  load {load0:.1f} -> {row['load1_after']:.1f}"
          + ("" if p.returncode == 0 else f"  EXIT {p.returncode}: {p.stderr.strip().splitlines()[-1:]}"), flush=True)
    return row


def _env(repo, cache):
    env = dict(os.environ, NUMBA_CACHE_DIR=cache, PYTHONPATH=repo, LOWRANK_NUMBA_CACHE="1")
    env.pop("NUMBA_NUM_THREADS", None)
    return env


def install(repo, site):
    """Copy the checkout's package to ``site`` (as an install would: new files, new times, no cache)."""
    target = os.path.join(site, "lowrank")
    shutil.copytree(os.path.join(repo, "lowrank"), target, dirs_exist_ok=True, copy_function=shutil.copyfile,
                    ignore=shutil.ignore_patterns("__pycache__"))
    return site


def sequence(repo, work, demo_iter, spike_iter):
    """The user's first session (steps 1-7) in one empty cache, then the demo after a reinstall
    of the same sources (``pip install --upgrade`` of unchanged kernels: new files, same contents)."""
    site = install(repo, os.path.join(work, "site"))
    cache = os.path.join(work, "cache_session")
    env = _env(site, cache)
    demo = ["fit", "--out", "demo.npz", "--force"] + (["--n-iter", str(demo_iter)] if demo_iter else [])
    spike = ["fit", "--teacher", "oscillator_poisson", "--out", "spike.npz", "--n-iter", str(spike_iter), "--force"]
    post = ["posterior", "spike.npz", "data.npz", "--out", "latents.npz", "--force"]
    encoder = spike + ["--proposal", "encoder"]
    steps = [("demo", demo), ("demo (warm)", demo), ("spike fit", spike), ("spike fit (warm)", spike),
             ("encoder fit", encoder), ("encoder fit (warm)", encoder),
             ("simulate", ["simulate", "--teacher", "oscillator_poisson", "--out", "data.npz", "--force"]),
             ("posterior", post), ("posterior (warm)", post)]
    rows = [run_step(name, args, env, work) for name, args in steps]
    time.sleep(1.0)                       # new modification times, whatever the file system's resolution
    install(repo, site)
    rows.append(run_step("demo (reinstalled)", demo, env, work))
    return rows


def whole_set(repo, work):
    """``lowrank compile`` in a second empty cache (skipped where the command does not exist)."""
    env = _env(install(repo, os.path.join(work, "site_compile")), os.path.join(work, "cache_compile"))
    probe = subprocess.run([sys.executable, "-m", "lowrank", "compile", "--help"], env=env, cwd=work,
                           capture_output=True)
    if probe.returncode != 0:
        print("  lowrank compile: not in this checkout; skipped")
        return None
    return run_step("compile (all)", ["compile"], env, work)


def config(repo, args):
    import numba
    commit = subprocess.run(["git", "-C", repo, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", repo, "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True)
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor()) if os.path.exists("/proc/cpuinfo") else platform.processor()
    return {"repo": repo, "commit": commit.stdout.strip() + ("+changes" if dirty.stdout.strip() else ""),
            "cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "numba": numba.__version__,
            "demo_iter": args.demo_iter, "spike_iter": args.spike_iter,
            "date": time.strftime("%Y-%m-%d %H:%M:%S")}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repo", default=os.path.dirname(HERE), help="checkout whose lowrank runs (default this one)")
    ap.add_argument("--tag", default="this", help="name of this entry in the results file (default 'this')")
    ap.add_argument("--demo-iter", type=int, default=None, help="updates of the demo (default: its own, 600)")
    ap.add_argument("--spike-iter", type=int, default=20, help="updates of the spike fit (default 20)")
    ap.add_argument("--no-compile-all", action="store_true", help="skip the whole-set compile")
    args = ap.parse_args(argv)
    repo = os.path.abspath(args.repo)
    conf = config(repo, args)
    print("cold start:", json.dumps(conf))
    work = tempfile.mkdtemp(prefix="lowrank_cold_")
    try:
        rows = sequence(repo, work, args.demo_iter, args.spike_iter)
        if not args.no_compile_all:
            row = whole_set(repo, work)
            if row:
                rows.append(row)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    by = {r["step"]: r for r in rows}
    derived = {}
    if "demo" in by and "demo (warm)" in by:
        derived["demo_compile_wall_s"] = round(by["demo"]["wall_s"] - by["demo (warm)"]["wall_s"], 1)
    if "spike fit" in by and "spike fit (warm)" in by:
        derived["spike_extra_compile_wall_s"] = round(by["spike fit"]["wall_s"] - by["spike fit (warm)"]["wall_s"], 1)
    if "encoder fit" in by and "encoder fit (warm)" in by:
        derived["encoder_extra_compile_wall_s"] = round(by["encoder fit"]["wall_s"] - by["encoder fit (warm)"]["wall_s"],
                                                        1)
    print("derived:", json.dumps(derived))
    results = {}
    if os.path.exists(RESULTS):
        with open(RESULTS) as fh:
            results = json.load(fh)
    results[args.tag] = {"config": conf, "steps": rows, "derived": derived,
                         "note": "shared machine: wall times depend on the other processes' load (load1_*)"}
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    tmp = RESULTS + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(results, fh, indent=1)
    os.replace(tmp, RESULTS)
    print("wrote", RESULTS)


if __name__ == "__main__":
    main()
