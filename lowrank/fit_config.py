"""Settings files for ``lowrank fit --config run.toml`` (the command line layer).

A TOML file of ``key = value`` lines, one per option of ``lowrank fit``: the keys are
the option names without the leading dashes, with dashes or underscores
(``batch-size = 20`` or ``batch_size = 20``), and ``data`` names the data file.
Each value is checked as the command line checks it (the same types, ranges and
choices); lists are allowed where the option takes comma-separated numbers
(``encoder-kernels = [21, 11, 1]``), booleans for switches (``correlated-noise = true``).
An unknown key, or a value the option refuses, is an error naming the key and the
file. Options given on the command line win over the file.
"""
from __future__ import annotations

import argparse
import os
import sys

if sys.version_info >= (3, 11):
    import tomllib
else:                                                 # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["read_fit_config"]

_NOT_SETTINGS = ("help", "config")


def _actions(parser):
    """``{dest: action}`` of the options a settings file may set."""
    return {a.dest: a for a in parser._actions if a.dest not in _NOT_SETTINGS and a.dest is not argparse.SUPPRESS}


def _convert(key, value, action, path):
    where = f"{path}: {key}"
    if isinstance(action, argparse._StoreTrueAction):
        if not isinstance(value, bool):
            raise ValueError(f"{where} must be true or false; got {value!r}")
        return value
    if isinstance(value, (dict, bool)) and action.type is not None:
        raise ValueError(f"{where} must be a {getattr(action.type, '__name__', 'value')}; got {value!r}")
    if isinstance(value, list):
        text = ",".join(str(v) for v in value)
    elif isinstance(value, (dict, bool)):
        raise ValueError(f"{where} must be a string; got {value!r}")
    else:
        text = str(value)
    if action.type is not None:
        try:
            out = action.type(text)
        except (argparse.ArgumentTypeError, TypeError, ValueError) as exc:
            raise ValueError(f"{where} {exc}") from None
    else:
        out = text
    if action.choices is not None and out not in action.choices:
        raise ValueError(f"{where} must be one of {list(action.choices)}; got {value!r}")
    return out


def read_fit_config(path, parser):
    """The settings of a ``--config`` file as ``{dest: value}``, checked against ``parser`` (fit's).

    Raises FileNotFoundError without a file, ValueError (naming the file and the key) otherwise.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(2, "no such settings file", path)
    if os.path.isdir(path):
        raise ValueError(f"config={path!r} is a directory, not a settings file")
    try:
        with open(path, "rb") as fh:
            table = tomllib.load(fh)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not a valid TOML settings file ({exc})") from None
    actions = _actions(parser)
    out = {}
    for key, value in table.items():
        dest = key.replace("-", "_")
        if dest not in actions:
            raise ValueError(f"{path}: unknown setting {key!r}; valid settings: "
                             f"{', '.join(sorted(d.replace('_', '-') for d in actions))}")
        if dest in out:
            raise ValueError(f"{path}: {key!r} is given twice (with dashes and with underscores)")
        out[dest] = _convert(key, value, actions[dest], path)
    return out
