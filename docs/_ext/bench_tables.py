"""Benchmark figures read from ``bench/results/*.json`` when the documentation is built.

Nothing on the benchmarks page is typed by hand: a table is a directive naming the file and the
fields, and a number in running text is a role naming one field.

.. code-block:: rst

    .. bench-table:: smc.json
       :columns: name, N, R, K, ms_median, gflops

    .. bench-table:: fit_many.json
       :rows: backends
       :columns: median_s, min_s

    .. bench-table:: spikes.json
       :fields: fit_s, heldout_ll_per_neuron_step.gap

    The median D_stsp is :bench:`eeg.json:summary.dstsp.median`.

``:columns:`` makes one row per element of the list (or per key of the mapping, first column the
key) found at ``:rows:`` (a dotted path; default: the file's top level). ``:fields:`` makes a
two-column table of single values. A field is a dotted path (``a.b.c``); a missing one is an
error, so a renamed field in a benchmark fails the build instead of leaving a blank. Numbers are
shown to 4 significant digits (``:digits:`` changes it).
"""
from __future__ import annotations

import json
import os

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.util.docutils import SphinxDirective, SphinxRole

__all__ = ["setup"]


def _load(env, name):
    """The JSON file ``name`` of the benchmark results folder, recorded as a dependency."""
    folder = env.config.bench_results_dir
    path = os.path.join(folder, name)
    if not os.path.isfile(path):
        raise ValueError(f"benchmark results file {path} does not exist")
    env.note_dependency(path)
    with open(path) as fh:
        return json.load(fh)


def _get(obj, dotted, where):
    """The value at the dotted path ``dotted`` of ``obj`` (list indices are numbers)."""
    for key in [k for k in dotted.split(".") if k]:
        if isinstance(obj, list) and key.isdigit() and int(key) < len(obj):
            obj = obj[int(key)]
        elif isinstance(obj, dict) and key in obj:
            obj = obj[key]
        else:
            raise ValueError(f"{where}: no field {dotted!r}")
    return obj


def _format(value, digits=4):
    """A cell's text: numbers to ``digits`` significant digits, lists joined, None as a dash."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10000 else str(value)
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    if isinstance(value, list):
        return ", ".join(_format(v, digits) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k} {_format(v, digits)}" for k, v in value.items())
    return str(value)


def _table(header, rows):
    """A docutils table of text cells."""
    table = nodes.table(classes=["bench-table"])
    group = nodes.tgroup(cols=len(header))
    table += group
    group.extend(nodes.colspec(colwidth=1) for _ in header)

    def row(cells):
        r = nodes.row()
        for c in cells:
            entry = nodes.entry()
            entry += nodes.paragraph(text=c)
            r += entry
        return r

    head = nodes.thead()
    head += row(header)
    body = nodes.tbody()
    body.extend(row(r) for r in rows)
    group += head
    group += body
    return table


def _cells(records, columns, where, digits):
    """One row of formatted cells per record. A column absent from some records is a dash there; a
    column absent from all of them is an error (a renamed field must not leave a blank column)."""
    missing = object()

    def get(record, c):
        try:
            return _get(record, c, where)
        except ValueError:
            return missing

    table = [[get(r, c) for c in columns] for r in records]
    for j, c in enumerate(columns):
        if records and all(row[j] is missing for row in table):
            raise ValueError(f"{where}: no record has the field {c!r}")
    return [[_format(None if v is missing else v, digits) for v in row] for row in table]


def _names(text):
    return [c.strip() for c in (text or "").split(",") if c.strip()]


class BenchTable(SphinxDirective):
    """``.. bench-table:: FILE.json`` with ``:columns:`` (and ``:rows:``) or ``:fields:``."""

    required_arguments = 1
    option_spec = {"rows": directives.unchanged, "columns": directives.unchanged,
                   "fields": directives.unchanged, "digits": directives.nonnegative_int,
                   "key": directives.unchanged}

    def run(self):
        name = self.arguments[0]
        where = f"bench-table {name}"
        try:
            return self._run(name, where, _load(self.env, name))
        except ValueError as exc:
            raise self.error(str(exc)) from None

    def _run(self, name, where, data):
        digits = self.options.get("digits", 4)
        if "fields" in self.options:
            rows = [[f, _format(_get(data, f, where), digits)] for f in _names(self.options["fields"])]
            table = _table(["field", "value"], rows)
        else:
            columns = _names(self.options.get("columns"))
            if not columns:
                raise ValueError(f"{where}: give :columns: or :fields:")
            items = _get(data, self.options.get("rows", ""), where)
            if isinstance(items, dict):
                key = self.options.get("key", "")
                header = [key] + columns
                rows = [[str(k)] + cells for k, cells in zip(items, _cells(list(items.values()), columns, where,
                                                                             digits))]
            elif isinstance(items, list):
                header = columns
                rows = _cells(items, columns, where, digits)
            else:
                raise ValueError(f"{where}: :rows: must name a list or a mapping")
            table = _table(header, rows)
        caption = nodes.paragraph(classes=["bench-source"])
        caption += nodes.emphasis(text=f"from bench/results/{name}")
        return [table, caption]


class BenchValue(SphinxRole):
    """``:bench:`FILE.json:dotted.field``` (optionally ``:DIGITS`` after it): one number."""

    def run(self):
        parts = self.text.split(":")
        if len(parts) not in (2, 3):
            msg = self.inliner.reporter.error(f":bench: needs FILE.json:field[:digits]; got {self.text!r}",
                                              line=self.lineno)
            return [self.inliner.problematic(self.rawtext, self.rawtext, msg)], [msg]
        digits = int(parts[2]) if len(parts) == 3 else 3
        try:
            value = _get(_load(self.env, parts[0]), parts[1], f":bench: {parts[0]}")
        except ValueError as exc:
            msg = self.inliner.reporter.error(str(exc), line=self.lineno)
            return [self.inliner.problematic(self.rawtext, self.rawtext, msg)], [msg]
        return [nodes.Text(_format(value, digits))], []


def setup(app):
    app.add_config_value("bench_results_dir", "", "env")
    app.add_directive("bench-table", BenchTable)
    app.add_role("bench", BenchValue())
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
