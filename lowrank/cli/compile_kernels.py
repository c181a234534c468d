"""``lowrank compile``: compile and cache every kernel ahead of time (an optional step after an install).

Without it, each kind of call compiles the kernels it needs on its first
run (the Gaussian demo the particle filter and its reverse mode; the first
fit with the encoder proposal the encoder network), in child processes
(:mod:`lowrank.inference.warmup`). This command does it all at once, for
example in an install script or a container build, so that no later run
waits.
"""
from __future__ import annotations

import sys
import time

from ..inference import warmup
from ..kernels._cache import cache_folder

__all__ = ["compile_kernels", "printer", "register"]


def compile_kernels(parts=None, verbose=1, stream=None):
    """Compile the kernels of ``parts`` (default all of :data:`~lowrank.inference.warmup.PARTS`) that
    are not cached yet; returns ``(compiled, cached_before, seconds)``, tuples of part names.

    Raises ValueError when the cache is off (nothing could be kept; ``LOWRANK_NUMBA_CACHE=0``), and
    :class:`~lowrank.inference.warmup.CompileError` when a part failed to compile.
    """
    parts = tuple(warmup.PARTS) if parts is None else tuple(parts)
    unknown = [p for p in parts if p not in warmup.PARTS]
    if unknown:
        raise ValueError(f"--parts: unknown part(s) {', '.join(unknown)}; expected some of {', '.join(warmup.PARTS)}")
    folder = cache_folder()
    if folder is None:
        raise ValueError("the kernel cache is off (LOWRANK_NUMBA_CACHE=0): compiled kernels could not be kept; "
                         "unset it to compile ahead of time")
    stream = stream or sys.stderr
    todo = warmup.missing_parts(parts)
    t0 = time.perf_counter()
    previous = warmup.report_to(printer(stream) if verbose else None)
    try:
        warmup.ensure_cached(todo)
    finally:
        warmup.report_to(previous)
    failed = warmup.missing_parts(todo)
    if failed:
        raise warmup.CompileError(f"compiling {', '.join(warmup.PARTS[p] for p in failed)} failed; run a fit with "
                           f"LOWRANK_TRACEBACK=1 to see the error")
    cached = tuple(p for p in parts if p not in todo)
    return tuple(todo), cached, time.perf_counter() - t0


def printer(stream):
    """A reporter for :func:`~lowrank.inference.warmup.report_to`: every line on a terminal (in place),
    the parts' starts and ends elsewhere."""
    try:
        tty = bool(stream.isatty())
    except (AttributeError, ValueError):
        tty = False

    def say(line, final):
        if final:
            stream.write(("\r\033[K" if tty else "") + line + "\n")
        elif tty:
            stream.write("\r\033[K" + line)
        stream.flush()
    return say


def register(sub):
    s = sub.add_parser("compile", help="compile and cache every kernel now (optional: each run compiles "
                                       "what it needs on first use)",
                       description="Each run compiles the kernels it needs on first use (the Gaussian demo "
                                   "the particle filter and its reverse mode; the first fit with the encoder "
                                   "proposal the encoder network). This compiles them all now, e.g. in an "
                                   "install script or a container build, so that no later run waits.")
    s.add_argument("--parts", default=None, metavar="P1,P2,...",
                   help=f"only these parts, of {', '.join(warmup.PARTS)} (default all)")
    s.add_argument("--quiet", action="store_true", help="no progress lines")
    s.set_defaults(func=_compile)


def _compile(args, values):
    parts = None if args.parts is None else [p.strip() for p in args.parts.split(",") if p.strip()]
    compiled, cached, seconds = compile_kernels(parts, verbose=0 if args.quiet else 1)
    names = ", ".join(warmup.PARTS[p] for p in compiled) or "nothing"
    note = f"; already cached: {', '.join(warmup.PARTS[p] for p in cached)}" if cached else ""
    print(f"compiled and cached {names} in {seconds:.0f} s{note} ({cache_folder()})")
    return 0
