"""Progress of a fit on stderr."""
from __future__ import annotations

import math
import sys
import time

__all__ = ["Progress", "hms"]


class Progress:
    """Progress on stderr.

    On a terminal: one status line rewritten in place at most every
    ``interval`` seconds (0.25). Elsewhere (a log file, a cluster job's
    output): a new line at most every ``interval`` seconds (10), so that the
    log stays readable instead of filling with carriage returns.
    """

    def __init__(self, n_iter, start_iter, verbose, interval=None, stream=None):
        self.n_iter, self.start_iter = n_iter, start_iter
        self.verbose = verbose
        self.stream = stream or sys.stderr
        try:
            self.tty = bool(self.stream.isatty())
        except (AttributeError, ValueError):
            self.tty = False
        self.interval = (0.25 if self.tty else 10.0) if interval is None else interval
        self.t0 = time.perf_counter()
        self.last = -math.inf
        self.width = 0

    def update(self, i_done, elbo, val, lr, force=False):
        if not self.verbose:
            return
        now = time.perf_counter()
        if not force and now - self.last < self.interval:
            return
        self.last = now
        done = i_done - self.start_iter
        rate = done / (now - self.t0) if now > self.t0 and done > 0 else float("nan")
        left = self.n_iter - i_done
        eta = left / rate if rate > 0 else float("nan")
        val_s = f"{val:.4f}" if math.isfinite(val) else "—"
        line = (f"iter {i_done}/{self.n_iter}  elbo/step {elbo:.4f}  held-out {val_s}  lr {lr:.2e}  "
                f"{rate:.1f} it/s  ETA {hms(eta)}")
        if self.tty:
            pad = max(self.width - len(line), 0)
            self.stream.write("\r" + line + " " * pad)
        else:
            self.stream.write(line + "\n")
        self.width = len(line) if self.tty else 0
        self.stream.flush()

    def close(self, message=None):
        if not self.verbose:
            return
        if self.width:
            self.stream.write("\n")
        if message:
            self.stream.write(message + "\n")
        self.stream.flush()


def hms(sec):
    """``h:mm:ss``, or ``?`` when not finite."""
    if not math.isfinite(sec):
        return "?"
    sec = int(round(sec))
    return f"{sec // 3600}:{sec % 3600 // 60:02d}:{sec % 60:02d}"
