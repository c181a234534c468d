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

:func:`ensure_cached` therefore fills the cache, for the parts of the
kernels a call needs (:data:`PARTS`: the particle filter, its
reverse mode, the encoder network, its reverse mode, the fixed-point
enumerator) that are not filled yet
for the current kernel sources, in one child process per part, two at a
time, and then lets this process load the kernels like any later one. A
Gaussian fit never waits for the encoder's kernels; a spike fit with the
encoder compiles them on its first call. A marker file named for the
sources' hash and the part records that a part was done. Nothing happens
when the cache is off (``LOWRANK_NUMBA_CACHE=0``: every process compiles,
consistently with itself) or JIT is disabled; if a child fails, this
process compiles as before.

While children compile, a reporter set with :func:`report_to` (the fit's
progress line, ``lowrank compile``) is told which part and kernel each
compiles and how many parts are done: a cold start takes tens of seconds,
and a silent one looks like a hang.
"""
import atexit
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numba

from ..kernels._cache import cache_folder, sources_digest

__all__ = ["PARTS", "CompileError", "ensure_cached", "mark_done", "needed_parts", "report_to", "missing_parts",
           "compile_soon"]

_lock = threading.Lock()       # held while children compile: a second call waits for them
_live = set()                  # children running now (killed if this process exits first)
_ready = set()          # parts this process has made sure of (or, a child, must not spawn)
_child = False
_reporter = None

#: The parts of the kernels, compiled one per child (:mod:`.compile_parts`), and what they are.
PARTS = {"filter": "particle filter", "gradient": "its reverse mode", "encoder": "encoder network",
         "encoder_gradient": "encoder's reverse mode", "fixed_points": "fixed-point enumerator"}

_CHILD = "from lowrank.inference.compile_parts import compile_part; compile_part({part!r})"
#: How a child's line on stdout names the kernel it starts compiling.
KERNEL_LINE = "compiling "
#: Children compiling at once (each is single-threaded; more than the cores only adds waiting).
AT_ONCE = 2


class CompileError(RuntimeError):
    """Compiling a part of the kernels ahead of time failed (``lowrank compile``)."""


def mark_done():
    """Never spawn children from this process (a child itself)."""
    global _child
    _child = True


def report_to(reporter):
    """Send compile progress to ``reporter(line, final)`` (None: nowhere); returns the previous one.

    ``line`` is one status line; ``final`` is True for the lines worth keeping
    in a log (a part started or done), False for the kernel-by-kernel updates.
    """
    global _reporter
    previous, _reporter = _reporter, reporter
    return previous


def needed_parts(grad=True, encoder=False):
    """The parts a call needs: the filter, its reverse mode with ``grad``, and the encoder
    network's (both ways with ``grad``) with ``encoder``."""
    parts = ["filter"] + (["gradient"] if grad else [])
    if encoder:
        parts += ["encoder"] + (["encoder_gradient"] if grad else [])
    return tuple(parts)


def _marker(folder, digest, part):
    return os.path.join(folder, f"lowrank_prepared.{digest}.{part}")


def missing_parts(parts=tuple(PARTS)):
    """The parts among ``parts`` whose kernels are not in the cache for the current sources
    (all of them with the cache off)."""
    folder = cache_folder()
    if folder is None:
        return tuple(parts)
    digest = sources_digest()
    return tuple(p for p in parts if not os.path.exists(_marker(folder, digest, p)))


def compile_soon(parts):
    """Start filling the cache for ``parts`` in a background thread, and return at once.

    For a command that knows what it will need before it can call it: the
    demo starts its children before it draws its data set, which compiles a
    simulation kernel meanwhile, and includes the fixed points its summary
    enumerates after the fit. Any later :func:`ensure_cached` waits for
    these children instead of compiling the same kernels again.
    """
    if _child or numba.config.DISABLE_JIT:
        return
    threading.Thread(target=ensure_cached, args=(tuple(parts),), name="lowrank-compile", daemon=True).start()


