"""The first compile in child processes, so that every process runs the kernels from the cache.

Numba's machine code for a kernel depends, in the last bits, on whether the
functions it calls were compiled in the same process or loaded from the
on-disk cache: a freshly compiled callee is optimised into its caller, a
cached one is called as it is. So the process that compiles the kernels
computes ELBO gradients that differ, by rounding, from those of every later
process, which load them; over thousands of updates a fit amplifies that
into a different model (docs/experiments/spikes.md). A seed must give the
same numbers on the first run after an install or an upgrade as on the
second.

:func:`ensure_cached` therefore fills the cache, when it has not been filled
for the current kernel sources, in two child processes (the forward pass
with the encoder network and the draws in one, the reverse mode in the
other: on two cores this also halves a cold compile), and then lets this
process load the kernels like any later one. A marker file named for the
sources' hash records that it was done. Nothing happens when the cache is
off (``LOWRANK_NUMBA_CACHE=0``: every process compiles, consistently with
itself) or JIT is disabled; if a child fails, this process compiles as
before.
"""
import os
import subprocess
import sys
import threading

import numba

from ..kernels._cache import cache_folder, sources_digest

_lock = threading.Lock()
_done = False

_CHILD = "from lowrank.inference.compile_parts import compile_part; compile_part({part!r})"
PARTS = ("forward", "backward")


def mark_done():
    """Never spawn children from this process (a child itself)."""
    global _done
    _done = True


def _marker(folder, digest):
    return os.path.join(folder, f"lowrank_prepared.{digest}")


def ensure_cached():
    """Fill the kernel cache in child processes if it is not filled yet (see the module docstring).

    Returns True when children compiled the kernels in this call.
    """
    global _done
    if _done:
        return False
    with _lock:
        if _done:
            return False
        _done = True
        folder = cache_folder()
        if folder is None or numba.config.DISABLE_JIT:
            return False
        try:
            digest = sources_digest()
            if os.path.exists(_marker(folder, digest)):
                return False
            ok = _compile_in_children()
            if ok:
                _write_marker(folder, digest)
            return ok
        except OSError:
            return False


def _compile_in_children():
    """Run :func:`~.compile_parts.compile_part` for each part in its own interpreter, at once;
    True if all succeeded."""
    package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ)
    env["PYTHONPATH"] = package_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    procs = [subprocess.Popen([sys.executable, "-c", _CHILD.format(part=part)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for part in PARTS]
    try:
        return all([p.wait() == 0 for p in procs])
    finally:
        for p in procs:          # interrupted (Ctrl-C): no orphans left compiling
            if p.poll() is None:
                p.kill()
                p.wait()


def _write_marker(folder, digest):
    os.makedirs(folder, exist_ok=True)
    for f in os.listdir(folder):
        if f.startswith("lowrank_prepared."):
            os.remove(os.path.join(folder, f))
    with open(_marker(folder, digest), "w") as fh:
        fh.write(digest + "\n")
