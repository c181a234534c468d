"""Every public function and class (the names in ``__all__`` of the documented modules) has a
numpy-style docstring with Parameters, Returns (functions) and Examples sections, and its examples
run and print what they say (doctest)."""
import doctest
import importlib
import inspect
import re

import numpy as np
import pytest

# The modules of the API reference (docs/conf.py, API_MODULES).
MODULES = ["lowrank", "lowrank.smc", "lowrank.metrics", "lowrank.data", "lowrank.teachers", "lowrank.plotting",
           "lowrank.dynamics"]

# Classes whose constructor takes nothing of their own (an exception's message only): no Parameters.
NO_PARAMETERS = {"lowrank.smc.SMCDegeneracyError", "lowrank.smc.CUDAUnavailableError"}


def _public():
    """``(qualified name, object)`` of every function and class in the modules' ``__all__``."""
    out = {}
    for modname in MODULES:
        mod = importlib.import_module(modname)
        for name in mod.__all__:
            obj = getattr(mod, name)
            if inspect.isclass(obj) or inspect.isfunction(obj):
                out[f"{modname}.{name}"] = obj
    return sorted(out.items())


PUBLIC = _public()


def sections(doc):
    """The numpy-style section titles of a docstring (a title line underlined with dashes)."""
    return set(re.findall(r"^\s*([A-Z][A-Za-z ]+)\n\s*-{3,}\s*$", doc or "", re.M))


def missing_sections(qualname, obj):
    doc = inspect.getdoc(obj) or ""
    want = ["Examples"]
    if inspect.isclass(obj):
        if qualname not in NO_PARAMETERS:
            want.append("Parameters")
    else:
        want += ["Parameters", "Returns"]
    return [s for s in want if s not in sections(doc)]


def test_the_checker_sees_missing_sections():
    def documented(x):
        """One line.

        Parameters
        ----------
        x : int

        Returns
        -------
        int

        Examples
        --------
        >>> documented(1)
        1
        """
        return x

    def bare(x):
        """One line, no sections."""
        return x

    class Thing:
        """A class with only attributes.

        Attributes
        ----------
        a : int
        """

    assert missing_sections("documented", documented) == []
    assert missing_sections("bare", bare) == ["Examples", "Parameters", "Returns"]
    assert missing_sections("Thing", Thing) == ["Examples", "Parameters"]


def test_every_module_declares_its_public_names():
    for modname in MODULES:
        mod = importlib.import_module(modname)
        assert isinstance(getattr(mod, "__all__", None), list), f"{modname} has no __all__"
        assert [n for n in mod.__all__ if not hasattr(mod, n)] == [], modname


def test_every_public_name_has_parameters_returns_and_examples():
    bad = {q: m for q, o in PUBLIC if (m := missing_sections(q, o))}
    assert bad == {}, f"docstrings lacking sections: {bad}"
    assert NO_PARAMETERS <= {q for q, _ in PUBLIC}, "an exemption names no public class"


@pytest.mark.parametrize("qualname", [q for q, _ in PUBLIC])
def test_the_examples_run(qualname, tmp_path, monkeypatch):
    obj = dict(PUBLIC)[qualname]
    tests = [t for t in doctest.DocTestFinder(recurse=False).find(obj, qualname, globs={}) if t.examples]
    assert tests, f"{qualname} has no >>> examples"
    pytest.importorskip("matplotlib") if qualname.startswith("lowrank.plotting") else None
    monkeypatch.chdir(tmp_path)                  # examples that write files write them here
    monkeypatch.setenv("MPLBACKEND", "Agg")
    import lowrank
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for t in tests:
        t.globs = {"lowrank": lowrank, "np": np}
        runner.run(t)
    assert runner.failures == 0, f"{runner.failures} example(s) of {qualname} failed (output above)"
