"""The argument parser of ``lowrank``, built from the option table (:mod:`lowrank.options`).

Every option of the table that a command takes becomes its flag: ``--`` and the
name with dashes (``--n-particles``), plus the older spellings as aliases
(``--particles``). A flag's value is checked by the option's own check when it
is parsed, so a message names the flag. A flag that is not given is absent from
the parsed arguments (:func:`given`): the library's default applies, or the
command's where the library has none. The commands' own arguments (data files,
outputs) are added by each command module.
"""
from __future__ import annotations

import argparse
import sys

from ..options import options_for

__all__ = ["Parser", "UsageError", "add_options", "given", "add_force", "add_plot", "add_model_command",
           "OUTPUT_POLICY"]

OUTPUT_POLICY = ("Outputs are checked before anything is computed: an output that is also an input is "
                 "refused, and an existing output is replaced only with --force.")


class UsageError(Exception):
    """Raised by the parser instead of exiting, so that main() returns 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message):
        # One line, like every other failure of the command line.
        print(f"{self.prog}: error: {message} (see {self.prog} --help)", file=sys.stderr)
        raise UsageError(message)


def _expected(o):
    if o.kind in ("ints", "floats"):
        return f"{'integers' if o.kind == 'ints' else 'numbers'} separated by commas ({o.describe()})"
    return o.describe(article=True)


def _parse_number(o, text, whole=None):
    kind = int if o.kind in ("int", "ints") else float
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {_expected(o)}; got {whole or text}") from None


def _type(o):
    def parse(text):
        if o.kind in ("ints", "floats"):
            value = [_parse_number(o, t, text) for t in text.split(",") if t.strip()]
        elif o.kind in ("int", "float"):
            value = _parse_number(o, text)
        else:
            value = text
        try:
            return o.convert(value, "value")
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(f"must be {_expected(o)}; got {text}") from None
    parse.__name__ = o.describe()
    return parse


def _help(o):
    return f"{o.help} (default: {o.default_text()})".replace("%", "%%")


def add_options(s, command, groups=None):
    """Add the table's options of ``command`` (those of ``groups`` only, if given) to subparser ``s``."""
    for o in options_for(command).values():
        if groups is not None and o.group not in groups:
            continue
        kw = dict(dest=o.name, default=argparse.SUPPRESS, help=_help(o))
        if o.kind == "bool":
            s.add_argument(o.flag, *o.aliases, action="store_true", **kw)
        elif o.choices:
            s.add_argument(o.flag, *o.aliases, choices=o.choices, **kw)
        else:
            metavar = o.name.upper() if o.kind not in ("ints", "floats") else "V1,V2,..."
            s.add_argument(o.flag, *o.aliases, type=_type(o), metavar=metavar, **kw)


def given(args, command):
    """``{name: value}`` of the table's options given on the command line."""
    return {name: getattr(args, name) for name in options_for(command) if hasattr(args, name)}


def add_model_command(sub, name, help, data_help, func):
    """A command on a saved model and a recording (``lowrank NAME MODEL DATA``) with its table options."""
    s = sub.add_parser(name, help=help, epilog=OUTPUT_POLICY)
    s.add_argument("model", help="a model file (.npz written by lowrank fit or LowRankRNN.save)")
    s.add_argument("data", help=data_help)
    add_options(s, name)
    s.set_defaults(func=func)
    return s


def add_force(s):
    s.add_argument("--force", action="store_true",
                   help="replace existing output files (without it an existing output is an error)")


def add_plot(s, what):
    s.add_argument("--plot", default=None, metavar="IMAGE",
                   help=f"also draw {what} to this image (.png, .pdf, .svg, ...; needs matplotlib)")
