"""The package's shape: imports only go down the layers, no cycles, small functions
and kernels with few arguments (docs/design.md §4)."""
import ast
import pathlib

import lowrank

ROOT = pathlib.Path(lowrank.__file__).parent

# Lowest first. A module may import from its own layer (without cycles) or any layer below.
LAYERS = [
    ("base", ["lowrank._version", "lowrank.config", "lowrank._checks", "lowrank._files", "lowrank._summary"]),
    ("model", ["lowrank.model", "lowrank.data", "lowrank.metrics"]),
    ("kernels", ["lowrank.kernels"]),
    ("inference", ["lowrank.inference", "lowrank.fixed_points", "lowrank.io"]),
    ("training", ["lowrank.training", "lowrank.options"]),
    ("analysis", ["lowrank.rnn", "lowrank.smc", "lowrank.teachers", "lowrank.analysis", "lowrank.dynamics",
                  "lowrank.plotting"]),
    ("cli", ["lowrank.cli", "lowrank.workflows", "lowrank.__main__", "lowrank"]),
]


# ---- the checker: a package's import graph, its upward edges and its cycles

def modules(root):
    """``(dotted name, path, is_package)`` of every module of the package at ``root``."""
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        if is_pkg:
            parts = parts[:-1]
        yield ".".join(parts), path, is_pkg


def layer_of(module, layers=LAYERS):
    """Rank of ``module``'s layer (the longest matching prefix), or None."""
    best = None
    for rank, (_, prefixes) in enumerate(layers):
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and (best is None or len(p) > best[1]):
                best = (rank, len(p))
    return None if best is None else best[0]


def imports_of(module, path, is_pkg, known):
    """Every module of the package imported anywhere in the file (function-level imports too);
    ``known``: the package's module names."""
    top = module.split(".")[0]
    package = module if is_pkg else module.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.split(".")[0] == top)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != top:
                continue
            for a in node.names:      # "from . import x" imports the submodule x
                sub = f"{target}.{a.name}"
                out.add(sub if sub in known else target)
    return out


def import_graph(root):
    """``{module: modules it imports}`` of the package at ``root``."""
    found = list(modules(root))
    known = {m for m, _, _ in found}
    return {m: imports_of(m, p, pkg, known) for m, p, pkg in found}


def upward_imports(graph, layers=LAYERS):
    """Edges from a module to one of a higher layer (the package's own ``__init__`` excepted)."""
    top = min(graph, key=len)
    upward = []
    for m, targets in sorted(graph.items()):
        for t in sorted(targets):
            if t in graph and m != top and layer_of(t, layers) > layer_of(m, layers):
                upward.append(f"{m} ({layers[layer_of(m, layers)][0]}) imports {t} ({layers[layer_of(t, layers)][0]})")
    return upward


def import_cycles(graph):
    """Cycles of the graph, as "a -> b -> a". A package's __init__ re-exporting its submodules is not
    a cycle of the design: package -> own-submodule edges are dropped, then a depth-first search."""
    edges = {m: {t for t in ts if t in graph and not t.startswith(m + ".")} for m, ts in graph.items()}
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
    return cycles


GRAPH = import_graph(ROOT)


def test_every_module_has_a_layer():
    assert [m for m in GRAPH if layer_of(m) is None] == []


def test_imports_only_go_down():
    assert upward_imports(GRAPH) == []


def test_no_import_cycles():
    assert import_cycles(GRAPH) == []


def _plant(tmp_path, files):
    """A fake package ``lowrank`` under ``tmp_path`` with ``files`` ({relative path: source})."""
    root = tmp_path / "lowrank"
    for rel, src in {"__init__.py": "", **files}.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(src)
    return root


def test_a_layer_violation_is_caught(tmp_path):
    # The checker itself must be able to fail: a model-layer module that imports the training
    # layer (a function-level, relative import) in a planted package, and a clean one beside it.
    root = _plant(tmp_path, {
        "model/__init__.py": "",
        "model/params.py": "import numpy as np\n\n\ndef f():\n    from ..training.fit import fit\n    return fit\n",
        "model/options.py": "from .params import f\n",
        "training/__init__.py": "",
        "training/fit.py": "from lowrank.model.params import f\n\n\ndef fit():\n    return f\n",
    })
    graph = import_graph(root)
    assert graph["lowrank.model.params"] == {"lowrank.training.fit"}
    assert upward_imports(graph) == ["lowrank.model.params (model) imports lowrank.training.fit (training)"]
    (root / "model" / "params.py").write_text("import numpy as np\n")
    assert upward_imports(import_graph(root)) == []


def test_a_cycle_is_caught(tmp_path):
    root = _plant(tmp_path, {
        "inference/__init__.py": "from . import a\n",                  # re-export: not a cycle
        "inference/a.py": "from .b import g\n\n\ndef f():\n    return g\n",
        "inference/b.py": "def g():\n    from lowrank.inference import c\n    return c\n",
        "inference/c.py": "from .a import f\n",
    })
    graph = import_graph(root)
    assert upward_imports(graph) == []
    assert import_cycles(graph) == ["lowrank.inference.a -> lowrank.inference.b -> lowrank.inference.c -> "
                                    "lowrank.inference.a"]
    (root / "inference" / "c.py").write_text("X = 1\n")
    assert import_cycles(import_graph(root)) == []


def _functions():
    for m, path, _ in modules(ROOT):
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


def test_test_folders_mirror_the_package():
    tests = pathlib.Path(__file__).parent
    packages = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()}
    modules = {p.stem for p in ROOT.glob("*.py")}
    folders = {p.name for p in tests.iterdir() if p.is_dir() and p.name not in ("reference", "__pycache__")}
    # cuda: lowrank/kernels/cuda; io: lowrank/io.py; docs: the documentation (README, the built site)
    assert folders - packages <= modules | {"cuda", "docs"}
    assert not [p.name for p in tests.glob("test_*.py") if p.stem not in
                ("test_architecture", "test_fixtures", "test_options", "test_docstrings")]   # the rest: their folder
