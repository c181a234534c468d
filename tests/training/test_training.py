"""Training machinery: optimisers, data handling, the fit loop, checkpoints and resume."""
from __future__ import annotations

import io
import math
import warnings

import numpy as np
import pytest

import lowrank
from lowrank.model.options import ModelOptions
from lowrank.model.params import from_flat, to_flat
from lowrank.training import fit
from lowrank.data import eval_sequences, prepare_data, split_heldout
from lowrank.training.batches import Batcher
from lowrank.training.history import History
from lowrank.training.progress import Progress
from lowrank.training.unflatten import Unflatten
from lowrank.training.optim import Adam, RAdam, make_optimizer

import lowrank.smc  # noqa: E402,F401  (a failed import fails these tests; it never skips them)


# ---------------------------------------------------------------------------------------------
# Optimisers against scalar references written out from the update equations
# ---------------------------------------------------------------------------------------------

def _adam_scalar(theta, grads, lr, b1=0.9, b2=0.999, eps=1e-8, rectified=False):
    m = v = 0.0
    rho_inf = 2.0 / (1.0 - b2) - 1.0
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        mh = m / (1 - b1 ** t)
        vh = v / (1 - b2 ** t)
        if not rectified:
            theta = theta - lr * mh / (math.sqrt(vh) + eps)
            continue
        rho = rho_inf - 2 * t * b2 ** t / (1 - b2 ** t)
        if rho > 5:
            r = math.sqrt((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho))
            theta = theta - lr * r * mh / (math.sqrt(vh) + eps)
        else:
            theta = theta - lr * mh
    return theta


def test_adam_first_step_by_hand():
    # After one step m̂ = g and v̂ = g², so the step is lr·g/(|g| + eps).
    opt = Adam(2)
    theta = np.array([1.0, -2.0])
    opt.step(theta, np.array([0.5, -4.0]), 0.1)
    np.testing.assert_allclose(theta, [1.0 - 0.1 * 0.5 / (0.5 + 1e-8), -2.0 + 0.1 * 4.0 / (4.0 + 1e-8)], rtol=1e-14)


@pytest.mark.parametrize("name", ["adam", "radam"])
def test_optimizers_match_scalar_reference(name):
    rng = np.random.default_rng(0)
    grads = rng.normal(size=(12, 3))
    opt = make_optimizer(name, 3, beta1=0.8, beta2=0.99)
    theta = np.array([0.3, -1.0, 2.0])
    for g in grads:
        opt.step(theta, g, 0.05)
    want = [_adam_scalar(x0, grads[:, j], 0.05, b1=0.8, b2=0.99, rectified=(name == "radam"))
            for j, x0 in enumerate([0.3, -1.0, 2.0])]
    np.testing.assert_allclose(theta, want, rtol=1e-12, atol=1e-14)


def test_radam_warmup_then_rectified():
    opt = RAdam(1)
    assert opt.rectifier(1) is None and opt.rectifier(5) is None
    r = opt.rectifier(50)
    assert r is not None and 0 < r < 1
    assert opt.rectifier(10**6) == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize("name", ["adam", "radam"])
def test_optimizer_state_roundtrip_is_exact(name, tmp_path):
    rng = np.random.default_rng(1)
    grads = rng.normal(size=(10, 4))
    a, theta_a = make_optimizer(name, 4), np.ones(4)
    for g in grads:
        a.step(theta_a, g, 1e-2)
    b, theta_b = make_optimizer(name, 4), np.ones(4)
    for g in grads[:6]:
        b.step(theta_b, g, 1e-2)
    np.savez(tmp_path / "s.npz", **b.state_dict())
    c = make_optimizer(name, 4)
    with np.load(tmp_path / "s.npz") as f:
        c.load_state_dict(dict(f))
    for g in grads[6:]:
        c.step(theta_b, g, 1e-2)
    assert np.array_equal(theta_a, theta_b)


def test_make_optimizer_rejects_unknown():
    with pytest.raises(ValueError, match="optimizer must be one of"):
        make_optimizer("sgd", 3)


