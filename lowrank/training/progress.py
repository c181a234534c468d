"""Progress of a fit on stderr.

The first iteration of a process compiles the SMC kernels (or loads them
from Numba's cache), which can take far longer than every later iteration.
So :meth:`Progress.begin` says so before the first iteration, the line after
it reports how long that iteration took, and the rate and ETA are computed
from the later iterations only (a rate that included the compile time would
promise an ETA of hours for a run of minutes).
"""
from __future__ import annotations

import math
import sys
import time

from ..inference.warmup import report_to

__all__ = ["Progress", "hms", "COMPILING"]

COMPILING = "compiling kernels or loading them from the cache (first call only; cached afterwards)…"


class Progress:
    """One status line per update, on a terminal rewritten in place.

    On a terminal: one status line rewritten in place at most every
    ``interval`` seconds (0.25). Elsewhere (a log file, a cluster job's
    output): a new line at most every ``interval`` seconds (10), so that the
    log stays readable instead of filling with carriage returns. The update
    after the first iteration is always written.

    Parameters
    ----------
    n_iter : int
        Iterations of the whole fit.
    start_iter : int
        Iterations already done (a resumed fit).
    verbose : int
        0: silent.
    interval : float, optional
    stream : file, optional
        Default ``sys.stderr``.
    clock : callable, optional
        Seconds as a float (default ``time.perf_counter``).
    """

    def __init__(self, n_iter, start_iter, verbose, interval=None, stream=None, clock=time.perf_counter):
        self.n_iter, self.start_iter = n_iter, start_iter
        self.verbose = verbose
        self.stream = stream or sys.stderr
        try:
            self.tty = bool(self.stream.isatty())
        except (AttributeError, ValueError):
            self.tty = False
        self.interval = (0.25 if self.tty else 10.0) if interval is None else interval
        self.clock = clock
        self.t0 = clock()
        self.first = None                 # (iterations done, time) at the end of this run's first iteration
        self.last = -math.inf
        self.width = 0
        self._reporter = False           # the compile reporter to restore, while ours is set

    def begin(self):
        """Say that the first iteration compiles the kernels (before it starts), and show the
        compile's progress until the first update (:func:`lowrank.inference.warmup.report_to`)."""
        if self.verbose:
            self._write(COMPILING)
            self._reporter = report_to(self._compiling)
        self.t0 = self.clock()

    def _compiling(self, line, final):
        """The kernel compile's status: every line on a terminal, the parts' starts and ends elsewhere."""
        if self.tty or final:
            self._write(line)

    def _end_compile_report(self):
        if self._reporter is not False:
            report_to(self._reporter)
            self._reporter = False

    def update(self, i_done, elbo, val, lr, force=False):
        """Report ``i_done`` iterations done, the last minibatch ELBO, the last held-out one and the rate."""
        if not self.verbose:
            return
        self._end_compile_report()
        now = self.clock()
        if self.first is None:
            self.first = (i_done, now)
            speed = f"first iteration {now - self.t0:.1f} s (includes compiling)"
        else:
            if not force and now - self.last < self.interval:
                return
            done, elapsed = i_done - self.first[0], now - self.first[1]
            rate = done / elapsed if done > 0 and elapsed > 0 else float("nan")
            eta = (self.n_iter - i_done) / rate if rate > 0 else float("nan")
            speed = f"{rate:.1f} it/s  ETA {hms(eta)}" if rate > 0 else "? it/s  ETA ?"
        self.last = now
        val_s = f"{val:.4f}" if math.isfinite(val) else "—"
        self._write(f"iter {i_done}/{self.n_iter}  elbo/step {elbo:.4f}  held-out {val_s}  lr {lr:.2e}  {speed}")

    def _write(self, line):
        if self.tty:
            pad = max(self.width - len(line), 0)
            self.stream.write("\r" + line + " " * pad)
        else:
            self.stream.write(line + "\n")
        self.width = len(line) if self.tty else 0
        self.stream.flush()

    def close(self, message=None):
        """End the status line; then ``message`` on a line of its own."""
        if not self.verbose:
            return
        self._end_compile_report()
        if self.width:
            self.stream.write("\n")
            self.width = 0
        if message:
            self.stream.write(message + "\n")
        self.stream.flush()


def hms(sec):
    """``h:mm:ss``, or ``?`` when not finite."""
    if not math.isfinite(sec):
        return "?"
    sec = int(round(sec))
    return f"{sec // 3600}:{sec % 3600 // 60:02d}:{sec % 60:02d}"
