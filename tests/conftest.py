"""Shared test fixtures.

The random small models come from ``tests/factories.py`` (``random_params``,
``random_inputs``, ``make_options``). Test modules reach them through the
factory fixtures (``make_model``, ``make_inputs``, ``smc``) or ``from
factories import ...``, never ``from conftest import``: tests/cuda has a
conftest.py of its own, and the two share the module name.
"""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest

# The reference oracle lives in tests/reference; make it importable whether or
# not tests/ is a package.
_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from factories import make_options, random_inputs, random_params  # noqa: E402,F401


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes more than ~20 s; deselect with -m 'not slow'")


@pytest.fixture
def make_model():
    """Factory fixture: ``make_model(opts, seed) -> Params``."""
    return lambda opts, seed=0, **kw: random_params(opts, seed, **kw)


@pytest.fixture
def make_inputs():
    """Factory fixture: ``make_inputs(opts, n_seq, T, seed) -> (n_seq, T, U) or None``."""
    return random_inputs


@pytest.fixture
def smc():
    """The ``lowrank.smc`` module. A failed import is an error of the tests that use it, never a
    skip: the SMC kernels are the library's core, and a broken install must not pass quietly."""
    import lowrank.smc
    return lowrank.smc


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture
def hide_matplotlib(monkeypatch):
    """Make every import of matplotlib fail, as on an install without the ``plot`` extra."""
    import builtins
    real_import = builtins.__import__

    def fake(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake)
