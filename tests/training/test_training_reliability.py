"""The training loop when things go wrong: divergence, degeneracy, interruption, compile time."""
from __future__ import annotations

import io

import numpy as np
import pytest

import lowrank
from lowrank.model.params import check_params, to_flat
from lowrank.training import fit
from lowrank.training.checkpoint import load_checkpoint, save_checkpoint
from lowrank.training.progress import Progress

import lowrank.smc  # noqa: E402,F401  (a failed import fails these tests; it never skips them)

# init="random": these tests compare with the seeded parameters, the start of a fit from them.
KW = dict(window=15, batch_size=4, heldout=0.25, eval_every=3, seed=7, verbose=0, n_particles=5, init="random")
# A learning rate that grows from harmless to divergent within ten updates.
DIVERGING = dict(n_iter=10, lr=1e-3, lr_end=1e3)


def _data(n=12, T=30, seed=1):
    teacher = lowrank.LowRankRNN(10, 2, 3, activation="tanh", seed=seed)
    return teacher.sample(n_trials=n, n_steps=T, seed=seed + 1).y


def _model():
    return lowrank.LowRankRNN(10, 2, 3, activation="tanh", seed=0)


def _assert_params_equal(a, b, rtol=0.0):
    for k, x, z in zip(a._fields, a, b):
        np.testing.assert_allclose(x, z, rtol=rtol, atol=0, err_msg=k)


def _recorder():
    seen = {}

    def cb(i, model, info):
        seen[i + 1] = model.params                # the parameters after update i
    return seen, cb


# ---------------------------------------------------------------------------------------------
# A divergent update is never kept
# ---------------------------------------------------------------------------------------------

def test_divergent_first_update_raises_and_leaves_a_good_checkpoint(tmp_path):
    y, path = _data(), tmp_path / "ck.npz"
    fit(_model(), y, n_iter=2, lr=1e-2, checkpoint=path, **KW)
    before = path.read_bytes()
    m = _model()
    start = m.params
    with pytest.raises(FloatingPointError, match="after the update at iteration 0") as err:
        fit(m, y, n_iter=6, lr=1e3, checkpoint=path, checkpoint_every=1, **KW)
    e = err.value
    assert e.iteration == 0 and len(e.history.train_elbo) == 0 and e.history.stop_reason == "nonfinite"
    assert np.isfinite(e.history.final_val_elbo)            # the kept parameters, evaluated
    _assert_params_equal(m.params, start, rtol=1e-12)      # the parameters from before the update
    _assert_params_equal(e.best_params, start, rtol=1e-12)  # no update kept: the best is the start
    assert path.read_bytes() == before                     # the good checkpoint is untouched
    lowrank.LowRankRNN.load(path)


def test_divergence_after_some_updates_raises_with_the_best_parameters(tmp_path):
    y, path = _data(), tmp_path / "ck.npz"
    seen, cb = _recorder()
    m = _model()
    with pytest.raises(FloatingPointError, match="diverged") as err:
        fit(m, y, checkpoint=path, checkpoint_every=1, callback=cb, **DIVERGING, **KW)
    e = err.value
    i = e.iteration
    assert 1 <= i < 10 and len(e.history.train_elbo) == i and np.all(np.isfinite(e.history.train_elbo))
    _assert_params_equal(m.params, seen[i])                # the last update kept
    check_params(e.best_params, m.options)                 # finite and valid
    evaluated = np.append(e.history.val_elbo, e.history.final_val_elbo)
    best = int(np.nanargmax(evaluated))
    _assert_params_equal(e.best_params, seen[best] if best else _model().params, rtol=1e-12)
    # The last checkpoint is the state after update i - 1, loadable and exact.
    file, arrays, meta = load_checkpoint(path)
    assert meta["iteration"] == i
    _assert_params_equal(file.params, seen[i])


def test_on_nonfinite_stop_returns_the_best_parameters(tmp_path):
    y, path = _data(), tmp_path / "ck.npz"
    with pytest.raises(FloatingPointError) as err:
        fit(_model(), y, **DIVERGING, **KW)
    seen, cb = _recorder()
    m = _model()
    res = fit(m, y, on_nonfinite="stop", checkpoint=path, callback=cb, **DIVERGING, **KW)
    assert res.stop_reason == res.history.stop_reason == "nonfinite"
    assert res.n_iter == err.value.iteration == len(res.history.train_elbo)
    assert res.best_source == "heldout"
    evaluated = np.append(res.history.val_elbo, res.history.final_val_elbo)
    assert res.best_elbo == np.nanmax(evaluated) and res.best_iteration == int(np.nanargmax(evaluated))
    _assert_params_equal(m.params, err.value.best_params)
    _assert_params_equal(m.params, seen[res.best_iteration] if res.best_iteration else _model().params, 1e-12)
    file, arrays, meta = load_checkpoint(path)               # the state before the failed update
    assert meta["iteration"] == res.n_iter and meta["stop_reason"] == "nonfinite"