def ensure_cached(parts=tuple(PARTS)):
    """Fill the kernel cache for ``parts`` in child processes if not filled yet (module docstring).

    Returns True when children compiled some of them in this call. A call
    made while another thread's children compile (:func:`compile_soon`) waits
    for them.
    """
    if _child:
        return False
    with _lock:
        todo = [p for p in parts if p not in _ready]
        if not todo:
            return False
        _ready.update(todo)
        folder = cache_folder()
        if folder is None or numba.config.DISABLE_JIT:
            return False
        try:
            digest = sources_digest()
            todo = [p for p in todo if not os.path.exists(_marker(folder, digest, p))]
            if not todo:
                return False
            done = _compile_in_children(todo)
            for part in done:
                _write_marker(folder, digest, part)
            return bool(done)
        except OSError:
            return False


def _compile_in_children(parts):
    """Run :func:`~.compile_parts.compile_part` for each part in its own interpreter,
    :data:`AT_ONCE` at a time; the parts that succeeded."""
    package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ)
    env["PYTHONPATH"] = package_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    status = _Status(parts)
    procs, lock = [], threading.Lock()

    def run(part):
        with lock:
            if status.stopped:
                return False
            p = subprocess.Popen([sys.executable, "-c", _CHILD.format(part=part)], env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            procs.append(p)
            _live.add(p)
        status.start(part)
        for line in p.stdout:                    # the child names each kernel it starts
            if line.startswith(KERNEL_LINE):
                status.kernel(part, line[len(KERNEL_LINE):].strip())
        ok = p.wait() == 0
        _live.discard(p)
        status.finish(part, ok)
        return ok

    pool = ThreadPoolExecutor(max_workers=AT_ONCE)
    try:
        results = list(pool.map(run, parts))
    finally:
        with lock:
            status.stopped = True
            for p in procs:          # interrupted (Ctrl-C): no orphans left compiling
                if p.poll() is None:
                    p.kill()
                    p.wait()
        pool.shutdown(wait=True)
    return [part for part, ok in zip(parts, results) if ok]


class _Status:
    """What the children are compiling, as status lines for a reporter."""

    def __init__(self, parts):
        self.parts = list(parts)
        self.current, self.done, self.stopped = {}, 0, False
        self.t0 = time.perf_counter()
        self.lock = threading.Lock()

    def _say(self, final, note=""):
        reporter = _reporter       # the current one: a fit's progress line takes over a compile begun earlier
        if reporter is None:
            return
        running = ", ".join(f"{PARTS.get(p, p)} ({k})" if k else PARTS.get(p, p) for p, k in self.current.items())
        line = (f"compiling kernels (first run after an install; cached afterwards): {self.done}/{len(self.parts)} "
                f"parts done, {time.perf_counter() - self.t0:.0f} s{note}" + (f"; now {running}" if running else ""))
        reporter(line, final)

    def start(self, part):
        with self.lock:
            self.current[part] = ""
            self._say(True)

    def kernel(self, part, name):
        with self.lock:
            if part in self.current:
                self.current[part] = name
                self._say(False)

    def finish(self, part, ok):
        with self.lock:
            self.current.pop(part, None)
            self.done += 1
            self._say(True, "" if ok else f" ({PARTS.get(part, part)} failed: compiling in this process instead)")


@atexit.register
def _stop_children():
    """No child left compiling when this process ends first (an error or Ctrl-C while
    :func:`compile_soon`'s children run)."""
    for p in list(_live):
        if p.poll() is None:
            p.kill()


def _write_marker(folder, digest, part):
    os.makedirs(folder, exist_ok=True)
    for f in os.listdir(folder):
        if f.startswith("lowrank_prepared.") and not f.startswith(f"lowrank_prepared.{digest}."):
            os.remove(os.path.join(folder, f))
    with open(_marker(folder, digest, part), "w") as fh:
        fh.write(digest + "\n")
