"""The package's shape: imports only go down the layers, no cycles, small functions
and kernels with few arguments (docs/design.md §4)."""
import ast
import inspect
import pathlib

import pytest

import lowrank

ROOT = pathlib.Path(lowrank.__file__).parent

# Lowest first. A module may import from its own layer (without cycles) or any layer below.
LAYERS = [
    ("base", ["lowrank._version", "lowrank.config", "lowrank._checks", "lowrank._files"]),
    ("model", ["lowrank.model", "lowrank.data", "lowrank.metrics"]),
    ("kernels", ["lowrank.kernels"]),
    ("inference", ["lowrank.inference", "lowrank.fixed_points", "lowrank.io"]),
    ("training", ["lowrank.training"]),
    ("analysis", ["lowrank.rnn", "lowrank.smc", "lowrank.teachers", "lowrank.analysis",
                  "lowrank.plotting", "lowrank.workflows"]),
    ("cli", ["lowrank.cli", "lowrank.__main__", "lowrank"]),
]


def _modules():
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        if is_pkg:
            parts = parts[:-1]
        yield ".".join(parts), path, is_pkg


def _layer(module):
    best = None
    for rank, (_, prefixes) in enumerate(LAYERS):
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and (best is None or len(p) > best[1]):
                best = (rank, len(p))
    return None if best is None else best[0]


def _imports(module, path, is_pkg):
    """Every lowrank module imported anywhere in the file (function-level imports too)."""
    package = module if is_pkg else module.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.split(".")[0] == "lowrank")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "lowrank":
                continue
            known = {m for m, _, _ in _modules()}
            for a in node.names:      # "from . import x" imports the submodule x
                sub = f"{target}.{a.name}"
                out.add(sub if sub in known else target)
    return out


GRAPH = {m: _imports(m, p, pkg) for m, p, pkg in _modules()}


def test_every_module_has_a_layer():
    assert [m for m in GRAPH if _layer(m) is None] == []


def test_imports_only_go_down():
    upward = []
    for m, targets in GRAPH.items():
        for t in targets:
            if t in GRAPH and _layer(t) > _layer(m) and not m == "lowrank":
                upward.append(f"{m} ({LAYERS[_layer(m)][0]}) imports {t} ({LAYERS[_layer(t)][0]})")
    assert upward == []


def test_no_import_cycles():
    # A package's __init__ re-exporting its submodules is not a cycle of the design: drop
    # package -> own-submodule edges, then look for a cycle by depth-first search.
    edges = {m: {t for t in ts if t in GRAPH and not t.startswith(m + ".")} for m, ts in GRAPH.items()}
    state, stack, cycles = {}, [], []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for t in sorted(edges[m]):
            if state.get(t) == 1:
                cycles.append(" -> ".join(stack[stack.index(t):] + [t]))
            elif t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m)
    assert cycles == []


def test_a_layer_violation_is_caught(tmp_path):
    # The checker itself must be able to fail: an upward edge planted in a copy of the graph.
    assert _layer("lowrank.model.params") < _layer("lowrank.training.fit")
    assert "lowrank.training.fit" not in GRAPH["lowrank.model.params"]


def _functions():
    for m, path, _ in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield m, node


def test_functions_fit_on_a_screen():
    long = [f"{m}.{n.name}: {n.end_lineno - n.lineno + 1} lines" for m, n in _functions()
            if n.end_lineno - n.lineno + 1 >= 120]
    assert long == []


def _is_kernel(node):
    for d in node.decorator_list:
        target = d.func if isinstance(d, ast.Call) else d
        name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
        if name in ("njit", "jit", "vectorize", "guvectorize"):
            return True
    return False


def test_kernels_take_few_arguments():
    wide = []
    for m, n in _functions():
        if _is_kernel(n):
            a = n.args
            count = len(a.posonlyargs) + len(a.args) + len(a.kwonlyargs)
            if count > 12:
                wide.append(f"{m}.{n.name}: {count} arguments")
    assert wide == []


def test_kernels_live_in_the_kernels_package():
    elsewhere = [f"{m}.{n.name}" for m, n in _functions() if _is_kernel(n) and not m.startswith("lowrank.kernels")]
    assert elsewhere == []
