"""The first compile runs in child processes (lowrank.inference.warmup), so that the first process
after an install computes the same numbers as every later one, which loads the cached kernels."""
import os
import subprocess
import sys

import pytest

from lowrank.inference import warmup

SCRIPT = r"""
import hashlib, numpy as np
from lowrank import smc
from lowrank.model import ModelOptions, init_params
from lowrank.model.encoder import EncoderOptions
o = ModelOptions(n_units=12, rank=2, n_obs=6, activation="relu", readout="units", likelihood="poisson",
                 encoder=EncoderOptions(kernel_sizes=(5, 1), channels=(8,)))
p = init_params(o, 0)
y = np.random.default_rng(0).poisson(0.5, (3, 30, 6)).astype(float)
h = hashlib.sha256()
for prop in ("bootstrap", "encoder"):
    r = smc.elbo(p, y, options=o, n_particles=16, proposal=prop, seed=4)
    h.update(r.elbo.tobytes() + r.grad_flat.tobytes())
print(h.hexdigest())
"""


def _run(cache_dir, **env):
    e = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir), **env)
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=e, capture_output=True, text=True, check=True)
    return out.stdout.strip().splitlines()[-1]


@pytest.mark.slow
def test_a_cold_cache_gives_the_numbers_of_a_warm_one(tmp_path):
    """Cold compile (children fill an empty cache), then a process that loads it: the same bits.
    About a minute: the whole compile of the SMC and encoder kernels."""
    first = _run(tmp_path)
    assert any(f.startswith("lowrank_prepared.") for f in os.listdir(tmp_path))
    assert _run(tmp_path) == first


@pytest.fixture
def fresh_state(monkeypatch, tmp_path):
    monkeypatch.setattr(warmup, "_done", False)
    monkeypatch.setattr(warmup, "cache_folder", lambda: str(tmp_path))
    monkeypatch.setattr(warmup, "sources_digest", lambda: "abc")
    return tmp_path


def test_children_run_once_and_leave_a_marker(fresh_state, monkeypatch):
    calls = []
    monkeypatch.setattr(warmup, "_compile_in_children", lambda: calls.append(1) or True)
    (fresh_state / "lowrank_prepared.old").write_text("old\n")
    assert warmup.ensure_cached() is True
    assert warmup.ensure_cached() is False                       # once per process
    assert calls == [1]
    assert sorted(os.listdir(fresh_state)) == ["lowrank_prepared.abc"]
    monkeypatch.setattr(warmup, "_done", False)
    assert warmup.ensure_cached() is False and calls == [1]       # the marker: nothing to do


def test_a_failed_child_leaves_no_marker(fresh_state, monkeypatch):
    monkeypatch.setattr(warmup, "_compile_in_children", lambda: False)
    assert warmup.ensure_cached() is False
    assert os.listdir(fresh_state) == []


def test_nothing_happens_with_the_cache_off(monkeypatch):
    monkeypatch.setattr(warmup, "_done", False)
    monkeypatch.setattr(warmup, "cache_folder", lambda: None)
    monkeypatch.setattr(warmup, "_compile_in_children", lambda: pytest.fail("no children without a cache"))
    assert warmup.ensure_cached() is False


def test_marker_is_named_for_the_sources(tmp_path):
    assert warmup._marker(str(tmp_path), "d1") != warmup._marker(str(tmp_path), "d2")
    digest = warmup.sources_digest()
    assert len(digest) == 64 and int(digest, 16) >= 0              # a SHA-256 hex digest