def test_degenerate_smc_carries_iteration_history_and_best(monkeypatch):
    import lowrank.inference.elbo as smc
    real, calls = smc.elbo, {"n": 0}

    def dies(*a, **k):
        if k.get("grad"):
            calls["n"] += 1
            if calls["n"] == 3:
                raise smc.SMCDegeneracyError("all particles died")
        return real(*a, **k)
    monkeypatch.setattr(smc, "elbo", dies)
    with pytest.raises(lowrank.FitError) as err:
        fit(_model(), _data(), **dict(KW, heldout=None, n_iter=6))
    e = err.value
    assert e.iteration == 2 and len(e.history.train_elbo) == 2 and e.history.stop_reason == "nonfinite"
    assert type(e.best_params).__name__ == "Params"
    assert "at iteration 2" in str(e)
    assert isinstance(e.cause, smc.SMCDegeneracyError) and e.__cause__ is e.cause


def test_on_nonfinite_is_checked():
    with pytest.raises(ValueError, match="on_nonfinite must be one of"):
        fit(_model(), _data(), on_nonfinite="ignore", **KW)
    with pytest.raises(TypeError, match="on_nonfinite"):
        fit(_model(), _data(), on_nonfinite=True, **KW)


def test_checkpoint_is_never_written_with_nonfinite_parameters(tmp_path):
    m, path = _model(), tmp_path / "ck.npz"
    theta = to_flat(m.params, m.options)
    save_checkpoint(path, m.options, theta, {}, {"iteration": 0})
    before = path.read_bytes()
    for bad in (np.inf, np.nan, 1e4):                       # 1e4: exp() overflows in the derived parameters
        broken = theta.copy()
        broken[-1] = bad
        with pytest.raises(FloatingPointError, match="not writing checkpoint"):
            save_checkpoint(path, m.options, broken, {}, {"iteration": 1})
        assert path.read_bytes() == before
    with pytest.raises(FloatingPointError, match="not writing checkpoint"):
        save_checkpoint(path, m.options, theta, {"ckpt/best_theta": np.full_like(theta, np.nan)}, {})
    assert path.read_bytes() == before


# ---------------------------------------------------------------------------------------------
# Ctrl-C before the first held-out evaluation
# ---------------------------------------------------------------------------------------------

def test_interrupt_before_an_evaluation_evaluates_the_current_parameters():
    opts = dict(n_units=8, rank=2, n_obs=4, activation="identity")
    teacher = lowrank.LowRankRNN(**opts, seed=3)
    p = teacher.params
    teacher.params = p._replace(m=p.m * 2.0, sigma=np.full(4, 0.3), L_z=0.3 * np.eye(2))
    y = teacher.sample(n_trials=30, n_steps=40, seed=4).y
    seen, cb = _recorder()

    def interrupt(i, model, info):
        cb(i, model, info)
        if i == 19:
            raise KeyboardInterrupt

    student = lowrank.LowRankRNN(**opts, seed=5)
    res = fit(student, y, window=20, batch_size=8, n_iter=200, heldout=0.2, eval_every=50, lr=3e-2, seed=0,
              verbose=0, callback=interrupt)
    assert res.stop_reason == "interrupted" and res.n_iter == 20
    h = res.history
    assert np.isfinite(h.val_elbo[0]) and np.all(np.isnan(h.val_elbo[1:]))
    assert h.final_val_elbo > h.val_elbo[0]                  # trained beats untrained
    assert res.best_iteration == 20 and res.best_elbo == h.final_val_elbo
    _assert_params_equal(student.params, seen[20])


# ---------------------------------------------------------------------------------------------
# Compile time is visible, and left out of the rate
# ---------------------------------------------------------------------------------------------

def test_first_progress_line_says_the_kernels_compile(capsys):
    fit(_model(), _data(), **dict(KW, n_iter=4, verbose=1))
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("compiling kernels")
    first = next(line for line in lines if line.startswith("iter 1/4"))
    assert "ETA" not in first and "first iteration" in first
    assert lines[-1].startswith("iter 4/4") and "it/s" in lines[-1]


def test_rate_and_eta_leave_out_the_first_iteration():
    now = [0.0]
    stream = io.StringIO()
    p = Progress(100, 0, verbose=1, interval=0.0, stream=stream, clock=lambda: now[0])
    p.begin()
    now[0] = 60.0                                           # the first iteration compiles for a minute
    p.update(1, -1.0, float("nan"), 1e-3)
    for i in range(2, 12):                                  # then 10 iterations per second
        now[0] += 0.1
        p.update(i, -1.0, float("nan"), 1e-3)
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("compiling kernels") and "first iteration 60.0 s" in lines[1]
    assert lines[-1].endswith("10.0 it/s  ETA 0:00:09")     # 89 iterations left at 10 it/s