@pytest.mark.parametrize("kw", [dict(), dict(noise="full", init_noise="full", shared_leak=True),
                                dict(readout="units", n_obs=3, likelihood="poisson", n_inputs=2),
                                dict(readout_input=True, n_inputs=1)])
def test_fast_unflatten_is_bit_identical_to_from_flat(kw):
    opts = ModelOptions(**{**dict(n_units=7, rank=3, n_obs=4), **kw})
    theta = np.random.default_rng(2).normal(size=lowrank.model.n_params(opts))
    fast, ref = Unflatten(opts)(theta), from_flat(theta, opts)
    for k, (x, y) in zip(ref._fields, zip(fast, ref)):
        assert np.array_equal(x, np.asarray(y)), k


# ---------------------------------------------------------------------------------------------
# Data layouts, windows, batches
# ---------------------------------------------------------------------------------------------

OPTS = ModelOptions(n_units=10, rank=2, n_obs=3, activation="tanh")


def test_layouts_and_padding():
    rng = np.random.default_rng(0)
    d = prepare_data(rng.normal(size=(5, 7, 3)), None, OPTS)
    assert d.y.shape == (5, 7, 3) and not d.continuous and d.u.shape == (5, 7, 0)
    d = prepare_data(rng.normal(size=(40, 3)), None, OPTS)
    assert d.y.shape == (1, 40, 3) and d.continuous
    d = prepare_data([rng.normal(size=(L, 3)) for L in (4, 9, 6)], None, OPTS)
    assert d.y.shape == (3, 9, 3) and list(d.lengths) == [4, 9, 6]
    assert np.all(d.y[0, 4:] == 0)


def test_windows_are_contiguous_slices_of_the_recording():
    T = 200
    y = np.repeat(np.arange(T, dtype=float)[:, None], 3, axis=1)
    b = Batcher(prepare_data(y, None, OPTS), batch_size=64, window=25)
    batch = b.next_batch(np.random.default_rng(0))
    assert batch.y.shape == (64, 25, 3) and batch.lengths is None
    starts = batch.y[:, 0, 0]
    assert np.all(batch.y[:, :, 0] == starts[:, None] + np.arange(25))
    assert starts.min() >= 0 and starts.max() <= T - 25


def test_windows_skip_short_trials_and_cover_all_starts():
    ys = [np.full((L, 3), i, dtype=float) for i, L in enumerate((5, 30, 12))]
    b = Batcher(prepare_data(ys, None, OPTS), batch_size=2000, window=10)
    assert b.n_skipped == 1 and b.total_starts == 21 + 3
    batch = b.next_batch(np.random.default_rng(0))
    trial = batch.y[:, 0, 0]
    assert set(np.unique(trial)) == {1.0, 2.0}
    # starts are uniform over the 24 valid (trial, start) pairs
    assert abs(np.mean(trial == 2.0) - 3 / 24) < 0.03


def test_whole_trial_epochs_visit_every_trial_once():
    rng = np.random.default_rng(0)
    ys = [np.full((L, 3), i, dtype=float) for i, L in enumerate((4, 9, 6, 8, 5))]
    b = Batcher(prepare_data(ys, None, OPTS), batch_size=2, window=None, drop_last=False)
    assert b.batches_per_epoch() == 3
    seen = []
    for _ in range(3):
        bt = b.next_batch(rng)
        if bt.lengths is not None:                 # padded to the longest trial of the batch
            assert bt.y.shape[1] == bt.lengths.max() and bt.lengths.min() < bt.y.shape[1]
        seen += list(bt.y[:, 0, 0])
    assert sorted(seen) == [0, 1, 2, 3, 4]


def test_heldout_split_continuous_takes_the_end():
    y = np.arange(300, dtype=float)[:, None] * np.ones(3)
    tr, va = split_heldout(prepare_data(y, None, OPTS), 0.1, np.random.default_rng(0), window=20)
    assert tr.y.shape == (1, 270, 3) and va.y[0, 0, 0] == 270
    yv, uv, lv = eval_sequences(va, 20)
    assert yv.shape == (1, 20, 3) and lv is None


# ---------------------------------------------------------------------------------------------
# Bad input: a clear error before any compute
# ---------------------------------------------------------------------------------------------

