"""The shared fixtures of tests/conftest.py fail loudly: a broken install is an error, never a skip."""
import sys

import pytest


def test_the_smc_fixture_fails_when_lowrank_smc_does_not_import(request, monkeypatch):
    monkeypatch.setitem(sys.modules, "lowrank.smc", None)         # "import lowrank.smc" now raises
    try:
        request.getfixturevalue("smc")
    except ImportError:
        return
    except BaseException as exc:           # pytest's Skipped is a BaseException
        pytest.fail(f"the smc fixture raised {type(exc).__name__} instead of ImportError")
    pytest.fail("the smc fixture returned a module that cannot be imported")
