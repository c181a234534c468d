"""The ``lowrank`` command line: ``lowrank <command> --help`` for each command.

Commands: simulate, fit, fit-many, sample, info, fixed-points, dynamics, evaluate, posterior, compile.
Each command module (:mod:`.fit`, :mod:`.fit_many`, :mod:`.simulate`, :mod:`.inspect`,
:mod:`.dynamics`, :mod:`.evaluate`, :mod:`.posterior`, :mod:`.compile_kernels`) holds the command's work
as a plain Python
function (usable from Python too: ``lowrank.cli.fit.fit_recording("rec.npy",
rank=3, out="m.npz")``), its flags and its printing. The flags come from the
option table (:mod:`lowrank.options`, :mod:`.parser`), files are read and written
by :mod:`.files`, settings files by :mod:`.config`, and failures become one line
(:mod:`.messages`).

Exit status: 0 on success; 2 for bad arguments or unreadable input (one
``lowrank <command>: error: ...`` line on stderr); 1 for a failure during
the computation (a fit that diverged: its best parameters are still
written); 130 when interrupted (Ctrl-C: a fit writes its best parameters
first). No traceback is printed unless ``LOWRANK_TRACEBACK=1`` is set.
"""
from __future__ import annotations

import os
import sys
import traceback
import warnings

from .._version import __version__
from ..inference.warmup import report_to
from . import compile_kernels, dynamics, evaluate, fit, fit_many, inspect, posterior, simulate
from .messages import INTERRUPTED, failure, show_warning
from .parser import Parser, UsageError

__all__ = ["main", "build_parser"]

_COMMANDS = (simulate, fit, fit_many, inspect, dynamics, evaluate, posterior, compile_kernels)


def build_parser():
    p = Parser(prog="lowrank", description="Stochastic low-rank RNNs fitted to neural data.",
               epilog="Exit status: 0 success, 2 bad arguments or input, 1 failure during the computation, "
                      "130 interrupted.")
    p.add_argument("--version", action="version", version=f"lowrank {__version__}")
    sub = p.add_subparsers(dest="command", metavar="command")
    for module in _COMMANDS:
        module.register(sub)
    return p


def _headless_matplotlib():
    """Draw without a display (the Agg backend); without matplotlib the command says what to install."""
    try:
        import matplotlib
    except ImportError:
        return
    matplotlib.use("Agg")


#: The commands' own arguments a ``--config`` file may set too (the option table's are always allowed).
_CONFIG_EXTRA = {"out": "str", "plot": "str", "force": "bool", "quiet": "bool", "teacher": "str",
                 "settings": "str"}


def _config(args, parser):
    """``(values, settings)`` of the ``--config`` file (empty without one); the command's own arguments
    it sets (``out``, ``force``, ...) go onto ``args`` where the command line left their defaults."""
    path = getattr(args, "config", None)
    if not path:
        return {}, None
    from .config import read_toml
    sub = next(a for a in parser._actions if hasattr(a, "choices") and isinstance(a.choices, dict))
    defaults = {a.dest: a.default for a in sub.choices[args.command]._actions}
    extra = {k: v for k, v in _CONFIG_EXTRA.items() if k in defaults}
    conf = read_toml(path, args.command, extra=extra)
    values = dict(conf.values)
    for k in extra:
        if k in values:
            value = values.pop(k)
            if getattr(args, k) == defaults[k]:
                setattr(args, k, value)
    return values, conf.settings


def _run(args, parser):
    values, settings = _config(args, parser)
    if getattr(args, "plot", None):
        _headless_matplotlib()
    # A first run compiles kernels for tens of seconds: say so on stderr, unless --quiet (a fit's
    # progress line takes this over while it runs).
    previous = report_to(None if getattr(args, "quiet", False) else compile_kernels.printer(sys.stderr))
    try:
        if args.command == "fit-many":
            return args.func(args, values, settings)
        return args.func(args, values)
    finally:
        report_to(previous)


def main(argv=None):
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except UsageError:
        return 2
    except SystemExit as exc:                        # --help, --version
        return exc.code if isinstance(exc.code, int) else 0
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    prog = f"lowrank {args.command}"
    with warnings.catch_warnings():
        warnings.showwarning = show_warning
        try:
            return _run(args, parser) or 0
        except KeyboardInterrupt:
            print(f"{prog}: interrupted", file=sys.stderr)
            return INTERRUPTED
        except Exception as exc:
            if os.environ.get("LOWRANK_TRACEBACK"):
                traceback.print_exc()
            status, message = failure(exc)
            print(f"{prog}: error: {message}", file=sys.stderr)
            return status


if __name__ == "__main__":
    sys.exit(main())