@pytest.fixture
def no_compute(monkeypatch):
    import lowrank.inference.elbo as smc

    def boom(*a, **k):
        raise AssertionError("the SMC engine ran before the input was rejected")
    monkeypatch.setattr(smc, "elbo", boom)


def _model():
    return lowrank.LowRankRNN(10, 2, 3, activation="tanh", seed=0)


def test_rejects_nan_data(no_compute):
    y = np.zeros((4, 30, 3))
    y[2, 5, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or inf"):
        fit(_model(), y, n_iter=2, verbose=0)


def test_rejects_window_longer_than_every_trial(no_compute):
    with pytest.raises(ValueError, match="window=50 is longer than every training trial"):
        fit(_model(), np.zeros((4, 30, 3)), window=50, n_iter=2, verbose=0)


def test_rejects_batch_larger_than_trials_with_drop_last(no_compute):
    with pytest.raises(ValueError, match="drop_last=True would drop every batch"):
        fit(_model(), np.zeros((4, 30, 3)), window=None, batch_size=10, drop_last=True, n_iter=2, verbose=0)


def test_rejects_mismatched_input_lengths(no_compute):
    m = lowrank.LowRankRNN(10, 2, 3, n_inputs=2, seed=0)
    with pytest.raises(ValueError, match="has 25 time steps but y trial 1 has 30"):
        fit(m, [np.zeros((30, 3))] * 2, inputs=[np.zeros((30, 2)), np.zeros((25, 2))], n_iter=2, verbose=0)


@pytest.mark.parametrize("kw, match", [(dict(lr=0.0), "lr must be"), (dict(optimizer="sgd"), "optimizer must be"),
                                       (dict(proposal="encoder"), "proposal"), (dict(heldout=1.5), "heldout"),
                                       (dict(n_iter=3, n_epochs=2), "not both"),
                                       (dict(checkpoint_every=5), "checkpoint_every needs")])
def test_rejects_bad_settings(no_compute, kw, match):
    with pytest.raises(ValueError, match=match):
        fit(_model(), np.zeros((6, 30, 3)), window=10, verbose=0, **{"n_iter": 2, **kw})


# ---------------------------------------------------------------------------------------------
# The fit loop
# ---------------------------------------------------------------------------------------------

def _data(n=12, T=30, seed=1):
    teacher = lowrank.LowRankRNN(10, 2, 3, activation="tanh", seed=seed)
    return teacher.sample(n_trials=n, n_steps=T, seed=seed + 1).y


# init="random": the tests compare with the seeded parameters, the start of a fit from them.
FIT_KW = dict(window=15, batch_size=4, n_iter=8, heldout=0.25, eval_every=3, lr=1e-2, seed=7, verbose=0,
              n_particles=5, init="random")


def _theta(model):
    return to_flat(model.params, model.options)


@pytest.mark.parametrize("how", ["callback", "ctrl-c", "checkpoint_every"])
@pytest.mark.parametrize("layout", ["trials-windows", "list-whole-trials"])
def test_resume_is_bit_identical(tmp_path, how, layout):
    if layout == "trials-windows":
        y, kw = _data(), dict(FIT_KW)
    else:
        full = _data()
        y = [full[i, :20 + i] if i < 10 else full[i] for i in range(len(full))]
        kw = dict(FIT_KW, window=None)
    ref = fit(_model(), y, **kw)

    path = tmp_path / "ck.npz"
    stop_at = 3

    def cb(i, model, info):
        if i == stop_at:
            if how == "ctrl-c":
                raise KeyboardInterrupt
            return how == "callback"
        if how == "checkpoint_every" and i == 5:
            raise RuntimeError("crash after a checkpoint")

    if how == "checkpoint_every":
        with pytest.raises(RuntimeError, match="crash"):
            fit(_model(), y, checkpoint=path, checkpoint_every=2, callback=cb, **kw)
        # last checkpoint written after iteration index 3 (4 done)
    else:
        first = fit(_model(), y, checkpoint=path, callback=cb, **kw)
        assert first.n_iter == stop_at + 1
        assert first.stop_reason == ("interrupted" if how == "ctrl-c" else "callback")
    resumed = fit(_model(), y, resume=path, **kw)
    assert resumed.n_iter == ref.n_iter == 8 and resumed.stop_reason == "completed"
    assert np.array_equal(_theta(resumed.model), _theta(ref.model))
    for k in ("train_elbo", "val_elbo", "lr", "grad_norm"):
        assert np.array_equal(getattr(resumed.history, k), getattr(ref.history, k), equal_nan=True), k
    assert resumed.history.final_val_elbo == ref.history.final_val_elbo
    assert resumed.best_elbo == ref.best_elbo and resumed.best_iteration == ref.best_iteration


def test_ctrl_c_restores_best_and_returns():
    y = _data()
    seen = {}

    def cb(i, model, info):
        seen[i + 1] = model.params.copy()         # parameters evaluated at iteration i + 1
        if i == 6:
            raise KeyboardInterrupt

    m = _model()
    seen[0] = m.params.copy()
    res = fit(m, y, **dict(FIT_KW, eval_every=1, n_iter=20), callback=cb)
    assert res.stop_reason == res.history.stop_reason == "interrupted"
    assert res.n_iter == 7 and len(res.history.train_elbo) == 7
    # Evaluated at iterations 0..6 and, at the interruption, the parameters after the 7th update.
    val = np.append(res.history.val_elbo, res.history.final_val_elbo)
    assert np.all(np.isfinite(val))
    assert res.best_source == "heldout" and res.best_elbo == np.max(val)
    assert res.best_iteration == int(np.argmax(val))
    for k, (x, z) in enumerate(zip(m.params, seen[res.best_iteration])):
        assert np.array_equal(x, z), m.params._fields[k]


def test_ctrl_c_without_heldout_uses_train_moving_average():
    res = fit(_model(), _data(), **dict(FIT_KW, heldout=None, n_iter=30),
              callback=lambda i, m, info: (_ for _ in ()).throw(KeyboardInterrupt) if i == 9 else None)
    assert res.stop_reason == "interrupted" and res.best_source == "train_ema"
    assert 0 <= res.best_iteration <= 9 and np.isfinite(res.best_elbo)


def test_nonfinite_gradient_stops_with_clear_error(monkeypatch):
    import lowrank.inference.elbo as smc
    real = smc.elbo
    calls = {"n": 0}

    def flaky(*a, **k):
        r = real(*a, **k)
        if k.get("grad"):
            calls["n"] += 1
            if calls["n"] == 4:                    # the 4th training step: iteration 3
                g = r.grad_flat.copy()
                g[0] = np.nan
                return r._replace(grad_flat=g)
        return r
    monkeypatch.setattr(smc, "elbo", flaky)
    seen = {}
    m = _model()
    with pytest.raises(FloatingPointError, match="non-finite gradient at iteration 3") as err:
        fit(m, _data(), **dict(FIT_KW, heldout=None),
            callback=lambda i, mm, info: seen.__setitem__(i, mm.params.copy()))
    assert len(err.value.history.train_elbo) == 3
    for x, z in zip(m.params, seen[2]):
        assert np.array_equal(x, z)


def test_fit_improves_heldout_elbo_on_linear_gaussian_problem():
    opts = dict(n_units=8, rank=2, n_obs=4, activation="identity")
    teacher = lowrank.LowRankRNN(**opts, seed=3)
    p = teacher.params
    teacher.params = p._replace(m=p.m * 2.0, sigma=np.full(4, 0.3), L_z=0.3 * np.eye(2))
    y = teacher.sample(n_trials=30, n_steps=40, seed=4).y
    student = lowrank.LowRankRNN(**opts, seed=5)
    res = student.fit(y, window=20, batch_size=8, n_iter=150, heldout=0.2, eval_every=25, lr=3e-2,
                      seed=0, verbose=0)
    assert res is student and student.n_iter_ == 150
    val = student.history_.val_elbo
    first = val[0]
    assert student.history_.final_val_elbo > first + 0.5, (first, student.history_.final_val_elbo)
    assert np.all(np.isfinite(student.history_.train_elbo))


def test_lr_decay_history_and_checkpoint_is_a_model_file(tmp_path):
    path = tmp_path / "ck.npz"
    res = fit(_model(), _data(), **dict(FIT_KW, lr=1e-2, lr_end=1e-4, n_iter=5), checkpoint=path)
    np.testing.assert_allclose(res.history.lr, np.geomspace(1e-2, 1e-4, 5), rtol=1e-12)
    assert np.all(np.diff(res.history.time) >= 0) and np.all(res.history.grad_norm > 0)
    model, extra = lowrank.LowRankRNN.load(path, with_extra=True)
    h = History.from_extra(extra)
    assert np.array_equal(h.train_elbo, res.history.train_elbo) and h.stop_reason == "completed"
    for x, z in zip(model.params, res.model.params):
        np.testing.assert_array_equal(x, z)


def test_checkpoint_of_a_model_with_a_noise_basis_loads_with_it(tmp_path):
    S = np.eye(3) + 0.3 * np.random.default_rng(0).standard_normal((3, 3))
    path = tmp_path / "ck.npz"
    m = lowrank.LowRankRNN(10, 2, 3, activation="tanh", seed=0, noise_basis=S)
    fit(m, _data(), checkpoint=path, **dict(FIT_KW, n_iter=2))
    loaded = lowrank.LowRankRNN.load(path)
    np.testing.assert_array_equal(loaded.noise_basis, S)
    for x, z in zip(loaded.params, m.params):
        np.testing.assert_array_equal(x, z)


def test_continuous_recording_with_inputs_and_progress(capsys):
    m = lowrank.LowRankRNN(10, 2, 3, n_inputs=1, seed=0, activation="relu")
    u = np.random.default_rng(0).normal(size=(400, 1))
    y = m.sample(1, 400, inputs=u, seed=1).y[0]
    res = fit(m, y, inputs=u, window=20, batch_size=3, n_epochs=1, heldout=0.1, verbose=1, seed=0,
              n_particles=4, optimizer="radam", clip_grad_norm=1.0)
    assert res.n_iter == (360 // 20) // 3
    err = capsys.readouterr().err
    # Not a terminal: whole lines, no carriage returns (the first update is always written).
    assert "\r" not in err and "held-out" in err and "it/s" in err and err.endswith("\n")


class _FakeTTY(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize("tty", [True, False])
def test_progress_rewrites_in_place_only_on_a_terminal(tty):
    stream = _FakeTTY() if tty else io.StringIO()
    p = Progress(10, 0, verbose=1, interval=0.0, stream=stream)
    for i in range(1, 4):
        p.update(i, -1.0, float("nan"), 1e-3)
    p.close("done")
    out = stream.getvalue()
    if tty:
        assert out.count("\r") == 3 and out.count("\n") == 2      # one line closed, then the message
    else:
        assert "\r" not in out and out.count("\n") == 4 and out.splitlines()[0].startswith("iter 1/10")


def test_ctrl_c_inside_an_iteration_rolls_back_and_resumes_exactly(tmp_path, monkeypatch):
    import lowrank.inference.elbo as smc
    y = _data()
    ref = fit(_model(), y, **FIT_KW)
    real = smc.elbo
    calls = {"n": 0}

    def interrupted(*a, **k):
        if k.get("grad"):
            calls["n"] += 1
            if calls["n"] == 6:                    # Ctrl-C during the ELBO of iteration 5
                raise KeyboardInterrupt
        return real(*a, **k)
    monkeypatch.setattr(smc, "elbo", interrupted)
    path = tmp_path / "ck.npz"
    first = fit(_model(), y, checkpoint=path, **FIT_KW)
    assert first.stop_reason == "interrupted" and first.n_iter == 5
    monkeypatch.setattr(smc, "elbo", real)
    resumed = fit(_model(), y, resume=path, **FIT_KW)
    assert np.array_equal(_theta(resumed.model), _theta(ref.model))
    assert np.array_equal(resumed.history.train_elbo, ref.history.train_elbo)


@pytest.fixture
def sigint_raises_keyboard_interrupt():
    """Python's own SIGINT handler for the test. A process started with SIGINT ignored (a CI job, a
    background job of a non-interactive shell) keeps ignoring it, and then ``_thread.interrupt_main``
    does nothing at all (its documented behaviour): the fit would never be interrupted."""
    import signal
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.mark.parametrize("delay_ms", [0.0, 0.3, 0.7, 1.1, 1.6, 2.3])
def test_real_interrupt_at_a_random_point_resumes_exactly(tmp_path, delay_ms, sigint_raises_keyboard_interrupt):
    # A genuine asynchronous KeyboardInterrupt (as from Ctrl-C), landing wherever the main thread is
    # a few hundred microseconds after iteration 4's callback: in the ELBO, the update, the bookkeeping...
    # On a busy machine the timer thread may not run until much later (the main thread holds the GIL in
    # the kernels), so the fit could complete first: from iteration 5 on, the callback waits until the
    # interrupt has been raised, and it then lands there at the latest. No timing decides the outcome.
    import _thread
    import threading
    y = _data()
    kw = dict(FIT_KW, n_iter=30, eval_every=4)
    ref = fit(_model(), y, **kw)
    path = tmp_path / "ck.npz"
    timer, fired = [], threading.Event()

    def interrupt():
        _thread.interrupt_main()
        fired.set()

    def cb(i, model, info):
        if i == 4:
            t = threading.Timer(delay_ms / 1e3, interrupt)
            timer.append(t)
            t.start()
        elif i > 4:
            assert fired.wait(600), "the timer thread never ran"        # a hang guard, not a synchronisation
    first = fit(_model(), y, checkpoint=path, callback=cb, **kw)
    timer[0].join()
    assert first.stop_reason == "interrupted" and 5 <= first.n_iter < 30
    resumed = fit(_model(), y, resume=path, **kw)
    assert np.array_equal(_theta(resumed.model), _theta(ref.model))
    assert np.array_equal(resumed.history.val_elbo, ref.history.val_elbo, equal_nan=True)


def test_resume_from_a_checkpoint_written_before_any_best(tmp_path):
    # Held-out evaluation only at iteration 0 is the first "best"; stop right away, at iteration 0.
    y = _data()
    path = tmp_path / "ck.npz"
    kw = dict(FIT_KW, heldout=None, n_iter=4)
    ref = fit(_model(), y, **kw)
    first = fit(_model(), y, checkpoint=path, callback=lambda i, m, info: True, **kw)
    assert first.n_iter == 1
    resumed = fit(_model(), y, resume=path, **kw)
    assert np.array_equal(_theta(resumed.model), _theta(ref.model))


def test_resume_warns_on_changed_settings_and_rejects_other_models(tmp_path):
    y = _data()
    path = tmp_path / "ck.npz"
    fit(_model(), y, checkpoint=path, **dict(FIT_KW, n_iter=2))
    with pytest.warns(UserWarning, match="different n_iter, lr, lr_end than"):
        fit(_model(), y, resume=path, **dict(FIT_KW, n_iter=3, lr=0.5))
    other = lowrank.LowRankRNN(10, 3, 3, activation="tanh", seed=0)
    with pytest.raises(ValueError, match="is for a model with options"):
        fit(other, y, resume=path, **FIT_KW)
    lowrank.LowRankRNN(10, 2, 3).save(tmp_path / "plain.npz")
    with pytest.raises(ValueError, match="not a training checkpoint"):
        fit(_model(), y, resume=tmp_path / "plain.npz", **FIT_KW)


# ---------------------------------------------------------------------------------------------
# Noise augmentation
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value, exc, match", [
    (-0.1, ValueError, "finite and >= 0"), (np.nan, ValueError, "finite and >= 0"),
    (np.ones(2), ValueError, r"shape \(3,\)"), (True, TypeError, "bool"), ("a", TypeError, "augment_noise"),
    ("0.5", TypeError, "got str")])
def test_augment_noise_rejects_bad_values(no_compute, value, exc, match):
    with pytest.raises(exc, match=match):
        fit(_model(), np.zeros((6, 30, 3)), window=10, n_iter=2, verbose=0, augment_noise=value)


def test_augment_noise_rejects_poisson_models(no_compute):
    m = lowrank.LowRankRNN(10, 2, 3, likelihood="poisson", seed=0)
    with pytest.raises(ValueError, match="augment_noise needs a Gaussian likelihood"):
        fit(m, np.zeros((6, 30, 3)), window=10, n_iter=2, verbose=0, augment_noise=0.5)


def test_augment_noise_adds_fresh_draws_after_each_batch(monkeypatch):
    from lowrank.inference import elbo as smc
    from lowrank.inference.draws import smc_draws
    seen = []
    real = smc.elbo

    def spy(params, y, *a, **k):
        seen.append(np.array(y))
        return real(params, y, *a, **k)

    monkeypatch.setattr(smc, "elbo", spy)
    y = _data(n=6, T=30)
    s = np.array([0.5, 1.0, 2.0])
    fit(_model(), y, window=10, batch_size=3, n_iter=3, seed=11, verbose=0, n_particles=4, augment_noise=s)
    # Replay the documented draw order: the batch's starts, the noise, then the SMC draws.
    rng = np.random.default_rng(11)
    rng.integers(2**63)                      # fit draws its held-out evaluation seed first
    batcher = Batcher(prepare_data(y, None, _model().options), 3, 10)
    for i in range(3):
        clean = batcher.next_batch(rng).y
        noise = rng.standard_normal(clean.shape)
        assert np.array_equal(seen[i], clean + s * noise)
        smc_draws(rng, clean.shape[0], clean.shape[1], 4, 2)


def test_augment_noise_resume_is_bit_identical(tmp_path):
    y, kw = _data(), dict(FIT_KW, augment_noise=0.3)
    ref = fit(_model(), y, **kw)
    path = tmp_path / "ck.npz"
    fit(_model(), y, checkpoint=path, callback=lambda i, m, info: i == 3, **kw)
    resumed = fit(_model(), y, resume=path, **kw)
    assert np.array_equal(_theta(resumed.model), _theta(ref.model))
    plain = fit(_model(), y, **FIT_KW)
    assert not np.array_equal(_theta(plain.model), _theta(ref.model))
    # 0 is no augmentation at all (no draws), and a scalar equals the same value per channel.
    zero = fit(_model(), y, **dict(FIT_KW, augment_noise=0.0))
    assert np.array_equal(_theta(zero.model), _theta(plain.model))
    per_channel = fit(_model(), y, **dict(kw, augment_noise=np.full(3, 0.3)))
    assert np.array_equal(_theta(per_channel.model), _theta(ref.model))


def test_augment_noise_changes_warn_on_resume(tmp_path):
    y = _data()
    path = tmp_path / "ck.npz"
    fit(_model(), y, checkpoint=path, callback=lambda i, m, info: i == 3, **dict(FIT_KW, augment_noise=0.3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")           # same setting in another form: no warning
        fit(_model(), y, resume=path, **dict(FIT_KW, augment_noise=[0.3, 0.3, 0.3]))
    with pytest.warns(UserWarning, match="augment_noise"):
        fit(_model(), y, resume=path, **dict(FIT_KW, augment_noise=0.5))


def test_augment_noise_is_absorbed_by_the_observation_noise():
    # Independent noise of std s on top of observation noise of std 0.3 should be learned as
    # sigma ~ sqrt(0.3^2 + s^2) = 0.5 for s = 0.4; without augmentation, sigma ~ 0.3.
    opts = dict(n_units=8, rank=2, n_obs=4, activation="identity")
    teacher = lowrank.LowRankRNN(**opts, seed=3)
    p = teacher.params
    # n = 0: a stable linear teacher, z_{t+1} = 0.9 z_t + noise.
    teacher.params = p._replace(n=np.zeros_like(p.n), h=np.zeros_like(p.h), sigma=np.full(4, 0.3),
                                L_z=0.3 * np.eye(2))
    y = teacher.sample(n_trials=40, n_steps=50, seed=4).y
    fitted = {}
    for s in (None, 0.4):
        student = lowrank.LowRankRNN(**opts, seed=5)
        student.fit(y, window=25, batch_size=8, n_iter=600, lr=2e-2, lr_end=2e-3, seed=0, verbose=0,
                    augment_noise=s)
        fitted[s] = float(np.sqrt(np.mean(student.params.sigma ** 2)))
    assert abs(fitted[None] - 0.3) < 0.04, fitted
    assert abs(fitted[0.4] - 0.5) < 0.04, fitted
