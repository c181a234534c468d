"""What the command line prints when something goes wrong: one line and an exit status.

- 2: bad arguments or input (``ValueError``, ``TypeError``, ``OSError``, a missing file,
  ``lowrank.smc.CUDAUnavailableError``: a documented condition of the machine);
- 1: a failure during the computation (:class:`lowrank.FitError`, any other
  ``FloatingPointError``, ``MemoryError``, a kernel compile that failed:
  ``lowrank.inference.warmup.CompileError``), and bugs ("unexpected ...");
- 130: interrupted (Ctrl-C).

No traceback is printed unless ``LOWRANK_TRACEBACK=1`` is set.
"""
from __future__ import annotations

import sys

from ..inference.device import CUDAUnavailableError
from ..inference.warmup import CompileError
from ..training.errors import FitError

__all__ = ["one_line", "failure", "show_warning", "INTERRUPTED"]

INTERRUPTED = 130


def one_line(text):
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return " ".join(lines) if lines else ""


def _fit_error(exc: FitError, text):
    n = exc.iteration
    tail = f"; wrote the {exc.saved_what} parameters to {exc.saved_to}" if exc.saved_to else "; nothing was written"
    return f"the fit failed after {n} update{'' if n == 1 else 's'}: {text}{tail}"


def failure(exc):
    """``(exit status, message)`` for an exception raised by a command."""
    text = one_line(exc) or type(exc).__name__
    if isinstance(exc, FitError):
        return 1, _fit_error(exc, text)
    if isinstance(exc, CUDAUnavailableError):
        return 2, text
    if isinstance(exc, (FloatingPointError, CompileError)):   # includes lowrank.smc.SMCDegeneracyError
        return 1, text
    if isinstance(exc, FileNotFoundError) and exc.filename:
        return 2, f"no such file or folder: {exc.filename}"
    if isinstance(exc, (ValueError, TypeError, OSError)):
        return 2, text
    if isinstance(exc, MemoryError):
        return 1, f"out of memory{': ' + text if text != 'MemoryError' else ''}"
    return 1, f"unexpected {type(exc).__name__}: {text} (a bug: please report it; set LOWRANK_TRACEBACK=1 for " \
              f"the traceback)"


def show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"lowrank: warning: {one_line(message)}", file=sys.stderr if file is None else file)
