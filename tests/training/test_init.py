"""The data-driven starting point of a fit (lowrank.training.init)."""
import numpy as np
import pytest

import lowrank
from lowrank.data.layout import prepare_data
from lowrank.model.equations import transition_mean
from lowrank.model.params import init_params
from lowrank.training.init import data_init


def _principal_cosines(A, B):
    qa, _ = np.linalg.qr(A)
    qb, _ = np.linalg.qr(B)
    return np.linalg.svd(qa.T @ qb, compute_uv=False)


def _init(model, y, u=None):
    data = prepare_data(y, u, model.options)
    return data_init(model.params, model.options, data.y, data.u, data.lengths)


@pytest.fixture(scope="module")
def gaussian_teacher():
    teacher = lowrank.teachers.get("oscillator", seed=0)
    return teacher, teacher.dataset(n_trials=100, seed=3)


def _noisy_frequency(params, opts, z0, n_steps=2048, seed=0):
    rng = np.random.default_rng(seed)
    z, out = z0.copy(), []
    v = np.zeros((len(z0), opts.n_inputs))
    for _ in range(n_steps):
        z = transition_mean(params, opts, z, v) + rng.standard_normal(z.shape) @ params.L_z.T
        out.append(z.copy())
    x = np.array(out)                                   # (T, trials, R)
    x = x - x.mean(0)
    power = (np.abs(np.fft.rfft(x, axis=0)) ** 2).sum(axis=(1, 2))
    return np.fft.rfftfreq(n_steps)[1:][np.argmax(power[1:])]


def test_gaussian_units_readout_finds_the_teachers_subspace_offsets_and_rotation(gaussian_teacher):
    teacher, data = gaussian_teacher
    opts = teacher.model.options
    student = lowrank.LowRankRNN(opts.n_units, opts.rank, opts.n_obs, readout="units", seed=1)
    p = _init(student, data.y)
    D = opts.n_obs
    assert np.all(_principal_cosines(p.m[:D], teacher.model.params.m[:D]) > 0.95)
    np.testing.assert_allclose(p.b, data.y.mean(axis=(0, 1)), atol=1e-12)
    np.testing.assert_array_equal(p.gain, np.ones(D))
    assert np.all(p.sigma > 0) and np.all(np.isfinite(p.sigma))
    assert np.all((p.a > 0) & (p.a < 1))
    # The regression finds the rotation: noise-driven runs oscillate at the teacher's frequency.
    f_teacher = _noisy_frequency(teacher.model.params, opts, np.zeros((20, opts.rank)))
    f_init = _noisy_frequency(p, student.options, np.zeros((20, opts.rank)))
    assert abs(f_init - f_teacher) <= 0.25 * f_teacher


def test_random_initialisation_does_not_rotate_at_the_teachers_frequency(gaussian_teacher):
    # The reason for the data-driven start: the seeded one is a damped node.
    teacher, _ = gaussian_teacher
    opts = teacher.model.options
    student = lowrank.LowRankRNN(opts.n_units, opts.rank, opts.n_obs, readout="units", seed=1)
    f_teacher = _noisy_frequency(teacher.model.params, opts, np.zeros((20, opts.rank)))
    f_random = _noisy_frequency(student.params, student.options, np.zeros((20, opts.rank)))
    assert abs(f_random - f_teacher) > 0.25 * f_teacher


def test_poisson_offsets_invert_the_link_and_latent_readout_loads_the_top_components():
    rng = np.random.default_rng(0)
    T, D = 400, 12
    phase = 2 * np.pi * 0.03 * np.arange(T)
    load = rng.standard_normal((D, 2))
    rates = np.logaddexp(0, -2.0 + 0.8 * np.column_stack([np.cos(phase), np.sin(phase)]) @ load.T)
    y = rng.poisson(np.broadcast_to(rates, (30, T, D))).astype(float)
    for link in ("softplus", "exp"):
        model = lowrank.LowRankRNN(30, 2, D, likelihood="poisson", link=link, seed=0)
        p = _init(model, y)
        g = np.exp(p.b) if link == "exp" else np.logaddexp(0, p.b)
        np.testing.assert_allclose(g, y.mean(axis=(0, 1)), rtol=1e-9)
        assert np.all(_principal_cosines(p.W, load) > 0.9)
        assert p.sigma.shape == (0,)


