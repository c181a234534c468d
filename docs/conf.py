"""Sphinx configuration of the lowrank documentation.

Build: ``pip install ".[docs]" && python -m sphinx -W -b html docs docs/_build/html``.
The example gallery (``examples/plot_*.py``) is executed during the build at small sizes
(``LOWRANK_DOCS_FAST=1``, set here unless already set); the benchmark tables are read from
``bench/results/*.json`` by ``_ext/bench_tables.py``.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
# ``python -m sphinx`` run from the repository root imports this checkout's lowrank (the current
# folder is first on sys.path), as ``python -m pytest`` does, so the docs build finds the kernels the
# tests compiled in lowrank/kernels/__pycache__. From elsewhere: an installed lowrank, else this one.
sys.path.append(ROOT)
sys.path.insert(0, os.path.join(HERE, "_ext"))
os.environ.setdefault("LOWRANK_DOCS_FAST", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import lowrank  # noqa: E402

project = "lowrank"
author = "the lowrank developers"
copyright = "2024-2026, the lowrank developers"
release = lowrank.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
    "bench_tables",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "auto_examples/*.ipynb", "auto_examples/*.py",
                    "auto_examples/*.zip", "auto_examples/*.json", "auto_examples/*.md5", "**/*.codeobj.json"]
templates_path = ["_templates"]

# -- API reference ---------------------------------------------------------------------------------
autosummary_generate = True
autosummary_imported_members = True
autodoc_default_options = {"members": False, "inherited-members": False}
autodoc_typehints = "none"
numpydoc_show_class_members = False        # the class template lists the methods itself
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_validation_checks = set()

# -- Markdown pages (the user guide, design notes, experiment logs) --------------------------------
myst_enable_extensions = ["dollarmath", "colon_fence", "deflist"]
myst_heading_anchors = 3
suppress_warnings = ["myst.header"]        # the design notes start at level-2 sections (§1, §2, ...)

# -- Gallery ---------------------------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": os.path.join(ROOT, "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",         # run every plot_*.py
    "ignore_pattern": r"make_teacher_nwb\.py|__init__\.py",   # a helper script, not a tutorial
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "remove_config_comments": True,
    "show_memory": False,
    "image_scrapers": ("matplotlib",),
    "reset_modules": ("matplotlib",),
    "abort_on_example_error": True,
    "min_reported_time": 0,
    "write_computation_times": False,   # its page loads jQuery and DataTables from CDNs
}

# -- HTML --------------------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"lowrank {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_static_path = []
html_favicon = "_static/favicon.svg"       # else browsers ask the server for /favicon.ico (a 404)
html_context = {"default_mode": "light"}   # a fresh browser has no stored theme mode to read
html_show_sourcelink = False
html_copy_source = False

bench_results_dir = os.path.join(ROOT, "bench", "results")

# -- The API reference pages, one per public module, listing its __all__ ------------------------------
API_MODULES = ["lowrank", "lowrank.smc", "lowrank.metrics", "lowrank.data", "lowrank.teachers",
               "lowrank.plotting", "lowrank.dynamics"]


def _api_page(modname):
    """The reStructuredText of one module's reference page: its docstring, then every name in its
    ``__all__`` under Classes, Functions, Data (submodules link to their own pages)."""
    import importlib
    import inspect
    mod = importlib.import_module(modname)
    groups = {"Classes": [], "Functions": [], "Data": [], "Modules": []}
    for name in mod.__all__:
        obj = getattr(mod, name)
        if inspect.ismodule(obj):
            groups["Modules"].append(obj.__name__)
        elif inspect.isclass(obj):
            groups["Classes"].append(name)
        elif callable(obj):
            groups["Functions"].append(name)
        elif not name.startswith("__"):
            groups["Data"].append(name)
    title = f"``{modname}``"
    lines = [title, "=" * len(title), "", f".. automodule:: {modname}", "   :no-members:", "",
             f".. currentmodule:: {modname}", ""]
    templates = {"Classes": "class.rst", "Functions": "function.rst", "Data": "data.rst"}
    for group, names in groups.items():
        if not names:
            continue
        lines += [group, "-" * len(group), ""]
        if group == "Modules":
            lines += [f"- :doc:`{n}`" if n in API_MODULES else f"- ``{n}``" for n in names] + [""]
            continue
        lines += [".. autosummary::", "   :toctree: generated", f"   :template: {templates[group]}", "",
                  *[f"   {n}" for n in names], ""]
    return "\n".join(lines)


def _write_api_pages():
    folder = os.path.join(HERE, "api")
    os.makedirs(folder, exist_ok=True)
    for modname in API_MODULES:
        path = os.path.join(folder, f"{modname}.rst")
        text = _api_page(modname)
        old = open(path).read() if os.path.exists(path) else None
        if old != text:                   # rewritten only when changed: Sphinx rebuilds what changed
            with open(path, "w") as fh:
                fh.write(text)


_write_api_pages()
