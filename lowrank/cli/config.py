"""One TOML format for settings files: ``lowrank fit --config`` and ``lowrank fit-many --config/--settings``.

Top-level ``key = value`` lines set options of the command: the key is the
option's name (:mod:`lowrank.options`) with underscores or dashes
(``n_particles``, ``n-particles``) or one of its older flag spellings
(``particles``, ``iters``), and ``data`` names the data file. Values are TOML
values: numbers, strings, booleans for switches, lists for sequences
(``encoder_kernel_sizes = [21, 11, 1]``); 0 means none where the flag says so
(``window = 0``: whole trials). ``fit-many`` files may add settings to run
with every seed::

    n_iter = 2000            # for every fit

    [[setting]]              # one setting
    lr = 1e-3

    [grid]                   # every combination is a setting, the first key varying slowest
    lr = [1e-3, 3e-3]
    rank = [2, 3]

A setting may vary the model, its encoder and the fit (:func:`lowrank.options.setting_names`).
Every value is checked by the option's own check; errors name the file and the key.
Options on the command line win over the file.
"""
from __future__ import annotations

import itertools
import os
import sys
from typing import NamedTuple, Optional

from ..options import options_for, setting_names

if sys.version_info >= (3, 11):
    import tomllib
else:                                                 # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["Config", "read_toml", "option_key"]


class Config(NamedTuple):
    """A settings file: ``values`` (option name -> value, ``data`` the data file) and the
    ``settings`` of ``[[setting]]``/``[grid]`` (None when it has neither)."""

    values: dict
    settings: Optional[list]


def option_key(key, command):
    """The option name a TOML key (or flag without dashes) stands for in ``command``, or None."""
    table = options_for(command)
    name = key.replace("-", "_")
    if name in table:
        return name
    for o in table.values():
        if any(a.lstrip("-").replace("-", "_") == name for a in o.aliases):
            return o.name
    return None


def _read(path):
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(2, "no such settings file", path)
    if os.path.isdir(path):
        raise ValueError(f"settings file {path} is a directory")
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"settings file {path} is not a valid TOML file: {exc}") from None
    except OSError as exc:
        raise ValueError(f"settings file {path}: cannot read it ({exc})") from None


def _row(name, command):
    return options_for(command)[name]


def _valid(names, command):
    table = options_for(command)
    return ", ".join(n + "".join(f" (or {a.lstrip('-')})" for a in table[n].aliases) if n in table else n
                     for n in sorted(names))


def _table(command, table, where, allowed=None, extra=None):
    """``{name: value}`` of one TOML table: top-level keys (``allowed`` None, ``extra`` the command's own
    arguments, e.g. ``out = "m.npz"``) or a setting's (``allowed``: the names a setting may vary)."""
    out, extra = {}, extra or {}
    sep = ": " if allowed is None else "."
    for key, value in table.items():
        if isinstance(value, dict):
            raise ValueError(f"{where}: unknown table {key!r}" + (" (expected [[setting]] and/or [grid])"
                                                                  if command == "fit-many" else ""))
        name = option_key(key, command)
        if allowed is None and name is None and key.replace("-", "_") in extra:
            name = key.replace("-", "_")
            if name in out:
                raise ValueError(f"{where}: {key!r} is given twice (under two spellings)")
            out[name] = _extra(name, extra[name], value, f"{where}{sep}{key}")
            continue
        if name is None or (allowed is not None and name not in allowed):
            if allowed is not None:
                raise ValueError(f"{where} has an unknown key {key!r} (allowed: {_valid(allowed, command)})")
            raise ValueError(f"{where}: unknown setting {key!r}; valid settings: "
                             f"{_valid(set(options_for(command)) | set(extra), command)}")
        if name in out:
            raise ValueError(f"{where}: {key!r} is given twice (under two spellings)")
        out[name] = _row(name, command).convert(value, f"{where}{sep}{key}")
    return out


def _extra(name, kind, value, where):
    if kind == "bool" and not isinstance(value, bool):
        raise ValueError(f"{where} must be true or false; got {value!r}")
    if kind == "str" and not isinstance(value, str):
        raise ValueError(f"{where} must be a string; got {value!r}")
    return value


def read_toml(path, command, *, data_key=True, extra=None):
    """The settings file ``path`` for ``command`` (``"fit"`` or ``"fit-many"``) as a :class:`Config`.

    ``extra`` maps the command's own arguments a file may set too (``out``, ``force``, ...) to
    ``"str"`` or ``"bool"``. Raises FileNotFoundError without a file, ValueError (naming the file
    and the key) otherwise.
    """
    path = os.fspath(path)
    doc = _read(path)
    tables = {k: doc.pop(k) for k in ("setting", "grid") if k in doc}
    data = doc.pop("data", None)
    if data is not None and (not data_key or not isinstance(data, str)):
        raise ValueError(f"{path}: data must be the data file's path (a string)" if data_key else
                         f"{path}: data is not a setting of lowrank {command}")
    values = _table(command, doc, path, extra=extra)
    if data is not None:
        values["data"] = data
    if tables and command != "fit-many":
        raise ValueError(f"{path}: [[setting]] and [grid] tables are for lowrank fit-many; lowrank {command} "
                         f"takes top-level 'name = value' settings only")
    return Config(values, _settings(path, tables, command) if tables else None)


def _settings(path, tables, command):
    allowed = set(setting_names()) & set(options_for(command))
    listed = tables.get("setting", [])
    if not isinstance(listed, list) or not all(isinstance(t, dict) for t in listed):
        raise ValueError(f"{path}: 'setting' must be an array of tables ([[setting]])")
    settings = [_table(command, t, f"{path}: setting[{i}]", allowed) for i, t in enumerate(listed, 1)]
    grid = tables.get("grid", {})
    if not isinstance(grid, dict):
        raise ValueError(f"{path}: 'grid' must be a table ([grid]) of lists")
    lists = {}
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise ValueError(f"{path}: grid.{key} must be a non-empty list of values; got {values!r}")
        rows = [_table(command, {key: v}, f"{path}: grid", allowed) for v in values]
        lists[next(iter(rows[0]))] = [next(iter(r.values())) for r in rows]
    if lists:
        settings += [dict(zip(lists, combo)) for combo in itertools.product(*lists.values())]
    if not settings:
        raise ValueError(f"{path}: defines no setting (add [[setting]] tables or a [grid])")
    return settings