def test_rates_readout_keeps_the_seeded_start():
    teacher = lowrank.teachers.get("oscillator_poisson", seed=0)
    y = teacher.dataset(n_trials=20, seed=1).y
    opts = teacher.model.options
    model = lowrank.LowRankRNN(opts.n_units, opts.rank, opts.n_obs, readout="units", likelihood="poisson",
                               units_readout_from="rates", seed=2)
    p = _init(model, y)
    q = model.params
    for a, b in zip(p, q):
        np.testing.assert_array_equal(a, b)


def test_deterministic_leaves_its_input_alone_and_takes_missing_values_and_ragged_trials(gaussian_teacher):
    _, data = gaussian_teacher
    y = [data.y[i, : 40 + i] for i in range(30)]
    y[3] = y[3].copy()
    y[3][5:9, 2] = np.nan
    model = lowrank.LowRankRNN(20, 2, 20, readout="units", seed=4)
    before = model.params.copy()
    mask = [~np.isnan(yi) for yi in y]
    d = prepare_data(y, None, model.options, mask=mask)
    p1 = data_init(model.params, model.options, d.y, d.u, d.lengths)
    p2 = data_init(model.params, model.options, d.y, d.u, d.lengths)
    for a, b, c in zip(p1, p2, before):
        np.testing.assert_array_equal(a, b)
        assert np.all(np.isfinite(a))
    for a, c in zip(model.params, before):
        np.testing.assert_array_equal(a, c)


def test_dynamics_that_run_away_are_tamed():
    # Data along a line that grows then resets: a regression of such data can be expansive; the runs of
    # the started model from the data's states must stay within a few times the data's range.
    rng = np.random.default_rng(5)
    t = np.arange(200)
    ramp = np.exp(0.03 * (t % 50))
    y = (np.outer(ramp, rng.standard_normal(8)) + 0.05 * rng.standard_normal((200, 8)))[None]
    model = lowrank.LowRankRNN(16, 2, 8, activation="relu", seed=0)
    opts = model.options
    p = _init(model, y)
    data = prepare_data(y, None, opts)
    z = np.zeros((16, 2)) + rng.standard_normal((16, 2))
    for _ in range(1000):
        z = transition_mean(p, opts, z, np.zeros((16, 0))) + rng.standard_normal(z.shape) @ p.L_z.T
    assert np.all(np.isfinite(z)) and np.abs(z).max() < 50
    assert data.y.shape == y.shape


def test_fit_starts_a_new_model_from_the_data_and_a_fitted_one_from_its_parameters(gaussian_teacher):
    _, data = gaussian_teacher
    y = data.y[:20]
    kw = dict(n_iter=1, verbose=0, window=None, lr=1e-12)
    new = lowrank.LowRankRNN(20, 2, 20, readout="units", seed=0).fit(y, init="data", **kw)
    expected = _init(lowrank.LowRankRNN(20, 2, 20, readout="units", seed=0), y)
    np.testing.assert_allclose(new.params.b, expected.b, atol=1e-9)
    random = lowrank.LowRankRNN(20, 2, 20, readout="units", seed=0).fit(y, init="random", **kw)
    np.testing.assert_allclose(random.params.b, init_params(random.options, np.random.default_rng(0)).b,
                               atol=1e-9)
    again = new.copy()
    before = again.params.copy()
    again.fit(y, init="data", **kw)                              # from its parameters, not from the data again
    assert np.abs(again.params.m - before.m).max() < 1e-6
    with pytest.raises(ValueError, match="init"):
        lowrank.LowRankRNN(20, 2, 20, readout="units").fit(y, init="pca", **kw)


def test_every_new_model_starts_from_the_data_by_default():
    from lowrank.training.settings import check_settings
    poisson = lowrank.LowRankRNN(40, 2, 40, readout="units", likelihood="poisson").options
    gaussian = lowrank.LowRankRNN(20, 2, 20).options
    assert check_settings(poisson).init == "data" and check_settings(gaussian).init == "data"
    assert check_settings(poisson, init="random").init == "random"
    s = check_settings(poisson)
    assert (s.n_particles, s.window) != (check_settings(gaussian).n_particles, check_settings(gaussian).window)
    assert check_settings(poisson, n_epochs=3).n_iter is None        # epochs instead of the default updates


def test_data_that_overflow_leave_the_seeded_start():
    model = lowrank.LowRankRNN(8, 2, 3, seed=0)
    p = _init(model, np.full((2, 20, 3), 1e300))
    for a, b in zip(p, model.params):
        np.testing.assert_array_equal(a, b)
