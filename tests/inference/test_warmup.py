"""The first compile runs in child processes (lowrank.inference.warmup), so that the first process
after an install computes the same numbers as every later one, which loads the cached kernels."""
import os
import subprocess
import sys

import numpy as np
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
    monkeypatch.setattr(warmup, "_ready", set())
    monkeypatch.setattr(warmup, "_child", False)
    monkeypatch.setattr(warmup, "cache_folder", lambda: str(tmp_path))
    monkeypatch.setattr(warmup, "sources_digest", lambda: "abc")
    return tmp_path


def test_children_run_once_per_part_and_leave_markers(fresh_state, monkeypatch):
    calls = []
    monkeypatch.setattr(warmup, "_compile_in_children", lambda parts: calls.append(list(parts)) or list(parts))
    (fresh_state / "lowrank_prepared.old.filter").write_text("old\n")
    assert warmup.ensure_cached(("filter", "gradient")) is True
    assert warmup.ensure_cached(("filter", "gradient")) is False          # once per process
    assert warmup.ensure_cached(("filter",)) is False
    assert calls == [["filter", "gradient"]]
    assert sorted(os.listdir(fresh_state)) == ["lowrank_prepared.abc.filter", "lowrank_prepared.abc.gradient"]
    assert warmup.missing_parts() == ("encoder", "encoder_gradient", "fixed_points")
    monkeypatch.setattr(warmup, "_ready", set())
    assert warmup.ensure_cached(("filter", "gradient")) is False and len(calls) == 1   # the markers: nothing to do
    assert warmup.ensure_cached(("filter", "encoder")) is True and calls[-1] == ["encoder"]   # only what is missing


def test_a_call_waits_for_the_children_compile_soon_started(fresh_state, monkeypatch):
    import threading

    calls, started, release = [], threading.Event(), threading.Event()

    def children(parts):
        calls.append(list(parts))
        started.set()
        assert release.wait(600)
        return list(parts)

    monkeypatch.setattr(warmup, "_compile_in_children", children)
    warmup.compile_soon(("filter", "gradient", "fixed_points"))       # returns at once
    assert started.wait(600)                                         # the background thread has begun
    assert calls == [["filter", "gradient", "fixed_points"]]
    returned = []
    waiter = threading.Thread(target=lambda: returned.append(warmup.ensure_cached(("filter", "gradient"))))
    waiter.start()
    waiter.join(0.3)
    assert waiter.is_alive() and not returned                      # waits for the children under way
    release.set()
    waiter.join(600)
    assert returned == [False] and len(calls) == 1                  # and does not compile them again
    assert sorted(os.listdir(fresh_state)) == ["lowrank_prepared.abc.filter", "lowrank_prepared.abc.fixed_points",
                                               "lowrank_prepared.abc.gradient"]


def test_the_fixed_point_part_compiles_what_the_enumerator_calls(tmp_path):
    """A child compiling the 'fixed_points' part leaves the enumerator's kernels in the cache, so that
    the process that later enumerates compiles nothing."""
    code = ("from lowrank.inference.compile_parts import compile_part; compile_part('fixed_points')")
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True)
    probe = ("import numpy as np\n"
             "from numba.core import event\n"
             "seen = []\n"
             "class L(event.Listener):\n"
             "    def on_start(self, ev): seen.append(ev.data['dispatcher'].py_func.__name__)\n"
             "    def on_end(self, ev): pass\n"
             "event.register('numba:compile', L())\n"
             "from lowrank.inference import warmup; warmup.mark_done()\n"
             "from lowrank.fixed_points import find_fixed_points\n"
             "rng = np.random.default_rng(1)\n"
             "M, N = rng.standard_normal((2, 6, 2))\n"
             "fp = find_fixed_points(M, N, np.zeros(6), np.full(2, 0.5), method='enumerate')\n"
             "print(len(fp.z), sorted(set(seen)))\n")
    out = subprocess.run([sys.executable, "-c", probe], env=env, check=True, capture_output=True, text=True)
    n_points, compiled = out.stdout.strip().split(" ", 1)
    assert int(n_points) >= 1
    assert compiled == "[]"


def test_a_failed_child_leaves_no_marker(fresh_state, monkeypatch):
    monkeypatch.setattr(warmup, "_compile_in_children", lambda parts: [p for p in parts if p != "gradient"])
    assert warmup.ensure_cached(("filter", "gradient")) is True
    assert os.listdir(fresh_state) == ["lowrank_prepared.abc.filter"]


def test_nothing_happens_with_the_cache_off(monkeypatch):
    monkeypatch.setattr(warmup, "_ready", set())
    monkeypatch.setattr(warmup, "_child", False)
    monkeypatch.setattr(warmup, "cache_folder", lambda: None)
    monkeypatch.setattr(warmup, "_compile_in_children", lambda parts: pytest.fail("no children without a cache"))
    assert warmup.ensure_cached() is False


def test_a_call_needs_only_its_parts():
    assert warmup.needed_parts(grad=False) == ("filter",)
    assert warmup.needed_parts(grad=True) == ("filter", "gradient")
    assert warmup.needed_parts(grad=True, encoder=True) == ("filter", "gradient", "encoder", "encoder_gradient")
    assert warmup.needed_parts(grad=False, encoder=True) == ("filter", "encoder")


def test_a_gaussian_fit_asks_for_no_encoder_kernels(monkeypatch):
    from lowrank import smc
    from lowrank.model import ModelOptions, init_params
    asked = []
    monkeypatch.setattr("lowrank.inference.elbo.ensure_cached", lambda parts: asked.append(parts))
    o = ModelOptions(n_units=4, rank=2, n_obs=3, activation="relu", readout="units")
    smc.elbo(init_params(o, 0), np.zeros((1, 5, 3)), options=o, n_particles=4, grad=True)
    smc.elbo(init_params(o, 0), np.zeros((1, 5, 3)), options=o, n_particles=4, grad=False)
    assert asked == [("filter", "gradient"), ("filter",)]


@pytest.mark.slow
def test_children_report_each_part_and_kernel(fresh_state, monkeypatch):
    """The real children, on an empty cache: each names the kernels it compiles, the reporter hears
    every part start and end, and a failed part is said to have failed. About 20 s (the encoder network)."""
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(fresh_state))
    lines = []
    previous = warmup.report_to(lambda line, final: lines.append((line, final)))
    try:
        done = warmup._compile_in_children(["encoder", "no_such_part"])
    finally:
        warmup.report_to(previous)
    assert done == ["encoder"]
    finals = [line for line, final in lines if final]
    assert len(finals) == 4 and "2/2 parts done" in finals[-1]
    assert any("no_such_part failed" in line for line in finals)
    assert any("forward_sequences" in line for line, final in lines)


def test_marker_is_named_for_the_sources_and_the_part(tmp_path):
    assert warmup._marker(str(tmp_path), "d1", "filter") != warmup._marker(str(tmp_path), "d2", "filter")
    assert warmup._marker(str(tmp_path), "d1", "filter") != warmup._marker(str(tmp_path), "d1", "gradient")
    digest = warmup.sources_digest()
    assert len(digest) == 64 and int(digest, 16) >= 0              # a SHA-256 hex digest
